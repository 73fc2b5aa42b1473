#!/usr/bin/env python3
"""Writes a `--persist` state directory with N images straight into Glance's registry
schema (src/store/glance_schema.sql), for the start-up measurement in docs/performance.md.

usage: gen_glance_db.py N DIR

Per image: one `images` row (UUID id, a name, raw/bare, an owner among 1000 tenants,
microsecond timestamps, checksum and size), two live properties and one soft-deleted one;
every 10th image has two members (one soft-deleted); every active image has a location row
`file://DIR/images/<id>` (the files themselves are not written: start-up does not read
them); every 50th image is deleted. Rows are written as Glance writes them (see
src/store/sqlite/ for the mapping).
"""
import os
import random
import sqlite3
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    n, d = int(sys.argv[1]), sys.argv[2]
    os.makedirs(os.path.join(d, "images"), exist_ok=True)
    path = os.path.join(d, "glance.sqlite")
    if os.path.exists(path):
        sys.exit(path + " exists")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=OFF")
    db.executescript(open(os.path.join(ROOT, "src", "store", "glance_schema.sql")).read())
    db.execute("BEGIN")
    db.execute("INSERT INTO migrate_version VALUES ('Glance Migrations', "
               "'glance/db/sqlalchemy/migrate_repo', 0)")
    db.execute("INSERT INTO alembic_version VALUES ('pike01')")
    rnd = random.Random(14)
    imgs, props, members, locs = [], [], [], []

    def ts(i, extra=0):
        s = 1_600_000_000 + i * 7 + extra
        return "%s.%06d" % (time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s)),
                            rnd.randrange(1_000_000))

    def flush():
        db.executemany("INSERT INTO images VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", imgs)
        db.executemany("INSERT INTO image_properties (image_id, name, value, created_at, "
                       "updated_at, deleted_at, deleted) VALUES (?,?,?,?,?,?,?)", props)
        db.executemany("INSERT INTO image_members (image_id, member, can_share, created_at, "
                       "updated_at, deleted_at, deleted, status) VALUES (?,?,?,?,?,?,?,?)",
                       members)
        db.executemany("INSERT INTO image_locations (image_id, value, created_at, updated_at, "
                       "deleted_at, deleted, meta_data, status) VALUES (?,?,?,?,?,?,?,?)",
                       locs)
        for x in (imgs, props, members, locs):
            x.clear()

    for i in range(n):
        iid = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        created = ts(i)
        updated = ts(i, 60)
        deleted = i % 50 == 0
        status = "deleted" if deleted else ("active" if i % 5 else "queued")
        size = rnd.randrange(1 << 20, 1 << 32) if status != "queued" else 0
        checksum = "%032x" % rnd.getrandbits(128) if status != "queued" else None
        imgs.append((iid, "image-%07d" % i, size, status, created, updated,
                     updated if deleted else None, int(deleted), "raw", "bare", checksum,
                     "tenant-%03d" % (i % 1000), 0, 0, 0, None,
                     "public" if i % 3 == 0 else "shared"))
        props.append((iid, "os_distro", "ubuntu", created, created, None, 0))
        props.append((iid, "build", str(i), created, created, None, 0))
        props.append((iid, "old", "x", created, updated, updated, 1))
        if i % 10 == 0:
            members.append((iid, "tenant-%03d" % ((i + 1) % 1000), 0, created, created, None,
                            0, "pending"))
            members.append((iid, "tenant-%03d" % ((i + 2) % 1000), 1, created, updated,
                            updated, 1, "pending"))
        if status == "active":
            locs.append((iid, "file://%s/images/%s" % (os.path.abspath(d), iid), updated,
                         updated, None, 0, "{}", "active"))
        if len(imgs) >= 20000:
            flush()
    flush()
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    print("%d images, %d bytes (%.0f bytes per image)" % (
        n, os.path.getsize(path), os.path.getsize(path) / max(n, 1)))


if __name__ == "__main__":
    main()
