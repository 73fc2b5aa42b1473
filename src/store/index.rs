//! The id index of the store: every record by its own id in one hash table ([`Index`]),
//! with the list orders over the same records, and the loader's bulk build of it
//! ([`Indexed`]: a million ids hashed in one pass and inserted in bucket order).

use std::sync::Arc;

use super::list_index::ListIndex;
use crate::model::Image;

/// The records keyed by their own id: a table of `Arc<Image>` looked up by `&str`, so the id
/// is stored once instead of again as a map key; and the list orders over the same records,
/// changed by the same writes ([`ListIndex`]: empty until a list first asks for a key).
///
/// A `hashbrown::HashTable` rather than a `HashSet`: it takes hashes computed outside it,
/// which lets [`Index::bulk`] hash a million ids in one sequential pass and insert them in
/// bucket order (see there).
#[derive(Default)]
pub(super) struct Index {
    map: hashbrown::HashTable<Entry>,
    hasher: foldhash::fast::RandomState,
    pub(super) lists: ListIndex,
    /// Bumped by every published write, so an order built under a read lock can tell
    /// whether a write came in before it was installed.
    pub(super) generation: u64,
    /// The highest membership row id of any record (rows are numbered across the
    /// catalogue in the order they were added: see [`Members::number_rows_after`]).
    ///
    /// [`Members::number_rows_after`]: crate::model::Members::number_rows_after
    pub(super) member_rows: u32,
}

struct Entry(Arc<Image>);

impl Index {
    pub(super) fn with_capacity(n: usize) -> Self {
        Index {
            map: hashbrown::HashTable::with_capacity(n),
            ..Index::default()
        }
    }

    /// The hash of an id's bytes (a stored id's bytes are read without a UTF-8 check).
    fn hash(&self, id: &[u8]) -> u64 {
        id_hash(&self.hasher, id)
    }

    pub(super) fn get(&self, id: &str) -> Option<&Arc<Image>> {
        self.map
            .find(self.hash(id.as_bytes()), |e| {
                e.0.id.as_bytes() == id.as_bytes()
            })
            .map(|e| &e.0)
    }

    /// Room for `n` more records (start-up adds a million at once: no rehash on the way).
    pub(super) fn reserve(&mut self, n: usize) {
        let hasher = &self.hasher;
        self.map.reserve(n, |e| id_hash(hasher, e.0.id.as_bytes()));
    }

    /// Adds `img` under hash `h` (its id's): no record with that id may be there.
    fn push(&mut self, h: u64, img: Arc<Image>) {
        let hasher = &self.hasher;
        self.map
            .insert_unique(h, Entry(img), |e| id_hash(hasher, e.0.id.as_bytes()));
    }

    pub(super) fn insert(&mut self, img: Arc<Image>) {
        self.member_rows = self.member_rows.max(img.members.max_row());
        let h = self.hash(img.id.as_bytes());
        let old = match self.map.find_mut(h, |e| e.0.id == img.id) {
            Some(e) => Some(std::mem::replace(&mut e.0, Arc::clone(&img))),
            None => {
                self.push(h, Arc::clone(&img));
                None
            }
        };
        if self.lists.put(old.as_ref(), &img).is_err() {
            self.drop_lists();
        }
    }

    /// A new index of `images` (the loader's million records), or `None` when an id
    /// repeats. Inserting records in file order touches the table at random, a cache miss
    /// (or two: control bytes and slot) per record. Here every id is hashed in one pass over
    /// the records (in memory order), the (hash, record) pairs are sorted by the bucket
    /// their hash starts probing at (a radix sort on those bits), and then inserted in that
    /// order, so the table is filled front to back. The bucket is the hash's low bits
    /// (`hashbrown`'s probe start); were that to change, this would only be slower.
    fn bulk(mut images: Vec<Arc<Image>>) -> Option<Index> {
        let rows = number_member_rows(&mut images);
        let mut index = Index::with_capacity(images.len());
        // Buckets of a table sized for `capacity` (a power of two, load at most 7/8).
        let buckets = (index.map.capacity().max(1) * 8 / 7).next_power_of_two();
        let mask = (buckets - 1) as u64;
        let keyed: Vec<(u64, Option<Arc<Image>>)> = images
            .into_iter()
            .map(|img| (index.hash(img.id.as_bytes()), Some(img)))
            .collect();
        index.member_rows = rows;
        for (h, img) in radix_by_bucket(keyed, mask) {
            let Some(img) = img else { continue };
            if index.map.find(h, |e| e.0.id == img.id).is_some() {
                return None;
            }
            index.push(h, img);
        }
        Some(index)
    }

    pub(super) fn remove(&mut self, id: &str) {
        let h = self.hash(id.as_bytes());
        if let Ok(e) = self
            .map
            .find_entry(h, |e| e.0.id.as_bytes() == id.as_bytes())
        {
            let (old, _) = e.remove();
            self.lists.remove(&old.0);
        }
    }

    /// More records than handles (4 billion): lists go back to sorting everything.
    fn drop_lists(&mut self) {
        tracing::warn!("list indexes dropped: too many records");
        self.lists = ListIndex::new();
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Arc<Image>> {
        self.map.iter().map(|e| &e.0)
    }
}

/// Numbers the membership rows of a new store's records across the catalogue, by the
/// records' `created_at` (then id), each record's rows in their order; returns the highest
/// number. `GET /v1/shared-images` lists a tenant's rows in row order, in the registry the
/// order they were added: images shared as they were created give this order, whatever
/// the order of the records in the files (a snapshot writes them newest first). Rows added
/// later are numbered after these ([`super::Store::write_blocking`]).
pub(super) fn number_member_rows(images: &mut [Arc<Image>]) -> u32 {
    let mut last = 0;
    for i in shared_in_creation_order(images) {
        match Arc::get_mut(&mut images[i]) {
            Some(img) => img.members.number_rows_after(0, &mut last),
            // Shared with a caller: its rows keep their numbers, above the ones given out.
            None => last = last.max(images[i].members.max_row()),
        }
    }
    last
}

/// The positions of the records of `images` that have membership rows, ordered by the
/// records' `created_at`, then id: the order rows are numbered in when several records
/// get theirs at once (a new store, a control-API load).
pub(super) fn shared_in_creation_order<T: std::borrow::Borrow<Image>>(images: &[T]) -> Vec<usize> {
    let mut shared: Vec<usize> = (0..images.len())
        .filter(|&i| images[i].borrow().members.has_rows())
        .collect();
    shared.sort_by(|&a, &b| {
        let (a, b) = (images[a].borrow(), images[b].borrow());
        (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str()))
    });
    shared
}

/// The table's hash of an id (what [`Index`] looks ids up by, and rehashes them with).
fn id_hash(hasher: &foldhash::fast::RandomState, id: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    hasher.hash_one(id)
}

/// `pairs` sorted by `hash & mask` (stable), 11 bits per pass: two passes for a million
/// records' table (2^21 buckets). The records move as pointers; none is read. The two
/// buffers are allocated once and take turns (a buffer allocated per pass would come from
/// the heap once the first is freed, and stay resident after the load).
fn radix_by_bucket(
    mut pairs: Vec<(u64, Option<Arc<Image>>)>,
    mask: u64,
) -> Vec<(u64, Option<Arc<Image>>)> {
    const BITS: u32 = 11;
    let bits = 64 - mask.leading_zeros();
    let mut out: Vec<(u64, Option<Arc<Image>>)> = Vec::new();
    let mut start = vec![0usize; 1 << BITS];
    let mut shift = 0;
    while shift < bits {
        if out.is_empty() {
            out.resize_with(pairs.len(), || (0, None));
        }
        let digit = |h: u64| ((h & mask) >> shift) as usize & ((1 << BITS) - 1);
        start.fill(0);
        for (h, _) in &pairs {
            start[digit(*h)] += 1;
        }
        let mut sum = 0;
        for c in start.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for (h, img) in pairs.iter_mut() {
            let d = digit(*h);
            out[start[d]] = (*h, img.take());
            start[d] += 1;
        }
        std::mem::swap(&mut pairs, &mut out);
        shift += BITS;
    }
    pairs
}

/// Records indexed by id, every id known to be unique: what the loader hands a new store
/// ([`Store::from_indexed`](super::Store::from_indexed)), so that at start-up a million ids
/// go into one hash table once instead of being checked in one table and then indexed in
/// another.
pub struct Indexed(pub(super) Index);

impl Indexed {
    /// Indexes `images` (moved in); `None` when an id repeats.
    pub fn unique(images: Vec<Arc<Image>>) -> Option<Self> {
        Index::bulk(images).map(Indexed)
    }

    /// The record with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Image>> {
        self.0.get(id)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no records.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

impl std::fmt::Debug for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Indexed({} records)", self.len())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::{ImageId, Timestamp};

    /// Record `n`: a fresh image with a UUID-shaped id (the store's tests use it too).
    pub(in crate::store) fn image(n: u32) -> Image {
        let id = ImageId::new(&format!("00000000-0000-4000-8000-{n:012}")).unwrap();
        Image::new(id, Timestamp::parse("2016-05-22T06:04:20").unwrap())
    }

    // Rule: the start-up index (filled in bucket order) holds every record under its id,
    // finds nothing else, refuses a repeated id, and takes writes like any other.
    #[test]
    fn bulk_index_finds_every_record_and_refuses_a_repeat() {
        let imgs: Vec<Arc<Image>> = (0..5000).map(|n| Arc::new(image(n))).collect();
        let mut idx = Index::bulk(imgs.clone()).unwrap();
        assert_eq!(idx.len(), 5000);
        for img in &imgs {
            assert!(Arc::ptr_eq(idx.get(&img.id).unwrap(), img));
        }
        assert!(idx.get("00000000-0000-4000-8000-000000005000").is_none());
        assert!(idx.get("").is_none());
        idx.insert(Arc::new(image(5000)));
        idx.remove(&imgs[7].id);
        assert_eq!(idx.len(), 5000);
        assert!(idx.get(&imgs[7].id).is_none());
        assert!(idx.get("00000000-0000-4000-8000-000000005000").is_some());
        for n in [0, 4999, 1234] {
            let mut dup = imgs.clone();
            dup.push(Arc::new(image(n)));
            assert!(Index::bulk(dup).is_none(), "{n}");
        }
        assert_eq!(Index::bulk(Vec::new()).unwrap().len(), 0);
    }

    // Rule: the radix pass orders pairs by the masked hash, keeps equal buckets in input
    // order, and loses no record.
    #[test]
    fn radix_orders_by_bucket_stably() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let pairs: Vec<(u64, Option<Arc<Image>>)> = (0..3000)
            .map(|n| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x, Some(Arc::new(image(n))))
            })
            .collect();
        for mask in [0u64, 1, (1 << 11) - 1, (1 << 12) - 1, (1 << 23) - 1] {
            let expect: Vec<(u64, String)> = {
                let mut v: Vec<(u64, String)> = pairs
                    .iter()
                    .map(|(h, i)| (*h, i.as_ref().unwrap().id.to_string()))
                    .collect();
                v.sort_by_key(|(h, _)| h & mask);
                v
            };
            let got: Vec<(u64, String)> = radix_by_bucket(pairs.clone(), mask)
                .into_iter()
                .map(|(h, i)| (h, i.unwrap().id.to_string()))
                .collect();
            assert_eq!(got, expect, "mask {mask:#x}");
        }
    }
}
