//! Writes with data: `POST /v1/images` and `PUT /v1/images/{id}`, and the upload that
//! receives an image's bytes (size cap, checksum, idle timeout) and activates it.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::app::body::Body;
use crate::app::{visible_image, App, Ctx};
use crate::model::{Checksum, Image, ImageData, ImageId, Status};
use crate::render::webob::ApiError;

use super::lists::uuid_like;
use super::members::not_mutable;
use super::request_meta::{
    apply_meta, bool_from_string, enforce, environ_header, external_source, has_body,
    image_response, parse_meta_headers, property_quota, publicize_check, unsupported_source,
    validate_meta, MetaIn, KNOWN_SCHEMES,
};

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
    /// Fewer than `upload_min_rate` bytes per second over a whole window.
    TooSlow,
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
    // A trickling sender (a byte now and then) must not hold an upload open forever
    // either: each window must bring at least rate x window bytes.
    let rate = app.config.upload_min_rate;
    let window = app.config.upload_rate_window;
    let mut window_end = tokio::time::Instant::now() + window;
    let mut window_bytes = 0u64;
    let result = loop {
        let idle_end = tokio::time::Instant::now() + idle;
        let until = if rate > 0 {
            idle_end.min(window_end)
        } else {
            idle_end
        };
        let next = match tokio::time::timeout_at(until, body.frame()).await {
            Ok(next) => next,
            Err(_) if rate > 0 && tokio::time::Instant::now() >= window_end => {
                if window_bytes < rate.saturating_mul(window.as_secs().max(1)) {
                    break Err(UploadFail::TooSlow);
                }
                window_end += window;
                window_bytes = 0;
                continue;
            }
            // A stalled sender must not hold an upload (and its file) open forever.
            Err(_) => break Err(UploadFail::Disconnected),
        };
        if rate > 0 && tokio::time::Instant::now() >= window_end {
            if window_bytes < rate.saturating_mul(window.as_secs().max(1)) {
                break Err(UploadFail::TooSlow);
            }
            window_end = tokio::time::Instant::now() + window;
            window_bytes = 0;
        }
        match next {
            None => break Ok(()),
            Some(Err(_)) => break Err(UploadFail::Disconnected),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    len += data.len() as u64;
                    window_bytes += data.len() as u64;
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
/// `admin`: the caller sees deleted records (a record created deleted is activated for it).
async fn upload_and_activate<B>(
    app: &Arc<App>,
    id: &str,
    req_headers: &HeaderMap,
    body: B,
    admin: bool,
) -> Result<Arc<Image>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // `_upload`: the store named by the raw header (an empty one included), else the
    // default `file`, before anything else.
    let scheme = environ_header(req_headers, "x-image-meta-store");
    let scheme = scheme.as_deref().unwrap_or("file");
    if !KNOWN_SCHEMES.contains(&scheme) {
        return Err(ApiError::bad_request(format!(
            "Store for scheme {scheme} not found"
        )));
    }
    if !octet_stream(req_headers) {
        set_status(app, id, Status::Killed, None).await?;
        return Err(ApiError::bad_request(
            "Content-Type must be application/octet-stream",
        ));
    }
    set_status(app, id, Status::Saving, None).await?;
    if scheme == "http" || scheme == "https" {
        // The http store is read-only: `add` raised StoreAddDisabled before reading a byte.
        set_status(app, id, Status::Killed, Some(Status::Saving)).await?;
        return Err(ApiError::explained(
            StatusCode::GONE,
            "Error in store configuration. Adding images to store is disabled.",
        )
        .plain());
    }
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
                UploadFail::TooSlow => ApiError::new(StatusCode::REQUEST_TIMEOUT),
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
                return Err(gone_during_upload(&idc));
            };
            // The registry's update `from_state='saving'`: a record no longer saving
            // (deleted meanwhile) is the 412, and so is a deleted record for a caller
            // who cannot see it; an admin's record created deleted is saving, and is
            // activated like any other (Glance 15 answered 201, `deleted: true`).
            if cur.status != Status::Saving || (cur.deleted && !admin) {
                return Err(gone_during_upload(&idc));
            }
            let mut img = (*cur).clone();
            img.updated_at = now;
            let supplied_size = img.size.filter(|s| *s != 0);
            if let Some(s) = supplied_size.filter(|s| *s != up.len) {
                img.status = Status::Killed;
                tx.put(img);
                tx.keep_on_error();
                return Err(ApiError::bad_request(format!(
                    "Supplied size ({s}) and size generated from uploaded image ({}) did not match. Setting image status to 'killed'.",
                    up.len
                )));
            }
            if let Some(c) = img.checksum.filter(|c| *c != up.md5) {
                img.status = Status::Killed;
                tx.put(img);
                tx.keep_on_error();
                return Err(ApiError::bad_request(format!(
                    "Supplied checksum ({c}) and checksum generated from uploaded image ({}) did not match. Setting image status to 'killed'.",
                    up.md5
                )));
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
            Ok(out)
        })
        .await;
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
    size_cap(&app, &parts.headers, &meta)?;
    enforce(&app, &ctx, "add_image")?;
    publicize_check(&app, &ctx, &meta)?;
    if with_data {
        enforce(&app, &ctx, "upload_image")?;
    }
    property_quota(&app, meta.properties.len())?;
    // `_reserve`: the source first, then the store.
    if let Some(src) = external_source(&meta, &parts.headers)? {
        // Glance would fetch it (copy-from) or ask its size (location): no remote stores.
        return Err(unsupported_source(&src));
    }
    if let Some(Some(store)) = meta.raw("store") {
        if !KNOWN_SCHEMES.contains(&store) {
            return Err(ApiError::bad_request(format!(
                "Required store {store} is invalid"
            )));
        }
    }

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
    // A uuid-like id longer than a column's 36 characters (`{...}`, `urn:uuid:...`): the
    // registry wrote the row, then its own read of it refused the length and nothing
    // caught that: a 500. (The row stayed, listed but never found; glance-emu's ids are
    // at most 36 characters, so it writes none: docs/fidelity.md.)
    let image_id =
        ImageId::new(&id).ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR))?;
    let mut img = Image::new(image_id, now);
    img.owner = ctx.caller.tenant.as_deref().map(Into::into);
    apply_meta(&mut img, &meta, ctx.caller.admin).map_err(|e| {
        reserve_error(
            e,
            "Failed to reserve image. Got error: ",
            "Failed to add image metadata. Got error: ",
        )
    })?;
    img.status = if img.size == Some(0) && meta.has("size") {
        Status::Active
    } else {
        Status::Queued
    };
    // Timestamps the caller set passed validation as text, and SQLite's DateTime column
    // refused text at the write: a 500, nothing created (the reference server's store;
    // docs/fidelity.md).
    if ["created_at", "updated_at", "deleted_at"]
        .iter()
        .any(|k| matches!(meta.raw(k), Some(Some(_))))
    {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    // The registry's create kept `deleted` (only updates drop it): the row is written
    // deleted, and a caller who cannot see deleted rows (not an admin) then got a 500
    // from the read that followed, the row written all the same.
    let hidden = meta.boolean("deleted") == Some(true);
    img.deleted = hidden;
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
    if hidden && !ctx.caller.admin {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let location = format!("{}/v1/images/{}", ctx.host_url, id);
    if !with_data {
        return Ok(image_response(StatusCode::CREATED, &img, Some(location)));
    }
    formats_for_upload(&img)?;
    if !ctx.caller.admin && img.owner.is_none() {
        // A caller without a tenant made an owner-less image, which the registry lets no
        // non-admin change: the upload's first step (status "saving") came back "Image not
        // found" and glance-api answered 500, leaving the record queued. A wrong
        // Content-Type was refused before that (the attempt to kill the record failed
        // the same way, quietly).
        if !octet_stream(&parts.headers) {
            return Err(ApiError::bad_request(
                "Content-Type must be application/octet-stream",
            ));
        }
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let img = Box::pin(upload_and_activate(
        &app,
        &id,
        &parts.headers,
        body,
        ctx.caller.admin,
    ))
    .await?;
    Ok(image_response(StatusCode::CREATED, &img, Some(location)))
}

/// The deserializer's size check, for creates and updates alike: the declared size (a
/// non-zero `Content-Length`, else `x-image-meta-size`; Python's `content_length or size`)
/// over `image_size_cap` is a 400 before anything else is looked at.
fn size_cap(app: &App, h: &HeaderMap, meta: &MetaIn) -> Result<(), ApiError> {
    let declared = crate::app::content_length(h)
        .filter(|n| *n > 0)
        .or_else(|| meta.int("size", false).ok().flatten().flatten());
    match declared {
        Some(n) if n > app.config.image_size_cap => Err(ApiError::bad_request(format!(
            "Denying attempt to upload image larger than {} bytes.",
            app.config.image_size_cap
        ))),
        _ => Ok(()),
    }
}

/// Whether the request's media type is `application/octet-stream` (parameters ignored),
/// the only one Glance took image data in.
fn octet_stream(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .split(|b| *b == b';')
            .next()
            .unwrap_or(b"")
            .trim_ascii()
            == b"application/octet-stream"
    })
}

/// Glance's check before bytes are stored: an image needs both formats to take data.
fn formats_for_upload(img: &Image) -> Result<(), ApiError> {
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
    Ok(())
}

/// The registry's own refusals (`exception.Invalid`, today only the out-of-range
/// `min_disk`/`min_ram`) came back as its 400 page, the message as detail after
/// `registry_prefix`, inside glance-api's 400 after `api_prefix`.
fn reserve_error(e: ApiError, api_prefix: &str, registry_prefix: &str) -> ApiError {
    match (&e.explanation, e.status) {
        (Some(msg), StatusCode::BAD_REQUEST) if msg.starts_with('\'') => ApiError::from_registry(
            ApiError::detailed(StatusCode::BAD_REQUEST, format!("{registry_prefix}{msg}")),
            api_prefix,
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
    size_cap(&app, &parts.headers, &meta)?;
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
    let purge = environ_header(&parts.headers, "x-glance-registry-purge-props")
        .is_none_or(|v| bool_from_string(&v))
        && !with_data;
    if with_data && orig.status != Status::Queued {
        return Err(ApiError::detailed(
            StatusCode::CONFLICT,
            "Cannot upload to an unqueued image",
        ));
    }
    // The source is checked first; only a usable one meets the status rule.
    if let Some(src) = external_source(&meta, &parts.headers)? {
        if orig.status != Status::Queued {
            return Err(ApiError::bad_request(
                "Attempted to update Location field for an image not in queued status.",
            ));
        }
        return Err(unsupported_source(&src));
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
    let written = app
        .store
        .write(move |snap, tx| {
            let cur = match snap.get(&idc) {
                Some(c) if caller.can_see(&c) => c,
                _ => return Err(ApiError::image_not_found(&idc)),
            };
            // The registry let no non-admin change an image it does not own, owner-less
            // ones included (`is_image_mutable`).
            if !caller.admin && !caller.owns(&cur) {
                if cur.is_public {
                    return Err(not_mutable("Forbidden to update image: "));
                }
                return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
            }
            let mut img = (*cur).clone();
            if purge {
                img.properties.clear();
            }
            apply_meta(&mut img, &meta, admin).map_err(|e| {
                reserve_error(
                    e,
                    "Failed to update image metadata. Got error: ",
                    "Failed to update image metadata. Got error: ",
                )
            })?;
            // Always now: the registry dropped a caller's timestamps on update.
            img.updated_at = now;
            let out = Arc::new(img.clone());
            tx.put(img);
            Ok(out)
        })
        .await;
    let updated = written?;
    if with_data && updated.status == Status::Queued {
        formats_for_upload(&updated)?;
        let img = Box::pin(upload_and_activate(&app, &id, &parts.headers, body, admin)).await?;
        return Ok(image_response(StatusCode::OK, &img, None));
    }
    Ok(image_response(StatusCode::OK, &updated, None))
}
