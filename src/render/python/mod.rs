//! Everything CPython-compatible: Python values ([`value`]), CPython 2.7's dict order
//! ([`dict`]), `json.dumps` text ([`json`] for serde values, [`dumps`] for Python values),
//! and `str()`/`repr()` ([`repr`]).

pub mod dict;
pub mod dumps;
pub mod json;
pub mod repr;
pub mod value;
