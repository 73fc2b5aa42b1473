//! `glance-emu snapshot`: copies a live Glance v1 into fixture files. Pages through
//! `/v1/images/detail` (every image, deleted and killed ones included), asks each image's
//! members, optionally downloads the bytes, writes `OUT/images.json` (and `OUT/data/<id>`),
//! then loads the result with the fixture loader to prove that it serves.
//!
//! The HTTP client is hyper's own (keep-alive HTTP/1.1 connections, each reopened when the
//! server closes it); plain `http://` only. Each detail page's members requests and downloads
//! are spread over `--connections` connections (one task each, taking the page's records in
//! order from a shared counter); the results are put back in record order before anything
//! is written, so the file, the warnings and the first error do not depend on N.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use serde_json::{Map, Value};

use crate::cli::SnapshotArgs;

/// Every field of a v1 detail record the fixture format takes, in the order written.
const FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "size",
    "virtual_size",
    "checksum",
    "disk_format",
    "container_format",
    "min_disk",
    "min_ram",
    "owner",
    "is_public",
    "protected",
    "deleted",
    "deleted_at",
    "created_at",
    "updated_at",
    "properties",
];

/// `changes-since` early enough for every image: with it Glance lists deleted and killed
/// images too (without it, neither).
const SINCE: &str = "1970-01-01T00:00:00";

/// Runs the subcommand; one line on stderr and a non-zero status on failure.
pub(crate) fn main(args: SnapshotArgs) -> ExitCode {
    // As many worker threads as connections, up to the cores: the members' JSON and the
    // downloads' MD5 and file writes run beside each other.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = (args.connections.clamp(1, 64) as usize).min(cores);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glance-emu snapshot: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("glance-emu snapshot: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Where the source is and what every request carries.
struct Source {
    /// `http://host:port` as given (for messages).
    url: String,
    host: String,
    port: u16,
    /// `Host:` header value.
    authority: String,
    /// `http://host:port`, for messages that name a full path.
    origin: String,
    /// Path before `/v1` (no trailing slash), usually empty.
    prefix: String,
    headers: HeaderMap,
    timeout: Duration,
}

impl Source {
    fn parse(args: &SnapshotArgs) -> Result<Source, String> {
        let from = args.from.trim_end_matches('/');
        let uri: http::Uri = from
            .parse()
            .map_err(|e| format!("--from {from}: not a URL ({e})"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "--from {from}: https is not supported; reach the server over plain http \
                     (e.g. its internal endpoint or a local tunnel)"
                ))
            }
            _ => return Err(format!("--from {from}: expected http://HOST:PORT")),
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("--from {from}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(80);
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if uri.query().is_some() {
            return Err(format!("--from {from}: no query string expected"));
        }
        let mut prefix = uri.path().trim_end_matches('/').to_string();
        if let Some(p) = prefix.strip_suffix("/v1") {
            prefix = p.to_string();
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::USER_AGENT,
            HeaderValue::from_static("glance-emu-snapshot"),
        );
        if let Some(t) = &args.token {
            let v = HeaderValue::from_str(t)
                .map_err(|_| "--token: not a valid header value".to_string())?;
            headers.insert(HeaderName::from_static("x-auth-token"), v);
        }
        for h in &args.headers {
            let (n, v) = h
                .split_once(':')
                .ok_or_else(|| format!("--header '{h}': expected 'NAME: VALUE'"))?;
            let name = HeaderName::from_bytes(n.trim().as_bytes())
                .map_err(|_| format!("--header '{h}': bad header name"))?;
            let value = HeaderValue::from_str(v.trim())
                .map_err(|_| format!("--header '{h}': bad header value"))?;
            headers.append(name, value);
        }
        if !(1..=3600).contains(&args.timeout) {
            return Err(format!(
                "--timeout: expected 1 to 3600, got {}",
                args.timeout
            ));
        }
        Ok(Source {
            url: from.to_string(),
            origin: format!("http://{authority}"),
            host,
            port,
            authority,
            prefix,
            headers,
            timeout: Duration::from_secs(args.timeout),
        })
    }
}

/// One keep-alive connection to the source, opened on first use and again after the server
/// closed it.
struct Client {
    src: Arc<Source>,
    conn: Option<SendRequest<Empty<Bytes>>>,
}

impl Client {
    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, String> {
        let s = &*self.src;
        let tcp = tokio::time::timeout(
            s.timeout,
            tokio::net::TcpStream::connect((s.host.as_str(), s.port)),
        )
        .await
        .map_err(|_| {
            format!(
                "cannot reach {}: no connection after {:?}",
                s.url, s.timeout
            )
        })?
        .map_err(|e| format!("cannot reach {}: {e}", s.url))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("cannot talk HTTP to {}: {e}", s.url))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Sends `method path` (path relative to the prefix); the answer's head, the body still
    /// to read. A kept-alive connection the server had closed is reopened once.
    async fn send(&mut self, method: Method, path: &str) -> Result<Response<Incoming>, String> {
        let src = Arc::clone(&self.src);
        let s = &*src;
        let full = format!("{}{path}", s.prefix);
        for attempt in 0..2 {
            let mut sender = match self.conn.take() {
                Some(c) if !c.is_closed() => c,
                _ => self.connect().await?,
            };
            let mut req = Request::builder()
                .method(method.clone())
                .uri(&full)
                .body(Empty::<Bytes>::new())
                .map_err(|e| format!("{full}: {e}"))?;
            *req.headers_mut() = s.headers.clone();
            if let Ok(v) = HeaderValue::from_str(&s.authority) {
                req.headers_mut().insert(http::header::HOST, v);
            }
            let ready = tokio::time::timeout(s.timeout, sender.ready()).await;
            if !matches!(ready, Ok(Ok(()))) {
                if attempt == 0 {
                    continue;
                }
                return Err(format!("{} {full}: the connection closed", s.url));
            }
            match tokio::time::timeout(s.timeout, sender.send_request(req)).await {
                Err(_) => return Err(format!("{} {full}: no answer after {:?}", s.url, s.timeout)),
                Ok(Ok(resp)) => {
                    self.conn = Some(sender);
                    return Ok(resp);
                }
                // A reused connection the server closed before our request: once more on a
                // fresh one.
                Ok(Err(e)) if attempt == 0 && (e.is_canceled() || e_is_closed(&e)) => continue,
                Ok(Err(e)) => return Err(format!("{} {full}: {e}", s.url)),
            }
        }
        Err(format!("{} {full}: the connection closed", s.url))
    }

    /// The whole body (a JSON answer, an error page).
    async fn body(&self, resp: Response<Incoming>) -> Result<Bytes, String> {
        let t = self.src.timeout;
        match tokio::time::timeout(t, resp.into_body().collect()).await {
            Ok(Ok(c)) => Ok(c.to_bytes()),
            Ok(Err(e)) => Err(format!("{}: reading an answer: {e}", self.src.url)),
            Err(_) => Err(format!("{}: an answer stalled for {t:?}", self.src.url)),
        }
    }
}

fn e_is_closed(e: &hyper::Error) -> bool {
    e.is_closed() || e.is_incomplete_message()
}

/// What was copied so far (for progress lines and the summary).
#[derive(Default)]
struct Counts {
    images: u64,
    deleted: u64,
    members: u64,
    data_files: u64,
    data_bytes: u64,
    warnings: u64,
    /// Unknown detail fields already warned about (once each).
    unknown_fields: std::collections::BTreeSet<String>,
}

async fn run(args: SnapshotArgs) -> Result<(), String> {
    let src = Source::parse(&args)?;
    if !(1..=1000).contains(&args.page_size) {
        return Err(format!(
            "--page-size: expected 1 to 1000, got {}",
            args.page_size
        ));
    }
    if !(1..=64).contains(&args.connections) {
        return Err(format!(
            "--connections: expected 1 to 64, got {}",
            args.connections
        ));
    }
    prepare_out(&args.out, args.with_data)?;
    let result = copy_all(Arc::new(src), &args).await;
    if result.is_err() {
        // Nothing half-copied stays behind to be served by mistake (the directory was
        // empty or absent before).
        let _ = std::fs::remove_file(args.out.join("images.json"));
        let _ = std::fs::remove_dir_all(args.out.join("data"));
    }
    result
}

async fn copy_all(src: Arc<Source>, args: &SnapshotArgs) -> Result<(), String> {
    let out = args.out.clone();
    let mut clients: Vec<Client> = (0..args.connections)
        .map(|_| Client {
            src: Arc::clone(&src),
            conn: None,
        })
        .collect();
    eprintln!(
        "glance-emu snapshot: reading {} into {}",
        src.url,
        out.display()
    );
    let file_path = out.join("images.json");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&file_path)
            .map_err(|e| format!("cannot create {}: {e}", file_path.display()))?,
    );
    let werr = |e: std::io::Error| format!("cannot write {}: {e}", file_path.display());
    file.write_all(b"{\"images\": [").map_err(werr)?;
    let start = Instant::now();
    let mut last_line = Instant::now();
    let mut counts = Counts::default();
    let mut seen = std::collections::HashSet::new();
    let mut marker: Option<String> = None;
    loop {
        let page = detail_page(&mut clients[0], args.page_size, marker.as_deref()).await?;
        let mut fresh = 0usize;
        // In record order, before any request: the records as written (fields ordered,
        // unknown ones warned about once each), and what each one needs from the server.
        let mut records: Vec<(Map<String, Value>, Option<usize>)> = Vec::new();
        let mut jobs: Vec<Job> = Vec::new();
        let mut stop: Option<String> = None;
        for rec in page {
            let Some(id) = rec.get("id").and_then(Value::as_str).map(str::to_string) else {
                // Reported after the records before it, as when they were copied one by one.
                stop = Some(format!(
                    "{}: an image without an id in the detail list",
                    src.url
                ));
                break;
            };
            marker = Some(id.clone());
            if !seen.insert(id.clone()) {
                continue;
            }
            fresh += 1;
            let (record, job) = prepare(args, rec, id, &mut counts);
            let slot = job.map(|j| {
                jobs.push(j);
                jobs.len() - 1
            });
            records.push((record, slot));
        }
        let mut fetched = fetch_all(&mut clients, jobs, &out).await;
        for (mut record, slot) in records {
            if let Some(slot) = slot {
                match fetched.get_mut(slot).and_then(Option::take) {
                    Some(Ok(f)) => f.merge_into(&mut record, &mut counts),
                    Some(Err(e)) => return Err(e),
                    None => return Err("internal error: an image was not fetched".into()),
                }
            }
            let sep = if counts.images == 0 { "\n" } else { ",\n" };
            file.write_all(sep.as_bytes()).map_err(werr)?;
            serde_json::to_writer(&mut file, &record)
                .map_err(|e| format!("cannot write {}: {e}", file_path.display()))?;
            counts.images += 1;
        }
        if let Some(e) = stop {
            return Err(e);
        }
        if fresh == 0 {
            break;
        }
        if last_line.elapsed() >= Duration::from_secs(1) {
            progress(&counts, start);
            last_line = Instant::now();
        }
    }
    file.write_all(b"\n]}\n").map_err(werr)?;
    let file = file.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    drop(file);
    progress(&counts, start);
    verify(&file_path)?;
    eprintln!(
        "glance-emu snapshot: done: {} images in {} ({} warnings); serve it with \
         glance-emu --data {}",
        counts.images,
        file_path.display(),
        counts.warnings,
        out.display()
    );
    Ok(())
}

fn progress(c: &Counts, start: Instant) {
    let secs = start.elapsed().as_secs_f64().max(1e-3);
    eprintln!(
        "glance-emu snapshot: {} images ({} deleted), {} members, {} data files ({:.1} MB), \
         {:.0} images/s",
        c.images,
        c.deleted,
        c.members,
        c.data_files,
        c.data_bytes as f64 / 1e6,
        c.images as f64 / secs
    );
}

/// `--out` must be absent or empty: a snapshot never mixes with other fixture files.
fn prepare_out(out: &Path, with_data: bool) -> Result<(), String> {
    if out.exists() {
        if !out.is_dir() {
            return Err(format!("--out {}: not a directory", out.display()));
        }
        let mut entries =
            std::fs::read_dir(out).map_err(|e| format!("--out {}: {e}", out.display()))?;
        if entries.next().is_some() {
            return Err(format!(
                "--out {}: not empty (a snapshot is written into a new or empty directory)",
                out.display()
            ));
        }
    }
    let dir = if with_data {
        out.join("data")
    } else {
        out.to_path_buf()
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// One page of `/v1/images/detail` for an admin: every visibility, deleted and killed images
/// too. Anything but a JSON image list is "not a Glance v1 server" (or a refusal).
async fn detail_page(
    client: &mut Client,
    limit: u32,
    marker: Option<&str>,
) -> Result<Vec<Map<String, Value>>, String> {
    let mut path = format!("/v1/images/detail?is_public=None&changes-since={SINCE}&limit={limit}");
    if let Some(m) = marker {
        path.push_str("&marker=");
        path.extend(percent_encoding::utf8_percent_encode(
            m,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    let resp = client.send(Method::GET, &path).await?;
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let body = client.body(resp).await?;
    let what = format!("GET {}{}{path}", client.src.origin, client.src.prefix);
    match status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            return Err(format!(
                "{what} answered {status}: not allowed (give --token or identity headers with \
                 --header, as an admin)"
            ))
        }
        s => {
            return Err(format!(
                "not a Glance v1 server: {what} answered {s}{}",
                excerpt(&body)
            ))
        }
    }
    let not_v1 = |why: &str| format!("not a Glance v1 server: {what} answered {why}");
    if !ctype.starts_with("application/json") {
        return Err(not_v1(&format!(
            "200 with Content-Type '{ctype}'{}",
            excerpt(&body)
        )));
    }
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| not_v1(&format!("JSON that does not parse ({e})")))?;
    let Some(Value::Array(images)) = doc.get("images") else {
        return Err(not_v1("JSON without an \"images\" list"));
    };
    images
        .iter()
        .map(|v| match v {
            // What only a v1 detail record has (a v2 or Nova-style list lacks these).
            Value::Object(m)
                if ["id", "is_public", "deleted", "properties"]
                    .iter()
                    .all(|k| m.contains_key(*k)) =>
            {
                Ok(m.clone())
            }
            _ => Err(not_v1(
                "an \"images\" list whose entries are not v1 detail records (id, is_public, \
                 deleted, properties)",
            )),
        })
        .collect()
}

/// ` ("<first line of the body>")`, for messages about a wrong server.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .split(['\n', '\r'])
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    if line.is_empty() {
        String::new()
    } else {
        format!(" ({line:?})")
    }
}

/// What one record needs from the server: its members (every image that is not deleted)
/// and, with `--with-data`, its bytes (active images).
struct Job {
    id: String,
    /// `Some(the record's checksum)` when the bytes are to be downloaded.
    download: Option<Option<String>>,
}

/// What the server gave for one [`Job`], merged into its record in record order.
#[derive(Default)]
struct Fetched {
    members: Vec<Value>,
    /// `data/<id>` when the bytes were written.
    data: Option<String>,
    /// Warning lines (without the `glance-emu snapshot: warning: ` prefix).
    warnings: Vec<String>,
    data_bytes: u64,
}

impl Fetched {
    fn merge_into(self, record: &mut Map<String, Value>, counts: &mut Counts) {
        counts.members += self.members.len() as u64;
        if !self.members.is_empty() {
            record.insert("members".into(), Value::Array(self.members));
        }
        for w in &self.warnings {
            counts.warnings += 1;
            eprintln!("glance-emu snapshot: warning: {w}");
        }
        if let Some(rel) = self.data {
            counts.data_files += 1;
            counts.data_bytes += self.data_bytes;
            record.insert("data".into(), serde_json::json!({ "file": rel }));
        }
    }
}

/// One detail record as a fixture record (members and bytes still to fetch): the fields in
/// the fixture's order, a warning for each field never seen before, and the [`Job`] that the
/// record needs (none for a deleted image).
fn prepare(
    args: &SnapshotArgs,
    mut rec: Map<String, Value>,
    id: String,
    counts: &mut Counts,
) -> (Map<String, Value>, Option<Job>) {
    let mut record = Map::new();
    for f in FIELDS {
        if let Some(v) = rec.remove(*f) {
            record.insert((*f).to_string(), v);
        }
    }
    for k in rec.keys() {
        if counts.unknown_fields.insert(k.clone()) {
            counts.warnings += 1;
            eprintln!(
                "glance-emu snapshot: warning: field '{k}' (first seen on image {id}) is not a \
                 v1 field; left out of every record"
            );
        }
    }
    let deleted = record.get("deleted").and_then(Value::as_bool) == Some(true);
    if deleted {
        counts.deleted += 1;
        return (record, None);
    }
    let active = record.get("status").and_then(Value::as_str) == Some("active");
    let download = (args.with_data && active).then(|| {
        record
            .get("checksum")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    (record, Some(Job { id, download }))
}

/// Runs a page's jobs over the clients (one task per client, each taking the next job in
/// order); the results by job index. After a failure no job past it is started, and every
/// job before it has run, so the first `Err` in index order is the one a one-at-a-time copy
/// would have met.
async fn fetch_all(
    clients: &mut Vec<Client>,
    jobs: Vec<Job>,
    out: &Path,
) -> Vec<Option<Result<Fetched, String>>> {
    let n = jobs.len();
    let mut results: Vec<Option<Result<Fetched, String>>> = (0..n).map(|_| None).collect();
    if n == 0 {
        return results;
    }
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let first_err = Arc::new(AtomicUsize::new(usize::MAX));
    let mut tasks = tokio::task::JoinSet::new();
    let used = clients.len().min(n);
    let src = Arc::clone(&clients[0].src);
    for mut client in clients.drain(..used) {
        let (jobs, next, first_err) =
            (Arc::clone(&jobs), Arc::clone(&next), Arc::clone(&first_err));
        let out = out.to_path_buf();
        tasks.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs.len() || i > first_err.load(Ordering::Relaxed) {
                    break;
                }
                let r = fetch_one(&mut client, &out, &jobs[i]).await;
                if r.is_err() {
                    first_err.fetch_min(i, Ordering::Relaxed);
                }
                done.push((i, r));
            }
            (client, done)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((client, done)) => {
                clients.push(client);
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
            // A task that panicked: its jobs stay `None` (an error when merged), and a
            // fresh client takes its place.
            Err(_) => clients.push(Client {
                src: Arc::clone(&src),
                conn: None,
            }),
        }
    }
    results
}

/// The members (and bytes) of one image.
async fn fetch_one(client: &mut Client, out: &Path, job: &Job) -> Result<Fetched, String> {
    let mut f = Fetched {
        members: members(client, &job.id).await?,
        ..Fetched::default()
    };
    if let Some(expected) = &job.download {
        f.data = download(client, out, &job.id, expected.as_deref(), &mut f).await?;
    }
    Ok(f)
}

/// `GET /v1/images/<id>/members` as fixture members (404: none).
async fn members(client: &mut Client, id: &str) -> Result<Vec<Value>, String> {
    let path = format!("/v1/images/{}/members", enc(id));
    let resp = client.send(Method::GET, &path).await?;
    let status = resp.status();
    let body = client.body(resp).await?;
    if status == StatusCode::NOT_FOUND {
        return Ok(Vec::new());
    }
    let bad = |why: String| {
        format!(
            "GET {}{}{path}: {why}",
            client.src.origin, client.src.prefix
        )
    };
    if status != StatusCode::OK {
        return Err(bad(format!("answered {status}{}", excerpt(&body))));
    }
    let doc: Value = serde_json::from_slice(&body).map_err(|e| bad(format!("not JSON ({e})")))?;
    let Some(Value::Array(list)) = doc.get("members") else {
        return Err(bad("no \"members\" list".into()));
    };
    list.iter()
        .map(|m| {
            let member_id = m
                .get("member_id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a member without member_id".into()))?;
            let can_share = m.get("can_share").and_then(Value::as_bool).unwrap_or(false);
            Ok(serde_json::json!({ "member_id": member_id, "can_share": can_share }))
        })
        .collect()
}

fn enc(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Streams `GET /v1/images/<id>` into `OUT/data/<id>`; the fixture's relative path, or
/// `None` (with a warning) when the source has no bytes to give.
async fn download(
    client: &mut Client,
    out: &Path,
    id: &str,
    checksum: Option<&str>,
    fetched: &mut Fetched,
) -> Result<Option<String>, String> {
    let path = format!("/v1/images/{}", enc(id));
    let resp = client.send(Method::GET, &path).await?;
    let status = resp.status();
    if status != StatusCode::OK {
        let body = client.body(resp).await?;
        fetched.warnings.push(format!(
            "image {id}: no data (GET answered {status}{})",
            excerpt(&body)
        ));
        return Ok(None);
    }
    let file_name: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let rel = format!("data/{file_name}");
    let dest: PathBuf = out.join(&rel);
    let mut f = std::fs::File::create(&dest)
        .map_err(|e| format!("cannot create {}: {e}", dest.display()))?;
    let mut body = resp.into_body();
    let mut md5 = Md5::new();
    let mut n = 0u64;
    let t = client.src.timeout;
    loop {
        let frame = match tokio::time::timeout(t, body.frame()).await {
            Err(_) => return Err(format!("image {id}: the data stalled for {t:?}")),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(format!("image {id}: reading the data: {e}")),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(chunk) = frame.into_data() {
            md5.update(&chunk);
            n += chunk.len() as u64;
            f.write_all(&chunk)
                .map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
        }
    }
    let got = glance_emu::fixtures::hex(&md5.finalize());
    if let Some(want) = checksum {
        if want != got {
            fetched.warnings.push(format!(
                "image {id}: the data's MD5 is {got}, the record says {want}"
            ));
        }
    }
    fetched.data_bytes = n;
    Ok(Some(rel))
}

/// Loads the written file with the fixture loader: a snapshot that would not serve is an
/// error (the file is renamed `images.json.invalid`).
fn verify(file: &Path) -> Result<(), String> {
    let now = glance_emu::model::Timestamp::now();
    match glance_emu::fixtures::load_paths(&[file.to_path_buf()], now) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("glance-emu snapshot: warning: {w}");
            }
            Ok(())
        }
        Err(e) => {
            let bad = file.with_extension("json.invalid");
            let _ = std::fs::rename(file, &bad);
            Err(format!(
                "the copy does not load as fixtures ({e}); kept as {}",
                bad.display()
            ))
        }
    }
}
