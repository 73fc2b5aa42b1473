//! The response body type: empty, a whole buffer, or a stream (image bytes generated or read
//! from disk in chunks so a multi-GiB image is never held in memory).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use bytes::BytesMut;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::AsyncRead;

/// Chunk size for streamed image data.
pub const CHUNK: usize = 64 * 1024;

/// A response body.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Repeat {
        block: Bytes,
        remaining: u64,
    },
    Reader {
        reader: Pin<Box<dyn AsyncRead + Send>>,
        buf: BytesMut,
    },
    /// A body reshaped by a fault rule.
    Shaped(Box<Shaped>),
}

/// How a fault rule reshapes a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Ends after `bytes`; with `then_close` the connection is failed (closed) instead of
    /// the body ending cleanly.
    Truncate {
        /// Bytes to send.
        bytes: u64,
        /// Close the connection after them.
        then_close: bool,
    },
    /// At most `chunk` bytes per `interval`.
    Slow {
        /// Bytes per piece.
        chunk: usize,
        /// Pause between pieces.
        interval: Duration,
    },
    /// Fails the connection before the first body byte (once the head has gone out).
    Close,
}

/// How long a failing body waits before failing, so the bytes already handed to hyper
/// (the head, a short body) are flushed to the socket first.
const FLUSH_GRACE: Duration = Duration::from_millis(50);

struct Shaped {
    inner: Body,
    shape: Shape,
    sent: u64,
    pending: Bytes,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    failing: bool,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body")
    }
}

impl Body {
    /// No body.
    pub fn empty() -> Self {
        Body {
            kind: Kind::Full(None),
        }
    }

    /// A zero-length body that still counts as a body, so hyper keeps an explicit
    /// `Content-Length: 0` where the handler put it instead of re-adding it at the end.
    pub fn empty_sized() -> Self {
        Body {
            kind: Kind::Full(Some(Bytes::new())),
        }
    }

    /// A whole buffer.
    pub fn full(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        Body {
            kind: Kind::Full(if b.is_empty() { None } else { Some(b) }),
        }
    }

    /// `unit` repeated and cut to `len` bytes, generated chunk by chunk.
    pub fn repeat(unit: &Bytes, len: u64) -> Self {
        if unit.is_empty() || len == 0 {
            return Body::empty();
        }
        let block = crate::model::repeat_block(unit, CHUNK);
        Body {
            kind: Kind::Repeat {
                block: Bytes::from(block),
                remaining: len,
            },
        }
    }

    /// This body reshaped by a fault rule (see [`Shape`]).
    pub fn shaped(self, shape: Shape) -> Self {
        Body {
            kind: Kind::Shaped(Box::new(Shaped {
                inner: self,
                shape,
                sent: 0,
                pending: Bytes::new(),
                sleep: None,
                failing: false,
            })),
        }
    }

    /// An async reader streamed in chunks.
    pub fn reader<R: AsyncRead + Send + 'static>(r: R) -> Self {
        Body {
            kind: Kind::Reader {
                reader: Box::pin(r),
                buf: BytesMut::new(),
            },
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Repeat { block, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                // Whole repetitions of the unit per block keep every chunk aligned.
                let n = (*remaining).min(block.len() as u64) as usize;
                *remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(block.slice(..n)))))
            }
            Kind::Reader { reader, buf } => {
                if buf.capacity() < CHUNK {
                    buf.reserve(CHUNK);
                }
                match tokio_util::io::poll_read_buf(reader.as_mut(), cx, buf) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(0)) => Poll::Ready(None),
                    Poll::Ready(Ok(_)) => Poll::Ready(Some(Ok(Frame::data(buf.split().freeze())))),
                }
            }
            Kind::Shaped(s) => s.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Repeat { remaining, .. } => *remaining == 0,
            Kind::Reader { .. } | Kind::Shaped(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Repeat { remaining, .. } => SizeHint::with_exact(*remaining),
            Kind::Reader { .. } => SizeHint::default(),
            Kind::Shaped(s) => {
                let inner = s.inner.size_hint();
                match s.shape {
                    Shape::Truncate {
                        bytes,
                        then_close: false,
                    } => match inner.exact() {
                        Some(n) => SizeHint::with_exact(n.min(bytes)),
                        None => {
                            let mut h = SizeHint::new();
                            h.set_upper(bytes);
                            h
                        }
                    },
                    _ => inner,
                }
            }
        }
    }
}

impl Shaped {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
                if self.failing {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "fault injection: connection closed",
                    ))));
                }
            }
            if self.failing {
                self.sleep = Some(Box::pin(tokio::time::sleep(FLUSH_GRACE)));
                continue;
            }
            match self.shape {
                Shape::Close => self.failing = true,
                Shape::Truncate { bytes, then_close } => {
                    if self.sent >= bytes {
                        if then_close {
                            self.failing = true;
                            continue;
                        }
                        return Poll::Ready(None);
                    }
                    let data = match self.next_data(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                        Poll::Ready(Ok(None)) => return Poll::Ready(None),
                        Poll::Ready(Ok(Some(d))) => d,
                    };
                    let take = (data.len() as u64).min(bytes - self.sent) as usize;
                    self.sent += take as u64;
                    return Poll::Ready(Some(Ok(Frame::data(data.slice(..take)))));
                }
                Shape::Slow { chunk, interval } => {
                    if self.pending.is_empty() {
                        match self.next_data(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                            Poll::Ready(Ok(None)) => return Poll::Ready(None),
                            Poll::Ready(Ok(Some(d))) => self.pending = d,
                        }
                    }
                    let n = self.pending.len().min(chunk.max(1));
                    let piece = self.pending.split_to(n);
                    self.sleep = Some(Box::pin(tokio::time::sleep(interval)));
                    return Poll::Ready(Some(Ok(Frame::data(piece))));
                }
            }
        }
    }

    /// The next non-empty data frame of the inner body (trailers are skipped).
    fn next_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, io::Error>> {
        loop {
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(Ok(None)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(d) = frame.into_data() {
                        if !d.is_empty() {
                            return Poll::Ready(Ok(Some(d)));
                        }
                    }
                }
            }
        }
    }
}
