//! The `glance-emu` binary: parses the command line, loads fixtures, binds, and hands the
//! listener to the library's server until SIGINT/SIGTERM.

mod cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use cli::Cli;
use glance_emu::clock::{Clock, Ids};
use glance_emu::control::{Baseline, Control, ControlSettings};
use glance_emu::edge::server::{self, ServerOptions};
use glance_emu::model::Timestamp;
use glance_emu::{fixtures, App, Config, GlanceService, Store};

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
    let control_settings = ControlSettings {
        http: cli.control,
        token: cli.control_token.clone(),
        // Nobody could read the journal without the control API: record nothing.
        journal_cap: if cli.control { cli.journal_cap } else { 0 },
        separate_listener: cli.control_listen.is_some(),
    };
    let control = Control::new(&control_settings);
    let clock = Clock::default();
    let ids = Ids::default();
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
        clock.freeze(t, 0);
    }
    if let Some(seed) = cli.id_seed {
        ids.seed(seed);
        control.faults().seed(seed);
    }
    // Reset re-reads the fixture files (no second copy of the records is kept).
    control.set_baseline(Baseline::Paths(paths.clone()));
    let (images, warnings) =
        fixtures::load_indexed(&paths, clock.now()).map_err(|e| e.to_string())?;
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
            control: control_settings,
            ..Config::default()
        },
        clock,
        ids,
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
    let service = GlanceService::with_control(app, control);
    let control_only = service.control_only();
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
                servers.push((l, control_only));
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
