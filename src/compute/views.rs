//! Nova's image views (`nova/api/openstack/compute/views/images.py` with the OS-DCF and
//! OS-EXT-IMG-SIZE extensions): pure functions from a read image to Python values.

use super::faults::Fault;
use super::glance_client::NovaImage;
use super::request::Rq;
use crate::app::{python_int, IntText};
use crate::render::python::dict::DictBuilder;
use crate::render::python::repr::py_str;
use crate::render::python::value::Py;

use crate::model::Timestamp;

// =========================================================================================
// Views (nova/api/openstack/compute/views/images.py + the OS-DCF / OS-EXT-IMG-SIZE extensions)
// =========================================================================================

/// `os.path.join` on URL strings, as Nova's link helpers used it.
pub(crate) fn os_path_join(parts: &[&str]) -> String {
    let mut path = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            path.push_str(p);
        } else if p.starts_with('/') {
            path = (*p).to_string();
        } else if path.is_empty() || path.ends_with('/') {
            path.push_str(p);
        } else {
            path.push('/');
            path.push_str(p);
        }
    }
    path
}

pub(crate) fn link(rel: &str, href: String) -> Py {
    let mut d = DictBuilder::literal(2);
    d.insert("rel", Py::Str(rel.to_string()));
    d.insert("href", Py::Str(href));
    d.finish()
}

pub(crate) fn href_link(rq: &Rq, id: &str, collection: &str) -> String {
    os_path_join(&[&rq.application_url(), rq.project(), collection, id])
}

pub(crate) fn bookmark_link(rq: &Rq, id: &str, collection: &str) -> String {
    // remove_version_from_href(application_url) is the bare host URL.
    os_path_join(&[&rq.host_url, rq.project(), collection, id])
}

/// self, bookmark, alternate (Kilo: `<glance_url>/images/<id>`, Glance being this host).
pub(crate) fn image_links(rq: &Rq, id: &str) -> Py {
    let mut alt = DictBuilder::literal(3);
    alt.insert("rel", Py::Str("alternate".into()));
    alt.insert("type", Py::Str("application/vnd.openstack.image".into()));
    alt.insert("href", Py::Str(format!("{}/images/{id}", rq.host_url)));
    Py::List(vec![
        link("self", href_link(rq, id, "images")),
        link("bookmark", bookmark_link(rq, id, "images")),
        alt.finish(),
    ])
}

pub(crate) fn nova_status(s: Option<&str>) -> (&'static str, i128) {
    match s {
        Some("active") => ("ACTIVE", 100),
        Some("queued") => ("SAVING", 25),
        Some("saving") => ("SAVING", 50),
        Some("deleted") | Some("pending_delete") => ("DELETED", 0),
        Some("killed") => ("ERROR", 0),
        _ => ("UNKNOWN", 0),
    }
}

/// `timeutils.parse_isotime` then `isotime`: seconds truncated, `Z` appended. Python 2's
/// strftime refused years before 1900 (a 500).
pub(crate) fn format_date(s: Option<&str>) -> Result<Py, Fault> {
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(Py::None);
    };
    let t = Timestamp::parse(s).ok_or_else(Fault::internal)?;
    if chrono::Datelike::year(&t.0) < 1900 {
        return Err(Fault::internal());
    }
    Ok(Py::Str(t.0.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

/// `int(x or 0)`.
pub(crate) fn int_or_zero(v: Option<&Py>) -> Result<Py, Fault> {
    match v {
        None | Some(Py::None) => Ok(Py::Int(0)),
        Some(Py::Int(n)) => Ok(Py::Int(*n)),
        Some(Py::Bool(b)) => Ok(Py::Int(i128::from(*b))),
        Some(Py::Str(s)) if s.is_empty() => Ok(Py::Int(0)),
        Some(Py::Str(s)) => python_int(s, IntText::Plain)
            .map(Py::Int)
            .ok_or_else(Fault::internal),
        Some(_) => Err(Fault::internal()),
    }
}

/// oslo `strutils.bool_from_string` (non-strict) on any value.
pub(crate) fn bool_from_py(v: &Py) -> bool {
    let s = match v {
        Py::Bool(b) => return *b,
        Py::Str(s) => s.clone(),
        other => py_str(other),
    };
    matches!(
        s.trim().to_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}

/// The detailed view (`show`), with `server`, then the image-size and disk-config
/// extensions (post-processing runs in reverse alias order: size before diskConfig).
pub(crate) fn show_view(rq: &Rq, img: &NovaImage) -> Result<Py, Fault> {
    let (status, progress) = nova_status(img.status.as_deref());
    let mut d = DictBuilder::literal(10);
    d.insert("id", Py::Str(img.id.clone()));
    d.insert("name", img.name.clone().map_or(Py::None, Py::Str));
    d.insert("minRam", int_or_zero(img.min_ram.as_ref())?);
    d.insert("minDisk", int_or_zero(img.min_disk.as_ref())?);
    d.insert("metadata", img.properties.clone().finish());
    d.insert("created", format_date(img.created_at.as_deref())?);
    d.insert("updated", format_date(img.updated_at.as_deref())?);
    d.insert("status", Py::Str(status.into()));
    d.insert("progress", Py::Int(progress));
    d.insert("links", image_links(rq, &img.id));
    if let Some(uuid) = img
        .property("instance_uuid")
        .filter(|v| !matches!(v, Py::None))
    {
        let uuid = py_str(uuid);
        let mut server = DictBuilder::literal(2);
        server.insert("id", Py::Str(uuid.clone()));
        server.insert(
            "links",
            Py::List(vec![
                link("self", href_link(rq, &uuid, "servers")),
                link("bookmark", bookmark_link(rq, &uuid, "servers")),
            ]),
        );
        d.insert("server", server.finish());
    }
    d.insert("OS-EXT-IMG-SIZE:size", img.size.clone().unwrap_or(Py::None));
    if let Some(raw) = img.property("auto_disk_config") {
        let v = if bool_from_py(raw) { "AUTO" } else { "MANUAL" };
        d.insert("OS-DCF:diskConfig", Py::Str(v.into()));
    }
    Ok(d.finish())
}

/// The basic list entry.
pub(crate) fn basic_view(rq: &Rq, img: &NovaImage) -> Py {
    let mut d = DictBuilder::literal(3);
    d.insert("id", Py::Str(img.id.clone()));
    d.insert("name", img.name.clone().map_or(Py::None, Py::Str));
    d.insert("links", image_links(rq, &img.id));
    d.finish()
}

pub(crate) fn single(key: &str, v: Py) -> Py {
    let mut d = DictBuilder::literal(1);
    d.insert(key, v);
    d.finish()
}
