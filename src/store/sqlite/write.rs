//! Writing one set of changes: bytes placed and synced first, then the rows as one
//! transaction (the image, its properties, members and location brought in line with the
//! record, soft deletes for what went away).

use super::*;

impl Db {
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
    // A deleted image's rows as the record has them, as for any other: a delete
    // soft-deleted them in the record (Glance's image_destroy), and a record created
    // deleted keeps the live rows added to it since (the registry's create touched none).
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
                // The row keeps the number the store gave it (rows are numbered across
                // the catalogue in the order they were added, fixtures' first, and
                // `GET /v1/shared-images` lists them in that order) unless the database
                // already has a row with it; then SQLite gives the next free one (NULL).
                let want = i64::from(r.id);
                let taken = want <= 0
                    || tx
                        .prepare_cached("SELECT 1 FROM image_members WHERE id = ?1")?
                        .exists([want])?;
                tx.prepare_cached(
                    "INSERT INTO image_members (id, image_id, member, can_share, created_at, \
                     updated_at, deleted_at, deleted, status) \
                     VALUES (?7, ?1, ?2, ?3, ?4, coalesce(?5, ?4), ?5, ?6, 'pending')",
                )?
                .execute(params![
                    id,
                    m.member_id,
                    m.can_share as i64,
                    now,
                    gone,
                    r.deleted as i64,
                    (!taken).then_some(want)
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
    // The record's properties as they are: a delete cleared them in the record (Glance's
    // image_destroy soft-deletes the rows), a record created deleted keeps its own.
    let props: &[crate::model::Property] = &img.properties;
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
