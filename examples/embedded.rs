//! Embedding glance-emu in a Rust test or tool: start it in-process on a free port with
//! records given in code, make it deterministic, break one request on purpose, and look at
//! what the client sent.
//!
//! ```sh
//! cargo run --example embedded
//! ```

use std::error::Error;

use glance_emu::control::faults::{Action, FaultRule};
use glance_emu::embed::Emulator;
use glance_emu::fixtures::parse_document;
use glance_emu::model::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RECORDS: &str = r#"[
  {"id": "0e2a4f3c-1b5d-4c6e-8f70-9a1b2c3d4e5f", "name": "cirros", "is_public": true,
   "disk_format": "qcow2", "container_format": "bare",
   "created_at": "2016-05-22T06:04:20.425843",
   "data": {"repeat": "cirros!", "size": 4096}}
]"#;

const ID: &str = "0e2a4f3c-1b5d-4c6e-8f70-9a1b2c3d4e5f";

/// One HTTP/1.1 exchange with `Connection: close`; returns the status line and the
/// response length in bytes.
async fn fetch(url: &str, method: &str, path: &str) -> Result<(String, usize), Box<dyn Error>> {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).await?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: not-journaled\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out);
    let status = text.lines().next().unwrap_or("").to_string();
    Ok((status, out.len()))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let (images, _warnings) = parse_document("example.json".as_ref(), RECORDS, Timestamp::now())?;
    let emu = Emulator::start(images).await?;
    let ctl = emu.control();
    println!("glance-emu running at {}", emu.url());

    // Deterministic: frozen clock (also the Date header), seeded request ids.
    ctl.freeze_clock(Timestamp::parse("2016-05-22T06:04:20.425843").unwrap(), 0);
    ctl.seed_ids(2016);

    // The first download fails with Glance's own 503 page; the second succeeds.
    ctl.add_fault(
        FaultRule::new(Action::Status {
            status: 503,
            message: Some("Image store is busy".into()),
        })
        .method("GET")
        .path("/v1/images/*")
        .times(1),
    )?;
    let path = format!("/v1/images/{ID}");
    for _ in 0..2 {
        let (status, len) = fetch(&emu.url(), "GET", &path).await?;
        println!("GET {path} -> {status} ({len} bytes on the wire)");
    }

    // What did the client send? (tokens are redacted)
    for e in ctl.journal() {
        println!(
            "journal #{}: {} {} -> {:?} fault={:?} x-auth-token={:?}",
            e.seq,
            e.method,
            e.path,
            e.status,
            e.fault,
            e.header("x-auth-token")
        );
    }

    // Back to the fixtures, ready for the next test.
    ctl.reset_all(glance_emu::control::ResetTo::Fixtures)
        .await?;
    emu.stop().await;
    Ok(())
}
