//! The compute-style (Nova) JSON views of the same image records: `GET /v2/{tenant}/images/{id}`,
//! `/v2.1[/{tenant}]/images/{id}`, `/metadata`, `/metadata/{key}`, the lists and the metadata
//! writes, as Nova 2015.1 (Kilo) rendered them over its Glance v1 backend.
//!
//! Nova built every view from Glance v1: `show` and `_get_image` are a `HEAD /v1/images/{id}`
//! (here: [`crate::glance::images::meta`] on the same store), the lists are
//! `GET /v1/images/detail` pages ([`crate::glance::lists::index`]), image deletion is
//! `DELETE /v1/images/{id}` ([`crate::glance::images::delete`]), and metadata writes replace
//! the record's properties through [`crate::store::Store::write`]. So both APIs agree at
//! every moment.
//!
//! Nova serialised plain CPython 2.7 dicts with `json.dumps`, so key order is hash-table
//! order. [`crate::render::python`] models CPython 2.7's string hash and dict
//! probing/resizing, and every dict Nova built (view literals, links, faults, the properties
//! dict glanceclient filled from the HEAD headers and `copy.deepcopy` rebuilt, request bodies
//! from `json.loads`) is replayed through it. See `docs/compute.md` for the release followed
//! and the deviations.

mod faults;
mod glance_client;
mod images;
mod metadata;
mod request;
pub mod routes;
mod views;

pub use routes::route;
