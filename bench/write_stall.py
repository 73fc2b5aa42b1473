#!/usr/bin/env python3
"""HEAD latency while writes come in, e.g. during the start-up warm-up of the list orders.

  write_stall.py PORT IDS_FILE SECONDS

One connection sends HEADs of random ids (the first 100,000 of IDS_FILE) in a loop; a second
connection PUTs a property on one of the first 1,000 ids every 50 ms. Prints how many HEADs
were answered, the slowest, the 99.9th percentile and how many took over 100 ms. Start it
right after the server logs "list orders ready" to cover the build of the other orders.
Only 127.0.0.1 is contacted.
"""
import http.client, sys, time, threading, random
port, ids, secs = int(sys.argv[1]), open(sys.argv[2]).read().split()[:100000], float(sys.argv[3])
stop = time.time() + secs
lat = []
def heads():
    c = http.client.HTTPConnection("127.0.0.1", port)
    while time.time() < stop:
        t = time.perf_counter()
        c.request("HEAD", "/v1/images/" + random.choice(ids)); r = c.getresponse(); r.read()
        lat.append((time.perf_counter() - t) * 1000)
def puts():
    c = http.client.HTTPConnection("127.0.0.1", port)
    n = 0
    while time.time() < stop:
        c.request("PUT", "/v1/images/" + ids[n % 1000], headers={"x-image-meta-property-stall": str(n)}); c.getresponse().read()
        n += 1; time.sleep(0.05)
ts = [threading.Thread(target=heads), threading.Thread(target=puts)]
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
print(f"heads={len(lat)} max_ms={lat[-1]:.1f} p999_ms={lat[int(len(lat)*0.999)]:.1f} over100ms={sum(1 for x in lat if x > 100)}")
