//! Which images a caller may see and whether their bytes may be served.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

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
/// or a file a download found changed on disk ([`ChangedFiles`]). Answered from memory: a
/// HEAD never touches the disk.
pub fn data_mismatch(app: &App, img: &Image) -> bool {
    if img.data_mismatch {
        return true;
    }
    if let ImageData::File { path, len } = &*img.data {
        return Some(*len) != img.size || app.changed_files.contains(path, *len);
    }
    false
}

/// Files of file-backed records that a download found changed on disk (another length, or
/// gone) since the record was loaded or written: path and the length the record holds.
/// A record loaded again from the changed file has the new length and no longer matches.
#[derive(Debug, Default)]
pub struct ChangedFiles(RwLock<HashMap<PathBuf, u64>>);

impl ChangedFiles {
    /// Notes that the file at `path`, recorded with `len` bytes, is not what the record says.
    pub fn note(&self, path: &Path, len: u64) {
        let mut m = self.0.write().unwrap_or_else(|e| e.into_inner());
        m.insert(path.to_path_buf(), len);
    }

    /// Whether the file at `path`, recorded with `len` bytes, was found changed.
    pub fn contains(&self, path: &Path, len: u64) -> bool {
        let m = self.0.read().unwrap_or_else(|e| e.into_inner());
        !m.is_empty() && m.get(path) == Some(&len)
    }
}

/// True when `status` lets the data be downloaded.
pub fn downloadable(status: Status) -> bool {
    status == Status::Active
}
