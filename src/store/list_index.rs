//! Ordered indexes for image lists (issue 17): one order per v1 `sort_key`, each the
//! records sorted by (key, `created_at`, `id`) as Glance's registry sorted them, so that a
//! page is a seek to the marker and a walk that stops after `limit` matches, at any
//! catalogue size.
//!
//! Layout, chosen for memory (the store's budget is 350 bytes per record, records take
//! about 306): every record indexed gets a handle, a slot in one table of `Arc<Image>`
//! (8 bytes); each order is a list of handles (3 bytes each) cut into blocks of at most
//! [`BLOCK`] (a two-level B-tree: a binary search over the blocks, then inside one), so an
//! insert or a removal moves at most a block, never the whole order. An order costs
//! 3 bytes per record and is built the first time a list asks for its key ([`ListIndex::ensure`]):
//! start-up does not pay for it, and keys nobody sorts by cost nothing. From then on every
//! write updates it in place ([`ListIndex::put`], [`ListIndex::remove`]).
//!
//! Comparisons read the records themselves (no key copies): a seek costs about 20 record
//! reads. The order of one key is *total*: (key, `created_at`, `id`), ids being unique;
//! descending pages walk the same order backwards, which is Glance's `sort_dir` applied to
//! all three columns.
//!
//! [`naive_page`] is the reference the indexes are tested against: filter everything, sort,
//! cut after the marker (what the v1 handler did before the indexes).

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::Image;

/// Most handles in one block: a block is 3 KiB, moved by an insert or removal.
pub const BLOCK: usize = 1024;

/// A `sort_key` v1 accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// `name` (null first).
    Name,
    /// `status` (as text).
    Status,
    /// `container_format` (null first).
    ContainerFormat,
    /// `disk_format` (null first).
    DiskFormat,
    /// `size` (null first).
    Size,
    /// `id`.
    Id,
    /// `created_at` (the default, descending).
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
}

impl SortKey {
    /// Every key, in the order of v1's "Acceptable values" message.
    pub const ALL: [SortKey; 8] = [
        SortKey::Name,
        SortKey::Status,
        SortKey::ContainerFormat,
        SortKey::DiskFormat,
        SortKey::Size,
        SortKey::Id,
        SortKey::CreatedAt,
        SortKey::UpdatedAt,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Status => "status",
            SortKey::ContainerFormat => "container_format",
            SortKey::DiskFormat => "disk_format",
            SortKey::Size => "size",
            SortKey::Id => "id",
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn slot(self) -> usize {
        self as usize
    }

    /// The key column alone. Strings compare as their bytes (SQL's order for Glance's
    /// ASCII values), a null before any value.
    pub fn cmp_key(self, a: &Image, b: &Image) -> Ordering {
        match self {
            SortKey::Name => a.name.as_deref().cmp(&b.name.as_deref()),
            SortKey::Status => a.status.as_str().cmp(b.status.as_str()),
            SortKey::ContainerFormat => a.container_format.cmp(&b.container_format),
            SortKey::DiskFormat => a.disk_format.cmp(&b.disk_format),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Id => a.id.as_str().cmp(b.id.as_str()),
            SortKey::CreatedAt => a.created_at.cmp(&b.created_at),
            SortKey::UpdatedAt => a.updated_at.cmp(&b.updated_at),
        }
    }

    /// The whole ascending order: the key, then `created_at`, then `id` (Glance's
    /// tie-breaks). Two different records never compare equal.
    pub fn cmp(self, a: &Image, b: &Image) -> Ordering {
        self.cmp_key(a, b)
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.id.as_str().cmp(b.id.as_str()))
    }

    /// [`SortKey::cmp`] in the direction of a page.
    pub fn cmp_dir(self, desc: bool, a: &Image, b: &Image) -> Ordering {
        let o = self.cmp(a, b);
        if desc {
            o.reverse()
        } else {
            o
        }
    }

    /// An order-preserving summary of the key for sorting at build time: `a < b` implies
    /// `prefix(a) <= prefix(b)`, and equal prefixes with `exact` mean equal keys.
    fn prefix(self, img: &Image) -> (u128, bool) {
        fn text(s: Option<&str>) -> (u128, bool) {
            let Some(s) = s else { return (0, true) };
            let b = s.as_bytes();
            let mut buf = [0u8; 16];
            buf[0] = 1;
            let n = b.len().min(14);
            buf[1..1 + n].copy_from_slice(&b[..n]);
            // Up to 14 bytes the length byte makes the encoding exact ("ab" < "ab\0");
            // longer text sorts after every shorter text with the same 14 bytes.
            let exact = b.len() <= 14;
            buf[15] = if exact { b.len() as u8 } else { 0xff };
            (u128::from_be_bytes(buf), exact)
        }
        fn num(v: Option<u64>) -> (u128, bool) {
            (v.map_or(0, |v| (1u128 << 64) | u128::from(v)), true)
        }
        match self {
            SortKey::Name => text(img.name.as_deref()),
            SortKey::Status => text(Some(img.status.as_str())),
            SortKey::ContainerFormat => text(img.container_format.as_deref()),
            SortKey::DiskFormat => text(img.disk_format.as_deref()),
            SortKey::Size => num(img.size),
            SortKey::Id => text(Some(img.id.as_str())),
            // Micros lose sub-microsecond digits (a fixture may have them): not exact.
            SortKey::CreatedAt => (u128::from(time_bits(img.created_at)), false),
            SortKey::UpdatedAt => (u128::from(time_bits(img.updated_at)), false),
        }
    }
}

/// A timestamp as an unsigned number in the same order (sign bit flipped).
fn time_bits(t: crate::model::Timestamp) -> u64 {
    (t.micros() as u64) ^ (1 << 63)
}

type Handle = u32;

/// A handle as it sits in an order: three bytes (an order costs 3 bytes per record), so at
/// most [`MAX_HANDLES`] records are indexed; past that the store drops the indexes and
/// lists sort again.
type Packed = [u8; 3];

/// Records the indexes can hold (2^24, about 16.7 million).
pub const MAX_HANDLES: usize = 1 << 24;

fn pack(h: Handle) -> Packed {
    let [_, a, b, c] = h.to_be_bytes();
    [a, b, c]
}

fn unpack(p: &Packed) -> Handle {
    u32::from_be_bytes([0, p[0], p[1], p[2]])
}

/// A position in an order: block and offset (offset == len of the last block: the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    block: usize,
    off: usize,
}

/// One key's order: handles in blocks of at most [`BLOCK`], every block non-empty.
#[derive(Debug, Default)]
struct Order {
    blocks: Vec<Vec<Packed>>,
}

impl Order {
    /// Full blocks from handles in order, without an intermediate list.
    fn from_sorted(sorted: impl ExactSizeIterator<Item = Handle>) -> Self {
        let n = sorted.len();
        let mut blocks: Vec<Vec<Packed>> = Vec::with_capacity(n.div_ceil(BLOCK));
        for h in sorted {
            match blocks.last_mut() {
                Some(b) if b.len() < BLOCK => b.push(pack(h)),
                _ => {
                    let mut b = Vec::with_capacity(BLOCK.min(n - blocks.len() * BLOCK));
                    b.push(pack(h));
                    blocks.push(b);
                }
            }
        }
        Order { blocks }
    }

    fn len(&self) -> usize {
        self.blocks.iter().map(Vec::len).sum()
    }

    /// The first position whose record does not satisfy `before` (which must hold for a
    /// prefix of the order and fail for the rest).
    fn partition(&self, slots: &[Option<Arc<Image>>], before: impl Fn(&Image) -> bool) -> Pos {
        let rec = |h: Handle| slots[h as usize].as_deref();
        let test = |p: &Packed| rec(unpack(p)).is_some_and(&before);
        // The first block whose last record is not `before`.
        let block = self.blocks.partition_point(|b| b.last().is_some_and(test));
        if block == self.blocks.len() {
            return self.end();
        }
        let off = self.blocks[block].partition_point(test);
        Pos { block, off }
    }

    fn end(&self) -> Pos {
        match self.blocks.len() {
            0 => Pos { block: 0, off: 0 },
            n => Pos {
                block: n - 1,
                off: self.blocks[n - 1].len(),
            },
        }
    }

    fn get(&self, p: Pos) -> Option<Handle> {
        self.blocks
            .get(p.block)
            .and_then(|b| b.get(p.off))
            .map(unpack)
    }

    fn insert(&mut self, p: Pos, h: Handle) {
        if self.blocks.is_empty() {
            self.blocks.push(vec![pack(h)]);
            return;
        }
        let b = &mut self.blocks[p.block];
        b.insert(p.off, pack(h));
        if b.len() > BLOCK {
            let tail = b.split_off(b.len() / 2);
            b.shrink_to_fit();
            self.blocks.insert(p.block + 1, tail);
        }
    }

    fn remove(&mut self, p: Pos) {
        let b = &mut self.blocks[p.block];
        b.remove(p.off);
        if b.is_empty() {
            self.blocks.remove(p.block);
        }
    }

    /// Handles from `p` (inclusive) to the end.
    fn forward(&self, p: Pos) -> impl Iterator<Item = Handle> + '_ {
        let first = self
            .blocks
            .get(p.block)
            .map(|b| &b[p.off.min(b.len())..])
            .unwrap_or(&[]);
        first
            .iter()
            .chain(self.blocks.iter().skip(p.block + 1).flatten())
            .map(unpack)
    }

    /// Handles before `p` (exclusive), last first.
    fn backward(&self, p: Pos) -> impl Iterator<Item = Handle> + '_ {
        let first = self
            .blocks
            .get(p.block)
            .map(|b| &b[..p.off.min(b.len())])
            .unwrap_or(&[]);
        let earlier = &self.blocks[..p.block.min(self.blocks.len())];
        first
            .iter()
            .rev()
            .chain(earlier.iter().rev().flat_map(|b| b.iter().rev()))
            .map(unpack)
    }

    fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<Vec<Packed>>()
            + self
                .blocks
                .iter()
                .map(|b| b.capacity() * std::mem::size_of::<Packed>())
                .sum::<usize>()
    }
}

/// The list indexes of one store: the handle table and the orders built so far.
#[derive(Debug, Default)]
pub struct ListIndex {
    /// Record by handle; `None`: a free handle (listed in `free`).
    slots: Vec<Option<Arc<Image>>>,
    free: Vec<Handle>,
    /// By [`SortKey::slot`]; `None` until a list asks for that key.
    orders: [Option<Order>; 8],
}

/// An order built off the index, to be installed ([`ListIndex::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    key: SortKey,
    /// The handle table, when this is the first order.
    slots: Option<Vec<Option<Arc<Image>>>>,
    order: Order,
}

/// Why an index could not take a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// More than [`MAX_HANDLES`] records.
    #[error("too many records for the list indexes")]
    Full,
}

impl ListIndex {
    /// Nothing indexed yet: the first [`ListIndex::ensure`] fills the handle table.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the handle table holds the records (some order was built).
    pub fn is_live(&self) -> bool {
        self.orders.iter().any(Option::is_some)
    }

    /// Whether `key`'s order exists.
    pub fn has(&self, key: SortKey) -> bool {
        self.orders[key.slot()].is_some()
    }

    /// Number of records indexed.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Builds `key`'s order if it is missing ([`ListIndex::prepare`] then
    /// [`ListIndex::install`]).
    pub fn ensure<'a>(
        &mut self,
        key: SortKey,
        all: impl IntoIterator<Item = &'a Arc<Image>>,
    ) -> Result<(), IndexError> {
        if let Some(p) = self.prepare(key, all)? {
            self.install(p);
        }
        Ok(())
    }

    /// Builds `key`'s order without changing the index (so that it can run under a read
    /// lock while lists and HEADs go on); `None` when it exists. `all` must be every record
    /// of the store, and no write may happen until [`ListIndex::install`] (the store holds
    /// its writer lock). It is read only when no order exists yet, to fill the handle table.
    pub fn prepare<'a>(
        &self,
        key: SortKey,
        all: impl IntoIterator<Item = &'a Arc<Image>>,
    ) -> Result<Option<Prepared>, IndexError> {
        if self.has(key) {
            return Ok(None);
        }
        let fresh: Option<Vec<Option<Arc<Image>>>> =
            (!self.is_live()).then(|| all.into_iter().map(|a| Some(Arc::clone(a))).collect());
        let slots = fresh.as_deref().unwrap_or(&self.slots);
        if slots.len() > MAX_HANDLES {
            return Err(IndexError::Full);
        }
        // Sort compact summaries; read records only where the summaries tie.
        let mut keyed: Vec<(u128, u64, Handle)> = slots
            .iter()
            .enumerate()
            .filter_map(|(h, s)| {
                s.as_deref()
                    .map(|img| (key.prefix(img).0, time_bits(img.created_at), h as Handle))
            })
            .collect();
        let rec = |h: Handle| slots[h as usize].as_deref();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| match (rec(a.2), rec(b.2)) {
                    (Some(x), Some(y)) if !key.prefix(x).1 => key.cmp_key(x, y),
                    _ => Ordering::Equal,
                })
                .then_with(|| a.1.cmp(&b.1))
                .then_with(|| match (rec(a.2), rec(b.2)) {
                    (Some(x), Some(y)) => key.cmp(x, y),
                    _ => Ordering::Equal,
                })
        });
        let order = Order::from_sorted(keyed.iter().map(|k| k.2));
        drop(keyed);
        Ok(Some(Prepared {
            key,
            slots: fresh,
            order,
        }))
    }

    /// Adds an order [`ListIndex::prepare`] built (with no write in between).
    pub fn install(&mut self, p: Prepared) {
        if self.has(p.key) {
            return;
        }
        if let Some(slots) = p.slots {
            if self.is_live() {
                return;
            }
            self.slots = slots;
            self.free.clear();
        }
        self.orders[p.key.slot()] = Some(p.order);
    }

    fn built(&self) -> impl Iterator<Item = (SortKey, &Order)> {
        SortKey::ALL
            .into_iter()
            .filter_map(|k| self.orders[k.slot()].as_ref().map(|o| (k, o)))
    }

    /// The handle of `img` (the record this index holds under its id), found through any
    /// built order.
    fn find(&self, img: &Image) -> Option<Handle> {
        let (key, order) = self.built().next()?;
        let p = order.partition(&self.slots, |r| key.cmp(r, img) == Ordering::Less);
        order.get(p).filter(|&h| {
            self.slots[h as usize]
                .as_ref()
                .is_some_and(|r| r.id == img.id)
        })
    }

    /// Where `img` sits (or would be inserted) in `key`'s order.
    fn position(&self, key: SortKey, img: &Image) -> Option<Pos> {
        let order = self.orders[key.slot()].as_ref()?;
        Some(order.partition(&self.slots, |r| key.cmp(r, img) == Ordering::Less))
    }

    /// Records a write: `new` replaces `old` (the record the store held under the same
    /// id, which this index holds too), or is added when `old` is `None`. Orders whose
    /// key did not change are left alone. Does nothing before the first order is built.
    pub fn put(&mut self, old: Option<&Arc<Image>>, new: &Arc<Image>) -> Result<(), IndexError> {
        if !self.is_live() {
            return Ok(());
        }
        let found = old.and_then(|o| self.find(o));
        let keys: Vec<SortKey> = self.built().map(|(k, _)| k).collect();
        let h = match found {
            Some(h) => {
                let cur = self.slots[h as usize].clone();
                let mut moved = Vec::with_capacity(keys.len());
                if let Some(cur) = cur.as_deref() {
                    for &k in &keys {
                        if k.cmp(cur, new) != Ordering::Equal {
                            if let Some(p) = self.position(k, cur) {
                                if let Some(o) = self.orders[k.slot()].as_mut() {
                                    o.remove(p);
                                }
                            }
                            moved.push(k);
                        }
                    }
                }
                self.slots[h as usize] = Some(Arc::clone(new));
                for k in moved {
                    self.insert_into(k, h, new);
                }
                return Ok(());
            }
            None => match self.free.pop() {
                Some(h) => h,
                None => {
                    if self.slots.len() >= MAX_HANDLES {
                        return Err(IndexError::Full);
                    }
                    self.slots.push(None);
                    (self.slots.len() - 1) as Handle
                }
            },
        };
        self.slots[h as usize] = Some(Arc::clone(new));
        for k in keys {
            self.insert_into(k, h, new);
        }
        Ok(())
    }

    fn insert_into(&mut self, k: SortKey, h: Handle, img: &Image) {
        if let Some(p) = self.position(k, img) {
            if let Some(o) = self.orders[k.slot()].as_mut() {
                o.insert(p, h);
            }
        }
    }

    /// Forgets `old` (the record the store held). Does nothing before the first order.
    pub fn remove(&mut self, old: &Arc<Image>) {
        let Some(h) = self.find(old) else { return };
        let Some(cur) = self.slots[h as usize].clone() else {
            return;
        };
        let keys: Vec<SortKey> = self.built().map(|(k, _)| k).collect();
        for k in keys {
            if let Some(p) = self.position(k, &cur) {
                if let Some(o) = self.orders[k.slot()].as_mut() {
                    o.remove(p);
                }
            }
        }
        self.slots[h as usize] = None;
        self.free.push(h);
    }

    /// The records of `key`'s order in the page's direction, starting strictly after
    /// `after` (a marker: a record or any image with the marker's values), or at the
    /// start. `None` when that order is not built.
    pub fn walk<'s>(
        &'s self,
        key: SortKey,
        desc: bool,
        after: Option<&Image>,
    ) -> Option<Box<dyn Iterator<Item = &'s Arc<Image>> + 's>> {
        let order = self.orders[key.slot()].as_ref()?;
        let slots = &self.slots;
        let deref = move |h: Handle| slots[h as usize].as_ref();
        Some(if desc {
            let p = match after {
                // Everything before the marker, walked backwards.
                Some(m) => order.partition(slots, |r| key.cmp(r, m) == Ordering::Less),
                None => order.end(),
            };
            Box::new(order.backward(p).filter_map(deref))
        } else {
            let p = match after {
                Some(m) => order.partition(slots, |r| key.cmp(r, m) != Ordering::Greater),
                None => Pos { block: 0, off: 0 },
            };
            Box::new(order.forward(p).filter_map(deref))
        })
    }

    /// The records of `key`'s order split where `before` stops holding: ascending, those
    /// from the split on; descending, those before it, last first. With `take_while` on the
    /// key, a walk inside one run of equal keys: for `created_at` pages, a run of
    /// `status`, `disk_format`, ... is already in the page's order (the tie-breaks).
    pub fn walk_split<'s>(
        &'s self,
        key: SortKey,
        desc: bool,
        before: impl Fn(&Image) -> bool,
    ) -> Option<Box<dyn Iterator<Item = &'s Arc<Image>> + 's>> {
        let order = self.orders[key.slot()].as_ref()?;
        let slots = &self.slots;
        let deref = move |h: Handle| slots[h as usize].as_ref();
        let p = order.partition(slots, before);
        Some(if desc {
            Box::new(order.backward(p).filter_map(deref))
        } else {
            Box::new(order.forward(p).filter_map(deref))
        })
    }

    /// A page in the default order (`created_at`, `id`) among the records whose `key`
    /// equals one value (`vs(r)`: how `r`'s key compares with it): the run of that value in
    /// `key`'s order is already sorted that way, so the page is a seek to the marker inside
    /// the run and a walk along it. `None` when the order is not built.
    pub fn run_page(
        &self,
        key: SortKey,
        vs: impl Fn(&Image) -> Ordering,
        desc: bool,
        after: Option<&Image>,
        limit: usize,
        keep: impl FnMut(&Image) -> bool,
    ) -> Option<Vec<Arc<Image>>> {
        let by_time = SortKey::CreatedAt;
        let before = |r: &Image| match vs(r) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal if desc => after.is_none_or(|m| by_time.cmp(r, m) == Ordering::Less),
            Ordering::Equal => after.is_some_and(|m| by_time.cmp(r, m) != Ordering::Greater),
        };
        let walk = self
            .walk_split(key, desc, before)?
            .take_while(|r| vs(r) == Ordering::Equal);
        Some(page_from_walk(walk, limit, keep))
    }

    /// The records of `key`'s order from the first one `before` rejects, ascending, while
    /// `within` holds: an equality or range filter answered from an order (`name=x` from
    /// the name order, `changes-since` from `updated_at`). Stops and returns `None` past
    /// `cap` records (the range is too wide to be worth collecting) or when the order is
    /// not built.
    pub fn range(
        &self,
        key: SortKey,
        before: impl Fn(&Image) -> bool,
        within: impl Fn(&Image) -> bool,
        cap: usize,
    ) -> Option<Vec<Arc<Image>>> {
        let order = self.orders[key.slot()].as_ref()?;
        let p = order.partition(&self.slots, before);
        let mut out = Vec::new();
        for h in order.forward(p) {
            let Some(img) = self.slots[h as usize].as_ref() else {
                continue;
            };
            if !within(img) {
                break;
            }
            if out.len() == cap {
                return None;
            }
            out.push(Arc::clone(img));
        }
        Some(out)
    }

    /// Heap bytes held by the handle table and the orders (not the records).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Arc<Image>>>()
            + self.free.capacity() * std::mem::size_of::<Handle>()
            + self
                .orders
                .iter()
                .flatten()
                .map(Order::heap_bytes)
                .sum::<usize>()
    }

    /// Checks the invariants (tests): every order holds every live handle once, sorted.
    #[doc(hidden)]
    pub fn check(&self) -> Result<(), String> {
        let live = self.len();
        for (k, o) in self.built() {
            if o.len() != live {
                return Err(format!("{k:?}: {} handles, {live} records", o.len()));
            }
            if o.blocks.iter().any(|b| b.is_empty() || b.len() > BLOCK) {
                return Err(format!("{k:?}: block size out of bounds"));
            }
            let recs: Vec<&Image> = o
                .forward(Pos { block: 0, off: 0 })
                .map(|h| {
                    self.slots[h as usize]
                        .as_deref()
                        .ok_or("free handle in order")
                })
                .collect::<Result<_, _>>()?;
            if recs.windows(2).any(|w| k.cmp(w[0], w[1]) != Ordering::Less) {
                return Err(format!("{k:?}: out of order"));
            }
        }
        Ok(())
    }
}

/// A page found by walking an order: the first `limit` records `keep` accepts, in the
/// page's order, strictly after `after`.
pub fn page_from_walk<'a>(
    walk: impl Iterator<Item = &'a Arc<Image>>,
    limit: usize,
    mut keep: impl FnMut(&Image) -> bool,
) -> Vec<Arc<Image>> {
    let mut out = Vec::with_capacity(limit.min(64));
    if limit == 0 {
        return out;
    }
    for img in walk {
        if keep(img) {
            out.push(Arc::clone(img));
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

/// A page cut from a small candidate set (records an equality filter found through an
/// order): keep, sort, skip to after the marker, take `limit`. Same result as
/// [`naive_page`] when the candidates include every record `keep` accepts.
pub fn page_from_candidates(
    mut cands: Vec<Arc<Image>>,
    key: SortKey,
    desc: bool,
    after: Option<&Image>,
    limit: usize,
    mut keep: impl FnMut(&Image) -> bool,
) -> Vec<Arc<Image>> {
    cands.retain(|i| keep(i) && after.is_none_or(|m| key.cmp_dir(desc, i, m) == Ordering::Greater));
    cands.sort_by(|a, b| key.cmp_dir(desc, a, b));
    cands.truncate(limit);
    cands
}

/// The reference: every record `keep` accepts, sorted, strictly after `after`, the first
/// `limit`.
pub fn naive_page<'a>(
    all: impl IntoIterator<Item = &'a Arc<Image>>,
    key: SortKey,
    desc: bool,
    after: Option<&Image>,
    limit: usize,
    keep: impl FnMut(&Image) -> bool,
) -> Vec<Arc<Image>> {
    page_from_candidates(
        all.into_iter().cloned().collect(),
        key,
        desc,
        after,
        limit,
        keep,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ImageId, Status, Timestamp};

    fn img(id: &str, name: Option<&str>, created: &str, size: Option<u64>) -> Arc<Image> {
        let mut i = Image::new(
            ImageId::new(id).unwrap(),
            Timestamp::parse(created).unwrap(),
        );
        i.name = name.map(Into::into);
        i.size = size;
        Arc::new(i)
    }

    fn ids(v: &[Arc<Image>]) -> Vec<&str> {
        v.iter().map(|i| i.id.as_str()).collect()
    }

    #[test]
    fn ties_break_on_created_at_then_id_in_the_page_direction() {
        let all = vec![
            img("b", Some("x"), "2020-01-01T00:00:00", Some(1)),
            img("a", Some("x"), "2020-01-01T00:00:00", Some(1)),
            img("c", Some("x"), "2019-01-01T00:00:00", Some(1)),
            img("d", None, "2021-01-01T00:00:00", None),
        ];
        let mut ix = ListIndex::new();
        ix.ensure(SortKey::Name, &all).unwrap();
        let asc = page_from_walk(ix.walk(SortKey::Name, false, None).unwrap(), 10, |_| true);
        assert_eq!(ids(&asc), ["d", "c", "a", "b"]);
        let desc = page_from_walk(ix.walk(SortKey::Name, true, None).unwrap(), 10, |_| true);
        assert_eq!(ids(&desc), ["b", "a", "c", "d"]);
        // After a marker, in both directions.
        let after = page_from_walk(
            ix.walk(SortKey::Name, false, Some(&all[1])).unwrap(),
            10,
            |_| true,
        );
        assert_eq!(ids(&after), ["b"]);
        let after = page_from_walk(
            ix.walk(SortKey::Name, true, Some(&all[1])).unwrap(),
            10,
            |_| true,
        );
        assert_eq!(ids(&after), ["c", "d"]);
    }

    #[test]
    fn ids_sort_as_text_not_by_length() {
        let all = vec![
            img("10", None, "2020-01-01T00:00:00", None),
            img("9", None, "2020-01-01T00:00:00", None),
        ];
        let mut ix = ListIndex::new();
        ix.ensure(SortKey::Id, &all).unwrap();
        let asc = page_from_walk(ix.walk(SortKey::Id, false, None).unwrap(), 10, |_| true);
        assert_eq!(ids(&asc), ["10", "9"]);
    }

    #[test]
    fn long_names_sharing_a_prefix_and_nul_bytes_sort_by_their_bytes() {
        let names = [
            "abcdefghijklmnopq",
            "abcdefghijklmn",
            "abcdefghijklmnop",
            "abcdefghijklmn\0",
            "ab",
            "ab\0",
            "a",
            "",
        ];
        let all: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, n)| img(&format!("id{i}"), Some(n), "2020-01-01T00:00:00", None))
            .collect();
        let mut ix = ListIndex::new();
        ix.ensure(SortKey::Name, &all).unwrap();
        ix.check().unwrap();
        let mut want = names.to_vec();
        want.sort();
        let got: Vec<String> =
            page_from_walk(ix.walk(SortKey::Name, false, None).unwrap(), 100, |_| true)
                .iter()
                .map(|i| i.name.as_deref().unwrap_or_default().to_string())
                .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn writes_update_orders_in_place_and_blocks_split() {
        let mut ix = ListIndex::new();
        let first: Vec<_> = (0..10)
            .map(|i| img(&format!("{i:04}"), None, "2020-01-01T00:00:00", Some(i)))
            .collect();
        ix.ensure(SortKey::Size, &first).unwrap();
        ix.ensure(SortKey::Id, &first).unwrap();
        for i in 10..(3 * BLOCK as u64) {
            ix.put(
                None,
                &img(&format!("{i:04}"), None, "2020-01-01T00:00:00", Some(i % 7)),
            )
            .unwrap();
        }
        ix.check().unwrap();
        assert_eq!(ix.len(), 3 * BLOCK);
        // Replace one (size moves), remove another, and the handle is reused.
        let old = page_from_walk(ix.walk(SortKey::Id, false, None).unwrap(), 1, |_| true).remove(0);
        let mut new = (*old).clone();
        new.size = Some(1_000_000);
        ix.put(Some(&old), &Arc::new(new)).unwrap();
        ix.check().unwrap();
        let top = page_from_walk(ix.walk(SortKey::Size, true, None).unwrap(), 1, |_| true);
        assert_eq!(ids(&top), ["0000"]);
        ix.remove(&top[0]);
        ix.check().unwrap();
        assert_eq!(ix.len(), 3 * BLOCK - 1);
        ix.put(None, &img("zzzz", None, "2020-01-01T00:00:00", None))
            .unwrap();
        assert_eq!(ix.slots.len(), 3 * BLOCK);
        ix.check().unwrap();
    }

    #[test]
    fn handles_pack_into_three_bytes() {
        for h in [0u32, 1, 255, 256, 65_535, 65_536, (MAX_HANDLES - 1) as u32] {
            assert_eq!(unpack(&pack(h)), h);
        }
        let mut order = Order::from_sorted([3u32, 1, 2].into_iter());
        order.insert(Pos { block: 0, off: 1 }, (MAX_HANDLES - 1) as u32);
        let got: Vec<Handle> = order.forward(Pos { block: 0, off: 0 }).collect();
        assert_eq!(got, [3, (MAX_HANDLES - 1) as u32, 1, 2]);
    }

    #[test]
    fn a_walk_inside_a_run_of_equal_keys() {
        let mut all = Vec::new();
        for i in 0..30u64 {
            let name = if i % 3 == 0 { "x" } else { "y" };
            all.push(img(
                &format!("{i:02}"),
                Some(name),
                &format!("2020-01-01T00:00:{:02}", i % 7),
                None,
            ));
        }
        let mut ix = ListIndex::new();
        ix.ensure(SortKey::Name, &all).unwrap();
        let is_x = |i: &Image| i.name.as_deref() == Some("x");
        let before = |i: &Image| i.name.as_deref() < Some("x");
        for desc in [false, true] {
            let want = naive_page(&all, SortKey::CreatedAt, desc, None, 100, is_x);
            let walk = ix
                .walk_split(SortKey::Name, desc, |i| before(i) || (desc && is_x(i)))
                .unwrap()
                .take_while(|i| is_x(i));
            assert_eq!(
                ids(&page_from_walk(walk, 100, |_| true)),
                ids(&want),
                "desc {desc}"
            );
        }
    }

    #[test]
    fn nothing_is_indexed_before_the_first_order() {
        let mut ix = ListIndex::new();
        ix.put(None, &img("a", None, "2020-01-01T00:00:00", None))
            .unwrap();
        assert!(!ix.is_live());
        assert!(ix.walk(SortKey::CreatedAt, true, None).is_none());
        let all = vec![img("a", None, "2020-01-01T00:00:00", None)];
        ix.ensure(SortKey::CreatedAt, &all).unwrap();
        assert_eq!(ix.len(), 1);
        let _ = Status::Active;
    }

    #[test]
    fn range_collects_an_equal_run_or_gives_up_past_the_cap() {
        let all: Vec<_> = (0..50)
            .map(|i| {
                img(
                    &format!("{i:02}"),
                    Some(if i % 10 == 0 { "ten" } else { "other" }),
                    "2020-01-01T00:00:00",
                    None,
                )
            })
            .collect();
        let mut ix = ListIndex::new();
        ix.ensure(SortKey::Name, &all).unwrap();
        let is = |i: &Image| i.name.as_deref() == Some("ten");
        let got = ix
            .range(SortKey::Name, |i| i.name.as_deref() < Some("ten"), is, 10)
            .unwrap();
        assert_eq!(ids(&got), ["00", "10", "20", "30", "40"]);
        assert!(ix
            .range(SortKey::Name, |i| i.name.as_deref() < Some("ten"), is, 4)
            .is_none());
    }
}

/// Random catalogues, random writes, random pages: the indexes against [`naive_page`].
#[cfg(test)]
mod props {
    use super::*;
    use crate::model::{ImageId, Member, Status, Timestamp};
    use proptest::prelude::*;

    /// Few distinct values per field, so that ties (and the tie-breaks) are the rule.
    #[derive(Debug, Clone)]
    struct Rec {
        id: u8,
        long_id: bool,
        name: Option<u8>,
        status: u8,
        disk: Option<u8>,
        container: Option<u8>,
        size: Option<u8>,
        created: u8,
        updated: u8,
        public: bool,
        owner: Option<u8>,
        member: bool,
    }

    fn rec() -> impl Strategy<Value = Rec> {
        (
            (
                any::<u8>(),
                any::<bool>(),
                proptest::option::of(0u8..6),
                0u8..9,
            ),
            (
                proptest::option::of(0u8..4),
                proptest::option::of(0u8..3),
                proptest::option::of(0u8..5),
            ),
            (
                0u8..6,
                0u8..6,
                any::<bool>(),
                proptest::option::of(0u8..3),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (id, long_id, name, status),
                    (disk, container, size),
                    (created, updated, public, owner, member),
                )| Rec {
                    id,
                    long_id,
                    name,
                    status,
                    disk,
                    container,
                    size,
                    created,
                    updated,
                    public,
                    owner,
                    member,
                },
            )
    }

    const NAMES: [&str; 6] = [
        "",
        "a",
        "abcdefghijklmnopqr",
        "abcdefghijklmnopqs",
        "abcdefghijklmn",
        "b\0",
    ];
    const FORMATS: [&str; 4] = ["qcow2", "raw", "ami", "bare"];

    fn build(r: &Rec) -> Arc<Image> {
        // Ids of several lengths (sorted as text), some UUID-like.
        let id = if r.long_id {
            format!("{:08x}-0000-4000-8000-{:012x}", r.id, r.id)
        } else {
            format!("{:x}", r.id)
        };
        let ts = |d: u8| {
            Timestamp::parse(&format!("2020-01-0{}T00:00:00.{:06}", 1 + d / 3, d % 3)).unwrap()
        };
        let mut i = Image::new(ImageId::new(&id).unwrap(), ts(r.created));
        i.name = r.name.map(|n| NAMES[n as usize].into());
        i.status = Status::ALL[r.status as usize];
        i.disk_format = r.disk.map(|d| FORMATS[d as usize].into());
        i.container_format = r.container.map(|d| FORMATS[d as usize].into());
        i.size = r.size.map(u64::from);
        i.updated_at = ts(r.updated);
        i.is_public = r.public;
        i.owner = r.owner.map(|o| format!("tenant{o}").into());
        if r.member {
            i.members.push(Member {
                member_id: "tenant9".into(),
                can_share: false,
            });
        }
        Arc::new(i)
    }

    #[derive(Debug, Clone)]
    enum Op {
        Put(Rec),
        Remove(u8),
        Ensure(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => rec().prop_map(Op::Put),
            1 => any::<u8>().prop_map(Op::Remove),
            1 => (0u8..8).prop_map(Op::Ensure),
        ]
    }

    #[derive(Debug, Clone)]
    struct Query {
        key: u8,
        desc: bool,
        marker: Option<u8>,
        limit: usize,
        filter: u8,
        arg: u8,
    }

    fn query() -> impl Strategy<Value = Query> {
        (
            0u8..8,
            any::<bool>(),
            proptest::option::of(any::<u8>()),
            0usize..12,
            0u8..7,
            0u8..6,
        )
            .prop_map(|(key, desc, marker, limit, filter, arg)| Query {
                key,
                desc,
                marker,
                limit,
                filter,
                arg,
            })
    }

    /// The kinds of filter the v1 handler applies, as predicates.
    fn keep(q: &Query) -> impl Fn(&Image) -> bool + '_ {
        move |i: &Image| match q.filter {
            0 => true,
            1 => i.is_public || i.owner.as_deref() == Some("tenant1") || !i.members.is_empty(),
            2 => !i.is_public,
            3 => i.name.as_deref() == Some(NAMES[q.arg as usize]),
            4 => i.status == Status::ALL[q.arg as usize],
            5 => i
                .size
                .is_some_and(|s| s >= u64::from(q.arg) && s <= u64::from(q.arg) + 1),
            _ => i.updated_at.micros() % 3 == i64::from(q.arg % 3),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn pages_match_the_naive_sort(
            start in proptest::collection::vec(rec(), 0..60),
            first in proptest::collection::vec(0u8..8, 0..3),
            ops in proptest::collection::vec(op(), 0..60),
            queries in proptest::collection::vec(query(), 1..24),
        ) {
            // The store: one record per id, the last put wins.
            let mut store: std::collections::BTreeMap<String, Arc<Image>> = Default::default();
            for r in &start {
                let i = build(r);
                store.insert(i.id.to_string(), i);
            }
            let mut ix = ListIndex::new();
            for k in &first {
                ix.ensure(SortKey::ALL[*k as usize], store.values()).unwrap();
            }
            for op in &ops {
                match op {
                    Op::Put(r) => {
                        let new = build(r);
                        let old = store.insert(new.id.to_string(), Arc::clone(&new));
                        ix.put(old.as_ref(), &new).unwrap();
                    }
                    Op::Remove(n) => {
                        if !store.is_empty() {
                            let id = store.keys().nth(*n as usize % store.len()).cloned().unwrap();
                            let old = store.remove(&id).unwrap();
                            ix.remove(&old);
                        }
                    }
                    Op::Ensure(k) => ix.ensure(SortKey::ALL[*k as usize], store.values()).unwrap(),
                }
                prop_assert!(ix.check().is_ok(), "{:?}", ix.check());
            }
            prop_assert!(!ix.is_live() || ix.len() == store.len());
            let all: Vec<Arc<Image>> = store.values().cloned().collect();
            for q in &queries {
                let key = SortKey::ALL[q.key as usize];
                ix.ensure(key, &all).unwrap();
                let marker = q.marker.filter(|_| !all.is_empty()).map(|m| Arc::clone(&all[m as usize % all.len()]));
                let want = naive_page(&all, key, q.desc, marker.as_deref(), q.limit, keep(q));
                let got = page_from_walk(ix.walk(key, q.desc, marker.as_deref()).unwrap(), q.limit, keep(q));
                prop_assert_eq!(ids(&got), ids(&want), "{:?}", q);
                // A created_at page walked inside a name run (every query: the marker
                // often has that name, which is the case that matters).
                {
                    ix.ensure(SortKey::Name, &all).unwrap();
                    let v = Some(NAMES[q.arg as usize]);
                    let same = |i: &Image| i.name.as_deref() == v;
                    let want = naive_page(&all, SortKey::CreatedAt, q.desc, marker.as_deref(), q.limit, same);
                    let got = ix
                        .run_page(SortKey::Name, |i| i.name.as_deref().cmp(&v), q.desc, marker.as_deref(), q.limit, same)
                        .unwrap();
                    prop_assert_eq!(ids(&got), ids(&want), "run {:?}", q);
                }
                // The same page from an equality run of the name order.
                if q.filter == 3 {
                    ix.ensure(SortKey::Name, &all).unwrap();
                    let v = Some(NAMES[q.arg as usize]);
                    if let Some(c) = ix.range(SortKey::Name, |i| i.name.as_deref() < v, |i| i.name.as_deref() == v, 1000) {
                        let got = page_from_candidates(c, key, q.desc, marker.as_deref(), q.limit, keep(q));
                        prop_assert_eq!(ids(&got), ids(&want), "range {:?}", q);
                    }
                }
            }
            prop_assert!(ix.check().is_ok());
        }
    }

    fn ids(v: &[Arc<Image>]) -> Vec<String> {
        v.iter().map(|i| i.id.to_string()).collect()
    }
}
