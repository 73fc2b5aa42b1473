//! The control state of one emulator: how the control API is exposed ([`ControlSettings`]),
//! the reset baseline, and [`Control`], the clock, ids, journal and fault rules it shares.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::app::{App, ControlSettings};
use crate::control::faults::Faults;
use crate::control::journal::Journal;
use crate::model::Image;

/// Header carrying the control token.
pub const TOKEN_HEADER: &str = "x-emu-token";

/// Largest request body the control API reads (a fixture document).
pub const MAX_BODY: usize = 256 << 20;

/// Largest journal cap accepted.
pub const MAX_JOURNAL_CAP: usize = 1_000_000;

/// What "reset to the fixtures" restores.
#[derive(Debug, Clone, Default)]
pub enum Baseline {
    /// Not recorded yet (captured from the store when the service is created).
    #[default]
    Unset,
    /// These records (shared with the store until changed).
    Images(Vec<Arc<Image>>),
    /// Re-read these fixture paths (as `--data` gave them).
    Paths(Vec<PathBuf>),
}

/// Runtime state behind the controls: one per emulator.
#[derive(Debug, Default)]
pub(crate) struct State {
    journal: Journal,
    faults: Faults,
    baseline: Mutex<Baseline>,
}

/// The emulator's test controls: the shared runtime state of the journal, the fault rules
/// and the reset baseline (the clock and ids are the [`App`]'s). Held beside the `App` by
/// the service and by [`crate::control::Controller`]; clones share state.
#[derive(Debug, Clone)]
pub struct Control {
    state: Arc<State>,
}

impl Default for Control {
    fn default() -> Self {
        Control::new(&ControlSettings::default())
    }
}

impl Control {
    /// Fresh controls with these settings (empty journal, no faults, no baseline).
    pub fn new(settings: &ControlSettings) -> Self {
        let state = State {
            journal: Journal::with_budget(
                settings.journal_cap.min(MAX_JOURNAL_CAP),
                settings.journal_bytes,
            ),
            ..State::default()
        };
        Control {
            state: Arc::new(state),
        }
    }

    /// The request journal.
    pub fn journal(&self) -> &Journal {
        &self.state.journal
    }

    /// The fault rules.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Sets what "reset to the fixtures" restores.
    pub fn set_baseline(&self, b: Baseline) {
        *self
            .state
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = b;
    }

    /// Records the store's current records as the baseline unless one is set.
    pub fn capture_baseline(&self, store: &crate::store::Store) {
        let mut b = self
            .state
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if matches!(*b, Baseline::Unset) {
            *b = Baseline::Images(store.all());
        }
    }

    pub(crate) fn baseline(&self) -> Baseline {
        self.state
            .baseline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// True when no request of `app` needs looking at: no journal, no faults, real clock.
    pub fn is_quiet(&self, app: &App) -> bool {
        !self.state.journal.enabled() && !self.state.faults.any() && app.clock.is_real()
    }
}
