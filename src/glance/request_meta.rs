//! Request metadata: the `x-image-meta-*` headers of a create or update, parsed, validated
//! and applied to a record as Glance's deserializer and registry did, plus the checks and the
//! response they share.

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::app::{json_response, App, Ctx};
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
            // Python's int(None) fails too.
            return Err(invalid_param("None", key, &convert_msg(key, "None")));
        };
        match v.trim().parse::<i128>() {
            Ok(n) if n < 0 => Err(invalid_param(v, key, "Cannot be a negative value.")),
            Ok(n) => Ok(Some(Some(n.min(u64::MAX as i128) as u64))),
            Err(_) if nullable && v == "None" => Ok(Some(None)),
            Err(_) => Err(invalid_param(v, key, &convert_msg(key, v))),
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

/// `get_image_meta_from_headers`: names are matched case- and `-`/`_`-insensitively, as the
/// WSGI environ made them; unknown `x-image-meta-*` names are a 400.
pub fn parse_meta_headers(h: &HeaderMap) -> Result<MetaIn, ApiError> {
    let mut out = MetaIn::default();
    for (name, value) in h {
        let n = name.as_str();
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let value = if value.is_empty() { None } else { Some(value) };
        if let Some(p) = n.strip_prefix("x-image-meta-property-") {
            let key = p.replace('-', "_");
            if let Some(slot) = out.properties.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else {
                out.properties.push((key, value));
            }
        } else if let Some(f) = n.strip_prefix("x-image-meta-") {
            let field = f.replace('-', "_");
            if !META_FIELDS.contains(&field.as_str()) {
                return Err(ApiError::detailed(
                    StatusCode::BAD_REQUEST,
                    format!("Bad header: x-image-meta-{}", f.replace('_', "-")),
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
        let n = name.chars().count();
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
        if c.chars().count() > 32 {
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

pub(crate) fn external_source(meta: &MetaIn, h: &HeaderMap) -> Result<(), ApiError> {
    let copy_from = h
        .get("x-glance-api-copy-from")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let location = meta.raw("location").map(|v| v.unwrap_or("").to_string());
    if let Some(src) = copy_from.or(location) {
        if src.is_empty() {
            return Err(ApiError::bad_request("External source should not be empty"));
        }
        // The emulator has no remote stores; Glance's own refusal for unusable schemes.
        return Err(ApiError::bad_request(format!(
            "External sources are not supported: '{src}'"
        )));
    }
    Ok(())
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
    for (key, slot) in [
        ("created_at", &mut img.created_at),
        ("updated_at", &mut img.updated_at),
    ] {
        if let Some(Some(v)) = meta.raw(key) {
            if let Some(t) = Timestamp::parse(v) {
                *slot = t;
            }
        }
    }
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
    if let Some(loc) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
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
