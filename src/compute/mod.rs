//! The compute-style (Nova) JSON views of the same image records: `GET /v2/{tenant}/images/{id}`,
//! `/v2.1[/{tenant}]/images/{id}`, `/metadata`, `/metadata/{key}`, the lists and the metadata
//! writes, as Nova 2015.1 (Kilo) rendered them over its Glance v1 backend.
//!
//! Nova built every view from Glance v1: `show` and `_get_image` are a `HEAD /v1/images/{id}`
//! (here: [`crate::glance::images::meta`] on the same store), the lists are `GET /v1/images/detail` pages
//! ([`crate::glance::lists::index`]), image deletion is `DELETE /v1/images/{id}` ([`crate::glance::images::delete`]),
//! and metadata writes replace the record's properties through [`crate::store::Store::write`].
//! So both APIs agree at every moment.
//!
//! Nova serialised plain CPython 2.7 dicts with `json.dumps`, so key order is hash-table
//! order. [`PyDict`] models CPython 2.7's string hash and dict probing/resizing, and every dict
//! Nova built (view literals, links, faults, the properties dict glanceclient filled from the
//! HEAD headers and `copy.deepcopy` rebuilt, request bodies from `json.loads`) is replayed
//! through it. See `docs/compute.md` for the release followed and the deviations.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;

use crate::app::body::Body;
use crate::app::{App, Ctx, RespFuture};
use crate::auth::Caller;
use crate::model::{Image, Timestamp};
use crate::render::webob::{title_and_explanation, ApiError, BodyKind};

/// Nova's `quota_metadata_items` default.
pub const METADATA_ITEMS_QUOTA: usize = 128;
/// Nova's `osapi_max_request_body_size` default (the `sizelimit` middleware).
pub const MAX_REQUEST_BODY: u64 = 114_688;
/// Nova's `osapi_max_limit` default.
const MAX_LIMIT: i128 = 1000;
/// glanceclient's `DEFAULT_PAGE_SIZE`.
const GLANCE_PAGE_SIZE: i128 = 20;
/// Kilo's v2.1 microversion range.
const MIN_VERSION: (u64, u64) = (2, 1);
const MAX_VERSION: (u64, u64) = (2, 3);

const PROPERTY_PREFIX: &str = "x-image-meta-property-";
/// Properties Nova stored as JSON text in Glance (`_CONVERT_PROPS`).
const JSON_PROPS: [&str; 2] = ["block_device_mapping", "mappings"];

// =========================================================================================
// Routing
// =========================================================================================

/// Which API tree the request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// Legacy v2 (`/v2/{tenant}/...`).
    V2,
    /// v2.1 (`/v2.1[/{tenant}]/...`), with microversion headers.
    V21,
}

impl Api {
    fn prefix(self) -> &'static str {
        match self {
            Api::V2 => "/v2",
            Api::V21 => "/v2.1",
        }
    }
}

/// The controller action a request maps to.
#[derive(Debug)]
enum Action {
    Index,
    Detail,
    Show(String),
    Delete(String),
    /// `POST /images`: `Controller.create` raises 405.
    CreateImage,
    MetaIndex(String),
    MetaCreate(String),
    MetaUpdateAll(String),
    MetaShow(String, String),
    MetaUpdate(String, String),
    MetaDelete(String, String),
    /// Routed to a method the controller lacks (`update`, `new`, `edit`): JSON 404.
    Missing,
    /// No route at all: WebOb's plain 404 from the router.
    Unrouted,
}

/// Per-request facts.
struct Rq {
    api: Api,
    tenant: Option<String>,
    host_url: String,
    request_id: HeaderValue,
    caller: Caller,
    method: Method,
    accept: BodyKind,
    /// The microversion echoed on v2.1 responses that reached a controller.
    version: Option<String>,
    query: Option<String>,
}

impl Rq {
    /// `request.application_url`: host plus the API mount point.
    fn application_url(&self) -> String {
        format!("{}{}", self.host_url, self.api.prefix())
    }

    /// `_get_project_id`: the project segment when the URL had one, else ''.
    fn project(&self) -> &str {
        self.tenant.as_deref().unwrap_or("")
    }

    /// A Glance-side request context for calling the v1 handlers.
    fn glance_ctx(&self, method: Method) -> Ctx {
        Ctx {
            method,
            accept: BodyKind::from_accept(Some(b"*/*")),
            request_id: self.request_id.clone(),
            caller: self.caller.clone(),
            host_url: self.host_url.clone(),
        }
    }
}

/// Splits a compute path into API, tenant and the segments after `images`, or `None` when the
/// path is not a compute image path (left to the Glance v1 router).
fn split_path(raw: &str) -> Option<(Api, Option<String>, Vec<String>)> {
    let (api, rest) = if let Some(r) = raw.strip_prefix("/v2.1") {
        (Api::V21, r)
    } else if let Some(r) = raw.strip_prefix("/v2") {
        (Api::V2, r)
    } else {
        return None;
    };
    let rest = rest.strip_prefix('/')?;
    // eventlet unquoted PATH_INFO before routes split it.
    let decoded = percent_encoding::percent_decode_str(rest)
        .decode_utf8_lossy()
        .into_owned();
    let mut segs: Vec<String> = decoded.split('/').map(str::to_string).collect();
    // routes' `{.format}` suffix: only `.json` is honoured (see docs).
    if let Some(last) = segs.last_mut() {
        if last.len() > 5 && last.ends_with(".json") {
            last.truncate(last.len() - 5);
        }
    }
    let first = segs.first().map(String::as_str).unwrap_or("");
    if api == Api::V21 && first == "images" {
        return Some((api, None, segs.split_off(1)));
    }
    if segs.len() >= 2 && !first.is_empty() && segs[1] == "images" {
        let tail = segs.split_off(2);
        let tenant = segs.swap_remove(0);
        return Some((api, Some(tenant), tail));
    }
    None
}

fn resolve(method: &Method, tail: &[String]) -> Action {
    let ne = |s: &String| !s.is_empty();
    let t: Vec<&str> = tail.iter().map(String::as_str).collect();
    match (t.as_slice(), method) {
        ([], &Method::GET) => Action::Index,
        ([], &Method::POST) => Action::CreateImage,
        (["detail"], &Method::GET) => Action::Detail,
        (["new"], &Method::GET) => Action::Missing,
        ([_], m) if ne(&tail[0]) => match *m {
            Method::GET => Action::Show(tail[0].clone()),
            Method::DELETE => Action::Delete(tail[0].clone()),
            Method::PUT => Action::Missing,
            _ => Action::Unrouted,
        },
        ([_, "edit"], &Method::GET) if ne(&tail[0]) => Action::Missing,
        ([_, "metadata"], m) if ne(&tail[0]) => match *m {
            Method::GET => Action::MetaIndex(tail[0].clone()),
            Method::POST => Action::MetaCreate(tail[0].clone()),
            Method::PUT => Action::MetaUpdateAll(tail[0].clone()),
            _ => Action::Unrouted,
        },
        ([_, "metadata", "new"], &Method::GET) if ne(&tail[0]) => Action::Missing,
        ([_, "metadata", _], m) if ne(&tail[0]) && ne(&tail[2]) => {
            let (id, key) = (tail[0].clone(), tail[2].clone());
            match *m {
                Method::GET => Action::MetaShow(id, key),
                Method::PUT => Action::MetaUpdate(id, key),
                Method::DELETE => Action::MetaDelete(id, key),
                _ => Action::Unrouted,
            }
        }
        ([_, "metadata", _, "edit"], &Method::GET) if ne(&tail[0]) && ne(&tail[2]) => {
            Action::Missing
        }
        _ => Action::Unrouted,
    }
}

/// Handles a compute-API path, or gives the request back when the path is not one.
// The signature is the service's hook: the request itself comes back when not ours.
#[allow(clippy::result_large_err)]
pub fn route<B>(app: &Arc<App>, req: Request<B>) -> Result<RespFuture, Request<B>>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let Some((api, tenant, tail)) = split_path(req.uri().path()) else {
        return Err(req);
    };
    let caller = app.caller_for(req.headers());
    let mut rq = Rq {
        api,
        tenant,
        host_url: crate::app::host_url(req.headers()),
        request_id: app.new_request_id(),
        caller: caller.clone().unwrap_or_default(),
        method: req.method().clone(),
        accept: BodyKind::from_accept(req.headers().get(header::ACCEPT).map(|v| v.as_bytes())),
        version: None,
        query: req.uri().query().map(str::to_string),
    };
    // The sizelimit middleware sits in front of the router.
    let declared = content_length(req.headers());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY) {
        return Ok(ready(finish(&rq, Out::Fault(too_large()))));
    }
    // keystonemiddleware's 401 comes after sizelimit, before the router.
    if caller.is_none() {
        let mut resp = app.unauthorized(&rq.method, rq.accept);
        resp.headers_mut()
            .append(COMPUTE_REQUEST_ID.clone(), rq.request_id.clone());
        return Ok(ready(resp));
    }
    let action = resolve(&rq.method, &tail);
    if let Action::Unrouted = action {
        return Ok(ready(finish(&rq, Out::Plain404)));
    }
    if api == Api::V21 {
        match microversion(req.headers()) {
            Ok(v) => rq.version = Some(v),
            Err((fault, echo)) => {
                rq.version = echo;
                return Ok(ready(finish(&rq, Out::Fault(fault))));
            }
        }
    }
    let app = Arc::clone(app);
    Ok(RespFuture::Boxed(Box::pin(async move {
        let out = dispatch(&app, &rq, action, req, declared).await;
        finish(&rq, out)
    })))
}

fn ready(resp: Response<Body>) -> RespFuture {
    RespFuture::Ready(Some(resp))
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Kilo's `set_api_version_request`: the version to echo, or the fault (and whether the bad
/// version is still echoed, as it was for out-of-range versions).
fn microversion(h: &HeaderMap) -> Result<String, (Fault, Option<String>)> {
    let Some(raw) = h.get("x-openstack-nova-api-version") else {
        return Ok(format!("{}.{}", MIN_VERSION.0, MIN_VERSION.1));
    };
    let s = String::from_utf8_lossy(raw.as_bytes()).into_owned();
    if s == "latest" {
        return Ok(format!("{}.{}", MAX_VERSION.0, MAX_VERSION.1));
    }
    let parsed = s.split_once('.').and_then(|(a, b)| {
        let ok_major =
            !a.is_empty() && !a.starts_with('0') && a.bytes().all(|c| c.is_ascii_digit());
        let ok_minor = b == "0"
            || (!b.is_empty() && !b.starts_with('0') && b.bytes().all(|c| c.is_ascii_digit()));
        if ok_major && ok_minor {
            Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))
        } else {
            None
        }
    });
    let Some(v) = parsed else {
        return Err((
            Fault::new(
                400,
                format!(
                    "API Version String {s} is of invalid format. Must be of format MajorNum.MinorNum."
                ),
            ),
            None,
        ));
    };
    let text = format!("{}.{}", v.0, v.1);
    if v < MIN_VERSION || v > MAX_VERSION {
        return Err((
            Fault::new(
                406,
                format!(
                    "Version {text} is not supported by the API. Minimum is {}.{} and maximum is {}.{}.",
                    MIN_VERSION.0, MIN_VERSION.1, MAX_VERSION.0, MAX_VERSION.1
                ),
            ),
            Some(text),
        ));
    }
    Ok(text)
}

async fn dispatch<B>(
    app: &Arc<App>,
    rq: &Rq,
    action: Action,
    req: Request<B>,
    declared: Option<u64>,
) -> Out
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    if let Action::Missing = action {
        return Out::Fault(Fault::default_for(404));
    }
    // Body deserialisation (POST/PUT), then the URL project check, then the controller.
    let body = if rq.method == Method::POST || rq.method == Method::PUT {
        let content_type = request_content_type(req.headers());
        let bytes = match read_body(req.into_body()).await {
            Ok(b) => b,
            Err(f) => return Out::Fault(f),
        };
        match deserialize(content_type, declared, &bytes) {
            Ok(v) => v,
            Err(f) => return Out::Fault(f),
        }
    } else {
        None
    };
    if let (Some(url), Some(ctx)) = (&rq.tenant, &rq.caller.tenant) {
        if url != ctx {
            return Out::Fault(Fault::new(
                400,
                format!(
                    "Malformed request URL: URL's project_id '{url}' doesn't match Context's project_id '{ctx}'"
                ),
            ));
        }
    }
    let result = match action {
        Action::Index => list(app, rq, false).await,
        Action::Detail => list(app, rq, true).await,
        Action::Show(id) => show(app, rq, &id),
        Action::Delete(id) => delete_image(app, rq, id).await,
        Action::CreateImage => Err(Fault::default_for(405)),
        Action::MetaIndex(id) => meta_index(app, rq, &id),
        Action::MetaShow(id, key) => meta_show(app, rq, &id, &key),
        Action::MetaCreate(id) => meta_create(app, rq, id, body).await,
        Action::MetaUpdate(id, key) => meta_update(app, rq, id, key, body).await,
        Action::MetaUpdateAll(id) => meta_update_all(app, rq, id, body).await,
        Action::MetaDelete(id, key) => meta_delete(app, rq, id, key).await,
        Action::Missing | Action::Unrouted => Err(Fault::default_for(404)),
    };
    result.unwrap_or_else(Out::Fault)
}

/// `Request.get_content_type`: `None` for a missing, empty or `text/plain` type; `Err` for
/// an unsupported one (whose body Nova then dropped).
fn request_content_type(h: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(v) = h.get(header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let v = String::from_utf8_lossy(v.as_bytes());
    let ct = v.split(';').next().unwrap_or("").trim().to_string();
    if ct.is_empty() || ct == "text/plain" {
        return Ok(None);
    }
    if ct == "application/json" || ct == "application/vnd.openstack.compute+json" {
        return Ok(Some(ct));
    }
    Err(())
}

async fn read_body<B>(body: B) -> Result<Bytes, Fault>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let limited = http_body_util::Limited::new(body, MAX_REQUEST_BODY as usize);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(Fault::new(400, "Malformed request body")),
    }
}

/// `_process_stack`'s body handling: `Some(Py::None)` for `Content-Length: 0`.
fn deserialize(
    content_type: Result<Option<String>, ()>,
    declared: Option<u64>,
    bytes: &[u8],
) -> Result<Option<Py>, Fault> {
    if declared == Some(0) {
        return Ok(Some(Py::None));
    }
    if !matches!(content_type, Ok(Some(_))) {
        return Err(Fault::new(400, "Unsupported Content-Type"));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(Some(Py::from_json(&v))),
        Err(_) => Err(Fault::new(400, "Malformed request body")),
    }
}

// =========================================================================================
// Responses
// =========================================================================================

/// What a handler produced.
enum Out {
    /// 200 with a JSON body.
    Json(String),
    /// 204 from a `@wsgi.response(204)` method (`Content-Length: 0`, `Content-Type`).
    NoContentJson,
    /// 204 from `webob.exc.HTTPNoContent()` (no entity headers).
    NoContent,
    /// A JSON fault.
    Fault(Fault),
    /// The router's plain WebOb 404.
    Plain404,
}

/// A Nova `wsgi.Fault`: status and explanation.
#[derive(Debug, Clone)]
struct Fault {
    code: u16,
    message: String,
}

impl Fault {
    fn new(code: u16, message: impl Into<String>) -> Self {
        Fault {
            code,
            message: message.into(),
        }
    }

    /// A webob exception with its default explanation (also what `FaultWrapper` made of
    /// unexpected errors carrying a `code`).
    fn default_for(code: u16) -> Self {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (_, expl) = title_and_explanation(status);
        // HTTPMethodNotAllowed inherits HTTPClientError's explanation.
        let expl = if code == 405 {
            title_and_explanation(StatusCode::BAD_REQUEST).1
        } else {
            expl
        };
        Fault::new(code, expl)
    }

    fn internal() -> Self {
        Fault::default_for(500)
    }

    fn name(&self) -> &'static str {
        match self.code {
            400 => "badRequest",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "itemNotFound",
            405 => "badMethod",
            409 => "conflictingRequest",
            413 | 429 => "overLimit",
            415 => "badMediaType",
            501 => "notImplemented",
            503 => "serviceUnavailable",
            _ => "computeFault",
        }
    }

    /// `{name: {"code": ..., "message": ...}}` in CPython 2.7 order.
    fn body(&self) -> String {
        let mut inner = DictBuilder::literal(2);
        inner.insert("code", Py::Int(i128::from(self.code)));
        inner.insert("message", Py::Str(self.message.clone()));
        let mut outer = DictBuilder::literal(1);
        outer.insert(self.name(), inner.finish());
        dumps(&outer.finish())
    }
}

fn too_large() -> Fault {
    Fault::default_for(413)
}

static VERSION_HEADER: HeaderName = HeaderName::from_static("x-openstack-nova-api-version");
static COMPUTE_REQUEST_ID: HeaderName = HeaderName::from_static("x-compute-request-id");

/// Assembles the response with headers in the order WebOb, Nova's wsgi layer and the
/// request-id middleware left them (hyper appends `Date`, as eventlet did).
fn finish(rq: &Rq, out: Out) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    let version = |h: &mut HeaderMap| {
        if let Some(v) = rq
            .version
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.append(VERSION_HEADER.clone(), v);
            h.append(
                header::VARY,
                HeaderValue::from_static("X-OpenStack-Nova-API-Version"),
            );
        }
    };
    match out {
        Out::Json(body) => {
            let h = resp.headers_mut();
            h.append(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.append(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            version(h);
            *resp.body_mut() = Body::full(body);
        }
        Out::NoContentJson => {
            *resp.status_mut() = StatusCode::NO_CONTENT;
            let h = resp.headers_mut();
            h.append(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            h.append(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            version(h);
            *resp.body_mut() = Body::empty_sized();
        }
        Out::NoContent => {
            *resp.status_mut() = StatusCode::NO_CONTENT;
            version(resp.headers_mut());
        }
        Out::Fault(f) => {
            *resp.status_mut() =
                StatusCode::from_u16(f.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = f.body();
            let h = resp.headers_mut();
            version(h);
            h.append(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            h.append(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=UTF-8"),
            );
            *resp.body_mut() = Body::full(body);
        }
        Out::Plain404 => {
            let ctx = Ctx {
                method: rq.method.clone(),
                accept: rq.accept,
                request_id: rq.request_id.clone(),
                caller: rq.caller.clone(),
                host_url: rq.host_url.clone(),
            };
            resp = crate::app::error_response(&ctx, ApiError::new(StatusCode::NOT_FOUND));
        }
    }
    resp.headers_mut()
        .append(COMPUTE_REQUEST_ID.clone(), rq.request_id.clone());
    crate::app::webob_reason(&mut resp);
    resp
}

fn json_out(v: &Py) -> Out {
    Out::Json(dumps(v))
}

// =========================================================================================
// Reading images the way Nova did (glanceclient over Glance v1)
// =========================================================================================

/// The image dict Nova's `_translate_from_glance` produced.
struct NovaImage {
    id: String,
    name: Option<String>,
    status: Option<String>,
    size: Option<Py>,
    min_ram: Option<Py>,
    min_disk: Option<Py>,
    created_at: Option<String>,
    updated_at: Option<String>,
    /// `properties`, the live dict Nova held.
    properties: DictBuilder,
}

impl NovaImage {
    /// From a `HEAD /v1/images/{id}` response (glanceclient `_image_meta_from_headers`).
    fn from_head(h: &HeaderMap) -> Result<Self, Fault> {
        let text = |name: &str| {
            h.get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let mut wire: Vec<(String, Py)> = Vec::new();
        for (name, value) in h {
            if let Some(k) = name.as_str().strip_prefix(PROPERTY_PREFIX) {
                wire.push((
                    k.to_string(),
                    Py::Str(String::from_utf8_lossy(value.as_bytes()).into_owned()),
                ));
            }
        }
        // `_format_image_meta_for_user`: int(v) if v else 0, kept as is when not an int.
        let int_field = |name: &str| {
            text(name).map(|v| {
                if v.is_empty() {
                    Py::Int(0)
                } else {
                    py_int(&v).map_or(Py::Str(v), Py::Int)
                }
            })
        };
        Ok(NovaImage {
            id: text("x-image-meta-id").unwrap_or_default(),
            name: text("x-image-meta-name"),
            status: text("x-image-meta-status"),
            size: int_field("x-image-meta-size"),
            min_ram: int_field("x-image-meta-min_ram"),
            min_disk: int_field("x-image-meta-min_disk"),
            created_at: text("x-image-meta-created_at"),
            updated_at: text("x-image-meta-updated_at"),
            properties: translate_properties(wire)?,
        })
    }

    /// From one record of a `GET /v1/images/detail` JSON body (glanceclient `_list`).
    fn from_json(v: &Value) -> Result<Self, Fault> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| match v.get(k) {
            None | Some(Value::Null) => None,
            Some(x) => Some(Py::from_json(x)),
        };
        let mut wire = Vec::new();
        if let Some(Value::Object(props)) = v.get("properties") {
            for (k, val) in props {
                wire.push((k.clone(), Py::from_json(val)));
            }
        }
        Ok(NovaImage {
            id: s("id").unwrap_or_default(),
            name: s("name"),
            status: s("status"),
            size: n("size"),
            min_ram: n("min_ram"),
            min_disk: n("min_disk"),
            created_at: s("created_at"),
            updated_at: s("updated_at"),
            properties: translate_properties(wire)?,
        })
    }

    fn property(&self, key: &str) -> Option<&Py> {
        self.properties.get(key)
    }
}

/// glanceclient fills a fresh dict in wire order, `_convert_from_string` deep-copies it and
/// JSON-decodes `block_device_mapping`/`mappings` in place.
fn translate_properties(wire: Vec<(String, Py)>) -> Result<DictBuilder, Fault> {
    let mut copied = fill(wire).deepcopy();
    for key in JSON_PROPS {
        if let Some(Py::Str(s)) = copied.get(key) {
            // jsonutils.loads raising ValueError surfaced as a 500.
            let parsed: Value = serde_json::from_str(s).map_err(|_| Fault::internal())?;
            copied.insert(key, Py::from_json(&parsed));
        }
    }
    Ok(copied)
}

/// `int()` of a decimal string (Python accepts surrounding whitespace and a sign).
fn py_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.bytes() {
        n = n.saturating_mul(10).saturating_add(i128::from(c - b'0'));
    }
    Some(if neg { -n } else { n })
}

/// A Glance-side error as Nova's `_get_image` / `show` mapped it.
fn map_get_error(e: &ApiError, id: &str, for_metadata: bool) -> Fault {
    match e.status.as_u16() {
        404 => Fault::new(404, "Image not found."),
        401 | 403 if for_metadata => Fault::new(403, format!("Not authorized for image {id}.")),
        401 | 403 => Fault::internal(),
        400 => Fault::new(400, "HTTPBadRequest (HTTP 400)"),
        other => Fault::default_for(other),
    }
}

/// Nova's `image_api.get`: a Glance v1 HEAD on the same store.
fn get_image(app: &App, rq: &Rq, id: &str, for_metadata: bool) -> Result<NovaImage, Fault> {
    let ctx = rq.glance_ctx(Method::HEAD);
    match crate::glance::images::meta(app, &ctx, id, &HeaderMap::new()) {
        Ok(resp) => NovaImage::from_head(resp.headers()),
        Err(e) => Err(map_get_error(&e, id, for_metadata)),
    }
}

// =========================================================================================
// Views (nova/api/openstack/compute/views/images.py + the OS-DCF / OS-EXT-IMG-SIZE extensions)
// =========================================================================================

/// `os.path.join` on URL strings, as Nova's link helpers used it.
fn os_path_join(parts: &[&str]) -> String {
    let mut path = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            path.push_str(p);
        } else if p.starts_with('/') {
            path = (*p).to_string();
        } else if path.is_empty() || path.ends_with('/') {
            path.push_str(p);
        } else {
            path.push('/');
            path.push_str(p);
        }
    }
    path
}

fn link(rel: &str, href: String) -> Py {
    let mut d = DictBuilder::literal(2);
    d.insert("rel", Py::Str(rel.to_string()));
    d.insert("href", Py::Str(href));
    d.finish()
}

fn href_link(rq: &Rq, id: &str, collection: &str) -> String {
    os_path_join(&[&rq.application_url(), rq.project(), collection, id])
}

fn bookmark_link(rq: &Rq, id: &str, collection: &str) -> String {
    // remove_version_from_href(application_url) is the bare host URL.
    os_path_join(&[&rq.host_url, rq.project(), collection, id])
}

/// self, bookmark, alternate (Kilo: `<glance_url>/images/<id>`, Glance being this host).
fn image_links(rq: &Rq, id: &str) -> Py {
    let mut alt = DictBuilder::literal(3);
    alt.insert("rel", Py::Str("alternate".into()));
    alt.insert("type", Py::Str("application/vnd.openstack.image".into()));
    alt.insert("href", Py::Str(format!("{}/images/{id}", rq.host_url)));
    Py::List(vec![
        link("self", href_link(rq, id, "images")),
        link("bookmark", bookmark_link(rq, id, "images")),
        alt.finish(),
    ])
}

fn nova_status(s: Option<&str>) -> (&'static str, i128) {
    match s {
        Some("active") => ("ACTIVE", 100),
        Some("queued") => ("SAVING", 25),
        Some("saving") => ("SAVING", 50),
        Some("deleted") | Some("pending_delete") => ("DELETED", 0),
        Some("killed") => ("ERROR", 0),
        _ => ("UNKNOWN", 0),
    }
}

/// `timeutils.parse_isotime` then `isotime`: seconds truncated, `Z` appended. Python 2's
/// strftime refused years before 1900 (a 500).
fn format_date(s: Option<&str>) -> Result<Py, Fault> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(Py::None);
    };
    let t = Timestamp::parse(s).ok_or_else(Fault::internal)?;
    if chrono::Datelike::year(&t.0) < 1900 {
        return Err(Fault::internal());
    }
    Ok(Py::Str(t.0.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// `int(x or 0)`.
fn int_or_zero(v: Option<&Py>) -> Result<Py, Fault> {
    match v {
        None | Some(Py::None) => Ok(Py::Int(0)),
        Some(Py::Int(n)) => Ok(Py::Int(*n)),
        Some(Py::Bool(b)) => Ok(Py::Int(i128::from(*b))),
        Some(Py::Str(s)) if s.is_empty() => Ok(Py::Int(0)),
        Some(Py::Str(s)) => py_int(s).map(Py::Int).ok_or_else(Fault::internal),
        Some(_) => Err(Fault::internal()),
    }
}

/// oslo `strutils.bool_from_string` (non-strict) on any value.
fn bool_from_py(v: &Py) -> bool {
    let s = match v {
        Py::Bool(b) => return *b,
        Py::Str(s) => s.clone(),
        other => py_str(other),
    };
    matches!(
        s.trim().to_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// The detailed view (`show`), with `server`, then the image-size and disk-config
/// extensions (post-processing runs in reverse alias order: size before diskConfig).
fn show_view(rq: &Rq, img: &NovaImage) -> Result<Py, Fault> {
    let (status, progress) = nova_status(img.status.as_deref());
    let mut d = DictBuilder::literal(10);
    d.insert("id", Py::Str(img.id.clone()));
    d.insert("name", img.name.clone().map_or(Py::None, Py::Str));
    d.insert("minRam", int_or_zero(img.min_ram.as_ref())?);
    d.insert("minDisk", int_or_zero(img.min_disk.as_ref())?);
    d.insert("metadata", img.properties.clone().finish());
    d.insert("created", format_date(img.created_at.as_deref())?);
    d.insert("updated", format_date(img.updated_at.as_deref())?);
    d.insert("status", Py::Str(status.into()));
    d.insert("progress", Py::Int(progress));
    d.insert("links", image_links(rq, &img.id));
    if let Some(uuid) = img
        .property("instance_uuid")
        .filter(|v| !matches!(v, Py::None))
    {
        let uuid = py_str(uuid);
        let mut server = DictBuilder::literal(2);
        server.insert("id", Py::Str(uuid.clone()));
        server.insert(
            "links",
            Py::List(vec![
                link("self", href_link(rq, &uuid, "servers")),
                link("bookmark", bookmark_link(rq, &uuid, "servers")),
            ]),
        );
        d.insert("server", server.finish());
    }
    d.insert("OS-EXT-IMG-SIZE:size", img.size.clone().unwrap_or(Py::None));
    if let Some(raw) = img.property("auto_disk_config") {
        let v = if bool_from_py(raw) { "AUTO" } else { "MANUAL" };
        d.insert("OS-DCF:diskConfig", Py::Str(v.into()));
    }
    Ok(d.finish())
}

/// The basic list entry.
fn basic_view(rq: &Rq, img: &NovaImage) -> Py {
    let mut d = DictBuilder::literal(3);
    d.insert("id", Py::Str(img.id.clone()));
    d.insert("name", img.name.clone().map_or(Py::None, Py::Str));
    d.insert("links", image_links(rq, &img.id));
    d.finish()
}

fn single(key: &str, v: Py) -> Py {
    let mut d = DictBuilder::literal(1);
    d.insert(key, v);
    d.finish()
}

// =========================================================================================
// Handlers: images
// =========================================================================================

fn show(app: &App, rq: &Rq, id: &str) -> Result<Out, Fault> {
    let img = get_image(app, rq, id, false)?;
    Ok(json_out(&single("image", show_view(rq, &img)?)))
}

async fn delete_image(app: &Arc<App>, rq: &Rq, id: String) -> Result<Out, Fault> {
    let ctx = Arc::new(rq.glance_ctx(Method::DELETE));
    match crate::glance::images::delete(Arc::clone(app), ctx, id).await {
        Ok(_) => Ok(Out::NoContent),
        Err(e) => Err(match e.status.as_u16() {
            404 => Fault::new(404, "Image not found."),
            403 => Fault::new(403, "You are not allowed to delete the image."),
            other => Fault::default_for(other),
        }),
    }
}

/// Query parameters as WebOb's `req.params` (a multidict, `+` and `%XX` decoded).
fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(|q| {
        form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn last<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `_get_int_param`.
fn int_param(params: &[(String, String)], key: &str) -> Result<Option<i128>, Fault> {
    let Some(v) = last(params, key) else {
        return Ok(None);
    };
    let n = py_int(v).ok_or_else(|| Fault::new(400, format!("{key} param must be an integer")))?;
    if n < 0 {
        return Err(Fault::new(400, format!("{key} param must be positive")));
    }
    Ok(Some(n))
}

/// `Controller._get_filters`.
fn nova_filters(params: &[(String, String)]) -> Vec<(String, String)> {
    let mut filters: Vec<(String, String)> = Vec::new();
    for (k, _) in params {
        let mapped = match k.as_str() {
            "name" | "status" | "changes-since" => k.clone(),
            "server" => "property-instance_uuid".to_string(),
            "type" => "property-image_type".to_string(),
            "minRam" => "min_ram".to_string(),
            "minDisk" => "min_disk".to_string(),
            _ if k.starts_with("property-") => k.clone(),
            _ => continue,
        };
        let value = last(params, k).unwrap_or("").to_string();
        match filters.iter_mut().find(|(f, _)| *f == mapped) {
            Some(slot) => slot.1 = value,
            None => filters.push((mapped, value)),
        }
    }
    for (f, v) in filters.iter_mut() {
        if f == "property-instance_uuid" {
            if let Some((_, tail)) = v.rsplit_once('/') {
                *v = tail.to_string();
            }
        }
        if f == "status" {
            *v = v.to_lowercase();
        }
    }
    filters
}

/// What glanceclient made of a Glance error response: `str(exc)`.
async fn glanceclient_error(ctx: &Ctx, e: ApiError) -> (u16, String) {
    let code = e.status.as_u16();
    let resp = crate::app::error_response(ctx, e);
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = match resp.into_body().collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let details = if body.is_empty() {
        String::new()
    } else if ct.contains("html") {
        let mut seen: Vec<String> = Vec::new();
        for line in body.lines() {
            let stripped = strip_tags(line.trim());
            if !stripped.is_empty() && !seen.contains(&stripped) {
                seen.push(stripped);
            }
        }
        seen.join(": ")
    } else {
        body.replace("\n\n", "\n")
    };
    (code, details)
}

/// `re.sub(r'<.+?>', '', line)`.
fn strip_tags(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        // `.+?` needs at least one character before the closing '>'.
        let close = after.char_indices().skip(1).find(|(_, c)| *c == '>');
        match close {
            Some((end, _)) => {
                out.push_str(&rest[..start]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// `GET …/images` and `…/images/detail`: glanceclient's paginated `list` over
/// `GET /v1/images/detail`, then the views and the `next` link.
async fn list(app: &Arc<App>, rq: &Rq, detail: bool) -> Result<Out, Fault> {
    let params = query_pairs(rq.query.as_deref());
    let filters = nova_filters(&params);
    let limit = int_param(&params, "limit")?;
    let page_size = int_param(&params, "page_size")?;
    let marker = last(&params, "marker").map(str::to_string);
    // _extract_query_params keeps only truthy values.
    let absolute_limit = limit.filter(|n| *n > 0);
    let page = page_size.filter(|n| *n > 0).unwrap_or(GLANCE_PAGE_SIZE);
    let mut qp: Vec<(String, String)> = vec![("limit".into(), page.to_string())];
    if let Some(m) = marker.as_ref().filter(|m| !m.is_empty()) {
        qp.push(("marker".into(), m.clone()));
    }
    qp.extend(filters);
    if !qp.iter().any(|(k, _)| k == "is_public") {
        qp.push(("is_public".into(), "none".into()));
    }
    // Python 2's urlencode could not encode non-ASCII text.
    if qp.iter().any(|(k, v)| !k.is_ascii() || !v.is_ascii()) {
        return Err(Fault::internal());
    }
    let ctx = rq.glance_ctx(Method::GET);
    let mut images: Vec<NovaImage> = Vec::new();
    let mut seen: i128 = 0;
    'pages: loop {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(qp.iter())
            .finish();
        let records = match crate::glance::lists::index(app, &ctx, Some(&query), true) {
            Ok(resp) => {
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|_| Fault::internal())?
                    .to_bytes();
                let v: Value = serde_json::from_slice(&bytes).map_err(|_| Fault::internal())?;
                v.get("images")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
            Err(e) => {
                let (code, details) = glanceclient_error(&ctx, e).await;
                let text = format!("{details} (HTTP {code})");
                return Err(match code {
                    400 => Fault::new(400, text),
                    401 | 403 => Fault::new(403, text),
                    other => Fault::default_for(other),
                });
            }
        };
        let mut seen_last_page: i128 = 0;
        let mut last_id = None;
        for r in &records {
            let img = NovaImage::from_json(r)?;
            last_id = Some(img.id.clone());
            if absolute_limit.is_some_and(|l| seen + seen_last_page >= l) {
                break 'pages;
            }
            seen_last_page += 1;
            images.push(img);
        }
        seen += seen_last_page;
        if seen_last_page == 0 || absolute_limit.is_some_and(|l| seen >= l) || seen_last_page < page
        {
            break;
        }
        match last_id {
            Some(id) => match qp.iter_mut().find(|(k, _)| k == "marker") {
                Some(slot) => slot.1 = id,
                None => qp.push(("marker".into(), id)),
            },
            None => break,
        }
    }
    let entries: Vec<Py> = if detail {
        images
            .iter()
            .map(|i| show_view(rq, i))
            .collect::<Result<_, _>>()?
    } else {
        images.iter().map(|i| basic_view(rq, i)).collect()
    };
    let collection = if detail { "images/detail" } else { "images" };
    let mut out = DictBuilder::literal(1);
    out.insert("images", Py::List(entries));
    let max_items = last(&params, "limit")
        .and_then(py_int)
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    if max_items != 0 && max_items == images.len() as i128 {
        let last_id = images.last().map(|i| i.id.clone()).unwrap_or_default();
        out.insert(
            "images_links",
            Py::List(vec![link(
                "next",
                next_link(rq, &params, &last_id, collection)?,
            )]),
        );
    }
    Ok(json_out(&out.finish()))
}

/// `_get_next_link`: the request's parameters (marker replaced, moved last) joined raw with
/// `dict_to_query_str` (no URL encoding; `str()` of non-ASCII text failed).
fn next_link(
    rq: &Rq,
    params: &[(String, String)],
    marker: &str,
    collection: &str,
) -> Result<String, Fault> {
    let mut items: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    items.push(("marker", marker));
    if items.iter().any(|(k, v)| !k.is_ascii() || !v.is_ascii()) {
        return Err(Fault::internal());
    }
    let q: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = os_path_join(&[&rq.application_url(), rq.project(), collection]);
    Ok(format!("{url}?{}", q.join("&")))
}

// =========================================================================================
// Handlers: image metadata (nova/api/openstack/compute/image_metadata.py)
// =========================================================================================

fn meta_index(app: &App, rq: &Rq, id: &str) -> Result<Out, Fault> {
    let img = get_image(app, rq, id, true)?;
    Ok(json_out(&single("metadata", img.properties.finish())))
}

fn meta_show(app: &App, rq: &Rq, id: &str, key: &str) -> Result<Out, Fault> {
    let img = get_image(app, rq, id, true)?;
    match img.property(key) {
        Some(v) => Ok(json_out(&single("meta", single(key, v.clone())))),
        None => Err(Fault::default_for(404)),
    }
}

/// A `TypeError` inside the controller: 400 with the default explanation.
fn type_error() -> Fault {
    Fault::default_for(400)
}

/// `check_img_metadata_properties_quota` on an arbitrary value.
fn check_quota(metadata: &Py) -> Result<(), Fault> {
    if !metadata.truthy() {
        return Ok(());
    }
    let n = match metadata {
        Py::Str(s) => s.chars().count(),
        Py::List(l) => l.len(),
        Py::Dict(d) => d.len(),
        _ => return Err(type_error()),
    };
    if n > METADATA_ITEMS_QUOTA {
        return Err(Fault::new(403, "Image metadata limit exceeded"));
    }
    let Py::Dict(d) = metadata else {
        return Err(Fault::new(400, "Invalid image metadata"));
    };
    for (k, _) in d {
        let len = k.chars().count();
        if len == 0 {
            return Err(Fault::new(400, "Image metadata key cannot be blank"));
        }
        if len > 255 {
            return Err(Fault::new(400, "Image metadata key too long"));
        }
    }
    Ok(())
}

/// Nova's `image_service.update(..., purge_props=True)`: glanceclient sends every property
/// as an `x-image-meta-property-*` header and Glance v1 replaces the record's properties.
/// Done atomically in the store; returns the updated record.
async fn write_properties(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    props: Vec<(String, Py)>,
) -> Result<Arc<Image>, Fault> {
    let mut glance: Vec<(String, Option<String>)> = Vec::new();
    for (k, v) in props {
        let text = match (&v, JSON_PROPS.contains(&k.as_str())) {
            (Py::Str(s), _) => s.clone(),
            // _convert_to_string: json.dumps of a deep copy.
            (_, true) => dumps(&v.deepcopy()),
            // glanceclient `to_str` after three deep copies.
            _ => py_str(&v.deepcopy().deepcopy().deepcopy()),
        };
        let header_ok = HeaderName::from_bytes(format!("{PROPERTY_PREFIX}{k}").as_bytes()).is_ok();
        if !header_ok || HeaderValue::from_bytes(text.as_bytes()).is_err() {
            return Err(Fault::new(400, "Invalid image metadata"));
        }
        // Glance v1 saw the header name lower-cased with '-' as '_', the value stripped,
        // and an empty value as null.
        let key = k.to_ascii_lowercase().replace('-', "_");
        let value = text.trim_matches([' ', '\t']).to_string();
        let value = if value.is_empty() { None } else { Some(value) };
        match glance.iter_mut().find(|(gk, _)| *gk == key) {
            Some(slot) => slot.1 = value,
            None => glance.push((key, value)),
        }
    }
    let quota = app.config.property_quota;
    let caller = rq.caller.clone();
    let now = app.now();
    let written = app
        .store
        .write(move |snap, tx| {
            let cur = match snap.get(&id) {
                Some(c) if caller.can_see(&c) => c,
                _ => return Ok(Err(Fault::default_for(404))),
            };
            if cur.deleted || cur.status == crate::model::Status::Deleted {
                return Ok(Err(Fault::new(
                    403,
                    format!("Not authorized for image {id}."),
                )));
            }
            if !caller.admin && !caller.owns(&cur) {
                return Ok(Err(Fault::new(
                    403,
                    format!("Not authorized for image {id}."),
                )));
            }
            if glance.len() > quota {
                return Ok(Err(Fault::default_for(413)));
            }
            let mut img = (*cur).clone();
            img.properties.clear();
            for (k, v) in glance {
                img.set_property(k.into(), v.map(Into::into));
            }
            img.updated_at = now;
            let out = Arc::new(img.clone());
            tx.put(img);
            Ok(Ok(out))
        })
        .await;
    match written {
        Ok(r) => r,
        Err(e) => Err(Fault::default_for(e.status.as_u16())),
    }
}

/// The `properties` of Glance's PUT response as Nova held them (JSON order, deep-copied).
fn response_properties(img: &Image) -> Result<DictBuilder, Fault> {
    let record = crate::render::glance_json::image_record(img);
    NovaImage::from_json(&record).map(|i| i.properties)
}

/// `POST …/metadata`: merge.
async fn meta_create(app: &Arc<App>, rq: &Rq, id: String, body: Option<Py>) -> Result<Out, Fault> {
    let img = get_image(app, rq, &id, true)?;
    let mut props = img.properties;
    let body = body.unwrap_or(Py::None);
    if body.contains("metadata").map_err(|_| type_error())? {
        match body.getitem("metadata") {
            Some(Py::Dict(entries)) => {
                for (k, v) in entries {
                    props.insert(&k, v);
                }
            }
            // `body['metadata'].iteritems()` on a non-dict: AttributeError, a 500.
            Some(_) => return Err(Fault::internal()),
            // `body['metadata']` on a list or string: TypeError.
            None => return Err(type_error()),
        }
    }
    check_quota(&props.clone().finish())?;
    let updated = write_properties(app, rq, id, props.entries()).await?;
    Ok(json_out(&single(
        "metadata",
        response_properties(&updated)?.finish(),
    )))
}

/// `PUT …/metadata/{key}`: upsert one key; the body is echoed.
async fn meta_update(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    key: String,
    body: Option<Py>,
) -> Result<Out, Fault> {
    let body = body.unwrap_or(Py::None);
    let meta = match &body {
        Py::Dict(_) => match body.getitem("meta") {
            Some(m) => m,
            None => return Err(Fault::new(400, "Incorrect request body format")),
        },
        _ => return Err(type_error()),
    };
    if !meta.contains(&key).map_err(|_| type_error())? {
        return Err(Fault::new(400, "Request body and URI mismatch"));
    }
    if meta.len().unwrap_or(0) > 1 {
        return Err(Fault::new(400, "Request body contains too many items"));
    }
    let img = get_image(app, rq, &id, true)?;
    let value = match &meta {
        Py::Dict(_) => meta.getitem(&key).unwrap_or(Py::None),
        // `meta[id]` on a list or string: TypeError.
        _ => return Err(type_error()),
    };
    let mut props = img.properties;
    props.insert(&key, value);
    check_quota(&props.clone().finish())?;
    write_properties(app, rq, id, props.entries()).await?;
    Ok(json_out(&single("meta", meta)))
}

/// `PUT …/metadata`: replace everything; the body's metadata is echoed.
async fn meta_update_all(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    body: Option<Py>,
) -> Result<Out, Fault> {
    get_image(app, rq, &id, true)?;
    let body = body.unwrap_or(Py::None);
    let metadata = match &body {
        Py::Dict(_) => body.getitem("metadata").unwrap_or(Py::Dict(Vec::new())),
        // `body.get` on a non-dict: AttributeError.
        _ => return Err(Fault::internal()),
    };
    check_quota(&metadata)?;
    let Py::Dict(props) = &metadata else {
        // glanceclient iterating a non-dict `properties`: AttributeError.
        return Err(Fault::internal());
    };
    write_properties(app, rq, id, props.clone()).await?;
    Ok(json_out(&single("metadata", metadata)))
}

/// `DELETE …/metadata/{key}`.
async fn meta_delete(app: &Arc<App>, rq: &Rq, id: String, key: String) -> Result<Out, Fault> {
    let img = get_image(app, rq, &id, true)?;
    let mut props = img.properties;
    if props.remove(&key).is_none() {
        return Err(Fault::new(404, "Invalid metadata key"));
    }
    write_properties(app, rq, id, props.entries()).await?;
    Ok(Out::NoContentJson)
}

// =========================================================================================
// Python values: CPython 2.7 dict order, json.dumps, str() and repr()
// =========================================================================================

/// A Python value as Nova held it. `Dict` entries are in the dict's iteration order.
#[derive(Debug, Clone, PartialEq)]
pub enum Py {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// `int` / `long`.
    Int(i128),
    /// `float`.
    Float(f64),
    /// `unicode`.
    Str(String),
    /// `list`.
    List(Vec<Py>),
    /// `dict`, in iteration order.
    Dict(Vec<(String, Py)>),
}

impl Py {
    /// `json.loads`: objects become dicts filled in document order.
    pub fn from_json(v: &Value) -> Py {
        match v {
            Value::Null => Py::None,
            Value::Bool(b) => Py::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Py::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Py::Int(i128::from(u))
                } else {
                    Py::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => Py::Str(s.clone()),
            Value::Array(a) => Py::List(a.iter().map(Py::from_json).collect()),
            Value::Object(m) => Py::Dict(reinsert(
                m.iter()
                    .map(|(k, v)| (k.clone(), Py::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// `copy.deepcopy`: every dict is refilled in its iteration order.
    pub fn deepcopy(&self) -> Py {
        match self {
            Py::List(l) => Py::List(l.iter().map(Py::deepcopy).collect()),
            Py::Dict(d) => Py::Dict(reinsert(
                d.iter().map(|(k, v)| (k.clone(), v.deepcopy())).collect(),
            )),
            other => other.clone(),
        }
    }

    fn truthy(&self) -> bool {
        match self {
            Py::None => false,
            Py::Bool(b) => *b,
            Py::Int(n) => *n != 0,
            Py::Float(f) => *f != 0.0,
            Py::Str(s) => !s.is_empty(),
            Py::List(l) => !l.is_empty(),
            Py::Dict(d) => !d.is_empty(),
        }
    }

    /// `key in self` (`Err` for a `TypeError`).
    fn contains(&self, key: &str) -> Result<bool, ()> {
        match self {
            Py::Dict(d) => Ok(d.iter().any(|(k, _)| k == key)),
            Py::List(l) => Ok(l.iter().any(|v| matches!(v, Py::Str(s) if s == key))),
            Py::Str(s) => Ok(s.contains(key)),
            _ => Err(()),
        }
    }

    /// `self[key]` on a dict (`None` otherwise or when absent).
    fn getitem(&self, key: &str) -> Option<Py> {
        match self {
            Py::Dict(d) => d.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    fn len(&self) -> Option<usize> {
        match self {
            Py::Dict(d) => Some(d.len()),
            Py::List(l) => Some(l.len()),
            Py::Str(s) => Some(s.chars().count()),
            _ => None,
        }
    }
}

/// CPython 2.7's string hash (`_Py_HashSecret` zero, as without `-R`), over code points as
/// a UCS-4 build hashed `unicode` (equal to `str` for ASCII).
pub fn py_hash(s: &str) -> i64 {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return 0;
    };
    let mut x: i64 = i64::from(u32::from(first)) << 7;
    let mut len: i64 = 0;
    for c in s.chars() {
        x = 1_000_003i64.wrapping_mul(x) ^ i64::from(u32::from(c));
        len += 1;
    }
    x ^= len;
    if x == -1 {
        -2
    } else {
        x
    }
}

/// One slot of a CPython 2.7 dict table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Empty,
    Dummy,
    Used(usize),
}

/// CPython 2.7's dict table, tracking key placement (`lookdict`, `insertdict`,
/// `dictresize`, deletion dummies).
#[derive(Debug, Clone)]
pub struct PyDict {
    slots: Vec<Slot>,
    keys: Vec<(String, u64)>,
    fill: usize,
    used: usize,
}

impl PyDict {
    const MINSIZE: usize = 8;

    /// `{}`.
    pub fn new() -> Self {
        PyDict {
            slots: vec![Slot::Empty; Self::MINSIZE],
            keys: Vec::new(),
            fill: 0,
            used: 0,
        }
    }

    /// A dict literal of `n` items (`BUILD_MAP n` presizes when `n > 5`).
    pub fn presized(n: usize) -> Self {
        let mut d = PyDict::new();
        if n > 5 {
            d.resize(n);
        }
        d
    }

    fn next_probe(i: u64, perturb: u64) -> u64 {
        (i << 2)
            .wrapping_add(i)
            .wrapping_add(perturb)
            .wrapping_add(1)
    }

    fn resize(&mut self, minused: usize) {
        let mut size = Self::MINSIZE;
        while size <= minused {
            size <<= 1;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::Empty; size]);
        let mask = (size - 1) as u64;
        for slot in old {
            let Slot::Used(idx) = slot else { continue };
            // insertdict_clean: first empty slot on the probe sequence.
            let hash = self.keys[idx].1;
            let mut i = hash & mask;
            let mut perturb = hash;
            while self.slots[(i & mask) as usize] != Slot::Empty {
                i = Self::next_probe(i, perturb);
                perturb >>= 5;
            }
            self.slots[(i & mask) as usize] = Slot::Used(idx);
        }
        self.fill = self.used;
    }

    /// The slot holding `key`, or the slot an insert would use (first dummy seen, else the
    /// empty slot ending the probe).
    fn lookup(&self, key: &str, hash: u64) -> (usize, bool) {
        let mask = (self.slots.len() - 1) as u64;
        let mut i = hash & mask;
        let mut perturb = hash;
        let mut free: Option<usize> = None;
        loop {
            let pos = (i & mask) as usize;
            match self.slots[pos] {
                Slot::Empty => return (free.unwrap_or(pos), false),
                Slot::Dummy => {
                    free.get_or_insert(pos);
                }
                Slot::Used(idx) => {
                    if self.keys[idx].1 == hash && self.keys[idx].0 == key {
                        return (pos, true);
                    }
                }
            }
            i = Self::next_probe(i, perturb);
            perturb >>= 5;
        }
    }

    /// `d[key] = ...`; returns the entry index (an existing key keeps its slot).
    pub fn insert(&mut self, key: &str) -> usize {
        let hash = py_hash(key) as u64;
        let (pos, found) = self.lookup(key, hash);
        if found {
            if let Slot::Used(idx) = self.slots[pos] {
                return idx;
            }
        }
        let idx = self.keys.len();
        self.keys.push((key.to_string(), hash));
        if self.slots[pos] == Slot::Empty {
            self.fill += 1;
        }
        self.slots[pos] = Slot::Used(idx);
        self.used += 1;
        if self.fill * 3 >= self.slots.len() * 2 {
            let used = self.used;
            self.resize(if used > 50_000 { 2 * used } else { 4 * used });
        }
        idx
    }

    /// `del d[key]` (leaves a dummy); returns the removed entry index.
    pub fn remove(&mut self, key: &str) -> Option<usize> {
        let hash = py_hash(key) as u64;
        let (pos, found) = self.lookup(key, hash);
        if !found {
            return None;
        }
        let Slot::Used(idx) = self.slots[pos] else {
            return None;
        };
        self.slots[pos] = Slot::Dummy;
        self.used -= 1;
        Some(idx)
    }

    /// Entry indices in iteration order.
    pub fn order(&self) -> Vec<usize> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Used(i) => Some(*i),
                _ => None,
            })
            .collect()
    }
}

impl Default for PyDict {
    fn default() -> Self {
        PyDict::new()
    }
}

/// A live Python dict: its table plus the values, so later inserts land where CPython put
/// them.
#[derive(Debug, Clone)]
pub struct DictBuilder {
    table: PyDict,
    values: Vec<(String, Py)>,
}

impl DictBuilder {
    /// `{}`.
    pub fn new() -> Self {
        DictBuilder {
            table: PyDict::new(),
            values: Vec::new(),
        }
    }

    /// A literal of `n` items.
    pub fn literal(n: usize) -> Self {
        DictBuilder {
            table: PyDict::presized(n),
            values: Vec::new(),
        }
    }

    /// `d[key] = value`.
    pub fn insert(&mut self, key: &str, value: Py) {
        let idx = self.table.insert(key);
        if idx < self.values.len() {
            self.values[idx].1 = value;
        } else {
            self.values.push((key.to_string(), value));
        }
    }

    /// `d.pop(key)`.
    pub fn remove(&mut self, key: &str) -> Option<Py> {
        let idx = self.table.remove(key)?;
        self.values
            .get_mut(idx)
            .map(|slot| std::mem::replace(&mut slot.1, Py::None))
    }

    /// `d.get(key)`.
    pub fn get(&self, key: &str) -> Option<&Py> {
        let hash = py_hash(key) as u64;
        let (pos, found) = self.table.lookup(key, hash);
        match (found, self.table.slots[pos]) {
            (true, Slot::Used(idx)) => self.values.get(idx).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Entries in iteration order.
    pub fn entries(&self) -> Vec<(String, Py)> {
        self.table
            .order()
            .into_iter()
            .filter_map(|i| self.values.get(i).cloned())
            .collect()
    }

    /// The dict as a value.
    pub fn finish(self) -> Py {
        Py::Dict(self.entries())
    }

    /// `copy.deepcopy`: a fresh dict filled in this one's iteration order.
    pub fn deepcopy(&self) -> DictBuilder {
        let mut d = DictBuilder::new();
        for (k, v) in self.entries() {
            d.insert(&k, v.deepcopy());
        }
        d
    }
}

impl Default for DictBuilder {
    fn default() -> Self {
        DictBuilder::new()
    }
}

/// Fills a fresh `{}` with `entries` in the given order (duplicate keys keep the first
/// position and the last value).
pub fn fill(entries: Vec<(String, Py)>) -> DictBuilder {
    let mut d = DictBuilder::new();
    for (k, v) in entries {
        d.insert(&k, v);
    }
    d
}

/// [`fill`], returned in iteration order.
pub fn reinsert(entries: Vec<(String, Py)>) -> Vec<(String, Py)> {
    fill(entries).entries()
}

/// `json.dumps(v)` with Python 2.7's defaults (`", "`/`": "`, `ensure_ascii`).
pub fn dumps(v: &Py) -> String {
    let mut out = String::new();
    dump_into(v, &mut out);
    out
}

fn dump_into(v: &Py, out: &mut String) {
    match v {
        Py::None => out.push_str("null"),
        Py::Bool(true) => out.push_str("true"),
        Py::Bool(false) => out.push_str("false"),
        Py::Int(n) => out.push_str(&n.to_string()),
        Py::Float(f) => {
            if f.is_nan() {
                out.push_str("NaN");
            } else if f.is_infinite() {
                out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                out.push_str(&py_float_repr(*f));
            }
        }
        Py::Str(s) => json_str(s, out),
        Py::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_into(x, out);
            }
            out.push(']');
        }
        Py::Dict(d) => {
            out.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_str(k, out);
                out.push_str(": ");
                dump_into(x, out);
            }
            out.push('}');
        }
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Digits and decimal exponent of the shortest round-trip (or `prec`-digit) form.
fn float_digits(f: f64, prec: Option<usize>) -> (bool, String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let mut digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (f.is_sign_negative(), digits, exp.parse().unwrap_or(0))
}

/// Python's float formatting: scientific when the exponent is below -4 or at least
/// `sci_from`; `.0` added to bare integers.
fn py_float_format(f: f64, prec: Option<usize>, sci_from: i32) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (neg, digits, exp) = float_digits(f, prec);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= sci_from {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// `repr(float)` (also what `json.dumps` writes).
pub fn py_float_repr(f: f64) -> String {
    py_float_format(f, None, 16)
}

/// `str(float)`: 12 significant digits.
pub fn py_float_str(f: f64) -> String {
    py_float_format(f, Some(12), 11)
}

/// Python 2's `str(value)` (glanceclient's `to_str` for non-string property values).
pub fn py_str(v: &Py) -> String {
    match v {
        Py::Str(s) => s.clone(),
        Py::Int(n) => n.to_string(),
        Py::Float(f) => py_float_str(*f),
        other => py_repr(other),
    }
}

/// Python 2's `repr(value)` (`u'…'` strings, `L` longs).
pub fn py_repr(v: &Py) -> String {
    match v {
        Py::None => "None".into(),
        Py::Bool(true) => "True".into(),
        Py::Bool(false) => "False".into(),
        Py::Int(n) => {
            if i64::try_from(*n).is_ok() {
                n.to_string()
            } else {
                format!("{n}L")
            }
        }
        Py::Float(f) => py_float_repr(*f),
        Py::Str(s) => unicode_repr(s),
        Py::List(l) => {
            let items: Vec<String> = l.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Py::Dict(d) => {
            let items: Vec<String> = d
                .iter()
                .map(|(k, x)| format!("{}: {}", unicode_repr(k), py_repr(x)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

fn unicode_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from("u");
    out.push(quote);
    for c in s.chars() {
        let n = u32::from(c);
        if c == quote || c == '\\' {
            out.push('\\');
            out.push(c);
        } else if c == '\t' {
            out.push_str("\\t");
        } else if c == '\n' {
            out.push_str("\\n");
        } else if c == '\r' {
            out.push_str("\\r");
        } else if !(0x20..0x7f).contains(&n) {
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else if n < 0x10000 {
                out.push_str(&format!("\\u{n:04x}"));
            } else {
                out.push_str(&format!("\\U{n:08x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(keys: &[&str], literal: usize, extra: &[&str]) -> Vec<String> {
        let mut d = DictBuilder::literal(literal);
        for k in keys.iter().chain(extra) {
            d.insert(k, Py::None);
        }
        match d.finish() {
            Py::Dict(e) => e.into_iter().map(|(k, _)| k).collect(),
            _ => unreachable!(),
        }
    }

    const VIEW: [&str; 10] = [
        "id", "name", "minRam", "minDisk", "metadata", "created", "updated", "status", "progress",
        "links",
    ];

    #[test]
    fn hash_matches_cpython_27() {
        // Values printed by CPython 2.7.18 (64-bit, UCS-4).
        assert_eq!(py_hash("id"), 13440080745121181);
        assert_eq!(py_hash("status"), -5721376809469579840);
        assert_eq!(py_hash(""), 0);
        assert_eq!(py_hash("caf\u{e9}"), 5473382298129946391);
        assert_eq!(py_hash("\u{1F600}x"), -1997109378905513350);
    }

    #[test]
    fn view_key_orders_match_cpython_27() {
        let j = |v: Vec<String>| v.join(", ");
        assert_eq!(
            j(order(&VIEW, 10, &["server", "OS-EXT-IMG-SIZE:size", "OS-DCF:diskConfig"])),
            "status, updated, links, OS-DCF:diskConfig, id, OS-EXT-IMG-SIZE:size, name, created, minDisk, server, progress, minRam, metadata"
        );
        assert_eq!(
            j(order(&VIEW, 10, &["OS-EXT-IMG-SIZE:size"])),
            "status, updated, links, id, OS-EXT-IMG-SIZE:size, name, created, minDisk, progress, minRam, metadata"
        );
        assert_eq!(
            j(order(&VIEW, 10, &["OS-EXT-IMG-SIZE:size", "OS-DCF:diskConfig"])),
            "status, updated, links, OS-DCF:diskConfig, id, OS-EXT-IMG-SIZE:size, name, created, minDisk, progress, minRam, metadata"
        );
        assert_eq!(
            j(order(&VIEW, 10, &[])),
            "status, updated, name, links, created, progress, minRam, minDisk, id, metadata"
        );
        assert_eq!(j(order(&["rel", "href"], 2, &[])), "href, rel");
        assert_eq!(
            j(order(&["rel", "type", "href"], 3, &[])),
            "href, type, rel"
        );
        assert_eq!(j(order(&["code", "message"], 2, &[])), "message, code");
        assert_eq!(
            j(order(&["id", "name", "links"], 3, &[])),
            "id, links, name"
        );
        assert_eq!(
            j(order(&["images"], 1, &["images_links"])),
            "images, images_links"
        );
    }

    #[test]
    fn floats_and_reprs_match_python_2() {
        assert_eq!(py_float_str(1e12), "1e+12");
        assert_eq!(py_float_str(123456789012.0), "1.23456789012e+11");
        assert_eq!(py_float_str(99999999999.0), "99999999999.0");
        assert_eq!(py_float_str(1.0 / 3.0), "0.333333333333");
        assert_eq!(py_float_str(1e-5), "1e-05");
        assert_eq!(py_float_str(-0.0), "-0.0");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(1e15), "1000000000000000.0");
        assert_eq!(py_float_repr(0.0001), "0.0001");
        assert_eq!(py_float_repr(1.5e300), "1.5e+300");
        assert_eq!(py_float_repr(2.0), "2.0");
        let v = Py::List(vec![
            Py::Str("a".into()),
            Py::Int(1),
            Py::Int(1 << 63),
            Py::Bool(true),
            Py::None,
            Py::Float(1.5),
            Py::Dict(vec![("x".into(), Py::Str("it's".into()))]),
        ]);
        assert_eq!(
            py_str(&v),
            r#"[u'a', 1, 9223372036854775808L, True, None, 1.5, {u'x': u"it's"}]"#
        );
        assert_eq!(
            unicode_repr("caf\u{e9}\n\t\\ \"q\" \u{7f} \u{1F600}"),
            r#"u'caf\xe9\n\t\\ "q" \x7f \U0001f600'"#
        );
        let d = Py::from_json(
            &serde_json::json!({"a": 1e16, "b": 1e-5, "c": 2.0, "d": "\u{7f}\u{e9}"}),
        );
        assert_eq!(
            dumps(&d),
            r#"{"a": 1e+16, "c": 2.0, "b": 1e-05, "d": "\u007f\u00e9"}"#
        );
    }

    #[test]
    fn paths_split_into_api_tenant_and_tail() {
        let (api, t, tail) = split_path("/v2/820712/images/abc/metadata").unwrap();
        assert_eq!(
            (api, t.as_deref(), tail),
            (
                Api::V2,
                Some("820712"),
                vec!["abc".to_string(), "metadata".to_string()]
            )
        );
        let (api, t, tail) = split_path("/v2.1/images/detail.json").unwrap();
        assert_eq!((api, t, tail), (Api::V21, None, vec!["detail".to_string()]));
        assert!(split_path("/v2/images").is_none());
        assert!(split_path("/v1/images").is_none());
        assert!(split_path("/v2.1").is_none());
        assert!(split_path("/v20/t/images").is_none());
        assert_eq!(
            os_path_join(&["http://h/v2.1", "", "images", "x"]),
            "http://h/v2.1/images/x"
        );
        assert_eq!(
            os_path_join(&["http://h/v2", "t", "servers", ""]),
            "http://h/v2/t/servers/"
        );
        assert_eq!(strip_tags("<h1>400 Bad Request</h1>"), "400 Bad Request");
        assert_eq!(strip_tags("a <> b"), "a <> b");
    }
}
