//! The `glance-emu` binary: parses and checks the command line (every flag and file before
//! any data is loaded or port bound), sets up logging (the access log and `RUST_LOG`), binds
//! every listener (so a port in use is reported at once), loads fixtures, and hands the
//! listeners to the library's server until SIGINT/SIGTERM (a second one exits at once).
//! `glance-emu snapshot` goes to [`snapshot`] instead.

mod cli;
mod snapshot;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cli::Cli;
use glance_emu::clock::{Clock, Ids};
use glance_emu::control::{Baseline, Control, ControlSettings};
use glance_emu::edge::access_log::{AccessLog, LogFormat};
use glance_emu::edge::server::{self, ServerOptions};
use glance_emu::model::Timestamp;
use glance_emu::{fixtures, App, Config, GlanceService, Store};

/// A line on stdout that never panics (a reader that went away, e.g. `| head -n 1`, must not
/// take the server down).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($t)*);
        let _ = out.flush();
    }};
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(cli::Command::Snapshot(args)) = cli.command.take() {
        return snapshot::main(args);
    }
    if cli.probe {
        return probe(&cli);
    }
    // Everything the command line names is checked before any data is loaded or port bound.
    let checked = match check(&cli) {
        Ok(c) => c,
        Err(msg) => {
            eprintln!("glance-emu: {msg}");
            return ExitCode::FAILURE;
        }
    };
    let format = if cli.log_format == "json" {
        LogFormat::Json
    } else {
        LogFormat::Text
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let access_log = match init_logging(format, colour) {
        Ok(log) => log,
        Err(msg) => {
            eprintln!("glance-emu: {msg}");
            return ExitCode::FAILURE;
        }
    };
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
    let result = runtime.block_on(run(cli, checked, access_log.clone()));
    if let Some(log) = access_log {
        log.close();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("glance-emu: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `RUST_LOG` (default `info`) for every line on stderr; the access log when it lets
/// `glance_emu::access` through at INFO.
fn init_logging(format: LogFormat, colour: bool) -> Result<Option<AccessLog>, String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG={v}: {e}"))?
        }
        _ => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(colour).init(),
    }
    if !tracing::enabled!(target: "glance_emu::access", tracing::Level::INFO) {
        return Ok(None);
    }
    AccessLog::start(format, colour, Box::new(std::io::stderr()))
        .map(Some)
        .map_err(|e| format!("cannot start the access log: {e}"))
}

/// What the command line names, read and checked before anything is loaded or bound.
struct Checked {
    paths: Vec<PathBuf>,
    auth: glance_emu::auth::AuthMode,
    policy: glance_emu::auth::policy::Policy,
    freeze_clock: Option<Timestamp>,
}

/// `Err("--flag: expected LO to HI, got V")` when `v` is outside `lo..=hi`.
fn in_range<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    v: T,
    lo: T,
    hi: T,
) -> Result<(), String> {
    if v < lo || v > hi {
        return Err(format!("{flag}: expected {lo} to {hi}, got {v}"));
    }
    Ok(())
}

/// Every numeric flag range-checked before anything starts: one line naming the flag.
fn check_flags(cli: &Cli) -> Result<(), String> {
    in_range("--header-timeout", cli.header_timeout, 1, 86_400)?;
    in_range("--max-header-bytes", cli.max_header_bytes, 8192, 1 << 20)?;
    in_range("--max-headers", cli.max_headers, 1, 1000)?;
    in_range("--max-connections", cli.max_connections, 1, 1_000_000)?;
    in_range("--upload-min-rate", cli.upload_min_rate, 0, 1 << 30)?;
    in_range("--upload-rate-window", cli.upload_rate_window, 1, 3600)?;
    in_range(
        "--journal-cap",
        cli.journal_cap,
        0,
        glance_emu::control::MAX_JOURNAL_CAP,
    )?;
    in_range("--journal-bytes", cli.journal_bytes, 0, 4 << 30)?;
    Ok(())
}

fn check(cli: &Cli) -> Result<Checked, String> {
    check_flags(cli)?;
    if cli.control_token.as_deref() == Some("") {
        return Err("--control-token must not be empty".to_string());
    }
    if cli.journal_cap > glance_emu::control::MAX_JOURNAL_CAP {
        return Err(format!(
            "--journal-cap: at most {}",
            glance_emu::control::MAX_JOURNAL_CAP
        ));
    }
    let freeze_clock = match &cli.freeze_clock {
        Some(t) => Some(Timestamp::parse(t).ok_or_else(|| {
            format!("--freeze-clock: invalid timestamp '{t}' (expected e.g. 2016-05-22T06:04:20.425843)")
        })?),
        None => None,
    };
    let auth = glance_emu::auth::AuthMode::parse(&cli.auth).map_err(|e| format!("--auth: {e}"))?;
    let policy = match &cli.policy {
        Some(f) => {
            glance_emu::auth::policy::Policy::load(f).map_err(|e| format!("--policy: {e}"))?
        }
        None => glance_emu::auth::policy::Policy::stock(),
    };
    let paths = if cli.data.is_empty() {
        let default = PathBuf::from("data");
        if default.is_dir() {
            vec![default]
        } else {
            eprintln!("glance-emu: warning: no ./data directory; starting with no images");
            Vec::new()
        }
    } else {
        for p in &cli.data {
            if !p.exists() {
                return Err(format!("--data {}: no such file or directory", p.display()));
            }
        }
        cli.data.clone()
    };
    if let Some(dir) = &cli.persist {
        if dir.exists() && !dir.is_dir() {
            return Err(format!("--persist {}: not a directory", dir.display()));
        }
    }
    Ok(Checked {
        paths,
        auth,
        policy,
        freeze_clock,
    })
}

async fn run(cli: Cli, checked: Checked, access_log: Option<AccessLog>) -> Result<(), String> {
    let Checked {
        paths,
        auth,
        policy,
        freeze_clock,
    } = checked;
    let control_settings = ControlSettings {
        http: cli.control,
        token: cli.control_token.clone(),
        // Nobody could read the journal without the control API: record nothing.
        journal_cap: if cli.control { cli.journal_cap } else { 0 },
        journal_bytes: cli.journal_bytes,
        separate_listener: cli.control_listen.is_some(),
    };
    let control = Control::new(&control_settings);
    let clock = Clock::default();
    let ids = Ids::default();
    if let Some(t) = freeze_clock {
        clock.freeze(t, 0);
    }
    if let Some(seed) = cli.id_seed {
        ids.seed(seed);
        control.faults().seed(seed);
    }
    // Every port is bound before the fixtures load, so an address in use is reported at once
    // rather than after minutes of loading; connections made meanwhile wait in the backlog
    // and are answered once the records are in.
    let listener = bind(cli.listen).await?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let compute_listener = match cli.compute_listen {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let control_listener = match (cli.control, cli.control_listen) {
        (true, Some(a)) => Some(bind(a).await?),
        _ => None,
    };
    // Reset re-reads the fixture files (no second copy of the records is kept).
    control.set_baseline(Baseline::Paths(paths.clone()));
    let reporter = ProgressReporter::start(cli.progress_every);
    let loaded = fixtures::load_indexed(&paths, clock.now());
    reporter.stop();
    let (images, warnings) = loaded.map_err(|e| e.to_string())?;
    for w in &warnings {
        eprintln!("glance-emu: warning: {w}");
    }
    let store = match &cli.persist {
        Some(dir) => Store::persistent_indexed(images, dir).map_err(|e| e.to_string())?,
        None => Store::from_indexed(images)
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?,
    };
    let count = store.len();
    let app = Arc::new(App {
        store: Arc::new(store),
        config: Config {
            glance_compat: cli.glance_compat,
            auth,
            auth_uri: cli.auth_uri.clone(),
            policy,
            control: control_settings,
            upload_min_rate: cli.upload_min_rate,
            upload_rate_window: std::time::Duration::from_secs(cli.upload_rate_window),
            ..Config::default()
        },
        clock,
        ids,
        changed_files: Default::default(),
    });
    // Register for signals before announcing readiness, so an early SIGTERM is handled.
    let signals = Signals::new()?;
    let addr_file = AddrFile::write(cli.addr_file.clone(), addr)?;
    say!(
        "glance-emu listening on http://{} ({count} images loaded)",
        url_host(addr)
    );
    let options = ServerOptions {
        header_read_timeout: std::time::Duration::from_secs(cli.header_timeout),
        fast_head: !cli.no_fast_head,
        max_header_bytes: cli.max_header_bytes,
        max_headers: cli.max_headers,
        max_connections: cli.max_connections,
        access_log,
        ..ServerOptions::default()
    };
    let warm = Arc::clone(&app.store);
    let service = GlanceService::with_control(app, control);
    let control_only = service.control_only();
    let mut servers = vec![(listener, service.clone())];
    if let Some(second) = compute_listener {
        let addr2 = second.local_addr().map_err(|e| e.to_string())?;
        say!(
            "glance-emu compute views also on http://{}",
            url_host(addr2)
        );
        servers.push((second, service));
    }
    if cli.control {
        match control_listener {
            Some(l) => {
                let a = l.local_addr().map_err(|e| e.to_string())?;
                say!("glance-emu control API on http://{}/_emu/", url_host(a));
                servers.push((l, control_only));
            }
            None => say!(
                "glance-emu control API on http://{}/_emu/ (loopback peers only)",
                url_host(addr)
            ),
        }
    }
    let shutdown = signals.first_then_hard_exit();
    let serving = tokio::spawn(async move {
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
    });
    // The orders every list walks (the default one and the tenant view's) are built now,
    // while the listeners answer on the workers, so the first list of a large catalogue
    // does not pay for them. This thread loaded the records, so the orders land in the
    // same malloc arena (a pool thread would start a second one: about 9 bytes more per
    // record at a million).
    let t0 = std::time::Instant::now();
    warm.warm_lists();
    tracing::info!(
        "list orders ready ({} images, {} ms)",
        warm.len(),
        t0.elapsed().as_millis()
    );
    // Then the orders of the other sort keys, so that no first list waits for one
    // (unless the server is already stopping).
    let t0 = std::time::Instant::now();
    warm.warm_every_order(|| serving.is_finished());
    if !serving.is_finished() {
        tracing::info!(
            "every list order ready ({} images, {} ms)",
            warm.len(),
            t0.elapsed().as_millis()
        );
    }
    drop(warm);
    let _ = serving.await;
    drop(addr_file);
    eprintln!("glance-emu: stopped");
    Ok(())
}

async fn bind(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// A line on stderr every few seconds while fixtures load (a million records take a while,
/// and silence looks like a hang).
struct ProgressReporter {
    done: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressReporter {
    fn start(every_secs: f64) -> Self {
        if !(every_secs.is_finite() && every_secs > 0.0) {
            return ProgressReporter {
                done: None,
                thread: None,
            };
        }
        let every = std::time::Duration::from_secs_f64(every_secs);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let start = std::time::Instant::now();
        let base = fixtures::progress();
        let thread = std::thread::spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                let p = fixtures::progress();
                let secs = start.elapsed().as_secs_f64().max(1e-3);
                let records = p.records - base.records;
                let mb = |b: u64| b as f64 / 1e6;
                let read = p.bytes_read - base.bytes_read;
                let total = p.bytes_total - base.bytes_total;
                let pct = if total > 0 {
                    read as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                eprintln!(
                    "glance-emu: loading fixtures: {} of {} files, {records} records, \
                     {:.0} of {:.0} MB ({pct:.0}%), {:.0} records/s",
                    p.files_done - base.files_done,
                    p.files_total - base.files_total,
                    mb(read),
                    mb(total),
                    records as f64 / secs,
                );
            }
        });
        ProgressReporter {
            done: Some(tx),
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `127.0.0.1:9292`, or `[::1]:9292` (a URL needs the brackets; `SocketAddr` prints them).
fn url_host(a: SocketAddr) -> String {
    a.to_string()
}

/// The bound address in `--addr-file`, removed again on a clean stop.
struct AddrFile(Option<PathBuf>);

impl AddrFile {
    fn write(path: Option<PathBuf>, addr: SocketAddr) -> Result<Self, String> {
        if let Some(p) = &path {
            // Written whole, then renamed: a probe never reads half an address.
            let tmp = p.with_extension("tmp");
            std::fs::write(&tmp, format!("{addr}\n"))
                .and_then(|()| std::fs::rename(&tmp, p))
                .map_err(|e| format!("--addr-file {}: {e}", p.display()))?;
        }
        Ok(AddrFile(path))
    }
}

impl Drop for AddrFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `--probe`: one GET /healthcheck, for container health checks (no curl needed), on the
/// address the server wrote to `--addr-file`, or else on `--listen`.
fn probe(cli: &Cli) -> ExitCode {
    use std::io::{Read, Write};
    let from_file = cli.addr_file.as_ref().and_then(|p| {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|t| t.trim().parse::<SocketAddr>().ok())
    });
    let mut addr = from_file.unwrap_or(cli.listen);
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

/// SIGINT and SIGTERM: the first stops the server gracefully (in-flight requests drain for
/// up to 10 s); a second one exits at once.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, String> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())
                    .map_err(|e| format!("cannot install the SIGTERM handler: {e}"))?,
                int: signal(SignalKind::interrupt())
                    .map_err(|e| format!("cannot install the SIGINT handler: {e}"))?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }

    /// Resolves at the first signal, and leaves a task behind that exits the process at
    /// the second.
    async fn first_then_hard_exit(mut self) {
        self.next().await;
        eprintln!(
            "glance-emu: stopping (in-flight requests get up to 10 s; Ctrl-C again to exit now)"
        );
        tokio::spawn(async move {
            self.next().await;
            eprintln!("glance-emu: second signal: exiting now");
            std::process::exit(130);
        });
    }
}
