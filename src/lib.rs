//! glance-emu: a byte-exact stand-in for the legacy OpenStack Glance v1 image API.
//!
//! # Layout
//! - [`model`]: what an image is (the registry record, statuses, timestamps).
//! - [`fixtures`]: loading records from `data/*.json`, with errors naming file and field.
//! - [`store`]: where images live; the single writer path and the durable log.
//! - [`auth`]: who is asking, and Glance's visibility rules.
//! - [`headers`]: an image as `X-Image-Meta-*` headers (pure).
//! - [`api`] / [`pyjson`]: an image as Glance's JSON, written like Python's `json.dumps`.
//! - [`error`]: request failures rendered as WebOb rendered them.
//! - [`service`]: routing and response assembly; [`v1`]: the v1 handlers.
//! - [`body`]: response bodies (whole or streamed).
//! - [`server`]: sockets, timeouts, graceful shutdown; [`fasthead`]: plain HEADs answered
//!   in front of hyper.
//! - [`embed`]: run it in-process (a test) and drive it with [`control::Controller`].
//! - [`control`]: the `/_emu/` control API for test suites, with [`journal`] (what was
//!   asked), [`faults`] (breaking requests on purpose) and [`clock`] (frozen time, seeded
//!   ids).

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
