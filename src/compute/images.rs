//! Nova's image handlers: show, delete and the (detail) lists with Nova's filters and paging.

use super::faults::{glance_fault, glanceclient_error, json_out, Fault, GlanceCall, Out};
use super::glance_client::{get_image, NovaImage};
use super::request::{Rq, GLANCE_PAGE_SIZE, MAX_LIMIT};
use super::views::{basic_view, link, os_path_join, show_view, single};
use crate::glance::lists::API_LIMIT_MAX;
use crate::render::python::dict::DictBuilder;
use crate::render::python::dumps::{dump_into, dumps};
use crate::render::python::value::Py;
use std::sync::Arc;

use http::Method;

use crate::app::{python_int, App, IntText};

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
    let n = python_int(v, IntText::Plain)
        .ok_or_else(|| Fault::new(400, format!("{key} param must be an integer")))?;
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
    // The body is written as the pages come in: `{"images": [` (the outer dict's first key
    // in Python 2's order, checked below), then each view, so a list of a million images
    // holds its JSON text and one batch, not a million parsed records and views (which
    // took gigabytes: the list has no limit unless the caller gives one, as in Nova).
    let mut body = String::from(IMAGES_OPEN);
    let mut count: usize = 0;
    let mut last_listed = String::new();
    // glanceclient asked Glance for `page` records at a time. The records of several of its
    // pages are fetched in one call (Glance's cap, `api_limit_max` = 1000, allowing) and
    // then taken page by page with glanceclient's own stopping rules below, so the result
    // is the same as page by page, record for record (the pages are slices of one ordered
    // walk), without a Glance request per 20 records.
    let most = if page <= API_LIMIT_MAX {
        API_LIMIT_MAX / page * page
    } else {
        page
    };
    'pages: loop {
        if count > 0 {
            // A list of every image runs for seconds at a million: let the connections
            // that share this worker be served between batches.
            tokio::task::yield_now().await;
        }
        // With a limit, only the pages glanceclient would still have asked for: the one
        // the limit falls in is read whole (its record after the limit is decoded too).
        let batch = match absolute_limit {
            Some(l) => {
                let left = (l - count as i128).max(1);
                let pages = left.saturating_add(page - 1) / page;
                most.min(pages.saturating_mul(page))
            }
            None => most,
        };
        qp[0].1 = batch.to_string();
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(qp.iter())
            .finish();
        let records = match crate::glance::lists::index_page(app, &ctx, Some(&query)) {
            Ok(page) => page,
            Err(e) => {
                let (code, details) = glanceclient_error(&ctx, e).await;
                return Err(glance_fault(GlanceCall::List, code, Some(details)));
            }
        };
        let fetched = records.len();
        // glanceclient's pages within the batch; its checks after each one.
        let mut pages = records.chunks(usize::try_from(page).unwrap_or(usize::MAX));
        loop {
            let mut seen_last_page: i128 = 0;
            for r in pages.next().unwrap_or_default() {
                // Glance's detail record as glanceclient decoded it: the JSON value Glance
                // serialised, taken before the text (the round trip changes none of it).
                let img = NovaImage::from_json(&crate::render::glance_json::image_record(r))?;
                if absolute_limit.is_some_and(|l| count as i128 >= l) {
                    break 'pages;
                }
                seen_last_page += 1;
                if count > 0 {
                    body.push_str(", ");
                }
                count += 1;
                if detail {
                    dump_into(&show_view(rq, &img)?, &mut body);
                } else {
                    dump_into(&basic_view(rq, &img), &mut body);
                }
                last_listed = img.id;
            }
            if seen_last_page == 0
                || absolute_limit.is_some_and(|l| count as i128 >= l)
                || seen_last_page < page
            {
                break 'pages;
            }
            if pages.len() == 0 {
                break;
            }
        }
        if (fetched as i128) < batch {
            break;
        }
        match qp.iter_mut().find(|(k, _)| k == "marker") {
            Some(slot) => slot.1.clone_from(&last_listed),
            None => qp.push(("marker".into(), last_listed.clone())),
        }
    }
    let collection = if detail { "images/detail" } else { "images" };
    let mut out = DictBuilder::literal(1);
    out.insert("images", Py::List(Vec::new()));
    let max_items = last(&params, "limit")
        .and_then(|v| python_int(v, IntText::Plain))
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    if max_items != 0 && max_items == count as i128 {
        out.insert(
            "images_links",
            Py::List(vec![link(
                "next",
                next_link(rq, &params, &last_listed, collection)?,
            )]),
        );
    }
    // The rest of the outer dict after the (empty) list it was given: `]`, then the link.
    let tail = dumps(&out.finish());
    let Some(rest) = tail.strip_prefix(IMAGES_OPEN) else {
        // Python 2 puts "images" first in this dict; if that ever changed, say so.
        return Err(Fault::internal());
    };
    body.push_str(rest);
    Ok(Out::Json(body))
}

/// How a list's body starts: its first key and the open list.
const IMAGES_OPEN: &str = "{\"images\": [";

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
