//! The binary as a user meets it: the access log (both request paths, text and JSON, no
//! secrets, no colour into a pipe, RUST_LOG), boolean environment values, host names and
//! IPv6 in --listen, checks before loading, the address file and probe, a second signal,
//! help and version.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use crate::support::announced_addr;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_glance-emu");
const CIRROS: &str = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78";

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("GLANCE_EMU_") {
            c.env_remove(k);
        }
    }
    c
}

/// A started server; killed (by its PID) if a test fails before stopping it. Its stderr is
/// drained by a thread from the start: a server that writes much (progress lines) must never
/// block on a full pipe while the test waits for it.
struct Server(
    Option<Child>,
    Option<std::thread::JoinHandle<String>>,
    std::sync::Arc<std::sync::Mutex<String>>,
);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("running")
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Server {
    /// Everything the process wrote to stderr; call once it has exited.
    fn stderr(&mut self) -> String {
        self.1.take().expect("stderr read once").join().unwrap()
    }

    /// Waits (up to 60 s: a loaded CI machine) until the process has written a stderr line
    /// that `pick` accepts; what it wrote so far when it gives up is in the failure.
    fn wait_for_line(&self, pick: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = self.2.lock().unwrap().clone();
            if seen.lines().any(&pick) {
                return;
            }
            assert!(Instant::now() < deadline, "no such line in:\n{seen}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Starts the binary and returns it with its `host:port` (from the first stdout line).
fn start(mut cmd: Command) -> (Server, String) {
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let shared = seen.clone();
    let drain = std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            shared
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
        let err = shared.lock().unwrap().clone();
        err
    });
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // Keep reading (the server prints more lines with some options).
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let child = Server(Some(child), Some(drain), seen);
    (child, announced_addr(&line))
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

/// SIGTERM, then everything the process wrote to stderr.
fn stop(mut server: Server) -> String {
    let mut child = server.0.take().expect("running");
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
    server.stderr()
}

/// One request on its own connection; the answer's status line.
/// The first line of `err` that `pick` accepts; the test fails showing all of `err` if none.
fn line_where(err: &str, pick: impl Fn(&str) -> bool) -> &str {
    err.lines()
        .find(|l| pick(l))
        .unwrap_or_else(|| panic!("no such line in:\n{err}"))
}

fn request(addr: &str, raw: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    text.lines().next().unwrap_or_default().to_string()
}

/// A plain HEAD (the fast path) and a GET with a query (hyper) each give one line with
/// time, method, path, status, bytes, duration, request id, tenant and peer; the token
/// (header or query) never appears, and a pipe gets no colour.
#[test]
fn access_log_text_covers_both_paths_without_secrets() {
    let (child, addr) = start(command(&["--listen", "127.0.0.1:0"]));
    let head = format!(
        "HEAD /v1/images/{CIRROS} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: tok-SECRET-1\r\n\r\n"
    );
    // keep-alive HEAD then close: the fast path answers it.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK\r\n"));
    drop(s);
    let get = request(
        &addr,
        "GET /v1/images?limit=1&os_auth_token=tok-SECRET-2 HTTP/1.1\r\nHost: x\r\n\
         X-Auth-Token: tok-SECRET-3\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(get, "HTTP/1.1 200 OK");
    let err = stop(child);
    assert!(!err.contains("SECRET"), "{err}");
    assert!(!err.contains('\x1b'), "colour into a pipe: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("glance_emu::access"))
        .collect();
    assert_eq!(lines.len(), 2, "{err}");
    let head_line = lines[0];
    assert!(
        head_line.contains(&format!(
            "  INFO glance_emu::access: HEAD /v1/images/{CIRROS} 200 bytes=0 ms="
        )),
        "{head_line}"
    );
    assert!(head_line.contains(" request_id=req-"), "{head_line}");
    assert!(
        head_line.contains(" tenant=- peer=127.0.0.1:"),
        "{head_line}"
    );
    assert!(
        lines[1].contains("GET /v1/images?limit=1&os_auth_token=<redacted> 200 bytes=201 ms="),
        "{}",
        lines[1]
    );
    // Starts with an RFC 3339 UTC time.
    let time = head_line.split_whitespace().next().unwrap();
    assert!(
        time.len() == 27 && time.ends_with('Z') && &time[10..11] == "T",
        "{time}"
    );
}

/// `--log-format json`: one object per line with the same fields, tenant from the caller.
#[test]
fn access_log_json_has_the_fields_and_the_tenant() {
    let mut cmd = command(&[
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        "--auth",
        "tokens:docs/tokens.example.json",
    ]);
    cmd.env("NO_COLOR", "");
    let (child, addr) = start(cmd);
    let status = request(
        &addr,
        "HEAD /v1/images/5a0f3e1c-9a57-4bd1-8c9e-0a6b2c7d8e01 HTTP/1.1\r\nHost: x\r\n\
         X-Auth-Token: member-a\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    let err = stop(child);
    assert!(!err.contains("member-a"), "{err}");
    let line = line_where(&err, |l| l.contains("\"glance_emu::access\""));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["method"], "HEAD");
    assert_eq!(v["path"], "/v1/images/5a0f3e1c-9a57-4bd1-8c9e-0a6b2c7d8e01");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes"], 0);
    assert_eq!(v["tenant"], "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1");
    assert!(v["duration_ms"].as_f64().is_some(), "{line}");
    assert!(
        v["request_id"].as_str().unwrap().starts_with("req-"),
        "{line}"
    );
    assert!(v["time"].as_str().unwrap().ends_with('Z'), "{line}");
}

/// RUST_LOG=warn silences request lines (the server still answers); a bad RUST_LOG is an
/// error at start.
#[test]
fn rust_log_filters_the_access_log() {
    let mut cmd = command(&["--listen", "127.0.0.1:0"]);
    cmd.env("RUST_LOG", "warn");
    let (child, addr) = start(cmd);
    let head = format!("HEAD /v1/images/{CIRROS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(request(&addr, &head), "HTTP/1.1 200 OK");
    let err = stop(child);
    assert!(!err.contains("glance_emu::access"), "{err}");

    let out = command(&["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "glance_emu=loud")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("RUST_LOG=glance_emu=loud"),
        "{out:?}"
    );
}

/// Boolean options take 1/0, true/false, yes/no, on/off from the environment.
#[test]
fn boolean_environment_values() {
    for (var, value) in [
        ("GLANCE_EMU_GLANCE_COMPAT", "1"),
        ("GLANCE_EMU_GLANCE_COMPAT", "yes"),
        ("GLANCE_EMU_GLANCE_COMPAT", "off"),
        ("GLANCE_EMU_NO_FAST_HEAD", "true"),
        ("GLANCE_EMU_CONTROL", "on"),
        ("GLANCE_EMU_CONTROL", "0"),
    ] {
        let mut cmd = command(&["--listen", "127.0.0.1:0"]);
        cmd.env(var, value);
        let (child, _) = start(cmd);
        stop(child);
    }
    // --glance-compat=1 changes behaviour: no 409 on a size mismatch.
    for (value, want) in [("1", "HTTP/1.1 200 OK"), ("no", "HTTP/1.1 409 Conflict")] {
        let mut cmd = command(&[
            "--listen",
            "127.0.0.1:0",
            "--data",
            "data/extra/size-mismatch.json",
        ]);
        cmd.env("GLANCE_EMU_GLANCE_COMPAT", value);
        let (child, addr) = start(cmd);
        let head = "HEAD /v1/images/40940940-9409-4409-8409-000000000409 HTTP/1.1\r\n\
                    Host: x\r\nConnection: close\r\n\r\n";
        assert_eq!(
            request(&addr, head),
            want,
            "GLANCE_EMU_GLANCE_COMPAT={value}"
        );
        stop(child);
    }
    let out = command(&["--listen", "127.0.0.1:0"])
        .env("GLANCE_EMU_GLANCE_COMPAT", "maybe")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("maybe"),
        "{out:?}"
    );
}

/// `--listen` takes a host name and a bracketed IPv6 address.
#[test]
fn listen_takes_host_names_and_ipv6() {
    let (child, addr) = start(command(&["--listen", "localhost:0"]));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    stop(child);
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let (child, addr) = start(command(&["--listen", "[::1]:0"]));
        assert!(addr.starts_with("[::1]:"), "{addr}");
        assert_eq!(
            request(
                &addr,
                "GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            ),
            "HTTP/1.1 200 OK"
        );
        stop(child);
    }
    let out = command(&["--listen", "localhost"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected ADDR:PORT"),
        "{out:?}"
    );
}

/// Flags and the files they name are checked before any fixture is read: a bad --auth or
/// --policy is reported even when the fixtures are broken too.
#[test]
fn flags_are_checked_before_fixtures_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), "{not json").unwrap();
    let data = dir.path().to_str().unwrap();
    for (args, want) in [
        (vec!["--auth", "tokens:/nonexistent/tokens.json"], "--auth"),
        (vec!["--policy", "/nonexistent/policy.json"], "--policy"),
        (vec!["--freeze-clock", "soon"], "--freeze-clock"),
    ] {
        let mut all = vec!["--listen", "127.0.0.1:0", "--data", data];
        all.extend(args);
        let out = command(&all).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
        assert!(!err.contains("broken.json"), "fixtures read first: {err}");
    }
}

/// Every port is bound before any fixture is read: an address in use is reported at once,
/// even when the fixtures are broken (which would otherwise be the first complaint).
#[test]
fn port_in_use_is_reported_before_fixtures_load() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.json"), "{not json").unwrap();
    let out = command(&["--listen", &addr, "--data", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(!err.contains("broken.json"), "fixtures read first: {err}");
}

/// The server writes the address it bound to --addr-file (port 0 resolved) and removes it
/// on a clean stop; --probe reads it, so the probe follows whatever --listen said.
#[test]
fn addr_file_and_probe_follow_the_bound_address() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("addr");
    let f = file.to_str().unwrap();
    let (child, addr) = start(command(&["--listen", "127.0.0.1:0", "--addr-file", f]));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{addr}\n"));
    // The probe sees only the environment (as a HEALTHCHECK does): default --listen.
    let probe = command(&["--probe"])
        .env("GLANCE_EMU_ADDR_FILE", f)
        .output()
        .unwrap();
    assert!(probe.status.success(), "{probe:?}");
    stop(child);
    assert!(!file.exists());
    let probe = command(&["--probe", "--listen", &addr]).output().unwrap();
    assert!(!probe.status.success(), "nothing listens any more");
}

/// The first SIGINT drains; a second one exits at once (status 130) even while a request
/// is still in flight.
#[test]
fn second_sigint_exits_at_once() {
    let (child, addr) = start(command(&["--listen", "127.0.0.1:0", "--control"]));
    let rule = r#"{"action": "delay", "delay_ms": 20000}"#;
    let post = format!(
        "POST /_emu/faults HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{rule}",
        rule.len()
    );
    assert_eq!(request(&addr, &post), "HTTP/1.1 201 Created");
    // A request that will be delayed for 20 s.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /v1/images HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut child = child;
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "drains after the first"
    );
    let t = Instant::now();
    signal(&child, "-INT");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "still running");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let err = child.stderr();
    assert!(err.contains("Ctrl-C again to exit now"), "{err}");
}

/// --help is wrapped (no line over 100 columns) and grouped under headings; --version.
#[test]
fn help_is_wrapped_with_headings_and_version_prints() {
    let out = command(&["--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for heading in [
        "Serving:",
        "Data:",
        "Callers:",
        "Logging:",
        "Test controls:",
    ] {
        assert!(help.contains(heading), "{heading} missing:\n{help}");
    }
    let longest = help.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest <= 100, "a {longest}-column line:\n{help}");
    let out = command(&["--version"]).output().unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("glance-emu {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// A load that takes a while prints progress lines (files, records, bytes, rate).
#[test]
fn progress_lines_while_fixtures_load() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("[");
    for i in 0..60_000 {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            "{{\"id\": \"00000000-0000-4000-8000-{i:012}\", \"name\": \"n{i}\", \"status\": \"active\"}}"
        ));
    }
    text.push(']');
    std::fs::write(dir.path().join("many.json"), text).unwrap();
    let (child, _) = start(command(&[
        "--listen",
        "127.0.0.1:0",
        "--data",
        dir.path().to_str().unwrap(),
        "--progress-every",
        "0.001",
    ]));
    let err = stop(child);
    let line = line_where(&err, |l| l.starts_with("glance-emu: loading fixtures: "));
    assert!(line.contains(" of 1 files, "), "{line}");
    assert!(
        line.contains(" records, ") && line.ends_with(" records/s"),
        "{line}"
    );
    assert!(line.contains(" MB ("), "{line}");
}

// Rule: The binary builds the default list orders right after it starts answering, then every
// other sort key's, and says so on stderr (no first list of a large catalogue waits for one).
#[test]
fn list_orders_are_built_after_start_and_logged() {
    let (child, addr) = start(command(&["--listen", "127.0.0.1:0"]));
    let list = request(
        &addr,
        "GET /v1/images?limit=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(list, "HTTP/1.1 200 OK");
    // The orders are built in the background; a busy machine may take a while.
    child.wait_for_line(|l| l.contains("every list order ready"));
    let err = stop(child);
    let line = line_where(&err, |l| l.contains("list orders ready"));
    assert!(line.contains(" INFO "), "{line}");
    assert!(line.contains("list orders ready (10 images, "), "{line}");
    // Then every other sort key's order, after the default ones.
    let every = err
        .lines()
        .position(|l| l.contains("every list order ready (10 images, "))
        .unwrap_or_else(|| panic!("no 'every list order ready' line in:\n{err}"));
    let first = err.lines().position(|l| l == line);
    assert!(first < Some(every), "{err}");
}
