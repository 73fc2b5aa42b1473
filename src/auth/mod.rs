//! Who is asking and what they may do: the caller context and Glance's visibility rules
//! (`caller`, re-exported here), the `policy.json` rules ([`policy`]), and request headers
//! as the WSGI environ held them (`environ`, read for the identity and, by the v1
//! surface, for the image's own headers).

mod caller;
pub(crate) mod environ;
pub mod policy;
mod trusted;

pub use caller::*;
pub use trusted::Refusal;
