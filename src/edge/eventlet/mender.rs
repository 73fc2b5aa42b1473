//! The response side of the eventlet mender: [`HeadFixer`] mends hyper's response heads
//! on their way to the socket, following each response's framing, and [`ReplyOrder`] tells
//! it what the bytes do not say (see the folder's module docs).

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

/// How many of `avail` bytes belong to a run of `left` more (a body, a chunk's data).
pub(super) fn within(left: u64, avail: usize) -> usize {
    avail.min(usize::try_from(left).unwrap_or(usize::MAX))
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
