//! Equality filters that have no order of their own (`min_ram`, `min_disk`, `protected`,
//! `property-<key>`): for each value, the records holding it, as a list while they are few
//! and as a bitmap over handles once they are many.
//!
//! Walking an order with such a filter costs the distance to the matches: nothing matching
//! `property-os_distro=plan9` among a million images meant reading all million. Here each
//! filtered field keeps, per value, the handles of its records up to [`FEW`] of them (an
//! uncommon value's page is cut from them, a value absent from the map has no record and
//! its page is empty at once). Past [`FEW`] the value is common: its list becomes a bitmap
//! (bit `h` set while record `h` holds the value, one bit per handle) and a count. A walk
//! still goes through an order for it, but tests each handle's bit before touching the
//! record ([`Sieve`]): a record costs a cache miss (about 0.3 µs at a million), a bit about
//! 2 ns (a bitmap of a million handles is 125 KB, it stays in cache), so a value whose
//! records all sort far from the marker costs about 2 ms per million records passed, not
//! 300. A common value whose count falls to [`DEMOTE_AT`] turns back
//! into a list (the gap up to [`FEW`] keeps a value at the edge from switching at every
//! write); one whose count reaches zero is forgotten. A field with more than
//! [`COLUMN_AT`] common values when it is indexed keeps instead one byte per handle, the
//! code of the common value its record holds ([`Column`]): one byte per record for all of
//! them, where 40 bitmaps (`min_disk` of the bench catalogue) would cost five and use up
//! the budget other fields need. A walk tests the byte as it would the bit.
//!
//! A field is indexed the first time a list filters on it ([`super::ListIndex::prepare_filter`]),
//! so fields nobody filters on cost nothing; from then on every write keeps it. Memory:
//! three bytes per record of an uncommon value per field, and N/8 bytes (N handles) per
//! bitmap, at most [`MAX_BITMAPS`] bitmaps over all fields (4 bytes per record in all; a
//! column counts as [`COLUMN_UNITS`] of them); a
//! value turning common when they are all taken keeps only its count and its filters walk
//! reading records (as before bitmaps), until it has no record left or a bulk write has the
//! list indexes built again. A field with more than [`MAX_VALUES`] distinct values gives up
//! (its filters walk), which frees its bitmaps. At most [`MAX_PROPERTY_KEYS`] property keys
//! are indexed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::model::Image;

use super::order::{pack, unpack, Packed};
use super::Handle;

/// A value with more records than this is common: its records are a bitmap, and its filter
/// walks an order testing bits. (Tiny in unit tests, so that random catalogues cross it.)
pub const FEW: usize = if cfg!(test) { 3 } else { 4096 };

/// A common value with this many records or fewer is listed again (and its bitmap freed).
pub const DEMOTE_AT: usize = FEW / 2;

/// A field with more distinct values than this is not indexed (its filters walk).
pub const MAX_VALUES: usize = if cfg!(test) { 5 } else { 1 << 16 };

/// Property keys indexed at most (the first ones filtered on).
pub const MAX_PROPERTY_KEYS: usize = 16;

/// Bitmaps kept at most, over every field: each costs N/8 bytes for N handles, so all of
/// them 4 bytes per record (4 MB at a million), against a budget of 350 bytes per record
/// that a million typical records with every list order built already use 343 of. A field
/// can have up to N / [`FEW`] common values (244 at a million): the typical bench catalogue
/// has 57 over the five fields its lists filter on; `min_disk`'s 40 take a column (8
/// units), the other 17 a bitmap each (measured: 64 bitmaps put it at 350). (Tiny in unit
/// tests, so that it runs out.)
pub const MAX_BITMAPS: usize = if cfg!(test) { 3 } else { 32 };

/// A field with more common values than this, when it is indexed, keeps one byte per
/// handle (the code of the common value its record holds) instead of a bitmap per value:
/// its commons then cost one byte per record together (eight bitmaps' worth), however many
/// there are. (Tiny in unit tests, so that random catalogues cross it.)
pub const COLUMN_AT: usize = if cfg!(test) { 1 } else { 8 };

/// What a column counts against [`MAX_BITMAPS`]: its bytes, as bitmaps.
const COLUMN_UNITS: usize = if cfg!(test) { 2 } else { 8 };

/// A field an equality filter reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    MinRam,
    MinDisk,
    Protected,
    /// A property's value (a null value is no value: it matches no filter).
    Property(Box<str>),
}

/// The value a filter asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted<'a> {
    Num(u32),
    Bool(bool),
    Text(&'a str),
}

/// What the index knows of a filter's matches.
#[derive(Debug, PartialEq, Eq)]
pub enum Matches {
    /// Exactly these records (none, or at most 4,096).
    Few(Vec<Handle>),
    /// Too many to list, or the field is not indexed: walk.
    Unknown,
}

/// The handles of one common value: bit `h` is set while record `h` holds it. Sized to the
/// handle table when made, grown (by an eighth, so that adding records one by one does
/// not copy it every 64) when a record gets a handle past its end.
#[derive(Debug, Clone, Default)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    fn new(handles: usize) -> Self {
        Bits(vec![0; handles.div_ceil(64)])
    }

    /// A bitmap of `handles` bits, those of `hs` set.
    pub(super) fn of(handles: usize, hs: impl IntoIterator<Item = Handle>) -> Self {
        let mut b = Bits::new(handles);
        hs.into_iter().for_each(|h| b.set(h));
        b
    }

    /// Bit `h` set to `on`.
    pub(super) fn put(&mut self, h: Handle, on: bool) {
        if on {
            self.set(h);
        } else {
            self.clear(h);
        }
    }

    /// The handles up to `handles` whose bit is clear.
    pub(super) fn complement(&self, handles: usize) -> Bits {
        Bits(self.words(handles.div_ceil(64)).map(|w| !w).collect())
    }

    /// The words, `n` of them (missing ones are zero).
    fn words(&self, n: usize) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().copied().chain(std::iter::repeat(0)).take(n)
    }

    /// Same bits set (tests: a bitmap kept by writes against one built afresh).
    pub(super) fn same_as(&self, other: &Bits) -> bool {
        let n = self.0.len().max(other.0.len());
        self.words(n).eq(other.words(n))
    }

    fn set(&mut self, h: Handle) {
        let w = h as usize / 64;
        if w >= self.0.len() {
            if w >= self.0.capacity() {
                self.0
                    .reserve_exact(w + 1 - self.0.len() + self.0.len() / 8);
            }
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (h % 64);
    }

    fn clear(&mut self, h: Handle) {
        if let Some(w) = self.0.get_mut(h as usize / 64) {
            *w &= !(1 << (h % 64));
        }
    }

    pub(super) fn has(&self, h: Handle) -> bool {
        self.0
            .get(h as usize / 64)
            .is_some_and(|w| w & (1 << (h % 64)) != 0)
    }

    /// The handles set, ascending.
    fn handles(&self) -> impl Iterator<Item = Handle> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros();
                    w &= w - 1;
                    (i * 64) as Handle + b
                })
            })
        })
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.0.capacity() * 8
    }
}

/// The common values of a field with many ([`COLUMN_AT`]): byte `h` is the code of the
/// value record `h` holds (1 to 255), 0 for none (another value, or a common one past
/// the 255th). Grown as [`Bits`] is.
#[derive(Debug, Clone, Default)]
pub(super) struct Column(Vec<u8>);

impl Column {
    pub(super) fn code(&self, h: Handle) -> u8 {
        self.0.get(h as usize).copied().unwrap_or(0)
    }

    fn put(&mut self, h: Handle, code: u8) {
        let i = h as usize;
        if i >= self.0.len() {
            if code == 0 {
                return;
            }
            if i >= self.0.capacity() {
                self.0
                    .reserve_exact(i + 1 - self.0.len() + self.0.len() / 8);
            }
            self.0.resize(i + 1, 0);
        }
        self.0[i] = code;
    }

    /// The handles holding `code`, ascending.
    fn handles(&self, code: u8) -> impl Iterator<Item = Handle> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(move |(_, c)| **c == code)
            .map(|(h, _)| h as Handle)
    }

    /// Word `i` of the bitmap of `code` (bit `j`: handle `64 i + j` holds it).
    fn word(&self, i: usize, code: u8) -> u64 {
        let from = (i * 64).min(self.0.len());
        let to = (from + 64).min(self.0.len());
        self.0[from..to]
            .iter()
            .enumerate()
            .fold(0, |w, (j, c)| w | (u64::from(*c == code) << j))
    }

    fn heap_bytes(&self) -> usize {
        self.0.capacity()
    }
}

/// The records of one value.
#[derive(Debug)]
enum Entry {
    /// At most [`FEW`] handles.
    Few(Vec<Packed>),
    /// More than [`DEMOTE_AT`] records (`count`), and their bitmap unless
    /// [`MAX_BITMAPS`] were taken when the value turned common, or their code in the
    /// field's [`Column`] (`code`, 0: none) if it has one (then no bitmap).
    Common {
        count: u32,
        bits: Option<Bits>,
        code: u8,
    },
}

/// Bitmaps in use over every field, and the size of the handle table (new bitmaps start
/// that large).
#[derive(Debug, Clone, Copy, Default)]
struct Budget {
    bitmaps: usize,
    handles: usize,
    /// Bitmaps allowed: [`MAX_BITMAPS`], or none while a field is indexed (its common
    /// values are counted first; [`Values::finish_build`] then makes what is kept).
    cap: usize,
}

impl Budget {
    /// A bitmap holding `hs`, if one more may be kept.
    fn bitmap(&mut self, hs: impl Iterator<Item = Handle>) -> Option<Bits> {
        (self.bitmaps < self.cap).then(|| {
            self.bitmaps += 1;
            let mut b = Bits::new(self.handles);
            hs.for_each(|h| b.set(h));
            b
        })
    }

    fn free(&mut self, bits: Option<Bits>) {
        if bits.is_some() {
            self.bitmaps -= 1;
        }
    }
}

/// One field's values.
#[derive(Debug)]
struct Values<K> {
    map: HashMap<K, Entry, foldhash::fast::RandomState>,
    /// Too many distinct values: nothing is kept.
    gave_up: bool,
    /// The codes of the common values, when the field had more than [`COLUMN_AT`] of them
    /// when it was indexed (its commons then have no bitmap).
    column: Option<Column>,
}

impl<K: Hash + Eq> Default for Values<K> {
    fn default() -> Self {
        Values {
            map: HashMap::default(),
            gave_up: false,
            column: None,
        }
    }
}

impl<K: Hash + Eq> Values<K> {
    fn add(&mut self, h: Handle, k: K, budget: &mut Budget) {
        if self.gave_up {
            return;
        }
        if self.map.len() >= MAX_VALUES && !self.map.contains_key(&k) {
            for (_, e) in self.map.drain() {
                if let Entry::Common { bits, .. } = e {
                    budget.free(bits);
                }
            }
            if self.column.take().is_some() {
                budget.bitmaps -= COLUMN_UNITS;
            }
            self.map = HashMap::default();
            self.gave_up = true;
            return;
        }
        // A value turning common in a field with a column takes a free code.
        let turns = matches!(self.map.get(&k), Some(Entry::Few(v)) if v.len() >= FEW);
        let code = if turns && self.column.is_some() {
            self.free_code()
        } else {
            0
        };
        let e = self.map.entry(k).or_insert_with(|| Entry::Few(Vec::new()));
        match e {
            Entry::Few(v) if v.len() < FEW => v.push(pack(h)),
            Entry::Few(v) => {
                let hs = v.iter().map(unpack).chain([h]);
                let bits = match &mut self.column {
                    Some(col) => {
                        if code != 0 {
                            hs.for_each(|x| col.put(x, code));
                        }
                        None
                    }
                    None => budget.bitmap(hs),
                };
                *e = Entry::Common {
                    count: FEW as u32 + 1,
                    bits,
                    code,
                };
            }
            Entry::Common { count, bits, code } => {
                *count += 1;
                if let Some(b) = bits {
                    b.set(h);
                }
                if let (Some(col), c @ 1..) = (&mut self.column, *code) {
                    col.put(h, c);
                }
            }
        }
    }

    /// The lowest code no common value holds (0 when all 255 are taken).
    fn free_code(&self) -> u8 {
        let mut used = [false; 256];
        for e in self.map.values() {
            if let Entry::Common { code, .. } = e {
                used[usize::from(*code)] = true;
            }
        }
        (1..=255u8).find(|c| !used[usize::from(*c)]).unwrap_or(0)
    }

    /// Settles a field just indexed (its common values counted, without bitmaps): with
    /// more than [`COLUMN_AT`] common values (and [`COLUMN_UNITS`] of `room` left) a
    /// [`Column`] of their codes, otherwise a bitmap for as many as `room` allows, both
    /// filled in one more pass over the records (`of`: a record's value). Bitmaps made
    /// while counting and dropped here would leave their memory in the heap (measured:
    /// 2.5 bytes more per record at a million). The budget units it holds after.
    fn finish_build<Q>(
        &mut self,
        slots: &[Option<Arc<Image>>],
        room: usize,
        of: impl Fn(&Image) -> Option<&Q>,
    ) -> usize
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let commons = self
            .map
            .values()
            .filter(|e| matches!(e, Entry::Common { .. }))
            .count();
        if self.gave_up || commons == 0 {
            return 0;
        }
        let column = commons > COLUMN_AT && COLUMN_UNITS <= room;
        let mut next = 0usize;
        for e in self.map.values_mut() {
            if let Entry::Common { bits, code, .. } = e {
                next += 1;
                if column {
                    // Past the 255th common value, no code: its filter reads records.
                    *code = u8::try_from(next).unwrap_or(0);
                } else if next <= room {
                    *bits = Some(Bits::new(slots.len()));
                }
            }
        }
        let mut col = column.then(|| Column(vec![0; slots.len()]));
        if column || room > 0 {
            for (h, img) in slots.iter().enumerate() {
                let Some(q) = img.as_deref().and_then(&of) else {
                    continue;
                };
                match (self.map.get_mut(q), &mut col) {
                    (Some(Entry::Common { code: c @ 1.., .. }), Some(col)) => {
                        col.put(h as Handle, *c)
                    }
                    (Some(Entry::Common { bits: Some(b), .. }), None) => b.set(h as Handle),
                    _ => {}
                }
            }
        }
        if let Some(col) = col {
            self.column = Some(col);
            return COLUMN_UNITS;
        }
        commons.min(room)
    }

    fn remove<Q>(&mut self, h: Handle, k: &Q, budget: &mut Budget)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(e) = self.map.get_mut(k) else { return };
        let left = match e {
            Entry::Few(v) => {
                let p = pack(h);
                v.retain(|x| *x != p);
                v.len()
            }
            Entry::Common { count, bits, code } => {
                *count -= 1;
                if let Some(b) = bits.as_mut() {
                    b.clear(h);
                }
                if let Some(col) = self.column.as_mut().filter(|_| *code != 0) {
                    col.put(h, 0);
                    // Listed again at DEMOTE_AT: its handles read off the column (one pass).
                    if *count as usize <= DEMOTE_AT {
                        let v: Vec<Packed> = col.handles(*code).map(pack).collect();
                        v.iter().for_each(|p| col.put(unpack(p), 0));
                        *e = Entry::Few(v);
                    }
                }
                // Listed again at DEMOTE_AT. Without its bitmap (or code) a common value
                // cannot say which records hold it, and stays common until it has none.
                if let Entry::Common { count, bits, .. } = e {
                    if *count as usize <= DEMOTE_AT {
                        if let Some(b) = bits.take() {
                            let v = b.handles().map(pack).collect();
                            budget.free(Some(b));
                            *e = Entry::Few(v);
                        }
                    }
                }
                match e {
                    Entry::Common { count, .. } => *count as usize,
                    Entry::Few(v) => v.len(),
                }
            }
        };
        if left == 0 {
            if let Some(Entry::Common { bits, .. }) = self.map.remove(k) {
                budget.free(bits);
            }
        }
    }

    fn get<Q>(&self, k: &Q) -> Matches
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.gave_up {
            return Matches::Unknown;
        }
        match self.map.get(k) {
            None => Matches::Few(Vec::new()),
            Some(Entry::Common { .. }) => Matches::Unknown,
            Some(Entry::Few(v)) => Matches::Few(v.iter().map(unpack).collect()),
        }
    }

    /// How a walk may narrow itself to `k`'s records.
    fn narrow<Q>(&self, k: &Q) -> Narrow<'_>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.gave_up {
            return Narrow::Any;
        }
        match self.map.get(k) {
            None => Narrow::Nothing,
            Some(Entry::Common { bits: Some(b), .. }) => Narrow::To(b),
            Some(Entry::Common { code: c @ 1.., .. }) => match &self.column {
                Some(col) => Narrow::Code(col, *c),
                None => Narrow::Any,
            },
            Some(_) => Narrow::Any,
        }
    }

    fn heap_bytes(&self, key_bytes: impl Fn(&K) -> usize) -> usize {
        self.map.capacity() * (std::mem::size_of::<(K, Entry)>() + 1)
            + self
                .map
                .iter()
                .map(|(k, e)| {
                    key_bytes(k)
                        + match e {
                            Entry::Few(v) => v.capacity() * 3,
                            Entry::Common { bits, .. } => bits.as_ref().map_or(0, Bits::heap_bytes),
                        }
                })
                .sum::<usize>()
            + self.column.as_ref().map_or(0, Column::heap_bytes)
    }

    /// The budget units held: bitmaps, and a column's.
    fn bitmaps(&self) -> usize {
        self.map
            .values()
            .filter(|e| matches!(e, Entry::Common { bits: Some(_), .. }))
            .count()
            + self.column.as_ref().map_or(0, |_| COLUMN_UNITS)
    }
}

/// One filter's say in a walk.
enum Narrow<'a> {
    /// No record holds the value.
    Nothing,
    /// Only the handles set here can.
    To(&'a Bits),
    /// Only the handles with this code can.
    Code(&'a Column, u8),
    /// Anything can (read the record).
    Any,
}

/// The handles a walk need not read: those outside the bitmap of a common value it filters
/// on. Built from the index it walks, under the same lock (a write may change the bits).
#[derive(Debug, Default)]
pub(super) struct Sieve<'a> {
    bits: Vec<&'a Bits>,
    codes: Vec<(&'a Column, u8)>,
    /// The bitmaps above and a view's, ANDed into one ([`Sieve::narrow_to_view`]).
    joined: Option<Bits>,
    nothing: bool,
}

impl Sieve<'_> {
    /// True when a value it sieves on has no record (or none the view shows).
    pub(super) fn admits_none(&self) -> bool {
        self.nothing
    }

    /// Whether record `h` may match (false: it holds another value of a sieved filter,
    /// or is outside the view), unless [`Sieve::admits_none`].
    pub(super) fn admits(&self, h: Handle) -> bool {
        match &self.joined {
            Some(j) => j.has(h),
            None => {
                self.bits.iter().all(|b| b.has(h))
                    && self.codes.iter().all(|(c, x)| c.code(h) == *x)
            }
        }
    }

    /// Whether a common value's bitmap sieves the walk (a view is joined only then: the
    /// view alone, public records or a tenant's, is rarely sparse enough to pay for
    /// building one per page).
    pub(super) fn has_bitmaps(&self) -> bool {
        !self.bits.is_empty() || !self.codes.is_empty()
    }

    /// Narrows to the records of `view` (a bitmap over `handles` handles): every bitmap is
    /// ANDed into one, so a walk tests one bit per record and a page whose filters and
    /// view have no record in common is known empty before any walk (a million handles:
    /// about 16,000 words per bitmap, some microseconds).
    pub(super) fn narrow_to_view(&mut self, view: &Bits, handles: usize) {
        let n = handles.div_ceil(64);
        let mut words: Vec<u64> = view.words(n).collect();
        for b in &self.bits {
            for (w, x) in words.iter_mut().zip(b.words(n)) {
                *w &= x;
            }
        }
        for (col, code) in &self.codes {
            for (i, w) in words.iter_mut().enumerate() {
                if *w != 0 {
                    *w &= col.word(i, *code);
                }
            }
        }
        self.nothing |= words.iter().all(|w| *w == 0);
        self.joined = Some(Bits(words));
    }
}

/// The indexed fields of one [`super::ListIndex`].
#[derive(Debug, Default)]
pub(super) struct Filters {
    min_ram: Option<Values<u32>>,
    min_disk: Option<Values<u32>>,
    protected: Option<Values<bool>>,
    props: Vec<(Box<str>, Values<Box<str>>)>,
    /// Bitmaps held by all the fields above ([`MAX_BITMAPS`] at most).
    bitmaps: usize,
    /// While a field is indexed ([`Filters::build`]): no bitmaps yet.
    building: bool,
}

impl Filters {
    pub(super) fn has(&self, f: &Field) -> bool {
        match f {
            Field::MinRam => self.min_ram.is_some(),
            Field::MinDisk => self.min_disk.is_some(),
            Field::Protected => self.protected.is_some(),
            Field::Property(k) => self.props.iter().any(|(x, _)| x == k),
        }
    }

    /// Whether one more field of this kind can be indexed.
    pub(super) fn room_for(&self, f: &Field) -> bool {
        !matches!(f, Field::Property(_)) || self.props.len() < MAX_PROPERTY_KEYS
    }

    /// Indexes `f` over every record of a handle table, with the bitmaps this index has
    /// room for.
    pub(super) fn build(&self, f: &Field, slots: &[Option<Arc<Image>>]) -> Built {
        let mut one = Filters {
            bitmaps: self.bitmaps,
            building: true,
            ..Filters::default()
        };
        match f {
            Field::MinRam => one.min_ram = Some(Values::default()),
            Field::MinDisk => one.min_disk = Some(Values::default()),
            Field::Protected => one.protected = Some(Values::default()),
            Field::Property(k) => one.props.push((k.clone(), Values::default())),
        }
        for (h, img) in slots.iter().enumerate() {
            if let Some(img) = img {
                one.add(h as Handle, img, slots.len());
            }
        }
        // The one field built, settled with what the budget leaves it.
        let room = MAX_BITMAPS.saturating_sub(self.bitmaps);
        let taken = if let Some(v) = &mut one.min_ram {
            v.finish_build(slots, room, |i| Some(&i.min_ram))
        } else if let Some(v) = &mut one.min_disk {
            v.finish_build(slots, room, |i| Some(&i.min_disk))
        } else if let Some(v) = &mut one.protected {
            v.finish_build(slots, room, |i| Some(&i.protected))
        } else if let Some((k, v)) = one.props.first_mut() {
            v.finish_build(slots, room, |i| i.property(k))
        } else {
            0
        };
        one.bitmaps = self.bitmaps + taken;
        one.building = false;
        Built {
            base: self.bitmaps,
            one,
        }
    }

    /// Takes the field [`Filters::build`] indexed (on this index, with no write between).
    pub(super) fn install(&mut self, b: Built) {
        let Built { base, one } = b;
        if base != self.bitmaps {
            // Built against another budget (cannot happen: one build at a time, and no
            // write in between); dropping it keeps the bound.
            return;
        }
        let taken = one.bitmaps - base;
        let mut took = false;
        if let Some(v) = one.min_ram {
            took |= self.min_ram.is_none();
            self.min_ram.get_or_insert(v);
        }
        if let Some(v) = one.min_disk {
            took |= self.min_disk.is_none();
            self.min_disk.get_or_insert(v);
        }
        if let Some(v) = one.protected {
            took |= self.protected.is_none();
            self.protected.get_or_insert(v);
        }
        for (k, v) in one.props {
            if !self.props.iter().any(|(x, _)| *x == k) && self.props.len() < MAX_PROPERTY_KEYS {
                self.props.push((k, v));
                took = true;
            }
        }
        if took {
            self.bitmaps += taken;
        }
    }

    fn budget(&self, handles: usize) -> Budget {
        Budget {
            bitmaps: self.bitmaps,
            handles,
            cap: if self.building { 0 } else { MAX_BITMAPS },
        }
    }

    /// `img` (at `h`, in a table of `handles`) was added.
    pub(super) fn add(&mut self, h: Handle, img: &Image, handles: usize) {
        let mut b = self.budget(handles);
        if let Some(v) = &mut self.min_ram {
            v.add(h, img.min_ram, &mut b);
        }
        if let Some(v) = &mut self.min_disk {
            v.add(h, img.min_disk, &mut b);
        }
        if let Some(v) = &mut self.protected {
            v.add(h, img.protected, &mut b);
        }
        for (k, v) in &mut self.props {
            if let Some(val) = img.property(k) {
                v.add(h, val.into(), &mut b);
            }
        }
        self.bitmaps = b.bitmaps;
    }

    /// `img` (at `h`) was removed.
    pub(super) fn remove(&mut self, h: Handle, img: &Image) {
        let mut b = self.budget(0);
        if let Some(v) = &mut self.min_ram {
            v.remove(h, &img.min_ram, &mut b);
        }
        if let Some(v) = &mut self.min_disk {
            v.remove(h, &img.min_disk, &mut b);
        }
        if let Some(v) = &mut self.protected {
            v.remove(h, &img.protected, &mut b);
        }
        for (k, v) in &mut self.props {
            if let Some(val) = img.property(k) {
                v.remove(h, val, &mut b);
            }
        }
        self.bitmaps = b.bitmaps;
    }

    /// `old` (at `h`) became `new`: only the fields whose value changed are touched (a
    /// value held by both is not counted out and in again).
    pub(super) fn replace(&mut self, h: Handle, old: &Image, new: &Image, handles: usize) {
        let mut b = self.budget(handles);
        fn swap<K: Hash + Eq>(v: &mut Option<Values<K>>, h: Handle, o: K, n: K, b: &mut Budget) {
            if let Some(v) = v {
                if o != n {
                    v.remove(h, &o, b);
                    v.add(h, n, b);
                }
            }
        }
        swap(&mut self.min_ram, h, old.min_ram, new.min_ram, &mut b);
        swap(&mut self.min_disk, h, old.min_disk, new.min_disk, &mut b);
        swap(&mut self.protected, h, old.protected, new.protected, &mut b);
        for (k, v) in &mut self.props {
            let (o, n) = (old.property(k), new.property(k));
            if o != n {
                if let Some(o) = o {
                    v.remove(h, o, &mut b);
                }
                if let Some(n) = n {
                    v.add(h, n.into(), &mut b);
                }
            }
        }
        self.bitmaps = b.bitmaps;
    }

    /// The records whose `f` is `want`, when the index knows them.
    pub(super) fn matches(&self, f: &Field, want: Wanted<'_>) -> Matches {
        match (f, want) {
            (Field::MinRam, Wanted::Num(n)) => self.min_ram.as_ref().map(|v| v.get(&n)),
            (Field::MinDisk, Wanted::Num(n)) => self.min_disk.as_ref().map(|v| v.get(&n)),
            (Field::Protected, Wanted::Bool(b)) => self.protected.as_ref().map(|v| v.get(&b)),
            (Field::Property(k), Wanted::Text(t)) => self
                .props
                .iter()
                .find(|(x, _)| x == k)
                .map(|(_, v)| v.get(t)),
            _ => None,
        }
        .unwrap_or(Matches::Unknown)
    }

    /// The sieve of a walk whose records must match every one of `filters`: the bitmaps of
    /// the common values among them (a value nobody holds admits nothing; an uncommon or
    /// unindexed one narrows nothing, the walk reads its records).
    pub(super) fn sieve(&self, filters: &[(Field, Wanted<'_>)]) -> Sieve<'_> {
        let mut s = Sieve::default();
        for (f, want) in filters {
            let n = match (f, *want) {
                (Field::MinRam, Wanted::Num(n)) => self.min_ram.as_ref().map(|v| v.narrow(&n)),
                (Field::MinDisk, Wanted::Num(n)) => self.min_disk.as_ref().map(|v| v.narrow(&n)),
                (Field::Protected, Wanted::Bool(b)) => {
                    self.protected.as_ref().map(|v| v.narrow(&b))
                }
                (Field::Property(k), Wanted::Text(t)) => self
                    .props
                    .iter()
                    .find(|(x, _)| x == k)
                    .map(|(_, v)| v.narrow(t)),
                _ => None,
            };
            match n {
                Some(Narrow::Nothing) => s.nothing = true,
                Some(Narrow::To(b)) => s.bits.push(b),
                Some(Narrow::Code(c, x)) => s.codes.push((c, x)),
                Some(Narrow::Any) | None => {}
            }
        }
        s
    }

    /// Bitmaps held (tests).
    #[cfg(test)]
    pub(super) fn bitmaps(&self) -> usize {
        self.bitmaps
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.min_ram.as_ref().map_or(0, |v| v.heap_bytes(|_| 0))
            + self.min_disk.as_ref().map_or(0, |v| v.heap_bytes(|_| 0))
            + self.protected.as_ref().map_or(0, |v| v.heap_bytes(|_| 0))
            + self
                .props
                .iter()
                .map(|(k, v)| k.len() + v.heap_bytes(|s| s.len()))
                .sum::<usize>()
    }

    /// Checks against the records (tests): a listed value lists exactly its records, a
    /// common one counts them and its bitmap (if any) has exactly their bits, a value
    /// missing from an indexed field has none, and the bitmaps are counted.
    pub(super) fn check(&self, slots: &[Option<Arc<Image>>]) -> Result<(), String> {
        fn field<K: Hash + Eq + std::fmt::Debug>(
            name: &str,
            v: Option<&Values<K>>,
            slots: &[Option<Arc<Image>>],
            of: impl Fn(&Image) -> Option<K>,
        ) -> Result<(), String> {
            let Some(v) = v else { return Ok(()) };
            if v.gave_up {
                return if v.map.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{name}: gave up but keeps values"))
                };
            }
            let mut by: HashMap<K, Vec<Handle>> = HashMap::new();
            for (h, img) in slots.iter().enumerate() {
                if let Some(k) = img.as_deref().and_then(&of) {
                    by.entry(k).or_default().push(h as Handle);
                }
            }
            for (k, hs) in &by {
                match v.map.get(k) {
                    None => return Err(format!("{name}: {k:?} has records but is not listed")),
                    Some(Entry::Few(l)) => {
                        let mut l: Vec<Handle> = l.iter().map(unpack).collect();
                        l.sort_unstable();
                        if &l != hs || l.len() > FEW {
                            return Err(format!("{name}: {k:?} lists {l:?}, records {hs:?}"));
                        }
                    }
                    Some(Entry::Common { count, bits, code }) => {
                        if *count as usize != hs.len() {
                            return Err(format!("{name}: {k:?} counts {count}, records {hs:?}"));
                        }
                        if let Some(b) = bits {
                            let set: Vec<Handle> = b.handles().collect();
                            if &set != hs || hs.len() <= DEMOTE_AT || v.column.is_some() {
                                return Err(format!("{name}: {k:?} bits {set:?}, records {hs:?}"));
                            }
                        }
                        match (&v.column, *code) {
                            (Some(col), c @ 1..) => {
                                let set: Vec<Handle> = col.handles(c).collect();
                                if &set != hs || hs.len() <= DEMOTE_AT {
                                    return Err(format!(
                                        "{name}: {k:?} code {c} on {set:?}, records {hs:?}"
                                    ));
                                }
                            }
                            (None, 1..) => return Err(format!("{name}: {k:?} coded, no column")),
                            _ => {}
                        }
                    }
                }
            }
            if let Some((k, _)) = v.map.iter().find(|(k, _)| !by.contains_key(*k)) {
                return Err(format!("{name}: {k:?} kept without records"));
            }
            // Every coded handle is a coded value's (checked above), and no other byte is set.
            if let Some(col) = &v.column {
                let coded: usize = v
                    .map
                    .values()
                    .filter_map(|e| match e {
                        Entry::Common { count, code, .. } if *code != 0 => Some(*count as usize),
                        _ => None,
                    })
                    .sum();
                if col.0.iter().filter(|c| **c != 0).count() != coded {
                    return Err(format!("{name}: stray codes in the column"));
                }
            }
            Ok(())
        }
        field("min_ram", self.min_ram.as_ref(), slots, |i| Some(i.min_ram))?;
        field("min_disk", self.min_disk.as_ref(), slots, |i| {
            Some(i.min_disk)
        })?;
        field("protected", self.protected.as_ref(), slots, |i| {
            Some(i.protected)
        })?;
        for (key, v) in &self.props {
            field(key, Some(v), slots, |i| {
                i.property(key).map(Box::<str>::from)
            })?;
        }
        let held = self.min_ram.as_ref().map_or(0, Values::bitmaps)
            + self.min_disk.as_ref().map_or(0, Values::bitmaps)
            + self.protected.as_ref().map_or(0, Values::bitmaps)
            + self.props.iter().map(|(_, v)| v.bitmaps()).sum::<usize>();
        if held != self.bitmaps || held > MAX_BITMAPS {
            return Err(format!("{held} bitmaps held, {} counted", self.bitmaps));
        }
        Ok(())
    }
}

/// One field indexed off the index, to be installed.
#[derive(Debug)]
pub struct Built {
    /// The index's bitmaps when it was built (the new field's come on top).
    base: usize,
    one: Filters,
}
