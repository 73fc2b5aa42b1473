//! The rest of Glance v1: version documents, lists, download, create/update/delete with
//! uploads, members, and error bodies by Accept.

use crate::support::*;

const FIXTURE: &str = include_str!("../fixtures/images.json");

/// `GET /` and unknown versions: 300 with the version document, no request id.
#[tokio::test]
async fn version_documents() {
    let emu = spawn(FIXTURE).await;
    let r = request(&emu, "GET / HTTP/1.1\r\nHost: glance.example:9292\r\n\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 300 Multiple Choices");
    assert_eq!(
        r.body_str(),
        r#"{"versions": [{"id": "v1.1", "status": "DEPRECATED", "links": [{"rel": "self", "href": "http://glance.example:9292/v1/"}]}, {"id": "v1.0", "status": "DEPRECATED", "links": [{"rel": "self", "href": "http://glance.example:9292/v1/"}]}]}"#
    );
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.header("X-Openstack-Request-Id"), None);
    let r = get(&emu, "/versions").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let r = get(&emu, "/v3/images").await;
    assert_eq!(r.status_line, "HTTP/1.1 300 Multiple Choices");
}

/// Lists: admin default view is public only; is_public=None shows all but killed/deleted;
/// 6-key entries; exact 400 messages.
#[tokio::test]
async fn lists_and_filters() {
    let emu = spawn(FIXTURE).await;
    let r = get(&emu, "/v1/images").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let ids = image_ids(&v);
    assert_eq!(
        ids,
        vec![
            "3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
            "03bc0a8b-659c-4de9-b6bd-13c6e86e6455"
        ]
    );
    assert_eq!(v["images"][0].as_object().unwrap().len(), 6);

    let r = get(
        &emu,
        "/v1/images/detail?is_public=None&sort_key=name&sort_dir=asc",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec![
            "cirros",
            "cirros-0.3.4-x86_64-uec-kernel",
            "mismatch",
            "odd id",
            "props",
            "q",
            "s"
        ]
    );
    assert_eq!(v["images"][0].as_object().unwrap().len(), 18);

    let r = get(&emu, "/v1/images/detail?is_public=None&limit=2&sort_key=name&sort_dir=asc&marker=03bc0a8b-659c-4de9-b6bd-13c6e86e6455").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let names: Vec<&str> = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["mismatch", "odd id"]);

    let r = get(
        &emu,
        "/v1/images/detail?is_public=None&property-os_distro=debian",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 1);

    let r = get(&emu, "/v1/images/detail?is_public=None&name=in:q,s").await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 2);

    let r = get(
        &emu,
        "/v1/images/detail?changes-since=2000-01-01T00:00:00&is_public=None",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 10);

    let r = get(&emu, "/v1/images?size_min=-1").await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str()
            .contains("Bad value passed to filter size_min got -1"),
        "{}",
        r.body_str()
    );
    let r = get(&emu, "/v1/images?limit=x").await;
    assert!(r.body_str().contains("limit param must be an integer"));
    let r = get(&emu, "/v1/images?marker=zzz").await;
    assert!(r.body_str().contains("Invalid marker format"));
    let r = get(&emu, "/v1/images?sort_key=owner").await;
    assert!(r.body_str().contains("Unsupported sort_key"));
}

/// Download: octet-stream, Content-Length first, HEAD header set, body bytes; 403/404 by
/// status; Accept picks the error body.
#[tokio::test]
async fn download_and_status_gates() {
    let emu = spawn(FIXTURE).await;
    let r = get(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000001").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        &r.names()[..3],
        &["Content-Length", "Content-Type", "X-Image-Meta-Id"]
    );
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"abcabcabca");
    assert_eq!(r.header("Etag"), r.header("X-Image-Meta-Checksum"));

    let r = get(&emu, "/v1/images/03bc0a8b-659c-4de9-b6bd-13c6e86e6455").await;
    assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden");
    assert!(r
        .body_str()
        .contains("Image 03bc0a8b-659c-4de9-b6bd-13c6e86e6455 is deactivated"));
    let r = get(&emu, "/v1/images/aaaaaaaa-0000-4000-8000-000000000002").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(
        r.body_str(),
        "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\nImage aaaaaaaa-0000-4000-8000-000000000002 is not active\n\n\n </body>\n</html>"
    );
    assert_eq!(&r.names()[..2], &["Content-Length", "Content-Type"]);

    let r = request(
        &emu,
        "GET /v1/images/nope HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\n\r\n",
    )
    .await;
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(
        r.body_str(),
        r#"{"message": "The resource could not be found.<br /><br />\nImage with identifier nope not found\n\n", "code": "404 Not Found", "title": "Not Found"}"#
    );
    let r = request(&emu, "GET /v1/images/nope HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=UTF-8"));
    assert_eq!(r.body_str(), "404 Not Found\n\nThe resource could not be found.\n\n Image with identifier nope not found  ");
}

/// A large generated image streams with the right length and bytes.
#[tokio::test]
async fn large_download_streams() {
    let emu = spawn(r#"{"id": "big", "disk_format": "raw", "container_format": "bare", "data": {"repeat": "0123456789", "size": 5000003}}"#).await;
    let r = get(&emu, "/v1/images/big").await;
    assert_eq!(r.header("Content-Length"), Some("5000003"));
    assert_eq!(r.body.len(), 5000003);
    assert_eq!(&r.body[4999990..], b"0123456789012");
}

/// POST with a chunked body (as python-glanceclient sends it), then HEAD, PUT, DELETE.
#[tokio::test]
async fn create_upload_update_delete() {
    let emu = spawn("[]").await;
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(b"POST /v1/images HTTP/1.1\r\nHost: 127.0.0.1:9292\r\nAccept: */*\r\nx-image-meta-name: img1\r\nx-image-meta-disk_format: raw\r\nX-Image-Meta-Container-Format: bare\r\nx-image-meta-property-Hw-Disk_Bus: virtio\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello glance ima\r\n7\r\nge one\n\r\n0\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created", "{}", r.body_str());
    assert_eq!(
        &r.names()[..4],
        &["Content-Type", "Content-Length", "Location", "Etag"]
    );
    assert_eq!(r.header("Etag"), Some("aa9c932d5678ea1b1433f8ed377be4e6"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let id = v["image"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        r.header("Location").unwrap(),
        format!("http://127.0.0.1:9292/v1/images/{id}")
    );
    assert_eq!(v["image"]["size"], 23);
    assert_eq!(v["image"]["status"], "active");
    assert_eq!(v["image"]["owner"], serde_json::Value::Null);
    assert_eq!(
        v["image"]["properties"],
        serde_json::json!({"hw_disk_bus": "virtio"})
    );
    assert_eq!(v["image"].as_object().unwrap().len(), 18);

    let h = c
        .roundtrip(format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .await;
    assert_eq!(
        h.header("X-Image-Meta-Property-Hw_disk_bus"),
        Some("virtio")
    );
    assert_eq!(h.header("X-Image-Meta-Size"), Some("23"));
    let g = c
        .roundtrip(format!("GET /v1/images/{id} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .await;
    assert_eq!(g.body, b"hello glance image one\n");

    // PUT with the default purge: the property goes.
    let u = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}"),
        "x-image-meta-name: renamed\r\n",
        b"",
    )
    .await;
    assert_eq!(u.status_line, "HTTP/1.1 200 OK");
    let v: serde_json::Value = serde_json::from_slice(&u.body).unwrap();
    assert_eq!(v["image"]["name"], "renamed");
    assert_eq!(v["image"]["properties"], serde_json::json!({}));
    // Purge off keeps existing properties.
    call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}"),
        "x-image-meta-property-a: 1\r\n",
        b"",
    )
    .await;
    let u = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}"),
        "x-image-meta-property-b: 2\r\nx-glance-registry-purge-props: false\r\n",
        b"",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&u.body).unwrap();
    assert_eq!(
        v["image"]["properties"],
        serde_json::json!({"a": "1", "b": "2"})
    );
    // Upload to an active image: 409.
    let u = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}"),
        "Content-Type: application/octet-stream\r\n",
        b"more",
    )
    .await;
    assert_eq!(u.status_line, "HTTP/1.1 409 Conflict");
    // Changing status: 403.
    let u = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}"),
        "x-image-meta-status: queued\r\n",
        b"",
    )
    .await;
    assert_eq!(u.status_line, "HTTP/1.1 403 Forbidden");
    assert!(
        u.body_str()
            .contains("Forbidden to modify &#x27;status&#x27; of image."),
        "{}",
        u.body_str()
    );

    let d = call(&emu, "DELETE", &format!("/v1/images/{id}"), "", b"").await;
    assert_eq!(d.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        d.masked_lines(),
        vec![
            "Content-Type: text/html; charset=UTF-8",
            "Content-Length: 0",
            "X-Openstack-Request-Id: req-<uuid4>",
            "Date: <date>"
        ]
    );
    let h = head(&emu, &format!("/v1/images/{id}")).await;
    assert_eq!(h.header("X-Image-Meta-Status"), Some("deleted"));
    assert_eq!(h.header("X-Image-Meta-Deleted"), Some("True"));
    let d = call(&emu, "DELETE", &format!("/v1/images/{id}"), "", b"").await;
    assert_eq!(d.status_line, "HTTP/1.1 404 Not Found");
}

/// Size mismatch on upload: 400 and the image is killed; size 0 without data is active;
/// bad header, duplicate id, protected delete.
#[tokio::test]
async fn create_errors() {
    let emu = spawn(FIXTURE).await;
    let r = call(&emu, "POST", "/v1/images", "x-image-meta-name: badsize\r\nx-image-meta-id: bbbbbbbb-0000-4000-8000-000000000001\r\nx-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\nx-image-meta-size: 999\r\nContent-Type: application/octet-stream\r\n", b"hello glance image one\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(r.body_str().contains("Supplied size (999) and size generated from uploaded image (23) did not match. Setting image status to &#x27;killed&#x27;."), "{}", r.body_str());
    let h = head(&emu, "/v1/images/bbbbbbbb-0000-4000-8000-000000000001").await;
    assert_eq!(h.header("X-Image-Meta-Status"), Some("killed"));
    assert_eq!(h.header("X-Image-Meta-Size"), Some("999"));
    assert_eq!(h.header("X-Image-Meta-Checksum"), None);

    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-size: 0\r\nx-image-meta-name: empty\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["image"]["status"], "active");
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-name: later\r\n",
        b"",
    )
    .await;
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["image"]["status"], "queued");

    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-foo_bar: 1\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str().contains("Bad header: x-image-meta-foo-bar"),
        "{}",
        r.body_str()
    );
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-id: 3c3d1d01-b48a-4639-8a88-08be3b9b5d78\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 409 Conflict");
    assert!(r
        .body_str()
        .contains("An image with identifier 3c3d1d01-b48a-4639-8a88-08be3b9b5d78 already exists"));
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-disk_format: floppy\r\n",
        b"",
    )
    .await;
    assert!(
        r.body_str()
            .contains("Invalid disk format &#x27;floppy&#x27; for image."),
        "{}",
        r.body_str()
    );
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-min_ram: lots\r\n",
        b"",
    )
    .await;
    assert!(
        r.body_str()
            .contains("Cannot convert image min_ram &#x27;lots&#x27; to an integer."),
        "{}",
        r.body_str()
    );
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-is_public: true\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden");
}

/// A shared-images body listing one image.
fn shared_one(id: &str, can_share: bool) -> String {
    format!(r#"{{"shared_images": [{{"image_id": "{id}", "can_share": {can_share}}}]}}"#)
}

/// Members: add, list, replace, delete, quota, shared-images, 405s.
#[tokio::test]
async fn members_flow() {
    let emu = spawn(FIXTURE).await;
    let id = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78";
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}/members/t1"),
        "Content-Type: application/json\r\n",
        br#"{"member": {"can_share": true}}"#,
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        r.masked_lines(),
        vec![
            "X-Openstack-Request-Id: req-<uuid4>",
            "Content-Length: 0",
            "Date: <date>"
        ]
    );
    call(&emu, "PUT", &format!("/v1/images/{id}/members/t2"), "", b"").await;
    let r = get(&emu, &format!("/v1/images/{id}/members")).await;
    assert_eq!(
        r.body_str(),
        r#"{"members": [{"member_id": "t1", "can_share": true}, {"member_id": "t2", "can_share": false}]}"#
    );
    let r = get(&emu, "/v1/shared-images/t1").await;
    assert_eq!(r.body_str(), shared_one(id, true));
    let r = get(&emu, &format!("/v1/images/{id}/members/t1")).await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.header("Allow"), None);
    let r = call(
        &emu,
        "DELETE",
        &format!("/v1/images/{id}/members/t1"),
        "",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let r = call(
        &emu,
        "DELETE",
        &format!("/v1/images/{id}/members/t1"),
        "",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    // shared-images follows the writes (it reads the store's member map).
    let r = get(&emu, "/v1/shared-images/t1").await;
    assert_eq!(r.body_str(), r#"{"shared_images": []}"#);
    let r = get(&emu, "/v1/shared-images/t2").await;
    assert_eq!(r.body_str(), shared_one(id, false));
    let many: Vec<String> = (0..129)
        .map(|i| format!(r#"{{"member_id": "m{i}"}}"#))
        .collect();
    let body = format!(r#"{{"memberships": [{}]}}"#, many.join(", "));
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}/members"),
        "",
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 413 Request Entity Too Large");
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}/members"),
        "",
        br#"{"memberships": [{"member_id": "x"}]}"#,
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let r = get(&emu, &format!("/v1/images/{id}/members")).await;
    assert_eq!(
        r.body_str(),
        r#"{"members": [{"member_id": "x", "can_share": false}]}"#
    );
    let r = get(&emu, "/v1/shared-images/t2").await;
    assert_eq!(r.body_str(), r#"{"shared_images": []}"#);
    let r = get(&emu, "/v1/shared-images/x").await;
    assert_eq!(r.body_str(), shared_one(id, false));
    let r = call(&emu, "POST", &format!("/v1/images/{id}"), "", b"").await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.header("Allow"), Some("GET, HEAD, PUT, DELETE"));
}

/// Concurrent writers: every property set by 20 parallel PUTs (purge off) survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing() {
    let emu = spawn(FIXTURE).await;
    let id = "aaaaaaaa-0000-4000-8000-000000000002";
    let mut tasks = Vec::new();
    for i in 0..20 {
        let addr = emu.addr();
        tasks.push(tokio::spawn(async move {
            let raw = format!("PUT /v1/images/{id} HTTP/1.1\r\nHost: h\r\nx-glance-registry-purge-props: false\r\nx-image-meta-property-k{i}: v{i}\r\nContent-Length: 0\r\n\r\n");
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut s, raw.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 12];
            tokio::io::AsyncReadExt::read_exact(&mut s, &mut buf).await.unwrap();
            assert_eq!(&buf, b"HTTP/1.1 200");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let h = head(&emu, &format!("/v1/images/{id}")).await;
    let props = h
        .names()
        .iter()
        .filter(|n| n.starts_with("X-Image-Meta-Property-K"))
        .count();
    assert_eq!(props, 20);
}

/// An upload that stalls past the idle timeout is abandoned: 400 and the image is killed.
#[tokio::test]
async fn stalled_upload_is_killed() {
    let emu = spawn_with(
        "[]",
        glance_emu::Config {
            upload_idle_timeout: std::time::Duration::from_millis(200),
            ..glance_emu::Config::default()
        },
    )
    .await;
    let mut c = Conn::open(&emu).await;
    c.send_raw(b"POST /v1/images HTTP/1.1\r\nHost: h\r\nx-image-meta-id: 99999999-0000-4000-8000-000000000001\r\nx-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        .await;
    let r = c.read_response(false).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(r
        .body_str()
        .contains("Client disconnected before sending all data to backend"));
    let h = head(&emu, "/v1/images/99999999-0000-4000-8000-000000000001").await;
    assert_eq!(h.header("X-Image-Meta-Status"), Some("killed"));
}

/// A declared size above image_size_cap is refused before anything is reserved.
#[tokio::test]
async fn size_cap_from_header() {
    let emu = spawn("[]").await;
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-size: 99999999999999999999999\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str()
            .contains("Denying attempt to upload image larger than 1099511627776 bytes."),
        "{}",
        r.body_str()
    );
}

/// WebOb's 500 page for `Accept: */*` (an exception Glance did not catch).
const PAGE_500: &str = "<html>\n <head>\n  <title>500 Internal Server Error</title>\n </head>\n <body>\n  <h1>500 Internal Server Error</h1>\n  The server has either erred or is incapable of performing the requested operation.<br /><br />\n\n\n\n </body>\n</html>";

fn json(r: &Resp) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|_| panic!("not JSON: {}", r.body_str()))
}

/// `x-image-meta-*` values as Glance 15 read them (each checked against the real server
/// by the oracle's write_values phase): a repeated header is one value joined with `,`,
/// `_` and `-` are one in names, an empty integer is Python's `int(None)` (a 500), the
/// registry's range errors come inside its own page, byte lengths, SQLite's limits, and
/// the fields an update drops.
#[tokio::test]
async fn write_header_values_as_glance_read_them() {
    let emu = spawn(FIXTURE).await;
    let id = |n: u32| format!("cccccccc-0000-4000-8000-{n:012}");
    let post = |extra: String| {
        let emu = &emu;
        async move { call(emu, "POST", "/v1/images", &extra, b"").await }
    };

    // Repeated and underscore-spelled headers.
    let r = post(format!(
        "x-image-meta-id: {}\r\nx-image-meta-name: one\r\nx-image-meta-name: two\r\nx-image-meta-property-a: 1\r\nx-image-meta-property-A: 2\r\n",
        id(1)
    ))
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(json(&r)["image"]["name"], "one,two");
    assert_eq!(json(&r)["image"]["properties"]["a"], "1,2");
    let r = post(format!(
        "x-image-meta-id: {}\r\nx_image_meta_name: under\r\n",
        id(2)
    ))
    .await;
    assert_eq!(json(&r)["image"]["name"], "under");
    let r = post("x-image-meta-disk_format: raw\r\nx-image-meta-disk_format: raw\r\n".into()).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(r
        .body_str()
        .contains("Invalid disk format &#x27;raw,raw&#x27; for image."));

    // An empty integer: int(None), uncaught.
    for field in ["size", "min_disk", "min_ram", "virtual_size"] {
        let r = post(format!("x-image-meta-{field}:\r\n")).await;
        assert_eq!(
            r.status_line, "HTTP/1.1 500 Internal Server Error",
            "{field}"
        );
        assert_eq!(r.body_str(), PAGE_500, "{field}");
    }
    // Python's int(): whitespace, a sign, underscores between digits.
    let r = post(format!(
        "x-image-meta-id: {}\r\nx-image-meta-min_ram: +1_024\r\n",
        id(3)
    ))
    .await;
    assert_eq!(json(&r)["image"]["min_ram"], 1024);

    // The registry's range check, inside its own page.
    let r = post("x-image-meta-min_disk: 2147483648\r\n".into()).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert_eq!(
        r.body_str(),
        "<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n  <h1>400 Bad Request</h1>\n  Failed to reserve image. Got error: 400 Bad Request\n\nThe server could not comply with the request since it is either malformed or otherwise incorrect.\n\n Failed to add image metadata. Got error: &#x27;min_disk&#x27; value out of range, must not exceed 2147483647.  <br /><br />\n\n\n\n </body>\n</html>"
    );
    // Refused at the write, a 500 and nothing written: SQLite's INTEGER; a timestamp on a
    // create (SQLite's DateTime takes no text). `deleted` is kept.
    for (n, line) in [
        (4, "x-image-meta-virtual_size: 9223372036854775808"),
        (5, "x-image-meta-created_at: 2015-01-01T00:00:00"),
    ] {
        let r = post(format!("x-image-meta-id: {}\r\n{line}\r\n", id(n))).await;
        assert_eq!(
            r.status_line, "HTTP/1.1 500 Internal Server Error",
            "{line}"
        );
        let h = head(&emu, &format!("/v1/images/{}", id(n))).await;
        assert_eq!(h.status_line, "HTTP/1.1 404 Not Found", "{line}");
    }
    // ...and so are the properties: only a delete soft-deleted those rows.
    let r = post(format!(
        "x-image-meta-id: {}\r\nx-image-meta-deleted: true\r\nx-image-meta-property-team: blue\r\n",
        id(6)
    ))
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(json(&r)["image"]["deleted"], true);
    assert_eq!(json(&r)["image"]["properties"]["team"], "blue");
    let h = head(&emu, &format!("/v1/images/{}", id(6))).await;
    assert_eq!(h.header("X-Image-Meta-Deleted"), Some("True"));
    assert_eq!(h.header("X-Image-Meta-Property-Team"), Some("blue"));
    // With data: the admin (noauth) sees deleted rows, so the upload's last registry
    // update finds its record saving and activates it (Glance 15: 201, not the 412 of a
    // record deleted during the upload).
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        &format!(
            "x-image-meta-id: {}\r\nx-image-meta-deleted: true\r\n\
             x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\n\
             Content-Type: application/octet-stream\r\n",
            id(8)
        ),
        b"0123456789",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created", "{}", r.body_str());
    assert_eq!(json(&r)["image"]["deleted"], true);
    assert_eq!(json(&r)["image"]["status"], "active");
    assert_eq!(
        json(&r)["image"]["checksum"],
        "781e5e245d69b566979b86e28d23f2c7"
    );

    // An update drops the timestamps, and the size cap holds for it too.
    let h = head(&emu, &format!("/v1/images/{}", id(1))).await;
    let created = h.header("X-Image-Meta-Created_at").unwrap().to_string();
    let r = call(&emu, "PUT", &format!("/v1/images/{}", id(1)), "x-image-meta-created_at: 2015-01-01T00:00:00\r\nx-image-meta-updated_at: 2015-01-01T00:00:00\r\n", b"").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(json(&r)["image"]["created_at"], created.as_str());
    assert_ne!(json(&r)["image"]["updated_at"], "2015-01-01T00:00:00");
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{}", id(1)),
        "x-image-meta-size: 9223372036854775808\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str()
            .contains("Denying attempt to upload image larger than 1099511627776 bytes."),
        "{}",
        r.body_str()
    );

    // A name's length is its bytes.
    let r = post(format!("x-image-meta-name: {}\r\n", "é".repeat(128))).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str().contains("Image name too long: 256"),
        "{}",
        r.body_str()
    );

    // A uuid-like id longer than 36 characters: the registry's uncaught 500.
    let r = post(format!("x-image-meta-id: {{{}}}\r\n", id(7))).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");

    // A copy-from is checked before the status rule.
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{}", id(1)),
        "x-glance-api-copy-from: file:///x\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str()
            .contains("External sources are not supported: &#x27;file:///x&#x27;"),
        "{}",
        r.body_str()
    );
    let r = call(
        &emu,
        "PUT",
        "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
        "x-glance-api-copy-from: http://example.invalid/x\r\n",
        b"",
    )
    .await;
    assert!(
        r.body_str()
            .contains("Attempted to update Location field for an image not in queued status."),
        "{}",
        r.body_str()
    );
}

/// `x-image-meta-store`: the schemes the reference Glance knew (file, filesystem, http,
/// https); the http store takes no data (410, image killed); an empty store header names
/// no store (400, the image stays queued).
#[tokio::test]
async fn store_header_as_glance_answered_it() {
    let emu = spawn(FIXTURE).await;
    let data = "x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\nContent-Type: application/octet-stream\r\n";
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-store: nfs\r\n",
        b"",
    )
    .await;
    assert!(
        r.body_str().contains("Required store nfs is invalid"),
        "{}",
        r.body_str()
    );
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-id: dddddddd-0000-4000-8000-000000000001\r\nx-image-meta-store: https\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    let r = call(&emu, "POST", "/v1/images", &format!("x-image-meta-id: dddddddd-0000-4000-8000-000000000002\r\nx-image-meta-store: http\r\n{data}"), b"bytes").await;
    assert_eq!(r.status_line, "HTTP/1.1 410 Gone");
    assert!(
        r.body_str()
            .contains("Error in store configuration. Adding images to store is disabled."),
        "{}",
        r.body_str()
    );
    let h = head(&emu, "/v1/images/dddddddd-0000-4000-8000-000000000002").await;
    assert_eq!(h.header("X-Image-Meta-Status"), Some("killed"));
    let r = call(&emu, "POST", "/v1/images", &format!("x-image-meta-id: dddddddd-0000-4000-8000-000000000003\r\nx-image-meta-store:\r\n{data}"), b"bytes").await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(
        r.body_str().contains("Store for scheme  not found"),
        "{}",
        r.body_str()
    );
    let h = head(&emu, "/v1/images/dddddddd-0000-4000-8000-000000000003").await;
    assert_eq!(h.header("X-Image-Meta-Status"), Some("queued"));
    let r = call(&emu, "POST", "/v1/images", &format!("x-image-meta-id: dddddddd-0000-4000-8000-000000000004\r\nx-image-meta-store: filesystem\r\n{data}"), b"bytes").await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(json(&r)["image"]["status"], "active");
}

/// An active record with a null size and bytes: Glance read the store (only `size == 0`
/// skips it) and answered with the store's size.
#[tokio::test]
async fn null_size_download_reads_the_bytes() {
    let fixture = r#"{"images": [{"id": "eeeeeeee-0000-4000-8000-000000000001", "name": "n", "status": "active", "size": null, "disk_format": "raw", "container_format": "bare", "is_public": true, "created_at": "2016-01-01T00:00:00", "updated_at": "2016-01-01T00:00:00", "data": {"base64": "aGVsbG8gd29ybGQK"}}]}"#;
    let emu = spawn(fixture).await;
    let r = get(&emu, "/v1/images/eeeeeeee-0000-4000-8000-000000000001").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Length"), Some("12"));
    assert_eq!(r.header("X-Image-Meta-Size"), Some("12"));
    assert_eq!(r.body, b"hello world\n");
}
