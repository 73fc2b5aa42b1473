//! Running the emulator inside another program or a test: start on a loopback port chosen
//! by the OS with records given in code or read from fixture files, get its URL, drive it
//! with the control calls ([`Emulator::control`]), and stop it (also on drop).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use glance_emu::embed::Emulator;
//! use glance_emu::control::faults::{Action, FaultRule};
//! use glance_emu::fixtures::parse_document;
//! use glance_emu::model::Timestamp;
//!
//! let (images, _warnings) = parse_document(
//!     "inline.json".as_ref(),
//!     r#"{"id": "11111111-2222-3333-4444-555555555555", "name": "demo",
//!         "data": {"repeat": "x", "size": 10}}"#,
//!     Timestamp::now(),
//! )?;
//! let emu = Emulator::start(images).await?;
//! assert!(emu.url().starts_with("http://127.0.0.1:"));
//! assert!(emu.app().store.get("11111111-2222-3333-4444-555555555555").is_some());
//!
//! // The control calls, without HTTP.
//! let ctl = emu.control();
//! ctl.freeze_clock(Timestamp::parse("2016-05-22T06:04:20.425843").unwrap(), 0);
//! ctl.seed_ids(42);
//! let report = ctl
//!     .load_json(r#"[{"id": "extra-1", "name": "more"}]"#, None)
//!     .await?;
//! assert_eq!(report.ids, ["extra-1"]);
//! let rule = ctl.add_fault(
//!     FaultRule::new(Action::Status { status: 503, message: None })
//!         .method("GET")
//!         .path("/v1/images/*")
//!         .times(1),
//! )?;
//! assert_eq!(rule, "f1");
//! // ... point the code under test at emu.url(), then inspect what it sent:
//! assert!(ctl.journal().is_empty());
//! let record = ctl.export_image("extra-1", false)?;
//! assert_eq!(record["created_at"], "2016-05-22T06:04:20.425843");
//! ctl.reset(glance_emu::control::ResetTo::Fixtures).await?;
//! assert!(emu.app().store.get("extra-1").is_none());
//! emu.stop().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{App, Config};
use crate::clock::Clock;
use crate::control::{Baseline, Control, Controller};
use crate::edge::server::{self, ServerOptions};
use crate::edge::GlanceService;
use crate::model::Image;
use crate::store::Store;

/// A running in-process emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    service: GlanceService,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts on `127.0.0.1:0` with these records and the default configuration (journal
    /// on, HTTP control API off: use [`Emulator::control`]).
    pub async fn start(images: Vec<Image>) -> std::io::Result<Self> {
        Self::start_with(images, Config::default()).await
    }

    /// Starts on `127.0.0.1:0` with these records and this configuration.
    pub async fn start_with(images: Vec<Image>, config: Config) -> std::io::Result<Self> {
        let app = App::new(Arc::new(Store::new(images)?), config);
        Self::start_app(app).await
    }

    /// Starts on `127.0.0.1:0` with the records of fixture files or directories (as
    /// `--data` reads them); a reset through the control calls re-reads them.
    pub async fn start_files(paths: &[PathBuf], config: Config) -> std::io::Result<Self> {
        let clock = Clock::default();
        let loaded = crate::fixtures::load_paths(paths, clock.now())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let control = Control::new(&config.control);
        control.set_baseline(Baseline::Paths(paths.to_vec()));
        let app = App {
            clock,
            ..App::new(Arc::new(Store::new(loaded.images)?), config)
        };
        Self::start_service(
            GlanceService::with_control(Arc::new(app), control),
            ServerOptions::default(),
        )
        .await
    }

    /// Starts on `127.0.0.1:0` with a prepared application.
    pub async fn start_app(app: App) -> std::io::Result<Self> {
        Self::start_app_with(app, ServerOptions::default()).await
    }

    /// Starts on `127.0.0.1:0` with a prepared application and connection settings (e.g.
    /// `fast_head: false` to send every request through hyper).
    pub async fn start_app_with(app: App, options: ServerOptions) -> std::io::Result<Self> {
        Self::start_service(GlanceService::new(Arc::new(app)), options).await
    }

    /// Starts on `127.0.0.1:0` serving a prepared service (application and control state).
    pub async fn start_service(
        service: GlanceService,
        options: ServerOptions,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let served = service.clone();
        let task = tokio::spawn(async move {
            server::run(listener, served, options, async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(Emulator {
            addr,
            service,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (store and configuration).
    pub fn app(&self) -> &Arc<App> {
        self.service.app()
    }

    /// The service this emulator serves (sharing its application and control state), e.g.
    /// to call it without a socket or to serve it on another listener.
    pub fn service(&self) -> &GlanceService {
        &self.service
    }

    /// The control calls (load, reset, export, clock, ids, journal, faults) for this
    /// emulator; the same operations as the `/_emu/` HTTP API.
    pub fn control(&self) -> Controller {
        Controller::new(Arc::clone(self.app()), self.service.control().clone())
    }

    /// Stops accepting, drains in-flight requests and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
