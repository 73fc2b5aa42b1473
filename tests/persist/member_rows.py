#!/usr/bin/env python3
"""Soft-deleted member rows across a restart (tests/persist/interop.sh, step 4): the first
half of a membership sequence before the server is stopped, the second half after a server
started on the same state directory, each answer printed as one JSON line (bodies parsed,
keys sorted) so that two runs compare with diff.

usage: member_rows.py before|after PORT

Before: members t1, t2, t3 added; t1 and t3 deleted; t3 PUT with can_share (revived in its
old place). After: PUTs without can_share of deleted members (found, left deleted), with
can_share (revived in place), a delete and re-add, a list replacement naming a deleted
member (the registry's update_all revives it), each followed by the member list.
Only 127.0.0.1 is ever contacted.
"""
import http.client
import json
import sys

ID = "eeeeeeee-0000-4000-8000-00000000000a"
ADMIN = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": "tenant-a",
         "X-User-Id": "u1", "X-Roles": "admin"}
M = "/v1/images/%s/members" % ID


def request(port, method, path, body=None, extra=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = dict(ADMIN)
    h.update(extra or {})
    if body is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    phase, port = sys.argv[1], int(sys.argv[2])
    out = []

    def step(method, path, body=None):
        out.append([method, path, body, request(port, method, path, body)[0]])

    def members():
        s, d = request(port, "GET", M)
        out.append(["GET", M, s, json.loads(d) if s == 200 else d.decode()])

    if phase == "before":
        s, _ = request(port, "POST", "/v1/images", extra={
            "x-image-meta-id": ID, "x-image-meta-name": "shared",
            "x-image-meta-disk_format": "raw", "x-image-meta-container_format": "bare"})
        out.append(["POST", "/v1/images", s])
        for m in ("t1", "t2", "t3"):
            step("PUT", M + "/" + m)
        step("DELETE", M + "/t1")
        step("DELETE", M + "/t3")
        step("PUT", M + "/t3", '{"member": {"can_share": true}}')
        members()
    elif phase == "after":
        members()
        step("PUT", M + "/t1")
        members()
        step("PUT", M + "/t3")
        members()
        step("PUT", M + "/t1", '{"member": {"can_share": false}}')
        members()
        step("DELETE", M + "/t3")
        step("PUT", M + "/t3")
        members()
        step("PUT", M, '{"memberships": [{"member_id": "t3"}, '
                       '{"member_id": "t2", "can_share": true}]}')
        members()
        step("PUT", M + "/t1")
        members()
    else:
        sys.exit(__doc__)
    for o in out:
        print(json.dumps(o, sort_keys=True))


if __name__ == "__main__":
    main()
