//! The hook around every Glance and compute request: the journal entry, the fault rules, and
//! `Date` from the emulator's clock.

use super::state::Control;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};

use crate::app::body::{Body, Shape};
use crate::app::{finish, App, ConnInfo, Ctx, RespFuture};
use crate::clock::Clock;
use crate::control::faults::{Action, Fired};
use crate::control::journal::{redacted_headers, JournalEntry};
use crate::render::webob::{ApiError, BodyKind};

// ---------------------------------------------------------------------------------------
// The hook around every Glance request: journal, faults, Date from the emulator's clock
// ---------------------------------------------------------------------------------------

/// A journal entry waiting for its outcome; recorded with a null status if dropped first
/// (the client went away, or the connection was reset).
pub(crate) struct Pending {
    state: Control,
    entry: Option<JournalEntry>,
    start: Instant,
}

impl Pending {
    fn done(mut self, status: Option<u16>) {
        self.record(status);
    }

    fn record(&mut self, status: Option<u16>) {
        if let Some(mut e) = self.entry.take() {
            e.status = status;
            e.elapsed_ms = (self.start.elapsed().as_micros() as f64) / 1000.0;
            self.state.journal().record(e);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.record(None);
    }
}

/// With a set clock, writes `Date` from it (hyper would write the host's time).
pub(crate) fn stamp_date(clock: &Clock, mut resp: Response<Body>) -> Response<Body> {
    if !clock.is_real() && !resp.headers().contains_key(header::DATE) {
        if let Ok(v) = HeaderValue::from_str(&clock.peek().http_date()) {
            resp.headers_mut().append(header::DATE, v);
        }
    }
    resp
}

pub(crate) fn then<F>(fut: RespFuture, f: F) -> RespFuture
where
    F: FnOnce(Response<Body>) -> Response<Body> + Send + 'static,
{
    match fut {
        RespFuture::Ready(Some(r)) => RespFuture::Ready(Some(f(r))),
        other => RespFuture::Fallible(Box::pin(async move { other.await.map(f) })),
    }
}

/// Glance's error page for an injected status, as the handler would have raised it.
pub(crate) fn status_response(
    app: &App,
    method: &Method,
    headers: &http::HeaderMap,
    status: u16,
    message: Option<String>,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let ctx = Ctx {
        method: method.clone(),
        accept: BodyKind::from_headers(headers),
        request_id: app.request_id_for(headers),
        caller: Default::default(),
        host_url: crate::app::host_url(headers),
    };
    let err = match message {
        Some(m) => ApiError::explained(status, m),
        None => ApiError::new(status),
    };
    finish(&ctx, Err(err))
}

pub(crate) fn content_length(resp: &Response<Body>) -> u64 {
    crate::app::content_length(resp.headers())
        .or_else(|| http_body::Body::size_hint(resp.body()).exact())
        .unwrap_or(0)
}

/// Applies a body-level fault to a finished response.
pub(crate) fn reshape(resp: Response<Body>, action: &Action, is_head: bool) -> Response<Body> {
    let len = content_length(&resp);
    let (mut parts, body) = resp.into_parts();
    let empty = http_body::Body::size_hint(&body).exact() == Some(0);
    let body = match *action {
        Action::CloseAfterHeaders if is_head || empty => {
            // Nothing to cut: hyper sends no body, so ask it to close instead.
            parts
                .headers
                .append(header::CONNECTION, HeaderValue::from_static("close"));
            body
        }
        Action::CloseAfterHeaders => body.shaped(Shape::Close),
        Action::Truncate { bytes, keep_length } if !is_head => {
            let n = bytes.unwrap_or(len / 2).min(len);
            if !keep_length {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            body.shaped(Shape::Truncate {
                bytes: n,
                then_close: keep_length,
            })
        }
        Action::SlowBody {
            chunk_bytes,
            interval_ms,
        } if !is_head => body.shaped(Shape::Slow {
            chunk: usize::try_from(chunk_bytes).unwrap_or(usize::MAX),
            interval: Duration::from_millis(interval_ms),
        }),
        _ => body,
    };
    Response::from_parts(parts, body)
}

/// The hook around a Glance request when the journal, a fault rule or a set clock needs
/// it. `route` is the normal routing (compute, then Glance).
pub(crate) fn intercept<B>(
    app: &Arc<App>,
    control: &Control,
    conn: Option<&Arc<ConnInfo>>,
    req: Request<B>,
    route: fn(&Arc<App>, Request<B>) -> RespFuture,
) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    if req.uri().path() == "/healthcheck" {
        // Readiness probes are neither journaled nor broken.
        let stamp = Arc::clone(app);
        return then(route(app, req), move |r| stamp_date(&stamp.clock, r));
    }
    let journal_on = control.journal().enabled();
    let tenant = if journal_on || control.faults().needs_tenant() {
        app.caller_for(req.headers()).ok().and_then(|c| c.tenant)
    } else {
        None
    };
    let fired: Option<Fired> = control.faults().pick(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
        tenant.as_deref(),
    );
    let pending = journal_on.then(|| Pending {
        state: control.clone(),
        entry: Some(JournalEntry {
            seq: 0,
            time: app.clock.peek().glance(),
            method: req.method().as_str().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            headers: redacted_headers(req.headers()),
            peer: conn.and_then(|c| c.peer()).map(|p| p.to_string()),
            tenant,
            status: None,
            fault: fired.as_ref().map(|f| f.id.clone()),
            action: fired.as_ref().map(|f| f.action.name().to_string()),
            elapsed_ms: 0.0,
            truncated: false,
        }),
        start: Instant::now(),
    });
    let finish_with = move |app: Arc<App>, pending: Option<Pending>| {
        move |r: Response<Body>| {
            let r = stamp_date(&app.clock, r);
            if let Some(p) = pending {
                p.done(Some(r.status().as_u16()));
            }
            r
        }
    };
    let Some(fired) = fired else {
        return then(route(app, req), finish_with(Arc::clone(app), pending));
    };
    let delay = Duration::from_millis(fired.delay_ms);
    match fired.action {
        Action::Status { status, message } => {
            let resp = status_response(app, req.method(), req.headers(), status, message);
            let f = finish_with(Arc::clone(app), pending);
            if delay.is_zero() {
                RespFuture::Ready(Some(f(resp)))
            } else {
                RespFuture::Boxed(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    f(resp)
                }))
            }
        }
        Action::Reset => {
            let conn = conn.cloned();
            RespFuture::Fallible(Box::pin(async move {
                tokio::time::sleep(delay).await;
                if let Some(c) = conn {
                    c.request_reset();
                }
                if let Some(p) = pending {
                    p.done(None);
                }
                Err(crate::app::Abort("fault injection: connection reset"))
            }))
        }
        action => {
            let is_head = req.method() == Method::HEAD;
            let fut = if delay.is_zero() {
                route(app, req)
            } else {
                let app = Arc::clone(app);
                RespFuture::Fallible(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    route(&app, req).await
                }))
            };
            let f = finish_with(Arc::clone(app), pending);
            then(fut, move |r| f(reshape(r, &action, is_head)))
        }
    }
}
