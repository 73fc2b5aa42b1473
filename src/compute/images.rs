//! Nova's image handlers: show, delete and the (detail) lists with Nova's filters and paging.

use super::faults::{glance_fault, glanceclient_error, json_out, Fault, GlanceCall, Out};
use super::glance_client::{get_image, py_int, NovaImage};
use super::request::{Rq, GLANCE_PAGE_SIZE, MAX_LIMIT};
use super::views::{basic_view, link, os_path_join, show_view, single};
use crate::render::python::dict::DictBuilder;
use crate::render::python::value::Py;
use std::sync::Arc;

use http::Method;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::app::App;

// =========================================================================================
// Handlers: images
// =========================================================================================

pub(crate) fn show(app: &App, rq: &Rq, id: &str) -> Result<Out, Fault> {
    let img = get_image(app, rq, id, false)?;
    Ok(json_out(&single("image", show_view(rq, &img)?)))
}

pub(crate) async fn delete_image(app: &Arc<App>, rq: &Rq, id: String) -> Result<Out, Fault> {
    let ctx = Arc::new(rq.glance_ctx(Method::DELETE));
    match crate::glance::images::delete(Arc::clone(app), ctx, id).await {
        Ok(_) => Ok(Out::NoContent),
        Err(e) => Err(glance_fault(GlanceCall::Delete, e.status.as_u16(), None)),
    }
}

pub(crate) fn last<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `_get_int_param`.
pub(crate) fn int_param(params: &[(String, String)], key: &str) -> Result<Option<i128>, Fault> {
    let Some(v) = last(params, key) else {
        return Ok(None);
    };
    let n = py_int(v).ok_or_else(|| Fault::new(400, format!("{key} param must be an integer")))?;
    if n < 0 {
        return Err(Fault::new(400, format!("{key} param must be positive")));
    }
    Ok(Some(n))
}

/// `Controller._get_filters`.
pub(crate) fn nova_filters(params: &[(String, String)]) -> Vec<(String, String)> {
    let mut filters: Vec<(String, String)> = Vec::new();
    for (k, _) in params {
        let mapped = match k.as_str() {
            "name" | "status" | "changes-since" => k.clone(),
            "server" => "property-instance_uuid".to_string(),
            "type" => "property-image_type".to_string(),
            "minRam" => "min_ram".to_string(),
            "minDisk" => "min_disk".to_string(),
            _ if k.starts_with("property-") => k.clone(),
            _ => continue,
        };
        let value = last(params, k).unwrap_or("").to_string();
        match filters.iter_mut().find(|(f, _)| *f == mapped) {
            Some(slot) => slot.1 = value,
            None => filters.push((mapped, value)),
        }
    }
    for (f, v) in filters.iter_mut() {
        if f == "property-instance_uuid" {
            if let Some((_, tail)) = v.rsplit_once('/') {
                *v = tail.to_string();
            }
        }
        if f == "status" {
            *v = v.to_lowercase();
        }
    }
    filters
}

/// `GET …/images` and `…/images/detail`: glanceclient's paginated `list` over
/// `GET /v1/images/detail`, then the views and the `next` link.
pub(crate) async fn list(app: &Arc<App>, rq: &Rq, detail: bool) -> Result<Out, Fault> {
    let params = crate::app::query_params(rq.query.as_deref());
    let filters = nova_filters(&params);
    let limit = int_param(&params, "limit")?;
    let page_size = int_param(&params, "page_size")?;
    let marker = last(&params, "marker").map(str::to_string);
    // _extract_query_params keeps only truthy values.
    let absolute_limit = limit.filter(|n| *n > 0);
    let page = page_size.filter(|n| *n > 0).unwrap_or(GLANCE_PAGE_SIZE);
    let mut qp: Vec<(String, String)> = vec![("limit".into(), page.to_string())];
    if let Some(m) = marker.as_ref().filter(|m| !m.is_empty()) {
        qp.push(("marker".into(), m.clone()));
    }
    qp.extend(filters);
    if !qp.iter().any(|(k, _)| k == "is_public") {
        qp.push(("is_public".into(), "none".into()));
    }
    // Python 2's urlencode could not encode non-ASCII text.
    if qp.iter().any(|(k, v)| !k.is_ascii() || !v.is_ascii()) {
        return Err(Fault::internal());
    }
    let ctx = rq.glance_ctx(Method::GET);
    let mut images: Vec<NovaImage> = Vec::new();
    let mut seen: i128 = 0;
    'pages: loop {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(qp.iter())
            .finish();
        let records = match crate::glance::lists::index(app, &ctx, Some(&query), true) {
            Ok(resp) => {
                let bytes = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|_| Fault::internal())?
                    .to_bytes();
                let v: Value = serde_json::from_slice(&bytes).map_err(|_| Fault::internal())?;
                v.get("images")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            }
            Err(e) => {
                let (code, details) = glanceclient_error(&ctx, e).await;
                return Err(glance_fault(GlanceCall::List, code, Some(details)));
            }
        };
        let mut seen_last_page: i128 = 0;
        let mut last_id = None;
        for r in &records {
            let img = NovaImage::from_json(r)?;
            last_id = Some(img.id.clone());
            if absolute_limit.is_some_and(|l| seen + seen_last_page >= l) {
                break 'pages;
            }
            seen_last_page += 1;
            images.push(img);
        }
        seen += seen_last_page;
        if seen_last_page == 0 || absolute_limit.is_some_and(|l| seen >= l) || seen_last_page < page
        {
            break;
        }
        match last_id {
            Some(id) => match qp.iter_mut().find(|(k, _)| k == "marker") {
                Some(slot) => slot.1 = id,
                None => qp.push(("marker".into(), id)),
            },
            None => break,
        }
    }
    let entries: Vec<Py> = if detail {
        images
            .iter()
            .map(|i| show_view(rq, i))
            .collect::<Result<_, _>>()?
    } else {
        images.iter().map(|i| basic_view(rq, i)).collect()
    };
    let collection = if detail { "images/detail" } else { "images" };
    let mut out = DictBuilder::literal(1);
    out.insert("images", Py::List(entries));
    let max_items = last(&params, "limit")
        .and_then(py_int)
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    if max_items != 0 && max_items == images.len() as i128 {
        let last_id = images.last().map(|i| i.id.clone()).unwrap_or_default();
        out.insert(
            "images_links",
            Py::List(vec![link(
                "next",
                next_link(rq, &params, &last_id, collection)?,
            )]),
        );
    }
    Ok(json_out(&out.finish()))
}

/// `_get_next_link`: the request's parameters (marker replaced, moved last) joined raw with
/// `dict_to_query_str` (no URL encoding; `str()` of non-ASCII text failed).
pub(crate) fn next_link(
    rq: &Rq,
    params: &[(String, String)],
    marker: &str,
    collection: &str,
) -> Result<String, Fault> {
    let mut items: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    items.push(("marker", marker));
    if items.iter().any(|(k, v)| !k.is_ascii() || !v.is_ascii()) {
        return Err(Fault::internal());
    }
    let q: Vec<String> = items.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = os_path_join(&[&rq.application_url(), rq.project(), collection]);
    Ok(format!("{url}?{}", q.join("&")))
}
