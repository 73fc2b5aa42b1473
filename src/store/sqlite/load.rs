//! Loading a state directory at start-up: every image row and its live child rows
//! (properties, members, locations) read in rowid order and joined to their image.

use super::*;

impl Db {
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
        // (put_image) finds each row again. A deleted image's rows are loaded as any
        // other's: a delete soft-deleted them, but a record created deleted keeps the live
        // rows added to it, and admins' member calls still reach it. Of a member's
        // soft-deleted rows only the lowest is kept, and none when the member has a live
        // row:
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
}
