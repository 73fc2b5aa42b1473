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
               {"member_id": "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", "can_share": false}]}
]"#;

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

async fn members(emu: &glance_emu::embed::Emulator) -> String {
    as_tenant(emu, A, "GET", &format!("/v1/images/{IMG}/members"), "")
        .await
        .body_str()
}

/// A can_share member's write to another tenant's membership adds a second row; the first
/// row decides; the owner's image delete is then the registry's 500 with the status kept.
#[tokio::test]
async fn a_sharing_member_adds_duplicate_rows_and_the_image_delete_fails() {
    let emu = emu().await;
    let share = r#"{"member": {"can_share": true}}"#;
    // B cannot see C's row: its write adds a second C row.
    let r = as_tenant(
        &emu,
        B,
        "PUT",
        &format!("/v1/images/{IMG}/members/{C}"),
        share,
    )
    .await;
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
    let r = as_tenant(&emu, C, "PUT", &format!("/v1/images/{IMG}/members/{D}"), "").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    // B deleting C's membership finds no row B can see.
    let r = as_tenant(
        &emu,
        B,
        "DELETE",
        &format!("/v1/images/{IMG}/members/{C}"),
        "",
    )
    .await;
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
