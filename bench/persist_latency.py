#!/usr/bin/env python3
"""Write latency with `--persist` (issue 14): per create (POST /v1/images with two
properties) and per update (PUT /v1/images/<id> with a new name and a property), median
and p99, for one or more glance-emu binaries in the same run, in interleaved rounds (this
VM's fsync time drifts; interleaving shares the drift between the binaries).

usage: persist_latency.py [--writes N] [--rounds R] [--dir D] LABEL=BINARY [LABEL=BINARY ...]

Each round starts every binary on a fresh state directory under D (default: a temporary
directory beside this script's repository, i.e. on the same disk as a real deployment
would use, not tmpfs), sends N creates then N updates on one keep-alive connection, and
stops it. Only 127.0.0.1 is contacted.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time


def start(binary, state, empty):
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data", empty,
                          "--persist", state], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    addr = line.split("http://")[1].split()[0]
    host, port = addr.rsplit(":", 1)
    return p, host, int(port)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def one_round(binary, n, root):
    state = tempfile.mkdtemp(dir=root)
    empty = tempfile.mkdtemp(dir=root)
    p, host, port = start(binary, state, empty)
    c = http.client.HTTPConnection(host, port, timeout=30)
    creates, updates, ids = [], [], []
    try:
        for i in range(n):
            h = {"x-image-meta-name": "bench-%d" % i, "x-image-meta-disk_format": "raw",
                 "x-image-meta-container_format": "bare",
                 "x-image-meta-property-os_distro": "ubuntu",
                 "x-image-meta-property-seq": str(i)}
            t = time.perf_counter()
            c.request("POST", "/v1/images", headers=h)
            r = c.getresponse()
            body = r.read()
            creates.append(time.perf_counter() - t)
            assert r.status == 201, (r.status, body[:200])
            ids.append(json.loads(body)["image"]["id"])
        for i, img in enumerate(ids):
            h = {"x-image-meta-name": "renamed-%d" % i, "x-image-meta-property-rev": "2"}
            t = time.perf_counter()
            c.request("PUT", "/v1/images/" + img, headers=h)
            r = c.getresponse()
            r.read()
            updates.append(time.perf_counter() - t)
            assert r.status == 200, r.status
    finally:
        c.close()
        p.kill()
        p.wait()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(state) for f in fs)
    shutil.rmtree(state, ignore_errors=True)
    shutil.rmtree(empty, ignore_errors=True)
    return creates, updates, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("bins", nargs="+")
    a = ap.parse_args()
    bins = [b.split("=", 1) for b in a.bins]
    root = a.dir or tempfile.mkdtemp(prefix="persist-bench-",
                                     dir=os.path.dirname(os.path.abspath(__file__)))
    res = {label: ([], [], []) for label, _ in bins}
    for _ in range(a.rounds):
        for label, binary in bins:
            c, u, size = one_round(binary, a.writes, root)
            res[label][0].extend(c)
            res[label][1].extend(u)
            res[label][2].append(size)
    if not a.dir:
        shutil.rmtree(root, ignore_errors=True)
    print("| binary | creates | create median | create p99 | updates | update median | "
          "update p99 | state bytes after %d creates + %d updates |" % (a.writes, a.writes))
    print("|---|---|---|---|---|---|---|---|")
    for label, _ in bins:
        c, u, sizes = res[label]
        ms = lambda x: "%.2f ms" % (x * 1000)
        print("| %s | %d | %s | %s | %d | %s | %s | %d |" % (
            label, len(c), ms(statistics.median(c)), ms(pct(c, 0.99)), len(u),
            ms(statistics.median(u)), ms(pct(u, 0.99)), int(statistics.median(sizes))))


if __name__ == "__main__":
    main()
