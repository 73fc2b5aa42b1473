//! The command line: every flag with its environment variable and help heading, as clap
//! parses it, and the parser for listen addresses.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::Parser;

/// A stand-in for the legacy OpenStack Glance v1 image API (Pike/Queens), byte-exact on the
/// wire. Serves HEAD/GET/POST/PUT/DELETE /v1/images..., members and the version document
/// from image records in JSON fixture files.
///
/// Boolean options also read their variable as 1/0, true/false, yes/no or on/off.
/// Logging: one access-log line per request on stderr; RUST_LOG filters it like any other
/// line (RUST_LOG=warn silences request lines, RUST_LOG=glance_emu::access=off only those).
#[derive(Debug, Parser)]
#[command(name = "glance-emu", version, about, max_term_width = 100)]
pub(crate) struct Cli {
    /// Address to listen on: IP:PORT, HOST:PORT (localhost:9292) or [IPv6]:PORT ([::1]:9292);
    /// port 0 picks a free one.
    #[arg(
        long,
        env = "GLANCE_EMU_LISTEN",
        default_value = glance_emu::DEFAULT_LISTEN,
        value_name = "ADDR:PORT",
        value_parser = parse_listen,
        help_heading = "Serving"
    )]
    pub(crate) listen: SocketAddr,

    /// Fixture path: a directory of *.json files or one .json file. Repeatable; in the
    /// environment variable separate paths with ':'. Default: ./data (skipped with a warning
    /// if absent).
    #[arg(
        long = "data",
        env = "GLANCE_EMU_DATA",
        value_delimiter = ':',
        value_name = "PATH",
        help_heading = "Data"
    )]
    pub(crate) data: Vec<PathBuf>,

    /// While fixtures load, print a progress line (files, records, bytes, rate) every SECS
    /// seconds once loading has taken that long; 0 turns it off.
    #[arg(
        long,
        env = "GLANCE_EMU_PROGRESS_EVERY",
        default_value_t = 2.0,
        value_name = "SECS",
        help_heading = "Data"
    )]
    pub(crate) progress_every: f64,

    /// Also serve on this address (same routes, same store): lets Nova-style clients use
    /// their own port, e.g. 127.0.0.1:8774.
    #[arg(
        long,
        env = "GLANCE_EMU_COMPUTE_LISTEN",
        value_name = "ADDR:PORT",
        value_parser = parse_listen,
        help_heading = "Serving"
    )]
    pub(crate) compute_listen: Option<SocketAddr>,

    /// Keep every acknowledged write durable in DIR, as a real Glance 15 keeps it
    /// (DIR/glance.sqlite in the registry schema, bytes in DIR/images/<id>; committed before
    /// the answer), and restore it on the next start. A DIR written by real Glance works too;
    /// an images.log of earlier versions is imported once. Without it, writes live in memory
    /// only.
    #[arg(
        long,
        env = "GLANCE_EMU_PERSIST",
        value_name = "DIR",
        help_heading = "Data"
    )]
    pub(crate) persist: Option<PathBuf>,

    /// Strictly-real behaviour: HEAD never answers 409 (turns off the X-Image-Meta-Size
    /// request check and the stored-data mismatch check that real Glance 15 did not do).
    #[arg(
        long,
        env = "GLANCE_EMU_GLANCE_COMPAT",
        value_parser = BoolishValueParser::new(),
        help_heading = "Behaviour"
    )]
    pub(crate) glance_compat: bool,

    /// Who is asking: `noauth` (Glance's default: everyone is admin, no tenant),
    /// `tokens:FILE` (static tokens: {"<token>": {"tenant": .., "user": .., "roles": [..]}},
    /// X-Auth-Token required) or `trusted-headers` (X-Identity-Status: Confirmed,
    /// X-Tenant-Id, X-User-Id, X-Roles as keystonemiddleware set them).
    #[arg(
        long,
        env = "GLANCE_EMU_AUTH",
        default_value = "noauth",
        value_name = "MODE",
        help_heading = "Callers"
    )]
    pub(crate) auth: String,

    /// A Glance `policy.json` laid over the stock rules (`get_image`, `download_image`,
    /// `add_image`, `modify_image`, `delete_image`, `publicize_image`, `get_images`,
    /// `get_members`, `modify_member`, `delete_member`, ...). Rules: "" or "@" (allow), "!"
    /// (deny), "role:NAME", "rule:NAME", joined with " or "; anything else is an error.
    #[arg(
        long,
        env = "GLANCE_EMU_POLICY",
        value_name = "FILE",
        help_heading = "Callers"
    )]
    pub(crate) policy: Option<PathBuf>,

    /// Keystone URI advertised in `Www-Authenticate` on 401s in tokens mode.
    #[arg(
        long,
        env = "GLANCE_EMU_AUTH_URI",
        default_value = "http://127.0.0.1:5000",
        value_name = "URI",
        help_heading = "Callers"
    )]
    pub(crate) auth_uri: String,

    /// Seconds a client may take to send a request's headers before the connection is
    /// closed.
    #[arg(
        long,
        env = "GLANCE_EMU_HEADER_TIMEOUT",
        default_value_t = 30,
        value_name = "SECS",
        help_heading = "Serving"
    )]
    pub(crate) header_timeout: u64,

    /// Largest request head in bytes (request line and headers); a longer one gets 431
    /// (8192 to 1048576). Glance's eventlet limits (8 KiB request line, 16 KiB header
    /// line, 64 KiB header block, 99 header lines) apply anyway, with eventlet's answers;
    /// the default (139264) is above them all.
    #[arg(
        long,
        env = "GLANCE_EMU_MAX_HEADER_BYTES",
        default_value_t = glance_emu::edge::server::DEFAULT_MAX_HEADER_BYTES,
        value_name = "BYTES"
    )]
    pub(crate) max_header_bytes: usize,

    /// Most request headers; more get 431 (1 to 1000). The default, 99, is Glance's; a
    /// 100th header line gets Python's 431 "Too many headers" whatever this is.
    #[arg(
        long,
        env = "GLANCE_EMU_MAX_HEADERS",
        default_value_t = glance_emu::edge::server::DEFAULT_MAX_HEADERS,
        value_name = "N"
    )]
    pub(crate) max_headers: usize,

    /// Connections served at once per listener; further ones wait until one closes (1 to
    /// 1000000).
    #[arg(
        long,
        env = "GLANCE_EMU_MAX_CONNECTIONS",
        default_value_t = glance_emu::edge::server::DEFAULT_MAX_CONNECTIONS,
        value_name = "N"
    )]
    pub(crate) max_connections: usize,

    /// Slowest upload accepted, in bytes per second averaged over --upload-rate-window; a
    /// slower body is cut off with 408 (0 turns the check off).
    #[arg(
        long,
        env = "GLANCE_EMU_UPLOAD_MIN_RATE",
        default_value_t = glance_emu::app::DEFAULT_UPLOAD_MIN_RATE,
        value_name = "BYTES_PER_SEC"
    )]
    pub(crate) upload_min_rate: u64,

    /// Seconds over which --upload-min-rate is measured (1 to 3600).
    #[arg(
        long,
        env = "GLANCE_EMU_UPLOAD_RATE_WINDOW",
        default_value_t = 30,
        value_name = "SECS"
    )]
    pub(crate) upload_rate_window: u64,

    /// Send every request through hyper, including the plain `HEAD /v1/images/<id>`
    /// requests the fast path otherwise answers (same bytes on the wire; for comparison
    /// and as a safety switch).
    #[arg(
        long,
        env = "GLANCE_EMU_NO_FAST_HEAD",
        value_parser = BoolishValueParser::new(),
        help_heading = "Serving"
    )]
    pub(crate) no_fast_head: bool,

    /// Access-log and log line format on stderr: `text` or `json` (one object per line).
    /// Colour only when stderr is a terminal and NO_COLOR is unset.
    #[arg(
        long,
        env = "GLANCE_EMU_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT",
        value_parser = ["text", "json"],
        help_heading = "Logging"
    )]
    pub(crate) log_format: String,

    /// Write the address the Glance listener actually bound to FILE (removed on a clean
    /// stop); `--probe` reads it back. Containers set it, so their health check follows
    /// whatever --listen or GLANCE_EMU_LISTEN chose.
    #[arg(
        long,
        env = "GLANCE_EMU_ADDR_FILE",
        value_name = "FILE",
        help_heading = "Serving"
    )]
    pub(crate) addr_file: Option<PathBuf>,

    /// Enable the control API under /_emu/ (load/reset/export images, clock, ids, request
    /// journal, fault rules; see docs/testing.md). Answers loopback peers only on the Glance
    /// port, unless --control-listen gives it a listener of its own.
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL",
        value_parser = BoolishValueParser::new(),
        help_heading = "Test controls"
    )]
    pub(crate) control: bool,

    /// Serve the control API on this address instead (from any peer that can reach it),
    /// e.g. 0.0.0.0:9393 inside a container. The Glance port then never answers /_emu/.
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL_LISTEN",
        value_name = "ADDR:PORT",
        value_parser = parse_listen,
        requires = "control",
        help_heading = "Test controls"
    )]
    pub(crate) control_listen: Option<SocketAddr>,

    /// Require this value in X-Emu-Token on every control call (never a Glance token).
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL_TOKEN",
        value_name = "TOKEN",
        requires = "control",
        hide_env_values = true,
        help_heading = "Test controls"
    )]
    pub(crate) control_token: Option<String>,

    /// Request journal size (entries kept; the oldest are dropped). Recorded only with
    /// --control.
    #[arg(
        long,
        env = "GLANCE_EMU_JOURNAL_CAP",
        default_value_t = 1000,
        value_name = "N",
        help_heading = "Test controls"
    )]
    pub(crate) journal_cap: usize,

    /// Request journal budget in bytes (oldest entries dropped beyond it; long header
    /// values cut). Recorded only with --control.
    #[arg(
        long,
        env = "GLANCE_EMU_JOURNAL_BYTES",
        default_value_t = glance_emu::app::DEFAULT_JOURNAL_BYTES,
        value_name = "BYTES"
    )]
    pub(crate) journal_bytes: usize,

    /// Start with the clock frozen at this time (e.g. 2016-05-22T06:04:20.425843): all
    /// created_at/updated_at values and Date headers use it.
    #[arg(
        long,
        env = "GLANCE_EMU_FREEZE_CLOCK",
        value_name = "TIME",
        help_heading = "Test controls"
    )]
    pub(crate) freeze_clock: Option<String>,

    /// Seed request ids and image ids (the same seed gives the same ids every run).
    #[arg(
        long,
        env = "GLANCE_EMU_ID_SEED",
        value_name = "N",
        help_heading = "Test controls"
    )]
    pub(crate) id_seed: Option<u64>,

    /// Health probe for containers: GET /healthcheck on the address in --addr-file if there
    /// is one, else on --listen (0.0.0.0 and :: are probed on loopback); exit status 0 when
    /// it answers 200, 1 otherwise.
    #[arg(long, help_heading = "Serving")]
    pub(crate) probe: bool,

    /// Instead of serving: `snapshot` copies a live Glance v1 into fixture files.
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// What the binary does instead of serving.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Read every image (deleted and killed ones too), its properties and members from a
    /// live Glance v1 and write fixture files into --out, so that `glance-emu --data OUT`
    /// answers HEAD and detail as the source did. Progress lines go to stderr.
    Snapshot(SnapshotArgs),
}

/// `glance-emu snapshot --from URL --out DIR`.
#[derive(Debug, clap::Args)]
#[command(max_term_width = 100)]
pub(crate) struct SnapshotArgs {
    /// The Glance API endpoint, e.g. http://127.0.0.1:9292 (plain HTTP; a path before /v1
    /// is kept). Every image is listed, so call it as an admin.
    #[arg(long, value_name = "URL")]
    pub(crate) from: String,

    /// Directory to write (created; must be empty or absent): images.json, and data/<id>
    /// with --with-data.
    #[arg(long, value_name = "DIR")]
    pub(crate) out: PathBuf,

    /// Keystone token sent as X-Auth-Token.
    #[arg(
        long,
        env = "GLANCE_EMU_SNAPSHOT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub(crate) token: Option<String>,

    /// An extra request header, e.g. 'X-Roles: admin' for a trusted-auth Glance
    /// (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub(crate) headers: Vec<String>,

    /// Also download the bytes of every active image into DIR/data/<id>.
    #[arg(long)]
    pub(crate) with_data: bool,

    /// Images asked for per detail page (Glance caps it at its api_limit_max, 1000 by
    /// default).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub(crate) page_size: u32,

    /// Seconds to wait for a connection or an answer before giving up.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) timeout: u64,

    /// Keep-alive connections (1 to 64) over which each page's members requests and
    /// downloads are spread; the output is the same for every N.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) connections: u32,
}

/// `--listen` and friends: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` (the host name resolved
/// once, at start; an IPv4 address preferred, as `localhost` usually means 127.0.0.1).
pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let hint = "expected ADDR:PORT, e.g. 127.0.0.1:9292, localhost:9292 or [::1]:9292";
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(hint.to_string());
    };
    if host.is_empty() || host.contains(':') || port.parse::<u16>().is_err() {
        return Err(hint.to_string());
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{host}': {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("'{host}' has no address"))
}
