//! Reading requests: the parts of a request every surface interprets the same way.

use http::header::{self, HeaderMap, HeaderName};

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
