#!/usr/bin/env python3
"""Times one request of each kind a client sends, against a running glance-emu on a large
catalogue (the bench data of bench/run.sh): HEAD, GET, every v1 list sort and filter with
and without a deep marker, members, writes, the compute lists, views and metadata, and the
control API when it is on. Prints the median and the slowest of REPS requests per row; a
slow first request is an index built on first use (see docs/performance.md).

    bench/endpoint_sweep.py PORT IDS_FILE [REPS]
    TENANT=<owner> bench/endpoint_sweep.py ...   (trusted-headers mode: that tenant's view)

Writes go to the server it is pointed at (a create, an update, a delete, a member, a
metadata key per REPS). Only 127.0.0.1 is contacted."""
import http.client, sys, time, random, json, statistics
port = int(sys.argv[1]); ids = open(sys.argv[2]).read().split()
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
random.seed(7)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
import os
AUTH = {}
if os.environ.get("TENANT"):
    AUTH = {"X-Identity-Status": "Confirmed", "X-Tenant-Id": os.environ["TENANT"], "X-User-Id": "u1", "X-Roles": os.environ.get("ROLES", "member")}
def req(m, p, body=None, h=None):
    h = dict(AUTH, **(h or {}))
    t = time.perf_counter()
    c.request(m, p, body=body, headers=h)
    r = c.getresponse(); data = r.read()
    return (time.perf_counter() - t) * 1000, r.status, len(data), r
TEN = "6513270e269e0d37f2a74de452e6b438"
deep = ids[len(ids)*3//4]
rows = []
def row(name, m, p, body=None, h=None, n=None):
    ts = []; st = None
    for i in range(n or reps):
        ms, st, ln, _ = req(m, p() if callable(p) else p, body() if callable(body) else body, h)
        ts.append(ms)
    rows.append((name, st, ln, statistics.median(ts), max(ts)))
    print(f"{statistics.median(ts):9.2f} ms (max {max(ts):9.2f})  {st} {ln:>9}B  {name}", flush=True)
rid = lambda: random.choice(ids)
row("HEAD image", "HEAD", lambda: f"/v1/images/{rid()}")
row("GET versions", "GET", "/versions")
row("GET image (data)", "GET", lambda: f"/v1/images/{rid()}")
row("list", "GET", "/v1/images?limit=20")
row("detail", "GET", "/v1/images/detail?limit=20")
row("detail default limit", "GET", "/v1/images/detail")
row("detail deep marker", "GET", f"/v1/images/detail?limit=20&marker={deep}")
for k in ["name","status","size","id","created_at","updated_at","disk_format","container_format"]:
    for d in ["asc","desc"]:
        row(f"detail sort {k} {d} deep", "GET", f"/v1/images/detail?limit=20&sort_key={k}&sort_dir={d}&marker={deep}")
for f in ["name=image-500000","status=active","status=queued","disk_format=raw","container_format=ovf",
          "size_min=900000000","size_max=1000","size_min=1&size_max=2","changes-since=2016-06-01T00:00:00",
          "changes-since=2099-01-01T00:00:00","property-os_distro=ubuntu","property-os_distro=nope",
          "is_public=None","is_public=false","is_public=true","name=nope","min_ram=512","owner="+TEN,
          "protected=true","checksum=5d158a2ff2ee4e4519f9919c895fd7b3"]:
    row(f"detail ?{f}", "GET", f"/v1/images/detail?limit=20&{f}")
    row(f"detail ?{f} marker", "GET", f"/v1/images/detail?limit=20&{f}&marker={deep}")
row("members of image", "GET", lambda: f"/v1/images/{rid()}/members")
row("shared-images tenant", "GET", f"/v1/shared-images/{TEN}")
row("shared-images other", "GET", "/v1/shared-images/nobody")
row("PUT member", "PUT", lambda: f"/v1/images/{rid()}/members/{TEN}", body=b"", n=5)
row("create image", "POST", "/v1/images", body=b"", h={"x-image-meta-name":"new","x-image-meta-disk_format":"raw","x-image-meta-container_format":"bare"})
row("update image", "PUT", lambda: f"/v1/images/{rid()}", body=b"", h={"x-image-meta-name":"renamed","x-image-meta-property-foo":"bar"})
row("list after writes", "GET", "/v1/images/detail?limit=20")
row("sort name after writes", "GET", f"/v1/images/detail?limit=20&sort_key=name&marker={deep}")
row("delete image", "DELETE", lambda: f"/v1/images/{rid()}")
row("compute list, limit 1000", "GET", f"/v2/{TEN}/images?limit=1000")
row("compute detail", "GET", f"/v2/{TEN}/images/detail?limit=20")
row("compute detail marker", "GET", f"/v2/{TEN}/images/detail?limit=20&marker={deep}")
for f in ["name=image-500000","status=ACTIVE","type=snapshot","minRam=600","minDisk=5","changes-since=2016-06-01T00:00:00","server=abc","property-os_distro=ubuntu"]:
    row(f"compute detail ?{f}", "GET", f"/v2/{TEN}/images/detail?limit=20&{f}")
row("compute show", "GET", lambda: f"/v2/{TEN}/images/{rid()}")
row("compute metadata", "GET", lambda: f"/v2/{TEN}/images/{rid()}/metadata")
row("compute meta set", "PUT", lambda: f"/v2/{TEN}/images/{rid()}/metadata/k", body=b'{"meta":{"k":"v"}}', h={"content-type":"application/json"})
if os.environ.get("NO_CONTROL") is None:
  row("control root", "GET", "/_emu")
  row("control image", "GET", lambda: f"/_emu/images/{rid()}")
  row("control journal", "GET", "/_emu/journal")
