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
