//! Nova's image metadata handlers (`nova/api/openstack/compute/image_metadata.py`): index,
//! show, create, update, update all, delete, with Nova's quota and type checks.

use super::faults::{json_out, Fault, Out};
use super::glance_client::{get_image, NovaImage};
use super::request::{Rq, JSON_PROPS, METADATA_ITEMS_QUOTA, PROPERTY_PREFIX};
use super::views::single;
use crate::render::python::dict::DictBuilder;
use crate::render::python::dumps::dumps;
use crate::render::python::repr::py_str;
use crate::render::python::value::Py;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue};

use crate::app::App;
use crate::model::Image;

// =========================================================================================
// Handlers: image metadata (nova/api/openstack/compute/image_metadata.py)
// =========================================================================================

pub(crate) fn meta_index(app: &App, rq: &Rq, id: &str) -> Result<Out, Fault> {
    let img = get_image(app, rq, id, true)?;
    Ok(json_out(&single("metadata", img.properties.finish())))
}

pub(crate) fn meta_show(app: &App, rq: &Rq, id: &str, key: &str) -> Result<Out, Fault> {
    let img = get_image(app, rq, id, true)?;
    match img.property(key) {
        Some(v) => Ok(json_out(&single("meta", single(key, v.clone())))),
        None => Err(Fault::default_for(404)),
    }
}

/// A `TypeError` inside the controller: 400 with the default explanation.
pub(crate) fn type_error() -> Fault {
    Fault::default_for(400)
}

/// `check_img_metadata_properties_quota` on an arbitrary value.
pub(crate) fn check_quota(metadata: &Py) -> Result<(), Fault> {
    if !metadata.truthy() {
        return Ok(());
    }
    let n = match metadata {
        Py::Str(s) => s.chars().count(),
        Py::List(l) => l.len(),
        Py::Dict(d) => d.len(),
        _ => return Err(type_error()),
    };
    if n > METADATA_ITEMS_QUOTA {
        return Err(Fault::new(403, "Image metadata limit exceeded"));
    }
    let Py::Dict(d) = metadata else {
        return Err(Fault::new(400, "Invalid image metadata"));
    };
    for (k, _) in d {
        let len = k.chars().count();
        if len == 0 {
            return Err(Fault::new(400, "Image metadata key cannot be blank"));
        }
        if len > 255 {
            return Err(Fault::new(400, "Image metadata key too long"));
        }
    }
    Ok(())
}

/// Nova's `image_service.update(..., purge_props=True)`: glanceclient sends every property
/// as an `x-image-meta-property-*` header and Glance v1 replaces the record's properties.
/// Done atomically in the store; returns the updated record.
pub(crate) async fn write_properties(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    props: Vec<(String, Py)>,
) -> Result<Arc<Image>, Fault> {
    let mut glance: Vec<(String, Option<String>)> = Vec::new();
    for (k, v) in props {
        let text = match (&v, JSON_PROPS.contains(&k.as_str())) {
            (Py::Str(s), _) => s.clone(),
            // _convert_to_string: json.dumps of a deep copy.
            (_, true) => dumps(&v.deepcopy()),
            // glanceclient `to_str` after three deep copies.
            _ => py_str(&v.deepcopy().deepcopy().deepcopy()),
        };
        let header_ok = HeaderName::from_bytes(format!("{PROPERTY_PREFIX}{k}").as_bytes()).is_ok();
        if !header_ok || HeaderValue::from_bytes(text.as_bytes()).is_err() {
            return Err(Fault::new(400, "Invalid image metadata"));
        }
        // Glance v1 saw the header name lower-cased with '-' as '_', the value stripped,
        // and an empty value as null.
        let key = k.to_ascii_lowercase().replace('-', "_");
        let value = text.trim_matches([' ', '\t']).to_string();
        let value = if value.is_empty() { None } else { Some(value) };
        match glance.iter_mut().find(|(gk, _)| *gk == key) {
            Some(slot) => slot.1 = value,
            None => glance.push((key, value)),
        }
    }
    let quota = app.config.property_quota;
    let caller = rq.caller.clone();
    let now = app.now();
    let written = app
        .store
        .write(move |snap, tx| {
            let cur = match snap.get(&id) {
                Some(c) if caller.can_see(&c) => c,
                _ => return Err(Fault::default_for(404)),
            };
            if cur.deleted || cur.status == crate::model::Status::Deleted {
                return Err(Fault::new(403, format!("Not authorized for image {id}.")));
            }
            if !caller.admin && !caller.owns(&cur) {
                return Err(Fault::new(403, format!("Not authorized for image {id}.")));
            }
            if glance.len() > quota {
                return Err(Fault::default_for(413));
            }
            let mut img = (*cur).clone();
            img.properties.clear();
            for (k, v) in glance {
                img.set_property(k.into(), v.map(Into::into));
            }
            img.updated_at = now;
            let out = Arc::new(img.clone());
            tx.put(img);
            Ok(out)
        })
        .await;
    written
}

/// The `properties` of Glance's PUT response as Nova held them (JSON order, deep-copied).
pub(crate) fn response_properties(img: &Image) -> Result<DictBuilder, Fault> {
    let record = crate::render::glance_json::image_record(img);
    NovaImage::from_json(&record).map(|i| i.properties)
}

/// `POST …/metadata`: merge.
pub(crate) async fn meta_create(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    body: Option<Py>,
) -> Result<Out, Fault> {
    let img = get_image(app, rq, &id, true)?;
    let mut props = img.properties;
    let body = body.unwrap_or(Py::None);
    if body.contains("metadata").map_err(|_| type_error())? {
        match body.getitem("metadata") {
            Some(Py::Dict(entries)) => {
                for (k, v) in entries {
                    props.insert(&k, v);
                }
            }
            // `body['metadata'].iteritems()` on a non-dict: AttributeError, a 500.
            Some(_) => return Err(Fault::internal()),
            // `body['metadata']` on a list or string: TypeError.
            None => return Err(type_error()),
        }
    }
    check_quota(&props.clone().finish())?;
    let updated = write_properties(app, rq, id, props.entries()).await?;
    Ok(json_out(&single(
        "metadata",
        response_properties(&updated)?.finish(),
    )))
}

/// `PUT …/metadata/{key}`: upsert one key; the body is echoed.
pub(crate) async fn meta_update(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    key: String,
    body: Option<Py>,
) -> Result<Out, Fault> {
    let body = body.unwrap_or(Py::None);
    let meta = match &body {
        Py::Dict(_) => match body.getitem("meta") {
            Some(m) => m,
            None => return Err(Fault::new(400, "Incorrect request body format")),
        },
        _ => return Err(type_error()),
    };
    if !meta.contains(&key).map_err(|_| type_error())? {
        return Err(Fault::new(400, "Request body and URI mismatch"));
    }
    if meta.len().unwrap_or(0) > 1 {
        return Err(Fault::new(400, "Request body contains too many items"));
    }
    let img = get_image(app, rq, &id, true)?;
    let value = match &meta {
        Py::Dict(_) => meta.getitem(&key).unwrap_or(Py::None),
        // `meta[id]` on a list or string: TypeError.
        _ => return Err(type_error()),
    };
    let mut props = img.properties;
    props.insert(&key, value);
    check_quota(&props.clone().finish())?;
    write_properties(app, rq, id, props.entries()).await?;
    Ok(json_out(&single("meta", meta)))
}

/// `PUT …/metadata`: replace everything; the body's metadata is echoed.
pub(crate) async fn meta_update_all(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    body: Option<Py>,
) -> Result<Out, Fault> {
    get_image(app, rq, &id, true)?;
    let body = body.unwrap_or(Py::None);
    let metadata = match &body {
        Py::Dict(_) => body.getitem("metadata").unwrap_or(Py::Dict(Vec::new())),
        // `body.get` on a non-dict: AttributeError.
        _ => return Err(Fault::internal()),
    };
    check_quota(&metadata)?;
    let Py::Dict(props) = &metadata else {
        // glanceclient iterating a non-dict `properties`: AttributeError.
        return Err(Fault::internal());
    };
    write_properties(app, rq, id, props.clone()).await?;
    Ok(json_out(&single("metadata", metadata)))
}

/// `DELETE …/metadata/{key}`.
pub(crate) async fn meta_delete(
    app: &Arc<App>,
    rq: &Rq,
    id: String,
    key: String,
) -> Result<Out, Fault> {
    let img = get_image(app, rq, &id, true)?;
    let mut props = img.properties;
    if props.remove(&key).is_none() {
        return Err(Fault::new(404, "Invalid metadata key"));
    }
    write_properties(app, rq, id, props.entries()).await?;
    Ok(Out::NoContentJson)
}
