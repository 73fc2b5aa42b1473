//! `glance-emu snapshot` over real TCP against the binary: a running emulator is the source,
//! its snapshot is served by a second emulator, and every HEAD, detail list, members list
//! and download answers with the same bytes (Date and the request id aside). Also the
//! refusals: an unreachable server, a server that is not Glance v1, a non-empty --out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_glance-emu");

/// Identity headers of one caller.
type Who<'a> = &'a [(&'a str, &'a str)];

const ADMIN: &[(&str, &str)] = &[
    ("X-Identity-Status", "Confirmed"),
    ("X-Tenant-Id", "tenant-a"),
    ("X-User-Id", "u1"),
    ("X-Roles", "admin"),
];

struct Emu {
    child: Child,
    addr: String,
}

impl Emu {
    fn start(data: &Path) -> Emu {
        Emu::start_with(data, &[])
    }

    fn start_with(data: &Path, extra: &[&str]) -> Emu {
        let mut child = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--auth", "trusted-headers"])
            .args(extra)
            .arg("--data")
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Emu { child, addr }
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The raw answer with the lines that differ per request (Date, request id) removed.
fn raw(addr: &str, method: &str, path: &str, who: &[(&str, &str)]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n");
    for (k, v) in who {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..split]);
    let mut kept: Vec<u8> = head
        .split("\r\n")
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("date:") && !l.starts_with("x-openstack-request-id:")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes();
    kept.extend_from_slice(&out[split..]);
    kept
}

fn snapshot(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("snapshot")
        .args(args)
        .output()
        .unwrap()
}

/// `snapshot --from url --out out [extra...]` as the admin of [`ADMIN`].
fn snapshot_as_admin(url: &str, out: &Path, extra: &[&str]) -> Output {
    let headers: Vec<String> = ADMIN.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let mut args = vec!["--from", url, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    for h in &headers {
        args.extend(["--header", h]);
    }
    snapshot(&args)
}

const FIXTURE: &str = r#"{"images": [
 {"id": "11111111-0000-4000-8000-000000000001", "name": "public-raw", "is_public": true,
  "disk_format": "raw", "container_format": "bare", "owner": "tenant-a",
  "created_at": "2021-03-04T05:06:07.123456", "updated_at": "2021-03-05T00:00:00.000001",
  "properties": {"os_distro": "debian", "Hw_Disk_Bus": "virtio", "empty": "", "note": "naïve"},
  "data": {"base64": "aGVsbG8gZ2xhbmNlIGJ5dGVzCg=="}},
 {"id": "11111111-0000-4000-8000-000000000002", "name": "shared", "owner": "tenant-b",
  "min_disk": 3, "min_ram": 512, "protected": true, "virtual_size": 7,
  "created_at": "2021-03-04T05:06:07.000000",
  "members": [{"member_id": "tenant-c", "can_share": true}, {"member_id": "tenant-d"}],
  "data": {"repeat": "ab", "size": 70000}},
 {"id": "11111111-0000-4000-8000-000000000003", "name": "queued", "status": "queued",
  "size": null, "created_at": "2021-03-04T05:06:08.5"},
 {"id": "11111111-0000-4000-8000-000000000004", "name": "gone", "status": "deleted",
  "size": 15, "checksum": "0123456789abcdef0123456789abcdef", "owner": "tenant-a",
  "created_at": "2021-03-04T05:06:09", "deleted_at": "2021-03-06T00:00:00.25"},
 {"id": "11111111-0000-4000-8000-000000000005", "name": "killed", "status": "killed",
  "created_at": "2021-03-04T05:06:10"},
 {"id": "11111111-0000-4000-8000-000000000006", "name": "pending", "status": "pending_delete",
  "size": 4, "created_at": "2021-03-04T05:06:11", "deleted_at": "2021-03-06T00:00:00"},
 {"id": "11111111-0000-4000-8000-000000000007", "name": null, "status": "deactivated",
  "created_at": "2021-03-04T05:06:07.123456"},
 {"id": "11111111-0000-4000-8000-000000000008", "name": "same-time", "owner": "tenant-z",
  "created_at": "2021-03-04T05:06:07.123456",
  "members": [{"member_id": "tenant-c", "can_share": false}]}
]}"#;

/// A snapshot (paged, with members, data, deleted, killed and pending_delete images) served
/// by a second emulator answers every HEAD, GET, detail list, members and shared-images read
/// with the source's bytes, for an admin and for a member tenant.
#[test]
fn a_snapshot_of_an_emulator_serves_the_same_bytes() {
    let work = tempfile::tempdir().unwrap();
    let src_dir = work.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    std::fs::write(src_dir.join("images.json"), FIXTURE).unwrap();
    let source = Emu::start(&src_dir);
    let out = work.path().join("snap");
    let url = format!("http://{}", source.addr);
    // Three images a page: the marker paging is exercised too.
    let run = snapshot_as_admin(&url, &out, &["--with-data", "--page-size", "3"]);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "snapshot failed: {err}");
    assert!(
        err.contains("8 images (2 deleted), 3 members, 3 data files"),
        "progress: {err}"
    );
    assert!(err.contains("done: 8 images"), "summary: {err}");

    let copy = Emu::start(&out);
    let ids: Vec<String> = (1..=8)
        .map(|n| format!("11111111-0000-4000-8000-00000000000{n}"))
        .collect();
    let tenant_c: &[(&str, &str)] = &[
        ("X-Identity-Status", "Confirmed"),
        ("X-Tenant-Id", "tenant-c"),
        ("X-Roles", "member"),
    ];
    let mut reads: Vec<(&str, String, Who)> = Vec::new();
    for id in &ids {
        reads.push(("HEAD", format!("/v1/images/{id}"), ADMIN));
        reads.push(("HEAD", format!("/v1/images/{id}"), tenant_c));
        reads.push(("GET", format!("/v1/images/{id}"), ADMIN));
        reads.push(("GET", format!("/v1/images/{id}/members"), ADMIN));
    }
    for p in [
        "/v1/images/detail",
        "/v1/images/detail?is_public=None",
        "/v1/images/detail?is_public=None&changes-since=2000-01-01T00:00:00",
        "/v1/images/detail?is_public=None&sort_key=name&sort_dir=asc",
        "/v1/images?is_public=None",
    ] {
        reads.push(("GET", p.to_string(), ADMIN));
        reads.push(("GET", p.to_string(), tenant_c));
    }
    reads.push(("GET", "/v1/shared-images/tenant-c".into(), ADMIN));
    for (method, path, who) in &reads {
        let a = raw(&source.addr, method, path, who);
        let b = raw(&copy.addr, method, path, who);
        assert!(
            a == b,
            "{method} {path} differs:\nsource: {}\ncopy:   {}",
            String::from_utf8_lossy(&a[..a.len().min(2000)]),
            String::from_utf8_lossy(&b[..b.len().min(2000)])
        );
    }
    // The HEAD of a deleted image (admin) is 200 and was copied with its fields.
    let head = raw(&copy.addr, "HEAD", &format!("/v1/images/{}", ids[3]), ADMIN);
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("X-Image-Meta-Deleted: True"), "{head}");
}

/// An unreachable server, a version document, an HTML page, a 404, a non-empty --out and an
/// https URL each end the snapshot with one line and a non-zero status, leaving nothing to
/// serve.
#[test]
fn refusals_are_one_line_and_non_zero() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let out_s = out.to_str().unwrap();
    let last_line = |o: &Output| {
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string()
    };

    // Nobody listens: a port that was just free.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let o = snapshot(&["--from", &url, "--out", out_s]);
    assert!(!o.status.success());
    let l = last_line(&o);
    assert!(l.starts_with("glance-emu snapshot: cannot reach"), "{l}");
    assert!(
        !out.join("images.json").exists(),
        "a failed snapshot leaves nothing to serve"
    );

    // Something that is not Glance v1: a version document (300), then an HTML page.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        for (status, ctype, body) in [
            (
                "300 Multiple Choices",
                "application/json",
                "{\"versions\": []}",
            ),
            ("200 OK", "text/html", "<html><body>Welcome</body></html>"),
            ("404 Not Found", "text/plain", "nope"),
        ] {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    for expect in [
        "300 Multiple Choices",
        "Content-Type 'text/html'",
        "404 Not Found",
    ] {
        let o = snapshot(&["--from", &url, "--out", out_s]);
        assert!(!o.status.success());
        let l = last_line(&o);
        assert!(
            l.starts_with("glance-emu snapshot: not a Glance v1 server:") && l.contains(expect),
            "{l}"
        );
    }
    server.join().unwrap();

    // A non-empty --out and an https URL are refused before anything is fetched.
    std::fs::write(out.join("keep.json"), "[]").unwrap();
    let o = snapshot(&["--from", "http://127.0.0.1:9", "--out", out_s]);
    assert!(!o.status.success());
    assert!(last_line(&o).contains("not empty"), "{}", last_line(&o));
    let o = snapshot(&["--from", "https://127.0.0.1:9", "--out", out_s]);
    assert!(!o.status.success());
    assert!(last_line(&o).contains("https is not supported"));
}

/// A few hundred images (some deleted, a third with members, some with bytes), paged by 50:
/// `--connections 1` and `--connections 8` write the same `images.json` byte for byte, the
/// same data files and the same summary.
#[test]
fn the_copy_is_the_same_over_one_or_eight_connections() {
    let work = tempfile::tempdir().unwrap();
    let src_dir = work.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    let mut recs = Vec::new();
    for i in 0..320u32 {
        let id = format!("22222222-0000-4000-8000-{i:012}");
        let mut r = format!(
            r#"{{"id": "{id}", "name": "img-{i}", "owner": "tenant-{o}",
  "created_at": "2022-01-{d:02}T00:00:{s:02}.{i:06}", "properties": {{"n": "{i}"}}"#,
            o = i % 5,
            d = 1 + i % 28,
            s = i % 60
        );
        if i % 7 == 3 {
            r.push_str(r#", "status": "deleted", "deleted_at": "2022-02-01T00:00:00""#);
        } else {
            if i % 3 == 0 {
                r.push_str(&format!(
                    r#", "members": [{{"member_id": "tenant-m{a}", "can_share": true}},
  {{"member_id": "tenant-m{b}"}}]"#,
                    a = i % 11,
                    b = 11 + i % 13
                ));
            }
            if i % 10 == 1 {
                r.push_str(&format!(
                    r#", "data": {{"repeat": "ab", "size": {}}}"#,
                    1000 * i
                ));
            }
        }
        r.push('}');
        recs.push(r);
    }
    std::fs::write(
        src_dir.join("images.json"),
        format!("{{\"images\": [\n{}\n]}}", recs.join(",\n")),
    )
    .unwrap();
    let source = Emu::start(&src_dir);
    let url = format!("http://{}", source.addr);
    let copy = |n: &str| {
        let out = work.path().join(format!("snap-{n}"));
        let run = snapshot_as_admin(
            &url,
            &out,
            &["--with-data", "--page-size", "50", "--connections", n],
        );
        let err = String::from_utf8_lossy(&run.stderr).to_string();
        assert!(
            run.status.success(),
            "snapshot --connections {n} failed: {err}"
        );
        let summary = err
            .lines()
            .rfind(|l| l.contains(" images ("))
            .unwrap()
            .split(" images/s")
            .next()
            .unwrap()
            .rsplit_once(", ")
            .unwrap()
            .0
            .to_string();
        (out, summary)
    };
    let (one, sum1) = copy("1");
    let (eight, sum8) = copy("8");
    // 320 images, 46 deleted; 2 members for each of the 91 others with i % 3 == 0; every
    // active image has a data file (an empty one without "data").
    assert_eq!(
        sum1,
        "glance-emu snapshot: 320 images (46 deleted), 182 members, 274 data files (4.1 MB)"
    );
    assert_eq!(sum1, sum8);
    let a = std::fs::read(one.join("images.json")).unwrap();
    let b = std::fs::read(eight.join("images.json")).unwrap();
    assert!(a == b, "images.json differs between 1 and 8 connections");
    let mut names: Vec<_> = std::fs::read_dir(one.join("data"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 274);
    for name in names {
        let x = std::fs::read(one.join("data").join(&name)).unwrap();
        let y = std::fs::read(eight.join("data").join(&name)).unwrap();
        assert!(x == y, "data/{name:?} differs");
    }
}

/// `--connections` outside 1 to 64 is one line and exit status 1, before anything is read
/// or written.
#[test]
fn connections_out_of_range_are_one_line() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    for n in ["0", "65"] {
        let o = snapshot(&[
            "--from",
            "http://127.0.0.1:9",
            "--out",
            out.to_str().unwrap(),
            "--connections",
            n,
        ]);
        assert_eq!(o.status.code(), Some(1));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err,
            format!("glance-emu snapshot: --connections: expected 1 to 64, got {n}\n")
        );
        assert!(!out.exists(), "nothing written");
    }
}

/// `POST path` with a JSON body; the status line.
fn post(addr: &str, path: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.lines().next().unwrap_or("").to_string()
}

/// Two images whose members requests fail (a 500, then a 503 next in the list, which comes
/// back sooner): with 8 connections the snapshot reports the first in list order, as with
/// one, and leaves nothing behind.
#[test]
fn the_first_error_in_list_order_is_reported_over_eight_connections() {
    let work = tempfile::tempdir().unwrap();
    let src_dir = work.path().join("src");
    std::fs::create_dir(&src_dir).unwrap();
    let recs: Vec<String> = (0..200u32)
        .map(|i| {
            format!(
                r#"{{"id": "44444444-0000-4000-8000-{i:012}", "name": "n{i}",
  "created_at": "2022-01-01T00:00:00.{i:06}"}}"#
            )
        })
        .collect();
    std::fs::write(
        src_dir.join("images.json"),
        format!("{{\"images\": [\n{}\n]}}", recs.join(",\n")),
    )
    .unwrap();
    let source = Emu::start_with(&src_dir, &["--control"]);
    // The list is newest first: image 150 comes right before image 149, whose 503 comes
    // back first (the 500 is held 300 ms). (The snapshot sends the id percent-encoded, '-'
    // as %2D: the rule matches its end.)
    for (i, status, delay) in [(150, 500, 300), (149, 503, 0)] {
        let rule = format!(
            r#"{{"method": "GET", "path": "/v1/images/*{i:012}/members",
  "action": "status", "status": {status}, "delay_ms": {delay}}}"#
        );
        let line = post(&source.addr, "/_emu/faults", &rule);
        assert!(line.starts_with("HTTP/1.1 201"), "{line}");
    }
    let url = format!("http://{}", source.addr);
    let mut lines = Vec::new();
    for n in ["1", "8"] {
        let out = work.path().join(format!("out-{n}"));
        let o = snapshot_as_admin(&url, &out, &["--connections", n]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(1), "{err}");
        let last = err.lines().last().unwrap_or("").to_string();
        assert!(
            last.contains("%2D000000000150/members: answered 500"),
            "--connections {n}: {last}"
        );
        assert!(!out.join("images.json").exists(), "nothing left to serve");
        lines.push(last);
    }
    assert_eq!(lines[0], lines[1]);
}
