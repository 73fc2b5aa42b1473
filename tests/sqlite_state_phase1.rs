//! Temporary harness (issue 14, phase 1): runs the unit tests of src/sqlite_state.rs before
//! the module is wired into the crate. Removed when it is.
mod model {
    pub use glance_emu::model::*;
}
#[allow(dead_code)]
#[path = "../src/sqlite_state.rs"]
mod sqlite_state;
#[allow(dead_code)]
#[path = "../src/log_import.rs"]
mod log_import;
