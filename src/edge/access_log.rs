//! The access log: one line per answered request (fast path included), written off the
//! request path. Lines are formatted into a thread-local buffer, appended to a shared buffer
//! under a short lock, and written by one background thread every few milliseconds (or when
//! 64 KiB are waiting), so a request never waits for stderr. If the writer falls behind by
//! more than 8 MiB, lines are dropped and counted rather than blocking the server.
//!
//! Secrets never reach it: the entry has no headers at all, and query parameters whose
//! names look like credentials are written as `<redacted>`.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Line format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `2026-12-03T09:41:13.123456Z  INFO glance_emu::access: HEAD /v1/images/x 200 bytes=0 ms=0.061 ...`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected 'text' or 'json', got '{other}'")),
        }
    }
}

/// One answered request, as the access log sees it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub method: &'a str,
    /// The request path without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// None when no response was sent (a reset, or the client went away first).
    pub status: Option<u16>,
    /// Response body bytes (None when unknown, e.g. a stream cut short).
    pub bytes: Option<u64>,
    /// From the request's arrival to the response head being ready.
    pub duration: Duration,
    pub request_id: Option<&'a str>,
    pub tenant: Option<&'a str>,
    pub peer: Option<SocketAddr>,
}

/// Past this, lines are dropped (and counted) instead of queued.
const MAX_PENDING: usize = 8 << 20;
/// The writer is woken early when this much is waiting.
const WAKE_AT: usize = 64 << 10;
/// Otherwise it writes what is waiting this often.
const TICK: Duration = Duration::from_millis(20);

struct Pending {
    buf: Vec<u8>,
    dropped: u64,
    closed: bool,
    /// Bumped by the writer after each write (for `flush`).
    written_epoch: u64,
}

struct Inner {
    format: LogFormat,
    colour: bool,
    pending: Mutex<Pending>,
    wake: Condvar,
    done: Condvar,
}

/// A handle to the access log; cheap to clone. Dropping the last handle does not stop the
/// writer thread: call [`AccessLog::close`] (the binary does at exit) to write what is left.
#[derive(Clone)]
pub struct AccessLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessLog")
            .field("format", &self.inner.format)
            .field("colour", &self.inner.colour)
            .finish()
    }
}

impl AccessLog {
    /// Starts the writer thread over `out` (the binary passes stderr).
    pub fn start(
        format: LogFormat,
        colour: bool,
        out: Box<dyn Write + Send>,
    ) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            format,
            colour,
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(WAKE_AT * 2),
                dropped: 0,
                closed: false,
                written_epoch: 0,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
        });
        let writer = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer_loop(&writer, out))?;
        Ok(AccessLog { inner })
    }

    /// Queues one line; never blocks on the output.
    pub fn log(&self, e: &Entry<'_>) {
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            match self.inner.format {
                LogFormat::Text => write_text(&mut line, e, self.inner.colour),
                LogFormat::Json => write_json(&mut line, e),
            }
            let Ok(mut p) = self.inner.pending.lock() else {
                return;
            };
            if p.buf.len() + line.len() > MAX_PENDING {
                p.dropped += 1;
                return;
            }
            p.buf.extend_from_slice(&line);
            if p.buf.len() >= WAKE_AT {
                self.inner.wake.notify_one();
            }
        });
    }

    /// Waits until every line queued so far is written (at most a second).
    pub fn flush(&self) {
        let Ok(mut p) = self.inner.pending.lock() else {
            return;
        };
        let target = p.written_epoch + 2;
        self.inner.wake.notify_one();
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while p.written_epoch < target && !p.closed {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.inner.done.wait_timeout(p, left) {
                Ok((g, _)) => p = g,
                Err(_) => return,
            }
        }
    }

    /// Writes what is left and stops the writer thread.
    pub fn close(&self) {
        self.flush();
        if let Ok(mut p) = self.inner.pending.lock() {
            p.closed = true;
        }
        self.inner.wake.notify_one();
    }
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

fn writer_loop(inner: &Inner, mut out: Box<dyn Write + Send>) {
    let mut spare: Vec<u8> = Vec::with_capacity(WAKE_AT * 2);
    loop {
        let (dropped, closed) = {
            let Ok(mut p) = inner.pending.lock() else {
                return;
            };
            if p.buf.is_empty() && !p.closed {
                p = match inner.wake.wait_timeout(p, TICK) {
                    Ok((g, _)) => g,
                    Err(_) => return,
                };
            }
            std::mem::swap(&mut p.buf, &mut spare);
            (std::mem::take(&mut p.dropped), p.closed)
        };
        if dropped > 0 {
            let _ = writeln!(
                spare,
                "glance-emu: access log: {dropped} lines dropped (stderr too slow)"
            );
        }
        if !spare.is_empty() {
            let _ = out.write_all(&spare);
            let _ = out.flush();
            spare.clear();
        }
        if let Ok(mut p) = inner.pending.lock() {
            p.written_epoch += 1;
        }
        inner.done.notify_all();
        if closed {
            return;
        }
    }
}

// ---------------------------------------------------------------- formatting

const SECRET_WORDS: [&str; 7] = [
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "credential",
    "auth",
];

fn secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w)) || lower == "key" || lower.ends_with("_key")
}

/// The query with the values of credential-like parameters replaced by `<redacted>`.
fn redacted_query(q: &str, out: &mut Vec<u8>, esc: fn(&mut Vec<u8>, &str)) {
    for (i, pair) in q.split('&').enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        match pair.split_once('=') {
            Some((k, _)) if secret_name(k) => {
                esc(out, k);
                out.extend_from_slice(b"=<redacted>");
            }
            _ => esc(out, pair),
        }
    }
}

/// Text: anything outside printable ASCII (and space, quote, backslash) as %XX, so a line is
/// always one line and cannot carry terminal escapes.
fn esc_text(out: &mut Vec<u8>, s: &str) {
    let plain = |b: u8| (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\';
    if s.bytes().all(plain) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for &b in s.as_bytes() {
        if (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn esc_json(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != 0x7f && b != b'"' && b != b'\\')
    {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

thread_local! {
    /// (unix second, "YYYY-MM-DDTHH:MM:SS") of the last line written on this thread.
    static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
}

/// `2026-12-03T09:41:13.123456Z` (UTC), the date part computed once per second.
fn write_time(out: &mut Vec<u8>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let mut s = [0u8; 19];
            let _ = civil(secs).write_to(&mut s);
            *c = (secs, s);
        }
        out.extend_from_slice(&c.1);
    });
    out.push(b'.');
    push_padded(out, u64::from(now.subsec_micros()), 6);
    out.push(b'Z');
}

struct Civil {
    y: i64,
    m: u32,
    d: u32,
    hh: u64,
    mm: u64,
    ss: u64,
}

impl Civil {
    fn write_to(&self, buf: &mut [u8; 19]) -> std::io::Result<()> {
        let mut w = &mut buf[..];
        write!(
            w,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.y, self.m, self.d, self.hh, self.mm, self.ss
        )
    }
}

/// Days since 1970-01-01 to a calendar date (Howard Hinnant's `civil_from_days`).
fn civil(secs: u64) -> Civil {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    Civil {
        y,
        m,
        d,
        hh: rem / 3600,
        mm: rem / 60 % 60,
        ss: rem % 60,
    }
}

fn status_colour(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=399) => "\x1b[32m",
        Some(400..=499) => "\x1b[33m",
        _ => "\x1b[31m",
    }
}

fn write_ms(out: &mut Vec<u8>, d: Duration) {
    let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    push_u64(out, us / 1000);
    out.push(b'.');
    push_padded(out, us % 1000, 3);
}

/// Decimal digits without the formatting machinery (this runs once per request).
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// `n` with leading zeros to `width` digits.
fn push_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    while n > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&buf[i.min(buf.len() - width.min(20))..]);
}

fn push_peer(out: &mut Vec<u8>, p: SocketAddr) {
    match p {
        SocketAddr::V4(v4) => {
            for (i, o) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                push_u64(out, u64::from(*o));
            }
            out.push(b':');
            push_u64(out, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(out, "{p}");
        }
    }
}

fn write_text(out: &mut Vec<u8>, e: &Entry<'_>, colour: bool) {
    if colour {
        out.extend_from_slice(b"\x1b[2m");
    }
    write_time(out);
    if colour {
        out.extend_from_slice(b"\x1b[0m  \x1b[32mINFO\x1b[0m \x1b[2mglance_emu::access:\x1b[0m ");
    } else {
        out.extend_from_slice(b"  INFO glance_emu::access: ");
    }
    esc_text(out, e.method);
    out.push(b' ');
    esc_text(out, e.path);
    if let Some(q) = e.query {
        out.push(b'?');
        redacted_query(q, out, esc_text);
    }
    out.push(b' ');
    if colour {
        out.extend_from_slice(status_colour(e.status).as_bytes());
    }
    match e.status {
        Some(s) => push_u64(out, u64::from(s)),
        None => out.push(b'-'),
    }
    if colour {
        out.extend_from_slice(b"\x1b[0m");
    }
    out.extend_from_slice(b" bytes=");
    match e.bytes {
        Some(b) => push_u64(out, b),
        None => out.push(b'-'),
    }
    out.extend_from_slice(b" ms=");
    write_ms(out, e.duration);
    out.extend_from_slice(b" request_id=");
    esc_text(out, e.request_id.unwrap_or("-"));
    out.extend_from_slice(b" tenant=");
    esc_text(out, e.tenant.unwrap_or("-"));
    out.extend_from_slice(b" peer=");
    match e.peer {
        Some(p) => push_peer(out, p),
        None => out.push(b'-'),
    }
    out.push(b'\n');
}

fn json_str(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
    let _ = write!(out, ",\"{key}\":");
    match v {
        Some(v) => {
            out.push(b'"');
            esc_json(out, v);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

fn write_json(out: &mut Vec<u8>, e: &Entry<'_>) {
    out.extend_from_slice(b"{\"time\":\"");
    write_time(out);
    out.extend_from_slice(b"\",\"level\":\"INFO\",\"target\":\"glance_emu::access\"");
    json_str(out, "method", Some(e.method));
    json_str(out, "path", Some(e.path));
    out.extend_from_slice(b",\"query\":");
    match e.query {
        Some(q) => {
            out.push(b'"');
            redacted_query(q, out, esc_json);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"status\":");
    match e.status {
        Some(s) => push_u64(out, u64::from(s)),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"bytes\":");
    match e.bytes {
        Some(b) => push_u64(out, b),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"duration_ms\":");
    write_ms(out, e.duration);
    json_str(out, "request_id", e.request_id);
    json_str(out, "tenant", e.tenant);
    out.extend_from_slice(b",\"peer\":");
    match e.peer {
        Some(p) => {
            out.push(b'"');
            push_peer(out, p);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            method: "GET",
            path: "/v1/images/a\"b",
            query: Some("limit=2&X-Auth-Token=s3cret&marker=m"),
            status: Some(404),
            bytes: Some(0),
            duration: Duration::from_micros(1234),
            request_id: Some("req-1"),
            tenant: None,
            peer: Some("127.0.0.1:4000".parse().unwrap()),
        }
    }

    // Rule: A text access-log line carries every field and never a token.
    #[test]
    fn text_line_has_every_field_and_no_secret() {
        let mut out = Vec::new();
        write_text(&mut out, &entry(), false);
        let line = String::from_utf8(out).unwrap();
        let (time, rest) = line.split_once("  ").unwrap();
        assert_eq!(time.len(), "2026-12-03T09:41:13.123456Z".len(), "{line}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        assert_eq!(
            rest,
            "INFO glance_emu::access: GET /v1/images/a%22b?limit=2&X-Auth-Token=<redacted>&marker=m 404 \
             bytes=0 ms=1.234 request_id=req-1 tenant=- peer=127.0.0.1:4000\n"
        );
        assert!(!line.contains("s3cret"));
    }

    // Rule: A JSON access-log line is valid JSON with every field and never a token.
    #[test]
    fn json_line_parses_and_has_no_secret() {
        let mut out = Vec::new();
        write_json(&mut out, &entry());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["method"], "GET");
        assert_eq!(v["path"], "/v1/images/a\"b");
        assert_eq!(v["query"], "limit=2&X-Auth-Token=<redacted>&marker=m");
        assert_eq!(v["status"], 404);
        assert_eq!(v["bytes"], 0);
        assert_eq!(v["duration_ms"].as_f64(), Some(1.234));
        assert_eq!(v["request_id"], "req-1");
        assert_eq!(v["tenant"], serde_json::Value::Null);
        assert!(!String::from_utf8(out).unwrap().contains("s3cret"));
    }

    // Rule: The access log writes colour escapes only when asked.
    #[test]
    fn colour_only_when_asked() {
        let mut plain = Vec::new();
        write_text(&mut plain, &entry(), false);
        assert!(!plain.contains(&0x1b));
        let mut col = Vec::new();
        write_text(&mut col, &entry(), true);
        assert!(String::from_utf8(col)
            .unwrap()
            .contains("\x1b[33m404\x1b[0m"));
    }

    // Rule: Control bytes in a logged path are escaped, so a request cannot forge log lines.
    #[test]
    fn control_bytes_in_a_path_are_escaped() {
        let mut out = Vec::new();
        let e = Entry {
            path: "/x\x1b[31m\n",
            query: None,
            ..entry()
        };
        write_text(&mut out, &e, false);
        let line = String::from_utf8(out).unwrap();
        assert!(line.contains("/x%1B[31m%0A 404"), "{line}");
        assert_eq!(line.matches('\n').count(), 1);
    }

    // Rule: The log's integer writer prints 0 and u64::MAX exactly.
    #[test]
    fn numbers() {
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        out.push(b' ');
        push_padded(&mut out, 42, 6);
        out.push(b' ');
        write_ms(&mut out, Duration::from_micros(12_005));
        out.push(b' ');
        push_peer(&mut out, "[::1]:80".parse().unwrap());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0 18446744073709551615 000042 12.005 [::1]:80"
        );
    }

    // Rule: Days since the epoch convert to the right civil dates (leap days included).
    #[test]
    fn civil_dates() {
        let c = civil(0);
        assert_eq!((c.y, c.m, c.d), (1970, 1, 1));
        let c = civil(951_782_400); // 2000-02-29
        assert_eq!((c.y, c.m, c.d), (2000, 2, 29));
        let c = civil(1_796_290_873); // 2026-12-03T09:41:13
        assert_eq!((c.y, c.m, c.d, c.hh, c.mm, c.ss), (2026, 12, 3, 9, 41, 13));
    }

    // Rule: Logged lines reach the writer, and flush waits until they have.
    #[test]
    fn lines_reach_the_writer_and_flush_waits() {
        #[derive(Clone)]
        struct Shared(Arc<Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Shared(Arc::new(Mutex::new(Vec::new())));
        let log = AccessLog::start(LogFormat::Json, false, Box::new(sink.clone())).unwrap();
        for _ in 0..3 {
            log.log(&entry());
        }
        log.flush();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        log.close();
    }
}
