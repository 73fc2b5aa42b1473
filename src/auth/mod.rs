//! Who is asking and what they may do: the caller context and Glance's visibility rules
//! (`caller`, re-exported here), and the `policy.json` rules ([`policy`]).

mod caller;
pub mod policy;
mod trusted;

pub use caller::*;
pub use trusted::Refusal;
