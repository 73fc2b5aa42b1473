//! Glance's version negotiation (`glance/api/middleware/version_negotiation.py`) and the path
//! the v1 router then matched, as a pure function of the request target and `Accept`.
//!
//! What real Glance 15 does (checked by `tests/conformance/`):
//! - WSGI hands the middleware a percent-DECODED path, so `/v1/%69mages` is `/v1/images` and
//!   `/v1/images/<id>%2Fmembers` is the members route.
//! - `path_info_peek() == "versions"` (leading slashes skipped, anything after ignored) answers
//!   the version document with 200.
//! - An `Accept` whose WebOb string starts with `application/vnd.openstack.images-` names the
//!   version; the path is then NOT popped (`/v1/images` becomes `/v1/v1/images`, a route miss).
//! - Otherwise ALL leading slashes are stripped and the first segment is the version
//!   (`//v1/images` is `/v1/images`). Only `v1`, `v1.0`, `v1.1` are served (v2 is off); any
//!   other version gets the version document with 300.
//! - The rest is matched by Routes with runs of `/` collapsed; an empty rest is Routes'
//!   redirect to `/v1/`.

use std::borrow::Cow;

use http::StatusCode;

/// Where a request goes after negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Negotiated {
    /// The version document with this status (200 for `/versions`, 300 for no match).
    Versions(StatusCode),
    /// The bare version prefix: Routes' 302 to `<host>/v1/`.
    RedirectToSlash,
    /// A path for the v1 router: decoded, starting with `/`, runs of `/` collapsed.
    V1(String),
    /// A version named by `Accept` with a path that does not start with `/` (`*`, an
    /// absolute-form target): Routes raised on it, a 500 from inside the application.
    Unroutable,
}

const VND: &str = "application/vnd.openstack.images-";

/// `str(req.accept)`, or nothing without the header.
fn accept_str(accept: Option<&[u8]>) -> String {
    accept
        .map(crate::render::webob::accept_str)
        .unwrap_or_default()
}

fn is_v1(version: &str) -> bool {
    matches!(version, "v1" | "v1.0" | "v1.1")
}

/// Collapses runs of `/` (Routes matched `/v1//images` as `/v1/images`).
fn collapse(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    out
}

/// Negotiates `target` (the request target's path: origin-form path, or the whole target
/// when it is not origin-form) with the request's `Accept` value.
pub fn negotiate(target: &str, accept: Option<&[u8]>) -> Negotiated {
    let decoded: Cow<'_, str> = crate::app::unquote(target);
    let stripped = decoded.trim_start_matches('/');
    if stripped.split('/').next() == Some("versions") {
        return Negotiated::Versions(StatusCode::OK);
    }
    let accept = accept_str(accept);
    let rest: &str = if let Some(version) = accept.strip_prefix(VND) {
        if !is_v1(version) {
            return Negotiated::Versions(StatusCode::MULTIPLE_CHOICES);
        }
        if !decoded.starts_with('/') {
            return Negotiated::Unroutable;
        }
        &decoded
    } else {
        let (version, rest) = match stripped.find('/') {
            Some(i) => (&stripped[..i], &stripped[i..]),
            None => (stripped, ""),
        };
        if !is_v1(version) {
            return Negotiated::Versions(StatusCode::MULTIPLE_CHOICES);
        }
        rest
    };
    if rest.is_empty() {
        return Negotiated::RedirectToSlash;
    }
    Negotiated::V1(collapse(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(path: &str) -> Negotiated {
        negotiate(path, None)
    }

    fn v1(p: &str) -> Negotiated {
        Negotiated::V1(p.into())
    }

    const MULTI: Negotiated = Negotiated::Versions(StatusCode::MULTIPLE_CHOICES);
    const EXPLICIT: Negotiated = Negotiated::Versions(StatusCode::OK);

    // Rule: With a version named by Accept, a path that does not start with `/` (`*`, an
    // absolute-form target) is one Routes raised on.
    #[test]
    fn accept_named_versions_need_a_path() {
        let vnd = Some(&b"application/vnd.openstack.images-v1"[..]);
        for t in ["*", "", "http://x/v1/images"] {
            assert_eq!(negotiate(t, vnd), Negotiated::Unroutable, "{t}");
        }
        assert_eq!(negotiate("/images", vnd), v1("/images"));
        assert_eq!(negotiate("*", None), MULTI);
    }

    // Rule: A URL version (v1, v1.0, v1.1) is popped with every leading slash; any other first segment gets the 300 version document.
    #[test]
    fn url_versions_pop_every_leading_slash() {
        assert_eq!(n("/v1/images"), v1("/images"));
        assert_eq!(n("//v1/images"), v1("/images"));
        assert_eq!(n("/v1.0/images/x"), v1("/images/x"));
        assert_eq!(n("/v1.1/"), v1("/"));
        assert_eq!(n("/v1//images//x"), v1("/images/x"));
        assert_eq!(n("/v1/images/"), v1("/images/"));
        assert_eq!(n("/v1"), Negotiated::RedirectToSlash);
        assert_eq!(n("/v1.1"), Negotiated::RedirectToSlash);
        for miss in [
            "/",
            "/images",
            "/v2/images",
            "/v1.2/images",
            "/V1/images",
            "*",
            "/v1x",
        ] {
            assert_eq!(n(miss), MULTI, "{miss}");
        }
    }

    // Rule: The path is percent-decoded before negotiation, as WSGI handed it over.
    #[test]
    fn paths_are_percent_decoded_first() {
        assert_eq!(n("/v1/%69mages"), v1("/images"));
        assert_eq!(n("/v1/images/abc%2Fmembers"), v1("/images/abc/members"));
        assert_eq!(n("/%761/images"), v1("/images"));
    }

    // Rule: `/versions` is a peek at the first segment: 200 with the version document.
    #[test]
    fn versions_is_a_peek() {
        for p in ["/versions", "/versions/", "/versions/v1", "//versions"] {
            assert_eq!(n(p), EXPLICIT, "{p}");
        }
        assert_eq!(n("/versionsx"), MULTI);
    }

    // Rule: An Accept media type application/vnd.openstack.images-vN names the version and keeps the /v1 prefix in the path.
    #[test]
    fn accept_media_type_names_the_version_and_keeps_the_path() {
        let a = |p: &str, acc: &str| negotiate(p, Some(acc.as_bytes()));
        assert_eq!(
            a("/images", "application/vnd.openstack.images-v1"),
            v1("/images")
        );
        assert_eq!(a("/", "application/vnd.openstack.images-v1.1"), v1("/"));
        assert_eq!(
            a("/v1/images", "application/vnd.openstack.images-v1"),
            v1("/v1/images")
        );
        for bad in [
            "application/vnd.openstack.images-v2",
            "application/vnd.openstack.images-v1+json",
            "application/vnd.openstack.images-v1, text/html",
            "application/vnd.openstack.images-",
        ] {
            assert_eq!(a("/v1/images", bad), MULTI, "{bad}");
        }
        // not the vnd prefix: URL versioning
        assert_eq!(a("/v1/images", "application/json"), v1("/images"));
        assert_eq!(
            a(
                "/v1/images",
                "text/html, application/vnd.openstack.images-v2"
            ),
            v1("/images")
        );
    }
}
