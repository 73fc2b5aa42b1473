//! Unit tests of the list indexes: tie-breaks, text order, in-place writes, runs, ranges.

use super::order::{pack, unpack};
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

/// Candidates and skipped records of a sieved walk of the default order on `min_ram`.
fn sieved(ix: &ListIndex, min_ram: u32) -> (Vec<String>, usize) {
    let filters = [(Field::MinRam, Wanted::Num(min_ram))];
    let mut cands = Vec::new();
    let mut skipped = 0;
    for s in ix
        .walk_sieved(SortKey::CreatedAt, false, None, &filters, View::All)
        .unwrap()
    {
        match s {
            Step::Candidate(i) => cands.push(i.id.to_string()),
            Step::Skipped { n, .. } => skipped += n,
        }
    }
    (cands, skipped)
}

#[test]
fn a_common_value_is_a_bitmap_until_it_falls_back_to_a_list() {
    let ram = |id: &str, min_ram: u32| {
        let mut i = (*img(id, None, "2020-01-01T00:00:00", None)).clone();
        i.min_ram = min_ram;
        Arc::new(i)
    };
    // Five records of 512 (more than FEW = 3: common), one of 0.
    let mut all: Vec<Arc<Image>> = (0..5).map(|i| ram(&format!("a{i}"), 512)).collect();
    all.push(ram("z", 0));
    let mut ix = ListIndex::new();
    ix.ensure(SortKey::CreatedAt, &all).unwrap();
    let b = ix.prepare_filter(&Field::MinRam).unwrap();
    ix.install_filter(b);
    ix.check().unwrap();
    assert_eq!(ix.filters.bitmaps(), 1);
    assert!(ix
        .filter_matches(&Field::MinRam, Wanted::Num(512))
        .is_none());
    // The walk reads the five, skips the other unread; a value nobody holds walks nothing.
    let five: Vec<String> = (0..5).map(|i| format!("a{i}")).collect();
    assert_eq!(sieved(&ix, 512), (five, 1));
    assert_eq!(sieved(&ix, 7), (vec![], 0));
    // Down to DEMOTE_AT = 1: listed again, the bitmap given back.
    for i in &all[1..5] {
        ix.remove(i);
        ix.check().unwrap();
    }
    assert_eq!(ix.filters.bitmaps(), 0);
    let few = ix.filter_matches(&Field::MinRam, Wanted::Num(512)).unwrap();
    assert_eq!(ids(&few), ["a0"]);
    // Up past FEW again, on the freed handles: a bitmap again.
    for i in 0..4 {
        ix.put(None, &ram(&format!("b{i}"), 512)).unwrap();
        ix.check().unwrap();
    }
    assert_eq!(ix.slots.len(), 6);
    assert_eq!(ix.filters.bitmaps(), 1);
    assert_eq!(sieved(&ix, 512).0.len(), 5);
    // Three more common values: MAX_BITMAPS = 3, so the last one keeps only its count and
    // its walk reads every record (the page is the same).
    for v in [1, 2, 3] {
        for i in 0..4 {
            ix.put(None, &ram(&format!("c{v}{i}"), v)).unwrap();
            ix.check().unwrap();
        }
    }
    assert_eq!(ix.filters.bitmaps(), 3);
    let (cands, skipped) = sieved(&ix, 3);
    assert_eq!((cands.len(), skipped), (ix.len(), 0));
    assert_eq!(cands.iter().filter(|id| id.starts_with("c3")).count(), 4);
    // Its records leave: at zero it is forgotten, and a bitmap is free again.
    for i in 0..4 {
        ix.remove(&ram(&format!("c3{i}"), 3));
        ix.check().unwrap();
    }
    assert_eq!(sieved(&ix, 3), (vec![], 0));
    assert_eq!(ix.filters.bitmaps(), 3);
    // Value 1 down to DEMOTE_AT: listed, its bitmap given back.
    for i in 0..3 {
        ix.remove(&ram(&format!("c1{i}"), 1));
        ix.check().unwrap();
    }
    assert_eq!(ix.filters.bitmaps(), 2);
}

/// A field with more common values than COLUMN_AT (1 in tests) when indexed keeps one code
/// per handle instead of a bitmap per value: a walk skips every other value unread, a new
/// common value takes a free code, one falling to DEMOTE_AT is listed again (its code
/// freed), and the column counts COLUMN_UNITS (2 in tests) against MAX_BITMAPS.
#[test]
fn a_field_with_many_common_values_keeps_a_column_of_codes() {
    let disk = |id: &str, min_disk: u32| {
        let mut i = (*img(id, None, "2020-01-01T00:00:00", None)).clone();
        i.min_disk = min_disk;
        Arc::new(i)
    };
    // Values 1, 2 and 3 with four records each (common: more than FEW = 3), 9 with one.
    let mut all: Vec<Arc<Image>> = Vec::new();
    for v in [1, 2, 3] {
        all.extend((0..4).map(|i| disk(&format!("d{v}{i}"), v)));
    }
    all.push(disk("z", 9));
    let mut ix = ListIndex::new();
    ix.ensure(SortKey::CreatedAt, &all).unwrap();
    let b = ix.prepare_filter(&Field::MinDisk).unwrap();
    ix.install_filter(b);
    ix.check().unwrap();
    assert_eq!(ix.filters.bitmaps(), 2, "one column, no bitmap");
    let walk = |ix: &ListIndex, v: u32| {
        let filters = [(Field::MinDisk, Wanted::Num(v))];
        let mut cands = Vec::new();
        for s in ix
            .walk_sieved(SortKey::CreatedAt, false, None, &filters, View::All)
            .unwrap()
        {
            if let Step::Candidate(i) = s {
                cands.push(i.id.to_string());
            }
        }
        cands.sort();
        cands
    };
    for v in [1, 2, 3] {
        let want: Vec<String> = (0..4).map(|i| format!("d{v}{i}")).collect();
        assert_eq!(walk(&ix, v), want, "value {v}: its records only");
    }
    // A fourth value turns common after the build: it takes a code too.
    for i in 0..4 {
        ix.put(None, &disk(&format!("d4{i}"), 4)).unwrap();
        ix.check().unwrap();
    }
    assert_eq!(walk(&ix, 4).len(), 4);
    // Value 2 down to DEMOTE_AT = 1: listed again, its code freed; back past FEW on the
    // freed handles, it takes a code again (MAX_VALUES = 5 in tests: no new value).
    for i in 0..3 {
        ix.remove(&disk(&format!("d2{i}"), 2));
        ix.check().unwrap();
    }
    assert_eq!(
        ids(&ix.filter_matches(&Field::MinDisk, Wanted::Num(2)).unwrap()),
        ["d23"]
    );
    assert!(walk(&ix, 2).len() > 1, "listed, not sieved");
    for i in 5..8 {
        ix.put(None, &disk(&format!("d2{i}"), 2)).unwrap();
        ix.check().unwrap();
    }
    assert_eq!(walk(&ix, 2), ["d23", "d25", "d26", "d27"]);
    assert_eq!(walk(&ix, 1).len(), 4);
    // A record moving between two common values moves its code.
    ix.put(Some(&all[0]), &disk("d10", 3)).unwrap();
    ix.check().unwrap();
    assert_eq!(walk(&ix, 3).len(), 5);
    assert_eq!(walk(&ix, 1).len(), 3);
    assert_eq!(ix.filters.bitmaps(), 2);
}
