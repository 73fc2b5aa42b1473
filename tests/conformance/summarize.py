#!/usr/bin/env python3
"""Group the differences of an oracle report by what differs (ids and tenants masked).

usage: summarize.py REPORT [N]   -> the N (default 60) largest classes, with one example each
"""
import collections
import re
import sys

rep = open(sys.argv[1], encoding="utf-8").read()
n = int(sys.argv[2]) if len(sys.argv) > 2 else 60
blocks = rep.split("\n=== ")[1:]
cls = collections.OrderedDict()
for b in blocks:
    head = b.split("\n", 1)[0]
    m = re.search(r"^--- diff: (.*)$", b, re.M)
    d = m.group(1) if m else "?"
    d = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", d)
    d = re.sub(r"([a-d0-9])\1{15}|(ad0){10}ad", "<t>", d)
    d = re.sub(r"body@\d+", "body@", d)
    d = re.sub(r"Content-Length: '\d+' vs '\d+'", "Content-Length", d)
    d = d[:230]
    cls.setdefault(d, []).append(head)
for d, heads in sorted(cls.items(), key=lambda x: -len(x[1]))[:n]:
    print("%4d  %s\n        e.g. %s" % (len(heads), d, heads[0][:150]))
print("%d differences in %d classes" % (len(blocks), len(cls)))
