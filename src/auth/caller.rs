//! Who is asking: the caller context (admin or not, tenant, roles) and Glance's visibility
//! rules that depend on it. Pure; the service builds a [`Caller`] per request.

use std::collections::HashMap;
use std::path::Path;

use http::HeaderMap;
use serde::Deserialize;

use super::Refusal;
use crate::model::Image;

/// How callers are identified (`--auth`).
#[derive(Debug, Clone, Default)]
pub enum AuthMode {
    /// Glance's default `unauthenticated-context`: everyone is an admin without a tenant.
    #[default]
    NoAuth,
    /// Static Keystone-style tokens: `X-Auth-Token` looked up in a table.
    Tokens(HashMap<String, Caller>),
    /// keystonemiddleware's headers (`X-Identity-Status: Confirmed`, `X-Tenant-Id`, ...)
    /// trusted as Glance's trusted-auth flavour did.
    TrustedHeaders,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl AuthMode {
    /// Parses `noauth`, `trusted-headers` or `tokens:FILE`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        match spec {
            "noauth" => Ok(AuthMode::NoAuth),
            "trusted-headers" => Ok(AuthMode::TrustedHeaders),
            _ => match spec.strip_prefix("tokens:") {
                Some(file) => Self::load_tokens(Path::new(file)),
                None => Err(format!(
                    "unknown auth mode '{spec}' (expected noauth, trusted-headers or tokens:FILE)"
                )),
            },
        }
    }

    fn load_tokens(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let table: HashMap<String, TokenEntry> = serde_path_to_error::deserialize(de)
            .map_err(|e| format!("{}: {}: {}", path.display(), e.path(), e.inner()))?;
        let map = table
            .into_iter()
            .map(|(token, e)| {
                let roles: Vec<String> = e.roles.iter().map(|r| r.to_lowercase()).collect();
                let caller = Caller {
                    admin: roles.iter().any(|r| r == "admin"),
                    tenant: e.tenant,
                    user: e.user,
                    roles,
                    authenticated: true,
                };
                (token, caller)
            })
            .collect();
        Ok(AuthMode::Tokens(map))
    }

    /// Whether an incoming `X-Openstack-Request-Id` is reused (keystone context only).
    pub fn echoes_request_id(&self) -> bool {
        !matches!(self, AuthMode::NoAuth)
    }

    /// The caller for a request, or why Glance's context middleware refused one.
    pub fn caller(&self, h: &HeaderMap) -> Result<Caller, Refusal> {
        match self {
            AuthMode::NoAuth => Ok(Caller::noauth()),
            AuthMode::Tokens(table) => h
                .get("x-auth-token")
                .and_then(|v| v.to_str().ok())
                .and_then(|token| table.get(token))
                .map(|c| Caller {
                    authenticated: true,
                    ..c.clone()
                })
                .ok_or(Refusal::Unauthorized),
            AuthMode::TrustedHeaders => super::trusted::caller(h),
        }
    }
}

/// The request context Glance's context middleware built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    /// Admin context (noauth, or the `admin` role).
    pub admin: bool,
    /// The caller's tenant (project), which Glance used as the owner.
    pub tenant: Option<String>,
    /// The caller's user id.
    pub user: Option<String>,
    /// Lower-cased role names.
    pub roles: Vec<String>,
    /// Built from Keystone-style identity (tokens, trusted headers) rather than Glance's
    /// `unauthenticated-context`: glance-api then sent the registry `X-Tenant-Id: <tenant or ''>`,
    /// so the registry's owner is never `None` (see [`Caller::registry_owner`]).
    pub authenticated: bool,
}

impl Caller {
    /// Glance's default `unauthenticated-context`: admin, no tenant, no roles.
    pub fn noauth() -> Self {
        Caller {
            admin: true,
            ..Caller::default()
        }
    }

    /// The owner the registry's context had: `None` only for Glance's noauth context; an
    /// authenticated caller without a tenant is the tenant `''` there, which owns nothing and
    /// is nobody's member (so it never matches every membership row, unlike `None`).
    pub fn registry_owner(&self) -> Option<&str> {
        match (&self.tenant, self.authenticated) {
            (Some(t), _) => Some(t),
            (None, true) => Some(""),
            (None, false) => None,
        }
    }

    /// Whether the caller owns `img`.
    pub fn owns(&self, img: &Image) -> bool {
        matches!((self.registry_owner(), &img.owner), (Some(t), Some(o)) if *o == *t)
    }

    /// Whether the caller is a member of `img`.
    pub fn is_member(&self, img: &Image) -> bool {
        self.registry_owner()
            .is_some_and(|t| img.members.iter().any(|m| m.member_id == t))
    }

    /// Registry `show` visibility (HEAD, GET, PUT, DELETE, members): admin sees everything,
    /// deleted included; others see non-deleted images that are owner-less, public, their
    /// own or shared with them.
    pub fn can_see(&self, img: &Image) -> bool {
        if self.admin {
            return true;
        }
        if img.deleted {
            return false;
        }
        img.owner.is_none() || img.is_public || self.owns(img) || self.is_member(img)
    }

    /// List visibility for the "normal user view": public, own, or shared with the caller
    /// (owner-less private images are not listed, unlike `can_see`).
    pub fn lists(&self, img: &Image) -> bool {
        if img.is_public || self.owns(img) || self.is_member(img) {
            return true;
        }
        // A registry context without an owner (noauth only) matched every membership row in
        // the registry's join, so real Glance listed any shared image to noauth callers.
        self.registry_owner().is_none() && !img.members.is_empty()
    }

    /// Whether the caller may change the members of `img` (owner, admin, or a member with
    /// `can_share`).
    pub fn can_share(&self, img: &Image) -> bool {
        if self.admin || self.owns(img) {
            return true;
        }
        // The registry read the caller's FIRST row (a member may have several).
        self.registry_owner().is_some_and(|t| {
            img.members
                .iter()
                .find(|m| m.member_id == t)
                .is_some_and(|m| m.can_share)
        })
    }
}
