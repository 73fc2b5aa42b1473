//! What a request left unread, and what eventlet did about it after the answer: a handler
//! is given its request body through a [`Watched`] handle, so the router learns whether it
//! read any of it (eventlet sent `100 Continue` on the first read, and closed a connection
//! whose `Expect: 100-continue` went unanswered) and whether it read it all (eventlet read
//! and discarded the rest after answering, and kept the connection; hyper alone would close
//! it unless the rest had already arrived).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

struct State<B> {
    body: B,
    /// The handler asked for a frame (hyper then sent any `100 Continue`).
    polled: bool,
    /// The body ended (or failed): nothing is left to discard.
    done: bool,
}

/// The router's side of a request body handed to a handler as [`Watched`].
pub(crate) struct BodyWatch<B> {
    state: Arc<Mutex<State<B>>>,
}

/// The handler's side: reads the request body, recording that it did.
pub(crate) struct Watched<B> {
    state: Arc<Mutex<State<B>>>,
}

impl<B: HttpBody> BodyWatch<B> {
    /// Watches `body`; the [`Watched`] handle is what the handler reads.
    pub(crate) fn new(body: B) -> (Self, Watched<B>) {
        let done = body.is_end_stream();
        let state = Arc::new(Mutex::new(State {
            body,
            polled: false,
            done,
        }));
        (
            BodyWatch {
                state: Arc::clone(&state),
            },
            Watched { state },
        )
    }

    /// Whether the handler read (asked for) any of the body.
    pub(crate) fn polled(&self) -> bool {
        self.lock().polled
    }

    /// Whether part of the body is still unread.
    pub(crate) fn unread(&self) -> bool {
        !self.lock().done
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<B>> {
        // A handler that panicked mid-read leaves nothing inconsistent: the body is only
        // ever read one frame at a time.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B> BodyWatch<B>
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
{
    /// Reads the rest of the body and drops it, as eventlet's `discard()` did, giving up
    /// (the connection then closes) when no piece arrives within `idle`.
    pub(crate) fn discard(self, idle: Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            loop {
                let next = std::future::poll_fn(|cx| {
                    let mut s = self.lock();
                    if s.done {
                        return Poll::Ready(false);
                    }
                    match Pin::new(&mut s.body).poll_frame(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Some(Ok(_))) => Poll::Ready(true),
                        Poll::Ready(None | Some(Err(_))) => {
                            s.done = true;
                            Poll::Ready(false)
                        }
                    }
                });
                match tokio::time::timeout(idle, next).await {
                    Ok(true) => {}
                    Ok(false) | Err(_) => return,
                }
            }
        })
    }
}

impl<B> HttpBody for Watched<B>
where
    B: HttpBody + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.polled = true;
        if s.done {
            return Poll::Ready(None);
        }
        let r = Pin::new(&mut s.body).poll_frame(cx);
        if matches!(r, Poll::Ready(None | Some(Err(_)))) {
            s.done = true;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.done || s.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    /// `n` one-byte frames, then a sender that never sends again.
    struct Stalls(usize);

    impl HttpBody for Stalls {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0 == 0 {
                return Poll::Pending;
            }
            self.0 -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
        }
    }

    // Rule: the watch tells whether a handler read its body and whether any is left; the
    // discard reads the rest, and gives up on a sender that stalls.
    #[tokio::test]
    async fn watch_records_reads_and_discards_the_rest() {
        let (watch, mut body) = BodyWatch::new(Full::new(Bytes::from_static(b"abc")));
        assert!(!watch.polled() && watch.unread());
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first, Bytes::from_static(b"abc"));
        assert!(body.frame().await.is_none());
        assert!(watch.polled() && !watch.unread());

        let (watch, body) = BodyWatch::new(Full::new(Bytes::new()));
        drop(body);
        assert!(!watch.polled() && !watch.unread());

        let (watch, body) = BodyWatch::new(Full::new(Bytes::from_static(b"left")));
        drop(body);
        let state = Arc::clone(&watch.state);
        watch.discard(Duration::from_secs(5)).await;
        assert!(state.lock().unwrap().done);

        // Two pieces, then nothing: both are read, then the discard gives up.
        let (watch, body) = BodyWatch::new(Stalls(2));
        drop(body);
        let state = Arc::clone(&watch.state);
        let started = std::time::Instant::now();
        watch.discard(Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
        let s = state.lock().unwrap();
        assert!(!s.done && s.body.0 == 0);
    }
}
