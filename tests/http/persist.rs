//! `--persist DIR`: acknowledged writes survive `kill -9` and a restart restores the same
//! images, bytes and members; the log of earlier versions is imported once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::support::announced_addr;

const BIN: &str = env!("CARGO_BIN_EXE_glance-emu");

fn start(dir: &std::path::Path, state: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .arg("--persist")
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, announced_addr(&line))
}

fn http(addr: &str, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn kill9(child: &mut Child) {
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    let _ = child.wait();
}

/// Every acknowledged write is there after kill -9 and a restart.
#[test]
fn writes_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("a.json"),
        r#"{"id": "cccccccc-0000-4000-8000-000000000001", "name": "fixture", "properties": {"p": "1"}}"#,
    )
    .unwrap();
    let (mut child, addr) = start(data.path(), state.path());
    let body = b"persisted image bytes\n";
    let mut raw = format!("POST /v1/images HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-image-meta-id: cccccccc-0000-4000-8000-000000000002\r\nx-image-meta-name: uploaded\r\nx-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(body);
    assert!(http(&addr, &raw).starts_with("HTTP/1.1 201 Created"));
    let r = http(&addr, b"PUT /v1/images/cccccccc-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-image-meta-name: renamed\r\nContent-Length: 0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    let r = http(&addr, b"PUT /v1/images/cccccccc-0000-4000-8000-000000000002/members/t9 HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 204"), "{r}");
    let before = http(&addr, b"HEAD /v1/images/cccccccc-0000-4000-8000-000000000002 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    kill9(&mut child);

    let (mut child, addr) = start(data.path(), state.path());
    let after = http(&addr, b"HEAD /v1/images/cccccccc-0000-4000-8000-000000000002 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("X-Openstack-Request-Id") && !l.starts_with("Date"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(strip(&before), strip(&after));
    let get = http(&addr, b"GET /v1/images/cccccccc-0000-4000-8000-000000000002 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(get.ends_with("\r\n\r\npersisted image bytes\n"), "{get}");
    let fixture = http(&addr, b"HEAD /v1/images/cccccccc-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(fixture.contains("X-Image-Meta-Name: renamed"));
    assert!(
        !fixture.contains("X-Image-Meta-Property-P"),
        "purged by the PUT"
    );
    let members = http(&addr, b"GET /v1/images/cccccccc-0000-4000-8000-000000000002/members HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(
        members.ends_with(r#"{"members": [{"member_id": "t9", "can_share": false}]}"#),
        "{members}"
    );
    kill9(&mut child);
    // The fixture file itself was never modified.
    assert!(std::fs::read_to_string(data.path().join("a.json"))
        .unwrap()
        .contains("\"fixture\""));
}

/// A state directory of an earlier version (`images.log` with a torn last line, bytes in
/// `blobs/`) is imported into the database once; the log is renamed, not deleted.
#[test]
fn old_log_is_imported_once() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let blobs = state.path().join("blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = blobs.join("dddddddd-0000-4000-8000-000000000001.0123abcd");
    std::fs::write(&blob, b"old bytes").unwrap();
    let rec = |id: &str, name: &str, data: String| {
        format!(
            r#"{{"put":{{"id":"{id}","name":"{name}","status":"active","size":9,"virtual_size":null,"checksum":"125270c450105b4a49e9421ef42e0b53","disk_format":"raw","container_format":"bare","min_disk":1,"min_ram":2,"owner":"t0","is_public":true,"protected":false,"deleted":false,"deleted_at":null,"created_at":"2026-11-22T13:40:23.526723","updated_at":"2026-11-22T13:40:24.000001","properties":[["k","v"]],"members":[["t1",true],["t2",false]],"data":{data},"data_mismatch":false}}}}"#
        )
    };
    let file = format!(r#"{{"file":{{"path":"{}","len":9}}}}"#, blob.display());
    let log = [
        rec(
            "dddddddd-0000-4000-8000-000000000001",
            "first",
            file.clone(),
        ),
        rec(
            "dddddddd-0000-4000-8000-000000000002",
            "gone",
            r#""none""#.to_string(),
        ),
        rec("dddddddd-0000-4000-8000-000000000001", "renamed", file),
        r#"{"remove":"dddddddd-0000-4000-8000-000000000002"}"#.to_string(),
        r#"{"put": {"id": "half-writ"#.to_string(),
    ]
    .join("\n");
    std::fs::write(state.path().join("images.log"), log).unwrap();
    let (mut child, addr) = start(data.path(), state.path());
    let head = "HEAD /v1/images/dddddddd-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    let r = http(&addr, head.as_bytes());
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert!(r.contains("X-Image-Meta-Name: renamed\r\n"), "{r}");
    assert!(r.contains("X-Image-Meta-Property-K: v\r\n"), "{r}");
    assert!(r.contains("X-Image-Meta-Is_public: True\r\n"), "{r}");
    let r = http(&addr, b"HEAD /v1/images/dddddddd-0000-4000-8000-000000000002 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let get = http(&addr, b"GET /v1/images/dddddddd-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(get.ends_with("\r\n\r\nold bytes"), "{get}");
    let members = http(&addr, b"GET /v1/images/dddddddd-0000-4000-8000-000000000001/members HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(
        members.ends_with(r#"{"members": [{"member_id": "t1", "can_share": true}, {"member_id": "t2", "can_share": false}]}"#),
        "{members}"
    );
    // Renamed, not deleted; the bytes live where Glance keeps them.
    assert!(!state.path().join("images.log").exists());
    assert!(state.path().join("images.log.imported").exists());
    assert!(state.path().join("glance.sqlite").exists());
    assert_eq!(
        std::fs::read(
            state
                .path()
                .join("images/dddddddd-0000-4000-8000-000000000001")
        )
        .unwrap(),
        b"old bytes"
    );
    let r = http(&addr, b"PUT /v1/images/dddddddd-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-image-meta-name: after\r\nContent-Length: 0\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    kill9(&mut child);
    // Once: the next start reads the database only.
    let (mut child, addr) = start(data.path(), state.path());
    let r = http(&addr, head.as_bytes());
    assert!(r.contains("X-Image-Meta-Name: after\r\n"), "{r}");
    let get = http(&addr, b"GET /v1/images/dddddddd-0000-4000-8000-000000000001 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    assert!(get.ends_with("\r\n\r\nold bytes"), "{get}");
    kill9(&mut child);
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn members_of(addr: &str, id: &str) -> String {
    let r = http(
        addr,
        format!("GET /v1/images/{id}/members HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    body(&r).to_string()
}

/// `PUT` (with an optional JSON body) or `DELETE` of one membership; the status line.
fn member(addr: &str, method: &str, id: &str, m: &str, json: &str) -> String {
    let ct = if json.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let r = http(
        addr,
        format!(
            "{method} /v1/images/{id}/members/{m} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n{ct}Content-Length: {}\r\n\r\n{json}",
            json.len()
        )
        .as_bytes(),
    );
    r.lines().next().unwrap_or_default().to_string()
}

fn create(addr: &str, id: &str) {
    let r = http(addr, format!("POST /v1/images HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-image-meta-id: {id}\r\nx-image-meta-name: shared\r\nContent-Length: 0\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 201 Created"), "{r}");
}

/// A member removed before a restart is still a soft-deleted row after it: a `PUT`
/// without can_share leaves it deleted (real Glance finds the deleted row and changes
/// nothing), one with can_share revives it in its old place; a deleted image's members
/// answer as before.
#[test]
fn deleted_member_rows_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let id = "eeeeeeee-0000-4000-8000-000000000001";
    let gone = "eeeeeeee-0000-4000-8000-000000000002";
    let (mut child, addr) = start(data.path(), state.path());
    create(&addr, id);
    create(&addr, gone);
    for (img, m) in [(id, "t1"), (id, "t2"), (gone, "t1")] {
        assert_eq!(member(&addr, "PUT", img, m, ""), "HTTP/1.1 204 No Content");
    }
    assert_eq!(
        member(&addr, "DELETE", id, "t1", ""),
        "HTTP/1.1 204 No Content"
    );
    assert_eq!(
        member(&addr, "DELETE", gone, "t1", ""),
        "HTTP/1.1 204 No Content"
    );
    let r = http(
        &addr,
        format!("DELETE /v1/images/{gone} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    let gone_before = http(
        &addr,
        format!("GET /v1/images/{gone}/members HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert!(gone_before.starts_with("HTTP/1.1 404"), "{gone_before}");
    kill9(&mut child);

    let (mut child, addr) = start(data.path(), state.path());
    let t2 = r#"{"members": [{"member_id": "t2", "can_share": false}]}"#;
    assert_eq!(members_of(&addr, id), t2);
    assert_eq!(
        member(&addr, "PUT", id, "t1", ""),
        "HTTP/1.1 204 No Content"
    );
    assert_eq!(members_of(&addr, id), t2, "no can_share: still deleted");
    assert_eq!(
        member(&addr, "PUT", id, "t1", r#"{"member": {"can_share": true}}"#),
        "HTTP/1.1 204 No Content"
    );
    let both = r#"{"members": [{"member_id": "t1", "can_share": true}, {"member_id": "t2", "can_share": false}]}"#;
    assert_eq!(members_of(&addr, id), both, "revived in its old place");
    let gone_after = http(
        &addr,
        format!("GET /v1/images/{gone}/members HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(body(&gone_after), body(&gone_before));
    assert_eq!(
        gone_after.lines().next(),
        gone_before.lines().next(),
        "{gone_after}"
    );
    kill9(&mut child);

    // The revival was written in place: one row per member, none deleted.
    let rows = member_rows(state.path(), id);
    assert_eq!(rows, [("t1".to_string(), 0), ("t2".to_string(), 0)]);
    let (mut child, addr) = start(data.path(), state.path());
    assert_eq!(members_of(&addr, id), both);
    kill9(&mut child);
}

/// A member re-added by glance-emu before revivals were written in place (its deleted row,
/// then a live row written after it, the reordered list rewritten the same way) is one
/// member after a restart, and later changes act on it as they did before the restart.
#[test]
fn re_added_members_of_earlier_versions_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let id = "eeeeeeee-0000-4000-8000-000000000003";
    let (mut child, addr) = start(data.path(), state.path());
    create(&addr, id);
    for m in ["t1", "t2"] {
        assert_eq!(member(&addr, "PUT", id, m, ""), "HTTP/1.1 204 No Content");
    }
    kill9(&mut child);
    // What the earlier writer left after DELETE t1 and PUT t1 with can_share: t1's
    // deleted row and t2's retired one, then both written again in the list's order.
    let db = rusqlite::Connection::open(state.path().join("glance.sqlite")).unwrap();
    db.execute_batch(&format!(
        "UPDATE image_members SET deleted = 1, deleted_at = '2026-12-01 10:00:0' || id \
         WHERE image_id = '{id}';
         INSERT INTO image_members (image_id, member, can_share, created_at, deleted, status) \
         VALUES ('{id}', 't1', 1, '2026-12-01 10:00:09', 0, 'pending'), \
                ('{id}', 't2', 0, '2026-12-01 10:00:09', 0, 'pending');"
    ))
    .unwrap();
    drop(db);

    let (mut child, addr) = start(data.path(), state.path());
    let both = |cs1: bool| {
        format!(
            r#"{{"members": [{{"member_id": "t1", "can_share": {cs1}}}, {{"member_id": "t2", "can_share": false}}]}}"#
        )
    };
    assert_eq!(members_of(&addr, id), both(true));
    // can_share changes the one live row; no second t1 appears.
    assert_eq!(
        member(
            &addr,
            "PUT",
            id,
            "t1",
            r#"{"member": {"can_share": false}}"#
        ),
        "HTTP/1.1 204 No Content"
    );
    assert_eq!(members_of(&addr, id), both(false));
    assert_eq!(
        member(&addr, "PUT", id, "t2", ""),
        "HTTP/1.1 204 No Content"
    );
    assert_eq!(members_of(&addr, id), both(false));
    kill9(&mut child);
    let (mut child, addr) = start(data.path(), state.path());
    assert_eq!(members_of(&addr, id), both(false), "unchanged by a restart");
    assert_eq!(
        member(&addr, "DELETE", id, "t1", ""),
        "HTTP/1.1 204 No Content"
    );
    assert_eq!(
        member(&addr, "PUT", id, "t1", ""),
        "HTTP/1.1 204 No Content"
    );
    let t2 = r#"{"members": [{"member_id": "t2", "can_share": false}]}"#;
    assert_eq!(members_of(&addr, id), t2);
    kill9(&mut child);
    let (mut child, addr) = start(data.path(), state.path());
    assert_eq!(members_of(&addr, id), t2);
    kill9(&mut child);
    // The leftovers are gone from the database: one row per member.
    let rows = member_rows(state.path(), id);
    assert_eq!(rows, [("t1".to_string(), 1), ("t2".to_string(), 0)]);
}

/// (member, deleted) of every `image_members` row of `id` in `state`'s database, by row id.
fn member_rows(state: &std::path::Path, id: &str) -> Vec<(String, i64)> {
    let db = rusqlite::Connection::open(state.join("glance.sqlite")).unwrap();
    let rows = db
        .prepare("SELECT member, deleted FROM image_members WHERE image_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows
}

/// `GET /v1/shared-images/t` as the noauth admin: the image ids in the order listed.
fn shared_ids(addr: &str, tenant: &str) -> Vec<String> {
    let r = http(
        addr,
        format!("GET /v1/shared-images/{tenant} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    let doc: serde_json::Value = serde_json::from_str(body(&r)).unwrap();
    doc["shared_images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["image_id"].as_str().unwrap().to_string())
        .collect()
}

/// With `--persist`, membership rows keep the order they were added in across writes and
/// restarts: the fixtures' rows first (by their records' `created_at`), then the rows added
/// since, in order; a fixture record written later (renamed) keeps its rows' place, and a
/// row added to it comes last.
#[test]
fn shared_images_keep_the_row_order_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let f1 = "ffffffff-0000-4000-8000-000000000001";
    let f2 = "ffffffff-0000-4000-8000-000000000002";
    let x = "ffffffff-0000-4000-8000-000000000003";
    std::fs::write(
        data.path().join("a.json"),
        format!(
            r#"[{{"id": "{f2}", "created_at": "2015-01-02T00:00:00", "members": [{{"member_id": "t"}}]}},
                {{"id": "{f1}", "created_at": "2015-01-01T00:00:00", "members": [{{"member_id": "u"}}, {{"member_id": "t"}}]}}]"#
        ),
    )
    .unwrap();
    let (mut child, addr) = start(data.path(), state.path());
    assert_eq!(shared_ids(&addr, "t"), [f1, f2]);
    create(&addr, x);
    assert!(member(&addr, "PUT", x, "t", "").contains("204"));
    assert!(member(&addr, "PUT", x, "u", "").contains("204"));
    // f2 is written to the database now (renamed): its row keeps its place.
    let r = http(&addr, format!("PUT /v1/images/{f2} HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-image-meta-name: renamed\r\nContent-Length: 0\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert_eq!(shared_ids(&addr, "t"), [f1, f2, x]);
    kill9(&mut child);
    let (mut child, addr) = start(data.path(), state.path());
    assert_eq!(shared_ids(&addr, "t"), [f1, f2, x]);
    assert_eq!(shared_ids(&addr, "u"), [f1, x]);
    // A row added to the older fixture record now comes after every other.
    assert!(member(&addr, "PUT", f2, "u", "").contains("204"));
    kill9(&mut child);
    let (mut child, addr) = start(data.path(), state.path());
    assert_eq!(shared_ids(&addr, "u"), [f1, x, f2]);
    kill9(&mut child);
}

/// Health probes at the same time (a liveness and a readiness probe, a load balancer) all
/// say 200: each creates and removes the same probe file, and one finding it already
/// removed by another is no failure to write.
#[test]
fn concurrent_health_checks_all_pass() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("a.json"), "[]").unwrap();
    let (mut child, addr) = start(data.path(), state.path());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| {
                        http(
                            &addr,
                            b"GET /healthcheck HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                        )
                    })
                    .filter(|r| !r.starts_with("HTTP/1.1 200 OK"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for t in threads {
        let bad = t.join().unwrap();
        assert!(bad.is_empty(), "{}", bad[0]);
    }
    kill9(&mut child);
}

/// A record created deleted (`x-image-meta-deleted: true`; the registry's create wrote the
/// row deleted and left its properties live) keeps its properties, and the members added to
/// it since, across a restart: only a delete soft-deletes them.
#[test]
fn a_record_created_deleted_keeps_properties_and_members_across_restarts() {
    let data = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("a.json"), "[]").unwrap();
    let id = "abababab-0000-4000-8000-000000000001";
    let (mut child, addr) = start(data.path(), state.path());
    let r = http(&addr, format!("POST /v1/images HTTP/1.1\r\nHost: h\r\nConnection: close\r\nx-image-meta-id: {id}\r\nx-image-meta-deleted: true\r\nx-image-meta-property-team: blue\r\nContent-Length: 0\r\n\r\n").as_bytes());
    assert!(r.starts_with("HTTP/1.1 201 Created"), "{r}");
    assert!(member(&addr, "PUT", id, "t", "").contains("204"));
    let head = format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    let before = http(&addr, head.as_bytes());
    assert!(
        before.contains("\r\nX-Image-Meta-Property-Team: blue\r\n"),
        "{before}"
    );
    kill9(&mut child);
    let (mut child, addr) = start(data.path(), state.path());
    let after = http(&addr, head.as_bytes());
    let strip = |r: &str| {
        r.lines()
            .filter(|l| !l.starts_with("Date:") && !l.starts_with("X-Openstack-Request-Id:"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&after), strip(&before));
    assert_eq!(shared_ids(&addr, "t"), [id]);
    assert_eq!(
        members_of(&addr, id),
        r#"{"members": [{"member_id": "t", "can_share": false}]}"#
    );
    kill9(&mut child);
}
