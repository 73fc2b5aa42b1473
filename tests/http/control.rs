//! The control API (`/_emu/`), the request journal, fault injection, the deterministic clock
//! and ids, over real TCP against an in-process server on port 0 (and the binary for the
//! command-line switches). Glance traffic is asserted byte for byte where faults touch it.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glance_emu::app::ConnInfo;
use glance_emu::auth::AuthMode;
use glance_emu::control::faults::{Action, FaultRule};
use glance_emu::control::{ControlSettings, ResetTo};
use glance_emu::embed::Emulator;
use glance_emu::model::Timestamp;
use glance_emu::render::webob::{ApiError, BodyKind};
use glance_emu::{Config, GlanceService};
use http::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const IMG: &str = "c0c0c0c0-0000-4000-8000-000000000001";
const PRIV: &str = "c0c0c0c0-0000-4000-8000-000000000002";

/// 1000 bytes of "0123456789" repeated; MD5 computed by the loader.
const FIXTURE: &str = r#"[
  {"id": "c0c0c0c0-0000-4000-8000-000000000001", "name": "ten-digits", "is_public": true,
   "disk_format": "raw", "container_format": "bare", "owner": "ta",
   "created_at": "2016-05-22T06:04:20.425843", "updated_at": "2016-05-22T06:04:22.719791",
   "data": {"repeat": "0123456789", "size": 1000}},
  {"id": "c0c0c0c0-0000-4000-8000-000000000002", "name": "private-b", "owner": "tb",
   "created_at": "2016-05-23T00:00:00", "data": {"base64": "aGVsbG8="}}
]"#;

fn body_1000() -> Vec<u8> {
    b"0123456789".repeat(100)
}

fn control_config(settings: ControlSettings) -> Config {
    Config {
        control: settings,
        ..Config::default()
    }
}

fn on() -> ControlSettings {
    ControlSettings {
        http: true,
        ..ControlSettings::default()
    }
}

async fn emu() -> Emulator {
    spawn_with(FIXTURE, control_config(on())).await
}

/// A control call with a JSON body; returns status and parsed JSON.
async fn ctl(emu: &Emulator, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    ctl_with(emu, method, path, "", body).await
}

async fn ctl_with(
    emu: &Emulator,
    method: &str,
    path: &str,
    extra: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = call(
        emu,
        method,
        path,
        &format!("Content-Type: application/json\r\n{extra}"),
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.header("Content-Type"), Some("application/json"), "{r:?}");
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (status(&r), v)
}

fn status(r: &Resp) -> u16 {
    r.status_line[9..12].parse().unwrap()
}

async fn add_fault(emu: &Emulator, rule: Value) -> String {
    let (s, v) = ctl(emu, "POST", "/_emu/faults", Some(rule)).await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

async fn journal(emu: &Emulator, query: &str) -> Value {
    let (s, v) = ctl(emu, "GET", &format!("/_emu/journal{query}"), None).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// Sends a request and reads until EOF or error: the raw bytes and how the read ended.
async fn raw_exchange(addr: SocketAddr, req: &str) -> (Vec<u8>, Option<ErrorKind>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("read timed out")
        {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

fn split_head(raw: &[u8]) -> (String, Vec<u8>) {
    let p = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no response head");
    (
        String::from_utf8(raw[..p].to_vec()).unwrap(),
        raw[p + 4..].to_vec(),
    )
}

fn get_req(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n")
}

// ---------------------------------------------------------------------------------------
// Off by default; loopback; separate listener; token
// ---------------------------------------------------------------------------------------

/// Without the control API, every /_emu/ path answers exactly what any unknown path does
/// (Glance's 300 version document).
#[tokio::test]
async fn without_control_no_emu_path_answers() {
    let emu = spawn(FIXTURE).await;
    for method in ["GET", "POST", "PUT", "DELETE", "HEAD"] {
        for path in [
            "/_emu",
            "/_emu/",
            "/_emu/images",
            "/_emu/journal",
            "/_emu/faults",
            "/_emu/faults/f1",
            "/_emu/reset",
            "/_emu/clock",
        ] {
            let raw = |p: &str| {
                format!("{method} {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\nContent-Length: 2\r\n\r\n{{}}")
            };
            let mut c = Conn::open(&emu).await;
            let got = c.roundtrip(raw(path).as_bytes()).await;
            let mut c = Conn::open(&emu).await;
            let other = c.roundtrip(raw("/not-emu").as_bytes()).await;
            assert_eq!(got.status_line, other.status_line, "{method} {path}");
            assert!(
                got.status_line.starts_with("HTTP/1.1 300"),
                "{method} {path}"
            );
            assert_eq!(got.masked_lines(), other.masked_lines(), "{method} {path}");
            assert_eq!(got.body, other.body, "{method} {path}");
        }
    }
    // Faults are off by default too: nothing but Glance answers.
    assert!(emu.control().faults().is_empty());
    assert_eq!(status(&head(&emu, &format!("/v1/images/{IMG}")).await), 200);
}

async fn call_service(svc: &GlanceService, method: &str, path: &str) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    use hyper::service::Service;
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1")
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = svc.call(req).await.expect("answered");
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body)
}

/// On the Glance port the control API answers loopback peers only; others get Glance.
#[tokio::test]
async fn control_answers_loopback_peers_only() {
    let emu = emu().await;
    let svc = emu.service().clone();
    let remote = svc.for_connection(Arc::new(ConnInfo::new(Some(
        "192.0.2.7:40000".parse().unwrap(),
    ))));
    let (s, _) = call_service(&remote, "GET", "/_emu/journal").await;
    assert_eq!(s, 300);
    let (s, _) = call_service(&remote, "POST", "/_emu/reset").await;
    assert_eq!(s, 300);
    for local in ["127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        let svc = svc.for_connection(Arc::new(ConnInfo::new(Some(local.parse().unwrap()))));
        let (s, _) = call_service(&svc, "GET", "/_emu/journal").await;
        assert_eq!(s, 200, "{local}");
    }
    // And over a real loopback socket.
    let (s, v) = ctl(&emu, "GET", "/_emu/", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["name"], "glance-emu control API");
}

/// `--control-listen`: the control API lives on its own listener (any peer) and the Glance
/// port never answers it.
#[tokio::test]
async fn separate_control_listener() {
    let emu = spawn_with(
        FIXTURE,
        control_config(ControlSettings {
            separate_listener: true,
            ..on()
        }),
    )
    .await;
    let r = get(&emu, "/_emu/journal").await;
    assert!(r.status_line.starts_with("HTTP/1.1 300"), "{r:?}");
    let ctl_svc = emu
        .service()
        .control_only()
        .for_connection(Arc::new(ConnInfo::new(Some(
            "198.51.100.1:5000".parse().unwrap(),
        ))));
    let (s, body) = call_service(&ctl_svc, "GET", "/_emu/faults").await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"faults": []})
    );
    let (s, body) = call_service(&ctl_svc, "GET", &format!("/v1/images/{IMG}")).await;
    assert_eq!(s, 404);
    assert!(String::from_utf8_lossy(&body).contains("only the control API"));
}

/// `--control-token`: checked on every control call, in X-Emu-Token only.
#[tokio::test]
async fn control_token_required() {
    let emu = spawn_with(
        FIXTURE,
        control_config(ControlSettings {
            token: Some("s3cret".into()),
            ..on()
        }),
    )
    .await;
    let (s, v) = ctl(&emu, "GET", "/_emu/journal", None).await;
    assert_eq!(
        (s, v),
        (401, json!({"error": "missing or wrong X-Emu-Token"}))
    );
    let (s, _) = ctl_with(&emu, "GET", "/_emu/journal", "X-Emu-Token: nope\r\n", None).await;
    assert_eq!(s, 401);
    let (s, _) = ctl_with(
        &emu,
        "GET",
        "/_emu/journal",
        "X-Auth-Token: s3cret\r\n",
        None,
    )
    .await;
    assert_eq!(s, 401, "Glance's token header is never accepted");
    let (s, _) = ctl_with(
        &emu,
        "GET",
        "/_emu/journal",
        "X-Emu-Token: s3cret\r\n",
        None,
    )
    .await;
    assert_eq!(s, 200);
    // Glance routes do not care about the control token.
    assert_eq!(status(&head(&emu, &format!("/v1/images/{IMG}")).await), 200);
    let j = emu.control().journal();
    let entry = j.iter().find(|e| e.method == "HEAD").unwrap();
    assert!(entry.header("x-emu-token").is_none());
}

/// The control index lists the endpoints; an unknown path is a JSON 404, a wrong method 405 with `Allow`, an unknown body field 400.
#[tokio::test]
async fn index_unknown_paths_and_methods() {
    let emu = emu().await;
    let (s, v) = ctl(&emu, "GET", "/_emu", None).await;
    assert_eq!(s, 200);
    assert!(v["endpoints"].as_array().unwrap().len() >= 10);
    let (s, v) = ctl(&emu, "GET", "/_emu/nope", None).await;
    assert_eq!(s, 404);
    assert_eq!(v["error"], "no control endpoint GET /_emu/nope");
    let r = call(&emu, "PATCH", "/_emu/faults", "", b"").await;
    assert_eq!(status(&r), 405);
    assert_eq!(r.header("Allow"), Some("GET, POST, DELETE"));
    let (s, v) = ctl(&emu, "PUT", "/_emu/journal", Some(json!({"capp": 1}))).await;
    assert_eq!(s, 400);
    assert!(
        v["error"].as_str().unwrap().contains("unknown field"),
        "{v}"
    );
}

// ---------------------------------------------------------------------------------------
// Images: load, export, remove, reset
// ---------------------------------------------------------------------------------------

/// `POST /_emu/images` loads records at run time (new ones added, same ids replaced, mismatched data flagged) and Glance serves them at once.
#[tokio::test]
async fn load_images_at_runtime() {
    let emu = emu().await;
    let doc = json!({"images": [
        {"id": "11111111-0000-4000-8000-000000000001", "name": "loaded",
         "data": {"base64": "aGVsbG8gd29ybGQ="}, "created_at": "2020-01-01T00:00:00"},
        {"id": IMG, "name": "replaced", "is_public": true, "created_at": "2020-01-02T00:00:00"},
        {"id": "11111111-0000-4000-8000-000000000003", "name": "mismatch", "size": 3,
         "data": {"base64": "aGVsbG8="}, "created_at": "2020-01-03T00:00:00"}
    ]});
    let (s, v) = ctl(&emu, "POST", "/_emu/images", Some(doc)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["loaded"], 3);
    assert_eq!(v["replaced"], 1);
    assert_eq!(v["ids"][0], "11111111-0000-4000-8000-000000000001");
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .contains("size 3 but data has 5 bytes"));
    let r = head(&emu, "/v1/images/11111111-0000-4000-8000-000000000001").await;
    assert_eq!(r.header("X-Image-Meta-Size"), Some("11"));
    assert_eq!(
        r.header("X-Image-Meta-Checksum"),
        Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
    );
    assert_eq!(
        head(&emu, &format!("/v1/images/{IMG}"))
            .await
            .header("X-Image-Meta-Name"),
        Some("replaced")
    );

    // Errors name the field; nothing is loaded from a bad document.
    let (s, v) = ctl(
        &emu,
        "POST",
        "/_emu/images",
        Some(json!([{"id": "ok-1"}, {"id": "bad", "created_at": "soon"}])),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        v["error"],
        "request.json: [1].created_at: invalid timestamp 'soon' (expected e.g. 2016-05-22T06:04:20.425843)"
    );
    assert!(emu.app().store.get("ok-1").is_none());
    let (s, v) = ctl(
        &emu,
        "POST",
        "/_emu/images",
        Some(json!([{"id": "dup"}, {"id": "dup"}])),
    )
    .await;
    assert_eq!(
        (s, v["error"].as_str().unwrap()),
        (400, "duplicate image id 'dup' in the document")
    );
    let r = call(&emu, "POST", "/_emu/images", "", b"{not json").await;
    assert_eq!(status(&r), 400);
}

/// Relative `{"file"}` paths in a loaded document resolve against `?base=`.
#[tokio::test]
async fn load_resolves_files_against_base() {
    let emu = emu().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob.bin"), b"file bytes").unwrap();
    let path = format!(
        "/_emu/images?base={}",
        percent_encoding::utf8_percent_encode(
            dir.path().to_str().unwrap(),
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let (s, v) = ctl(
        &emu,
        "POST",
        &path,
        Some(json!({"id": "from-file", "data": {"file": "blob.bin"}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(get(&emu, "/v1/images/from-file").await.body, b"file bytes");
}

/// `GET /_emu/images` exports every kind of field so that loading the export gives back the same records (files by path or inline).
#[tokio::test]
async fn export_round_trips() {
    let emu = emu().await;
    // An upload, a membership and a property, so every kind of field is exercised.
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-id: 22222222-0000-4000-8000-000000000001\r\nx-image-meta-name: up\r\nx-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\nx-image-meta-property-os_distro: cirros\r\nContent-Type: application/octet-stream\r\n",
        b"uploaded bytes",
    )
    .await;
    assert_eq!(status(&r), 201, "{}", r.body_str());
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{PRIV}/members/tc"),
        "",
        b"",
    )
    .await;
    assert_eq!(status(&r), 204);

    let (s, exported) = ctl(&emu, "GET", "/_emu/images", None).await;
    assert_eq!(s, 200);
    let images = exported["images"].as_array().unwrap();
    let ids: Vec<&str> = images.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["22222222-0000-4000-8000-000000000001", IMG, PRIV]);
    assert_eq!(
        images[1]["data"],
        json!({"repeat": "0123456789", "size": 1000})
    );
    assert_eq!(
        images[2]["members"],
        json!([{"member_id": "tc", "can_share": false}])
    );
    assert!(images[0]["data"]["file"].as_str().unwrap().starts_with('/'));
    let (_, inline) = ctl(&emu, "GET", "/_emu/images?inline_files=true", None).await;
    assert_eq!(
        inline["images"][0]["data"],
        json!({"base64": "dXBsb2FkZWQgYnl0ZXM="})
    );
    let (s, one) = ctl(&emu, "GET", &format!("/_emu/images/{PRIV}"), None).await;
    assert_eq!((s, &one), (200, &images[2]));

    // Loaded into a fresh emulator, every record answers byte for byte the same.
    let fresh = spawn_with("[]", control_config(on())).await;
    let (s, v) = ctl(&fresh, "POST", "/_emu/images", Some(inline.clone())).await;
    assert_eq!(s, 200, "{v}");
    for id in ids {
        let a = head(&emu, &format!("/v1/images/{id}")).await;
        let b = head(&fresh, &format!("/v1/images/{id}")).await;
        assert_eq!(a.status_line, b.status_line);
        assert_eq!(a.masked_lines(), b.masked_lines(), "{id}");
        assert_eq!(
            get(&emu, &format!("/v1/images/{id}")).await.body,
            get(&fresh, &format!("/v1/images/{id}")).await.body
        );
    }
    let (_, again) = ctl(&fresh, "GET", "/_emu/images?inline_files=true", None).await;
    assert_eq!(again, inline);
}

/// `DELETE /_emu/images/{id}` removes one record (404 the second time); reset undoes Glance-side changes back to the start-up records.
#[tokio::test]
async fn remove_and_reset() {
    let emu = emu().await;
    let (s, v) = ctl(&emu, "DELETE", &format!("/_emu/images/{PRIV}"), None).await;
    assert_eq!((s, v), (200, json!({"removed": PRIV})));
    assert_eq!(
        status(&head(&emu, &format!("/v1/images/{PRIV}")).await),
        404
    );
    let (s, _) = ctl(&emu, "DELETE", &format!("/_emu/images/{PRIV}"), None).await;
    assert_eq!(s, 404);
    // Glance-side changes too.
    let r = call(&emu, "DELETE", &format!("/v1/images/{IMG}"), "", b"").await;
    assert_eq!(status(&r), 200);
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-name: new\r\n",
        b"",
    )
    .await;
    assert_eq!(status(&r), 201);
    assert_eq!(emu.app().store.len(), 2);

    let (s, v) = ctl(&emu, "POST", "/_emu/reset", None).await;
    assert_eq!(
        (s, v),
        (200, json!({"images": 2, "to": "fixtures", "all": false}))
    );
    assert_eq!(emu.app().store.len(), 2);
    let r = head(&emu, &format!("/v1/images/{IMG}")).await;
    assert_eq!(r.header("X-Image-Meta-Status"), Some("active"));
    assert_eq!(
        status(&head(&emu, &format!("/v1/images/{PRIV}")).await),
        200
    );

    let (s, v) = ctl(&emu, "POST", "/_emu/reset", Some(json!({"to": "empty"}))).await;
    assert_eq!((s, v["images"].clone()), (200, json!(0)));
    assert!(emu.app().store.is_empty());
    let r = get(&emu, "/v1/images/detail?is_public=None").await;
    assert_eq!(r.body_str(), r#"{"images": []}"#);
    let (s, _) = ctl(
        &emu,
        "POST",
        "/_emu/reset",
        Some(json!({"to": "yesterday"})),
    )
    .await;
    assert_eq!(s, 400);
}

/// A reset to fixtures reads the fixture files again, so edits on disk take effect.
#[tokio::test]
async fn reset_rereads_fixture_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images.json");
    std::fs::write(&file, r#"{"id": "from-disk", "name": "v1"}"#).unwrap();
    let emu = Emulator::start_files(&[dir.path().to_path_buf()], control_config(on()))
        .await
        .unwrap();
    std::fs::write(&file, r#"{"id": "from-disk", "name": "v2"}"#).unwrap();
    assert_eq!(emu.control().reset(ResetTo::Fixtures).await.unwrap(), 1);
    assert_eq!(
        head(&emu, "/v1/images/from-disk")
            .await
            .header("X-Image-Meta-Name"),
        Some("v2")
    );
}

/// A reset with `all` also clears faults, journal, clock and id settings.
#[tokio::test]
async fn reset_all_restores_every_control() {
    let emu = emu().await;
    let _ = head(&emu, "/v1/images/x").await;
    add_fault(&emu, json!({"path": "/nothing", "action": "reset"})).await;
    ctl(
        &emu,
        "PUT",
        "/_emu/clock",
        Some(json!({"time": "2001-01-01T00:00:00"})),
    )
    .await;
    ctl(
        &emu,
        "PUT",
        "/_emu/ids",
        Some(json!({"seed": 1, "image_ids": ["q"]})),
    )
    .await;
    let (s, v) = ctl(&emu, "POST", "/_emu/reset", Some(json!({"all": true}))).await;
    assert_eq!((s, v["all"].clone()), (200, json!(true)));
    assert!(emu.control().faults().is_empty());
    assert!(emu.control().journal().is_empty());
    assert_eq!(
        ctl(&emu, "GET", "/_emu/clock", None).await.1["mode"],
        "real"
    );
    assert_eq!(
        ctl(&emu, "GET", "/_emu/ids", None).await.1,
        json!({"seed": null, "queued_image_ids": []})
    );
}

// ---------------------------------------------------------------------------------------
// Clock and ids
// ---------------------------------------------------------------------------------------

/// The clock can be frozen, set running, advanced and put back to real time, and records take their timestamps from it.
#[tokio::test]
async fn clock_freeze_advance_run_and_real() {
    let emu = emu().await;
    let (s, v) = ctl(&emu, "GET", "/_emu/clock", None).await;
    assert_eq!((s, v["mode"].clone()), (200, json!("real")));
    let (s, v) = ctl(
        &emu,
        "PUT",
        "/_emu/clock",
        Some(json!({"time": "2016-05-22T06:04:20.425843"})),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            200,
            json!({"mode": "frozen", "now": "2016-05-22T06:04:20.425843", "step_us": 0})
        )
    );
    // Date comes from the clock, in hyper's place (last), for 1.1 and 1.0 alike.
    let r = head(&emu, &format!("/v1/images/{IMG}")).await;
    assert_eq!(r.header("Date"), Some("Sun, 22 May 2016 06:04:20 GMT"));
    assert_eq!(r.names().last(), Some(&"Date"));
    let r = request(
        &emu,
        &format!("HEAD /v1/images/{IMG} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
    .await;
    let n = r.names();
    assert_eq!(&n[n.len() - 2..], ["Date", "Connection"]);
    assert_eq!(r.header("Date"), Some("Sun, 22 May 2016 06:04:20 GMT"));
    // Records loaded without timestamps get the clock's time.
    ctl(&emu, "POST", "/_emu/images", Some(json!({"id": "t1"}))).await;
    let (_, rec) = ctl(&emu, "GET", "/_emu/images/t1", None).await;
    assert_eq!(rec["created_at"], "2016-05-22T06:04:20.425843");
    assert_eq!(rec["updated_at"], "2016-05-22T06:04:20.425843");

    let (_, v) = ctl(
        &emu,
        "POST",
        "/_emu/clock/advance",
        Some(json!({"seconds": 1.5})),
    )
    .await;
    assert_eq!(v["now"], "2016-05-22T06:04:21.925843");
    let (_, v) = ctl(
        &emu,
        "POST",
        "/_emu/clock/advance",
        Some(json!({"us": -925843})),
    )
    .await;
    assert_eq!(v["now"], "2016-05-22T06:04:21.000000");
    let (s, _) = ctl(&emu, "POST", "/_emu/clock/advance", Some(json!({}))).await;
    assert_eq!(s, 400);

    let (_, v) = ctl(
        &emu,
        "PUT",
        "/_emu/clock",
        Some(json!({"time": "2030-01-01T00:00:00", "mode": "running"})),
    )
    .await;
    assert_eq!(v["mode"], "running");
    assert!(v["now"].as_str().unwrap().starts_with("2030-01-01T00:00:0"));
    let r = head(&emu, &format!("/v1/images/{IMG}")).await;
    assert!(r
        .header("Date")
        .unwrap()
        .starts_with("Tue, 01 Jan 2030 00:00:0"));

    let (s, _) = ctl(&emu, "PUT", "/_emu/clock", Some(json!({"time": "soon"}))).await;
    assert_eq!(s, 400);
    // A body of another shape says which shape it takes.
    let (s, v) = ctl(&emu, "PUT", "/_emu/clock", Some(json!("soon"))).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["error"],
        r#"invalid JSON body: invalid type: string "soon", expected a JSON object like {"time": "2016-05-22T06:04:20.425843", "mode": "frozen", "step_us": 0} at line 1 column 6"#
    );
    let (_, v) = ctl(&emu, "DELETE", "/_emu/clock", None).await;
    assert_eq!(v["mode"], "real");
    let r = head(&emu, &format!("/v1/images/{IMG}")).await;
    assert!(!r.header("Date").unwrap().contains("2030"));
}

/// A frozen clock with `step_us` moves on by that step after every timestamp it hands out.
#[tokio::test]
async fn frozen_clock_steps() {
    let emu = emu().await;
    let ctl = emu.control();
    ctl.freeze_clock(Timestamp::parse("2020-02-02T00:00:00").unwrap(), 250);
    ctl.load_json(r#"{"id": "s1"}"#, None).await.unwrap();
    ctl.load_json(r#"{"id": "s2"}"#, None).await.unwrap();
    assert_eq!(
        ctl.export_image("s1", false).unwrap()["created_at"],
        "2020-02-02T00:00:00.000000"
    );
    assert_eq!(
        ctl.export_image("s2", false).unwrap()["created_at"],
        "2020-02-02T00:00:00.000250"
    );
    assert_eq!(ctl.clock().step_us, 250);
}

async fn request_ids(emu: &Emulator, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let r = head(emu, &format!("/v1/images/{IMG}")).await;
        let id = r.header("X-Openstack-Request-Id").unwrap().to_string();
        assert_request_id(&id);
        out.push(id);
    }
    out
}

/// Two emulators with the same id seed hand out the same request ids (injected errors included).
#[tokio::test]
async fn seeded_request_ids_repeat() {
    let a = emu().await;
    let b = emu().await;
    for e in [&a, &b] {
        let (s, v) = ctl(e, "PUT", "/_emu/ids", Some(json!({"seed": 7}))).await;
        assert_eq!((s, v), (200, json!({"seed": 7, "queued_image_ids": []})));
    }
    let ids = request_ids(&a, 3).await;
    assert_eq!(ids, request_ids(&b, 3).await);
    assert_eq!(
        ids.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    // Injected errors carry the seeded id too.
    for e in [&a, &b] {
        add_fault(e, json!({"times": 1, "action": "status", "status": 500})).await;
    }
    let ra = head(&a, "/v1/images/x").await;
    let rb = head(&b, "/v1/images/x").await;
    assert_eq!(
        ra.header("X-Openstack-Request-Id"),
        rb.header("X-Openstack-Request-Id")
    );
    let (_, v) = ctl(&a, "DELETE", "/_emu/ids", None).await;
    assert_eq!(v["seed"], Value::Null);
    assert_ne!(request_ids(&a, 2).await, request_ids(&b, 2).await);
}

/// Queued image ids are used in order for new images, then ids are random again.
#[tokio::test]
async fn image_id_queue() {
    let emu = emu().await;
    let (s, v) = ctl(
        &emu,
        "PUT",
        "/_emu/ids",
        Some(json!({"image_ids": ["33333333-0000-4000-8000-000000000001", "second"]})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["queued_image_ids"][1], "second");
    assert_eq!(
        emu.app().new_image_id(),
        "33333333-0000-4000-8000-000000000001"
    );
    let (s, _) = ctl(
        &emu,
        "PUT",
        "/_emu/ids",
        Some(json!({"image_ids": ["a/b"]})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = ctl(&emu, "PUT", "/_emu/ids", Some(json!({}))).await;
    assert_eq!(s, 400);
}

/// Needs the v1 handlers to take ids and timestamps from `App::new_image_id` / `App::now`.
#[tokio::test]
async fn created_images_use_clock_and_queued_ids() {
    let emu = emu().await;
    ctl(
        &emu,
        "PUT",
        "/_emu/clock",
        Some(json!({"time": "2016-05-22T06:04:20.425843"})),
    )
    .await;
    ctl(
        &emu,
        "PUT",
        "/_emu/ids",
        Some(json!({"image_ids": ["44444444-0000-4000-8000-000000000001"]})),
    )
    .await;
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-name: det\r\n",
        b"",
    )
    .await;
    assert_eq!(status(&r), 201);
    assert_eq!(
        r.header("Location"),
        Some("http://127.0.0.1/v1/images/44444444-0000-4000-8000-000000000001")
    );
    assert!(
        r.body_str()
            .contains(r#""created_at": "2016-05-22T06:04:20.425843""#),
        "{}",
        r.body_str()
    );
    assert!(r
        .body_str()
        .contains(r#""updated_at": "2016-05-22T06:04:20.425843""#));
}

// ---------------------------------------------------------------------------------------
// Journal
// ---------------------------------------------------------------------------------------

/// The journal records every request (Glance, health, control) with tokens redacted.
#[tokio::test]
async fn journal_records_and_redacts() {
    let emu = emu().await;
    let r = request(
        &emu,
        &format!("HEAD /v1/images/{IMG}?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: very-secret-token\r\nX-Emu-Token: also-secret\r\nUser-Agent: python-glanceclient\r\n\r\n"),
    )
    .await;
    assert_eq!(status(&r), 200);
    let _ = get(&emu, "/v1/images/missing").await;
    let _ = get(&emu, "/healthcheck").await;
    let _ = ctl(&emu, "GET", "/_emu/clock", None).await;

    let (s, raw) = {
        let r = get(&emu, "/_emu/journal").await;
        (status(&r), r.body_str())
    };
    assert_eq!(s, 200);
    assert!(
        !raw.contains("very-secret-token") && !raw.contains("also-secret"),
        "{raw}"
    );
    let v: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["cap"], 1000);
    assert_eq!(
        v["recorded"], 2,
        "control calls and health checks are not journaled"
    );
    let e = &v["entries"][0];
    assert_eq!(e["seq"], 1);
    assert_eq!(e["method"], "HEAD");
    assert_eq!(e["path"], format!("/v1/images/{IMG}"));
    assert_eq!(e["query"], "x=1");
    assert_eq!(e["status"], 200);
    assert!(e["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(Timestamp::parse(e["time"].as_str().unwrap()).is_some());
    assert!(e["elapsed_ms"].as_f64().unwrap() >= 0.0);
    let headers = e["headers"].as_array().unwrap();
    assert_eq!(headers[0], json!(["host", "127.0.0.1"]));
    assert!(headers.contains(&json!(["x-auth-token", "<redacted>"])));
    assert!(headers.contains(&json!(["x-emu-token", "<redacted>"])));
    assert!(headers.contains(&json!(["user-agent", "python-glanceclient"])));
    assert_eq!(v["entries"][1]["status"], 404);
    assert_eq!(e["fault"], Value::Null);
}

/// Journal filters (method, path, status, tenant, since, limit) select entries; DELETE clears them.
#[tokio::test]
async fn journal_filters_and_clear() {
    let emu = spawn_with(
        FIXTURE,
        Config {
            auth: AuthMode::TrustedHeaders,
            ..control_config(on())
        },
    )
    .await;
    let who = "X-Identity-Status: Confirmed\r\nX-Tenant-Id: ta\r\nX-Roles: member\r\n";
    for path in [format!("/v1/images/{IMG}"), "/v1/images/nope".to_string()] {
        let _ = call(&emu, "HEAD", &path, who, b"").await;
    }
    let _ = call(&emu, "GET", "/v1/images", who, b"").await;
    let _ = get(&emu, "/v1/images").await; // 401: no identity
    let count = |v: Value| v["entries"].as_array().unwrap().len();
    assert_eq!(count(journal(&emu, "").await), 4);
    assert_eq!(count(journal(&emu, "?method=head").await), 2);
    assert_eq!(count(journal(&emu, "?status=404").await), 1);
    assert_eq!(count(journal(&emu, "?status=4xx").await), 2);
    assert_eq!(count(journal(&emu, "?path=/v1/images/*").await), 2);
    assert_eq!(count(journal(&emu, "?tenant=ta").await), 3);
    assert_eq!(count(journal(&emu, "?since=3").await), 1);
    let last = journal(&emu, "?limit=1").await;
    assert_eq!(last["entries"][0]["seq"], 4);
    assert_eq!(last["entries"][0]["status"], 401);
    assert_eq!(last["entries"][0]["tenant"], Value::Null);
    let (s, _) = ctl(&emu, "GET", "/_emu/journal?colour=red", None).await;
    assert_eq!(s, 400);

    let (s, v) = ctl(&emu, "DELETE", "/_emu/journal", None).await;
    assert_eq!((s, v), (200, json!({"cleared": true})));
    let _ = get(&emu, "/versions").await;
    let v = journal(&emu, "").await;
    assert_eq!(count(v.clone()), 1);
    assert_eq!(
        v["entries"][0]["seq"], 5,
        "sequence numbers are never reused"
    );
}

/// The journal never grows past its cap: the oldest entries are dropped.
#[tokio::test]
async fn journal_cap_drops_oldest() {
    let emu = spawn_with(
        FIXTURE,
        control_config(ControlSettings {
            journal_cap: 3,
            ..on()
        }),
    )
    .await;
    for i in 0..10 {
        let _ = head(&emu, &format!("/v1/images/n{i}")).await;
    }
    let v = journal(&emu, "").await;
    assert_eq!(v["cap"], 3);
    assert_eq!(v["recorded"], 10);
    assert_eq!(v["dropped"], 7);
    let paths: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/v1/images/n7", "/v1/images/n8", "/v1/images/n9"]);

    let (s, v) = ctl(&emu, "PUT", "/_emu/journal", Some(json!({"cap": 1}))).await;
    assert_eq!((s, v), (200, json!({"cap": 1})));
    let v = journal(&emu, "").await;
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    assert_eq!(v["dropped"], 9);
    let (s, _) = ctl(
        &emu,
        "PUT",
        "/_emu/journal",
        Some(json!({"cap": 2_000_000})),
    )
    .await;
    assert_eq!(s, 400);
    // Cap 0 stops journaling altogether.
    ctl(&emu, "PUT", "/_emu/journal", Some(json!({"cap": 0}))).await;
    let _ = head(&emu, "/v1/images/more").await;
    let v = journal(&emu, "").await;
    assert_eq!(
        (v["recorded"].clone(), v["entries"].clone()),
        (json!(10), json!([]))
    );
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

/// A `status` fault answers with Glance's own error page for that status, as many times as asked, then stops.
#[tokio::test]
async fn fault_status_uses_glance_error_pages() {
    let emu = emu().await;
    let (s, v) = ctl(
        &emu,
        "POST",
        "/_emu/faults",
        Some(json!({"method": "GET", "path": "/v1/images/*", "times": 2,
                    "action": "status", "status": 503, "message": "Try again later"})),
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(
        v,
        json!({"id": "f1", "method": "GET", "path": "/v1/images/*", "after": 0, "times": 2,
               "delay_ms": 0, "action": "status", "status": 503, "message": "Try again later",
               "matched": 0, "fired": 0})
    );
    let path = format!("/v1/images/{IMG}");
    let r = request(
        &emu,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"),
    )
    .await;
    let expected = ApiError::explained(StatusCode::SERVICE_UNAVAILABLE, "Try again later")
        .body(BodyKind::Json, "GET");
    assert_eq!(r.status_line, "HTTP/1.1 503 Service Unavailable");
    assert_eq!(
        r.masked_lines(),
        [
            format!("Content-Length: {}", expected.len()),
            "Content-Type: application/json".to_string(),
            "X-Openstack-Request-Id: req-<uuid4>".to_string(),
            "Date: <date>".to_string(),
        ]
    );
    assert_eq!(r.body_str(), expected);
    // Default Accept (*/*) gets WebOb's HTML page; other statuses use WebOb's texts.
    let r = get(&emu, &path).await;
    assert_eq!(
        r.body_str(),
        ApiError::explained(StatusCode::SERVICE_UNAVAILABLE, "Try again later")
            .body(BodyKind::Html, "GET")
    );
    // Only twice, only GET.
    assert_eq!(status(&get(&emu, &path).await), 200);
    assert_eq!(status(&head(&emu, &path).await), 200);
    let (_, v) = ctl(&emu, "GET", "/_emu/faults/f1", None).await;
    assert_eq!(
        (v["matched"].clone(), v["fired"].clone()),
        (json!(3), json!(2))
    );
    let j = journal(&emu, "?fault=f1").await;
    assert_eq!(j["entries"].as_array().unwrap().len(), 2);
    assert_eq!(j["entries"][0]["action"], "status");
    assert_eq!(j["entries"][0]["status"], 503);

    // HEAD gets WebOb's empty HEAD form; 429 keeps its standard reason.
    add_fault(
        &emu,
        json!({"method": "HEAD", "action": "status", "status": 429}),
    )
    .await;
    let r = head(&emu, &path).await;
    assert_eq!(r.status_line, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(r.header("Content-Length"), Some("0"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=UTF-8"));
}

/// A `delay` fault holds the answer for at least `delay_ms`, then answers normally.
#[tokio::test]
async fn fault_delay() {
    let emu = emu().await;
    add_fault(
        &emu,
        json!({"path": "/v1/images/*", "action": "delay", "delay_ms": 300}),
    )
    .await;
    let t = Instant::now();
    let r = get(&emu, &format!("/v1/images/{IMG}")).await;
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(status(&r), 200);
    assert_eq!(r.body, body_1000());
    let t = Instant::now();
    let _ = get(&emu, "/versions").await;
    assert!(t.elapsed() < Duration::from_millis(300));
    let e = &journal(&emu, "?fault=*").await["entries"][0];
    assert_eq!(e["action"], "delay");
    assert!(e["elapsed_ms"].as_f64().unwrap() >= 300.0);
}

/// A `reset` fault resets the connection without an answer; the next request is served.
#[tokio::test]
async fn fault_reset_connection() {
    let emu = emu().await;
    add_fault(
        &emu,
        json!({"method": "GET", "path": "/v1/images/*", "times": 1, "action": "reset"}),
    )
    .await;
    let (bytes, err) = raw_exchange(emu.addr(), &get_req(&format!("/v1/images/{IMG}"))).await;
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
    // The handler never ran; the next request is served normally.
    assert_eq!(
        get(&emu, &format!("/v1/images/{IMG}")).await.body,
        body_1000()
    );
    let e = &journal(&emu, "").await["entries"][0];
    assert_eq!(
        (e["status"].clone(), e["action"].clone()),
        (Value::Null, json!("reset"))
    );
}

/// A fault with `tenant` only hits that tenant's requests, and `delay_ms` applies before the reset.
#[tokio::test]
async fn fault_reset_after_delay_and_only_for_tenant() {
    let emu = spawn_with(
        FIXTURE,
        Config {
            auth: AuthMode::TrustedHeaders,
            ..control_config(on())
        },
    )
    .await;
    add_fault(
        &emu,
        json!({"tenant": "tb", "delay_ms": 100, "action": "reset"}),
    )
    .await;
    let as_tenant = |t: &str| {
        format!("HEAD /v1/images/{IMG} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Identity-Status: Confirmed\r\nX-Tenant-Id: {t}\r\nX-Roles: member\r\n\r\n")
    };
    let mut c = Conn::open(&emu).await;
    assert_eq!(status(&c.roundtrip(as_tenant("ta").as_bytes()).await), 200);
    let t = Instant::now();
    let (bytes, err) = raw_exchange(emu.addr(), &as_tenant("tb")).await;
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(bytes.is_empty());
    assert_eq!(err, Some(ErrorKind::ConnectionReset));
}

/// `close_after_headers` sends the full head, then closes with no body.
#[tokio::test]
async fn fault_close_after_headers() {
    let emu = emu().await;
    add_fault(
        &emu,
        json!({"path": "/v1/images/*", "action": "close_after_headers"}),
    )
    .await;
    let (bytes, _) = raw_exchange(emu.addr(), &get_req(&format!("/v1/images/{IMG}"))).await;
    let (head_text, body) = split_head(&bytes);
    assert!(
        head_text.starts_with("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"),
        "{head_text}"
    );
    assert!(head_text.contains("X-Image-Meta-Checksum: "));
    assert!(body.is_empty(), "no body byte after the head");
    // Bodiless answers (HEAD) get the head, then the connection closes.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(format!("HEAD /v1/images/{IMG} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await;
    assert_eq!(status(&r), 200);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed().await);
    let e = &journal(&emu, "").await["entries"][0];
    assert_eq!(
        (e["status"].clone(), e["action"].clone()),
        (json!(200), json!("close_after_headers"))
    );
}

/// `truncate` sends a short body with a matching `Content-Length` while the image metadata still describes the whole image.
#[tokio::test]
async fn fault_truncated_body() {
    let emu = emu().await;
    add_fault(
        &emu,
        json!({"path": "/v1/images/*", "times": 1, "action": "truncate", "bytes": 100}),
    )
    .await;
    let mut c = Conn::open(&emu).await;
    let path = format!("/v1/images/{IMG}");
    let r = c.roundtrip(get_req(&path).as_bytes()).await;
    // A short download that is valid HTTP: Content-Length says 100, the image metadata
    // still says 1000 bytes with the full checksum.
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert_eq!(r.names()[0], "Content-Length");
    assert_eq!(r.header("X-Image-Meta-Size"), Some("1000"));
    assert_eq!(
        r.header("X-Image-Meta-Checksum"),
        Some(glance_emu::fixtures::hex_md5(&body_1000()).as_str())
    );
    assert_eq!(r.body, &body_1000()[..100]);
    // The connection is still good.
    let r = c.roundtrip(get_req(&path).as_bytes()).await;
    assert_eq!(r.body, body_1000());
}

/// `truncate` with `keep_length` keeps the full `Content-Length` and closes after the short body.
#[tokio::test]
async fn fault_truncated_body_keep_length_closes() {
    let emu = emu().await;
    add_fault(
        &emu,
        json!({"path": "/v1/images/*", "action": "truncate", "keep_length": true}),
    )
    .await;
    let (bytes, _) = raw_exchange(emu.addr(), &get_req(&format!("/v1/images/{IMG}"))).await;
    let (head_text, body) = split_head(&bytes);
    assert!(
        head_text.contains("Content-Length: 1000\r\n"),
        "{head_text}"
    );
    assert_eq!(
        body,
        &body_1000()[..500],
        "half by default, then the connection closes"
    );
}

/// `slow_body` sends the whole body in timed chunks, byte for byte the same.
#[tokio::test]
async fn fault_slow_body() {
    let emu = emu().await;
    add_fault(
        &emu,
        json!({"path": "/v1/images/*", "action": "slow_body", "chunk_bytes": 250, "interval_ms": 100}),
    )
    .await;
    let t = Instant::now();
    let r = get(&emu, &format!("/v1/images/{IMG}")).await;
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.body, body_1000());
}

/// Fault matching honours method (any case), path with query, `after`, `times` and `fraction`, and the rule list shows hit counts.
#[tokio::test]
async fn fault_matching_after_fraction_and_listing() {
    let emu = emu().await;
    ctl(&emu, "PUT", "/_emu/ids", Some(json!({"seed": 3}))).await;
    let never = add_fault(
        &emu,
        json!({"id": "never", "fraction": 0.0, "action": "status", "status": 500}),
    )
    .await;
    assert_eq!(never, "never");
    add_fault(
        &emu,
        json!({"method": "head", "path": "/v1/images/*?probe=1", "after": 1, "times": 1,
               "action": "status", "status": 502}),
    )
    .await;
    let p = format!("/v1/images/{IMG}?probe=1");
    let codes: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(status(&head(&emu, &p).await));
        }
        v
    };
    assert_eq!(codes, [200, 502, 200]);
    assert_eq!(status(&head(&emu, &format!("/v1/images/{IMG}")).await), 200);
    let (_, list) = ctl(&emu, "GET", "/_emu/faults", None).await;
    let list = list["faults"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], "never");
    assert_eq!(list[0]["matched"], 4);
    assert_eq!(list[0]["fired"], 0);
    assert_eq!(list[1]["id"], "f1");
    assert_eq!(
        (list[1]["matched"].clone(), list[1]["fired"].clone()),
        (json!(3), json!(1))
    );

    // Errors: unknown fields, bad values, duplicate ids.
    for (rule, code) in [
        (json!({"action": "reset", "pth": "/x"}), 400),
        (json!({"action": "status", "status": 302}), 400),
        (json!({"action": "status"}), 400),
        (json!({"action": "teleport"}), 400),
        (json!({"action": "reset", "fraction": 2}), 400),
        (json!({"id": "never", "action": "reset"}), 409),
    ] {
        let (s, v) = ctl(&emu, "POST", "/_emu/faults", Some(rule.clone())).await;
        assert_eq!(s, code, "{rule} -> {v}");
        assert!(v["error"].is_string());
    }

    let (s, v) = ctl(&emu, "DELETE", "/_emu/faults/never", None).await;
    assert_eq!((s, v), (200, json!({"removed": "never"})));
    let (s, _) = ctl(&emu, "DELETE", "/_emu/faults/never", None).await;
    assert_eq!(s, 404);
    let (s, _) = ctl(&emu, "GET", "/_emu/faults/never", None).await;
    assert_eq!(s, 404);
    let (s, v) = ctl(&emu, "DELETE", "/_emu/faults", None).await;
    assert_eq!((s, v), (200, json!({"removed": 1})));
    assert_eq!(
        ctl(&emu, "GET", "/_emu/faults", None).await.1,
        json!({"faults": []})
    );
}

/// A fraction with a seed gives the same pattern every run.
#[tokio::test]
async fn fault_fraction_is_seeded() {
    async fn pattern() -> Vec<u16> {
        let emu = emu().await;
        ctl(&emu, "PUT", "/_emu/ids", Some(json!({"seed": 99}))).await;
        add_fault(
            &emu,
            json!({"fraction": 0.5, "action": "status", "status": 500}),
        )
        .await;
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(status(&head(&emu, &format!("/v1/images/{IMG}")).await));
        }
        v
    }
    let a = pattern().await;
    assert_eq!(a, pattern().await);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

/// Health checks are never broken by fault rules.
#[tokio::test]
async fn healthcheck_is_exempt() {
    let emu = emu().await;
    add_fault(&emu, json!({"action": "reset"})).await;
    let r = get(&emu, "/healthcheck").await;
    assert_eq!(r.body_str(), "OK");
}

/// The same controls from Rust, on an embedded emulator, without the HTTP API.
#[tokio::test]
async fn embedded_controller() {
    let (images, _) =
        glance_emu::fixtures::parse_document("t.json".as_ref(), FIXTURE, Timestamp::now()).unwrap();
    let emu = Emulator::start(images).await.unwrap();
    let ctl = emu.control();
    let id = ctl
        .add_fault(
            FaultRule::new(Action::Truncate {
                bytes: Some(10),
                keep_length: false,
            })
            .method("GET")
            .times(1),
        )
        .unwrap();
    let r = get(&emu, &format!("/v1/images/{IMG}")).await;
    assert_eq!(r.body, b"0123456789");
    assert_eq!(ctl.faults()[0].fired, 1);
    assert!(ctl.remove_fault(&id));
    let j = ctl.journal();
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].fault.as_deref(), Some("f1"));
    // No HTTP control API by default: /_emu/ is Glance's.
    assert!(get(&emu, "/_emu/journal")
        .await
        .status_line
        .starts_with("HTTP/1.1 300"));
    ctl.reset(ResetTo::Empty).await.unwrap();
    assert!(emu.app().store.is_empty());
    emu.stop().await;
}

// ---------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------

struct Bin {
    child: std::process::Child,
    addr: SocketAddr,
    lines: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Bin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bin(args: &[&str]) -> Bin {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), FIXTURE).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_glance-emu"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--data",
            dir.path().to_str().unwrap(),
        ])
        .args(args)
        .env_remove("GLANCE_EMU_CONTROL")
        .env_remove("GLANCE_EMU_CONTROL_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line.split_whitespace().nth(3).unwrap().to_string();
    lines.push(line.trim().to_string());
    if args.contains(&"--control") {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    let addr = url.trim_start_matches("http://").parse().unwrap();
    Bin {
        child,
        addr,
        lines,
        _dir: dir,
    }
}

async fn bin_get(addr: SocketAddr, path: &str, extra: &str) -> (u16, String) {
    let (bytes, _) = raw_exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{extra}\r\n"),
    )
    .await;
    let (head_text, body) = split_head(&bytes);
    (
        head_text[9..12].parse().unwrap(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// The binary's control switches (`--control`, token, frozen clock, id seed) take effect; without `--control`, `/_emu/` is Glance's.
#[tokio::test]
async fn binary_control_switches() {
    let off = start_bin(&[]);
    let (s, _) = bin_get(off.addr, "/_emu/journal", "").await;
    assert_eq!(s, 300, "without --control, /_emu/ is Glance's");
    drop(off);

    let on = start_bin(&[
        "--control",
        "--control-token",
        "tok",
        "--freeze-clock",
        "2016-05-22T06:04:20.425843",
        "--id-seed",
        "5",
    ]);
    assert_eq!(
        on.lines[1],
        format!(
            "glance-emu control API on http://{}/_emu/ (loopback peers only)",
            on.addr
        )
    );
    assert_eq!(bin_get(on.addr, "/_emu/journal", "").await.0, 401);
    let (s, body) = bin_get(on.addr, "/_emu/clock", "X-Emu-Token: tok\r\n").await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"mode": "frozen", "now": "2016-05-22T06:04:20.425843", "step_us": 0})
    );
    let (s, body) = bin_get(on.addr, "/_emu/ids", "X-Emu-Token: tok\r\n").await;
    assert_eq!(
        (s, body.as_str()),
        (200, r#"{"seed":5,"queued_image_ids":[]}"#)
    );
    let _ = bin_get(on.addr, &format!("/v1/images/{IMG}"), "").await;
    let (_, body) = bin_get(on.addr, "/_emu/journal", "X-Emu-Token: tok\r\n").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["entries"][0]["time"], "2016-05-22T06:04:20.425843");

    // A separate control listener.
    let sep = start_bin(&["--control", "--control-listen", "127.0.0.1:0"]);
    let ctl_addr: SocketAddr = sep.lines[1]
        .trim_start_matches("glance-emu control API on http://")
        .trim_end_matches("/_emu/")
        .parse()
        .unwrap();
    assert_eq!(bin_get(sep.addr, "/_emu/journal", "").await.0, 300);
    assert_eq!(bin_get(ctl_addr, "/_emu/journal", "").await.0, 200);
    assert_eq!(bin_get(ctl_addr, "/v1/images", "").await.0, 404);

    // --probe for container health checks.
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_glance-emu"))
        .args(["--probe", "--listen", &sep.addr.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    drop(sep);
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_glance-emu"))
        .args(["--probe", "--listen", "127.0.0.1:1"])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!st.success());
}
