//! What an image *is*: the Glance v1 record (the 18 registry fields plus members and
//! the bytes behind it), its status values and timestamp format. No HTTP types here.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;

mod owner;
mod timestamp;
pub use owner::{Owner, OwnerText};
pub use timestamp::Timestamp;

/// Text of at most `N` bytes stored inline: no heap block for fields that are short and
/// present on nearly every record (the id, the checksum).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InlineStr<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    /// `None` when `s` is longer than `N` bytes.
    pub fn new(s: &str) -> Option<Self> {
        if s.len() > N || N > u8::MAX as usize {
            return None;
        }
        let mut buf = [0u8; N];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Some(InlineStr {
            len: s.len() as u8,
            buf,
        })
    }

    /// The text's bytes, without the UTF-8 check [`InlineStr::as_str`] pays for (hashing
    /// and comparing ids in the store's table).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Built only from a `&str` cut at its own length, so always valid UTF-8.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl<const N: usize> std::ops::Deref for InlineStr<N> {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> std::borrow::Borrow<str> for InlineStr<N> {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for InlineStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> PartialEq<str> for InlineStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for InlineStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> PartialEq<String> for InlineStr<N> {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> serde::Serialize for InlineStr<N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// An image id: Glance never finds ids longer than 36 characters.
pub type ImageId = InlineStr<36>;

/// An MD5 checksum as Glance stored it (at most 32 characters).
pub type Checksum = InlineStr<32>;

/// Image status values Glance v1 could report (v2's `importing`/`uploading` included, since a
/// v1 HEAD shows whatever the registry holds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Reserved, no data yet.
    Queued,
    /// Data upload in progress.
    Saving,
    /// Usable.
    Active,
    /// Upload failed.
    Killed,
    /// Admin-disabled download (v2 action, v1 only reports it).
    Deactivated,
    /// Deleted with `delayed_delete`, data not yet scrubbed.
    PendingDelete,
    /// Soft-deleted.
    Deleted,
    /// v2 interoperable import in progress.
    Importing,
    /// v2 staging upload in progress.
    Uploading,
}

impl Status {
    /// Every status, for messages listing the allowed values.
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Saving,
        Status::Active,
        Status::Killed,
        Status::Deactivated,
        Status::PendingDelete,
        Status::Deleted,
        Status::Importing,
        Status::Uploading,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Saving => "saving",
            Status::Active => "active",
            Status::Killed => "killed",
            Status::Deactivated => "deactivated",
            Status::PendingDelete => "pending_delete",
            Status::Deleted => "deleted",
            Status::Importing => "importing",
            Status::Uploading => "uploading",
        }
    }

    /// Parses the wire spelling (exact, lower case).
    pub fn parse(s: &str) -> Option<Self> {
        // A `match` on the literals (compared inline), not a walk over `ALL`.
        Some(match s {
            "queued" => Status::Queued,
            "saving" => Status::Saving,
            "active" => Status::Active,
            "killed" => Status::Killed,
            "deactivated" => Status::Deactivated,
            "pending_delete" => Status::PendingDelete,
            "deleted" => Status::Deleted,
            "importing" => Status::Importing,
            "uploading" => Status::Uploading,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One image membership (`{"member_id": ..., "can_share": ...}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The tenant the image is shared with.
    pub member_id: String,
    /// Whether that tenant may share it further.
    pub can_share: bool,
}

/// Where an image's bytes come from.
#[derive(Debug, Clone, Default)]
pub enum ImageData {
    /// No data (queued images, or records that never had bytes).
    #[default]
    None,
    /// Bytes held in memory (small fixture data given as base64). Boxed, like the other
    /// payloads, so that the common no-data record pays for a pointer, not a buffer handle.
    Bytes(Box<Bytes>),
    /// `text` repeated and cut to `len` bytes, generated while streaming so that a fixture
    /// can describe a multi-GiB image without holding it.
    Repeat {
        /// The repeated unit (never empty).
        unit: Box<Bytes>,
        /// Total length.
        len: u64,
    },
    /// A file on disk (fixture `{"file": ...}` or an uploaded image).
    File {
        /// Absolute path.
        path: Arc<PathBuf>,
        /// Length when the record was loaded or written.
        len: u64,
    },
}

/// Whole repetitions of `unit` making at least `at_least` bytes (one, if `unit` is longer):
/// a block that can be emitted or hashed again and again and stay aligned to the pattern.
pub fn repeat_block(unit: &[u8], at_least: usize) -> Vec<u8> {
    let reps = at_least.div_ceil(unit.len().max(1)).max(1);
    unit.iter()
        .copied()
        .cycle()
        .take(reps * unit.len())
        .collect()
}

impl ImageData {
    /// The length the data had when it was attached to the record.
    pub fn len(&self) -> Option<u64> {
        match self {
            ImageData::None => None,
            ImageData::Bytes(b) => Some(b.len() as u64),
            ImageData::Repeat { len, .. } => Some(*len),
            ImageData::File { len, .. } => Some(*len),
        }
    }

    /// True when the data is zero bytes long or absent.
    pub fn is_empty(&self) -> bool {
        self.len().unwrap_or(0) == 0
    }

    /// True when there are no bytes at all.
    pub fn is_none(&self) -> bool {
        matches!(self, ImageData::None)
    }
}

/// An image name: text of up to 24 bytes is held inline.
pub type Name = compact_str::CompactString;

/// One property: key and value (`None`: stored as null).
pub type Property = (Arc<str>, Option<Arc<str>>);

/// Most bytes the `X-Image-Meta-Name` and `X-Image-Meta-Property-*` lines of one record
/// may take (name, `: `, value, CRLF each). Checked when records are loaded (fixtures and
/// the control API): far below hyper's 32,768-header limit (each line is at least 27
/// bytes), and a response head any HTTP client can still read.
pub const MAX_RECORD_HEADER_BYTES: usize = 256 * 1024;

/// What HTTP (and `HeaderValue`) accepts in a header value: visible ASCII, space, tab and
/// obs-text. Rendering leaves out a value that fails it; the loader refuses such a field.
/// No early exit: the whole-slice form vectorises (start-up checks four fields of a
/// million records with it; invalid values never happen in practice).
#[inline]
pub fn header_value_ok(v: &[u8]) -> bool {
    v.iter().fold(true, |ok, &b| {
        ok & (((b >= 32) & (b != 127)) | (b == b'\t'))
    })
}

/// The bytes [`MAX_RECORD_HEADER_BYTES`] counts for a record with this name and these
/// properties (a null property value counts as `None`, four bytes).
pub fn record_header_bytes<'a>(
    name: Option<&str>,
    props: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> usize {
    let name = name.map_or(0, |n| "X-Image-Meta-Name: ".len() + n.len() + 2);
    name + props
        .into_iter()
        .map(|(k, v)| "X-Image-Meta-Property-".len() + k.len() + 2 + v.map_or(4, str::len) + 2)
        .sum::<usize>()
}

/// Puts `(key, value)` into a list kept sorted by key; a key already there gets the new
/// value (the last of repeated keys wins, as in a map).
pub fn upsert_sorted<K: std::ops::Deref<Target = str>, V>(
    list: &mut Vec<(K, V)>,
    key: K,
    value: V,
) {
    match list.binary_search_by(|(k, _)| (**k).cmp(&*key)) {
        Ok(i) => list[i].1 = value,
        Err(i) => list.insert(i, (key, value)),
    }
}

/// A record's custom properties, sorted by key. The list is shared (an `Arc`) between
/// records that have the same one, and copied on write.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties(Option<Arc<[Property]>>);

impl Properties {
    /// Properties already sorted by key (as the loader builds them).
    pub fn from_sorted(list: Arc<[Property]>) -> Self {
        Properties((!list.is_empty()).then_some(list))
    }

    /// The shared list, if any (for interning).
    pub fn shared(&self) -> Option<&Arc<[Property]>> {
        self.0.as_ref()
    }

    /// Removes every property.
    pub fn clear(&mut self) {
        self.0 = None;
    }

    /// Changes the list through a `Vec` (a private copy: other records keep theirs).
    pub fn edit<R>(&mut self, f: impl FnOnce(&mut Vec<Property>) -> R) -> R {
        let mut v: Vec<Property> = self
            .0
            .as_deref()
            .map(<[Property]>::to_vec)
            .unwrap_or_default();
        let r = f(&mut v);
        self.0 = (!v.is_empty()).then(|| Arc::from(v));
        r
    }
}

impl std::ops::Deref for Properties {
    type Target = [Property];

    fn deref(&self) -> &[Property] {
        self.0.as_deref().unwrap_or(&[])
    }
}

impl<'a> IntoIterator for &'a Properties {
    type Item = &'a Property;
    type IntoIter = std::slice::Iter<'a, Property>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Vec<Property>> for Properties {
    /// Sorts by key; the last of equal keys wins.
    fn from(v: Vec<Property>) -> Self {
        let mut sorted = Vec::with_capacity(v.len());
        for (k, val) in v {
            upsert_sorted(&mut sorted, k, val);
        }
        Properties((!sorted.is_empty()).then(|| Arc::from(sorted)))
    }
}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A record's memberships: one thin pointer, and nothing allocated for the usual none.
/// Dereferences to the live rows in the registry's row order; rows soft-deleted by member
/// calls are kept aside (with their row ids) for the registry's `include_deleted` lookups,
/// which revive them in place. Row ids only order an image's rows; with `--persist` they are
/// the database's `image_members` ids.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Members(Option<Box<MemberList>>);

/// The rows behind [`Members`] (a named type: a thin pointer).
#[derive(Clone, Default, PartialEq, Eq)]
struct MemberList {
    /// Live rows, in row-id order.
    live: Vec<Member>,
    /// Row ids of `live`, increasing.
    ids: Vec<u32>,
    /// Soft-deleted rows: (row id, member).
    gone: Vec<(u32, Member)>,
}

/// One membership row as the registry's `image_members` table held it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The row id (insertion order).
    pub id: u32,
    /// The membership.
    pub member: Member,
    /// Soft-deleted.
    pub deleted: bool,
}

impl Members {
    fn list(&mut self) -> &mut MemberList {
        self.0.get_or_insert_with(Box::default)
    }

    /// Drops the allocation when no row (live or deleted) is left.
    fn tidy(&mut self) {
        if self
            .0
            .as_ref()
            .is_some_and(|l| l.live.is_empty() && l.gone.is_empty())
        {
            self.0 = None;
        }
    }

    fn next_id(&self) -> u32 {
        self.max_row() + 1
    }

    /// Whether there is any row, live or soft-deleted.
    pub fn has_rows(&self) -> bool {
        self.0.is_some()
    }

    /// The highest row id, live or soft-deleted (0 without rows).
    pub fn max_row(&self) -> u32 {
        self.0.as_ref().map_or(0, |l| {
            let live = l.ids.last().copied().unwrap_or(0);
            let gone = l.gone.iter().map(|(i, _)| *i).max().unwrap_or(0);
            live.max(gone)
        })
    }

    /// Gives the rows above `old_max` (the ones added since the record's highest row was
    /// `old_max`) the ids after `*last`, in their order, and advances `*last`: the store
    /// numbers rows across the whole catalogue in the order they were added, as the
    /// registry's `image_members` table does, because `GET /v1/shared-images` lists them
    /// in that order. Rows at or below `old_max` keep their ids, which must be below
    /// `*last`.
    pub fn number_rows_after(&mut self, old_max: u32, last: &mut u32) {
        let Some(l) = self.0.as_deref() else {
            return;
        };
        let mut new: Vec<u32> = l
            .ids
            .iter()
            .copied()
            .chain(l.gone.iter().map(|(i, _)| *i))
            .filter(|&i| i > old_max)
            .collect();
        if new.is_empty() {
            return;
        }
        new.sort_unstable();
        let base = *last;
        *last = base.saturating_add(new.len() as u32);
        self.renumber(|old| match new.binary_search(&old) {
            Ok(rank) => base.saturating_add(rank as u32 + 1),
            Err(_) => old,
        });
    }

    /// Live rows with their row ids, in row-id order.
    pub fn live_rows(&self) -> impl Iterator<Item = (u32, &Member)> {
        self.0
            .as_deref()
            .into_iter()
            .flat_map(|l| l.ids.iter().copied().zip(&l.live))
    }

    /// Adds a membership as a new row at the end.
    pub fn push(&mut self, m: Member) {
        let id = self.next_id();
        let l = self.list();
        l.live.push(m);
        l.ids.push(id);
    }

    /// Keeps the live memberships `f` accepts (the others are dropped, not soft-deleted).
    pub fn retain(&mut self, mut f: impl FnMut(&Member) -> bool) {
        if let Some(l) = self.0.as_deref_mut() {
            let keep: Vec<bool> = l.live.iter().map(&mut f).collect();
            let mut k = keep.iter();
            l.live.retain(|_| *k.next().unwrap_or(&true));
            let mut k = keep.iter();
            l.ids.retain(|_| *k.next().unwrap_or(&true));
        }
        self.tidy();
    }

    /// Removes and returns the live membership at `i` (which must exist).
    pub fn remove(&mut self, i: usize) -> Member {
        let l = self.list();
        l.ids.remove(i);
        let m = l.live.remove(i);
        self.tidy();
        m
    }

    /// Every row, live and soft-deleted, in row-id order.
    pub fn rows(&self) -> Vec<MemberRow> {
        let Some(l) = self.0.as_deref() else {
            return Vec::new();
        };
        let mut out: Vec<MemberRow> = l
            .ids
            .iter()
            .zip(&l.live)
            .map(|(&id, m)| MemberRow {
                id,
                member: m.clone(),
                deleted: false,
            })
            .chain(l.gone.iter().map(|(id, m)| MemberRow {
                id: *id,
                member: m.clone(),
                deleted: true,
            }))
            .collect();
        out.sort_by_key(|r| r.id);
        out
    }

    /// Rows as a database holds them: (row id, membership, soft-deleted), row ids
    /// increasing. Nothing is allocated for no rows, nor for the soft-deleted list when no
    /// row is deleted.
    pub fn from_rows(rows: impl IntoIterator<Item = (u32, Member, bool)>) -> Self {
        let rows = rows.into_iter();
        let mut l = MemberList::default();
        // A list without deleted rows is allocated at its exact size, as `From<Vec>` does.
        l.live.reserve_exact(rows.size_hint().0);
        l.ids.reserve_exact(rows.size_hint().0);
        for (id, m, deleted) in rows {
            if deleted {
                l.gone.push((id, m));
            } else {
                l.ids.push(id);
                l.live.push(m);
            }
        }
        if !l.gone.is_empty() {
            l.live.shrink_to_fit();
            l.ids.shrink_to_fit();
            l.gone.shrink_to_fit();
        }
        let mut ms = Members(Some(Box::new(l)));
        ms.tidy();
        ms
    }

    /// Gives every row a new id, `f(old id)`; `f` must keep the ids' order (the writer
    /// of `--persist` numbers the rows as the database did).
    pub fn renumber(&mut self, mut f: impl FnMut(u32) -> u32) {
        if let Some(l) = self.0.as_deref_mut() {
            for id in l.ids.iter_mut().chain(l.gone.iter_mut().map(|(id, _)| id)) {
                *id = f(*id);
            }
        }
    }

    /// Soft-deletes the live row `id` (the registry's `image_member_delete`).
    pub fn soft_delete(&mut self, id: u32) {
        if let Some(l) = self.0.as_deref_mut() {
            if let Some(i) = l.ids.iter().position(|&x| x == id) {
                l.ids.remove(i);
                let m = l.live.remove(i);
                l.gone.push((id, m));
            }
        }
    }

    /// Soft-deletes every live row (the registry's image destroy).
    pub fn soft_delete_all(&mut self) {
        if let Some(l) = self.0.as_deref_mut() {
            let ids = std::mem::take(&mut l.ids);
            let live = std::mem::take(&mut l.live);
            l.gone.extend(ids.into_iter().zip(live));
        }
    }

    /// The registry's `image_member_update`: sets `can_share` and un-deletes the row.
    pub fn update_row(&mut self, id: u32, can_share: bool) {
        let Some(l) = self.0.as_deref_mut() else {
            return;
        };
        if let Some(i) = l.ids.iter().position(|&x| x == id) {
            l.live[i].can_share = can_share;
            return;
        }
        if let Some(g) = l.gone.iter().position(|(x, _)| *x == id) {
            let (_, mut m) = l.gone.remove(g);
            m.can_share = can_share;
            let at = l.ids.partition_point(|&x| x < id);
            l.ids.insert(at, id);
            l.live.insert(at, m);
        }
    }
}

impl std::ops::Deref for Members {
    type Target = [Member];

    fn deref(&self) -> &[Member] {
        self.0.as_deref().map_or(&[], |l| &l.live)
    }
}

impl std::ops::DerefMut for Members {
    fn deref_mut(&mut self) -> &mut [Member] {
        self.0.as_deref_mut().map_or(&mut [], |l| &mut l.live)
    }
}

impl From<Vec<Member>> for Members {
    fn from(v: Vec<Member>) -> Self {
        Members((!v.is_empty()).then(|| {
            let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
            Box::new(MemberList {
                ids: (1..=n).collect(),
                live: v,
                gone: Vec::new(),
            })
        }))
    }
}

impl FromIterator<Member> for Members {
    fn from_iter<I: IntoIterator<Item = Member>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl fmt::Debug for Members {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A record's bytes: one pointer for the usual none, the [`ImageData`] boxed otherwise.
#[derive(Clone, Default)]
pub struct Data(Option<Box<ImageData>>);

static NO_DATA: ImageData = ImageData::None;

impl std::ops::Deref for Data {
    type Target = ImageData;

    fn deref(&self) -> &ImageData {
        self.0.as_deref().unwrap_or(&NO_DATA)
    }
}

impl From<ImageData> for Data {
    fn from(d: ImageData) -> Self {
        match d {
            ImageData::None => Data(None),
            d => Data(Some(Box::new(d))),
        }
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A Glance v1 image record as the registry held it.
#[derive(Debug, Clone)]
pub struct Image {
    /// Image id (normally a UUID, but any string up to 36 characters works in Glance).
    pub id: ImageId,
    /// Display name (up to 24 bytes stored inline: most names need no heap block).
    pub name: Option<Name>,
    /// Lifecycle status.
    pub status: Status,
    /// Size in bytes as recorded (null only for v2-created images).
    pub size: Option<u64>,
    /// Virtual size (practically never set in v1).
    pub virtual_size: Option<u64>,
    /// MD5 hex digest of the data (at most 32 characters, as Glance enforced).
    pub checksum: Option<Checksum>,
    /// Disk format (`raw`, `qcow2`, ...). Shared text: a handful of values repeat across
    /// every record.
    pub disk_format: Option<Arc<str>>,
    /// Container format (`bare`, `ovf`, ...).
    pub container_format: Option<Arc<str>>,
    /// Minimum disk in GiB.
    pub min_disk: u32,
    /// Minimum RAM in MiB.
    pub min_ram: u32,
    /// Owning tenant (a hex tenant id inside the record, other text shared).
    pub owner: Option<Owner>,
    /// `visibility == public`.
    pub is_public: bool,
    /// Delete protection.
    pub protected: bool,
    /// Soft-delete flag.
    pub deleted: bool,
    /// When it was deleted.
    pub deleted_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update time.
    pub updated_at: Timestamp,
    /// Custom properties, sorted by key. A `None` value is a property stored as null.
    /// Keys and values are shared text, and so is the whole list among records that have
    /// the same one (interned at load time).
    pub properties: Properties,
    /// Tenants the image is shared with, in the order they were added.
    pub members: Members,
    /// The image bytes (`*img.data` is the [`ImageData`]).
    pub data: Data,
    /// Set at load time when `data` disagrees with `size` or `checksum`.
    pub data_mismatch: bool,
}

impl Image {
    /// A fresh record with Glance's defaults.
    pub fn new(id: ImageId, now: Timestamp) -> Self {
        Image {
            id,
            name: None,
            status: Status::Queued,
            size: Some(0),
            virtual_size: None,
            checksum: None,
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            owner: None,
            is_public: false,
            protected: false,
            deleted: false,
            deleted_at: None,
            created_at: now,
            updated_at: now,
            properties: Properties::default(),
            members: Members::default(),
            data: Data::default(),
            data_mismatch: false,
        }
    }

    /// Looks up a property value by exact key.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| &**k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Sets (or, with `None` value, sets to null) a property, keeping keys sorted.
    pub fn set_property(&mut self, key: Arc<str>, value: Option<Arc<str>>) {
        self.properties.edit(|v| upsert_sorted(v, key, value));
    }

    /// Removes a property; returns whether it existed.
    pub fn remove_property(&mut self, key: &str) -> bool {
        match self.properties.binary_search_by(|(k, _)| (**k).cmp(key)) {
            Ok(i) => {
                self.properties.edit(|v| {
                    v.remove(i);
                });
                true
            }
            Err(_) => false,
        }
    }
}

/// Hands out one shared copy of each distinct string (formats, owners, property keys and
/// values repeat across thousands of records) and of each distinct property list.
#[derive(Debug, Default)]
pub struct Interner {
    strings: std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>,
    /// Lists by a hash of their text: a list seen before is found without building (or
    /// interning the strings of) a new one. A hash shared by two different lists keeps
    /// the first; the second is simply not shared.
    lists: std::collections::HashMap<u64, Arc<[Property]>, foldhash::fast::RandomState>,
    seed: foldhash::fast::FixedState,
}

impl Interner {
    /// The shared copy of `s`.
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.strings.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&a));
        a
    }

    /// The shared copy of a property list given as text, already sorted by key with
    /// unique keys.
    pub fn property_list<'s, I>(&mut self, items: I) -> Properties
    where
        I: IntoIterator<Item = (&'s str, Option<&'s str>)>,
        I::IntoIter: Clone + ExactSizeIterator,
    {
        let items = items.into_iter();
        match self.known_list(items.clone()) {
            Ok(p) => p,
            Err(h) => self.add_list(h, items),
        }
    }

    /// The shared copy of a list (as for [`Interner::property_list`]) when this interner
    /// already holds the very same one, else the list's hash for [`Interner::add_list`].
    /// An empty list is always known.
    pub fn known_list<'s, I>(&self, items: I) -> Result<Properties, u64>
    where
        I: IntoIterator<Item = (&'s str, Option<&'s str>)>,
        I::IntoIter: Clone + ExactSizeIterator,
    {
        use std::hash::{BuildHasher, Hash, Hasher};
        let items = items.into_iter();
        if items.len() == 0 {
            return Ok(Properties::default());
        }
        let mut h = self.seed.build_hasher();
        for (k, v) in items.clone() {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        let h = h.finish();
        if let Some(a) = self.lists.get(&h) {
            let same = a.len() == items.len()
                && a.iter()
                    .zip(items)
                    .all(|((ak, av), (k, v))| &**ak == k && av.as_deref() == v);
            if same {
                return Ok(Properties::from_sorted(Arc::clone(a)));
            }
        }
        Err(h)
    }

    /// Builds and keeps a list [`Interner::known_list`] did not know (`h` is the hash it
    /// gave back).
    pub fn add_list<'s, I>(&mut self, h: u64, items: I) -> Properties
    where
        I: IntoIterator<Item = (&'s str, Option<&'s str>)>,
    {
        let list: Arc<[Property]> = items
            .into_iter()
            .map(|(k, v)| (self.get(k), v.map(|v| self.get(v))))
            .collect();
        self.lists.entry(h).or_insert_with(|| Arc::clone(&list));
        Properties::from_sorted(list)
    }
}

/// The recognised disk formats (Glance defaults).
pub const DISK_FORMATS: &[&str] = &[
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
];

/// The recognised container formats (Glance defaults).
pub const CONTAINER_FORMATS: &[&str] = &["ami", "ari", "aki", "bare", "ovf", "ova", "docker"];

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: Timestamps print as Glance printed them: six fraction digits, no zone.
    #[test]
    fn timestamp_has_six_fraction_digits_and_no_zone() {
        let t = Timestamp::parse("2016-05-22T06:04:20.425843").unwrap();
        assert_eq!(t.glance(), "2016-05-22T06:04:20.425843");
        let t = Timestamp::parse("2016-01-06T03:22:20").unwrap();
        assert_eq!(t.glance(), "2016-01-06T03:22:20.000000");
        let t = Timestamp::parse("2016-01-06T03:22:20.5Z").unwrap();
        assert_eq!(t.glance(), "2016-01-06T03:22:20.500000");
        let t = Timestamp::parse("0999-01-02 03:04:05.000001").unwrap();
        assert_eq!(t.glance(), "0999-01-02T03:04:05.000001");
        assert!(Timestamp::parse("yesterday").is_none());
        assert!(Timestamp::parse("2016-13-01T00:00:00").is_none());
    }

    // Rule: Every status parses back from its wire spelling.
    #[test]
    fn status_round_trips() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("ACTIVE"), None);
    }

    // Rule: A record's properties stay sorted by key through inserts and removals.
    #[test]
    fn properties_stay_sorted() {
        let mut img = Image::new(
            ImageId::new("x").unwrap(),
            Timestamp::parse("2020-01-01").unwrap(),
        );
        img.set_property("b".into(), Some("2".into()));
        img.set_property("a".into(), Some("1".into()));
        img.set_property("b".into(), Some("3".into()));
        assert_eq!(img.property("a"), Some("1"));
        assert_eq!(img.property("b"), Some("3"));
        assert_eq!(img.properties.len(), 2);
        let shared = img.clone();
        assert!(img.remove_property("a"));
        assert!(!img.remove_property("a"));
        // Copy on write: the other holder of the list keeps it.
        assert_eq!(shared.property("a"), Some("1"));
        assert!(img.remove_property("b"));
        assert!(img.properties.is_empty());
    }

    #[test]
    fn records_stay_small() {
        // Memory per record (issue 7): the record plus its Arc counts (16) plus glibc's
        // chunk header (8) must stay in a 288-byte malloc chunk; grow it only knowingly.
        assert!(
            std::mem::size_of::<Image>() <= 264,
            "{}",
            std::mem::size_of::<Image>()
        );
    }

    // Rule: Equal property lists are interned to one shared allocation.
    #[test]
    fn interned_lists_are_shared() {
        let mut i = Interner::default();
        let list = [("k", Some("v")), ("n", None)];
        let a = i.property_list(list);
        let b = i.property_list(list);
        assert!(Arc::ptr_eq(a.shared().unwrap(), b.shared().unwrap()));
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].1, None);
        let c = i.property_list([("k", Some("w"))]);
        assert_eq!(c[0].1.as_deref(), Some("w"));
        assert!(i.property_list([]).is_empty());
    }

    // Rule: Member rows keep registry row order: a soft-deleted row is kept aside, revived in
    // its old place by update_row, and retain/remove keep the row ids in step.
    #[test]
    fn member_rows_soft_delete_and_revive_in_place() {
        let m = |id: &str| Member {
            member_id: id.to_string(),
            can_share: false,
        };
        let mut ms: Members = vec![m("a"), m("b"), m("c")].into();
        let a_row = ms.rows()[0].id;
        ms.soft_delete(a_row);
        let live: Vec<&str> = ms.iter().map(|x| x.member_id.as_str()).collect();
        assert_eq!(live, ["b", "c"]);
        assert_eq!(ms.rows().len(), 3);
        assert!(ms.rows()[0].deleted);
        ms.push(m("d"));
        ms.update_row(a_row, true);
        let live: Vec<(&str, bool)> = ms
            .iter()
            .map(|x| (x.member_id.as_str(), x.can_share))
            .collect();
        assert_eq!(
            live,
            [("a", true), ("b", false), ("c", false), ("d", false)]
        );
        ms.retain(|x| x.member_id != "b");
        ms.remove(0);
        let ids: Vec<u32> = ms.rows().iter().map(|r| r.id).collect();
        assert_eq!(ids, [3, 4]);
        ms.soft_delete_all();
        assert!(ms.is_empty());
        assert_eq!(ms.rows().len(), 2);
    }
}
