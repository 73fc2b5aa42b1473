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
        let cannot =
            |e: std::io::Error| DbError::new(&self.dir, format!("cannot write here ({e})"));
        File::create(&probe).map_err(cannot)?;
        match std::fs::remove_file(&probe) {
            // Checks run concurrently (several probes at once): another one removed it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.map_err(cannot),
        }
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

mod load;
mod write;

#[cfg(test)]
mod tests;
