//! The emulator's configuration: the behaviour switches fixed at start-up.

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
    /// How callers are identified.
    pub auth: crate::auth::AuthMode,
    /// The policy rules (`--policy`, over Glance's stock `policy.json`).
    pub policy: crate::auth::policy::Policy,
    /// `uri` in keystonemiddleware's `Www-Authenticate: Keystone uri='...'` (tokens mode).
    pub auth_uri: String,
    /// Test-suite controls: control API settings plus the clock, ids, journal and fault
    /// rules of this emulator (see [`crate::control`]).
    pub control: crate::control::Control,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            glance_compat: false,
            property_quota: 128,
            member_quota: 128,
            image_size_cap: 1 << 40,
            upload_idle_timeout: std::time::Duration::from_secs(60),
            auth: crate::auth::AuthMode::NoAuth,
            policy: crate::auth::policy::Policy::stock(),
            auth_uri: "http://127.0.0.1:5000".to_string(),
            control: crate::control::Control::default(),
        }
    }
}
