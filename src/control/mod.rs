//! Built for test suites: the control API under `/_emu/` (JSON), the request journal and
//! fault injection hooks, deterministic clock and ids, and [`Controller`], the same calls
//! for Rust code that embeds the emulator.
//!
//! The control API is off unless enabled ([`ControlSettings::http`], `--control`). When on,
//! it answers on the Glance port to loopback peers only (or, with `--control-listen`, only on
//! its own listener), and can require `X-Emu-Token`. It never looks at `X-Auth-Token`, and
//! the Glance routes never look at `X-Emu-Token`. The full reference is docs/testing.md.

pub mod controller;
pub mod faults;
pub(crate) mod hooks;
pub(crate) mod http;
pub mod journal;
pub mod state;

pub use crate::app::ControlSettings;
pub use controller::{ControlError, Controller, LoadReport, ResetTo};
pub use state::{Baseline, Control, MAX_BODY, MAX_JOURNAL_CAP, TOKEN_HEADER};
