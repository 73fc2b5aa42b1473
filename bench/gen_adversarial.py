#!/usr/bin/env python3
"""A copy of a bench fixture (bench/gen_fixtures.py) where the N oldest records (by
created_at, then id) are the only ones with min_ram=777, protected=true and
property os_distro=plan9: three common values (N > 4,096) whose records all sit at the far
end of the default order (created_at desc), so that a page filtering on one of them walks
the whole catalogue. Used for the issue 17 figures in docs/performance.md.

Usage: gen_adversarial.py IN.json OUT.json [--oldest 5000]
"""
import argparse
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--oldest", type=int, default=5000)
    a = ap.parse_args()
    created = re.compile(r'"created_at": "([^"]*)"')
    ident = re.compile(r'"id": "([^"]*)"')
    keys = []
    with open(a.src) as f:
        for n, line in enumerate(f):
            m = created.search(line)
            if m:
                keys.append((m.group(1), ident.search(line).group(1), n))
    keys.sort()
    oldest = {n for _, _, n in keys[: a.oldest]}
    with open(a.src) as f, open(a.out, "w", buffering=1 << 20) as out:
        for n, line in enumerate(f):
            if n in oldest:
                line = re.sub(r'"min_ram": \d+', '"min_ram": 777', line)
                line = line.replace('"protected": false', '"protected": true')
                line = re.sub(r'"os_distro": "[^"]*"', '"os_distro": "plan9"', line)
            out.write(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
