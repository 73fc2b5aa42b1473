#!/usr/bin/env python3
"""List-page latency against a running glance-emu (issue 17): one client, one keep-alive
connection, one request at a time, so a figure is the server's time for that page plus a
fixed loopback round trip (the HEAD row measures that round trip with the same client).

Usage:
  list_bench.py PORT IDS_FILE [--reps N] [--only SUBSTRING]
  list_bench.py PORT IDS_FILE --set tenant [--reps N]   (server in --auth trusted-headers,
                fixture from gen_fixtures.py --distinct-owners: the tenant's view, and the
                admin's unfiltered pages in every order)
  list_bench.py PORT IDS_FILE --follow [--page 20] [--max-pages N]
  list_bench.py --report SMALL.txt LARGE.txt   (markdown table of two runs' ROW lines)
  list_bench.py PORT IDS_FILE --against PORT2 --path PATH [--path PATH ...] [--reps N]
                (two servers on the same fixture, say two builds: each PATH asked of both,
                alternately, one request at a time, so that both see the same machine load;
                prints `CMP a_us=... b_us=... b/a=... same_body=... path=...` with medians,
                after the HEAD round trip of each)

IDS_FILE is the fixture's id list (bench/gen_fixtures.py --ids): its lines are in record
order, so the record at index i has the fields gen_fixtures.py gives record i; the deep
marker is the id at about 60 % of the file (a public record, listed in the default view).

Prints one line per query: `ROW median_us=... p90_us=... bytes=... name=...`; with
--follow it pages through GET /v1/images/detail with marker= as `glance image-list` does
and prints `FOLLOW pages=... images=... total_s=...`. Only 127.0.0.1 is contacted.
"""
import argparse
import http.client
import json
import statistics
import sys
import time


def queries(ids):
    n = len(ids)
    # A public record (gen_fixtures: i % 3 != 0 is public) deep in the file.
    i = int(n * 0.6)
    while i % 3 == 0:
        i += 1
    deep = ids[i]
    unfiltered = [
        ("created_at desc (default)", ""),
        ("name asc", "sort_key=name&sort_dir=asc"),
        ("name desc", "sort_key=name&sort_dir=desc"),
        ("size desc", "sort_key=size&sort_dir=desc"),
        ("updated_at asc", "sort_key=updated_at&sort_dir=asc"),
        ("status asc", "sort_key=status&sort_dir=asc"),
        ("disk_format desc", "sort_key=disk_format&sort_dir=desc"),
        ("container_format asc", "sort_key=container_format&sort_dir=asc"),
        ("id asc", "sort_key=id&sort_dir=asc"),
    ]
    rows = []
    for label, q in unfiltered:
        sep = "&" if q else ""
        rows.append(("page: " + label, "/v1/images/detail?limit=25" + sep + q))
        rows.append(("page: " + label + ", deep marker",
                     "/v1/images/detail?limit=25" + sep + q + "&marker=" + deep))
    rows += [
        ("index (6 keys): created_at desc", "/v1/images?limit=25"),
        ("filtered: is_public=None", "/v1/images/detail?limit=25&is_public=None"),
        ("filtered: is_public=False", "/v1/images/detail?limit=25&is_public=False"),
        ("filtered: name=image-%d (1 match)" % (n // 2), "/v1/images/detail?name=image-%d" % (n // 2)),
        ("filtered: disk_format=raw, sort name", "/v1/images/detail?limit=25&disk_format=raw&sort_key=name"),
        ("filtered: container_format=ovf&min_ram=512",
         "/v1/images/detail?limit=25&container_format=ovf&min_ram=512"),
        ("filtered: property-os_distro=cirros", "/v1/images/detail?limit=25&property-os_distro=cirros"),
        ("filtered: size_min=1000000&size_max=2000000", "/v1/images/detail?limit=25&size_min=1000000&size_max=2000000"),
        ("filtered: changes-since=2016-06-28T23:00:00",
         "/v1/images/detail?limit=25&changes-since=2016-06-28T23:00:00"),
        ("filtered: status=queued (no match)", "/v1/images/detail?limit=25&status=queued"),
        ("filtered: protected=True (no match)", "/v1/images/detail?limit=25&protected=True"),
        ("filtered: min_ram=999999 (no match)", "/v1/images/detail?limit=25&min_ram=999999"),
        ("filtered: property-hw_disk_bus=nvme (no match)",
         "/v1/images/detail?limit=25&property-hw_disk_bus=nvme"),
        ("filtered: min_disk=7", "/v1/images/detail?limit=25&min_disk=7"),
        ("compute: /v2/t/images/detail?limit=25", "/v2/t/images/detail?limit=25"),
    ]
    return rows, deep


TENANT = "b" * 32  # gen_fixtures.py --distinct-owners
TENANT_HEADERS = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": TENANT, "X-Roles": "member"}
ADMIN_HEADERS = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": "admin", "X-Roles": "admin"}
HEADERS = {}


def tenant_queries(ids):
    """The tenant data set: a non-admin tenant whose view (0.1 % public, its own every
    10,000th, shared every 50,000th) is about 0.1 % of the catalogue, and the admin's
    unfiltered pages (is_public=None) in every order."""
    n = len(ids)
    deep = ids[(int(n * 0.6) // 10000) * 10000]  # one of the tenant's own records
    t = [
        ("created_at desc (default)", ""),
        ("name asc", "&sort_key=name&sort_dir=asc"),
        ("size desc", "&sort_key=size&sort_dir=desc"),
        ("updated_at asc", "&sort_key=updated_at&sort_dir=asc"),
    ]
    rows = []
    for label, q in t:
        rows.append(("filtered: tenant view, " + label, "/v1/images/detail?limit=25" + q, TENANT_HEADERS))
        rows.append(("filtered: tenant view, " + label + ", deep marker",
                     "/v1/images/detail?limit=25" + q + "&marker=" + deep, TENANT_HEADERS))
    rows += [
        ("filtered: tenant view, disk_format=raw", "/v1/images/detail?limit=25&disk_format=raw", TENANT_HEADERS),
        ("filtered: tenant view, name=image-%d (own)" % (n // 2 // 10000 * 10000),
         "/v1/images/detail?name=image-%d" % (n // 2 // 10000 * 10000), TENANT_HEADERS),
        ("compute: tenant, /v2/%s/images/detail?limit=25" % TENANT,
         "/v2/%s/images/detail?limit=25" % TENANT, TENANT_HEADERS),
    ]
    for key in ["created_at", "name", "status", "container_format", "disk_format", "size", "id", "updated_at"]:
        for d in ["asc", "desc"]:
            rows.append(("page (admin, is_public=None): %s %s" % (key, d),
                         "/v1/images/detail?limit=25&is_public=None&sort_key=%s&sort_dir=%s" % (key, d),
                         ADMIN_HEADERS))
    return rows, deep


def timed(conn, method, path, headers=None):
    t0 = time.perf_counter_ns()
    conn.request(method, path, headers=headers or HEADERS)
    r = conn.getresponse()
    body = r.read()
    t1 = time.perf_counter_ns()
    if r.status != 200:
        raise SystemExit("%s %s -> %d %s" % (method, path, r.status, body[:200]))
    return (t1 - t0) / 1000.0, body


def measure(conn, method, path, reps, headers=None):
    timed(conn, method, path, headers)  # warm (the first request with a sort key may build its index)
    ts = []
    size = 0
    for _ in range(reps):
        us, body = timed(conn, method, path, headers)
        ts.append(us)
        size = len(body)
    ts.sort()
    return statistics.median(ts), ts[min(len(ts) - 1, int(len(ts) * 0.9))], size


def follow(conn, page, max_pages):
    marker = None
    pages = images = 0
    t0 = time.perf_counter()
    worst = 0.0
    while max_pages is None or pages < max_pages:
        path = "/v1/images/detail?limit=%d" % page
        if marker:
            path += "&marker=" + marker
        us, body = timed(conn, "GET", path)
        worst = max(worst, us)
        got = json.loads(body)["images"]
        pages += 1
        images += len(got)
        if len(got) < page:
            break
        marker = got[-1]["id"]
    total = time.perf_counter() - t0
    print("FOLLOW pages=%d images=%d total_s=%.2f per_page_us=%.0f worst_page_us=%.0f"
          % (pages, images, total, total / max(pages, 1) * 1e6, worst))


def compare(port_a, port_b, ids, paths, reps):
    """The same requests against two servers, interleaved (which goes first alternates)."""
    conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=600) for p in (port_a, port_b)]

    def both(method, path):
        bodies = [timed(c, method, path)[1] for c in conns]  # warm (a first filter builds its index)
        ts = ([], [])
        for r in range(reps):
            for k in ((0, 1) if r % 2 == 0 else (1, 0)):
                us, body = timed(conns[k], method, path)
                ts[k].append(us)
        return statistics.median(ts[0]), statistics.median(ts[1]), bodies[0] == bodies[1]

    a, b, same = both("HEAD", "/v1/images/" + ids[len(ids) // 3 + 1])
    print("CMP a_us=%.0f b_us=%.0f b/a=%.3f same_body=%s path=HEAD round trip"
          % (a, b, b / a, "yes" if same else "NO"))
    for path in paths:
        a, b, same = both("GET", path)
        print("CMP a_us=%.0f b_us=%.0f b/a=%.3f same_body=%s path=%s"
              % (a, b, b / a, "yes" if same else "NO", path))
        sys.stdout.flush()


def report(small_path, large_path):
    """Side by side: the same rows at two catalogue sizes, with issue 17's targets."""
    def rows(path):
        out = {}
        with open(path) as f:
            for line in f:
                if line.startswith("ROW "):
                    head, name = line.rstrip("\n").split(" name=", 1)
                    kv = dict(x.split("=", 1) for x in head.split()[1:])
                    out[name] = (float(kv["median_us"]), float(kv["p90_us"]))
        return out
    small, large = rows(small_path), rows(large_path)
    head_s = small.get("HEAD round trip", (0, 0))[0]
    head_l = large.get("HEAD round trip", (0, 0))[0]
    print("| request | small: median µs | large: median µs (p90) | large / small | large / HEAD | target | met |")
    print("|---|---:|---:|---:|---:|---|---|")
    worst = {"page": [0.0, 0.0], "filtered": [0.0, 0.0]}
    for name, (med, p90) in large.items():
        s_med = small.get(name, (0, 0))[0]
        r_small = med / s_med if s_med else 0
        r_head = med / head_l if head_l else 0
        if name.startswith("page"):
            target, ok = "≤ 1.5 × small, ≤ 5 × HEAD", r_small <= 1.5 and r_head <= 5
            worst["page"] = [max(worst["page"][0], r_small), max(worst["page"][1], r_head)]
        elif name.startswith("filtered:"):
            target, ok = "≤ 50 × HEAD", r_head <= 50
            worst["filtered"] = [max(worst["filtered"][0], r_small), max(worst["filtered"][1], r_head)]
        else:
            target, ok = "—", None
        met = "—" if ok is None else ("yes" if ok else "**no**")
        print("| %s | %.0f | %.0f (%.0f) | %.2f | %.2f | %s | %s |"
              % (name, s_med, med, p90, r_small, r_head, target, met))
    print()
    print("HEAD round trip (same client): %.0f µs (small), %.0f µs (large)." % (head_s, head_l))
    print("Worst unfiltered page: %.2f × small, %.2f × HEAD; worst filtered page: %.2f × HEAD."
          % (worst["page"][0], worst["page"][1], worst["filtered"][1]))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--report":
        report(sys.argv[2], sys.argv[3])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("ids")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--follow", action="store_true")
    ap.add_argument("--page", type=int, default=20)
    ap.add_argument("--max-pages", type=int)
    ap.add_argument("--only", help="substring of the row names to run")
    ap.add_argument("--set", choices=["typical", "tenant"], default="typical")
    ap.add_argument("--against", type=int, help="a second server's port (with --path)")
    ap.add_argument("--path", action="append", default=[], help="a request path (with --against)")
    a = ap.parse_args()
    with open(a.ids) as f:
        ids = [line.strip() for line in f if line.strip()]
    if a.against:
        compare(a.port, a.against, ids, a.path, a.reps)
        return 0
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=600)
    if a.follow:
        follow(conn, a.page, a.max_pages)
        return 0
    if a.set == "tenant":
        rows, _ = tenant_queries(ids)
        head_headers = ADMIN_HEADERS
    else:
        rows, _ = queries(ids)
        rows = [(name, path, None) for name, path in rows]
        head_headers = None
    med, p90, _ = measure(conn, "HEAD", "/v1/images/" + ids[len(ids) // 3 + 1], max(a.reps, 200), head_headers)
    print("ROW median_us=%.0f p90_us=%.0f bytes=0 name=HEAD round trip" % (med, p90))
    for name, path, headers in rows:
        if a.only and a.only not in name:
            continue
        med, p90, size = measure(conn, "GET", path, a.reps, headers)
        print("ROW median_us=%.0f p90_us=%.0f bytes=%d name=%s" % (med, p90, size, name))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
