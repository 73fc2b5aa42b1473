//! [`Controller`]: the control calls for Rust code (load, reset, export, clock, ids, journal,
//! faults), the same operations as the `/_emu/` HTTP API.

use super::state::{Baseline, Control, MAX_JOURNAL_CAP};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::app::App;
use crate::clock::{ClockInfo, IdsInfo};
use crate::control::faults::AddRuleError;
use crate::control::faults::{FaultInfo, FaultRule};
use crate::control::journal::{JournalEntry, JournalFilter, JournalPage};
use crate::model::{Image, ImageData, Timestamp};
use crate::store::StoreError;

// ---------------------------------------------------------------------------------------
// Controller: the control calls for Rust code
// ---------------------------------------------------------------------------------------

/// What kind of failure a control call had; its HTTP status follows from the kind alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlErrorKind {
    /// Invalid input (400).
    Invalid,
    /// Unknown id (404).
    NotFound,
    /// A duplicate (409).
    Conflict,
    /// The store or the file system failed (500).
    Internal,
}

/// A failed control call: its kind and a message (`{"error": message}` over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    /// What went wrong, as a class.
    pub kind: ControlErrorKind,
    /// What went wrong.
    pub message: String,
}

impl ControlError {
    pub(crate) fn new(kind: ControlErrorKind, message: impl Into<String>) -> Self {
        ControlError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ControlError::new(ControlErrorKind::Invalid, message)
    }

    /// The HTTP status of this error: 400 invalid input, 404 unknown id, 409 duplicate,
    /// 500 store or file failure.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            ControlErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ControlErrorKind::NotFound => StatusCode::NOT_FOUND,
            ControlErrorKind::Conflict => StatusCode::CONFLICT,
            ControlErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        ControlError::new(
            ControlErrorKind::Internal,
            format!("the store refused the change: {e}"),
        )
    }
}

/// What a runtime load did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Records loaded (new or replacing).
    pub loaded: usize,
    /// Of those, how many replaced a record with the same id.
    pub replaced: usize,
    /// Their ids, in document order.
    pub ids: Vec<String>,
    /// Data/size/checksum mismatch warnings, as at start-up.
    pub warnings: Vec<String>,
}

/// What to reset the images to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResetTo {
    /// The fixtures the emulator started with (files are re-read).
    #[default]
    Fixtures,
    /// No images at all.
    Empty,
}

/// The control calls on a running emulator, for Rust code: the same operations as the
/// HTTP control API. Get one from [`crate::embed::Emulator::control`] or
/// [`Controller::new`].
#[derive(Debug, Clone)]
pub struct Controller {
    app: Arc<App>,
    control: Control,
}

impl Controller {
    /// Controls for this application and its control state.
    pub fn new(app: Arc<App>, control: Control) -> Self {
        Controller { app, control }
    }

    /// The application state these calls act on.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The control state (journal, fault rules, baseline) these calls act on.
    pub fn control(&self) -> &Control {
        &self.control
    }

    fn c(&self) -> &Control {
        &self.control
    }

    // -- images ---------------------------------------------------------------------

    /// Loads a fixture document (same formats as `data/*.json`), replacing records with the
    /// same ids. Relative `{"file": ...}` paths resolve against `base` (default: the working
    /// directory).
    pub async fn load_json(
        &self,
        text: &str,
        base: Option<&Path>,
    ) -> Result<LoadReport, ControlError> {
        let name = base.unwrap_or(Path::new("")).join("request.json");
        let (images, warnings) = crate::fixtures::parse_document(&name, text, self.app.clock.now())
            .map_err(|e| ControlError::invalid(e.to_string()))?;
        let mut report = self.load(images).await?;
        report.warnings = warnings;
        Ok(report)
    }

    /// Loads a fixture file or directory as `--data` would.
    pub async fn load_path(&self, path: &Path) -> Result<LoadReport, ControlError> {
        let loaded = crate::fixtures::load_paths(&[path.to_path_buf()], self.app.clock.now())
            .map_err(|e| ControlError::invalid(e.to_string()))?;
        let mut report = self.load(owned(loaded.images)).await?;
        report.warnings = loaded.warnings;
        Ok(report)
    }

    /// Stores these records, replacing records with the same ids.
    pub async fn load(&self, images: Vec<Image>) -> Result<LoadReport, ControlError> {
        let mut seen = HashSet::new();
        for img in &images {
            if !seen.insert(img.id) {
                return Err(ControlError::invalid(format!(
                    "duplicate image id '{}' in the document",
                    img.id
                )));
            }
        }
        let ids: Vec<String> = images.iter().map(|i| i.id.to_string()).collect();
        let replaced = self
            .app
            .store
            .write(move |snap, tx| -> Result<_, ControlError> {
                let mut replaced = 0;
                for img in images {
                    if snap.get(&img.id).is_some() {
                        replaced += 1;
                    }
                    tx.put(img);
                }
                Ok(replaced)
            })
            .await?;
        Ok(LoadReport {
            loaded: ids.len(),
            replaced,
            ids,
            warnings: Vec::new(),
        })
    }

    /// Removes a record entirely (not Glance's soft delete); false when there was none.
    pub async fn remove_image(&self, id: &str) -> Result<bool, ControlError> {
        let id = id.to_string();
        self.app
            .store
            .write(move |snap, tx| -> Result<_, ControlError> {
                let found = snap.get(&id).is_some();
                if found {
                    tx.remove(id);
                }
                Ok(found)
            })
            .await
    }

    /// Replaces every record with the fixtures or with nothing; returns the record count.
    pub async fn reset(&self, to: ResetTo) -> Result<usize, ControlError> {
        let images: Vec<Image> = match (to, self.c().baseline()) {
            (ResetTo::Empty, _) | (_, Baseline::Unset) => Vec::new(),
            (ResetTo::Fixtures, Baseline::Images(v)) => v.iter().map(|i| (**i).clone()).collect(),
            (ResetTo::Fixtures, Baseline::Paths(p)) => owned(
                crate::fixtures::load_paths(&p, self.app.clock.now())
                    .map_err(|e| {
                        ControlError::new(
                            ControlErrorKind::Internal,
                            format!("cannot re-read the fixtures: {e}"),
                        )
                    })?
                    .images,
            ),
        };
        let n = images.len();
        self.app
            .store
            .write(move |snap, tx| -> Result<_, ControlError> {
                for img in snap.all() {
                    tx.remove(img.id.to_string());
                }
                for img in images {
                    tx.put(img);
                }
                Ok(())
            })
            .await?;
        Ok(n)
    }

    /// Resets the images (to the fixtures or to nothing) and also clears the journal and
    /// the fault rules, sets the clock back to real and ids back to random.
    pub async fn reset_all(&self, to: ResetTo) -> Result<usize, ControlError> {
        let n = self.reset(to).await?;
        self.clear_journal();
        self.clear_faults();
        self.real_clock();
        self.random_ids();
        Ok(n)
    }

    /// Every record as a fixture document (`{"images": [...]}`, sorted by id) that loads
    /// back to the same records. File-backed data (uploads, `{"file"}` fixtures) is given
    /// by absolute path, or inline as base64 with `inline_files`. Blocking (it reads those
    /// files): from async code, call it on a blocking thread (`tokio::task::spawn_blocking`).
    pub fn export(&self, inline_files: bool) -> Result<Value, ControlError> {
        let images = self
            .by_id()
            .iter()
            .map(|i| record_json(i, inline_files))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "images": images }))
    }

    /// [`Controller::export`] as JSON text, written record by record: a million records
    /// take their text (about 510 bytes each) and not, besides it, a tree of JSON values
    /// (which took 9 GB). The same bytes as `serde_json::to_string` of `export`'s value.
    pub fn export_json(&self, inline_files: bool) -> Result<String, ControlError> {
        let mut out = String::from("{\"images\":[");
        for (n, img) in self.by_id().iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            let v = record_json(img, inline_files)?;
            // Writing a `Value` into a `String` cannot fail.
            out.push_str(&serde_json::to_string(&v).unwrap_or_default());
        }
        out.push_str("]}");
        Ok(out)
    }

    /// Every record, in the export's order (by id).
    fn by_id(&self) -> Vec<Arc<Image>> {
        let mut all = self.app.store.all();
        all.sort_by_key(|a| a.id);
        all
    }

    /// One record as fixture JSON. Blocking with `inline_files`, as [`Controller::export`].
    pub fn export_image(&self, id: &str, inline_files: bool) -> Result<Value, ControlError> {
        let img = self.app.store.get(id).ok_or_else(|| {
            ControlError::new(
                ControlErrorKind::NotFound,
                format!("no image with id '{id}'"),
            )
        })?;
        record_json(&img, inline_files)
    }

    // -- clock ----------------------------------------------------------------------

    /// Freezes the clock at `t` (`step_us`: move on by this much after each timestamp
    /// handed to a record; 0 keeps it still).
    pub fn freeze_clock(&self, t: Timestamp, step_us: i64) {
        self.app.clock.freeze(t, step_us);
    }

    /// Sets the clock to `t` and lets it run.
    pub fn set_clock(&self, t: Timestamp) {
        self.app.clock.set_running(t);
    }

    /// Moves the clock by `by` (forward).
    pub fn advance_clock(&self, by: Duration) {
        self.app
            .clock
            .advance(i64::try_from(by.as_micros()).unwrap_or(i64::MAX));
    }

    /// Back to the host's time.
    pub fn real_clock(&self) {
        self.app.clock.real();
    }

    /// The clock's mode and reading.
    pub fn clock(&self) -> ClockInfo {
        self.app.clock.info()
    }

    // -- ids ------------------------------------------------------------------------

    /// Seeds request ids, image ids and fault fractions.
    pub fn seed_ids(&self, seed: u64) {
        self.app.ids.seed(seed);
        self.c().faults().seed(seed);
    }

    /// Queues ids for the next created images.
    pub fn queue_image_ids(&self, ids: Vec<String>) -> Result<(), ControlError> {
        for id in &ids {
            if id.is_empty()
                || id.len() > 36
                || id.contains('/')
                || !crate::fixtures::header_value_ok(id)
                || id.contains(char::is_whitespace)
            {
                return Err(ControlError::invalid(format!(
                    "image id '{id}': must be 1 to 36 characters without '/', whitespace or control characters"
                )));
            }
        }
        self.app.ids.queue_image_ids(ids);
        Ok(())
    }

    /// Back to random ids.
    pub fn random_ids(&self) {
        self.app.ids.random();
    }

    /// Seed and queued ids.
    pub fn ids(&self) -> IdsInfo {
        self.app.ids.info()
    }

    // -- journal --------------------------------------------------------------------

    /// Every journaled request, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal_query(&JournalFilter::default()).entries
    }

    /// Journaled requests matching `filter`, shared with the journal rather than copied
    /// (what the HTTP call serialises).
    pub fn journal_shared(&self, filter: &JournalFilter) -> crate::control::journal::SharedPage {
        self.c().journal().query_shared(filter)
    }

    /// Journaled requests matching `filter`, with the cap and drop counters.
    pub fn journal_query(&self, filter: &JournalFilter) -> JournalPage {
        self.c().journal().query(filter)
    }

    /// Empties the journal.
    pub fn clear_journal(&self) {
        self.c().journal().clear();
    }

    /// Changes how many entries are kept (0 stops journaling).
    pub fn set_journal_cap(&self, cap: usize) -> Result<(), ControlError> {
        if cap > MAX_JOURNAL_CAP {
            return Err(ControlError::invalid(format!(
                "cap must be at most {MAX_JOURNAL_CAP}"
            )));
        }
        self.c().journal().set_cap(cap);
        Ok(())
    }

    // -- faults ---------------------------------------------------------------------

    /// Adds a fault rule (after the existing ones); returns its id.
    pub fn add_fault(&self, rule: FaultRule) -> Result<String, ControlError> {
        self.c().faults().add(rule).map_err(|e| {
            let kind = match e {
                AddRuleError::Invalid(_) => ControlErrorKind::Invalid,
                AddRuleError::Duplicate(_) => ControlErrorKind::Conflict,
            };
            ControlError::new(kind, e.to_string())
        })
    }

    /// The rules with their counters.
    pub fn faults(&self) -> Vec<FaultInfo> {
        self.c().faults().list()
    }

    /// Removes a rule; false when there is none with that id.
    pub fn remove_fault(&self, id: &str) -> bool {
        self.c().faults().remove(id)
    }

    /// Removes every rule.
    pub fn clear_faults(&self) {
        self.c().faults().clear();
    }
}

/// Records as owned values (the loader may hand them out shared).
pub(crate) fn owned<I: Into<Arc<Image>>>(v: Vec<I>) -> Vec<Image> {
    v.into_iter()
        .map(|i| Arc::unwrap_or_clone(i.into()))
        .collect()
}

/// An image as a fixture record (every field explicit, so it loads back unchanged).
pub(crate) fn record_json(i: &Image, inline_files: bool) -> Result<Value, ControlError> {
    let mut m = Map::new();
    m.insert("id".into(), json!(i.id));
    m.insert("name".into(), json!(i.name));
    m.insert("status".into(), json!(i.status.as_str()));
    m.insert("size".into(), json!(i.size));
    m.insert("virtual_size".into(), json!(i.virtual_size));
    m.insert("checksum".into(), json!(i.checksum));
    m.insert("disk_format".into(), json!(i.disk_format.as_deref()));
    m.insert(
        "container_format".into(),
        json!(i.container_format.as_deref()),
    );
    m.insert("min_disk".into(), json!(i.min_disk));
    m.insert("min_ram".into(), json!(i.min_ram));
    m.insert("owner".into(), json!(i.owner));
    m.insert("is_public".into(), json!(i.is_public));
    m.insert("protected".into(), json!(i.protected));
    m.insert("deleted".into(), json!(i.deleted));
    m.insert("deleted_at".into(), json!(i.deleted_at.map(|t| t.glance())));
    m.insert("created_at".into(), json!(i.created_at.glance()));
    m.insert("updated_at".into(), json!(i.updated_at.glance()));
    let props: Map<String, Value> = i
        .properties
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.as_deref())))
        .collect();
    m.insert("properties".into(), Value::Object(props));
    let members: Vec<Value> = i
        .members
        .iter()
        .map(|mb| json!({"member_id": mb.member_id, "can_share": mb.can_share}))
        .collect();
    m.insert("members".into(), Value::Array(members));
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let data = match &*i.data {
        ImageData::None => None,
        ImageData::Bytes(b) => Some(json!({ "base64": b64(b) })),
        ImageData::Repeat { unit, len } => {
            Some(json!({ "repeat": String::from_utf8_lossy(unit), "size": len }))
        }
        ImageData::File { path, .. } if inline_files => {
            let bytes = std::fs::read(path.as_ref()).map_err(|e| {
                ControlError::new(
                    ControlErrorKind::Internal,
                    format!("image {}: cannot read {}: {e}", i.id, path.display()),
                )
            })?;
            Some(json!({ "base64": b64(&bytes) }))
        }
        ImageData::File { path, .. } => Some(json!({ "file": path.display().to_string() })),
    };
    if let Some(d) = data {
        m.insert("data".into(), d);
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    //! The export's text is written record by record; it must stay the bytes of the JSON
    //! value `export` returns (what the control API answered before it was streamed).

    use super::*;
    use crate::app::Config;
    use crate::store::Store;

    #[test]
    fn export_json_is_the_text_of_export() {
        let mut images = Vec::new();
        for name in [
            "cirros.json",
            "lifecycle.json",
            "private-shared.json",
            "compute-seeds.json",
            "cirros-kernel-deactivated.json",
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data")
                .join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            let (imgs, _) =
                crate::fixtures::parse_document(&path, &text, Timestamp::now()).unwrap();
            images.extend(imgs);
        }
        assert!(images.len() > 5, "{} records", images.len());
        let app = Arc::new(App::new(
            Arc::new(Store::new(images).unwrap()),
            Config::default(),
        ));
        let ctl = Controller::new(Arc::clone(&app), Control::new(&app.config.control));
        for inline in [false, true] {
            let value = ctl.export(inline).unwrap();
            assert_eq!(
                ctl.export_json(inline).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
        }
        // No records: the empty list.
        let empty = Arc::new(App::new(
            Arc::new(Store::new(Vec::<crate::model::Image>::new()).unwrap()),
            Config::default(),
        ));
        let ctl = Controller::new(Arc::clone(&empty), Control::new(&empty.config.control));
        assert_eq!(ctl.export_json(false).unwrap(), r#"{"images":[]}"#);
    }
}
