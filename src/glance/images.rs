//! The Glance v1 image handlers (`glance/api/v1/images.py` and `members.py`): metadata
//! HEAD, download, lists, create/update/delete with uploads, and memberships.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::app::body::Body;
use crate::app::{
    data_mismatch, downloadable, empty_html, json_response, no_content, visible_image, App, Ctx,
    REQ_SIZE,
};
use crate::model::{
    Checksum, Image, ImageData, ImageId, Member, Status, Timestamp, CONTAINER_FORMATS, DISK_FORMATS,
};
use crate::render::glance_json as api;
use crate::render::image_headers as headers;
use crate::render::webob::ApiError;

// ---------------------------------------------------------------------------------------
// HEAD /v1/images/{id}
// ---------------------------------------------------------------------------------------

/// `HEAD /v1/images/{id}`: the record as `X-Image-Meta-*` headers, empty body.
///
/// Beyond real Glance (unless `--glance-compat`): a request `X-Image-Meta-Size` that differs
/// from the record, or stored bytes that disagree with the record, answer 409.
pub fn meta(app: &App, ctx: &Ctx, id: &str, req: &HeaderMap) -> Result<Response<Body>, ApiError> {
    enforce(app, ctx, "get_image")?;
    let img = visible_image(app, ctx, id)?;
    if !app.config.glance_compat {
        if let Some(v) = req.get(&REQ_SIZE) {
            let claimed = std::str::from_utf8(v.as_bytes())
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Cannot convert image size '{}' to an integer.",
                        String::from_utf8_lossy(v.as_bytes())
                    ))
                })?;
            if Some(claimed) != img.size {
                return Err(ApiError::new(StatusCode::CONFLICT).plain());
            }
        }
        if data_mismatch(&img) {
            return Err(ApiError::new(StatusCode::CONFLICT).plain());
        }
    }
    let mut resp = empty_html(StatusCode::OK);
    let h = resp.headers_mut();
    h.reserve(22);
    headers::image_meta(&img, None, h);
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// GET /v1/images/{id}
// ---------------------------------------------------------------------------------------

/// `GET /v1/images/{id}`: the image bytes, streamed, with the HEAD header set.
pub async fn show(app: Arc<App>, ctx: Arc<Ctx>, id: String) -> Result<Response<Body>, ApiError> {
    // Both rules are checked before the image is even looked up, as in Glance.
    enforce(&app, &ctx, "get_image")?;
    enforce(&app, &ctx, "download_image")?;
    let img = visible_image(&app, &ctx, &id)?;
    if img.status == Status::Deactivated {
        return Err(ApiError::detailed(
            StatusCode::FORBIDDEN,
            format!("Image {id} is deactivated"),
        )
        .plain());
    }
    if !downloadable(img.status) {
        return Err(
            ApiError::detailed(StatusCode::NOT_FOUND, format!("Image {id} is not active")).plain(),
        );
    }
    let not_in_store = || {
        ApiError::explained(
            StatusCode::NOT_FOUND,
            format!("Image /var/lib/glance/images/{id} not found"),
        )
    };
    let db_size = img.size.unwrap_or(0);
    let (body, size) = if db_size == 0 {
        // Glance never touches the store for a zero-size image.
        (Body::empty_sized(), 0)
    } else {
        match &*img.data {
            ImageData::None => return Err(not_in_store()),
            ImageData::Bytes(b) => (Body::full((**b).clone()), b.len() as u64),
            ImageData::Repeat { unit, len } => (Body::repeat(unit, *len), *len),
            ImageData::File { path, .. } => {
                let file = tokio::fs::File::open(path.as_ref())
                    .await
                    .map_err(|_| not_in_store())?;
                let len = file.metadata().await.map_err(|_| not_in_store())?.len();
                // Take exactly the length announced, so a file growing mid-stream cannot
                // overrun Content-Length.
                (Body::reader(tokio::io::AsyncReadExt::take(file, len)), len)
            }
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.append(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers::image_meta(&img, Some(size), h);
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// GET /v1/images, /v1/images/detail
// ---------------------------------------------------------------------------------------

const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// WebOb `MultiDict.get`: the last value wins.
fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn py_bool_filter(v: &str) -> Option<Option<bool>> {
    match v.to_ascii_lowercase().as_str() {
        "none" => Some(None),
        "true" | "1" => Some(Some(true)),
        "false" | "0" => Some(Some(false)),
        _ => None,
    }
}

fn uuid_like(s: &str) -> bool {
    // oslo `is_uuid_like`: parses as a UUID once dashes are removed.
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// A string filter with Glance's `in:`/`eq:` operators.
fn str_filter_matches(filter: &str, value: Option<&str>) -> bool {
    let (op, operand) = match filter.split_once(':') {
        Some((op, rest)) if (op == "in" || op == "eq") && Timestamp::parse(filter).is_none() => {
            (op, rest)
        }
        _ => ("eq", filter),
    };
    match (op, value) {
        ("in", Some(v)) => operand.split(',').any(|x| x == v),
        (_, Some(v)) => operand == v,
        (_, None) => false,
    }
}

/// `GET /v1/images` (6-key entries) and `GET /v1/images/detail` (18-key records).
pub fn index(
    app: &App,
    ctx: &Ctx,
    query: Option<&str>,
    detail: bool,
) -> Result<Response<Body>, ApiError> {
    enforce(app, ctx, "get_images")?;
    let params = query_params(query);
    // API-level filter validation (glance/api/v1/filters.py).
    for (k, v) in &params {
        let bad = match k.as_str() {
            "size_min" | "size_max" | "min_ram" => {
                v.trim().parse::<i64>().is_ok_and(|n| n < 0) || v.trim().parse::<i64>().is_err()
            }
            "is_public" | "protected" => py_bool_filter(v).is_none(),
            _ => false,
        };
        if bad {
            let v = param(&params, k).unwrap_or(v);
            return Err(ApiError::detailed(
                StatusCode::BAD_REQUEST,
                format!("Bad value passed to filter {k} got {v}"),
            ));
        }
    }
    // Registry-level parameters.
    let limit = match param(&params, "limit") {
        None => 25,
        Some(v) => {
            let n: i64 = v.trim().parse().map_err(|_| {
                ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "limit param must be an integer"),
                    "",
                )
            })?;
            if n < 0 {
                return Err(ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "limit param must be positive"),
                    "",
                ));
            }
            n.min(1000) as usize
        }
    };
    let marker = param(&params, "marker").filter(|m| !m.is_empty());
    if let Some(m) = marker {
        if !uuid_like(m) {
            return Err(ApiError::from_registry(
                ApiError::explained(StatusCode::BAD_REQUEST, "Invalid marker format"),
                "",
            ));
        }
    }
    let sort_key = param(&params, "sort_key").unwrap_or("created_at");
    if !SORT_KEYS.contains(&sort_key) {
        return Err(ApiError::from_registry(
            ApiError::explained(
                StatusCode::BAD_REQUEST,
                format!(
                    "Unsupported sort_key. Acceptable values: {}",
                    SORT_KEYS.join(", ")
                ),
            ),
            "",
        ));
    }
    let sort_dir = param(&params, "sort_dir").unwrap_or("desc");
    let desc = match sort_dir {
        "asc" => false,
        "desc" => true,
        _ => {
            return Err(ApiError::from_registry(
                ApiError::explained(
                    StatusCode::BAD_REQUEST,
                    "Unsupported sort_dir. Acceptable values: asc, desc",
                ),
                "",
            ))
        }
    };
    let changes_since = match param(&params, "changes-since") {
        None => None,
        Some(v) => Some(Timestamp::parse(v).ok_or_else(|| {
            ApiError::from_registry(
                ApiError::detailed(StatusCode::BAD_REQUEST, "Unrecognized changes-since value"),
                "",
            )
        })?),
    };
    let protected = match param(&params, "protected") {
        None => None,
        Some(v) => match py_bool_filter(v) {
            Some(Some(b)) => Some(b),
            _ => {
                return Err(ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "protected must be True, or False"),
                    "",
                ))
            }
        },
    };
    // Admins choose the view with is_public (absent = the normal-user view); non-admins
    // always get the normal-user view.
    let is_public: Option<Option<bool>> = if ctx.caller.admin {
        match param(&params, "is_public") {
            None => Some(Some(true)),
            Some(v) => Some(py_bool_filter(v).unwrap_or(Some(false))),
        }
    } else {
        None
    };
    let size_min = param(&params, "size_min").and_then(|v| v.trim().parse::<u64>().ok());
    let size_max = param(&params, "size_max").and_then(|v| v.trim().parse::<u64>().ok());
    let min_ram = param(&params, "min_ram").and_then(|v| v.trim().parse::<u32>().ok());
    let min_disk = param(&params, "min_disk").map(|v| v.trim().parse::<u32>().ok());
    let props: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("property-").map(|p| (p, v.as_str())))
        .collect();

    let caller = &ctx.caller;
    let matches = |img: &Image| -> bool {
        match changes_since {
            Some(t) => {
                if img.updated_at <= t {
                    return false;
                }
            }
            None => {
                if img.deleted || img.status == Status::Killed {
                    return false;
                }
            }
        }
        let visible = match is_public {
            None => caller.lists(img),
            Some(Some(true)) => caller.lists(img),
            Some(Some(false)) => !img.is_public,
            Some(None) => true,
        };
        if !visible {
            return false;
        }
        for (key, val) in [
            ("name", img.name.as_deref()),
            ("status", Some(img.status.as_str())),
            ("container_format", img.container_format.as_deref()),
            ("disk_format", img.disk_format.as_deref()),
        ] {
            if let Some(f) = param(&params, key) {
                if !str_filter_matches(f, val) {
                    return false;
                }
            }
        }
        if size_min.is_some_and(|m| img.size.is_none_or(|s| s < m))
            || size_max.is_some_and(|m| img.size.is_none_or(|s| s > m))
            || min_ram.is_some_and(|m| img.min_ram != m)
            || min_disk.is_some_and(|m| m != Some(img.min_disk))
            || protected.is_some_and(|p| img.protected != p)
        {
            return false;
        }
        props.iter().all(|(k, v)| img.property(k) == Some(*v))
    };
    let mut images: Vec<Arc<Image>> = app.store.all().into_iter().filter(|i| matches(i)).collect();
    let key_cmp = |a: &Image, b: &Image| -> std::cmp::Ordering {
        let primary = match sort_key {
            "name" => a.name.cmp(&b.name),
            "status" => a.status.as_str().cmp(b.status.as_str()),
            "container_format" => a.container_format.cmp(&b.container_format),
            "disk_format" => a.disk_format.cmp(&b.disk_format),
            "size" => a.size.cmp(&b.size),
            "id" => a.id.cmp(&b.id),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            _ => a.created_at.cmp(&b.created_at),
        };
        primary
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.id.cmp(&b.id))
    };
    images.sort_by(|a, b| {
        let o = key_cmp(a, b);
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    let start = match marker {
        None => 0,
        Some(m) => match images.iter().position(|i| i.id == m) {
            Some(p) => p + 1,
            None => {
                let visible = app.store.get(m).is_some_and(|i| caller.can_see(&i));
                if !visible {
                    return Err(ApiError::from_registry(
                        ApiError::explained(
                            StatusCode::BAD_REQUEST,
                            "Invalid marker. Image could not be found.",
                        ),
                        "",
                    ));
                }
                // The marker exists but was filtered out: page from where it would sort.
                images
                    .iter()
                    .position(|i| {
                        let o = app
                            .store
                            .get(m)
                            .map(|mk| key_cmp(i, &mk))
                            .unwrap_or(std::cmp::Ordering::Equal);
                        if desc {
                            o == std::cmp::Ordering::Less
                        } else {
                            o == std::cmp::Ordering::Greater
                        }
                    })
                    .unwrap_or(images.len())
            }
        },
    };
    let page = images.iter().skip(start).take(limit);
    let entries = if detail {
        page.map(|i| api::image_record(i)).collect()
    } else {
        page.map(|i| api::index_entry(i)).collect()
    };
    Ok(json_response(StatusCode::OK, api::images_body(entries)))
}

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
    fn raw(&self, key: &str) -> Option<Option<&str>> {
        self.fields
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref())
    }

    fn has(&self, key: &str) -> bool {
        self.raw(key).is_some()
    }

    fn string(&self, key: &str) -> Option<Option<String>> {
        self.raw(key).map(|v| v.map(str::to_string))
    }

    fn boolean(&self, key: &str) -> Option<bool> {
        self.raw(key).map(|v| v.is_some_and(bool_from_string))
    }

    fn int(&self, key: &str, nullable: bool) -> Result<Option<Option<u64>>, ApiError> {
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
fn validate_meta(meta: &mut MetaIn) -> Result<(), ApiError> {
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

fn has_body(h: &HeaderMap) -> bool {
    h.contains_key(header::TRANSFER_ENCODING)
        || h.get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn external_source(meta: &MetaIn, h: &HeaderMap) -> Result<(), ApiError> {
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
fn apply_meta(img: &mut Image, meta: &MetaIn, admin: bool) -> Result<(), ApiError> {
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

fn property_quota(app: &App, count: usize) -> Result<(), ApiError> {
    if count > app.config.property_quota {
        return Err(ApiError::too_large(format!(
            "The limit has been exceeded on the number of allowed image properties. Attempted: {count}, Maximum: {}",
            app.config.property_quota
        )));
    }
    Ok(())
}

/// Glance's `_enforce`: a denied policy rule is a bare 403.
fn enforce(app: &App, ctx: &Ctx, action: &str) -> Result<(), ApiError> {
    if app.config.policy.allows(action, &ctx.caller) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN))
    }
}

fn publicize_check(app: &App, ctx: &Ctx, meta: &MetaIn) -> Result<(), ApiError> {
    if meta.boolean("is_public") == Some(true) {
        enforce(app, ctx, "publicize_image")?;
    }
    Ok(())
}

/// A JSON `{"image": ...}` response with `Etag` when a checksum exists.
fn image_response(status: StatusCode, img: &Image, location: Option<String>) -> Response<Body> {
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

// ---------------------------------------------------------------------------------------
// Uploads
// ---------------------------------------------------------------------------------------

struct Uploaded {
    path: std::path::PathBuf,
    len: u64,
    md5: String,
}

enum UploadFail {
    TooLarge,
    Disconnected,
    Io,
}

async fn receive<B>(app: &App, id: &str, mut body: B) -> Result<Uploaded, UploadFail>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = app.store.new_blob_path(id);
    let mut file = tokio::fs::File::create(&path)
        .await
        .map_err(|_| UploadFail::Io)?;
    let mut md5 = Md5::new();
    let mut len = 0u64;
    let idle = app.config.upload_idle_timeout;
    let result = loop {
        // A stalled sender must not hold an upload (and its file) open forever.
        let Ok(next) = tokio::time::timeout(idle, body.frame()).await else {
            break Err(UploadFail::Disconnected);
        };
        match next {
            None => break Ok(()),
            Some(Err(_)) => break Err(UploadFail::Disconnected),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len() as u64;
                    if len > app.config.image_size_cap {
                        break Err(UploadFail::TooLarge);
                    }
                    md5.update(&data);
                    if file.write_all(&data).await.is_err() {
                        break Err(UploadFail::Io);
                    }
                }
            }
        }
    };
    let result = match result {
        Ok(()) => file.flush().await.map_err(|_| UploadFail::Io),
        Err(e) => Err(e),
    };
    drop(file);
    match result {
        Ok(()) => {
            let p = path.clone();
            let store = Arc::clone(&app.store);
            let synced = tokio::task::spawn_blocking(move || store.sync_blob(&p))
                .await
                .map(|r| r.is_ok())
                .unwrap_or(false);
            if !synced {
                let _ = tokio::fs::remove_file(&path).await;
                return Err(UploadFail::Io);
            }
            Ok(Uploaded {
                path,
                len,
                md5: crate::fixtures::hex(&md5.finalize()),
            })
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&path).await;
            Err(e)
        }
    }
}

/// Sets the status of `id` if it is still `from` (or any status when `from` is None).
async fn set_status(app: &App, id: &str, to: Status, from: Option<Status>) -> Result<(), ApiError> {
    let id = id.to_string();
    let now = app.now();
    app.store
        .write(move |snap, tx| {
            if let Some(cur) = snap.get(&id) {
                if from.is_none_or(|f| cur.status == f) {
                    let mut img = (*cur).clone();
                    img.status = to;
                    img.updated_at = now;
                    tx.put(img);
                }
            }
            Ok(())
        })
        .await
}

/// `_upload_and_activate`: queued → saving → (upload) → active, or killed on failure.
async fn upload_and_activate<B>(
    app: &Arc<App>,
    id: &str,
    req_headers: &HeaderMap,
    body: B,
) -> Result<Arc<Image>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let ct = req_headers.get(header::CONTENT_TYPE).map(|v| {
        v.as_bytes()
            .split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii()
            .to_vec()
    });
    if ct.as_deref() != Some(b"application/octet-stream".as_slice()) {
        set_status(app, id, Status::Killed, None).await?;
        return Err(ApiError::bad_request(
            "Content-Type must be application/octet-stream",
        ));
    }
    set_status(app, id, Status::Saving, None).await?;
    let up = match Box::pin(receive(app, id, body)).await {
        Ok(u) => u,
        Err(fail) => {
            set_status(app, id, Status::Killed, Some(Status::Saving)).await?;
            return Err(match fail {
                UploadFail::TooLarge => ApiError::too_large(format!(
                    "Denying attempt to upload image larger than {} bytes.",
                    app.config.image_size_cap
                )),
                UploadFail::Disconnected => {
                    ApiError::bad_request("Client disconnected before sending all data to backend")
                }
                UploadFail::Io => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR),
            });
        }
    };
    let idc = id.to_string();
    let path = Arc::new(up.path.clone());
    let now = app.now();
    let outcome = app
        .store
        .write(move |snap, tx| {
            let Some(cur) = snap.get(&idc) else {
                return Ok(Err(gone_during_upload(&idc)));
            };
            if cur.status != Status::Saving || cur.deleted {
                return Ok(Err(gone_during_upload(&idc)));
            }
            let mut img = (*cur).clone();
            img.updated_at = now;
            let supplied_size = img.size.filter(|s| *s != 0);
            if let Some(s) = supplied_size.filter(|s| *s != up.len) {
                img.status = Status::Killed;
                tx.put(img);
                return Ok(Err(ApiError::bad_request(format!(
                    "Supplied size ({s}) and size generated from uploaded image ({}) did not match. Setting image status to 'killed'.",
                    up.len
                ))));
            }
            if let Some(c) = img.checksum.filter(|c| *c != up.md5) {
                img.status = Status::Killed;
                tx.put(img);
                return Ok(Err(ApiError::bad_request(format!(
                    "Supplied checksum ({c}) and checksum generated from uploaded image ({}) did not match. Setting image status to 'killed'.",
                    up.md5
                ))));
            }
            img.status = Status::Active;
            img.size = Some(up.len);
            img.checksum = Checksum::new(&up.md5);
            img.data = ImageData::File {
                path,
                len: up.len,
            }
            .into();
            img.data_mismatch = false;
            let out = Arc::new(img.clone());
            tx.put(img);
            Ok(Ok(out))
        })
        .await?;
    if outcome.is_err() {
        let _ = tokio::fs::remove_file(&up.path).await;
    }
    outcome
}

fn gone_during_upload(id: &str) -> ApiError {
    ApiError::explained(
        StatusCode::PRECONDITION_FAILED,
        format!(
            "Image {id} could not be found after upload. The image may have been deleted during the upload."
        ),
    )
    .plain()
}

// ---------------------------------------------------------------------------------------
// POST /v1/images
// ---------------------------------------------------------------------------------------

/// `POST /v1/images`: reserve a record from the headers, then upload the body if any.
pub async fn create<B>(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let mut meta = parse_meta_headers(&parts.headers)?;
    validate_meta(&mut meta)?;
    let with_data = has_body(&parts.headers);
    // Python's `content_length or size`: a zero Content-Length falls through to the size.
    let declared = content_length(&parts.headers)
        .filter(|n| *n > 0)
        .or_else(|| meta.int("size", false).ok().flatten().flatten());
    if let Some(n) = declared {
        if n > app.config.image_size_cap {
            return Err(ApiError::bad_request(format!(
                "Denying attempt to upload image larger than {} bytes.",
                app.config.image_size_cap
            )));
        }
    }
    enforce(&app, &ctx, "add_image")?;
    publicize_check(&app, &ctx, &meta)?;
    if with_data {
        enforce(&app, &ctx, "upload_image")?;
    }
    property_quota(&app, meta.properties.len())?;
    if let Some(Some(store)) = meta.raw("store") {
        if store != "file" {
            return Err(ApiError::bad_request(format!(
                "Required store {store} is invalid"
            )));
        }
    }
    external_source(&meta, &parts.headers)?;

    let id = match meta.raw("id") {
        Some(Some(id)) => {
            if !uuid_like(id) {
                return Err(ApiError::from_registry(
                    ApiError::explained(StatusCode::BAD_REQUEST, "Invalid image id format"),
                    "Failed to reserve image. Got error: ",
                ));
            }
            id.to_string()
        }
        _ => app.new_image_id(),
    };
    let now = app.now();
    let image_id = ImageId::new(&id).ok_or_else(|| {
        ApiError::from_registry(
            ApiError::explained(StatusCode::BAD_REQUEST, "Invalid image id format"),
            "Failed to reserve image. Got error: ",
        )
    })?;
    let mut img = Image::new(image_id, now);
    img.owner = ctx.caller.tenant.as_deref().map(Into::into);
    apply_meta(&mut img, &meta, ctx.caller.admin)
        .map_err(|e| reserve_error(e, "Failed to reserve image. Got error: "))?;
    img.status = if img.size == Some(0) && meta.has("size") {
        Status::Active
    } else {
        Status::Queued
    };
    let reserved = img.clone();
    app.store
        .write(move |snap, tx| {
            if snap.get(&reserved.id).is_some() {
                return Err(ApiError::conflict(format!(
                    "An image with identifier {} already exists",
                    reserved.id
                )));
            }
            tx.put(reserved);
            Ok(())
        })
        .await?;
    let location = format!("{}/v1/images/{}", ctx.host_url, id);
    if !with_data {
        return Ok(image_response(StatusCode::CREATED, &img, Some(location)));
    }
    if img.disk_format.is_none() {
        return Err(ApiError::explained(
            StatusCode::BAD_REQUEST,
            "Disk format is not specified.",
        ));
    }
    if img.container_format.is_none() {
        return Err(ApiError::explained(
            StatusCode::BAD_REQUEST,
            "Container format is not specified.",
        ));
    }
    let img = Box::pin(upload_and_activate(&app, &id, &parts.headers, body)).await?;
    Ok(image_response(StatusCode::CREATED, &img, Some(location)))
}

fn reserve_error(e: ApiError, prefix: &str) -> ApiError {
    match (&e.explanation, e.status) {
        (Some(msg), StatusCode::BAD_REQUEST) if msg.starts_with('\'') => ApiError::from_registry(
            ApiError::explained(StatusCode::BAD_REQUEST, msg.to_string()),
            prefix,
        ),
        _ => e,
    }
}

// ---------------------------------------------------------------------------------------
// PUT /v1/images/{id}
// ---------------------------------------------------------------------------------------

/// `PUT /v1/images/{id}`: update metadata (purging unnamed properties by default) and, for a
/// queued image, upload its data.
pub async fn update<B>(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (parts, body) = req.into_parts();
    let mut meta = parse_meta_headers(&parts.headers)?;
    validate_meta(&mut meta)?;
    let with_data = has_body(&parts.headers);
    enforce(&app, &ctx, "modify_image")?;
    publicize_check(&app, &ctx, &meta)?;
    if with_data {
        enforce(&app, &ctx, "upload_image")?;
    }
    let orig = visible_image(&app, &ctx, &id)?;
    if orig.status == Status::Deleted {
        return Err(ApiError::forbidden("Forbidden to update deleted image."));
    }
    if !ctx.caller.admin && matches!(orig.status, Status::Active | Status::Deactivated) {
        if let Some(v) = meta.int("size", false)? {
            if v != orig.size {
                return Err(ApiError::forbidden(format!(
                    "Forbidden to modify 'size' of {} image.",
                    orig.status
                )));
            }
        }
        if let Some(v) = meta.string("checksum") {
            if v.as_deref() != orig.checksum.as_deref() {
                return Err(ApiError::forbidden(format!(
                    "Forbidden to modify 'checksum' of {} image.",
                    orig.status
                )));
            }
        }
    }
    if let Some(v) = meta.raw("status") {
        if v != Some(orig.status.as_str()) {
            return Err(ApiError::forbidden(
                "Forbidden to modify 'status' of image.",
            ));
        }
    }
    if let Some(v) = meta.raw("id") {
        if v != Some(orig.id.as_str()) {
            return Err(ApiError::forbidden("Forbidden to modify 'id' of image."));
        }
    }
    let purge = parts
        .headers
        .get("x-glance-registry-purge-props")
        .is_none_or(|v| bool_from_string(&String::from_utf8_lossy(v.as_bytes())))
        && !with_data;
    if with_data && orig.status != Status::Queued {
        return Err(ApiError::detailed(
            StatusCode::CONFLICT,
            "Cannot upload to an unqueued image",
        ));
    }
    if meta.has("location") || parts.headers.contains_key("x-glance-api-copy-from") {
        if orig.status != Status::Queued {
            return Err(ApiError::bad_request(
                "Attempted to update Location field for an image not in queued status.",
            ));
        }
        external_source(&meta, &parts.headers)?;
    }
    let count = if purge {
        meta.properties.len()
    } else {
        let mut keys: Vec<&str> = orig.properties.iter().map(|(k, _)| &**k).collect();
        for (k, _) in &meta.properties {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        keys.len()
    };
    property_quota(&app, count)?;

    let admin = ctx.caller.admin;
    let caller = ctx.caller.clone();
    let idc = id.clone();
    let now = app.now();
    let updated = app
        .store
        .write(move |snap, tx| {
            let cur = match snap.get(&idc) {
                Some(c) if caller.can_see(&c) => c,
                _ => return Err(ApiError::image_not_found(&idc)),
            };
            if !caller.admin && !caller.owns(&cur) && cur.owner.is_some() {
                if cur.is_public {
                    return Err(not_mutable("Forbidden to update image: "));
                }
                return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
            }
            let mut img = (*cur).clone();
            if purge {
                img.properties.clear();
            }
            let before = img.updated_at;
            apply_meta(&mut img, &meta, admin)
                .map_err(|e| reserve_error(e, "Failed to update image metadata. Got error: "))?;
            if img.updated_at == before {
                img.updated_at = now;
            }
            let out = Arc::new(img.clone());
            tx.put(img);
            Ok(out)
        })
        .await?;
    if with_data && updated.status == Status::Queued {
        if updated.disk_format.is_none() {
            return Err(ApiError::explained(
                StatusCode::BAD_REQUEST,
                "Disk format is not specified.",
            ));
        }
        if updated.container_format.is_none() {
            return Err(ApiError::explained(
                StatusCode::BAD_REQUEST,
                "Container format is not specified.",
            ));
        }
        let img = Box::pin(upload_and_activate(&app, &id, &parts.headers, body)).await?;
        return Ok(image_response(StatusCode::OK, &img, None));
    }
    Ok(image_response(StatusCode::OK, &updated, None))
}

// ---------------------------------------------------------------------------------------
// DELETE /v1/images/{id}
// ---------------------------------------------------------------------------------------

/// `DELETE /v1/images/{id}`: soft delete; 200 with an empty body.
pub async fn delete(app: Arc<App>, ctx: Arc<Ctx>, id: String) -> Result<Response<Body>, ApiError> {
    enforce(&app, &ctx, "delete_image")?;
    let now = app.now();
    let caller = ctx.caller.clone();
    app.store
        .write(move |snap, tx| {
            let cur = match snap.get(&id) {
                Some(c) if caller.can_see(&c) => c,
                _ => return Err(ApiError::image_not_found(&id)),
            };
            if cur.protected {
                return Err(ApiError::forbidden("Image is protected"));
            }
            match cur.status {
                Status::PendingDelete => {
                    return Err(ApiError::forbidden(
                        "Forbidden to delete a pending_delete image.",
                    ))
                }
                Status::Deleted => {
                    return Err(ApiError::explained(
                        StatusCode::NOT_FOUND,
                        format!("Image {id} not found."),
                    )
                    .plain())
                }
                _ => {}
            }
            if !caller.admin && !caller.owns(&cur) {
                if cur.is_public {
                    return Err(not_mutable("Forbidden to delete image: "));
                }
                // A mere member: the registry's 404 was not mapped by the API.
                return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
            }
            let mut img = (*cur).clone();
            img.status = Status::Deleted;
            img.deleted = true;
            img.deleted_at = Some(now);
            img.updated_at = now;
            tx.put(img);
            Ok(())
        })
        .await?;
    Ok(empty_html(StatusCode::OK))
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

fn image_for_members(app: &App, ctx: &Ctx, id: &str) -> Result<Arc<Image>, ApiError> {
    let img = visible_image(app, ctx, id)?;
    if img.status == Status::Deleted {
        return Err(ApiError::detailed(
            StatusCode::NOT_FOUND,
            format!("Image with identifier {id} has been deleted."),
        ));
    }
    Ok(img)
}

fn check_member_access(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.caller.tenant.is_none() && !ctx.caller.admin {
        return Err(ApiError::detailed(
            StatusCode::UNAUTHORIZED,
            "No authenticated user",
        ));
    }
    Ok(())
}

fn member_quota(app: &App, attempted: usize) -> Result<(), ApiError> {
    if attempted > app.config.member_quota {
        return Err(ApiError::explained(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The limit has been exceeded on the number of allowed image members for this image. Attempted: {attempted}, Maximum: {}",
                app.config.member_quota
            ),
        ));
    }
    Ok(())
}

/// The registry's 403 for a caller without sharing rights, which glance-api turned into a
/// 404 carrying the registry's page.
fn no_share_permission() -> ApiError {
    let inner = ApiError::detailed(StatusCode::FORBIDDEN, "No permission to share that image");
    let mut e = ApiError::from_registry(inner, "");
    e.status = StatusCode::NOT_FOUND;
    e
}

/// The registry refusing a write to an image the caller may see but not change.
fn not_mutable(prefix: &str) -> ApiError {
    let mut e = ApiError::from_registry(ApiError::new(StatusCode::FORBIDDEN), prefix);
    e.status = StatusCode::FORBIDDEN;
    e
}

/// `GET /v1/images/{id}/members`.
pub fn members_index(app: &App, ctx: &Ctx, id: &str) -> Result<Response<Body>, ApiError> {
    enforce(app, ctx, "get_members")?;
    let img = image_for_members(app, ctx, id)?;
    if ctx.caller.admin || ctx.caller.owns(&img) {
        return Ok(json_response(StatusCode::OK, api::members_body(&img)));
    }
    // The registry's member query showed a non-owner only the rows naming itself.
    let mut own = (*img).clone();
    own.members
        .retain(|m| Some(m.member_id.as_str()) == ctx.caller.tenant.as_deref());
    Ok(json_response(StatusCode::OK, api::members_body(&own)))
}

const MAX_JSON_BODY: usize = 1 << 20;

async fn read_json<B>(body: B) -> Result<Option<serde_json::Value>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limited = http_body_util::Limited::new(body, MAX_JSON_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|_| {
            ApiError::explained(StatusCode::BAD_REQUEST, "Malformed JSON in request body.")
        })?
        .to_bytes();
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|_| {
        ApiError::explained(StatusCode::BAD_REQUEST, "Malformed JSON in request body.")
    })
}

/// `PUT /v1/images/{id}/members` with `{"memberships": [...]}`: replace all.
pub async fn members_replace<B>(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    check_member_access(&ctx)?;
    enforce(&app, &ctx, "modify_member")?;
    image_for_members(&app, &ctx, &id)?;
    let body = read_json(req.into_body()).await?;
    let invalid = || {
        ApiError::from_registry(
            ApiError::explained(
                StatusCode::BAD_REQUEST,
                "Invalid membership association: 'member_id'",
            ),
            "",
        )
    };
    let list = body
        .as_ref()
        .and_then(|b| b.get("memberships"))
        .ok_or_else(invalid)?;
    let list = list.as_array().ok_or_else(invalid)?;
    member_quota(&app, list.len())?;
    let mut members: Vec<Member> = Vec::with_capacity(list.len());
    for m in list {
        let member_id = m
            .get("member_id")
            .and_then(|v| v.as_str())
            .ok_or_else(invalid)?
            .to_string();
        let can_share = m.get("can_share").map(json_truthy).unwrap_or(false);
        if let Some(x) = members.iter_mut().find(|x| x.member_id == member_id) {
            x.can_share = can_share;
        } else {
            members.push(Member {
                member_id,
                can_share,
            });
        }
    }
    let caller = ctx.caller.clone();
    app.store
        .write(move |snap, tx| {
            let cur = snap
                .get(&id)
                .ok_or_else(|| ApiError::image_not_found(&id))?;
            if !caller.can_share(&cur) {
                return Err(no_share_permission());
            }
            let mut img = (*cur).clone();
            // Rows that stay keep their place (the registry updates them in place); new
            // memberships follow in request order.
            let mut next: Vec<Member> = img
                .members
                .iter()
                .filter_map(|old| {
                    members
                        .iter()
                        .find(|m| m.member_id == old.member_id)
                        .cloned()
                })
                .collect();
            for m in members {
                if !next.iter().any(|x| x.member_id == m.member_id) {
                    next.push(m);
                }
            }
            img.members = next.into();
            tx.put(img);
            Ok(())
        })
        .await?;
    Ok(no_content())
}

fn json_truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Null => false,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

/// `PUT /v1/images/{id}/members/{member}` with optional `{"member": {"can_share": b}}`.
pub async fn member_add<B>(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    member: String,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    check_member_access(&ctx)?;
    enforce(&app, &ctx, "modify_member")?;
    let img = image_for_members(&app, &ctx, &id)?;
    member_quota(&app, img.members.len() + 1)?;
    let body = read_json(req.into_body()).await?;
    let can_share = body
        .as_ref()
        .and_then(|b| b.get("member"))
        .and_then(|m| m.get("can_share"))
        .map(json_truthy);
    let caller = ctx.caller.clone();
    app.store
        .write(move |snap, tx| {
            let cur = snap
                .get(&id)
                .ok_or_else(|| ApiError::image_not_found(&id))?;
            if !caller.can_share(&cur) {
                return Err(no_share_permission());
            }
            let mut img = (*cur).clone();
            match img.members.iter_mut().find(|m| m.member_id == member) {
                Some(m) => {
                    if let Some(cs) = can_share {
                        m.can_share = cs;
                    }
                }
                None => img.members.push(Member {
                    member_id: member,
                    can_share: can_share.unwrap_or(false),
                }),
            }
            tx.put(img);
            Ok(())
        })
        .await?;
    Ok(no_content())
}

/// `DELETE /v1/images/{id}/members/{member}`.
pub async fn member_delete(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    member: String,
) -> Result<Response<Body>, ApiError> {
    check_member_access(&ctx)?;
    enforce(&app, &ctx, "delete_member")?;
    image_for_members(&app, &ctx, &id)?;
    let caller = ctx.caller.clone();
    app.store
        .write(move |snap, tx| {
            let cur = snap
                .get(&id)
                .ok_or_else(|| ApiError::image_not_found(&id))?;
            if !caller.can_share(&cur) {
                return Err(no_share_permission());
            }
            let Some(pos) = cur.members.iter().position(|m| m.member_id == member) else {
                return Err(ApiError::from_registry(
                    ApiError::explained(StatusCode::NOT_FOUND, "Membership could not be found."),
                    "",
                ));
            };
            let mut img = (*cur).clone();
            img.members.remove(pos);
            tx.put(img);
            Ok(())
        })
        .await?;
    Ok(no_content())
}

/// `GET /v1/shared-images/{member}`.
pub fn shared_images(app: &App, ctx: &Ctx, member: &str) -> Result<Response<Body>, ApiError> {
    let mut entries: Vec<(Timestamp, String, bool)> = app
        .store
        .all()
        .iter()
        .filter(|i| !i.deleted && ctx.caller.can_see(i))
        // Non-admins see rows of images they own, or rows naming themselves.
        .filter(|i| {
            ctx.caller.admin || ctx.caller.owns(i) || ctx.caller.tenant.as_deref() == Some(member)
        })
        .filter_map(|i| {
            i.members
                .iter()
                .find(|m| m.member_id == member)
                .map(|m| (i.created_at, i.id.to_string(), m.can_share))
        })
        .collect();
    entries.sort();
    let list: Vec<(String, bool)> = entries.into_iter().map(|(_, id, cs)| (id, cs)).collect();
    Ok(json_response(
        StatusCode::OK,
        api::shared_images_body(&list),
    ))
}
