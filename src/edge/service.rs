//! The hyper `Service`: the one top-level dispatch of every request (control API, compute,
//! Glance) and the hooks around it. Knows nothing about sockets.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};

use crate::app::body::Body;
use crate::app::{Abort, App, ConnInfo, RespFuture};
use crate::glance::routes::route;

/// The hyper service: cheap to clone per connection.
#[derive(Debug, Clone)]
pub struct GlanceService {
    app: Arc<App>,
    conn: Option<Arc<ConnInfo>>,
    control_only: bool,
}

impl GlanceService {
    /// Wraps the shared application state (and records the store's records as the
    /// baseline for the control API's reset, unless one was set).
    pub fn new(app: Arc<App>) -> Self {
        app.config.control.capture_baseline(&app.store);
        GlanceService {
            app,
            conn: None,
            control_only: false,
        }
    }

    /// A service for the control API's own listener (`--control-listen`): `/_emu/` from
    /// any peer, nothing else.
    pub fn control_only(app: Arc<App>) -> Self {
        GlanceService {
            control_only: true,
            ..GlanceService::new(app)
        }
    }

    /// This service for one accepted connection.
    pub fn for_connection(&self, conn: Arc<ConnInfo>) -> Self {
        GlanceService {
            app: Arc::clone(&self.app),
            conn: Some(conn),
            control_only: self.control_only,
        }
    }

    /// The HEAD fast path for connections of this service, when it can have one (never on
    /// the control API's own listener).
    pub fn fast_head(&self) -> Option<crate::edge::fast::FastHead> {
        if self.control_only {
            return None;
        }
        crate::edge::fast::FastHead::new(Arc::clone(&self.app))
    }

    /// The shared application state.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// In-process calls (no connection) and loopback peers may use the control API on the
    /// Glance port.
    fn peer_is_local(&self) -> bool {
        match self.conn.as_ref().and_then(|c| c.peer()) {
            None => true,
            Some(p) => p.ip().to_canonical().is_loopback(),
        }
    }
}

impl<B> hyper::service::Service<Request<B>> for GlanceService
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send,
{
    type Response = Response<Body>;
    type Error = Abort;
    type Future = RespFuture;

    fn call(&self, req: Request<B>) -> RespFuture {
        let control = &self.app.config.control;
        if control.settings().http {
            let path = req.uri().path();
            let is_control = path == "/_emu" || path.starts_with("/_emu/");
            if self.control_only {
                return if is_control {
                    crate::control::http::handle(&self.app, req)
                } else {
                    crate::control::http::not_control()
                };
            }
            if is_control && !control.settings().separate_listener && self.peer_is_local() {
                return crate::control::http::handle(&self.app, req);
            }
        }
        if control.is_quiet() {
            return route(&self.app, req);
        }
        crate::control::hooks::intercept(&self.app, self.conn.as_ref(), req, route::<B>)
    }
}
