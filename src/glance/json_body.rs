//! Glance's `JSONRequestDeserializer` (`glance/common/wsgi.py`) for the routes that take a
//! JSON body (the member calls): whether a request has a body at all, Python's `json.loads`
//! reading of it (`NaN` and `Infinity` included), and the 400s it answered.

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use crate::render::webob::ApiError;

/// Largest JSON body read (a member list of some 20,000 entries); a longer one is answered
/// as malformed rather than held in memory.
const MAX_JSON_BODY: usize = 1 << 20;

/// Transfer codings for which Glance took a body to be present whatever its length.
const BODY_CODINGS: [&str; 5] = ["chunked", "compress", "deflate", "gzip", "identity"];

/// `JSONRequestDeserializer.has_body`: a `Transfer-Encoding` whose whole (lower-cased,
/// environ) value is one of [`BODY_CODINGS`] on a method that may have a body (`POST`,
/// `PUT`, `PATCH`), or a `Content-Length` over 0.
pub(crate) fn has_body(method: &http::Method, headers: &HeaderMap) -> bool {
    let coding = crate::auth::environ::header(
        headers,
        "transfer-encoding",
        crate::auth::environ::Text::Latin1,
    )
    .map(|v| v.to_lowercase());
    let may_have_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
    (may_have_body && coding.is_some_and(|c| BODY_CODINGS.contains(&c.as_str())))
        || crate::app::content_length(headers).is_some_and(|n| n > 0)
}

/// The body as the deserializer handed it to the action: `None` when [`has_body`] said
/// there was none (the action then ran without one), else the parsed document, which must
/// be an object or a list. A body that is there but empty (`Transfer-Encoding: chunked` and
/// nothing sent) is malformed JSON.
pub(crate) async fn read<B>(
    method: &http::Method,
    headers: &HeaderMap,
    body: B,
) -> Result<Option<serde_json::Value>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if !has_body(method, headers) {
        return Ok(None);
    }
    let bytes = crate::app::read_limited(body, MAX_JSON_BODY)
        .await
        .map_err(|_| malformed())?;
    parse(&bytes).map(Some)
}

fn malformed() -> ApiError {
    ApiError::explained(StatusCode::BAD_REQUEST, "Malformed JSON in request body.")
}

/// `from_json`: Python's `json.loads` of the UTF-8 text, then the type check.
fn parse(bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|_| malformed())?;
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => serde_json::from_str(&python_constants(text).ok_or_else(malformed)?)
            .map_err(|_| malformed())?,
    };
    if value.is_object() || value.is_array() {
        Ok(value)
    } else {
        Err(ApiError::explained(
            StatusCode::BAD_REQUEST,
            "Unexpected body type. Expected list/dict.",
        ))
    }
}

/// What Python's JSON reads as a float serde_json has no value for: `NaN`, `Infinity` and
/// `-Infinity`, each a truthy float to every caller here (a membership list's `len()`, a
/// `can_share`'s `bool()`, a subscript), written as one (`1.5`) with blanks around it so
/// that it cannot join a neighbouring token (`1NaN` and `-NaN` stay malformed, as they were
/// in Python). `None` when there is no such token outside the strings.
fn python_constants(text: &str) -> Option<String> {
    const STAND_IN: &str = " 1.5 ";
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    let mut from = 0;
    let mut found = false;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Skip the string, escapes included.
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            _ => {
                let token = ["-Infinity", "Infinity", "NaN"]
                    .into_iter()
                    .find(|t| b[i..].starts_with(t.as_bytes()));
                match token {
                    Some(t) => {
                        out.push_str(&text[from..i]);
                        out.push_str(STAND_IN);
                        i += t.len();
                        from = i;
                        found = true;
                    }
                    None => i += 1,
                }
            }
        }
    }
    if !found {
        return None;
    }
    out.push_str(text.get(from..).unwrap_or_default());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: Python's json.loads took NaN and the infinities as floats; the deserializer
    // wanted an object or a list, and said which of its two 400s applied.
    #[test]
    fn bodies_read_as_python_read_them() {
        let message = |r: Result<serde_json::Value, ApiError>| match r {
            Ok(v) => format!("ok {v}"),
            Err(e) => e.explanation.unwrap_or_default().to_string(),
        };
        let unexpected = "Unexpected body type. Expected list/dict.";
        let bad = "Malformed JSON in request body.";
        for (body, want) in [
            (&b"{}"[..], "ok {}"),
            (b"[1]", "ok [1]"),
            (b"[NaN, Infinity,-Infinity]", "ok [1.5,1.5,1.5]"),
            (b"{\"m\": NaN}", "ok {\"m\":1.5}"),
            (b"{\"NaN\": \"x\\\"NaN\"}", "ok {\"NaN\":\"x\\\"NaN\"}"),
            (b"NaN", unexpected),
            (b"-Infinity", unexpected),
            (b"\"x\"", unexpected),
            (b"1", unexpected),
            (b"null", unexpected),
            (b"true", unexpected),
            (b"", bad),
            (b"[-NaN]", bad),
            (b"[1NaN]", bad),
            (b"[NaN1]", bad),
            (b"[nan]", bad),
            (b"{\"a\": 1", bad),
            (b"[\"\xff\"]", bad),
        ] {
            assert_eq!(
                message(parse(body)),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
