//! Oversized and hostile request heads get Glance's eventlet server's answers, byte for byte
//! (as a live differential against Glance 15.0.2 on eventlet 0.33 recorded them), and the
//! connection is closed: a request line of 8192 bytes or more (414), a header line of 16384
//! or more, a header block over 65536, 100 header lines, a `Content-Length` Python cannot
//! read. On the fast path and through hyper alone, on a connection's first request and on
//! later keep-alive ones, pipelined, in one write or in pieces; the byte before each limit
//! is served as usual.

use std::time::Duration;

use glance_emu::edge::server::ServerOptions;
use glance_emu::embed::Emulator;
use glance_emu::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

const FIXTURE: &str = include_str!("../fixtures/images.json");
const ID: &str = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78";

const R414: &[u8] =
    b"HTTP/1.0 414 Request URI Too Long\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
const LINE_TOO_LONG: &[u8] =
    b"HTTP/1.0 400 Header Line Too Long\r\nConnection: close\r\nContent-length: 0\r\n\r\n";
const TOO_LARGE: &[u8] =
    b"HTTP/1.0 400 Headers Too Large\r\nConnection: close\r\nContent-length: 0\r\n\r\n";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\nContent-length: 0\r\n\r\n";
/// Python's 431, its `Date` value masked.
const TOO_MANY: &str = "HTTP/1.1 431 Too many headers\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\n\
Date: <date>\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\n\
Content-Length: 333\r\n\r\n<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        \
<meta charset=\"utf-8\">\n        <title>Error response</title>\n    </head>\n    <body>\n        \
<h1>Error response</h1>\n        <p>Error code: 431</p>\n        <p>Message: Too many headers.</p>\n        \
<p>Error code explanation: 431 - got more than 100 headers.</p>\n    </body>\n</html>\n";

/// `HEAD /v1/images/<id>` with a request line of exactly `n` bytes (CRLF included): the
/// id is padded, so the answer is a 404.
fn request_line(n: usize) -> Vec<u8> {
    let fixed = "HEAD /v1/images/ HTTP/1.1\r\n".len();
    format!(
        "HEAD /v1/images/{} HTTP/1.1\r\nHost: h\r\n\r\n",
        "x".repeat(n - fixed)
    )
    .into_bytes()
}

/// `HEAD /v1/images/<ID>` with these header lines (each given without its CRLF).
fn with_headers(lines: &[String]) -> Vec<u8> {
    let mut h = format!("HEAD /v1/images/{ID} HTTP/1.1\r\n");
    for l in lines {
        h += l;
        h += "\r\n";
    }
    h += "\r\n";
    h.into_bytes()
}

/// A header line of `n` bytes, CRLF included.
fn line(name: &str, n: usize) -> String {
    format!("{name}: {}", "v".repeat(n - name.len() - 4))
}

/// A header block (header lines, their CRLFs and the blank line) of exactly `n` bytes.
fn block(n: usize) -> Vec<u8> {
    let mut lines = vec!["Host: h".to_string()];
    let mut left = n - 2 - 9;
    let mut i = 0;
    while left > 0 {
        let take = left.min(16000);
        // A last line too short for a name gets folded into the one before.
        let take = if left - take < 12 && left - take > 0 {
            take - 20
        } else {
            take
        };
        lines.push(line(&format!("X-Pad-{i:03}"), take));
        left -= take;
        i += 1;
    }
    let head = with_headers(&lines);
    assert_eq!(
        head.len() - head.windows(2).position(|w| w == b"\r\n").unwrap() - 2,
        n
    );
    head
}

/// `n` header lines, `Host` first.
fn lines(n: usize) -> Vec<u8> {
    let mut l = vec!["Host: h".to_string()];
    l.extend((1..n).map(|i| format!("X-H{i}: v")));
    with_headers(&l)
}

fn post_with_length(v: &str) -> Vec<u8> {
    format!(
        "POST /v1/images HTTP/1.1\r\nHost: h\r\nx-image-meta-name: n\r\nContent-Length: {v}\r\n\r\n"
    )
    .into_bytes()
}

/// Sends `pieces` (50 ms apart, so each is a read of its own), then reads to the end of
/// the connection: everything the server wrote.
async fn exchange(emu: &Emulator, pieces: &[&[u8]]) -> Vec<u8> {
    let mut s = TcpStream::connect(emu.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    for (i, p) in pieces.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if s.write_all(p).await.is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let read = async {
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server closes the connection");
    out
}

/// Splits `bytes` into pieces of at most `n`.
fn cut(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    bytes.chunks(n).collect()
}

/// `out` with each `Date:` value masked (an HTTP date, checked).
fn masked(out: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(out).into_owned();
    let mut from = 0;
    while let Some(i) = text[from..].find("\r\nDate: ").map(|i| i + from) {
        let end = i + 2 + text[i + 2..].find("\r\n").unwrap();
        assert!(text[i + 8..end].ends_with(" GMT"), "{}", &text[i..end]);
        text.replace_range(i + 8..end, "<date>");
        from = i + 2;
    }
    text
}

/// The status line of each answer in `out`.
fn statuses(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .split("\r\n")
        .filter(|l| l.starts_with("HTTP/1."))
        .map(str::to_string)
        .collect()
}

/// The two servers: HEAD fast path on, and hyper alone.
async fn servers() -> Vec<(&'static str, Emulator)> {
    vec![
        ("fast path", spawn(FIXTURE).await),
        (
            "hyper only",
            spawn_hyper_only(FIXTURE, Config::default()).await,
        ),
    ]
}

/// A limit: its name, the head that passes (and its answer's status line), the head that
/// does not (and eventlet's answer).
type Boundary = (&'static str, Vec<u8>, &'static str, Vec<u8>, String);

/// The cases at each limit.
fn boundaries() -> Vec<Boundary> {
    let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    vec![
        (
            "request line 8191/8192",
            request_line(8191),
            "HTTP/1.1 404 Not Found",
            request_line(8192),
            s(R414),
        ),
        (
            "header line 16383/16384",
            with_headers(&["Host: h".into(), line("X-Big", 16383)]),
            "HTTP/1.1 200 OK",
            with_headers(&["Host: h".into(), line("X-Big", 16384)]),
            s(LINE_TOO_LONG),
        ),
        (
            "header block 65536/65537",
            block(65536),
            "HTTP/1.1 200 OK",
            block(65537),
            s(TOO_LARGE),
        ),
        (
            "header lines 99/100",
            lines(99),
            "HTTP/1.1 200 OK",
            lines(100),
            TOO_MANY.to_string(),
        ),
        (
            "Content-Length 0/abc",
            post_with_length("0"),
            "HTTP/1.1 201 Created",
            post_with_length("abc"),
            s(BAD_REQUEST),
        ),
        (
            "Content-Length 0/-1",
            post_with_length("0"),
            "HTTP/1.1 201 Created",
            post_with_length("-1"),
            s(BAD_REQUEST),
        ),
    ]
}

/// A request the fast path answers, and one it leaves to hyper.
const KEEP: &[u8] =
    b"HEAD /v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78 HTTP/1.1\r\nHost: h\r\n\r\n";
const KEEP_HYPER: &[u8] =
    b"HEAD /v1/images/3c3d1d01-b48a-4639-8a88-08be3b9b5d78 HTTP/1.1\r\nHost: h\r\nX-Any: 1\r\n\r\n";

// Rule: Each of eventlet's head limits answers exactly eventlet's bytes and closes, one byte past it; one byte short, the request is served. On the fast path and hyper alone, whole or in pieces.
#[tokio::test]
async fn each_limit_answers_eventlets_bytes_on_a_first_request() {
    for (server, emu) in servers().await {
        for (name, ok, ok_status, bad, want) in boundaries() {
            let mut c = Conn::open(&emu).await;
            let r = c.roundtrip(&ok).await;
            assert_eq!(r.status_line, ok_status, "{server}: {name}");
            for piece in [usize::MAX, 1000, 7] {
                if piece == 7 && bad.len() > 20_000 {
                    continue;
                }
                let pieces = cut(&bad, piece.min(bad.len()));
                let pieces = if piece == 7 {
                    // Seven bytes at a time for the start, then the rest.
                    let mut p: Vec<&[u8]> = pieces[..4].to_vec();
                    p.push(&bad[28..]);
                    p
                } else {
                    pieces
                };
                let out = exchange(&emu, &pieces).await;
                assert_eq!(masked(&out), want, "{server}: {name}, pieces of {piece}");
            }
        }
    }
}

// Rule: On a keep-alive connection, a later head past a limit gets the answers to the requests before it and then eventlet's answer, and the connection closes: after a round trip, pipelined behind one, and begun in an earlier read.
#[tokio::test]
async fn each_limit_answers_eventlets_bytes_on_a_later_request() {
    for (server, emu) in servers().await {
        for (name, _, _, bad, want) in boundaries() {
            // Pipelined: two HEADs (the second hyper's) and the bad head in one write.
            let wire = [KEEP, KEEP_HYPER, &bad[..]].concat();
            let out = exchange(&emu, &[&wire]).await;
            let text = masked(&out);
            assert_eq!(
                statuses(&out)[..2],
                ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK"],
                "{server}: {name}"
            );
            assert!(text.ends_with(&want), "{server}: {name}: {text}");
            assert_eq!(text.matches("HTTP/1.").count(), 3, "{server}: {name}");
            // After a round trip (on hyper, either way); then the bad head whole, or cut
            // after its first line or within it (hyper has begun reading it).
            let first_line = bad.iter().position(|&b| b == b'\n').unwrap() + 1;
            for split in [None, Some(first_line.min(100)), Some(3)] {
                let mut pieces: Vec<&[u8]> = vec![KEEP_HYPER];
                match split {
                    None => pieces.push(&bad),
                    Some(at) => {
                        pieces.push(&bad[..at]);
                        pieces.push(&bad[at..]);
                    }
                }
                let out = exchange(&emu, &pieces).await;
                let text = masked(&out);
                assert_eq!(statuses(&out)[0], "HTTP/1.1 200 OK", "{server}: {name}");
                assert!(
                    text.ends_with(&want),
                    "{server}: {name}, split {split:?}: {text}"
                );
                assert_eq!(text.matches("HTTP/1.").count(), 2, "{server}: {name}");
            }
        }
    }
}

// Rule: eventlet judges a line before its end: 8192 bytes of request line, or 65537 bytes of one header line, are refused without waiting for more.
#[tokio::test]
async fn a_line_is_refused_before_it_ends() {
    for (server, emu) in servers().await {
        let start = b"GET /".to_vec();
        let mut line = start.clone();
        line.resize(8192, b'x');
        let mut s = TcpStream::connect(emu.addr()).await.unwrap();
        s.write_all(&line).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
            .await
            .expect("answered at 8192 bytes")
            .ok();
        assert_eq!(out, R414, "{server}");
        // A header line: 65536 bytes are waited on, the 65537th refuses.
        let mut head = format!("HEAD /v1/images/{ID} HTTP/1.1\r\nX: ").into_bytes();
        let at = head.len() - 3;
        head.resize(at + 65536, b'v');
        let mut s = TcpStream::connect(emu.addr()).await.unwrap();
        s.write_all(&head).await.unwrap();
        let mut b = [0u8; 1];
        let early = tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await;
        assert!(early.is_err(), "{server}: answered before the 65537th byte");
        s.write_all(b"v").await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
            .await
            .expect("answered at 65537 bytes")
            .ok();
        assert_eq!(out, LINE_TOO_LONG, "{server}");
    }
}

// Rule: `--max-header-bytes` below eventlet's limits still bounds a head, with hyper's 431; `--max-headers` below 99 too.
#[tokio::test]
async fn lower_flags_still_bound_a_head_with_431() {
    for fast_head in [true, false] {
        let options = ServerOptions {
            fast_head,
            max_header_bytes: 16384,
            max_headers: 10,
            ..ServerOptions::default()
        };
        let emu = spawn_options(FIXTURE, Config::default(), options).await;
        for head in [
            with_headers(&["Host: h".into(), line("X-A", 9000), line("X-B", 9000)]),
            lines(11),
        ] {
            let out = exchange(&emu, &[&head]).await;
            assert!(
                masked(&out).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
                "fast {fast_head}: {}",
                masked(&out)
            );
        }
        let r = Conn::open(&emu).await.roundtrip(&lines(10)).await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    }
}

// Rule: A header line Python's email parser takes for no header (a space before the colon, a byte outside ASCII in the name, no colon) ends the header block for Glance: that line and every later one are ignored and the request is served. Both paths, first and later requests, whole or cut anywhere.
#[tokio::test]
async fn a_line_that_is_no_header_ends_the_header_block() {
    for (server, emu) in servers().await {
        for bad in [
            &b"x-image-meta-name : spaced"[..],
            b"X-\xc3\xa9: v",
            b"NoColon",
        ] {
            let mut post =
                b"POST /v1/images HTTP/1.1\r\nHost: h\r\nx-image-meta-name: kept\r\n".to_vec();
            post.extend_from_slice(bad);
            post.extend_from_slice(
                b"\r\nx-image-meta-property-lost: yes\r\nx-image-meta-min_ram: 7\r\n\r\n",
            );
            let mut c = Conn::open(&emu).await;
            // First request whole, then later ones whole, cut in the bad line, cut after it.
            for at in [None, None, Some(70), Some(post.len() - 3)] {
                let r = match at {
                    None => c.roundtrip(&post).await,
                    Some(at) => {
                        c.send_raw(&post[..at]).await;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        c.send_raw(&post[at..]).await;
                        c.read_response(false).await
                    }
                };
                assert_eq!(r.status_line, "HTTP/1.1 201 Created", "{server}: {bad:?}");
                let image = &r.json()["image"];
                assert_eq!(image["name"], "kept", "{server}: {bad:?} {at:?}");
                assert_eq!(image["min_ram"], 0, "{server}: {bad:?} {at:?}");
                assert_eq!(image["properties"], serde_json::json!({}), "{server}");
            }
            // The connection goes on.
            let r = c.roundtrip(KEEP).await;
            assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{server}: {bad:?}");
        }
    }
}
