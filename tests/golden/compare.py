#!/usr/bin/env python3
"""Replay golden Glance v1 exchanges against a server and compare responses.

usage: compare.py GOLDEN_DIR BASE_URL [--known FILE] [--timeout S] [-v]

  GOLDEN_DIR  e.g. tests/golden/noauth (the *.http files, replayed in name order)
  BASE_URL    e.g. http://127.0.0.1:9292 -- the server under test, started EMPTY
              (and in the matching flavour: noauth / trusted-auth)

Each request is sent byte-for-byte as recorded, on a fresh connection, except
that the Host header value is rewritten to the target's host:port.

Comparison (see README.md):
  * status line: exact;
  * header names: exact (case included) and in the same order, except that the
    contiguous run of X-Image-Meta-* headers is compared as a multiset of
    (name, value) pairs;
  * header values: exact, except
      Date                       -> RFC 1123 shape ("Tue, 24 Nov 2026 18:02:43 GMT")
      X-Openstack-Request-Id     -> shape req-<uuid4>, unless the request sent an
                                    X-Openstack-Request-Id that the golden echoed
      X-Image-Meta-Created_at / Updated_at / Deleted_at
                                 -> shape YYYY-MM-DDTHH:MM:SS.ffffff
      any value: the recorded host:port is replaced by the target's (Location)
      Content-Length             -> golden value adjusted for the host:port
                                    length difference inside the body
  * body: exact bytes, after (for non-octet-stream bodies) the same host:port
    substitution and masking of YYYY-MM-DDTHH:MM:SS.ffffff timestamps.
    Exception: a JSON body may order the keys of its objects differently
    (real Glance on Python 3 builds the image dict from a set, so the key
    order depends on the hash seed), provided it is still formatted exactly
    like Python json.dumps() -- ", " and ": " separators, \\uXXXX escapes --
    and is otherwise equal (lists keep their order).  --strict-json-order
    turns this off.

Prints one line per exchange (PASS / FAIL / XFAIL / XPASS  name), a short diff
under each FAIL, and as last line exactly "N passed, M failed".  Exit status
is 1 if anything failed.  Names listed in known-differences.txt (default: the
one next to this script, if present) are reported as XFAIL/XPASS and not
counted as failures.
"""
import argparse
import collections
import difflib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_http import (get_header, parse_base, read_golden, send_raw,  # noqa: E402
                         set_host, split_head)

DATE_RE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-3]\d "
                     r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                     r"[0-2]\d:[0-5]\d:[0-6]\d GMT$")
REQID_RE = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")
TS_BODY_RE = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}")
TS_HEADERS = ("x-image-meta-created_at", "x-image-meta-updated_at", "x-image-meta-deleted_at")
META = "x-image-meta-"


class Ctx(object):
    def __init__(self, ghost, thost, sent_reqid):
        self.ghost, self.thost, self.sent_reqid = ghost, thost, sent_reqid


def mask_value(name, value, ctx, golden_side):
    n = name.lower()
    host = ctx.ghost if golden_side else ctx.thost
    if host:
        value = value.replace(host, "{HOST}")
    if n == "date" and DATE_RE.match(value):
        return "{DATE}"
    if n == "x-openstack-request-id":
        if ctx.sent_reqid and value in (ctx.sent_reqid, "req-" + ctx.sent_reqid):
            return value          # echoed: must match exactly
        if REQID_RE.match(value):
            return "{REQ-ID}"
    if n in TS_HEADERS and TS_RE.match(value):
        return "{TIMESTAMP}"
    return value


def normalize_headers(hdrs, ctx, golden_side):
    """-> list of items; an item is ('H', name, masked_value) or
    ('META', sorted tuple of (name, masked_value)) for a run of X-Image-Meta-*."""
    out, run = [], []

    def flush():
        if run:
            out.append(("META", tuple(sorted(run))))
            del run[:]
    for k, v in hdrs:
        if k.lower().startswith(META):
            run.append((k, mask_value(k, v, ctx, golden_side)))
        else:
            flush()
            out.append(("H", k, v if k.lower() == "content-length" else mask_value(k, v, ctx, golden_side)))
    flush()
    return out


def show_item(it):
    if it[0] == "H":
        return "%s: %s" % (it[1], it[2])
    return "<X-Image-Meta-* block, %d headers>" % len(it[1])


def mask_body(body, ctype, host):
    if (ctype or "").lower().startswith("application/octet-stream"):
        return body
    if host:
        body = body.replace(host.encode("latin-1"), b"{HOST}")
    return TS_BODY_RE.sub(b"{TIMESTAMP}", body)


def body_diff(a, b, limit=16):
    """short human diff of two byte strings"""
    try:
        ta, tb = a.decode("utf-8"), b.decode("utf-8")
        printable = True
    except UnicodeDecodeError:
        printable = False
    if printable and (len(ta) < 20000 and len(tb) < 20000):
        # break JSON at ', ' so that a one-line JSON diff is readable
        sa = ta.replace(", ", ",\n").splitlines() if "\n" not in ta.strip() else ta.splitlines()
        sb = tb.replace(", ", ",\n").splitlines() if "\n" not in tb.strip() else tb.splitlines()
        d = list(difflib.unified_diff(sa, sb, "expected", "actual", n=1, lineterm=""))
        if d:
            if len(d) > limit:
                d = d[:limit] + ["  ... (%d more diff lines)" % (len(d) - limit)]
            return ["    " + x for x in d]
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return ["    bodies differ at byte %d (expected %d bytes, got %d): expected %r / got %r"
            % (i, len(a), len(b), a[max(0, i - 20):i + 40], b[max(0, i - 20):i + 40])]


def compare(golden_req, golden_resp, actual_resp, ghost, thost):
    """-> list of problem lines (empty = PASS)"""
    probs = []
    _, qh, _ = split_head(golden_req)
    method = golden_req.split(b" ", 1)[0].upper()
    ctx = Ctx(ghost, thost, get_header(qh, "x-openstack-request-id"))
    gs, gh, gb = split_head(golden_resp)
    if not actual_resp:
        return ["  no response (connection closed without data)"]
    if b"\r\n\r\n" not in actual_resp:
        return ["  incomplete response: %r" % actual_resp[:300]]
    as_, ah, ab = split_head(actual_resp)
    if gs != as_:
        probs.append("  status line: expected %r, got %r" % (gs, as_))
    # ---- headers
    gn, an = normalize_headers(gh, ctx, True), normalize_headers(ah, ctx, False)
    delta = len(thost) - len(ghost)
    host_count = gb.count(ghost.encode("latin-1")) if ghost and method != b"HEAD" else 0
    hp = []
    for i in range(max(len(gn), len(an))):
        g = gn[i] if i < len(gn) else None
        a = an[i] if i < len(an) else None
        if g == a:
            continue
        if g and a and g[0] == "H" and a[0] == "H" and g[1] == a[1] == "Content-Length":
            if g[2].isdigit() and a[2] == str(int(g[2]) + delta * host_count):
                continue
        if g and a and g[0] == "META" and a[0] == "META":
            gm, am = list(g[1]), list(a[1])
            for x in list(gm):
                if x in am:
                    gm.remove(x)
                    am.remove(x)
            hp.append("  X-Image-Meta-* block #%d differs (as multiset):" % i)
            hp += ["    - %s: %s" % x for x in gm] + ["    + %s: %s" % x for x in am]
            continue
        hp.append("  header #%d: expected %s | got %s" % (
            i, show_item(g) if g else "(none)", show_item(a) if a else "(none)"))
    if hp:
        if any(x.startswith("  header #") for x in hp):
            hp.append("  expected header order: " + ", ".join(
                x[1] if x[0] == "H" else "<X-Image-Meta-*>" for x in gn))
            hp.append("  actual header order:   " + ", ".join(
                x[1] if x[0] == "H" else "<X-Image-Meta-*>" for x in an))
        probs += hp
    # ---- body
    mg = mask_body(gb, get_header(gh, "content-type"), ghost)
    ma = mask_body(ab, get_header(ah, "content-type"), thost)
    if mg != ma:
        jg = None if STRICT_JSON_ORDER else as_python_json(mg)
        ja = as_python_json(ma) if jg is not None else None
        if jg is not None and ja is not None:
            if jg != ja:   # dicts compare without key order, lists in order
                probs.append("  JSON body differs (after masking; object key order ignored):")
                probs += body_diff(json.dumps(jg, sort_keys=True, indent=1).encode(),
                                   json.dumps(ja, sort_keys=True, indent=1).encode(), limit=24)
        elif jg is not None:
            probs.append("  body is not JSON formatted like Python json.dumps() "
                         "(separators ', ' ': ', ASCII \\u escapes) or differs:")
            probs += body_diff(mg, ma)
        else:
            probs.append("  body differs (after masking):")
            probs += body_diff(mg, ma)
    return probs


STRICT_JSON_ORDER = False


def as_python_json(b):
    """Parse b as JSON; return the parsed value only if b is exactly what
    Python's json.dumps() (default separators, ensure_ascii) would emit for it
    in its own key order.  Otherwise None."""
    try:
        v = json.loads(b.decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    except (UnicodeDecodeError, ValueError):
        return None
    if json.dumps(v).encode("ascii") != b:
        return None
    return json.loads(b.decode("utf-8"))   # plain dicts: equality ignores key order


def load_known(path):
    known = set()
    if path and os.path.isfile(path):
        for ln in open(path, encoding="utf-8"):
            ln = ln.split("#", 1)[0].strip()
            if ln:
                known.add(ln[:-5] if ln.endswith(".http") else ln)
    return known


def is_known(known, dirname, stem):
    bare = stem.split("-", 1)[1] if "-" in stem and stem.split("-", 1)[0].isdigit() else stem
    return bool({stem, bare, dirname + "/" + stem, dirname + "/" + bare} & known)


def main():
    ap = argparse.ArgumentParser(description="Replay golden Glance v1 exchanges and compare.")
    ap.add_argument("golden_dir")
    ap.add_argument("base_url")
    ap.add_argument("--known", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                    "known-differences.txt"),
                    help="file of exchange names expected to fail (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("-v", "--verbose", action="store_true", help="print full responses on failure")
    ap.add_argument("--strict-json-order", action="store_true",
                    help="also require JSON object keys in the recorded order (byte-exact bodies)")
    args = ap.parse_args()
    global STRICT_JSON_ORDER
    STRICT_JSON_ORDER = args.strict_json_order
    host, port = parse_base(args.base_url)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("refusing to send traffic to %s (loopback only)" % host)
    thost = "%s:%d" % (host, port)
    known = load_known(args.known)
    dirname = os.path.basename(os.path.normpath(args.golden_dir))
    files = sorted(f for f in os.listdir(args.golden_dir) if f.endswith(".http"))
    if not files:
        sys.exit("no .http files in %s" % args.golden_dir)
    passed = failed = xfail = 0
    for f in files:
        stem = f[:-5]
        greq, gresp = read_golden(os.path.join(args.golden_dir, f))
        _, qh, _ = split_head(greq)
        ghost = get_header(qh, "host") or ""
        req = set_host(greq, thost)
        try:
            actual = send_raw(host, port, req, timeout=args.timeout)
            probs = compare(greq, gresp, actual, ghost, thost)
        except OSError as e:
            actual, probs = b"", ["  transport error: %s" % e]
        exp = is_known(known, dirname, stem)
        if not probs:
            passed += 1
            print("%s %s" % ("XPASS" if exp else "PASS", stem))
        elif exp:
            xfail += 1
            print("XFAIL %s" % stem)
        else:
            failed += 1
            print("FAIL %s" % stem)
            for p in probs:
                print(p)
            if args.verbose:
                print("  --- expected response ---")
                print(gresp.decode("latin-1"))
                print("  --- actual response ---")
                print(actual.decode("latin-1"))
        sys.stdout.flush()
    if xfail:
        print("(%d expected failures listed in %s)" % (xfail, args.known))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
