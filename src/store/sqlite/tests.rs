//! The SQLite mapping against fresh, edited and real Glance databases.

use super::*;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// (row id, member, deleted) of every member row of `i`, live and soft-deleted.
fn member_rows_of(i: &Image) -> Vec<(u32, String, bool)> {
    i.members
        .rows()
        .into_iter()
        .map(|r| (r.id, r.member.member_id, r.deleted))
        .collect()
}

/// The first column of every row `sql` selects.
fn column<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Vec<T> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn img(id: &str) -> Image {
    Image::new(ImageId::new(id).unwrap(), ts("2026-11-22T13:40:23.526723"))
}

fn rich() -> Vec<Image> {
    let mut a = img("11111111-1111-1111-1111-111111111111");
    a.name = Some("queued one".into());
    a.disk_format = Some("raw".into());
    a.container_format = Some("bare".into());
    a.min_disk = 3;
    a.min_ram = 512;
    a.owner = Some("tenant-a".into());
    a.updated_at = ts("2026-11-22T13:40:23.000001");
    a.set_property("os_distro".into(), Some("ubuntu".into()));
    a.set_property("null_one".into(), None);
    a.set_property("naïve".into(), Some("café".into()));
    let mut b = img("22222222-2222-2222-2222-222222222222");
    b.status = Status::Active;
    b.is_public = true;
    b.protected = true;
    b.size = Some(18);
    b.virtual_size = Some(1 << 40);
    b.checksum = Checksum::new("92156da63dd97f86b83b0d2a08c51b22");
    b.data = ImageData::Bytes(Box::new(Bytes::from_static(b"hello glance bytes"))).into();
    b.members = vec![
        Member {
            member_id: "tenant-c".into(),
            can_share: false,
        },
        Member {
            member_id: "tenant-b".into(),
            can_share: true,
        },
    ]
    .into();
    let mut c = img("33333333-3333-3333-3333-333333333333");
    c.status = Status::Deleted;
    c.deleted = true;
    c.deleted_at = Some(ts("2026-11-23T00:00:00.000000"));
    c.size = None;
    c.name = None;
    let mut d = img("not-a-uuid");
    d.status = Status::Killed;
    d.size = Some(999);
    vec![a, b, c, d]
}

fn dump(images: &[Image]) -> Vec<String> {
    let mut v: Vec<String> = images.iter().map(|i| format!("{i:?}")).collect();
    v.sort();
    v
}

fn reload(dir: &Path) -> Vec<Image> {
    Db::open(dir)
        .unwrap()
        .load(&mut Interner::default())
        .unwrap()
        .images
        .into_iter()
        .map(Arc::unwrap_or_clone)
        .collect()
}

// Rule: A new state directory gets Glance 15's registry schema exactly (40 statements, visibility column, revision pike01) and an images/ folder.
#[test]
fn fresh_database_has_the_pike_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let sql: Vec<String> = column(
        &db.conn,
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid",
    );
    assert_eq!(sql.len(), 40);
    assert!(sql[0].starts_with("CREATE TABLE migrate_version ("));
    assert!(sql
        .iter()
        .any(|s| s.contains("visibility VARCHAR(9) DEFAULT 'shared' NOT NULL")));
    let rev: String = db
        .conn
        .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rev, "pike01");
    assert!(dir.path().join("images").is_dir());
}

// Rule: Every field of a record comes back from the database unchanged; bytes move to images/<id> and the rows are the ones Glance writes (visibility, SQL timestamps, file:// location).
#[test]
fn every_field_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let mut puts = rich();
    db.commit(&mut puts, &[]).unwrap();
    // The bytes were written to images/<id> and the record now names that file.
    let target = dir
        .path()
        .join("images/22222222-2222-2222-2222-222222222222");
    assert_eq!(std::fs::read(&target).unwrap(), b"hello glance bytes");
    match &*puts[1].data {
        ImageData::File { path, len } => {
            assert_eq!(**path, target);
            assert_eq!(*len, 18);
        }
        other => panic!("{other:?}"),
    }
    drop(db);
    assert_eq!(dump(&reload(dir.path())), dump(&puts));
    // The rows are the ones Glance writes.
    let db = Db::open(dir.path()).unwrap();
    let (vis, created): (String, String) = db
        .conn
        .query_row(
            "SELECT visibility, created_at FROM images WHERE id = '22222222-2222-2222-2222-222222222222'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(vis, "public");
    assert_eq!(created, "2026-11-22 13:40:23.526723");
    let loc: String = db
        .conn
        .query_row("SELECT value FROM image_locations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(loc, format!("file://{}", target.display()));
}

// Rule: Updates soft-delete removed property and member rows and revive them in place when they come back (members keep their place); a restart loads the deleted member rows the registry's calls can still find.
#[test]
fn updates_soft_delete_and_keep_member_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let mut puts = rich();
    db.commit(&mut puts, &[]).unwrap();
    let row_of = |i: &Image, m: &str| {
        i.members
            .rows()
            .into_iter()
            .find(|r| r.member.member_id == m)
            .unwrap()
            .id
    };
    let mut a = puts[0].clone();
    a.updated_at = ts("2026-11-24T01:02:03.000004");
    a.remove_property("os_distro");
    a.set_property("new".into(), Some("1".into()));
    let mut b = puts[1].clone();
    b.members.soft_delete(row_of(&b, "tenant-c"));
    b.members.push(Member {
        member_id: "tenant-d".into(),
        can_share: false,
    });
    b.members[0].can_share = false;
    b.is_public = false;
    let mut two = [a, b];
    db.commit(&mut two, &[]).unwrap();
    let [a, b] = two;
    // Back again: the deleted property row revives, and so does the member's row, in
    // its old place (the registry's image_member_update).
    let mut a2 = a.clone();
    a2.set_property("os_distro".into(), Some("debian".into()));
    let mut b2 = b.clone();
    b2.members.update_row(row_of(&b, "tenant-c"), true);
    let mut two = [a2, b2];
    db.commit(&mut two, &[]).unwrap();
    let [a2, b2] = two;
    let members: Vec<&str> = b2.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(members, ["tenant-c", "tenant-b", "tenant-d"]);
    let count = |db: &Db, sql: &str| -> i64 { db.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM image_properties WHERE deleted = 1"
        ),
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM image_members WHERE deleted = 1"),
        0
    );
    assert_eq!(count(&db, "SELECT count(*) FROM image_members"), 3);
    drop(db);
    let got = reload(dir.path());
    let want = vec![a2, b2.clone(), puts[2].clone(), puts[3].clone()];
    assert_eq!(dump(&got), dump(&want));
    let b_got = got.iter().find(|i| i.id == b2.id).unwrap();
    assert_eq!(b_got.members, b2.members);
    // Deleted rows come back after a restart: a member removed twice at the same
    // instant (a list naming it twice) keeps both rows in the database (the second a
    // microsecond later), and a restart loads the one the registry can still find.
    let mut db = Db::open(dir.path()).unwrap();
    let mut b3 = b2.clone();
    b3.members.soft_delete(row_of(&b3, "tenant-d"));
    b3.members.push(Member {
        member_id: "tenant-e".into(),
        can_share: false,
    });
    b3.members.push(Member {
        member_id: "tenant-e".into(),
        can_share: true,
    });
    db.commit(std::slice::from_mut(&mut b3), &[]).unwrap();
    for r in b3.members.rows() {
        if r.member.member_id == "tenant-e" {
            b3.members.soft_delete(r.id);
        }
    }
    db.commit(std::slice::from_mut(&mut b3), &[]).unwrap();
    assert_eq!(
        count(&db, "SELECT count(*) FROM image_members WHERE deleted = 1"),
        3
    );
    drop(db);
    let got = reload(dir.path());
    let b_got = got.iter().find(|i| i.id == b3.id).unwrap();
    let mut want_rows = member_rows_of(&b3);
    let second_e = want_rows.iter().rposition(|r| r.1 == "tenant-e").unwrap();
    want_rows.remove(second_e);
    assert_eq!(member_rows_of(b_got), want_rows);
    // Members in a new order (a record replaced outright) are written again in that
    // order.
    let mut db = Db::open(dir.path()).unwrap();
    let mut b4 = b_got.clone();
    b4.members.reverse();
    db.commit(std::slice::from_mut(&mut b4), &[]).unwrap();
    drop(db);
    let got = reload(dir.path());
    let b_got = got.iter().find(|i| i.id == b4.id).unwrap();
    assert_eq!(format!("{:?}", b_got.members), format!("{:?}", b4.members));
    assert_eq!(member_rows_of(b_got), member_rows_of(&b4));
}

// Rule: Member rows written by glance-emu before revivals were made in place (a revival as a new row, a reordered list rewritten) load as the record was, deleted images' member rows load as any other's, and the next write removes the leftovers.
#[test]
fn member_rows_of_earlier_versions_load_as_the_record_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let mut puts = rich();
    puts[1].members = Members::default();
    db.commit(&mut puts, &[]).unwrap();
    let (live, dead) = (&puts[1].id, &puts[2].id);
    // tenant-a and tenant-b: deleted rows (a removal, the rows retired by a reorder)
    // before the live rows written again; tenant-c: removed twice; tenant-x: a row of
    // the deleted image.
    let rows = [
        (live, "tenant-a", 1),
        (live, "tenant-b", 1),
        (live, "tenant-a", 0),
        (live, "tenant-b", 0),
        (live, "tenant-c", 1),
        (live, "tenant-c", 1),
        (dead, "tenant-x", 1),
    ];
    for (n, (image, member, deleted)) in rows.iter().enumerate() {
        db.conn
            .execute(
                "INSERT INTO image_members (image_id, member, can_share, created_at, \
                 updated_at, deleted_at, deleted, status) VALUES (?1, ?2, 0, \
                 '2026-11-22 13:40:23.526723', NULL, CASE WHEN ?3 = 1 THEN ?4 END, ?3, \
                 'pending')",
                params![
                    image.as_str(),
                    member,
                    deleted,
                    format!("2026-11-22 13:40:2{n}")
                ],
            )
            .unwrap();
    }
    drop(db);
    let got = reload(dir.path());
    let by = |id: &ImageId| got.iter().find(|i| i.id == *id).unwrap().clone();
    let want = vec![
        (3, "tenant-a".to_string(), false),
        (4, "tenant-b".to_string(), false),
        (5, "tenant-c".to_string(), true),
    ];
    assert_eq!(member_rows_of(&by(live)), want);
    // A deleted image's rows load as any other's (a record created deleted keeps the
    // live rows added to it; here the one row is soft-deleted).
    assert_eq!(
        member_rows_of(&by(dead)),
        vec![(7, "tenant-x".to_string(), true)]
    );
    // The next write of each image: the leftovers of the live image are removed; the
    // deleted image's rows stay as they are.
    let mut db = Db::open(dir.path()).unwrap();
    let mut two = [by(live), by(dead)];
    db.commit(&mut two, &[]).unwrap();
    let ids: Vec<i64> = column(&db.conn, "SELECT id FROM image_members ORDER BY id");
    assert_eq!(ids, [3, 4, 5, 7]);
    drop(db);
    assert_eq!(
        member_rows_of(&by(live)),
        member_rows_of(reload(dir.path()).iter().find(|i| i.id == *live).unwrap())
    );
}

// Rule: An upload is moved to the Glance path before its row commits; a delete removes the bytes and soft-deletes the location.
#[test]
fn uploads_move_to_the_glance_path_and_deletes_remove_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let tmp = db.images_dir().join("upload.tmp");
    std::fs::write(&tmp, b"abc").unwrap();
    let mut i = img("44444444-4444-4444-4444-444444444444");
    i.status = Status::Active;
    i.size = Some(3);
    i.data = ImageData::File {
        path: Arc::new(tmp.clone()),
        len: 3,
    }
    .into();
    let mut puts = vec![i];
    db.commit(&mut puts, &[]).unwrap();
    let target = db.image_path(&puts[0].id).unwrap();
    assert!(!tmp.exists());
    assert_eq!(std::fs::read(&target).unwrap(), b"abc");
    let mut del = puts[0].clone();
    del.deleted = true;
    del.status = Status::Deleted;
    del.deleted_at = Some(ts("2026-11-25T00:00:00"));
    db.commit(std::slice::from_mut(&mut del), &[]).unwrap();
    assert!(!target.exists());
    let (n, status): (i64, String) = db
        .conn
        .query_row("SELECT deleted, status FROM image_locations", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((n, status.as_str()), (1, "deleted"));
    drop(db);
    let got = reload(dir.path());
    assert!(got[0].deleted && got[0].data.is_none());
}

// Rule: Records removed outright leave tombstones (to hide fixtures) until the same id is written again.
#[test]
fn removes_leave_tombstones_until_put_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    db.commit(&mut rich(), &[]).unwrap();
    db.commit(&mut [], &["not-a-uuid".into(), "fixture-only".into()])
        .unwrap();
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    let l = db.load(&mut Interner::default()).unwrap();
    assert_eq!(l.images.len(), 3);
    let mut removed = l.removed.clone();
    removed.sort();
    assert_eq!(removed, ["fixture-only", "not-a-uuid"]);
    drop(db);
    let mut db = Db::open(dir.path()).unwrap();
    db.commit(&mut [img("fixture-only")], &[]).unwrap();
    assert_eq!(
        db.load(&mut Interner::default()).unwrap().removed,
        ["not-a-uuid"]
    );
}

// Rule: A file that is not SQLite, a foreign database, another revision or a corrupt one is refused with one line naming the file.
#[test]
fn foreign_and_corrupt_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    std::fs::write(&path, b"this is not a database at all, just text\n").unwrap();
    let e = Db::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("glance.sqlite: not a SQLite database"), "{e}");
    assert!(!e.contains('\n'));

    std::fs::remove_file(&path).unwrap();
    let c = Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE notes (x TEXT)").unwrap();
    drop(c);
    let e = Db::open(dir.path()).unwrap_err().to_string();
    assert!(
        e.ends_with("not a Glance registry database (no table 'images')"),
        "{e}"
    );

    let c = Connection::open(&path).unwrap();
    c.execute_batch("DROP TABLE notes").unwrap();
    drop(c);
    Db::open(dir.path()).unwrap();
    let c = Connection::open(&path).unwrap();
    c.execute_batch("UPDATE alembic_version SET version_num = 'queens_contract01'")
        .unwrap();
    drop(c);
    let e = Db::open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("revision 'queens_contract01' is not pike01"),
        "{e}"
    );

    // A valid header with garbage after it.
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    std::fs::remove_file(dir.path().join("glance.sqlite-wal")).ok();
    std::fs::remove_file(dir.path().join("glance.sqlite-shm")).ok();
    std::fs::write(&path, bytes).unwrap();
    let e = Db::open(dir.path()).unwrap_err().to_string();
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(!e.contains('\n'));
}

// Rule: A database moved away or replaced while serving refuses writes and fails the health check.
#[test]
fn a_replaced_or_removed_database_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    db.check().unwrap();
    std::fs::rename(dir.path().join(DB_FILE), dir.path().join("moved")).unwrap();
    let e = db.commit(&mut rich(), &[]).unwrap_err().to_string();
    assert!(e.contains("the database is gone"), "{e}");
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let e = db.check().unwrap_err().to_string();
    assert!(e.contains("replaced while serving"), "{e}");
}

// Rule: Child rows join their own image whatever order they were written in (the
// next-row guess of the loader only ever shortcuts the hash lookup); rows of an image
// that is not there are skipped.
#[test]
fn child_rows_in_any_order_join_their_image() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = Db::open(dir.path()).unwrap();
    let mut puts = rich();
    db.commit(&mut puts, &[]).unwrap();
    db.conn
        .execute_batch(
            "INSERT INTO image_properties (image_id, name, value, created_at, deleted) \
             SELECT image_id, name || '_again', value, created_at, 0 FROM image_properties \
             WHERE deleted = 0 ORDER BY image_id DESC, name DESC; \
             INSERT INTO image_properties (image_id, name, value, created_at, deleted) \
             VALUES ('no-such-image', 'x', 'y', '2026-01-01 00:00:00', 0);",
        )
        .unwrap();
    drop(db);
    let got = reload(dir.path());
    for want in &puts {
        let img = got.iter().find(|i| i.id == want.id).unwrap();
        let mut expect: Vec<(String, Option<String>)> = Vec::new();
        for (k, v) in want.properties.iter() {
            let v = v.as_deref().map(str::to_string);
            expect.push((k.to_string(), v.clone()));
            expect.push((format!("{k}_again"), v));
        }
        expect.sort();
        let have: Vec<(String, Option<String>)> = img
            .properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_deref().map(str::to_string)))
            .collect();
        assert_eq!(have, expect, "{}", want.id);
    }
}

// Rule: Rows a real Glance 15 wrote load as Glance serves them.
#[test]
fn rows_written_by_glance_load_as_glance_serves_them() {
    // `sqlite3 glance.sqlite .dump` of a real Glance 15 after creates, an upload, an
    // update with purge-props, shares, an unshare, a delete, a member list replacement
    // and a killed upload (see tests/fixtures/glance15-registry.sql).
    let dir = tempfile::tempdir().unwrap();
    let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
    c.execute_batch(include_str!(
        "../../../tests/fixtures/glance15-registry.sql"
    ))
    .unwrap();
    drop(c);
    let db = Db::open(dir.path()).unwrap();
    let l = db.load(&mut Interner::default()).unwrap();
    assert_eq!(l.images.len(), 7);
    let by = |name: &str| {
        l.images
            .iter()
            .find(|i| i.name.as_deref() == Some(name))
            .unwrap()
    };
    let three = by("shared-three-renamed");
    let props: Vec<_> = three
        .properties
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(props, ["b=22", "c=3"]);
    let members: Vec<_> = three
        .members
        .iter()
        .map(|m| (m.member_id.as_str(), m.can_share))
        .collect();
    assert_eq!(members, [("tenant-c", false), ("tenant-d", true)]);
    assert_eq!(three.owner, Some("tenant-b".into()));
    assert!(matches!(&*three.data, ImageData::File { path, len: 3 }
        if path.ends_with("images/08301e75-bc13-400a-9518-dbc431d681eb")));
    let four = by("deleted-four");
    assert!(four.deleted && four.properties.is_empty() && four.members.is_empty());
    assert!(four.data.is_none());
    assert_eq!(four.status, Status::Deleted);
    assert_eq!(four.size, Some(15));
    assert_eq!(
        four.deleted_at.unwrap().glance(),
        "2026-12-03T09:31:22.410268"
    );
    let two = by("active-two");
    assert!(two.is_public && two.protected);
    let five = by("members-five");
    let members: Vec<_> = five.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(members, ["t2", "t3"]);
    assert_eq!(by("killed-six").status, Status::Killed);
    assert_eq!(by("queued-one").min_ram, 512);
}
