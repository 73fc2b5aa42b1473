//! glance-emu: a byte-exact stand-in for the legacy OpenStack Glance v1 image API.
//!
//! # Layout
//! Top-level modules, lowest first; a module imports only modules listed above it (the rules
//! are checked by `cargo test layout`, see `docs/architecture.md`). Modules marked
//! *(crate)* are internal; the rest is the library's public API.
//! - [`model`]: what an image is (the registry record [`model::Image`], ids, statuses,
//!   timestamps). No HTTP, no I/O.
//! - [`clock`]: the emulator's clock and id generators (real, frozen, seeded), owned by
//!   [`App`].
//! - [`render`]: pure bytes: `X-Image-Meta-*` headers ([`render::image_headers`]), WebOb's
//!   error pages ([`render::webob`]); *(crate)* Glance's JSON (`render::glance_json`) and
//!   everything CPython-compatible (`render::python`: 2.7 dict order, `json.dumps`,
//!   `str`/`repr`).
//! - [`auth`]: who is asking ([`auth::Caller`], [`auth::AuthMode`]), visibility, and the
//!   `policy.json` rules ([`auth::policy`]).
//! - [`store`]: where images live: the in-memory index and list orders, the single writer
//!   path, and `--persist` in Glance's own registry database ([`store::sqlite`]).
//! - [`fixtures`]: loading records from `data/*.json` (windowed reader, fast scanner, serde
//!   fallback), with errors naming file and field ([`fixtures::parse_document`],
//!   [`fixtures::load_paths`]).
//! - [`app`]: what every handler is given: [`App`] (store, [`Config`], clock, ids), the
//!   per-request [`app::Ctx`], response bodies ([`app::body`]); *(crate)* response helpers,
//!   request readers (one `Content-Length` reader, one limited body reader, one query
//!   parser) and the visibility checks.
//! - `glance` *(crate)*: the v1 surface: routing table and handlers (one image, lists,
//!   request metadata, uploads, members).
//! - `compute` *(crate)*: the Nova surface, built on `glance` one way, as Nova called
//!   Glance.
//! - [`control`]: the `/_emu/` control API's state and types, the Rust
//!   [`control::Controller`], the journal and fault rules; *(crate)* its HTTP routes and the
//!   hooks around every request.
//! - [`edge`]: sockets in, bytes out: accept loop and drain ([`edge::server`]), the hyper
//!   service with the one top-level dispatch ([`GlanceService`]), the HEAD fast path
//!   ([`edge::fast`]), the access log ([`edge::access_log`]).
//! - [`embed`]: run it in-process (a test) and drive it with [`control::Controller`].
//!
//! The binary (`src/main.rs`, `src/cli.rs`) parses the command line and hands listeners to
//! [`edge::server::run`].

pub mod app;
pub mod auth;
pub mod clock;
pub(crate) mod compute;
pub mod control;
pub mod edge;
pub mod embed;
pub mod fixtures;
pub(crate) mod glance;
pub mod model;
pub mod render;
pub mod store;

pub use app::{App, Config};
pub use edge::GlanceService;
pub use store::Store;

/// Glance's API port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9292";

/// The Rust examples of README.md, compiled and run as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The Rust examples of docs/testing.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
pub struct TestingDocDoctests;
