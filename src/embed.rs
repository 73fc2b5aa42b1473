//! Running the emulator inside another program or a test: start on a loopback port chosen
//! by the OS, get its URL, reach its store, and stop it (also on drop).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use glance_emu::embed::Emulator;
//! use glance_emu::fixtures::parse_document;
//! use glance_emu::model::Timestamp;
//!
//! let (images, _warnings) = parse_document(
//!     "inline.json".as_ref(),
//!     r#"{"id": "11111111-2222-3333-4444-555555555555", "name": "demo"}"#,
//!     Timestamp::now(),
//! )
//! .expect("valid fixture");
//! let emu = Emulator::start(images).await?;
//! assert!(emu.url().starts_with("http://127.0.0.1:"));
//! assert!(emu.app().store.get("11111111-2222-3333-4444-555555555555").is_some());
//! emu.stop().await;
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::Image;
use crate::server::{self, ServerOptions};
use crate::service::{App, Config, GlanceService};
use crate::store::Store;

/// A running in-process emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts on `127.0.0.1:0` with these records and the default configuration.
    pub async fn start(images: Vec<Image>) -> std::io::Result<Self> {
        let app = App {
            store: Arc::new(Store::new(images)?),
            config: Config::default(),
        };
        Self::start_app(app).await
    }

    /// Starts on `127.0.0.1:0` with a prepared application.
    pub async fn start_app(app: App) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = Arc::new(app);
        let (tx, rx) = oneshot::channel::<()>();
        let service = GlanceService::new(Arc::clone(&app));
        let task = tokio::spawn(async move {
            server::run(listener, service, ServerOptions::default(), async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(Emulator {
            addr,
            app,
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
        &self.app
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
