//! The durable state behind `--persist DIR`, kept the way a real Glance 15 (Pike) registry
//! keeps it: `DIR/glance.sqlite` with the registry's own tables (created exactly as
//! `glance-manage db_sync` creates them, see `glance_schema.sql`) and `DIR/images/<id>` for
//! the bytes, as Glance's filesystem store lays them out (location `file://DIR/images/<id>`).
//!
//! This module owns the mapping between the registry rows and [`Image`]: loading every row
//! at start-up, and writing one set of changes as one SQLite transaction. It does no
//! locking of its own; the store's single writer calls [`Db::commit`] on a thread where
//! blocking is allowed and publishes the change only after it returned `Ok`.
//!
//! The mapping, read from Glance's `db/sqlalchemy/models.py`, `db/sqlalchemy/api.py`,
//! `db/utils.py` and `registry/api/v1/images.py`:
//! - v1 `is_public` is `visibility == 'public'`; a v1 write stores `'public'` or `'shared'`.
//!   A row that is `'private'` or `'community'` (written by v2) keeps that value unless the
//!   emulator makes it public.
//! - Properties, members and locations are soft-deleted (`deleted = 1`, `deleted_at`); only
//!   live rows (`deleted = 0`) are served. A property name that comes back revives its old
//!   row (the `(image_id, name)` pair is unique), as Glance does.
//! - Members are listed in row order (`id`), which is the order they were added. A record's
//!   member rows keep their database ids, deleted rows the registry can still find included
//!   (see `Db::load`), and are written back row for row (`put_members`): a revival is the old
//!   row with `deleted = 0`. Member rows left out at load are removed at the next write.
//! - Timestamps are `YYYY-MM-DD HH:MM:SS.ffffff` (SQLAlchemy's SQLite `DATETIME`), booleans
//!   0/1.
//!
//! Journal: WAL with `synchronous = FULL`. A commit is one append to the WAL plus one
//! fsync of it, durable when `commit` returns (a rollback journal needs about four fsyncs
//! per commit, among them the directory). The WAL is checkpointed into `glance.sqlite`
//! by SQLite as it grows and when the last connection closes; until then the
//! `glance.sqlite-wal` file is part of the state (copy the whole directory).

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::model::{
    repeat_block, Checksum, Data, Image, ImageData, ImageId, Interner, Member, Members, Status,
    Timestamp,
};

/// The database file inside `DIR`.
pub const DB_FILE: &str = "glance.sqlite";
/// The directory of image bytes inside `DIR`.
pub const IMAGES_DIR: &str = "images";
/// The one alembic revision this mapping was written for.
pub const PIKE_REVISION: &str = "pike01";

/// The schema, statement for statement as `glance-manage db_sync` (Glance 15.0.2) leaves it.
const SCHEMA: &str = include_str!("../glance_schema.sql");

/// The emulator's own table, created only when a record is removed outright (control API);
/// Glance never reads it. Lets a removed fixture record stay removed across a restart.
const TOMBSTONES: &str = "glance_emu_removed";

/// What went wrong with the state directory: one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{}: {what}", path.display())]
pub struct DbError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What is wrong with it.
    pub what: String,
}

impl DbError {
    fn new(path: &Path, what: impl Into<String>) -> Self {
        DbError {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

/// Image id to its place in the loaded rows.
type ByIdIndex = std::collections::HashMap<ImageId, u32, foldhash::fast::RandomState>;

/// The records found in a state directory.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every image row (deleted ones included), with its live properties, members and the
    /// bytes its first live location names. Built in place, each in its own `Arc` (the
    /// store's shape: no second copy of a million records on the way in).
    pub images: Vec<Arc<Image>>,
    /// Ids removed outright by the control API (to drop from the fixtures).
    pub removed: Vec<String>,
}

/// An open state directory.
pub struct Db {
    conn: Connection,
    dir: PathBuf,
    db_path: PathBuf,
    images_dir: PathBuf,
    /// (device, inode) of the database file and the images directory when opened: a
    /// file removed or replaced while serving is detected before the next write.
    db_ident: (u64, u64),
    images_ident: (u64, u64),
    has_tombstones: bool,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.db_path).finish()
    }
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> DbError + '_ {
    move |e| DbError::new(path, describe(&e))
}

/// A SQLite error in words an operator can act on.
fn describe(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::NotADatabase) => "not a SQLite database (file is not a database)".into(),
        Some(C::DatabaseCorrupt) => format!("database is corrupt ({e})"),
        Some(C::DiskFull) => "disk full: the write was not stored".into(),
        Some(C::ReadOnly) => format!("database is read-only ({e})"),
        Some(C::CannotOpen) => format!("cannot open the database ({e})"),
        Some(C::SystemIoFailure) => format!("I/O error ({e})"),
        _ => e.to_string().replace('\n', " "),
    }
}

fn ident(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// `2016-05-22 06:04:20.425843`, as SQLAlchemy stores a `DATETIME` in SQLite.
fn ts_sql(t: &Timestamp) -> String {
    let mut s = t.glance();
    s.replace_range(10..11, " ");
    s
}

/// The id as a file name in `images/`, when it is one (Glance ids are UUIDs).
fn safe_file_name(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Syncs a directory so that a rename or new entry in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Db {
    /// Opens (creating when absent) `dir/glance.sqlite` and `dir/images/`. An empty
    /// database gets the Pike schema; anything else must be a Pike registry database.
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        let images_dir = dir.join(IMAGES_DIR);
        std::fs::create_dir_all(&images_dir)
            .map_err(|e| DbError::new(&images_dir, format!("cannot create: {e}")))?;
        let db_path = dir.join(DB_FILE);
        check_header(&db_path)?;
        let conn = Db::connect(&db_path)?;
        let mut db = Db {
            conn,
            dir: dir.to_path_buf(),
            db_ident: (0, 0),
            images_ident: (0, 0),
            db_path,
            images_dir,
            has_tombstones: false,
        };
        db.check_schema()?;
        let _ = sync_dir(dir);
        db.db_ident = std::fs::metadata(&db.db_path)
            .map(|m| ident(&m))
            .map_err(|e| DbError::new(&db.db_path, e.to_string()))?;
        db.images_ident = std::fs::metadata(&db.images_dir)
            .map(|m| ident(&m))
            .map_err(|e| DbError::new(&db.images_dir, e.to_string()))?;
        Ok(db)
    }

    /// The connection: WAL, every commit synced (see the module notes).
    fn connect(db_path: &Path) -> Result<Connection, DbError> {
        let err = sql_err(db_path);
        let conn = Connection::open_with_flags(
            db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(&err)?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(&err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DbError::new(
                db_path,
                format!("cannot switch to WAL journal (got '{mode}')"),
            ));
        }
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(&err)?;
        Ok(conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.db_path
    }

    /// The directory image bytes are kept in (uploads are written there first).
    pub fn images_dir(&self) -> &Path {
        &self.images_dir
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn tables(&self) -> Result<Vec<String>, DbError> {
        let err = sql_err(&self.db_path);
        let mut st = self
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .map_err(&err)?;
        let names = st
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        Ok(names)
    }

    fn columns(&self, table: &str) -> Result<Vec<String>, DbError> {
        let err = sql_err(&self.db_path);
        let mut st = self
            .conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(&err)?;
        let cols = st
            .query_map([], |r| r.get::<_, String>(1))
            .map_err(&err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(&err)?;
        Ok(cols)
    }

    /// Creates the schema in an empty database, or checks that this is a Glance Pike
    /// registry database.
    fn check_schema(&mut self) -> Result<(), DbError> {
        let path = self.db_path.clone();
        let err = sql_err(&path);
        let tables = self.tables()?;
        if tables.is_empty() {
            let tx = self.conn.transaction().map_err(&err)?;
            tx.execute_batch(SCHEMA).map_err(&err)?;
            tx.execute(
                "INSERT INTO migrate_version (repository_id, repository_path, version) \
                 VALUES ('Glance Migrations', 'glance/db/sqlalchemy/migrate_repo', 0)",
                [],
            )
            .map_err(&err)?;
            tx.execute(
                "INSERT INTO alembic_version (version_num) VALUES (?1)",
                [PIKE_REVISION],
            )
            .map_err(&err)?;
            tx.commit().map_err(&err)?;
            return Ok(());
        }
        let required: [(&str, &[&str]); 4] = [
            (
                "images",
                &[
                    "id",
                    "name",
                    "size",
                    "status",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                    "deleted",
                    "disk_format",
                    "container_format",
                    "checksum",
                    "owner",
                    "min_disk",
                    "min_ram",
                    "protected",
                    "virtual_size",
                    "visibility",
                ],
            ),
            (
                "image_properties",
                &[
                    "id",
                    "image_id",
                    "name",
                    "value",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                    "deleted",
                ],
            ),
            (
                "image_members",
                &[
                    "id",
                    "image_id",
                    "member",
                    "can_share",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                    "deleted",
                    "status",
                ],
            ),
            (
                "image_locations",
                &[
                    "id",
                    "image_id",
                    "value",
                    "created_at",
                    "updated_at",
                    "deleted_at",
                    "deleted",
                    "meta_data",
                    "status",
                ],
            ),
        ];
        for (table, cols) in required {
            if !tables.iter().any(|t| t == table) {
                return Err(DbError::new(
                    &path,
                    format!("not a Glance registry database (no table '{table}')"),
                ));
            }
            let have = self.columns(table)?;
            if let Some(c) = cols.iter().find(|c| !have.iter().any(|h| h == *c)) {
                return Err(DbError::new(
                    &path,
                    format!(
                        "not a Glance Pike registry database (table '{table}' has no column '{c}')"
                    ),
                ));
            }
        }
        if !tables.iter().any(|t| t == "alembic_version") {
            return Err(DbError::new(
                &path,
                "Glance registry database without alembic_version (older than Pike); \
                 run Glance 15's `glance-manage db_sync` on it first",
            ));
        }
        let rev: Option<String> = self
            .conn
            .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
            .optional()
            .map_err(&err)?;
        if rev.as_deref() != Some(PIKE_REVISION) {
            return Err(DbError::new(
                &path,
                format!(
                    "Glance schema revision {} is not {PIKE_REVISION} (Glance 15 / Pike)",
                    rev.map_or("(none)".to_string(), |r| format!("'{r}'"))
                ),
            ));
        }
        self.has_tombstones = tables.iter().any(|t| t == TOMBSTONES);
        Ok(())
    }

    /// Reads one of an image's child tables (`sql` selects `image_id` first) in rowid
    /// order and hands each row to `row` with the index of its image; rows of images that
    /// are not loaded are skipped. Child rows are usually written right after their image
    /// (Glance inserts them in the same transaction), so the previous row's image and the
    /// image after it in `order` (the images in rowid order) are tried before the hash
    /// table.
    fn scan_live_children(
        &self,
        sql: &str,
        order: &[Arc<Image>],
        find: &ByIdIndex,
        mut row: impl FnMut(u32, &rusqlite::Row<'_>) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        let path = &self.db_path;
        let err = sql_err(path);
        let mut st = self.conn.prepare(sql).map_err(&err)?;
        let mut rows = st.query([]).map_err(&err)?;
        let mut last: Option<(ImageId, u32)> = None;
        while let Some(r) = rows.next().map_err(&err)? {
            let Some(id) = ImageId::new(col_text(r, 0, path)?.unwrap_or_default()) else {
                continue;
            };
            let i = match last {
                Some((l, i)) if l == id => Some(i),
                Some((_, i)) if order.get(i as usize + 1).is_some_and(|n| n.id == id) => {
                    Some(i + 1)
                }
                _ => find.get(&id).copied(),
            };
            if let Some(i) = i {
                last = Some((id, i));
                row(i, r)?;
            }
        }
        Ok(())
    }

    /// Every image row with its live properties, members and bytes.
    pub fn load(&self, interner: &mut Interner) -> Result<Loaded, DbError> {
        let path = &self.db_path;
        let err = sql_err(path);
        let bad = |id: &str, what: String| DbError::new(path, format!("image '{id}': {what}"));
        let mut images: Vec<Arc<Image>> = Vec::new();
        {
            let mut st = self
                .conn
                .prepare(
                    "SELECT id, name, size, status, created_at, updated_at, deleted_at, deleted, \
                     disk_format, container_format, checksum, owner, min_disk, min_ram, \
                     protected, virtual_size, visibility FROM images NOT INDEXED",
                )
                .map_err(&err)?;
            let mut rows = st.query([]).map_err(&err)?;
            while let Some(r) = rows.next().map_err(&err)? {
                let text = |i: usize| -> Result<Option<&str>, DbError> {
                    let v = r.get_ref(i).map_err(&err)?;
                    match v {
                        rusqlite::types::ValueRef::Null => Ok(None),
                        rusqlite::types::ValueRef::Text(t) => std::str::from_utf8(t)
                            .map(Some)
                            .map_err(|_| DbError::new(path, "text that is not UTF-8")),
                        other => Err(DbError::new(
                            path,
                            format!("column {i}: expected text, found {:?}", other.data_type()),
                        )),
                    }
                };
                let int = |i: usize| -> Result<Option<i64>, DbError> {
                    r.get::<_, Option<i64>>(i).map_err(&err)
                };
                let id_s = text(0)?.unwrap_or("");
                let id = ImageId::new(id_s)
                    .ok_or_else(|| bad(id_s, "id longer than 36 characters".into()))?;
                let ts = |i: usize, what: &str| -> Result<Option<Timestamp>, DbError> {
                    match text(i)? {
                        None => Ok(None),
                        Some(s) => parse_sql_ts(s)
                            .map(Some)
                            .ok_or_else(|| bad(id_s, format!("{what} '{s}' is not a timestamp"))),
                    }
                };
                let created =
                    ts(4, "created_at")?.ok_or_else(|| bad(id_s, "created_at is null".into()))?;
                let mut img = Image::new(id, created);
                img.name = text(1)?.map(Into::into);
                img.size = match int(2)? {
                    None => None,
                    Some(n) => Some(
                        u64::try_from(n).map_err(|_| bad(id_s, format!("negative size {n}")))?,
                    ),
                };
                let status = text(3)?.unwrap_or("");
                img.status = Status::parse(status)
                    .ok_or_else(|| bad(id_s, format!("unknown status '{status}'")))?;
                img.updated_at = ts(5, "updated_at")?.unwrap_or(created);
                img.deleted_at = ts(6, "deleted_at")?;
                img.deleted = int(7)?.unwrap_or(0) != 0;
                img.disk_format = text(8)?.map(|s| interner.get(s));
                img.container_format = text(9)?.map(|s| interner.get(s));
                img.checksum =
                    match text(10)? {
                        None => None,
                        Some(c) => Some(Checksum::new(c).ok_or_else(|| {
                            bad(id_s, "checksum longer than 32 characters".into())
                        })?),
                    };
                img.owner = text(11)?.map(|s| crate::model::Owner::interned(s, interner));
                let small = |i: usize, what: &str| -> Result<u32, DbError> {
                    let n = int(i)?.unwrap_or(0);
                    u32::try_from(n).map_err(|_| bad(id_s, format!("{what} {n} out of range")))
                };
                img.min_disk = small(12, "min_disk")?;
                img.min_ram = small(13, "min_ram")?;
                img.protected = int(14)?.unwrap_or(0) != 0;
                img.virtual_size = match int(15)? {
                    None => None,
                    Some(n) => Some(
                        u64::try_from(n)
                            .map_err(|_| bad(id_s, format!("negative virtual_size {n}")))?,
                    ),
                };
                img.is_public = text(16)? == Some("public");
                images.push(Arc::new(img));
            }
        }
        // Every table is read in its own (rowid) order, a sequential scan, never through
        // an index (an index walk costs a random page read per row: minutes for a million
        // images); rows are matched to their image through one hash table of inline ids
        // (no allocation per key; a binary search over a million ids cost half the load)
        // and sorted in memory.
        let mut by_id = ByIdIndex::with_capacity_and_hasher(images.len(), Default::default());
        for (i, img) in images.iter().enumerate() {
            if by_id.insert(img.id, i as u32).is_some() {
                return Err(bad(img.id.as_str(), "id appears twice".into()));
            }
        }
        let find = &by_id;
        // Properties: live rows; a record keeps them sorted by name. Their text is copied
        // into one buffer and interned only when the image's list is a new one (lists
        // repeat across images, and a repeated list costs one hash of its text).
        let mut text = String::new();
        // (image, name at, name length, value at, value length or NULL_VALUE)
        let mut props: Vec<(u32, u32, u32, u32, u32)> = Vec::new();
        const NULL_VALUE: u32 = u32::MAX;
        let keep = |text: &mut String, s: &str| -> Result<(u32, u32), DbError> {
            let at = u32::try_from(text.len()).ok();
            let len = u32::try_from(s.len()).ok().filter(|n| *n != NULL_VALUE);
            text.push_str(s);
            match (at, len) {
                (Some(at), Some(len)) => Ok((at, len)),
                _ => Err(DbError::new(path, "more than 4 GB of property text")),
            }
        };
        self.scan_live_children(
            "SELECT image_id, name, value FROM image_properties NOT INDEXED WHERE deleted = 0",
            &images,
            find,
            |i, r| {
                let (name_at, name_len) =
                    keep(&mut text, col_text(r, 1, path)?.unwrap_or_default())?;
                let (value_at, value_len) = match col_text(r, 2, path)? {
                    Some(v) => keep(&mut text, v)?,
                    None => (0, NULL_VALUE),
                };
                props.push((i, name_at, name_len, value_at, value_len));
                Ok(())
            },
        )?;
        let at = |at: u32, len: u32| &text[at as usize..(at + len) as usize];
        let value = |at_: u32, len: u32| (len != NULL_VALUE).then(|| at(at_, len));
        props.sort_unstable_by(|a, b| (a.0, at(a.1, a.2)).cmp(&(b.0, at(b.1, b.2))));
        for group in props.chunk_by(|a, b| a.0 == b.0) {
            Arc::make_mut(&mut images[group[0].0 as usize]).properties = interner.property_list(
                group
                    .iter()
                    .map(|&(_, na, nl, va, vl)| (at(na, nl), value(va, vl))),
            );
        }
        drop(props);
        drop(text);
        // Members: every row of a live image in row-id order, soft-deleted ones included
        // (the registry's member calls look them up with include_deleted: a removed member
        // re-added without can_share stays deleted). Each row keeps its database id, so
        // the list order and "the first row found" are the database's, and the writer
        // (put_image) finds each row again. A deleted image's rows are not loaded (they
        // were soft-deleted with it and no call reaches them). Of a member's soft-deleted
        // rows only the lowest is kept, and none when the member has a live row:
        // - the registry only ever finds, and so revives, a member's first row; a deleted
        //   row after it is never read again by any call (unobservable, not kept);
        // - glance-emu before this version wrote a revival as a new row after its deleted
        //   one (and rewrote reordered lists as new rows), so a deleted row before a live
        //   row of the same member is such a leftover; kept, a later PUT with can_share
        //   would revive it and list the member twice. Real Glance only writes that shape
        //   when a non-owner allowed to share adds a member the owner had removed (its
        //   query does not see the owner's row); after a restart glance-emu forgets that
        //   deleted row (docs/persistence.md).
        // Rows not kept are removed from the database when the image is next written.
        let mut members: Vec<(u32, u32, Member, bool)> = Vec::new();
        self.scan_live_children(
            "SELECT image_id, id, member, can_share, deleted FROM image_members NOT INDEXED",
            &images,
            find,
            |i, r| {
                if images[i as usize].deleted {
                    return Ok(());
                }
                let row: i64 = r.get(1).map_err(&err)?;
                let row = u32::try_from(row).map_err(|_| {
                    DbError::new(path, format!("image_members id {row} out of range"))
                })?;
                let m = Member {
                    member_id: r.get(2).map_err(&err)?,
                    can_share: r.get::<_, i64>(3).map_err(&err)? != 0,
                };
                let deleted = r.get::<_, i64>(4).map_err(&err)? != 0;
                members.push((i, row, m, deleted));
                Ok(())
            },
        )?;
        members.sort_unstable_by_key(|m| (m.0, m.1));
        for group in members.chunk_by(|a, b| a.0 == b.0) {
            let img = Arc::make_mut(&mut images[group[0].0 as usize]);
            if group.iter().all(|m| !m.3) {
                img.members =
                    Members::from_rows(group.iter().map(|(_, id, m, _)| (*id, m.clone(), false)));
                continue;
            }
            let live: HashSet<&str> = group
                .iter()
                .filter(|m| !m.3)
                .map(|m| m.2.member_id.as_str())
                .collect();
            let mut seen: HashSet<&str> = HashSet::new();
            img.members = Members::from_rows(
                group
                    .iter()
                    .filter(|(_, _, m, deleted)| {
                        !deleted
                            || (!live.contains(m.member_id.as_str())
                                && seen.insert(m.member_id.as_str()))
                    })
                    .map(|(_, id, m, deleted)| (*id, m.clone(), *deleted)),
            );
        }
        drop(members);
        // Bytes: the first live location of each image, when it is a local file.
        let mut locs: Vec<(u32, i64, String)> = Vec::new();
        self.scan_live_children(
            "SELECT image_id, id, value FROM image_locations NOT INDEXED WHERE deleted = 0",
            &images,
            find,
            |i, r| {
                locs.push((i, r.get(1).map_err(&err)?, r.get(2).map_err(&err)?));
                Ok(())
            },
        )?;
        locs.sort_unstable_by_key(|l| (l.0, l.1));
        for group in locs.chunk_by(|a, b| a.0 == b.0) {
            let (i, _, value) = &group[0];
            let img = Arc::make_mut(&mut images[*i as usize]);
            if let Some(p) = value.strip_prefix("file://") {
                let mut p = PathBuf::from(p);
                // A copied (or moved) Glance state directory still names the files where
                // they were: Glance's own layout, images/<id>, is looked up here.
                if p.parent() != Some(self.images_dir.as_path())
                    && p.file_name().is_some_and(|n| n == img.id.as_str())
                {
                    let here = self.images_dir.join(img.id.as_str());
                    if here.exists() {
                        p = here;
                    }
                }
                img.data = ImageData::File {
                    path: Arc::new(p),
                    len: img.size.unwrap_or(0),
                }
                .into();
            }
        }
        drop(locs);
        drop(by_id);
        let removed = if self.has_tombstones {
            let mut st = self
                .conn
                .prepare(&format!("SELECT id FROM {TOMBSTONES}"))
                .map_err(&err)?;
            let ids = st
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(&err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            ids
        } else {
            Vec::new()
        };
        Ok(Loaded { images, removed })
    }

    /// Whether writes can be stored right now: the database file and the images directory
    /// are still the ones opened, present and writable. Blocking (a few `stat`s).
    pub fn check(&self) -> Result<(), DbError> {
        self.health().check_files()
    }

    /// What a health check needs, to be asked without this handle (and its lock).
    pub fn health(&self) -> Health {
        Health {
            dir: self.dir.clone(),
            db_path: self.db_path.clone(),
            images_dir: self.images_dir.clone(),
            db_ident: self.db_ident,
            images_ident: self.images_ident,
        }
    }

    /// The final place of an image's bytes.
    pub fn image_path(&self, id: &str) -> Option<PathBuf> {
        safe_file_name(id).then(|| self.images_dir.join(id))
    }

    /// Stores `puts` (whole records, inserted or replacing) and removes `removes`, as one
    /// transaction that is durable when this returns `Ok`.
    ///
    /// Bytes first: an upload still under its temporary name in `images/` is renamed to
    /// `images/<id>`, and bytes held in memory (fixture data) are written there (temporary
    /// file, fsync, rename), the directory is synced, and only then is the row that names
    /// the file committed. The records in `puts` are updated to name the final files.
    /// On error nothing is stored and files this call placed are removed again.
    pub fn commit(&mut self, puts: &mut [Image], removes: &[String]) -> Result<(), DbError> {
        self.check()?;
        let mut placed: Vec<PathBuf> = Vec::new();
        let result = self.place_bytes(puts, &mut placed).and_then(|()| {
            if !placed.is_empty() {
                sync_dir(&self.images_dir)
                    .map_err(|e| DbError::new(&self.images_dir, e.to_string()))?;
            }
            self.write_rows(puts, removes)
        });
        match result {
            Ok(()) => {
                // Glance removes the bytes of a deleted image (its location is deleted);
                // the record keeps none either, as it would after a restart.
                for img in puts.iter_mut().filter(|i| i.deleted) {
                    self.unlink_owned(&img.data);
                    if matches!(&*img.data, ImageData::File { .. }) {
                        img.data = Data::default();
                    }
                }
                for id in removes {
                    if let Some(p) = self.image_path(id) {
                        let _ = std::fs::remove_file(p);
                    }
                }
                Ok(())
            }
            Err(e) => {
                for p in placed {
                    let _ = std::fs::remove_file(p);
                }
                Err(e)
            }
        }
    }

    fn unlink_owned(&self, data: &ImageData) {
        if let ImageData::File { path, .. } = data {
            if path.parent() == Some(self.images_dir.as_path()) {
                let _ = std::fs::remove_file(path.as_ref());
            }
        }
    }

    /// Moves or writes each live record's bytes to `images/<id>`.
    fn place_bytes(&self, puts: &mut [Image], placed: &mut Vec<PathBuf>) -> Result<(), DbError> {
        for img in puts.iter_mut().filter(|i| !i.deleted) {
            let Some(target) = self.image_path(&img.id) else {
                continue;
            };
            let io = |e: std::io::Error| DbError::new(&target, e.to_string());
            let new_data = match &*img.data {
                ImageData::File { path, len } => {
                    if path.parent() != Some(self.images_dir.as_path()) || **path == target {
                        continue;
                    }
                    // An upload under its temporary name (already synced by the uploader).
                    std::fs::rename(path.as_ref(), &target).map_err(io)?;
                    ImageData::File {
                        path: Arc::new(target.clone()),
                        len: *len,
                    }
                }
                ImageData::Bytes(b) => {
                    let b: &Bytes = b;
                    self.write_file(&target, |f| f.write_all(b)).map_err(io)?;
                    ImageData::File {
                        path: Arc::new(target.clone()),
                        len: b.len() as u64,
                    }
                }
                ImageData::Repeat { unit, len } => {
                    let (unit, len) = (unit.clone(), *len);
                    self.write_file(&target, |f| {
                        let block = repeat_block(&unit, 1 << 16);
                        let mut left = len;
                        while left > 0 {
                            let n = left.min(block.len() as u64) as usize;
                            f.write_all(&block[..n])?;
                            left -= n as u64;
                        }
                        Ok(())
                    })
                    .map_err(io)?;
                    ImageData::File {
                        path: Arc::new(target.clone()),
                        len,
                    }
                }
                ImageData::None => continue,
            };
            placed.push(target);
            img.data = Data::from(new_data);
        }
        Ok(())
    }

    /// Writes a file under a temporary name, syncs it and renames it to `target`.
    fn write_file(
        &self,
        target: &Path,
        fill: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let tmp = self
            .images_dir
            .join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
        let r = (|| {
            let mut f = File::create(&tmp)?;
            fill(&mut f)?;
            f.sync_all()?;
            std::fs::rename(&tmp, target)
        })();
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        r
    }

    fn write_rows(&mut self, puts: &mut [Image], removes: &[String]) -> Result<(), DbError> {
        let path = self.db_path.clone();
        let err = sql_err(&path);
        let has_tombstones = self.has_tombstones;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&err)?;
        for id in removes {
            for table in [
                "image_properties",
                "image_members",
                "image_locations",
                "image_tags",
            ] {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE image_id = ?1"))
                    .and_then(|mut s| s.execute([id]))
                    .map_err(&err)?;
            }
            tx.prepare_cached("DELETE FROM images WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .map_err(&err)?;
        }
        if !removes.is_empty() {
            tx.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {TOMBSTONES} (id VARCHAR(36) NOT NULL, PRIMARY KEY (id))"
            ))
            .map_err(&err)?;
            for id in removes {
                tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO {TOMBSTONES} (id) VALUES (?1)"
                ))
                .and_then(|mut s| s.execute([id]))
                .map_err(&err)?;
            }
        }
        let tombstones = has_tombstones || !removes.is_empty();
        for img in puts.iter_mut() {
            put_image(&tx, img).map_err(&err)?;
            if tombstones {
                tx.prepare_cached(&format!("DELETE FROM {TOMBSTONES} WHERE id = ?1"))
                    .and_then(|mut s| s.execute([img.id.as_str()]))
                    .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)?;
        self.has_tombstones = tombstones;
        Ok(())
    }
}

/// The files of an open state directory, checked for a health probe and before each write.
#[derive(Debug, Clone)]
pub struct Health {
    dir: PathBuf,
    db_path: PathBuf,
    images_dir: PathBuf,
    db_ident: (u64, u64),
    images_ident: (u64, u64),
}

impl Health {
    /// The database file and the images directory are the ones opened, present, and not
    /// marked read-only; the state directory is there and not marked read-only.
    pub fn check_files(&self) -> Result<(), DbError> {
        let same = |p: &Path, want: (u64, u64), what: &str| -> Result<(), DbError> {
            let m = std::fs::metadata(p)
                .map_err(|e| DbError::new(p, format!("{what} is gone ({e})")))?;
            if ident(&m) != want {
                return Err(DbError::new(
                    p,
                    format!("{what} was replaced while serving"),
                ));
            }
            if m.permissions().readonly() {
                return Err(DbError::new(p, format!("{what} is read-only")));
            }
            Ok(())
        };
        same(&self.db_path, self.db_ident, "the database")?;
        same(&self.images_dir, self.images_ident, "the images directory")?;
        let m = std::fs::metadata(&self.dir)
            .map_err(|e| DbError::new(&self.dir, format!("the state directory is gone ({e})")))?;
        if m.permissions().readonly() {
            return Err(DbError::new(&self.dir, "the state directory is read-only"));
        }
        Ok(())
    }

    /// [`Health::check_files`], and a probe file created and removed in the state
    /// directory (catches a file system mounted read-only, which no mode bit shows).
    pub fn check(&self) -> Result<(), DbError> {
        self.check_files()?;
        let probe = self.dir.join(".glance-emu-probe");
        File::create(&probe)
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| DbError::new(&self.dir, format!("cannot write here ({e})")))
    }
}

/// `2016-05-22 06:04:20.425843` (SQLAlchemy's text) read through the model's fast parser
/// for the `T` form; anything else through its general one.
fn parse_sql_ts(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() >= 19 && b.len() <= 32 && b[10] == b' ' {
        let mut buf = [0u8; 32];
        buf[..b.len()].copy_from_slice(b);
        buf[10] = b'T';
        if let Some(t) = std::str::from_utf8(&buf[..b.len()])
            .ok()
            .and_then(Timestamp::parse)
        {
            return Some(t);
        }
    }
    Timestamp::parse(s)
}

/// Column `i` of `r` as text (`None` for NULL); anything else is an error naming the file.
fn col_text<'r>(
    r: &'r rusqlite::Row<'_>,
    i: usize,
    path: &Path,
) -> Result<Option<&'r str>, DbError> {
    use rusqlite::types::ValueRef;
    match r.get_ref(i).map_err(|e| DbError::new(path, describe(&e)))? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(Some)
            .map_err(|_| DbError::new(path, format!("column {i}: text that is not UTF-8"))),
        other => Err(DbError::new(
            path,
            format!("column {i}: expected text, found {:?}", other.data_type()),
        )),
    }
}

/// Refuses, before SQLite sees it, a file that is not a SQLite database (SQLite would
/// only say so at the first query).
fn check_header(path: &Path) -> Result<(), DbError> {
    use std::io::Read;
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(DbError::new(path, format!("cannot open: {e}"))),
    };
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(DbError::new(path, format!("cannot read: {e}"))),
        }
    }
    if n == 0 || &head[..n] == b"SQLite format 3\0" {
        return Ok(());
    }
    Err(DbError::new(
        path,
        "not a SQLite database (wrong file header)",
    ))
}

/// The record's member rows, row for row (Glance's own writes): a record's row ids are the
/// database's (`Db::load` keeps them), so a row found again is changed in place (a revival
/// is `deleted = 0` on the old row, as the registry's `image_member_update` does, and keeps
/// its place) and a row the record added is inserted, after which the record takes the id
/// the database gave it. Database rows the record does not have (rows `Db::load` left out,
/// or a record the control API replaced) are removed. When the rows found again are not
/// all before the new ones (a replaced record whose ids happen to match), the image's rows
/// are written again from scratch, in the record's order.
fn put_members(tx: &rusqlite::Transaction<'_>, img: &mut Image, now: &str) -> rusqlite::Result<()> {
    let id = img.id.as_str().to_string();
    let gone_at = img.deleted_at.unwrap_or(img.updated_at);
    let db: Vec<(i64, String, bool, bool)> = tx
        .prepare_cached(
            "SELECT id, member, can_share, deleted FROM image_members WHERE image_id = ?1 \
             ORDER BY id",
        )?
        .query_map([&id], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, i64>(2)? != 0,
                r.get::<_, i64>(3)? != 0,
            ))
        })?
        .collect::<Result<_, _>>()?;
    // (image_id, member, deleted_at) is unique: a row soft-deleted at the same instant as
    // another row of that member (a list naming a member twice, a frozen clock) is stamped
    // a microsecond later. No call shows a member row's timestamps.
    let free_gone_at = |member: &str| -> rusqlite::Result<String> {
        let mut t = gone_at;
        loop {
            let at = ts_sql(&t);
            let taken = tx
                .prepare_cached(
                    "SELECT 1 FROM image_members WHERE image_id = ?1 AND member = ?2 \
                     AND deleted_at = ?3",
                )?
                .exists(params![id, member, at])?;
            if !taken {
                return Ok(at);
            }
            t = Timestamp(t.0 + chrono::Duration::microseconds(1));
        }
    };
    let soft_delete = |row: i64, member: &str, can_share: bool| -> rusqlite::Result<()> {
        let at = free_gone_at(member)?;
        tx.prepare_cached(
            "UPDATE image_members SET deleted = 1, deleted_at = ?2, updated_at = ?2, \
             can_share = ?3 WHERE id = ?1",
        )?
        .execute(params![row, at, can_share as i64])?;
        Ok(())
    };
    if img.deleted {
        // A deleted image's members are soft-deleted with it, as Glance's image_destroy
        // does; its rows are not loaded again (no call reaches them) and stay as they are.
        for (row, member, can_share, deleted) in &db {
            if !deleted {
                soft_delete(*row, member, *can_share)?;
            }
        }
        return Ok(());
    }
    let rows = img.members.rows();
    let found: Vec<Option<usize>> = rows
        .iter()
        .map(|r| {
            db.binary_search_by_key(&i64::from(r.id), |d| d.0)
                .ok()
                .filter(|&at| db[at].1 == r.member.member_id)
        })
        .collect();
    let first_new = found.iter().position(Option::is_none).unwrap_or(rows.len());
    let in_place = found[first_new..].iter().all(Option::is_none);
    let mut keep = vec![false; db.len()];
    if in_place {
        for at in found.iter().flatten() {
            keep[*at] = true;
        }
    }
    for ((row, ..), _) in db.iter().zip(&keep).filter(|(_, k)| !**k) {
        tx.prepare_cached("DELETE FROM image_members WHERE id = ?1")?
            .execute([row])?;
    }
    let mut renumber: Vec<(u32, u32)> = Vec::new();
    for (r, at) in rows.iter().zip(&found) {
        let m = &r.member;
        match at.filter(|_| in_place).map(|at| &db[at]) {
            Some(&(row, _, cs, deleted)) => {
                if r.deleted && !deleted {
                    soft_delete(row, &m.member_id, m.can_share)?;
                } else if !r.deleted && deleted {
                    tx.prepare_cached(
                        "UPDATE image_members SET deleted = 0, deleted_at = NULL, \
                         can_share = ?2, updated_at = ?3 WHERE id = ?1",
                    )?
                    .execute(params![row, m.can_share as i64, now])?;
                } else if cs != m.can_share {
                    tx.prepare_cached(
                        "UPDATE image_members SET can_share = ?2, updated_at = ?3 WHERE id = ?1",
                    )?
                    .execute(params![row, m.can_share as i64, now])?;
                }
            }
            None => {
                let gone = if r.deleted {
                    Some(free_gone_at(&m.member_id)?)
                } else {
                    None
                };
                tx.prepare_cached(
                    "INSERT INTO image_members (image_id, member, can_share, created_at, \
                     updated_at, deleted_at, deleted, status) \
                     VALUES (?1, ?2, ?3, ?4, coalesce(?5, ?4), ?5, ?6, 'pending')",
                )?
                .execute(params![
                    id,
                    m.member_id,
                    m.can_share as i64,
                    now,
                    gone,
                    r.deleted as i64
                ])?;
                let new = u32::try_from(tx.last_insert_rowid()).map_err(|_| {
                    rusqlite::Error::IntegralValueOutOfRange(0, tx.last_insert_rowid())
                })?;
                renumber.push((r.id, new));
            }
        }
    }
    if !renumber.is_empty() {
        // Rows are inserted in row order, so `renumber` is sorted by the old id.
        img.members.renumber(|old| {
            renumber
                .binary_search_by_key(&old, |r| r.0)
                .map_or(old, |at| renumber[at].1)
        });
    }
    Ok(())
}

/// One record's rows: the image, then its properties, members and location brought in
/// line with the record (soft deletes for what went away).
fn put_image(tx: &rusqlite::Transaction<'_>, img: &mut Image) -> rusqlite::Result<()> {
    let image_id = img.id;
    let id = image_id.as_str();
    let now = ts_sql(&img.updated_at);
    let gone_at = img
        .deleted_at
        .as_ref()
        .map(ts_sql)
        .unwrap_or_else(|| now.clone());
    let size = img.size.map(|s| s as i64);
    let vsize = img.virtual_size.map(|s| s as i64);
    tx.prepare_cached(
        "INSERT INTO images (id, name, size, status, created_at, updated_at, deleted_at, deleted, \
         disk_format, container_format, checksum, owner, min_disk, min_ram, protected, \
         virtual_size, visibility) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, size = excluded.size, \
         status = excluded.status, created_at = excluded.created_at, \
         updated_at = excluded.updated_at, deleted_at = excluded.deleted_at, \
         deleted = excluded.deleted, disk_format = excluded.disk_format, \
         container_format = excluded.container_format, checksum = excluded.checksum, \
         owner = excluded.owner, min_disk = excluded.min_disk, min_ram = excluded.min_ram, \
         protected = excluded.protected, virtual_size = excluded.virtual_size, \
         visibility = CASE WHEN excluded.visibility = 'public' THEN 'public' \
                           WHEN images.visibility = 'public' THEN 'shared' \
                           ELSE images.visibility END",
    )?
    .execute(params![
        id,
        img.name.as_deref(),
        size,
        img.status.as_str(),
        ts_sql(&img.created_at),
        now,
        img.deleted_at.as_ref().map(ts_sql),
        img.deleted as i64,
        img.disk_format.as_deref(),
        img.container_format.as_deref(),
        img.checksum.as_deref(),
        img.owner.as_ref().map(|o| o.to_string()),
        i64::from(img.min_disk),
        i64::from(img.min_ram),
        img.protected as i64,
        vsize,
        if img.is_public { "public" } else { "shared" },
    ])?;

    // Properties: every row of the image, deleted ones too (a name coming back revives its
    // row: (image_id, name) is unique).
    let rows: Vec<(String, Option<String>, bool)> = tx
        .prepare_cached("SELECT name, value, deleted FROM image_properties WHERE image_id = ?1")?
        .query_map([id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0))
        })?
        .collect::<Result<_, _>>()?;
    // A deleted image's properties and members are soft-deleted with it, as Glance's
    // image_destroy does (neither is served for a deleted image).
    let props: &[crate::model::Property] = if img.deleted { &[] } else { &img.properties };
    for (k, v) in props.iter() {
        match rows.iter().find(|(n, _, _)| n == &**k) {
            Some((_, old, false)) if old.as_deref() == v.as_deref() => {}
            Some(_) => {
                tx.prepare_cached(
                    "UPDATE image_properties SET value = ?3, updated_at = ?4, deleted = 0, \
                     deleted_at = NULL WHERE image_id = ?1 AND name = ?2",
                )?
                .execute(params![id, &**k, v.as_deref(), now])?;
            }
            None => {
                tx.prepare_cached(
                    "INSERT INTO image_properties (image_id, name, value, created_at, \
                     updated_at, deleted) VALUES (?1, ?2, ?3, ?4, ?4, 0)",
                )?
                .execute(params![id, &**k, v.as_deref(), now])?;
            }
        }
    }
    for (name, _, deleted) in &rows {
        if !deleted && !props.iter().any(|(k, _)| &**k == name) {
            tx.prepare_cached(
                "UPDATE image_properties SET deleted = 1, deleted_at = ?3, updated_at = ?3 \
                 WHERE image_id = ?1 AND name = ?2",
            )?
            .execute(params![id, name, gone_at])?;
        }
    }

    put_members(tx, img, &now)?;

    // Location: a live record's local file is its one live location; a deleted record has
    // none (Glance deletes it with the image). A record without bytes leaves whatever
    // location a real Glance wrote (an http or swift URL the emulator cannot serve).
    let want_loc: Option<String> = match (&*img.data, img.deleted) {
        (_, true) => None,
        (ImageData::File { path, .. }, false) => Some(format!("file://{}", path.display())),
        (_, false) => return Ok(()),
    };
    let live: Vec<(i64, String)> = tx
        .prepare_cached(
            "SELECT id, value FROM image_locations WHERE image_id = ?1 AND deleted = 0 ORDER BY id",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if live.len() == 1 && Some(&live[0].1) == want_loc.as_ref() {
        return Ok(());
    }
    if live.is_empty() && want_loc.is_none() {
        return Ok(());
    }
    let status = if img.status == Status::PendingDelete {
        "pending_delete"
    } else {
        "deleted"
    };
    tx.prepare_cached(
        "UPDATE image_locations SET deleted = 1, deleted_at = ?2, updated_at = ?2, status = ?3 \
         WHERE image_id = ?1 AND deleted = 0",
    )?
    .execute(params![id, gone_at, status])?;
    if let Some(v) = want_loc {
        tx.prepare_cached(
            "INSERT INTO image_locations (image_id, value, created_at, updated_at, deleted, \
             meta_data, status) VALUES (?1, ?2, ?3, ?3, 0, '{}', 'active')",
        )?
        .execute(params![id, v, now])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    /// (row id, member, deleted) of every member row of `i`, live and soft-deleted.
    fn member_rows_of(i: &Image) -> Vec<(u32, String, bool)> {
        i.members
            .rows()
            .into_iter()
            .map(|r| (r.id, r.member.member_id, r.deleted))
            .collect()
    }

    /// The first column of every row `sql` selects.
    fn column<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Vec<T> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn img(id: &str) -> Image {
        Image::new(ImageId::new(id).unwrap(), ts("2026-11-22T13:40:23.526723"))
    }

    fn rich() -> Vec<Image> {
        let mut a = img("11111111-1111-1111-1111-111111111111");
        a.name = Some("queued one".into());
        a.disk_format = Some("raw".into());
        a.container_format = Some("bare".into());
        a.min_disk = 3;
        a.min_ram = 512;
        a.owner = Some("tenant-a".into());
        a.updated_at = ts("2026-11-22T13:40:23.000001");
        a.set_property("os_distro".into(), Some("ubuntu".into()));
        a.set_property("null_one".into(), None);
        a.set_property("naïve".into(), Some("café".into()));
        let mut b = img("22222222-2222-2222-2222-222222222222");
        b.status = Status::Active;
        b.is_public = true;
        b.protected = true;
        b.size = Some(18);
        b.virtual_size = Some(1 << 40);
        b.checksum = Checksum::new("92156da63dd97f86b83b0d2a08c51b22");
        b.data = ImageData::Bytes(Box::new(Bytes::from_static(b"hello glance bytes"))).into();
        b.members = vec![
            Member {
                member_id: "tenant-c".into(),
                can_share: false,
            },
            Member {
                member_id: "tenant-b".into(),
                can_share: true,
            },
        ]
        .into();
        let mut c = img("33333333-3333-3333-3333-333333333333");
        c.status = Status::Deleted;
        c.deleted = true;
        c.deleted_at = Some(ts("2026-11-23T00:00:00.000000"));
        c.size = None;
        c.name = None;
        let mut d = img("not-a-uuid");
        d.status = Status::Killed;
        d.size = Some(999);
        vec![a, b, c, d]
    }

    fn dump(images: &[Image]) -> Vec<String> {
        let mut v: Vec<String> = images.iter().map(|i| format!("{i:?}")).collect();
        v.sort();
        v
    }

    fn reload(dir: &Path) -> Vec<Image> {
        Db::open(dir)
            .unwrap()
            .load(&mut Interner::default())
            .unwrap()
            .images
            .into_iter()
            .map(Arc::unwrap_or_clone)
            .collect()
    }

    // Rule: A new state directory gets Glance 15's registry schema exactly (40 statements, visibility column, revision pike01) and an images/ folder.
    #[test]
    fn fresh_database_has_the_pike_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let sql: Vec<String> = column(
            &db.conn,
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid",
        );
        assert_eq!(sql.len(), 40);
        assert!(sql[0].starts_with("CREATE TABLE migrate_version ("));
        assert!(sql
            .iter()
            .any(|s| s.contains("visibility VARCHAR(9) DEFAULT 'shared' NOT NULL")));
        let rev: String = db
            .conn
            .query_row("SELECT version_num FROM alembic_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rev, "pike01");
        assert!(dir.path().join("images").is_dir());
    }

    // Rule: Every field of a record comes back from the database unchanged; bytes move to images/<id> and the rows are the ones Glance writes (visibility, SQL timestamps, file:// location).
    #[test]
    fn every_field_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let mut puts = rich();
        db.commit(&mut puts, &[]).unwrap();
        // The bytes were written to images/<id> and the record now names that file.
        let target = dir
            .path()
            .join("images/22222222-2222-2222-2222-222222222222");
        assert_eq!(std::fs::read(&target).unwrap(), b"hello glance bytes");
        match &*puts[1].data {
            ImageData::File { path, len } => {
                assert_eq!(**path, target);
                assert_eq!(*len, 18);
            }
            other => panic!("{other:?}"),
        }
        drop(db);
        assert_eq!(dump(&reload(dir.path())), dump(&puts));
        // The rows are the ones Glance writes.
        let db = Db::open(dir.path()).unwrap();
        let (vis, created): (String, String) = db
            .conn
            .query_row(
                "SELECT visibility, created_at FROM images WHERE id = '22222222-2222-2222-2222-222222222222'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(vis, "public");
        assert_eq!(created, "2026-11-22 13:40:23.526723");
        let loc: String = db
            .conn
            .query_row("SELECT value FROM image_locations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(loc, format!("file://{}", target.display()));
    }

    // Rule: Updates soft-delete removed property and member rows and revive them in place when they come back (members keep their place); a restart loads the deleted member rows the registry's calls can still find.
    #[test]
    fn updates_soft_delete_and_keep_member_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let mut puts = rich();
        db.commit(&mut puts, &[]).unwrap();
        let row_of = |i: &Image, m: &str| {
            i.members
                .rows()
                .into_iter()
                .find(|r| r.member.member_id == m)
                .unwrap()
                .id
        };
        let mut a = puts[0].clone();
        a.updated_at = ts("2026-11-24T01:02:03.000004");
        a.remove_property("os_distro");
        a.set_property("new".into(), Some("1".into()));
        let mut b = puts[1].clone();
        b.members.soft_delete(row_of(&b, "tenant-c"));
        b.members.push(Member {
            member_id: "tenant-d".into(),
            can_share: false,
        });
        b.members[0].can_share = false;
        b.is_public = false;
        let mut two = [a, b];
        db.commit(&mut two, &[]).unwrap();
        let [a, b] = two;
        // Back again: the deleted property row revives, and so does the member's row, in
        // its old place (the registry's image_member_update).
        let mut a2 = a.clone();
        a2.set_property("os_distro".into(), Some("debian".into()));
        let mut b2 = b.clone();
        b2.members.update_row(row_of(&b, "tenant-c"), true);
        let mut two = [a2, b2];
        db.commit(&mut two, &[]).unwrap();
        let [a2, b2] = two;
        let members: Vec<&str> = b2.members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(members, ["tenant-c", "tenant-b", "tenant-d"]);
        let count =
            |db: &Db, sql: &str| -> i64 { db.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM image_properties WHERE deleted = 1"
            ),
            0
        );
        assert_eq!(
            count(&db, "SELECT count(*) FROM image_members WHERE deleted = 1"),
            0
        );
        assert_eq!(count(&db, "SELECT count(*) FROM image_members"), 3);
        drop(db);
        let got = reload(dir.path());
        let want = vec![a2, b2.clone(), puts[2].clone(), puts[3].clone()];
        assert_eq!(dump(&got), dump(&want));
        let b_got = got.iter().find(|i| i.id == b2.id).unwrap();
        assert_eq!(b_got.members, b2.members);
        // Deleted rows come back after a restart: a member removed twice at the same
        // instant (a list naming it twice) keeps both rows in the database (the second a
        // microsecond later), and a restart loads the one the registry can still find.
        let mut db = Db::open(dir.path()).unwrap();
        let mut b3 = b2.clone();
        b3.members.soft_delete(row_of(&b3, "tenant-d"));
        b3.members.push(Member {
            member_id: "tenant-e".into(),
            can_share: false,
        });
        b3.members.push(Member {
            member_id: "tenant-e".into(),
            can_share: true,
        });
        db.commit(std::slice::from_mut(&mut b3), &[]).unwrap();
        for r in b3.members.rows() {
            if r.member.member_id == "tenant-e" {
                b3.members.soft_delete(r.id);
            }
        }
        db.commit(std::slice::from_mut(&mut b3), &[]).unwrap();
        assert_eq!(
            count(&db, "SELECT count(*) FROM image_members WHERE deleted = 1"),
            3
        );
        drop(db);
        let got = reload(dir.path());
        let b_got = got.iter().find(|i| i.id == b3.id).unwrap();
        let mut want_rows = member_rows_of(&b3);
        let second_e = want_rows.iter().rposition(|r| r.1 == "tenant-e").unwrap();
        want_rows.remove(second_e);
        assert_eq!(member_rows_of(b_got), want_rows);
        // Members in a new order (a record replaced outright) are written again in that
        // order.
        let mut db = Db::open(dir.path()).unwrap();
        let mut b4 = b_got.clone();
        b4.members.reverse();
        db.commit(std::slice::from_mut(&mut b4), &[]).unwrap();
        drop(db);
        let got = reload(dir.path());
        let b_got = got.iter().find(|i| i.id == b4.id).unwrap();
        assert_eq!(format!("{:?}", b_got.members), format!("{:?}", b4.members));
        assert_eq!(member_rows_of(b_got), member_rows_of(&b4));
    }

    // Rule: Member rows written by glance-emu before revivals were made in place (a revival as a new row, a reordered list rewritten) load as the record was, deleted images' member rows are not loaded, and the next write removes the leftovers.
    #[test]
    fn member_rows_of_earlier_versions_load_as_the_record_was() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let mut puts = rich();
        puts[1].members = Members::default();
        db.commit(&mut puts, &[]).unwrap();
        let (live, dead) = (&puts[1].id, &puts[2].id);
        // tenant-a and tenant-b: deleted rows (a removal, the rows retired by a reorder)
        // before the live rows written again; tenant-c: removed twice; tenant-x: a row of
        // the deleted image.
        let rows = [
            (live, "tenant-a", 1),
            (live, "tenant-b", 1),
            (live, "tenant-a", 0),
            (live, "tenant-b", 0),
            (live, "tenant-c", 1),
            (live, "tenant-c", 1),
            (dead, "tenant-x", 1),
        ];
        for (n, (image, member, deleted)) in rows.iter().enumerate() {
            db.conn
                .execute(
                    "INSERT INTO image_members (image_id, member, can_share, created_at, \
                     updated_at, deleted_at, deleted, status) VALUES (?1, ?2, 0, \
                     '2026-11-22 13:40:23.526723', NULL, CASE WHEN ?3 = 1 THEN ?4 END, ?3, \
                     'pending')",
                    params![
                        image.as_str(),
                        member,
                        deleted,
                        format!("2026-11-22 13:40:2{n}")
                    ],
                )
                .unwrap();
        }
        drop(db);
        let got = reload(dir.path());
        let by = |id: &ImageId| got.iter().find(|i| i.id == *id).unwrap().clone();
        let want = vec![
            (3, "tenant-a".to_string(), false),
            (4, "tenant-b".to_string(), false),
            (5, "tenant-c".to_string(), true),
        ];
        assert_eq!(member_rows_of(&by(live)), want);
        assert!(by(dead).members.rows().is_empty());
        // The next write of each image: the leftovers of the live image are removed; the
        // deleted image's rows stay as they are.
        let mut db = Db::open(dir.path()).unwrap();
        let mut two = [by(live), by(dead)];
        db.commit(&mut two, &[]).unwrap();
        let ids: Vec<i64> = column(&db.conn, "SELECT id FROM image_members ORDER BY id");
        assert_eq!(ids, [3, 4, 5, 7]);
        drop(db);
        assert_eq!(
            member_rows_of(&by(live)),
            member_rows_of(reload(dir.path()).iter().find(|i| i.id == *live).unwrap())
        );
    }

    // Rule: An upload is moved to the Glance path before its row commits; a delete removes the bytes and soft-deletes the location.
    #[test]
    fn uploads_move_to_the_glance_path_and_deletes_remove_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let tmp = db.images_dir().join("upload.tmp");
        std::fs::write(&tmp, b"abc").unwrap();
        let mut i = img("44444444-4444-4444-4444-444444444444");
        i.status = Status::Active;
        i.size = Some(3);
        i.data = ImageData::File {
            path: Arc::new(tmp.clone()),
            len: 3,
        }
        .into();
        let mut puts = vec![i];
        db.commit(&mut puts, &[]).unwrap();
        let target = db.image_path(&puts[0].id).unwrap();
        assert!(!tmp.exists());
        assert_eq!(std::fs::read(&target).unwrap(), b"abc");
        let mut del = puts[0].clone();
        del.deleted = true;
        del.status = Status::Deleted;
        del.deleted_at = Some(ts("2026-11-25T00:00:00"));
        db.commit(std::slice::from_mut(&mut del), &[]).unwrap();
        assert!(!target.exists());
        let (n, status): (i64, String) = db
            .conn
            .query_row("SELECT deleted, status FROM image_locations", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, status.as_str()), (1, "deleted"));
        drop(db);
        let got = reload(dir.path());
        assert!(got[0].deleted && got[0].data.is_none());
    }

    // Rule: Records removed outright leave tombstones (to hide fixtures) until the same id is written again.
    #[test]
    fn removes_leave_tombstones_until_put_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        db.commit(&mut rich(), &[]).unwrap();
        db.commit(&mut [], &["not-a-uuid".into(), "fixture-only".into()])
            .unwrap();
        drop(db);
        let db = Db::open(dir.path()).unwrap();
        let l = db.load(&mut Interner::default()).unwrap();
        assert_eq!(l.images.len(), 3);
        let mut removed = l.removed.clone();
        removed.sort();
        assert_eq!(removed, ["fixture-only", "not-a-uuid"]);
        drop(db);
        let mut db = Db::open(dir.path()).unwrap();
        db.commit(&mut [img("fixture-only")], &[]).unwrap();
        assert_eq!(
            db.load(&mut Interner::default()).unwrap().removed,
            ["not-a-uuid"]
        );
    }

    // Rule: A file that is not SQLite, a foreign database, another revision or a corrupt one is refused with one line naming the file.
    #[test]
    fn foreign_and_corrupt_files_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        std::fs::write(&path, b"this is not a database at all, just text\n").unwrap();
        let e = Db::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("glance.sqlite: not a SQLite database"), "{e}");
        assert!(!e.contains('\n'));

        std::fs::remove_file(&path).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE notes (x TEXT)").unwrap();
        drop(c);
        let e = Db::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.ends_with("not a Glance registry database (no table 'images')"),
            "{e}"
        );

        let c = Connection::open(&path).unwrap();
        c.execute_batch("DROP TABLE notes").unwrap();
        drop(c);
        Db::open(dir.path()).unwrap();
        let c = Connection::open(&path).unwrap();
        c.execute_batch("UPDATE alembic_version SET version_num = 'queens_contract01'")
            .unwrap();
        drop(c);
        let e = Db::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("revision 'queens_contract01' is not pike01"),
            "{e}"
        );

        // A valid header with garbage after it.
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
        std::fs::remove_file(dir.path().join("glance.sqlite-wal")).ok();
        std::fs::remove_file(dir.path().join("glance.sqlite-shm")).ok();
        std::fs::write(&path, bytes).unwrap();
        let e = Db::open(dir.path()).unwrap_err().to_string();
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(!e.contains('\n'));
    }

    // Rule: A database moved away or replaced while serving refuses writes and fails the health check.
    #[test]
    fn a_replaced_or_removed_database_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        db.check().unwrap();
        std::fs::rename(dir.path().join(DB_FILE), dir.path().join("moved")).unwrap();
        let e = db.commit(&mut rich(), &[]).unwrap_err().to_string();
        assert!(e.contains("the database is gone"), "{e}");
        std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
        let e = db.check().unwrap_err().to_string();
        assert!(e.contains("replaced while serving"), "{e}");
    }

    // Rule: Child rows join their own image whatever order they were written in (the
    // next-row guess of the loader only ever shortcuts the hash lookup); rows of an image
    // that is not there are skipped.
    #[test]
    fn child_rows_in_any_order_join_their_image() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::open(dir.path()).unwrap();
        let mut puts = rich();
        db.commit(&mut puts, &[]).unwrap();
        db.conn
            .execute_batch(
                "INSERT INTO image_properties (image_id, name, value, created_at, deleted) \
                 SELECT image_id, name || '_again', value, created_at, 0 FROM image_properties \
                 WHERE deleted = 0 ORDER BY image_id DESC, name DESC; \
                 INSERT INTO image_properties (image_id, name, value, created_at, deleted) \
                 VALUES ('no-such-image', 'x', 'y', '2026-01-01 00:00:00', 0);",
            )
            .unwrap();
        drop(db);
        let got = reload(dir.path());
        for want in &puts {
            let img = got.iter().find(|i| i.id == want.id).unwrap();
            let mut expect: Vec<(String, Option<String>)> = Vec::new();
            for (k, v) in want.properties.iter() {
                let v = v.as_deref().map(str::to_string);
                expect.push((k.to_string(), v.clone()));
                expect.push((format!("{k}_again"), v));
            }
            expect.sort();
            let have: Vec<(String, Option<String>)> = img
                .properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_deref().map(str::to_string)))
                .collect();
            assert_eq!(have, expect, "{}", want.id);
        }
    }

    // Rule: Rows a real Glance 15 wrote load as Glance serves them.
    #[test]
    fn rows_written_by_glance_load_as_glance_serves_them() {
        // `sqlite3 glance.sqlite .dump` of a real Glance 15 after creates, an upload, an
        // update with purge-props, shares, an unshare, a delete, a member list replacement
        // and a killed upload (see tests/fixtures/glance15-registry.sql).
        let dir = tempfile::tempdir().unwrap();
        let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
        c.execute_batch(include_str!("../../../tests/fixtures/glance15-registry.sql"))
            .unwrap();
        drop(c);
        let db = Db::open(dir.path()).unwrap();
        let l = db.load(&mut Interner::default()).unwrap();
        assert_eq!(l.images.len(), 7);
        let by = |name: &str| {
            l.images
                .iter()
                .find(|i| i.name.as_deref() == Some(name))
                .unwrap()
        };
        let three = by("shared-three-renamed");
        let props: Vec<_> = three
            .properties
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(props, ["b=22", "c=3"]);
        let members: Vec<_> = three
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m.can_share))
            .collect();
        assert_eq!(members, [("tenant-c", false), ("tenant-d", true)]);
        assert_eq!(three.owner, Some("tenant-b".into()));
        assert!(matches!(&*three.data, ImageData::File { path, len: 3 }
            if path.ends_with("images/08301e75-bc13-400a-9518-dbc431d681eb")));
        let four = by("deleted-four");
        assert!(four.deleted && four.properties.is_empty() && four.members.is_empty());
        assert!(four.data.is_none());
        assert_eq!(four.status, Status::Deleted);
        assert_eq!(four.size, Some(15));
        assert_eq!(
            four.deleted_at.unwrap().glance(),
            "2026-12-03T09:31:22.410268"
        );
        let two = by("active-two");
        assert!(two.is_public && two.protected);
        let five = by("members-five");
        let members: Vec<_> = five.members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(members, ["t2", "t3"]);
        assert_eq!(by("killed-six").status, Status::Killed);
        assert_eq!(by("queued-one").min_ram, 512);
    }
}
