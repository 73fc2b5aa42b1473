//! Where images live: the in-memory map read by every request, the single writer path that
//! serialises mutations, the directory uploaded bytes go to, and (`--persist DIR`) the
//! durable state in Glance's own registry database ([`sqlite`]), loaded at start-up.
//!
//! Readers take a `std::sync::RwLock` read guard just long enough to clone an `Arc<Image>`;
//! no lock is ever held across an `.await`. Writers go through [`Store::write`], which holds
//! a writer mutex for the whole read-modify-write so concurrent updates cannot be lost, and
//! (when persisting, on a blocking thread) commits the change to the database before it
//! becomes visible or is acknowledged.

pub(crate) mod log_import;
pub mod sqlite;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::model::{Image, ImageData, Interner};

mod index;
pub mod list_index;

use index::Index;
pub use index::Indexed;
use list_index::{ListIndex, SortKey};

/// Records a list walk examines before it lets the read lock go (and takes it again).
const WALK_BUDGET: usize = 1 << 16;

/// Records a sieved list walk reads before it narrows itself to the page's view
/// ([`Store::list_page`]).
const LAZY_VIEW_READS: usize = 128;

/// Handles a sieved walk may skip (testing a bit, not reading the record) for one record
/// it reads, as far as [`WALK_BUDGET`] goes: a skip costs a small fraction of a read.
const SKIPS_PER_READ: usize = 16;

/// A pending set of changes built inside [`Store::write`].
#[derive(Debug, Default)]
pub struct Tx {
    puts: Vec<Image>,
    removes: Vec<String>,
    keep_on_error: bool,
}

/// Why a write did not take effect: the store's own failures, apart from whatever the
/// caller's transaction refused (callers convert it into their error type with `From`).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Appending to the durable log or syncing it failed; nothing was changed.
    #[error("cannot persist the change: {0}")]
    Persist(String),
    /// The blocking writer task did not finish (it panicked or was cancelled).
    #[error("the store's writer task failed")]
    Writer,
}

impl Tx {
    /// Commits this transaction's changes even though it then returns an error (Glance
    /// killed an image and still refused the upload).
    pub fn keep_on_error(&mut self) {
        self.keep_on_error = true;
    }

    /// Stores (inserts or replaces) a record.
    pub fn put(&mut self, img: Image) {
        self.puts.push(img);
    }

    /// Removes a record entirely (control API only; Glance itself soft-deletes).
    pub fn remove(&mut self, id: String) {
        self.removes.push(id);
    }
}

/// Errors opening the state directory: one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The database or the directory (corrupt, foreign, unreadable, ...).
    #[error(transparent)]
    Db(#[from] sqlite::DbError),
    /// The log of an earlier version could not be imported.
    #[error("{0}")]
    Import(String),
}

/// How often [`Store::ensure_order`] builds an order that a concurrent write made stale
/// before it gives up for this list.
const ORDER_BUILD_TRIES: usize = 3;

/// A write of at least this many records (and a quarter of the catalogue) rebuilds the
/// list orders rather than updating them record by record ([`Store::write_blocking`]).
const BULK_WRITE: usize = 4096;

struct Writer {
    db: Option<sqlite::Db>,
}

/// The image store: a cheap-to-share handle (`Arc<Store>`).
pub struct Store {
    /// Every record by id, deleted ones included (Glance soft-deletes).
    images: RwLock<Index>,
    /// Serialises mutations and owns the database, so a read-modify-write is atomic with
    /// respect to other writers and is committed before it is visible.
    writer: Mutex<Writer>,
    /// Whether writes are committed to `--persist DIR` (fixed at construction).
    persistent: bool,
    /// The state files a health check looks at (without taking the writer lock).
    health: Option<sqlite::Health>,
    /// Directory for uploaded image bytes (`DIR/images` when persisting).
    blob_dir: PathBuf,
    /// Keeps the temporary blob directory alive when not persisting.
    _tmp: Option<tempfile::TempDir>,
    /// Held while a list order is built: a second list (or the start-up warm-up) asking
    /// for an order being built waits for it instead of building it again; a writer waits
    /// for it before it asks for the write lock (see [`Store::write_blocking`]).
    building: Mutex<()>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("images", &self.len())
            .field("blob_dir", &self.blob_dir)
            .finish()
    }
}

impl Store {
    /// An in-memory store holding `images`; uploads go to a private temporary directory.
    pub fn new<I: Into<Arc<Image>>>(images: impl IntoIterator<Item = I>) -> std::io::Result<Self> {
        Self::in_memory(Self::index(images))
    }

    /// [`Store::new`] over records the loader already indexed.
    pub fn from_indexed(images: Indexed) -> std::io::Result<Self> {
        Self::in_memory(images.0)
    }

    fn in_memory(index: Index) -> std::io::Result<Self> {
        let tmp = tempfile::Builder::new().prefix("glance-emu-").tempdir()?;
        Ok(Store {
            images: RwLock::new(index),
            writer: Mutex::new(Writer { db: None }),
            persistent: false,
            health: None,
            blob_dir: tmp.path().to_path_buf(),
            _tmp: Some(tmp),
            building: Mutex::new(()),
        })
    }

    /// A durable store: `images` (the fixtures) overlaid with the records of the Glance
    /// database in `dir` (created when absent). Later writes are committed there before
    /// they are acknowledged.
    pub fn persistent<I: Into<Arc<Image>>>(
        images: impl IntoIterator<Item = I>,
        dir: &Path,
    ) -> Result<Self, PersistError> {
        Self::durable(Self::index(images), dir)
    }

    /// [`Store::persistent`] over records the loader already indexed.
    pub fn persistent_indexed(images: Indexed, dir: &Path) -> Result<Self, PersistError> {
        Self::durable(images.0, dir)
    }

    fn durable(mut map: Index, dir: &Path) -> Result<Self, PersistError> {
        let mut db = sqlite::Db::open(dir)?;
        import_old_log(&mut db, dir)?;
        let loaded = db.load(&mut Interner::default())?;
        for id in &loaded.removed {
            map.remove(id);
        }
        map.reserve(loaded.images.len());
        for img in loaded.images {
            map.insert(img);
        }
        Ok(Store {
            images: RwLock::new(map),
            health: Some(db.health()),
            blob_dir: db.images_dir().to_path_buf(),
            writer: Mutex::new(Writer { db: Some(db) }),
            persistent: true,
            _tmp: None,
            building: Mutex::new(()),
        })
    }

    fn index<I: Into<Arc<Image>>>(images: impl IntoIterator<Item = I>) -> Index {
        let mut images: Vec<Arc<Image>> = images.into_iter().map(Into::into).collect();
        index::number_member_rows(&mut images);
        let mut index = Index::with_capacity(images.len());
        for img in images {
            index.insert(img);
        }
        index
    }

    /// Whether writes are durable.
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// `Err(reason)` when writes cannot be stored right now (the state directory or its
    /// database is gone, replaced or read-only). A few `stat`s and one probe file; never
    /// waits for the writer.
    pub fn health(&self) -> Result<(), String> {
        match &self.health {
            Some(h) => h.check().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// The directory uploads are written to.
    pub fn blob_dir(&self) -> &Path {
        &self.blob_dir
    }

    /// Number of records (deleted ones included).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        // A poisoned lock only means a writer panicked after its change was complete.
        self.images.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The record with this id, whatever its status.
    pub fn get(&self, id: &str) -> Option<Arc<Image>> {
        self.read().get(id).cloned()
    }

    /// A snapshot of every record (unordered).
    pub fn all(&self) -> Vec<Arc<Image>> {
        self.read().values().cloned().collect()
    }

    /// Builds the list orders nearly every list needs: the default order (`created_at`)
    /// and the tenant-view order. A server calls it off the request path right after it
    /// starts answering, so the first list of a large catalogue does not pay for them
    /// (and again after a bulk write dropped the orders).
    pub fn warm_lists(&self) {
        for key in [SortKey::CreatedAt, SortKey::Visibility] {
            self.ensure_order(key);
        }
    }

    /// Builds the order of every other `sort_key` (and so of the filters that walk a run
    /// of one: `name`, `status`, the formats, `size_min`/`size_max`, `changes-since`). The
    /// binary calls it after [`Store::warm_lists`], so that no first list of a large
    /// catalogue waits for an order (0.2 to 0.7 s each at a million images). An order the
    /// store cannot build is skipped: lists on its key sort, as they would have anyway.
    /// `stop` is asked before each order (a server shutting down does not wait for them).
    pub fn warm_every_order(&self, stop: impl Fn() -> bool) {
        for key in SortKey::ALL {
            if stop() {
                return;
            }
            self.ensure_order(key);
        }
    }

    /// Builds `key`'s list order the first time it is needed, without the writer lock (a
    /// writer may hold it across a durable commit): built under a read lock (HEADs, lists
    /// and the writer's own reads go on), then installed under a brief write lock if no
    /// write was published meanwhile; otherwise built again, a few times at most. `false`
    /// if it cannot be built (this list then sorts; a later one tries again).
    fn ensure_order(&self, key: SortKey) -> bool {
        if self.read().lists.has(key) {
            return true;
        }
        self.build_and_install(
            |idx| {
                let t0 = std::time::Instant::now();
                let p = idx.lists.prepare(key, idx.values());
                if let Ok(Some(_)) = &p {
                    tracing::debug!(
                        "list order {} for {} records built in {:?}",
                        key.as_str(),
                        idx.len(),
                        t0.elapsed()
                    );
                }
                p
            },
            |lists, p| lists.install(p),
        )
    }

    /// Builds a part of the list index (an order, a filter field) under a read lock, so
    /// that HEADs, lists and the writer's own reads go on, and installs it under a brief
    /// write lock if no write was published meanwhile; otherwise builds it again,
    /// [`ORDER_BUILD_TRIES`] times at most. One build at a time: a second caller waits for
    /// the first, whose `prepare` then finds nothing left to build (`Ok(None)`). `false`
    /// when it cannot be built (`Err`) or writes kept coming.
    fn build_and_install<P, E>(
        &self,
        prepare: impl Fn(&Index) -> Result<Option<P>, E>,
        install: impl Fn(&mut ListIndex, P),
    ) -> bool {
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..ORDER_BUILD_TRIES {
            let (generation, prepared) = {
                let idx = self.read();
                (idx.generation, prepare(&idx))
            };
            match prepared {
                Ok(Some(p)) => {
                    let mut idx = self.images.write().unwrap_or_else(|e| e.into_inner());
                    if idx.generation == generation {
                        install(&mut idx.lists, p);
                        return true;
                    }
                }
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
        false
    }

    /// One page of a list: the first `limit` records `keep` accepts in `key`'s order
    /// (descending with `desc`), strictly after `after` (the marker's record). Walks the
    /// order from the marker, so the cost is the records examined, not the catalogue; a
    /// record outside the bitmap of a common value of one of `filters` (equality filters
    /// `keep` applies too) is skipped without being read ([`ListIndex::walk_sieved`]). The
    /// read lock is let go every `WALK_BUDGET` records read (or `SKIPS_PER_READ` times as
    /// many skipped) so that a filter matching little does not hold writers back (the walk
    /// resumes after the last record it passed).
    #[allow(clippy::too_many_arguments)]
    pub fn list_page(
        &self,
        key: SortKey,
        desc: bool,
        after: Option<&Image>,
        limit: usize,
        filters: &[(list_index::Field, list_index::Wanted<'_>)],
        view: list_index::View<'_>,
        mut keep: impl FnMut(&Image) -> bool,
    ) -> Vec<Arc<Image>> {
        if !self.ensure_order(key) {
            let idx = self.read();
            return list_index::naive_page(idx.values(), key, desc, after, limit, keep);
        }
        let mut out = Vec::new();
        let mut resume: Option<Arc<Image>> = None;
        // The view's bitmap costs a pass over a bitmap's words (some microseconds per
        // million records): the walk starts without it, and takes it only if the first
        // LAZY_VIEW_READS records read did not fill the page (the view is sparse there).
        let mut lazy = view != list_index::View::All;
        while out.len() < limit {
            let idx = self.read();
            let from = resume.as_deref().or(after);
            let (v, budget) = if lazy {
                (list_index::View::All, LAZY_VIEW_READS)
            } else {
                (view, WALK_BUDGET)
            };
            lazy = false;
            let Some(walk) = idx.lists.walk_sieved(key, desc, from, filters, v) else {
                // Dropped meanwhile (cannot happen short of 4 billion records).
                return list_index::naive_page(idx.values(), key, desc, after, limit, keep);
            };
            let mut work = 0;
            let mut last = None;
            for step in walk {
                match step {
                    list_index::Step::Candidate(img) => {
                        if keep(img) {
                            out.push(Arc::clone(img));
                            if out.len() == limit {
                                break;
                            }
                        }
                        work += SKIPS_PER_READ;
                    }
                    list_index::Step::Skipped { n, .. } => work += n,
                }
                if work >= budget * SKIPS_PER_READ {
                    // A skipped record's slot is read only here (reading each would cost
                    // what the bitmap saves).
                    last = match step {
                        list_index::Step::Candidate(img) => Some(Arc::clone(img)),
                        list_index::Step::Skipped { last, .. } => last.clone(),
                    };
                    if last.is_some() {
                        break;
                    }
                }
            }
            match last {
                Some(l) => resume = Some(l),
                None => break,
            }
        }
        out
    }

    /// A `created_at` page among the records whose `key` equals one value (`vs`: how a
    /// record's key compares with it), walked inside that value's run of `key`'s order
    /// ([`ListIndex::run_page`], skipping what the bitmaps of `filters` rule out). `None`
    /// when the order cannot be built.
    #[allow(clippy::too_many_arguments)]
    pub fn list_run(
        &self,
        key: SortKey,
        vs: impl Fn(&Image) -> std::cmp::Ordering,
        desc: bool,
        after: Option<&Image>,
        limit: usize,
        filters: &[(list_index::Field, list_index::Wanted<'_>)],
        view: list_index::View<'_>,
        keep: impl FnMut(&Image) -> bool,
    ) -> Option<Vec<Arc<Image>>> {
        if !self.ensure_order(key) {
            return None;
        }
        self.read()
            .lists
            .run_page(key, vs, desc, after, limit, filters, view, keep)
    }

    /// A page of the normal-user view of `tenant` (public, own, shared with it), looked
    /// for in the view alone ([`ListIndex::visible_page`]). `None` when the view is too
    /// large for `limits` or the order cannot be built: walk instead.
    #[allow(clippy::too_many_arguments)]
    pub fn list_visible(
        &self,
        tenant: Option<&str>,
        key: SortKey,
        desc: bool,
        after: Option<&Image>,
        limit: usize,
        keep: impl FnMut(&Image) -> bool,
        limits: list_index::ViewLimits,
    ) -> Option<Vec<Arc<Image>>> {
        if !self.ensure_order(SortKey::Visibility) {
            return None;
        }
        self.read()
            .lists
            .visible_page(tenant, key, desc, after, limit, keep, limits)
    }

    /// The records of `key`'s order from the first one `before` rejects while `within`
    /// holds (an equality or range filter), or `None` past `cap` records.
    pub fn list_range(
        &self,
        key: SortKey,
        before: impl Fn(&Image) -> bool,
        within: impl Fn(&Image) -> bool,
        cap: usize,
    ) -> Option<Vec<Arc<Image>>> {
        if !self.ensure_order(key) {
            return None;
        }
        self.read().lists.range(key, before, within, cap)
    }

    /// The records shared with `member` by a live member row, in no order: from the list
    /// index's member map (built with the first list order), not a walk of the catalogue.
    pub fn shared_with(&self, member: &str) -> Vec<Arc<Image>> {
        if self.ensure_order(SortKey::CreatedAt) {
            if let Some(found) = self.read().lists.shared_with(member) {
                return found;
            }
        }
        self.read()
            .values()
            .filter(|i| i.members.iter().any(|m| m.member_id == member))
            .cloned()
            .collect()
    }

    /// The records whose `field` is `want` (an equality filter without an order:
    /// `min_ram`, `min_disk`, `protected`, `property-*`), when they are few enough to be
    /// listed (at most 4,096 per value); `None`: a common value or a field not indexed (walk).
    /// The field is indexed the first time it is asked for, as orders are.
    pub fn list_filter(
        &self,
        field: &list_index::Field,
        want: list_index::Wanted<'_>,
    ) -> Option<Vec<Arc<Image>>> {
        if !self.ensure_filter(field) {
            return None;
        }
        self.read().lists.filter_matches(field, want)
    }

    /// Whether [`Store::list_filter`] would list the records of `want` (an uncommon value,
    /// or one nothing holds), without collecting them; indexes the field on first use.
    pub fn filter_listed(&self, field: &list_index::Field, want: list_index::Wanted<'_>) -> bool {
        self.ensure_filter(field) && self.read().lists.filter_listed(field, want)
    }

    /// Indexes `field` if it is not yet (and can be); false when no order can be built.
    fn ensure_filter(&self, field: &list_index::Field) -> bool {
        if !self.ensure_order(SortKey::CreatedAt) {
            return false;
        }
        if !self.read().lists.has_filter(field) {
            self.build_and_install(
                |idx| Ok::<_, std::convert::Infallible>(idx.lists.prepare_filter(field)),
                |lists, b| lists.install_filter(b),
            );
        }
        true
    }

    /// Heap bytes of the list indexes (handle table and orders), and the orders built.
    pub fn list_index_bytes(&self) -> (usize, Vec<&'static str>) {
        let idx = self.read();
        let built = SortKey::INDEXED
            .into_iter()
            .filter(|k| idx.lists.has(*k))
            .map(SortKey::as_str)
            .collect();
        (idx.lists.heap_bytes(), built)
    }

    /// Runs `f` with exclusive write access; its changes are committed to the database
    /// (when persisting) and then published atomically. Blocking: call from `spawn_blocking` or
    /// through [`Store::write`].
    ///
    /// `f` returning `Err` discards its changes (unless it called [`Tx::keep_on_error`]) and
    /// its error is returned as is; the store's own failures come back as `E::from`.
    pub fn write_blocking<R, E>(
        &self,
        f: impl FnOnce(&Snapshot<'_>, &mut Tx) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StoreError>,
    {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let mut tx = Tx::default();
        let result = f(&Snapshot { store: self }, &mut tx);
        if result.is_err() && !tx.keep_on_error {
            return result;
        }
        if tx.puts.is_empty() && tx.removes.is_empty() {
            return result;
        }
        number_member_rows(&self.read(), &mut tx.puts);
        if let Some(db) = writer.db.as_mut() {
            // The database keeps those numbers where it can (a number it already has gets
            // the next free one, and the writer copies it into the record).
            if let Err(e) = db.commit(&mut tx.puts, &tx.removes) {
                tracing::error!("write not stored: {e}");
                return Err(StoreError::Persist(e.to_string()).into());
            }
        }
        // A list order (or filter field) being built holds the read lock for up to a
        // second at a million records. A writer queued on the write lock meanwhile would
        // hold back every new reader (std's lock lets no reader in while a writer waits):
        // HEADs would stall until the build ends. So the writer waits for the build here,
        // where nobody waits behind it, and takes the write lock only when it is free to.
        // (Lock order: writer, building, images; a build takes building, then images.)
        let building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        let mut map = self.images.write().unwrap_or_else(|e| e.into_inner());
        map.generation = map.generation.wrapping_add(1);
        // A write touching a large part of the catalogue (a control-API reset or load)
        // drops the list orders and builds them again afterwards: updating every order
        // record by record took a minute for a reset of a million with seven orders built,
        // all of it under the lock HEADs wait for.
        let ops = tx.puts.len() + tx.removes.len();
        let rebuild = map.lists.is_live() && ops >= BULK_WRITE && ops >= map.len() / 4;
        let dropped = rebuild.then(|| std::mem::take(&mut map.lists));
        for id in tx.removes {
            map.remove(&id);
        }
        for img in tx.puts {
            map.insert(Arc::new(img));
        }
        drop(map);
        drop(building);
        drop(dropped);
        if rebuild {
            self.warm_lists();
        }
        result
    }

    /// Async wrapper over [`Store::write_blocking`] that keeps fsync (and a wait for a list
    /// order being built) off the reactor.
    pub async fn write<R, E, F>(self: &Arc<Self>, f: F) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Snapshot<'_>, &mut Tx) -> Result<R, E> + Send + 'static,
    {
        // In memory a write is quick and done in place, unless a list order is being built
        // (at start-up, on a key's first use, after a bulk write): it then waits for the
        // build, up to a second at a million records, on a blocking thread rather than on
        // a worker whose other connections would wait with it. (A build that starts just
        // after this check is waited for in place: rare, and no reader waits behind it.)
        let building = self.building.try_lock().is_err();
        if !self.persistent && !building {
            return self.write_blocking(f);
        }
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.write_blocking(f))
            .await
            .unwrap_or_else(|_| Err(StoreError::Writer.into()))
    }

    /// A fresh path in the blob directory for an upload (renamed to `<id>` by the writer
    /// when persisting).
    pub fn new_blob_path(&self, id: &str) -> PathBuf {
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.blob_dir
            .join(format!("{safe}.{}", uuid::Uuid::new_v4().simple()))
    }

    /// Makes a finished upload durable (file contents and its directory entry).
    pub fn sync_blob(&self, path: &Path) -> std::io::Result<()> {
        if self.persistent {
            File::open(path)?.sync_all()?;
            sqlite::sync_dir(&self.blob_dir)?;
        }
        Ok(())
    }
}

/// Numbers the membership rows `puts` add after every row of the catalogue: a record's
/// new rows are the ones above its current version's highest (a record adds rows at its
/// end, [`Members::push`](crate::model::Members::push)). `GET /v1/shared-images` lists a
/// tenant's rows in this order, the registry's row order.
fn number_member_rows(index: &Index, puts: &mut [Image]) {
    let mut last = index.member_rows;
    // One call of the API adds rows to one record; several records at once are a
    // control-API load, numbered as a new store's records are (by `created_at`).
    for i in index::shared_in_creation_order(puts) {
        let img = &mut puts[i];
        let old_max = index.get(&img.id).map_or(0, |o| o.members.max_row());
        img.members.number_rows_after(old_max, &mut last);
    }
}

/// Imports `dir/images.log` (+ `blobs/`) of an earlier version into the database once,
/// then renames it to `images.log.imported`.
fn import_old_log(db: &mut sqlite::Db, dir: &Path) -> Result<(), PersistError> {
    let log = dir.join(log_import::LOG_FILE);
    if !log.exists() {
        return Ok(());
    }
    let mut state = log_import::read(&log).map_err(PersistError::Import)?;
    let blobs = dir.join("blobs");
    for img in &mut state.puts {
        // Bytes under blobs/ move into images/ (the writer then names them images/<id>).
        let ImageData::File { path, len } = &*img.data else {
            continue;
        };
        if path.parent() != Some(blobs.as_path()) {
            continue;
        }
        let target = db.images_dir().join(format!(
            "{}.imported",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("blob")
        ));
        let final_path = db.image_path(&img.id);
        let from = if path.exists() {
            std::fs::rename(path.as_ref(), &target).map_err(|e| {
                PersistError::Import(format!(
                    "{}: cannot move to {}: {e}",
                    path.display(),
                    target.display()
                ))
            })?;
            target
        } else if let Some(done) = final_path.filter(|p| p.exists()) {
            // An import interrupted after its commit: the bytes are already in place.
            done
        } else {
            continue;
        };
        img.data = ImageData::File {
            path: Arc::new(from),
            len: *len,
        }
        .into();
    }
    let n = state.puts.len();
    db.commit(&mut state.puts, &state.removes)?;
    let done = dir.join(log_import::IMPORTED);
    std::fs::rename(&log, &done).map_err(|e| {
        PersistError::Import(format!(
            "{}: imported, but cannot rename it: {e}",
            log.display()
        ))
    })?;
    let _ = sqlite::sync_dir(dir);
    tracing::info!(
        "imported {n} records from {} into {}; the log is now {}",
        log.display(),
        db.path().display(),
        done.display()
    );
    Ok(())
}

/// Read access to the current records inside a write.
pub struct Snapshot<'a> {
    store: &'a Store,
}

impl Snapshot<'_> {
    /// The current record with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Image>> {
        self.store.get(id)
    }

    /// Every current record.
    pub fn all(&self) -> Vec<Arc<Image>> {
        self.store.all()
    }
}

#[cfg(test)]
mod tests {
    use super::index::tests::image;
    use super::*;
    use std::sync::mpsc;

    // Rule: while a list order is being built (the read lock held for the whole build), a
    // write waits for the build without queueing on the write lock, so lookups (HEADs) go
    // on; the write lands once the build is done.
    #[test]
    fn a_write_during_an_order_build_does_not_hold_back_lookups() {
        let store = Arc::new(Store::new((0..50).map(image)).unwrap());
        let (writing_tx, writing_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (looked_tx, looked_rx) = mpsc::channel();
        // What a build holds: the build mutex and a read guard, until released.
        let builder = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let _building = store.building.lock().unwrap();
                let _read = store.read();
                let writer = {
                    let store = Arc::clone(&store);
                    std::thread::spawn(move || {
                        writing_tx.send(()).unwrap();
                        store.write_blocking(|_, tx| {
                            tx.put(image(50));
                            Ok::<_, StoreError>(())
                        })
                    })
                };
                writing_rx.recv().unwrap();
                // Give the writer time to reach its wait (on the build, or, without the
                // rule, on the write lock, where it would block every new reader).
                std::thread::sleep(std::time::Duration::from_millis(200));
                let reader = {
                    let store = Arc::clone(&store);
                    std::thread::spawn(move || {
                        let found = store.get("00000000-0000-4000-8000-000000000007").is_some();
                        let _ = looked_tx.send(found);
                    })
                };
                release_rx.recv().unwrap();
                (writer, reader)
            })
        };
        let looked = looked_rx.recv_timeout(std::time::Duration::from_secs(5));
        release_tx.send(()).unwrap();
        let (writer, reader) = builder.join().unwrap();
        assert_eq!(looked, Ok(true), "a lookup waited behind the queued writer");
        reader.join().unwrap();
        writer.join().unwrap().unwrap();
        assert!(store.get("00000000-0000-4000-8000-000000000050").is_some());
    }

    // Rule: a list that builds an order does not wait for a writer that holds the writer
    // lock (a durable commit in progress), and a write published meanwhile is not lost.
    #[test]
    fn order_build_does_not_wait_for_the_writer() {
        let store = Arc::new(Store::new((0..50).map(image)).unwrap());
        let (held_tx, held_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let writer = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                store.write_blocking(|_, tx| {
                    held_tx.send(()).unwrap();
                    go_rx.recv().unwrap();
                    tx.put(image(50));
                    Ok::<_, StoreError>(())
                })
            })
        };
        held_rx.recv().unwrap();
        // The writer lock is held: the list finishes only if the build does not take it.
        let (page_tx, page_rx) = mpsc::channel();
        let lister = Arc::clone(&store);
        std::thread::spawn(move || {
            let page = lister.list_page(
                SortKey::CreatedAt,
                false,
                None,
                100,
                &[],
                list_index::View::All,
                |_| true,
            );
            let _ = page_tx.send(page.len());
        });
        let listed = page_rx.recv_timeout(std::time::Duration::from_secs(30));
        go_tx.send(()).unwrap();
        assert_eq!(listed, Ok(50), "the list waited for the writer lock");
        writer.join().unwrap().unwrap();
        let page = store.list_page(
            SortKey::CreatedAt,
            false,
            None,
            100,
            &[],
            list_index::View::All,
            |_| true,
        );
        assert_eq!(page.len(), 51);
    }
}
