//! glance-emu: a byte-exact stand-in for the legacy OpenStack Glance v1 image API.
//!
//! # Layout
//! Top-level modules, lowest first; a module imports only modules listed above it (the rules
//! are checked by `cargo test layout`, see `docs/architecture.md`).
//! - [`model`]: what an image is (the registry record, ids, statuses, timestamps). No HTTP,
//!   no I/O.
//! - [`clock`]: the emulator's clock and id generators (real, frozen, seeded), owned by
//!   [`App`].
//! - [`render`]: pure bytes: `X-Image-Meta-*` headers ([`render::image_headers`]), Glance's
//!   JSON ([`render::glance_json`]), WebOb's error pages ([`render::webob`]), and everything
//!   CPython-compatible ([`render::python`]: 2.7 dict order, `json.dumps`, `str`/`repr`).
//! - [`auth`]: who is asking ([`auth::Caller`], [`auth::AuthMode`]), visibility, and the
//!   `policy.json` rules ([`auth::policy`]).
//! - [`store`]: where images live: the in-memory index, the single writer path, and
//!   `--persist` in Glance's own registry database ([`store::sqlite`]).
//! - [`fixtures`]: loading records from `data/*.json` (windowed reader, fast scanner, serde
//!   fallback), with errors naming file and field.
//! - [`app`]: what every handler is given: [`App`] (store, [`Config`], clock, ids), the
//!   per-request [`app::Ctx`], response helpers, request readers, bodies ([`app::body`]).
//! - [`glance`]: the v1 surface: routing table ([`glance::routes`]) and handlers (one image,
//!   lists, request metadata, uploads, members).
//! - [`compute`]: the Nova surface, built on [`glance`] one way, as Nova called Glance.
//! - [`control`]: the `/_emu/` control API, the Rust [`control::Controller`], the journal and
//!   fault rules, and the hooks around every request ([`control::hooks`]).
//! - [`edge`]: sockets in, bytes out: accept loop and drain ([`edge::server`]), the hyper
//!   service with the one top-level dispatch ([`edge::service`]), the HEAD fast path
//!   ([`edge::fast`]).
//! - [`embed`]: run it in-process (a test) and drive it with [`control::Controller`].
//!
//! The binary (`src/main.rs`, `src/cli.rs`) parses the command line and hands listeners to
//! [`edge::server::run`].

pub mod app;
pub mod auth;
pub mod clock;
pub mod compute;
pub mod control;
pub mod edge;
pub mod embed;
pub mod fixtures;
pub mod glance;
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
