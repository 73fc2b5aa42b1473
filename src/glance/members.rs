//! Image memberships (`glance/api/v1/members.py`): list, replace, add, delete, and the
//! images shared with a tenant.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use crate::app::body::Body;
use crate::app::{json_response, no_content, visible_image, App, Ctx};
use crate::auth::Caller;
use crate::model::{Image, Member, MemberRow, Status, Timestamp};
use crate::render::glance_json as api;
use crate::render::webob::ApiError;
use crate::store::Snapshot;

use super::request_meta::enforce;

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

fn image_for_members(app: &App, ctx: &Ctx, id: &str) -> Result<Arc<Image>, ApiError> {
    let img = visible_image(app, ctx, id)?;
    if img.status == Status::Deleted {
        return Err(ApiError::detailed(
            StatusCode::NOT_FOUND,
            format!("Image with identifier {id} has been deleted."),
        ));
    }
    Ok(img)
}

/// After a membership write, glance-api's `_update_store_acls` read the image again as
/// the caller (`get_image_meta_or_404`): a member that took its own row away can no longer
/// see a private image, and gets that read's 404, its row gone all the same.
fn after_member_write(app: &App, ctx: &Ctx, id: &str) -> Result<Response<Body>, ApiError> {
    visible_image(app, ctx, id)?;
    Ok(no_content())
}

fn check_member_access(ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.caller.tenant.is_none() && !ctx.caller.admin {
        return Err(ApiError::detailed(
            StatusCode::UNAUTHORIZED,
            "No authenticated user",
        ));
    }
    Ok(())
}

fn member_quota(app: &App, attempted: usize) -> Result<(), ApiError> {
    if attempted > app.config.member_quota {
        return Err(ApiError::explained(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "The limit has been exceeded on the number of allowed image members for this image. Attempted: {attempted}, Maximum: {}",
                app.config.member_quota
            ),
        ));
    }
    Ok(())
}

/// The registry's 403 for a caller without sharing rights, which glance-api turned into a
/// 404 carrying the registry's page.
fn no_share_permission() -> ApiError {
    let inner = ApiError::detailed(StatusCode::FORBIDDEN, "No permission to share that image");
    let mut e = ApiError::from_registry(inner, "");
    e.status = StatusCode::NOT_FOUND;
    e
}

/// The image as the registry's member calls find it inside the write: still there, and
/// the caller allowed to change its memberships.
fn shareable(snap: &Snapshot<'_>, id: &str, caller: &Caller) -> Result<Arc<Image>, ApiError> {
    let cur = snap.get(id).ok_or_else(|| ApiError::image_not_found(id))?;
    if !caller.can_share(&cur) {
        return Err(no_share_permission());
    }
    Ok(cur)
}

/// Whether the registry's member query for `caller` returns `row` of `img`: an admin's
/// returns every row, anyone else's the rows of images it owns and the rows naming it.
fn row_visible(img: &Image, caller: &Caller, row: &MemberRow) -> bool {
    caller.admin
        || caller.owns(img)
        || caller.registry_owner() == Some(row.member.member_id.as_str())
}

/// The registry refusing a write to an image the caller may see but not change.
pub(crate) fn not_mutable(prefix: &str) -> ApiError {
    let mut e = ApiError::from_registry(ApiError::new(StatusCode::FORBIDDEN), prefix);
    e.status = StatusCode::FORBIDDEN;
    e
}

/// `GET /v1/images/{id}/members`.
pub fn members_index(app: &App, ctx: &Ctx, id: &str) -> Result<Response<Body>, ApiError> {
    enforce(app, ctx, "get_members")?;
    let img = image_for_members(app, ctx, id)?;
    if ctx.caller.admin || ctx.caller.owns(&img) {
        return Ok(json_response(StatusCode::OK, api::members_body(&img)));
    }
    // The registry's member query showed a non-owner only the rows naming itself.
    let mut own = (*img).clone();
    own.members
        .retain(|m| Some(m.member_id.as_str()) == ctx.caller.registry_owner());
    Ok(json_response(StatusCode::OK, api::members_body(&own)))
}

/// `PUT /v1/images/{id}/members` with `{"memberships": [...]}`: replace all.
pub async fn members_replace<B>(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Glance's JSON deserializer ran before the action's own checks; without a body the
    // action itself could not be called (`update_all` requires one): a 500.
    let (parts, body) = req.into_parts();
    let Some(body) = super::json_body::read(&parts.method, &parts.headers, body).await? else {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    };
    check_member_access(&ctx)?;
    enforce(&app, &ctx, "modify_member")?;
    image_for_members(&app, &ctx, &id)?;
    // glance-api's own refusals first; the registry's after its sharing check.
    let parsed = memberships(&app, &body)?;
    let caller = ctx.caller.clone();
    let image = id.clone();
    app.store
        .write(move |snap, tx| {
            let cur = shareable(snap, &id, &caller)?;
            let members = parsed?;
            let mut img = (*cur).clone();
            // The registry's update_all: each membership looked up among the rows the
            // caller's query sees, deleted ones included (the first match is updated and so
            // revived); the rest of those rows soft-deleted; the unmatched ones added as new
            // rows (twice when listed twice).
            let seen = |r: &MemberRow| row_visible(&img, &caller, r);
            let rows: Vec<MemberRow> = img.members.rows().into_iter().filter(seen).collect();
            let mut existing: Vec<(u32, bool)> = Vec::new();
            let mut add: Vec<Member> = Vec::new();
            for (member_id, can_share) in members {
                match rows.iter().find(|r| r.member.member_id == member_id) {
                    Some(r) => {
                        let cs = can_share.unwrap_or(r.member.can_share);
                        match existing.iter_mut().find(|(id, _)| *id == r.id) {
                            Some(e) => e.1 = cs,
                            None => existing.push((r.id, cs)),
                        }
                    }
                    None => add.push(Member {
                        member_id,
                        can_share: can_share.unwrap_or(false),
                    }),
                }
            }
            for r in &rows {
                match existing.iter().find(|(id, _)| *id == r.id) {
                    Some(&(id, cs)) => img.members.update_row(id, cs),
                    None if !r.deleted => img.members.soft_delete(r.id),
                    None => {}
                }
            }
            for m in add {
                img.members.push(m);
            }
            tx.put(img);
            Ok::<(), ApiError>(())
        })
        .await?;
    after_member_write(&app, &ctx, &image)
}

/// The registry's 400 for a membership it could not read, with Python's own exception text.
fn invalid_membership(why: &str) -> ApiError {
    ApiError::from_registry(
        ApiError::explained(
            StatusCode::BAD_REQUEST,
            format!("Invalid membership association: {why}"),
        ),
        "",
    )
}

/// `{"memberships": [...]}` as glance-api, its registry client and the registry read it
/// (Python 3, as the oracle's reference runs): glance-api called `body.get` (a list body:
/// AttributeError, 500) and checked the quota on a truthy value's `len()`; the client
/// wrapped an object without "memberships" into a one-element list; the registry iterated
/// the value (null or a number: TypeError, 500; a string or object: its characters or keys)
/// and subscripted each element, answering 400 with the exception text when that failed.
/// The outer error is glance-api's, the inner one the registry's; each membership is
/// (member id, `can_share` when given), duplicates kept.
type Parsed = Result<Vec<(String, Option<bool>)>, ApiError>;

fn memberships(app: &App, body: &serde_json::Value) -> Result<Parsed, ApiError> {
    use serde_json::Value;
    let Value::Object(obj) = body else {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
    };
    if let Some(v) = obj.get("memberships") {
        let len = match v {
            Value::Array(a) => Some(a.len()),
            Value::String(t) => Some(t.chars().count()),
            Value::Object(o) => Some(o.len()),
            _ => None,
        };
        if let Some(n) = len.filter(|&n| n > 0) {
            member_quota(app, n)?;
        }
        if matches!(v, Value::Bool(true)) || v.as_f64().is_some_and(|f| f != 0.0) {
            // `len()` of a truthy number: TypeError in glance-api.
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR));
        }
    }
    Ok(registry_memberships(body, obj))
}

/// The registry's walk over the memberships (after the client's wrapping).
fn registry_memberships(
    body: &serde_json::Value,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Parsed {
    use serde_json::Value;
    let server_error = || ApiError::new(StatusCode::INTERNAL_SERVER_ERROR);
    let elements: Vec<&Value> = match obj.get("memberships") {
        None => vec![body],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::String(text)) => {
            if !text.is_empty() {
                return Err(invalid_membership(
                    "string indices must be integers, not 'str'",
                ));
            }
            Vec::new()
        }
        Some(Value::Object(o)) => {
            if !o.is_empty() {
                return Err(invalid_membership(
                    "string indices must be integers, not 'str'",
                ));
            }
            Vec::new()
        }
        Some(_) => return Err(server_error()),
    };
    let mut members = Vec::with_capacity(elements.len());
    for m in elements {
        let member_id = match m {
            Value::Object(o) => match o.get("member_id") {
                None => return Err(invalid_membership("'member_id'")),
                Some(Value::String(s)) => s.clone(),
                // An integer went into the String column as its decimal text.
                Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
                Some(_) => return Err(server_error()),
            },
            Value::String(_) => {
                return Err(invalid_membership(
                    "string indices must be integers, not 'str'",
                ))
            }
            Value::Array(_) => {
                return Err(invalid_membership(
                    "list indices must be integers or slices, not str",
                ))
            }
            Value::Null => {
                return Err(invalid_membership("'NoneType' object is not subscriptable"))
            }
            Value::Bool(_) => return Err(invalid_membership("'bool' object is not subscriptable")),
            Value::Number(n) if n.is_f64() => {
                return Err(invalid_membership("'float' object is not subscriptable"))
            }
            Value::Number(_) => {
                return Err(invalid_membership("'int' object is not subscriptable"))
            }
        };
        members.push((member_id, m.get("can_share").map(json_truthy)));
    }
    Ok(members)
}

fn json_truthy(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => *b,
        serde_json::Value::Null => false,
        serde_json::Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(a) => !a.is_empty(),
        serde_json::Value::Object(o) => !o.is_empty(),
    }
}

/// `can_share` as `update` read it: `if body and 'member' in body and 'can_share' in
/// body['member']: bool(body['member']['can_share'])`, with Python's `in` (a list's
/// elements, a string's substrings) and its TypeErrors (a 500) when the subscript that
/// follows a true `in` fails or `in` itself has nothing to look in.
fn requested_can_share(body: &serde_json::Value) -> Result<Option<bool>, ApiError> {
    use serde_json::Value;
    let server_error = || ApiError::new(StatusCode::INTERNAL_SERVER_ERROR);
    let holds = |v: &Value, key: &str| match v {
        Value::Object(o) => Ok(o.contains_key(key)),
        Value::Array(a) => Ok(a.iter().any(|e| e.as_str() == Some(key))),
        Value::String(s) => Ok(s.contains(key)),
        _ => Err(server_error()),
    };
    if !json_truthy(body) || !holds(body, "member")? {
        return Ok(None);
    }
    let member = body.get("member").ok_or_else(server_error)?;
    if !holds(member, "can_share")? {
        return Ok(None);
    }
    member
        .get("can_share")
        .map(|v| Some(json_truthy(v)))
        .ok_or_else(server_error)
}

/// `PUT /v1/images/{id}/members/{member}` with optional `{"member": {"can_share": b}}`.
pub async fn member_add<B>(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    member: String,
    req: Request<B>,
) -> Result<Response<Body>, ApiError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Glance's JSON deserializer ran before the action's own checks.
    let (parts, body) = req.into_parts();
    let body = super::json_body::read(&parts.method, &parts.headers, body).await?;
    check_member_access(&ctx)?;
    enforce(&app, &ctx, "modify_member")?;
    let img = image_for_members(&app, &ctx, &id)?;
    member_quota(&app, img.members.len() + 1)?;
    let can_share = body.as_ref().map_or(Ok(None), requested_can_share)?;
    let caller = ctx.caller.clone();
    let image = id.clone();
    app.store
        .write(move |snap, tx| {
            let cur = shareable(snap, &id, &caller)?;
            let mut img = (*cur).clone();
            // The first row the caller's query sees, deleted ones included: updated (and so
            // revived) only when can_share was given; none seen: a new row, even when
            // another tenant's query would have found one.
            let found = img
                .members
                .rows()
                .into_iter()
                .find(|r| r.member.member_id == member && row_visible(&img, &caller, r));
            match found {
                Some(r) => {
                    if let Some(cs) = can_share {
                        img.members.update_row(r.id, cs);
                    }
                }
                None => img.members.push(Member {
                    member_id: member,
                    can_share: can_share.unwrap_or(false),
                }),
            }
            tx.put(img);
            Ok::<(), ApiError>(())
        })
        .await?;
    after_member_write(&app, &ctx, &image)
}

/// `DELETE /v1/images/{id}/members/{member}`.
pub async fn member_delete(
    app: Arc<App>,
    ctx: Arc<Ctx>,
    id: String,
    member: String,
) -> Result<Response<Body>, ApiError> {
    check_member_access(&ctx)?;
    enforce(&app, &ctx, "delete_member")?;
    image_for_members(&app, &ctx, &id)?;
    let caller = ctx.caller.clone();
    let image = id.clone();
    app.store
        .write(move |snap, tx| {
            let cur = shareable(snap, &id, &caller)?;
            let found = cur.members.rows().into_iter().find(|r| {
                !r.deleted && r.member.member_id == member && row_visible(&cur, &caller, r)
            });
            let Some(row) = found else {
                return Err(ApiError::from_registry(
                    ApiError::explained(StatusCode::NOT_FOUND, "Membership could not be found."),
                    "",
                ));
            };
            let mut img = (*cur).clone();
            img.members.soft_delete(row.id);
            tx.put(img);
            Ok(())
        })
        .await?;
    after_member_write(&app, &ctx, &image)
}

/// `GET /v1/shared-images/{member}`.
pub fn shared_images(app: &App, ctx: &Ctx, member: &str) -> Result<Response<Body>, ApiError> {
    // Only the records with a row naming the member are read (the store's member map).
    // The registry's `image_member_find(member=...)`: every live row naming the member,
    // whatever its image's status or deleted flag (a delete soft-deletes the rows with
    // the image; a record created deleted keeps the rows added to it afterwards); a
    // non-admin sees the rows of images it owns and the rows naming itself. In row order
    // (SQLite walks the `deleted` index, so by row id), which is the order the rows were
    // added across the catalogue, not the images' order.
    let mut entries: Vec<(u32, Timestamp, String, bool)> = app
        .store
        .shared_with(member)
        .iter()
        .filter(|i| {
            ctx.caller.admin || ctx.caller.owns(i) || ctx.caller.registry_owner() == Some(member)
        })
        // Every row: a can_share member's writes can leave two rows naming one tenant.
        .flat_map(|i| {
            i.members
                .live_rows()
                .filter(move |(_, m)| m.member_id == member)
                .map(move |(row, m)| (row, i.created_at, i.id.to_string(), m.can_share))
        })
        .collect();
    // Rows of records built outside a store (per record numbering) tie: then by image.
    entries.sort();
    let list: Vec<(String, bool)> = entries.into_iter().map(|(_, _, id, cs)| (id, cs)).collect();
    Ok(json_response(
        StatusCode::OK,
        api::shared_images_body(&list),
    ))
}
