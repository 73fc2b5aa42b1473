//! Random catalogues, random writes, random pages: the indexes against [`naive_page`].

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
    /// Shared with tenant0..3 (bit i: tenant i).
    member: u8,
    /// min_ram (0..3), min_disk (0..7), protected, property "p" (0..3 or none).
    extra: (u8, u8, bool, Option<u8>),
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
            0u8..16,
        ),
        (0u8..3, 0u8..7, any::<bool>(), proptest::option::of(0u8..3)),
    )
        .prop_map(
            |(
                (id, long_id, name, status),
                (disk, container, size),
                (created, updated, public, owner, member),
                extra,
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
                extra,
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
    let ts =
        |d: u8| Timestamp::parse(&format!("2020-01-0{}T00:00:00.{:06}", 1 + d / 3, d % 3)).unwrap();
    let mut i = Image::new(ImageId::new(&id).unwrap(), ts(r.created));
    i.name = r.name.map(|n| NAMES[n as usize].into());
    i.status = Status::ALL[r.status as usize];
    i.disk_format = r.disk.map(|d| FORMATS[d as usize].into());
    i.container_format = r.container.map(|d| FORMATS[d as usize].into());
    i.size = r.size.map(u64::from);
    i.updated_at = ts(r.updated);
    i.is_public = r.public;
    i.owner = r.owner.map(|o| format!("tenant{o}").into());
    i.min_ram = u32::from(r.extra.0) * 512;
    i.min_disk = u32::from(r.extra.1);
    i.protected = r.extra.2;
    if let Some(p) = r.extra.3 {
        i.set_property("p".into(), Some(format!("v{p}").into()));
    }
    for t in (0..4).filter(|t| r.member & (1 << t) != 0) {
        i.members.push(Member {
            member_id: format!("tenant{t}"),
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
    Filter(u8),
    /// Removes records holding value `.1` of field `.0` until `.2` are left (a common
    /// value falls back below FEW, or to nothing).
    Thin(u8, u8, u8),
    /// Puts `.1` records like this one under ids from its own on (new records, on freed
    /// handles after a thinning, or replacements): a value rises past FEW again.
    Flood(Rec, u8),
}

/// The filter fields, by number.
fn field(n: u8) -> Field {
    match n % 4 {
        0 => Field::MinRam,
        1 => Field::MinDisk,
        2 => Field::Protected,
        _ => Field::Property("p".into()),
    }
}

/// Value `v` of filter field `f` (as a query asks for it), and whether a record holds it.
fn wanted<'a>(f: &Field, v: u8, text: &'a str) -> Wanted<'a> {
    match f {
        Field::MinRam => Wanted::Num(u32::from(v % 3) * 512),
        Field::MinDisk => Wanted::Num(u32::from(v % 7)),
        Field::Protected => Wanted::Bool(v % 2 == 0),
        Field::Property(_) => Wanted::Text(text),
    }
}

fn holds(f: &Field, want: Wanted<'_>, i: &Image) -> bool {
    match want {
        Wanted::Num(n) if *f == Field::MinRam => i.min_ram == n,
        Wanted::Num(n) => i.min_disk == n,
        Wanted::Bool(b) => i.protected == b,
        Wanted::Text(t) => i.property("p") == Some(t),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => rec().prop_map(Op::Put),
        1 => any::<u8>().prop_map(Op::Remove),
        1 => (0u8..9).prop_map(Op::Ensure),
        1 => (0u8..4).prop_map(Op::Filter),
        1 => (0u8..4, 0u8..7, 0u8..4).prop_map(|(f, v, n)| Op::Thin(f, v, n)),
        1 => (rec(), 1u8..9).prop_map(|(r, n)| Op::Flood(r, n)),
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
    /// The viewer: tenant0..3 or (4) Glance's noauth context.
    tenant: u8,
    merge: usize,
    collect: usize,
}

fn query() -> impl Strategy<Value = Query> {
    (
        0u8..8,
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        0usize..12,
        0u8..7,
        0u8..6,
        (0u8..5, 0usize..80, 0usize..80),
    )
        .prop_map(
            |(key, desc, marker, limit, filter, arg, (tenant, merge, collect))| Query {
                key,
                desc,
                marker,
                limit,
                filter,
                arg,
                tenant,
                merge,
                collect,
            },
        )
}

/// The kinds of filter the v1 handler applies, as predicates.
fn keep(q: &Query) -> impl Fn(&Image) -> bool + '_ {
    move |i: &Image| match q.filter {
        0 => true,
        1 => {
            i.is_public
                || i.owner.as_ref().is_some_and(|o| *o == *"tenant1")
                || !i.members.is_empty()
        }
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
        first in proptest::collection::vec(0u8..9, 0..3),
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
            ix.ensure(SortKey::INDEXED[*k as usize], store.values()).unwrap();
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
                Op::Ensure(k) => ix.ensure(SortKey::INDEXED[*k as usize], store.values()).unwrap(),
                Op::Filter(f) => {
                    if let Some(b) = ix.prepare_filter(&field(*f)) {
                        ix.install_filter(b);
                    }
                }
                Op::Thin(f, v, left) => {
                    let f = field(*f);
                    let text = format!("v{}", v % 3);
                    let want = wanted(&f, *v, &text);
                    let held: Vec<String> = store
                        .iter()
                        .filter(|(_, i)| holds(&f, want, i))
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in held.iter().skip(usize::from(*left)) {
                        let old = store.remove(id).unwrap();
                        ix.remove(&old);
                        prop_assert!(ix.check().is_ok(), "{:?}", ix.check());
                    }
                }
                Op::Flood(r, n) => {
                    for j in 0..*n {
                        let mut r = r.clone();
                        r.id = r.id.wrapping_add(j.wrapping_mul(37));
                        let new = build(&r);
                        let old = store.insert(new.id.to_string(), Arc::clone(&new));
                        ix.put(old.as_ref(), &new).unwrap();
                        prop_assert!(ix.check().is_ok(), "{:?}", ix.check());
                    }
                }
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
            // The normal-user view of a tenant, from its runs and shares.
            {
                ix.ensure(SortKey::Visibility, &all).unwrap();
                let tenant = (q.tenant < 4).then(|| format!("tenant{}", q.tenant));
                let t = tenant.as_deref();
                let sees = |i: &Image| {
                    i.is_public
                        || (t.is_some() && i.owner.as_ref().map(|o| o.to_string()).as_deref() == t)
                        || i.members.iter().any(|m| t.is_none_or(|t| m.member_id == t))
                };
                let k = keep(q);
                let both = |i: &Image| sees(i) && k(i);
                let want = naive_page(&all, key, q.desc, marker.as_deref(), q.limit, both);
                let limits = ViewLimits { merge: q.merge, collect: q.collect };
                if let Some(got) = ix.visible_page(t, key, q.desc, marker.as_deref(), q.limit, both, limits) {
                    prop_assert_eq!(ids(&got), ids(&want), "view {:?}", q);
                }
            }
            // An equality filter without an order: the records the index lists for a
            // value are exactly those holding it, and the page cut from them is the page.
            {
                let f = field(q.arg);
                let text = format!("v{}", q.arg % 3);
                let want_v = wanted(&f, q.arg, &text);
                let holds = |i: &Image| holds(&f, want_v, i);
                if let Some(c) = ix.filter_matches(&f, want_v) {
                    let mut got = ids(&c);
                    got.sort();
                    let mut want: Vec<String> =
                        all.iter().filter(|i| holds(i)).map(|i| i.id.to_string()).collect();
                    want.sort();
                    prop_assert_eq!(got, want, "filter {:?}", q);
                    let both = |i: &Image| holds(i) && keep(q)(i);
                    let want = naive_page(&all, key, q.desc, marker.as_deref(), q.limit, both);
                    let got = page_from_candidates(c, key, q.desc, marker.as_deref(), q.limit, both);
                    prop_assert_eq!(ids(&got), ids(&want), "filter page {:?}", q);
                }
            }
            // A walk skipping the records outside the bitmaps of common values (one
            // filter, or two on different fields): the page is the naive one.
            {
                let (f, g) = (field(q.arg), field(q.arg / 4 + 1));
                let (tf, tg) = (format!("v{}", q.arg % 3), format!("v{}", q.marker.unwrap_or(0) % 3));
                let (wf, wg) = (wanted(&f, q.arg, &tf), wanted(&g, q.marker.unwrap_or(0), &tg));
                let two = q.desc && f != g;
                let sieve: Vec<(Field, Wanted<'_>)> = if two {
                    vec![(f.clone(), wf), (g.clone(), wg)]
                } else {
                    vec![(f.clone(), wf)]
                };
                // Within a view: every record, public or private ones, or a tenant's
                // (tenant0..3, or the noauth context's: public and every shared one).
                let tenant = (q.tenant < 4).then(|| format!("tenant{}", q.tenant));
                let t = tenant.as_deref();
                let view = match q.filter % 3 {
                    0 => View::All,
                    1 => View::Tenant(t),
                    _ => View::Public(q.arg % 2 == 0),
                };
                let in_view = |i: &Image| match view {
                    View::All => true,
                    View::Public(p) => i.is_public == p,
                    View::Tenant(t) => {
                        i.is_public
                            || (t.is_some() && i.owner.as_ref().map(|o| o.to_string()).as_deref() == t)
                            || i.members.iter().any(|m| t.is_none_or(|t| m.member_id == t))
                    }
                };
                let both = |i: &Image| {
                    keep(q)(i) && in_view(i) && sieve.iter().all(|(f, w)| holds(f, *w, i))
                };
                let want = naive_page(&all, key, q.desc, marker.as_deref(), q.limit, both);
                let steps = ix.walk_sieved(key, q.desc, marker.as_deref(), &sieve, view).unwrap();
                let walk = steps.filter_map(|s| match s {
                    Step::Candidate(i) => Some(i),
                    Step::Skipped { n, last } => {
                        // A skipped record never holds every sieved value in the view.
                        assert!(n > 0);
                        assert!(last.as_deref().is_some_and(|i| !(in_view(i) && sieve.iter().all(|(f, w)| holds(f, *w, i)))));
                        None
                    }
                });
                let got = page_from_walk(walk, q.limit, both);
                prop_assert_eq!(ids(&got), ids(&want), "sieved {:?}", q);
            }
            // A created_at page walked inside a name run (every query: the marker
            // often has that name, which is the case that matters).
            {
                ix.ensure(SortKey::Name, &all).unwrap();
                let v = Some(NAMES[q.arg as usize]);
                let same = |i: &Image| i.name.as_deref() == v;
                let want = naive_page(&all, SortKey::CreatedAt, q.desc, marker.as_deref(), q.limit, same);
                let got = ix
                    .run_page(SortKey::Name, |i| i.name.as_deref().cmp(&v), q.desc, marker.as_deref(), q.limit, &[], View::All, same)
                    .unwrap();
                prop_assert_eq!(ids(&got), ids(&want), "run {:?}", q);
                // With a filter without an order too: skipped by its bitmap when common.
                let f = field(q.tenant);
                let text = format!("v{}", q.limit % 3);
                let w = wanted(&f, q.limit as u8, &text);
                // Private records only, half the time (an admin's is_public=False).
                let view = if q.arg % 2 == 0 { View::Public(false) } else { View::All };
                let both = |i: &Image| same(i) && holds(&f, w, i) && (view == View::All || !i.is_public);
                let want = naive_page(&all, SortKey::CreatedAt, q.desc, marker.as_deref(), q.limit, both);
                let got = ix
                    .run_page(SortKey::Name, |i| i.name.as_deref().cmp(&v), q.desc, marker.as_deref(), q.limit, &[(f.clone(), w)], view, both)
                    .unwrap();
                prop_assert_eq!(ids(&got), ids(&want), "sieved run {:?}", q);
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
