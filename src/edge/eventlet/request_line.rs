//! The request line as Python's `BaseHTTPRequestHandler.parse_request` (3.11, under
//! eventlet) read it, where hyper reads it otherwise: the line is latin-1 text split on any
//! run of Python whitespace (tabs, `\x0b`, `\x1c`, NBSP... and runs of blanks, at either
//! end too), and the version is checked by number (`HTTP/1.2` and `HTTP/01.1` are served).
//! A line Python served is handed to hyper in the one form hyper reads (`METHOD SP target
//! SP version`, the version `HTTP/1.1` only when it said exactly that, else `HTTP/1.0`:
//! eventlet kept a connection open by default only for the exact `HTTP/1.1`); a line it
//! refused gets `send_error`'s page ([`send_error`]); a line with no word at all, nothing.

use super::limits::Refusal;

/// A method hyper is handed in place of `CONNECT` on an origin-form `CONNECT /path` line
/// (hyper takes every CONNECT for a tunnel); the service puts `CONNECT` back.
pub const CONNECT_STAND_IN: &str = "X-GLANCE-EMU-ORIGIN-FORM-CONNECT";

/// Python's whitespace among latin-1 characters (`str.split()`).
fn python_space(b: u8) -> bool {
    matches!(
        b,
        b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' | 0x85 | 0xa0
    )
}

/// Whether a request line (without its line end) is already in the form hyper reads as
/// Python did: three words, single spaces, a version of exactly `HTTP/1.1` or `HTTP/1.0`,
/// and no byte in the target that hyper refuses. The usual case, checked without copies.
fn plain(line: &[u8]) -> bool {
    let mut words = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    !method.is_empty()
        && !target.is_empty()
        && (version == b"HTTP/1.1" || version == b"HTTP/1.0")
        && !method
            .iter()
            .chain(target)
            .any(|&b| python_space(b) || hyper_refuses(b))
}

/// Bytes of a target that httparse refuses and Python took as they were.
fn hyper_refuses(b: u8) -> bool {
    b <= b' ' || b == 0x7f
}

/// Python's refusal of a request line (with its line end), if it refused it.
pub(crate) fn refusal(line: &[u8]) -> Option<Refusal> {
    mend(line).err()
}

/// The head with its request line as hyper must be handed it, `None` when it already is;
/// or the refusal Python answered the line with.
pub(crate) fn mend(head: &[u8]) -> Result<Option<Vec<u8>>, Refusal> {
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let raw = &head[..end];
    // `rstrip('\r\n')` (the `\n` is already off).
    let line = &raw[..raw.len() - raw.iter().rev().take_while(|&&b| b == b'\r').count()];
    if plain(line) && raw.len() - line.len() <= 1 {
        return Ok(None);
    }
    let words: Vec<&[u8]> = line
        .split(|&b| python_space(b))
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(Refusal::Silent);
    }
    let mut http11 = false;
    if words.len() >= 3 {
        let version = words[words.len() - 1];
        match version_number(version) {
            None => {
                return Err(Refusal::RequestLineSyntax(
                    400,
                    format!("Bad request version ({})", py_repr(version)).into(),
                ))
            }
            Some((major, minor)) => {
                if major >= 2 {
                    return Err(Refusal::RequestLineSyntax(
                        505,
                        format!("Invalid HTTP version ({})", latin1(&version[5..])).into(),
                    ));
                }
                let _ = minor;
                http11 = version == b"HTTP/1.1";
            }
        }
    }
    if !(2..=3).contains(&words.len()) {
        return Err(Refusal::RequestLineSyntax(
            400,
            format!("Bad request syntax ({})", py_repr(line)).into(),
        ));
    }
    if words.len() == 2 && words[0] != b"GET" {
        return Err(Refusal::RequestLineSyntax(
            400,
            format!("Bad HTTP/0.9 request type ({})", py_repr(words[0])).into(),
        ));
    }
    let mut out = Vec::with_capacity(head.len() + 40);
    if words[0] == b"CONNECT" && words[1].starts_with(b"/") {
        // An origin-form CONNECT, which hyper takes for a tunnel (see the keeper).
        out.extend_from_slice(CONNECT_STAND_IN.as_bytes());
    } else {
        out.extend_from_slice(words[0]);
    }
    out.push(b' ');
    for &b in words[1] {
        if hyper_refuses(b) {
            // The same byte once the router unquotes the path, as eventlet's PATH_INFO had
            // it.
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(if http11 {
        b" HTTP/1.1\r\n"
    } else {
        b" HTTP/1.0\r\n"
    });
    out.extend_from_slice(head.get(end + 1..).unwrap_or_default());
    Ok(Some(out))
}

/// `HTTP/<digits>.<digits>` with at most ten digits each (`isdigit()` on latin-1 took the
/// superscripts too, and `int()` then refused them: a refusal all the same).
fn version_number(v: &[u8]) -> Option<(u64, u64)> {
    let rest = v.strip_prefix(b"HTTP/")?;
    let mut parts = rest.split(|&b| b == b'.');
    let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    let num = |p: &[u8]| -> Option<u64> {
        if p.is_empty() || p.len() > 10 || !p.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(p).ok()?.parse().ok()
    };
    Some((num(a)?, num(b)?))
}

/// Latin-1 bytes as text.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// Python's `repr()` of latin-1 text.
fn py_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(b.len() + 2);
    out.push(quote);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if char::from(c) == quote => {
                out.push('\\');
                out.push(quote);
            }
            // Not printable: the C0 and C1 controls, DEL, NBSP and the soft hyphen.
            0x00..=0x1f | 0x7f..=0xa0 | 0xad => out.push_str(&format!("\\x{c:02x}")),
            _ => out.push(char::from(c)),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(head: &[u8]) -> Result<String, String> {
        match mend(head) {
            Ok(None) => Ok("as it is".into()),
            Ok(Some(h)) => Ok(String::from_utf8_lossy(&h).into_owned()),
            Err(Refusal::RequestLineSyntax(code, m)) => Err(format!("{code} {m}")),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    // Rule: a request line is read as Python 3.11's parse_request read it (each case here
    // answered so by Glance 15.0.2 under eventlet).
    #[test]
    fn request_lines_are_read_as_python_read_them() {
        let rest = "\r\nHost: x\r\n\r\n";
        for (l, want) in [
            ("GET /versions HTTP/1.1", Ok("as it is")),
            ("GET /versions HTTP/1.0", Ok("as it is")),
            ("GET  /versions HTTP/1.1", Ok("GET /versions HTTP/1.1")),
            (" GET\t/versions HTTP/1.1 ", Ok("GET /versions HTTP/1.1")),
            (
                "GET\u{a0}/v\u{1}x\u{1c}HTTP/1.1\r",
                Ok("GET /v%01x HTTP/1.1"),
            ),
            ("GET /versions", Ok("GET /versions HTTP/1.0")),
            ("GET /versions HTTP/1.2", Ok("GET /versions HTTP/1.0")),
            ("GET /versions HTTP/01.1", Ok("GET /versions HTTP/1.0")),
            ("GET /versions HTTP/0.9", Ok("GET /versions HTTP/1.0")),
            (
                "CONNECT  /versions HTTP/1.1",
                Ok("X-GLANCE-EMU-ORIGIN-FORM-CONNECT /versions HTTP/1.1"),
            ),
            ("GET", Err("400 Bad request syntax ('GET')")),
            (
                "POST /versions",
                Err("400 Bad HTTP/0.9 request type ('POST')"),
            ),
            (
                "GET /x HTTP/1.1 extra",
                Err("400 Bad request version ('extra')"),
            ),
            (
                "GET /x y HTTP/1.1",
                Err("400 Bad request syntax ('GET /x y HTTP/1.1')"),
            ),
            (
                "GET /x HTTP/1.1.1",
                Err("400 Bad request version ('HTTP/1.1.1')"),
            ),
            ("GET /x HTTP/2", Err("400 Bad request version ('HTTP/2')")),
            ("GET /x HTTP/", Err("400 Bad request version ('HTTP/')")),
            (
                "GET /x HTTP/1.x",
                Err("400 Bad request version ('HTTP/1.x')"),
            ),
            ("GET /x FOO/1.1", Err("400 Bad request version ('FOO/1.1')")),
            (
                "GET /x HTTP/12345678901.1",
                Err("400 Bad request version ('HTTP/12345678901.1')"),
            ),
            ("GET /x HTTP/2.0", Err("505 Invalid HTTP version (2.0)")),
            ("GET /x HTTP/3.5", Err("505 Invalid HTTP version (3.5)")),
            ("GET /x x'y", Err("400 Bad request version (\"x'y\")")),
            ("GET /x x'y\"", Err("400 Bad request version ('x\\'y\"')")),
            ("   ", Err("Silent")),
        ] {
            let head = format!("{l}{rest}");
            let got = line(&latin1_bytes(&head));
            let want = want
                .map(|w| {
                    if w == "as it is" {
                        w.to_string()
                    } else {
                        format!("{w}{rest}")
                    }
                })
                .map_err(str::to_string);
            assert_eq!(got, want, "{l:?}");
        }
        // Latin-1 text in a version: the superscript two is no digit to int().
        assert_eq!(
            line(b"GET /x HTTP/\xb2.1\r\n\r\n"),
            Err("400 Bad request version ('HTTP/\u{b2}.1')".into())
        );
        assert_eq!(
            line(b"GET /x \xe9\xad\xa0\x85\r\n\r\n"),
            Err("400 Bad request version ('\u{e9}\\xad')".into())
        );
        assert_eq!(
            line(b"GET /caf\xe9 HTTP/1.1\r\n\r\n"),
            Ok("as it is".into())
        );
    }

    fn latin1_bytes(s: &str) -> Vec<u8> {
        s.chars().map(|c| u32::from(c) as u8).collect()
    }
}
