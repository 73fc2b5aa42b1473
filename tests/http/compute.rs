//! Integration tests of the compute-style (Nova) image views: an in-process server on
//! 127.0.0.1:0, raw HTTP/1.1 over TCP, exact status lines, header names as on the wire and
//! bodies. Expected bodies were produced by CPython 2.7.18 running Nova's own view code.

use glance_emu::auth::AuthMode;
use glance_emu::edge::server::ServerOptions;
use glance_emu::embed::Emulator;
use glance_emu::fixtures::parse_document;
use glance_emu::model::Timestamp;
use glance_emu::Config;
use serde_json::{json, Value};

use crate::support::*;

const SEEDS: &str = include_str!("../../data/compute-seeds.json");
const SEED_ID: &str = "e3d37ab2-8dc0-4000-b773-b15aad79ad0a";
const LABEL_ID: &str = "4f0c7d52-6b3e-4d0a-9a55-2c81e4b1f6d3";
const SERVER_ID: &str = "f879f81a-5455-4e57-a0aa-3773e21c2259";

/// Test records beside the seeds: one per status, plus the odd cases.
const EXTRA: &str = r#"{"images": [
  {"id": "7c0a1d7e-0000-4000-8000-000000000001", "name": "plain-active", "status": "active",
   "size": 13167616, "disk_format": "qcow2", "container_format": "bare", "is_public": true,
   "owner": "tenant-a", "min_ram": 64, "min_disk": 1,
   "created_at": "2016-05-22T06:04:20.425843", "updated_at": "2016-05-22T06:04:22.719791"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000002", "name": "queued", "status": "queued",
   "size": null, "owner": "tenant-a", "created_at": "2016-05-23T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000003", "name": "saving", "status": "saving",
   "size": 10, "owner": "tenant-a", "created_at": "2016-05-24T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000004", "name": "killed", "status": "killed",
   "size": 10, "owner": "tenant-a", "created_at": "2016-05-25T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000005", "name": "deactivated", "status": "deactivated",
   "size": 10, "owner": "tenant-a", "created_at": "2016-05-26T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000006", "name": "pending", "status": "pending_delete",
   "deleted": true, "deleted_at": "2016-05-27T01:00:00.000000",
   "size": 10, "owner": "tenant-a", "created_at": "2016-05-27T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000007", "name": "gone", "status": "deleted",
   "deleted": true, "deleted_at": "2016-05-28T01:00:00.000000", "properties": {"os_distro": "x"},
   "size": 10, "owner": "tenant-a", "created_at": "2016-05-28T00:00:00.000000",
   "updated_at": "2016-05-28T01:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000008", "name": "uploading", "status": "uploading",
   "size": 10, "owner": "tenant-a", "created_at": "2016-05-29T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-000000000009", "status": "active", "size": 5,
   "owner": "tenant-a", "is_public": true, "properties": {"auto_disk_config": "True"},
   "created_at": "2016-05-30T00:00:00.000000", "updated_at": "2016-05-30T00:00:00.999999"},
  {"id": "7c0a1d7e-0000-4000-8000-00000000000a", "name": "bdm", "status": "active", "size": 5,
   "owner": "tenant-a", "is_public": true,
   "properties": {"block_device_mapping": "[{\"device_name\": \"vda\", \"boot_index\": 0}]"},
   "created_at": "2016-05-31T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-00000000000b", "name": "caf\u00e9 \u2615", "status": "active",
   "size": 5, "owner": "tenant-a", "is_public": true, "protected": true,
   "created_at": "2016-06-01T00:00:00.000000"},
  {"id": "7c0a1d7e-0000-4000-8000-00000000000c", "name": "b-private", "status": "active",
   "size": 5, "owner": "tenant-b", "is_public": false,
   "created_at": "2016-06-02T00:00:00.000000"}
]}"#;

/// `GET /v2/820712/images/{seed}` as CPython 2.7 + Nova 2015.1 rendered it (`BASE` = host).
const SEED_SHOW: &str = r#"{"image": {"status": "ACTIVE", "updated": "2013-06-07T17:00:39Z", "links": [{"href": "BASE/v2/820712/images/e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "rel": "self"}, {"href": "BASE/820712/images/e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "rel": "bookmark"}, {"href": "BASE/images/e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "type": "application/vnd.openstack.image", "rel": "alternate"}], "OS-DCF:diskConfig": "MANUAL", "id": "e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "OS-EXT-IMG-SIZE:size": 5562828800, "name": "voweb1-firstimage", "created": "2013-06-07T16:38:49Z", "minDisk": 40, "server": {"id": "f879f81a-5455-4e57-a0aa-3773e21c2259", "links": [{"href": "BASE/v2/820712/servers/f879f81a-5455-4e57-a0aa-3773e21c2259", "rel": "self"}, {"href": "BASE/820712/servers/f879f81a-5455-4e57-a0aa-3773e21c2259", "rel": "bookmark"}]}, "progress": 100, "minRam": 1024, "metadata": {"com.rackspace__1__release_id": "2100", "instance_type_name": "1GB Standard Instance", "instance_type_vcpus": "1", "com.rackspace__1__options": "4", "com.rackspace__1__build_core": "1", "base_image_ref": "d47aeca3-38d6-4dcb-bccf-534492986ae0", "com.rackspace__1__release_version": "3", "image_type": "snapshot", "com.rackspace__1__source": "kickstart", "instance_type_ephemeral_gb": "0", "com.rackspace__1__build_managed": "1", "org.openstack__1__architecture": "x64", "com.rackspace__1__visible_core": "1", "instance_type_vcpu_weight": "12", "instance_type_root_gb": "40", "instance_type_id": "3", "com.rackspace__1__release_build_date": "2013-04-16", "instance_type_rxtx_factor": "3", "com.rackspace__1__visible_rackconnect": "1", "org.openstack__1__os_distro": "com.microsoft.server", "com.rackspace__1__visible_managed": "1", "instance_uuid": "f879f81a-5455-4e57-a0aa-3773e21c2259", "instance_type_memory_mb": "1024", "instance_type_swap": "1024", "com.rackspace__1__build_rackconnect": "1", "user_id": "346289", "instance_type_flavorid": "3", "auto_disk_config": "False", "os_type": "windows", "rax_activation_profile": "windows", "org.openstack__1__os_version": "2008.2"}}}"#;

/// Seed 003's example response body (Rackspace host), verbatim apart from whitespace.
const SEED_003_EXAMPLE: &str = r#"{"image": {"status": "ACTIVE", "updated": "2013-06-07T17:00:39Z",
 "links": [{"href": "https://dfw.servers.api.rackspacecloud.com/v2/820712/images/e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "rel": "self"},
  {"href": "https://dfw.servers.api.rackspacecloud.com/820712/images/e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "rel": "bookmark"},
  {"href": "https://dfw.servers.api.rackspacecloud.com/images/e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "type": "application/vnd.openstack.image", "rel": "alternate"}],
 "OS-DCF:diskConfig": "MANUAL", "id": "e3d37ab2-8dc0-4000-b773-b15aad79ad0a", "OS-EXT-IMG-SIZE:size": 5562828800,
 "name": "voweb1-firstimage", "created": "2013-06-07T16:38:49Z", "minDisk": 40,
 "server": {"id": "f879f81a-5455-4e57-a0aa-3773e21c2259", "links": [
  {"href": "https://dfw.servers.api.rackspacecloud.com/v2/820712/servers/f879f81a-5455-4e57-a0aa-3773e21c2259", "rel": "self"},
  {"href": "https://dfw.servers.api.rackspacecloud.com/820712/servers/f879f81a-5455-4e57-a0aa-3773e21c2259", "rel": "bookmark"}]},
 "progress": 100, "minRam": 1024,
 "metadata": {"image_type": "snapshot", "instance_type_rxtx_factor": "3", "auto_disk_config": "False", "os_type": "windows"}}}"#;

/// Seed 000's example (`GET /images/{id}/metadata`), as printed there.
const SEED_000_EXAMPLE: &str = r#"{"metadata": {
 "com.rackspace__1__options": "4", "instance_type_name": "1GB Standard Instance",
 "com.rackspace__1__release_version": "3", "instance_type_vcpus": "1",
 "com.rackspace__1__release_id": "2100", "com.rackspace__1__build_core": "1",
 "base_image_ref": "d47aeca3-38d6-4dcb-bccf-534492986ae0",
 "org.openstack__1__os_distro": "com.microsoft.server", "image_type": "snapshot",
 "org.openstack__1__os_version": "2008.2", "instance_type_ephemeral_gb": "0",
 "com.rackspace__1__build_managed": "1", "org.openstack__1__architecture": "x64",
 "com.rackspace__1__visible_core": "1", "instance_type_vcpu_weight": "12",
 "instance_type_root_gb": "40", "instance_type_id": "3",
 "com.rackspace__1__release_build_date": "2013-04-16", "instance_type_rxtx_factor": "3",
 "auto_disk_config": "False", "user_id": "346289", "com.rackspace__1__visible_managed": "1",
 "instance_uuid": "f879f81a-5455-4e57-a0aa-3773e21c2259", "instance_type_memory_mb": "1024",
 "instance_type_swap": "1024", "com.rackspace__1__build_rackconnect": "1",
 "instance_type_flavorid": "3", "com.rackspace__1__visible_rackconnect": "1",
 "os_type": "windows", "rax_activation_profile": "windows",
 "com.rackspace__1__source": "kickstart"}}"#;

// -----------------------------------------------------------------------------------------
// Harness
// -----------------------------------------------------------------------------------------

fn images() -> Vec<glance_emu::model::Image> {
    let now = Timestamp::now();
    let (mut a, _) = parse_document("compute-seeds.json".as_ref(), SEEDS, now).expect("seeds");
    let (b, _) = parse_document("extra.json".as_ref(), EXTRA, now).expect("extra");
    a.extend(b);
    a
}

async fn start_with(config: Config) -> Emulator {
    spawn_records(images(), config, ServerOptions::default()).await
}

async fn start() -> Emulator {
    start_with(Config::default()).await
}

/// `http://<addr>`: the base of every link (requests carry `Host: <addr>`).
fn base(emu: &Emulator) -> String {
    format!("http://{}", emu.addr())
}

/// One request on a fresh keep-alive connection; reads exactly one response.
async fn raw(emu: &Emulator, req: &[u8]) -> Resp {
    Conn::open(emu).await.roundtrip(req).await
}

async fn nova_call(
    emu: &Emulator,
    method: &str,
    path: &str,
    extra: &str,
    body: Option<&str>,
) -> Resp {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\n{extra}",
        emu.addr()
    );
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n\r\n{b}", b.len()));
    } else {
        req.push_str("\r\n");
    }
    raw(emu, req.as_bytes()).await
}

async fn nova_get(emu: &Emulator, path: &str) -> Resp {
    nova_call(emu, "GET", path, "", None).await
}

const JSON_CT: &str = "Content-Type: application/json\r\n";

async fn send_json(emu: &Emulator, method: &str, path: &str, body: &str) -> Resp {
    nova_call(emu, method, path, JSON_CT, Some(body)).await
}

/// The bytes with this server's base URL replaced by `BASE`.
fn based(emu: &Emulator, s: &str) -> String {
    s.replace(&base(emu), "BASE")
}

fn assert_ok_json(r: &Resp) {
    assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{}", r.body_str());
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: application/json".to_string(),
            format!("Content-Length: {}", r.body.len()),
            "X-Compute-Request-Id: req-<uuid4>".into(),
            "Date: <date>".into(),
        ]
    );
}

fn assert_fault(r: &Resp, status: &str, name: &str, code: u16, message: &str) {
    assert_eq!(
        r.status_line,
        format!("HTTP/1.1 {status}"),
        "{}",
        r.body_str()
    );
    let body = format!(
        "{{\"{name}\": {{\"message\": {}, \"code\": {code}}}}}",
        serde_json::to_string(message).unwrap_or_default()
    );
    assert_eq!(r.body_str(), body);
    assert_eq!(
        r.masked_lines(),
        vec![
            format!("Content-Length: {}", body.len()),
            "Content-Type: application/json; charset=UTF-8".into(),
            "X-Compute-Request-Id: req-<uuid4>".into(),
            "Date: <date>".into(),
        ]
    );
}

fn not_found(r: &Resp) {
    assert_fault(r, "404 Not Found", "itemNotFound", 404, "Image not found.");
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// v1 HEAD property headers as `(key, value)`.
async fn head_props(emu: &Emulator, id: &str) -> Vec<(String, String)> {
    let r = nova_call(emu, "HEAD", &format!("/v1/images/{id}"), "", None).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    r.headers
        .iter()
        .filter_map(|(n, v)| {
            n.strip_prefix("X-Image-Meta-Property-")
                .map(|k| (k.to_lowercase(), v.clone()))
        })
        .collect()
}

// -----------------------------------------------------------------------------------------
// tempest's compute image schemas (tempest/lib/api_schema/response/compute/v2_1/images.py)
// -----------------------------------------------------------------------------------------

fn is_datetime(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

fn check_links(v: &Value, allow_type: bool) -> Result<(), String> {
    for l in v.as_array().ok_or("links not an array")? {
        let o = l.as_object().ok_or("link not an object")?;
        for k in o.keys() {
            if !(k == "href" || k == "rel" || (allow_type && k == "type")) {
                return Err(format!("extra link key {k}"));
            }
        }
        let href = o.get("href").and_then(Value::as_str).ok_or("href")?;
        if !href.starts_with("http://") {
            return Err(format!("href not a uri: {href}"));
        }
        o.get("rel").and_then(Value::as_str).ok_or("rel")?;
        if let Some(t) = o.get("type") {
            t.as_str().ok_or("type not a string")?;
        }
    }
    Ok(())
}

fn only(
    o: &serde_json::Map<String, Value>,
    allowed: &[&str],
    required: &[&str],
) -> Result<(), String> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("additional property {k}"));
        }
    }
    for r in required {
        if !o.contains_key(*r) {
            return Err(format!("missing {r}"));
        }
    }
    Ok(())
}

/// `common_image_schema`.
fn check_image(v: &Value) -> Result<(), String> {
    let o = v.as_object().ok_or("image not an object")?;
    only(
        o,
        &[
            "id",
            "status",
            "updated",
            "links",
            "name",
            "created",
            "minDisk",
            "minRam",
            "progress",
            "metadata",
            "server",
            "OS-EXT-IMG-SIZE:size",
            "OS-DCF:diskConfig",
        ],
        &[
            "id", "status", "updated", "links", "name", "created", "minDisk", "minRam", "progress",
            "metadata",
        ],
    )?;
    o["id"].as_str().ok_or("id")?;
    let st = o["status"].as_str().ok_or("status")?;
    if !["ACTIVE", "SAVING", "DELETED", "ERROR", "UNKNOWN"].contains(&st) {
        return Err(format!("status {st}"));
    }
    for k in ["updated", "created"] {
        let s = o[k].as_str().ok_or(k)?;
        if !is_datetime(s) {
            return Err(format!("{k} not a date-time: {s}"));
        }
    }
    check_links(&o["links"], true)?;
    if !(o["name"].is_string() || o["name"].is_null()) {
        return Err("name".into());
    }
    for k in ["minDisk", "minRam", "progress"] {
        if !o[k].is_i64() {
            return Err(k.into());
        }
    }
    o["metadata"].as_object().ok_or("metadata")?;
    if let Some(s) = o.get("server") {
        let so = s.as_object().ok_or("server")?;
        only(so, &["id", "links"], &["id", "links"])?;
        so["id"].as_str().ok_or("server id")?;
        check_links(&so["links"], false)?;
    }
    if let Some(s) = o.get("OS-EXT-IMG-SIZE:size") {
        if !(s.is_u64() || s.is_null()) {
            return Err("size".into());
        }
    }
    if let Some(d) = o.get("OS-DCF:diskConfig") {
        d.as_str().ok_or("diskConfig")?;
    }
    Ok(())
}

fn check_get_image(v: &Value) -> Result<(), String> {
    let o = v.as_object().ok_or("body")?;
    only(o, &["image"], &["image"])?;
    check_image(&o["image"])
}

fn check_list(v: &Value, detail: bool) -> Result<(), String> {
    let o = v.as_object().ok_or("body")?;
    only(o, &["images", "images_links"], &["images"])?;
    for i in o["images"].as_array().ok_or("images")? {
        if detail {
            check_image(i)?;
        } else {
            let io = i.as_object().ok_or("item")?;
            only(io, &["id", "links", "name"], &["id", "links", "name"])?;
            io["id"].as_str().ok_or("id")?;
            check_links(&io["links"], true)?;
        }
    }
    if let Some(l) = o.get("images_links") {
        check_links(l, false)?;
    }
    Ok(())
}

fn check_meta(v: &Value, key: &str) -> Result<(), String> {
    let o = v.as_object().ok_or("body")?;
    only(o, &[key], &[key])?;
    o[key].as_object().ok_or("not an object")?;
    Ok(())
}

// -----------------------------------------------------------------------------------------
// The seeds
// -----------------------------------------------------------------------------------------

/// The seed image's show view is byte for byte what Nova's own view code produced.
#[tokio::test]
async fn seed_003_show_is_byte_exact_and_matches_the_example() {
    let emu = start().await;
    let r = nova_get(&emu, &format!("/v2/820712/images/{SEED_ID}")).await;
    assert_ok_json(&r);
    assert_eq!(based(&emu, &r.body_str()), SEED_SHOW);
    check_get_image(&r.json()).unwrap();
    // Same keys in the same order as the example, same values outside `metadata`, and the
    // example's (abridged) metadata is a subset of ours.
    let example: Value = serde_json::from_str(
        &SEED_003_EXAMPLE.replace("https://dfw.servers.api.rackspacecloud.com", &base(&emu)),
    )
    .unwrap();
    let ours = r.json();
    assert_eq!(keys(&ours["image"]), keys(&example["image"]));
    for k in keys(&example["image"]) {
        if k != "metadata" {
            assert_eq!(ours["image"][&k], example["image"][&k], "{k}");
        }
    }
    for (k, v) in example["image"]["metadata"].as_object().unwrap() {
        assert_eq!(&ours["image"]["metadata"][k], v);
    }
    assert_eq!(ours["image"]["server"]["id"], SERVER_ID);
}

/// The seed image's metadata view equals Nova's documented example.
#[tokio::test]
async fn seed_000_metadata_equals_the_example() {
    let emu = start().await;
    let r = nova_get(&emu, &format!("/v2/820712/images/{SEED_ID}/metadata")).await;
    assert_ok_json(&r);
    // The seed's own Content-Length.
    assert_eq!(r.header("Content-Length"), Some("1192"));
    let example: Value = serde_json::from_str(SEED_000_EXAMPLE).unwrap();
    assert_eq!(r.json(), example);
    // Key order: glanceclient's dict filled from HEAD, deep-copied (CPython 2.7 order).
    let expected_meta = &SEED_SHOW[SEED_SHOW.find("\"metadata\": ").unwrap()..SEED_SHOW.len() - 2];
    assert_eq!(r.body_str(), format!("{{{expected_meta}}}"));
    check_meta(&r.json(), "metadata").unwrap();
}

/// One metadata item of the seed image is Nova's documented example.
#[tokio::test]
async fn seed_001_meta_item_is_the_example() {
    let emu = start().await;
    let r = nova_get(
        &emu,
        &format!("/v2/820712/images/{LABEL_ID}/metadata/label"),
    )
    .await;
    assert_ok_json(&r);
    assert_eq!(r.body_str(), r#"{"meta": {"label": "Updated"}}"#);
    assert_eq!(r.header("Content-Length"), Some("30"));
    check_meta(&r.json(), "meta").unwrap();
}

/// curl on the example URLs gives the example bodies with Nova's header set.
#[tokio::test]
async fn curl_on_the_seed_urls_gives_the_examples() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("curl not installed; skipped");
        return;
    }
    let emu = start().await;
    let base = base(&emu);
    let urls = [
        format!("{base}/v2/820712/images/{SEED_ID}"),
        format!("{base}/v2/820712/images/{SEED_ID}/metadata"),
        format!("{base}/v2/820712/images/{LABEL_ID}/metadata/label"),
    ];
    let outs = tokio::task::spawn_blocking(move || {
        urls.iter()
            .map(|u| {
                let o = std::process::Command::new("curl")
                    .args(["-s", "-H", "Accept: application/json", u])
                    .output()
                    .expect("curl");
                String::from_utf8_lossy(&o.stdout).into_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(based(&emu, &outs[0]), SEED_SHOW);
    assert_eq!(
        serde_json::from_str::<Value>(&outs[1]).unwrap(),
        serde_json::from_str::<Value>(SEED_000_EXAMPLE).unwrap()
    );
    assert_eq!(outs[2], r#"{"meta": {"label": "Updated"}}"#);
}

// -----------------------------------------------------------------------------------------
// Show: routes, views, statuses
// -----------------------------------------------------------------------------------------

/// v2.1 answers with and without a tenant in the path, with the microversion headers.
#[tokio::test]
async fn v21_routes_with_and_without_tenant() {
    let emu = start().await;
    let r = nova_get(&emu, &format!("/v2.1/images/{SEED_ID}")).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: application/json".to_string(),
            format!("Content-Length: {}", r.body.len()),
            "X-Openstack-Nova-Api-Version: 2.1".into(),
            "Vary: X-OpenStack-Nova-API-Version".into(),
            "X-Compute-Request-Id: req-<uuid4>".into(),
            "Date: <date>".into(),
        ]
    );
    let v = r.json();
    let links = &v["image"]["links"];
    assert_eq!(
        links[0]["href"],
        format!("{}/v2.1/images/{SEED_ID}", base(&emu))
    );
    assert_eq!(links[1]["href"], format!("{}/images/{SEED_ID}", base(&emu)));
    assert_eq!(links[2]["href"], format!("{}/images/{SEED_ID}", base(&emu)));
    assert_eq!(
        v["image"]["server"]["links"][0]["href"],
        format!("{}/v2.1/servers/{SERVER_ID}", base(&emu))
    );
    check_get_image(&v).unwrap();

    let r = nova_get(&emu, &format!("/v2.1/820712/images/{SEED_ID}")).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let v = r.json();
    assert_eq!(
        v["image"]["links"][0]["href"],
        format!("{}/v2.1/820712/images/{SEED_ID}", base(&emu))
    );
    assert_eq!(
        v["image"]["links"][1]["href"],
        format!("{}/820712/images/{SEED_ID}", base(&emu))
    );
    // The `.json` format suffix.
    let r = nova_get(&emu, &format!("/v2/820712/images/{SEED_ID}.json")).await;
    assert_eq!(based(&emu, &r.body_str()), SEED_SHOW);
}

/// v2.1 echoes the negotiated microversion (`latest` is the maximum) and refuses malformed or out-of-range ones as Nova did.
#[tokio::test]
async fn microversion_header_on_v21() {
    let emu = start().await;
    let path = format!("/v2.1/images/{SEED_ID}");
    for (sent, echoed) in [("2.3", "2.3"), ("latest", "2.3"), ("2.2", "2.2")] {
        let r = nova_call(
            &emu,
            "GET",
            &path,
            &format!("X-OpenStack-Nova-API-Version: {sent}\r\n"),
            None,
        )
        .await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
        assert_eq!(r.header("X-Openstack-Nova-Api-Version"), Some(echoed));
    }
    let r = nova_call(
        &emu,
        "GET",
        &path,
        "X-OpenStack-Nova-API-Version: 2.99\r\n",
        None,
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 406 Not Acceptable");
    assert_eq!(
        r.body_str(),
        r#"{"computeFault": {"message": "Version 2.99 is not supported by the API. Minimum is 2.1 and maximum is 2.3.", "code": 406}}"#
    );
    assert_eq!(
        r.masked_lines(),
        vec![
            "X-Openstack-Nova-Api-Version: 2.99".to_string(),
            "Vary: X-OpenStack-Nova-API-Version".into(),
            format!("Content-Length: {}", r.body.len()),
            "Content-Type: application/json; charset=UTF-8".into(),
            "X-Compute-Request-Id: req-<uuid4>".into(),
            "Date: <date>".into(),
        ]
    );
    let r = nova_call(
        &emu,
        "GET",
        &path,
        "X-OpenStack-Nova-API-Version: 2.01\r\n",
        None,
    )
    .await;
    assert_fault(
        &r,
        "400 Bad Request",
        "badRequest",
        400,
        "API Version String 2.01 is of invalid format. Must be of format MajorNum.MinorNum.",
    );
    // Legacy v2 ignores the header.
    let r = nova_call(
        &emu,
        "GET",
        &format!("/v2/t/images/{SEED_ID}"),
        "X-OpenStack-Nova-API-Version: 2.99\r\n",
        None,
    )
    .await;
    assert_ok_json(&r);
}

/// Each Glance status maps to Nova's status and progress.
#[tokio::test]
async fn status_and_progress_table() {
    let emu = start().await;
    for (n, status, progress) in [
        (1, "ACTIVE", 100),
        (2, "SAVING", 25),
        (3, "SAVING", 50),
        (4, "ERROR", 0),
        (5, "UNKNOWN", 0),
        (6, "DELETED", 0),
        (7, "DELETED", 0),
        (8, "UNKNOWN", 0),
    ] {
        let id = format!("7c0a1d7e-0000-4000-8000-00000000000{n}");
        let r = nova_get(&emu, &format!("/v2/t/images/{id}")).await;
        assert_ok_json(&r);
        let v = r.json();
        assert_eq!(v["image"]["status"], status, "{id}");
        assert_eq!(v["image"]["progress"], progress, "{id}");
        check_get_image(&v).unwrap();
    }
}

/// View keys and values follow Nova's view code: CPython key order, seconds truncated, null size, no server or diskConfig unless the properties say so.
#[tokio::test]
async fn view_keys_and_values() {
    let emu = start().await;
    // Plain: no server, no diskConfig; seconds truncated; CPython key order.
    let r = nova_get(&emu, "/v2/t/images/7c0a1d7e-0000-4000-8000-000000000001").await;
    assert_eq!(
        based(&emu, &r.body_str()),
        r#"{"image": {"status": "ACTIVE", "updated": "2016-05-22T06:04:22Z", "links": [{"href": "BASE/v2/t/images/7c0a1d7e-0000-4000-8000-000000000001", "rel": "self"}, {"href": "BASE/t/images/7c0a1d7e-0000-4000-8000-000000000001", "rel": "bookmark"}, {"href": "BASE/images/7c0a1d7e-0000-4000-8000-000000000001", "type": "application/vnd.openstack.image", "rel": "alternate"}], "id": "7c0a1d7e-0000-4000-8000-000000000001", "OS-EXT-IMG-SIZE:size": 13167616, "name": "plain-active", "created": "2016-05-22T06:04:20Z", "minDisk": 1, "progress": 100, "minRam": 64, "metadata": {}}}"#
    );
    // No size: null. Queued images have no `updated` beyond created.
    let v = nova_get(&emu, "/v2/t/images/7c0a1d7e-0000-4000-8000-000000000002")
        .await
        .json();
    assert_eq!(v["image"]["OS-EXT-IMG-SIZE:size"], Value::Null);
    assert!(v["image"].get("server").is_none());
    // No name: null; auto_disk_config True: AUTO (diskConfig inserted after size).
    let r = nova_get(&emu, "/v2/t/images/7c0a1d7e-0000-4000-8000-000000000009").await;
    let v = r.json();
    assert_eq!(v["image"]["name"], Value::Null);
    assert_eq!(v["image"]["OS-DCF:diskConfig"], "AUTO");
    assert_eq!(v["image"]["updated"], "2016-05-30T00:00:00Z");
    assert_eq!(
        keys(&v["image"]),
        [
            "status",
            "updated",
            "links",
            "OS-DCF:diskConfig",
            "id",
            "OS-EXT-IMG-SIZE:size",
            "name",
            "created",
            "minDisk",
            "progress",
            "minRam",
            "metadata"
        ]
    );
    // block_device_mapping is JSON-decoded into the metadata.
    let v = nova_get(&emu, "/v2/t/images/7c0a1d7e-0000-4000-8000-00000000000a")
        .await
        .json();
    assert_eq!(
        v["image"]["metadata"]["block_device_mapping"],
        json!([{"device_name": "vda", "boot_index": 0}])
    );
    // Text Nova could not JSON-decode in block_device_mapping: a 500.
    let r = nova_call(
        &emu,
        "PUT",
        "/v1/images/7c0a1d7e-0000-4000-8000-00000000000a",
        "X-Image-Meta-Property-Block_device_mapping: not json\r\n",
        Some(""),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_fault(
        &nova_get(&emu, "/v2/t/images/7c0a1d7e-0000-4000-8000-00000000000a").await,
        "500 Internal Server Error",
        "computeFault",
        500,
        "The server has either erred or is incapable of performing the requested operation.",
    );
    // Non-ASCII is escaped as json.dumps did.
    let r = nova_get(&emu, "/v2/t/images/7c0a1d7e-0000-4000-8000-00000000000b").await;
    assert!(
        r.body_str().contains(r#""name": "caf\u00e9 \u2615""#),
        "{}",
        r.body_str()
    );
    assert_eq!(r.json()["image"]["name"], "caf\u{e9} \u{2615}");
}

/// Deleted images are shown to an admin as DELETED and are 404 for everyone else.
#[tokio::test]
async fn deleted_images_admin_sees_deleted_others_404() {
    let emu = start_with(Config {
        auth: AuthMode::TrustedHeaders,
        ..Config::default()
    })
    .await;
    let admin = "X-Identity-Status: Confirmed\r\nX-Tenant-Id: tenant-a\r\nX-Roles: admin\r\n";
    let member = "X-Identity-Status: Confirmed\r\nX-Tenant-Id: tenant-a\r\nX-Roles: member\r\n";
    let gone = "7c0a1d7e-0000-4000-8000-000000000007";
    let r = nova_call(
        &emu,
        "GET",
        &format!("/v2/tenant-a/images/{gone}"),
        admin,
        None,
    )
    .await;
    assert_ok_json(&r);
    let v = r.json();
    assert_eq!(v["image"]["status"], "DELETED");
    assert_eq!(v["image"]["progress"], 0);
    assert_eq!(v["image"]["metadata"], json!({}));
    let r = nova_call(
        &emu,
        "GET",
        &format!("/v2/tenant-a/images/{gone}/metadata"),
        admin,
        None,
    )
    .await;
    assert_eq!(r.body_str(), r#"{"metadata": {}}"#);
    let r = nova_call(
        &emu,
        "GET",
        &format!("/v2/tenant-a/images/{gone}"),
        member,
        None,
    )
    .await;
    not_found(&r);
    // Visibility of private images follows Glance.
    let r = nova_call(
        &emu,
        "GET",
        "/v2/tenant-a/images/7c0a1d7e-0000-4000-8000-00000000000c",
        member,
        None,
    )
    .await;
    not_found(&r);
    let r = nova_call(
        &emu,
        "GET",
        &format!("/v2/tenant-a/images/{SEED_ID}/metadata"),
        member,
        None,
    )
    .await;
    not_found(&r);
    // The URL's project must be the caller's.
    let r = nova_call(
        &emu,
        "GET",
        "/v2/other/images/7c0a1d7e-0000-4000-8000-000000000001",
        member,
        None,
    )
    .await;
    assert_fault(
        &r,
        "400 Bad Request",
        "badRequest",
        400,
        "Malformed request URL: URL's project_id 'other' doesn't match Context's project_id 'tenant-a'",
    );
    // No token: keystonemiddleware's 401, with the compute request id.
    let r = nova_get(&emu, "/v2/tenant-a/images").await;
    assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized");
    assert_eq!(
        r.headers.last().map(|(n, _)| n.as_str()),
        Some("Date"),
        "{:?}",
        r.headers
    );
    assert!(r.header("X-Compute-Request-Id").is_some());
    // The owner may change its image's metadata; another tenant sees the public image but
    // Glance refuses the update.
    let r = nova_call(
        &emu,
        "PUT",
        "/v2/tenant-a/images/7c0a1d7e-0000-4000-8000-00000000000b/metadata/k",
        &format!("{member}{JSON_CT}"),
        Some(r#"{"meta": {"k": "v"}}"#),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{}", r.body_str());
    let other = "X-Identity-Status: Confirmed\r\nX-Tenant-Id: tenant-z\r\nX-Roles: member\r\n";
    let public = "7c0a1d7e-0000-4000-8000-000000000001";
    let r = nova_call(
        &emu,
        "GET",
        &format!("/v2/tenant-z/images/{public}"),
        other,
        None,
    )
    .await;
    assert_ok_json(&r);
    let r = nova_call(
        &emu,
        "PUT",
        &format!("/v2/tenant-z/images/{public}/metadata/k"),
        &format!("{other}{JSON_CT}"),
        Some(r#"{"meta": {"k": "v"}}"#),
    )
    .await;
    assert_fault(
        &r,
        "403 Forbidden",
        "forbidden",
        403,
        &format!("Not authorized for image {public}."),
    );
    let r = nova_call(
        &emu,
        "DELETE",
        &format!("/v2/tenant-z/images/{public}"),
        other,
        None,
    )
    .await;
    assert_fault(
        &r,
        "403 Forbidden",
        "forbidden",
        403,
        "You are not allowed to delete the image.",
    );
}

// -----------------------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------------------

/// An unknown image id is Nova's 404 fault on every image and metadata route.
#[tokio::test]
async fn unknown_images_are_404_everywhere() {
    let emu = start().await;
    let id = "00000000-0000-0000-0000-000000000000";
    not_found(&nova_get(&emu, &format!("/v2/t/images/{id}")).await);
    not_found(&nova_get(&emu, &format!("/v2/t/images/{id}/metadata")).await);
    // v2.1 faults carry the version headers first.
    let r = nova_get(&emu, &format!("/v2.1/images/{id}/metadata")).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(
        r.body_str(),
        r#"{"itemNotFound": {"message": "Image not found.", "code": 404}}"#
    );
    assert_eq!(
        r.masked_lines(),
        [
            "X-Openstack-Nova-Api-Version: 2.1",
            "Vary: X-OpenStack-Nova-API-Version",
            "Content-Length: 62",
            "Content-Type: application/json; charset=UTF-8",
            "X-Compute-Request-Id: req-<uuid4>",
            "Date: <date>"
        ]
    );
    not_found(&nova_get(&emu, &format!("/v2/t/images/{id}/metadata/k")).await);
    not_found(
        &send_json(
            &emu,
            "POST",
            &format!("/v2/t/images/{id}/metadata"),
            r#"{"metadata": {}}"#,
        )
        .await,
    );
    not_found(
        &send_json(
            &emu,
            "PUT",
            &format!("/v2/t/images/{id}/metadata"),
            r#"{"metadata": {}}"#,
        )
        .await,
    );
    not_found(
        &send_json(
            &emu,
            "PUT",
            &format!("/v2/t/images/{id}/metadata/k"),
            r#"{"meta": {"k": "v"}}"#,
        )
        .await,
    );
    not_found(
        &nova_call(
            &emu,
            "DELETE",
            &format!("/v2/t/images/{id}/metadata/k"),
            "",
            None,
        )
        .await,
    );
    not_found(&nova_call(&emu, "DELETE", &format!("/v2/t/images/{id}"), "", None).await);
    for bad in ["-1", "x", "detail"] {
        not_found(&nova_call(&emu, "DELETE", &format!("/v2/t/images/{bad}"), "", None).await);
    }
}

/// Metadata writes refuse bad bodies, mismatched keys and the quota with Nova's status codes and messages.
#[tokio::test]
async fn metadata_errors_and_messages() {
    let emu = start().await;
    let m = format!("/v2/t/images/{LABEL_ID}/metadata");
    // GET of a missing key: the bare HTTPNotFound.
    assert_fault(
        &nova_get(&emu, &format!("{m}/nope")).await,
        "404 Not Found",
        "itemNotFound",
        404,
        "The resource could not be found.",
    );
    assert_fault(
        &nova_call(&emu, "DELETE", &format!("{m}/nope"), "", None).await,
        "404 Not Found",
        "itemNotFound",
        404,
        "Invalid metadata key",
    );
    let bad = |msg: &'static str| {
        move |r: Resp| assert_fault(&r, "400 Bad Request", "badRequest", 400, msg)
    };
    bad("Request body and URI mismatch")(
        send_json(&emu, "PUT", &format!("{m}/k"), r#"{"meta": {"j": "v"}}"#).await,
    );
    bad("Request body contains too many items")(
        send_json(
            &emu,
            "PUT",
            &format!("{m}/k"),
            r#"{"meta": {"k": "v", "j": "w"}}"#,
        )
        .await,
    );
    bad("Incorrect request body format")(
        send_json(
            &emu,
            "PUT",
            &format!("{m}/k"),
            r#"{"metadata": {"k": "v"}}"#,
        )
        .await,
    );
    let generic = "The server could not comply with the request since it is either malformed or otherwise incorrect.";
    assert_fault(
        &send_json(&emu, "PUT", &format!("{m}/k"), r#"["meta"]"#).await,
        "400 Bad Request",
        "badRequest",
        400,
        generic,
    );
    assert_fault(
        &send_json(&emu, "POST", &m, "null").await,
        "400 Bad Request",
        "badRequest",
        400,
        generic,
    );
    // body['metadata'].iteritems() on a list: AttributeError, a 500.
    assert_fault(
        &send_json(&emu, "POST", &m, r#"{"metadata": ["a"]}"#).await,
        "500 Internal Server Error",
        "computeFault",
        500,
        "The server has either erred or is incapable of performing the requested operation.",
    );
    bad("Image metadata key cannot be blank")(
        send_json(&emu, "POST", &m, r#"{"metadata": {"": "v"}}"#).await,
    );
    let long = "k".repeat(256);
    bad("Image metadata key too long")(
        send_json(
            &emu,
            "PUT",
            &m,
            &format!(r#"{{"metadata": {{"{long}": "v"}}}}"#),
        )
        .await,
    );
    bad("Invalid image metadata")(send_json(&emu, "PUT", &m, r#"{"metadata": "abc"}"#).await);
    bad("Invalid image metadata")(
        send_json(&emu, "POST", &m, r#"{"metadata": {"a b": "v"}}"#).await,
    );
    // Quota: 128 items.
    let many: serde_json::Map<String, Value> =
        (0..129).map(|i| (format!("k{i}"), json!("v"))).collect();
    let body = json!({ "metadata": many }).to_string();
    assert_fault(
        &send_json(&emu, "PUT", &m, &body).await,
        "403 Forbidden",
        "forbidden",
        403,
        "Image metadata limit exceeded",
    );
    assert_fault(
        &send_json(&emu, "POST", &m, &body).await,
        "403 Forbidden",
        "forbidden",
        403,
        "Image metadata limit exceeded",
    );
    // Nothing was written by the failures.
    assert_eq!(
        head_props(&emu, LABEL_ID).await,
        vec![("label".to_string(), "Updated".to_string())]
    );
    // Body handling.
    bad("Malformed request body")(send_json(&emu, "POST", &m, "{nope").await);
    bad("Unsupported Content-Type")(
        nova_call(&emu, "POST", &m, "Content-Type: text/xml\r\n", Some("{}")).await,
    );
    bad("Unsupported Content-Type")(nova_call(&emu, "POST", &m, "", Some("{}")).await);
    // Writes on a deleted image: Glance refuses, Nova says not authorized.
    let gone = "7c0a1d7e-0000-4000-8000-000000000007";
    assert_fault(
        &send_json(
            &emu,
            "PUT",
            &format!("/v2/t/images/{gone}/metadata/k"),
            r#"{"meta": {"k": "v"}}"#,
        )
        .await,
        "403 Forbidden",
        "forbidden",
        403,
        &format!("Not authorized for image {gone}."),
    );
    // Too large for the sizelimit middleware (hyper closes the unread connection).
    let huge = format!(r#"{{"metadata": {{"k": "{}"}}}}"#, "x".repeat(120_000));
    let r = send_json(&emu, "POST", &m, &huge).await;
    assert_eq!(r.status_line, "HTTP/1.1 413 Request Entity Too Large");
    assert_eq!(
        r.body_str(),
        r#"{"overLimit": {"message": "The body of your request was too large for this server.", "code": 413}}"#
    );
    assert_eq!(
        r.masked_lines()[..3],
        [
            format!("Content-Length: {}", r.body.len()),
            "Content-Type: application/json; charset=UTF-8".into(),
            "X-Compute-Request-Id: req-<uuid4>".into(),
        ]
    );
}

/// Unknown routes, wrong methods and bad content types get Nova's routing faults.
#[tokio::test]
async fn routing_errors() {
    let emu = start().await;
    let with_body = |m: &'static str, p: String| {
        let emu = &emu;
        async move { send_json(emu, m, &p, "{}").await }
    };
    assert_fault(
        &with_body("POST", "/v2/t/images".into()).await,
        "405 Method Not Allowed",
        "badMethod",
        405,
        "The server could not comply with the request since it is either malformed or otherwise incorrect.",
    );
    let default404 = |r: &Resp| {
        assert_fault(
            r,
            "404 Not Found",
            "itemNotFound",
            404,
            "The resource could not be found.",
        )
    };
    default404(&with_body("PUT", format!("/v2/t/images/{SEED_ID}")).await);
    default404(&nova_get(&emu, "/v2/t/images/new").await);
    default404(&nova_get(&emu, &format!("/v2/t/images/{SEED_ID}/edit")).await);
    default404(&nova_get(&emu, &format!("/v2/t/images/{SEED_ID}/metadata/new")).await);
    // No route at all: the router's plain WebOb 404.
    for (m, p) in [
        ("POST", format!("/v2/t/images/{SEED_ID}")),
        ("PATCH", format!("/v2/t/images/{SEED_ID}")),
        ("DELETE", format!("/v2/t/images/{SEED_ID}/metadata")),
        ("POST", format!("/v2/t/images/{SEED_ID}/metadata/k")),
        ("GET", format!("/v2/t/images/{SEED_ID}/bogus")),
        ("PUT", "/v2/t/images".to_string()),
    ] {
        let r = with_body(m, p.clone()).await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "{m} {p}");
        assert_eq!(r.header("Content-Type"), Some("text/html; charset=UTF-8"));
        assert!(r.body_str().contains("The resource could not be found."));
        assert!(r.header("X-Compute-Request-Id").is_some());
    }
    let r = nova_call(&emu, "HEAD", &format!("/v2/t/images/{SEED_ID}"), "", None).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    // Paths that are not compute image paths stay Glance's (its 300 version document).
    let r = nova_get(&emu, "/v2/images").await;
    assert_eq!(r.status_line, "HTTP/1.1 300 Multiple Choices");
}

// -----------------------------------------------------------------------------------------
// Lists
// -----------------------------------------------------------------------------------------

/// Lists page through Glance in its order with limit and marker, leave out deleted images, and give `next` links as Nova did.
#[tokio::test]
async fn lists_with_limit_marker_and_links() {
    let emu = start().await;
    let r = nova_get(&emu, "/v2/t/images").await;
    assert_ok_json(&r);
    let v = r.json();
    check_list(&v, false).unwrap();
    let ids = image_ids(&v);
    // Glance's order (created_at desc); deleted, pending_delete and killed images left out.
    assert_eq!(ids.len(), 11, "{ids:?}");
    assert_eq!(ids[0], "7c0a1d7e-0000-4000-8000-00000000000c");
    assert_eq!(*ids.last().unwrap(), SEED_ID);
    assert!(!ids.contains(&"7c0a1d7e-0000-4000-8000-000000000007"));
    assert!(!ids.contains(&"7c0a1d7e-0000-4000-8000-000000000004"));
    assert_eq!(keys(&v["images"][0]), ["id", "links", "name"]);
    assert!(v.get("images_links").is_none());

    let r = nova_get(&emu, "/v2/t/images?limit=2").await;
    assert_eq!(
        based(&emu, &r.body_str()),
        r#"{"images": [{"id": "7c0a1d7e-0000-4000-8000-00000000000c", "links": [{"href": "BASE/v2/t/images/7c0a1d7e-0000-4000-8000-00000000000c", "rel": "self"}, {"href": "BASE/t/images/7c0a1d7e-0000-4000-8000-00000000000c", "rel": "bookmark"}, {"href": "BASE/images/7c0a1d7e-0000-4000-8000-00000000000c", "type": "application/vnd.openstack.image", "rel": "alternate"}], "name": "b-private"}, {"id": "7c0a1d7e-0000-4000-8000-00000000000b", "links": [{"href": "BASE/v2/t/images/7c0a1d7e-0000-4000-8000-00000000000b", "rel": "self"}, {"href": "BASE/t/images/7c0a1d7e-0000-4000-8000-00000000000b", "rel": "bookmark"}, {"href": "BASE/images/7c0a1d7e-0000-4000-8000-00000000000b", "type": "application/vnd.openstack.image", "rel": "alternate"}], "name": "caf\u00e9 \u2615"}], "images_links": [{"href": "BASE/v2/t/images?limit=2&marker=7c0a1d7e-0000-4000-8000-00000000000b", "rel": "next"}]}"#
    );
    check_list(&r.json(), false).unwrap();
    // Following the next link continues the listing.
    let r = nova_get(
        &emu,
        "/v2/t/images?marker=7c0a1d7e-0000-4000-8000-00000000000b&limit=2",
    )
    .await;
    let v = r.json();
    assert_eq!(v["images"][0]["id"], "7c0a1d7e-0000-4000-8000-00000000000a");
    assert_eq!(
        v["images_links"][0]["href"],
        format!(
            "{}/v2/t/images?limit=2&marker=7c0a1d7e-0000-4000-8000-000000000009",
            base(&emu)
        )
    );
    // Detail: the show view per image; next link points at /detail.
    let r = nova_get(&emu, "/v2.1/images/detail?limit=1&page_size=1").await;
    assert_eq!(r.header("X-Openstack-Nova-Api-Version"), Some("2.1"));
    let v = r.json();
    check_list(&v, true).unwrap();
    assert_eq!(v["images"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["images_links"][0]["href"],
        format!(
            "{}/v2.1/images/detail?limit=1&page_size=1&marker=7c0a1d7e-0000-4000-8000-00000000000c",
            base(&emu)
        )
    );
    let r = nova_get(&emu, "/v2/t/images/detail").await;
    let v = r.json();
    check_list(&v, true).unwrap();
    let seed = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == SEED_ID)
        .unwrap();
    assert_eq!(
        based(&emu, &seed.to_string()),
        based(
            &emu,
            &serde_json::from_str::<Value>(SEED_SHOW).unwrap()["image"].to_string()
        )
        .replace("/v2/820712/", "/v2/t/")
        .replace("/820712/", "/t/")
    );
    // limit=0 means no limit and no link; a limit above the count gives no link.
    let v = nova_get(&emu, "/v2/t/images?limit=0").await.json();
    assert_eq!(v["images"].as_array().unwrap().len(), 11);
    assert!(v.get("images_links").is_none());
    let v = nova_get(&emu, "/v2/t/images?limit=50&page_size=3")
        .await
        .json();
    assert_eq!(v["images"].as_array().unwrap().len(), 11);
    // Exactly `limit` images: a next link even when nothing follows (as Nova did).
    let v = nova_get(&emu, "/v2/t/images?limit=11").await.json();
    assert_eq!(v["images"].as_array().unwrap().len(), 11);
    assert!(v.get("images_links").is_some());
    // Parameter errors.
    let bad = |r: Resp, msg: &str| assert_fault(&r, "400 Bad Request", "badRequest", 400, msg);
    bad(
        nova_get(&emu, "/v2/t/images?limit=x").await,
        "limit param must be an integer",
    );
    bad(
        nova_get(&emu, "/v2/t/images/detail?limit=-1").await,
        "limit param must be positive",
    );
    bad(
        nova_get(&emu, "/v2/t/images?page_size=a").await,
        "page_size param must be an integer",
    );
    bad(
        nova_get(
            &emu,
            "/v2/t/images?marker=00000000-0000-0000-0000-000000000000",
        )
        .await,
        "400 Bad Request: Invalid marker. Image could not be found. (HTTP 400)",
    );
}

/// List filters (name, status, type, minRam, minDisk, property-*, changes-since) select as Nova's Glance query did.
#[tokio::test]
async fn list_filters() {
    let emu = start().await;
    let ids = |v: Value| -> Vec<String> {
        v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = |s: &str| format!("/v2/t/images/detail?{s}");
    assert_eq!(
        ids(nova_get(&emu, &q("name=voweb1-firstimage")).await.json()),
        [SEED_ID]
    );
    // Nova lower-cases the status for Glance: SAVING finds `saving`, not `queued`.
    assert_eq!(
        ids(nova_get(&emu, &q("status=SAVING")).await.json()),
        ["7c0a1d7e-0000-4000-8000-000000000003"]
    );
    assert_eq!(
        ids(nova_get(&emu, &q("status=QUEUED")).await.json()),
        ["7c0a1d7e-0000-4000-8000-000000000002"]
    );
    assert_eq!(
        ids(nova_get(&emu, &q(&format!("server={SERVER_ID}")))
            .await
            .json()),
        [SEED_ID]
    );
    let href = format!("{}/v2/t/servers/{SERVER_ID}", base(&emu));
    assert_eq!(
        ids(nova_get(&emu, &q(&format!("server={href}"))).await.json()),
        [SEED_ID]
    );
    assert_eq!(
        ids(nova_get(&emu, &q("type=snapshot")).await.json()),
        [SEED_ID]
    );
    assert_eq!(
        ids(nova_get(&emu, &q("minRam=512")).await.json()),
        [LABEL_ID]
    );
    assert_eq!(
        ids(nova_get(&emu, &q("minDisk=40")).await.json()),
        [SEED_ID]
    );
    assert_eq!(
        ids(nova_get(&emu, &q("property-label=Updated")).await.json()),
        [LABEL_ID]
    );
    // changes-since includes deleted images (which an admin sees as DELETED).
    let v = nova_get(&emu, &q("changes-since=2016-05-28T00:30:00"))
        .await
        .json();
    check_list(&v, true).unwrap();
    let gone = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "7c0a1d7e-0000-4000-8000-000000000007")
        .expect("deleted image listed");
    assert_eq!(gone["status"], "DELETED");
    // A non-ASCII filter value could not be urlencoded by Python 2: a 500.
    let r = nova_get(&emu, &q("name=caf%C3%A9")).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
}

// -----------------------------------------------------------------------------------------
// Writes, and consistency with Glance v1 on the same store
// -----------------------------------------------------------------------------------------

/// A write through v1 shows in the compute views at once (one store).
#[tokio::test]
async fn v1_writes_show_up_in_the_compute_views() {
    let emu = start().await;
    let r = nova_call(
        &emu,
        "PUT",
        &format!("/v1/images/{LABEL_ID}"),
        "X-Image-Meta-Property-Foo: bar\r\nX-Glance-Registry-Purge-Props: false\r\n",
        Some(""),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{}", r.body_str());
    let r = nova_get(&emu, &format!("/v2/t/images/{LABEL_ID}/metadata")).await;
    assert_ok_json(&r);
    assert_eq!(
        r.body_str(),
        r#"{"metadata": {"foo": "bar", "label": "Updated"}}"#
    );
    let r = nova_get(&emu, &format!("/v2/t/images/{LABEL_ID}/metadata/foo")).await;
    assert_eq!(r.body_str(), r#"{"meta": {"foo": "bar"}}"#);
    // A v1 delete: the admin's compute view says DELETED at once.
    let r = nova_call(&emu, "DELETE", &format!("/v1/images/{LABEL_ID}"), "", None).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let v = nova_get(&emu, &format!("/v2/t/images/{LABEL_ID}"))
        .await
        .json();
    assert_eq!(v["image"]["status"], "DELETED");
    assert_eq!(v["image"]["metadata"], json!({}));
}

/// A metadata write through compute shows in v1 HEAD, keys normalised and values str()'d as Glance stored them.
#[tokio::test]
async fn compute_writes_show_up_in_v1_head() {
    let emu = start().await;
    let m = format!("/v2/t/images/{LABEL_ID}/metadata");
    let before = emu.app().store.get(LABEL_ID).unwrap().updated_at;

    // POST merges; the response is Glance's stored set (keys normalised, values str()'d).
    let r = send_json(
        &emu,
        "POST",
        &m,
        r#"{"metadata": {"Os-Distro": "ubuntu", "n": 1.5, "l": [1, "a"], "e": ""}}"#,
    )
    .await;
    assert_ok_json(&r);
    assert_eq!(
        r.body_str(),
        r#"{"metadata": {"os_distro": "ubuntu", "label": "Updated", "e": null, "l": "[1, u'a']", "n": "1.5"}}"#
    );
    check_meta(&r.json(), "metadata").unwrap();
    assert_eq!(
        head_props(&emu, LABEL_ID).await,
        [
            ("l", "[1, u'a']"),
            ("label", "Updated"),
            ("n", "1.5"),
            ("os_distro", "ubuntu")
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(emu.app().store.get(LABEL_ID).unwrap().updated_at > before);

    // PUT of one key upserts and echoes the body.
    let r = send_json(
        &emu,
        "PUT",
        &format!("{m}/os_version"),
        r#"{"meta": {"os_version": "22.04"}}"#,
    )
    .await;
    assert_ok_json(&r);
    assert_eq!(r.body_str(), r#"{"meta": {"os_version": "22.04"}}"#);
    check_meta(&r.json(), "meta").unwrap();
    let r = nova_get(&emu, &format!("{m}/os_version")).await;
    assert_eq!(r.body_str(), r#"{"meta": {"os_version": "22.04"}}"#);

    // DELETE of a key: 204 as a serialized empty response.
    let r = nova_call(&emu, "DELETE", &format!("{m}/l"), "", None).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        r.masked_lines(),
        [
            "Content-Length: 0",
            "Content-Type: application/json",
            "X-Compute-Request-Id: req-<uuid4>",
            "Date: <date>"
        ]
    );
    assert!(!head_props(&emu, LABEL_ID)
        .await
        .iter()
        .any(|(k, _)| k == "l"));

    // PUT replaces everything (tempest's test_image_metadata).
    let r = send_json(
        &emu,
        "PUT",
        &m,
        r#"{"metadata": {"os_version": "value1", "os_distro": "value2"}}"#,
    )
    .await;
    assert_ok_json(&r);
    assert_eq!(
        r.body_str(),
        r#"{"metadata": {"os_version": "value1", "os_distro": "value2"}}"#
    );
    let r = nova_get(&emu, &m).await;
    assert_eq!(
        r.json(),
        json!({"metadata": {"os_version": "value1", "os_distro": "value2"}})
    );
    assert_eq!(
        head_props(&emu, LABEL_ID).await,
        [("os_distro", "value2"), ("os_version", "value1")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let r = nova_get(&emu, &format!("{m}/os_distro")).await;
    assert_eq!(r.body_str(), r#"{"meta": {"os_distro": "value2"}}"#);

    // An empty PUT clears the properties.
    let r = send_json(&emu, "PUT", &m, r#"{"metadata": {}}"#).await;
    assert_eq!(r.body_str(), r#"{"metadata": {}}"#);
    assert!(head_props(&emu, LABEL_ID).await.is_empty());
    // `Content-Length: 0` is an empty body: a TypeError in create.
    let r = nova_call(&emu, "POST", &m, "", Some("")).await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
}

/// A compute DELETE answers 204 with no body and the image is deleted in v1.
#[tokio::test]
async fn compute_image_delete() {
    let emu = start().await;
    let id = "7c0a1d7e-0000-4000-8000-000000000001";
    let r = nova_call(&emu, "DELETE", &format!("/v2/t/images/{id}"), "", None).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    // eventlet's Content-Length: 0 before Date, as on Glance's 204s (edge::eventlet).
    assert_eq!(
        r.masked_lines(),
        [
            "X-Compute-Request-Id: req-<uuid4>",
            "Content-Length: 0",
            "Date: <date>"
        ]
    );
    assert_eq!(r.body_str(), "");
    let h = nova_call(&emu, "HEAD", &format!("/v1/images/{id}"), "", None).await;
    assert_eq!(h.header("X-Image-Meta-Status"), Some("deleted"));
    assert_eq!(h.header("X-Image-Meta-Deleted"), Some("True"));
    let v = nova_get(&emu, &format!("/v2/t/images/{id}")).await.json();
    assert_eq!(v["image"]["status"], "DELETED");
    not_found(&nova_call(&emu, "DELETE", &format!("/v2/t/images/{id}"), "", None).await);
    // A protected image cannot be deleted.
    assert_fault(
        &nova_call(
            &emu,
            "DELETE",
            "/v2/t/images/7c0a1d7e-0000-4000-8000-00000000000b",
            "",
            None,
        )
        .await,
        "403 Forbidden",
        "forbidden",
        403,
        "You are not allowed to delete the image.",
    );
    // v2.1: the version headers come before the request id.
    let r = nova_call(
        &emu,
        "DELETE",
        "/v2.1/images/7c0a1d7e-0000-4000-8000-000000000003",
        "",
        None,
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        r.masked_lines(),
        [
            "X-Openstack-Nova-Api-Version: 2.1",
            "Vary: X-OpenStack-Nova-API-Version",
            "X-Compute-Request-Id: req-<uuid4>",
            "Content-Length: 0",
            "Date: <date>"
        ]
    );
}

/// Every record's views pass Tempest's response schemas.
#[tokio::test]
async fn every_view_passes_the_tempest_schemas() {
    let emu = start().await;
    for img in emu.app().store.all() {
        let r = nova_get(&emu, &format!("/v2/t/images/{}", img.id)).await;
        check_get_image(&r.json()).unwrap_or_else(|e| panic!("{}: {e}", img.id));
        let r = nova_get(&emu, &format!("/v2.1/images/{}/metadata", img.id)).await;
        check_meta(&r.json(), "metadata").unwrap();
    }
    check_list(
        &nova_get(&emu, "/v2/t/images/detail?changes-since=2000-01-01")
            .await
            .json(),
        true,
    )
    .unwrap();
    check_list(&nova_get(&emu, "/v2.1/images?limit=3").await.json(), false).unwrap();
    // A rejected shape: an extra key fails the schema.
    let mut v = nova_get(&emu, &format!("/v2/t/images/{SEED_ID}"))
        .await
        .json();
    v["image"]["extra"] = json!(1);
    assert!(check_get_image(&v).is_err());
}

// -----------------------------------------------------------------------------------------
// Lists over more records than one Glance request returns
// -----------------------------------------------------------------------------------------

/// `n` records: several owners, some private, some deleted, a property on every third, and
/// timestamps that repeat (so the order's tie-break by id is exercised).
fn many_records(n: usize) -> Vec<glance_emu::model::Image> {
    let mut doc = String::from("{\"images\": [");
    for i in 0..n {
        if i > 0 {
            doc.push(',');
        }
        let owner = ["tenant-a", "tenant-b", "t"][i % 3];
        let public = i % 4 != 1;
        let deleted = i % 17 == 5;
        let props = if i % 3 == 0 {
            r#"{"kind": "odd"}"#
        } else {
            "{}"
        };
        doc.push_str(&format!(
            r#"{{"id": "{i:08x}-aaaa-4000-8000-{:012x}", "name": "n-{}", "status": "active",
              "size": {i}, "disk_format": "raw", "container_format": "bare",
              "is_public": {public}, "owner": "{owner}", "min_ram": {}, "deleted": {deleted},
              "created_at": "2016-05-{:02}T00:00:00.000000", "properties": {props}}}"#,
            i * 7919 % 1_000_003,
            i % 50,
            (i % 5) * 128,
            1 + i % 28
        ));
    }
    doc.push_str("]}");
    let (images, _) =
        parse_document("many.json".as_ref(), &doc, Timestamp::now()).expect("generated records");
    images
}

/// glanceclient's `list` as Nova called it, page by page, done here on the ordered walk
/// that Glance's own marker pages give: the ids a compute list must return.
fn glanceclient_pages(walk: &[String], page: usize, limit: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0;
    'pages: loop {
        // Glance answers at most 1000 records per request, whatever the page size.
        let got = &walk[at.min(walk.len())..(at + page.min(1000)).min(walk.len())];
        let mut on_page = 0;
        for id in got {
            if limit.is_some_and(|l| out.len() >= l) {
                break 'pages;
            }
            on_page += 1;
            out.push(id.clone());
        }
        at += got.len();
        if on_page == 0 || limit.is_some_and(|l| out.len() >= l) || on_page < page {
            break;
        }
    }
    out
}

#[tokio::test]
async fn lists_over_many_glance_pages_return_what_glanceclients_paging_did() {
    // 2,600 records: lists cross several of Glance's 1,000-record answers, which the
    // compute list fetches in one go and then takes apart in glanceclient's pages.
    let emu = spawn_records(
        many_records(2600),
        Config::default(),
        ServerOptions::default(),
    )
    .await;
    // The ordered walk for each filter, from Glance's own v1 pages.
    let walk = |filter: &'static str, marker: Option<String>| {
        let emu = &emu;
        async move {
            let mut ids: Vec<String> = Vec::new();
            let mut m = marker;
            loop {
                let mut q = format!("/v1/images/detail?limit=1000&is_public=none{filter}");
                if let Some(m) = &m {
                    q.push_str(&format!("&marker={m}"));
                }
                let v = get(emu, &q).await.json();
                let page: Vec<String> = image_ids(&v).iter().map(|s| s.to_string()).collect();
                let done = page.len() < 1000;
                m = page.last().cloned();
                ids.extend(page);
                if done {
                    return ids;
                }
            }
        }
    };
    let all = walk("", None).await;
    assert!(all.len() > 2000, "{} visible records", all.len());
    let marker = all[1234].clone();
    let mut checked = 0;
    for (nova_filter, glance_filter) in [("", ""), ("&property-kind=odd", "&property-kind=odd")] {
        for with_marker in [false, true] {
            let m = with_marker.then(|| marker.clone());
            let expected_walk = walk(glance_filter, m.clone()).await;
            for page_size in [None, Some(1), Some(7), Some(999), Some(1000), Some(1001)] {
                for limit in [
                    None,
                    Some(20),
                    Some(999),
                    Some(1000),
                    Some(1001),
                    Some(2100),
                ] {
                    if page_size == Some(1) && limit.is_none_or(|l| l > 20) {
                        continue; // thousands of one-record pages: covered by page 7
                    }
                    // The detail view for short lists (its errors would end the list the
                    // same way), the basic view for the long ones (it is cheaper).
                    let view = if limit == Some(20) {
                        "images/detail"
                    } else {
                        "images"
                    };
                    let mut q = format!("/v2/t/{view}?x=1");
                    for (k, v) in [("page_size", page_size), ("limit", limit)] {
                        if let Some(v) = v {
                            q.push_str(&format!("&{k}={v}"));
                        }
                    }
                    if let Some(m) = &m {
                        q.push_str(&format!("&marker={m}"));
                    }
                    q.push_str(nova_filter);
                    let r = nova_get(&emu, &q).await;
                    assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{q}");
                    let v = r.json();
                    let got: Vec<String> = image_ids(&v).iter().map(|s| s.to_string()).collect();
                    let want = glanceclient_pages(&expected_walk, page_size.unwrap_or(20), limit);
                    assert_eq!(got.len(), want.len(), "{q}");
                    assert!(got == want, "{q}: a different list");
                    // The next link: present exactly when the count is min(limit, 1000).
                    let max_items = limit.unwrap_or(1000).min(1000);
                    assert_eq!(
                        v.get("images_links").is_some(),
                        got.len() == max_items,
                        "{q}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "{checked} lists compared");
}
