//! Who is asking: the caller context (admin or not, tenant, roles) and Glance's visibility
//! rules that depend on it. Pure; the service builds a [`Caller`] per request.

use crate::model::Image;

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
}

impl Caller {
    /// Glance's default `unauthenticated-context`: admin, no tenant, no roles.
    pub fn noauth() -> Self {
        Caller {
            admin: true,
            ..Caller::default()
        }
    }

    /// Whether the caller owns `img`.
    pub fn owns(&self, img: &Image) -> bool {
        matches!((&self.tenant, &img.owner), (Some(t), Some(o)) if t == o)
    }

    /// Whether the caller is a member of `img`.
    pub fn is_member(&self, img: &Image) -> bool {
        self.tenant
            .as_deref()
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
        // A context without a tenant matched every membership row in the registry's
        // outer join, so real Glance listed any shared image to noauth callers.
        self.tenant.is_none() && !img.members.is_empty()
    }

    /// Whether the caller may change the members of `img` (owner, admin, or a member with
    /// `can_share`).
    pub fn can_share(&self, img: &Image) -> bool {
        if self.admin || self.owns(img) {
            return true;
        }
        self.tenant
            .as_deref()
            .is_some_and(|t| img.members.iter().any(|m| m.member_id == t && m.can_share))
    }
}
