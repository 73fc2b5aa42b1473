"""The oracle's requests, GENERATED from tables (not hand-picked exchanges).

`phases(flavor)` returns the phases in the order they must run. Each phase is a list of
`Case`s; a case is one or more `Req`s sent on one connection. Read-only phases come first
(visibility matrix, header and path variants, list filters); then the method matrix (which may
change the dedicated `matrix-pub` image); then the write phase, repeated per caller on images
of its own. Images created without an explicit id get a server-generated id; requests that
refer to one say `@@key@@`, and the runner substitutes each server's own id.
"""
import json

from fixture import A, ADM, B, C, D, image_ids
from rawhttp import Req

IDS = image_ids()
UNKNOWN = "0c0c0c0c-0000-4000-8000-999999999999"


class Case(object):
    __slots__ = ("name", "group", "reqs", "learn")

    def __init__(self, name, group, reqs, learn=None):
        self.name, self.group, self.reqs, self.learn = name, group, reqs, learn


CONF = [("X-Identity-Status", "Confirmed")]


def _who(tenant, roles="member", user=None):
    h = list(CONF)
    if tenant is not None:
        h.append(("X-Tenant-Id", tenant))
    h.append(("X-User-Id", user or "u-%s" % (tenant or "none")[:4]))
    if roles is not None:
        h.append(("X-Roles", roles))
    return h


# Every identity shape a caller can present (trusted-auth reads them; noauth ignores them).
IDENTITIES = [
    ("anonymous", []),
    ("admin", _who(ADM, "admin")),
    ("owner", _who(A)),
    ("member-share", _who(B)),
    ("member-noshare", _who(C)),
    ("stranger", _who(D)),
    ("no-tenant", _who(None)),
    ("no-tenant-no-roles", _who(None, None)),
    ("owner-no-roles", _who(A, None)),
    ("owner-empty-roles", _who(A, "")),
    ("admin-no-tenant", _who(None, "admin")),
    ("empty-tenant", _who("")),
    ("project-id-only", CONF + [("X-Project-Id", A), ("X-User-Id", "u-a"),
                                ("X-Roles", "member")]),
    ("project-tenant-agree", CONF + [("X-Project-Id", A), ("X-Tenant-Id", A),
                                     ("X-User-Id", "u-a"), ("X-Roles", "member")]),
    ("project-A-tenant-D", CONF + [("X-Project-Id", A), ("X-Tenant-Id", D),
                                   ("X-User-Id", "u-a"), ("X-Roles", "member")]),
    ("project-D-tenant-A", CONF + [("X-Project-Id", D), ("X-Tenant-Id", A),
                                   ("X-User-Id", "u-a"), ("X-Roles", "member")]),
    ("legacy-tenant-user-role", CONF + [("X-Tenant", A), ("X-User", "u-a"),
                                        ("X-Role", "member")]),
    ("legacy-role-admin", CONF + [("X-Tenant-Id", D), ("X-User-Id", "u-d"),
                                  ("X-Role", "admin")]),
    ("roles-beat-legacy-role", CONF + [("X-Tenant-Id", D), ("X-Roles", "member"),
                                       ("X-Role", "admin")]),
    ("legacy-tenant-and-tenant-id", CONF + [("X-Tenant", D), ("X-Tenant-Id", A),
                                            ("X-Roles", "member")]),
    ("invalid-status-admin", [("X-Identity-Status", "Invalid"), ("X-Tenant-Id", A),
                              ("X-User-Id", "u-a"), ("X-Roles", "admin")]),
    ("confirmed-lowercase", [("X-Identity-Status", "confirmed"), ("X-Tenant-Id", A),
                             ("X-Roles", "member")]),
    ("admin-capitalised", _who(D, "Admin")),
    ("roles-with-spaces", _who(D, " member , admin ")),
    ("tenant-upper-case", _who(A.upper())),
    ("user-only", CONF + [("X-User-Id", "u-a"), ("X-Roles", "member")]),
    ("token-only", [("X-Auth-Token", "some-token")]),
    ("bad-service-catalog", _who(A) + [("X-Service-Catalog", "{not json")]),
    ("service-catalog", _who(A) + [("X-Service-Catalog", "[]")]),
    ("long-request-id", _who(A) + [("X-Openstack-Request-Id", "x" * 70)]),
    ("request-id", _who(A) + [("X-Openstack-Request-Id",
                                "req-11111111-2222-4333-8444-555555555555")]),
    ("request-id-no-prefix", _who(B) + [("X-Openstack-Request-Id", "abc")]),
    ("admin-not-admin-project", _who(ADM, "admin") + [("X-Is-Admin-Project", "False")]),
]
IDENT = dict(IDENTITIES)
ADMIN = IDENT["admin"]
TENANT_OF = {"owner": A, "member-share": B, "member-noshare": C, "stranger": D, "admin": ADM}


def _r(method, target, headers=(), **kw):
    h = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + list(headers)
    return Req(method, target, h, **kw)


NOAUTH_IDENTITIES = ("anonymous", "owner", "admin-no-tenant", "invalid-status-admin",
                     "bad-service-catalog", "long-request-id", "request-id")


def visibility(flavor):
    """Every identity x every image (HEAD, GET, members) and the lists it can see. The noauth
    flavour ignores identity headers, so there only a few shapes are sent."""
    out = []
    idents = [(w, h) for w, h in IDENTITIES
              if flavor == "trusted-auth" or w in NOAUTH_IDENTITIES]
    lists = ["/v1/images", "/v1/images/detail", "/v1/images/detail?is_public=None",
             "/v1/images/detail?is_public=true", "/v1/images/detail?is_public=false",
             "/v1/images?is_public=None&sort_key=name&sort_dir=asc",
             "/v1/images/detail?changes-since=2015-01-01T00:00:00",
             "/v1/images/detail?is_public=None&changes-since=2015-06-10T00:00:00",
             "/v1/images/detail?owner=%s&is_public=None" % A,
             "/v1/images/detail?property-team=blue&is_public=None",
             "/v1/images/detail?is_public=None&marker=%s" % IDS["shared-a"],
             "/v1/images/detail?is_public=None&marker=%s" % IDS["priv-d"],
             "/v1/images/detail?is_public=None&marker=%s" % IDS["deleted-a"],
             "/v1/images/detail?is_public=None&status=deleted",
             "/v1/images/detail?is_public=None&status=pending_delete",
             "/v1/images/detail?is_public=None&status=killed"]
    for who, h in idents:
        g = "visibility/%s" % who
        for name, iid in sorted(IDS.items()):
            out.append(Case("HEAD %s as %s" % (name, who), g,
                            [_r("HEAD", "/v1/images/%s" % iid, h)]))
            out.append(Case("GET %s as %s" % (name, who), g,
                            [_r("GET", "/v1/images/%s" % iid, h)]))
            out.append(Case("GET members of %s as %s" % (name, who), g,
                            [_r("GET", "/v1/images/%s/members" % iid, h)]))
            if name in ("shared-a", "shared-a-b-noshare", "priv-a", "deleted-a"):
                for m in (B, C, D):
                    out.append(Case("GET member %s of %s as %s" % (m[:2], name, who), g,
                                    [_r("GET", "/v1/images/%s/members/%s" % (iid, m), h)]))
        for path in lists:
            out.append(Case("list %s as %s" % (path, who), g, [_r("GET", path, h)]))
        for t in (A, B, C, D, ""):
            out.append(Case("shared-images %s as %s" % (t[:2] or "empty", who), g,
                            [_r("GET", "/v1/shared-images/%s" % t, h)]))
    return out


ROUTES = ["/", "/versions", "/v1", "/v1/", "/v1/images", "/v1/images/detail",
          "/v1/images/%s" % IDS["pub-a"], "/v1/images/%s/members" % IDS["pub-a"],
          "/v1/images/%s/members/%s" % (IDS["shared-a"], B), "/v1/shared-images/%s" % B,
          "/v1/images/%s" % UNKNOWN, "/images", "/v2/images", "/v1/nothing", "/healthcheck"]

ACCEPTS = [None, "*/*", "application/json", "text/html", "text/plain", "application/xml",
           "application/vnd.openstack.images-v1", "application/vnd.openstack.images-v1.0",
           "application/vnd.openstack.images-v1.1", "application/vnd.openstack.images-v2",
           "application/vnd.openstack.images-v2.0", "application/vnd.openstack.images-v3",
           "application/vnd.openstack.images-v1+json", "application/vnd.openstack.images-v",
           "application/vnd.openstack.compute-v1", "application/json;q=0.5, text/html",
           "text/html;q=0.1, application/json", "garbage", ""]


def variants(flavor):
    """Each route with and without the headers real clients send."""
    who = ADMIN if flavor == "trusted-auth" else []
    out = []
    for route in ROUTES:
        for method in ("GET", "HEAD"):
            g = "variants/%s %s" % (method, route.split("/")[1] if route != "/" else "/")
            for acc in ACCEPTS:
                h = [("User-Agent", "oracle/1")]
                if acc is not None:
                    h.append(("Accept", acc))
                out.append(Case("%s %s Accept=%r" % (method, route, acc), g,
                                [Req(method, route, h + who)]))
            extra = [
                ("ct-json", [("Content-Type", "application/json")], {}),
                ("ct-octet", [("Content-Type", "application/octet-stream")], {}),
                ("ct-garbage", [("Content-Type", "garbage")], {}),
                ("cl-0", [("Content-Length", "0")], {}),
                ("body", [("Content-Type", "text/plain")], {"body": b"hello body"}),
                ("json-body", [("Content-Type", "application/json")],
                 {"body": b'{"image": {}}'}),
                ("chunked-body", [], {"body": b"chunked body bytes here", "chunked": True}),
                ("chunked-empty", [], {"body": b"", "chunked": True}),
                ("conn-close", [("Connection", "close")], {"probe_close": True}),
                ("conn-keepalive", [("Connection", "keep-alive")], {"probe_close": True}),
                ("conn-Close-caps", [("Connection", "Close")], {"probe_close": True}),
                ("http10", [], {"version": "HTTP/1.0", "probe_close": True}),
                ("http10-keepalive", [("Connection", "keep-alive")],
                 {"version": "HTTP/1.0", "probe_close": True}),
                ("http10-nohost", [], {"version": "HTTP/1.0", "host": False}),
                ("http11-nohost", [], {"host": False}),
                ("host-other", [("Host", "glance.example:9999")], {"host": False}),
                ("host-noport", [("Host", "glance.example")], {"host": False}),
                ("x-forwarded-proto", [("X-Forwarded-Proto", "https")], {}),
                ("forwarded", [("Forwarded", "proto=https;host=fwd.example")], {}),
                ("origin", [("Origin", "http://evil.example")], {}),
                ("accept-encoding", [("Accept-Encoding", "gzip, deflate")], {}),
                ("expect", [("Expect", "100-continue")], {}),
                ("user-agent-glanceclient", [("User-Agent", "python-glanceclient")], {}),
                ("x-auth-token", [("X-Auth-Token", "abc")], {}),
                ("image-meta-header", [("x-image-meta-size", "1")], {}),
                ("req-id", [("X-Openstack-Request-Id", "req-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")],
                 {}),
            ]
            for label, hh, kw in extra:
                h = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + hh
                out.append(Case("%s %s %s" % (method, route, label), g,
                                [Req(method, route, h + who, **kw)]))
            # two requests on one keep-alive connection
            h = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + who
            out.append(Case("%s %s twice on one connection" % (method, route), g,
                            [Req(method, route, h), Req(method, route, h, probe_close=True)]))
    return out


PATHS = ["//v1/images", "/v1//images", "/v1/images/", "/v1/images//", "/v1/images/detail/",
         "/v1/images/{pub}/", "/v1/images//{pub}", "/v1/images/{pub}//members",
         "/v1/images/%30c0c0c0c-0000-4000-8000-000000000001", "/v1/images/{pub}%2Fmembers",
         "/v1/%69mages", "/V1/images", "/v1.0/images", "/v1.1/images", "/v1.2/images",
         "/v1.0/images/{pub}", "/v1.1/images/detail", "/v2/images/x", "/v2.0/", "/v2.5/images",
         "/v3/images/", "/v10/images", "/v/images", "/vx/images", "/v1x/images", "/v1/images?",
         "/v1/images?&", "/v1/images/detail?", "/v1/images/{pub}?foo=bar",
         "/v1/images/{pub}/members/", "/v1/shared-images/", "/v1/shared-images",
         "/v1/images/{shared}/members/%s/" % B, "/v1/images/%20", "/v1/images/..%2F",
         "/v1/images/" + "x" * 300, "/./v1/images", "/v1/./images", "/v1/images/../images",
         "/versions/", "/versions?x=1", "/versions/v1", "/healthcheck/", "/healthcheck?x",
         "/v1/images/detail/extra", "/v1/images/{pub}/file", "/v1/images/caf%C3%A9",
         "/v1/images/%s" % ("caf\u00e9"), "/v1/images/{pub}/members/{B}/extra",
         "/v1/images/detail/{pub}", "/v1/images/detail/members", "/v1/images/detail/members/x",
         "/v1/images/members", "/v1/shared-images/{B}/x", "/v1/shared-images/%s%%20" % B,
         "/v1/images/{pub}%00", "/v1/images/{pub};x=1", "/v1/images/{pub}#frag",
         "/v1;x/images", "/%7E/v1/images", "/v1/images/{PUB}", "/images/{pub}",
         "/v1.1", "/v1.0/", "/v2", "/v2/", "/v1/images/detail?limit=2&limit=3",
         "http://127.0.0.1/v1/images/{pub}", "*"]


def paths(flavor):
    who = ADMIN if flavor == "trusted-auth" else []
    out = []
    for p in PATHS:
        p = (p.replace("{pub}", IDS["pub-a"]).replace("{PUB}", IDS["pub-a"].upper())
             .replace("{shared}", IDS["shared-a"]).replace("{B}", B))
        for method in ("GET", "HEAD", "OPTIONS"):
            out.append(Case("%s %s" % (method, p), "paths/%s" % method,
                            [_r(method, p, who)]))
    return out


FILTER_VALUES = {
    "name": ["pub-a", "PUB-A", "nope", "", "in:pub-a,priv-a", "eq:pub-a", "neq:pub-a",
             "foo:pub-a", "pub%", "caf\u00e9"],
    "status": ["active", "queued", "ACTIVE", "killed", "deleted", "bogus", "in:active,queued",
               "neq:active", "foo:active", ""],
    "container_format": ["bare", "ovf", "BARE", "nope", "in:bare,ovf", "foo:bare", ""],
    "disk_format": ["raw", "qcow2", "iso", "RAW", "nope", "in:raw,iso", "gt:raw", ""],
    "size_min": ["0", "20", "70000", "-1", "abc", "1.5", "", "gt:5", "99999999999999999999"],
    "size_max": ["0", "20", "70000", "-1", "abc", "", "lt:5", " 20"],
    "min_ram": ["0", "64", "-1", "abc", "", "gte:1", "64.0", "4294967296", "5000000000"],
    "min_disk": ["0", "1", "-1", "abc", "", "lte:1", "4294967296"],
    "protected": ["true", "false", "True", "FALSE", "yes", "no", "1", "0", "", "maybe",
                  "in:true"],
    "is_public": ["true", "false", "None", "none", "True", "1", "0", "yes", "", "maybe",
                  "in:true"],
    "changes-since": ["2015-06-10T00:00:00", "2015-06-10T00:00:00Z", "2015-06-10",
                      "2015-06-10T00:00:00.000000", "2015-06-10T00:00:00+02:00",
                      "2015-06-10 00:00:00", "yesterday", "", "2099-01-01T00:00:00",
                      "gt:2015-06-10T00:00:00", "1433894400"],
    "property-distro": ["cirros", "CIRROS", "", "in:cirros", "foo:cirros"],
    "property-empty": ["", "x"],
    "property-hw_disk_bus": ["virtio"],
    "property-nonexistent": ["x"],
    "owner": [A, D, "", "nobody"],
    "id": [IDS["pub-a"], "x"],
    "checksum": ["x"],
    "size": ["0", "16"],
    "deleted": ["true", "false", "1"],
    "visibility": ["public", "private"],
    "limit": ["0", "1", "2", "-1", "abc", "1.5", "", "99999999999999999999", "1000"],
    "marker": [IDS["pub-a"], IDS["big-pub"], UNKNOWN, "x", "", IDS["deleted-a"],
               IDS["priv-d"]],
    "sort_key": ["name", "status", "container_format", "disk_format", "size", "id",
                 "created_at", "updated_at", "min_ram", "owner", "bogus", "", "NAME",
                 "is_public", "deleted_at"],
    "sort_dir": ["asc", "desc", "ASC", "up", ""],
}


def filters(flavor):
    """Every list filter and sort key with valid, invalid and odd values."""
    # Lists cost real Glance ~70 ms each; identity x image is the visibility phase's job, so
    # here one non-admin caller (trusted-auth) or the noauth admin.
    whos = [("owner", IDENT["owner"])] if flavor == "trusted-auth" else [("noauth", [])]
    out = []
    import urllib.parse as up
    for who, h in whos:
        for key, vals in sorted(FILTER_VALUES.items()):
            for v in vals:
                for path in ("/v1/images", "/v1/images/detail"):
                    q = up.urlencode({key: v})
                    # every sort key with each direction, on the detail list with is_public=None
                    out.append(Case("%s?%s as %s" % (path, q, who), "filters/%s" % key,
                                    [_r("GET", "%s?%s" % (path, q), h)]))
                    if key not in ("is_public",):
                        out.append(Case("%s?is_public=None&%s as %s" % (path, q, who),
                                        "filters/%s" % key,
                                        [_r("GET", "%s?is_public=None&%s" % (path, q), h)]))
        for sk in FILTER_VALUES["sort_key"][:8]:
            for sd in ("asc", "desc"):
                q = "is_public=None&sort_key=%s&sort_dir=%s&limit=5" % (sk, sd)
                out.append(Case("detail?%s as %s" % (q, who), "filters/sort",
                                [_r("GET", "/v1/images/detail?" + q, h)]))
        for q in ("limit=2&marker=%s&is_public=None" % IDS["shared-a"],
                  "name=pub-a&name=priv-a", "sort_key=name&sort_key=size",
                  "limit=1&limit=2", "is_public=None&is_public=true",
                  "property-distro=cirros&property-kernel_id=k-1",
                  "size_min=10&size_max=5", "%7Bbad=1", "name=%FF", "name", "=x",
                  "property-=x", "property-DISTRO=cirros", "changes-since=%FF"):
            for path in ("/v1/images", "/v1/images/detail"):
                out.append(Case("%s?%s as %s" % (path, q, who), "filters/combined",
                                [_r("GET", "%s?%s" % (path, q), h)]))
    return out


METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO",
           "CONNECT", "get"]


def method_matrix(flavor):
    """Every route x every method. Runs after the read-only phases: it may change matrix-pub."""
    who = ADMIN if flavor == "trusted-auth" else []
    m_id = IDS["matrix-pub"]
    routes = ["/", "/versions", "/v1", "/v1/", "/v1/images/detail", "/v1/images/%s" % UNKNOWN,
              "/v1/images/%s/members/%s" % (m_id, C), "/v1/images/%s/members" % m_id,
              "/v1/shared-images/%s" % B, "/images", "/v2/images", "/v1/nothing",
              "/healthcheck", "/v1/images", "/v1/images/%s" % m_id]
    out = []
    for route in routes:
        for m in METHODS:
            h = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + who
            kw = {}
            if m in ("POST", "PUT", "PATCH"):
                if route.endswith("/members") or "/members/" in route:
                    h.append(("Content-Type", "application/json"))
                    kw["body"] = (b'{"memberships": []}' if route.endswith("/members")
                                  else b'{"member": {"can_share": false}}')
            if m == "POST" and route == "/v1/images":
                h += [("x-image-meta-id", "0c0c0c0c-0000-4000-8000-00000000a001"),
                      ("x-image-meta-name", "from-matrix")]
            out.append(Case("%s %s" % (m, route), "methods/%s" % m, [Req(m, route, h, **kw)]))
    return out


def write_phase(flavor):
    """Create, upload, update, members, delete, and what others see afterwards; per caller."""
    callers = (["admin", "owner", "member-share", "stranger", "no-tenant", "project-id-only",
                "legacy-tenant-user-role", "owner-no-roles", "admin-no-tenant",
                "project-A-tenant-D", "invalid-status-admin"]
               if flavor == "trusted-auth" else ["noauth"])
    out = []
    for k, who in enumerate(callers):
        h = IDENT.get(who, [])
        g = "write/%s" % who
        i1 = "77777777-0000-4000-8000-%012d" % (k * 10 + 1)
        i2 = "77777777-0000-4000-8000-%012d" % (k * 10 + 2)
        i3 = "77777777-0000-4000-8000-%012d" % (k * 10 + 3)
        # creates that fail after the record exists (killed) carry ids: no Location to learn
        # a server-generated id from, and the lists show them
        i4, i5, i6 = ("77777777-0000-4000-8000-%012d" % (k * 10 + j) for j in (4, 5, 6))
        key = "new%d" % k

        def c(name, method, target, hh=(), body=b"", learn=None, who_h=None, **kw):
            hdrs = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + list(
                h if who_h is None else who_h) + list(hh)
            out.append(Case("%s: %s" % (who, name), g,
                            [Req(method, target, hdrs, body=body, **kw)], learn))

        meta = [("x-image-meta-disk_format", "raw"), ("x-image-meta-container_format", "bare")]
        c("create with id and data", "POST", "/v1/images",
          [("x-image-meta-id", i1), ("x-image-meta-name", "w-%d" % k),
           ("x-image-meta-property-Hw_Disk_Bus", "scsi"),
           ("Content-Type", "application/octet-stream")] + meta, b"0123456789" * 10)
        c("create without id, queued", "POST", "/v1/images",
          [("x-image-meta-name", "w-noid-%d" % k)] + meta, learn=key)
        c("create chunked upload", "POST", "/v1/images",
          [("x-image-meta-id", i3), ("x-image-meta-name", "w-chunked-%d" % k),
           ("Content-Type", "application/octet-stream")] + meta,
          b"chunked data " * 20, chunked=True)
        c("create duplicate id", "POST", "/v1/images", [("x-image-meta-id", i1)] + meta)
        c("create public", "POST", "/v1/images",
          [("x-image-meta-id", i2), ("x-image-meta-is_public", "true")] + meta)
        c("create bad format", "POST", "/v1/images", [("x-image-meta-disk_format", "nope")])
        c("create bad size", "POST", "/v1/images", [("x-image-meta-size", "abc")] + meta)
        c("create with owner", "POST", "/v1/images",
          [("x-image-meta-owner", D), ("x-image-meta-id", i2)] + meta)
        c("create size mismatch", "POST", "/v1/images",
          [("x-image-meta-id", i4), ("x-image-meta-size", "5"),
           ("Content-Type", "application/octet-stream")] + meta, b"more than five bytes")
        c("create with status", "POST", "/v1/images",
          [("x-image-meta-id", i5), ("x-image-meta-status", "active")] + meta)
        c("create wrong content-type", "POST", "/v1/images",
          [("x-image-meta-id", i6), ("Content-Type", "text/plain")] + meta, b"xyz")
        for path in ("/v1/images/%s" % i1, "/v1/images/@@%s@@" % key, "/v1/images/%s" % i3,
                     "/v1/images/%s" % i2):
            c("HEAD %s" % path, "HEAD", path)
            c("GET %s" % path, "GET", path)
        c("upload into queued", "PUT", "/v1/images/@@%s@@" % key,
          [("Content-Type", "application/octet-stream")], b"uploaded later")
        c("upload again", "PUT", "/v1/images/@@%s@@" % key,
          [("Content-Type", "application/octet-stream")], b"again")
        c("update name and property", "PUT", "/v1/images/%s" % i1,
          [("x-image-meta-name", "renamed-%d" % k), ("x-image-meta-property-extra", "1")])
        c("update purge props false", "PUT", "/v1/images/%s" % i1,
          [("x-image-meta-property-more", "2"), ("x-image-meta-purge-props", "false")])
        c("update purge props", "PUT", "/v1/images/%s" % i1,
          [("x-image-meta-property-only", "3")])
        c("update size of active", "PUT", "/v1/images/%s" % i1, [("x-image-meta-size", "7")])
        c("update is_public", "PUT", "/v1/images/%s" % i1, [("x-image-meta-is_public", "true")])
        c("update protected", "PUT", "/v1/images/%s" % i1, [("x-image-meta-protected", "true")])
        c("delete protected", "DELETE", "/v1/images/%s" % i1)
        c("update unprotect", "PUT", "/v1/images/%s" % i1, [("x-image-meta-protected", "false")])
        c("update owner", "PUT", "/v1/images/%s" % i3, [("x-image-meta-owner", B)])
        c("update status", "PUT", "/v1/images/%s" % i3, [("x-image-meta-status", "killed")])
        c("update bad min_ram", "PUT", "/v1/images/%s" % i3, [("x-image-meta-min_ram", "-5")])
        c("HEAD after updates", "HEAD", "/v1/images/%s" % i1)
        c("HEAD i3 after updates", "HEAD", "/v1/images/%s" % i3)
        # members, by the caller (who owns i1 if it could create it)
        js = [("Content-Type", "application/json")]
        c("add member B can_share", "PUT", "/v1/images/%s/members/%s" % (i1, B), js,
          b'{"member": {"can_share": true}}')
        c("add member C", "PUT", "/v1/images/%s/members/%s" % (i1, C))
        c("list members", "GET", "/v1/images/%s/members" % i1)
        for label, body in (("not json", b"not json"), ("member string", b'{"member": "x"}'),
                            ("memberships string", b'{"memberships": "x"}'),
                            ("memberships int ids", b'{"memberships": [{"member_id": 1}]}'),
                            ("memberships no id", b'{"memberships": [{"can_share": true}]}'),
                            ("memberships list", b'[1, 2]'), ("empty object", b'{}'),
                            ("can_share string", b'{"member": {"can_share": "yes"}}'),
                            ("member list", b'{"member": []}'),
                            ("memberships null", b'{"memberships": null}'),
                            ("memberships with null", b'{"memberships": [null]}')):
            c("replace members, %s" % label, "PUT", "/v1/images/%s/members" % i1, js, body)
            c("add member D, %s" % label, "PUT", "/v1/images/%s/members/%s" % (i1, D), js, body)
        c("replace members", "PUT", "/v1/images/%s/members" % i1, js,
          json.dumps({"memberships": [{"member_id": B, "can_share": True},
                                      {"member_id": C, "can_share": False}]}).encode())
        # the can_share member changes other members' rows
        bh = IDENT["member-share"] if flavor == "trusted-auth" else []
        ch = IDENT["member-noshare"] if flavor == "trusted-auth" else []
        c("B lists members", "GET", "/v1/images/%s/members" % i1, who_h=bh)
        c("B adds D", "PUT", "/v1/images/%s/members/%s" % (i1, D), js,
          b'{"member": {"can_share": true}}', who_h=bh)
        c("B changes C to can_share", "PUT", "/v1/images/%s/members/%s" % (i1, C), js,
          b'{"member": {"can_share": true}}', who_h=bh)
        c("B changes own row", "PUT", "/v1/images/%s/members/%s" % (i1, B), js,
          b'{"member": {"can_share": false}}', who_h=bh)
        c("B adds D again", "PUT", "/v1/images/%s/members/%s" % (i1, D), who_h=bh)
        c("C tries to add", "PUT", "/v1/images/%s/members/%s" % (i1, D), who_h=ch)
        c("C tries to delete B", "DELETE", "/v1/images/%s/members/%s" % (i1, B), who_h=ch)
        c("B replaces all", "PUT", "/v1/images/%s/members" % i1, js,
          b'{"memberships": [{"member_id": "%s", "can_share": false}]}' % D.encode(), who_h=bh)
        c("list members after B", "GET", "/v1/images/%s/members" % i1)
        c("B deletes C", "DELETE", "/v1/images/%s/members/%s" % (i1, C), who_h=bh)
        c("B deletes C again", "DELETE", "/v1/images/%s/members/%s" % (i1, C), who_h=bh)
        c("re-add B can_share", "PUT", "/v1/images/%s/members/%s" % (i1, B), js,
          b'{"member": {"can_share": true}}')
        c("add C", "PUT", "/v1/images/%s/members/%s" % (i1, C))
        c("D shared-images", "GET", "/v1/shared-images/%s" % D)
        c("B shared-images", "GET", "/v1/shared-images/%s" % B, who_h=bh)
        c("member quota", "PUT", "/v1/images/%s/members" % i3, js, json.dumps(
            {"memberships": [{"member_id": "m%02d" % j} for j in range(12)]}).encode())
        # the owner deletes the shared image; what members see afterwards
        c("delete shared image", "DELETE", "/v1/images/%s" % i1)
        c("delete again", "DELETE", "/v1/images/%s" % i1)
        for vw, vh in (("B", bh), ("C", ch), ("caller", h)):
            c("%s HEAD deleted" % vw, "HEAD", "/v1/images/%s" % i1, who_h=vh)
            c("%s GET deleted" % vw, "GET", "/v1/images/%s" % i1, who_h=vh)
            c("%s members of deleted" % vw, "GET", "/v1/images/%s/members" % i1, who_h=vh)
            c("%s member row of deleted" % vw, "GET", "/v1/images/%s/members/%s" % (i1, B),
              who_h=vh)
            c("%s shared-images after delete" % vw, "GET", "/v1/shared-images/%s" % B,
              who_h=vh)
            for q in ("changes-since=2020-01-01T00:00:00",
                      "changes-since=2020-01-01T00:00:00&is_public=None",
                      "is_public=None", "changes-since=2020-01-01T00:00:00&status=deleted"):
                c("%s detail?%s" % (vw, q), "GET", "/v1/images/detail?" + q, who_h=vh)
                c("%s list?%s" % (vw, q), "GET", "/v1/images?" + q, who_h=vh)
        c("put member on deleted", "PUT", "/v1/images/%s/members/%s" % (i1, D))
        c("update deleted", "PUT", "/v1/images/%s" % i1, [("x-image-meta-name", "zombie")])
        c("delete queued", "DELETE", "/v1/images/@@%s@@" % key)
        c("delete other's image", "DELETE", "/v1/images/%s" % IDS["priv-d"])
        c("update other's public image", "PUT", "/v1/images/%s" % IDS["props-b"],
          [("x-image-meta-name", "hijack")])
        c("delete owner-less public image", "DELETE", "/v1/images/%s" % IDS["noowner-pub"])
        c("members of other's image", "PUT", "/v1/images/%s/members/%s" % (IDS["priv-d"], C))
    return out


def phases(flavor):
    return [("visibility", visibility(flavor)), ("variants", variants(flavor)),
            ("paths", paths(flavor)), ("filters", filters(flavor)),
            ("methods", method_matrix(flavor)), ("write", write_phase(flavor))]
