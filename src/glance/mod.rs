//! The Glance v1 surface (`glance/api/v1`).

pub mod images;
