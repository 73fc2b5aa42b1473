//! Per-request and per-connection facts: [`Ctx`] (method, error format, request id, caller,
//! host URL), request ids as oslo.context made them, and [`ConnInfo`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use http::header::HeaderValue;
use http::Method;

use crate::auth::Caller;
use crate::render::webob::BodyKind;

/// Per-request facts every handler uses.
#[derive(Debug)]
pub struct Ctx {
    /// Request method.
    pub method: Method,
    /// Error body format chosen from `Accept`.
    pub accept: BodyKind,
    /// `X-Openstack-Request-Id` value for this request.
    pub request_id: HeaderValue,
    /// Who is asking.
    pub caller: Caller,
    /// What a create's relative `Location` is made absolute against
    /// (`app::location_base`); empty for other methods.
    pub host_url: String,
}

impl Ctx {
    /// True for HEAD requests (no body is ever sent).
    pub fn is_head(&self) -> bool {
        self.method == Method::HEAD
    }

    /// For answers given before Glance's context middleware made a context (a refused
    /// identity): no request id, no caller, no host URL.
    pub fn before_context(method: &Method, accept: BodyKind) -> Ctx {
        Ctx {
            method: method.clone(),
            accept,
            request_id: HeaderValue::from_static(""),
            caller: Caller::default(),
            host_url: String::new(),
        }
    }
}

/// `req-` + a fresh lower-case UUID4, as oslo.context made it. Ignores the emulator's
/// seeded ids: prefer [`App::new_request_id`](crate::App::new_request_id).
pub fn new_request_id() -> HeaderValue {
    request_id_from(uuid::Uuid::new_v4())
}

pub(crate) fn request_id_from(u: uuid::Uuid) -> HeaderValue {
    HeaderValue::from_bytes(&request_id_text(u)).unwrap_or(HeaderValue::from_static("req-"))
}

/// `req-<uuid>` in lower case, as bytes on the stack (the fast path writes it as is).
pub fn request_id_text(u: uuid::Uuid) -> [u8; 40] {
    let mut buf = [0u8; 40];
    buf[..4].copy_from_slice(b"req-");
    u.hyphenated().encode_lower(&mut buf[4..]);
    buf
}

/// One client connection as the service sees it: the peer (for the control API's
/// loopback rule and the journal) and the request to reset it (fault injection).
#[derive(Debug, Default)]
pub struct ConnInfo {
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    reset: AtomicBool,
}

impl ConnInfo {
    /// A connection from `peer`.
    pub fn new(peer: Option<SocketAddr>) -> Self {
        ConnInfo {
            peer,
            local: None,
            reset: AtomicBool::new(false),
        }
    }

    /// The same, accepted on the local address `local`.
    pub fn with_local(mut self, local: Option<SocketAddr>) -> Self {
        self.local = local;
        self
    }

    /// The address the connection was accepted on (eventlet's SERVER_NAME:SERVER_PORT).
    pub fn local(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The client's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Asks the server to close this connection with a TCP reset.
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::Release);
    }

    /// Whether a reset was asked for.
    pub fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }
}
