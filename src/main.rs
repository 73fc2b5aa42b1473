//! The `glance-emu` binary: parses the command line, loads fixtures, binds, and hands the
//! listener to the library's server until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use glance_emu::model::Timestamp;
use glance_emu::server::{self, ServerOptions};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let loaded = fixtures::load_paths(&paths, Timestamp::now()).map_err(|e| e.to_string())?;
    for w in &loaded.warnings {
        eprintln!("glance-emu: warning: {w}");
    }
    let store = match &cli.persist {
        Some(dir) => Store::persistent(loaded.images, dir).map_err(|e| e.to_string())?,
        None => Store::new(loaded.images)
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?,
    };
    let count = store.len();
    let auth = glance_emu::auth::AuthMode::parse(&cli.auth).map_err(|e| format!("--auth: {e}"))?;
    let app = Arc::new(App {
        store: Arc::new(store),
        config: Config {
            glance_compat: cli.glance_compat,
            auth,
            auth_uri: cli.auth_uri.clone(),
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
        ..ServerOptions::default()
    };
    let service = GlanceService::new(app);
    match cli.compute_listen {
        None => server::run(listener, service, options, shutdown).await,
        Some(addr) => {
            let second = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            let addr2 = second.local_addr().map_err(|e| e.to_string())?;
            println!("glance-emu compute views also on http://{addr2}");
            // One signal stops both listeners.
            let (tx, rx) = tokio::sync::watch::channel(false);
            let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
                let _ = rx.wait_for(|v| *v).await;
            };
            let a = server::run(listener, service.clone(), options.clone(), stop(rx.clone()));
            let b = server::run(second, service, options, stop(rx));
            let signal = async move {
                shutdown.await;
                let _ = tx.send(true);
            };
            tokio::join!(a, b, signal);
        }
    }
    eprintln!("glance-emu: stopped");
    Ok(())
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
