//! [`App`]: the handle every request handler is given (the store and the configuration),
//! with the per-request facts it derives from them (clock time, ids, caller, 401).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use crate::app::body::Body;
use crate::auth::{Caller, Refusal};
use crate::clock::{Clock, Ids};
use crate::render::webob::{ApiError, BodyKind};
use crate::store::Store;

use super::config::Config;
use super::ctx::{request_id_from, Ctx};
use super::respond::error_response;

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// The images.
    pub store: Arc<Store>,
    /// Behaviour switches.
    pub config: Config,
    /// The emulator's clock (real unless a test froze or set it).
    pub clock: Clock,
    /// The id generators (random unless a test seeded or queued them).
    pub ids: Ids,
    /// Image files a download found changed on disk (HEAD answers 409 for them without
    /// touching the disk).
    pub changed_files: ChangedFiles,
}

impl App {
    /// An application over `store` with this configuration, a real clock and random ids.
    pub fn new(store: Arc<Store>, config: Config) -> Self {
        App {
            store,
            config,
            clock: Clock::default(),
            ids: Ids::default(),
            changed_files: ChangedFiles::default(),
        }
    }

    /// A timestamp for `created_at`/`updated_at`: the emulator's clock (real unless a test
    /// froze or set it).
    pub fn now(&self) -> crate::model::Timestamp {
        self.clock.now()
    }

    /// The id for a new image: random UUID4, or queued/seeded for deterministic runs.
    pub fn new_image_id(&self) -> String {
        self.ids.next_image_id()
    }

    /// A fresh `req-<uuid4>` request id (seeded for deterministic runs).
    pub fn new_request_id(&self) -> HeaderValue {
        request_id_from(self.new_request_uuid())
    }

    /// The UUID of a fresh request id (seeded for deterministic runs).
    pub fn new_request_uuid(&self) -> uuid::Uuid {
        self.ids
            .next_request_uuid()
            .unwrap_or_else(uuid::Uuid::new_v4)
    }

    /// The caller context for a request (Glance's context middleware), or why it refused.
    pub fn caller_for(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        self.config.auth.caller(headers)
    }

    /// The answer to a refused identity: the 401, or the context middleware's 500 (a service
    /// catalog that is not JSON; an over-long request id). No request id on either.
    pub fn refused(&self, refusal: &Refusal, method: &Method, accept: BodyKind) -> Response<Body> {
        match refusal {
            Refusal::Unauthorized => self.unauthorized(method, accept),
            Refusal::ServerError(detail) => {
                let ctx = Ctx::before_context(method, accept);
                let err = match detail {
                    Some(d) => ApiError::detailed(StatusCode::INTERNAL_SERVER_ERROR, *d),
                    None => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR),
                };
                error_response(&ctx, err)
            }
        }
    }

    /// The request id: fresh, or (in the authenticated modes) the caller's own, `req-`
    /// prefixed when missing, as Glance's keystone context did.
    pub fn request_id_for(&self, headers: &HeaderMap) -> HeaderValue {
        if self.config.auth.echoes_request_id() {
            // As the environ held it (the value the context middleware judged): repeated
            // lines are one `,`-joined value.
            let id = crate::auth::environ::raw(headers, "x-openstack-request-id");
            if let Some(mut id) = id.filter(|id| !id.is_empty()) {
                if !id.starts_with(b"req-") {
                    id.splice(0..0, *b"req-");
                }
                if let Ok(h) = HeaderValue::from_bytes(&id) {
                    return h;
                }
            }
        }
        self.new_request_id()
    }

    /// The 401 keystonemiddleware/Glance's context sent: WebOb's page, no request id.
    pub fn unauthorized(&self, method: &Method, accept: BodyKind) -> Response<Body> {
        let ctx = Ctx::before_context(method, accept);
        let mut resp = error_response(&ctx, ApiError::new(StatusCode::UNAUTHORIZED));
        if let crate::auth::AuthMode::Tokens(_) = self.config.auth {
            if let Ok(v) =
                HeaderValue::from_str(&format!("Keystone uri='{}'", self.config.auth_uri))
            {
                resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// Files of file-backed records that a download found changed on disk (another length, or
/// gone) since the record was loaded or written: path and the length the record holds.
/// A record loaded again from the changed file has the new length and no longer matches.
#[derive(Debug, Default)]
pub struct ChangedFiles(RwLock<HashMap<PathBuf, u64>>);

impl ChangedFiles {
    /// Notes that the file at `path`, recorded with `len` bytes, is not what the record says.
    pub fn note(&self, path: &Path, len: u64) {
        let mut m = self.0.write().unwrap_or_else(|e| e.into_inner());
        m.insert(path.to_path_buf(), len);
    }

    /// Forgets a change (a download found the file as the record says again).
    pub fn forget(&self, path: &Path, len: u64) {
        if self.contains(path, len) {
            let mut m = self.0.write().unwrap_or_else(|e| e.into_inner());
            m.remove(path);
        }
    }

    /// Whether the file at `path`, recorded with `len` bytes, was found changed.
    pub fn contains(&self, path: &Path, len: u64) -> bool {
        let m = self.0.read().unwrap_or_else(|e| e.into_inner());
        !m.is_empty() && m.get(path) == Some(&len)
    }
}
