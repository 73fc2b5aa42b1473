//! A tenant's list (Glance's "normal user view": public images, its own, those shared with
//! it) answered without walking everyone else's images: the public run and the tenant's own
//! run of the [`SortKey::Visibility`] order, and the records shared with the tenant
//! ([`Shared`], from the member lists), merged in the page's order.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use crate::model::{Image, Owner};

use super::key::visibility;
use super::{page_from_candidates, page_from_walk, Handle, ListIndex, SortKey};

/// Records shared with each tenant, by handle (from the records' member lists); kept by
/// every write while the index is live.
#[derive(Debug, Default)]
pub(super) struct Shared(HashMap<Box<str>, Vec<Handle>, foldhash::fast::RandomState>);

impl Shared {
    /// From every record of a handle table.
    pub(super) fn build(slots: &[Option<Arc<Image>>]) -> Self {
        let mut s = Shared::default();
        for (h, img) in slots.iter().enumerate() {
            if let Some(img) = img {
                s.add(h as Handle, img);
            }
        }
        s
    }

    /// `img` (at `h`) was added.
    pub(super) fn add(&mut self, h: Handle, img: &Image) {
        for m in img.members.iter() {
            let v = self.0.entry(m.member_id.as_str().into()).or_default();
            // One record's memberships are added together: a repeat is the last entry.
            if v.last() != Some(&h) {
                v.push(h);
            }
        }
    }

    /// `img` (at `h`) was removed.
    pub(super) fn remove(&mut self, h: Handle, img: &Image) {
        for m in img.members.iter() {
            if let Some(v) = self.0.get_mut(m.member_id.as_str()) {
                v.retain(|&x| x != h);
                if v.is_empty() {
                    self.0.remove(m.member_id.as_str());
                }
            }
        }
    }

    /// `old` (at `h`) became `new`.
    pub(super) fn replace(&mut self, h: Handle, old: &Image, new: &Image) {
        let ids =
            |i: &Image| -> Vec<String> { i.members.iter().map(|m| m.member_id.clone()).collect() };
        if old.members.is_empty() && new.members.is_empty() || ids(old) == ids(new) {
            return;
        }
        self.remove(h, old);
        self.add(h, new);
    }

    /// The handles shared with `tenant`; with `None` (Glance's noauth context, whose
    /// membership join matched every row), every handle with a member.
    pub(super) fn handles(&self, tenant: Option<&str>) -> Vec<Handle> {
        match tenant {
            Some(t) => self.0.get(t).cloned().unwrap_or_default(),
            None => {
                let mut all: Vec<Handle> = self.0.values().flatten().copied().collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        }
    }

    /// Same content (tests).
    pub(super) fn same_as(&self, other: &Shared) -> bool {
        let norm = |s: &Shared| {
            let mut v: Vec<(String, Vec<Handle>)> =
                s.0.iter()
                    .map(|(k, hs)| {
                        let mut hs = hs.clone();
                        hs.sort_unstable();
                        (k.to_string(), hs)
                    })
                    .collect();
            v.sort();
            v
        };
        norm(self) == norm(other)
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.0.capacity() * (std::mem::size_of::<(Box<str>, Vec<Handle>)>() + 1)
            + self
                .0
                .iter()
                .map(|(k, v)| k.len() + v.capacity() * std::mem::size_of::<Handle>())
                .sum::<usize>()
    }
}

/// Owner ranks by owner (read once per record while an order is built).
pub(super) type Ranks<'a> = HashMap<&'a Owner, u32, foldhash::fast::RandomState>;

/// Owners of private records ranked in text order: [`rank_summary`] is then an exact
/// summary of the [`SortKey::Visibility`] column for sorting a new order.
pub(super) fn owner_ranks(slots: &[Option<Arc<Image>>]) -> Ranks<'_> {
    let mut owners: Vec<&Owner> = slots
        .iter()
        .flatten()
        .filter(|i| !i.is_public)
        .filter_map(|i| i.owner.as_ref())
        .collect();
    owners.sort_unstable();
    owners.dedup();
    owners
        .into_iter()
        .enumerate()
        .map(|(r, o)| (o, r as u32))
        .collect()
}

/// Public records 0, private owner-less 1, then 2 + the owner's rank.
pub(super) fn rank_summary(ranks: &Ranks<'_>, img: &Image) -> u128 {
    match visibility(img) {
        (false, _) => 0,
        (true, None) => 1,
        (true, Some(o)) => 2 + u128::from(ranks.get(o).copied().unwrap_or(u32::MAX)),
    }
}

/// Two walks in the same (`created_at`, `id`) direction merged into one.
fn merge<'s>(
    a: impl Iterator<Item = &'s Arc<Image>>,
    b: impl Iterator<Item = &'s Arc<Image>>,
    desc: bool,
) -> impl Iterator<Item = &'s Arc<Image>> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) => {
            if SortKey::CreatedAt.cmp_dir(desc, x, y) == Ordering::Greater {
                b.next()
            } else {
                a.next()
            }
        }
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// How a tenant's view is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewLimits {
    /// A `created_at` page merges the runs when the view has at most this many records.
    pub merge: usize,
    /// A page in another order collects and sorts the view when it has at most this many.
    pub collect: usize,
}

impl ListIndex {
    /// A page of the normal-user view of `tenant` (the registry context's owner; `None` for
    /// Glance's noauth context, which listed every shared image): the first `limit`
    /// records `keep` accepts in `key`'s order strictly after `after`, among the public
    /// ones, those `tenant` owns and those shared with it. `keep` must itself check that
    /// view (this only chooses where to look). `None` when the visibility order is not
    /// built or the view is larger than `limits` allow: walk the key's order instead.
    #[allow(clippy::too_many_arguments)]
    pub fn visible_page(
        &self,
        tenant: Option<&str>,
        key: SortKey,
        desc: bool,
        after: Option<&Image>,
        limit: usize,
        keep: impl FnMut(&Image) -> bool,
        limits: ViewLimits,
    ) -> Option<Vec<Arc<Image>>> {
        let vis = SortKey::Visibility;
        let order = self.orders[vis.slot()].as_ref()?;
        let slots = &self.slots;
        let tenant_owner = tenant.map(Owner::new);
        let own_key = tenant_owner.as_ref().map(|t| (true, Some(t)));
        // Shared records that neither run holds: private, owned by someone else.
        let extra: Vec<&Arc<Image>> = self
            .shared
            .handles(tenant)
            .into_iter()
            .filter_map(|h| slots[h as usize].as_ref())
            .filter(|r| !r.is_public && (tenant_owner.is_none() || r.owner != tenant_owner))
            .collect();
        let public_n = order.index(order.partition(slots, |r| r.is_public));
        let own_n = own_key.map_or(0, |k| {
            order.index(order.partition(slots, |r| visibility(r) <= k))
                - order.index(order.partition(slots, |r| visibility(r) < k))
        });
        let view = public_n + own_n + extra.len();
        if key == SortKey::CreatedAt {
            if view > limits.merge {
                return None;
            }
            let by_time = SortKey::CreatedAt;
            let mut extra = extra;
            extra
                .retain(|r| after.is_none_or(|m| by_time.cmp_dir(desc, r, m) == Ordering::Greater));
            extra.sort_by(|a, b| by_time.cmp_dir(desc, a, b));
            let public = self.run_walk(
                vis,
                |r: &Image| {
                    if r.is_public {
                        Ordering::Equal
                    } else {
                        Ordering::Greater
                    }
                },
                desc,
                after,
            )?;
            let own = match own_key {
                Some(k) => {
                    Some(self.run_walk(vis, move |r: &Image| visibility(r).cmp(&k), desc, after)?)
                }
                None => None,
            };
            let walk = merge(
                merge(public, own.into_iter().flatten(), desc),
                extra.into_iter(),
                desc,
            );
            return Some(page_from_walk(walk, limit, keep));
        }
        if view > limits.collect {
            return None;
        }
        let mut cands: Vec<Arc<Image>> = Vec::with_capacity(view);
        cands.extend(
            order
                .forward(super::Pos { block: 0, off: 0 })
                .take(public_n)
                .filter_map(|h| slots[h as usize].clone()),
        );
        if let Some(k) = own_key {
            let from = order.partition(slots, |r| visibility(r) < k);
            cands.extend(
                order
                    .forward(from)
                    .take(own_n)
                    .filter_map(|h| slots[h as usize].clone()),
            );
        }
        cands.extend(extra.into_iter().cloned());
        Some(page_from_candidates(cands, key, desc, after, limit, keep))
    }
}
