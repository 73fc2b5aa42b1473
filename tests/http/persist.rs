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
