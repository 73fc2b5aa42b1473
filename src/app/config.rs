//! The emulator's configuration: the behaviour switches fixed at start-up.

/// Default `--upload-min-rate` (bytes per second).
pub const DEFAULT_UPLOAD_MIN_RATE: u64 = 1024;

/// Behaviour switches of the emulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Strictly-real mode: HEAD never answers 409 (no size/data mismatch checks).
    pub glance_compat: bool,
    /// `image_property_quota` (Glance default 128).
    pub property_quota: usize,
    /// `image_member_quota` (Glance default 128).
    pub member_quota: usize,
    /// `image_size_cap` (Glance default 1 TiB).
    pub image_size_cap: u64,
    /// How long an upload may stall between body chunks before it is abandoned (the image
    /// is killed, as when a client disconnects).
    pub upload_idle_timeout: std::time::Duration,
    /// Slowest upload accepted, bytes per second averaged over `upload_rate_window`; a
    /// slower one is cut off with 408 and the image killed (0: no check).
    pub upload_min_rate: u64,
    /// The window `upload_min_rate` is measured over.
    pub upload_rate_window: std::time::Duration,
    /// How callers are identified.
    pub auth: crate::auth::AuthMode,
    /// The policy rules (`--policy`, over Glance's stock `policy.json`).
    pub policy: crate::auth::policy::Policy,
    /// `uri` in keystonemiddleware's `Www-Authenticate: Keystone uri='...'` (tokens mode).
    pub auth_uri: String,
    /// How the control API is exposed (the control state itself lives in
    /// `control::Control`).
    pub control: ControlSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            glance_compat: false,
            property_quota: 128,
            member_quota: 128,
            image_size_cap: 1 << 40,
            upload_idle_timeout: std::time::Duration::from_secs(60),
            upload_min_rate: DEFAULT_UPLOAD_MIN_RATE,
            upload_rate_window: std::time::Duration::from_secs(30),
            auth: crate::auth::AuthMode::NoAuth,
            policy: crate::auth::policy::Policy::stock(),
            auth_uri: "http://127.0.0.1:5000".to_string(),
            control: ControlSettings::default(),
        }
    }
}

/// Journal entries kept unless configured otherwise.
pub const DEFAULT_JOURNAL_CAP: usize = 1000;

/// Default `--journal-bytes`: the journal's byte budget.
pub const DEFAULT_JOURNAL_BYTES: usize = 32 << 20;

/// How the control API is exposed. Fixed when the emulator starts.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlSettings {
    /// Whether `/_emu/` answers over HTTP at all (`--control`). `Controller` works either
    /// way.
    pub http: bool,
    /// Required `X-Emu-Token` value (`--control-token`).
    pub token: Option<String>,
    /// Journal entries kept (0 records nothing).
    pub journal_cap: usize,
    /// Journal byte budget (`--journal-bytes`).
    pub journal_bytes: usize,
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
            journal_cap: DEFAULT_JOURNAL_CAP,
            journal_bytes: DEFAULT_JOURNAL_BYTES,
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
            .field("journal_bytes", &self.journal_bytes)
            .field("separate_listener", &self.separate_listener)
            .finish()
    }
}
