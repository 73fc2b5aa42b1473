//! What every handler is given: the [`App`] handle (store and configuration), the
//! per-request [`Ctx`], the response future and response helpers, request readers, and the
//! visibility check. Sits below the three surfaces (glance, compute, control).

mod access;
pub mod body;
mod config;
mod ctx;
mod handle;
mod request;
mod respond;
mod unread;

pub(crate) use access::*;
pub use config::*;
pub use ctx::*;
pub use handle::*;
pub(crate) use request::*;
pub(crate) use respond::*;
pub(crate) use unread::*;
