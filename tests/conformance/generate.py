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
    # Repeated and underscore-spelled identity headers (one WSGI environ value each).
    ("tenant-twice", CONF + [("X-Tenant-Id", A), ("X-Tenant-Id", D), ("X-Roles", "member")]),
    ("roles-twice", CONF + [("X-Tenant-Id", D), ("X-Roles", "member"), ("X-Roles", "admin")]),
    ("confirmed-twice", CONF + CONF + [("X-Tenant-Id", A), ("X-Roles", "member")]),
    ("underscore-tenant", CONF + [("X_Tenant_Id", A), ("X-Roles", "member")]),
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
           "text/html;q=0.1, application/json", "garbage", "", "*",
           "text/*;q=0.5, application/json;q=0.5", "application/json;q=0"]


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
                # WebOb's host_url: the port left out when it is 80 or empty, repeated Host
                # lines one ','-joined value, an empty Host answered as none.
                ("host-port80", [("Host", "glance.example:80")], {"host": False}),
                ("host-colon", [("Host", "glance.example:")], {"host": False}),
                ("host-empty", [("Host", "")], {"host": False}),
                ("host-twice", [("Host", "a.example"), ("Host", "b.example:81")],
                 {"host": False}),
                ("accept-twice", [("Accept", "text/html"), ("Accept", "application/json")], {}),
                # eventlet read the first Connection line's whole value only.
                ("conn-keepalive-close", [("Connection", "keep-alive, close")],
                 {"probe_close": True}),
                ("conn-twice", [("Connection", "keep-alive"), ("Connection", "close")],
                 {"probe_close": True}),
                ("conn-close-blank", [("Connection", "close ")], {"probe_close": True}),
                ("http10-conn-twice", [("Connection", "close"), ("Connection", "keep-alive")],
                 {"version": "HTTP/1.0", "probe_close": True}),
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
    # Request lines as Python's parse_request split and checked them (whitespace runs, odd
    # versions, HTTP/0.9 forms, refusals); a path that is not UTF-8 once decoded.
    pub = "/v1/images/%s" % IDS["pub-a"]
    lines = [("GET ", "/versions", "HTTP/1.1"), ("GET\t", pub, "HTTP/1.1"),
             ("HEAD", pub, "\x0bHTTP/1.1 "), ("GET", "/versions", "HTTP/1.2"),
             ("GET", "/versions", "HTTP/01.1"), ("GET", "/versions", "HTTP/0.9"),
             ("GET", "/versions", "HTTP/1.1 extra"), ("GET", "/versions", "HTTP/2.0"),
             ("GET", "/versions", "HTTP/1.x"), ("GET", "/versions", "FOO/1.1"),
             ("GET", "/versions", "HTTP/2"), ("GET", "/v\x01ersions", "HTTP/1.1"),
             ("GET", "/v1/images/%ff", "HTTP/1.1"), ("HEAD", "/v1/images/%c3", "HTTP/1.1"),
             ("GET", "/healthcheck%ff", "HTTP/1.1"), ("GET", "/x'y", "HTTP/1.1 z")]
    for method, target, version in lines:
        out.append(Case("request line %r %r %r" % (method, target, version), "paths/line",
                        [Req(method, target, [("User-Agent", "oracle/1")] + who,
                             version=version, probe_close=True)]))
    return out


FILTER_VALUES = {
    "name": ["pub-a", "PUB-A", "nope", "", "in:pub-a,priv-a", "eq:pub-a", "neq:pub-a",
             "foo:pub-a", "pub%", "caf\u00e9"],
    "status": ["active", "queued", "ACTIVE", "killed", "deleted", "bogus", "in:active,queued",
               "neq:active", "foo:active", ""],
    "container_format": ["bare", "ovf", "BARE", "nope", "in:bare,ovf", "foo:bare", ""],
    "disk_format": ["raw", "qcow2", "iso", "RAW", "nope", "in:raw,iso", "gt:raw", ""],
    # Python 3's int() (every script's digits, '_' between digits, Unicode blanks), then for
    # min_ram/min_disk SQLite's reading of the text against an INTEGER column
    "size_min": ["0", "20", "70000", "-1", "abc", "1.5", "", "gt:5", "99999999999999999999",
                 "2_0", "\u0662\u0660", "\x1c20", "\u00a020"],
    "size_max": ["0", "20", "70000", "-1", "abc", "", "lt:5", " 20", "+20", "-0", "\uff12\uff10"],
    "min_ram": ["0", "64", "-1", "abc", "", "gte:1", "64.0", "4294967296", "5000000000",
                "-0", "6_4", "\u0666\u0664", "99999999999999999999999", " 64 "],
    "min_disk": ["0", "1", "-1", "abc", "", "lte:1", "4294967296", "-0", "1.0", "1.", "1e0",
                 ".1e1", "0x1", "1_0", "\u00a01"],
    "protected": ["true", "false", "True", "FALSE", "yes", "no", "1", "0", "", "maybe",
                  "in:true"],
    "is_public": ["true", "false", "None", "none", "True", "1", "0", "yes", "", "maybe",
                  "in:true"],
    "changes-since": ["2015-06-10T00:00:00", "2015-06-10T00:00:00Z", "2015-06-10",
                      "2015-06-10T00:00:00.000000", "2015-06-10T00:00:00+02:00",
                      "2015-06-10 00:00:00", "yesterday", "", "2099-01-01T00:00:00",
                      "gt:2015-06-10T00:00:00", "1433894400",
                      # every form iso8601 0.1.11 took, and what only normalising refused
                      "2015", "2015-6", "20150610", "2015-06-10T07", "2015-06-10T0708",
                      "2015-06-10T00:00:00,5", "2015-06-10T00:00:00+01:", "2015-06-10T101",
                      "2015-06-10T00:00:60", "2015-06-10\n", "201506",
                      "2015-06-10T00:00:00-99:99", "0001-01-01T00:00:00+01:00"],
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
    "limit": ["0", "1", "2", "-1", "abc", "1.5", "", "99999999999999999999", "1000", "1_0",
              "\u0662", "\u3000 2", "\x1c2"],
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
        # Markers whose sort key is null or empty (Glance's marker criteria, not "after").
        nullish = ["empty-name", "null-name", "null-size", "null-name-size", "null-formats",
                   "empty-name-2", "pub-d-queued", "pub-a"]
        for sk in ("name", "size", "disk_format", "container_format"):
            for sd in ("asc", "desc"):
                for m in nullish:
                    q = "is_public=None&sort_key=%s&sort_dir=%s&limit=4&marker=%s" % (
                        sk, sd, IDS[m])
                    out.append(Case("detail?%s (%s) as %s" % (q, m, who), "filters/null-marker",
                                    [_r("GET", "/v1/images/detail?" + q, h)]))
        for q in ("limit=2&marker=%s&is_public=None" % IDS["shared-a"],
                  "name=pub-a&name=priv-a", "sort_key=name&sort_key=size",
                  "limit=1&limit=2", "is_public=None&is_public=true",
                  "property-distro=cirros&property-kernel_id=k-1",
                  "size_min=10&size_max=5", "%7Bbad=1", "name=%FF", "name", "=x",
                  "property-=x", "property-DISTRO=cirros", "changes-since=%FF",
                  # WebOb split a query at ';' as at '&', dropping empty pieces.
                  "is_public=None;name=pub-a", "is_public=None;;sort_key=name&&sort_dir=asc",
                  "limit=1;marker=%s;is_public=None" % IDS["shared-a"], "name=a%3Bb",
                  # the registry's order of errors; query text in an HTML page
                  "sort_key=virtual_size&changes-since=", "marker=&sort_key=bogus",
                  "size_min=99999999999999999999&marker=%s" % UNKNOWN,
                  "changes-since=2015-06-10T00:00:00-99:99&sort_key=bogus",
                  "changes-since=2015-06-10T00:00:00-99:99&name=neq:x",
                  "limit=x&protected=maybe", "size_min=caf%C3%A9", "is_public=%E2%82%AC"):
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
        # a create may say deleted: the row is written deleted, its properties live
        i7 = "77777777-0000-4000-8000-%012d" % (k * 10 + 7)
        c("create deleted with a property", "POST", "/v1/images",
          [("x-image-meta-id", i7), ("x-image-meta-deleted", "true"),
           ("x-image-meta-property-team", "blue")])
        c("HEAD the created-deleted image", "HEAD", "/v1/images/%s" % i7)
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
                            ("memberships with null", b'{"memberships": [null]}'),
                            # Glance's deserializer: an object or a list, Python's JSON
                            ("string body", b'"x"'), ("null body", b"null"), ("NaN body", b"NaN"),
                            ("memberships NaN", b'{"memberships": NaN}'),
                            ("can_share NaN", b'{"member": {"can_share": NaN}}'),
                            ("member null", b'{"member": null}'),
                            ("member named can_share", b'{"member": "can_share"}'),
                            ("list naming member", b'["member"]'), ("no body", b"")):
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


WV_BOOLS = ["true", "True", "TRUE", "1", "yes", "on", "y", "t", "false", "0", "no", "off",
            "", "maybe", " true"]
WV_INTS = ["0", "-1", "1.5", "5 ", "2147483647", "2147483648", "9223372036854775807",
           "9223372036854775808", "18446744073709551616", "", "0x10", "1e3", "abc", "None"]
WV_INTS_PUT = ["-1", "2147483648", "9223372036854775808", "", "None"]
WV_INTS_VSIZE = ["0", "-1", "1.5", "9223372036854775807", "9223372036854775808", "", "abc",
                 "None", "none"]
WV_DATA = b"write-values data\n"          # md5 below
WV_MD5 = __import__("hashlib").md5(WV_DATA).hexdigest()


def write_values(flavor):
    """Many values per x-image-meta-* field on create (POST) and update (PUT), uploads in every
    state, odd bodies and lengths, duplicated headers, purge-props spellings. Every case has
    ids of its own (88888888-<caller>-...). In trusted-auth the admin runs every case except
    every other pure header-parsing one (int, format, name: noauth sends them all), and the
    owner (a non-admin) the cases where being admin can matter. Cases that depend on sizes
    of the request head assume a 4-digit port (the oracle's ports)."""
    callers = ([("admin", IDENT["admin"]), ("owner", IDENT["owner"])]
               if flavor == "trusted-auth" else [("noauth", [])])
    out = []
    for k, (who, h) in enumerate(callers):
        admin_only = who == "admin"
        counter = [0]

        def nid():
            counter[0] += 1
            return "88888888-%04d-4000-8000-%012d" % (k + (1 if flavor == "trusted-auth"
                                                            else 0), counter[0])

        def R(method, target, hh=(), body=b"", **kw):
            hdrs = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + list(h) + list(hh)
            return Req(method, target, hdrs, body=body, **kw)

        parse_seen = [0]

        def case(name, group, reqs, who_matters=False):
            # the non-admin caller only runs the cases where identity can matter; the
            # trusted-auth admin every other pure header-parsing case (noauth has them all)
            if not admin_only and who != "noauth" and not who_matters:
                return
            if who == "admin" and group in ("int", "format", "name") and not who_matters:
                parse_seen[0] += 1
                if parse_seen[0] % 2 == 0:
                    return
            out.append(Case("%s: %s" % (who, name), "write_values/%s" % group, reqs))

        octet = [("Content-Type", "application/octet-stream")]

        def lines(n):
            """Properties that make n header lines in a create() POST."""
            return [("x-image-meta-property-p%03d" % j, "v") for j in range(n - 4 - len(h))]

        def header_bytes(n):
            """Properties that make the header block (lines with CRLF, the blank line, a Host
            line with a 4-digit port) of a create() POST exactly n bytes."""
            fixed = [("Host", "127.0.0.1:9600"), ("User-Agent", "oracle/1"), ("Accept", "*/*"),
                     ("x-image-meta-id", "8" * 36)] + list(h)
            left = n - 2 - sum(len(k) + len(v) + 4 for k, v in fixed)
            out_, j = [], 0
            while left > 0:
                take = min(left, 14029)           # 29 bytes of name, ": " and CRLF
                out_.append(("x-image-meta-property-f%02d" % j, "v" * (take - 29)))
                left -= take
                j += 1
            return out_

        fmts = [("x-image-meta-disk_format", "raw"), ("x-image-meta-container_format", "bare")]

        def create(name, group, hh, body=b"", head=True, iid=None, who_matters=False, **kw):
            """POST with an id of the case's own, then HEAD it."""
            iid = iid or nid()
            hdrs = [("x-image-meta-id", iid)] + list(hh)
            reqs = [R("POST", "/v1/images", hdrs, body, **kw)]
            if head:
                reqs.append(R("HEAD", "/v1/images/%s" % iid))
            case("POST %s" % name, group, reqs, who_matters)

        def base(iid, state):
            """Requests that put image iid into state."""
            common = [("x-image-meta-id", iid), ("x-image-meta-name", "base"),
                      ("x-image-meta-property-keep", "k1"),
                      ("x-image-meta-property-Other", "o1")]
            if state == "queued":
                return [R("POST", "/v1/images", common)]
            if state == "queued-fmt":
                return [R("POST", "/v1/images", common + fmts)]
            if state == "active":
                return [R("POST", "/v1/images", common + fmts + octet, WV_DATA)]
            if state == "killed":
                return [R("POST", "/v1/images", common + fmts + octet +
                          [("x-image-meta-size", "3")], WV_DATA)]
            if state == "deleted":
                return [R("POST", "/v1/images", common + fmts + octet, WV_DATA),
                        R("DELETE", "/v1/images/%s" % iid)]
            raise ValueError(state)

        def update(name, group, state, hh, body=b"", who_matters=False, head=True, **kw):
            iid = nid()
            reqs = base(iid, state) + [R("PUT", "/v1/images/%s" % iid, hh, body, **kw)]
            if head:
                reqs.append(R("HEAD", "/v1/images/%s" % iid))
            case("PUT(%s) %s" % (state, name), group, reqs, who_matters)

        # ---------------------------------------------------------------- booleans
        for field in ("is_public", "protected"):
            for v in WV_BOOLS:
                create("%s=%r" % (field, v), "bool", [("x-image-meta-" + field, v)],
                       who_matters=field == "is_public" and v in ("true", "1", "maybe", ""))
            for v in ("true", "1", "false", "", "maybe"):
                update("%s=%r" % (field, v), "bool", "active", [("x-image-meta-" + field, v)],
                       who_matters=field == "is_public" and v in ("true", "false", "maybe"))
        create("deleted=true", "readonly", [("x-image-meta-deleted", "true")], who_matters=True)
        create("deleted=false", "readonly", [("x-image-meta-deleted", "false")])
        create("deleted=maybe", "readonly", [("x-image-meta-deleted", "maybe")])
        update("deleted=true", "readonly", "active", [("x-image-meta-deleted", "true")],
               who_matters=True)
        update("deleted=false", "readonly", "active", [("x-image-meta-deleted", "False")])

        # ---------------------------------------------------------------- integers
        for field in ("min_disk", "min_ram", "size", "virtual_size"):
            for v in (WV_INTS if field != "virtual_size" else WV_INTS_VSIZE):
                create("%s=%r" % (field, v), "int", [("x-image-meta-" + field, v)])
            for v in WV_INTS_PUT:
                update("%s=%r" % (field, v), "int", "queued", [("x-image-meta-" + field, v)])
        for field, v in (("size", "5"), ("size", "0"), ("size", "18"), ("size", "abc"),
                         ("min_ram", "64"), ("virtual_size", "77")):
            update("%s=%r" % (field, v), "int", "active", [("x-image-meta-" + field, v)],
                   who_matters=field == "size")

        # ---------------------------------------------------------------- name
        names = [("empty", ""), ("255", "n" * 255), ("256", "n" * 256),
                 ("utf8", "caf\u00e9 \u65e5\u672c"), ("latin1", "caf\udce9"),
                 ("spaces", "a  b   c"), ("quotes", "say \"hi\" it's"), ("html", "<b>&amp;</b>"),
                 ("percent", "my%20image"), ("comma", "a,b"), ("utf8-255", "\u00e9" * 255),
                 ("utf8-128", "\u00e9" * 128), ("tab", "a\tb"), ("backslash", "a\\b")]
        for label, v in names:
            create("name %s" % label, "name", [("x-image-meta-name", v)])
        for label, v in [n for n in names if n[0] in ("empty", "256", "utf8", "latin1",
                                                      "utf8-128")]:
            update("name %s" % label, "name", "active", [("x-image-meta-name", v)])

        # ---------------------------------------------------------------- formats
        DISK = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop"]
        CONT = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker"]
        for d in DISK:
            create("disk_format=%s container bare" % d, "format",
                   [("x-image-meta-disk_format", d), ("x-image-meta-container_format", "bare")])
        for c_ in CONT:
            create("container_format=%s disk raw" % c_, "format",
                   [("x-image-meta-disk_format", "raw"), ("x-image-meta-container_format", c_)])
        for d, c_ in (("RAW", "bare"), ("raw", "BARE"), ("", "bare"),
                      ("raw", ""), ("nope", "bare"), ("raw", "nope"), ("aki", None),
                      ("ari", None), ("ami", None), (None, "aki"), (None, "ari"), (None, "ami"),
                      ("aki", "aki"), ("ari", "ami"), ("ami", "ari"), ("AMI", None),
                      ("qcow2", None), (None, "ovf"), ("raw ", "bare ")):
            hh = []
            if d is not None:
                hh.append(("x-image-meta-disk_format", d))
            if c_ is not None:
                hh.append(("x-image-meta-container_format", c_))
            create("formats %r/%r" % (d, c_), "format", hh)
        create("data without formats", "format", octet, WV_DATA)
        create("data without container_format", "format",
               [("x-image-meta-disk_format", "raw")] + octet, WV_DATA)
        create("data without disk_format", "format",
               [("x-image-meta-container_format", "bare")] + octet, WV_DATA)
        create("data with aki only", "format", [("x-image-meta-disk_format", "aki")] + octet,
               WV_DATA)
        for hh in ([("x-image-meta-disk_format", "qcow2")],
                   [("x-image-meta-container_format", "ovf")],
                   [("x-image-meta-disk_format", "aki")],
                   [("x-image-meta-disk_format", "ami"), ("x-image-meta-container_format", "ami")],
                   [("x-image-meta-disk_format", "ami"), ("x-image-meta-container_format", "bare")],
                   [("x-image-meta-disk_format", "")],
                   [("x-image-meta-container_format", "nope")]):
            update("formats %s" % ",".join("%s=%s" % (a[13:], b) for a, b in hh), "format",
                   "queued-fmt", hh)
        update("disk_format on active", "format", "active",
               [("x-image-meta-disk_format", "qcow2")], who_matters=True)
        update("container_format aki on active", "format", "active",
               [("x-image-meta-container_format", "aki")])
        update("data with formats missing", "format", "queued",
               octet, WV_DATA)
        update("data with formats in the PUT", "format", "queued", octet + fmts, WV_DATA)

        # ---------------------------------------------------------------- status / id
        for v in ("active", "queued", "killed", "saving", "bogus", "", "QUEUED", "deleted"):
            create("status=%r" % v, "status", [("x-image-meta-status", v)])
        create("status=active with data", "status",
               [("x-image-meta-status", "queued")] + fmts + octet, WV_DATA)
        for st, v in (("queued", "queued"), ("queued", "active"), ("queued", ""),
                      ("queued", "QUEUED"), ("active", "active"), ("active", "queued"),
                      ("active", "killed"), ("killed", "killed"), ("killed", "active")):
            update("status=%r" % v, "status", st, [("x-image-meta-status", v)],
                   who_matters=v == "active")
        for label, v in (("non-uuid", "abc"), ("37 chars", "88888888-0000-4000-8000-0000000000001"),
                         ("uppercase", "8888888A-00AA-4000-8000-00000000AAAA"),
                         ("no dashes", "88888888aaaa40008000aaaaaaaaaaaa"),
                         ("braces", "{88888888-aaab-4000-8000-aaaaaaaaaaab}"),
                         ("non-hex", "88888888-zzzz-4000-8000-zzzzzzzzzzzz"),
                         ("urn", "urn:uuid:88888888-aaac-4000-8000-aaaaaaaaaaac"),
                         ("spaces", " 88888888-aaad-4000-8000-aaaaaaaaaaad ")):
            if k:
                v = v.replace("88888888", "8888888%d" % k) if label != "uppercase" else \
                    v.replace("8888888A", "8888888%d" % k)
            case("POST id %s" % label, "id",
                 [R("POST", "/v1/images", [("x-image-meta-id", v)]),
                  R("HEAD", "/v1/images/%s" % v.strip().replace(" ", "%20"))])
        case("POST id empty", "id", [R("POST", "/v1/images", [("x-image-meta-id", "")])])
        # a uuid-like id longer than 36 characters: the registry writes the row, then its
        # own read refuses the length, a 500 (the row that stays, listed but never found, is
        # a documented difference: glance-emu's ids are at most 36 characters)
        for label, v in (("braces", "{88888888-bbbb-4000-8000-%012d}" % k),
                         ("urn", "urn:uuid:88888888-cccc-4000-8000-%012d" % k)):
            case("POST id %s, longer than 36" % label, "id",
                 [R("POST", "/v1/images", [("x-image-meta-id", v),
                                           ("x-image-meta-name", "long-id-%s" % label)]),
                  R("DELETE", "/v1/images/%s" % v)])
        iid = nid()
        update("id same", "id", "queued", [("x-image-meta-id", iid)])
        update("id other", "id", "queued", [("x-image-meta-id", nid())], who_matters=True)
        update("id empty", "id", "queued", [("x-image-meta-id", "")])

        # ---------------------------------------------------------------- owner
        for label, v in (("tenant D", D), ("empty", ""), ("255", "o" * 255), ("256", "o" * 256),
                         ("unicode", "\u00f6wner")):
            create("owner %s" % label, "owner", [("x-image-meta-owner", v)],
                   who_matters=label in ("tenant D", "empty"))
        update("owner D", "owner", "active", [("x-image-meta-owner", D)], who_matters=True)
        update("owner empty", "owner", "active", [("x-image-meta-owner", "")], who_matters=True)
        update("owner 256", "owner", "active", [("x-image-meta-owner", "o" * 256)])

        # ---------------------------------------------------------------- checksum
        bad = "0" * 32
        create("checksum matching data", "checksum",
               [("x-image-meta-checksum", WV_MD5)] + fmts + octet, WV_DATA)
        create("checksum uppercase md5", "checksum",
               [("x-image-meta-checksum", WV_MD5.upper())] + fmts + octet, WV_DATA)
        create("checksum mismatch", "checksum",
               [("x-image-meta-checksum", bad)] + fmts + octet, WV_DATA)
        create("checksum no data", "checksum", [("x-image-meta-checksum", bad)])
        create("checksum 33 chars", "checksum", [("x-image-meta-checksum", "a" * 33)])
        create("checksum 33 chars with data", "checksum",
               [("x-image-meta-checksum", "a" * 33)] + fmts + octet, WV_DATA)
        create("checksum empty", "checksum", [("x-image-meta-checksum", "")])
        create("checksum short non-hex", "checksum", [("x-image-meta-checksum", "xyz")])
        create("checksum and size mismatch", "checksum",
               [("x-image-meta-checksum", bad), ("x-image-meta-size", "3")] + fmts + octet,
               WV_DATA)
        update("checksum on queued", "checksum", "queued", [("x-image-meta-checksum", bad)])
        update("checksum on active", "checksum", "active", [("x-image-meta-checksum", bad)],
               who_matters=True)
        update("checksum same on active", "checksum", "active",
               [("x-image-meta-checksum", WV_MD5)], who_matters=True)
        update("checksum then data mismatch", "checksum", "queued-fmt",
               [("x-image-meta-checksum", bad)] + octet, WV_DATA)
        update("checksum then data match", "checksum", "queued-fmt",
               [("x-image-meta-checksum", WV_MD5)] + octet, WV_DATA)

        # ---------------------------------------------------------------- read-only timestamps
        for field in ("created_at", "updated_at", "deleted_at"):
            for v in ("2015-01-01T00:00:00", "yesterday", "1899-12-31T00:00:00", ""):
                create("%s=%r" % (field, v), "timestamps", [("x-image-meta-" + field, v)])
            update("%s valid" % field, "timestamps", "active",
                   [("x-image-meta-" + field, "2015-01-01T00:00:00")])
            update("%s bad" % field, "timestamps", "active",
                   [("x-image-meta-" + field, "yesterday")])
        create("created_at with zone", "timestamps",
               [("x-image-meta-created_at", "2015-01-01T00:00:00Z")])
        create("created_at date only", "timestamps",
               [("x-image-meta-created_at", "2015-01-01")])

        # ---------------------------------------------------------------- sources and stores
        # (an http:// location makes real Glance fetch it: its error text carries a memory
        # address, so none is sent here)
        for v in ("", "file:///etc/passwd", "swift+config://ref/x", "bogus://x", "s3://k:s@h/b/o",
                  "filesystem:///x", "HTTP"):
            create("location %r" % v, "location", [("x-image-meta-location", v)] + fmts,
                   who_matters=v == "file:///etc/passwd")
        create("location file with data", "location",
               [("x-image-meta-location", "file:///x")] + fmts + octet, WV_DATA)
        update("location on active", "location", "active",
               [("x-image-meta-location", "http://127.0.0.1:1/x")])
        update("location file on queued", "location", "queued",
               [("x-image-meta-location", "file:///etc/passwd")])
        for v in ("", "file:///etc/passwd", "swift+config://ref/x"):
            create("copy-from %r" % v, "copy_from", [("x-glance-api-copy-from", v)] + fmts)
            create("meta copy_from %r" % v, "copy_from",
                   [("x-image-meta-copy_from", v)] + fmts)
        create("copy-from with data", "copy_from",
               [("x-glance-api-copy-from", "file:///x")] + fmts + octet, WV_DATA)
        update("copy-from on active", "copy_from", "active",
               [("x-glance-api-copy-from", "file:///x")])
        for v in ("file", "http", "https", "filesystem", "swift", "", "FILE"):
            create("store %r" % v, "store", [("x-image-meta-store", v)])
            create("store %r with data" % v, "store",
                   [("x-image-meta-store", v)] + fmts + octet, WV_DATA)
        create("uri", "store", [("x-image-meta-uri", "x")])

        # ---------------------------------------------------------------- headers themselves
        for label, hh in (
                ("unknown field", [("x-image-meta-foo", "x")]),
                ("empty field", [("x-image-meta-", "x")]),
                ("properties", [("x-image-meta-properties", "x")]),
                ("property no dash", [("x-image-meta-property", "x")]),
                ("locations", [("x-image-meta-locations", "x")]),
                ("visibility", [("x-image-meta-visibility", "public")]),
                ("upper-case name", [("X-IMAGE-META-NAME", "upper")]),
                ("hyphen field", [("x-image-meta-disk-format", "raw"),
                                  ("X-Image-Meta-Container-Format", "bare")]),
                ("underscores in name", [("x_image_meta_name", "under")]),
                ("dup name", [("x-image-meta-name", "one"), ("x-image-meta-name", "two")]),
                ("dup is_public", [("x-image-meta-is_public", "true"),
                                   ("x-image-meta-is_public", "false")]),
                ("dup is_public false,true", [("x-image-meta-is_public", "false"),
                                              ("x-image-meta-is_public", "true")]),
                ("dup protected 1,1", [("x-image-meta-protected", "1"),
                                       ("x-image-meta-protected", "1")]),
                ("dup disk_format", [("x-image-meta-disk_format", "raw"),
                                     ("x-image-meta-disk_format", "raw")]),
                ("dup min_ram", [("x-image-meta-min_ram", "1"), ("x-image-meta-min_ram", "2")]),
                ("dup property", [("x-image-meta-property-a", "1"),
                                  ("x-image-meta-property-a", "2")]),
                ("dup property other case", [("x-image-meta-property-a", "1"),
                                             ("x-image-meta-property-A", "2")]),
                ("dup id", [("x-image-meta-name", "dupid"),
                            ("x-image-meta-id", "88888888-ffff-4000-8000-%012d" % k)]),
                ("whitespace values", [("x-image-meta-name", "\t spaced \t"),
                                       ("x-image-meta-min_ram", " 7 ")]),
                ("empty property value", [("x-image-meta-property-e", "")]),
                ("empty property key", [("x-image-meta-property-", "v")]),
                ("property key case", [("x-image-meta-property-Foo-Bar_BAZ", "v")]),
                ("property key dots", [("x-image-meta-property-os.distro", "v")]),
                ("property like core", [("x-image-meta-property-name", "pn"),
                                        ("x-image-meta-property-id", "pid"),
                                        ("x-image-meta-property-is_public", "True")]),
                ("property value utf8", [("x-image-meta-property-u", "\u00e9\u65e5")]),
                ("property value latin1", [("x-image-meta-property-l", "\udce9t\udce9")]),
                ("property value 255", [("x-image-meta-property-v", "v" * 255)]),
                ("property value 256", [("x-image-meta-property-v", "v" * 256)]),
                ("property value 8000", [("x-image-meta-property-v", "v" * 8000)]),
                ("property value 9000", [("x-image-meta-property-v", "v" * 9000)]),
                ("property value 17000", [("x-image-meta-property-v", "v" * 17000)]),
                ("property key 255", [("x-image-meta-property-" + "k" * 255, "v")]),
                ("property key 256", [("x-image-meta-property-" + "k" * 256, "v")]),
                # header lines in all (Host, User-Agent, Accept, identity, x-image-meta-id
                # and these): Python's http.client allows 100 lines counting the blank one
                ("95 header lines", lines(95)),
                ("99 header lines", lines(99)),
                ("100 header lines", lines(100)),
                ("101 header lines", lines(101)),
                # "x-image-meta-property-v: " is 25 bytes, CRLF 2
                ("header line 16383 bytes", [("x-image-meta-property-v", "v" * (16383 - 27))]),
                ("header line 16384 bytes", [("x-image-meta-property-v", "v" * (16384 - 27))]),
                # eventlet: all header lines with CRLFs and the blank line, at most 65536
                ("header bytes 65536", header_bytes(65536)),
                ("header bytes 65537", header_bytes(65537)),
                # (an obs-fold line, "fold\r\n ed": eventlet kept the value with its CRLF and
                # wrote it back raw on HEAD; hyper refuses it, docs/fidelity.md)
                ("space before colon", [("x-image-meta-name ", "spaced")]),
                ("purge-props on POST", [("x-glance-registry-purge-props", "false")]),
        ):
            create(label, "headers", hh, head=label != "dup id",
                   who_matters=label == "101 header lines")
        # the property quota (128) counts the kept properties when nothing is purged
        iid = nid()
        case("PUT property quota without purge", "headers",
             base(iid, "active") +
             [R("PUT", "/v1/images/%s" % iid, [("x-glance-registry-purge-props", "false")] +
                [("x-image-meta-property-a%02d" % j, "v") for j in range(90)]),
              R("PUT", "/v1/images/%s" % iid, [("x-glance-registry-purge-props", "false")] +
                [("x-image-meta-property-b%02d" % j, "v") for j in range(37)]),
              R("PUT", "/v1/images/%s" % iid, [("x-glance-registry-purge-props", "false")] +
                [("x-image-meta-property-c%02d" % j, "v") for j in range(1)]),
              R("HEAD", "/v1/images/%s" % iid)], who_matters=True)
        update("unknown field", "headers", "active", [("x-image-meta-foo", "x")])
        update("property like core", "headers", "active",
               [("x-image-meta-property-name", "pn"), ("x-image-meta-property-status", "x")])
        update("empty property value", "headers", "active",
               [("x-image-meta-property-keep", "")])
        update("property key case", "headers", "active",
               [("x-image-meta-property-KEEP", "K2"), ("x-image-meta-property-other", "o2")])
        update("nothing at all", "headers", "active", [])
        case("PUT unknown id", "headers",
             [R("PUT", "/v1/images/%s" % nid(), [("x-image-meta-name", "x")])])

        # ---------------------------------------------------------------- purge-props
        for v in ("true", "false", "True", "FALSE", "garbage", "", "0", "no", "1", "off"):
            update("purge-props=%r" % v, "purge", "active",
                   [("x-image-meta-property-new", "n"), ("x-glance-registry-purge-props", v)],
                   who_matters=v in ("false", "garbage"))
        update("purge-props false, no headers", "purge", "active",
               [("x-glance-registry-purge-props", "false")])
        update("purge with data", "purge", "queued-fmt",
               [("x-image-meta-property-new", "n")] + octet, WV_DATA)

        # ---------------------------------------------------------------- uploads
        for st in ("queued", "active", "killed", "deleted"):
            update("data", "upload", st, octet, WV_DATA, who_matters=st == "deleted")
        update("data and name and property", "upload", "queued-fmt",
               [("x-image-meta-name", "with-data"), ("x-image-meta-property-up", "u")] + octet,
               WV_DATA)
        update("data, size smaller", "upload", "queued-fmt",
               [("x-image-meta-size", "5")] + octet, WV_DATA)
        update("data, size larger", "upload", "queued-fmt",
               [("x-image-meta-size", "500")] + octet, WV_DATA)
        update("data, size equal", "upload", "queued-fmt",
               [("x-image-meta-size", str(len(WV_DATA)))] + octet, WV_DATA)
        update("Content-Length 0", "upload", "queued-fmt",
               octet + [("Content-Length", "0")])
        update("Content-Length 0, no content-type", "upload", "queued-fmt",
               [("Content-Length", "0")])
        update("chunked 0 bytes", "upload", "queued-fmt", octet, b"", chunked=True)
        update("chunked data", "upload", "queued-fmt", octet, WV_DATA, chunked=True)
        update("size 0 no body", "upload", "queued-fmt", [("x-image-meta-size", "0")])
        update("size 5 no body", "upload", "queued-fmt", [("x-image-meta-size", "5")])
        update("data, no content-type", "upload", "queued-fmt", [], WV_DATA)
        update("data, text/plain", "upload", "queued-fmt",
               [("Content-Type", "text/plain")], WV_DATA)
        update("data, octet with charset", "upload", "queued-fmt",
               [("Content-Type", "application/octet-stream; charset=binary")], WV_DATA)
        update("data, upper-case octet", "upload", "queued-fmt",
               [("Content-Type", "APPLICATION/OCTET-STREAM")], WV_DATA)
        iid = nid()
        case("PUT data to queued with size from POST", "upload",
             [R("POST", "/v1/images", [("x-image-meta-id", iid), ("x-image-meta-size", "5")]
                + fmts),
              R("PUT", "/v1/images/%s" % iid, octet, WV_DATA),
              R("HEAD", "/v1/images/%s" % iid)])
        for label, hh, body, kw in (
                ("size smaller than body", [("x-image-meta-size", "5")], WV_DATA, {}),
                ("size larger than body", [("x-image-meta-size", "500")], WV_DATA, {}),
                ("size 0 with body", [("x-image-meta-size", "0")], WV_DATA, {}),
                ("empty body Content-Length 0", [("Content-Length", "0")], b"", {}),
                ("empty body no Content-Length", [], b"", {}),
                ("chunked 0 bytes", [], b"", {"chunked": True}),
                ("chunked data", [], WV_DATA, {"chunked": True}),
                ("chunked data, size larger", [("x-image-meta-size", "500")], WV_DATA,
                 {"chunked": True}),
                ("chunked data, size smaller", [("x-image-meta-size", "5")], WV_DATA,
                 {"chunked": True}),
                ("size 0, no body", [("x-image-meta-size", "0")], b"", {}),
                ("size 2**40+1, no body", [("x-image-meta-size", str(2 ** 40 + 1))], b"", {}),
                ("Content-Length 2**40+1 header only",
                 [("Content-Length", str(2 ** 40 + 1))], b"", {}),
        ):
            create("upload %s" % label, "upload", fmts + octet + hh, body, **kw)
        create("upload data, no content-type", "upload", fmts, WV_DATA)
        create("upload data, json content-type", "upload",
               fmts + [("Content-Type", "application/json")], b'{"image": {}}')

        # ---------------------------------------------------------------- lifecycles
        iid = nid()
        case("DELETE then re-create same id", "lifecycle",
             base(iid, "deleted") + [R("POST", "/v1/images", [("x-image-meta-id", iid)]),
                                     R("HEAD", "/v1/images/%s" % iid)], who_matters=True)
        for label, hh in (("name", [("x-image-meta-name", "zombie")]),
                          ("nothing", []), ("status", [("x-image-meta-status", "deleted")]),
                          ("is_public", [("x-image-meta-is_public", "true")])):
            update("deleted image %s" % label, "lifecycle", "deleted", hh,
                   who_matters=label == "name")
        for label, hh in (("name", [("x-image-meta-name", "revived")]),
                          ("size", [("x-image-meta-size", "18")]),
                          ("nothing", [])):
            update("killed image %s" % label, "lifecycle", "killed", hh,
                   who_matters=label == "size")
        iid = nid()
        case("DELETE killed", "lifecycle",
             base(iid, "killed") + [R("DELETE", "/v1/images/%s" % iid),
                                    R("HEAD", "/v1/images/%s" % iid)], who_matters=True)
        iid = nid()
        case("DELETE queued twice", "lifecycle",
             base(iid, "queued") + [R("DELETE", "/v1/images/%s" % iid),
                                    R("DELETE", "/v1/images/%s" % iid),
                                    R("HEAD", "/v1/images/%s" % iid)])
        iid = nid()
        case("protected: DELETE, unprotect, DELETE", "lifecycle",
             [R("POST", "/v1/images", [("x-image-meta-id", iid),
                                       ("x-image-meta-protected", "yes")]),
              R("DELETE", "/v1/images/%s" % iid),
              R("PUT", "/v1/images/%s" % iid, [("x-image-meta-protected", "off")]),
              R("DELETE", "/v1/images/%s" % iid),
              R("HEAD", "/v1/images/%s" % iid)], who_matters=True)
        iid = nid()
        case("members of killed, deleted images", "lifecycle",
             base(iid, "killed") + [R("GET", "/v1/images/%s/members" % iid),
                                    R("DELETE", "/v1/images/%s" % iid),
                                    R("GET", "/v1/images/%s/members" % iid),
                                    R("GET", "/v1/images/%s" % iid)])
        iid = nid()
        case("GET data of killed", "lifecycle",
             base(iid, "killed") + [R("GET", "/v1/images/%s" % iid)])
        iid = nid()
        case("active then metadata size changes GET", "lifecycle",
             base(iid, "active") + [R("PUT", "/v1/images/%s" % iid,
                                      [("x-image-meta-size", "5")]),
                                    R("GET", "/v1/images/%s" % iid),
                                    R("HEAD", "/v1/images/%s" % iid)])
        # a header line that is not a header (bad name characters) ends Python's header
        # parsing: what follows it is not seen
        for label, bad in (("space in name", ("x-image-meta-name ", "a")),
                           ("non-ascii name", ("x-im\u00e4ge-meta-name", "a"))):
            iid = nid()
            case("POST %s, then more headers" % label, "headers",
                 [R("POST", "/v1/images", [bad, ("x-image-meta-id", iid),
                                           ("x-image-meta-name", "b")]),
                  R("HEAD", "/v1/images/%s" % iid)])
        # eventlet: a request line (with CRLF) of 8192 bytes or more is a 414
        for n in (8191, 8192):
            target = "/v1/images?name=" + "n" * (n - 15 - len("/v1/images?name="))
            case("GET request line %d bytes" % n, "headers", [R("GET", target)])
        # odd framing of an upload
        case("POST Content-Length abc", "upload",
             [R("POST", "/v1/images", [("x-image-meta-id", nid()), ("Content-Length", "abc")]
                + fmts + octet)])
        case("POST Content-Length -1", "upload",
             [R("POST", "/v1/images", [("x-image-meta-id", nid()), ("Content-Length", "-1")]
                + fmts + octet)])
        # (chunked with a Content-Length too: WebOb read only Content-Length bytes of the
        # decoded body; a documented difference, docs/fidelity.md)
    return out


def random_reads(flavor, n=None, seed=None):
    """Read-only requests drawn at random (a fixed seed, so every run sends the same ones):
    a caller, a method, a path, list parameters joined by '&' or ';', and a handful of the
    headers clients send, in combinations the tables above do not list one by one.
    ORACLE_RANDOM_SEED and ORACLE_RANDOM_N draw another set (exploration; CI uses the
    defaults)."""
    import os
    import random
    import urllib.parse as up
    n = int(os.environ.get("ORACLE_RANDOM_N", 400)) if n is None else n
    seed = os.environ.get("ORACLE_RANDOM_SEED", "20261206") if seed is None else seed
    rnd = random.Random("%s-%s" % (seed, flavor))
    idents = [(w, h) for w, h in IDENTITIES
              if flavor == "trusted-auth" or w in NOAUTH_IDENTITIES]
    names = sorted(IDS)
    lists = ["/v1/images", "/v1/images/detail", "/v1/images/", "/v1//images/detail"]
    keys = sorted(FILTER_VALUES) + ["property-team", "property-distro", "is_public"]
    extra = {"property-team": ["blue", "red", ""], "property-distro": ["cirros", "x"],
             "is_public": ["None", "true", "false", "none"]}
    headers = [("Accept", a) for a in ACCEPTS if a is not None] + [
        ("Connection", "keep-alive"), ("Connection", "close"), ("Accept-Encoding", "gzip"),
        ("X-Auth-Token", "tok"), ("Content-Type", "application/json"),
        ("Host", "glance.example"), ("Host", "glance.example:80"),
        ("X-Openstack-Request-Id", "req-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee")]
    out = []
    for i in range(n):
        who, h = rnd.choice(idents)
        method = rnd.choices(["GET", "HEAD", "OPTIONS"], [60, 35, 5])[0]
        kind = rnd.random()
        if kind < 0.45:
            params = []
            for _ in range(rnd.randint(0, 4)):
                k = rnd.choice(keys)
                params.append((k, rnd.choice(FILTER_VALUES.get(k) or extra[k])))
            sep = rnd.choice(["&", "&", ";"])
            q = sep.join(up.urlencode([kv]) for kv in params)
            path = rnd.choice(lists) + ("?" + q if q or rnd.random() < 0.1 else "")
        elif kind < 0.8:
            iid = IDS[rnd.choice(names)] if rnd.random() < 0.9 else UNKNOWN
            path = rnd.choice(["/v1/images/%s", "/v1/images/%s/members",
                               "/v1/images/%s/members/" + rnd.choice([A, B, C, D])]) % iid
        elif kind < 0.9:
            path = rnd.choice(["/", "/versions", "/v1", "/v1/", "/v1/shared-images/%s"
                               % rnd.choice([A, B, C, D, "x"]), "/healthcheck"])
        else:
            path = rnd.choice(PATHS).replace("{pub}", IDS["pub-a"]).replace(
                "{PUB}", IDS["pub-a"].upper()).replace("{shared}", IDS["shared-a"]).replace(
                "{B}", B)
        if os.environ.get("ORACLE_RANDOM_WIDE") and rnd.random() < 0.3:
            method = rnd.choice(["DELETE", "PUT", "POST", "PATCH", "GET", "HEAD"])
            if method in ("DELETE", "PUT", "POST", "PATCH"):
                path = rnd.choice(["/v1/images/%s", "/v1/images/%s/members",
                                   "/v1/images/%s/members/x"]) % UNKNOWN
        hh = [("User-Agent", "oracle/1")] + list(h)
        host = True
        for name, value in rnd.sample(headers, rnd.randint(0, 3)):
            if name == "Host":
                if not host:
                    continue
                host = False
            hh.append((name, value))
        kw = {"host": host}
        if rnd.random() < 0.05:
            kw["body"] = b"{}"
        if os.environ.get("ORACLE_RANDOM_WIDE"):
            r = rnd.random()
            if r < 0.05:
                kw["version"] = "HTTP/1.0"
            elif r < 0.1:
                kw["body"] = rnd.choice([b"", b"x" * 70000, b'{"member": {"can_share": true}}'])
                kw["chunked"] = True
            elif r < 0.15:
                hh.append(("Expect", "100-continue"))
                kw["body"] = rnd.choice([b"", b"abc"])
            elif r < 0.2:
                hh.append(("Content-Type", rnd.choice(["application/octet-stream", "text/plain"])))
                kw["body"] = b"y" * rnd.choice([1, 100, 70000])
        out.append(Case("random %d: %s %s" % (i, method, path), "random/%s" % who,
                        [Req(method, path, hh, **kw)]))
    return out


def random_writes(flavor, n=None, seed=None):
    """Writes drawn at random (a fixed seed, so every run sends the same ones), one after
    another on one small pool of images, by every kind of caller: creates with random
    x-image-meta-* fields and data, updates (with and without purge-props, uploads into
    every state), deletes, member adds, removals and replacements, and reads of what the
    writes left: the record, its members, a tenant's shared images and the lists. The
    state each server carries forward is the whole history, so one write answered
    differently shows in every read after it. ORACLE_WRITES_SEED and ORACLE_WRITES_N draw
    another sequence, ORACLE_WRITES_WIDE=1 adds HTTP/1.0, Expect, header names in other
    cases, repeated lines and odd values (exploration; CI uses the defaults)."""
    import os
    import random
    n = int(os.environ.get("ORACLE_WRITES_N", 300)) if n is None else n
    seed = os.environ.get("ORACLE_WRITES_SEED", "20261206") if seed is None else seed
    rnd = random.Random("%s-%s-writes" % (seed, flavor))
    if flavor == "trusted-auth":
        callers = ["admin", "admin", "owner", "owner", "member-share", "member-noshare",
                   "stranger", "no-tenant", "admin-no-tenant", "project-id-only",
                   "owner-no-roles", "anonymous"]
    else:
        callers = ["anonymous", "request-id"]
    pool = ["99999999-%04d-4000-8000-%012d" % (1 if flavor == "trusted-auth" else 0, j)
            for j in range(1, 9)]
    learned = []
    tenants = [A, B, C, D, ADM]
    data = [b"", b"0123456789", b"x" * 100, b"abc"]
    meta = {
        "name": ["r", "", "r-%d", "spaced name", "a" * 255, "a" * 256],
        "disk_format": ["raw", "qcow2", "ami", "aki", "ari", "iso", "vhd", "nope", ""],
        "container_format": ["bare", "ovf", "ami", "aki", "ari", "docker", "nope", ""],
        "size": ["0", "10", "3", "100", "abc", "-1", ""],
        "min_ram": ["0", "64", "-1", "x", "2147483648"],
        "min_disk": ["0", "5", "-3", "1.5"],
        "is_public": ["true", "false", "True", "maybe", "1", "0"],
        "protected": ["true", "false", "False", "yes"],
        "owner": tenants + ["", "someone-else"],
        "checksum": ["781e5e245d69b566979b86e28d23f2c7", "0" * 32, "bad", ""],
        "status": ["active", "queued", "killed", "saving"],
        "virtual_size": ["10", "x", ""],
        "deleted": ["false", "true"],
        "property-team": ["blue", "red", ""],
        "property-Distro": ["cirros", "x"],
        "property-kernel_id": ["k", ""],
        "store": ["file", "swift", "nope"],
    }
    fields = sorted(meta)

    def ref():
        if learned and rnd.random() < 0.2:
            return "@@%s@@" % rnd.choice(learned)
        return rnd.choice(pool)

    def meta_headers(k, skip=()):
        out = []
        for f in rnd.sample([f for f in fields if f not in skip], k):
            v = rnd.choice(meta[f])
            out.append(("x-image-meta-" + f, v.replace("%d", str(rnd.randint(0, 9)))))
        return out

    def with_data(hh):
        body = rnd.choice(data)
        kw = {}
        if body or rnd.random() < 0.3:
            hh.append(("Content-Type", rnd.choice(["application/octet-stream"] * 4 +
                                                  ["text/plain"])))
            if rnd.random() < 0.2:
                kw["chunked"] = True
        return body, kw

    out = []
    for i in range(n):
        who = rnd.choice(callers)
        h = IDENT[who]
        hh = []
        body, kw, learn = b"", {}, None
        op = rnd.random()
        if op < 0.18:
            method, target = "POST", "/v1/images"
            if rnd.random() < 0.85:
                hh.append(("x-image-meta-id", rnd.choice(pool)))
            else:
                learn = "rw%d" % i
                learned.append(learn)
            if rnd.random() < 0.8:
                hh += [("x-image-meta-disk_format", "raw"),
                       ("x-image-meta-container_format", "bare")]
            # data and `deleted` only with an id of the pool: a create that fails once the
            # record exists (a killed upload, the 500 of a deleted create) answers without a
            # Location to learn a generated id from
            hh += meta_headers(rnd.randint(0, 4), ("deleted",) if learn else ())
            if rnd.random() < 0.5 and not learn:
                body, kw = with_data(hh)
        elif op < 0.40:
            method, target = "PUT", "/v1/images/%s" % ref()
            hh += meta_headers(rnd.randint(0, 4))
            if rnd.random() < 0.05:
                hh.append(("x-image-meta-id", rnd.choice(pool)))
            if rnd.random() < 0.3:
                hh.append(("x-glance-registry-purge-props", rnd.choice(["true", "false"])))
            if rnd.random() < 0.3:
                body, kw = with_data(hh)
        elif op < 0.47:
            method, target = "DELETE", "/v1/images/%s" % ref()
        elif op < 0.57:
            method = "PUT"
            target = "/v1/images/%s/members/%s" % (ref(), rnd.choice(tenants))
            if rnd.random() < 0.5:
                body = rnd.choice([b'{"member": {"can_share": true}}',
                                   b'{"member": {"can_share": false}}',
                                   b'{"member": {}}', b"{}", b"not json"])
                hh.append(("Content-Type", "application/json"))
        elif op < 0.62:
            method = "DELETE"
            target = "/v1/images/%s/members/%s" % (ref(), rnd.choice(tenants))
        elif op < 0.67:
            method, target = "PUT", "/v1/images/%s/members" % ref()
            ms = [{"member_id": t, "can_share": rnd.random() < 0.5}
                  for t in rnd.sample(tenants, rnd.randint(0, 3))]
            body = json.dumps(rnd.choice([{"memberships": ms}, {"memberships": ms},
                                          {"members": ms}, ms])).encode()
            hh.append(("Content-Type", "application/json"))
        else:
            r = rnd.random()
            if r < 0.35:
                method, target = rnd.choice(["HEAD", "GET"]), "/v1/images/%s" % ref()
            elif r < 0.5:
                method, target = "GET", "/v1/images/%s/members" % ref()
            elif r < 0.6:
                method, target = "GET", "/v1/shared-images/%s" % rnd.choice(tenants)
            else:
                method = "GET"
                target = rnd.choice(["/v1/images", "/v1/images/detail"]) + rnd.choice(
                    ["", "?is_public=None", "?is_public=None&sort_key=name&sort_dir=asc",
                     "?name=r", "?property-team=blue", "?is_public=false",
                     "?status=active&is_public=None", "?limit=3&is_public=None",
                     "?sort_key=size&is_public=None", "?size_min=10&is_public=None",
                     "?is_public=None&changes-since=2000-01-01T00:00:00",
                     "?limit=2&is_public=None&marker=%s" % rnd.choice(pool),
                     "?marker=%s" % rnd.choice(pool)])
        if os.environ.get("ORACLE_WRITES_WIDE"):
            r = rnd.random()
            if r < 0.05:
                kw["version"] = "HTTP/1.0"
            elif r < 0.10:
                hh.append(("Expect", "100-continue"))
            elif r < 0.15:
                # header names as clients spell them: upper case, mixed case
                hh = [(k.upper() if k.startswith("x-") else k, v) for k, v in hh]
            elif r < 0.20:
                hh = [(k.title() if k.startswith("x-") else k, v) for k, v in hh]
            elif r < 0.25 and hh:
                hh.append(rnd.choice(hh))  # a repeated line
            elif r < 0.30:
                hh.append(("x-image-meta-" + rnd.choice(["name", "property-team", "owner"]),
                           rnd.choice(["caf\u00e9", "x" * 300, " padded ", "a,b", "\t",
                                       "caf\udce9"])))
            elif r < 0.33:
                hh.append(("Content-Type", rnd.choice(["application/json",
                                                       "application/octet-stream; x=y",
                                                       ""])))
            elif r < 0.36:
                hh.append(("Accept", rnd.choice(["application/json", "text/html",
                                                 "application/vnd.openstack.images-v1"])))
        hdrs = [("User-Agent", "oracle/1"), ("Accept", "*/*")] + list(h) + hh
        out.append(Case("random write %d: %s %s" % (i, method, target),
                        "random_writes/%s" % who,
                        [Req(method, target, hdrs, body=body, **kw)], learn))
    return out


def phases(flavor):
    return [("visibility", visibility(flavor)), ("variants", variants(flavor)),
            ("paths", paths(flavor)), ("filters", filters(flavor)),
            ("random", random_reads(flavor)),
            ("methods", method_matrix(flavor)), ("write", write_phase(flavor)),
            ("write_values", write_values(flavor)),
            ("random_writes", random_writes(flavor))]
