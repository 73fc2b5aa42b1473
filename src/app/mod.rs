//! The HTTP contract: method + path to a handler, handler to a `Response`, in the shape real
//! Glance v1 (WebOb + eventlet) gave it. Knows nothing about sockets.
//!
//! Header order is part of the contract: handlers insert headers in Glance's order into a
//! fresh `HeaderMap`, which hyper writes in insertion order, then appends `Date`.

pub mod body;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::auth::Caller;
use crate::app::body::Body;
use crate::render::webob::{ApiError, BodyKind};
use crate::render::image_headers as headers;
use crate::model::{Image, ImageData, Status};
use crate::store::Store;

/// Behaviour switches of the emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Strictly-real mode: HEAD never answers 409 (no size/data mismatch checks).
    pub glance_compat: bool,
    /// `image_property_quota` (Glance default 128).
    pub property_quota: usize,
    /// `image_member_quota` (Glance default 128).
    pub member_quota: usize,
    /// `image_size_cap` (Glance default 1 TiB).
    pub image_size_cap: u64,
    /// How long an upload may stall between body chunks before it is abandoned (the image
    /// is killed, as when a client disconnects).
    pub upload_idle_timeout: std::time::Duration,
    /// How callers are identified.
    pub auth: crate::auth::AuthMode,
    /// The policy rules (`--policy`, over Glance's stock `policy.json`).
    pub policy: crate::auth::policy::Policy,
    /// `uri` in keystonemiddleware's `Www-Authenticate: Keystone uri='...'` (tokens mode).
    pub auth_uri: String,
    /// Test-suite controls: control API settings plus the clock, ids, journal and fault
    /// rules of this emulator (see [`crate::control`]).
    pub control: crate::control::Control,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            glance_compat: false,
            property_quota: 128,
            member_quota: 128,
            image_size_cap: 1 << 40,
            upload_idle_timeout: std::time::Duration::from_secs(60),
            auth: crate::auth::AuthMode::NoAuth,
            policy: crate::auth::policy::Policy::stock(),
            auth_uri: "http://127.0.0.1:5000".to_string(),
            control: crate::control::Control::default(),
        }
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// The images.
    pub store: Arc<Store>,
    /// Behaviour switches.
    pub config: Config,
}

impl App {
    /// A timestamp for `created_at`/`updated_at`: the emulator's clock (real unless a test
    /// froze or set it).
    pub fn now(&self) -> crate::model::Timestamp {
        self.config.control.clock().now()
    }

    /// The id for a new image: random UUID4, or queued/seeded for deterministic runs.
    pub fn new_image_id(&self) -> String {
        self.config.control.ids().next_image_id()
    }

    /// A fresh `req-<uuid4>` request id (seeded for deterministic runs).
    pub fn new_request_id(&self) -> HeaderValue {
        request_id_from(self.new_request_uuid())
    }

    /// The UUID of a fresh request id (seeded for deterministic runs).
    pub fn new_request_uuid(&self) -> uuid::Uuid {
        self.config
            .control
            .ids()
            .next_request_uuid()
            .unwrap_or_else(uuid::Uuid::new_v4)
    }

    /// The caller context for a request (Glance's context middleware); `None` means 401.
    pub fn caller_for(&self, headers: &HeaderMap) -> Option<Caller> {
        self.config.auth.caller(headers)
    }

    /// The request id: fresh, or (in the authenticated modes) the caller's own, `req-`
    /// prefixed when missing, as Glance's keystone context did.
    pub fn request_id_for(&self, headers: &HeaderMap) -> HeaderValue {
        if self.config.auth.echoes_request_id() {
            if let Some(v) = headers
                .get("x-openstack-request-id")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
            {
                let id = if v.starts_with("req-") {
                    v.to_string()
                } else {
                    format!("req-{v}")
                };
                if let Ok(h) = HeaderValue::from_str(&id) {
                    return h;
                }
            }
        }
        self.new_request_id()
    }

    /// The 401 keystonemiddleware/Glance's context sent: WebOb's page, no request id.
    pub fn unauthorized(&self, method: &Method, accept: BodyKind) -> Response<Body> {
        let ctx = Ctx {
            method: method.clone(),
            accept,
            request_id: HeaderValue::from_static(""),
            caller: Caller::default(),
            host_url: String::new(),
        };
        let mut resp = error_response(&ctx, ApiError::new(StatusCode::UNAUTHORIZED));
        if let crate::auth::AuthMode::Tokens(_) = self.config.auth {
            if let Ok(v) =
                HeaderValue::from_str(&format!("Keystone uri='{}'", self.config.auth_uri))
            {
                resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Per-request facts every handler uses.
#[derive(Debug)]
pub struct Ctx {
    /// Request method.
    pub method: Method,
    /// Error body format chosen from `Accept`.
    pub accept: BodyKind,
    /// `X-Openstack-Request-Id` value for this request.
    pub request_id: HeaderValue,
    /// Who is asking.
    pub caller: Caller,
    /// `http://<Host>` as WebOb's `host_url` built it.
    pub host_url: String,
}

impl Ctx {
    /// True for HEAD requests (no body is ever sent).
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }
}

/// `req-` + a fresh lower-case UUID4, as oslo.context made it. Ignores the emulator's
/// seeded ids: prefer [`App::new_request_id`].
pub fn new_request_id() -> HeaderValue {
    request_id_from(uuid::Uuid::new_v4())
}

fn request_id_from(u: uuid::Uuid) -> HeaderValue {
    HeaderValue::from_bytes(&request_id_text(u)).unwrap_or(HeaderValue::from_static("req-"))
}

/// `req-<uuid>` in lower case, as bytes on the stack (the fast path writes it as is).
pub fn request_id_text(u: uuid::Uuid) -> [u8; 40] {
    let mut buf = [0u8; 40];
    buf[..4].copy_from_slice(b"req-");
    u.hyphenated().encode_lower(&mut buf[4..]);
    buf
}

/// One client connection as the service sees it: the peer (for the control API's
/// loopback rule and the journal) and the request to reset it (fault injection).
#[derive(Debug, Default)]
pub struct ConnInfo {
    peer: Option<SocketAddr>,
    reset: AtomicBool,
}

impl ConnInfo {
    /// A connection from `peer`.
    pub fn new(peer: Option<SocketAddr>) -> Self {
        ConnInfo {
            peer,
            reset: AtomicBool::new(false),
        }
    }

    /// The client's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Asks the server to close this connection with a TCP reset.
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::Release);
    }

    /// Whether a reset was asked for.
    pub fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }
}

/// The service ended the connection instead of answering (a `reset` fault). hyper closes
/// the connection when the service fails.
#[derive(Debug, Clone, Copy)]
pub struct Abort(pub &'static str);

impl std::fmt::Display for Abort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

/// The hyper service: cheap to clone per connection.
#[derive(Debug, Clone)]
pub struct GlanceService {
    app: Arc<App>,
    conn: Option<Arc<ConnInfo>>,
    control_only: bool,
}

impl GlanceService {
    /// Wraps the shared application state (and records the store's records as the
    /// baseline for the control API's reset, unless one was set).
    pub fn new(app: Arc<App>) -> Self {
        app.config.control.capture_baseline(&app.store);
        GlanceService {
            app,
            conn: None,
            control_only: false,
        }
    }

    /// A service for the control API's own listener (`--control-listen`): `/_emu/` from
    /// any peer, nothing else.
    pub fn control_only(app: Arc<App>) -> Self {
        GlanceService {
            control_only: true,
            ..GlanceService::new(app)
        }
    }

    /// This service for one accepted connection.
    pub fn for_connection(&self, conn: Arc<ConnInfo>) -> Self {
        GlanceService {
            app: Arc::clone(&self.app),
            conn: Some(conn),
            control_only: self.control_only,
        }
    }

    /// The HEAD fast path for connections of this service, when it can have one (never on
    /// the control API's own listener).
    pub fn fast_head(&self) -> Option<crate::edge::fast::FastHead> {
        if self.control_only {
            return None;
        }
        crate::edge::fast::FastHead::new(Arc::clone(&self.app))
    }

    /// The shared application state.
    pub fn app(&self) -> &Arc<App> {
        &self.app
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

/// The response future: ready at once for the synchronous handlers (HEAD, lists), boxed for
/// the ones that read bodies or files.
pub enum RespFuture {
    /// Already computed.
    Ready(Option<Response<Body>>),
    /// Still running.
    Boxed(Pin<Box<dyn Future<Output = Response<Body>> + Send>>),
    /// Still running, and may end the connection instead of answering (fault injection).
    Fallible(Pin<Box<dyn Future<Output = Result<Response<Body>, Abort>> + Send>>),
}

impl std::fmt::Debug for RespFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RespFuture")
    }
}

impl Future for RespFuture {
    type Output = Result<Response<Body>, Abort>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut *self {
            RespFuture::Ready(r) => {
                Poll::Ready(Ok(r.take().unwrap_or_else(|| Response::new(Body::empty()))))
            }
            RespFuture::Boxed(f) => f.as_mut().poll(cx).map(Ok),
            RespFuture::Fallible(f) => f.as_mut().poll(cx),
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
    type Future = RespFuture;

    fn call(&self, req: Request<B>) -> RespFuture {
        let control = &self.app.config.control;
        if control.settings().http {
            let path = req.uri().path();
            let is_control = path == "/_emu" || path.starts_with("/_emu/");
            if self.control_only {
                return if is_control {
                    crate::control::handle(&self.app, req)
                } else {
                    crate::control::not_control()
                };
            }
            if is_control && !control.settings().separate_listener && self.peer_is_local() {
                return crate::control::handle(&self.app, req);
            }
        }
        if control.is_quiet() {
            return route(&self.app, req);
        }
        crate::control::intercept(&self.app, self.conn.as_ref(), req, route::<B>)
    }
}

/// A path segment after percent-decoding (`None` if not UTF-8); borrowed when it has no
/// escapes, which is the common case.
fn decode(seg: &str) -> Option<std::borrow::Cow<'_, str>> {
    percent_encoding::percent_decode_str(seg).decode_utf8().ok()
}

fn route<B>(app: &Arc<App>, req: Request<B>) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let req = match crate::compute::route(app, req) {
        Ok(fut) => return fut,
        Err(req) => req,
    };
    // A `Uri` clone shares the request's bytes: no copy of the path.
    let uri = req.uri().clone();
    let conn = http10_connection(&req);
    let mut fut = route_inner(app, req, uri.path());
    if let Some(value) = conn {
        // eventlet ended an HTTP/1.0 exchange with `Date` then `Connection`; hyper would put
        // them the other way round (or omit `Connection: close`), so both are written here.
        fut = match fut {
            RespFuture::Ready(r) => RespFuture::Ready(r.map(|r| add_connection(app, r, value))),
            RespFuture::Boxed(f) => {
                let app = Arc::clone(app);
                RespFuture::Boxed(Box::pin(
                    async move { add_connection(&app, f.await, value) },
                ))
            }
            RespFuture::Fallible(f) => {
                let app = Arc::clone(app);
                RespFuture::Fallible(Box::pin(async move {
                    f.await.map(|r| add_connection(&app, r, value))
                }))
            }
        };
    }
    fut
}

/// For HTTP/1.0 requests: the `Connection` value eventlet ended the response with.
fn http10_connection<B>(req: &Request<B>) -> Option<&'static str> {
    if req.version() != http::Version::HTTP_10 {
        return None;
    }
    let keep = req
        .headers()
        .get(header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("keep-alive"));
    Some(if keep { "keep-alive" } else { "close" })
}

fn add_connection(app: &App, mut resp: Response<Body>, value: &'static str) -> Response<Body> {
    let date = crate::control::http_date(app.config.control.clock().peek());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&date) {
        h.append(header::DATE, v);
    }
    h.append(header::CONNECTION, HeaderValue::from_static(value));
    resp
}

fn route_inner<B>(app: &Arc<App>, req: Request<B>, path: &str) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    if path == "/versions" {
        return ready(versions(StatusCode::OK, &host_url(req.headers())));
    }
    if path == "/healthcheck" {
        // oslo.middleware's healthcheck sat before the context middleware: no request id.
        let mut resp = Response::new(Body::full("OK"));
        let h = resp.headers_mut();
        h.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        );
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("2"));
        return ready(resp);
    }
    let rest = match version_prefix(path) {
        Some(rest) => rest,
        None => {
            return ready(versions(
                StatusCode::MULTIPLE_CHOICES,
                &host_url(req.headers()),
            ))
        }
    };
    let accept = BodyKind::from_accept(req.headers().get(header::ACCEPT).map(|v| v.as_bytes()));
    let Some(caller) = app.caller_for(req.headers()) else {
        return ready(app.unauthorized(req.method(), accept));
    };
    let ctx = Ctx {
        method: req.method().clone(),
        accept,
        request_id: app.request_id_for(req.headers()),
        caller,
        // Only a create (its `Location`) needs the host URL: skip the allocation elsewhere.
        host_url: if req.method() == Method::POST {
            host_url(req.headers())
        } else {
            String::new()
        },
    };
    if rest.is_empty() {
        // Routes redirected the bare version prefix to its slash form.
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::FOUND;
        let h = resp.headers_mut();
        h.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf8"),
        );
        if let Ok(loc) = HeaderValue::from_str(&format!("{}{}/", host_url(req.headers()), path)) {
            h.append(header::LOCATION, loc);
        }
        return ready(finish(&ctx, Ok(resp)));
    }
    // At most four segments are ever routed; a fifth marks the path as unroutable.
    let mut buf = [""; 5];
    let mut n = 0;
    for seg in rest[1..].split('/') {
        if n == buf.len() {
            break;
        }
        buf[n] = seg;
        n += 1;
    }
    let segs: &[&str] = if n == buf.len() {
        &["", "", "", "", ""]
    } else {
        &buf[..n]
    };
    let m = &ctx.method;
    let result: Result<Response<Body>, ApiError> = match segs {
        [] | [""] => crate::glance::images::index(app, &ctx, req.uri().query(), false),
        ["images"] => match *m {
            Method::GET => crate::glance::images::index(app, &ctx, req.uri().query(), false),
            Method::POST => return boxed(app, ctx, |app, ctx| crate::glance::images::create(app, ctx, req)),
            _ => Err(ApiError::method_not_allowed(Some("GET, POST"))),
        },
        ["images", "detail"] => match *m {
            Method::GET => crate::glance::images::index(app, &ctx, req.uri().query(), true),
            Method::HEAD => Err(ApiError::method_not_allowed(Some("GET"))),
            _ => Err(ApiError::method_not_allowed(Some("GET, HEAD"))),
        },
        ["images", id] if !id.is_empty() => {
            let Some(id) = decode(id) else {
                return ready(error_response(&ctx, ApiError::new(StatusCode::BAD_REQUEST)));
            };
            if *m == Method::HEAD {
                let r = crate::glance::images::meta(app, &ctx, &id, req.headers());
                return ready(finish_owned(ctx, r));
            }
            let id = id.into_owned();
            match *m {
                Method::GET => {
                    return boxed(app, ctx, move |app, ctx| crate::glance::images::show(app, ctx, id))
                }
                Method::PUT => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::images::update(app, ctx, id, req)
                    })
                }
                Method::DELETE => {
                    return boxed(app, ctx, move |app, ctx| crate::glance::images::delete(app, ctx, id))
                }
                _ => Err(ApiError::method_not_allowed(Some("GET, HEAD, PUT, DELETE"))),
            }
        }
        ["images", id, "members"] if !id.is_empty() => {
            let id = decode(id).unwrap_or_default().into_owned();
            match *m {
                Method::GET => crate::glance::images::members_index(app, &ctx, &id),
                Method::PUT => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::images::members_replace(app, ctx, id, req)
                    })
                }
                _ => Err(ApiError::method_not_allowed(Some("GET, PUT"))),
            }
        }
        ["images", id, "members", member] if !id.is_empty() && !member.is_empty() => {
            let id = decode(id).unwrap_or_default().into_owned();
            let member = decode(member).unwrap_or_default().into_owned();
            match *m {
                Method::PUT => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::images::member_add(app, ctx, id, member, req)
                    })
                }
                Method::DELETE => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::images::member_delete(app, ctx, id, member)
                    })
                }
                Method::GET => Err(ApiError::method_not_allowed(None)),
                _ => Err(ApiError::method_not_allowed(Some("GET, PUT, DELETE"))),
            }
        }
        ["shared-images", member] if !member.is_empty() => {
            let member = decode(member).unwrap_or_default();
            crate::glance::images::shared_images(app, &ctx, &member)
        }
        _ => Err(ApiError::new(StatusCode::NOT_FOUND)),
    };
    ready(finish(&ctx, result))
}

fn ready(resp: Response<Body>) -> RespFuture {
    RespFuture::Ready(Some(resp))
}

fn boxed<F, Fut>(app: &Arc<App>, ctx: Ctx, f: F) -> RespFuture
where
    F: FnOnce(Arc<App>, Arc<Ctx>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + Send + 'static,
{
    let app = Arc::clone(app);
    RespFuture::Boxed(Box::pin(async move {
        let ctx = Arc::new(ctx);
        let r = f(app, Arc::clone(&ctx)).await;
        finish(&ctx, r)
    }))
}

/// Turns a handler result into the final response, adding the request id last (the
/// context middleware did this on the way out, errors included).
pub fn finish(ctx: &Ctx, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    finish_with(ctx, ctx.request_id.clone(), result)
}

/// [`finish`] for a context that is no longer needed: the request id is moved, not cloned
/// (a clone of a fresh `HeaderValue` costs an allocation).
pub fn finish_owned(mut ctx: Ctx, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    let id = std::mem::replace(&mut ctx.request_id, HeaderValue::from_static(""));
    finish_with(&ctx, id, result)
}

fn finish_with(
    ctx: &Ctx,
    request_id: HeaderValue,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(ctx, e),
    };
    resp.headers_mut()
        .append(headers::REQUEST_ID.clone(), request_id);
    webob_reason(&mut resp);
    resp
}

/// Uses WebOb's reason phrase where it differs from hyper's (e.g. `413 Request Entity Too
/// Large`).
pub fn webob_reason(resp: &mut Response<Body>) {
    let status = resp.status();
    let title = crate::render::webob::title_and_explanation(status).0;
    if Some(title) != status.canonical_reason() {
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(title.as_bytes()));
    }
}

/// Renders an [`ApiError`] as WebOb did: HEAD gets an empty body with Content-Type first;
/// other methods get a generated body with Content-Length first.
pub fn error_response(ctx: &Ctx, e: ApiError) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = e.status;
    let h = resp.headers_mut();
    if ctx.is_head() {
        let ct = if e.plain {
            "text/plain; charset=UTF-8"
        } else {
            "text/html; charset=UTF-8"
        };
        h.append(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    } else {
        if let Some(allow) = e.allow {
            h.append(header::ALLOW, HeaderValue::from_static(allow));
        }
        let (kind, ct) = if e.literal.is_some() {
            (BodyKind::Plain, "text/plain; charset=UTF-8")
        } else {
            (ctx.accept, ctx.accept.content_type())
        };
        let body = e.body(kind, ctx.method.as_str());
        h.append(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        h.append(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        *resp.body_mut() = Body::full(body);
    }
    if let (true, Some(allow)) = (ctx.is_head(), e.allow) {
        resp.headers_mut()
            .append(header::ALLOW, HeaderValue::from_static(allow));
    }
    resp
}

/// `http://<Host>` (WebOb `host_url`); falls back to the listen-less `http://localhost`.
pub fn host_url(h: &HeaderMap) -> String {
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Strips a v1 version prefix (`/v1`, `/v1.0`, `/v1.1`); `None` means "not v1".
fn version_prefix(path: &str) -> Option<&str> {
    for p in ["/v1.0", "/v1.1", "/v1"] {
        if let Some(rest) = path.strip_prefix(p) {
            if rest.is_empty() || rest.starts_with('/') {
                return Some(rest);
            }
        }
    }
    None
}

/// The version document: 300 for negotiation misses, 200 for `/versions`. These never
/// passed the context middleware, so they carry no request id.
fn versions(status: StatusCode, host_url: &str) -> Response<Body> {
    let body = crate::render::glance_json::versions_body(host_url);
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.append(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    *resp.body_mut() = Body::full(body);
    resp
}

/// A JSON response (`Content-Type: application/json`, then `Content-Length`).
pub fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.append(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    *resp.body_mut() = Body::full(body);
    resp
}

/// WebOb's fresh `Response()`: 200, `text/html; charset=UTF-8`, `Content-Length: 0`.
pub fn empty_html(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Body::empty_sized());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    h.append(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// 204 as `webob.exc.HTTPNoContent()`: no Content-Type, no Content-Length.
pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Finds the image `id` as the caller may see it, or Glance's 404.
pub fn visible_image(app: &App, ctx: &Ctx, id: &str) -> Result<Arc<Image>, ApiError> {
    match app.store.get(id) {
        Some(img) if ctx.caller.can_see(&img) => Ok(img),
        _ => Err(ApiError::image_not_found(id)),
    }
}

/// Whether the stored bytes disagree with the record (the emulator's detected mismatch).
pub fn data_mismatch(img: &Image) -> bool {
    if img.data_mismatch {
        return true;
    }
    if let ImageData::File { path, len } = &*img.data {
        // A file changed on disk after it was loaded: compare with what the record says.
        return match std::fs::metadata(path.as_ref()) {
            Ok(m) => m.len() != *len || Some(m.len()) != img.size,
            Err(_) => true,
        };
    }
    false
}

/// Header name of `x-image-meta-size` in requests.
pub static REQ_SIZE: HeaderName = HeaderName::from_static("x-image-meta-size");

/// True when `status` lets the data be downloaded.
pub fn downloadable(status: Status) -> bool {
    status == Status::Active
}
