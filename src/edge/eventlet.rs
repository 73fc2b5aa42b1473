//! eventlet's wire from hyper's: where hyper will not write what Glance's eventlet server
//! put on the wire, or reads a request differently, mended in the bytes on their way
//! between the socket and hyper (by `edge::server`'s connection).
//!
//! - **The status line of an answer to an HTTP/1.0 request.** hyper answers such a peer
//!   with `HTTP/1.0 200 OK`; eventlet always wrote `HTTP/1.1` (which is also what RFC 9110
//!   §2.5 asks of a server: its own highest version). The headers were already the same.
//! - **`Content-Length: 0` on a 204.** WebOb set it and eventlet sent it, just before
//!   `Date`; hyper never writes a length on a 204 (RFC 9110 forbids it, and no client
//!   minds either way). The member calls of the v1 API answer 204.
//! - **A `#` in a request target.** eventlet split the target at `?` only, so `#frag` was
//!   part of the path (an image id `abc#frag`, a 404); hyper's URI parser drops the
//!   fragment, and `HEAD /v1/images/<id>#x` would find `<id>`. [`TargetKeeper`] follows the
//!   requests coming in and hands hyper `%23` for each `#` in a request line, which the
//!   router decodes back, as WSGI's `PATH_INFO` had it.
//! - **`CONNECT /path`.** eventlet routed it like any other method (Glance answered it as a
//!   GET); hyper takes every CONNECT for a tunnel request, refuses an origin-form target and
//!   drops the connection unanswered. The keeper hands hyper [`CONNECT_STAND_IN`] instead
//!   of the method, and the service puts `CONNECT` back. A read that ends in part of
//!   `CONNECT /` at the start of a head is held back (at most 8 bytes) until the next read
//!   says whether it is one; hyper is never handed an empty read, which it would take for
//!   the end of the stream.
//! - **Image data after an unanswered `Expect: 100-continue`.** eventlet closed the
//!   connection afterwards without a `Connection` line; hyper only closes after saying
//!   `Connection: close`. The answer says it for hyper ([`crate::app::UnannouncedClose`]),
//!   and the mender leaves that one line off the wire.
//!
//! [`HeadFixer`] follows the framing of the responses going out so that it only ever
//! touches a head: a head is read up to its blank line, mended and queued; the body after
//! it (`Content-Length` bytes, none for a 1xx/204/304 or the answer to a HEAD) goes through
//! untouched, without a copy. Whether a response answers a HEAD is not in its bytes, so
//! the service queues each request's method as hyper hands it over ([`ReplyOrder`]); an
//! HTTP/1 connection answers in request order. Anything the fixer cannot follow (a chunked
//! or close-delimited body, a head over [`MAX_HEAD`], a status line that is not hyper's)
//! ends its work on that connection: every later byte goes out as hyper wrote it.

use std::collections::VecDeque;
use std::sync::{LazyLock, Mutex};

use crate::app::content_length_value;

/// The longest response head the fixer holds back; hyper's heads here are under 4 KB.
pub const MAX_HEAD: usize = 64 * 1024;

/// What the mender must know of an answer that its bytes do not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reply {
    /// It answers a HEAD: a `Content-Length` and no body.
    pub head: bool,
    /// Its `Connection: close` is hyper's cue only, left off the wire
    /// ([`crate::app::UnannouncedClose`]).
    pub unannounced_close: bool,
}

/// Requests whose answers have not been written yet, oldest first. Bounded by the requests
/// hyper has taken and not answered (one at a time on HTTP/1); [`ReplyOrder::MAX`] keeps
/// it bounded whatever happens.
#[derive(Default, Debug)]
pub struct ReplyOrder(Mutex<VecDeque<Reply>>);

impl ReplyOrder {
    /// More requests than this in flight on one connection means the order is lost: the
    /// oldest are dropped (the fixer then mis-frames at worst, and stops; see the module).
    pub const MAX: usize = 64;

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Reply>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A request was handed to the service: its answer comes after those queued before.
    pub fn push(&self, is_head: bool) {
        let mut q = self.lock();
        if q.len() == Self::MAX {
            q.pop_front();
        }
        q.push_back(Reply {
            head: is_head,
            unannounced_close: false,
        });
    }

    /// The answer of the request being served (the last one queued: hyper takes the next
    /// request of a connection only once this one is answered) closes unannounced.
    pub fn mark_unannounced_close(&self) {
        if let Some(r) = self.lock().back_mut() {
            r.unannounced_close = true;
        }
    }

    /// The answer now being written. (No entry: hyper's own answer to a request it could
    /// not parse, never a HEAD's.)
    pub fn pop(&self) -> Reply {
        self.lock().pop_front().unwrap_or_default()
    }
}

/// How many of `avail` bytes belong to a run of `left` more (a body, a chunk's data).
fn within(left: u64, avail: usize) -> usize {
    avail.min(usize::try_from(left).unwrap_or(usize::MAX))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a response head (possibly none started yet).
    Head,
    /// This many body bytes go out before the next head.
    Body(u64),
    /// Given up on this connection: everything goes out as written.
    Raw,
}

/// The mender of one connection's output (see the module).
#[derive(Debug)]
pub struct HeadFixer {
    state: State,
    /// The head read so far (state `Head`).
    head: Vec<u8>,
}

impl Default for HeadFixer {
    fn default() -> Self {
        HeadFixer {
            state: State::Head,
            head: Vec::new(),
        }
    }
}

impl HeadFixer {
    /// How many of the next `len` bytes may go to the socket as they are (body bytes, or
    /// everything once given up); `None` while a head is being read.
    pub fn passthrough(&self, len: usize) -> Option<usize> {
        match self.state {
            State::Head => None,
            State::Body(n) => Some(within(n, len)),
            State::Raw => Some(len),
        }
    }

    /// `n` bytes allowed by [`HeadFixer::passthrough`] were written.
    pub fn sent(&mut self, n: usize) {
        if let State::Body(left) = self.state {
            let left = left - n as u64;
            self.state = if left == 0 {
                State::Head
            } else {
                State::Body(left)
            };
        }
    }

    /// Takes bytes of a head from `input` (at least one if it is not empty) and returns
    /// how many. When they complete the head, the mended head is appended to `out`, and
    /// `reply` is asked what the bytes do not say (once per final response).
    pub fn take_head(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        reply: impl FnOnce() -> Reply,
    ) -> usize {
        debug_assert_eq!(self.state, State::Head);
        let Some(n) = head_end(&self.head, input) else {
            self.head.extend_from_slice(input);
            if self.head.len() > MAX_HEAD {
                self.give_up(out);
            }
            return input.len();
        };
        if self.head.is_empty() {
            // The usual case: the whole head in one write, mended straight from it.
            self.state = mend(&input[..n], out, reply);
        } else {
            self.head.extend_from_slice(&input[..n]);
            let head = std::mem::take(&mut self.head);
            self.state = mend(&head, out, reply);
            self.head = head;
            self.head.clear();
        }
        n
    }

    /// Whatever is held goes out unchanged, and so does everything after it.
    fn give_up(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.head);
        self.state = State::Raw;
    }
}

/// How many bytes of `input` complete the head begun by `held` (its blank line's end),
/// found without copying `input`: a body may follow the head in the same write.
fn head_end(held: &[u8], input: &[u8]) -> Option<usize> {
    const END: &[u8; 4] = b"\r\n\r\n";
    // A blank line cut between the two; the earliest cut first.
    for k in (1..=3).rev() {
        if held.ends_with(&END[..k]) && input.starts_with(&END[k..]) {
            return Some(4 - k);
        }
    }
    // Built once: `memmem::find` would build a searcher on every call.
    static FINDER: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(END));
    FINDER.find(input).map(|i| i + 4)
}

/// Appends `head` (a whole response head) to `out`, mended, and says what follows it.
fn mend(head: &[u8], out: &mut Vec<u8>, reply: impl FnOnce() -> Reply) -> State {
    let start = out.len();
    out.extend_from_slice(head);
    // hyper's status line: "HTTP/1.x NNN reason".
    let status = match head {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'0' | b'1', b' ', a, b, c, b' ', ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit()) =>
        {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return State::Raw,
    };
    if head[7] == b'0' {
        out[start + 7] = b'1';
    }
    if status < 200 {
        // An interim answer (100 Continue): the final one for the same request follows.
        return State::Head;
    }
    let reply = reply();
    let mut length: Option<u64> = None;
    // A body this mender cannot follow (chunked, or a length it cannot read).
    let mut unframed = false;
    let mut date_at: Option<usize> = None;
    // The `Connection: close` line to leave off (start, end after its CRLF).
    let mut close_line: Option<(usize, usize)> = None;
    // Header lines: between the status line's CRLF and the blank line.
    // Lines end in CRLF (hyper writes nothing else; a bare LF would be found wanting below).
    let first = memchr::memchr(b'\n', head).map_or(head.len(), |i| i + 1);
    let mut pos = first;
    while pos < head.len() - 2 {
        let end = match memchr::memchr(b'\n', &head[pos..]) {
            Some(i) if i > 0 && head[pos + i - 1] == b'\r' => pos + i - 1,
            _ => return State::Raw,
        };
        let line = &head[pos..end];
        let colon = memchr::memchr(b':', line).unwrap_or(line.len());
        let (name, value) = (&line[..colon], line.get(colon + 1..).unwrap_or_default());
        if name.eq_ignore_ascii_case(b"content-length") {
            match content_length_value(value) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => unframed = true,
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // A chunked body is not followed (the emulator sends none; see the module).
            unframed = true;
        } else if name.eq_ignore_ascii_case(b"date") {
            date_at = Some(pos);
        } else if reply.unannounced_close
            && name.eq_ignore_ascii_case(b"connection")
            && value.trim_ascii().eq_ignore_ascii_case(b"close")
        {
            close_line = Some((pos, end + 2));
        }
        pos = end + 2;
    }
    // Edits from the back, so that each offset still holds when it is applied.
    if let Some((a, b)) = close_line {
        out.drain(start + a..start + b);
    }
    if status == 204 && length.is_none() {
        // WebOb's `Content-Length: 0`, which eventlet wrote just before its `Date`.
        let at = start + date_at.unwrap_or(head.len() - 2);
        out.splice(at..at, b"Content-Length: 0\r\n".iter().copied());
    }
    if reply.head || status == 204 || status == 304 {
        // No body, whatever the head says about one.
        return State::Head;
    }
    if unframed {
        return State::Raw;
    }
    match length {
        Some(0) => State::Head,
        Some(n) => State::Body(n),
        // Close-delimited: the rest of the connection is this body.
        None => State::Raw,
    }
}

/// The method hyper is handed for an origin-form `CONNECT` (see the module); the service
/// turns it back into `CONNECT` before anything else sees the request.
pub const CONNECT_STAND_IN: &str = "X-GLANCE-EMU-ORIGIN-FORM-CONNECT";

/// The start of an origin-form `CONNECT` request line.
const CONNECT_ORIGIN: &[u8] = b"CONNECT /";

/// [`CONNECT_STAND_IN`] and the space after it, for a `CONNECT ` held whole.
const CONNECT_STAND_IN_SPACE: &str = "X-GLANCE-EMU-ORIGIN-FORM-CONNECT ";

/// A change [`TargetKeeper::scan`] asks for: `remove` bytes at `at` become `insert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mend {
    pub at: usize,
    pub remove: usize,
    pub insert: &'static [u8],
}

/// The longest request head [`TargetKeeper`] follows (`--max-header-bytes` at most).
pub const MAX_REQUEST_HEAD: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum In {
    /// Reading a request head (the request line first).
    Head,
    /// This many request body bytes before the next head.
    Body(u64),
    /// Inside a chunked request body (what python-glanceclient uploads).
    Chunked(Chunk),
    /// Given up: a tunnel CONNECT, a head hyper will refuse, a body hyper would refuse;
    /// bytes pass as sent.
    Raw,
}

/// Where a chunked body is at (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A chunk-size line: the size so far, whether it has a digit, whether an extension
    /// (after `;`) has begun.
    Size { n: u64, digits: bool, ext: bool },
    /// This many chunk-data bytes.
    Data(u64),
    /// The line end after chunk data.
    DataEnd,
    /// The trailer section after the last chunk: bytes in the current line.
    Trailer { line: usize },
}

impl Chunk {
    const START: Chunk = Chunk::Size {
        n: 0,
        digits: false,
        ext: false,
    };
}

/// Follows a chunked body through `data`: how many bytes it took and what comes next
/// (`In::Head` once the body has ended, `In::Raw` on bytes hyper would refuse).
fn follow_chunked(mut c: Chunk, data: &[u8]) -> (usize, In) {
    let mut pos = 0;
    while pos < data.len() {
        if let Chunk::Data(n) = c {
            // Data is skipped whole, never looked at.
            let k = within(n, data.len() - pos);
            pos += k;
            c = if k as u64 == n {
                Chunk::DataEnd
            } else {
                Chunk::Data(n - k as u64)
            };
            continue;
        }
        let b = data[pos];
        pos += 1;
        c = match (c, b) {
            (Chunk::Size { n, ext: false, .. }, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                let d = u64::from((b as char).to_digit(16).unwrap_or(0));
                match n.checked_mul(16).and_then(|n| n.checked_add(d)) {
                    Some(n) => Chunk::Size {
                        n,
                        digits: true,
                        ext: false,
                    },
                    None => return (pos, In::Raw),
                }
            }
            (Chunk::Size { n, digits, .. }, b';' | b' ' | b'\t') => Chunk::Size {
                n,
                digits,
                ext: true,
            },
            (Chunk::Size { .. }, b'\r') => c,
            (
                Chunk::Size {
                    n, digits: true, ..
                },
                b'\n',
            ) => {
                if n == 0 {
                    Chunk::Trailer { line: 0 }
                } else {
                    Chunk::Data(n)
                }
            }
            (Chunk::Size { ext: true, .. }, _) if b != b'\n' => c,
            (Chunk::Size { .. }, _) => return (pos, In::Raw),
            (Chunk::DataEnd, b'\r') => c,
            (Chunk::DataEnd, b'\n') => Chunk::START,
            (Chunk::DataEnd, _) => return (pos, In::Raw),
            (Chunk::Trailer { .. }, b'\r') => c,
            (Chunk::Trailer { line: 0 }, b'\n') => return (pos, In::Head),
            (Chunk::Trailer { .. }, b'\n') => Chunk::Trailer { line: 0 },
            (Chunk::Trailer { line }, _) if line < MAX_REQUEST_HEAD => {
                Chunk::Trailer { line: line + 1 }
            }
            (Chunk::Trailer { .. }, _) => return (pos, In::Raw),
            (Chunk::Data(_), _) => unreachable!("data is skipped above"),
        };
    }
    (pos, In::Chunked(c))
}

/// Follows the requests of one connection to find each request line, where a `#` is
/// handed on as `%23` (see the module). Bodies are skipped by `Content-Length` or chunk by
/// chunk; anything it cannot follow ends its work on the connection (a `#` is then hyper's
/// again).
#[derive(Debug)]
pub struct TargetKeeper {
    state: In,
    /// The head read so far (for its `Content-Length` / `Transfer-Encoding`).
    head: Vec<u8>,
    /// Whether the request line has ended (`#` is only looked for before that).
    line_done: bool,
    /// How many bytes of `CONNECT /` a read ended with at the start of a head: taken out
    /// of what hyper is handed until the next read says whether the line is an
    /// origin-form `CONNECT` (the stand-in goes in) or not (they go back in).
    held: usize,
}

impl Default for TargetKeeper {
    fn default() -> Self {
        TargetKeeper {
            state: In::Head,
            head: Vec::new(),
            line_done: false,
            held: 0,
        }
    }
}

impl TargetKeeper {
    /// Follows `data`, bytes on their way to hyper. `None`: all of it may go as it is.
    /// `Some(m)`: `data[..m.at]` and then `m.insert` go first, in place of the `m.remove`
    /// bytes at `m.at` (a `#` in a request line, or an origin-form `CONNECT`), which have
    /// been followed; the rest is to be given to `scan` again.
    pub fn scan(&mut self, data: &[u8]) -> Option<Mend> {
        let mut pos = 0;
        while pos < data.len() {
            match self.state {
                In::Raw => return None,
                In::Chunked(c) => {
                    let (k, next) = follow_chunked(c, &data[pos..]);
                    pos += k;
                    self.state = next;
                }
                In::Body(n) => {
                    let k = within(n, data.len() - pos);
                    pos += k;
                    let left = n - k as u64;
                    self.state = if left == 0 { In::Head } else { In::Body(left) };
                }
                In::Head => {
                    let mut rest = &data[pos..];
                    if self.held > 0 {
                        return Some(self.resolve_held(pos, rest));
                    }
                    if self.head.is_empty() {
                        // Empty lines before a request line are skipped (httparse does).
                        let skip = rest
                            .iter()
                            .take_while(|b| matches!(b, b'\r' | b'\n'))
                            .count();
                        pos += skip;
                        rest = &rest[skip..];
                        if rest.is_empty() {
                            return None;
                        }
                        if rest.len() < CONNECT_ORIGIN.len() && CONNECT_ORIGIN.starts_with(rest) {
                            // `CONNECT /` cut by the read (or another method beginning
                            // the same way): held until the next read decides.
                            self.held = rest.len();
                            return Some(Mend {
                                at: pos,
                                remove: rest.len(),
                                insert: b"",
                            });
                        }
                        if rest.starts_with(CONNECT_ORIGIN) {
                            self.head.extend_from_slice(CONNECT_STAND_IN.as_bytes());
                            return Some(Mend {
                                at: pos,
                                remove: "CONNECT".len(),
                                insert: CONNECT_STAND_IN.as_bytes(),
                            });
                        }
                    }
                    if !self.line_done {
                        match memchr::memchr2(b'#', b'\n', rest) {
                            Some(i) if rest[i] == b'#' => {
                                // The head as hyper will read it.
                                self.head.extend_from_slice(&rest[..i]);
                                self.head.extend_from_slice(b"%23");
                                return Some(Mend {
                                    at: pos + i,
                                    remove: 1,
                                    insert: b"%23",
                                });
                            }
                            Some(_) => self.line_done = true,
                            None => {}
                        }
                    }
                    match request_head_end(&self.head, rest) {
                        None => {
                            self.head.extend_from_slice(rest);
                            if self.head.len() > MAX_REQUEST_HEAD {
                                self.state = In::Raw;
                                self.head = Vec::new();
                            }
                            return None;
                        }
                        Some(n) => {
                            self.state = if self.head.is_empty() {
                                // The usual case: a whole head in one read, not copied.
                                request_framing(&rest[..n])
                            } else {
                                self.head.extend_from_slice(&rest[..n]);
                                request_framing(&self.head)
                            };
                            self.head.clear();
                            pos += n;
                            self.line_done = false;
                        }
                    }
                }
            }
        }
        None
    }
}

impl TargetKeeper {
    /// The read after one that ended in `self.held` bytes of `CONNECT /` (taken out), at
    /// `pos`: more of it (held too), the rest of it (the stand-in goes in for the method),
    /// or something else (the held bytes go back in, and the head is followed as usual).
    fn resolve_held(&mut self, pos: usize, rest: &[u8]) -> Mend {
        let held = self.held;
        let want = &CONNECT_ORIGIN[held..];
        if rest.len() < want.len() && want.starts_with(rest) {
            self.held += rest.len();
            return Mend {
                at: pos,
                remove: rest.len(),
                insert: b"",
            };
        }
        self.held = 0;
        if rest.starts_with(want) {
            // The held bytes are gone; what is left of the method here is replaced.
            let (remove, insert) = match "CONNECT".len().checked_sub(held) {
                Some(left) => (left, CONNECT_STAND_IN),
                None => (0, CONNECT_STAND_IN_SPACE),
            };
            self.head.extend_from_slice(insert.as_bytes());
            return Mend {
                at: pos,
                remove,
                insert: insert.as_bytes(),
            };
        }
        let back = &CONNECT_ORIGIN[..held];
        self.head.extend_from_slice(back);
        Mend {
            at: pos,
            remove: 0,
            insert: back,
        }
    }
}

/// How many bytes of `input` end the request head begun by `held` (a line ending right
/// after a line ending: httparse takes `\r\n` and bare `\n` alike).
fn request_head_end(held: &[u8], input: &[u8]) -> Option<usize> {
    // The two bytes before each '\n' of `input`, looked up across the cut.
    let before = |i: usize, back: usize| -> Option<u8> {
        if i >= back {
            Some(input[i - back])
        } else {
            held.len().checked_sub(back - i).map(|j| held[j])
        }
    };
    memchr::memchr_iter(b'\n', input)
        .find(|&i| match before(i, 1) {
            Some(b'\n') => true,
            Some(b'\r') => before(i, 2) == Some(b'\n'),
            _ => false,
        })
        .map(|i| i + 1)
}

/// What follows a whole request head: its body by `Content-Length`, nothing, or (for what
/// hyper reads differently or refuses) the end of following.
fn request_framing(head: &[u8]) -> In {
    // Uninitialised: zeroing 128 headers (4 KB) on every request would cost more than the
    // parse.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return In::Raw,
    }
    if req.method.is_none_or(|m| m.eq_ignore_ascii_case("CONNECT")) {
        return In::Raw;
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked only when it is the last coding (anything else hyper refuses).
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return In::Raw;
            }
            chunked = true;
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match content_length_value(h.value) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => return In::Raw,
            }
        }
    }
    match (chunked, length) {
        // Both: hyper's reading of such a request is not one to guess at.
        (true, Some(_)) => In::Raw,
        (true, None) => In::Chunked(Chunk::START),
        (false, Some(n)) if n > 0 => In::Body(n),
        _ => In::Head,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `wire` through a fixer in pieces of `step` bytes, as a socket taking at most
    /// `step` bytes a time would; `heads` answers "is this a HEAD's answer" in order.
    fn run(wire: &[u8], step: usize, heads: &[bool]) -> Vec<u8> {
        let order = ReplyOrder::default();
        for &h in heads {
            order.push(h);
        }
        run_with(wire, step, order)
    }

    fn run_with(wire: &[u8], step: usize, order: ReplyOrder) -> Vec<u8> {
        let mut f = HeadFixer::default();
        let mut out = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let piece = &rest[..rest.len().min(step)];
            let n = match f.passthrough(piece.len()) {
                Some(n) => {
                    out.extend_from_slice(&piece[..n]);
                    f.sent(n);
                    n
                }
                None => f.take_head(piece, &mut out, || order.pop()),
            };
            assert!(n > 0, "no progress");
            rest = &rest[n..];
        }
        out
    }

    const DATE: &str = "Date: Tue, 24 Nov 2026 18:05:57 GMT\r\n";

    fn resp(status: &str, headers: &str, body: &str) -> String {
        format!("{status}\r\n{headers}{DATE}\r\n{body}")
    }

    #[test]
    fn a_204_gets_content_length_0_before_date_and_http_1_0_becomes_1_1() {
        let rid = "X-Openstack-Request-Id: req-1\r\n";
        let wire = resp("HTTP/1.1 204 No Content", rid, "");
        let want = format!("HTTP/1.1 204 No Content\r\n{rid}Content-Length: 0\r\n{DATE}\r\n");
        for step in [1, 2, 3, 7, 1000] {
            assert_eq!(run(wire.as_bytes(), step, &[false]), want.as_bytes());
        }
        let wire =
            format!("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n{DATE}Connection: close\r\n\r\nok");
        let want = wire.replacen("HTTP/1.0", "HTTP/1.1", 1);
        assert_eq!(run(wire.as_bytes(), 5, &[false]), want.as_bytes());
    }

    #[test]
    fn bodies_are_never_touched_even_when_they_look_like_heads() {
        // A body holding a whole 1.0 head and a HEAD's answer whose length has no body.
        let inner = resp("HTTP/1.0 204 No Content", "", "");
        let a = resp(
            "HTTP/1.1 200 OK",
            &format!("Content-Length: {}\r\n", inner.len()),
            &inner,
        );
        let b = resp("HTTP/1.1 200 OK", "Content-Length: 99\r\n", "");
        let c = resp("HTTP/1.0 404 Not Found", "Content-Length: 3\r\n", "404");
        let wire = format!("{a}{b}{c}");
        let want = format!("{a}{b}{}", c.replacen("HTTP/1.0", "HTTP/1.1", 1));
        for step in [1, 4, 64, 4096] {
            assert_eq!(
                run(wire.as_bytes(), step, &[false, true, false]),
                want.as_bytes()
            );
        }
    }

    #[test]
    fn a_heads_answer_has_no_body_whatever_its_framing_says() {
        let a = resp("HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\n", "");
        let b = resp("HTTP/1.0 204 No Content", "", "");
        let wire = format!("{a}{b}");
        let want = format!(
            "{a}{}",
            resp("HTTP/1.1 204 No Content", "Content-Length: 0\r\n", "")
        );
        assert_eq!(
            String::from_utf8(run(wire.as_bytes(), 6, &[true, false])).unwrap(),
            want
        );
    }

    #[test]
    fn interim_answers_do_not_take_a_place_in_the_order() {
        let wire = format!(
            "HTTP/1.1 100 Continue\r\n\r\n{}{}",
            resp("HTTP/1.1 201 Created", "Content-Length: 2\r\n", "{}"),
            resp("HTTP/1.0 200 OK", "Content-Length: 5\r\n", "")
        );
        let want = wire.replacen("HTTP/1.0", "HTTP/1.1", 1);
        assert_eq!(run(wire.as_bytes(), 3, &[false, true]), want.as_bytes());
    }

    #[test]
    fn what_cannot_be_followed_goes_out_unchanged() {
        // Chunked, then close-delimited, then a head too long to hold: all verbatim after.
        let chunked = resp(
            "HTTP/1.1 200 OK",
            "Transfer-Encoding: chunked\r\n",
            "2\r\nok\r\n0\r\n\r\n",
        );
        let later = resp("HTTP/1.0 204 No Content", "", "");
        let wire = format!("{chunked}{later}");
        assert_eq!(run(wire.as_bytes(), 5, &[false, false]), wire.as_bytes());
        let open = resp("HTTP/1.0 200 OK", "", "body until close");
        let wire = format!("{open}{later}");
        let want = format!("{}{later}", open.replacen("HTTP/1.0", "HTTP/1.1", 1));
        assert_eq!(run(wire.as_bytes(), 5, &[false, false]), want.as_bytes());
        let long = format!("HTTP/1.0 200 OK\r\nX: {}\r\n\r\n", "a".repeat(2 * MAX_HEAD));
        assert_eq!(run(long.as_bytes(), 1000, &[false]), long.as_bytes());
        let odd = "garbage\r\n\r\nHTTP/1.0 204 No Content\r\n\r\n";
        assert_eq!(run(odd.as_bytes(), 3, &[false]), odd.as_bytes());
    }

    proptest::proptest! {
        /// Any sequence of responses, written in pieces of any size: every head mended,
        /// every body byte for byte.
        #[test]
        fn any_responses_in_any_pieces(
            rs in proptest::collection::vec(
                (proptest::bool::ANY, 0usize..7, proptest::bool::ANY, 0usize..40), 1..8),
            step in 1usize..90,
        ) {
            let (mut wire, mut want, mut heads) = (String::new(), String::new(), Vec::new());
            for (v10, s, head, len) in rs {
                let (code, reason) = [(100, "Continue"), (200, "OK"), (201, "Created"),
                    (204, "No Content"), (304, "Not Modified"), (404, "Not Found"),
                    (409, "Conflict")][s];
                let v = if v10 { "1.0" } else { "1.1" };
                if code == 100 {
                    wire += &format!("HTTP/{v} 100 Continue\r\n\r\n");
                    want += "HTTP/1.1 100 Continue\r\n\r\n";
                    continue;
                }
                heads.push(head);
                let bodyless = head || code == 204 || code == 304;
                // Bodies made of heads, to catch any byte of a body read as a head.
                let body: String = "HTTP/1.0 204 No Content\r\n\r\n".chars().cycle().take(len).collect();
                let (cl, body) = match (code, bodyless) {
                    (204, _) => (String::new(), ""),
                    (_, true) => (format!("Content-Length: {len}\r\n"), ""),
                    _ => (format!("Content-Length: {len}\r\n"), body.as_str()),
                };
                let rid = "X-Openstack-Request-Id: req-x\r\n";
                wire += &format!("HTTP/{v} {code} {reason}\r\n{rid}{cl}{DATE}\r\n{body}");
                let cl = if code == 204 { "Content-Length: 0\r\n".to_string() } else { cl };
                want += &format!("HTTP/1.1 {code} {reason}\r\n{rid}{cl}{DATE}\r\n{body}");
            }
            proptest::prop_assert_eq!(
                String::from_utf8(run(wire.as_bytes(), step, &heads)).unwrap(), want);
        }
    }

    /// Runs `input` through a keeper in pieces of `step` bytes, as `Conn::poll_read` does:
    /// after a `#`, `%23` goes out and the rest is read again.
    fn keep_all(input: &[u8], step: usize) -> Vec<u8> {
        let mut k = TargetKeeper::default();
        let (mut out, mut pos) = (Vec::new(), 0);
        while pos < input.len() {
            let piece = &input[pos..input.len().min(pos + step)];
            match k.scan(piece) {
                None => {
                    out.extend_from_slice(piece);
                    pos += piece.len();
                }
                Some(m) => {
                    out.extend_from_slice(&piece[..m.at]);
                    out.extend_from_slice(m.insert);
                    pos += m.at + m.remove;
                }
            }
        }
        out
    }

    #[test]
    fn a_hash_in_a_request_line_becomes_percent_23_and_nowhere_else() {
        let wire = "\r\nHEAD /v1/images/a#b#c HTTP/1.1\r\nX-Frag: #1\r\n\r\n\
                    PUT /v1/images/x#?name=#y HTTP/1.1\r\nContent-Length: 31\r\n\r\n\
                    GET /v1/images/z#z HTTP/1.1\r\n\r\n\
                    GET /q#1 HTTP/1.0\nHost: h\n\nGET /r#2 HTTP/1.1\r\n\r\n";
        let want = "\r\nHEAD /v1/images/a%23b%23c HTTP/1.1\r\nX-Frag: #1\r\n\r\n\
                    PUT /v1/images/x%23?name=%23y HTTP/1.1\r\nContent-Length: 31\r\n\r\n\
                    GET /v1/images/z#z HTTP/1.1\r\n\r\n\
                    GET /q%231 HTTP/1.0\nHost: h\n\nGET /r%232 HTTP/1.1\r\n\r\n";
        for step in [1, 2, 3, 5, 16, 1000] {
            assert_eq!(
                String::from_utf8(keep_all(wire.as_bytes(), step)).unwrap(),
                want
            );
        }
    }

    #[test]
    fn a_chunked_body_is_followed_to_its_end() {
        // python-glanceclient's upload shape, with data that reads like requests, a chunk
        // extension, upper-case hex and trailers; then a request with a `#`.
        let data = "GET /x#y HTTP/1.1\r\n\r\n";
        let wire = format!(
            "PUT /v1/images/a#b HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n\
             {:X};name=v#1\r\n{data}\r\n1\r\n#\r\n0\r\nX-T: #\r\n\r\n\
             HEAD /v1/images/c#d HTTP/1.1\r\n\r\n",
            data.len()
        );
        let want = wire.replacen("a#b", "a%23b", 1).replacen("c#d", "c%23d", 1);
        for step in [1, 3, 8, 1000] {
            assert_eq!(
                String::from_utf8(keep_all(wire.as_bytes(), step)).unwrap(),
                want
            );
        }
    }

    #[test]
    fn an_origin_form_connect_gets_the_stand_in_however_it_is_cut() {
        let wire = "CONNECT /v1/#x HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n\
                    \r\nCONNECT /versions HTTP/1.1\r\n\r\nCOPY / HTTP/1.1\r\n\r\n\
                    CONNECTX / HTTP/1.1\r\n\r\nCONNECT  / HTTP/1.1\r\n\r\n\
                    CONNECT h:1 HTTP/1.1\r\n\r\n";
        let want = wire
            .replace("CONNECT /", &format!("{CONNECT_STAND_IN} /"))
            .replacen('#', "%23", 1);
        // In one read, or cut anywhere (a read ending in part of `CONNECT /` is held
        // until the next one says what it is): the same bytes reach hyper.
        for step in (1..=12).chain([1000]) {
            assert_eq!(
                String::from_utf8(keep_all(wire.as_bytes(), step)).unwrap(),
                want,
                "pieces of {step}"
            );
        }
    }

    #[test]
    fn a_body_it_cannot_frame_ends_the_keeping() {
        for head in [
            "POST /a#1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "POST /a#1 HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            "POST /a#1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "POST /a#1 HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            "CONNECT a:1#1 HTTP/1.1\r\n\r\n",
        ] {
            let wire = format!("{head}GET /b#2 HTTP/1.1\r\n\r\n");
            let want = format!("{}GET /b#2 HTTP/1.1\r\n\r\n", head.replacen('#', "%23", 1));
            assert_eq!(
                String::from_utf8(keep_all(wire.as_bytes(), 7)).unwrap(),
                want
            );
        }
    }

    proptest::proptest! {
        /// Requests with bodies full of request lines, in pieces of any size: only the
        /// request lines' `#`s and origin-form `CONNECT`s change.
        #[test]
        fn only_request_lines_change(
            rs in proptest::collection::vec(
                (0usize..6, "[a-z#?]{0,6}", 0usize..40, proptest::bool::ANY), 1..6),
            step in 1usize..60,
        ) {
            let (mut wire, mut want) = (String::new(), String::new());
            for (m, target, len, lf) in rs {
                let method = ["GET", "HEAD", "PUT", "POST", "CONNECT", "COPY"][m];
                // An origin-form CONNECT reaches hyper as the stand-in (see the module).
                let sent = if method == "CONNECT" { CONNECT_STAND_IN } else { method };
                let nl = if lf { "\n" } else { "\r\n" };
                let body: String = "GET /x#y HTTP/1.1\r\n\r\n".chars().cycle().take(len).collect();
                // Bodies by length, or chunked (in two chunks) when `m` says POST.
                let (framing, body) = if m == 3 {
                    let (a, b) = body.split_at(len / 2);
                    let chunk = |c: &str| if c.is_empty() { String::new() } else {
                        format!("{:x}\r\n{c}\r\n", c.len()) };
                    (format!("Transfer-Encoding: chunked{nl}"),
                     format!("{}{}0\r\n\r\n", chunk(a), chunk(b)))
                } else if len > 0 {
                    (format!("Content-Length: {len}{nl}"), body)
                } else {
                    (String::new(), body)
                };
                let rest = format!(" HTTP/1.1{nl}Host: #h{nl}{framing}{nl}{body}");
                wire += &format!("{method} /{target}{rest}");
                want += &format!("{sent} /{}{rest}", target.replace('#', "%23"));
            }
            proptest::prop_assert_eq!(
                String::from_utf8(keep_all(wire.as_bytes(), step)).unwrap(), want);
        }
    }

    #[test]
    fn an_unannounced_close_leaves_only_its_connection_line_off() {
        let order = ReplyOrder::default();
        order.push(false);
        order.mark_unannounced_close();
        order.push(false);
        let a = resp("HTTP/1.1 200 OK", "Content-Length: 4\r\n", "data");
        let a = a.replace(
            &format!("{DATE}\r\n"),
            &format!("{DATE}Connection: close\r\n\r\n"),
        );
        let b = a.clone();
        let wire = format!("{a}{b}");
        let want = format!("{}{b}", a.replace("Connection: close\r\n", ""));
        assert_eq!(
            String::from_utf8(run_with(wire.as_bytes(), 9, order)).unwrap(),
            want
        );
    }

    #[test]
    fn the_order_is_bounded() {
        let q = ReplyOrder::default();
        for _ in 0..ReplyOrder::MAX * 2 {
            q.push(true);
        }
        q.push(false);
        assert_eq!(q.0.lock().unwrap().len(), ReplyOrder::MAX);
        for _ in 0..ReplyOrder::MAX - 1 {
            assert!(q.pop().head);
        }
        assert!(!q.pop().head);
        assert_eq!(
            q.pop(),
            Reply::default(),
            "an empty order: not a HEAD's answer"
        );
    }
}
