//! The v1 routing table (`glance/api/v1/router.py` with the version negotiation in front):
//! method + path to a handler, handler result to the final response.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::app::body::Body;
use crate::app::{error_response, finish, finish_owned, host_url, App, Ctx, RespFuture};
use crate::render::webob::{ApiError, BodyKind};

/// A path segment after percent-decoding (`None` if not UTF-8); borrowed when it has no
/// escapes, which is the common case.
fn decode(seg: &str) -> Option<std::borrow::Cow<'_, str>> {
    percent_encoding::percent_decode_str(seg).decode_utf8().ok()
}

pub(crate) fn route<B>(app: &Arc<App>, req: Request<B>) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
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
    let date = app.clock.peek().http_date();
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
        // With --persist it also says whether writes can be stored (503 and the reason when
        // the state directory is gone, replaced or read-only).
        let (status, text) = match app.store.health() {
            Ok(()) => (StatusCode::OK, "OK".to_string()),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
        };
        let len = text.len();
        let mut resp = Response::new(Body::full(text));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=UTF-8"),
        );
        h.append(header::CONTENT_LENGTH, HeaderValue::from(len));
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
        [] | [""] => crate::glance::lists::index(app, &ctx, req.uri().query(), false),
        ["images"] => match *m {
            Method::GET => crate::glance::lists::index(app, &ctx, req.uri().query(), false),
            Method::POST => {
                return boxed(app, ctx, |app, ctx| {
                    crate::glance::uploads::create(app, ctx, req)
                })
            }
            _ => Err(ApiError::method_not_allowed(Some("GET, POST"))),
        },
        ["images", "detail"] => match *m {
            Method::GET => crate::glance::lists::index(app, &ctx, req.uri().query(), true),
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
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::images::show(app, ctx, id)
                    })
                }
                Method::PUT => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::uploads::update(app, ctx, id, req)
                    })
                }
                Method::DELETE => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::images::delete(app, ctx, id)
                    })
                }
                _ => Err(ApiError::method_not_allowed(Some("GET, HEAD, PUT, DELETE"))),
            }
        }
        ["images", id, "members"] if !id.is_empty() => {
            let id = decode(id).unwrap_or_default().into_owned();
            match *m {
                Method::GET => crate::glance::members::members_index(app, &ctx, &id),
                Method::PUT => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::members::members_replace(app, ctx, id, req)
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
                        crate::glance::members::member_add(app, ctx, id, member, req)
                    })
                }
                Method::DELETE => {
                    return boxed(app, ctx, move |app, ctx| {
                        crate::glance::members::member_delete(app, ctx, id, member)
                    })
                }
                Method::GET => Err(ApiError::method_not_allowed(None)),
                _ => Err(ApiError::method_not_allowed(Some("GET, PUT, DELETE"))),
            }
        }
        ["shared-images", member] if !member.is_empty() => {
            let member = decode(member).unwrap_or_default();
            crate::glance::members::shared_images(app, &ctx, &member)
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
