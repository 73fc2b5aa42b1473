//! The command line: every flag with its environment variable, as clap parses it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// A stand-in for the legacy OpenStack Glance v1 image API (Pike/Queens), byte-exact on the
/// wire. Serves HEAD/GET/POST/PUT/DELETE /v1/images..., members and the version document
/// from image records in JSON fixture files.
#[derive(Debug, Parser)]
#[command(name = "glance-emu", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "GLANCE_EMU_LISTEN", default_value = glance_emu::DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,

    /// Fixture path: a directory of *.json files or one .json file. Repeatable; in the
    /// environment variable separate paths with ':'. Default: ./data (skipped with a warning
    /// if absent).
    #[arg(long = "data", env = "GLANCE_EMU_DATA", value_delimiter = ':')]
    pub(crate) data: Vec<PathBuf>,

    /// Also serve on this address (same routes, same store): lets Nova-style clients use
    /// their own port, e.g. 127.0.0.1:8774.
    #[arg(long, env = "GLANCE_EMU_COMPUTE_LISTEN", value_name = "ADDR:PORT")]
    pub(crate) compute_listen: Option<SocketAddr>,

    /// Keep every acknowledged write durable in DIR (fsynced log + image files) and restore
    /// it on the next start with the same DIR. Without it, writes live in memory only.
    #[arg(long, env = "GLANCE_EMU_PERSIST", value_name = "DIR")]
    pub(crate) persist: Option<PathBuf>,

    /// Strictly-real behaviour: HEAD never answers 409 (turns off the X-Image-Meta-Size
    /// request check and the stored-data mismatch check that real Glance 15 did not do).
    #[arg(long, env = "GLANCE_EMU_GLANCE_COMPAT")]
    pub(crate) glance_compat: bool,

    /// Who is asking: `noauth` (Glance's default: everyone is admin, no tenant),
    /// `tokens:FILE` (static tokens: {"<token>": {"tenant": .., "user": .., "roles": [..]}},
    /// X-Auth-Token required) or `trusted-headers` (X-Identity-Status: Confirmed,
    /// X-Tenant-Id, X-User-Id, X-Roles as keystonemiddleware set them).
    #[arg(
        long,
        env = "GLANCE_EMU_AUTH",
        default_value = "noauth",
        value_name = "MODE"
    )]
    pub(crate) auth: String,

    /// A Glance `policy.json` laid over the stock rules (`get_image`, `download_image`,
    /// `add_image`, `modify_image`, `delete_image`, `publicize_image`, `get_images`,
    /// `get_members`, `modify_member`, `delete_member`, ...). Rules: "" or "@" (allow), "!"
    /// (deny), "role:NAME", "rule:NAME", joined with " or "; anything else is an error.
    #[arg(long, env = "GLANCE_EMU_POLICY", value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,

    /// Keystone URI advertised in `Www-Authenticate` on 401s in tokens mode.
    #[arg(
        long,
        env = "GLANCE_EMU_AUTH_URI",
        default_value = "http://127.0.0.1:5000"
    )]
    pub(crate) auth_uri: String,

    /// Seconds a client may take to send a request's headers before the connection is
    /// closed.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub(crate) header_timeout: u64,

    /// Send every request through hyper, including the plain `HEAD /v1/images/<id>`
    /// requests the fast path otherwise answers (same bytes on the wire; for comparison
    /// and as a safety switch).
    #[arg(long)]
    pub(crate) no_fast_head: bool,

    /// Enable the control API under /_emu/ (load/reset/export images, clock, ids, request
    /// journal, fault rules; see docs/testing.md). Answers loopback peers only on the Glance
    /// port, unless --control-listen gives it a listener of its own.
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(crate) control: bool,

    /// Serve the control API on this address instead (from any peer that can reach it),
    /// e.g. 0.0.0.0:9393 inside a container. The Glance port then never answers /_emu/.
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL_LISTEN",
        value_name = "ADDR:PORT",
        requires = "control"
    )]
    pub(crate) control_listen: Option<SocketAddr>,

    /// Require this value in X-Emu-Token on every control call (never a Glance token).
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL_TOKEN",
        value_name = "TOKEN",
        requires = "control",
        hide_env_values = true
    )]
    pub(crate) control_token: Option<String>,

    /// Request journal size (entries kept; the oldest are dropped). Recorded only with
    /// --control.
    #[arg(
        long,
        env = "GLANCE_EMU_JOURNAL_CAP",
        default_value_t = 1000,
        value_name = "N"
    )]
    pub(crate) journal_cap: usize,

    /// Start with the clock frozen at this time (e.g. 2016-05-22T06:04:20.425843): all
    /// created_at/updated_at values and Date headers use it.
    #[arg(long, env = "GLANCE_EMU_FREEZE_CLOCK", value_name = "TIME")]
    pub(crate) freeze_clock: Option<String>,

    /// Seed request ids and image ids (the same seed gives the same ids every run).
    #[arg(long, env = "GLANCE_EMU_ID_SEED", value_name = "N")]
    pub(crate) id_seed: Option<u64>,

    /// Health probe for containers: GET /healthcheck on the --listen address (0.0.0.0 is
    /// probed as 127.0.0.1); exit status 0 when it answers 200, 1 otherwise.
    #[arg(long)]
    pub(crate) probe: bool,
}
