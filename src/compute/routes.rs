//! The Nova routing table: path shapes (`/v2/{tenant}`, `/v2.1[/{tenant}]`), method to
//! action, microversion negotiation, request bodies, and the dispatch to the handlers.

use super::faults::{finish, too_large, Fault, Out, COMPUTE_REQUEST_ID};
use super::images::{delete_image, list, show};
use super::metadata::{
    meta_create, meta_delete, meta_index, meta_show, meta_update, meta_update_all,
};
use super::request::{Api, Rq, MAX_REQUEST_BODY, MAX_VERSION, MIN_VERSION};
use crate::render::python::value::Py;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request, Response};
use serde_json::Value;

use crate::app::body::Body;
use crate::app::{content_length, read_limited, App, BodyError, RespFuture};
use crate::render::webob::BodyKind;

// =========================================================================================
// Routing
// =========================================================================================

/// The controller action a request maps to.
#[derive(Debug)]
pub(crate) enum Action {
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

/// Splits a compute path into API, tenant and the segments after `images`, or `None` when the
/// path is not a compute image path (left to the Glance v1 router).
pub(crate) fn split_path(raw: &str) -> Option<(Api, Option<String>, Vec<String>)> {
    let (api, rest) = if let Some(r) = raw.strip_prefix("/v2.1") {
        (Api::V21, r)
    } else if let Some(r) = raw.strip_prefix("/v2") {
        (Api::V2, r)
    } else {
        return None;
    };
    let rest = rest.strip_prefix('/')?;
    // eventlet unquoted PATH_INFO before routes split it.
    let decoded = crate::app::unquote(rest).into_owned();
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

pub(crate) fn resolve(method: &Method, tail: &[String]) -> Action {
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
    let caller = app.caller_for(req.headers()).ok();
    let mut rq = Rq {
        api,
        tenant,
        host_url: crate::app::host_url(req.headers()),
        request_id: app.new_request_id(),
        caller: caller.clone().unwrap_or_default(),
        method: req.method().clone(),
        accept: BodyKind::from_headers(req.headers()),
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

pub(crate) fn ready(resp: Response<Body>) -> RespFuture {
    RespFuture::Ready(Some(resp))
}

/// Kilo's `set_api_version_request`: the version to echo, or the fault (and whether the bad
/// version is still echoed, as it was for out-of-range versions).
pub(crate) fn microversion(h: &HeaderMap) -> Result<String, (Fault, Option<String>)> {
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

pub(crate) async fn dispatch<B>(
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
pub(crate) fn request_content_type(h: &HeaderMap) -> Result<Option<String>, ()> {
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

pub(crate) async fn read_body<B>(body: B) -> Result<Bytes, Fault>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    match read_limited(body, MAX_REQUEST_BODY as usize).await {
        Ok(bytes) => Ok(bytes),
        Err(BodyError::TooLarge) => Err(too_large()),
        Err(BodyError::Broken(_)) => Err(Fault::new(400, "Malformed request body")),
    }
}

/// `_process_stack`'s body handling: `Some(Py::None)` for `Content-Length: 0`.
pub(crate) fn deserialize(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::faults::strip_tags;
    use crate::compute::views::os_path_join;

    // Rule: Compute paths split into API tree, tenant and the segments after `images`; other paths are left to v1.
    #[test]
    pub(crate) fn paths_split_into_api_tenant_and_tail() {
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
