//! Micro-benchmarks of the HEAD hot path, so regressions show (issue 7):
//!
//! - `head/render`: a typical record (15 core fields, two properties) → its `X-Image-Meta-*`
//!   headers in a `HeaderMap` (`headers::image_meta`).
//! - `head/lookup_hit`, `head/lookup_miss`: `Store::get` with 1,000,000 records (or
//!   `BENCH_RECORDS`), random ids.
//! - `head/service_200`, `head/service_404`: the whole handler without sockets: a `HEAD
//!   /v1/images/<random id>` request through `GlanceService` (routing, lookup, request id,
//!   headers) to a ready `Response`, 1,000,000 records.
//! - `head/render_wire`: the same record → wire bytes (`headers::write_image_meta`), what
//!   the fast path writes.
//! - `head/fast_200`, `head/fast_404`: the whole fast path without sockets: a raw `HEAD
//!   /v1/images/<random id>` request through `FastHead::step` to the response bytes.
//! - `load/parse_10k`: `fixtures::parse_document` on 10,000 generated records (start-up cost).
//!
//! Run: `cargo bench --bench render` (about a minute; the sample times are kept short).
//! Filter: `cargo bench --bench render -- lookup`.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use glance_emu::model::{Image, Status, Timestamp};
use glance_emu::render::image_headers as headers;
use glance_emu::{App, Config, GlanceService, Store};
use http::{HeaderMap, Method, Request};
use http_body_util::Empty;
use hyper::service::Service;

/// Records in the store: `BENCH_RECORDS` (default 1,000,000; e.g. 10000 to see how much of the
/// cost is cache misses that only a large store has).
fn records() -> usize {
    std::env::var("BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1_000_000)
}

/// A tiny deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn uuid(&mut self) -> String {
        let v = ((self.next() as u128) << 64) | self.next() as u128;
        let v = (v & !(0xF000u128 << 64) & !(0xCu128 << 60)) | (0x4000u128 << 64) | (0x8u128 << 60);
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
    fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

/// A typical record, as bench/gen_fixtures.py writes it.
fn typical(rng: &mut Rng, i: usize, owner: &str) -> Image {
    let created = Timestamp::parse("2016-05-22T06:04:20.425843").expect("timestamp");
    let mut img = Image::new(
        glance_emu::model::ImageId::new(&rng.uuid()).expect("a UUID fits"),
        created,
    );
    img.name = Some(format!("image-{i}").into());
    img.status = Status::Active;
    img.size = Some(1_000_000 + rng.next() % (1 << 30));
    img.checksum = glance_emu::model::Checksum::new(&rng.hex32());
    img.disk_format = Some("qcow2".into());
    img.container_format = Some("bare".into());
    img.min_disk = (i % 40) as u32;
    img.min_ram = ((i % 8) * 512) as u32;
    img.owner = Some(owner.into());
    img.is_public = i % 3 != 0;
    img.updated_at = Timestamp::parse("2016-06-01T00:00:00.594315").expect("timestamp");
    img.set_property("hw_disk_bus".into(), Some("virtio".into()));
    img.set_property("os_distro".into(), Some("ubuntu".into()));
    img
}

struct World {
    store: Arc<Store>,
    ids: Vec<String>,
    sample: Arc<Image>,
}

fn world() -> &'static World {
    static W: std::sync::OnceLock<World> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let owner = rng.hex32();
        let images: Vec<Image> = (0..records())
            .map(|i| typical(&mut rng, i, &owner))
            .collect();
        let ids: Vec<String> = images.iter().map(|i| i.id.to_string()).collect();
        let store = Arc::new(Store::new(images).expect("store"));
        let sample = store.get(&ids[0]).expect("sample");
        World { store, ids, sample }
    })
}

fn unknown(id: &str) -> String {
    format!("00000000{}", &id[8..])
}

fn head_request(id: &str) -> Request<Empty<Bytes>> {
    Request::builder()
        .method(Method::HEAD)
        .uri(format!("/v1/images/{id}"))
        .header("host", "127.0.0.1:9292")
        .body(Empty::new())
        .expect("request")
}

fn bench_head(c: &mut Criterion) {
    let w = world();
    let mut g = c.benchmark_group("head");

    g.bench_function("render", |b| {
        b.iter_batched_ref(
            || HeaderMap::with_capacity(24),
            |map| headers::image_meta(black_box(&w.sample), None, map),
            BatchSize::SmallInput,
        )
    });

    g.bench_function("render_wire", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(1024),
            |out| headers::write_image_meta(black_box(&w.sample), out),
            BatchSize::SmallInput,
        )
    });

    let mut rng = Rng(42);
    g.bench_function("lookup_hit", |b| {
        b.iter(|| {
            let id = &w.ids[(rng.next() % w.ids.len() as u64) as usize];
            black_box(w.store.get(black_box(id)))
        })
    });
    let misses: Vec<String> = w.ids.iter().take(65_536).map(|id| unknown(id)).collect();
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            let id = &misses[(rng.next() % misses.len() as u64) as usize];
            black_box(w.store.get(black_box(id)))
        })
    });

    // As the binary runs without --control: no journal.
    let app = Arc::new(App::new(
        Arc::clone(&w.store),
        Config {
            control: glance_emu::control::ControlSettings {
                journal_cap: 0,
                ..Default::default()
            },
            ..Config::default()
        },
    ));
    let control = glance_emu::control::Control::new(&app.config.control);
    let fast = glance_emu::edge::fast::FastHead::new(Arc::clone(&app), control).expect("noauth");
    let raw = |id: &str| format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: 127.0.0.1:9292\r\n\r\n");
    let mut out = Vec::with_capacity(2048);
    g.bench_function("fast_200", |b| {
        b.iter_batched_ref(
            || raw(&w.ids[(rng.next() % w.ids.len() as u64) as usize]),
            |req| {
                out.clear();
                let step = fast.step(req.as_bytes(), &mut out);
                assert!(matches!(step, glance_emu::edge::fast::Step::Answered(_)));
                assert!(out.starts_with(b"HTTP/1.1 200 OK"));
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("fast_404", |b| {
        b.iter_batched_ref(
            || raw(&misses[(rng.next() % misses.len() as u64) as usize]),
            |req| {
                out.clear();
                let step = fast.step(req.as_bytes(), &mut out);
                assert!(matches!(step, glance_emu::edge::fast::Step::Answered(_)));
                assert!(out.starts_with(b"HTTP/1.1 404"));
            },
            BatchSize::SmallInput,
        )
    });
    let svc = GlanceService::new(app);
    // One poll: a HEAD is answered synchronously (the panic guard adds no await).
    let call = |req: Request<Empty<Bytes>>| {
        let mut fut = std::pin::pin!(svc.call(req));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(fut.as_mut(), &mut cx) {
            std::task::Poll::Ready(Ok(resp)) => resp,
            _ => panic!("HEAD should answer synchronously"),
        }
    };
    g.bench_function("service_200", |b| {
        b.iter_batched(
            || head_request(&w.ids[(rng.next() % w.ids.len() as u64) as usize]),
            |req| {
                let resp = call(req);
                assert_eq!(resp.status(), 200);
                resp
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("service_404", |b| {
        b.iter_batched(
            || head_request(&misses[(rng.next() % misses.len() as u64) as usize]),
            |req| {
                let resp = call(req);
                assert_eq!(resp.status(), 404);
                resp
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn bench_load(c: &mut Criterion) {
    let mut rng = Rng(7);
    let owner = rng.hex32();
    let mut doc = String::from("{\"images\": [\n");
    for i in 0..10_000 {
        let img = typical(&mut rng, i, &owner);
        if i > 0 {
            doc.push_str(",\n");
        }
        doc.push_str(&format!(
            "{{\"id\": \"{}\", \"name\": \"image-{i}\", \"status\": \"active\", \"size\": {}, \
             \"checksum\": \"{}\", \"disk_format\": \"qcow2\", \"container_format\": \"bare\", \
             \"min_disk\": {}, \"min_ram\": {}, \"owner\": \"{owner}\", \"is_public\": {}, \
             \"protected\": false, \"deleted\": false, \
             \"created_at\": \"2016-05-22T06:04:20.425843\", \
             \"updated_at\": \"2016-06-01T00:00:00.594315\", \
             \"properties\": {{\"hw_disk_bus\": \"virtio\", \"os_distro\": \"ubuntu\"}}}}",
            img.id,
            img.size.unwrap_or(0),
            img.checksum.as_deref().unwrap_or(""),
            img.min_disk,
            img.min_ram,
            img.is_public
        ));
    }
    doc.push_str("\n]}\n");
    let now = Timestamp::parse("2020-01-01T00:00:00").expect("timestamp");
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    g.bench_function("parse_10k", |b| {
        b.iter(|| {
            let parsed = glance_emu::fixtures::parse_document(Path::new("bench.json"), &doc, now)
                .expect("parse");
            black_box(parsed)
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_head, bench_load
}
criterion_main!(benches);
