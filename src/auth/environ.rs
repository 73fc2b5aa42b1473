//! Request headers as Python's WSGI environ held them, for the two readers that follow
//! Glance: keystonemiddleware's identity headers (`auth::trusted`) and the image's
//! `x-image-meta-*` headers (`glance::request_meta`). In the environ a name's `-` and `_`
//! are one (both become `HTTP_X_..._ID`), and a repeated header is one value, the values
//! joined with `,` in arrival order (eventlet's `env[key] += ',' + value`).

use std::borrow::Cow;

use http::header::{HeaderMap, HeaderValue};

/// How a header's bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// One character per byte, as Python 3's WSGI decoded every header (the identity
    /// headers, compared as the reference server compared them).
    Latin1,
    /// UTF-8 when it is (what Python 2's Glance stored and gave back), else latin-1, so
    /// that `caf\xe9` is `café` rather than a replacement character.
    Utf8OrLatin1,
}

impl Text {
    /// `b` as text.
    pub fn decode(self, b: &[u8]) -> Cow<'_, str> {
        let latin1 = || b.iter().map(|&c| char::from(c)).collect::<String>().into();
        match self {
            Text::Latin1 => latin1(),
            Text::Utf8OrLatin1 => std::str::from_utf8(b).map_or_else(|_| latin1(), Cow::from),
        }
    }
}

/// Whether two header names are one environ key (case, and `-` against `_`, ignored).
pub fn same_name(a: &str, b: &str) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// Adds one more value of a header to what the environ holds for it.
pub fn join(slot: &mut Option<String>, v: &HeaderValue, text: Text) {
    let v = text.decode(v.as_bytes());
    match slot {
        Some(s) => {
            s.push(',');
            s.push_str(&v);
        }
        None => *slot = Some(v.into_owned()),
    }
}

/// The environ's value for the header `name` as bytes (for a value that goes back out as
/// it came, or is read byte by byte), if the request had it at all.
pub fn raw(h: &HeaderMap, name: &str) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    for (n, v) in h {
        if same_name(n.as_str(), name) {
            match &mut out {
                Some(o) => {
                    o.push(b',');
                    o.extend_from_slice(v.as_bytes());
                }
                None => out = Some(v.as_bytes().to_vec()),
            }
        }
    }
    out
}

/// The environ's value for the header `name`, if the request had it at all.
pub fn header(h: &HeaderMap, name: &str, text: Text) -> Option<String> {
    let mut out = None;
    for (n, v) in h {
        if same_name(n.as_str(), name) {
            join(&mut out, v, text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: a repeated header is one `,`-joined environ value, `-` and `_` one in names; the
    // bytes and the text readers agree.
    #[test]
    fn repeated_headers_are_one_joined_value() {
        let mut h = HeaderMap::new();
        assert_eq!(raw(&h, "x-a"), None);
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x_a", HeaderValue::from_static("2"));
        h.append("x-a", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        h.append("x-b", HeaderValue::from_static("3"));
        // HeaderMap keeps a name's values together, names in the order first seen.
        assert_eq!(raw(&h, "X-A").as_deref(), Some(&b"1,caf\xe9,2"[..]));
        assert_eq!(
            raw(&h, "x-a").map(|b| Text::Latin1.decode(&b).into_owned()),
            header(&h, "x-a", Text::Latin1)
        );
    }
}
