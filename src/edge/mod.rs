//! Sockets in, bytes out: the accept loop and drain ([`server`]), the hyper service with the
//! one top-level dispatch ([`service`]) and the HEAD fast path ([`fast`]).

pub mod fast;
pub mod server;
pub mod service;

pub use service::GlanceService;
