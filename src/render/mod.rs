//! Pure rendering: records and errors to the bytes Glance, WebOb and CPython wrote. No
//! `App`, no store, no tokio, no file system.

pub(crate) mod glance_json;
pub mod image_headers;
pub(crate) mod python;
pub mod webob;
