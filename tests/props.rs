//! Property-based robustness (issue #15), with `proptest`:
//! - generated request streams (good, odd and broken heads, pipelined, cut into random
//!   writes, ending in a half-close) sent to two servers holding the same records, one with
//!   the HEAD fast path and one without: the raw answers must be the same bytes once request
//!   ids, dates and the servers' own addresses are masked;
//! - generated and mutated fixture documents fed to the loader: it never panics, and every
//!   error names the file (and a field, when the document is valid JSON).
//!
//! Case counts: `PROPTEST_CASES` (default 96 streams, 512 documents), fixed seeds through
//! proptest's default deterministic runner config below, so CI runs are repeatable.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use glance_emu::control::ControlSettings;
use glance_emu::edge::server::ServerOptions;
use glance_emu::embed::Emulator;
use glance_emu::fixtures::parse_document;
use glance_emu::model::Timestamp;
use glance_emu::{App, Config, Store};

const FIXTURE: &str = include_str!("fixtures/images.json");
const KNOWN: &str = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78";

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runner(cases: u32) -> TestRunner {
    let config = PtConfig {
        cases,
        failure_persistence: None,
        ..PtConfig::default()
    };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

// ---------------------------------------------------------------------------------------
// Two servers, one runtime for the whole test binary.

struct Pair {
    rt: tokio::runtime::Runtime,
    fast: Emulator,
    hyper: Emulator,
}

fn pair() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let start = |fast_head: bool| {
            rt.block_on(async move {
                let config = Config {
                    control: ControlSettings {
                        journal_cap: 0,
                        ..ControlSettings::default()
                    },
                    ..Config::default()
                };
                let (images, _) =
                    parse_document("test.json".as_ref(), FIXTURE, Timestamp::now()).unwrap();
                let app = App::new(Arc::new(Store::new(images).unwrap()), config);
                let options = ServerOptions {
                    fast_head,
                    header_read_timeout: Duration::from_secs(2),
                    ..ServerOptions::default()
                };
                Emulator::start_app_with(app, options).await.unwrap()
            })
        };
        let fast = start(true);
        let hyper = start(false);
        Pair { rt, fast, hyper }
    })
}

/// Sends `chunks` as separate writes, half-closes, and reads everything until the server
/// closes (bounded at 5 s).
async fn exchange(addr: std::net::SocketAddr, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    for c in chunks {
        if s.write_all(c).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = s.shutdown().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// Masks the values that differ per request: request ids and dates (the caller masks the
/// servers' addresses).
fn mask(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("x-openstack-request-id:") {
            out.push_str("X-Openstack-Request-Id: <id>\r\n");
        } else if lower.starts_with("date:") {
            out.push_str("Date: <date>\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

/// One request of a stream: mostly ones the fast path takes, the rest hyper's.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let ids = prop::sample::select(vec![
        KNOWN,
        "aaaaaaaa-0000-4000-8000-000000000002",
        "aaaaaaaa-0000-4000-8000-000000000006",
        "aaaaaaaa-0000-4000-8000-000000000009",
        "not-a-uuid",
        "nope",
        "a%2Fb",
        "",
    ]);
    let extra = prop::sample::select(vec![
        "",
        "Host: x\r\n",
        "Host: x\r\nUser-Agent: p\r\nAccept: */*\r\n",
        "Connection: keep-alive\r\n",
        "X-Image-Meta-Size: 1\r\n",
        "Accept: application/json\r\n",
        "Content-Length: 0\r\n",
        "NoColon\r\n",
        "X-A: \u{1}\r\n",
        "Host : x\r\n",
    ]);
    let line = prop::sample::select(vec![
        "HEAD /v1/images/{id} HTTP/1.1",
        "HEAD /v1/images/{id} HTTP/1.1",
        "HEAD /v1/images/{id} HTTP/1.1",
        "GET /v1/images/{id} HTTP/1.1",
        "HEAD /v1/images/{id} HTTP/1.0",
        "GET /versions HTTP/1.1",
        "HEAD /v1/images/{id}?x=1 HTTP/1.1",
        "HEAD  /v1/images/{id} HTTP/1.1",
        "DELETE /nowhere/{id} HTTP/1.1",
    ]);
    let end = prop::sample::select(vec!["\r\n", "\r\n", "\r\n", "\r\r\n", ""]);
    (line, ids, extra, end).prop_map(|(line, id, extra, end)| {
        format!("{}\r\n{extra}{end}", line.replace("{id}", id)).into_bytes()
    })
}

/// A stream: 1 to 5 requests (maybe one byte flipped), cut at up to 3 random places.
fn stream() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::collection::vec(request(), 1..6),
        prop::option::weighted(0.2, (any::<prop::sample::Index>(), any::<u8>())),
        prop::collection::vec(any::<prop::sample::Index>(), 0..4),
    )
        .prop_map(|(reqs, flip, cuts)| {
            let mut all: Vec<u8> = reqs.concat();
            if let Some((at, byte)) = flip {
                let i = at.index(all.len());
                all[i] = byte;
            }
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(all.len())).collect();
            points.sort_unstable();
            points.dedup();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points {
                if p > last {
                    chunks.push(all[last..p].to_vec());
                    last = p;
                }
            }
            chunks.push(all[last..].to_vec());
            chunks
        })
}

// Rule: for any generated request stream, the HEAD fast path and hyper write the same
// bytes (request ids and dates masked).
#[test]
fn fast_path_and_hyper_answer_every_stream_alike() {
    let p = pair();
    let mut runner = runner(cases(96));
    runner
        .run(&stream(), |chunks| {
            let (a, b) = p.rt.block_on(async {
                tokio::join!(
                    exchange(p.fast.addr(), &chunks),
                    exchange(p.hyper.addr(), &chunks)
                )
            });
            // Without a Host header, links name each server's own listening address.
            let a = mask(&a).replace(&p.fast.addr().to_string(), "<addr>");
            let b = mask(&b).replace(&p.hyper.addr().to_string(), "<addr>");
            prop_assert_eq!(
                &a,
                &b,
                "stream {:?}",
                String::from_utf8_lossy(&chunks.concat())
            );
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// The loader.

const RECORD: &str = r#"{"id": "cccccccc-0000-4000-8000-000000000001", "name": "n", "status": "active", "size": 3, "checksum": "900150983cd24fb0d6963f7d28e17f72", "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 0, "is_public": true, "protected": false, "created_at": "2016-05-22T06:04:20.425843", "updated_at": "2016-05-22T06:04:20", "properties": {"os": "x", "k": null}, "members": [{"member_id": "t", "can_share": false}], "data": {"base64": "YWJj"}}"#;

/// Replacement values for a field: valid, wrong type, out of range, odd text.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("99999999999999999999999".to_string()),
        Just("18446744073709551615".to_string()),
        Just("1.5".to_string()),
        Just("\"\"".to_string()),
        Just("\"0000-01-01T00:00:00\"".to_string()),
        Just("\"2016-05-22T06:04:20.4258431\"".to_string()),
        Just("\"a\\ud800b\"".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("{}".to_string()),
        Just("[]".to_string()),
        Just("{\"file\": \"/dev/zero\"}".to_string()),
        Just("{\"repeat\": \"a\", \"size\": 18446744073709551615}".to_string()),
        "[a-z0-9 ]{0,12}".prop_map(|s| format!("\"{s}\"")),
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// A fixture document: 1 to 3 records, each with some fields replaced, keys repeated, or
/// the text cut or corrupted.
fn document() -> impl Strategy<Value = String> {
    let fields: Vec<&'static str> = vec![
        "id",
        "name",
        "status",
        "size",
        "checksum",
        "disk_format",
        "container_format",
        "min_disk",
        "min_ram",
        "is_public",
        "protected",
        "created_at",
        "updated_at",
        "deleted_at",
        "properties",
        "members",
        "data",
        "owner",
        "virtual_size",
        "bogus",
    ];
    let record = (
        prop::collection::vec((prop::sample::select(fields), scalar()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(edits, dup)| {
            let mut rec: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(RECORD).unwrap();
            let mut raw_tail = String::new();
            for (k, v) in edits {
                match serde_json::from_str::<serde_json::Value>(&v) {
                    Ok(val) => {
                        rec.insert(k.to_string(), val);
                    }
                    // Not expressible as a Value (out of range, lone surrogate): spliced in
                    // as text.
                    Err(_) => {
                        rec.remove(k);
                        raw_tail.push_str(&format!(", \"{k}\": {v}"));
                    }
                }
            }
            let mut text = serde_json::Value::Object(rec).to_string();
            text.pop();
            if dup {
                text.push_str(", \"name\": \"again\"");
            }
            text.push_str(&raw_tail);
            text.push('}');
            text
        });
    (
        prop::collection::vec(record, 1..4),
        0u8..3,
        prop::option::weighted(0.25, any::<prop::sample::Index>()),
        prop::option::weighted(0.15, (any::<prop::sample::Index>(), any::<u8>())),
    )
        .prop_map(|(recs, wrap, cut, flip)| {
            let list = format!("[{}]", recs.join(", "));
            let mut doc = match wrap {
                0 => list,
                1 => format!("{{\"images\": {list}}}"),
                _ => recs[0].clone(),
            };
            if let Some((at, b)) = flip {
                let i = at.index(doc.len());
                if b.is_ascii() && doc.is_char_boundary(i) && doc.is_char_boundary(i + 1) {
                    doc.replace_range(i..i + 1, &(b as char).to_string());
                }
            }
            if let Some(at) = cut {
                let mut i = at.index(doc.len());
                while !doc.is_char_boundary(i) {
                    i -= 1;
                }
                doc.truncate(i);
            }
            doc
        })
}

// Rule: the loader never panics on a generated or mutated document, and every error names
// the file (and a field when the document is valid JSON).
#[test]
fn loader_never_panics_and_errors_name_a_field() {
    let now = Timestamp::parse("2020-01-01T00:00:00").unwrap();
    let mut runner = runner(cases(512));
    runner
        .run(&document(), |doc| {
            let result = std::panic::catch_unwind(|| {
                parse_document("gen.json".as_ref(), &doc, now).map(|(imgs, _)| imgs.len())
            });
            let Ok(result) = result else {
                return Err(TestCaseError::fail(format!("loader panicked on {doc}")));
            };
            if let Err(e) = result {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("gen.json: "), "{msg}");
                // Valid JSON: the error must name a field of a record.
                if serde_json::from_str::<serde_json::Value>(&doc).is_ok()
                    && !doc.contains("\"name\": \"again\"")
                {
                    let field = msg["gen.json: ".len()..].split(": ").next().unwrap_or("");
                    prop_assert!(
                        !field.is_empty() && !field.starts_with("invalid JSON"),
                        "no field in {msg} for {doc}"
                    );
                }
                if doc.contains("\"name\": \"again\"")
                    && serde_json::from_str::<serde_json::Value>(&doc).is_ok()
                {
                    prop_assert!(msg.contains("name"), "{msg}");
                }
            }
            Ok(())
        })
        .unwrap();
}
