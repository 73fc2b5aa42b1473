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

/// Whether the stored bytes disagree with the record (the emulator's detected mismatch).
pub fn data_mismatch(img: &Image) -> bool {
    if img.data_mismatch {
        return true;
    }
    if let ImageData::File { path, len } = &*img.data {
        // A file changed on disk after it was loaded: compare with what the record says.
        return match std::fs::metadata(path.as_ref()) {
            Ok(m) => m.len() != *len || Some(m.len()) != img.size,
            Err(_) => true,
        };
    }
    false
}

/// True when `status` lets the data be downloaded.
pub fn downloadable(status: Status) -> bool {
    status == Status::Active
}
