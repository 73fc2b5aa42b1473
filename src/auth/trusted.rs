//! The trusted-auth identity: keystonemiddleware's headers read the way Glance 15's
//! `ContextMiddleware` and oslo.context 2.17's `RequestContext.from_environ` read them.
//!
//! What decides (each checked against a real Glance 15 by `tests/conformance/`):
//! - `X-Identity-Status` must be exactly `Confirmed`, else 401.
//! - `X-Service-Catalog`, when present, must be JSON, else 500 "Invalid service catalog json."
//! - An `X-Openstack-Request-Id` longer than 64 characters makes the middleware *return* an
//!   exception object as the request context (a Glance bug): the request then fails with a bare
//!   500 and no request id.
//! - tenant: the first PRESENT of `X-Project-Id`, `X-Tenant-Id`, `X-Tenant` (even when empty);
//!   user: `X-User-Id`, else `X-User`; roles: `X-Roles` if present (even empty), else the legacy
//!   `X-Role`; each role stripped and lower-cased; the role `admin` makes the context admin.

use http::HeaderMap;

use super::environ::{self, Text};
use super::Caller;

/// Why the context middleware refused to build a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401 (no request id).
    Unauthorized,
    /// 500 with WebOb's page, the given detail line (or none), and no request id.
    ServerError(Option<&'static str>),
}

/// A header as the context middleware read it from the environ (latin-1 text; a repeated
/// header one `,`-joined value, so two `X-Roles` are one list, two `X-Tenant-Id`s one odd
/// tenant, and two `X-Identity-Status: Confirmed` are not `Confirmed`).
fn value(h: &HeaderMap, name: &str) -> Option<String> {
    environ::header(h, name, Text::Latin1)
}

/// The first of `names` that is present at all.
fn first_present(h: &HeaderMap, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| value(h, n))
}

/// Glance's `max_request_id_length` default.
const MAX_REQUEST_ID_LENGTH: usize = 64;

/// The caller keystonemiddleware's headers describe, or why Glance refused.
pub fn caller(h: &HeaderMap) -> Result<Caller, Refusal> {
    if value(h, "x-identity-status").as_deref() != Some("Confirmed") {
        return Err(Refusal::Unauthorized);
    }
    if let Some(catalog) = value(h, "x-service-catalog") {
        if serde_json::from_str::<serde_json::Value>(&catalog).is_err() {
            return Err(Refusal::ServerError(Some("Invalid service catalog json.")));
        }
    }
    if value(h, "x-openstack-request-id").is_some_and(|r| r.chars().count() > MAX_REQUEST_ID_LENGTH)
    {
        return Err(Refusal::ServerError(None));
    }
    let roles: Vec<String> = match first_present(h, &["x-roles", "x-role"]) {
        Some(r) if !r.is_empty() => r.split(',').map(|r| r.trim().to_lowercase()).collect(),
        _ => Vec::new(),
    };
    Ok(Caller {
        admin: roles.iter().any(|r| r == "admin"),
        tenant: first_present(h, &["x-project-id", "x-tenant-id", "x-tenant"]),
        user: first_present(h, &["x-user-id", "x-user"]),
        roles,
        authenticated: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    const OK: (&str, &str) = ("x-identity-status", "Confirmed");

    // Rule: Only `X-Identity-Status: Confirmed`, spelled exactly, identifies a caller; anything else is 401.
    #[test]
    fn repeated_and_underscored_headers_are_one_environ_value() {
        let mut h = HeaderMap::new();
        h.append("x-identity-status", "Confirmed".parse().unwrap());
        h.append("x-roles", "member".parse().unwrap());
        h.append("x_roles", "admin".parse().unwrap());
        h.append("x-tenant-id", "a".parse().unwrap());
        h.append("x-tenant-id", "b".parse().unwrap());
        let c = caller(&h).unwrap();
        assert!(c.admin);
        assert_eq!(c.tenant.as_deref(), Some("a,b"));
        h.append("x-identity-status", "Confirmed".parse().unwrap());
        assert_eq!(caller(&h).unwrap_err(), Refusal::Unauthorized);
    }

    #[test]
    fn identity_status_must_be_exactly_confirmed() {
        for status in ["confirmed", "Invalid", "CONFIRMED", ""] {
            let h = headers(&[("x-identity-status", status), ("x-roles", "admin")]);
            assert_eq!(caller(&h), Err(Refusal::Unauthorized), "{status}");
        }
        assert_eq!(caller(&HeaderMap::new()), Err(Refusal::Unauthorized));
    }

    // Rule: The tenant is X-Project-Id, else X-Tenant-Id, else X-Tenant.
    #[test]
    fn project_id_wins_over_tenant_id_over_legacy_tenant() {
        let c = caller(&headers(&[OK, ("x-tenant-id", "t"), ("x-project-id", "p")])).unwrap();
        assert_eq!(c.tenant.as_deref(), Some("p"));
        let c = caller(&headers(&[
            OK,
            ("x-tenant", "legacy"),
            ("x-tenant-id", "t"),
        ]))
        .unwrap();
        assert_eq!(c.tenant.as_deref(), Some("t"));
        let c = caller(&headers(&[OK, ("x-tenant", "legacy")])).unwrap();
        assert_eq!(c.tenant.as_deref(), Some("legacy"));
        // present but empty still wins: the registry then sees the tenant ''
        let c = caller(&headers(&[OK, ("x-project-id", ""), ("x-tenant-id", "t")])).unwrap();
        assert_eq!(c.tenant.as_deref(), Some(""));
        let c = caller(&headers(&[OK])).unwrap();
        assert_eq!(c.tenant, None);
        assert_eq!(c.registry_owner(), Some(""));
    }

    // Rule: X-Roles, even empty, wins over the legacy X-Role.
    #[test]
    fn roles_header_wins_over_legacy_role_even_when_empty() {
        assert!(caller(&headers(&[OK, ("x-role", "admin")])).unwrap().admin);
        assert!(
            !caller(&headers(&[OK, ("x-roles", "member"), ("x-role", "admin")]))
                .unwrap()
                .admin
        );
        assert!(
            !caller(&headers(&[OK, ("x-roles", ""), ("x-role", "admin")]))
                .unwrap()
                .admin
        );
        assert!(
            caller(&headers(&[OK, ("x-roles", " Member , ADMIN ")]))
                .unwrap()
                .admin
        );
    }

    // Rule: An unparsable service catalog or a request id over 64 characters is the context middleware's 500.
    #[test]
    fn bad_catalog_and_long_request_id_are_server_errors() {
        assert_eq!(
            caller(&headers(&[OK, ("x-service-catalog", "{not json")])),
            Err(Refusal::ServerError(Some("Invalid service catalog json.")))
        );
        assert!(caller(&headers(&[OK, ("x-service-catalog", "[]")])).is_ok());
        let long = "x".repeat(65);
        let mut h = headers(&[OK]);
        h.append(
            "x-openstack-request-id",
            http::HeaderValue::from_str(&long).unwrap(),
        );
        assert_eq!(caller(&h), Err(Refusal::ServerError(None)));
        let mut h = headers(&[OK]);
        h.append(
            "x-openstack-request-id",
            http::HeaderValue::from_str(&long[1..]).unwrap(),
        );
        assert!(caller(&h).is_ok());
    }
}
