//! The v1 `sort_key`s and their total orders: the key column, then Glance's tie-breaks
//! (`created_at`, `id`), and the compact summaries an order is sorted by when it is built.

use std::cmp::Ordering;

use crate::model::{Image, Owner};

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
    /// Not a v1 `sort_key`: who may list a record. Public records first (one run, in
    /// (`created_at`, `id`) order), then private ones grouped by owner (no owner first),
    /// each owner's run in (`created_at`, `id`) order. A tenant's page merges the public run,
    /// its own run and the records shared with it instead of walking everyone's images.
    Visibility,
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

    /// Every order the list indexes can keep: the v1 keys and [`SortKey::Visibility`].
    pub const INDEXED: [SortKey; 9] = [
        SortKey::Name,
        SortKey::Status,
        SortKey::ContainerFormat,
        SortKey::DiskFormat,
        SortKey::Size,
        SortKey::Id,
        SortKey::CreatedAt,
        SortKey::UpdatedAt,
        SortKey::Visibility,
    ];

    /// The wire spelling (`visibility` for the internal order).
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
            SortKey::Visibility => "visibility",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        SortKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub(super) fn slot(self) -> usize {
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
            SortKey::Visibility => visibility(a).cmp(&visibility(b)),
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
    pub(super) fn prefix(self, img: &Image) -> (u128, bool) {
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
            // Public first; then the owner's text (the first byte says which class).
            SortKey::Visibility => match visibility(img) {
                (false, _) => (0, true),
                (true, owner) => {
                    let (t, exact) = text(owner.map(|o| o.text()).as_deref());
                    (t + (2u128 << 120), exact)
                }
            },
        }
    }
}

/// The [`SortKey::Visibility`] column: (private, owner of a private record).
pub fn visibility(img: &Image) -> (bool, Option<&Owner>) {
    if img.is_public {
        (false, None)
    } else {
        (true, img.owner.as_ref())
    }
}

/// A timestamp as an unsigned number in the same order (sign bit flipped).
pub(super) fn time_bits(t: crate::model::Timestamp) -> u64 {
    (t.micros() as u64) ^ (1 << 63)
}
