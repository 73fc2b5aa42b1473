//! eventlet's limits on a request head, and its answers when one is passed: what Glance's
//! eventlet 0.33 server (`wsgi.HttpProtocol.handle_one_request`, with Python 3.11's
//! `http.client` reading the header lines) wrote before any of Glance's code ran, byte for
//! byte, and then closed the connection.
//!
//! - A request line of [`MAX_REQUEST_LINE`] bytes or more (its line end counted; eventlet
//!   reads it with `readline(8192)`): `414 Request URI Too Long`.
//! - A header line of [`MAX_HEADER_LINE`] bytes or more (Glance's `max_header_line`; a
//!   line still without its end is judged once `readline(65537)` would have returned it):
//!   `400 Header Line Too Long`.
//! - All header lines with their line ends and the blank line over
//!   [`MAX_TOTAL_HEADER_SIZE`] bytes (the request line not counted): `400 Headers Too Large`.
//! - More than [`MAX_LINES`] lines after the request line, the blank one counted (so 99
//!   header lines at most): `http.client`'s exception, answered by Python's
//!   `BaseHTTPRequestHandler.send_error` as `HTTP/1.1 431 Too many headers` with its HTML
//!   page.
//! - A `Content-Length` (the first one) that Python's `int()` does not read, or reads as
//!   negative: `400 Bad Request`.
//!
//! The checks run in eventlet's order, line by line as the lines arrive ([`Gauge`]), so a
//! head cut across reads is judged as the same head in one piece.

/// eventlet's `MAX_REQUEST_LINE`: a request line (with its line end) this long is refused.
pub const MAX_REQUEST_LINE: usize = 8192;
/// Glance's `max_header_line` (eventlet's `MAX_HEADER_LINE`): a header line this long is
/// refused.
pub const MAX_HEADER_LINE: usize = 16384;
/// eventlet's `MAX_TOTAL_HEADER_SIZE`: header lines and the blank line, at most this many
/// bytes.
pub const MAX_TOTAL_HEADER_SIZE: usize = 65536;
/// `http.client`'s `_MAXHEADERS`: lines after the request line, the blank one counted.
pub const MAX_LINES: usize = 100;
/// What `http.client` asks one `readline` for (`_MAXLINE + 1`): a header line without its
/// end is judged once this much of it has arrived.
const READLINE: usize = 65537;

/// The longest head eventlet may still be waiting on: a request line, a full header block
/// and a header line short of [`READLINE`]. Anything longer has been refused by then.
pub const MAX_PENDING_HEAD: usize = MAX_REQUEST_LINE + MAX_TOTAL_HEADER_SIZE + (READLINE - 1);

/// Why eventlet refused a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `414 Request URI Too Long`.
    RequestLine,
    /// `400 Header Line Too Long`.
    HeaderLine,
    /// `400 Headers Too Large`.
    HeadersTooLarge,
    /// Python's `431 Too many headers` page.
    TooManyHeaders,
    /// `400 Bad Request` for a `Content-Length` Python cannot read as a size.
    ContentLength,
    /// A request line Python's `parse_request` refused, answered by its `send_error`:
    /// the status code and the message (latin-1 text; see [`super::request_line`]).
    RequestLineSyntax(u16, Box<str>),
    /// A request line with no word at all: `parse_request` said no, and eventlet closed
    /// the connection without an answer.
    Silent,
}

impl Refusal {
    /// The answer's bytes, as eventlet (or Python's `http.server`) wrote them; the
    /// connection is closed after them.
    pub fn bytes(&self) -> Vec<u8> {
        let fixed: &[u8] = match self {
            Refusal::Silent => b"",
            Refusal::RequestLineSyntax(code, message) => {
                let explain = match code {
                    505 => "Cannot fulfill request",
                    _ => "Bad request syntax or unsupported method",
                };
                return send_error(*code, message, explain);
            }
            Refusal::RequestLine => {
                b"HTTP/1.0 414 Request URI Too Long\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            }
            Refusal::HeaderLine => {
                b"HTTP/1.0 400 Header Line Too Long\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
            }
            Refusal::HeadersTooLarge => {
                b"HTTP/1.0 400 Headers Too Large\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
            }
            Refusal::ContentLength => {
                b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\nContent-length: 0\r\n\r\n"
            }
            Refusal::TooManyHeaders => {
                return send_error(431, "Too many headers", "got more than 100 headers")
            }
        };
        fixed.to_vec()
    }
}

/// `BaseHTTPRequestHandler.send_error(code, message, explain)`: the status line (latin-1),
/// `Server`, `Date`, `Connection: close`, and the HTML page (UTF-8, `DEFAULT_ERROR_MESSAGE`).
pub(crate) fn send_error(code: u16, message: &str, explain: &str) -> Vec<u8> {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let page = format!(
        "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        <meta charset=\"utf-8\">\n        \
         <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        \
         <p>Error code: {code}</p>\n        <p>Message: {}.</p>\n        \
         <p>Error code explanation: {code} - {explain}.</p>\n    </body>\n</html>\n",
        escape(message)
    );
    let mut out: Vec<u8> = format!("HTTP/1.1 {code} ").into_bytes();
    // The status line was encoded as latin-1 (the message is latin-1 text).
    out.extend(
        message
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
    );
    out.extend_from_slice(b"\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: ");
    out.extend_from_slice(httpdate::fmt_http_date(std::time::SystemTime::now()).as_bytes());
    out.extend_from_slice(
        format!(
            "\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\n\
             Content-Length: {}\r\n\r\n",
            page.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(page.as_bytes());
    out
}

/// What [`Gauge::feed`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    /// The head ended this many bytes into the data fed, within the limits.
    Ended(usize),
    /// The head goes on past the data fed, within the limits so far.
    More,
    /// The head passed a limit (the data fed after it was not looked at).
    Refused(Refusal),
}

/// Follows one request head line by line, across reads, for eventlet's limits on lines
/// (everything but `Content-Length`, which needs the whole head: [`content_length_refused`]).
/// Leading empty lines are skipped, as httparse (and so hyper) skips them.
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    /// Past any empty lines before the request line.
    started: bool,
    /// Past the request line.
    request_line_done: bool,
    /// Bytes of the current line so far.
    line: usize,
    /// Whether the current line so far is a lone `\r`.
    lone_cr: bool,
    /// Lines after the request line, the current one not counted.
    lines: usize,
    /// Their bytes.
    total: usize,
}

impl Gauge {
    /// Follows `data`, the next bytes of the head.
    pub fn feed(&mut self, data: &[u8]) -> Fed {
        let mut pos = 0;
        if !self.started {
            pos = data
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            if pos == data.len() {
                return Fed::More;
            }
            self.started = true;
        }
        while pos < data.len() {
            let rest = &data[pos..];
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.lone_cr =
                    (self.line == 0 && rest == b"\r") || (self.lone_cr && rest.is_empty());
                self.line += rest.len();
                let limit = if self.request_line_done {
                    READLINE
                } else {
                    MAX_REQUEST_LINE
                };
                if self.line >= limit {
                    return Fed::Refused(if self.request_line_done {
                        Refusal::HeaderLine
                    } else {
                        Refusal::RequestLine
                    });
                }
                return Fed::More;
            };
            let len = self.line + i + 1;
            let blank = len == 1 || (len == 2 && (self.lone_cr || (i == 1 && rest[0] == b'\r')));
            pos += i + 1;
            self.line = 0;
            self.lone_cr = false;
            if !self.request_line_done {
                if len >= MAX_REQUEST_LINE {
                    return Fed::Refused(Refusal::RequestLine);
                }
                self.request_line_done = true;
                continue;
            }
            if len >= MAX_HEADER_LINE {
                return Fed::Refused(Refusal::HeaderLine);
            }
            self.total += len;
            if self.total > MAX_TOTAL_HEADER_SIZE {
                return Fed::Refused(Refusal::HeadersTooLarge);
            }
            self.lines += 1;
            if self.lines > MAX_LINES {
                return Fed::Refused(Refusal::TooManyHeaders);
            }
            if blank {
                *self = Gauge::default();
                return Fed::Ended(pos);
            }
        }
        Fed::More
    }
}

/// Whether eventlet refused these (whole, parsed) headers for their `Content-Length`: the
/// first one's value is not an integer to Python's `int()`, or is negative.
pub fn content_length_refused(headers: &[httparse::Header<'_>]) -> bool {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .is_some_and(|h| !python_int_not_negative(h.value))
}

/// Python's `int(value) >= 0` for a header value (ASCII): surrounding whitespace, a sign,
/// decimal digits with single `_` between them.
fn python_int_not_negative(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    let (negative, digits) = match v.split_first() {
        Some((b'-', d)) => (true, d),
        Some((b'+', d)) => (false, d),
        _ => (false, v),
    };
    let ok = !digits.is_empty()
        && digits.first().is_some_and(u8::is_ascii_digit)
        && digits.last().is_some_and(u8::is_ascii_digit)
        && digits.iter().all(|&b| b.is_ascii_digit() || b == b'_')
        && memchr::memmem::find(digits, b"__").is_none();
    ok && (!negative || digits.iter().all(|&b| b == b'0' || b == b'_'))
}

/// Where Python's email parser (`http.client.parse_headers`, so Glance) ended the header
/// block of a whole head (request line first): the offset of the first header line that is
/// neither a header (a name of printable ASCII without `:`, then `:`), a continuation (a
/// space or tab first) nor a `From ` line, if there is one before the blank line. That
/// line and every header line after it never reached Glance: a space before the colon,
/// a byte outside ASCII in the name, no colon at all. A last line without its line end
/// is judged as a line.
pub fn python_header_cut(head: &[u8]) -> Option<usize> {
    let mut pos = memchr::memchr(b'\n', head)? + 1;
    while pos < head.len() {
        let rest = &head[pos..];
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        let line = &rest[..len];
        if line == b"\n" || line == b"\r\n" {
            return None;
        }
        let name = line
            .iter()
            .take_while(|&&b| (0x21..=0x7e).contains(&b) && b != b':')
            .count();
        // A line beginning with CR (`\r\r\n`) is left to hyper, which refuses it (Python
        // would take the CR for the end of the block, and eventlet read on to a blank line).
        let header = line.get(name) == Some(&b':')
            || matches!(line.first(), Some(b' ' | b'\t' | b'\r'))
            || line.starts_with(b"From ");
        if !header {
            return Some(pos);
        }
        pos += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `head` in pieces of `step` bytes.
    fn gauge(head: &[u8], step: usize) -> Fed {
        let mut g = Gauge::default();
        let mut at = 0;
        for piece in head.chunks(step) {
            match g.feed(piece) {
                Fed::Ended(n) => return Fed::Ended(at + n),
                Fed::More => at += piece.len(),
                r => return r,
            }
        }
        Fed::More
    }

    fn head(line: usize, headers: &[String]) -> Vec<u8> {
        let target = "x".repeat(line - "GET / HTTP/1.1\r\n".len());
        let mut h = format!("GET /{target} HTTP/1.1\r\n");
        for x in headers {
            h += x;
            h += "\r\n";
        }
        h += "\r\n";
        h.into_bytes()
    }

    #[test]
    fn the_limits_are_eventlets_however_the_head_is_cut() {
        let line = |n: usize| format!("X-V: {}", "v".repeat(n - 7));
        let cases: Vec<(Vec<u8>, Option<Refusal>)> = vec![
            (head(8191, &[]), None),
            (head(8192, &[]), Some(Refusal::RequestLine)),
            (head(100, &[line(16383)]), None),
            (head(100, &[line(16384)]), Some(Refusal::HeaderLine)),
            (
                head(
                    100,
                    &vec![line(16000); 4]
                        .into_iter()
                        .chain([line(65536 - 2 - 4 * 16000)])
                        .collect::<Vec<_>>(),
                ),
                None,
            ),
            (
                head(
                    100,
                    &vec![line(16000); 4]
                        .into_iter()
                        .chain([line(65537 - 2 - 4 * 16000)])
                        .collect::<Vec<_>>(),
                ),
                Some(Refusal::HeadersTooLarge),
            ),
            (head(100, &vec!["A: b".to_string(); 99]), None),
            (
                head(100, &vec!["A: b".to_string(); 100]),
                Some(Refusal::TooManyHeaders),
            ),
        ];
        for (h, want) in cases {
            for step in [1, 2, 7, 1000, h.len()] {
                let want = want.clone().map_or(Fed::Ended(h.len()), Fed::Refused);
                assert_eq!(
                    gauge(&h, step),
                    want,
                    "{} bytes in pieces of {step}",
                    h.len()
                );
            }
        }
        // Judged before the line ends: 8192 bytes of request line, 65537 of header line.
        assert_eq!(gauge(&[b'G'; 8191], 100), Fed::More);
        assert_eq!(
            gauge(&[b'G'; 8192], 100),
            Fed::Refused(Refusal::RequestLine)
        );
        let mut h = b"GET / HTTP/1.1\r\nX: ".to_vec();
        h.resize(16 + 65536, b'v');
        assert_eq!(gauge(&h, 4096), Fed::More);
        h.push(b'v');
        assert_eq!(gauge(&h, 4096), Fed::Refused(Refusal::HeaderLine));
        // Bare line ends, and empty lines first.
        assert_eq!(
            gauge(b"\r\n\nGET / HTTP/1.1\nA: b\n\nrest", 1),
            Fed::Ended(24)
        );
        assert_eq!(
            gauge(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest", 1),
            Fed::Ended(24)
        );
    }

    #[test]
    fn python_ends_the_header_block_at_a_line_that_is_no_header() {
        let head = |lines: &str| format!("GET / HTTP/1.1\r\nA: 1\r\n{lines}B: 2\r\n\r\n");
        for (lines, cut) in [
            ("", false),
            ("X-Y_z.~!: v\r\n", false),
            (" folded\r\n", false),
            ("Host : x\r\n", true),
            ("NoColon\r\n", true),
            ("X-\u{e9}: v\r\n", true),
            ("X Y: v\r\n", true),
        ] {
            let h = head(lines);
            let want = cut.then_some("GET / HTTP/1.1\r\nA: 1\r\n".len());
            assert_eq!(python_header_cut(h.as_bytes()), want, "{lines:?}");
        }
    }

    #[test]
    fn content_length_is_read_as_python_reads_it() {
        for (v, refused) in [
            ("5", false),
            (" 12 ", false),
            ("+5", false),
            ("1_000", false),
            ("-0", false),
            ("0", false),
            ("-1", true),
            ("abc", true),
            ("", true),
            ("1__0", true),
            ("_1", true),
            ("1.5", true),
            ("0x10", true),
        ] {
            let h = [httparse::Header {
                name: "Content-Length",
                value: v.as_bytes(),
            }];
            assert_eq!(content_length_refused(&h), refused, "{v:?}");
        }
    }

    // Rule: send_error's bytes: latin-1 status line, Server, Date, close, UTF-8 page.
    #[test]
    fn send_error_is_pythons() {
        let out = send_error(
            400,
            "Bad request version ('caf\u{e9}<')",
            "Bad request syntax or unsupported method",
        );
        let text = String::from_utf8_lossy(&out);
        assert!(out.starts_with(b"HTTP/1.1 400 Bad request version ('caf\xe9<')\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: "));
        assert!(text.contains("GMT\r\nConnection: close\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: 365\r\n\r\n<!DOCTYPE HTML>"));
        assert!(text.ends_with("<p>Message: Bad request version ('caf\u{e9}&lt;').</p>\n        <p>Error code explanation: 400 - Bad request syntax or unsupported method.</p>\n    </body>\n</html>\n"));
    }
}
