//! Which images a caller may see and whether their bytes may be served.

use std::sync::Arc;

use crate::model::{Image, ImageData, Status};
use crate::render::webob::ApiError;

use super::ctx::Ctx;
use super::handle::App;

/// Finds the image `id` as the caller may see it, or Glance's 404.
pub fn visible_image(app: &App, ctx: &Ctx, id: &str) -> Result<Arc<Image>, ApiError> {
    match app.store.get(id) {
        Some(img) if ctx.caller.can_see(&img) => Ok(img),
        _ => Err(ApiError::image_not_found(id)),
    }
}

/// Whether the stored bytes disagree with the record (the emulator's detected mismatch):
/// a fixture whose bytes did not match at load, a size changed after the bytes were stored,
/// or a file a download found changed on disk ([`ChangedFiles`](super::ChangedFiles)).
/// Answered from memory: a HEAD never touches the disk.
pub fn data_mismatch(app: &App, img: &Image) -> bool {
    if img.data_mismatch {
        return true;
    }
    if let ImageData::File { path, len } = &*img.data {
        return Some(*len) != img.size || app.changed_files.contains(path, *len);
    }
    false
}

/// True when `status` lets the data be downloaded.
pub fn downloadable(status: Status) -> bool {
    status == Status::Active
}
