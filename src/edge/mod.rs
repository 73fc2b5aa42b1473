//! Sockets in, bytes out: the accept loop and drain ([`server`]) and the HEAD fast path
//! ([`fast`]).

pub mod fast;
pub mod server;
