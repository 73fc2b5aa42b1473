//! One image (`glance/api/v1/images.py`): metadata HEAD, download (GET) and DELETE.

use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::app::{data_mismatch, downloadable, empty_html, visible_image, App, Ctx, REQ_SIZE};
use crate::model::{Image, ImageData, Status};
use crate::render::image_headers as headers;
use crate::render::webob::ApiError;

use super::members::not_mutable;
use super::request_meta::enforce;

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
        if data_mismatch(app, &img) {
            return Err(ApiError::new(StatusCode::CONFLICT).plain());
        }
    }
    let mut resp = empty_html(StatusCode::OK);
    let h = resp.headers_mut();
    h.reserve(22);
    if !headers::image_meta(&img, None, h) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
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
    let (body, size) = if img.size == Some(0) {
        // Glance never touches the store for a zero-size image (`size == 0`: a null size
        // is read from the store like any other, and the answer takes the store's size).
        (Body::empty_sized(), 0)
    } else {
        match &*img.data {
            ImageData::None => return Err(not_in_store()),
            ImageData::Bytes(b) => (Body::full((**b).clone()), b.len() as u64),
            ImageData::Repeat { unit, len } => (Body::repeat(unit, *len), *len),
            ImageData::File {
                path,
                len: recorded,
            } => {
                // The one place the file is looked at after load (off the worker threads:
                // tokio::fs); a change is noted for HEAD's mismatch check.
                let changed = || app.changed_files.note(path, *recorded);
                let file = tokio::fs::File::open(path.as_ref()).await.map_err(|_| {
                    changed();
                    not_in_store()
                })?;
                let len = file
                    .metadata()
                    .await
                    .map_err(|_| {
                        changed();
                        not_in_store()
                    })?
                    .len();
                if len != *recorded {
                    changed();
                } else {
                    app.changed_files.forget(path, *recorded);
                }
                // Take exactly the length announced, so a file growing mid-stream cannot
                // overrun Content-Length.
                (Body::reader(tokio::io::AsyncReadExt::take(file, len)), len)
            }
        }
    };
    let mut resp = Response::new(body);
    resp.extensions_mut().insert(crate::app::StreamedData);
    let h = resp.headers_mut();
    h.append(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.append(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if !headers::image_meta(&img, Some(size), h) {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    Ok(resp)
}

// ---------------------------------------------------------------------------------------
// DELETE /v1/images/{id}
// ---------------------------------------------------------------------------------------

/// `DELETE /v1/images/{id}`: soft delete; 200 with an empty body.
pub async fn delete(app: Arc<App>, ctx: Arc<Ctx>, id: String) -> Result<Response<Body>, ApiError> {
    enforce(&app, &ctx, "delete_image")?;
    let now = app.now();
    let caller = ctx.caller.clone();
    let destroyed = app
        .store
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
            img.updated_at = now;
            if has_duplicate_member_rows(&img) {
                // glance-api first set the status to deleted, then the registry's destroy
                // soft-deleted every member row with ONE deleted_at, which broke the unique
                // key (image_id, member, deleted_at) on a tenant's duplicate rows: a 500,
                // the destroy rolled back, the status change kept (a real Glance bug).
                tx.put(img);
                return Ok(false);
            }
            img.deleted = true;
            img.deleted_at = Some(now);
            // Glance soft-deletes the member rows with the image: a former member no longer
            // sees it in lists with changes-since (and the database agrees after a restart).
            img.members.soft_delete_all();
            // ...and its property rows: no view of the image shows them again.
            img.properties.clear();
            tx.put(img);
            Ok(true)
        })
        .await?;
    if !destroyed {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    Ok(empty_html(StatusCode::OK))
}

/// Whether a tenant has two live membership rows (a can_share member's writes can add them).
fn has_duplicate_member_rows(img: &Image) -> bool {
    let m = &img.members;
    m.iter()
        .enumerate()
        .any(|(i, a)| m[..i].iter().any(|b| b.member_id == a.member_id))
}
