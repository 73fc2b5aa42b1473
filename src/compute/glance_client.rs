//! Reading images the way Nova did: glanceclient over Glance v1 (a HEAD for one image, the
//! detail pages for lists), here as in-process calls into [`crate::glance`], one way.

use super::faults::{glance_fault, Fault, GlanceCall};
use super::request::{Rq, JSON_PROPS, PROPERTY_PREFIX};
use crate::render::python::dict::{fill, DictBuilder};
use crate::render::python::value::Py;

use http::header::HeaderMap;
use http::Method;
use serde_json::Value;

use crate::app::{python_int, App, IntText};

// =========================================================================================
// Reading images the way Nova did (glanceclient over Glance v1)
// =========================================================================================

/// The image dict Nova's `_translate_from_glance` produced.
pub(crate) struct NovaImage {
    pub(crate) id: String,
    pub(crate) name: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) size: Option<Py>,
    pub(crate) min_ram: Option<Py>,
    pub(crate) min_disk: Option<Py>,
    pub(crate) created_at: Option<String>,
    pub(crate) updated_at: Option<String>,
    /// `properties`, the live dict Nova held.
    pub(crate) properties: DictBuilder,
}

impl NovaImage {
    /// From a `HEAD /v1/images/{id}` response (glanceclient `_image_meta_from_headers`).
    pub(crate) fn from_head(h: &HeaderMap) -> Result<Self, Fault> {
        let text = |name: &str| {
            h.get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let mut wire: Vec<(String, Py)> = Vec::new();
        for (name, value) in h {
            if let Some(k) = name.as_str().strip_prefix(PROPERTY_PREFIX) {
                wire.push((
                    k.to_string(),
                    Py::Str(String::from_utf8_lossy(value.as_bytes()).into_owned()),
                ));
            }
        }
        // `_format_image_meta_for_user`: int(v) if v else 0, kept as is when not an int.
        let int_field = |name: &str| {
            text(name).map(|v| {
                if v.is_empty() {
                    Py::Int(0)
                } else {
                    python_int(&v, IntText::Plain).map_or(Py::Str(v), Py::Int)
                }
            })
        };
        Ok(NovaImage {
            id: text("x-image-meta-id").unwrap_or_default(),
            name: text("x-image-meta-name"),
            status: text("x-image-meta-status"),
            size: int_field("x-image-meta-size"),
            min_ram: int_field("x-image-meta-min_ram"),
            min_disk: int_field("x-image-meta-min_disk"),
            created_at: text("x-image-meta-created_at"),
            updated_at: text("x-image-meta-updated_at"),
            properties: translate_properties(wire)?,
        })
    }

    /// From one record of a `GET /v1/images/detail` JSON body (glanceclient `_list`).
    pub(crate) fn from_json(v: &Value) -> Result<Self, Fault> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |k: &str| match v.get(k) {
            None | Some(Value::Null) => None,
            Some(x) => Some(Py::from_json(x)),
        };
        let mut wire = Vec::new();
        if let Some(Value::Object(props)) = v.get("properties") {
            for (k, val) in props {
                wire.push((k.clone(), Py::from_json(val)));
            }
        }
        Ok(NovaImage {
            id: s("id").unwrap_or_default(),
            name: s("name"),
            status: s("status"),
            size: n("size"),
            min_ram: n("min_ram"),
            min_disk: n("min_disk"),
            created_at: s("created_at"),
            updated_at: s("updated_at"),
            properties: translate_properties(wire)?,
        })
    }

    pub(crate) fn property(&self, key: &str) -> Option<&Py> {
        self.properties.get(key)
    }
}

/// glanceclient fills a fresh dict in wire order, `_convert_from_string` deep-copies it and
/// JSON-decodes `block_device_mapping`/`mappings` in place.
pub(crate) fn translate_properties(wire: Vec<(String, Py)>) -> Result<DictBuilder, Fault> {
    let mut copied = fill(wire).deepcopy();
    for key in JSON_PROPS {
        if let Some(Py::Str(s)) = copied.get(key) {
            // jsonutils.loads raising ValueError surfaced as a 500.
            let parsed: Value = serde_json::from_str(s).map_err(|_| Fault::internal())?;
            copied.insert(key, Py::from_json(&parsed));
        }
    }
    Ok(copied)
}

/// Nova's `image_api.get`: a Glance v1 HEAD on the same store.
pub(crate) fn get_image(
    app: &App,
    rq: &Rq,
    id: &str,
    for_metadata: bool,
) -> Result<NovaImage, Fault> {
    let ctx = rq.glance_ctx(Method::HEAD);
    match crate::glance::images::meta(app, &ctx, id, &HeaderMap::new()) {
        Ok(resp) => NovaImage::from_head(resp.headers()),
        Err(e) => Err(glance_fault(
            GlanceCall::Get { id, for_metadata },
            e.status.as_u16(),
            None,
        )),
    }
}
