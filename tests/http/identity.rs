//! Every identity shape of the trusted-auth flavour against private, shared and public images:
//! no response to a non-admin may reveal an image real Glance 15 hides from that caller. The
//! expected answers are real Glance 15's (tests/conformance/ runs the same shapes live).

use crate::support::*;

const A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const D: &str = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4";
const PRIV_D: &str = "0c0c0c0c-0000-4000-8000-000000000007";
const SHARED_D: &str = "0c0c0c0c-0000-4000-8000-000000000016";

const FIXTURE: &str = r#"[
  {"id": "0c0c0c0c-0000-4000-8000-000000000001", "name": "pub-a", "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "is_public": true, "created_at": "2015-06-02T10:11:12.100001"},
  {"id": "0c0c0c0c-0000-4000-8000-000000000002", "name": "priv-a", "owner": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "created_at": "2015-06-03T10:11:12.100002"},
  {"id": "0c0c0c0c-0000-4000-8000-000000000007", "name": "priv-d", "owner": "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4", "created_at": "2015-06-08T10:11:12.100007"},
  {"id": "0c0c0c0c-0000-4000-8000-000000000016", "name": "shared-d-with-a", "owner": "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4", "created_at": "2015-06-17T10:11:12.100016", "members": [{"member_id": "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "can_share": true}]}
]"#;

async fn emu() -> glance_emu::embed::Emulator {
    spawn_trusted(FIXTURE).await
}

async fn as_who(emu: &glance_emu::embed::Emulator, method: &str, path: &str, who: &str) -> Resp {
    request(
        emu,
        &format!("{method} {path} HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n{who}\r\n"),
    )
    .await
}

/// The names in a list body, in order.
fn names(r: &Resp) -> Vec<String> {
    let doc: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON list");
    doc["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|i| i["name"].as_str().unwrap_or("").to_string())
        .collect()
}

const CONFIRMED: &str = "X-Identity-Status: Confirmed\r\n";

/// A confirmed caller without any tenant header lists public images only: the registry saw
/// the tenant '' and matched no membership (it does NOT list other tenants' shared images).
#[tokio::test]
async fn caller_without_tenant_lists_public_images_only() {
    let emu = emu().await;
    for who in [
        format!("{CONFIRMED}X-User-Id: u\r\nX-Roles: member\r\n"),
        format!("{CONFIRMED}X-User-Id: u\r\n"),
        format!("{CONFIRMED}X-Tenant-Id: \r\nX-Roles: member\r\n"),
        format!("{CONFIRMED}X-User-Id: u\r\nX-Roles: admin\r\n"),
    ] {
        for path in [
            "/v1/images",
            "/v1/images/detail",
            "/v1/images/detail?is_public=None",
        ] {
            let r = as_who(&emu, "GET", path, &who).await;
            assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{who} {path}");
            let want: &[&str] = if who.contains("admin") && path.ends_with("None") {
                &["shared-d-with-a", "priv-d", "priv-a", "pub-a"]
            } else {
                &["pub-a"]
            };
            assert_eq!(names(&r), want, "{who} {path}");
        }
        // ... and a marker it cannot see is an invalid marker
        if !who.contains("admin") {
            let r = as_who(&emu, "GET", &format!("/v1/images?marker={SHARED_D}"), &who).await;
            assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request", "{who}");
        }
    }
}

/// oslo.context: X-Project-Id wins over X-Tenant-Id, which wins over the legacy X-Tenant.
#[tokio::test]
async fn project_id_wins_over_tenant_id() {
    let emu = emu().await;
    let a_over_d =
        format!("{CONFIRMED}X-Project-Id: {A}\r\nX-Tenant-Id: {D}\r\nX-Roles: member\r\n");
    let r = as_who(&emu, "HEAD", &format!("/v1/images/{PRIV_D}"), &a_over_d).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let d_over_a =
        format!("{CONFIRMED}X-Project-Id: {D}\r\nX-Tenant-Id: {A}\r\nX-Roles: member\r\n");
    let r = as_who(&emu, "HEAD", &format!("/v1/images/{PRIV_D}"), &d_over_a).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Image-Meta-Owner"), Some(D));
    let legacy = format!("{CONFIRMED}X-Tenant: {A}\r\nX-Tenant-Id: {D}\r\nX-Roles: member\r\n");
    let r = as_who(&emu, "HEAD", &format!("/v1/images/{PRIV_D}"), &legacy).await;
    assert_eq!(
        r.status_line, "HTTP/1.1 200 OK",
        "X-Tenant-Id beats X-Tenant"
    );
    let legacy_only = format!("{CONFIRMED}X-Tenant: {A}\r\nX-User: u\r\nX-Role: member\r\n");
    let r = as_who(&emu, "HEAD", &format!("/v1/images/{PRIV_D}"), &legacy_only).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let r = as_who(
        &emu,
        "HEAD",
        "/v1/images/0c0c0c0c-0000-4000-8000-000000000002",
        &legacy_only,
    )
    .await;
    assert_eq!(
        r.status_line, "HTTP/1.1 200 OK",
        "legacy X-Tenant owns priv-a"
    );
}

/// X-Roles, when present (even empty), beats the legacy X-Role; X-Role alone counts.
#[tokio::test]
async fn legacy_role_header_counts_only_without_x_roles() {
    let emu = emu().await;
    let path = "/v1/images/0c0c0c0c-0000-4000-8000-000000000002";
    let admin = format!("{CONFIRMED}X-Tenant-Id: {D}\r\nX-Role: admin\r\n");
    assert_eq!(
        as_who(&emu, "HEAD", path, &admin).await.status_line,
        "HTTP/1.1 200 OK"
    );
    for who in [
        format!("{CONFIRMED}X-Tenant-Id: {D}\r\nX-Roles: member\r\nX-Role: admin\r\n"),
        format!("{CONFIRMED}X-Tenant-Id: {D}\r\nX-Roles: \r\nX-Role: admin\r\n"),
    ] {
        let r = as_who(&emu, "HEAD", path, &who).await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "{who}");
    }
}

/// Anything but exactly `Confirmed` is a 401, whatever roles it claims.
#[tokio::test]
async fn identity_status_other_than_confirmed_is_401() {
    let emu = emu().await;
    for status in ["Invalid", "confirmed"] {
        let who = format!("X-Identity-Status: {status}\r\nX-Tenant-Id: {D}\r\nX-Roles: admin\r\n");
        let r = as_who(&emu, "GET", "/v1/images/detail?is_public=None", &who).await;
        assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized", "{status}");
        assert!(!r.body_str().contains("priv"), "{status}");
    }
}

/// A service catalog that is not JSON: Glance's 500 "Invalid service catalog json.", no
/// request id; an over-long request id: a bare 500 (a Glance bug: the context middleware
/// returned the 431 exception as the context).
#[tokio::test]
async fn bad_catalog_and_long_request_id_are_500() {
    let emu = emu().await;
    let path = "/v1/images/0c0c0c0c-0000-4000-8000-000000000001";
    let who = format!(
        "{CONFIRMED}X-Tenant-Id: {A}\r\nX-Roles: member\r\nX-Service-Catalog: {{not json\r\n"
    );
    let r = as_who(&emu, "GET", path, &who).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(r.names(), ["Content-Length", "Content-Type", "Date"]);
    assert_eq!(
        r.body_str(),
        "<html>\n <head>\n  <title>500 Internal Server Error</title>\n </head>\n <body>\n  \
         <h1>500 Internal Server Error</h1>\n  The server has either erred or is incapable of \
         performing the requested operation.<br /><br />\nInvalid service catalog json.\n\n\n \
         </body>\n</html>"
    );
    let who = format!(
        "{CONFIRMED}X-Tenant-Id: {A}\r\nX-Roles: member\r\nX-Openstack-Request-Id: {}\r\n",
        "x".repeat(70)
    );
    let r = as_who(&emu, "GET", path, &who).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(r.names(), ["Content-Length", "Content-Type", "Date"]);
    assert_eq!(r.header("Content-Length"), Some("228"));
}

/// Every identity shape of issue 13 against private, shared and public images: the detail
/// list (with the admin-only `is_public=None`, which non-admins cannot use to widen it) and
/// a HEAD of D's private image show exactly what real Glance 15 showed that caller (the live
/// oracle runs the same shapes against it: tests/conformance/generate.py IDENTITIES).
#[tokio::test]
async fn every_identity_shape_sees_only_what_glance_shows() {
    let emu = emu().await;
    let as_a: &[&str] = &["shared-d-with-a", "priv-a", "pub-a"];
    let as_d: &[&str] = &["shared-d-with-a", "priv-d", "pub-a"];
    let public: &[&str] = &["pub-a"];
    let shapes: Vec<(&str, String, Option<&[&str]>)> = vec![
        (
            "no tenant",
            format!("{CONFIRMED}X-User-Id: u\r\nX-Roles: member\r\n"),
            Some(public),
        ),
        (
            "no tenant, no roles",
            format!("{CONFIRMED}X-User-Id: u\r\n"),
            Some(public),
        ),
        (
            "empty tenant",
            format!("{CONFIRMED}X-Tenant-Id: \r\nX-Roles: member\r\n"),
            Some(public),
        ),
        (
            "owner, no roles",
            format!("{CONFIRMED}X-Tenant-Id: {A}\r\n"),
            Some(as_a),
        ),
        (
            "owner, empty roles",
            format!("{CONFIRMED}X-Tenant-Id: {A}\r\nX-Roles: \r\n"),
            Some(as_a),
        ),
        (
            "project A, tenant D",
            format!("{CONFIRMED}X-Project-Id: {A}\r\nX-Tenant-Id: {D}\r\nX-Roles: member\r\n"),
            Some(as_a),
        ),
        (
            "project D, tenant A",
            format!("{CONFIRMED}X-Project-Id: {D}\r\nX-Tenant-Id: {A}\r\nX-Roles: member\r\n"),
            Some(as_d),
        ),
        (
            "project only",
            format!("{CONFIRMED}X-Project-Id: {A}\r\nX-Roles: member\r\n"),
            Some(as_a),
        ),
        (
            "legacy X-Tenant/X-User/X-Role",
            format!("{CONFIRMED}X-Tenant: {A}\r\nX-User: u\r\nX-Role: member\r\n"),
            Some(as_a),
        ),
        (
            "X-Roles beats a legacy admin X-Role",
            format!("{CONFIRMED}X-Tenant-Id: {A}\r\nX-Roles: member\r\nX-Role: admin\r\n"),
            Some(as_a),
        ),
        (
            "Invalid identity claiming admin",
            format!("X-Identity-Status: Invalid\r\nX-Tenant-Id: {A}\r\nX-Roles: admin\r\n"),
            None,
        ),
        ("no identity at all", String::new(), None),
    ];
    for (what, who, want) in shapes {
        let r = as_who(&emu, "GET", "/v1/images/detail?is_public=None", &who).await;
        let h = as_who(&emu, "HEAD", &format!("/v1/images/{PRIV_D}"), &who).await;
        match want {
            None => {
                assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized", "{what}");
                assert!(!r.body_str().contains("priv"), "{what}");
                assert_eq!(h.status_line, "HTTP/1.1 401 Unauthorized", "{what}");
            }
            Some(names_seen) => {
                assert_eq!(names(&r), names_seen, "{what}");
                let sees_d = names_seen.contains(&"priv-d");
                assert_eq!(
                    h.status_line,
                    if sees_d {
                        "HTTP/1.1 200 OK"
                    } else {
                        "HTTP/1.1 404 Not Found"
                    },
                    "{what}"
                );
            }
        }
    }
}
