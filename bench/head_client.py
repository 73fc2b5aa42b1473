#!/usr/bin/env python3
"""Send exactly COUNT HEAD /v1/images/<id> requests over one keep-alive connection.

Used by bench/profile.sh where an exact request count matters (allocation and syscall counts
per request); ids are drawn at random from IDS (one per line), or made unknown with --unknown.
Usage: head_client.py PORT IDS COUNT [--unknown]
"""
import http.client
import random
import sys


def main():
    port, ids_path, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    unknown = "--unknown" in sys.argv[4:]
    with open(ids_path) as f:
        ids = [line.strip() for _, line in zip(range(100000), f) if line.strip()]
    rng = random.Random(1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    codes = {}
    for _ in range(count):
        i = rng.choice(ids)
        if unknown:
            i = "00000000" + i[8:]
        conn.request("HEAD", "/v1/images/" + i)
        r = conn.getresponse()
        r.read()
        codes[r.status] = codes.get(r.status, 0) + 1
    conn.close()
    print(" ".join("%d:%d" % kv for kv in sorted(codes.items())))


if __name__ == "__main__":
    main()
