//! The control state of one emulator: how the control API is exposed ([`ControlSettings`]),
//! the reset baseline, and [`Control`], the clock, ids, journal and fault rules it shares.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::clock::{Clock, Ids};
use crate::control::faults::Faults;
use crate::control::journal::Journal;
use crate::model::Image;

/// Header carrying the control token.
pub const TOKEN_HEADER: &str = "x-emu-token";

/// Largest request body the control API reads (a fixture document).
pub const MAX_BODY: usize = 256 << 20;

/// Largest journal cap accepted.
pub const MAX_JOURNAL_CAP: usize = 1_000_000;

/// How the control API is exposed. Fixed when the emulator starts.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// Whether `/_emu/` answers over HTTP at all (`--control`). [`Controller`] works either
    /// way.
    pub http: bool,
    /// Required `X-Emu-Token` value (`--control-token`).
    pub token: Option<String>,
    /// Journal entries kept (0 records nothing).
    pub journal_cap: usize,
    /// `/_emu/` answers only on a listener of its own (`--control-listen`), from any peer;
    /// the Glance port then never answers it. Otherwise it answers on the Glance port, to
    /// loopback peers only.
    pub separate_listener: bool,
}

impl Default for ControlSettings {
    fn default() -> Self {
        ControlSettings {
            http: false,
            token: None,
            journal_cap: crate::control::journal::DEFAULT_CAP,
            separate_listener: false,
        }
    }
}

impl std::fmt::Debug for ControlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSettings")
            .field("http", &self.http)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("journal_cap", &self.journal_cap)
            .field("separate_listener", &self.separate_listener)
            .finish()
    }
}

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
    clock: Clock,
    ids: Ids,
    journal: Journal,
    faults: Faults,
    baseline: Mutex<Baseline>,
}

/// The emulator's test controls: settings plus shared runtime state (clock, ids, journal,
/// fault rules, reset baseline). Lives in [`crate::Config::control`]; clones share state.
#[derive(Debug, Clone)]
pub struct Control {
    settings: Arc<ControlSettings>,
    state: Arc<State>,
}

impl Default for Control {
    fn default() -> Self {
        Control::new(ControlSettings::default())
    }
}

impl Control {
    /// Fresh controls with these settings (real clock, random ids, no faults).
    pub fn new(settings: ControlSettings) -> Self {
        let state = State {
            journal: Journal::new(settings.journal_cap.min(MAX_JOURNAL_CAP)),
            ..State::default()
        };
        Control {
            settings: Arc::new(settings),
            state: Arc::new(state),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ControlSettings {
        &self.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The id generators.
    pub fn ids(&self) -> &Ids {
        &self.state.ids
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
    pub fn capture_baseline(&self, store: &crate::Store) {
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

    /// True when no request needs looking at: no journal, no faults, real clock.
    pub fn is_quiet(&self) -> bool {
        !self.state.journal.enabled() && !self.state.faults.any() && self.state.clock.is_real()
    }
}
