//! The HEAD fast path against hyper's path: the same bytes sent to two servers holding the
//! same records, one answering plain HEADs in front of hyper and one sending everything
//! through hyper, must come back the same (request ids and dates masked), whatever mix of
//! requests, pipelining and fragmentation a connection carries.

use glance_emu::edge::fast;
use glance_emu::Config;

use crate::support::*;

const FIXTURE: &str = include_str!("../fixtures/images.json");

/// Records beyond the shared fixture: the spellings the header writer must get right.
const MORE: &str = r#"{"images": [
  {"id": "bbbbbbbb-0000-4000-8000-000000000001", "name": "caf\u00e9 \u00fc", "status": "active",
   "size": 5, "virtual_size": 7, "checksum": "d41d8cd98f00b204e9800998ecf8427e",
   "disk_format": "raw", "container_format": "ovf", "min_disk": 3, "min_ram": 512,
   "owner": "t1", "is_public": false, "protected": true,
   "created_at": "2016-05-22T06:04:20.425843", "updated_at": "2016-05-22T06:04:20",
   "properties": {"os-distro": "ubuntu", "hw_disk_bus": "virtio", "nothing": null,
                  "kernel_id": "e1b6edd4-bd9b-40ac-b010-8a6c16de4ba4"}},
  {"id": "bbbbbbbb-0000-4000-8000-000000000002", "status": "queued",
   "created_at": "2020-01-02T00:00:00"},
  {"id": "odd_id.v1~x", "name": "", "status": "active", "size": 0,
   "created_at": "2020-01-02T00:00:00"}
]}"#;

/// Every id in both fixtures, and some that are not there.
const IDS: &[&str] = &[
    "3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
    "03bc0a8b-659c-4de9-b6bd-13c6e86e6455",
    "aaaaaaaa-0000-4000-8000-000000000001",
    "aaaaaaaa-0000-4000-8000-000000000002",
    "aaaaaaaa-0000-4000-8000-000000000003",
    "aaaaaaaa-0000-4000-8000-000000000004",
    "aaaaaaaa-0000-4000-8000-000000000005",
    "aaaaaaaa-0000-4000-8000-000000000006",
    "not-a-uuid",
    "aaaaaaaa-0000-4000-8000-000000000009",
    "bbbbbbbb-0000-4000-8000-000000000001",
    "bbbbbbbb-0000-4000-8000-000000000002",
    "odd_id.v1~x",
    "3c3d1d01-b48a-4639-8a88-08be3b9b5d7f",
    "nope",
];

fn fixture() -> String {
    let mut a: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let b: serde_json::Value = serde_json::from_str(MORE).unwrap();
    let list = a["images"].as_array_mut().unwrap();
    list.extend(b["images"].as_array().unwrap().iter().cloned());
    a.to_string()
}

fn head_req(id: &str, extra: &str) -> String {
    format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n")
}

/// Sends `chunks` (pausing between them, so they arrive as separate reads) and reads one
/// response per entry of `heads` (true: the request was a HEAD). Returns every status line,
/// masked header line and body, in order.
async fn exchange(
    emu: &glance_emu::embed::Emulator,
    chunks: &[Vec<u8>],
    heads: &[bool],
) -> Vec<String> {
    let mut c = Conn::open(emu).await;
    for ch in chunks {
        c.send_raw(ch).await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut out = Vec::new();
    for &h in heads {
        let r = c.read_response(h).await;
        out.push(r.status_line.clone());
        out.extend(r.masked_lines());
        out.push(format!("body: {}", r.body_str()));
    }
    out
}

/// One connection's worth of traffic, sent to both servers.
struct Case {
    what: &'static str,
    chunks: Vec<Vec<u8>>,
    heads: Vec<bool>,
}

fn cases() -> Vec<Case> {
    let cirros = IDS[0];
    let glanceclient = "User-Agent: python-glanceclient\r\nAccept-Encoding: gzip, deflate\r\n\
                        Accept: */*\r\nConnection: keep-alive\r\nX-Auth-Token: t\r\n";
    let mut v = Vec::new();
    for id in IDS {
        v.push(Case {
            what: "one HEAD per id",
            chunks: vec![head_req(id, "Accept: */*\r\n").into_bytes()],
            heads: vec![true],
        });
    }
    v.push(Case {
        what: "every id on one keep-alive connection, as glanceclient sends them",
        chunks: IDS
            .iter()
            .map(|id| head_req(id, glanceclient).into_bytes())
            .collect(),
        heads: vec![true; IDS.len()],
    });
    let pipelined = [
        head_req(cirros, ""),
        head_req("nope", ""),
        format!("GET /v1/images/{} HTTP/1.1\r\nHost: x\r\n\r\n", IDS[2]),
        head_req(cirros, ""),
        head_req("nope", ""),
    ]
    .concat();
    v.push(Case {
        what: "pipelined HEADs, a GET, then more HEADs (hyper takes over at the GET)",
        chunks: vec![pipelined.into_bytes()],
        heads: vec![true, true, false, true, true],
    });
    let first = head_req(cirros, "User-Agent: curl/8\r\n");
    v.push(Case {
        what: "a request split into single bytes, then a whole one",
        chunks: first
            .bytes()
            .map(|b| vec![b])
            .chain([head_req(IDS[1], "").into_bytes()])
            .collect(),
        heads: vec![true, true],
    });
    v.push(Case {
        what: "the 409 size check and a wrong size header (hyper), then a plain HEAD",
        chunks: vec![
            head_req(cirros, "X-Image-Meta-Size: 1\r\n").into_bytes(),
            head_req(cirros, "X-Image-Meta-Size: many\r\n").into_bytes(),
            head_req(cirros, "").into_bytes(),
        ],
        heads: vec![true, true, true],
    });
    v.push(Case {
        what: "the record whose data disagrees with its size (409 on the fast path)",
        chunks: vec![head_req("aaaaaaaa-0000-4000-8000-000000000009", "").into_bytes()],
        heads: vec![true],
    });
    v.push(Case {
        what: "HTTP/1.0 and Connection: close",
        chunks: vec![format!("HEAD /v1/images/{cirros} HTTP/1.0\r\n\r\n").into_bytes()],
        heads: vec![true],
    });
    v.push(Case {
        what: "Connection: close on HTTP/1.1",
        chunks: vec![head_req(cirros, "Connection: close\r\n").into_bytes()],
        heads: vec![true],
    });
    v.push(Case {
        what: "a version media type on a HEAD (negotiated by hyper)",
        chunks: vec![
            head_req(cirros, "Accept: application/vnd.openstack.images-v1\r\n").into_bytes(),
            head_req(cirros, "Connection: keep-alive\r\n").into_bytes(),
        ],
        heads: vec![true, true],
    });
    for path in [
        "/v1/images/detail",
        "/v1/images/3c3d1d01%2Db48a-4639-8a88-08be3b9b5d78",
        "/v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78?x=1",
        "/v1/images/",
        "/v1/images",
        "/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78",
    ] {
        v.push(Case {
            what: "HEADs of paths the fast path leaves to hyper",
            chunks: vec![format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()],
            heads: vec![true],
        });
    }
    v
}

/// The HEAD fast path and hyper write the same bytes for the same requests.
#[tokio::test]
async fn fast_path_and_hyper_write_the_same_bytes() {
    let fx = fixture();
    let fast = spawn_with(&fx, Config::default()).await;
    let hyper = spawn_hyper_only(&fx, Config::default()).await;
    let before = fast::answered_total();
    let mut eligible = 0;
    for case in cases() {
        let a = exchange(&fast, &case.chunks, &case.heads).await;
        let b = exchange(&hyper, &case.chunks, &case.heads).await;
        assert_eq!(a, b, "{}", case.what);
        eligible += case.heads.len();
    }
    // The comparison means something only if the fast path answered: most of these
    // requests are its shape (other tests running at the same time only add to the count).
    assert!(
        fast::answered_total() - before >= (eligible / 2) as u64,
        "fast path answered {} of {eligible}",
        fast::answered_total() - before
    );
}

/// With the compat switch the 409s are off on both paths alike.
#[tokio::test]
async fn glance_compat_mode_agrees_too() {
    let fx = fixture();
    let config = || Config {
        glance_compat: true,
        ..Config::default()
    };
    let fast = spawn_with(&fx, config()).await;
    let hyper = spawn_hyper_only(&fx, config()).await;
    let id = "aaaaaaaa-0000-4000-8000-000000000009";
    let chunks = vec![head_req(id, "").into_bytes()];
    let a = exchange(&fast, &chunks, &[true]).await;
    assert_eq!(a[0], "HTTP/1.1 200 OK");
    assert_eq!(a, exchange(&hyper, &chunks, &[true]).await);
}

/// Shutdown closes an idle keep-alive connection that is still on the fast path (as hyper's
/// graceful shutdown closes its idle ones) and does not wait out the drain timeout for it.
#[tokio::test]
async fn shutdown_closes_idle_fast_connections() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    let r = c.roundtrip(head_req(IDS[0], "").as_bytes()).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let stopping = tokio::spawn(emu.stop());
    assert!(c.closed().await, "idle connection left open at shutdown");
    tokio::time::timeout(std::time::Duration::from_secs(5), stopping)
        .await
        .expect("shutdown waited for an idle connection")
        .unwrap();
}

/// hyper's header-read timeout holds on the fast path too: an idle keep-alive connection
/// and one dribbling a request head byte by byte are both closed when it runs out.
#[tokio::test]
async fn header_read_timeout_applies_on_the_fast_path() {
    let options = glance_emu::edge::server::ServerOptions {
        header_read_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let emu = spawn_options(FIXTURE, Config::default(), options).await;
    let mut idle = Conn::open(&emu).await;
    let r = idle.roundtrip(head_req(IDS[0], "").as_bytes()).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let started = std::time::Instant::now();
    assert!(idle.closed().await);
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));

    // Written on a bare socket: the server may close it mid-dribble, failing a write.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
    let started = std::time::Instant::now();
    let raw = head_req(IDS[0], "User-Agent: slowloris\r\n");
    for b in raw.as_bytes()[..raw.len() - 1].iter() {
        if slow.write_all(&[*b]).await.is_err()
            || started.elapsed() > std::time::Duration::from_millis(1500)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut rest),
    )
    .await
    .expect("the dribbling connection was left open");
    assert!(read.is_err() || rest.is_empty(), "answered: {rest:?}");
}
