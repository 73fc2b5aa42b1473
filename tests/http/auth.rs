//! Caller modes: static tokens and trusted headers, 401s, and Glance's visibility rules for
//! non-admins (404, never 403, for other tenants' private images).

use std::collections::HashMap;

use glance_emu::auth::{AuthMode, Caller};
use glance_emu::Config;

use crate::support::*;

const FIXTURE: &str = r#"[
  {"id": "eeeeeeee-0000-4000-8000-000000000001", "name": "a-private", "owner": "ta", "created_at": "2020-01-01T00:00:00"},
  {"id": "eeeeeeee-0000-4000-8000-000000000002", "name": "a-public", "owner": "ta", "is_public": true, "created_at": "2020-01-02T00:00:00"},
  {"id": "eeeeeeee-0000-4000-8000-000000000003", "name": "a-shared", "owner": "ta", "created_at": "2020-01-03T00:00:00", "members": [{"member_id": "tb"}]},
  {"id": "eeeeeeee-0000-4000-8000-000000000004", "name": "a-deleted", "owner": "ta", "status": "deleted", "created_at": "2020-01-04T00:00:00"}
]"#;

fn tokens() -> Config {
    let mut t = HashMap::new();
    let caller = |tenant: &str, admin: bool| Caller {
        admin,
        tenant: Some(tenant.to_string()),
        user: Some("u".to_string()),
        roles: if admin {
            vec!["admin".into()]
        } else {
            vec!["member".into()]
        },
        authenticated: true,
    };
    t.insert("tok-a".to_string(), caller("ta", false));
    t.insert("tok-b".to_string(), caller("tb", false));
    t.insert("tok-c".to_string(), caller("tc", false));
    t.insert("tok-admin".to_string(), caller("tadmin", true));
    Config {
        auth: AuthMode::Tokens(t),
        auth_uri: "http://keystone.test:5000".into(),
        ..Config::default()
    }
}

async fn as_token(
    emu: &glance_emu::embed::Emulator,
    method: &str,
    path: &str,
    token: &str,
) -> Resp {
    request(
        emu,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nX-Auth-Token: {token}\r\n\r\n"
        ),
    )
    .await
}

/// Missing or unknown token: 401 with Www-Authenticate and no request id.
#[tokio::test]
async fn unknown_token_is_401() {
    let emu = spawn_with(FIXTURE, tokens()).await;
    let r = head(&emu, "/v1/images/eeeeeeee-0000-4000-8000-000000000002").await;
    assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized");
    assert_eq!(
        r.masked_lines(),
        vec![
            "Content-Type: text/html; charset=UTF-8",
            "Content-Length: 0",
            "Www-Authenticate: Keystone uri='http://keystone.test:5000'",
            "Date: <date>",
        ]
    );
    let r = as_token(&emu, "GET", "/v1/images", "nope").await;
    assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized");
    assert!(r
        .body_str()
        .contains("This server could not verify that you are authorized"));
    // The version document needs no token.
    let r = get(&emu, "/").await;
    assert_eq!(r.status_line, "HTTP/1.1 300 Multiple Choices");
}

/// Owner, member, stranger and admin see what Glance let them see.
#[tokio::test]
async fn visibility_rules() {
    let emu = spawn_with(FIXTURE, tokens()).await;
    let private = "/v1/images/eeeeeeee-0000-4000-8000-000000000001";
    let shared = "/v1/images/eeeeeeee-0000-4000-8000-000000000003";
    let deleted = "/v1/images/eeeeeeee-0000-4000-8000-000000000004";
    assert_eq!(
        as_token(&emu, "HEAD", private, "tok-a").await.status_line,
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        as_token(&emu, "HEAD", private, "tok-b").await.status_line,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        as_token(&emu, "GET", private, "tok-c").await.status_line,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        as_token(&emu, "HEAD", private, "tok-admin")
            .await
            .status_line,
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        as_token(&emu, "HEAD", shared, "tok-b").await.status_line,
        "HTTP/1.1 200 OK"
    );
    assert_eq!(
        as_token(&emu, "HEAD", shared, "tok-c").await.status_line,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        as_token(&emu, "HEAD", deleted, "tok-a").await.status_line,
        "HTTP/1.1 404 Not Found"
    );
    let r = as_token(&emu, "HEAD", deleted, "tok-admin").await;
    assert_eq!(r.header("X-Image-Meta-Deleted"), Some("True"));
    // Lists never reveal another tenant's private image; is_public is ignored for non-admins.
    for token in ["tok-b", "tok-c"] {
        let r = as_token(&emu, "GET", "/v1/images/detail?is_public=None", token).await;
        assert!(!r.body_str().contains("a-private"), "{token}");
        let r = as_token(
            &emu,
            "GET",
            "/v1/images/eeeeeeee-0000-4000-8000-000000000001/members",
            token,
        )
        .await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    }
    let r = as_token(&emu, "GET", "/v1/images/detail", "tok-b").await;
    assert!(r.body_str().contains("a-shared") && r.body_str().contains("a-public"));
    let r = as_token(&emu, "GET", "/v1/shared-images/ta", "tok-c").await;
    assert_eq!(r.body_str(), r#"{"shared_images": []}"#);
}

/// Non-admin writes: owner from the token, is_public refused, others' public image
/// undeletable, incoming request ids echoed.
#[tokio::test]
async fn non_admin_writes() {
    let emu = spawn_with(FIXTURE, tokens()).await;
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "X-Auth-Token: tok-b\r\nx-image-meta-owner: ta\r\nX-Openstack-Request-Id: abc\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(r.header("X-Openstack-Request-Id"), Some("req-abc"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["image"]["owner"], "tb");
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "X-Auth-Token: tok-b\r\nx-image-meta-is_public: True\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden");
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "X-Auth-Token: tok-admin\r\nx-image-meta-is_public: True\r\nx-image-meta-owner: ta\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["image"]["owner"], "ta");
    let r = call(
        &emu,
        "DELETE",
        "/v1/images/eeeeeeee-0000-4000-8000-000000000002",
        "X-Auth-Token: tok-b\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden");
    let r = call(
        &emu,
        "DELETE",
        "/v1/images/eeeeeeee-0000-4000-8000-000000000001",
        "X-Auth-Token: tok-b\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let r = call(
        &emu,
        "PUT",
        "/v1/images/eeeeeeee-0000-4000-8000-000000000003/members/tc",
        "X-Auth-Token: tok-b\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert!(r.body_str().contains("No permission to share that image"));
    let r = call(
        &emu,
        "DELETE",
        "/v1/images/eeeeeeee-0000-4000-8000-000000000001",
        "X-Auth-Token: tok-a\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}

/// Trusted headers: Confirmed identity required; roles compared case-insensitively.
#[tokio::test]
async fn trusted_headers_mode() {
    let emu = spawn_trusted(FIXTURE).await;
    let path = "/v1/images/eeeeeeee-0000-4000-8000-000000000001";
    let r = head(&emu, path).await;
    assert_eq!(r.status_line, "HTTP/1.1 401 Unauthorized");
    assert_eq!(r.header("Www-Authenticate"), None);
    let r = request(&emu, &format!("HEAD {path} HTTP/1.1\r\nHost: h\r\nX-Identity-Status: Confirmed\r\nX-Tenant-Id: tz\r\nX-Roles: ADMIN\r\n\r\n")).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    let r = request(&emu, &format!("HEAD {path} HTTP/1.1\r\nHost: h\r\nX-Identity-Status: Confirmed\r\nX-Tenant-Id: tz\r\nX-Roles: member\r\n\r\n")).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
}

/// The tokens file is validated at start-up with the file and field named.
#[test]
fn tokens_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tokens.json");
    std::fs::write(&f, r#"{"t1": {"tenant": "a", "roles": "admin"}}"#).unwrap();
    let e = AuthMode::parse(&format!("tokens:{}", f.display())).unwrap_err();
    assert!(e.contains("tokens.json") && e.contains("t1.roles"), "{e}");
    assert!(AuthMode::parse("keystone").is_err());
}

/// A policy file: denied rules answer Glance's bare 403; HEAD and download are separate.
#[tokio::test]
async fn policy_rules() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("policy.json");
    // An emulator over FIXTURE with `rules` as its policy file.
    let with_policy = |rules: &str| {
        std::fs::write(&f, rules).unwrap();
        let config = Config {
            policy: glance_emu::auth::policy::Policy::load(&f).unwrap(),
            ..Config::default()
        };
        spawn_with(FIXTURE, config)
    };
    let emu = with_policy(
        r#"{"download_image": "!", "get_images": "role:lister", "publicize_image": ""}"#,
    )
    .await;
    let public = "/v1/images/eeeeeeee-0000-4000-8000-000000000002";
    assert_eq!(head(&emu, public).await.status_line, "HTTP/1.1 200 OK");
    let r = get(&emu, public).await;
    assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden");
    assert!(r.body_str().contains("Access was denied to this resource."));
    // Checked before the lookup: unknown ids are 403 too.
    assert_eq!(
        get(&emu, "/v1/images/nope").await.status_line,
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        get(&emu, "/v1/images").await.status_line,
        "HTTP/1.1 403 Forbidden"
    );
    let r = call(
        &emu,
        "POST",
        "/v1/images",
        "x-image-meta-is_public: true\r\n",
        b"",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");

    let emu = with_policy(r#"{"get_image": "!"}"#).await;
    let r = head(&emu, public).await;
    assert_eq!(r.status_line, "HTTP/1.1 403 Forbidden");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=UTF-8"));
    assert_eq!(r.header("Content-Length"), Some("0"));
}
