//! The image lists (`GET /v1/images`, `/v1/images/detail`): filters, sorting, paging.

use std::sync::Arc;

use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::app::{json_response, App, Ctx};
use crate::model::{Image, Status, Timestamp};
use crate::render::glance_json as api;
use crate::render::webob::ApiError;

use super::request_meta::enforce;

// ---------------------------------------------------------------------------------------
// GET /v1/images, /v1/images/detail
// ---------------------------------------------------------------------------------------

const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// WebOb `MultiDict.get`: the last value wins.
fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn py_bool_filter(v: &str) -> Option<Option<bool>> {
    match v.to_ascii_lowercase().as_str() {
        "none" => Some(None),
        "true" | "1" => Some(Some(true)),
        "false" | "0" => Some(Some(false)),
        _ => None,
    }
}

pub(crate) fn uuid_like(s: &str) -> bool {
    // oslo `is_uuid_like`: parses as a UUID once dashes are removed.
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// A string filter with Glance's `in:`/`eq:` operators.
fn str_filter_matches(filter: &str, value: Option<&str>) -> bool {
    let (op, operand) = match filter.split_once(':') {
        Some((op, rest)) if (op == "in" || op == "eq") && Timestamp::parse(filter).is_none() => {
            (op, rest)
        }
        _ => ("eq", filter),
    };
    match (op, value) {
        ("in", Some(v)) => operand.split(',').any(|x| x == v),
        (_, Some(v)) => operand == v,
        (_, None) => false,
    }
}

/// `GET /v1/images` (6-key entries) and `GET /v1/images/detail` (18-key records).
pub fn index(
    app: &App,
    ctx: &Ctx,
    query: Option<&str>,
    detail: bool,
) -> Result<Response<Body>, ApiError> {
    enforce(app, ctx, "get_images")?;
    let params = query_params(query);
    // API-level filter validation (glance/api/v1/filters.py).
    for (k, v) in &params {
        let bad = match k.as_str() {
            "size_min" | "size_max" | "min_ram" => {
                v.trim().parse::<i64>().is_ok_and(|n| n < 0) || v.trim().parse::<i64>().is_err()
            }
            "is_public" | "protected" => py_bool_filter(v).is_none(),
            _ => false,
        };
        if bad {
            let v = param(&params, k).unwrap_or(v);
            return Err(ApiError::detailed(
                StatusCode::BAD_REQUEST,
                format!("Bad value passed to filter {k} got {v}"),
            ));
        }
    }
    // Registry-level parameters.
    let limit = match param(&params, "limit") {
        None => 25,
        Some(v) => {
            let n: i64 = v.trim().parse().map_err(|_| {
                ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "limit param must be an integer"),
                    "",
                )
            })?;
            if n < 0 {
                return Err(ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "limit param must be positive"),
                    "",
                ));
            }
            n.min(1000) as usize
        }
    };
    let marker = param(&params, "marker").filter(|m| !m.is_empty());
    if let Some(m) = marker {
        if !uuid_like(m) {
            return Err(ApiError::from_registry(
                ApiError::explained(StatusCode::BAD_REQUEST, "Invalid marker format"),
                "",
            ));
        }
    }
    let sort_key = param(&params, "sort_key").unwrap_or("created_at");
    if !SORT_KEYS.contains(&sort_key) {
        return Err(ApiError::from_registry(
            ApiError::explained(
                StatusCode::BAD_REQUEST,
                format!(
                    "Unsupported sort_key. Acceptable values: {}",
                    SORT_KEYS.join(", ")
                ),
            ),
            "",
        ));
    }
    let sort_dir = param(&params, "sort_dir").unwrap_or("desc");
    let desc = match sort_dir {
        "asc" => false,
        "desc" => true,
        _ => {
            return Err(ApiError::from_registry(
                ApiError::explained(
                    StatusCode::BAD_REQUEST,
                    "Unsupported sort_dir. Acceptable values: asc, desc",
                ),
                "",
            ))
        }
    };
    let changes_since = match param(&params, "changes-since") {
        None => None,
        Some(v) => Some(Timestamp::parse(v).ok_or_else(|| {
            ApiError::from_registry(
                ApiError::detailed(StatusCode::BAD_REQUEST, "Unrecognized changes-since value"),
                "",
            )
        })?),
    };
    let protected = match param(&params, "protected") {
        None => None,
        Some(v) => match py_bool_filter(v) {
            Some(Some(b)) => Some(b),
            _ => {
                return Err(ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "protected must be True, or False"),
                    "",
                ))
            }
        },
    };
    // Admins choose the view with is_public (absent = the normal-user view); non-admins
    // always get the normal-user view.
    let is_public: Option<Option<bool>> = if ctx.caller.admin {
        match param(&params, "is_public") {
            None => Some(Some(true)),
            Some(v) => Some(py_bool_filter(v).unwrap_or(Some(false))),
        }
    } else {
        None
    };
    let size_min = param(&params, "size_min").and_then(|v| v.trim().parse::<u64>().ok());
    let size_max = param(&params, "size_max").and_then(|v| v.trim().parse::<u64>().ok());
    let min_ram = param(&params, "min_ram").and_then(|v| v.trim().parse::<u32>().ok());
    let min_disk = param(&params, "min_disk").map(|v| v.trim().parse::<u32>().ok());
    let props: Vec<(&str, &str)> = params
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("property-").map(|p| (p, v.as_str())))
        .collect();

    let caller = &ctx.caller;
    let matches = |img: &Image| -> bool {
        match changes_since {
            Some(t) => {
                if img.updated_at <= t {
                    return false;
                }
            }
            None => {
                if img.deleted || img.status == Status::Killed {
                    return false;
                }
            }
        }
        let visible = match is_public {
            None => caller.lists(img),
            Some(Some(true)) => caller.lists(img),
            Some(Some(false)) => !img.is_public,
            Some(None) => true,
        };
        if !visible {
            return false;
        }
        for (key, val) in [
            ("name", img.name.as_deref()),
            ("status", Some(img.status.as_str())),
            ("container_format", img.container_format.as_deref()),
            ("disk_format", img.disk_format.as_deref()),
        ] {
            if let Some(f) = param(&params, key) {
                if !str_filter_matches(f, val) {
                    return false;
                }
            }
        }
        if size_min.is_some_and(|m| img.size.is_none_or(|s| s < m))
            || size_max.is_some_and(|m| img.size.is_none_or(|s| s > m))
            || min_ram.is_some_and(|m| img.min_ram != m)
            || min_disk.is_some_and(|m| m != Some(img.min_disk))
            || protected.is_some_and(|p| img.protected != p)
        {
            return false;
        }
        props.iter().all(|(k, v)| img.property(k) == Some(*v))
    };
    let mut images: Vec<Arc<Image>> = app.store.all().into_iter().filter(|i| matches(i)).collect();
    let key_cmp = |a: &Image, b: &Image| -> std::cmp::Ordering {
        let primary = match sort_key {
            "name" => a.name.cmp(&b.name),
            "status" => a.status.as_str().cmp(b.status.as_str()),
            "container_format" => a.container_format.cmp(&b.container_format),
            "disk_format" => a.disk_format.cmp(&b.disk_format),
            "size" => a.size.cmp(&b.size),
            "id" => a.id.cmp(&b.id),
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            _ => a.created_at.cmp(&b.created_at),
        };
        primary
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.id.cmp(&b.id))
    };
    images.sort_by(|a, b| {
        let o = key_cmp(a, b);
        if desc {
            o.reverse()
        } else {
            o
        }
    });
    let start = match marker {
        None => 0,
        Some(m) => match images.iter().position(|i| i.id == m) {
            Some(p) => p + 1,
            None => {
                let visible = app.store.get(m).is_some_and(|i| caller.can_see(&i));
                if !visible {
                    return Err(ApiError::from_registry(
                        ApiError::explained(
                            StatusCode::BAD_REQUEST,
                            "Invalid marker. Image could not be found.",
                        ),
                        "",
                    ));
                }
                // The marker exists but was filtered out: page from where it would sort.
                images
                    .iter()
                    .position(|i| {
                        let o = app
                            .store
                            .get(m)
                            .map(|mk| key_cmp(i, &mk))
                            .unwrap_or(std::cmp::Ordering::Equal);
                        if desc {
                            o == std::cmp::Ordering::Less
                        } else {
                            o == std::cmp::Ordering::Greater
                        }
                    })
                    .unwrap_or(images.len())
            }
        },
    };
    let page = images.iter().skip(start).take(limit);
    let entries = if detail {
        page.map(|i| api::image_record(i)).collect()
    } else {
        page.map(|i| api::index_entry(i)).collect()
    };
    Ok(json_response(StatusCode::OK, api::images_body(entries)))
}
