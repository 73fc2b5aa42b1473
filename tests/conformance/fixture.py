"""The oracle's fixture: one list of image records, loaded into BOTH servers.

The records are written in glance-emu's fixture format (docs/fixtures.md). `load_into_glance`
puts the same records into a running REAL Glance 15 (trusted-auth flavour, admin identity):
created through the v1 API with explicit ids (so Glance stores them its own way: visibility
column, checksums, file locations), then deleted through the API where the record is deleted or
pending_delete (so properties and memberships are soft-deleted the way the registry does it),
and finally the columns v1 cannot set (owner NULL, status, timestamps) are patched straight into
the sqlite `images` table. Stdlib only; talks to 127.0.0.1 only.
"""
import base64
import datetime
import http.client
import json
import sqlite3

# Tenants (the identities in identities.py use the same ones).
A = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"    # owner of most images
B = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"    # member with can_share
C = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"    # member without can_share
D = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"    # stranger, owns one private image
ADM = "ad0ad0ad0ad0ad0ad0ad0ad0ad0ad0ad"  # admin's own tenant


def _uuid(n):
    return "0c0c0c0c-0000-4000-8000-%012d" % n


def _ts(day, hour, us):
    return "2015-06-%02dT%02d:11:12.%06d" % (day, hour, us)


def _data(text, size=None):
    raw = (text * ((size // len(text)) + 1))[:size] if size else text
    return raw.encode("ascii")


# name, kwargs; ids are _uuid(i) by position (1-based), timestamps increase with i.
_SPEC = [
    ("pub-a", dict(is_public=True, owner=A, data=_data("public image A\n"),
                   properties={"distro": "cirros", "kernel_id": "k-1"})),
    ("priv-a", dict(owner=A, data=_data("private image A\n"), properties={"secret": "yes"})),
    ("shared-a", dict(owner=A, data=_data("shared image A\n"),
                      members=[(B, True), (C, False)], properties={"team": "blue"})),
    ("shared-a-b-noshare", dict(owner=A, data=_data("shared to B only\n"), members=[(B, False)])),
    ("noowner-priv", dict(owner=None, data=_data("nobody owns me\n"))),
    ("noowner-pub", dict(owner=None, is_public=True, data=_data("public, no owner\n"))),
    ("priv-d", dict(owner=D, data=_data("stranger's private image\n"))),
    ("pub-d-queued", dict(owner=D, is_public=True, status="queued")),
    ("queued-a-size", dict(owner=A, status="queued", size=1234)),
    ("killed-a", dict(owner=A, status="killed", is_public=True)),
    ("deleted-a", dict(owner=A, status="deleted", data=_data("gone\n"))),
    ("deleted-pub", dict(owner=A, status="deleted", is_public=True, data=_data("gone too\n"))),
    ("pending-a", dict(owner=A, status="pending_delete", data=_data("pending\n"))),
    ("protected-pub", dict(owner=A, is_public=True, protected=True, min_disk=1, min_ram=64,
                           virtual_size=4096, data=_data("protected\n"),
                           disk_format="qcow2", container_format="ovf",
                           properties={"hw_disk_bus": "virtio", "os_distro": "ubuntu"})),
    ("props-b", dict(owner=B, is_public=True, data=_data("props of B\n"), disk_format="iso",
                     container_format="bare",
                     properties={"architecture": "x86_64", "os_type": "linux",
                                 "description": "with spaces and = signs"})),
    ("shared-d-with-a", dict(owner=D, data=_data("D shares with A\n"), members=[(A, True)])),
    ("deactivated-pub", dict(owner=A, is_public=True, status="deactivated",
                             data=_data("deactivated\n"))),
    ("matrix-pub", dict(owner=A, is_public=True, data=_data("method matrix\n"),
                        members=[(B, True), (C, False)])),
    ("big-pub", dict(owner=A, is_public=True, data=_data("0123456789abcdef", 70000),
                     disk_format="raw", container_format="bare")),
    # Null and empty sort keys (v1 images without a name, formats or size): Glance's marker
    # criteria compare a null as '' or 0, its ORDER BY puts nulls first.
    ("empty-name", dict(owner=A, is_public=True, status="queued", name="")),
    ("null-name", dict(owner=A, is_public=True, status="queued", name=None)),
    ("null-size", dict(owner=A, is_public=True, status="queued", size=None)),
    ("null-name-size", dict(owner=A, is_public=True, status="queued", name=None, size=None)),
    ("null-formats", dict(owner=A, is_public=True, status="queued", disk_format=None,
                          container_format=None)),
    ("empty-name-2", dict(owner=A, is_public=True, status="queued", name="", size=None)),
]


def records():
    """The fixture, in glance-emu's format (created_at increasing with position)."""
    out = []
    for i, (name, kw) in enumerate(_SPEC, 1):
        status = kw.get("status", "active")
        deleted = status in ("deleted", "pending_delete")
        data = kw.get("data")
        rec = {
            "id": _uuid(i),
            "name": kw.get("name", name),
            "status": status,
            "disk_format": kw.get("disk_format", "raw"),
            "container_format": kw.get("container_format", "bare"),
            "owner": kw.get("owner"),
            "is_public": kw.get("is_public", False),
            "protected": kw.get("protected", False),
            "min_disk": kw.get("min_disk", 0),
            "min_ram": kw.get("min_ram", 0),
            "size": len(data) if data is not None else kw.get("size", 0),
            "virtual_size": kw.get("virtual_size"),
            "created_at": _ts(1 + i, 10, 100000 + i),
            "updated_at": _ts(1 + i, 12, 200000 + i),
            "deleted": deleted,
            "deleted_at": _ts(1 + i, 13, 300000 + i) if deleted else None,
            # The registry soft-deletes properties and memberships with the image.
            "properties": {} if deleted else dict(kw.get("properties", {})),
            "members": [] if deleted else [{"member_id": m, "can_share": s}
                                           for m, s in kw.get("members", [])],
        }
        if data is not None and status != "killed":
            rec["data"] = {"base64": base64.b64encode(data).decode("ascii")}
        out.append(rec)
    return out


def emu_fixture():
    """The records as a glance-emu fixture document."""
    return {"images": records()}


def image_ids():
    """Spec name -> id (a record's own name may be null or empty)."""
    return {name: _uuid(i) for i, (name, _) in enumerate(_SPEC, 1)}


ADMIN_HEADERS = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": ADM,
                 "X-User-Id": "fixture-loader", "X-Roles": "admin"}


def _req(port, method, path, headers, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = dict(ADMIN_HEADERS)
    h.update(headers)
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def _db_ts(ts):
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f").strftime("%Y-%m-%d %H:%M:%S.%f")


def load_into_glance(port, db_path):
    """Create the records in a running real Glance (trusted-auth flavour), then patch sqlite."""
    for (spec_name, kw), rec in zip(_SPEC, records()):
        data = kw.get("data")
        # Null names and formats go in as text and are patched to NULL below.
        h = {"x-image-meta-id": rec["id"], "x-image-meta-name": rec["name"] or "x",
             "x-image-meta-disk_format": rec["disk_format"] or "raw",
             "x-image-meta-container_format": rec["container_format"] or "bare",
             "x-image-meta-is_public": str(rec["is_public"]),
             "x-image-meta-protected": "False",
             "x-image-meta-min_disk": str(rec["min_disk"]),
             "x-image-meta-min_ram": str(rec["min_ram"]),
             "Content-Type": "application/octet-stream"}
        if rec["owner"] is not None:
            h["x-image-meta-owner"] = rec["owner"]
        if rec["virtual_size"] is not None:
            h["x-image-meta-virtual_size"] = str(rec["virtual_size"])
        for k, v in kw.get("properties", {}).items():
            h["x-image-meta-property-%s" % k] = v
        if data is None and rec["size"]:
            h["x-image-meta-size"] = str(rec["size"])
        st, out = _req(port, "POST", "/v1/images", h, data)
        if st != 201:
            raise SystemExit("fixture: POST %s -> %d %r" % (spec_name, st, out[:300]))
        for m, s in kw.get("members", []):
            st, out = _req(port, "PUT", "/v1/images/%s/members/%s" % (rec["id"], m),
                           {"Content-Type": "application/json"},
                           json.dumps({"member": {"can_share": s}}))
            if st != 204:
                raise SystemExit("fixture: member %s of %s -> %d %r" % (m, spec_name, st, out))
        if rec["deleted"]:
            st, out = _req(port, "DELETE", "/v1/images/%s" % rec["id"], {})
            if st != 200:
                raise SystemExit("fixture: DELETE %s -> %d %r" % (spec_name, st, out))
    con = sqlite3.connect(db_path)
    with con:
        for rec in records():
            con.execute(
                "UPDATE images SET owner = ?, status = ?, created_at = ?, updated_at = ?, "
                "deleted_at = ?, deleted = ?, protected = ?, size = ?, name = ?, "
                "disk_format = ?, container_format = ? WHERE id = ?",
                (rec["owner"], rec["status"], _db_ts(rec["created_at"]),
                 _db_ts(rec["updated_at"]),
                 _db_ts(rec["deleted_at"]) if rec["deleted_at"] else None,
                 1 if rec["deleted"] else 0, 1 if rec["protected"] else 0, rec["size"],
                 rec["name"], rec["disk_format"], rec["container_format"], rec["id"]))
            if rec["status"] == "killed":
                con.execute("UPDATE images SET checksum = NULL WHERE id = ?", (rec["id"],))
    con.close()
