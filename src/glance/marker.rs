//! Glance's marker criteria (`_paginate_query`) where they part from "the records after the
//! marker in the page's order": a sort key that is null.
//!
//! Glance ordered a page by the raw column (SQLite: a null before any value) but chose the
//! records after the marker by comparing each column with a null replaced by its type's
//! default (`''` for text, `0` for integers) against the marker's value with a null replaced
//! by `''`, for every type (and SQLite ranks any integer below any text). With no null or
//! default in sight the two agree, and glance-emu's lists seek to the marker. When the
//! marker's key is null or the default they do not: a page after a size-0 marker repeats
//! the null-size records created after it, one after a null name skips the `""` names
//! created before it, and `sort_key=size` after a null-size marker is empty ascending and
//! starts over descending (`glance image-list --sort-key size` then never ends). Those pages
//! are cut by [`Criteria`] from the start of the order, as Glance's query did.

use std::cmp::Ordering;

use crate::model::{Image, ImageId, Timestamp};
use crate::store::list_index::SortKey;

/// A column value as SQLite compared it: any integer below any text, text by its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Val<'a> {
    Int(u64),
    Text(&'a str),
}

/// The key column of a nullable sort key (`None`: the key is never null).
fn column(key: SortKey, img: &Image) -> Option<Option<Val<'_>>> {
    match key {
        SortKey::Name => Some(img.name.as_deref().map(Val::Text)),
        SortKey::ContainerFormat => Some(img.container_format.as_deref().map(Val::Text)),
        SortKey::DiskFormat => Some(img.disk_format.as_deref().map(Val::Text)),
        SortKey::Size => Some(img.size.map(Val::Int)),
        _ => None,
    }
}

/// `_get_default_column_value`: what a null column compares as.
fn default(key: SortKey) -> Val<'static> {
    match key {
        SortKey::Size => Val::Int(0),
        _ => Val::Text(""),
    }
}

/// Where the walk for a [`Criteria`] page starts.
pub enum Start {
    /// At the start of the order.
    Beginning,
    /// Right after this record (the marker, or a stand-in placed before the first record
    /// that can qualify).
    After(Box<Image>),
    /// Nowhere: no record qualifies.
    Nothing,
}

/// The records a marker page may hold, when that is not simply "after the marker".
pub struct Criteria<'m> {
    key: SortKey,
    desc: bool,
    marker: &'m Image,
    value: Val<'m>,
}

impl<'m> Criteria<'m> {
    /// `None` when Glance's criteria are exactly "after the marker" (the marker's key is
    /// never null, or holds a value other than its type's default).
    pub fn new(key: SortKey, desc: bool, marker: &'m Image) -> Option<Self> {
        let col = column(key, marker)?;
        if col.is_some_and(|v| v != default(key)) {
            return None;
        }
        Some(Criteria {
            key,
            desc,
            marker,
            value: col.unwrap_or(Val::Text("")),
        })
    }

    /// Where the records the criteria keep begin in the page's order, so that a page does
    /// not walk the records that cannot qualify (all but one case cost the nulls and
    /// defaults before the marker at most).
    pub fn start(&self) -> Start {
        let null_marker = column(self.key, self.marker).flatten().is_none();
        match (self.key, self.desc, null_marker) {
            // A null size compares as '' against numbers: nothing is above it, all below.
            (SortKey::Size, false, true) => Start::Nothing,
            (SortKey::Size, true, true) => Start::Beginning,
            // Ascending, the nulls (first in the order) may come back.
            (_, false, _) => Start::Beginning,
            // Descending after a `''`/`0`: only defaults and nulls after the marker.
            (_, true, false) => Start::After(Box::new(self.marker.clone())),
            // Descending after a null text: the `""` records (before the nulls) and the nulls,
            // from the first `""` on: after a stand-in `""` created at the end of time.
            (_, true, true) => {
                let mut img = self.marker.clone();
                match self.key {
                    SortKey::Name => img.name = Some("".into()),
                    SortKey::ContainerFormat => img.container_format = Some("".into()),
                    SortKey::DiskFormat => img.disk_format = Some("".into()),
                    _ => return Start::Beginning,
                }
                let (Some(end), Some(id)) = (
                    Timestamp::parse("9999-12-31T23:59:59.999999"),
                    ImageId::new(&"\u{10FFFF}".repeat(9)),
                ) else {
                    return Start::Beginning;
                };
                img.created_at = end;
                img.id = id;
                Start::After(Box::new(img))
            }
        }
    }

    /// Glance's `OR` of criteria: the key beyond the marker's, or equal to it with
    /// (`created_at`, `id`) beyond the marker's, "beyond" in the page's direction.
    pub fn keeps(&self, img: &Image) -> bool {
        let v = column(self.key, img).flatten().unwrap_or(default(self.key));
        let order = v.cmp(&self.value).then_with(|| {
            img.created_at
                .cmp(&self.marker.created_at)
                .then_with(|| img.id.as_str().cmp(self.marker.id.as_str()))
        });
        order
            == if self.desc {
                Ordering::Less
            } else {
                Ordering::Greater
            }
    }
}
