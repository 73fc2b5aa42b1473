//! The Glance v1 surface (`glance/api/v1`): the routing table ([`routes`]) and the handlers,
//! split as Glance split them: one image, lists, request metadata, uploads, members.

pub mod images;
pub(crate) mod isotime;
pub(crate) mod json_body;
pub mod lists;
pub mod marker;
pub mod members;
pub mod negotiate;
pub mod request_meta;
pub mod routes;
pub mod uploads;
