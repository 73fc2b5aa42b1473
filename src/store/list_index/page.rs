//! Cutting a page out of a walk or a candidate set, and the naive reference the indexes
//! are tested against.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::Image;

use super::SortKey;

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
