//! Wire details the live oracle (tests/conformance/) found differing from real Glance 15,
//! pinned here as exact bytes over real TCP: the keep-alive echo (on the fast path and on
//! hyper's alike), links without a Host header, route misses with unknown methods, the
//! over-long request id on routes that never used the context, and the odd 500s.

use glance_emu::Config;

use crate::support::*;

const PUB: &str = "0c0c0c0c-0000-4000-8000-000000000001";
const FIXTURE: &str = r#"[
  {"id": "0c0c0c0c-0000-4000-8000-000000000001", "name": "pub-a", "owner": "a1", "is_public": true,
   "created_at": "2015-06-02T10:11:12.100001", "data": {"base64": "cHVibGljIGltYWdlIEEK"}}
]"#;

/// The header block as `Name: value` lines (request id and date masked).
fn lines(r: &Resp) -> Vec<String> {
    let mut v = vec![r.status_line.clone()];
    v.extend(r.masked_lines());
    v
}

/// eventlet echoed `Connection: keep-alive` after `Date`, on HTTP/1.1 too; the HEAD fast
/// path writes the same line as hyper's path, for 200s and 404s.
#[tokio::test]
async fn keep_alive_is_echoed_after_date_on_both_paths() {
    let fast = spawn(FIXTURE).await;
    let hyper = spawn_hyper_only(FIXTURE, Config::default()).await;
    for id in [PUB, "nope"] {
        let raw =
            format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n");
        let a = request(&fast, &raw).await;
        let b = request(&hyper, &raw).await;
        assert_eq!(lines(&a), lines(&b), "{id}");
        assert_eq!(a.names().last(), Some(&"Connection"), "{id}");
        assert_eq!(a.header("Connection"), Some("keep-alive"));
        let n = a.names();
        assert_eq!(n[n.len() - 2], "Date");
    }
    // Without the header nothing is added.
    let r = head(&fast, &format!("/v1/images/{PUB}")).await;
    assert_eq!(r.header("Connection"), None);
}

/// The bare version prefix's 302 keeps WebOb's order with a Connection line: the
/// Content-Length stays before Date and Connection.
#[tokio::test]
async fn redirect_keeps_content_length_before_date_and_connection() {
    let emu = spawn(FIXTURE).await;
    for conn in ["close", "keep-alive"] {
        let r = request(
            &emu,
            &format!("GET /v1 HTTP/1.1\r\nHost: h:1\r\nConnection: {conn}\r\n\r\n"),
        )
        .await;
        assert_eq!(r.status_line, "HTTP/1.1 302 Found");
        assert_eq!(
            r.names(),
            [
                "Content-Type",
                "Location",
                "X-Openstack-Request-Id",
                "Content-Length",
                "Date",
                "Connection"
            ],
            "{conn}"
        );
    }
    // A chunked body on the redirect is read and dropped; the connection stays open.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(b"GET /v1 HTTP/1.1\r\nHost: h:1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        .await;
    assert_eq!(r.header("Connection"), None);
    let r = c.roundtrip(b"GET /v1 HTTP/1.1\r\nHost: h:1\r\n\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 302 Found");
}

/// Without a Host header WebOb built links from SERVER_NAME:SERVER_PORT, the listening
/// address eventlet served on.
#[tokio::test]
async fn links_without_host_name_the_listening_address() {
    let emu = spawn(FIXTURE).await;
    let addr = emu.addr();
    let r = request(&emu, "GET /versions HTTP/1.0\r\n\r\n").await;
    let want = format!(
        "{{\"versions\": [{{\"id\": \"v1.1\", \"status\": \"DEPRECATED\", \"links\": [{{\"rel\": \"self\", \"href\": \"http://{addr}/v1/\"}}]}}, {{\"id\": \"v1.0\", \"status\": \"DEPRECATED\", \"links\": [{{\"rel\": \"self\", \"href\": \"http://{addr}/v1/\"}}]}}]}}"
    );
    assert_eq!(r.body_str(), want);
    let r = request(&emu, "HEAD /v1 HTTP/1.1\r\n\r\n").await;
    assert_eq!(
        r.header("Location"),
        Some(format!("http://{addr}/v1/").as_str())
    );
}

/// A HEAD naming a version by media type is negotiated (hyper's path), not answered by the
/// fast path: `application/vnd.openstack.images-v1` keeps the /v1 prefix, a route miss.
#[tokio::test]
async fn head_with_a_version_media_type_is_negotiated() {
    let emu = spawn(FIXTURE).await;
    let raw =
        |acc: &str| format!("HEAD /v1/images/{PUB} HTTP/1.1\r\nHost: h\r\nAccept: {acc}\r\n\r\n");
    let r = request(&emu, &raw("application/vnd.openstack.images-v1")).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=UTF-8"));
    let r = request(&emu, &raw("application/vnd.openstack.images-v2")).await;
    assert_eq!(r.status_line, "HTTP/1.1 300 Multiple Choices");
    assert_eq!(r.names(), ["Content-Type", "Content-Length", "Date"]);
}

/// A path no route matched, with a method Glance's router did not implement: 501.
#[tokio::test]
async fn route_miss_with_an_unknown_method_is_501() {
    let emu = spawn(FIXTURE).await;
    let r = request(
        &emu,
        "TRACE /v1/nothing HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 501 Not Implemented");
    assert_eq!(
        r.names(),
        [
            "Content-Length",
            "Content-Type",
            "X-Openstack-Request-Id",
            "Date"
        ]
    );
    assert_eq!(
        r.body_str(),
        "<html>\n <head>\n  <title>501 Not Implemented</title>\n </head>\n <body>\n  \
         <h1>501 Not Implemented</h1>\n  \nThe request method TRACE is not implemented for \
         this server. <br /><br />\n\n </body>\n</html>"
    );
    assert_eq!(r.header("Content-Length"), Some("194"));
    let r = request(&emu, "GET /v1/nothing HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
}

/// The members list of an image called "detail" and a JSON body on HEAD of the detail list:
/// real Glance's bare 500s.
#[tokio::test]
async fn detail_oddities_are_500() {
    let emu = spawn(FIXTURE).await;
    let r = get(&emu, "/v1/images/detail/members").await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    let r = call(
        &emu,
        "HEAD",
        "/v1/images/detail",
        "Content-Type: application/json\r\n",
        b"{\"image\": {}}",
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(
        r.names(),
        [
            "Content-Type",
            "Content-Length",
            "X-Openstack-Request-Id",
            "Date"
        ]
    );
}

/// An over-long request id broke Glance's context, but only actions that used it failed:
/// a route miss is still 404 and the router's 405 still 405 (neither with a request id).
#[tokio::test]
async fn long_request_id_spares_routes_that_never_used_the_context() {
    let emu = spawn_trusted(FIXTURE).await;
    let who = format!(
        "X-Identity-Status: Confirmed\r\nX-Tenant-Id: a1\r\nX-Roles: member\r\n\
         X-Openstack-Request-Id: {}\r\n",
        "x".repeat(70)
    );
    let ask = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n{who}\r\n");
    let r = request(&emu, &ask(&format!("/v1/images/{PUB}/members/b2"))).await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    assert_eq!(r.names(), ["Content-Length", "Content-Type", "Date"]);
    assert_eq!(r.header("Content-Length"), Some("187"));
    let r = request(&emu, &ask("/v1/shared-images/")).await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.names(), ["Content-Length", "Content-Type", "Date"]);
    let r = request(&emu, &ask(&format!("/v1/images/{PUB}"))).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    // Routes' redirect of the bare prefix never used it either.
    let r = request(&emu, &ask("/v1")).await;
    assert_eq!(r.status_line, "HTTP/1.1 302 Found");
    assert_eq!(
        r.names(),
        ["Content-Type", "Location", "Content-Length", "Date"]
    );
    assert_eq!(r.header("Location"), Some("http://h/v1/"));
    // The JSON deserializer ran before any action: a body it refused is its 400.
    let r = request(
        &emu,
        &format!("GET /v1/images HTTP/1.1\r\nHost: h\r\n{who}Content-Length: 3\r\n\r\nabc"),
    )
    .await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(r.body_str().contains("Malformed JSON in request body."));
}

/// Two `X-Openstack-Request-Id` lines were one `,`-joined environ value, echoed whole (and
/// judged whole: two ids of 40 characters are over the 64 allowed).
#[tokio::test]
async fn repeated_request_ids_are_one_joined_value() {
    let emu = spawn_trusted(FIXTURE).await;
    let ask = |ids: &[&str]| {
        let lines: String = ids
            .iter()
            .map(|id| format!("X-Openstack-Request-Id: {id}\r\n"))
            .collect();
        format!(
            "GET /v1/images/{PUB} HTTP/1.1\r\nHost: h\r\nX-Identity-Status: Confirmed\r\n\
             X-Tenant-Id: a1\r\nX-Roles: member\r\n{lines}\r\n"
        )
    };
    let r = request(&emu, &ask(&["abc", "req-1"])).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Openstack-Request-Id"), Some("req-abc,req-1"));
    let forty = "x".repeat(40);
    let r = request(&emu, &ask(&[&forty, &forty])).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
}

/// Malformed `PUT /v1/images/{id}/members` bodies: real Glance 15 (Python 3) answered with
/// Python's own exception texts inside the registry's page, a 500 where glance-api itself
/// failed, and took integer member ids as their decimal text.
#[tokio::test]
async fn malformed_membership_bodies_answer_as_glance_did() {
    let emu = spawn(FIXTURE).await;
    let put = |body: &'static str| {
        let emu = &emu;
        async move {
            call(
                emu,
                "PUT",
                &format!("/v1/images/{PUB}/members"),
                "Content-Type: application/json\r\n",
                body.as_bytes(),
            )
            .await
        }
    };
    let page = |why: &str| {
        format!(
            "<html>\n <head>\n  <title>400 Bad Request</title>\n </head>\n <body>\n  \
             <h1>400 Bad Request</h1>\n  400 Bad Request\n\nInvalid membership association: \
             {why}\n\n   <br /><br />\n\n\n\n </body>\n</html>"
        )
    };
    for (body, why) in [
        (
            r#"{"memberships": "x"}"#,
            "string indices must be integers, not &#x27;str&#x27;",
        ),
        (
            r#"{"memberships": [null]}"#,
            "&#x27;NoneType&#x27; object is not subscriptable",
        ),
        (
            r#"{"memberships": [[1]]}"#,
            "list indices must be integers or slices, not str",
        ),
        (
            r#"{"memberships": [{"can_share": true}]}"#,
            "&#x27;member_id&#x27;",
        ),
        (r#"{"member": "x"}"#, "&#x27;member_id&#x27;"),
        ("{}", "&#x27;member_id&#x27;"),
    ] {
        let r = put(body).await;
        assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request", "{body}");
        assert_eq!(r.body_str(), page(why), "{body}");
    }
    for body in ["[1, 2]", r#"{"memberships": null}"#] {
        let r = put(body).await;
        assert_eq!(
            r.status_line, "HTTP/1.1 500 Internal Server Error",
            "{body}"
        );
    }
    let r = put(r#"{"memberships": [{"member_id": 1}]}"#).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let r = get(&emu, &format!("/v1/images/{PUB}/members")).await;
    assert_eq!(
        r.body_str(),
        r#"{"members": [{"member_id": "1", "can_share": false}]}"#
    );
}

/// Glance's JSON deserializer in front of both member PUTs: a body that is not an object or
/// a list is a 400 before the image is looked up; `NaN` and `Infinity` are Python JSON (a
/// truthy float); a replace without any body is a 500 (`update_all` needs one), an empty
/// chunked one is malformed JSON; `update` read `can_share` with Python's `in`.
#[tokio::test]
async fn member_bodies_are_read_by_glances_deserializer() {
    let emu = spawn(FIXTURE).await;
    const UNKNOWN: &str = "0c0c0c0c-0000-4000-8000-999999999999";
    let put = |path: String, body: &'static str| {
        let emu = &emu;
        async move {
            let raw = format!(
                "PUT {path} HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            request(emu, &raw).await
        }
    };
    let all = |id: &str| format!("/v1/images/{id}/members");
    let one = |id: &str| format!("/v1/images/{id}/members/t9");
    let unexpected = "400 Bad Request\n\nUnexpected body type. Expected list/dict.\n\n   ";
    for body in ["\"x\"", "1", "null", "true", "NaN", "-Infinity"] {
        for path in [all(PUB), one(PUB), all(UNKNOWN), one(UNKNOWN)] {
            let r = put(path.clone(), body).await;
            assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request", "{path} {body}");
            assert_eq!(r.body_str(), unexpected, "{path} {body}");
        }
    }
    let r = put(all(PUB), "[-NaN]").await;
    assert_eq!(
        r.body_str(),
        "400 Bad Request\n\nMalformed JSON in request body.\n\n   "
    );
    // No body at all: the replace could not be called, before any lookup; the add runs.
    for (path, status) in [
        (all(UNKNOWN), "HTTP/1.1 500 Internal Server Error"),
        (one(PUB), "HTTP/1.1 204 No Content"),
    ] {
        let r = request(&emu, &format!("PUT {path} HTTP/1.1\r\nHost: h\r\n\r\n")).await;
        assert_eq!(r.status_line, status, "{path}");
    }
    let r = request(
        &emu,
        &format!(
            "PUT {} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            one(PUB)
        ),
    )
    .await;
    assert_eq!(
        r.body_str(),
        "400 Bad Request\n\nMalformed JSON in request body.\n\n   "
    );
    // `NaN` is a truthy float: a membership list's len() fails (500), a can_share is true.
    let r = put(all(PUB), r#"{"memberships": NaN}"#).await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    let r = put(one(PUB), r#"{"member": {"can_share": NaN}}"#).await;
    assert_eq!(r.status_line, "HTTP/1.1 204 No Content");
    let r = get(&emu, &all(PUB)).await;
    assert_eq!(
        r.body_str(),
        r#"{"members": [{"member_id": "t9", "can_share": true}]}"#
    );
    // `'can_share' in body['member']`: a substring of a string, then its subscript (500);
    // nothing to look in (null, a number): 500; a string without it: nothing changes.
    for (body, status) in [
        (
            r#"{"member": "can_share"}"#,
            "HTTP/1.1 500 Internal Server Error",
        ),
        (
            r#"{"member": ["can_share"]}"#,
            "HTTP/1.1 500 Internal Server Error",
        ),
        (r#"{"member": null}"#, "HTTP/1.1 500 Internal Server Error"),
        (r#"["member"]"#, "HTTP/1.1 500 Internal Server Error"),
        (r#"{"member": "x"}"#, "HTTP/1.1 204 No Content"),
        (r#"{"member": {"can_share": 0}}"#, "HTTP/1.1 204 No Content"),
    ] {
        let r = put(one(PUB), body).await;
        assert_eq!(r.status_line, status, "{body}");
    }
    let r = get(&emu, &all(PUB)).await;
    assert_eq!(
        r.body_str(),
        r#"{"members": [{"member_id": "t9", "can_share": false}]}"#
    );
}

/// `CONNECT /path` is routed like any other method, as eventlet did (Glance answered it as a
/// GET), where hyper takes every CONNECT for a tunnel and drops an origin-form one
/// unanswered; on one connection, twice, with a `#` in the path, and cut across writes.
#[tokio::test]
async fn an_origin_form_connect_is_answered_like_glance() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(b"CONNECT /versions HTTP/1.1\r\nHost: h\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert!(
        r.body_str().starts_with("{\"versions\": ["),
        "{}",
        r.body_str()
    );
    let r = c
        .roundtrip(b"CONNECT /v1/ HTTP/1.1\r\nHost: h\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert!(r.body_str().contains(PUB), "{}", r.body_str());
    // An image path has no route for the method (the oracle's method matrix holds it).
    let r = c
        .roundtrip(format!("CONNECT /v1/images/{PUB}#x HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 405 Method Not Allowed");
    // Cut across writes anywhere (here after `CONN`, then byte by byte): the same answers;
    // a method that only begins like it (`CO` + `PY`) is handed on whole.
    for (method, cut) in [
        ("CONNECT", 4usize),
        ("CONNECT", 7),
        ("CONNECT", 8),
        ("COPY", 2),
    ] {
        let req = format!("{method} /versions HTTP/1.1\r\nHost: h\r\n\r\n");
        c.send_raw(&req.as_bytes()[..cut]).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let r = c.roundtrip(&req.as_bytes()[cut..]).await;
        assert_eq!(
            r.status_line, "HTTP/1.1 200 OK",
            "{method} cut after {cut} bytes"
        );
        assert!(r.body_str().starts_with("{\"versions\": ["));
    }
    for b in b"CONNECT /v1/ HTTP/1.1\r\nHost: h\r\n".iter() {
        c.send_raw(&[*b]).await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let r = c.roundtrip(b"\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert!(r.body_str().contains(PUB), "{}", r.body_str());
}

/// Image data after an unanswered `Expect: 100-continue`: eventlet closed the connection
/// without a `Connection` line (the head was out before it decided); other answers to such a
/// request say `Connection: close` after `Date`, as before.
#[tokio::test]
async fn image_data_after_an_unanswered_continue_closes_unannounced() {
    let emu = spawn(FIXTURE).await;
    let expect = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n").into_bytes()
    };
    let mut c = Conn::open(&emu).await;
    let r = c.roundtrip(&expect(&format!("/v1/images/{PUB}"))).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.names().last(), Some(&"Date"));
    assert_eq!(r.body_str(), "public image A\n");
    assert!(c.closed().await, "the connection must close");
    let mut c = Conn::open(&emu).await;
    let r = c.roundtrip(&expect("/v1/images/detail")).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.names().last(), Some(&"Connection"));
    assert!(c.closed().await);
    // The client's own `Connection: close` had eventlet say it on image data too.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(
            format!(
                "GET /v1/images/{PUB} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\
                 Expect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.names().last(), Some(&"Connection"));
    assert!(c.closed().await);
}

/// `changes-since` as iso8601 0.1.11 read it (short and basic forms, a comma fraction, a
/// final newline), the registry's 400 for what it could not, and the database layer's 500
/// for an offset it could not take off; every `Location` made absolute against the `Host`
/// as sent (`_request_uri`: only a final `:80` dropped, cut at `/`).
#[tokio::test]
async fn changes_since_forms_and_locations_are_webobs() {
    let emu = spawn(FIXTURE).await;
    for (value, status) in [
        ("2015", "HTTP/1.1 200 OK"),
        ("2015-6", "HTTP/1.1 200 OK"),
        ("20150601T1011", "HTTP/1.1 200 OK"),
        ("2015-06-01T00:00:00,5", "HTTP/1.1 200 OK"),
        ("2015-06-01%0A", "HTTP/1.1 200 OK"),
        ("201506", "HTTP/1.1 400 Bad Request"),
        ("2015-06-01T00:00:60", "HTTP/1.1 400 Bad Request"),
        (
            "2015-06-01T00:00:00-99:99",
            "HTTP/1.1 500 Internal Server Error",
        ),
    ] {
        let r = get(
            &emu,
            &format!("/v1/images?is_public=None&changes-since={value}"),
        )
        .await;
        assert_eq!(r.status_line, status, "{value}");
        if status.ends_with("200 OK") {
            assert!(r.body_str().contains(PUB), "{value}: {}", r.body_str());
        }
    }
    // Nothing after a time later than the record.
    let r = get(&emu, "/v1/images?is_public=None&changes-since=2016").await;
    assert_eq!(r.body_str(), r#"{"images": []}"#);
    for (host, location) in [
        ("g.example:", "http://g.example:/v1/"),
        ("g.example:80", "http://g.example/v1/"),
        ("g.example:80:80", "http://g.example:80/v1/"),
        ("g.example/x", "http://g.example/v1/"),
    ] {
        let r = request(
            &emu,
            &format!("GET /v1 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(r.header("Location"), Some(location), "{host}");
    }
}

/// List parameters read as Glance 15 read them: `limit`, `size_min`/`size_max` and the
/// API's check of `min_ram` by Python 3's `int()` (every script's digits, `_` between
/// digits); `min_ram`/`min_disk` then compared by SQLite, which read the text as a number
/// only when it looked like one (`-0`, `0.0`), so `1_0` passes the check and matches
/// nothing.
#[tokio::test]
async fn list_integers_are_python_ints_and_equality_is_sqlites() {
    let emu = spawn(FIXTURE).await;
    let ids = |q: &str| {
        let emu = &emu;
        let q = q.to_string();
        async move {
            let r = get(emu, &format!("/v1/images?is_public=None&{q}")).await;
            (r.status_line.clone(), r.body_str().matches(PUB).count())
        }
    };
    let ok = "HTTP/1.1 200 OK".to_string();
    for (q, want) in [
        ("limit=%D9%A1", (ok.clone(), 1)),
        ("limit=1_0", (ok.clone(), 1)),
        ("limit=%E3%80%801", (ok.clone(), 1)),
        ("size_min=1_0", (ok.clone(), 1)),
        ("size_max=%EF%BC%91", (ok.clone(), 0)),
        ("min_ram=-0", (ok.clone(), 1)),
        ("min_ram=0_0", (ok.clone(), 0)),
        ("min_disk=0.0", (ok.clone(), 1)),
        ("min_disk=0e3", (ok.clone(), 1)),
        ("min_disk=0x0", (ok.clone(), 0)),
        ("min_ram=99999999999999999999999", (ok.clone(), 0)),
        ("limit=%1C1", ("HTTP/1.1 400 Bad Request".to_string(), 0)),
        ("min_ram=0.0", ("HTTP/1.1 400 Bad Request".to_string(), 0)),
    ] {
        assert_eq!(ids(q).await, want, "{q}");
    }
}

/// What a refused request left unread: eventlet read and dropped the rest of its body after
/// answering and kept the connection (any size, chunked or not), unless the request said
/// `Expect: 100-continue`, which it then never answered: `Connection: close`, and closed.
/// An action that reads its body (an upload) gets its `100 Continue`.
#[tokio::test]
async fn unread_bodies_are_discarded_or_close_as_eventlet_did() {
    let emu = spawn(FIXTURE).await;
    const UNKNOWN: &str = "0c0c0c0c-0000-4000-8000-999999999999";
    let put = |framing: &str| {
        format!(
            "PUT /v1/images/{UNKNOWN} HTTP/1.1\r\nHost: h\r\n\
             Content-Type: application/octet-stream\r\n{framing}\r\n"
        )
    };
    let big = vec![b'x'; 300_000];
    let chunked = {
        let mut b = format!("{:x}\r\n", big.len()).into_bytes();
        b.extend_from_slice(&big);
        b.extend_from_slice(b"\r\n0\r\n\r\n");
        b
    };
    for (framing, body) in [
        (format!("Content-Length: {}\r\n", big.len()), &big),
        ("Transfer-Encoding: chunked\r\n".to_string(), &chunked),
    ] {
        let mut c = Conn::open(&emu).await;
        let mut raw = put(&framing).into_bytes();
        raw.extend_from_slice(body);
        let r = c.roundtrip(&raw).await;
        assert_eq!(r.status_line, "HTTP/1.1 404 Not Found", "{framing}");
        assert_eq!(r.header("Connection"), None, "{framing}");
        // The same connection serves the next request.
        let r = c
            .roundtrip(b"GET /versions HTTP/1.1\r\nHost: h\r\n\r\n")
            .await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{framing}");
    }
    // The answer goes out before the rest is read: a client that sends a head saying
    // 2^40 + 1 bytes and waits gets its 400 at once.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(b"POST /v1/images HTTP/1.1\r\nHost: h\r\nContent-Length: 1099511627777\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    // Expect, refused before a read: no 100, `Connection: close` after Date, closed.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(put("Content-Length: 10\r\nExpect: 100-continue\r\n").as_bytes())
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    let names = r.names();
    assert_eq!(names[names.len() - 2..], ["Date", "Connection"]);
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed().await);
    // A body Glance never read (chunked, on a GET) with Expect: answered, then closed.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(
            b"GET /v1/images HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\
              Expect: 100-continue\r\n\r\n",
        )
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed().await);
    // Expect on an upload the action reads: 100 first, then the answer, connection kept.
    let mut c = Conn::open(&emu).await;
    c.send_raw(
        b"POST /v1/images HTTP/1.1\r\nHost: h\r\nx-image-meta-disk_format: raw\r\n\
          x-image-meta-container_format: bare\r\nContent-Type: application/octet-stream\r\n\
          Content-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    )
    .await;
    // (An interim answer has no body: read as a HEAD's.)
    let r = c.read_response(true).await;
    assert_eq!(r.status_line, "HTTP/1.1 100 Continue");
    let r = c.roundtrip(b"abc").await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(r.header("Connection"), None);
    let r = c
        .roundtrip(b"GET /versions HTTP/1.1\r\nHost: h\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}

/// Request lines as Python's `parse_request` read them under eventlet: split on any run of
/// whitespace (served), `HTTP/0.9`-style and odd versions served as HTTP/1.0, the rest
/// refused with `send_error`'s page and closed; a path that is not UTF-8 once decoded is
/// eventlet's bare 500, closed. The same connection serves what follows a served line.
#[tokio::test]
async fn request_lines_are_pythons() {
    let emu = spawn(FIXTURE).await;
    let mut c = Conn::open(&emu).await;
    for line in [
        "GET  /versions HTTP/1.1",
        "GET\t/versions\x0bHTTP/1.1 ",
        " GET /versions HTTP/1.1",
    ] {
        let r = c
            .roundtrip(format!("{line}\r\nHost: h\r\n\r\n").as_bytes())
            .await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK", "{line:?}");
        assert_eq!(r.header("Connection"), None, "{line:?}");
    }
    // HTTP/1.2 is served, but only the exact HTTP/1.1 kept the connection by default.
    let r = c
        .roundtrip(b"GET /versions HTTP/1.2\r\nHost: h\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed().await);
    // No version at all: served as HTTP/0.9 was, closed.
    let r = request(&emu, "GET /versions\r\nHost: h\r\n\r\n").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Connection"), Some("close"));
    for (line, status, len) in [
        ("GET", "HTTP/1.1 400 Bad request syntax ('GET')", "358"),
        (
            "GET /x HTTP/1.1 extra",
            "HTTP/1.1 400 Bad request version ('extra')",
            "361",
        ),
        (
            "POST /versions",
            "HTTP/1.1 400 Bad HTTP/0.9 request type ('POST')",
            "366",
        ),
        (
            "GET /x HTTP/2.0",
            "HTTP/1.1 505 Invalid HTTP version (2.0)",
            "340",
        ),
    ] {
        let mut c = Conn::open(&emu).await;
        let r = c
            .roundtrip(format!("{line}\r\nHost: h\r\n\r\n").as_bytes())
            .await;
        assert_eq!(r.status_line, status, "{line}");
        assert_eq!(
            r.names(),
            [
                "Server",
                "Date",
                "Connection",
                "Content-Type",
                "Content-Length"
            ],
            "{line}"
        );
        assert_eq!(r.header("Server"), Some("BaseHTTP/0.6 Python/3.11.7"));
        assert_eq!(r.header("Content-Length"), Some(len), "{line}");
        assert!(c.closed().await, "{line}");
    }
    // A path that percent-decodes to bytes that are not UTF-8.
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(b"GET /v1/images/%ff HTTP/1.1\r\nHost: h\r\n\r\n")
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(
        r.names(),
        ["Content-Type", "Content-Length", "Date", "Connection"]
    );
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(r.body.is_empty());
    assert!(c.closed().await);
}

/// Version negotiation read `str(req.accept)`, WebOb's re-written list (masks that are not
/// `type/subtype` dropped, parameters but `q` dropped, lower-cased), and the API's filter
/// check read the last value of a repeated parameter.
#[tokio::test]
async fn accept_is_webobs_string_and_filters_check_the_last_value() {
    let emu = spawn(FIXTURE).await;
    for (accept, status) in [
        (
            "garbage, application/vnd.openstack.images-v1",
            "HTTP/1.1 200 OK",
        ),
        (
            "Application/VND.openstack.images-V1;level=1",
            "HTTP/1.1 200 OK",
        ),
        (
            "garbage, application/vnd.openstack.images-v2, text/html",
            "HTTP/1.1 300 Multiple Choices",
        ),
        (
            "application/vnd.openstack.images-v1;q=0.5",
            "HTTP/1.1 300 Multiple Choices",
        ),
    ] {
        // Named by Accept, the path is not popped: /v1/images would be /v1/v1/images.
        let r = request(
            &emu,
            &format!("GET /images HTTP/1.1\r\nHost: h\r\nAccept: {accept}\r\n\r\n"),
        )
        .await;
        assert_eq!(r.status_line, status, "{accept}");
    }
    let r = get(&emu, "/v1/images?is_public=yes&is_public=none").await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    // A repeated property filter: its last value.
    let props = spawn(
        r#"[{"id": "0c0c0c0c-0000-4000-8000-000000000001", "name": "p", "is_public": true,
             "properties": {"x": "2"}}]"#,
    )
    .await;
    let r = get(&props, "/v1/images?property-x=1;property-x=2").await;
    assert!(r.body_str().contains(PUB), "{}", r.body_str());
    let r = get(&props, "/v1/images?property-x=2;property-x=1").await;
    assert_eq!(r.body_str(), r#"{"images": []}"#);
    let r = get(&emu, "/v1/images?size_min=1&size_min=x").await;
    assert_eq!(r.status_line, "HTTP/1.1 400 Bad Request");
    assert!(r.body_str().contains("got x"), "{}", r.body_str());
}

/// An HTTP/1.0 request with a chunked body: eventlet read it chunked and served it as
/// HTTP/1.0 (hyper alone refuses `Transfer-Encoding` in HTTP/1.0 with a 400): the image is
/// created with the bytes, the answer says `Connection: close` and the connection closes;
/// with `Connection: keep-alive` it is echoed and the connection stays.
#[tokio::test]
async fn an_http10_chunked_upload_is_served_as_http10() {
    let emu = spawn(FIXTURE).await;
    let upload = |id: &str, connection: &str| {
        format!(
            "POST /v1/images HTTP/1.0\r\nHost: h\r\nx-image-meta-id: {id}\r\n\
             x-image-meta-disk_format: raw\r\nx-image-meta-container_format: bare\r\n\
             Content-Type: application/octet-stream\r\n{connection}Transfer-Encoding: chunked\r\n\r\n\
             7\r\n0123456\r\n3\r\n789\r\n0\r\n\r\n"
        )
    };
    let id = "0c0c0c0c-0000-4000-8000-0000000000a1";
    let mut c = Conn::open(&emu).await;
    let r = c.roundtrip(upload(id, "").as_bytes()).await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created", "{}", r.body_str());
    assert_eq!(r.header("Etag"), Some("781e5e245d69b566979b86e28d23f2c7"));
    assert_eq!(r.names().last(), Some(&"Connection"));
    assert_eq!(r.header("Connection"), Some("close"));
    assert!(c.closed().await, "HTTP/1.0 without keep-alive closes");
    let h = head(&emu, &format!("/v1/images/{id}")).await;
    assert_eq!(h.header("X-Image-Meta-Size"), Some("10"));
    assert_eq!(h.header("X-Image-Meta-Status"), Some("active"));
    // keep-alive: echoed, and the connection serves the next request.
    let id = "0c0c0c0c-0000-4000-8000-0000000000a2";
    let mut c = Conn::open(&emu).await;
    let r = c
        .roundtrip(upload(id, "Connection: keep-alive\r\n").as_bytes())
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 201 Created");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    let r = c
        .roundtrip(format!("HEAD /v1/images/{id} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes())
        .await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
}
