//! Everything CPython-compatible: `json.dumps` text.

pub mod json;
