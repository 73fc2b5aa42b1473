//! The registry's membership rows as real Glance 15 kept them (found by the live oracle,
//! tests/conformance/): a member with can_share sees only its own rows, so its writes to
//! other tenants' memberships add duplicate rows; the first row decides; deleting a member
//! only soft-deletes its row, which a later PUT revives in place when it names can_share and
//! leaves deleted when it does not; and deleting an image with duplicate rows is the
//! registry's 500 (its unique key broke), after glance-api had already set the status.

use crate::support::*;

const IMG: &str = "0c0c0c0c-0000-4000-8000-000000000003";
const A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const C: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
const D: &str = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4";

const FIXTURE: &str = r#"[
  {"id": "0c0c0c0c-0000-4000-8000-000000000003", "name": "shared-a",
   "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "created_at": "2015-06-04T10:11:12.100003",
   "members": [{"member_id": "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", "can_share": true},
               {"member_id": "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", "can_share": false}]},
  {"id": "0c0c0c0c-0000-4000-8000-000000000004", "name": "later",
   "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "created_at": "2015-06-05T10:11:12"},
  {"id": "0c0c0c0c-0000-4000-8000-000000000005", "name": "gone", "deleted": true,
   "status": "deleted", "deleted_at": "2015-06-07T00:00:00",
   "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "created_at": "2015-06-06T10:11:12",
   "members": [{"member_id": "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", "can_share": false}]}
]"#;
const LATER: &str = "0c0c0c0c-0000-4000-8000-000000000004";

async fn emu() -> glance_emu::embed::Emulator {
    spawn_trusted(FIXTURE).await
}

fn who(tenant: &str) -> String {
    format!("X-Identity-Status: Confirmed\r\nX-Tenant-Id: {tenant}\r\nX-Roles: member\r\n")
}

async fn as_tenant(
    emu: &glance_emu::embed::Emulator,
    tenant: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Resp {
    let ct = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/json\r\n".to_string()
    };
    call(
        emu,
        method,
        path,
        &format!("{}{ct}", who(tenant)),
        body.as_bytes(),
    )
    .await
}

/// `METHOD /v1/images/{img}/members/{member}` as `tenant`, with a JSON body or none.
async fn membership(
    emu: &glance_emu::embed::Emulator,
    tenant: &str,
    method: &str,
    img: &str,
    member: &str,
    body: &str,
) -> Resp {
    let path = format!("/v1/images/{img}/members/{member}");
    as_tenant(emu, tenant, method, &path, body).await
}

async fn members(emu: &glance_emu::embed::Emulator) -> String {
    as_tenant(emu, A, "GET", &format!("/v1/images/{IMG}/members"), "")
        .await
        .body_str()
}

/// `GET /v1/shared-images/{tenant}` body from (image, can_share) pairs.
fn shared(rows: &[(&str, bool)]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|(id, cs)| format!(r#"{{"image_id": "{id}", "can_share": {cs}}}"#))
        .collect();
    format!(r#"{{"shared_images": [{}]}}"#, rows.join(", "))
}

/// The registry lists a tenant's membership rows in row order, the order they were added
/// across the catalogue (not the images' order), one entry per live row (a duplicate row
/// too), and not the rows of a deleted image (its delete soft-deleted them; a fixture's
/// deleted record is loaded that way). Checked against Glance 15 by the oracle's random
/// writes, which found the created_at order this replaced.
#[tokio::test]
async fn shared_images_lists_rows_in_the_order_they_were_added() {
    let emu = emu().await;
    let admin = "X-Identity-Status: Confirmed\r\nX-Tenant-Id: ad0\r\nX-Roles: admin\r\n";
    let shared_with = |tenant: &'static str| {
        let emu = &emu;
        async move {
            call(
                emu,
                "GET",
                &format!("/v1/shared-images/{tenant}"),
                admin,
                b"",
            )
            .await
            .body_str()
        }
    };
    // The fixture's rows; the deleted record's row is not live.
    assert_eq!(shared_with(C).await, shared(&[(IMG, false)]));
    // The later image first: its row was added first.
    for img in [LATER, IMG] {
        let r = membership(&emu, A, "PUT", img, D, "").await;
        assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    }
    assert_eq!(
        shared_with(D).await,
        shared(&[(LATER, false), (IMG, false)])
    );
    // A can_share member's write adds a second row naming C: both are listed.
    let r = membership(&emu, B, "PUT", IMG, C, r#"{"member": {"can_share": true}}"#).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(shared_with(C).await, shared(&[(IMG, false), (IMG, true)]));
    // A replaced list keeps the rows it names (in place) and adds the others at the end.
    let r = as_tenant(
        &emu,
        A,
        "PUT",
        &format!("/v1/images/{LATER}/members"),
        &format!(r#"{{"memberships": [{{"member_id": "{C}"}}, {{"member_id": "{D}"}}]}}"#),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        shared_with(C).await,
        shared(&[(IMG, false), (IMG, true), (LATER, false)])
    );
    assert_eq!(
        shared_with(D).await,
        shared(&[(LATER, false), (IMG, false)])
    );
    // A non-admin sees the rows naming itself, and those of images it owns.
    let mine = as_tenant(&emu, D, "GET", &format!("/v1/shared-images/{D}"), "").await;
    assert_eq!(mine.body_str(), shared(&[(LATER, false), (IMG, false)]));
    let other = as_tenant(&emu, B, "GET", &format!("/v1/shared-images/{D}"), "").await;
    assert_eq!(other.body_str(), shared(&[]));
}

/// A fixture's rows are numbered by their records' `created_at`, not by file order (a
/// snapshot writes the newest record first): as if each image was shared when created.
#[tokio::test]
async fn fixture_rows_follow_the_records_creation_not_the_file() {
    let fixture = r#"[
      {"id": "0c0c0c0c-0000-4000-8000-0000000000f3", "created_at": "2015-06-03T00:00:00",
       "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "members": [{"member_id": "e5"}]},
      {"id": "0c0c0c0c-0000-4000-8000-0000000000f1", "created_at": "2015-06-01T00:00:00",
       "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "members": [{"member_id": "e5"}]},
      {"id": "0c0c0c0c-0000-4000-8000-0000000000f2", "created_at": "2015-06-02T00:00:00",
       "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1",
       "members": [{"member_id": "x"}, {"member_id": "e5", "can_share": true}]}
    ]"#;
    let emu = spawn(fixture).await;
    let r = get(&emu, "/v1/shared-images/e5").await;
    assert_eq!(
        r.body_str(),
        shared(&[
            ("0c0c0c0c-0000-4000-8000-0000000000f1", false),
            ("0c0c0c0c-0000-4000-8000-0000000000f2", true),
            ("0c0c0c0c-0000-4000-8000-0000000000f3", false),
        ])
    );
    // A row added now comes after every fixture row, older image or not.
    let r = call(
        &emu,
        "PUT",
        "/v1/images/0c0c0c0c-0000-4000-8000-0000000000f1/members/x",
        "",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let r = get(&emu, "/v1/shared-images/x").await;
    assert_eq!(
        r.body_str(),
        shared(&[
            ("0c0c0c0c-0000-4000-8000-0000000000f2", false),
            ("0c0c0c0c-0000-4000-8000-0000000000f1", false),
        ])
    );
}

/// After a membership write glance-api read the image again as the caller: a member that
/// took its own row away (a delete, or a replaced list without itself) no longer sees the
/// private image and gets that read's 404, the write done all the same.
#[tokio::test]
async fn a_member_that_removes_itself_gets_the_acl_reads_404() {
    let emu = emu().await;
    let not_found = format!(
        "<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n  \
         <h1>404 Not Found</h1>\n  The resource could not be found.<br /><br />\n\
         Image with identifier {IMG} not found\n\n\n </body>\n</html>"
    );
    let r = membership(&emu, B, "DELETE", IMG, B, "").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.body_str(), not_found);
    assert_eq!(
        members(&emu).await,
        format!("{{\"members\": [{{\"member_id\": \"{C}\", \"can_share\": false}}]}}")
    );
    // Shared again with can_share, B replaces the list with one without itself.
    let share = r#"{"member": {"can_share": true}}"#;
    let r = membership(&emu, A, "PUT", IMG, B, share).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let list = format!(r#"{{"memberships": [{{"member_id": "{D}"}}]}}"#);
    let r = as_tenant(&emu, B, "PUT", &format!("/v1/images/{IMG}/members"), &list).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.body_str(), not_found);
    // A member adding another tenant still sees the image: 204.
    let r = membership(&emu, A, "PUT", IMG, B, share).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let r = membership(&emu, B, "PUT", IMG, C, "").await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
}

/// A can_share member's write to another tenant's membership adds a second row; the first
/// row decides; the owner's image delete is then the registry's 500 with the status kept.
#[tokio::test]
async fn a_sharing_member_adds_duplicate_rows_and_the_image_delete_fails() {
    let emu = emu().await;
    let share = r#"{"member": {"can_share": true}}"#;
    // B cannot see C's row: its write adds a second C row.
    let r = membership(&emu, B, "PUT", IMG, C, share).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        members(&emu).await,
        format!(
            "{{\"members\": [{{\"member_id\": \"{B}\", \"can_share\": true}}, \
             {{\"member_id\": \"{C}\", \"can_share\": false}}, \
             {{\"member_id\": \"{C}\", \"can_share\": true}}]}}"
        )
    );
    // C's FIRST row says no: C may not share (the registry's 403, glance-api's 404).
    let r = membership(&emu, C, "PUT", IMG, D, "").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    // B deleting C's membership finds no row B can see.
    let r = membership(&emu, B, "DELETE", IMG, C, "").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert!(r.body_str().contains("Membership could not be found."));
    // The owner deletes the image: 500, and the status stays "deleted" on a live record.
    let r = as_tenant(&emu, A, "DELETE", &format!("/v1/images/{IMG}"), "").await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    let r = request(
        &emu,
        &format!(
            "HEAD /v1/images/{IMG} HTTP/1.1\r\nHost: h\r\n{}\r\n",
            who(B)
        ),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Image-Meta-Status"), Some("deleted"));
    assert_eq!(r.header("X-Image-Meta-Deleted"), Some("False"));
}

/// A deleted member's row stays deleted on a PUT without can_share, and comes back in its
/// old place with one.
#[tokio::test]
async fn a_deleted_member_row_is_revived_only_with_can_share() {
    let emu = emu().await;
    let path = format!("/v1/images/{IMG}/members/{B}");
    let r = as_tenant(&emu, A, "DELETE", &path, "").await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    // No can_share: the deleted row is found and left as it is.
    let r = as_tenant(&emu, A, "PUT", &path, "").await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        members(&emu).await,
        format!("{{\"members\": [{{\"member_id\": \"{C}\", \"can_share\": false}}]}}")
    );
    // With can_share: revived, in its old place.
    let r = as_tenant(&emu, A, "PUT", &path, r#"{"member": {"can_share": false}}"#).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(
        members(&emu).await,
        format!(
            "{{\"members\": [{{\"member_id\": \"{B}\", \"can_share\": false}}, \
             {{\"member_id\": \"{C}\", \"can_share\": false}}]}}"
        )
    );
}

/// A caller without a tenant creates owner-less images, which the registry lets no
/// non-admin change: uploading data is a 500 that leaves the record queued.
#[tokio::test]
async fn a_tenantless_caller_cannot_upload() {
    let emu = emu().await;
    let id = "77777777-0000-4000-8000-000000000041";
    let who = "X-Identity-Status: Confirmed\r\nX-User-Id: u\r\nX-Roles: member\r\n";
    let meta = format!(
        "{who}x-image-meta-id: {id}\r\nx-image-meta-disk_format: raw\r\n\
         x-image-meta-container_format: bare\r\n"
    );
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        &format!("{meta}Content-Type: application/octet-stream\r\n"),
        b"0123456789",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(r.header("Connection"), None, "the body was read");
    let r = request(
        &emu,
        &format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: h\r\n{who}\r\n"),
    )
    .await;
    assert_eq!(r.header("X-Image-Meta-Status"), Some("queued"));
    assert_eq!(r.header("X-Image-Meta-Size"), Some("0"));
    assert_eq!(r.header("X-Image-Meta-Owner"), None);
    let r = call(
        &emu,
        "PUT",
        &format!("/v1/images/{id}"),
        &format!("{who}x-image-meta-name: renamed\r\n"),
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
}

/// eventlet's heads on one kept-alive connection whatever came before them: a 204 carries
/// WebOb's `Content-Length: 0` just before `Date` (hyper would write none), an HTTP/1.0
/// request is answered `HTTP/1.1`, and bodies (some holding text shaped like a head) and
/// hyper-answered HEADs (a length, no body) in between are framed, not touched.
#[tokio::test]
async fn member_204s_and_http10_answers_carry_eventlets_head_on_one_connection() {
    let emu = emu().await;
    let mut c = Conn::open(&emu).await;
    let req = |method: &str, path: &str, version: &str, body: &str| {
        format!(
            "{method} {path} {version}\r\nHost: h\r\nConnection: keep-alive\r\n{}\
             Content-Length: {}\r\n\r\n{body}",
            who(A),
            body.len()
        )
        .into_bytes()
    };
    let image = format!("/v1/images/{IMG}");
    // Image data that is a response head, read back through the connection below.
    let tricky = "HTTP/1.0 204 No Content\r\n\r\n";
    let r = c
        .roundtrip(
            format!(
                "POST /v1/images HTTP/1.1\r\nHost: h\r\n{}x-image-meta-name: tricky\r\n\
                 x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\n\
                 Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n{tricky}",
                who(A),
                tricky.len()
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    let data = format!("/v1/images/{}", r.json()["image"]["id"].as_str().unwrap());
    // WebOb's `Content-Length: 0` before `Date`, then `keep-alive` echoed as eventlet did
    // (glance::routes).
    let assert_204 = |r: &Resp, round: i32| {
        assert_eq!(r.status_line, "HTTP/1.1 204 No Content", "round {round}");
        assert_eq!(
            r.masked_lines(),
            [
                "X-Openstack-Request-Id: req-<uuid4>",
                "Content-Length: 0",
                "Date: <date>",
                "Connection: keep-alive",
            ],
            "round {round}"
        );
    };
    for round in 0..2 {
        // A new member each round: a deleted row stays deleted on a PUT without a body.
        let member = format!("/v1/images/{IMG}/members/{D}-{round}");
        assert_204(
            &c.roundtrip(&req("PUT", &member, "HTTP/1.1", "")).await,
            round,
        );
        // HEAD with credentials: hyper's answer, a Content-Length and no body.
        let r = c.roundtrip(&req("HEAD", &image, "HTTP/1.1", "")).await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
        assert!(r.header("Content-Length").is_some());
        for version in ["HTTP/1.1", "HTTP/1.0"] {
            let r = c.roundtrip(&req("GET", &data, version, "")).await;
            assert_eq!(r.status_line, "HTTP/1.1 200 OK");
            assert_eq!(r.body_str(), tricky);
        }
        assert_204(
            &c.roundtrip(&req("DELETE", &member, "HTTP/1.0", "")).await,
            round,
        );
        let r = c.roundtrip(&req("GET", &member, "HTTP/1.0", "")).await;
        assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    }
}
