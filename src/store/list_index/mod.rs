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
//! loading does not wait for it (the binary builds the default and tenant-view orders just
//! after it starts answering, `Store::warm_lists`), and keys nobody sorts by cost nothing.
//! From then on every write updates it in place ([`ListIndex::put`], [`ListIndex::remove`]);
//! a write replacing much of the catalogue drops the orders and builds them again.
//!
//! Comparisons read the records themselves (no key copies): a seek costs about 20 record
//! reads. The order of one key is *total*: (key, `created_at`, `id`), ids being unique;
//! descending pages walk the same order backwards, which is Glance's `sort_dir` applied to
//! all three columns.
//!
//! Equality filters no order answers (`min_ram`, `min_disk`, `protected`, `property-*`)
//! have their own index (`filters.rs`): a value's records as a list while few, as a bitmap
//! over handles once common, which walks test before reading a record
//! ([`ListIndex::walk_sieved`], [`ListIndex::run_page`]).
//!
//! [`naive_page`] is the reference the indexes are tested against: filter everything, sort,
//! cut after the marker (what the v1 handler did before the indexes).

mod filters;
mod key;
mod order;
mod page;
mod visible;

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::{Image, Owner};

pub use filters::{Built as BuiltFilter, Field, Matches, Wanted};
use key::time_bits;
pub use key::SortKey;
use order::{Handle, Order, Pos};
pub use order::{BLOCK, MAX_HANDLES};
pub use page::{naive_page, page_from_candidates, page_from_walk};
use visible::Shared;
pub use visible::ViewLimits;

/// The list indexes of one store: the handle table and the orders built so far.
#[derive(Debug, Default)]
pub struct ListIndex {
    /// Record by handle; `None`: a free handle (listed in `free`).
    slots: Vec<Option<Arc<Image>>>,
    free: Vec<Handle>,
    /// By [`SortKey::slot`]; `None` until a list asks for that key.
    orders: [Option<Order>; 9],
    /// Handles by the tenants their record is shared with (kept while the index is live).
    shared: Shared,
    /// Records by value for the equality filters without an order (built on first use).
    filters: filters::Filters,
    /// The public records (bit per handle; kept with the handle table): what a walk
    /// sieved by a common value also skips when the page's view excludes them.
    public: filters::Bits,
}

/// Whose records a page shows, as far as a sieved walk may skip the others unread
/// ([`ListIndex::walk_sieved`]). The page's own filter must check it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View<'a> {
    /// Any record (an admin's `is_public=None`).
    All,
    /// Records whose `is_public` is this (an admin's `is_public=False`).
    Public(bool),
    /// The normal-user view of a registry owner (public, own, shared with it), as
    /// [`ListIndex::visible_page`] reads it; `None`: Glance's noauth context.
    Tenant(Option<&'a str>),
}

/// The public records of a handle table, as a bitmap.
fn public_bits(slots: &[Option<Arc<Image>>]) -> filters::Bits {
    let public = slots.iter().enumerate().filter_map(|(h, s)| {
        s.as_deref()
            .is_some_and(|i| i.is_public)
            .then_some(h as Handle)
    });
    filters::Bits::of(slots.len(), public)
}

/// A tenant's own and shared records a view bitmap is built with at most; past it the
/// walk reads records to tell (the view is then dense enough not to need the bitmap).
const VIEW_EXTRA_CAP: usize = 1 << 16;

/// What a sieved walk ([`ListIndex::walk_sieved`]) passed.
#[derive(Debug, Clone, Copy)]
pub enum Step<'s> {
    /// A record that may match the filters.
    Candidate(&'s Arc<Image>),
    /// `n` records that do not, `last` the slot of the last one (not read: a caller
    /// resuming after it reads it).
    Skipped {
        n: usize,
        last: &'s Option<Arc<Image>>,
    },
}

impl<'s> Step<'s> {
    /// The record of a candidate.
    pub fn candidate(self) -> Option<&'s Arc<Image>> {
        match self {
            Step::Candidate(img) => Some(img),
            Step::Skipped { .. } => None,
        }
    }
}

/// The walk of [`ListIndex::walk_sieved`]: a tight loop over each block's handles testing
/// bits, which yields only for a candidate or at the end of a block (a `dyn` call and a
/// match per handle cost more than the bit test).
struct SievedWalk<'s, I> {
    slices: I,
    cur: &'s [order::Packed],
    desc: bool,
    slots: &'s [Option<Arc<Image>>],
    sieve: filters::Sieve<'s>,
    /// A candidate met after skipped records, yielded after their [`Step::Skipped`].
    next: Option<&'s Arc<Image>>,
}

impl<'s, I: Iterator<Item = &'s [order::Packed]>> SievedWalk<'s, I> {
    fn new(
        slices: I,
        desc: bool,
        slots: &'s [Option<Arc<Image>>],
        sieve: filters::Sieve<'s>,
    ) -> Self {
        SievedWalk {
            slices,
            cur: &[],
            desc,
            slots,
            sieve,
            next: None,
        }
    }
}

impl<'s, I: Iterator<Item = &'s [order::Packed]>> Iterator for SievedWalk<'s, I> {
    type Item = Step<'s>;

    fn next(&mut self) -> Option<Step<'s>> {
        if let Some(img) = self.next.take() {
            return Some(Step::Candidate(img));
        }
        let mut n = 0;
        let mut last = 0;
        loop {
            let taken = if self.desc {
                self.cur.split_last()
            } else {
                self.cur.split_first()
            };
            let Some((p, rest)) = taken else {
                if n > 0 {
                    let last = &self.slots[last as usize];
                    return Some(Step::Skipped { n, last });
                }
                self.cur = self.slices.next()?;
                continue;
            };
            self.cur = rest;
            let h = order::unpack(p);
            if !self.sieve.admits(h) {
                n += 1;
                last = h;
                continue;
            }
            let Some(img) = self.slots[h as usize].as_ref() else {
                continue;
            };
            if n == 0 {
                return Some(Step::Candidate(img));
            }
            self.next = Some(img);
            let last = &self.slots[last as usize];
            return Some(Step::Skipped { n, last });
        }
    }
}

/// Where a walk of `key`'s order starts: just after the marker `after` in the walk's
/// direction (a descending walk goes backwards from there: everything before the marker),
/// or at the start (the end, descending) without one.
fn after_marker(
    order: &Order,
    slots: &[Option<Arc<Image>>],
    key: SortKey,
    desc: bool,
    after: Option<&Image>,
) -> Pos {
    match (after, desc) {
        (Some(m), true) => order.partition(slots, |r| key.cmp(r, m) == Ordering::Less),
        (None, true) => order.end(),
        (Some(m), false) => order.partition(slots, |r| key.cmp(r, m) != Ordering::Greater),
        (None, false) => Pos { block: 0, off: 0 },
    }
}

/// The split of an order where a walk inside one run starts: `r` is before it when it sorts
/// before the run of records `vs` calls equal, or inside the run (in `created_at`, `id`
/// order) up to the marker `after` (in the walk's direction).
fn run_start<'a>(
    vs: &'a impl Fn(&Image) -> Ordering,
    desc: bool,
    after: Option<&'a Image>,
) -> impl Fn(&Image) -> bool + 'a {
    let by_time = SortKey::CreatedAt;
    move |r| match vs(r) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal if desc => after.is_none_or(|m| by_time.cmp(r, m) == Ordering::Less),
        Ordering::Equal => after.is_some_and(|m| by_time.cmp(r, m) != Ordering::Greater),
    }
}

/// An order built off the index, to be installed ([`ListIndex::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    key: SortKey,
    /// The handle table, the shared-with map and the public bitmap, when this is the
    /// first order.
    slots: Option<Fresh>,
    order: Order,
}

/// A handle table filled from every record, with what is kept beside it.
#[derive(Debug)]
struct Fresh {
    slots: Vec<Option<Arc<Image>>>,
    shared: Shared,
    public: filters::Bits,
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
        // Sort compact summaries; read records only where the summaries tie. Owners are
        // ranked first (their text is longer than a summary holds), which makes the
        // visibility summaries exact.
        let ranks = (key == SortKey::Visibility).then(|| visible::owner_ranks(slots));
        let summary = |img: &Image| match &ranks {
            Some(r) => (visible::rank_summary(r, img), true),
            None => key.prefix(img),
        };
        // Each record is read once here (its summary, and whether the summary is its whole
        // key); the sort reads records only to break ties the summaries cannot.
        type Keyed = (u128, u64, Handle, bool);
        // At least 32 MiB: glibc serves a block that large from its own mapping and gives
        // it back whole when freed; a smaller one would come from the heap and leave a
        // hole the orders then fill unevenly (measured: 9 bytes more per record at a
        // million with every order built). Pages never written are never resident.
        let mut keyed: Vec<Keyed> = Vec::with_capacity(
            slots
                .len()
                .max((32 << 20) / std::mem::size_of::<Keyed>() + 1),
        );
        keyed.extend(slots.iter().enumerate().filter_map(|(h, s)| {
            s.as_deref().map(|img| {
                let (sum, exact) = summary(img);
                (sum, time_bits(img.created_at), h as Handle, exact)
            })
        }));
        drop(ranks);
        let rec = |h: Handle| slots[h as usize].as_deref();
        keyed.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| match (a.3, rec(a.2), rec(b.2)) {
                    (false, Some(x), Some(y)) => key.cmp_key(x, y),
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
            slots: fresh.map(|slots| Fresh {
                shared: Shared::build(&slots),
                public: public_bits(&slots),
                slots,
            }),
            order,
        }))
    }

    /// Adds an order [`ListIndex::prepare`] built (with no write in between).
    pub fn install(&mut self, p: Prepared) {
        if self.has(p.key) {
            return;
        }
        if let Some(Fresh {
            slots,
            shared,
            public,
        }) = p.slots
        {
            if self.is_live() {
                return;
            }
            self.slots = slots;
            self.shared = shared;
            self.public = public;
            self.filters = filters::Filters::default();
            self.free.clear();
        }
        self.orders[p.key.slot()] = Some(p.order);
    }

    fn built(&self) -> impl Iterator<Item = (SortKey, &Order)> {
        SortKey::INDEXED
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
                    self.shared.replace(h, cur, new);
                    self.filters.replace(h, cur, new, self.slots.len());
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
                self.public.put(h, new.is_public);
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
        self.public.put(h, new.is_public);
        self.shared.add(h, new);
        self.filters.add(h, new, self.slots.len());
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
        self.shared.remove(h, &cur);
        self.filters.remove(h, &cur);
        self.public.put(h, false);
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
        let p = after_marker(order, slots, key, desc, after);
        Some(if desc {
            Box::new(order.backward(p).filter_map(deref))
        } else {
            Box::new(order.forward(p).filter_map(deref))
        })
    }

    /// [`ListIndex::walk`] for a list that filters on `filters` (equality filters without
    /// an order): handles outside the bitmap of one of their common values are passed
    /// without reading their records ([`Step::Skipped`], at most one per run inside a
    /// block); the others are [`Step::Candidate`]s, which the caller still filters (a
    /// bitmap only rules out). Empty at once when a value of `filters` has no record.
    pub fn walk_sieved<'s>(
        &'s self,
        key: SortKey,
        desc: bool,
        after: Option<&Image>,
        filters: &[(Field, Wanted<'_>)],
        view: View<'_>,
    ) -> Option<Box<dyn Iterator<Item = Step<'s>> + 's>> {
        let order = self.orders[key.slot()].as_ref()?;
        let slots = &self.slots;
        let sieve = self.sieve(filters, view);
        if sieve.admits_none() {
            return Some(Box::new(std::iter::empty()));
        }
        let p = after_marker(order, slots, key, desc, after);
        Some(if desc {
            let slices = order.slices(Pos { block: 0, off: 0 }, p).rev();
            Box::new(SievedWalk::new(slices, true, slots, sieve))
        } else {
            let slices = order.slices(p, order.end());
            Box::new(SievedWalk::new(slices, false, slots, sieve))
        })
    }

    /// What a walk filtering on `filters` within `view` may skip unread. A view narrows the
    /// walk only when a common value's bitmap already sieves it: then the bitmaps and the
    /// view's are ANDed into one (a property most images have, held only by private ones,
    /// listed in the public view: every record it passed was read and rejected, 0.17 s a
    /// page at a million; now bits, and no walk at all when nothing is left).
    fn sieve(&self, filters: &[(Field, Wanted<'_>)], view: View<'_>) -> filters::Sieve<'_> {
        let mut sieve = self.filters.sieve(filters);
        if sieve.admits_none() || !sieve.has_bitmaps() {
            return sieve;
        }
        if let Some(v) = self.view_bits(view) {
            sieve.narrow_to_view(&v, self.slots.len());
        }
        sieve
    }

    /// The records `view` may show, as a bitmap over handles; `None` for every record, or
    /// when a tenant owns or shares more than [`VIEW_EXTRA_CAP`] (or the visibility order,
    /// which holds a tenant's own run, is not built).
    fn view_bits(&self, view: View<'_>) -> Option<filters::Bits> {
        let tenant = match view {
            View::All => return None,
            View::Public(true) => return Some(self.public.clone()),
            View::Public(false) => return Some(self.public.complement(self.slots.len())),
            View::Tenant(t) => t,
        };
        let shared = self.shared.handles(tenant);
        let mut own: Vec<Handle> = Vec::new();
        if let Some(t) = tenant {
            let order = self.orders[SortKey::Visibility.slot()].as_ref()?;
            let owner = Owner::new(t);
            let k = (true, Some(&owner));
            let from = order.partition(&self.slots, |r| key::visibility(r) < k);
            let to = order.partition(&self.slots, |r| key::visibility(r) <= k);
            let n = order.index(to) - order.index(from);
            if n + shared.len() > VIEW_EXTRA_CAP {
                return None;
            }
            own.extend(order.forward(from).take(n));
        }
        if shared.len() > VIEW_EXTRA_CAP {
            return None;
        }
        let mut bits = self.public.clone();
        for h in own.into_iter().chain(shared) {
            bits.put(h, true);
        }
        Some(bits)
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
    /// the run and a walk along it, which skips unread the records a bitmap of `filters`
    /// (with `view`) rules out (as [`ListIndex::walk_sieved`]). `None` when the order is not built.
    #[allow(clippy::too_many_arguments)]
    pub fn run_page(
        &self,
        key: SortKey,
        vs: impl Fn(&Image) -> Ordering,
        desc: bool,
        after: Option<&Image>,
        limit: usize,
        filters: &[(Field, Wanted<'_>)],
        view: View<'_>,
        keep: impl FnMut(&Image) -> bool,
    ) -> Option<Vec<Arc<Image>>> {
        let order = self.orders[key.slot()].as_ref()?;
        let sieve = self.sieve(filters, view);
        if sieve.admits_none() {
            return Some(Vec::new());
        }
        let slots = &self.slots;
        // Where the walk starts (the marker's place inside the run) and where the run ends
        // in the walk's direction: the records in between are the run's, in page order.
        let start = order.partition(slots, run_start(&vs, desc, after));
        Some(if desc {
            let end = order.partition(slots, |r| vs(r) == Ordering::Less);
            let walk = SievedWalk::new(order.slices(end, start).rev(), true, slots, sieve);
            page_from_walk(walk.filter_map(Step::candidate), limit, keep)
        } else {
            let end = order.partition(slots, |r| vs(r) != Ordering::Greater);
            let walk = SievedWalk::new(order.slices(start, end), false, slots, sieve);
            page_from_walk(walk.filter_map(Step::candidate), limit, keep)
        })
    }

    /// The walk of [`ListIndex::run_page`]: the run of one value of `key`, in (`created_at`,
    /// `id`) order in the page's direction, strictly after `after`.
    fn run_walk<'s, V: Fn(&Image) -> Ordering + 's>(
        &'s self,
        key: SortKey,
        vs: V,
        desc: bool,
        after: Option<&Image>,
    ) -> Option<impl Iterator<Item = &'s Arc<Image>> + 's> {
        let walk = self.walk_split(key, desc, run_start(&vs, desc, after))?;
        Some(walk.take_while(move |r| vs(r) == Ordering::Equal))
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
            + self.shared.heap_bytes()
            + self.filters.heap_bytes()
            + self.public.heap_bytes()
    }

    /// The record at handle `h` (`None`: a free handle).
    fn record(&self, h: Handle) -> Option<&Arc<Image>> {
        self.slots.get(h as usize)?.as_ref()
    }

    /// The records a live member row shares with `tenant` (`GET /v1/shared-images/...`),
    /// in no order; `None` before the first order is built (the map comes with it).
    pub fn shared_with(&self, tenant: &str) -> Option<Vec<Arc<Image>>> {
        self.is_live().then(|| {
            self.shared
                .handles(Some(tenant))
                .into_iter()
                .filter_map(|h| self.record(h).cloned())
                .collect()
        })
    }

    /// Whether `f` is indexed (or cannot be: too many property keys already are).
    pub fn has_filter(&self, f: &Field) -> bool {
        self.filters.has(f) || !self.filters.room_for(f)
    }

    /// Indexes `f` without changing the index (under a read lock, as [`ListIndex::prepare`]);
    /// `None` when it is indexed already, cannot be, or no order is built yet (the handle
    /// table comes with the first order).
    pub fn prepare_filter(&self, f: &Field) -> Option<BuiltFilter> {
        (self.is_live() && !self.has_filter(f)).then(|| self.filters.build(f, &self.slots))
    }

    /// Adds a field [`ListIndex::prepare_filter`] indexed (with no write in between).
    pub fn install_filter(&mut self, b: BuiltFilter) {
        if self.is_live() {
            self.filters.install(b);
        }
    }

    /// The records whose `f` is `want`, when the index knows them all.
    pub fn filter_matches(&self, f: &Field, want: Wanted<'_>) -> Option<Vec<Arc<Image>>> {
        match self.filters.matches(f, want) {
            Matches::Few(hs) => Some(
                hs.into_iter()
                    .filter_map(|h| self.record(h).cloned())
                    .collect(),
            ),
            Matches::Unknown => None,
        }
    }

    /// Whether the index lists the records whose `f` is `want` (few, or none).
    pub fn filter_listed(&self, f: &Field, want: Wanted<'_>) -> bool {
        matches!(self.filters.matches(f, want), Matches::Few(_))
    }

    /// Checks the invariants (tests): every order holds every live handle once, sorted.
    #[doc(hidden)]
    pub fn check(&self) -> Result<(), String> {
        let live = self.len();
        if self.is_live() && !self.shared.same_as(&Shared::build(&self.slots)) {
            return Err("shared-with map out of date".into());
        }
        if self.is_live() && !self.public.same_as(&public_bits(&self.slots)) {
            return Err("public bitmap out of date".into());
        }
        self.filters.check(&self.slots)?;
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

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
