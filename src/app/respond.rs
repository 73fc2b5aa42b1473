//! Response assembly shared by every surface: the response future, the final touch every
//! Glance answer gets (request id, WebOb's reason phrase), WebOb's error rendering, and the
//! small fixed responses (JSON, WebOb's empty `Response()`, 204).
//!
//! Header order is part of the contract: handlers insert headers in Glance's order into a
//! fresh `HeaderMap`, which hyper writes in insertion order, then appends `Date`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::render::image_headers as headers;
use crate::render::webob::{ApiError, BodyKind};

use super::ctx::Ctx;

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

impl RespFuture {
    /// The same answer, passed through `f` once it is there.
    pub fn map<F>(self, f: F) -> RespFuture
    where
        F: FnOnce(Response<Body>) -> Response<Body> + Send + 'static,
    {
        match self {
            RespFuture::Ready(r) => RespFuture::Ready(r.map(f)),
            RespFuture::Boxed(b) => RespFuture::Boxed(Box::pin(async move { f(b.await) })),
            RespFuture::Fallible(b) => {
                RespFuture::Fallible(Box::pin(async move { b.await.map(f) }))
            }
        }
    }
}

/// Marks an answer after which eventlet closed the connection without saying so (image
/// data it streamed after an `Expect: 100-continue` it never answered): the answer carries
/// `Connection: close` so that hyper closes too, and the edge leaves that line off the wire
/// (`edge::eventlet`).
#[derive(Clone, Copy, Debug)]
pub struct UnannouncedClose;

/// Marks image data, which eventlet streamed (set by the image download).
#[derive(Clone, Copy, Debug)]
pub struct StreamedData;

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

/// A store failure is Glance's bare 500 (the registry's failures reached clients that way).
impl From<crate::store::StoreError> for ApiError {
    fn from(_: crate::store::StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR)
    }
}
