//! Nova's responses: the handler outcome ([`Out`]), Nova faults, and the final headers every
//! compute answer carries (request ids, microversion).

use super::request::Rq;
use crate::render::python::dict::DictBuilder;
use crate::render::python::dumps::dumps;
use crate::render::python::value::Py;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::app::Ctx;
use crate::render::webob::{title_and_explanation, ApiError};
use http_body_util::BodyExt;

// =========================================================================================
// Responses
// =========================================================================================

/// What a handler produced.
pub(crate) enum Out {
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
pub(crate) struct Fault {
    pub(crate) code: u16,
    pub(crate) message: String,
}

impl Fault {
    pub(crate) fn new(code: u16, message: impl Into<String>) -> Self {
        Fault {
            code,
            message: message.into(),
        }
    }

    /// A webob exception with its default explanation (also what `FaultWrapper` made of
    /// unexpected errors carrying a `code`).
    pub(crate) fn default_for(code: u16) -> Self {
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

    pub(crate) fn internal() -> Self {
        Fault::default_for(500)
    }

    pub(crate) fn name(&self) -> &'static str {
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
    pub(crate) fn body(&self) -> String {
        let mut inner = DictBuilder::literal(2);
        inner.insert("code", Py::Int(i128::from(self.code)));
        inner.insert("message", Py::Str(self.message.clone()));
        let mut outer = DictBuilder::literal(1);
        outer.insert(self.name(), inner.finish());
        dumps(&outer.finish())
    }
}

pub(crate) fn too_large() -> Fault {
    Fault::default_for(413)
}

pub(crate) static VERSION_HEADER: HeaderName =
    HeaderName::from_static("x-openstack-nova-api-version");
pub(crate) static COMPUTE_REQUEST_ID: HeaderName = HeaderName::from_static("x-compute-request-id");

/// Assembles the response with headers in the order WebOb, Nova's wsgi layer and the
/// request-id middleware left them (hyper appends `Date`, as eventlet did).
pub(crate) fn finish(rq: &Rq, out: Out) -> Response<Body> {
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

pub(crate) fn json_out(v: &Py) -> Out {
    Out::Json(dumps(v))
}

/// A store failure as Nova reported a failed Glance call it could not interpret: a 500 fault.
impl From<crate::store::StoreError> for Fault {
    fn from(_: crate::store::StoreError) -> Self {
        Fault::default_for(500)
    }
}

// ---------------------------------------------------------------------------------------
// Glance errors as Nova faults: the one place they are translated
// ---------------------------------------------------------------------------------------

/// Which Nova call met a Glance error (each mapped Glance's status its own way).
#[derive(Debug, Clone, Copy)]
pub(crate) enum GlanceCall<'a> {
    /// `_get_image` / `show` (a HEAD); `for_metadata`: the image-metadata controller.
    Get { id: &'a str, for_metadata: bool },
    /// `image_api.delete`.
    Delete,
    /// `image_api.get_all` (a detail page).
    List,
}

/// The Nova fault for a Glance error of status `code` met by `call`; `details` is what
/// glanceclient made of the error body (lists only).
pub(crate) fn glance_fault(call: GlanceCall<'_>, code: u16, details: Option<String>) -> Fault {
    match call {
        GlanceCall::Get { id, for_metadata } => match code {
            404 => Fault::new(404, "Image not found."),
            401 | 403 if for_metadata => Fault::new(403, format!("Not authorized for image {id}.")),
            401 | 403 => Fault::internal(),
            400 => Fault::new(400, "HTTPBadRequest (HTTP 400)"),
            other => Fault::default_for(other),
        },
        GlanceCall::Delete => match code {
            404 => Fault::new(404, "Image not found."),
            403 => Fault::new(403, "You are not allowed to delete the image."),
            other => Fault::default_for(other),
        },
        GlanceCall::List => {
            let text = format!("{} (HTTP {code})", details.unwrap_or_default());
            match code {
                400 => Fault::new(400, text),
                401 | 403 => Fault::new(403, text),
                other => Fault::default_for(other),
            }
        }
    }
}

/// What glanceclient made of a Glance error response: `str(exc)`.
pub(crate) async fn glanceclient_error(ctx: &Ctx, e: ApiError) -> (u16, String) {
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
pub(crate) fn strip_tags(line: &str) -> String {
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
