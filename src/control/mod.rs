//! Built for test suites: the control API under `/_emu/` (JSON), the request journal and
//! fault injection hooks, deterministic clock and ids, and [`Controller`], the same calls
//! for Rust code that embeds the emulator.
//!
//! The control API is off unless enabled ([`ControlSettings::http`], `--control`). When on,
//! it answers on the Glance port to loopback peers only (or, with `--control-listen`, only on
//! its own listener), and can require `X-Emu-Token`. It never looks at `X-Auth-Token`, and
//! the Glance routes never look at `X-Emu-Token`. The full reference is docs/testing.md.

pub mod faults;
pub mod journal;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::app::body::{Body, Shape};
use crate::app::{finish, App, ConnInfo, Ctx, RespFuture};
use crate::clock::{Clock, ClockInfo, Ids, IdsInfo};
use crate::control::faults::{Action, FaultInfo, FaultRule, Faults, Fired};
use crate::control::journal::{
    redacted_headers, Journal, JournalEntry, JournalFilter, JournalPage,
};
use crate::model::{Image, ImageData, Timestamp};
use crate::render::webob::{ApiError, BodyKind};

/// Header carrying the control token.
pub const TOKEN_HEADER: &str = "x-emu-token";

/// Largest request body the control API reads (a fixture document).
pub const MAX_BODY: usize = 256 << 20;

/// Largest journal cap accepted.
pub const MAX_JOURNAL_CAP: usize = 1_000_000;

/// How the control API is exposed. Fixed when the emulator starts.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// Whether `/_emu/` answers over HTTP at all (`--control`). [`Controller`] works either
    /// way.
    pub http: bool,
    /// Required `X-Emu-Token` value (`--control-token`).
    pub token: Option<String>,
    /// Journal entries kept (0 records nothing).
    pub journal_cap: usize,
    /// `/_emu/` answers only on a listener of its own (`--control-listen`), from any peer;
    /// the Glance port then never answers it. Otherwise it answers on the Glance port, to
    /// loopback peers only.
    pub separate_listener: bool,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            http: false,
            token: None,
            journal_cap: crate::control::journal::DEFAULT_CAP,
            separate_listener: false,
        }
    }
}

impl std::fmt::Debug for ControlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSettings")
            .field("http", &self.http)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("journal_cap", &self.journal_cap)
            .field("separate_listener", &self.separate_listener)
            .finish()
    }
}

/// What "reset to the fixtures" restores.
#[derive(Debug, Clone, Default)]
pub enum Baseline {
    /// Not recorded yet (captured from the store when the service is created).
    #[default]
    Unset,
    /// These records (shared with the store until changed).
    Images(Vec<Arc<Image>>),
    /// Re-read these fixture paths (as `--data` gave them).
    Paths(Vec<PathBuf>),
}

/// Runtime state behind the controls: one per emulator.
#[derive(Debug, Default)]
struct State {
    clock: Clock,
    ids: Ids,
    journal: Journal,
    faults: Faults,
    baseline: Mutex<Baseline>,
}

/// The emulator's test controls: settings plus shared runtime state (clock, ids, journal,
/// fault rules, reset baseline). Lives in [`crate::Config::control`]; clones share state.
#[derive(Debug, Clone)]
pub struct Control {
    settings: Arc<ControlSettings>,
    state: Arc<State>,
}

impl Default for Control {
    fn default() -> Self {
        Control::new(ControlSettings::default())
    }
}

impl Control {
    /// Fresh controls with these settings (real clock, random ids, no faults).
    pub fn new(settings: ControlSettings) -> Self {
        let state = State {
            journal: Journal::new(settings.journal_cap.min(MAX_JOURNAL_CAP)),
            ..State::default()
        };
        Control {
            settings: Arc::new(settings),
            state: Arc::new(state),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ControlSettings {
        &self.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The id generators.
    pub fn ids(&self) -> &Ids {
        &self.state.ids
    }

    /// The request journal.
    pub fn journal(&self) -> &Journal {
        &self.state.journal
    }

    /// The fault rules.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Sets what "reset to the fixtures" restores.
    pub fn set_baseline(&self, b: Baseline) {
        *self
            .state
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = b;
    }

    /// Records the store's current records as the baseline unless one is set.
    pub fn capture_baseline(&self, store: &crate::Store) {
        let mut b = self
            .state
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if matches!(*b, Baseline::Unset) {
            *b = Baseline::Images(store.all());
        }
    }

    fn baseline(&self) -> Baseline {
        self.state
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when no request needs looking at: no journal, no faults, real clock.
    pub fn is_quiet(&self) -> bool {
        !self.state.journal.enabled() && !self.state.faults.any() && self.state.clock.is_real()
    }
}

// ---------------------------------------------------------------------------------------
// Controller: the control calls for Rust code
// ---------------------------------------------------------------------------------------

/// A failed control call: an HTTP status and a message (`{"error": message}` over HTTP).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ControlError {
    /// 400 invalid input, 404 unknown id, 409 duplicate, 500 store failure.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl ControlError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ControlError {
            status,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        ControlError::new(StatusCode::BAD_REQUEST, message)
    }

    fn store(e: ApiError) -> Self {
        ControlError::new(
            e.status,
            format!("the store refused the change: {}", e.status_text()),
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
}

impl Controller {
    /// Controls for this application state.
    pub fn new(app: Arc<App>) -> Self {
        Controller { app }
    }

    fn c(&self) -> &Control {
        &self.app.config.control
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
        let (images, warnings) =
            crate::fixtures::parse_document(&name, text, self.c().clock().now())
                .map_err(|e| ControlError::invalid(e.to_string()))?;
        let mut report = self.load(images).await?;
        report.warnings = warnings;
        Ok(report)
    }

    /// Loads a fixture file or directory as `--data` would.
    pub async fn load_path(&self, path: &Path) -> Result<LoadReport, ControlError> {
        let loaded = crate::fixtures::load_paths(&[path.to_path_buf()], self.c().clock().now())
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
            .write(move |snap, tx| {
                let mut replaced = 0;
                for img in images {
                    if snap.get(&img.id).is_some() {
                        replaced += 1;
                    }
                    tx.put(img);
                }
                Ok(replaced)
            })
            .await
            .map_err(ControlError::store)?;
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
            .write(move |snap, tx| {
                let found = snap.get(&id).is_some();
                if found {
                    tx.remove(id);
                }
                Ok(found)
            })
            .await
            .map_err(ControlError::store)
    }

    /// Replaces every record with the fixtures or with nothing; returns the record count.
    pub async fn reset(&self, to: ResetTo) -> Result<usize, ControlError> {
        let images: Vec<Image> = match (to, self.c().baseline()) {
            (ResetTo::Empty, _) | (_, Baseline::Unset) => Vec::new(),
            (ResetTo::Fixtures, Baseline::Images(v)) => v.iter().map(|i| (**i).clone()).collect(),
            (ResetTo::Fixtures, Baseline::Paths(p)) => owned(
                crate::fixtures::load_paths(&p, self.c().clock().now())
                    .map_err(|e| {
                        ControlError::new(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("cannot re-read the fixtures: {e}"),
                        )
                    })?
                    .images,
            ),
        };
        let n = images.len();
        self.app
            .store
            .write(move |snap, tx| {
                for img in snap.all() {
                    tx.remove(img.id.to_string());
                }
                for img in images {
                    tx.put(img);
                }
                Ok(())
            })
            .await
            .map_err(ControlError::store)?;
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
    /// by absolute path, or inline as base64 with `inline_files`.
    pub fn export(&self, inline_files: bool) -> Result<Value, ControlError> {
        let mut all = self.app.store.all();
        all.sort_by_key(|a| a.id);
        let images = all
            .iter()
            .map(|i| record_json(i, inline_files))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(json!({ "images": images }))
    }

    /// One record as fixture JSON.
    pub fn export_image(&self, id: &str, inline_files: bool) -> Result<Value, ControlError> {
        let img = self.app.store.get(id).ok_or_else(|| {
            ControlError::new(StatusCode::NOT_FOUND, format!("no image with id '{id}'"))
        })?;
        record_json(&img, inline_files)
    }

    // -- clock ----------------------------------------------------------------------

    /// Freezes the clock at `t` (`step_us`: move on by this much after each timestamp
    /// handed to a record; 0 keeps it still).
    pub fn freeze_clock(&self, t: Timestamp, step_us: i64) {
        self.c().clock().freeze(t, step_us);
    }

    /// Sets the clock to `t` and lets it run.
    pub fn set_clock(&self, t: Timestamp) {
        self.c().clock().set_running(t);
    }

    /// Moves the clock by `by` (forward).
    pub fn advance_clock(&self, by: Duration) {
        self.c()
            .clock()
            .advance(i64::try_from(by.as_micros()).unwrap_or(i64::MAX));
    }

    /// Back to the host's time.
    pub fn real_clock(&self) {
        self.c().clock().real();
    }

    /// The clock's mode and reading.
    pub fn clock(&self) -> ClockInfo {
        self.c().clock().info()
    }

    // -- ids ------------------------------------------------------------------------

    /// Seeds request ids, image ids and fault fractions.
    pub fn seed_ids(&self, seed: u64) {
        self.c().ids().seed(seed);
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
        self.c().ids().queue_image_ids(ids);
        Ok(())
    }

    /// Back to random ids.
    pub fn random_ids(&self) {
        self.c().ids().random();
    }

    /// Seed and queued ids.
    pub fn ids(&self) -> IdsInfo {
        self.c().ids().info()
    }

    // -- journal --------------------------------------------------------------------

    /// Every journaled request, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal_query(&JournalFilter::default()).entries
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
            let status = if e.contains("already exists") {
                StatusCode::CONFLICT
            } else {
                StatusCode::BAD_REQUEST
            };
            ControlError::new(status, e)
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
fn owned<I: Into<Arc<Image>>>(v: Vec<I>) -> Vec<Image> {
    v.into_iter()
        .map(|i| Arc::unwrap_or_clone(i.into()))
        .collect()
}

/// An image as a fixture record (every field explicit, so it loads back unchanged).
fn record_json(i: &Image, inline_files: bool) -> Result<Value, ControlError> {
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
    m.insert("owner".into(), json!(i.owner.as_deref()));
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
                    StatusCode::INTERNAL_SERVER_ERROR,
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

// ---------------------------------------------------------------------------------------
// HTTP: /_emu/...
// ---------------------------------------------------------------------------------------

fn json_resp(status: StatusCode, v: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_string(v).unwrap_or_else(|_| "{}".to_string());
    crate::app::json_response(status, body)
}

fn err_resp(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    json_resp(status, &json!({ "error": msg.into() }))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = err_resp(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed here (allowed: {allow})"),
    );
    r.headers_mut()
        .append(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The answer of the control-only listener to anything outside `/_emu/`.
pub(crate) fn not_control() -> RespFuture {
    RespFuture::Ready(Some(err_resp(
        StatusCode::NOT_FOUND,
        "this listener serves only the control API under /_emu/",
    )))
}

fn token_ok(expected: &str, given: Option<&HeaderValue>) -> bool {
    let Some(given) = given else { return false };
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    // Length may leak; content does not.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_flag(query: Option<&str>, key: &str) -> bool {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k == key && matches!(&*v, "" | "1" | "true" | "yes"))
}

fn query_value(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn read_body<B>(body: B) -> Result<Bytes, ControlError>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(ControlError::invalid(format!(
            "cannot read the request body: {e}"
        ))),
    }
}

/// Parses a JSON body; an empty body is `{}`.
fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ControlError> {
    let text = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ControlError::invalid(format!("invalid JSON body: {e}")))
}

fn from_result<T: Serialize>(r: Result<T, ControlError>, ok: StatusCode) -> Response<Body> {
    match r {
        Ok(v) => json_resp(ok, &v),
        Err(e) => err_resp(e.status, e.message),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    #[serde(default)]
    to: ResetTo,
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    time: String,
    #[serde(default = "default_mode")]
    mode: String,
    #[serde(default)]
    step_us: i64,
}

fn default_mode() -> String {
    "frozen".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    us: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdsBody {
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    image_ids: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapBody {
    cap: usize,
}

const ENDPOINTS: &[&str] = &[
    "GET /_emu/",
    "GET /_emu/images[?inline_files=true]",
    "POST /_emu/images[?base=DIR]",
    "GET /_emu/images/{id}",
    "DELETE /_emu/images/{id}",
    "POST /_emu/reset",
    "GET|PUT|DELETE /_emu/clock",
    "POST /_emu/clock/advance",
    "GET|PUT|DELETE /_emu/ids",
    "GET|PUT|DELETE /_emu/journal",
    "GET|POST|DELETE /_emu/faults",
    "GET|DELETE /_emu/faults/{id}",
];

/// Answers a `/_emu/...` request (the caller has checked that the control API is on and the
/// peer may use it).
pub(crate) fn handle<B>(app: &Arc<App>, req: Request<B>) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    if let Some(token) = &app.config.control.settings().token {
        if !token_ok(token, req.headers().get(TOKEN_HEADER)) {
            return RespFuture::Ready(Some(err_resp(
                StatusCode::UNAUTHORIZED,
                "missing or wrong X-Emu-Token",
            )));
        }
    }
    let app = Arc::clone(app);
    RespFuture::Boxed(Box::pin(async move { dispatch(app, req).await }))
}

async fn dispatch<B>(app: Arc<App>, req: Request<B>) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let ctl = Controller::new(Arc::clone(&app));
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().map(str::to_string);
    let q = query.as_deref();
    let path = parts.uri.path().to_string();
    let rest = path.trim_start_matches("/_emu").trim_start_matches('/');
    let segs: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = parts.method.clone();
    macro_rules! body {
        ($t:ty) => {
            match read_body(body).await.and_then(|b| parse_json::<$t>(&b)) {
                Ok(v) => v,
                Err(e) => return err_resp(e.status, e.message),
            }
        };
    }
    match (segs.as_slice(), &m) {
        ([], &Method::GET) => json_resp(
            StatusCode::OK,
            &json!({
                "name": "glance-emu control API",
                "version": env!("CARGO_PKG_VERSION"),
                "endpoints": ENDPOINTS,
                "docs": "docs/testing.md",
            }),
        ),
        ([], _) => method_not_allowed("GET"),

        (["images"], &Method::GET) => {
            from_result(ctl.export(query_flag(q, "inline_files")), StatusCode::OK)
        }
        (["images"], &Method::POST) => {
            let bytes = match read_body(body).await {
                Ok(b) => b,
                Err(e) => return err_resp(e.status, e.message),
            };
            let Ok(text) = std::str::from_utf8(&bytes) else {
                return err_resp(StatusCode::BAD_REQUEST, "the body is not UTF-8");
            };
            let base = query_value(q, "base").map(PathBuf::from);
            from_result(ctl.load_json(text, base.as_deref()).await, StatusCode::OK)
        }
        (["images"], _) => method_not_allowed("GET, POST"),
        (["images", id], &Method::GET) => from_result(
            ctl.export_image(id, query_flag(q, "inline_files")),
            StatusCode::OK,
        ),
        (["images", id], &Method::DELETE) => match ctl.remove_image(id).await {
            Ok(true) => json_resp(StatusCode::OK, &json!({ "removed": id })),
            Ok(false) => err_resp(StatusCode::NOT_FOUND, format!("no image with id '{id}'")),
            Err(e) => err_resp(e.status, e.message),
        },
        (["images", _], _) => method_not_allowed("GET, DELETE"),

        (["reset"], &Method::POST) => {
            let b = body!(ResetBody);
            let r = if b.all {
                ctl.reset_all(b.to).await
            } else {
                ctl.reset(b.to).await
            };
            from_result(
                r.map(|n| json!({ "images": n, "to": b.to, "all": b.all })),
                StatusCode::OK,
            )
        }
        (["reset"], _) => method_not_allowed("POST"),

        (["clock"], &Method::GET) => json_resp(StatusCode::OK, &ctl.clock()),
        (["clock"], &Method::PUT) => {
            let b = body!(ClockBody);
            let Some(t) = Timestamp::parse(&b.time) else {
                return err_resp(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "time: invalid timestamp '{}' (expected e.g. 2016-05-22T06:04:20.425843)",
                        b.time
                    ),
                );
            };
            match b.mode.as_str() {
                "frozen" => ctl.freeze_clock(t, b.step_us),
                "running" if b.step_us == 0 => ctl.set_clock(t),
                "running" => {
                    return err_resp(StatusCode::BAD_REQUEST, "step_us needs mode 'frozen'")
                }
                other => {
                    return err_resp(
                        StatusCode::BAD_REQUEST,
                        format!("mode: expected 'frozen' or 'running', got '{other}'"),
                    )
                }
            }
            json_resp(StatusCode::OK, &ctl.clock())
        }
        (["clock"], &Method::DELETE) => {
            ctl.real_clock();
            json_resp(StatusCode::OK, &ctl.clock())
        }
        (["clock"], _) => method_not_allowed("GET, PUT, DELETE"),
        (["clock", "advance"], &Method::POST) => {
            let b = body!(AdvanceBody);
            let us = match (b.seconds, b.us) {
                (Some(s), None) if s.is_finite() => (s * 1e6).round() as i64,
                (None, Some(us)) => us,
                _ => {
                    return err_resp(
                        StatusCode::BAD_REQUEST,
                        "give exactly one of \"seconds\" or \"us\"",
                    )
                }
            };
            app.config.control.clock().advance(us);
            json_resp(StatusCode::OK, &ctl.clock())
        }
        (["clock", "advance"], _) => method_not_allowed("POST"),

        (["ids"], &Method::GET) => json_resp(StatusCode::OK, &ctl.ids()),
        (["ids"], &Method::PUT) => {
            let b = body!(IdsBody);
            if b.seed.is_none() && b.image_ids.is_none() {
                return err_resp(
                    StatusCode::BAD_REQUEST,
                    "give \"seed\", \"image_ids\" or both",
                );
            }
            if let Some(ids) = b.image_ids {
                if let Err(e) = ctl.queue_image_ids(ids) {
                    return err_resp(e.status, e.message);
                }
            }
            if let Some(seed) = b.seed {
                ctl.seed_ids(seed);
            }
            json_resp(StatusCode::OK, &ctl.ids())
        }
        (["ids"], &Method::DELETE) => {
            ctl.random_ids();
            json_resp(StatusCode::OK, &ctl.ids())
        }
        (["ids"], _) => method_not_allowed("GET, PUT, DELETE"),

        (["journal"], &Method::GET) => match JournalFilter::from_query(q) {
            Ok(f) => json_resp(StatusCode::OK, &ctl.journal_query(&f)),
            Err(e) => err_resp(StatusCode::BAD_REQUEST, e),
        },
        (["journal"], &Method::DELETE) => {
            ctl.clear_journal();
            json_resp(StatusCode::OK, &json!({ "cleared": true }))
        }
        (["journal"], &Method::PUT) => {
            let b = body!(CapBody);
            from_result(
                ctl.set_journal_cap(b.cap).map(|()| json!({ "cap": b.cap })),
                StatusCode::OK,
            )
        }
        (["journal"], _) => method_not_allowed("GET, PUT, DELETE"),

        (["faults"], &Method::GET) => json_resp(StatusCode::OK, &json!({ "faults": ctl.faults() })),
        (["faults"], &Method::POST) => {
            let v = body!(Value);
            let rule = match FaultRule::from_json(v) {
                Ok(r) => r,
                Err(e) => return err_resp(StatusCode::BAD_REQUEST, e),
            };
            match ctl.add_fault(rule) {
                Ok(id) => {
                    let info = app.config.control.faults().get(&id);
                    json_resp(StatusCode::CREATED, &info)
                }
                Err(e) => err_resp(e.status, e.message),
            }
        }
        (["faults"], &Method::DELETE) => {
            let n = ctl.faults().len();
            ctl.clear_faults();
            json_resp(StatusCode::OK, &json!({ "removed": n }))
        }
        (["faults"], _) => method_not_allowed("GET, POST, DELETE"),
        (["faults", id], &Method::GET) => match app.config.control.faults().get(id) {
            Some(info) => json_resp(StatusCode::OK, &info),
            None => err_resp(StatusCode::NOT_FOUND, format!("no fault rule '{id}'")),
        },
        (["faults", id], &Method::DELETE) => {
            if ctl.remove_fault(id) {
                json_resp(StatusCode::OK, &json!({ "removed": id }))
            } else {
                err_resp(StatusCode::NOT_FOUND, format!("no fault rule '{id}'"))
            }
        }
        (["faults", _], _) => method_not_allowed("GET, DELETE"),

        _ => err_resp(
            StatusCode::NOT_FOUND,
            format!("no control endpoint {} {path}", parts.method),
        ),
    }
}

// ---------------------------------------------------------------------------------------
// The hook around every Glance request: journal, faults, Date from the emulator's clock
// ---------------------------------------------------------------------------------------

/// A journal entry waiting for its outcome; recorded with a null status if dropped first
/// (the client went away, or the connection was reset).
struct Pending {
    state: Control,
    entry: Option<JournalEntry>,
    start: Instant,
}

impl Pending {
    fn done(mut self, status: Option<u16>) {
        self.record(status);
    }

    fn record(&mut self, status: Option<u16>) {
        if let Some(mut e) = self.entry.take() {
            e.status = status;
            e.elapsed_ms = (self.start.elapsed().as_micros() as f64) / 1000.0;
            self.state.journal().record(e);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.record(None);
    }
}

/// `Date` in the HTTP format for a clock reading.
pub fn http_date(t: Timestamp) -> String {
    t.0.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// With a set clock, writes `Date` from it (hyper would write the host's time).
fn stamp_date(control: &Control, mut resp: Response<Body>) -> Response<Body> {
    if !control.clock().is_real() && !resp.headers().contains_key(header::DATE) {
        if let Ok(v) = HeaderValue::from_str(&http_date(control.clock().peek())) {
            resp.headers_mut().append(header::DATE, v);
        }
    }
    resp
}

fn then<F>(fut: RespFuture, f: F) -> RespFuture
where
    F: FnOnce(Response<Body>) -> Response<Body> + Send + 'static,
{
    match fut {
        RespFuture::Ready(Some(r)) => RespFuture::Ready(Some(f(r))),
        other => RespFuture::Fallible(Box::pin(async move { other.await.map(f) })),
    }
}

/// Glance's error page for an injected status, as the handler would have raised it.
fn status_response(
    app: &App,
    method: &Method,
    headers: &http::HeaderMap,
    status: u16,
    message: Option<String>,
) -> Response<Body> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let ctx = Ctx {
        method: method.clone(),
        accept: BodyKind::from_accept(headers.get(header::ACCEPT).map(|v| v.as_bytes())),
        request_id: app.request_id_for(headers),
        caller: Default::default(),
        host_url: crate::app::host_url(headers),
    };
    let err = match message {
        Some(m) => ApiError::explained(status, m),
        None => ApiError::new(status),
    };
    finish(&ctx, Err(err))
}

fn content_length(resp: &Response<Body>) -> u64 {
    resp.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or_else(|| http_body::Body::size_hint(resp.body()).exact())
        .unwrap_or(0)
}

/// Applies a body-level fault to a finished response.
fn reshape(resp: Response<Body>, action: &Action, is_head: bool) -> Response<Body> {
    let len = content_length(&resp);
    let (mut parts, body) = resp.into_parts();
    let empty = http_body::Body::size_hint(&body).exact() == Some(0);
    let body = match *action {
        Action::CloseAfterHeaders if is_head || empty => {
            // Nothing to cut: hyper sends no body, so ask it to close instead.
            parts
                .headers
                .append(header::CONNECTION, HeaderValue::from_static("close"));
            body
        }
        Action::CloseAfterHeaders => body.shaped(Shape::Close),
        Action::Truncate { bytes, keep_length } if !is_head => {
            let n = bytes.unwrap_or(len / 2).min(len);
            if !keep_length {
                parts
                    .headers
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(n));
            }
            body.shaped(Shape::Truncate {
                bytes: n,
                then_close: keep_length,
            })
        }
        Action::SlowBody {
            chunk_bytes,
            interval_ms,
        } if !is_head => body.shaped(Shape::Slow {
            chunk: usize::try_from(chunk_bytes).unwrap_or(usize::MAX),
            interval: Duration::from_millis(interval_ms),
        }),
        _ => body,
    };
    Response::from_parts(parts, body)
}

/// The hook around a Glance request when the journal, a fault rule or a set clock needs
/// it. `route` is the normal Glance routing.
pub(crate) fn intercept<B>(
    app: &Arc<App>,
    conn: Option<&Arc<ConnInfo>>,
    req: Request<B>,
    route: fn(&Arc<App>, Request<B>) -> RespFuture,
) -> RespFuture
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    let control = app.config.control.clone();
    if req.uri().path() == "/healthcheck" {
        // Readiness probes are neither journaled nor broken.
        return then(route(app, req), move |r| stamp_date(&control, r));
    }
    let journal_on = control.journal().enabled();
    let tenant = if journal_on || control.faults().needs_tenant() {
        app.caller_for(req.headers()).and_then(|c| c.tenant)
    } else {
        None
    };
    let fired: Option<Fired> = control.faults().pick(
        req.method().as_str(),
        req.uri().path(),
        req.uri().query(),
        tenant.as_deref(),
    );
    let pending = journal_on.then(|| Pending {
        state: control.clone(),
        entry: Some(JournalEntry {
            seq: 0,
            time: control.clock().peek().glance(),
            method: req.method().as_str().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().map(str::to_string),
            headers: redacted_headers(req.headers()),
            peer: conn.and_then(|c| c.peer()).map(|p| p.to_string()),
            tenant,
            status: None,
            fault: fired.as_ref().map(|f| f.id.clone()),
            action: fired.as_ref().map(|f| f.action.name().to_string()),
            elapsed_ms: 0.0,
        }),
        start: Instant::now(),
    });
    let finish_with = move |control: Control, pending: Option<Pending>| {
        move |r: Response<Body>| {
            let r = stamp_date(&control, r);
            if let Some(p) = pending {
                p.done(Some(r.status().as_u16()));
            }
            r
        }
    };
    let Some(fired) = fired else {
        return then(route(app, req), finish_with(control, pending));
    };
    let delay = Duration::from_millis(fired.delay_ms);
    match fired.action {
        Action::Status { status, message } => {
            let resp = status_response(app, req.method(), req.headers(), status, message);
            let f = finish_with(control, pending);
            if delay.is_zero() {
                RespFuture::Ready(Some(f(resp)))
            } else {
                RespFuture::Boxed(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    f(resp)
                }))
            }
        }
        Action::Reset => {
            let conn = conn.cloned();
            RespFuture::Fallible(Box::pin(async move {
                tokio::time::sleep(delay).await;
                if let Some(c) = conn {
                    c.request_reset();
                }
                if let Some(p) = pending {
                    p.done(None);
                }
                Err(crate::app::Abort("fault injection: connection reset"))
            }))
        }
        action => {
            let is_head = req.method() == Method::HEAD;
            let fut = if delay.is_zero() {
                route(app, req)
            } else {
                let app = Arc::clone(app);
                RespFuture::Fallible(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    route(&app, req).await
                }))
            };
            let f = finish_with(control, pending);
            then(fut, move |r| f(reshape(r, &action, is_head)))
        }
    }
}
