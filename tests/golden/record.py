#!/usr/bin/env python3
"""Record golden request/response pairs from a Glance v1 server.

usage: record.py BASE_URL OUTDIR [--flavor noauth|trusted-auth]

  (the flavour defaults to OUTDIR's basename when that is noauth/trusted-auth)

  BASE_URL  e.g. http://127.0.0.1:29292 (must be 127.0.0.1 / localhost)
  OUTDIR    directory to (re)create; one `NN-name.http` file per exchange

The scenario is fixed: every image is created by POST with a fixed
`x-image-meta-id`, name and data, so it can be replayed (compare.py) against
any server that starts EMPTY and yields comparable output.  Exchanges run in
order, each on a fresh TCP connection.  Stdlib only.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_http import parse_base, send_raw, write_golden  # noqa: E402

UA = "glance-golden/1"


def uid(n):
    return "11111111-1111-1111-1111-%012d" % n


# fixed image data
D1 = b"hello glance image one\n"                                   # 23 bytes
D2 = bytes((i * 7 + 3) % 256 for i in range(1024))                   # binary
D3 = b"protected image data\n"
D4 = b"delete me\n"
D5 = b"0123456789abcdef" * 4                                         # 64 bytes
D_BIG = b"size matters\n"


def md5(b):
    return hashlib.md5(b).hexdigest()


class Ex(object):
    def __init__(self, name, method, path, headers=(), body=b"",
                 version="HTTP/1.1", accept="*/*", chunks=None, raw=None):
        self.name, self.method, self.path = name, method, path
        self.headers, self.body, self.version = list(headers), body, version
        self.accept, self.chunks, self.raw = accept, chunks, raw

    def build(self, hostport):
        if self.raw is not None:
            return self.raw.replace(b"@HOST@", hostport.encode())
        lines = ["%s %s %s" % (self.method, self.path, self.version),
                 "Host: %s" % hostport, "User-Agent: %s" % UA]
        if self.accept is not None:
            lines.append("Accept: %s" % self.accept)
        for k, v in self.headers:
            lines.append("%s: %s" % (k, v))
        body = self.body
        if self.chunks is not None:
            lines.append("Transfer-Encoding: chunked")
            body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in self.chunks) + b"0\r\n\r\n"
        elif body:
            lines.append("Content-Length: %d" % len(body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


OCT = ("Content-Type", "application/octet-stream")
RAWBARE = [("x-image-meta-disk_format", "raw"), ("x-image-meta-container_format", "bare")]


def post(name, iid, extra=(), body=b"", chunks=None, fmt=True, ctype=True, **kw):
    h = [("x-image-meta-id", iid)] if iid else []
    h += list(extra)
    if fmt:
        h += RAWBARE
    if (body or chunks) and ctype:
        h.append(OCT)
    return Ex(name, "POST", "/v1/images", h, body, chunks=chunks, **kw)


def http10(name, path, keepalive):
    raw = b"HEAD " + path.encode() + b" HTTP/1.0\r\nHost: @HOST@\r\nUser-Agent: " + UA.encode() + b"\r\nAccept: */*\r\n"
    if keepalive:
        raw += b"Connection: keep-alive\r\n"
    return Ex(name, "HEAD", path, raw=raw + b"\r\n")


def noauth():
    I = {k: uid(n) for n, k in enumerate(
        ["img1", "img2", "queued1", "zero", "props", "public", "badhdr", "badsize",
         "cksum", "ctype", "prot", "del", "queued5", "goodck", "utf8", "nofmt",
         "extsrc", "boolish", "longname"], 1)}
    UNK = "00000000-0000-0000-0000-000000000000"
    img = lambda k: "/v1/images/" + I[k]
    L = []
    a = L.append
    # --- versions / routing on an empty server
    a(Ex("get-root", "GET", "/"))
    a(Ex("get-versions", "GET", "/versions"))
    a(Ex("get-v2-images", "GET", "/v2/images"))
    a(Ex("get-images-noversion", "GET", "/images"))
    a(Ex("get-v1", "GET", "/v1"))
    a(Ex("get-v1-slash-empty", "GET", "/v1/"))
    a(Ex("list-empty", "GET", "/v1/images"))
    a(Ex("detail-empty", "GET", "/v1/images/detail"))
    # --- creates
    a(post("post-img1-content-length", I["img1"], [("x-image-meta-name", "img1")], D1))
    a(post("post-img2-chunked-props", I["img2"], [
        ("x-image-meta-name", "img2 with spaces"),
        ("x-image-meta-min_ram", "512"), ("x-image-meta-min_disk", "2"),
        ("x-image-meta-protected", "false"),
        ("x-image-meta-property-os_distro", "debian"),
        ("x-image-meta-property-Hw_Disk_Bus", "virtio")],
        fmt=False, chunks=[D2[:600], D2[600:]]))
    # formats given separately: qcow2/ovf
    L[-1].headers[1:1] = [("x-image-meta-disk_format", "qcow2"), ("x-image-meta-container_format", "ovf")]
    a(post("post-queued-nobody", I["queued1"], [("x-image-meta-name", "queued1")], fmt=False))
    a(post("post-size-zero-active", I["zero"], [("x-image-meta-name", "zero"), ("x-image-meta-size", "0"),
                                                 ("Content-Length", "0")]))
    a(post("post-props-mixed-case", I["props"], [
        ("x-image-meta-name", "props"),
        ("X-Image-Meta-Property-Hw-Disk_Bus", "scsi"),
        ("x-image-meta-property-OS_Type", "Linux"),
        ("x-image-meta-property-empty", ""),
        ("X-IMAGE-META-MIN-RAM", "64")]))
    a(post("post-is-public-true", I["public"], [("x-image-meta-name", "public"), ("x-image-meta-is_public", "True")]))
    a(Ex("head-after-is-public-403", "HEAD", img("public")))
    a(post("post-bad-header-foo", I["badhdr"], [("x-image-meta-name", "badhdr"), ("x-image-meta-foo", "bar")]))
    a(post("post-bad-disk-format", I["badhdr"], [("x-image-meta-name", "badfmt"), ("x-image-meta-disk_format", "floppy"),
                                                 ("x-image-meta-container_format", "bare")], fmt=False))
    a(post("post-bad-container-format", I["badhdr"], [("x-image-meta-container_format", "box"),
                                                      ("x-image-meta-disk_format", "raw")], fmt=False))
    a(post("post-bad-size-abc", I["badhdr"], [("x-image-meta-size", "abc")]))
    a(post("post-negative-size", I["badhdr"], [("x-image-meta-size", "-1")]))
    a(post("post-bad-min-ram", I["badhdr"], [("x-image-meta-min_ram", "lots")]))
    a(Ex("head-after-bad-posts", "HEAD", img("badhdr")))
    a(post("post-duplicate-id-409", I["img1"], [("x-image-meta-name", "dup")], D1))
    a(post("post-size-mismatch", I["badsize"], [("x-image-meta-name", "badsize"), ("x-image-meta-size", "999")], D1))
    a(post("post-checksum-mismatch", I["cksum"], [("x-image-meta-name", "cksum"),
                                                  ("x-image-meta-checksum", "0" * 32)], D1))
    a(post("post-wrong-content-type", I["ctype"], [("x-image-meta-name", "ctype"),
                                                   ("Content-Type", "text/plain")], D1, ctype=False))
    a(post("post-protected", I["prot"], [("x-image-meta-name", "prot"), ("x-image-meta-protected", "True")], D3))
    a(post("post-to-delete", I["del"], [("x-image-meta-name", "del"), ("x-image-meta-property-k", "v")], D4))
    a(post("post-queued-size5", I["queued5"], [("x-image-meta-name", "queued5"), ("x-image-meta-size", "5")]))
    a(post("post-good-checksum", I["goodck"], [("x-image-meta-name", "goodck"), ("x-image-meta-checksum", md5(D5))], D5))
    a(post("post-bad-id-format", "not-a-uuid", [("x-image-meta-name", "badid")]))
    # leaves a queued record behind (reserved before the format check)
    a(post("post-no-formats-with-body", I["nofmt"], [("x-image-meta-name", "nofmt")], D1, fmt=False))
    a(post("post-location-file-400", I["extsrc"], [("x-image-meta-name", "extsrc"),
                                                    ("x-image-meta-location", "file:///etc/hostname")]))
    a(post("post-copy-from-file-400", I["extsrc"], [("x-image-meta-name", "extsrc"),
                                                     ("x-glance-api-copy-from", "file:///etc/hostname")]))
    a(post("post-lenient-booleans", I["boolish"], [("x-image-meta-name", "boolish"),
                                                   ("x-image-meta-is_public", "maybe"),
                                                   ("x-image-meta-protected", "yes")]))
    a(post("post-name-too-long", I["longname"], [("x-image-meta-name", "n" * 256)]))
    a(post("post-utf8-name", I["utf8"], [("x-image-meta-name", "caf\u00e9 \u2603"),
                                         ("x-image-meta-property-note", "\u00fcber")], D1))
    # --- HEAD
    a(Ex("head-active", "HEAD", img("img1")))
    a(Ex("head-active-props", "HEAD", img("img2")))
    a(Ex("head-props-mixed-case", "HEAD", img("props")))
    a(Ex("head-queued", "HEAD", img("queued1")))
    a(Ex("head-zero", "HEAD", img("zero")))
    a(Ex("head-killed-size-mismatch", "HEAD", img("badsize")))
    a(Ex("head-killed-checksum-mismatch", "HEAD", img("cksum")))
    a(Ex("head-killed-content-type", "HEAD", img("ctype")))
    a(Ex("head-good-checksum", "HEAD", img("goodck")))
    a(Ex("head-no-formats-leftover", "HEAD", img("nofmt")))
    a(Ex("head-extsrc-after-400", "HEAD", img("extsrc")))
    a(Ex("head-lenient-booleans", "HEAD", img("boolish")))
    a(Ex("head-utf8-name", "HEAD", img("utf8")))
    a(Ex("head-if-none-match", "HEAD", img("img1"), [("If-None-Match", "aa9c932d5678ea1b1433f8ed377be4e6")]))
    a(Ex("head-unknown-uuid", "HEAD", "/v1/images/" + UNK))
    a(Ex("head-non-uuid", "HEAD", "/v1/images/does-not-exist"))
    a(Ex("head-40-char-id", "HEAD", "/v1/images/" + I["img1"] + "abcd"))
    a(Ex("head-trailing-slash", "HEAD", img("img1") + "/"))
    a(Ex("head-list-405", "HEAD", "/v1/images"))
    a(Ex("head-detail-405", "HEAD", "/v1/images/detail"))
    a(Ex("head-members-405", "HEAD", img("img1") + "/members"))
    a(http10("head-http10-close", img("img1"), False))
    a(http10("head-http10-keepalive", img("img1"), True))
    # --- GET data
    a(Ex("get-active", "GET", img("img1")))
    a(Ex("get-active-binary", "GET", img("img2")))
    a(Ex("get-zero", "GET", img("zero")))
    a(Ex("get-queued-404", "GET", img("queued1")))
    a(Ex("get-killed-404", "GET", img("badsize")))
    a(Ex("get-unknown-html", "GET", "/v1/images/" + UNK))
    a(Ex("get-unknown-json", "GET", "/v1/images/" + UNK, accept="application/json"))
    a(Ex("get-unknown-no-accept", "GET", "/v1/images/" + UNK, accept=None))
    a(Ex("get-unknown-text-plain", "GET", "/v1/images/" + UNK, accept="text/plain"))
    a(Ex("get-range-ignored", "GET", img("img1"), [("Range", "bytes=0-4")]))
    # --- lists.  NB: in noauth an admin without is_public gets the "normal
    # user" view, which is empty here (no owner, nothing public), so most
    # filter cases add is_public=None.
    N = "is_public=None&"
    a(Ex("list", "GET", "/v1/images"))
    a(Ex("detail", "GET", "/v1/images/detail"))
    a(Ex("get-v1-slash", "GET", "/v1/"))
    a(Ex("list-is-public-none", "GET", "/v1/images?is_public=None"))
    a(Ex("detail-is-public-none", "GET", "/v1/images/detail?is_public=None"))
    a(Ex("list-is-public-true", "GET", "/v1/images?is_public=true"))
    a(Ex("list-is-public-false", "GET", "/v1/images?is_public=false"))
    a(Ex("list-is-public-bad", "GET", "/v1/images?is_public=maybe"))
    a(Ex("detail-name", "GET", "/v1/images/detail?" + N + "name=img1"))
    a(Ex("detail-name-spaces", "GET", "/v1/images/detail?" + N + "name=img2%20with%20spaces"))
    a(Ex("list-name-no-is-public", "GET", "/v1/images?name=img1"))
    a(Ex("list-status-queued", "GET", "/v1/images?" + N + "status=queued"))
    a(Ex("list-status-killed", "GET", "/v1/images?" + N + "status=killed"))
    a(Ex("list-size-min", "GET", "/v1/images?" + N + "size_min=30"))
    a(Ex("list-size-max", "GET", "/v1/images?" + N + "size_max=30"))
    a(Ex("list-size-min-bad", "GET", "/v1/images?" + N + "size_min=abc"))
    a(Ex("list-min-ram-negative", "GET", "/v1/images?" + N + "min_ram=-1"))
    a(Ex("list-min-ram", "GET", "/v1/images?" + N + "min_ram=64"))
    a(Ex("detail-property-filter", "GET", "/v1/images/detail?" + N + "property-os_distro=debian"))
    a(Ex("list-property-filter-case", "GET", "/v1/images?" + N + "property-hw_disk_bus=scsi"))
    a(Ex("list-disk-format", "GET", "/v1/images?" + N + "disk_format=qcow2"))
    a(Ex("list-container-format-in", "GET", "/v1/images?" + N + "container_format=in:ovf,bare"))
    a(Ex("list-protected-true", "GET", "/v1/images?" + N + "protected=true"))
    a(Ex("list-sort-name-asc", "GET", "/v1/images?" + N + "sort_key=name&sort_dir=asc"))
    a(Ex("list-sort-size-desc", "GET", "/v1/images?" + N + "sort_key=size&sort_dir=desc"))
    a(Ex("list-limit-1", "GET", "/v1/images?" + N + "limit=1"))
    a(Ex("list-marker", "GET", "/v1/images?" + N + "sort_key=name&sort_dir=asc&limit=3&marker=" + I["img1"]))
    a(Ex("detail-marker-default-sort", "GET", "/v1/images/detail?" + N + "limit=2&marker=" + I["zero"]))
    a(Ex("list-limit-x", "GET", "/v1/images?limit=x"))
    a(Ex("list-limit-negative", "GET", "/v1/images?limit=-1"))
    a(Ex("list-marker-bad", "GET", "/v1/images?marker=bad"))
    a(Ex("list-marker-unknown", "GET", "/v1/images?marker=" + UNK))
    a(Ex("list-sort-key-bad", "GET", "/v1/images?sort_key=bogus"))
    a(Ex("list-sort-dir-bad", "GET", "/v1/images?sort_dir=up"))
    a(Ex("list-changes-since", "GET", "/v1/images?" + N + "changes-since=2000-01-01T00:00:00"))
    a(Ex("list-changes-since-bad", "GET", "/v1/images?changes-since=yesterday"))
    a(Ex("list-protected-bad", "GET", "/v1/images?protected=imalittleteapot"))
    # --- PUT
    a(Ex("put-meta-purge-default", "PUT", img("img2"), [("x-image-meta-name", "img2-renamed"),
                                                        ("x-image-meta-property-a", "1")]))
    a(Ex("put-meta-no-purge", "PUT", img("img2"), [("x-glance-registry-purge-props", "false"),
                                                   ("x-image-meta-property-b", "2"),
                                                   ("x-image-meta-min_ram", "1024")]))
    a(Ex("head-after-put", "HEAD", img("img2")))
    a(Ex("put-meta-empty-wipes-props", "PUT", img("props")))
    a(Ex("head-after-wipe", "HEAD", img("props")))
    a(Ex("put-data-to-queued", "PUT", img("queued1"), RAWBARE + [OCT], D5))
    a(Ex("head-after-put-data", "HEAD", img("queued1")))
    a(Ex("put-data-to-active-409", "PUT", img("img1"), [OCT], D1))
    a(Ex("put-data-size-mismatch", "PUT", img("queued5"), [OCT], D1))
    a(Ex("head-after-put-size-mismatch", "HEAD", img("queued5")))
    a(Ex("put-status-403", "PUT", img("img1"), [("x-image-meta-status", "queued")]))
    a(Ex("put-same-status-ok", "PUT", img("img1"), [("x-image-meta-status", "active"),
                                                    ("x-glance-registry-purge-props", "false")]))
    a(Ex("put-bad-header", "PUT", img("img1"), [("x-image-meta-bar", "1")]))
    a(Ex("put-is-public-403", "PUT", img("img1"), [("x-image-meta-is_public", "true")]))
    a(Ex("put-unknown-404", "PUT", "/v1/images/" + UNK, [("x-image-meta-name", "x")]))
    # --- members
    m = img("img2") + "/members"
    a(Ex("members-empty", "GET", m))
    a(Ex("member-put-nobody", "PUT", m + "/tenant-x"))
    a(Ex("member-put-body", "PUT", m + "/tenant-y", [("Content-Type", "application/json")],
         b'{"member": {"can_share": true}}'))
    a(Ex("members-list", "GET", m))
    # quirk: owner-less context + image with members -> shows in the default list
    a(Ex("list-after-members-added", "GET", "/v1/images"))
    a(Ex("shared-images", "GET", "/v1/shared-images/tenant-y"))
    a(Ex("shared-images-none", "GET", "/v1/shared-images/nobody"))
    a(Ex("members-replace", "PUT", m, [("Content-Type", "application/json")],
         b'{"memberships": [{"member_id": "tenant-z", "can_share": false}, {"member_id": "tenant-x"}]}'))
    a(Ex("members-list-after-replace", "GET", m))
    a(Ex("members-replace-bad-body", "PUT", m, [("Content-Type", "application/json")], b'{"nope": 1}'))
    a(Ex("member-delete", "DELETE", m + "/tenant-z"))
    a(Ex("member-delete-unknown", "DELETE", m + "/tenant-q"))
    a(Ex("member-get-405", "GET", m + "/tenant-x"))
    a(Ex("member-head-405", "HEAD", m + "/tenant-x"))
    a(Ex("members-unknown-image", "GET", "/v1/images/" + UNK + "/members"))
    # --- DELETE
    a(Ex("delete-active", "DELETE", img("del")))
    a(Ex("head-deleted", "HEAD", img("del")))
    a(Ex("get-deleted-404", "GET", img("del")))
    a(Ex("delete-again-404", "DELETE", img("del")))
    a(Ex("put-deleted-403", "PUT", img("del"), [("x-image-meta-name", "zombie")]))
    a(Ex("members-deleted-image", "GET", img("del") + "/members"))
    a(Ex("delete-protected-403", "DELETE", img("prot")))
    a(Ex("delete-unknown-json", "DELETE", "/v1/images/" + UNK, accept="application/json"))
    a(Ex("delete-queued", "DELETE", img("queued5")))
    # --- other methods / routes
    a(Ex("post-image-id-405", "POST", img("img1")))
    a(Ex("patch-images-405", "PATCH", "/v1/images"))
    a(Ex("delete-detail-405", "DELETE", "/v1/images/detail"))
    a(Ex("put-images-405", "PUT", "/v1/images"))
    a(Ex("unknown-route", "GET", "/v1/foo"))
    a(Ex("unknown-route-deep", "GET", "/v1/images/" + I["img1"] + "/foo"))
    a(Ex("get-v3", "GET", "/v3/images"))
    # --- final state
    a(Ex("detail-final-all", "GET", "/v1/images/detail?is_public=None"))
    a(Ex("list-final-changes-since", "GET", "/v1/images?changes-since=2000-01-01T00:00:00&sort_key=name&sort_dir=asc"))
    return L


# ---------------------------------------------------------------- trusted-auth
def ident(tenant, user, roles):
    return [("X-Identity-Status", "Confirmed"), ("X-Tenant-Id", tenant),
            ("X-User-Id", user), ("X-Roles", roles)]


A = ident("tenant-a", "user-a", "member")
B = ident("tenant-b", "user-b", "member")
C = ident("tenant-c", "user-c", "member")
ADM = ident("admin-t", "admin-u", "admin")


def trusted():
    I = {k: uid(n) for n, k in enumerate(
        ["priv", "pub", "try", "anon", "owned", "admown", "shared"], 101)}
    img = lambda k: "/v1/images/" + I[k]
    L = []
    a = L.append
    a(post("post-private-as-a", I["priv"], A + [("x-image-meta-name", "private-a")], D1))
    a(post("post-public-as-admin", I["pub"], ADM + [("x-image-meta-name", "public-adm"),
                                                     ("x-image-meta-is_public", "true")], D1))
    a(post("post-public-as-member-403", I["try"], A + [("x-image-meta-name", "try-public"),
                                                        ("x-image-meta-is_public", "true")]))
    a(post("post-anonymous-401", I["anon"], [("x-image-meta-name", "anon")]))
    a(post("post-identity-invalid-401", I["anon"], [("X-Identity-Status", "Invalid"), ("x-image-meta-name", "anon")]))
    a(post("post-owner-ignored-for-member", I["owned"], A + [("x-image-meta-name", "owned"),
                                                             ("x-image-meta-owner", "tenant-z")]))
    a(post("post-owner-set-by-admin", I["admown"], ADM + [("x-image-meta-name", "admown"),
                                                          ("x-image-meta-owner", "tenant-b")]))
    a(post("post-shared-as-a", I["shared"], A + [("x-image-meta-name", "shared-a")], D4))
    a(Ex("head-private-as-owner", "HEAD", img("priv"), A))
    a(Ex("head-private-as-other", "HEAD", img("priv"), B))
    a(Ex("head-private-as-admin", "HEAD", img("priv"), ADM))
    a(Ex("head-private-anonymous", "HEAD", img("priv")))
    a(Ex("get-private-anonymous", "GET", img("priv")))
    a(Ex("head-private-as-admin-role-case", "HEAD", img("priv"), ident("t-x", "u-x", "Member,ADMIN")))
    a(Ex("head-public-as-other", "HEAD", img("pub"), B))
    a(Ex("head-admin-owned-for-b", "HEAD", img("admown"), B))
    a(Ex("head-unknown-as-a", "HEAD", "/v1/images/00000000-0000-0000-0000-000000000000", A))
    a(Ex("head-request-id-echo", "HEAD", img("priv"), A + [("X-Openstack-Request-Id", "req-11111111-2222-4333-8444-555555555555")]))
    a(Ex("get-private-as-owner", "GET", img("priv"), A))
    a(Ex("get-private-as-other-404", "GET", img("priv"), B))
    a(Ex("get-public-as-other", "GET", img("pub"), B))
    a(Ex("list-as-a", "GET", "/v1/images", A))
    a(Ex("detail-as-b", "GET", "/v1/images/detail", B))
    a(Ex("list-as-b-is-public-none-ignored", "GET", "/v1/images?is_public=None", B))
    a(Ex("list-as-admin", "GET", "/v1/images", ADM))
    a(Ex("list-as-admin-is-public-none", "GET", "/v1/images?is_public=None", ADM))
    a(Ex("list-as-admin-is-public-false", "GET", "/v1/images?is_public=false", ADM))
    a(Ex("list-anonymous-401", "GET", "/v1/images"))
    a(Ex("versions-anonymous", "GET", "/versions"))
    # members
    m = img("shared") + "/members"
    a(Ex("member-add-by-owner", "PUT", m + "/tenant-b", A))
    a(Ex("member-add-by-other-404", "PUT", img("priv") + "/members/tenant-b", B))
    a(Ex("members-list-as-owner", "GET", m, A))
    a(Ex("members-list-as-member", "GET", m, B))
    a(Ex("members-list-as-stranger", "GET", m, C))
    a(Ex("head-shared-as-member", "HEAD", img("shared"), B))
    a(Ex("list-as-member-sees-shared", "GET", "/v1/images", B))
    a(Ex("shared-images-as-member", "GET", "/v1/shared-images/tenant-b", B))
    a(Ex("shared-images-as-stranger", "GET", "/v1/shared-images/tenant-b", C))
    a(Ex("member-add-by-member-no-share", "PUT", m + "/tenant-c", B))
    a(Ex("member-replace-by-owner", "PUT", m, A + [("Content-Type", "application/json")],
         b'{"memberships": [{"member_id": "tenant-b", "can_share": true}]}'))
    a(Ex("member-add-by-sharing-member", "PUT", m + "/tenant-c", B))
    a(Ex("members-list-after-share", "GET", m, A))
    a(Ex("member-delete-by-owner", "DELETE", m + "/tenant-c", A))
    # updates / deletes by non-owners
    a(Ex("put-public-as-other-403", "PUT", img("pub"), B + [("x-image-meta-name", "hijack")]))
    a(Ex("put-private-as-other-404", "PUT", img("priv"), B + [("x-image-meta-name", "hijack")]))
    a(Ex("put-owner-by-member-ignored", "PUT", img("priv"), A + [("x-image-meta-owner", "tenant-z"),
                                                                 ("x-glance-registry-purge-props", "false")]))
    a(Ex("put-size-active-as-owner-403", "PUT", img("priv"), A + [("x-image-meta-size", "5")]))
    a(Ex("delete-public-as-other-403", "DELETE", img("pub"), B))
    a(Ex("delete-shared-as-member", "DELETE", img("shared"), B))
    a(Ex("delete-private-as-other-404", "DELETE", img("priv"), B))
    a(Ex("delete-private-anonymous-401", "DELETE", img("priv")))
    a(Ex("delete-private-as-owner", "DELETE", img("priv"), A))
    a(Ex("head-deleted-as-owner", "HEAD", img("priv"), A))
    a(Ex("head-deleted-as-admin", "HEAD", img("priv"), ADM))
    a(Ex("head-deleted-as-other", "HEAD", img("priv"), B))
    a(Ex("delete-again-as-owner", "DELETE", img("priv"), A))
    a(Ex("detail-final-as-admin", "GET", "/v1/images/detail?is_public=None", ADM))
    return L


SCENARIOS = {"noauth": noauth, "trusted-auth": trusted}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("base_url")
    ap.add_argument("outdir")
    ap.add_argument("--flavor", choices=sorted(SCENARIOS), default=None,
                    help="scenario; default: OUTDIR's basename if it names one, else noauth")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    if args.flavor is None:
        base = os.path.basename(os.path.normpath(args.outdir))
        args.flavor = base if base in SCENARIOS else "noauth"
    host, port = parse_base(args.base_url)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("refusing to send traffic to %s (loopback only)" % host)
    hostport = "%s:%d" % (host, port)
    exs = SCENARIOS[args.flavor]()
    names = [e.name for e in exs]
    assert len(set(names)) == len(names), "duplicate exchange names"
    if os.path.isdir(args.outdir):
        for f in os.listdir(args.outdir):
            if f.endswith(".http"):
                os.remove(os.path.join(args.outdir, f))
    os.makedirs(args.outdir, exist_ok=True)
    width = max(2, len(str(len(exs) - 1)))
    for n, e in enumerate(exs):
        req = e.build(hostport)
        resp = send_raw(host, port, req)
        fn = "%0*d-%s.http" % (width, n, e.name)
        write_golden(os.path.join(args.outdir, fn), req, resp)
        if not args.quiet:
            print("%-48s %s" % (fn, resp.split(b"\r\n", 1)[0].decode("latin-1")))
    print("recorded %d exchanges (%s scenario) into %s" % (len(exs), args.flavor, args.outdir))


if __name__ == "__main__":
    main()
