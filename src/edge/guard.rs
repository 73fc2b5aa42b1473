//! No panic reaches a connection: [`CatchPanic`] runs a handler's future (and [`catch`] a
//! synchronous step) so that a panic inside becomes a value the edge can answer with a
//! 500, log, and count, instead of unwinding through hyper and dropping the connection
//! unanswered. [`Guarded`] is the hyper service's future: the handler's, or Glance's 500
//! page (WebOb's `HTTPInternalServerError`, by the request's method and `Accept`) when it
//! panicked. A panic is still a bug: [`panics_caught`] lets tests assert there were none.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Response, StatusCode};

use crate::app::body::Body;
use crate::app::{error_response, Abort, App, Ctx, RespFuture};
use crate::auth::Caller;
use crate::render::webob::{ApiError, BodyKind};

/// Panics caught since start (all listeners).
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// How many handler panics were turned into 500s in this process.
pub fn panics_caught() -> u64 {
    CAUGHT.load(Ordering::Relaxed)
}

/// The panic's message (`&str` or `String` payloads; anything else is named as such).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

fn caught(payload: Box<dyn Any + Send>, what: &str) -> String {
    CAUGHT.fetch_add(1, Ordering::Relaxed);
    let msg = message(&*payload);
    tracing::error!("bug: {what} panicked: {msg} (answered 500)");
    msg
}

/// Runs `f`, turning a panic into `Err(message)` (logged as a bug).
pub fn catch<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| caught(p, what))
}

/// A future that resolves to `Err(message)` instead of unwinding when the inner future
/// panics. The inner future is dropped at the panic and never polled again. Shared state
/// touched by a panicking handler is behind `std` locks, which poison (and the store's
/// readers recover from poisoning), so continuing after the panic is safe.
pub struct CatchPanic<F> {
    inner: Option<F>,
}

impl<F: Future + Unpin> CatchPanic<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        CatchPanic { inner: Some(f) }
    }
}

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(Err("polled after a panic".to_string()));
        };
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                self.inner = None;
                Poll::Ready(Ok(v))
            }
            Err(p) => {
                self.inner = None;
                Poll::Ready(Err(caught(p, "request handler")))
            }
        }
    }
}

/// What a panicking request is answered with: Glance's 500 page for its method and
/// `Accept`.
#[derive(Debug)]
struct Fallback {
    app: Arc<App>,
    method: Method,
    accept: BodyKind,
}

impl Fallback {
    fn response(&self) -> Response<Body> {
        let ctx = Ctx {
            method: self.method.clone(),
            accept: self.accept,
            request_id: self.app.new_request_id(),
            caller: Caller::default(),
            host_url: String::new(),
        };
        error_response(&ctx, ApiError::new(StatusCode::INTERNAL_SERVER_ERROR))
    }
}

/// The hyper service's future: the handler's answer, or a 500 if the handler panicked
/// (while being called or while running).
pub struct Guarded {
    inner: Result<CatchPanic<RespFuture>, ()>,
    fallback: Option<Fallback>,
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Guarded")
    }
}

impl Guarded {
    /// Calls `call` (the dispatch) under the guard. `method` and `accept` are the request's,
    /// read before the request moved into the handler.
    pub fn call(
        app: &Arc<App>,
        method: Method,
        accept: BodyKind,
        call: impl FnOnce() -> RespFuture,
    ) -> Self {
        Guarded {
            inner: catch("request dispatch", call)
                .map(CatchPanic::new)
                .map_err(|_| ()),
            fallback: Some(Fallback {
                app: Arc::clone(app),
                method,
                accept,
            }),
        }
    }
}

impl Guarded {
    /// An answer decided before dispatch.
    pub fn ready(resp: Response<Body>) -> Self {
        Guarded {
            inner: Ok(CatchPanic::new(RespFuture::Ready(Some(resp)))),
            fallback: None,
        }
    }
}

impl Future for Guarded {
    type Output = Result<Response<Body>, Abort>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let fallback = |f: &Option<Fallback>| match f {
            Some(f) => f.response(),
            None => Response::new(Body::empty()),
        };
        match &mut this.inner {
            Err(()) => Poll::Ready(Ok(fallback(&this.fallback))),
            Ok(f) => match Pin::new(f).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Ok(fallback(&this.fallback))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: A handler future that panics becomes an error (a 500), counted in panics_caught.
    #[tokio::test]
    async fn a_panicking_future_becomes_an_error() {
        let before = panics_caught();
        let r = CatchPanic::new(Box::pin(async {
            tokio::task::yield_now().await;
            if before < u64::MAX {
                panic!("boom {}", 7);
            }
            1
        }))
        .await;
        assert_eq!(r, Err("boom 7".to_string()));
        assert!(panics_caught() > before);
        assert_eq!(CatchPanic::new(Box::pin(async { 5 })).await, Ok(5));
    }

    // Rule: A panicking synchronous step becomes an error carrying the panic message.
    #[test]
    fn a_panicking_step_becomes_an_error() {
        assert_eq!(catch("step", || 3), Ok(3));
        let r: Result<(), String> = catch("step", || panic!("static"));
        assert_eq!(r, Err("static".to_string()));
    }
}
