//! The HEAD fast path: the one request shape load generators and health probes repeat
//! millions of times, a plain keep-alive `HEAD /v1/images/<id>`, answered straight from the
//! store into the connection's write buffer, without building a `Request`, a `HeaderMap` or
//! hyper's response head (together about half the CPU of such a request).
//!
//! It sits in front of hyper on each connection and only ever answers leading requests
//! that it fully understands: HTTP/1.1 `HEAD`, the path `/v1/images/` plus an id of URL-safe
//! characters, and request headers that cannot change the answer (`Host`, `User-Agent`,
//! `Accept*`, `Connection: keep-alive`, ...). The first request that is anything else (or
//! that arrives while the control API journals, injects faults or holds the clock), and
//! every byte after it, goes to hyper: the connection is handed over with the bytes already
//! read and hyper serves it to the end. Heads are parsed with `httparse`, the parser hyper
//! itself uses.
//!
//! The bytes written are the ones hyper writes for the same request: the header block comes
//! from the same walk over the record as hyper's ([`headers::write_image_meta`]), answers
//! other than 200 are rendered by the ordinary handler and serialised here as hyper would,
//! and the integration tests compare both paths byte for byte. `--no-fast-head` turns it off.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap};
use http::{Method, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::app::body::Body;
use crate::app::{data_mismatch, finish_owned, App, Ctx};
use crate::control::Control;
use crate::edge::access_log::{AccessLog, Entry};
use crate::edge::eventlet::limits::{self, Fed, Gauge, Refusal};
use crate::edge::service::{fast_path_may_answer, fast_path_serves};
use crate::render::image_headers as headers;
use crate::render::webob::BodyKind;

/// Default `--max-header-bytes`: the longest head eventlet could still be waiting on
/// (`eventlet::limits::MAX_PENDING_HEAD`, 136 KiB), so that with the default every
/// oversized head is refused by eventlet's own limits, with eventlet's answers, before this
/// bound (a 431 from this path or hyper's) could be reached.
pub const DEFAULT_MAX_HEADER_BYTES: usize = limits::MAX_PENDING_HEAD;

/// Requests answered on the fast path since start (all listeners): the one way to see,
/// from outside, that it is in use.
static ANSWERED: AtomicU64 = AtomicU64::new(0);

/// How many requests the fast path has answered in this process.
pub fn answered_total() -> u64 {
    ANSWERED.load(Ordering::Relaxed)
}

/// Longest request head the fast path waits for; a longer one is hyper's to judge.
pub const MAX_HEAD: usize = 8 * 1024;

/// Most request headers the fast path looks at; more, and hyper takes the request.
const MAX_HEADERS: usize = 24;

/// What one look at the buffered bytes decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A request was answered: this many bytes of input are consumed and the response is
    /// appended to the output.
    Answered(usize),
    /// The buffer holds the start of a request head only: read more.
    NeedMore,
    /// Not a request for the fast path: hyper takes the connection from here, input
    /// untouched.
    Handoff,
    /// The head is longer than the limit: answer 431 and close (as hyper does).
    TooLarge,
    /// The head passed one of eventlet's limits: eventlet's answer, and close.
    Refuse(Refusal),
}

/// How a fast-path connection ended.
#[derive(Debug)]
pub enum Outcome {
    /// Closed by the peer, an I/O error, the header-read timeout or shutdown.
    Closed,
    /// hyper serves the rest; these bytes were read but not consumed.
    Handoff(Bytes),
}

/// Most request headers the gate parses before handing over (beyond hyper's own limit,
/// which then answers 431).
const GATE_MAX_HEADERS: usize = 128;

/// The fast path for one listener.
#[derive(Debug)]
pub struct FastHead {
    app: Arc<App>,
    control: Control,
    ctx: Ctx,
    log: Option<AccessLog>,
    /// False for the gate only: wait for a whole (or malformed) first head, answer nothing.
    answers: bool,
    /// Longest partial head waited for before hyper takes it (its own limit answers).
    max_head: usize,
}

/// What an answer was, for the access log.
struct Answer {
    status: u16,
    request_id: [u8; 40],
}

impl FastHead {
    /// The fast path for `app`, when its answers depend on nothing but the id: Glance's
    /// unauthenticated context (every caller the same admin) and a policy that lets that
    /// caller `get_image`. Otherwise `None`, and hyper answers everything.
    pub fn new(app: Arc<App>, control: Control) -> Option<Self> {
        // The gate's fixed half, asked once (the auth mode and the policy do not change
        // while the server runs).
        if !matches!(app.config.auth, crate::auth::AuthMode::NoAuth) {
            return None;
        }
        let caller = app.caller_for(&HeaderMap::new()).ok()?;
        if !fast_path_serves(&app, &caller) {
            return None;
        }
        let ctx = Ctx {
            method: Method::HEAD,
            accept: BodyKind::Html,
            request_id: http::HeaderValue::from_static(""),
            caller,
            host_url: String::new(),
        };
        Some(FastHead {
            app,
            control,
            ctx,
            log: None,
            answers: true,
            max_head: DEFAULT_MAX_HEADER_BYTES,
        })
    }

    /// The same, with `--max-header-bytes`: heads longer than this get 431.
    pub fn with_max_head(mut self, max_head: usize) -> Self {
        self.max_head = max_head;
        self
    }

    /// The gate alone, for connections the fast path does not answer (`--no-fast-head`,
    /// other auth modes, the control listener): it only reads the first request head until
    /// it is whole or found malformed (at most `max_head` bytes), then hands it to hyper in
    /// one piece. hyper re-parses a partly read head only once it sees a blank line, so a
    /// malformed head split across writes would otherwise wait for the header timeout,
    /// while the same head in one write (or on the fast path) gets its 400 at once.
    pub fn gate(app: Arc<App>, control: Control, max_head: usize) -> Self {
        FastHead {
            app,
            control,
            ctx: Ctx {
                method: Method::HEAD,
                accept: BodyKind::Html,
                request_id: http::HeaderValue::from_static(""),
                caller: crate::auth::Caller::default(),
                host_url: String::new(),
            },
            log: None,
            answers: false,
            max_head,
        }
    }

    /// Writes a line per answered request to `log`.
    pub fn with_access_log(mut self, log: Option<AccessLog>) -> Self {
        self.log = log;
        self
    }

    /// Looks at the start of `input`: answers one request into `out`, or says why not.
    /// A panic in here (a bug) hands the request to hyper, whose guard answers 500.
    ///
    /// What the fast path does not answer passes the gate ([`FastHead::gate`]): hyper gets
    /// the first head whole, and a head over the limit gets 431 here, because hyper
    /// enforces its own limit only on heads it reads itself.
    pub fn step(&self, input: &[u8], out: &mut Vec<u8>) -> Step {
        self.step_from(input, out, None)
    }

    /// [`FastHead::step`] for a request from `peer` (logged when there is an access log).
    pub fn step_from(&self, input: &[u8], out: &mut Vec<u8>, peer: Option<SocketAddr>) -> Step {
        // More buffered than the head limit (a long head, or a deep pipeline): the gate
        // judges the first head's size.
        if self.answers && input.len() <= self.max_head {
            let start = out.len();
            match crate::edge::guard::catch("HEAD fast path", || self.step_inner(input, out, peer))
            {
                Ok(Step::Handoff) => {}
                Ok(s) => return s,
                Err(_) => out.truncate(start),
            }
        }
        gate_step(input, self.max_head)
    }

    fn step_inner(&self, input: &[u8], out: &mut Vec<u8>, peer: Option<SocketAddr>) -> Step {
        let start = self.log.as_ref().map(|_| Instant::now());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let used = match req.parse(input) {
            // Shorter than eventlet's shortest limit (the request line's), so within all of
            // them; a longer head is the gate's to judge.
            Ok(httparse::Status::Complete(n)) if n < MAX_HEAD => n,
            Ok(httparse::Status::Partial) if input.len() < MAX_HEAD => return Step::NeedMore,
            _ => return Step::Handoff,
        };
        let Some(id) = fast_path_may_answer(&self.app, &self.control, &req) else {
            return Step::Handoff;
        };
        // eventlet echoed a client's `Connection: keep-alive` after `Date` (the gate lets
        // no other Connection value through).
        let mut keep_alive = false;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") {
                // httparse trims the value; eventlet read `keep-alive ` (a trailing blank)
                // as no `keep-alive` at all. Such a line is hyper's (the keeper's) to read.
                let end = h.value.as_ptr() as usize - input.as_ptr() as usize + h.value.len();
                if !matches!(input.get(end), Some(b'\r' | b'\n')) {
                    return Step::Handoff;
                }
                keep_alive = true;
            }
        }
        match self.answer(id, keep_alive, out) {
            Some(a) => {
                ANSWERED.fetch_add(1, Ordering::Relaxed);
                if let (Some(log), Some(start)) = (&self.log, start) {
                    log.log(&Entry {
                        method: "HEAD",
                        path: req.path.unwrap_or_default(),
                        query: None,
                        status: Some(a.status),
                        bytes: Some(0),
                        duration: start.elapsed(),
                        request_id: std::str::from_utf8(&a.request_id).ok(),
                        tenant: None,
                        peer,
                    });
                }
                Step::Answered(used)
            }
            None => Step::Handoff,
        }
    }

    fn answer(&self, id: &str, keep_alive: bool, out: &mut Vec<u8>) -> Option<Answer> {
        let app = &self.app;
        if let Some(img) = app.store.get(id) {
            if self.ctx.caller.can_see(&img)
                && (app.config.glance_compat || !data_mismatch(app, &img))
            {
                let start = out.len();
                // What `v1::meta` puts first (`service::empty_html`); tests/http/fast.rs
                // holds the two to the same bytes.
                out.extend_from_slice(
                    b"HTTP/1.1 200 OK\r\n\
                      Content-Type: text/html; charset=UTF-8\r\n\
                      Content-Length: 0\r\n",
                );
                if headers::write_image_meta(&img, out) {
                    let rid = crate::app::request_id_text(app.new_request_uuid());
                    headers::write_request_id(&rid, out);
                    write_date(out);
                    if keep_alive {
                        out.extend_from_slice(KEEP_ALIVE);
                    }
                    out.extend_from_slice(b"\r\n");
                    return Some(Answer {
                        status: 200,
                        request_id: rid,
                    });
                }
                out.truncate(start);
            }
        }
        // 404, 409 and the rare records whose property keys collapse by case: the
        // handler's own response, serialised as hyper would.
        let ctx = Ctx {
            method: Method::HEAD,
            accept: BodyKind::Html,
            request_id: app.new_request_id(),
            caller: self.ctx.caller.clone(),
            host_url: String::new(),
        };
        let result = crate::glance::images::meta(app, &ctx, id, &HeaderMap::new());
        let resp = finish_owned(ctx, result);
        if !write_head(&resp, keep_alive, out) {
            return None;
        }
        let mut request_id = [b'-'; 40];
        if let Some(v) = resp.headers().get(&headers::REQUEST_ID) {
            if v.len() == request_id.len() {
                request_id.copy_from_slice(v.as_bytes());
            }
        }
        Some(Answer {
            status: resp.status().as_u16(),
            request_id,
        })
    }

    /// Serves `io` until it closes or needs hyper. `header_timeout` is hyper's
    /// header-read timeout (counted from the end of the previous answer, as hyper counts
    /// it); `shutdown` turning true closes an idle connection.
    pub async fn serve<S>(
        &self,
        io: &mut S,
        header_timeout: Duration,
        shutdown: &mut watch::Receiver<bool>,
        peer: Option<SocketAddr>,
    ) -> Outcome
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut buf = BytesMut::with_capacity(4096);
        let mut out = Vec::with_capacity(2048);
        // The timer is moved only when it fires early (lazily): re-arming it for every
        // request would take the timer driver's lock each time.
        let mut idle_since = tokio::time::Instant::now();
        let deadline = tokio::time::sleep(header_timeout);
        tokio::pin!(deadline);
        // One registration for the connection's life, not one per request.
        let changed = shutdown.changed();
        tokio::pin!(changed);
        loop {
            let mut answered = false;
            while !buf.is_empty() {
                match self.step_from(&buf, &mut out, peer) {
                    Step::Answered(n) => {
                        buf.advance(n);
                        answered = true;
                    }
                    Step::NeedMore => break,
                    Step::Handoff => {
                        // Earlier pipelined answers go out first: hyper answers the rest
                        // in order after them.
                        if !out.is_empty() && io.write_all(&out).await.is_err() {
                            return Outcome::Closed;
                        }
                        return Outcome::Handoff(buf.freeze());
                    }
                    Step::TooLarge => {
                        // hyper's own answer to an oversized head, byte for byte.
                        out.extend_from_slice(
                            b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
                              Connection: close\r\nContent-Length: 0\r\n",
                        );
                        write_date(&mut out);
                        out.extend_from_slice(b"\r\n");
                        let _ = io.write_all(&out).await;
                        let _ = io.shutdown().await;
                        return Outcome::Closed;
                    }
                    Step::Refuse(r) => {
                        // After the answers to the requests before it, as eventlet.
                        out.extend_from_slice(&r.bytes());
                        let _ = io.write_all(&out).await;
                        let _ = io.shutdown().await;
                        return Outcome::Closed;
                    }
                }
            }
            if !out.is_empty() {
                if io.write_all(&out).await.is_err() {
                    return Outcome::Closed;
                }
                out.clear();
            }
            if answered {
                idle_since = tokio::time::Instant::now();
            }
            if buf.is_empty() {
                // Reuse the whole allocation rather than creeping along it.
                buf.clear();
            }
            buf.reserve(2048);
            tokio::select! {
                biased;
                r = io.read_buf(&mut buf) => match r {
                    Ok(0) | Err(_) => return Outcome::Closed,
                    Ok(_) => {}
                },
                _ = &mut deadline => {
                    let due = idle_since + header_timeout;
                    if due <= tokio::time::Instant::now() {
                        return Outcome::Closed;
                    }
                    deadline.as_mut().reset(due);
                }
                _ = &mut changed => return Outcome::Closed,
            }
        }
    }
}

/// The gate's look at a first head: past one of eventlet's limits: refused as eventlet
/// refused it ([`limits`]); whole or malformed (or too long): hyper's; partial: wait.
fn gate_step(input: &[u8], max_head: usize) -> Step {
    if let Fed::Refused(r) = Gauge::default().feed(input) {
        return Step::Refuse(r);
    }
    let mut headers = [httparse::EMPTY_HEADER; GATE_MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > max_head => Step::TooLarge,
        Ok(httparse::Status::Complete(_)) if limits::content_length_refused(req.headers) => {
            Step::Refuse(Refusal::ContentLength)
        }
        Ok(httparse::Status::Partial) if input.len() <= max_head => Step::NeedMore,
        Ok(httparse::Status::Partial) => Step::TooLarge,
        // Beyond the gate's header array: the end of the head decides.
        Err(httparse::Error::TooManyHeaders)
            if input.len() <= max_head
                && memchr::memmem::find(input, b"\r\n\r\n").is_none()
                && memchr::memmem::find(input, b"\n\n").is_none() =>
        {
            Step::NeedMore
        }
        _ => Step::Handoff,
    }
}

/// The line eventlet added after `Date` for a client that sent `Connection: keep-alive`
/// (the hyper path's `glance::routes::add_connection`).
const KEEP_ALIVE: &[u8] = b"Connection: keep-alive\r\n";

/// A response head as hyper 1.x writes it with title-case names: status line, the headers
/// in map order, then `Date` unless the response has one, then (`keep_alive`) the echoed
/// `Connection: keep-alive`. Only for answers with an explicit `Content-Length` and no body
/// (HEAD); for anything else it writes nothing and returns `false`.
pub fn write_head(resp: &Response<Body>, keep_alive: bool, out: &mut Vec<u8>) -> bool {
    let status = resp.status();
    let reason = match resp.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(r) => r.as_bytes(),
        None => match status.canonical_reason() {
            Some(r) => r.as_bytes(),
            None => return false,
        },
    };
    if !resp.headers().contains_key(header::CONTENT_LENGTH) {
        return false;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
    let mut dated = false;
    for (name, value) in resp.headers() {
        dated |= name == header::DATE;
        headers::title_case(out, name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !dated {
        write_date(out);
    }
    if keep_alive {
        out.extend_from_slice(KEEP_ALIVE);
    }
    out.extend_from_slice(b"\r\n");
    true
}

thread_local! {
    /// The `Date` line of the current second (hyper caches its date the same way).
    static DATE: RefCell<(u64, Vec<u8>)> = const { RefCell::new((u64::MAX, Vec::new())) };
}

/// `Date: <IMF-fixdate>\r\n` for now.
fn write_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            d.1.clear();
            d.1.extend_from_slice(b"Date: ");
            d.1.extend_from_slice(httpdate::fmt_http_date(now).as_bytes());
            d.1.extend_from_slice(b"\r\n");
            d.0 = secs;
        }
        out.extend_from_slice(&d.1);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Config;
    use crate::model::{Image, ImageId, Status, Timestamp};
    use crate::store::Store;

    fn app(config: Config) -> Arc<App> {
        let mut img = Image::new(
            ImageId::new("abc").unwrap(),
            Timestamp::parse("2016-05-22T06:04:20").unwrap(),
        );
        img.status = Status::Active;
        Arc::new(App::new(Arc::new(Store::new([img]).unwrap()), config))
    }

    /// The binary's configuration without `--control`: no journal.
    fn quiet() -> Config {
        Config {
            control: crate::app::ControlSettings {
                journal_cap: 0,
                ..Default::default()
            },
            ..Config::default()
        }
    }

    fn step(raw: &str) -> (Step, String) {
        let app = app(quiet());
        let control = Control::new(&app.config.control);
        let fast = FastHead::new(app, control).unwrap();
        let mut out = Vec::new();
        let s = fast.step(raw.as_bytes(), &mut out);
        (s, String::from_utf8(out).unwrap())
    }

    // Rule: A plain keep-alive HEAD is answered here (the keep-alive echoed) and consumes exactly its own bytes; so is a 404.
    #[test]
    fn answers_plain_heads_and_counts_the_bytes() {
        let raw = "HEAD /v1/images/abc HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
        let (s, out) = step(&format!("{raw}GET /"));
        assert_eq!(s, Step::Answered(raw.len()));
        assert!(out.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n"));
        assert!(out.contains("\r\nX-Image-Meta-Id: abc\r\n"));
        assert!(out.ends_with(" GMT\r\nConnection: keep-alive\r\n\r\n"));
        let (s, out) = step("HEAD /v1/images/nope HTTP/1.1\r\n\r\n");
        assert_eq!(s, Step::Answered(33));
        assert!(out.starts_with("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain;"));
    }

    // Rule: A partial head waits for more bytes, up to eventlet's limits (its answers) or a lower `--max-header-bytes` (431).
    #[test]
    fn waits_for_a_whole_head_but_not_forever() {
        assert_eq!(step("HEAD /v1/images/abc HTTP/1.1\r\nHo").0, Step::NeedMore);
        assert_eq!(step("").0, Step::NeedMore);
        // Past the fast path's own 8 KiB the gate still waits, up to the head limit.
        let long = format!(
            "HEAD /v1/images/abc HTTP/1.1\r\nHost: {}",
            "x".repeat(MAX_HEAD)
        );
        assert_eq!(step(&long).0, Step::NeedMore);
        // A header line still without its end is judged at 65,537 bytes (eventlet's read).
        let longer = format!(
            "HEAD /v1/images/abc HTTP/1.1\r\nHost: {}",
            "x".repeat(65530)
        );
        assert_eq!(step(&longer).0, Step::NeedMore);
        assert_eq!(
            step(&format!("{longer}x")).0,
            Step::Refuse(Refusal::HeaderLine)
        );
        assert_eq!(
            step(&format!("{longer}\r\n\r\n")).0,
            Step::Refuse(Refusal::HeaderLine)
        );
        // The same bytes under a lower --max-header-bytes: 431 first.
        let app = app(quiet());
        let control = Control::new(&app.config.control);
        let fast = FastHead::new(app, control).unwrap().with_max_head(16384);
        assert_eq!(
            fast.step(longer.as_bytes(), &mut Vec::new()),
            Step::TooLarge
        );
        assert_eq!(
            gate_step(format!("{longer}\r\n\r\n").as_bytes(), 16384),
            Step::Refuse(Refusal::HeaderLine)
        );
        assert_eq!(
            gate_step(
                format!("GET / HTTP/1.1\r\nA: {}\r\n\r\n", "b".repeat(16370)).as_bytes(),
                16384
            ),
            Step::TooLarge
        );
    }

    // Rule: A request the fast path does not fully understand (method, version, escapes, query, other paths, answer-changing headers, a version media type) goes to hyper untouched.
    #[test]
    fn everything_else_goes_to_hyper() {
        for raw in [
            "GET /v1/images/abc HTTP/1.1\r\n\r\n",
            "HEAD /v1/images/abc HTTP/1.0\r\n\r\n",
            "HEAD /v1/images/a%62c HTTP/1.1\r\n\r\n",
            "HEAD /v1/images/abc?x=1 HTTP/1.1\r\n\r\n",
            "HEAD /v1/images/detail HTTP/1.1\r\n\r\n",
            "HEAD /v1/images/ HTTP/1.1\r\n\r\n",
            "HEAD /v1/images/abc/members HTTP/1.1\r\n\r\n",
            "HEAD /images/abc HTTP/1.1\r\n\r\n",
            "HEAD /v1/images/abc HTTP/1.1\r\nConnection: close\r\n\r\n",
            "HEAD /v1/images/abc HTTP/1.1\r\nX-Image-Meta-Size: 1\r\n\r\n",
            "HEAD /v1/images/abc HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            "HEAD /v1/images/abc HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            "HEAD /v1/images/abc HTTP/1.1\r\nAccept: application/vnd.openstack.images-v1\r\n\r\n",
            "HEAD  /v1/images/abc HTTP/1.1\r\n\r\n",
            "\u{1}garbage\r\n\r\n",
        ] {
            let (s, out) = step(raw);
            assert_eq!(s, Step::Handoff, "{raw:?}");
            assert!(out.is_empty());
        }
    }

    // Rule: While the control API journals, every request goes to hyper.
    #[test]
    fn journalling_sends_requests_to_hyper() {
        let app = app(Config::default());
        let control = Control::new(&app.config.control);
        let fast = FastHead::new(app, control).unwrap();
        let mut out = Vec::new();
        let raw = b"HEAD /v1/images/abc HTTP/1.1\r\n\r\n";
        assert_eq!(fast.step(raw, &mut out), Step::Handoff);
    }

    // Rule: The fast path exists only for Glance's unauthenticated (noauth) context.
    #[test]
    fn only_for_the_unauthenticated_context() {
        let config = Config {
            auth: crate::auth::AuthMode::TrustedHeaders,
            ..Config::default()
        };
        assert!(FastHead::new(app(config), Control::default()).is_none());
    }
}
