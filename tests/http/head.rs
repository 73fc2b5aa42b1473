//! `HEAD /v1/images/<id>`: exact status lines, header names as on the wire, values, order,
//! no body; 404s, 405s, the 409 size check, keep-alive and HTTP/1.0 framing.

use glance_emu::Config;

use crate::support::*;

const FIXTURE: &str = include_str!("../fixtures/images.json");

/// The seed 004 example comes back header for header, in order.
#[tokio::test]
async fn seed_004_cirros_exact() {
    let emu = spawn(FIXTURE).await;
    let r = head(&emu, "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: text/html; charset=UTF-8",
            "Content-Length: 0",
            "X-Image-Meta-Id: 3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
            "X-Image-Meta-Deleted: False",
            "X-Image-Meta-Container_format: bare",
            "X-Image-Meta-Checksum: 64d7c1cd2b6f60c92c14662941cb7913",
            "X-Image-Meta-Protected: False",
            "X-Image-Meta-Min_disk: 0",
            "X-Image-Meta-Created_at: 2016-05-22T06:04:20.425843",
            "X-Image-Meta-Size: 13167616",
            "X-Image-Meta-Status: active",
            "X-Image-Meta-Is_public: True",
            "X-Image-Meta-Min_ram: 0",
            "X-Image-Meta-Owner: 23f4cb75768d4febb39542ef6fe169f3",
            "X-Image-Meta-Updated_at: 2016-05-22T06:04:22.719791",
            "X-Image-Meta-Disk_format: qcow2",
            "X-Image-Meta-Name: cirros",
            "Etag: 64d7c1cd2b6f60c92c14662941cb7913",
            "X-Openstack-Request-Id: req-<uuid4>",
            "Date: <date>",
        ]
    );
    assert!(r.body.is_empty());
}

/// Seed 002: a deactivated image still answers 200 with its status.
#[tokio::test]
async fn seed_002_deactivated_kernel() {
    let emu = spawn(FIXTURE).await;
    let r = head(&emu, "/v1/images/03bc0a8b-659c-4de9-b6bd-13c6e86e6455").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Image-Meta-Status"), Some("deactivated"));
    assert_eq!(r.header("X-Image-Meta-Container_format"), Some("aki"));
    assert_eq!(
        r.header("X-Image-Meta-Created_at"),
        Some("2016-01-06T03:22:20.000000")
    );
    assert_eq!(r.header("Etag"), Some("8a40c862b5735975d82605c1dd395796"));
}

/// Properties: one header per non-null property, key lower-cased, sorted, after the core
/// block and before Etag; a fresh request id each time.
#[tokio::test]
async fn properties_lowercased_sorted_nulls_omitted() {
    let emu = spawn(FIXTURE).await;
    let r = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000001").await;
    let lines = r.masked_lines();
    let props: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("X-Image-Meta-Property-"))
        .collect();
    assert_eq!(
        props,
        vec![
            "X-Image-Meta-Property-A-B.c: x",
            "X-Image-Meta-Property-Hw_disk_bus: virtio",
            "X-Image-Meta-Property-Os_distro: debian",
        ]
    );
    let pos = |p: &str| lines.iter().position(|l| l.starts_with(p)).unwrap();
    assert!(pos("X-Image-Meta-Name") < pos("X-Image-Meta-Property-A-B.c"));
    assert!(pos("X-Image-Meta-Property-Os_distro") < pos("Etag"));
    assert_eq!(r.header("X-Image-Meta-Size"), Some("10"));
    assert!(!r.names().iter().any(|n| n.contains("Location")));
    let r2 = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000001").await;
    assert_ne!(
        r.header("X-Openstack-Request-Id"),
        r2.header("X-Openstack-Request-Id")
    );
}

/// Every status answers 200; queued images have no checksum and no Etag.
#[tokio::test]
async fn every_status_answers_200() {
    let emu = spawn(FIXTURE).await;
    for (n, status) in [
        (2, "queued"),
        (3, "saving"),
        (4, "killed"),
        (5, "pending_delete"),
        (6, "deleted"),
    ] {
        let r = head(
            &emu,
            &format!("/v1/images/aaaaaaaa-0000-4000-8000-00000000000{n}"),
        )
        .await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{status}");
        assert_eq!(r.header("X-Image-Meta-Status"), Some(status));
    }
    let q = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000002").await;
    assert_eq!(q.header("X-Image-Meta-Checksum"), None);
    assert_eq!(q.header("Etag"), None);
    assert_eq!(q.header("X-Image-Meta-Size"), Some("0"));
    let k = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000004").await;
    assert_eq!(k.header("X-Image-Meta-Size"), Some("999"));
}

/// Deleted and pending_delete: Deleted True, Deleted_at between Min_disk and Created_at, no
/// property headers.
#[tokio::test]
async fn deleted_image_headers() {
    let emu = spawn(FIXTURE).await;
    let r = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000006").await;
    let lines = r.masked_lines();
    assert_eq!(
        &lines[2..10],
        &[
            "X-Image-Meta-Id: aaaaaaaa-0000-4000-8000-000000000006",
            "X-Image-Meta-Deleted: True",
            "X-Image-Meta-Checksum: aa9c932d5678ea1b1433f8ed377be4e6",
            "X-Image-Meta-Protected: False",
            "X-Image-Meta-Min_disk: 0",
            "X-Image-Meta-Deleted_at: 2020-01-07T00:00:00.500000",
            "X-Image-Meta-Created_at: 2020-01-06T00:00:00.000000",
            "X-Image-Meta-Size: 23",
        ]
    );
    assert!(!lines.iter().any(|l| l.contains("Property")));
    let pd = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000005").await;
    assert_eq!(pd.header("X-Image-Meta-Deleted"), Some("True"));
    assert!(pd.header("X-Image-Meta-Deleted_at").is_some());
    assert!(pd.header("X-Image-Meta-Property-X").is_none());
}

/// Unknown ids of any shape: 404, text/plain, Content-Length 0, request id, nothing else.
#[tokio::test]
async fn unknown_ids_are_plain_404() {
    let emu = spawn(FIXTURE).await;
    let long = "a".repeat(40);
    for id in [
        "00000000-0000-0000-0000-000000000000",
        "does-not-exist",
        long.as_str(),
        "%E2%98%83",
    ] {
        let r = head(&emu, &format!("/v1/images/{id}")).await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "{id}");
        assert_eq!(
            r.masked_lines(),
            vec![
                "Content-Type: text/plain; charset=UTF-8",
                "Content-Length: 0",
                "X-Openstack-Request-Id: req-<uuid4>",
                "Date: <date>",
            ]
        );
        assert!(r.body.is_empty());
    }
    // A non-UUID id that exists is found.
    let r = head(&emu, "/v1/images/not-a-uuid").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}

/// Router misses are text/html 404s; list paths answer 405 with Glance's Allow.
#[tokio::test]
async fn router_404_and_405() {
    let emu = spawn(FIXTURE).await;
    let r = head(&emu, "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78/").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: text/html; charset=UTF-8",
            "Content-Length: 0",
            "X-Openstack-Request-Id: req-<uuid4>",
            "Date: <date>",
        ]
    );
    let r = head(&emu, "/v1/images").await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: text/html; charset=UTF-8",
            "Content-Length: 0",
            "Allow: GET, POST",
            "X-Openstack-Request-Id: req-<uuid4>",
            "Date: <date>",
        ]
    );
    let r = head(&emu, "/v1/images/detail").await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.header("Allow"), Some("GET"));
    let r = head(&emu, "/v1/images/x/members").await;
    assert_eq!(r.header("Allow"), Some("GET, PUT"));
}

/// The api-ref's 409: a request X-Image-Meta-Size that differs from the record.
#[tokio::test]
async fn size_mismatch_409_and_bad_size_400() {
    let emu = spawn(FIXTURE).await;
    let id = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78";
    let with_size = |n: &str| {
        format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: h\r\nX-Image-Meta-Size: {n}\r\n\r\n")
    };
    let r = request(&emu, &with_size("13167616")).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let r = request(&emu, &with_size("5")).await;
    assert_eq!(r.status_line, "HTTP/1.1 409 Conflict");
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Length: 0",
            "X-Openstack-Request-Id: req-<uuid4>",
            "Date: <date>",
        ]
    );
    let r = request(&emu, &with_size("five")).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert_eq!(r.header("Content-Length"), Some("0"));
    // Unknown ids stay 404 whatever the size header says.
    let r = request(
        &emu,
        "HEAD /v1/images/nope HTTP/1.1\r\nHost: h\r\nX-Image-Meta-Size: 5\r\n\r\n",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
}

/// A record whose bytes disagree with its size is a detected mismatch; --glance-compat
/// turns both checks off.
#[tokio::test]
async fn data_mismatch_409_unless_compat() {
    let emu = spawn(FIXTURE).await;
    let r = head(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000009").await;
    assert_eq!(r.status_line, "HTTP/1.1 409 Conflict");
    assert!(r.body.is_empty());
    let compat = spawn_with(
        FIXTURE,
        Config {
            glance_compat: true,
            ..Config::default()
        },
    )
    .await;
    let r = head(&compat, "/v1/images/aaaaaaaa-0000-4000-8000-000000000009").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Image-Meta-Size"), Some("11"));
    let r = request(
        &compat,
        "HEAD /v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78 HTTP/1.1\r\nHost: h\r\nX-Image-Meta-Size: 5\r\n\r\n",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}

/// A `{"file": ...}` image whose file a download found changed after start-up (longer, or
/// gone) answers 409 to HEAD until a download finds it as recorded again; HEAD itself never
/// touches the disk.
#[tokio::test]
async fn file_changed_on_disk_is_detected_by_a_download() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("img.bin"), b"hello glance image one\n").unwrap();
    let fixture = format!(
        r#"{{"id": "f0000000-0000-4000-8000-000000000001", "data": {{"file": "{}"}}}}"#,
        dir.path().join("img.bin").display()
    );
    let emu = spawn(&fixture).await;
    let id = "/v1/images/f0000000-0000-4000-8000-000000000001";
    let r = head(&emu, id).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Image-Meta-Size"), Some("23"));
    assert_eq!(r.header("Etag"), Some("aa9c932d5678ea1b1433f8ed377be4e6"));
    std::fs::write(
        dir.path().join("img.bin"),
        b"hello glance image one\nEXTRA\n",
    )
    .unwrap();
    // Not looked at by HEAD: the record still says 23 bytes.
    assert_eq!(head(&emu, id).await.status_line, "HTTP/1.1 200 OK");
    // A download reads the file and notes the change; HEAD then reports it.
    assert_eq!(get(&emu, id).await.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head(&emu, id).await.status_line, "HTTP/1.1 409 Conflict");
    // Put back as it was: the next download sees that, and HEAD is 200 again.
    std::fs::write(dir.path().join("img.bin"), b"hello glance image one\n").unwrap();
    assert_eq!(get(&emu, id).await.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head(&emu, id).await.status_line, "HTTP/1.1 200 OK");

    // A file that disappears: the download's 404 notes it too.
    std::fs::write(dir.path().join("two.bin"), b"two").unwrap();
    let fixture = format!(
        r#"{{"id": "f0000000-0000-4000-8000-000000000002", "data": {{"file": "{}"}}}}"#,
        dir.path().join("two.bin").display()
    );
    let emu = spawn(&fixture).await;
    let id = "/v1/images/f0000000-0000-4000-8000-000000000002";
    std::fs::remove_file(dir.path().join("two.bin")).unwrap();
    assert_eq!(head(&emu, id).await.status_line, "HTTP/1.1 200 OK");
    assert_eq!(get(&emu, id).await.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(head(&emu, id).await.status_line, "HTTP/1.1 409 Conflict");
}

/// Many requests on one HTTP/1.1 connection, no Connection header, no body bytes.
#[tokio::test]
async fn keep_alive_framing() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    for path in [
        "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
        "/v1/images/nope",
        "/v1/images/03bc0a8b-659c-4de9-b6bd-13c6e86e6455",
    ] {
        let r = c
            .roundtrip(format!("HEAD {path} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
            .await;
        assert!(r.status_line.starts_with("HTTP/1.1 "));
        assert_eq!(r.header("Connection"), None);
    }
    // Pipelined: both answers arrive, in order.
    c.send_raw(
        b"HEAD /v1/images/nope HTTP/1.1\r\nHost: h\r\n\r\nHEAD /v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .await;
    assert_eq!(
        c.read_response(true).await.status_line,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(c.read_response(true).await.status_line, "HTTP/1.1 200 OK");
}

/// HTTP/1.0 without keep-alive: Date then `Connection: close` last, and the server closes.
#[tokio::test]
async fn http10_connection_close() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(
            b"HEAD /v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78 HTTP/1.0\r\nHost: h\r\n\r\n",
        )
        .await;
    // eventlet's status line is HTTP/1.1 whatever the request's version (hyper's is not).
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let lines = r.masked_lines();
    assert_eq!(
        &lines[lines.len() - 2..],
        &["Date: <date>", "Connection: close"]
    );
    assert_eq!(lines.iter().filter(|l| l.starts_with("Date")).count(), 1);
    assert!(c.closed().await);
    // HTTP/1.0 with keep-alive stays open.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(b"HEAD /v1/images/nope HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    let r = c
        .roundtrip(b"HEAD /v1/images/nope HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
}

/// Garbage instead of HTTP gets a 400 from hyper and never crashes the server.
#[tokio::test]
async fn garbage_request_does_not_break_server() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    c.send_raw(b"\x16\x03\x01 not http at all\r\n\r\n").await;
    let _ = c.closed().await;
    let r = head(&emu, "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}

/// A `#` in a request target is part of the path, as eventlet read it (hyper's URI parser
/// drops a fragment, which made `<id>#frag` find `<id>`): on the first request of a
/// connection and on every later one, after a body holding `#`s and request lines too.
#[tokio::test]
async fn a_hash_in_the_target_belongs_to_the_id_on_every_request_of_a_connection() {
    let emu = spawn(FIXTURE).await;
    let id = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78";
    let mut c = Conn::open(&emu).await;
    let send = |line: String| format!("{line} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes();
    for round in 0..2 {
        let r = c
            .roundtrip(&send(format!("HEAD /v1/images/{id}#frag")))
            .await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "round {round}");
        let r = c
            .roundtrip(&send(format!("GET /v1/images/{id}#frag")))
            .await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "round {round}");
        assert!(
            r.body_str().contains(&format!("{id}#frag")),
            "{}",
            r.body_str()
        );
        let r = c.roundtrip(&send(format!("HEAD /v1/images/{id}"))).await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK", "round {round}");
        // A body of request lines with `#`s (a metadata update: its bytes are not read as
        // requests, and nothing in them changes).
        let body = format!("HEAD /v1/images/{id}#x HTTP/1.1\r\n\r\n");
        let r = c
            .roundtrip(
                format!(
                    "PUT /v1/images/{id}#frag HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "round {round}");
    }
    let r = c
        .roundtrip(&send("GET /v1/images/detail?name=a#b".to_string()))
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    // A chunked upload (python-glanceclient's shape) whose data reads like a request with
    // a `#`: its bytes are stored as sent, and the next request line is still kept.
    let data = format!("HEAD /v1/images/{id}#x HTTP/1.1\r\n\r\n");
    let r = c
        .roundtrip(
            format!(
                "POST /v1/images HTTP/1.1\r\nHost: h\r\nx-image-meta-name: chunky\r\n\
                 x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\n\
                 Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n\
                 {:x}\r\n{data}\r\n0\r\n\r\n",
                data.len()
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    let new = r.json()["image"]["id"].as_str().unwrap().to_string();
    let r = c.roundtrip(&send(format!("GET /v1/images/{new}"))).await;
    assert_eq!(r.body_str(), data);
    let r = c.roundtrip(&send(format!("HEAD /v1/images/{new}#x"))).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let r = c.roundtrip(&send(format!("HEAD /v1/images/{new}"))).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}

/// A request line of nothing but `#`s (each handed to hyper as `%23`, three bytes for one)
/// is refused like any over-long request line (eventlet's 414, counted in the bytes sent),
/// and the server goes on answering.
#[tokio::test]
async fn a_request_line_full_of_hashes_is_refused_and_nothing_else_changes() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    let line = "#".repeat(60_000);
    let r = c
        .roundtrip(format!("HEAD /v1/images/{line} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .await;
    assert_eq!(r.status_line, "HTTP/1.0 414 Request URI Too Long");
    assert!(c.closed().await);
    // 8,191 bytes of line, its id all `#`s: within the limit (three times as long as
    // hyper is handed it).
    let line = "#".repeat(8191 - "HEAD /v1/images/ HTTP/1.1\r\n".len());
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(format!("HEAD /v1/images/{line} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let r = head(&emu, "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}
