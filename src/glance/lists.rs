//! The image lists (`GET /v1/images`, `/v1/images/detail`): filters, sorting, paging.

use std::sync::Arc;

use http::{Response, StatusCode};

use crate::app::body::Body;
use crate::app::{json_response, python_int, App, Ctx, IntText};
use crate::model::{Image, Status, Timestamp};
use crate::render::glance_json as api;
use crate::render::webob::ApiError;
use crate::store::list_index::{self, Field, SortKey, View, ViewLimits, Wanted};

use super::marker::{Criteria, Start};
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

/// The `u32` an equality filter's text equals in SQLite, if any: the text was bound as it
/// came (`min_ram` only checked by `int()` first) and compared with an INTEGER column, so
/// SQLite's numeric affinity read it: blanks around, a sign, digits with an optional
/// fraction and exponent (`-0`, `5.0`, `5.`, `5e0` are numbers; `1_0`, `٥`, `0x5` are text
/// and equal nothing), compared by value.
fn sqlite_integer(v: &str) -> Option<u32> {
    let t = v.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'));
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(b.get(i), Some(b'+' | b'-')));
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != b.len() {
        return None;
    }
    let f: f64 = t.parse().ok()?;
    (f == f.trunc() && (0.0..=f64::from(u32::MAX)).contains(&f)).then_some(f as u32)
}

/// The registry's answer to a marker it cannot find (or may not show).
fn invalid_marker() -> ApiError {
    ApiError::from_registry(
        ApiError::explained(
            StatusCode::BAD_REQUEST,
            "Invalid marker. Image could not be found.",
        ),
        "",
    )
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
    // oslo `is_uuid_like`: `uuid.UUID(s)` parses it and prints it back the same once
    // `urn:` and `uuid:` are removed, the braces at the ends stripped, the dashes dropped
    // and the case ignored; that leaves exactly 32 hex digits.
    let s = s.replace("urn:", "").replace("uuid:", "");
    let hex: String = s
        .trim_matches(|c| c == '{' || c == '}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
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

/// The values a string filter accepts (the `in:`/`eq:` operators of [`str_filter_matches`]).
fn str_filter_values(filter: &str) -> Vec<&str> {
    let mut values: Vec<&str> = match filter.split_once(':') {
        Some(("in", rest)) if Timestamp::parse(filter).is_none() => rest.split(',').collect(),
        Some(("eq", rest)) if Timestamp::parse(filter).is_none() => vec![rest],
        _ => vec![filter],
    };
    values.sort_unstable();
    values.dedup();
    values
}

/// The text columns with an order of their own, as list filters name them.
fn text_column(key: SortKey) -> fn(&Image) -> Option<&str> {
    match key {
        SortKey::Name => |i| i.name.as_deref(),
        SortKey::Status => |i| Some(i.status.as_str()),
        SortKey::DiskFormat => |i| i.disk_format.as_deref(),
        _ => |i| i.container_format.as_deref(),
    }
}

/// Filters answered from their own order, most selective first.
const EQUALITY_FILTERS: [SortKey; 4] = [
    SortKey::Name,
    SortKey::Status,
    SortKey::DiskFormat,
    SortKey::ContainerFormat,
];

/// A page in the default order (`created_at`) with a one-value equality filter on
/// `name`, `status`, `disk_format` or `container_format`: that value's run in the filter's
/// order is already sorted by (`created_at`, `id`), so the page is walked inside the run
/// (skipping unread the records the bitmaps of `sieved`'s common values rule out).
#[allow(clippy::too_many_arguments)]
fn default_order_run(
    app: &App,
    params: &[(String, String)],
    key: SortKey,
    desc: bool,
    after: Option<&Image>,
    limit: usize,
    sieved: &[(Field, Wanted<'_>)],
    view: View<'_>,
    keep: &impl Fn(&Image) -> bool,
) -> Option<Vec<Arc<Image>>> {
    if key != SortKey::CreatedAt {
        return None;
    }
    EQUALITY_FILTERS.into_iter().find_map(|k| {
        let values = str_filter_values(param(params, k.as_str())?);
        let [v] = values.as_slice() else { return None };
        let col = text_column(k);
        app.store.list_run(
            k,
            |i| col(i).cmp(&Some(*v)),
            desc,
            after,
            limit,
            sieved,
            view,
            keep,
        )
    })
}

/// Whether an equality filter without an order (`min_ram`, `min_disk`, `protected`,
/// `property-*`) asks for a value the store lists (uncommon: at most 4,096 records; or held
/// by nothing): [`filter_candidates`] then has every record the list can show. Indexes
/// each field asked for on first use, before any walk: a walk can then skip the records
/// outside the bitmaps of common values.
fn unordered_listed(app: &App, unordered: &[(Field, Option<Wanted<'_>>)]) -> bool {
    unordered.iter().any(|(field, want)| match want {
        None => true,
        Some(w) => app.store.filter_listed(field, *w),
    })
}

/// Records a list filter picks out of a small part of one order (at most this many).
const CANDIDATE_CAP: usize = 4096;

/// A tenant's view this small is looked at before any other filter: collected (or, for
/// `created_at`, merged) whatever the filters, at most this many records are read.
const SMALL_VIEW: ViewLimits = ViewLimits {
    merge: CANDIDATE_CAP,
    collect: CANDIDATE_CAP,
};

/// Past the equality and range filters: a `created_at` page merges the view's runs when
/// it has at most this many records (more, and a walk of the whole order meets a visible
/// record at least every 60 or so records at a million).
const MERGED_VIEW: ViewLimits = ViewLimits {
    merge: 16 * 1024,
    collect: CANDIDATE_CAP,
};

/// Every record that can match a list's filters, when one filter with an order of its own
/// (`name`, `changes-since`, `size_min`/`size_max`, `status`, `disk_format`,
/// `container_format`) matches at most [`CANDIDATE_CAP`] records: a page is then cut
/// from those instead of walking an order past everything the filter rejects. `None`:
/// no such filter; walk.
fn filter_candidates(
    app: &App,
    params: &[(String, String)],
    changes_since: Option<Timestamp>,
    size_min: Option<u64>,
    size_max: Option<u64>,
    unordered: &[(Field, Option<Wanted<'_>>)],
) -> Option<Vec<Arc<Image>>> {
    let store = &app.store;
    // Equal runs of a text column, one per accepted value, until the cap.
    let runs = |key: SortKey| -> Option<Vec<Arc<Image>>> {
        let col = text_column(key);
        let mut out = Vec::new();
        for v in str_filter_values(param(params, key.as_str())?) {
            let run = store.list_range(
                key,
                |i| col(i) < Some(v),
                |i| col(i) == Some(v),
                CANDIDATE_CAP - out.len(),
            )?;
            out.extend(run);
        }
        Some(out)
    };
    if let Some(c) = runs(SortKey::Name) {
        return Some(c);
    }
    if let Some(t) = changes_since {
        let found = store.list_range(
            SortKey::UpdatedAt,
            |i| i.updated_at <= t,
            |_| true,
            CANDIDATE_CAP,
        );
        if found.is_some() {
            return found;
        }
    }
    if size_min.is_some() || size_max.is_some() {
        let lo = size_min.unwrap_or(0);
        let found = store.list_range(
            SortKey::Size,
            |i| i.size.is_none_or(|s| s < lo),
            |i| size_max.is_none_or(|m| i.size.is_some_and(|s| s <= m)),
            CANDIDATE_CAP,
        );
        if found.is_some() {
            return found;
        }
    }
    if let Some(c) = EQUALITY_FILTERS[1..].iter().find_map(|&k| runs(k)) {
        return Some(c);
    }
    // Equality filters without an order: the records of an uncommon value are listed by
    // the store; a value nothing holds (or one no record can hold) has none.
    unordered.iter().find_map(|(field, want)| match want {
        None => Some(Vec::new()),
        Some(w) => store.list_filter(field, *w),
    })
}

/// `GET /v1/images` (6-key entries) and `GET /v1/images/detail` (18-key records).
pub fn index(
    app: &App,
    ctx: &Ctx,
    query: Option<&str>,
    detail: bool,
) -> Result<Response<Body>, ApiError> {
    let images = index_page(app, ctx, query)?;
    let page = images.iter();
    let entries = if detail {
        page.map(|i| api::image_record(i)).collect()
    } else {
        page.map(|i| api::index_entry(i)).collect()
    };
    Ok(json_response(StatusCode::OK, api::images_body(entries)))
}

/// Glance's `api_limit_max`: the most records one list answers, whatever its `limit`.
pub(crate) const API_LIMIT_MAX: i128 = 1000;

/// The records of the page [`index`] answers with, or its error: what the compute lists
/// page through (they need the records, not Glance's JSON text).
pub(crate) fn index_page(
    app: &App,
    ctx: &Ctx,
    query: Option<&str>,
) -> Result<Vec<Arc<Image>>, ApiError> {
    enforce(app, ctx, "get_images")?;
    if !crate::app::query_decodes(query) {
        // WebOb could not decode a parameter as UTF-8; Glance's wsgi turned that into this 400.
        return Err(ApiError::explained(
            StatusCode::BAD_REQUEST,
            "Error decoding your request. Either the URL or the request body contained characters that could not be decoded by Glance",
        ));
    }
    let params = crate::app::query_params(query);
    // API-level filter validation (glance/api/v1/filters.py) of `req.params.get(key)`: the
    // last value of each key, checked where the key first comes (`is_public=yes&
    // is_public=true` passes).
    for (k, _) in &params {
        let v = param(&params, k).unwrap_or_default();
        let bad = match k.as_str() {
            "size_min" | "size_max" | "min_ram" => match python_int(v, IntText::Python3Query) {
                Some(n) => n < 0,
                None => true,
            },
            "is_public" | "protected" => py_bool_filter(v).is_none(),
            _ => false,
        };
        if bad {
            return Err(ApiError::detailed(
                StatusCode::BAD_REQUEST,
                format!("Bad value passed to filter {k} got {v}"),
            )
            .with_charrefs());
        }
    }
    // Registry-level parameters, in the order the registry read them: its filters
    // (changes-since, protected), limit, sort_key, sort_dir, marker.
    let changes_since = match param(&params, "changes-since") {
        None => None,
        Some(v) => Some(match super::isotime::parse_isotime(v) {
            Ok(t) => Some(t),
            Err(super::isotime::IsoError::Unrecognized) => {
                return Err(ApiError::from_registry(
                    ApiError::detailed(StatusCode::BAD_REQUEST, "Unrecognized changes-since value"),
                    "",
                ))
            }
            // The database layer's normalize_time will fail (below, when the query is built).
            Err(super::isotime::IsoError::OutOfRange) => None,
        }),
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
    let limit = match param(&params, "limit") {
        None => 25,
        Some(v) => {
            let n: i128 = python_int(v, IntText::Python3Query).ok_or_else(|| {
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
            n.min(API_LIMIT_MAX) as usize
        }
    };
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
    let marker = param(&params, "marker");
    if let Some(m) = marker {
        // `if marker and not is_uuid_like(marker)`: an empty one is looked up (and not found).
        if !m.is_empty() && !uuid_like(m) {
            return Err(ApiError::from_registry(
                ApiError::explained(StatusCode::BAD_REQUEST, "Invalid marker format"),
                "",
            ));
        }
    }
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
    // The registry's query: a changes-since it could not normalise, then an operator it
    // does not know, was an exception there and a bare 500 here.
    let changes_since = match changes_since {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR)),
    };
    for key in ["name", "status", "container_format", "disk_format"] {
        if let Some(v) = param(&params, key) {
            if let Some((op, _)) = v.split_once(':') {
                if op != "in" && op != "eq" && Timestamp::parse(v).is_none() {
                    return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
                }
            }
        }
    }
    // Validated above as integers of 0 or more (the database layer's `int()` again); past
    // int64 the query fails later (below), past u64 no size reaches them anyway.
    let range = |key| param(&params, key).and_then(|v| python_int(v, IntText::Python3Query));
    let (size_min_n, size_max_n) = (range("size_min"), range("size_max"));
    let size_min = size_min_n.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
    let size_max = size_max_n.map(|n| u64::try_from(n).unwrap_or(u64::MAX));
    let min_ram = param(&params, "min_ram").map(sqlite_integer);
    let min_disk = param(&params, "min_disk").map(sqlite_integer);
    // `properties[key] = req.params.get(param)`: each property once, its last value.
    let mut props: Vec<(&str, &str)> = Vec::new();
    for (k, _) in &params {
        if let Some(p) = k.strip_prefix("property-") {
            if !props.iter().any(|(q, _)| *q == p) {
                props.push((p, param(&params, k).unwrap_or_default()));
            }
        }
    }

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
            || min_ram.is_some_and(|m| m != Some(img.min_ram))
            || min_disk.is_some_and(|m| m != Some(img.min_disk))
            || protected.is_some_and(|p| img.protected != p)
        {
            return false;
        }
        props.iter().all(|(k, v)| img.property(k) == Some(*v))
    };
    // The filters `matches` applies that no order answers (see `filter_candidates`).
    let mut unordered: Vec<(Field, Option<Wanted<'_>>)> = Vec::new();
    if let Some(m) = min_ram {
        unordered.push((Field::MinRam, m.map(Wanted::Num)));
    }
    if let Some(m) = min_disk {
        unordered.push((Field::MinDisk, m.map(Wanted::Num)));
    }
    if let Some(p) = protected {
        unordered.push((Field::Protected, Some(Wanted::Bool(p))));
    }
    for (k, v) in &props {
        unordered.push((Field::Property((*k).into()), Some(Wanted::Text(v))));
    }
    // The same with a value: what a walk can skip records by, without reading them.
    let sieved: Vec<(Field, Wanted<'_>)> = unordered
        .iter()
        .filter_map(|(f, w)| Some((f.clone(), (*w)?)))
        .collect();
    // Whose records `matches` lets through, for a walk to skip the others unread.
    let view = match is_public {
        None | Some(Some(true)) => View::Tenant(caller.registry_owner()),
        Some(Some(false)) => View::Public(false),
        Some(None) => View::All,
    };
    let key = SortKey::parse(sort_key).unwrap_or(SortKey::CreatedAt);
    // The marker: a record the filters keep, or one the caller may see (a marker filtered
    // out pages from where it would sort); anything else is unknown.
    let marker = match marker {
        None => None,
        Some(m) => match app.store.get(m) {
            Some(img) if matches(&img) || caller.can_see(&img) => Some(img),
            _ => return Err(invalid_marker()),
        },
    };
    // The range filters went to SQLite as numbers: past int64, an OverflowError when the
    // query ran, after the marker was looked up (a 500). `min_ram` went as the text itself
    // (see `sqlite_integer`).
    if [size_min_n, size_max_n]
        .into_iter()
        .flatten()
        .any(|n| n > i128::from(i64::MAX))
    {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    }
    let after = marker.as_deref();
    // A marker whose key is null (or its type's default): Glance's criteria, from the start
    // of the order (see `marker`); otherwise the page starts right after the marker.
    let criteria = after.and_then(|m| Criteria::new(key, desc, m));
    let start;
    let after = match criteria.as_ref().map(Criteria::start) {
        None => after,
        Some(Start::Beginning) => None,
        Some(Start::After(img)) => {
            start = img;
            Some(&*start)
        }
        Some(Start::Nothing) => return Ok(Vec::new()),
    };
    let matches = |img: &Image| matches(img) && criteria.as_ref().is_none_or(|c| c.keeps(img));
    // The normal-user view (public, own, shared): a tenant among many private images is
    // answered from its own records and the public ones, not by walking everyone's.
    let tenant_view = matches!(is_public, None | Some(Some(true)));
    let view_page = |limits: ViewLimits| {
        tenant_view
            .then(|| {
                let tenant = caller.registry_owner();
                app.store
                    .list_visible(tenant, key, desc, after, limit, &matches, limits)
            })
            .flatten()
    };
    // Where the page is looked for, cheapest first; every path gives the same page. A value
    // the store lists (see `unordered_listed`) bounds the page's cost by its records: the
    // run of a format filter is not walked then.
    let images = if let Some(page) = view_page(SMALL_VIEW) {
        page
    } else if let Some(page) = (!unordered_listed(app, &unordered))
        .then(|| {
            default_order_run(
                app, &params, key, desc, after, limit, &sieved, view, &matches,
            )
        })
        .flatten()
    {
        page
    } else if let Some(cands) =
        filter_candidates(app, &params, changes_since, size_min, size_max, &unordered)
    {
        list_index::page_from_candidates(cands, key, desc, after, limit, &matches)
    } else if let Some(page) = view_page(MERGED_VIEW) {
        page
    } else {
        app.store
            .list_page(key, desc, after, limit, &sieved, view, &matches)
    };
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::{sqlite_integer, uuid_like};

    // Rule: min_ram/min_disk text equals a record's number as SQLite's numeric affinity
    // read it (each checked against Glance 15.0.2's SQLite).
    #[test]
    fn equality_filters_read_text_as_sqlite_did() {
        for (v, want) in [
            ("5", Some(5)),
            (" 5\t", Some(5)),
            ("+5", Some(5)),
            ("-0", Some(0)),
            ("0.0", Some(0)),
            ("0.", Some(0)),
            (".0", Some(0)),
            ("0e5", Some(0)),
            ("1e-400", Some(0)),
            ("5.0", Some(5)),
            ("4294967295", Some(u32::MAX)),
            ("4294967296", None),
            ("99999999999999999999999", None),
            ("0.5", None),
            ("-1", None),
            ("0x0", None),
            ("1_0", None),
            ("\u{660}", None),
            ("\u{a0}0", None),
            ("0e", None),
            ("-", None),
            (".", None),
            ("", None),
            ("inf", None),
            ("NaN", None),
        ] {
            assert_eq!(sqlite_integer(v), want, "{v:?}");
        }
    }

    #[test]
    fn uuid_like_is_oslos() {
        let u = "0c0c0c0c-0000-4000-8000-000000000001";
        for ok in [
            u.to_string(),
            u.to_uppercase(),
            u.replace('-', ""),
            format!("{{{u}}}"),
            format!("urn:uuid:{u}"),
            format!("{{{{{u}}}}}"),
            format!("{u}-"),
        ] {
            assert!(uuid_like(&ok), "{ok}");
        }
        for bad in [
            "",
            "x",
            &u[1..],
            &format!("{u}0"),
            &format!(" {u}"),
            &u.replace('c', "g"),
        ] {
            assert!(!uuid_like(bad), "{bad}");
        }
    }
}
