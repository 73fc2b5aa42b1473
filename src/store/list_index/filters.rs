//! Equality filters that have no order of their own (`min_ram`, `min_disk`, `protected`,
//! `property-<key>`): for each value, the records holding it while they are few.
//!
//! Walking an order with such a filter costs the distance to the matches: nothing matching
//! `property-os_distro=plan9` among a million images meant reading all million. Here each
//! filtered field keeps, per value, the handles of its records up to [`FEW`] of them; past
//! that the value is marked common (a walk meets one of its records at least every
//! N / [`FEW`] records or so) and its list dropped. A value absent from the map has no
//! record at all, and the page is empty at once.
//!
//! A field is indexed the first time a list filters on it ([`super::ListIndex::ensure_filter`]),
//! so fields nobody filters on cost nothing; from then on every write keeps it. Memory:
//! three bytes per record at most per field (only records of uncommon values are listed),
//! and a field with more than [`MAX_VALUES`] distinct values gives up (its filters walk).
//! At most [`MAX_PROPERTY_KEYS`] property keys are indexed.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use crate::model::Image;

use super::order::{pack, unpack, Packed};
use super::Handle;

/// A value with more records than this is common: its filter walks an order instead.
/// (Tiny in unit tests, so that random catalogues cross it.)
pub const FEW: usize = if cfg!(test) { 3 } else { 4096 };

/// A field with more distinct values than this is not indexed (its filters walk).
pub const MAX_VALUES: usize = if cfg!(test) { 5 } else { 1 << 16 };

/// Property keys indexed at most (the first ones filtered on).
pub const MAX_PROPERTY_KEYS: usize = 16;

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

/// One field's values.
#[derive(Debug)]
struct Values<K> {
    /// `None`: a common value (more than [`FEW`] records).
    map: HashMap<K, Option<Vec<Packed>>, foldhash::fast::RandomState>,
    /// Too many distinct values: nothing is kept.
    gave_up: bool,
}

impl<K: Hash + Eq> Default for Values<K> {
    fn default() -> Self {
        Values {
            map: HashMap::default(),
            gave_up: false,
        }
    }
}

impl<K: Hash + Eq> Values<K> {
    fn add(&mut self, h: Handle, k: K) {
        if self.gave_up {
            return;
        }
        if self.map.len() >= MAX_VALUES && !self.map.contains_key(&k) {
            self.map = HashMap::default();
            self.gave_up = true;
            return;
        }
        let slot = self.map.entry(k).or_insert_with(|| Some(Vec::new()));
        if let Some(v) = slot {
            if v.len() >= FEW {
                *slot = None;
            } else {
                v.push(pack(h));
            }
        }
    }

    fn remove<Q>(&mut self, h: Handle, k: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(Some(v)) = self.map.get_mut(k) {
            let p = pack(h);
            v.retain(|x| *x != p);
            if v.is_empty() {
                self.map.remove(k);
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
            Some(None) => Matches::Unknown,
            Some(Some(v)) => Matches::Few(v.iter().map(unpack).collect()),
        }
    }

    fn heap_bytes(&self, key_bytes: impl Fn(&K) -> usize) -> usize {
        self.map.capacity() * (std::mem::size_of::<(K, Option<Vec<Packed>>)>() + 1)
            + self
                .map
                .iter()
                .map(|(k, v)| key_bytes(k) + v.as_ref().map_or(0, |v| v.capacity() * 3))
                .sum::<usize>()
    }
}

/// The indexed fields of one [`super::ListIndex`].
#[derive(Debug, Default)]
pub(super) struct Filters {
    min_ram: Option<Values<u32>>,
    min_disk: Option<Values<u32>>,
    protected: Option<Values<bool>>,
    props: Vec<(Box<str>, Values<Box<str>>)>,
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

    /// Indexes `f` over every record of a handle table.
    pub(super) fn build(f: &Field, slots: &[Option<Arc<Image>>]) -> Built {
        let mut one = Filters::default();
        match f {
            Field::MinRam => one.min_ram = Some(Values::default()),
            Field::MinDisk => one.min_disk = Some(Values::default()),
            Field::Protected => one.protected = Some(Values::default()),
            Field::Property(k) => one.props.push((k.clone(), Values::default())),
        }
        for (h, img) in slots.iter().enumerate() {
            if let Some(img) = img {
                one.add(h as Handle, img);
            }
        }
        Built(one)
    }

    /// Takes the field [`Filters::build`] indexed.
    pub(super) fn install(&mut self, b: Built) {
        let Built(one) = b;
        if let Some(v) = one.min_ram {
            self.min_ram.get_or_insert(v);
        }
        if let Some(v) = one.min_disk {
            self.min_disk.get_or_insert(v);
        }
        if let Some(v) = one.protected {
            self.protected.get_or_insert(v);
        }
        for (k, v) in one.props {
            if !self.props.iter().any(|(x, _)| *x == k) && self.props.len() < MAX_PROPERTY_KEYS {
                self.props.push((k, v));
            }
        }
    }

    /// `img` (at `h`) was added.
    pub(super) fn add(&mut self, h: Handle, img: &Image) {
        if let Some(v) = &mut self.min_ram {
            v.add(h, img.min_ram);
        }
        if let Some(v) = &mut self.min_disk {
            v.add(h, img.min_disk);
        }
        if let Some(v) = &mut self.protected {
            v.add(h, img.protected);
        }
        for (k, v) in &mut self.props {
            if let Some(val) = img.property(k) {
                v.add(h, val.into());
            }
        }
    }

    /// `img` (at `h`) was removed.
    pub(super) fn remove(&mut self, h: Handle, img: &Image) {
        if let Some(v) = &mut self.min_ram {
            v.remove(h, &img.min_ram);
        }
        if let Some(v) = &mut self.min_disk {
            v.remove(h, &img.min_disk);
        }
        if let Some(v) = &mut self.protected {
            v.remove(h, &img.protected);
        }
        for (k, v) in &mut self.props {
            if let Some(val) = img.property(k) {
                v.remove(h, val);
            }
        }
    }

    /// `old` (at `h`) became `new`.
    pub(super) fn replace(&mut self, h: Handle, old: &Image, new: &Image) {
        let same = old.min_ram == new.min_ram
            && old.min_disk == new.min_disk
            && old.protected == new.protected
            && old.properties == new.properties;
        if !same {
            self.remove(h, old);
            self.add(h, new);
        }
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

    /// Checks against the records (tests): a listed value lists exactly its records, and a
    /// value missing from an indexed field has none.
    pub(super) fn check(&self, slots: &[Option<Arc<Image>>]) -> Result<(), String> {
        fn field<K: Hash + Eq + std::fmt::Debug>(
            name: &str,
            v: Option<&Values<K>>,
            slots: &[Option<Arc<Image>>],
            of: impl Fn(&Image) -> Option<K>,
        ) -> Result<(), String> {
            let Some(v) = v else { return Ok(()) };
            if v.gave_up {
                return Ok(());
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
                    Some(None) => {}
                    Some(Some(l)) => {
                        let mut l: Vec<Handle> = l.iter().map(unpack).collect();
                        l.sort_unstable();
                        if &l != hs {
                            return Err(format!("{name}: {k:?} lists {l:?}, records {hs:?}"));
                        }
                    }
                }
            }
            // A common value may outlive its records (it is not counted); a listed one not.
            if let Some((k, _)) = v
                .map
                .iter()
                .find(|(k, l)| l.is_some() && !by.contains_key(*k))
            {
                return Err(format!("{name}: {k:?} listed without records"));
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
        Ok(())
    }
}

/// One field indexed off the index, to be installed.
#[derive(Debug)]
pub struct Built(Filters);
