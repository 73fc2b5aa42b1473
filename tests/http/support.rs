//! Shared helpers: start an in-process emulator on port 0 and speak raw HTTP/1.1 to it, so
//! assertions see status lines, header names and bodies exactly as they are on the wire.

use std::sync::Arc;

use glance_emu::auth::AuthMode;
use glance_emu::control::ControlSettings;
use glance_emu::edge::server::ServerOptions;
use glance_emu::embed::Emulator;
use glance_emu::fixtures::parse_document;
use glance_emu::model::{Image, Timestamp};
use glance_emu::{App, Config, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    /// The value of the header spelled exactly `name` on the wire.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Header names in wire order.
    pub fn names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body_str()))
    }

    /// `Name: value` lines in order, with request id and date masked.
    pub fn masked_lines(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(n, v)| match n.as_str() {
                "X-Openstack-Request-Id" | "X-Compute-Request-Id" => {
                    assert_request_id(v);
                    format!("{n}: req-<uuid4>")
                }
                "Date" => {
                    assert_http_date(v);
                    format!("{n}: <date>")
                }
                _ => format!("{n}: {v}"),
            })
            .collect()
    }
}

pub fn assert_request_id(v: &str) {
    let u = v
        .strip_prefix("req-")
        .unwrap_or_else(|| panic!("bad request id {v}"));
    let parsed = uuid::Uuid::parse_str(u).unwrap_or_else(|_| panic!("bad request id {v}"));
    assert_eq!(parsed.get_version_num(), 4, "{v}");
    assert_eq!(u, u.to_lowercase());
    assert_eq!(u.len(), 36);
}

pub fn assert_http_date(v: &str) {
    assert!(
        chrono::NaiveDateTime::parse_from_str(v, "%a, %d %b %Y %H:%M:%S GMT").is_ok(),
        "bad Date {v}"
    );
}

/// The `host:port` of the binary's first stdout line (`glance-emu listening on http://…`).
pub fn announced_addr(line: &str) -> String {
    line.split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string()
}

/// The ids of a v1 list body's `images`, in order.
pub fn image_ids(list: &serde_json::Value) -> Vec<&str> {
    list["images"]
        .as_array()
        .expect("an images list")
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect()
}

/// Starts an emulator with the records of a fixture document.
pub async fn spawn(fixture: &str) -> Emulator {
    spawn_with(fixture, Config::default()).await
}

/// Starts an emulator with a fixture document and a configuration. Like the binary, it keeps
/// a request journal only when the control API is on, so plain HEADs take the fast path.
pub async fn spawn_with(fixture: &str, config: Config) -> Emulator {
    spawn_options(fixture, config, ServerOptions::default()).await
}

/// [`spawn`] with the control API (`/_emu/`) on.
pub async fn spawn_with_control(fixture: &str) -> Emulator {
    spawn_with(
        fixture,
        Config {
            control: glance_emu::control::ControlSettings {
                http: true,
                ..Default::default()
            },
            ..Config::default()
        },
    )
    .await
}

/// [`spawn`] with `--auth trusted-headers` (identity from keystonemiddleware's headers).
pub async fn spawn_trusted(fixture: &str) -> Emulator {
    spawn_with(
        fixture,
        Config {
            auth: AuthMode::TrustedHeaders,
            ..Config::default()
        },
    )
    .await
}

/// [`spawn_with`] with every request going through hyper (no HEAD fast path).
pub async fn spawn_hyper_only(fixture: &str, config: Config) -> Emulator {
    let options = ServerOptions {
        fast_head: false,
        ..ServerOptions::default()
    };
    spawn_options(fixture, config, options).await
}

pub async fn spawn_options(fixture: &str, mut config: Config, options: ServerOptions) -> Emulator {
    if !config.control.http {
        config.control = ControlSettings {
            journal_cap: 0,
            ..ControlSettings::default()
        };
    }
    let (images, _) = parse_document("test.json".as_ref(), fixture, Timestamp::now()).unwrap();
    spawn_records(images, config, options).await
}

/// Starts an emulator over records already parsed (several fixture documents at once).
pub async fn spawn_records(images: Vec<Image>, config: Config, options: ServerOptions) -> Emulator {
    let app = App::new(Arc::new(Store::new(images).unwrap()), config);
    Emulator::start_app_with(app, options).await.unwrap()
}

/// A keep-alive client connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(emu: &Emulator) -> Conn {
        Conn {
            stream: TcpStream::connect(emu.addr()).await.unwrap(),
            buf: Vec::new(),
        }
    }

    pub async fn send_raw(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).await.unwrap();
    }

    /// Sends a request and reads one response. `head` says whether it answers a HEAD.
    pub async fn roundtrip(&mut self, raw: &[u8]) -> Resp {
        let head = raw.starts_with(b"HEAD ");
        self.send_raw(raw).await;
        self.read_response(head).await
    }

    async fn fill(&mut self) -> bool {
        // A heap buffer: a large array here would bloat every test future.
        self.buf.reserve(65536);
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.stream.read_buf(&mut self.buf),
        )
        .await
        .expect("response timed out")
        .unwrap_or(0)
            > 0
    }

    pub async fn read_response(&mut self, head: bool) -> Resp {
        let end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p;
            }
            assert!(
                self.fill().await,
                "connection closed before a response head"
            );
        };
        let head_text = String::from_utf8(self.buf[..end].to_vec()).unwrap();
        self.buf.drain(..end + 4);
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap().to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap_or((l, ""));
                (n.to_string(), v.to_string())
            })
            .collect();
        let code: u16 = status_line[9..12].parse().unwrap();
        let mut body = Vec::new();
        if !head && code != 204 && code != 304 {
            let len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse::<usize>().unwrap());
            match len {
                Some(len) => {
                    while self.buf.len() < len {
                        if !self.fill().await {
                            break;
                        }
                    }
                    let take = len.min(self.buf.len());
                    body = self.buf.drain(..take).collect();
                }
                None => {
                    while self.fill().await {}
                    body = std::mem::take(&mut self.buf);
                }
            }
        }
        Resp {
            status_line,
            headers,
            body,
        }
    }

    /// True when the server closed the connection (reads EOF with nothing buffered).
    pub async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One request on a fresh connection.
pub async fn request(emu: &Emulator, raw: &str) -> Resp {
    let mut c = Conn::open(emu).await;
    c.roundtrip(raw.as_bytes()).await
}

/// `HEAD <path>` with a Host header, like curl -I.
pub async fn head(emu: &Emulator, path: &str) -> Resp {
    request(
        emu,
        &format!("HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"),
    )
    .await
}

/// `GET <path>` like curl.
pub async fn get(emu: &Emulator, path: &str) -> Resp {
    request(
        emu,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n"),
    )
    .await
}

/// A request with a method, extra header lines (each ending in \r\n) and a body.
pub async fn call(emu: &Emulator, method: &str, path: &str, extra: &str, body: &[u8]) -> Resp {
    let mut raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    let mut c = Conn::open(emu).await;
    c.roundtrip(&raw).await
}
