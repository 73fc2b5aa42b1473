//! The request side of the eventlet mender: [`TargetKeeper`] follows the requests coming in
//! (heads, bodies by length or chunk by chunk), hands hyper each head whole, with `%23` for
//! a `#` in a request line, a stand-in method for an origin-form `CONNECT` and the header
//! block ended where Python's email parser ended it, and stops at a head past eventlet's
//! limits (see the folder's module docs).

use bytes::Bytes;

use super::limits::{content_length_refused, python_header_cut, Fed, Gauge, Refusal};
use super::mender::within;
use super::request_line::{self, CONNECT_STAND_IN};
use crate::app::content_length_value;

/// The start of an origin-form `CONNECT` request line.
const CONNECT_ORIGIN: &[u8] = b"CONNECT /";

/// [`CONNECT_STAND_IN`] and the space after it, for a `CONNECT ` held whole.
const CONNECT_STAND_IN_SPACE: &str = "X-GLANCE-EMU-ORIGIN-FORM-CONNECT ";

/// A change [`TargetKeeper::scan`] asks for: `remove` bytes at `at` become `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mend {
    pub at: usize,
    pub remove: usize,
    pub insert: Bytes,
}

const NOTHING: Bytes = Bytes::from_static(b"");

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
    /// eventlet's limits on the head being read, fed each byte of it once, as sent.
    gauge: Gauge,
    /// The head that passed one of eventlet's limits; nothing is followed after it.
    refused: Option<Refusal>,
}

impl Default for TargetKeeper {
    fn default() -> Self {
        TargetKeeper {
            state: In::Head,
            head: Vec::new(),
            line_done: false,
            held: 0,
            gauge: Gauge::default(),
            refused: None,
        }
    }
}

impl TargetKeeper {
    /// Follows `data`, bytes on their way to hyper. `None`: all of it may go as it is.
    /// `Some(m)`: `data[..m.at]` and then `m.insert` go first, in place of the `m.remove`
    /// bytes at `m.at`, which have been followed; the rest is to be given to `scan` again.
    ///
    /// hyper is handed each head whole: a head in one read that needs no change goes as
    /// it is (not copied); one cut across reads, or with a `#` in its request line
    /// (`%23`), an origin-form `CONNECT` (the stand-in) or a header line Python's email
    /// parser ends the header block at ([`python_header_cut`]: that line and the header
    /// lines after it are left out, as Glance never saw them), is taken out of the reads
    /// and handed on, mended, once its blank line has come.
    ///
    /// A head that passes one of eventlet's limits ([`super::limits`]) is cut off: the
    /// mend removes the rest of `data` from where that head began in it (all of it when
    /// the head began in an earlier read), [`TargetKeeper::refusal`] says why, and nothing
    /// more is followed.
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
                    // Where hyper's bytes stop if this head is refused: a head kept from
                    // earlier calls has had none of its bytes handed on.
                    let cut = if self.head.is_empty() && self.held == 0 {
                        pos
                    } else {
                        0
                    };
                    let mut rest = &data[pos..];
                    if self.held > 0 {
                        let m = self.resolve_held(pos, rest);
                        // Part of `CONNECT /`, no line end: always within the limits.
                        self.gauge.feed(&rest[..m.remove]);
                        return Some(m);
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
                            self.gauge.feed(rest);
                            return Some(Mend {
                                at: pos,
                                remove: rest.len(),
                                insert: NOTHING,
                            });
                        }
                        if rest.starts_with(CONNECT_ORIGIN) {
                            // Kept, with the stand-in, until the head is whole.
                            self.gauge.feed(b"CONNECT");
                            self.head.extend_from_slice(CONNECT_STAND_IN.as_bytes());
                            return Some(Mend {
                                at: pos,
                                remove: "CONNECT".len(),
                                insert: NOTHING,
                            });
                        }
                    }
                    let mut line_end = None;
                    if !self.line_done {
                        match memchr::memchr2(b'#', b'\n', rest) {
                            Some(i) if rest[i] == b'#' => {
                                if let Fed::Refused(r) = self.gauge.feed(&rest[..=i]) {
                                    return Some(self.refuse(r, cut, data.len()));
                                }
                                // The head as hyper will read it, kept until it is whole.
                                self.head.extend_from_slice(&rest[..i]);
                                self.head.extend_from_slice(b"%23");
                                return Some(Mend {
                                    at: pos,
                                    remove: i + 1,
                                    insert: NOTHING,
                                });
                            }
                            Some(i) => {
                                self.line_done = true;
                                line_end = Some(i + 1);
                            }
                            None => {}
                        }
                    }
                    // eventlet's limits on the request line, then Python's reading of it,
                    // before any header line is looked at (as `parse_request` did).
                    let mut fed = 0;
                    if let Some(k) = line_end {
                        if let Fed::Refused(r) = self.gauge.feed(&rest[..k]) {
                            return Some(self.refuse(r, cut, data.len()));
                        }
                        fed = k;
                        let refused = if self.head.is_empty() {
                            request_line::refusal(&rest[..k])
                        } else {
                            let mut line = self.head.clone();
                            line.extend_from_slice(&rest[..k]);
                            request_line::refusal(&line)
                        };
                        if let Some(r) = refused {
                            return Some(self.refuse(r, cut, data.len()));
                        }
                    }
                    match self.gauge.feed(&rest[fed..]) {
                        Fed::Refused(r) => return Some(self.refuse(r, cut, data.len())),
                        Fed::More => {
                            self.head.extend_from_slice(rest);
                            if self.head.len() > MAX_REQUEST_HEAD {
                                // Not reached: eventlet's limits refuse a head long before.
                                let kept = Bytes::from(std::mem::take(&mut self.head));
                                self.state = In::Raw;
                                return Some(Mend {
                                    at: pos,
                                    remove: rest.len(),
                                    insert: kept,
                                });
                            }
                            if memchr::memchr(b'\n', rest).is_some() && refused_early(&self.head) {
                                // hyper refuses this head already (its 400, at once, as
                                // when it read the head itself): handed on as it is.
                                let kept = Bytes::from(std::mem::take(&mut self.head));
                                self.state = In::Raw;
                                return Some(Mend {
                                    at: pos,
                                    remove: rest.len(),
                                    insert: kept,
                                });
                            }
                            return Some(Mend {
                                at: pos,
                                remove: rest.len(),
                                insert: NOTHING,
                            });
                        }
                        Fed::Ended(n) => {
                            let n = n + fed;
                            self.line_done = false;
                            if self.head.is_empty() {
                                // The usual case: a whole head in one read, not copied.
                                let head = &rest[..n];
                                let end = python_header_cut(head);
                                let seen = end.map_or(head, |k| &head[..k]);
                                let mended = mend_head(seen);
                                let framed = mended.as_deref().unwrap_or(seen);
                                self.state = match request_framing(framed, end.is_some()) {
                                    Ok(next) => next,
                                    Err(r) => return Some(self.refuse(r, cut, data.len())),
                                };
                                if let Some(mut mended) = mended {
                                    if end.is_some() {
                                        mended.extend_from_slice(b"\r\n");
                                    }
                                    return Some(Mend {
                                        at: pos,
                                        remove: n,
                                        insert: Bytes::from(mended),
                                    });
                                }
                                match end {
                                    None => pos += n,
                                    Some(k) => {
                                        return Some(Mend {
                                            at: pos + k,
                                            remove: n - k,
                                            insert: Bytes::from_static(b"\r\n"),
                                        })
                                    }
                                }
                            } else {
                                let mut head = std::mem::take(&mut self.head);
                                head.extend_from_slice(&rest[..n]);
                                let end = python_header_cut(&head);
                                if let Some(k) = end {
                                    head.truncate(k);
                                }
                                if let Some(mended) = mend_head(&head) {
                                    head = mended;
                                }
                                self.state = match request_framing(&head, end.is_some()) {
                                    Ok(next) => next,
                                    Err(r) => return Some(self.refuse(r, cut, data.len())),
                                };
                                if end.is_some() {
                                    head.extend_from_slice(b"\r\n");
                                }
                                return Some(Mend {
                                    at: pos,
                                    remove: n,
                                    insert: Bytes::from(head),
                                });
                            }
                        }
                    }
                }
            }
        }
        None
    }

    /// Why the head the keeper stopped at was refused (eventlet's answer is due, after the
    /// answers to the requests before it), if it was.
    pub fn refusal(&self) -> Option<Refusal> {
        self.refused.clone()
    }

    /// Stops at a head refused for `r`: the rest of `data` from `cut` is not handed on.
    fn refuse(&mut self, r: Refusal, cut: usize, len: usize) -> Mend {
        self.refused = Some(r);
        self.state = In::Raw;
        self.head = Vec::new();
        self.held = 0;
        Mend {
            at: cut,
            remove: len - cut,
            insert: NOTHING,
        }
    }

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
                insert: NOTHING,
            };
        }
        self.held = 0;
        if rest.starts_with(want) {
            // The held bytes are gone; what is left of the method here is replaced.
            let (remove, insert) = match "CONNECT".len().checked_sub(held) {
                Some(left) => (left, CONNECT_STAND_IN),
                None => (0, CONNECT_STAND_IN_SPACE),
            };
            // Kept with the head until it is whole.
            self.head.extend_from_slice(insert.as_bytes());
            return Mend {
                at: pos,
                remove,
                insert: NOTHING,
            };
        }
        // Not a `CONNECT /`: the held bytes begin the head kept.
        self.head.extend_from_slice(&CONNECT_ORIGIN[..held]);
        Mend {
            at: pos,
            remove: 0,
            insert: NOTHING,
        }
    }
}

/// The name hyper is handed in place of `Connection` on a line eventlet did not read as
/// hyper would (see [`connection_mend`]).
pub const CONNECTION_UNREAD: &str = "X-Glance-Emu-Unread-Connection";

/// A whole head as hyper is to be handed it: its request line in the form hyper reads
/// ([`request_line::mend`]; refusals were checked when the line ended) and the `Connection`
/// lines eventlet did not read renamed ([`connection_mend`]); `None` when neither changes
/// anything. Renaming `Connection` lines changes nothing [`request_framing`] reads.
fn mend_head(head: &[u8]) -> Option<Vec<u8>> {
    let lined = request_line::mend(head).ok().flatten();
    let conn = connection_mend(lined.as_deref().unwrap_or(head)).or(lined);
    http10_chunked_mend(conn.as_deref().unwrap_or(head)).or(conn)
}

/// The line hyper is handed after the request line of an HTTP/1.0 request with a chunked
/// body, which then goes as HTTP/1.1 (see [`http10_chunked_mend`]); the service takes the
/// line out and puts HTTP/1.0 back before anything reads the request.
pub const HTTP10_CHUNKED: &str = "X-Glance-Emu-Http10-Chunked";

/// `head` (its request line in hyper's form) as HTTP/1.1 with [`HTTP10_CHUNKED`] after the
/// request line, when it is an HTTP/1.0 request whose body is chunked; else `None`.
///
/// eventlet read a chunked body whatever the version (python-glanceclient over an HTTP/1.0
/// proxy uploads that way); hyper refuses `Transfer-Encoding` in an HTTP/1.0 request (400).
/// Version 1.1 only changes how hyper reads the body; the answer's `Connection` (close,
/// unless the client said keep-alive) comes from the HTTP/1.0 the service restores, and
/// hyper closes after it as eventlet did.
fn http10_chunked_mend(head: &[u8]) -> Option<Vec<u8>> {
    const TE: &[u8] = b"transfer-encoding:";
    let eol = memchr::memchr(b'\n', head)?;
    let line = head[..eol].strip_suffix(b"\r").unwrap_or(&head[..eol]);
    let start = line.strip_suffix(b" HTTP/1.0")?;
    let mut chunked = false;
    for l in head[eol + 1..].split(|&b| b == b'\n') {
        if l.len() >= TE.len() && l[..TE.len()].eq_ignore_ascii_case(TE) {
            // As [`request_framing`] reads it: chunked when it is the last coding.
            let value = &l[TE.len()..];
            let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
        }
    }
    if !chunked {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + HTTP10_CHUNKED.len() + 8);
    out.extend_from_slice(start);
    out.extend_from_slice(b" HTTP/1.1\r\n");
    out.extend_from_slice(HTTP10_CHUNKED.as_bytes());
    out.extend_from_slice(b": 1\r\n");
    out.extend_from_slice(&head[eol + 1..]);
    Some(out)
}

/// `head` with the `Connection` lines hyper would read otherwise than eventlet renamed
/// ([`CONNECTION_UNREAD`]), or `None` when there are none.
///
/// eventlet (and Python's `BaseHTTPRequestHandler` before it) looked at the first
/// `Connection` line only, at its whole value with leading blanks stripped, lower-cased:
/// exactly `close` closed the connection after the answer, exactly `keep-alive` kept it
/// (and was echoed); anything else (`keep-alive, close`, `close ` with a trailing blank)
/// left HTTP/1.1's default (open) and HTTP/1.0's (closed). hyper reads every `Connection`
/// line as a list of tokens, so it is handed only a first line that says exactly `close`
/// or `keep-alive`, and no other. (A folded value is renamed too, though hyper refuses a
/// folded head whole before it matters: docs/fidelity.md.)
fn connection_mend(head: &[u8]) -> Option<Vec<u8>> {
    const NAME: &[u8] = b"connection:";
    let mut pos = memchr::memchr(b'\n', head)? + 1;
    let mut renamed = Vec::new();
    let mut first = true;
    while pos < head.len() {
        let rest = &head[pos..];
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = &rest[..len];
        if line.len() >= NAME.len() && line[..NAME.len()].eq_ignore_ascii_case(NAME) {
            let value = &line[NAME.len()..];
            let start = value
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t'))
                .count();
            let end = value.len()
                - value
                    .iter()
                    .rev()
                    .take_while(|b| matches!(b, b'\r' | b'\n'))
                    .count();
            let value = value.get(start..end).unwrap_or_default();
            let folded = matches!(head.get(pos + len), Some(b' ' | b'\t'));
            let plain =
                value.eq_ignore_ascii_case(b"close") || value.eq_ignore_ascii_case(b"keep-alive");
            if !(first && plain && !folded) {
                renamed.push(pos);
            }
            first = false;
        }
        pos += len;
    }
    if renamed.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(head.len() + renamed.len() * CONNECTION_UNREAD.len());
    let mut from = 0;
    for at in renamed {
        out.extend_from_slice(&head[from..at]);
        out.extend_from_slice(CONNECTION_UNREAD.as_bytes());
        from = at + NAME.len() - 1;
    }
    out.extend_from_slice(&head[from..]);
    Some(out)
}

/// Whether httparse already refuses the start of a head (its whole lines, up to where
/// Python's email parser would end the block): hyper would answer it 400 without waiting
/// for the rest, so the keeper does not keep it either.
fn refused_early(head: &[u8]) -> bool {
    // Its request line as hyper will be handed it (Python took more forms than httparse).
    let lined = request_line::mend(head).ok().flatten();
    let head = lined.as_deref().unwrap_or(head);
    let Some(last) = memchr::memrchr(b'\n', head) else {
        return false;
    };
    let lines = &head[..=last];
    let seen = python_header_cut(lines).map_or(lines, |k| &lines[..k]);
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
    let mut req = httparse::Request::new(&mut []);
    matches!(
        req.parse_with_uninit_headers(seen, &mut headers),
        Err(e) if e != httparse::Error::TooManyHeaders
    )
}

/// What follows a whole request head: its body by `Content-Length`, nothing, or (for what
/// hyper reads differently or refuses) the end of following; or eventlet's refusal of a
/// `Content-Length` Python could not read. `open`: `head` ends where Python's email parser
/// ended the header block ([`python_header_cut`]), without its blank line.
fn request_framing(head: &[u8], open: bool) -> Result<In, Refusal> {
    if open {
        let mut whole = head.to_vec();
        whole.extend_from_slice(b"\r\n");
        return request_framing(&whole, false);
    }
    // Uninitialised: zeroing 128 headers (4 KB) on every request would cost more than the
    // parse.
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(head, &mut headers) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Ok(In::Raw),
    }
    if content_length_refused(req.headers) {
        return Err(Refusal::ContentLength);
    }
    if req.method.is_none_or(|m| m.eq_ignore_ascii_case("CONNECT")) {
        return Ok(In::Raw);
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked only when it is the last coding (anything else hyper refuses).
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Ok(In::Raw);
            }
            chunked = true;
            continue;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            match content_length_value(h.value) {
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => return Ok(In::Raw),
            }
        }
    }
    Ok(match (chunked, length) {
        // Both: hyper's reading of such a request is not one to guess at.
        (true, Some(_)) => In::Raw,
        (true, None) => In::Chunked(Chunk::START),
        (false, Some(n)) if n > 0 => In::Body(n),
        _ => In::Head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `input` through a keeper in reads of `step` bytes, as `Conn::poll_read` does:
    /// after a `#`, `%23` goes out and the rest of the read is scanned again.
    fn keep_all(input: &[u8], step: usize) -> Vec<u8> {
        keep_until_refused(input, step).0
    }

    /// [`keep_all`], stopping at a refused head (as the connection stops reading).
    fn keep_until_refused(input: &[u8], step: usize) -> (Vec<u8>, Option<Refusal>) {
        let mut k = TargetKeeper::default();
        let mut out = Vec::new();
        for read in input.chunks(step) {
            let mut pos = 0;
            while pos < read.len() {
                match k.scan(&read[pos..]) {
                    None => {
                        out.extend_from_slice(&read[pos..]);
                        pos = read.len();
                    }
                    Some(m) => {
                        out.extend_from_slice(&read[pos..pos + m.at]);
                        out.extend_from_slice(&m.insert);
                        pos += m.at + m.remove;
                    }
                }
            }
            if k.refusal().is_some() {
                break;
            }
        }
        (out, k.refusal())
    }

    #[test]
    fn heads_are_handed_on_whole_and_end_where_python_ended_them() {
        // A header line Python's email parser takes for no header ends the block: it and
        // the lines after it are left out (a body length among them too), in one read or
        // cut anywhere; the mended head goes on at once when it is whole.
        let wire = "POST /a#1 HTTP/1.1\r\nA: 1\r\nHost : x\r\nContent-Length: 5\r\n\r\n\
                    GET /b#2 HTTP/1.1\r\nNoColon\r\n\r\nCONNECT /c HTTP/1.1\r\n\r\n";
        let want = format!(
            "POST /a%231 HTTP/1.1\r\nA: 1\r\n\r\nGET /b%232 HTTP/1.1\r\n\r\n\
             {CONNECT_STAND_IN} /c HTTP/1.1\r\n\r\n"
        );
        for step in [1, 2, 5, 9, 1000] {
            assert_eq!(
                String::from_utf8(keep_all(wire.as_bytes(), step)).unwrap(),
                want,
                "pieces of {step}"
            );
        }
        // Heads are never handed on in part: a read that ends inside one hands on nothing
        // of it.
        let mut k = TargetKeeper::default();
        let m = k.scan(b"GET /x HTTP/1.1\r\nHost: h\r\n").unwrap();
        assert_eq!((m.at, m.remove, m.insert.len()), (0, 26, 0));
        let m = k.scan(b"\r\nGET /y HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(&m.insert[..], b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((m.at, m.remove), (0, 2));
        assert_eq!(k.scan(b"GET /y HTTP/1.1\r\n\r\n"), None);
        // A head httparse already refuses (a CR CR LF line: hyper's 400 at once) is not kept
        // waiting for a blank line that may never come: handed on as it is.
        for step in [1, 3, 8, 1000] {
            let wire = b"GET /a#1 HTTP/1.1\r\nHost: x\r\n\r\r\nX: y\r\n";
            let out = keep_all(wire, step);
            let want = b"GET /a%231 HTTP/1.1\r\nHost: x\r\n\r\r\nX: y\r\n";
            assert_eq!(out, want, "pieces of {step}");
        }
    }

    #[test]
    fn a_head_past_eventlets_limits_is_cut_off_and_refused() {
        // Before it: a `#` mended, a body that reads like a request line.
        let before = "GET /a#1 HTTP/1.1\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nGET";
        let mended = before.replacen('#', "%23", 1);
        for (bad, why) in [
            (
                format!("GET /{}#x HTTP/1.1\r\n\r\n", "x".repeat(8190)),
                Refusal::RequestLine,
            ),
            (
                format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(16379)),
                Refusal::HeaderLine,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n".to_string(),
                Refusal::ContentLength,
            ),
            (
                format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(100)),
                Refusal::TooManyHeaders,
            ),
            (
                format!("CONNECT / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(100)),
                Refusal::TooManyHeaders,
            ),
        ] {
            let wire = format!("{before}{bad}GET /c HTTP/1.1\r\n\r\n");
            for step in [1, 7, 4096, 1 << 20] {
                let (out, refused) = keep_until_refused(wire.as_bytes(), step);
                assert_eq!(refused, Some(why.clone()), "pieces of {step}");
                // Everything before the refused head, none of it (heads are handed on
                // whole), nothing after it.
                assert_eq!(String::from_utf8(out).unwrap(), mended, "pieces of {step}");
            }
        }
        // Within the limits: followed on.
        let ok = format!(
            "GET /{} HTTP/1.1\r\n{}\r\nGET /d#1 HTTP/1.1\r\n\r\n",
            "x".repeat(8175),
            "A: b\r\n".repeat(99)
        );
        for step in [1, 4096, 1 << 20] {
            let (out, refused) = keep_until_refused(ok.as_bytes(), step);
            assert_eq!(refused, None);
            assert_eq!(String::from_utf8(out).unwrap(), ok.replacen('#', "%23", 1));
        }
    }

    // Rule: hyper is handed only a first `Connection` line of exactly `close` or
    // `keep-alive` (eventlet's reading); every other `Connection` line is renamed.
    #[test]
    fn connection_lines_eventlet_did_not_read_are_renamed() {
        let u = CONNECTION_UNREAD;
        for (sent, want) in [
            ("Connection: close\r\n", "Connection: close\r\n".to_string()),
            (
                "connection:\tKeep-Alive\r\n",
                "connection:\tKeep-Alive\r\n".into(),
            ),
            (
                "Connection: keep-alive, close\r\n",
                format!("{u}: keep-alive, close\r\n"),
            ),
            ("Connection: close \r\n", format!("{u}: close \r\n")),
            (
                "Connection: keep-alive\r\nX: 1\r\nCONNECTION: close\r\n",
                format!("Connection: keep-alive\r\nX: 1\r\n{u}: close\r\n"),
            ),
            (
                "Connection: x\r\nConnection: close\r\n",
                format!("{u}: x\r\n{u}: close\r\n"),
            ),
        ] {
            let wire = format!("GET /a#b HTTP/1.1\r\nHost: h\r\n{sent}\r\nGET /c HTTP/1.1\r\n\r\n");
            let want =
                format!("GET /a%23b HTTP/1.1\r\nHost: h\r\n{want}\r\nGET /c HTTP/1.1\r\n\r\n");
            for step in [1, 3, 1000] {
                assert_eq!(
                    String::from_utf8(keep_all(wire.replace('#', "").as_bytes(), step)).unwrap(),
                    want.replace("%23", ""),
                    "{sent:?} in reads of {step}"
                );
                assert_eq!(
                    String::from_utf8(keep_all(wire.as_bytes(), step)).unwrap(),
                    want,
                    "{sent:?} with a # in reads of {step}"
                );
            }
        }
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
        // `CONNECT  /` (two blanks) is Python's origin-form CONNECT too: its request line
        // is handed on in the form hyper reads, with the stand-in.
        let want = wire
            .replace("CONNECT /", &format!("{CONNECT_STAND_IN} /"))
            .replace("CONNECT  /", &format!("{CONNECT_STAND_IN} /"))
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
}
