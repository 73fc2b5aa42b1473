//! The `/_emu/` HTTP API: token and loopback checks, the endpoint table, JSON in and out.

use super::controller::{ControlError, ControlErrorKind, Controller, ResetTo};
use super::state::{Control, MAX_BODY, TOKEN_HEADER};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::body::Body;
use crate::app::{query_params, read_limited, unquote, App, RespFuture};
use crate::control::faults::FaultRule;
use crate::control::journal::JournalFilter;
use crate::model::Timestamp;

// ---------------------------------------------------------------------------------------
// HTTP: /_emu/...
// ---------------------------------------------------------------------------------------

pub(crate) fn json_resp(status: StatusCode, v: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string());
    crate::app::json_response(status, body)
}

pub(crate) fn err_resp(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    json_resp(status, &json!({ "error": msg.into() }))
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = err_resp(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here (allowed: {allow})"),
    );
    r.headers_mut()
        .append(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The answer of the control-only listener to anything outside `/_emu/`.
pub(crate) fn not_control() -> RespFuture {
    RespFuture::Ready(Some(err_resp(
        StatusCode::NOT_FOUND,
        "this listener serves only the control API under /_emu/",
    )))
}

pub(crate) fn token_ok(expected: &str, given: Option<&HeaderValue>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    // Length may leak; content does not.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) fn query_flag(query: Option<&str>, key: &str) -> bool {
    query_params(query)
        .iter()
        .any(|(k, v)| k == key && matches!(v.as_str(), "" | "1" | "true" | "yes"))
}

pub(crate) fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    query_params(query)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, ControlError>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    match read_limited(body, MAX_BODY).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => Err(ControlError::invalid(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

/// Runs a control call that reads files (an export with `inline_files`) on tokio's
/// blocking pool, so no async worker thread waits on the disk.
async fn off_worker<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ControlError> + Send + 'static,
) -> Result<T, ControlError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(ControlError::new(
            ControlErrorKind::Internal,
            format!("the export task failed: {e}"),
        ))
    })
}

/// Parses a JSON body; an empty body is `{}`.
pub(crate) fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ControlError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ControlError::invalid(format!("invalid JSON body: {e}")))
}

pub(crate) fn from_result<T: Serialize>(
    r: Result<T, ControlError>,
    ok: StatusCode,
) -> Response<Body> {
    match r {
        Ok(v) => json_resp(ok, &v),
        Err(e) => err_resp(e.status(), e.message),
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"a JSON object like {"to": "fixtures", "all": false}"#
)]
pub(crate) struct ResetBody {
    #[serde(default)]
    to: ResetTo,
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"a JSON object like {"time": "2016-05-22T06:04:20.425843", "mode": "frozen", "step_us": 0}"#
)]
pub(crate) struct ClockBody {
    time: String,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    step_us: i64,
}

pub(crate) fn default_mode() -> String {
    "frozen".to_string()
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"a JSON object like {"seconds": 1.5} or {"us": 1500000}"#
)]
pub(crate) struct AdvanceBody {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    us: Option<i64>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"a JSON object like {"seed": 42} or {"image_ids": ["<id>", ...]}"#
)]
pub(crate) struct IdsBody {
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    image_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = r#"a JSON object like {"cap": 1000}"#)]
pub(crate) struct CapBody {
    cap: usize,
}

pub(crate) const ENDPOINTS: &[&str] = &[
    "GET /_emu/",
    "GET /_emu/images[?inline_files=true]",
    "POST /_emu/images[?base=DIR]",
    "GET /_emu/images/{id}",
    "DELETE /_emu/images/{id}",
    "POST /_emu/reset",
    "GET|PUT|DELETE /_emu/clock",
    "POST /_emu/clock/advance",
    "GET|PUT|DELETE /_emu/ids",
    "GET|PUT|DELETE /_emu/journal",
    "GET|POST|DELETE /_emu/faults",
    "GET|DELETE /_emu/faults/{id}",
];

/// Answers a `/_emu/...` request (the caller has checked that the control API is on and the
/// peer may use it).
pub(crate) fn handle<B>(app: &Arc<App>, control: &Control, req: Request<B>) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    if let Some(token) = &app.config.control.token {
        if !token_ok(token, req.headers().get(TOKEN_HEADER)) {
            return RespFuture::Ready(Some(err_resp(
                StatusCode::UNAUTHORIZED,
                "missing or wrong X-Emu-Token",
            )));
        }
    }
    let ctl = Controller::new(Arc::clone(app), control.clone());
    RespFuture::Boxed(Box::pin(async move { dispatch(ctl, req).await }))
}

pub(crate) async fn dispatch<B>(ctl: Controller, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let app = Arc::clone(ctl.app());
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_string);
    let q = query.as_deref();
    let path = parts.uri.path().to_string();
    let rest = path.trim_start_matches("/_emu").trim_start_matches('/');
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| unquote(s).into_owned())
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = parts.method.clone();
    macro_rules! body {
        ($t:ty) => {
            match read_body(body).await.and_then(|b| parse_json::<$t>(&b)) {
                Ok(v) => v,
                Err(e) => return err_resp(e.status(), e.message),
            }
        };
    }
    match (segs.as_slice(), &m) {
        ([], &Method::GET) => json_resp(
            StatusCode::OK,
            &json!({
                "name": "glance-emu control API",
                "version": env!("CARGO_PKG_VERSION"),
                "endpoints": ENDPOINTS,
                "docs": "docs/testing.md",
            }),
        ),
        ([], _) => method_not_allowed("GET"),

        (["images"], &Method::GET) => {
            let inline = query_flag(q, "inline_files");
            let c = ctl.clone();
            match off_worker(move || c.export_json(inline)).await {
                Ok(text) => crate::app::json_response(StatusCode::OK, text),
                Err(e) => err_resp(e.status(), e.message),
            }
        }
        (["images"], &Method::POST) => {
            let bytes = match read_body(body).await {
                Ok(b) => b,
                Err(e) => return err_resp(e.status(), e.message),
            };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return err_resp(StatusCode::BAD_REQUEST, "the body is not UTF-8");
            };
            let base = query_value(q, "base").map(PathBuf::from);
            from_result(ctl.load_json(text, base.as_deref()).await, StatusCode::OK)
        }
        (["images"], _) => method_not_allowed("GET, POST"),
        (["images", id], &Method::GET) => {
            let (inline, id) = (query_flag(q, "inline_files"), id.to_string());
            let c = ctl.clone();
            from_result(
                off_worker(move || c.export_image(&id, inline)).await,
                StatusCode::OK,
            )
        }
        (["images", id], &Method::DELETE) => match ctl.remove_image(id).await {
            Ok(true) => json_resp(StatusCode::OK, &json!({ "removed": id })),
            Ok(false) => err_resp(StatusCode::NOT_FOUND, format!("no image with id '{id}'")),
            Err(e) => err_resp(e.status(), e.message),
        },
        (["images", _], _) => method_not_allowed("GET, DELETE"),

        (["reset"], &Method::POST) => {
            let b = body!(ResetBody);
            let r = if b.all {
                ctl.reset_all(b.to).await
            } else {
                ctl.reset(b.to).await
            };
            from_result(
                r.map(|n| json!({ "images": n, "to": b.to, "all": b.all })),
                StatusCode::OK,
            )
        }
        (["reset"], _) => method_not_allowed("POST"),

        (["clock"], &Method::GET) => json_resp(StatusCode::OK, &ctl.clock()),
        (["clock"], &Method::PUT) => {
            let b = body!(ClockBody);
            let Some(t) = Timestamp::parse(&b.time) else {
                return err_resp(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "time: invalid timestamp '{}' (expected e.g. 2016-05-22T06:04:20.425843)",
                        b.time
                    ),
                );
            };
            match b.mode.as_str() {
                "frozen" => ctl.freeze_clock(t, b.step_us),
                "running" if b.step_us == 0 => ctl.set_clock(t),
                "running" => {
                    return err_resp(StatusCode::BAD_REQUEST, "step_us needs mode 'frozen'")
                }
                other => {
                    return err_resp(
                        StatusCode::BAD_REQUEST,
                        format!("mode: expected 'frozen' or 'running', got '{other}'"),
                    )
                }
            }
            json_resp(StatusCode::OK, &ctl.clock())
        }
        (["clock"], &Method::DELETE) => {
            ctl.real_clock();
            json_resp(StatusCode::OK, &ctl.clock())
        }
        (["clock"], _) => method_not_allowed("GET, PUT, DELETE"),
        (["clock", "advance"], &Method::POST) => {
            let b = body!(AdvanceBody);
            let us = match (b.seconds, b.us) {
                (Some(s), None) if s.is_finite() => (s * 1e6).round() as i64,
                (None, Some(us)) => us,
                _ => {
                    return err_resp(
                        StatusCode::BAD_REQUEST,
                        "give exactly one of \"seconds\" or \"us\"",
                    )
                }
            };
            app.clock.advance(us);
            json_resp(StatusCode::OK, &ctl.clock())
        }
        (["clock", "advance"], _) => method_not_allowed("POST"),

        (["ids"], &Method::GET) => json_resp(StatusCode::OK, &ctl.ids()),
        (["ids"], &Method::PUT) => {
            let b = body!(IdsBody);
            if b.seed.is_none() && b.image_ids.is_none() {
                return err_resp(
                    StatusCode::BAD_REQUEST,
                    "give \"seed\", \"image_ids\" or both",
                );
            }
            if let Some(ids) = b.image_ids {
                if let Err(e) = ctl.queue_image_ids(ids) {
                    return err_resp(e.status(), e.message);
                }
            }
            if let Some(seed) = b.seed {
                ctl.seed_ids(seed);
            }
            json_resp(StatusCode::OK, &ctl.ids())
        }
        (["ids"], &Method::DELETE) => {
            ctl.random_ids();
            json_resp(StatusCode::OK, &ctl.ids())
        }
        (["ids"], _) => method_not_allowed("GET, PUT, DELETE"),

        (["journal"], &Method::GET) => match JournalFilter::from_query(q) {
            // Serialised from the shared entries: no copy of the journal on the way out.
            Ok(f) => json_resp(StatusCode::OK, &ctl.journal_shared(&f)),
            Err(e) => err_resp(StatusCode::BAD_REQUEST, e),
        },
        (["journal"], &Method::DELETE) => {
            ctl.clear_journal();
            json_resp(StatusCode::OK, &json!({ "cleared": true }))
        }
        (["journal"], &Method::PUT) => {
            let b = body!(CapBody);
            from_result(
                ctl.set_journal_cap(b.cap).map(|()| json!({ "cap": b.cap })),
                StatusCode::OK,
            )
        }
        (["journal"], _) => method_not_allowed("GET, PUT, DELETE"),

        (["faults"], &Method::GET) => json_resp(StatusCode::OK, &json!({ "faults": ctl.faults() })),
        (["faults"], &Method::POST) => {
            let v = body!(Value);
            let rule = match FaultRule::from_json(v) {
                Ok(r) => r,
                Err(e) => return err_resp(StatusCode::BAD_REQUEST, e),
            };
            match ctl.add_fault(rule) {
                Ok(id) => {
                    let info = ctl.control().faults().get(&id);
                    json_resp(StatusCode::CREATED, &info)
                }
                Err(e) => err_resp(e.status(), e.message),
            }
        }
        (["faults"], &Method::DELETE) => {
            let n = ctl.faults().len();
            ctl.clear_faults();
            json_resp(StatusCode::OK, &json!({ "removed": n }))
        }
        (["faults"], _) => method_not_allowed("GET, POST, DELETE"),
        (["faults", id], &Method::GET) => match ctl.control().faults().get(id) {
            Some(info) => json_resp(StatusCode::OK, &info),
            None => err_resp(StatusCode::NOT_FOUND, format!("no fault rule '{id}'")),
        },
        (["faults", id], &Method::DELETE) => {
            if ctl.remove_fault(id) {
                json_resp(StatusCode::OK, &json!({ "removed": id }))
            } else {
                err_resp(StatusCode::NOT_FOUND, format!("no fault rule '{id}'"))
            }
        }
        (["faults", _], _) => method_not_allowed("GET, DELETE"),

        _ => err_resp(
            StatusCode::NOT_FOUND,
            format!("no control endpoint {} {path}", parts.method),
        ),
    }
}
