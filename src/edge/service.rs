//! The hyper `Service`: the one top-level dispatch of every request (control API, compute,
//! Glance) and the hooks around it. Knows nothing about sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, Response, Uri};

use crate::app::body::Body;
use crate::app::{Abort, App, ConnInfo, RespFuture, UnannouncedClose};
use crate::control::Control;
use crate::edge::access_log::{AccessLog, Entry};
use crate::edge::eventlet::ReplyOrder;
use crate::edge::guard::Guarded;
use crate::render::webob::BodyKind;

/// The hyper service: cheap to clone per connection.
#[derive(Debug, Clone)]
pub struct GlanceService {
    app: Arc<App>,
    control: Control,
    conn: Option<Arc<ConnInfo>>,
    control_only: bool,
    /// `--max-header-bytes`: hyper enforces it only on heads it had to read in pieces.
    max_head: usize,
    log: Option<AccessLog>,
    /// The connection's order of answers, for the eventlet head mender on its socket.
    replies: Option<Arc<ReplyOrder>>,
}

impl GlanceService {
    /// Wraps the shared application state with control state of its own (see
    /// [`GlanceService::with_control`]).
    pub fn new(app: Arc<App>) -> Self {
        let control = Control::new(&app.config.control);
        GlanceService::with_control(app, control)
    }

    /// Wraps the shared application state and this control state (and records the store's
    /// records as the baseline for the control API's reset, unless one was set).
    pub fn with_control(app: Arc<App>, control: Control) -> Self {
        control.capture_baseline(&app.store);
        GlanceService {
            app,
            control,
            conn: None,
            control_only: false,
            log: None,
            max_head: usize::MAX,
            replies: None,
        }
    }

    /// A service for the control API's own listener (`--control-listen`): `/_emu/` from
    /// any peer, nothing else.
    pub fn control_only(&self) -> Self {
        GlanceService {
            control_only: true,
            conn: None,
            ..self.clone()
        }
    }

    /// This service for one accepted connection.
    pub fn for_connection(&self, conn: Arc<ConnInfo>) -> Self {
        GlanceService {
            app: Arc::clone(&self.app),
            control: self.control.clone(),
            conn: Some(conn),
            control_only: self.control_only,
            log: self.log.clone(),
            max_head: self.max_head,
            replies: None,
        }
    }

    /// The same service telling `order` whether each request is a HEAD, in the order
    /// they arrive (see [`crate::edge::eventlet`]).
    pub(crate) fn with_reply_order(mut self, order: Arc<ReplyOrder>) -> Self {
        self.replies = Some(order);
        self
    }

    /// The same service refusing (431) request heads longer than `max_head` bytes.
    pub fn with_max_head(mut self, max_head: usize) -> Self {
        self.max_head = max_head;
        self
    }

    /// This service, writing a line per request to `log`.
    pub fn with_access_log(mut self, log: Option<AccessLog>) -> Self {
        self.log = log;
        self
    }

    /// Whether this is the control API's own listener (which never has the HEAD fast path).
    pub fn is_control_only(&self) -> bool {
        self.control_only
    }

    /// The shared application state.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The control state (journal, fault rules, reset baseline).
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// In-process calls (no connection) and loopback peers may use the control API on the
    /// Glance port.
    fn peer_is_local(&self) -> bool {
        match self.conn.as_ref().and_then(|c| c.peer()) {
            None => true,
            Some(p) => p.ip().to_canonical().is_loopback(),
        }
    }
}

impl<B> hyper::service::Service<Request<B>> for GlanceService
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = Response<Body>;
    type Error = Abort;
    type Future = Guarded;

    /// Dispatches under the panic guard: a handler that panics is answered 500.
    fn call(&self, mut req: Request<B>) -> Guarded {
        if let Some(order) = &self.replies {
            order.push(req.method() == Method::HEAD);
            if req.method().as_str() == crate::edge::eventlet::CONNECT_STAND_IN {
                // An origin-form CONNECT, which hyper could not be handed as such.
                *req.method_mut() = Method::CONNECT;
            }
            if req
                .headers_mut()
                .remove(crate::edge::eventlet::HTTP10_CHUNKED)
                .is_some()
            {
                // An HTTP/1.0 request with a chunked body, handed to hyper as HTTP/1.1.
                *req.version_mut() = http::Version::HTTP_10;
            }
        }
        if self.max_head != usize::MAX && head_len(&req) > self.max_head {
            return Guarded::ready(too_large());
        }
        let host = req.headers().get(http::header::HOST).map(|h| h.is_empty());
        if host != Some(false) {
            // WebOb's host_url without a Host header: SERVER_NAME:SERVER_PORT, which eventlet
            // set from the listening socket (links and Location then name this address). An
            // empty Host gave the same Location (WebOb made "http:///..." absolute against
            // the request's URL) but "http://" in the version documents.
            if host == Some(true) {
                req.extensions_mut().insert(crate::app::EmptyHost);
            }
            if let Some(local) = self.conn.as_ref().and_then(|c| c.local()) {
                if let Ok(v) = http::HeaderValue::from_str(&local.to_string()) {
                    req.headers_mut().insert(http::header::HOST, v);
                }
            }
        }
        let method = req.method().clone();
        let accept = BodyKind::from_headers(req.headers());
        // Only a request with `Expect` can be answered with an unannounced close.
        let order = self
            .replies
            .as_ref()
            .filter(|_| req.headers().contains_key(http::header::EXPECT))
            .map(Arc::clone);
        Guarded::call(&self.app, method, accept, || match order {
            None => self.logged(req),
            Some(order) => self.logged(req).map(move |r| {
                if r.extensions().get::<UnannouncedClose>().is_some() {
                    order.mark_unannounced_close();
                }
                r
            }),
        })
    }
}

/// The length of the request head as sent (request line, header lines, blank line).
fn head_len<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len() + 1 + req.uri().to_string().len() + 11;
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + 2 + v.len() + 2)
        .sum::<usize>()
        + line
        + 2
}

/// hyper's own answer to an oversized head, byte for byte.
fn too_large() -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    let h = resp.headers_mut();
    h.append(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    h.append(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from_static("0"),
    );
    resp
}

impl GlanceService {
    /// The dispatch, with a line in the access log when there is one.
    fn logged<B>(&self, req: Request<B>) -> RespFuture
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        let Some(log) = &self.log else {
            return self.dispatch(req);
        };
        let seen = Seen {
            start: Instant::now(),
            method: req.method().clone(),
            uri: req.uri().clone(),
            // Only the authenticated modes have tenants (noauth is Glance's tenant-less admin).
            tenant: if matches!(self.app.config.auth, crate::auth::AuthMode::NoAuth) {
                None
            } else {
                self.app
                    .caller_for(req.headers())
                    .ok()
                    .and_then(|c| c.tenant)
            },
            peer: self.conn.as_ref().and_then(|c| c.peer()),
        };
        let fut = self.dispatch(req);
        match fut {
            RespFuture::Ready(Some(r)) => {
                seen.log(log, Some(&r));
                RespFuture::Ready(Some(r))
            }
            other => {
                let log = log.clone();
                RespFuture::Fallible(Box::pin(async move {
                    let r = other.await;
                    seen.log(&log, r.as_ref().ok());
                    r
                }))
            }
        }
    }
}

/// What the access log needs of a request, kept until its response head is ready.
struct Seen {
    start: Instant,
    method: Method,
    uri: Uri,
    tenant: Option<String>,
    peer: Option<SocketAddr>,
}

impl Seen {
    /// `resp` is None when the connection ended instead (a `reset` fault).
    fn log(&self, log: &AccessLog, resp: Option<&Response<Body>>) {
        let bytes = resp.and_then(|r| {
            if self.method == Method::HEAD {
                return Some(0);
            }
            crate::app::content_length(r.headers())
        });
        log.log(&Entry {
            method: self.method.as_str(),
            path: self.uri.path(),
            query: self.uri.query(),
            status: resp.map(|r| r.status().as_u16()),
            bytes,
            duration: self.start.elapsed(),
            request_id: resp
                .and_then(|r| r.headers().get(&crate::render::image_headers::REQUEST_ID))
                .and_then(|v| v.to_str().ok()),
            tenant: self.tenant.as_deref(),
            peer: self.peer,
        });
    }
}

impl GlanceService {
    /// The one top-level dispatch: control API, then Glance (with the test-suite hooks).
    fn dispatch<B>(&self, req: Request<B>) -> RespFuture
    where
        B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
    {
        #[cfg(test)]
        if let Some(f) = tests::panic_trigger(req.uri().path()) {
            return f;
        }
        let settings = &self.app.config.control;
        if settings.http {
            let path = req.uri().path();
            let is_control = path == "/_emu" || path.starts_with("/_emu/");
            if self.control_only {
                return if is_control {
                    crate::control::http::handle(&self.app, &self.control, req)
                } else {
                    crate::control::http::not_control()
                };
            }
            if is_control && !settings.separate_listener && self.peer_is_local() {
                return crate::control::http::handle(&self.app, &self.control, req);
            }
        }
        if self.control.is_quiet(&self.app) {
            return route(&self.app, req);
        }
        crate::control::hooks::intercept(
            &self.app,
            &self.control,
            self.conn.as_ref(),
            req,
            route::<B>,
        )
    }
}

/// Below the control API: the compute surface takes the path shapes Nova routed
/// (`/v2/{tenant}/images...`, `/v2.1[/{tenant}]/images...`) and hands every other request
/// back; those are Glance's.
fn route<B>(app: &Arc<App>, req: Request<B>) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    match crate::compute::route(app, req) {
        Ok(fut) => fut,
        Err(req) => crate::glance::routes::route(app, req),
    }
}

/// The half of the fast path's gate that is fixed for the life of a server: Glance's
/// unauthenticated context (every caller the same admin) and a policy that lets that caller
/// `get_image`. `FastHead::new` asks it once; without it there is no fast path at all.
pub(crate) fn fast_path_serves(app: &App, caller: &crate::auth::Caller) -> bool {
    matches!(app.config.auth, crate::auth::AuthMode::NoAuth)
        && app.config.policy.allows("get_image", caller)
}

/// THE gate of the HEAD fast path ([`crate::edge::fast`]): whether a request it parsed may be
/// answered there, from the store straight into the socket, instead of by hyper through
/// [`GlanceService::call`]. Returns the image id when it may.
///
/// The fast path skips everything `call` does around the handler, so every cross-cutting
/// behaviour of the hyper path must be excluded here: the control API (only `/v1/images/`
/// paths qualify), the journal, fault rules and a set clock (`control.is_quiet`), and any
/// request header that could change the answer; callers other than Glance's
/// unauthenticated admin and policies that do not let it `get_image` are excluded once, by
/// [`fast_path_serves`] (the auth mode and the policy are fixed at start). Add a behaviour
/// to `call`, add its condition here.
pub(crate) fn fast_path_may_answer<'r>(
    app: &App,
    control: &Control,
    req: &httparse::Request<'_, 'r>,
) -> Option<&'r str> {
    if req.method != Some("HEAD") || req.version != Some(1) {
        return None;
    }
    let id = req.path?.strip_prefix("/v1/images/")?;
    if id.is_empty() || id == "detail" || !id.bytes().all(url_safe) {
        return None;
    }
    if !req.headers.iter().all(harmless) || !control.is_quiet(app) {
        return None;
    }
    Some(id)
}

/// Characters an id may have for the fast path: RFC 3986 unreserved (a UUID, a name).
/// Anything else (escapes, a query) is routed by hyper's path.
fn url_safe(b: u8) -> bool {
    URL_SAFE[usize::from(b)]
}

/// [`url_safe`] as a table: the id of every fast-path request is checked byte by byte.
static URL_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~');
        b += 1;
    }
    t
};

/// Request headers that change nothing in a noauth HEAD answer.
fn harmless(h: &httparse::Header<'_>) -> bool {
    let n = h.name;
    if n.eq_ignore_ascii_case("connection") {
        return h.value.eq_ignore_ascii_case(b"keep-alive");
    }
    if n.eq_ignore_ascii_case("accept") {
        // Version negotiation by media type (`glance::negotiate`) is hyper's.
        return memchr::memmem::find(h.value, b"vnd.").is_none();
    }
    [
        "host",
        "user-agent",
        "accept",
        "accept-encoding",
        "accept-language",
        "x-auth-token",
    ]
    .iter()
    .any(|k| n.eq_ignore_ascii_case(k))
}

#[cfg(test)]
mod tests {
    //! A handler that panics (a bug) must still be answered: Glance's 500 page, over real
    //! TCP, and the connection goes on serving. Before the guard, the panic unwound through
    //! hyper and the client saw the connection close with no answer.

    use super::*;
    use crate::edge::server::{run, ServerOptions};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Test-only routes: `/_test/panic` panics while dispatching, `/_test/panic-later`
    /// inside the handler's future after an await.
    pub(super) fn panic_trigger(path: &str) -> Option<RespFuture> {
        match path {
            "/_test/panic" => panic!("test panic while dispatching"),
            "/_test/panic-later" => Some(RespFuture::Boxed(Box::pin(async {
                tokio::task::yield_now().await;
                panic!("test panic in the handler's future");
            }))),
            _ => None,
        }
    }

    async fn read_answer(s: &mut tokio::net::TcpStream) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("answer within 5 s")
                .unwrap();
            assert!(n > 0, "connection closed without an answer: {out:?}");
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if text.len() >= end + 4 + len {
                    return text;
                }
            }
        }
    }

    // Rule: A handler that panics is answered with Glance's 500 page, and the connection keeps serving.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_connection_lives_on() {
        let app = Arc::new(App::new(
            Arc::new(crate::store::Store::new(Vec::<crate::model::Image>::new()).unwrap()),
            crate::app::Config::default(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(run(
            listener,
            GlanceService::new(app),
            ServerOptions::default(),
            async {
                let _ = stopped.await;
            },
        ));
        let before = crate::edge::guard::panics_caught();
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        for path in ["/_test/panic", "/_test/panic-later"] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let answer = read_answer(&mut s).await;
            assert!(
                answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
                "{answer}"
            );
            // WebOb's JSON error page, as for any other 500.
            assert!(
                answer.ends_with(
                    "\r\n\r\n{\"message\": \"The server has either erred or is incapable of performing the requested operation.<br /><br />\\n\\n\\n\", \"code\": \"500 Internal Server Error\", \"title\": \"Internal Server Error\"}"
                ),
                "{answer}"
            );
        }
        // The same connection still serves.
        s.write_all(b"HEAD /v1/images/nope HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_answer(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        // Counted as bugs (other tests in this process may add their own).
        assert!(crate::edge::guard::panics_caught() - before >= 2);
        let _ = stop.send(());
        server.await.unwrap();
    }
}
