//! Integration tests over real TCP against an in-process server on port 0 (one test binary).

mod auth;
mod cli;
mod cli_ux;
mod compute;
mod control;
mod fast;
mod head;
mod identity;
mod layout;
mod limits;
mod lists;
mod member_rows;
mod oracle_wire;
mod persist;
mod robust;
mod support;
mod v1;
