//! What a Nova request is once routed: the API tree it came in on ([`Api`]), the
//! per-request facts every handler reads ([`Rq`]), and Nova's and glanceclient's limits.
//! Below the handlers and the routing table, which all import it.

use http::header::HeaderValue;
use http::Method;

use crate::app::Ctx;
use crate::auth::Caller;
use crate::render::webob::BodyKind;

/// Nova's `quota_metadata_items` default.
pub const METADATA_ITEMS_QUOTA: usize = 128;
/// Nova's `osapi_max_request_body_size` default (the `sizelimit` middleware).
pub const MAX_REQUEST_BODY: u64 = 114_688;
/// Nova's `osapi_max_limit` default.
pub(crate) const MAX_LIMIT: i128 = 1000;
/// glanceclient's `DEFAULT_PAGE_SIZE`.
pub(crate) const GLANCE_PAGE_SIZE: i128 = 20;
/// Kilo's v2.1 microversion range.
pub(crate) const MIN_VERSION: (u64, u64) = (2, 1);
pub(crate) const MAX_VERSION: (u64, u64) = (2, 3);

pub(crate) const PROPERTY_PREFIX: &str = "x-image-meta-property-";
/// Properties Nova stored as JSON text in Glance (`_CONVERT_PROPS`).
pub(crate) const JSON_PROPS: [&str; 2] = ["block_device_mapping", "mappings"];

/// Which API tree the request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// Legacy v2 (`/v2/{tenant}/...`).
    V2,
    /// v2.1 (`/v2.1[/{tenant}]/...`), with microversion headers.
    V21,
}

impl Api {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Api::V2 => "/v2",
            Api::V21 => "/v2.1",
        }
    }
}

/// Per-request facts.
pub(crate) struct Rq {
    pub(crate) api: Api,
    pub(crate) tenant: Option<String>,
    pub(crate) host_url: String,
    pub(crate) request_id: HeaderValue,
    pub(crate) caller: Caller,
    pub(crate) method: Method,
    pub(crate) accept: BodyKind,
    /// The microversion echoed on v2.1 responses that reached a controller.
    pub(crate) version: Option<String>,
    pub(crate) query: Option<String>,
}

impl Rq {
    /// `request.application_url`: host plus the API mount point.
    pub(crate) fn application_url(&self) -> String {
        format!("{}{}", self.host_url, self.api.prefix())
    }

    /// `_get_project_id`: the project segment when the URL had one, else ''.
    pub(crate) fn project(&self) -> &str {
        self.tenant.as_deref().unwrap_or("")
    }

    /// A Glance-side request context for calling the v1 handlers.
    pub(crate) fn glance_ctx(&self, method: Method) -> Ctx {
        Ctx {
            method,
            accept: BodyKind::from_accept(Some(b"*/*")),
            request_id: self.request_id.clone(),
            caller: self.caller.clone(),
            host_url: self.host_url.clone(),
        }
    }
}
