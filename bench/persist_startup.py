#!/usr/bin/env python3
"""Start-up time of `glance-emu --persist DIR` on an existing state directory (issue 14):
wall time from exec to the "listening" line, the CPU time the process used until then
(user + system, from /proc/PID/stat: the figure that holds on a loaded machine), the
process's peak RSS (VmHWM) at that point, the load average, and the database size per
image.

usage: persist_startup.py BINARY [BINARY...] DIR [--runs N]

With several binaries, the runs alternate between them (A B A B ...), so that a comparison
sees the same machine load.

DIR is typically made by bench/gen_glance_db.py (1,000,000 images). Each run starts the
binary with an empty --data directory, waits for the listening line, reads
/proc/PID/status, sends one HEAD to 127.0.0.1 to check it serves, and kills it. The first
run also pays for reading the database from disk into the page cache; runs after it are
warm.
"""
import argparse
import http.client
import os
import subprocess
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="+")
    ap.add_argument("dir")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    db = os.path.join(a.dir, "glance.sqlite")
    empty = tempfile.mkdtemp()
    tick = os.sysconf("SC_CLK_TCK")
    for run, binary in [(r, b) for r in range(a.runs) for b in a.binary]:
        load = os.getloadavg()[0]
        t = time.perf_counter()
        p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--data", empty,
                              "--persist", a.dir], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        dt = time.perf_counter() - t
        if "listening" not in line:
            p.kill()
            raise SystemExit("did not start: %r %s" % (line, p.stderr.read()))
        hwm = [ln for ln in open("/proc/%d/status" % p.pid) if ln.startswith("VmHWM")][0]
        stat = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / tick
        addr = line.split("http://")[1].split()[0]
        host, port = addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=10)
        c.request("HEAD", "/v1/images/does-not-exist")
        status = c.getresponse().status
        p.kill()
        p.wait()
        print("%s run %d: %.2f s to listening, %.2f s CPU (%s), peak RSS %s, load %.1f, "
              "HEAD -> %d" % (binary, run + 1, dt, cpu, line.split("(")[1].rstrip(")\n"),
                              hwm.split(":")[1].strip(), load, status))
    size = os.path.getsize(db)
    wal = db + "-wal"
    if os.path.exists(wal):
        size += os.path.getsize(wal)
    print("database: %d bytes" % size)


if __name__ == "__main__":
    main()
