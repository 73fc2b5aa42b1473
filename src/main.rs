//! The `glance-emu` binary: parses the command line, loads fixtures, binds, and hands the
//! listener to the library's server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use glance_emu::control::{Baseline, Control, ControlSettings};
use glance_emu::edge::server::{self, ServerOptions};
use glance_emu::model::Timestamp;
use glance_emu::{fixtures, App, Config, GlanceService, Store};

/// A stand-in for the legacy OpenStack Glance v1 image API (Pike/Queens), byte-exact on the
/// wire. Serves HEAD/GET/POST/PUT/DELETE /v1/images..., members and the version document
/// from image records in JSON fixture files.
#[derive(Debug, Parser)]
#[command(name = "glance-emu", version, about, long_about = None)]
struct Cli {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "GLANCE_EMU_LISTEN", default_value = glance_emu::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Fixture path: a directory of *.json files or one .json file. Repeatable; in the
    /// environment variable separate paths with ':'. Default: ./data (skipped with a warning
    /// if absent).
    #[arg(long = "data", env = "GLANCE_EMU_DATA", value_delimiter = ':')]
    data: Vec<PathBuf>,

    /// Also serve on this address (same routes, same store): lets Nova-style clients use
    /// their own port, e.g. 127.0.0.1:8774.
    #[arg(long, env = "GLANCE_EMU_COMPUTE_LISTEN", value_name = "ADDR:PORT")]
    compute_listen: Option<SocketAddr>,

    /// Keep every acknowledged write durable in DIR (fsynced log + image files) and restore
    /// it on the next start with the same DIR. Without it, writes live in memory only.
    #[arg(long, env = "GLANCE_EMU_PERSIST", value_name = "DIR")]
    persist: Option<PathBuf>,

    /// Strictly-real behaviour: HEAD never answers 409 (turns off the X-Image-Meta-Size
    /// request check and the stored-data mismatch check that real Glance 15 did not do).
    #[arg(long, env = "GLANCE_EMU_GLANCE_COMPAT")]
    glance_compat: bool,

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
    auth: String,

    /// A Glance `policy.json` laid over the stock rules (`get_image`, `download_image`,
    /// `add_image`, `modify_image`, `delete_image`, `publicize_image`, `get_images`,
    /// `get_members`, `modify_member`, `delete_member`, ...). Rules: "" or "@" (allow), "!"
    /// (deny), "role:NAME", "rule:NAME", joined with " or "; anything else is an error.
    #[arg(long, env = "GLANCE_EMU_POLICY", value_name = "FILE")]
    policy: Option<PathBuf>,

    /// Keystone URI advertised in `Www-Authenticate` on 401s in tokens mode.
    #[arg(
        long,
        env = "GLANCE_EMU_AUTH_URI",
        default_value = "http://127.0.0.1:5000"
    )]
    auth_uri: String,

    /// Seconds a client may take to send a request's headers before the connection is
    /// closed.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    header_timeout: u64,

    /// Send every request through hyper, including the plain `HEAD /v1/images/<id>`
    /// requests the fast path otherwise answers (same bytes on the wire; for comparison
    /// and as a safety switch).
    #[arg(long)]
    no_fast_head: bool,

    /// Enable the control API under /_emu/ (load/reset/export images, clock, ids, request
    /// journal, fault rules; see docs/testing.md). Answers loopback peers only on the Glance
    /// port, unless --control-listen gives it a listener of its own.
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    control: bool,

    /// Serve the control API on this address instead (from any peer that can reach it),
    /// e.g. 0.0.0.0:9393 inside a container. The Glance port then never answers /_emu/.
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL_LISTEN",
        value_name = "ADDR:PORT",
        requires = "control"
    )]
    control_listen: Option<SocketAddr>,

    /// Require this value in X-Emu-Token on every control call (never a Glance token).
    #[arg(
        long,
        env = "GLANCE_EMU_CONTROL_TOKEN",
        value_name = "TOKEN",
        requires = "control",
        hide_env_values = true
    )]
    control_token: Option<String>,

    /// Request journal size (entries kept; the oldest are dropped). Recorded only with
    /// --control.
    #[arg(
        long,
        env = "GLANCE_EMU_JOURNAL_CAP",
        default_value_t = 1000,
        value_name = "N"
    )]
    journal_cap: usize,

    /// Start with the clock frozen at this time (e.g. 2016-05-22T06:04:20.425843): all
    /// created_at/updated_at values and Date headers use it.
    #[arg(long, env = "GLANCE_EMU_FREEZE_CLOCK", value_name = "TIME")]
    freeze_clock: Option<String>,

    /// Seed request ids and image ids (the same seed gives the same ids every run).
    #[arg(long, env = "GLANCE_EMU_ID_SEED", value_name = "N")]
    id_seed: Option<u64>,

    /// Health probe for containers: GET /healthcheck on the --listen address (0.0.0.0 is
    /// probed as 127.0.0.1); exit status 0 when it answers 200, 1 otherwise.
    #[arg(long)]
    probe: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.probe {
        return probe(cli.listen);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glance-emu: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("glance-emu: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let paths = if cli.data.is_empty() {
        let default = PathBuf::from("data");
        if default.is_dir() {
            vec![default]
        } else {
            eprintln!("glance-emu: warning: no ./data directory; starting with no images");
            Vec::new()
        }
    } else {
        cli.data.clone()
    };
    if cli.control_token.as_deref() == Some("") {
        return Err("--control-token must not be empty".to_string());
    }
    let control = Control::new(ControlSettings {
        http: cli.control,
        token: cli.control_token.clone(),
        // Nobody could read the journal without the control API: record nothing.
        journal_cap: if cli.control { cli.journal_cap } else { 0 },
        separate_listener: cli.control_listen.is_some(),
    });
    if cli.journal_cap > glance_emu::control::MAX_JOURNAL_CAP {
        return Err(format!(
            "--journal-cap: at most {}",
            glance_emu::control::MAX_JOURNAL_CAP
        ));
    }
    if let Some(t) = &cli.freeze_clock {
        let t = Timestamp::parse(t).ok_or_else(|| {
            format!("--freeze-clock: invalid timestamp '{t}' (expected e.g. 2016-05-22T06:04:20.425843)")
        })?;
        control.clock().freeze(t, 0);
    }
    if let Some(seed) = cli.id_seed {
        control.ids().seed(seed);
        control.faults().seed(seed);
    }
    // Reset re-reads the fixture files (no second copy of the records is kept).
    control.set_baseline(Baseline::Paths(paths.clone()));
    let (images, warnings) =
        fixtures::load_indexed(&paths, control.clock().now()).map_err(|e| e.to_string())?;
    for w in &warnings {
        eprintln!("glance-emu: warning: {w}");
    }
    let store = match &cli.persist {
        Some(dir) => Store::persistent_indexed(images, dir).map_err(|e| e.to_string())?,
        None => Store::from_indexed(images)
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?,
    };
    let count = store.len();
    let auth = glance_emu::auth::AuthMode::parse(&cli.auth).map_err(|e| format!("--auth: {e}"))?;
    let policy = match &cli.policy {
        Some(f) => {
            glance_emu::auth::policy::Policy::load(f).map_err(|e| format!("--policy: {e}"))?
        }
        None => glance_emu::auth::policy::Policy::stock(),
    };
    let app = Arc::new(App {
        store: Arc::new(store),
        config: Config {
            glance_compat: cli.glance_compat,
            auth,
            auth_uri: cli.auth_uri.clone(),
            policy,
            control,
            ..Config::default()
        },
    });
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Register for signals before announcing readiness, so an early SIGTERM is handled.
    let shutdown = shutdown_signal()?;
    println!("glance-emu listening on http://{addr} ({count} images loaded)");
    let options = ServerOptions {
        header_read_timeout: std::time::Duration::from_secs(cli.header_timeout.max(1)),
        fast_head: !cli.no_fast_head,
        ..ServerOptions::default()
    };
    let service = GlanceService::new(Arc::clone(&app));
    let mut servers = vec![(listener, service.clone())];
    if let Some(addr) = cli.compute_listen {
        let second = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let addr2 = second.local_addr().map_err(|e| e.to_string())?;
        println!("glance-emu compute views also on http://{addr2}");
        servers.push((second, service));
    }
    if cli.control {
        match cli.control_listen {
            Some(addr) => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                let a = l.local_addr().map_err(|e| e.to_string())?;
                println!("glance-emu control API on http://{a}/_emu/");
                servers.push((l, GlanceService::control_only(app)));
            }
            None => println!("glance-emu control API on http://{addr}/_emu/ (loopback peers only)"),
        }
    }
    if servers.len() == 1 {
        let (listener, service) = servers.remove(0);
        server::run(listener, service, options, shutdown).await;
    } else {
        // One signal stops every listener.
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for (listener, service) in servers {
            let mut rx = rx.clone();
            let options = options.clone();
            tasks.push(tokio::spawn(async move {
                server::run(listener, service, options, async move {
                    let _ = rx.wait_for(|v| *v).await;
                })
                .await;
            }));
        }
        shutdown.await;
        let _ = tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
    }
    eprintln!("glance-emu: stopped");
    Ok(())
}

/// `--probe`: one GET /healthcheck, for container health checks (no curl needed).
fn probe(listen: SocketAddr) -> ExitCode {
    use std::io::{Read, Write};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    let timeout = std::time::Duration::from_secs(3);
    let result = (|| -> std::io::Result<bool> {
        let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(
            format!("GET /healthcheck HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head)?;
        Ok(head.starts_with(b"HTTP/1.1 200"))
    })();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("glance-emu: probe: {addr}/healthcheck did not answer 200");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("glance-emu: probe: {addr}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| format!("cannot install the SIGINT handler: {e}"))?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
