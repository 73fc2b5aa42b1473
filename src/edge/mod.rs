//! Sockets in, bytes out: the accept loop and drain ([`server`]), the hyper service with the
//! one top-level dispatch (`service`, [`GlanceService`]), the HEAD fast path ([`fast`]) and the access log
//! that both write to ([`access_log`]), and the mender of the bytes between hyper and the socket
//! (`eventlet`).

pub mod access_log;
pub(crate) mod eventlet;
pub mod fast;
pub(crate) mod guard;
pub mod server;
pub(crate) mod service;

pub use guard::panics_caught;
pub use service::GlanceService;
