#!/usr/bin/env python3
"""Generate N typical Glance v1 image records for the glance-emu benchmark.

Writes OUT (a fixture file `{"images": [...]}`) and, with --ids, a file with one id per
line (the same ids, in record order) for the load generator. Each record is "typical":
the 15 core fields set (id, name, status, size, checksum, disk_format, container_format,
min_disk, min_ram, owner, is_public, protected, deleted, created_at, updated_at) and two
properties. Ids are random UUID4s from a seeded generator, so a given (N, seed) always
gives the same file. Streaming: records are formatted in chunks and written as they go,
so memory stays flat and 1,000,000 records take a few seconds.

With --distinct-owners every record has an owner of its own (no shared owner string) and
no properties: the data set of issue 17's second memory figure. It is also the tenant
data set: 0.1 % of it public (i % 1000 == 1), the tenant TENANT owns every 10,000th record
(i % 10000 == 0) and is a member of every 50,000th (i % 50000 == 25), so its view is
about 0.1 % of the catalogue.

Usage: gen_fixtures.py N OUT [--ids IDS] [--seed S] [--distinct-owners]
"""
import argparse
import random
import sys

DISK = ["qcow2", "raw", "vmdk", "iso", "vhd"]
CONTAINER = ["bare", "ovf", "bare", "bare"]
BUS = ["virtio", "scsi", "ide"]
DISTRO = ["ubuntu", "centos", "debian", "cirros", "fedora"]
TENANT = "b" * 32


def uuid4(r):
    h = "%032x" % ((r & ~(0xF000 << 64) & ~(0xC << 60)) | (0x4000 << 64) | (0x8 << 60))
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--ids")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--distinct-owners", action="store_true")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    bits = rng.getrandbits
    owners = ["%032x" % bits(128) for _ in range(64)]
    chunk = 10000

    def owner_of(i):
        if not a.distinct_owners:
            return owners[i % 64]
        return TENANT if i % 10000 == 0 else "%032x" % bits(128)

    def public(i):
        if a.distinct_owners:
            return "true" if i % 1000 == 1 else "false"
        return "true" if i % 3 else "false"
    seen = set()
    with open(a.out, "w", buffering=1 << 20) as f, (
        open(a.ids, "w", buffering=1 << 20) if a.ids else open("/dev/null", "w")
    ) as fi:
        f.write('{"images": [\n')
        done = 0
        while done < a.n:
            k = min(chunk, a.n - done)
            recs = []
            ids = []
            for i in range(done, done + k):
                u = uuid4(bits(128))
                while u in seen:  # never in practice; keeps ids unique by construction
                    u = uuid4(bits(128))
                seen.add(u)
                ids.append(u)
                day = 1 + i % 28
                sec = i % 86400
                ts = "2016-05-%02dT%02d:%02d:%02d.%06d" % (
                    day, sec // 3600, sec // 60 % 60, sec % 60, bits(20) % 1000000)
                ts2 = "2016-06-%02dT%02d:%02d:%02d.%06d" % (
                    day, sec // 3600, sec // 60 % 60, sec % 60, bits(20) % 1000000)
                recs.append(
                    '{"id": "%s", "name": "image-%d", "status": "active", "size": %d, '
                    '"checksum": "%032x", "disk_format": "%s", "container_format": "%s", '
                    '"min_disk": %d, "min_ram": %d, "owner": "%s", "is_public": %s, '
                    '"protected": false, "deleted": false, "created_at": "%s", '
                    '"updated_at": "%s"%s}'
                    % (u, i, 1000000 + bits(30), bits(128), DISK[i % 5], CONTAINER[i % 4],
                       i % 40, (i % 8) * 512,
                       owner_of(i), public(i), ts, ts2,
                       (', "members": [{"member_id": "%s", "can_share": false}]' % TENANT
                        if i % 50000 == 25 else "") if a.distinct_owners else
                       ', "properties": {"hw_disk_bus": "%s", "os_distro": "%s"}'
                       % (BUS[i % 3], DISTRO[i % 5])))
            if done:
                f.write(",\n")
            f.write(",\n".join(recs))
            fi.write("\n".join(ids))
            fi.write("\n")
            done += k
        f.write("\n]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
