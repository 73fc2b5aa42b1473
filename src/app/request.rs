//! Reading requests: the parts of a request every surface interprets the same way: the
//! `Host`, the declared `Content-Length`, a body collected up to a limit, the query string
//! as WebOb's `req.params`, and a path unquoted as eventlet did.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http_body_util::BodyExt;

/// `http://<Host>` (WebOb `host_url`); falls back to the listen-less `http://localhost`.
pub fn host_url(h: &HeaderMap) -> String {
    let host = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or("localhost");
    format!("http://{host}")
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
pub(crate) fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether every parameter of the query decodes as UTF-8 after `+` and `%XX` decoding
/// (WebOb's `req.params` raised otherwise).
pub(crate) fn query_decodes(query: Option<&str>) -> bool {
    query.is_none_or(|q| {
        q.split('&').all(|pair| {
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
        let p = query_params(Some("a=1&b=x+y&a=%C3%A9&c&d=%FF"));
        let want = [
            ("a", "1"),
            ("b", "x y"),
            ("a", "é"),
            ("c", ""),
            ("d", "\u{fffd}"),
        ];
        let got: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        assert!(query_decodes(Some("a=%C3%A9")));
        assert!(!query_decodes(Some("a=%FF")));
        assert_eq!(unquote("/a%2Fb+c"), "/a/b+c");
    }
}
