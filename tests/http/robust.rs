//! Robustness: a deterministic stream of odd requests (bad ids, headers, bodies, methods,
//! encodings) must each get an HTTP answer, and the server must keep serving afterwards.

use crate::support::*;

const FIXTURE: &str = include_str!("../fixtures/images.json");

/// A tiny deterministic generator (no dependency, same sequence on every run).
struct Lcg(u64);

impl Lcg {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        &items[((self.0 >> 33) as usize) % items.len()]
    }
}

/// 400 mixed requests: every one is answered with a status line; nothing takes the server
/// down.
#[tokio::test]
async fn odd_requests_always_get_an_answer() {
    let emu = spawn(FIXTURE).await;
    let ids = [
        "3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "nope",
        "%E2%98%83",
        "%ff",
        "a%2Fb",
    ];
    let paths = [
        "/",
        "/versions",
        "/v1",
        "/v1/images",
        "/v1/images/detail",
        "/v1/images/ID",
        "/v1/images/ID/members",
        "/v1/images/ID/members/t1",
        "/v1/shared-images/t1",
        "/v2/t/images/ID",
        "/v2/t/images/ID/metadata",
        "/v2.1/images/ID/metadata/k",
        "/_emu/images",
        "/healthcheck",
    ];
    let methods = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];
    let queries = [
        "",
        "?limit=x",
        "?marker=nope",
        "?sort_dir=up",
        "?changes-since=bad",
        "?is_public=None&name=in:a,b",
        "?property-k=v&size_min=5",
    ];
    let headers = [
        "x-image-meta-name: <a\u{e9}>\r\n",
        "x-image-meta-size: 99999999999999999999999\r\n",
        "x-image-meta-size: -1\r\n",
        "x-image-meta-disk_format: aki\r\nx-image-meta-container_format: bare\r\n",
        "x-image-meta-property-k: v\r\n",
        "x-image-meta-checksum: 0123456789012345678901234567890123\r\n",
        "x-image-meta-created_at: 1899-01-01\r\n",
        "x-image-meta-status: active\r\n",
        "x-image-meta-location: http://127.0.0.1:1/x\r\n",
        "accept: application/json\r\n",
        "content-type: application/octet-stream\r\n",
        "",
    ];
    let bodies: [&[u8]; 5] = [
        b"",
        b"{}",
        br#"{"memberships": [{"member_id": "x", "can_share": 1}]}"#,
        br#"{"metadata": {"a": "b"}}"#,
        b"not json \xff",
    ];
    let mut rng = Lcg(7);
    for _ in 0..400 {
        let template = *rng.pick(&paths);
        let id = *rng.pick(&ids);
        let path = template.replace("ID", id);
        let body = *rng.pick(&bodies);
        let mut raw = format!(
            "{} {}{} HTTP/1.1\r\nHost: h\r\n{}{}Content-Length: {}\r\n\r\n",
            rng.pick(&methods),
            path,
            rng.pick(&queries),
            rng.pick(&headers),
            rng.pick(&headers),
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        let mut c = Conn::open(&emu).await;
        let head_request = raw.starts_with(b"HEAD ");
        c.send_raw(&raw).await;
        let r = c.read_response(head_request).await;
        assert!(r.status_line.starts_with("HTTP/1.1 "), "{}", r.status_line);
    }
    let r = head(&emu, "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}
