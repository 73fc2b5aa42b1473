//! Sockets, connections, timeouts and shutdown: serves a [`GlanceService`] on a bound
//! listener until the shutdown future resolves, then drains in-flight requests for a
//! bounded time. Each connection starts on the [`fasthead`](crate::edge::fast) path when the
//! service allows it and moves to hyper at the first request that path does not answer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::app::ConnInfo;
use crate::edge::access_log::AccessLog;
use crate::edge::eventlet::{HeadFixer, Refusal, ReplyOrder, TargetKeeper};
use crate::edge::fast::Outcome;
use crate::edge::GlanceService;

/// Connection-level settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// How long a client may take to send a request head (slowloris guard).
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests before giving up on them.
    pub drain_timeout: Duration,
    /// Answer plain `HEAD /v1/images/<id>` requests on the fast path (same bytes, about
    /// half the CPU); `false` sends every request through hyper.
    pub fast_head: bool,
    /// One line per answered request (both paths); `None` logs nothing.
    pub access_log: Option<AccessLog>,
    /// Largest request head (request line and header lines) hyper reads; a longer one gets
    /// 431. At least 8,192 (hyper's minimum buffer). eventlet's own limits on a head
    /// (`eventlet::limits`) apply whatever this is; the default is above all of them.
    pub max_header_bytes: usize,
    /// Most request headers; more get hyper's 431 (eventlet's limit, 99, applies anyway).
    pub max_headers: usize,
    /// Connections served at once on this listener; further ones wait in the kernel's
    /// accept queue until one closes.
    pub max_connections: usize,
}

/// Default `--max-header-bytes` (defined beside the fast path, which reads heads first).
pub use crate::edge::fast::DEFAULT_MAX_HEADER_BYTES;

/// Default `--max-headers`: the most Python's `http.client` (so Glance) accepted: 100
/// lines counting the blank one, so 99 header lines (a 100th gets eventlet's answer,
/// `eventlet::limits`, before this bound is reached).
pub const DEFAULT_MAX_HEADERS: usize = 99;

/// Default `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            header_read_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(10),
            fast_head: true,
            access_log: None,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_headers: DEFAULT_MAX_HEADERS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting and
/// waits (at most `drain_timeout`) for open connections to finish their requests.
pub async fn run(
    listener: TcpListener,
    service: GlanceService,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    // hyper title-cases lower-case names exactly as eventlet capitalised Glance's headers.
    builder
        .title_case_headers(true)
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        // Answer what was received after the client shut down its write side, then close:
        // what real Glance (eventlet) did. Off, hyper dropped any request whose handler
        // had not finished by the time it read the EOF.
        .half_close(true)
        .max_buf_size(options.max_header_bytes.max(8192))
        .max_headers(options.max_headers)
        .keep_alive(true);
    let builder = Arc::new(builder);
    // Every connection's first head passes the fast path or, where that does not answer,
    // its gate (see `FastHead::gate`), so a split head is judged as the same head unsplit.
    // The HEAD fast path, when this listener can have one (never the control API's own).
    let head = (!service.is_control_only())
        .then(|| {
            crate::edge::fast::FastHead::new(Arc::clone(service.app()), service.control().clone())
        })
        .flatten();
    let fast = Arc::new(match head {
        Some(f) if options.fast_head => f
            .with_max_head(options.max_header_bytes)
            .with_access_log(options.access_log.clone()),
        _ => crate::edge::fast::FastHead::gate(
            Arc::clone(service.app()),
            service.control().clone(),
            options.max_header_bytes,
        ),
    });
    let service = service.with_max_head(options.max_header_bytes);
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let mut full_logged = false;
    let graceful = GracefulShutdown::new();
    // Connections still on the fast path are not hyper's yet: they hear of shutdown here.
    let (stop_fast, fast_stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the limit, new connections wait in the accept queue.
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(s) => {
                full_logged = false;
                s
            }
            Err(_) => {
                if !full_logged {
                    tracing::warn!(
                        "connection limit {} reached; new connections wait",
                        options.max_connections
                    );
                    full_logged = true;
                }
                tokio::select! {
                    s = Arc::clone(&slots).acquire_owned() => match s {
                        Ok(s) => s,
                        Err(_) => break,
                    },
                    _ = &mut shutdown => break,
                }
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        if !is_transient(&e) {
                            // e.g. EMFILE: back off instead of spinning.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let info = Arc::new(ConnInfo::new(Some(peer)).with_local(stream.local_addr().ok()));
                let order = Arc::new(ReplyOrder::default());
                let conn = Conn {
                    stream,
                    info: Arc::clone(&info),
                    prefix: Bytes::new(),
                    fix: None,
                    keep: None,
                    inject: bytes::BytesMut::new(),
                    order: Arc::clone(&order),
                    held: Vec::new(),
                    held_at: 0,
                    refused: None,
                    refusal_due: false,
                    refusal: Vec::new(),
                    refusal_at: 0,
                };
                let service = service
                    .for_connection(info)
                    .with_access_log(options.access_log.clone())
                    .with_reply_order(order);
                let builder = Arc::clone(&builder);
                // Subscribed now, so a shutdown that comes later always reaches it.
                let watcher = graceful.watcher();
                let fast = fast.clone();
                let mut stopped = fast_stopped.clone();
                let header_timeout = options.header_read_timeout;
                tokio::spawn(async move {
                    let _slot = slot;
                    let mut conn = conn;
                    match fast.serve(&mut conn, header_timeout, &mut stopped, Some(peer)).await {
                        Outcome::Closed => return,
                        Outcome::Handoff(rest) => {
                            conn.prefix = rest;
                            // The fast path wrote whole answers only: hyper's start at a head.
                            conn.fix = Some(HeadFixer::default());
                            conn.keep = Some(TargetKeeper::default());
                        }
                    }
                    let conn = builder.serve_connection(TokioIo::new(conn), service);
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!("connection ended with an error: {e}");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_fast.send(true);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(options.drain_timeout) => {
            tracing::warn!("drain timeout reached; closing remaining connections");
        }
    }
}

/// A client connection that can end with a TCP reset when the service asks for one (the
/// `reset` fault): on drop, `SO_LINGER` 0 makes the close send RST instead of FIN. Reads
/// first return `prefix`: bytes the fast path read but left for hyper. hyper's writes go
/// through `fix` (once hyper has the connection), which mends response heads into
/// eventlet's ([`crate::edge::eventlet`]); a mended head waits in `held` until the socket
/// takes it, and no new write is taken before it has (so at most one head is held).
///
/// A request head past one of eventlet's limits (`eventlet::limits`, found by `keep`) is
/// not handed to hyper: hyper reads the end of the stream after the requests before it,
/// answers those (`half_close`) and shuts the connection down, and eventlet's answer goes
/// out just before the shutdown (or, when hyper drops the connection instead, on drop).
struct Conn {
    stream: TcpStream,
    info: Arc<ConnInfo>,
    prefix: Bytes,
    fix: Option<HeadFixer>,
    /// Finds the `#`s of request lines in what hyper reads (`edge::eventlet`).
    keep: Option<TargetKeeper>,
    /// The rest of a read rewritten by `keep` that did not fit hyper's buffer (read first,
    /// not looked at again).
    inject: bytes::BytesMut,
    order: Arc<ReplyOrder>,
    held: Vec<u8>,
    held_at: usize,
    /// A head `keep` refused; hyper is handed the end of the stream from here.
    refused: Option<Refusal>,
    /// hyper has been handed that end: eventlet's answer goes out before the connection
    /// closes.
    refusal_due: bool,
    /// That answer, once being written.
    refusal: Vec<u8>,
    refusal_at: usize,
}

impl Conn {
    /// Writes out the held head, if any (before a flush or a shutdown).
    fn poll_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        write_held(&mut self.stream, &mut self.held, &mut self.held_at, cx)
    }

    /// Writes out eventlet's answer to a refused head, when one is due (after everything
    /// hyper wrote, before the connection closes).
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.refusal_due {
            return Poll::Ready(Ok(()));
        }
        if let Some(r) = self.refused.take() {
            self.refusal = r.bytes();
        }
        ready!(write_held(
            &mut self.stream,
            &mut self.refusal,
            &mut self.refusal_at,
            cx
        ))?;
        self.refusal_due = false;
        Poll::Ready(Ok(()))
    }
}

/// Writes out the held head, if any; by fields, for a caller that holds `fix` meanwhile.
fn write_held(
    stream: &mut TcpStream,
    held: &mut Vec<u8>,
    at: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while *at < held.len() {
        let n = ready!(Pin::new(&mut *stream).poll_write(cx, &held[*at..]))?;
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        *at += n;
    }
    held.clear();
    *at = 0;
    Poll::Ready(Ok(()))
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.refusal_due {
            // hyper dropped the connection without shutting it down after reading its
            // end (it is handed heads whole, so this is not expected): the answer still
            // goes out, as far as the socket takes it now.
            if let Some(r) = self.refused.take() {
                self.refusal = r.bytes();
            }
            let mut out = self.held[self.held_at..].to_vec();
            out.extend_from_slice(&self.refusal[self.refusal_at..]);
            let mut at = 0;
            while at < out.len() {
                match self.stream.try_write(&out[at..]) {
                    Ok(n) if n > 0 => at += n,
                    _ => break,
                }
            }
        }
        if self.info.reset_requested() {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.inject.is_empty() {
            let n = this.inject.len().min(buf.remaining());
            buf.put_slice(&this.inject[..n]);
            this.inject.advance(n);
            return Poll::Ready(Ok(()));
        }
        if this.refused.is_some() || this.refusal_due {
            // After a refused head: the end of the stream, and the answer is due.
            this.refusal_due = true;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        loop {
            if !this.prefix.is_empty() {
                let n = this.prefix.len().min(buf.remaining());
                buf.put_slice(&this.prefix[..n]);
                this.prefix.advance(n);
            } else {
                ready!(Pin::new(&mut this.stream).poll_read(cx, buf))?;
            }
            let Some(keep) = this.keep.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let Some(mut m) = keep.scan(&buf.filled()[before..]) else {
                return Poll::Ready(Ok(()));
            };
            // A `#` in a request line becomes `%23`, an origin-form `CONNECT` the stand-in
            // (edge::eventlet). The read is rewritten in one pass (a line of many `#`s costs
            // its length, not its length squared); what does not fit waits in `inject`,
            // followed already.
            let new = &buf.filled()[before..];
            let mut out = Vec::with_capacity(new.len() + m.insert.len());
            let mut pos = 0;
            loop {
                out.extend_from_slice(&new[pos..pos + m.at]);
                out.extend_from_slice(&m.insert);
                pos += m.at + m.remove;
                match keep.scan(&new[pos..]) {
                    Some(next) => m = next,
                    None => break,
                }
            }
            out.extend_from_slice(&new[pos..]);
            buf.set_filled(before);
            if let Some(r) = keep.refusal() {
                // hyper has none of the refused head (it is handed heads whole): it
                // answers what came before it, then reads the end of the stream.
                this.refused = Some(r);
                this.keep = None;
                if out.is_empty() {
                    this.refusal_due = true;
                    return Poll::Ready(Ok(()));
                }
            }
            if out.is_empty() {
                // The whole read is held (the start of a `CONNECT /` cut by the read): an
                // empty read would be the end of the stream to hyper, so read on.
                continue;
            }
            let room = buf.remaining().min(out.len());
            buf.put_slice(&out[..room]);
            this.inject.extend_from_slice(&out[room..]);
            return Poll::Ready(Ok(()));
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let Conn {
            stream,
            fix,
            order,
            held,
            held_at,
            ..
        } = &mut *self;
        let Some(fix) = fix.as_mut() else {
            return Pin::new(stream).poll_write(cx, buf);
        };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        ready!(write_held(stream, held, held_at, cx))?;
        if let Some(n) = fix.passthrough(buf.len()) {
            let n = ready!(Pin::new(stream).poll_write(cx, &buf[..n]))?;
            fix.sent(n);
            return Poll::Ready(Ok(n));
        }
        let n = fix.take_head(buf, held, || order.pop());
        // Sent now if the socket takes it; else before the next write, or on flush.
        if let Poll::Ready(Err(e)) = write_held(stream, held, held_at, cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let this = &mut *self;
        match this.fix.as_mut() {
            None => Pin::new(&mut this.stream).poll_write_vectored(cx, bufs),
            // All body, nothing held: straight through, still vectored.
            Some(fix) if this.held.is_empty() && fix.passthrough(total) == Some(total) => {
                let n = ready!(Pin::new(&mut this.stream).poll_write_vectored(cx, bufs))?;
                fix.sent(n);
                Poll::Ready(Ok(n))
            }
            // A head, or a body's end and more: one slice at a time.
            Some(_) => {
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..]);
                self.poll_write(cx, first)
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_held(cx))?;
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.info.reset_requested() {
            // A graceful shutdown would send FIN before the reset.
            return Poll::Ready(Ok(()));
        }
        ready!(self.poll_held(cx))?;
        ready!(self.poll_refusal(cx))?;
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}
