//! The Glance v1 surface (`glance/api/v1`): the routing table ([`routes`]) and the handlers.

pub mod images;
pub mod routes;
