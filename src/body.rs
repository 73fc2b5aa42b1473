//! The response body type: empty, a whole buffer, or a stream (image bytes generated or read
//! from disk in chunks so a multi-GiB image is never held in memory).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use bytes::BytesMut;
use http_body::{Frame, SizeHint};
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
        let reps = CHUNK.div_ceil(unit.len()).max(1);
        let block: Vec<u8> = unit
            .iter()
            .copied()
            .cycle()
            .take(reps * unit.len())
            .collect();
        Body {
            kind: Kind::Repeat {
                block: Bytes::from(block),
                remaining: len,
            },
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
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Repeat { remaining, .. } => *remaining == 0,
            Kind::Reader { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Repeat { remaining, .. } => SizeHint::with_exact(*remaining),
            Kind::Reader { .. } => SizeHint::default(),
        }
    }
}
