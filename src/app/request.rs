//! Reading requests: the parts of a request every surface interprets the same way: the
//! `Host`, the declared `Content-Length`, a body collected up to a limit, the query string
//! as WebOb's `req.params`, a path unquoted as eventlet did, and Python's `int()` of a
//! request's text.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http_body_util::BodyExt;

/// `http://<Host>` as WebOb's `host_url` built it from the environ's `HTTP_HOST`: the value
/// as Python held it (latin-1 text, repeated `Host` lines one `,`-joined value), cut at its
/// first `:`, with an empty or default (`80`) port left out; `http://localhost` without a
/// `Host` (the edge puts the listening address there first, as eventlet's `SERVER_NAME`).
pub fn host_url(h: &HeaderMap) -> String {
    let Some(host) = crate::auth::environ::header(h, "host", crate::auth::environ::Text::Latin1)
    else {
        return "http://localhost".to_string();
    };
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, port),
        None => (host.as_str(), ""),
    };
    if port.is_empty() || port == "80" {
        format!("http://{name}")
    } else {
        format!("http://{name}:{port}")
    }
}

/// What WebOb made a relative `Location` absolute against (`_request_uri`, then
/// `urljoin`): `http://` and the `Host` value as the environ held it (the edge puts the
/// listening address there when the line is missing or empty, as eventlet's `SERVER_NAME`
/// and `SERVER_PORT`), a final `:80` dropped, then the authority as Python's `urlsplit`
/// read it: tabs and line breaks removed, cut at the first `/`, `?` or `#`. Unlike
/// [`host_url`], an empty port stays (`Host: name:` gives `http://name:/v1/`). Glance's
/// every `Location` (a create's, the `/v1` redirect) was a relative one made absolute so.
pub fn location_base(h: &HeaderMap) -> String {
    let host = crate::auth::environ::header(h, "host", crate::auth::environ::Text::Latin1)
        .unwrap_or_else(|| "localhost".to_string());
    let mut url = format!("http://{host}");
    if url.ends_with(":80") {
        url.truncate(url.len() - 3);
    }
    url.retain(|c| !matches!(c, '\t' | '\r' | '\n'));
    if let Some(cut) = url["http://".len()..].find(['/', '?', '#']) {
        url.truncate("http://".len() + cut);
    }
    url
}

/// A request that came with an empty `Host` line (the edge answers it as if it had none,
/// with the listening address, but WebOb's `host_url` was then `http://`, which the
/// version documents' links show).
#[derive(Debug, Clone, Copy)]
pub struct EmptyHost;

/// A URL built from [`host_url`] as a header value: Python wrote the text UTF-8-encoded
/// (a `Host` of `caf\xe9` comes back as `http://caf\xc3\xa9`).
pub fn url_header(url: &str) -> Option<http::HeaderValue> {
    http::HeaderValue::from_bytes(url.as_bytes()).ok()
}

/// Header name of `x-image-meta-size` in requests.
pub static REQ_SIZE: HeaderName = HeaderName::from_static("x-image-meta-size");

/// The `Content-Length` of `h` as a number (surrounding whitespace allowed), or `None` when
/// it is absent or not a number. The one reader of that header, for requests and for the
/// emulator's own responses (and, as bytes, for the edge's wire mender:
/// [`content_length_value`]).
pub(crate) fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| content_length_value(v.as_bytes()))
}

/// A `Content-Length` value as a number (surrounding whitespace allowed), or `None`.
pub(crate) fn content_length_value(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// How [`python_int`] reads a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntText {
    /// Decimal digits after Rust's whitespace trim: what the list filters and Nova's
    /// parameters have always taken here.
    Plain,
    /// Python 3's `int(str)`, as the reference server read `x-image-meta-*` headers: also
    /// single `_` between digits, and `\x1c`–`\x1f` trimmed as whitespace. (Python held a
    /// header as latin-1 text, where no other script's digits can appear.)
    Python3,
    /// Python 3's `int(str)` on a query parameter, which WebOb decoded as UTF-8: as
    /// [`IntText::Python3`], and every Unicode decimal digit (`٥`, `５`) is a digit.
    Python3Query,
}

/// The first code point (digit zero) of every run of ten Unicode decimal digits (category
/// Nd, Unicode 14 as in the reference server's Python 3.11), ascending: Python's `int()`
/// read each as its value.
const DECIMAL_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// A Unicode decimal digit's value.
fn unicode_digit(c: char) -> Option<u8> {
    let cp = u32::from(c);
    let i = DECIMAL_ZEROS.partition_point(|&z| z <= cp).checked_sub(1)?;
    let d = cp - DECIMAL_ZEROS[i];
    (d < 10).then_some(d as u8)
}

/// Python's `int(text)` on text a request carried: surrounding whitespace, one sign,
/// decimal digits; any length (saturating at ±`i128::MAX`, far beyond anything a caller
/// compares it with). `None` where Python raised ValueError.
pub(crate) fn python_int(text: &str, how: IntText) -> Option<i128> {
    let python3 = how != IntText::Plain;
    // int() itself strips only what Rust calls whitespace; a header's \x1c-\x1f went before
    // (Python's `str.strip()` of the value).
    let header = how == IntText::Python3;
    let t = text
        .trim_matches(|c: char| c.is_whitespace() || (header && ('\x1c'..='\x1f').contains(&c)));
    let (neg, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let b = digits.as_bytes();
    let grouped_well =
        python3 && b.first() != Some(&b'_') && b.last() != Some(&b'_') && !digits.contains("__");
    if b.is_empty() {
        return None;
    }
    let mut n: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u8 - b'0',
            '_' if grouped_well => continue,
            _ if how == IntText::Python3Query => unicode_digit(c)?,
            _ => return None,
        };
        n = n.saturating_mul(10).saturating_add(i128::from(d));
    }
    Some(if neg { -n } else { n })
}

/// Why [`read_limited`] returned no body.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the limit arrived.
    TooLarge,
    /// The body broke off (connection closed, bad chunking, idle timeout).
    Broken(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // http_body_util's LengthLimitError, word for word.
            BodyError::TooLarge => f.write_str("length limit exceeded"),
            BodyError::Broken(e) => e.fmt(f),
        }
    }
}

/// Collects a whole request body of at most `limit` bytes. The one limited body reader;
/// each surface turns [`BodyError`] into its own answer.
pub(crate) async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) => Err(BodyError::Broken(e)),
    }
}

/// The query string as WebOb's `req.params`: every `key=value` pair in order (a multidict),
/// `+` and `%XX` decoded, undecodable bytes replaced. The one query parser.
///
/// WebOb (`compat.parse_qsl_text`) split the query at `&` *and* `;`, dropping empty pieces,
/// so `?is_public=None;name=x` is two parameters there, as it is here.
pub(crate) fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            query_pieces(q)
                .flat_map(|piece| form_urlencoded::parse(piece.as_bytes()))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `key=value` pieces of a query as WebOb cut them: at `&` and `;`, empty ones dropped.
fn query_pieces(q: &str) -> impl Iterator<Item = &str> {
    q.split(['&', ';']).filter(|p| !p.is_empty())
}

/// Whether every parameter of the query decodes as UTF-8 after `+` and `%XX` decoding
/// (WebOb's `req.params` raised otherwise).
pub(crate) fn query_decodes(query: Option<&str>) -> bool {
    query.is_none_or(|q| {
        query_pieces(q).all(|pair| {
            let plus = pair.replace('+', " ");
            percent_encoding::percent_decode_str(&plus)
                .decode_utf8()
                .is_ok()
        })
    })
}

/// A path (or one segment of it) unquoted as eventlet unquoted `PATH_INFO`: `%XX` decoded,
/// `+` kept, undecodable bytes replaced.
pub(crate) fn unquote(path: &str) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(path).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn python_int_takes_what_int_took() {
        for (s, want) in [
            ("5", Some(5)),
            (" 5\t", Some(5)),
            ("+5", Some(5)),
            ("-5", Some(-5)),
            ("1_000", Some(1000)),
            ("\x1c5\x1f", Some(5)),
            (
                "99999999999999999999999999999999999999999999",
                Some(i128::MAX),
            ),
            ("", None),
            ("+", None),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1.5", None),
            ("0x10", None),
            ("1e3", None),
            ("٣", None),
        ] {
            assert_eq!(python_int(s, IntText::Python3), want, "{s:?}");
            if !s.contains('٣') && !s.contains('\x1c') {
                assert_eq!(python_int(s, IntText::Python3Query), want, "{s:?} query");
            }
            // The plain reading: the same, without digit groups or \x1c-\x1f.
            let plain = want.filter(|_| !s.contains('_') && !s.contains('\x1c'));
            assert_eq!(python_int(s, IntText::Plain), plain, "{s:?} plain");
        }
    }

    // Rule: a query parameter's int() took every script's decimal digits (Python 3.11).
    #[test]
    fn query_ints_take_unicode_digits() {
        for (s, want) in [
            ("٣", Some(3)),
            ("\u{ff15}", Some(5)),
            ("1\u{0660}_\u{1d7ce}", Some(100)),
            ("\u{1fbf9}", Some(9)),
            ("\u{a0}-\u{966}7\u{3000}", Some(-7)),
            ("\u{b2}", None),
            ("\u{2155}", None),
            ("\u{1fbfa}", None),
            ("\u{65f}", None),
        ] {
            assert_eq!(python_int(s, IntText::Python3Query), want, "{s:?}");
            assert_eq!(python_int(s, IntText::Python3), None, "{s:?}");
        }
        // int() does not strip \x1c-\x1f (a header's value had been stripped before).
        assert_eq!(python_int("\x1c5", IntText::Python3Query), None);
        assert_eq!(python_int("\x1c5", IntText::Python3), Some(5));
    }

    // Rule: Content-Length is read trimmed and only as an unsigned number.
    #[test]
    fn content_length_is_a_trimmed_unsigned_number() {
        let mut h = HeaderMap::new();
        assert_eq!(content_length(&h), None);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static(" 12 "));
        assert_eq!(content_length(&h), Some(12));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("-1"));
        assert_eq!(content_length(&h), None);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1e3"));
        assert_eq!(content_length(&h), None);
    }

    // Rule: a body over the limit is TooLarge; one at the limit is read whole.
    #[tokio::test]
    async fn read_limited_stops_at_the_limit() {
        let body = || http_body_util::Full::new(Bytes::from_static(b"0123456789"));
        assert_eq!(read_limited(body(), 10).await.unwrap(), "0123456789");
        let err = read_limited(body(), 9).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge));
        assert_eq!(err.to_string(), "length limit exceeded");
    }

    // Rule: the query is a multidict in order, `+` and `%XX` decoded, lossy on bad UTF-8.
    #[test]
    fn query_params_are_webob_params() {
        assert!(query_params(None).is_empty());
        let p = query_params(Some("a=1&b=x+y;a=%C3%A9&&c;;d=%FF&e=%3B"));
        let want = [
            ("a", "1"),
            ("b", "x y"),
            ("a", "é"),
            ("c", ""),
            ("d", "\u{fffd}"),
            ("e", ";"),
        ];
        let got: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        assert!(query_decodes(Some("a=%C3%A9")));
        assert!(!query_decodes(Some("a=%FF")));
        assert!(!query_decodes(Some("a=1;b=%FF")));
        assert_eq!(unquote("/a%2Fb+c"), "/a/b+c");
    }

    // Rule: a Location is made absolute as WebOb's _request_uri and urljoin did.
    #[test]
    fn location_base_is_webobs_request_uri() {
        let base = |hosts: &[&str]| {
            let mut h = HeaderMap::new();
            for v in hosts {
                h.append(header::HOST, http::HeaderValue::from_str(v).unwrap());
            }
            location_base(&h)
        };
        assert_eq!(base(&["g.example:9292"]), "http://g.example:9292");
        assert_eq!(base(&["g.example:80"]), "http://g.example");
        assert_eq!(base(&["g.example:"]), "http://g.example:");
        assert_eq!(base(&["g.example:80:80"]), "http://g.example:80");
        assert_eq!(base(&["a", "b:80"]), "http://a,b");
        assert_eq!(base(&["a/b?c"]), "http://a");
        assert_eq!(base(&["a\tb"]), "http://ab");
        assert_eq!(base(&[]), "http://localhost");
    }
}
