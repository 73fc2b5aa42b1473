//! Request metadata: the `x-image-meta-*` headers of a create or update, parsed, validated
//! and applied to a record as Glance's deserializer and registry did, plus the checks and the
//! response they share.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::app::{json_response, python_int, App, Ctx, IntText};
use crate::auth::environ::{self, Text};
use crate::model::{Checksum, Image, Timestamp, CONTAINER_FORMATS, DISK_FORMATS};
use crate::render::glance_json as api;
use crate::render::image_headers as headers;
use crate::render::webob::ApiError;

// ---------------------------------------------------------------------------------------
// Request metadata (x-image-meta-* headers)
// ---------------------------------------------------------------------------------------

/// The header whitelist (`IMAGE_META_HEADERS`).
const META_FIELDS: &[&str] = &[
    "location",
    "size",
    "is_public",
    "disk_format",
    "container_format",
    "name",
    "status",
    "copy_from",
    "uri",
    "checksum",
    "created_at",
    "updated_at",
    "deleted_at",
    "min_ram",
    "min_disk",
    "owner",
    "store",
    "id",
    "protected",
    "deleted",
    "virtual_size",
];

/// Metadata parsed from `x-image-meta-*` request headers. Outer `Option`: header present;
/// inner: value (an empty header means null).
#[derive(Debug, Default)]
pub struct MetaIn {
    fields: Vec<(String, Option<String>)>,
    /// Properties, names lower-cased with `-` turned into `_`.
    pub properties: Vec<(String, Option<String>)>,
}

impl MetaIn {
    pub(crate) fn raw(&self, key: &str) -> Option<Option<&str>> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    pub(crate) fn string(&self, key: &str) -> Option<Option<String>> {
        self.raw(key).map(|v| v.map(str::to_string))
    }

    pub(crate) fn boolean(&self, key: &str) -> Option<bool> {
        self.raw(key).map(|v| v.is_some_and(bool_from_string))
    }

    pub(crate) fn int(&self, key: &str, nullable: bool) -> Result<Option<Option<u64>>, ApiError> {
        let Some(v) = self.raw(key) else {
            return Ok(None);
        };
        let Some(v) = v else {
            // An empty header is None, and Python's `int(None)` raises TypeError, which
            // nothing caught (not even `virtual_size`'s `except ValueError`): a 500.
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
        };
        match python_int(v, IntText::Python3) {
            Some(n) if n < 0 => Err(invalid_param(v, key, "Cannot be a negative value.")),
            Some(n) => Ok(Some(Some(n.min(u64::MAX as i128) as u64))),
            None if nullable && v == "None" => Ok(Some(None)),
            None => Err(invalid_param(v, key, &convert_msg(key, v))),
        }
    }
}

fn convert_msg(key: &str, v: &str) -> String {
    format!("Cannot convert image {key} '{v}' to an integer.")
}

fn invalid_param(value: &str, param: &str, extra: &str) -> ApiError {
    ApiError::explained(
        StatusCode::BAD_REQUEST,
        format!("Invalid value '{value}' for parameter '{param}': {extra}"),
    )
}

/// oslo `bool_from_string`, non-strict.
pub fn bool_from_string(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// A request header as Glance read it from the WSGI environ (see [`environ`]): text as
/// the image's fields keep it.
pub(crate) fn environ_header(h: &HeaderMap, name: &str) -> Option<String> {
    environ::header(h, name, Text::Utf8OrLatin1)
}

/// `get_image_meta_from_headers`: names are matched case- and `-`/`_`-insensitively, as the
/// WSGI environ made them (a repeated header is one value, joined with `,`); unknown
/// `x-image-meta-*` names are a 400.
pub fn parse_meta_headers(h: &HeaderMap) -> Result<MetaIn, ApiError> {
    // (normalised name, joined value) in first-arrival order.
    let mut joined: Vec<(String, Option<String>)> = Vec::new();
    for (name, value) in h {
        let n = name.as_str().replace('_', "-");
        if !n.starts_with("x-image-meta-") {
            continue;
        }
        match joined.iter_mut().find(|(k, _)| *k == n) {
            Some((_, slot)) => environ::join(slot, value, Text::Utf8OrLatin1),
            None => {
                let mut slot = None;
                environ::join(&mut slot, value, Text::Utf8OrLatin1);
                joined.push((n, slot));
            }
        }
    }
    let mut out = MetaIn::default();
    for (n, value) in joined {
        // `value or None`: an empty header is null.
        let value = value.filter(|v| !v.is_empty());
        if let Some(p) = n.strip_prefix("x-image-meta-property-") {
            out.properties.push((p.replace('-', "_"), value));
        } else if let Some(f) = n.strip_prefix("x-image-meta-") {
            let field = f.replace('-', "_");
            if !META_FIELDS.contains(&field.as_str()) {
                return Err(ApiError::detailed(
                    StatusCode::BAD_REQUEST,
                    format!("Bad header: x-image-meta-{f}"),
                )
                .plain());
            }
            out.fields.push((field, value));
        }
    }
    Ok(out)
}

/// `validate_image_meta` plus the integer/time checks of the deserializer.
pub(crate) fn validate_meta(meta: &mut MetaIn) -> Result<(), ApiError> {
    meta.int("size", false)?;
    meta.int("min_disk", false)?;
    meta.int("min_ram", false)?;
    meta.int("virtual_size", true)?;
    let disk = meta.string("disk_format");
    let container = meta.string("container_format");
    if let Some(d) = &disk {
        if !d.as_deref().is_some_and(|d| DISK_FORMATS.contains(&d)) {
            return Err(ApiError::bad_request(format!(
                "Invalid disk format '{}' for image.",
                d.as_deref().unwrap_or("None")
            )));
        }
    }
    if let Some(c) = &container {
        if !c.as_deref().is_some_and(|c| CONTAINER_FORMATS.contains(&c)) {
            return Err(ApiError::bad_request(format!(
                "Invalid container format '{}' for image.",
                c.as_deref().unwrap_or("None")
            )));
        }
    }
    if let Some(Some(name)) = meta.raw("name") {
        // Header values are bytes to Glance (latin-1 text on Python 3, `str` on 2): a
        // non-ASCII name counts its UTF-8 bytes.
        let n = name.len();
        if n > 255 {
            return Err(ApiError::bad_request(format!("Image name too long: {n}")));
        }
    }
    let amazon = ["aki", "ari", "ami"];
    let d = disk.clone().flatten();
    let c = container.clone().flatten();
    if d.as_deref().is_some_and(|d| amazon.contains(&d))
        || c.as_deref().is_some_and(|c| amazon.contains(&c))
    {
        match (&d, &c) {
            (None, Some(c)) => meta.fields.push(("disk_format".into(), Some(c.clone()))),
            (Some(d), None) => meta.fields.push(("container_format".into(), Some(d.clone()))),
            (Some(d), Some(c)) if d != c => {
                return Err(ApiError::bad_request(
                    "Invalid mix of disk and container formats. When setting a disk or container format to one of 'aki', 'ari', or 'ami', the container and disk formats must match.",
                ))
            }
            _ => {}
        }
    }
    if let Some(Some(c)) = meta.raw("checksum") {
        if c.len() > 32 {
            return Err(ApiError::bad_request(format!(
                "Invalid checksum '{c}': can't exceed 32 characters"
            )));
        }
    }
    for key in ["created_at", "updated_at", "deleted_at"] {
        if let Some(Some(v)) = meta.raw(key) {
            let ok = Timestamp::parse(v).is_some_and(|t| chrono::Datelike::year(&t.0) >= 1900);
            if !ok {
                return Err(ApiError::bad_request(format!(
                    "Invalid time format for {key}."
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn has_body(h: &HeaderMap) -> bool {
    h.contains_key(header::TRANSFER_ENCODING)
        || crate::app::content_length(h).is_some_and(|n| n > 0)
}

/// The store schemes the reference Glance knew (`glance_store` with the file and http
/// stores): `x-image-meta-store` must name one of them.
pub(crate) const KNOWN_SCHEMES: &[&str] = &["file", "filesystem", "http", "https"];

/// `_external_source` and `_validate_source`: the request's location (or, without one, its
/// copy-from), checked as Glance did. Empty: 400; a scheme with no store, or one refused as
/// a source (`file`, `filesystem`; `swift+config` has no store here): 400. An `http(s)` URL
/// passes, and each caller decides what comes next (the emulator has no remote stores).
pub(crate) fn external_source(meta: &MetaIn, h: &HeaderMap) -> Result<Option<String>, ApiError> {
    let src = match meta.raw("location") {
        Some(v) => v.unwrap_or("").to_string(),
        None => match environ_header(h, "x-glance-api-copy-from") {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    if src.is_empty() {
        return Err(ApiError::bad_request("External source should not be empty"));
    }
    match url_scheme(&src) {
        Some(scheme) if scheme == "http" || scheme == "https" => Ok(Some(src)),
        _ => Err(unsupported_source(&src)),
    }
}

/// Glance's refusal of a source it cannot use; also the emulator's answer to an `http(s)`
/// source it would have to fetch (no remote stores, docs/fidelity.md).
pub(crate) fn unsupported_source(src: &str) -> ApiError {
    ApiError::bad_request(format!("External sources are not supported: '{src}'"))
}

/// Python's `urlsplit(url).scheme`: the letters before the first `:`, lower-cased, when
/// they start with a letter and are all scheme characters.
fn url_scheme(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once(':')?;
    let first = scheme.chars().next()?;
    let ok = first.is_ascii_alphabetic()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    ok.then(|| scheme.to_ascii_lowercase())
}

/// Applies parsed metadata to a record (registry `image_create` / `image_update`).
pub(crate) fn apply_meta(img: &mut Image, meta: &MetaIn, admin: bool) -> Result<(), ApiError> {
    if let Some(v) = meta.string("name") {
        img.name = v.map(Into::into);
    }
    if let Some(v) = meta.string("disk_format") {
        img.disk_format = v.map(Into::into);
    }
    if let Some(v) = meta.string("container_format") {
        img.container_format = v.map(Into::into);
    }
    if let Some(v) = meta.string("checksum") {
        img.checksum = v.as_deref().and_then(Checksum::new);
    }
    if let Some(v) = meta.int("size", false)? {
        img.size = v;
    }
    if let Some(v) = meta.int("virtual_size", true)? {
        img.virtual_size = v;
    }
    for (key, slot) in [
        ("min_disk", &mut img.min_disk),
        ("min_ram", &mut img.min_ram),
    ] {
        if let Some(Some(v)) = meta.int(key, false)? {
            if v > i32::MAX as u64 {
                return Err(ApiError::bad_request(format!(
                    "'{key}' value out of range, must not exceed 2147483647."
                )));
            }
            *slot = v as u32;
        }
    }
    // The registry wrote the row only after its own checks (the 400 above): SQLite's
    // INTEGER is signed 64-bit, and a larger value failed the write with a 500.
    let too_big = |key| matches!(meta.int(key, true), Ok(Some(Some(v))) if v > i64::MAX as u64);
    if too_big("virtual_size") || too_big("size") {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    if let Some(b) = meta.boolean("is_public") {
        img.is_public = b;
    }
    if let Some(b) = meta.boolean("protected") {
        img.protected = b;
    }
    if admin {
        if let Some(v) = meta.string("owner") {
            img.owner = v.map(Into::into);
        }
    }
    // `created_at`, `updated_at`, `deleted_at` and `deleted` are never applied here: an
    // update drops them (`_drop_protected_attrs`), and a create that carries them is
    // decided by the caller (`create`).
    for (k, v) in &meta.properties {
        img.set_property(k.as_str().into(), v.as_deref().map(Into::into));
    }
    Ok(())
}

pub(crate) fn property_quota(app: &App, count: usize) -> Result<(), ApiError> {
    if count > app.config.property_quota {
        return Err(ApiError::too_large(format!(
            "The limit has been exceeded on the number of allowed image properties. Attempted: {count}, Maximum: {}",
            app.config.property_quota
        )));
    }
    Ok(())
}

/// Glance's `_enforce`: a denied policy rule is a bare 403.
pub(crate) fn enforce(app: &App, ctx: &Ctx, action: &str) -> Result<(), ApiError> {
    if app.config.policy.allows(action, &ctx.caller) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN))
    }
}

pub(crate) fn publicize_check(app: &App, ctx: &Ctx, meta: &MetaIn) -> Result<(), ApiError> {
    if meta.boolean("is_public") == Some(true) {
        enforce(app, ctx, "publicize_image")?;
    }
    Ok(())
}

/// A JSON `{"image": ...}` response with `Etag` when a checksum exists.
pub(crate) fn image_response(
    status: StatusCode,
    img: &Image,
    location: Option<String>,
) -> Response<Body> {
    let mut resp = if status == StatusCode::OK {
        // The update serializer set the body before the content type.
        let body = api::image_body(img);
        let mut r = Response::new(Body::full(body.clone()));
        let h = r.headers_mut();
        h.append(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        h.append(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    } else {
        json_response(status, api::image_body(img))
    };
    let h = resp.headers_mut();
    if let Some(loc) = location.and_then(|l| crate::app::url_header(&l)) {
        h.append(header::LOCATION, loc);
    }
    if let Some(c) = img
        .checksum
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.append(headers::ETAG.clone(), c);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_underscored_headers_are_one_value() {
        let mut h = HeaderMap::new();
        h.append("x-image-meta-name", HeaderValue::from_static("a"));
        h.append("x-image-meta-name", HeaderValue::from_static(""));
        h.append("x_image_meta_name", HeaderValue::from_static("b"));
        h.append(
            "x-image-meta-owner",
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        let m = parse_meta_headers(&h).unwrap();
        assert_eq!(m.raw("name"), Some(Some("a,,b")));
        assert_eq!(m.raw("owner"), Some(Some("café")));
        assert_eq!(
            environ_header(&h, "x-image-meta-name").as_deref(),
            Some("a,,b")
        );
    }

    #[test]
    fn url_schemes_as_urlsplit_read_them() {
        assert_eq!(url_scheme("HTTP://x").as_deref(), Some("http"));
        assert_eq!(
            url_scheme("swift+config://x").as_deref(),
            Some("swift+config")
        );
        assert_eq!(url_scheme("1http://x"), None);
        assert_eq!(url_scheme("no-colon"), None);
        assert_eq!(url_scheme(":x"), None);
    }
}
