#!/usr/bin/env python3
"""Interop of `--persist DIR` with a real Glance 15 (issue 14): the writes, the reads and
the comparison used by tests/persist/interop.sh.

usage:
  interop.py populate URL IDS_FILE      create/upload/update/share/unshare/delete through
                                        the v1 API (trusted-auth identity headers); the
                                        image ids go to IDS_FILE
  interop.py capture URL IDS_FILE OUT   every read (HEAD, GET with bytes, members, shared
                                        images, lists and detail lists for several callers)
                                        as JSON to OUT
  interop.py compare A B                the same reads answered the same way: status line,
                                        headers as a multiset (Date and the request id by
                                        shape), bodies exact (JSON bodies as parsed JSON:
                                        Glance's own key order depends on its hash seed)

Only 127.0.0.1 is ever contacted.
"""
import base64
import http.client
import json
import re
import sys
import urllib.parse

ADMIN = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": "tenant-a",
         "X-User-Id": "u1", "X-Roles": "admin"}


def tenant(name, roles="member"):
    return {"X-Identity-Status": "Confirmed", "X-Tenant-Id": name,
            "X-User-Id": "u-" + name, "X-Roles": roles}


def request(base, method, path, headers=None, body=None):
    u = urllib.parse.urlsplit(base)
    assert u.hostname == "127.0.0.1", "loopback only"
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    out = (r.status, r.reason, r.getheaders(), data)
    c.close()
    return out


def must(resp, *ok):
    if resp[0] not in ok:
        sys.exit("unexpected %s %s: %r" % (resp[0], resp[1], resp[3][:300]))
    return resp


def created_id(resp):
    return json.loads(resp[3])["image"]["id"]


def populate(base, ids_file):
    A = ADMIN
    B = tenant("tenant-b")
    octet = {"Content-Type": "application/octet-stream"}
    ids = []

    def post(h, body=None, *ok):
        r = must(request(base, "POST", "/v1/images", h, body), *(ok or (201,)))
        ids.append(created_id(r))
        return ids[-1]

    # Queued, with properties and formats, minimums.
    post({**A, "x-image-meta-name": "queued-one", "x-image-meta-disk_format": "raw",
          "x-image-meta-container_format": "bare", "x-image-meta-property-os_distro": "ubuntu",
          "x-image-meta-min_disk": "3", "x-image-meta-min_ram": "512"})
    # Uploaded at create, public, protected.
    post({**A, **octet, "x-image-meta-name": "active-two", "x-image-meta-disk_format": "qcow2",
          "x-image-meta-container_format": "bare", "x-image-meta-is_public": "true",
          "x-image-meta-protected": "true"}, b"hello glance bytes\n")
    # Created by another tenant, uploaded later, updated with purge, shared, unshared.
    i3 = post({**B, "x-image-meta-name": "shared-three", "x-image-meta-disk_format": "raw",
               "x-image-meta-container_format": "bare", "x-image-meta-property-a": "1",
               "x-image-meta-property-b": "2"})
    must(request(base, "PUT", "/v1/images/" + i3, {**B, **octet}, bytes(range(256)) * 40), 200)
    must(request(base, "PUT", "/v1/images/" + i3,
                 {**A, "x-image-meta-property-b": "22", "x-image-meta-property-c": "3",
                  "x-glance-registry-purge-props": "true",
                  "x-image-meta-name": "shared-three-renamed"}), 200)
    must(request(base, "PUT", "/v1/images/%s/members/tenant-c" % i3, A), 204)
    must(request(base, "PUT", "/v1/images/%s/members/tenant-d" % i3,
                 {**A, "Content-Type": "application/json"},
                 b'{"member": {"can_share": true}}'), 204)
    must(request(base, "PUT", "/v1/images/%s/members/tenant-e" % i3, A), 204)
    must(request(base, "DELETE", "/v1/images/%s/members/tenant-e" % i3, A), 204)
    # Uploaded, shared, then deleted.
    i4 = post({**A, **octet, "x-image-meta-name": "deleted-four",
               "x-image-meta-disk_format": "raw", "x-image-meta-container_format": "bare",
               "x-image-meta-property-x": "y"}, b"bytes to delete")
    must(request(base, "PUT", "/v1/images/%s/members/tenant-c" % i4, A), 204)
    must(request(base, "DELETE", "/v1/images/" + i4, A), 200)
    # Members replaced wholesale, twice; another owner.
    i5 = post({**A, "x-image-meta-name": "members-five", "x-image-meta-owner": "tenant-z"})
    js = {**A, "Content-Type": "application/json"}
    must(request(base, "PUT", "/v1/images/%s/members" % i5, js,
                 b'{"memberships": [{"member_id": "t1", "can_share": false},'
                 b' {"member_id": "t2", "can_share": true}]}'), 204)
    must(request(base, "PUT", "/v1/images/%s/members" % i5, js,
                 b'{"memberships": [{"member_id": "t2", "can_share": false},'
                 b' {"member_id": "tenant-c"}]}'), 204)
    # Killed: the upload does not match the declared size.
    r = must(request(base, "POST", "/v1/images",
                     {**A, **octet, "x-image-meta-name": "killed-six",
                      "x-image-meta-disk_format": "raw", "x-image-meta-container_format": "bare",
                      "x-image-meta-size": "999"}, b"short"), 400)
    # Non-ASCII (percent-encoded as clients send it) name and property.
    post({**A, "x-image-meta-name": "caf%C3%A9", "x-image-meta-property-note": "na%C3%AFve",
          "x-image-meta-property-empty": "", "x-image-meta-virtual_size": "7"})
    # Public with properties, then made private again.
    i8 = post({**A, **octet, "x-image-meta-name": "flip-eight", "x-image-meta-disk_format": "iso",
               "x-image-meta-container_format": "bare", "x-image-meta-is_public": "true",
               "x-image-meta-property-hw_disk_bus": "scsi"}, b"eight")
    must(request(base, "PUT", "/v1/images/" + i8,
                 {**A, "x-image-meta-is_public": "false", "x-image-meta-min_disk": "1"}), 200)
    del r
    with open(ids_file, "w") as f:
        f.write("\n".join(ids) + "\n")
    print("populated %d images" % len(ids))


def reads(ids):
    callers = {"admin": ADMIN, "b": tenant("tenant-b"), "c": tenant("tenant-c"),
               "z": tenant("tenant-z")}
    out = []
    for i in ids:
        out.append(("admin", "HEAD", "/v1/images/" + i))
        out.append(("admin", "GET", "/v1/images/" + i))
        out.append(("admin", "GET", "/v1/images/%s/members" % i))
        for who in ("b", "c", "z"):
            out.append((who, "HEAD", "/v1/images/" + i))
    lists = ["/v1/images", "/v1/images/detail", "/v1/images/detail?is_public=None",
             "/v1/images/detail?is_public=None&sort_key=name&sort_dir=asc",
             "/v1/images/detail?is_public=None&status=active",
             "/v1/images?is_public=None&limit=2", "/v1/images/detail?property-b=22",
             "/v1/images/detail?is_public=None&size_min=10",
             # with changes-since: deleted and killed images too
             "/v1/images/detail?is_public=None&changes-since=2000-01-01T00:00:00"]
    for who in callers:
        for p in lists:
            out.append((who, "GET", p))
    for m in ("tenant-c", "tenant-d", "t2", "tenant-e"):
        out.append(("admin", "GET", "/v1/shared-images/" + m))
    return callers, out


def capture(base, ids_file, out_file):
    ids = [line.strip() for line in open(ids_file) if line.strip()]
    callers, todo = reads(ids)
    got = []
    for who, method, path in todo:
        status, reason, headers, body = request(base, method, path, callers[who])
        got.append({"who": who, "method": method, "path": path, "status": status,
                    "reason": reason, "headers": headers,
                    "body": base64.b64encode(body).decode()})
    with open(out_file, "w") as f:
        json.dump(got, f, indent=1)
    print("captured %d reads" % len(got))


DROP = {"date", "x-openstack-request-id"}
HOSTPORT = re.compile(rb"127\.0\.0\.1:\d+")


def norm(ex):
    heads = sorted((k, v) for k, v in ex["headers"] if k.lower() not in DROP)
    heads = [(k, HOSTPORT.sub(b"HOST", v.encode()).decode()) for k, v in heads]
    names = sorted(k.lower() for k, _ in ex["headers"])
    body = base64.b64decode(ex["body"])
    body = HOSTPORT.sub(b"HOST", body)
    ct = dict((k.lower(), v) for k, v in ex["headers"]).get("content-type", "")
    if ct.startswith("application/json"):
        try:
            body = json.loads(body)
        except ValueError:
            pass
    return (ex["status"], ex["reason"], heads, names, body)


def compare(a_file, b_file):
    a = json.load(open(a_file))
    b = json.load(open(b_file))
    if len(a) != len(b):
        sys.exit("different number of reads: %d vs %d" % (len(a), len(b)))
    fails = 0
    for x, y in zip(a, b):
        label = "%s %s %s" % (x["who"], x["method"], x["path"])
        nx, ny = norm(x), norm(y)
        if nx != ny:
            fails += 1
            print("FAIL", label)
            for part, u, v in zip(("status", "reason", "headers", "header names", "body"),
                                  nx, ny):
                if u != v:
                    print("   %s:\n     %s: %r\n     %s: %r" % (part, a_file, u, b_file, v))
        else:
            print("PASS", label)
    print("%d passed, %d failed" % (len(a) - fails, fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "populate" and len(sys.argv) == 4:
        populate(sys.argv[2], sys.argv[3])
    elif cmd == "capture" and len(sys.argv) == 5:
        capture(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "compare" and len(sys.argv) == 4:
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
