//! The request journal: what reached the emulator and what it answered, in a ring bounded
//! both in entries (`cap`; 0 records nothing) and in bytes (`budget`): the oldest entries are
//! dropped to make room, and an entry's long header values and path are cut (the entry says
//! `"truncated": true`), so a flood of large requests holds a bounded amount of memory.
//! Entries are shared (`Arc`), so reading the journal back copies pointers, not entries.
//! Credentials are never stored: token and authorisation header values are replaced by
//! `<redacted>`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use serde::{Deserialize, Serialize};

use crate::control::faults::glob_match;

/// Default number of entries kept.
pub const DEFAULT_CAP: usize = 1000;

/// Default byte budget (`--journal-bytes`).
pub const DEFAULT_BUDGET: usize = crate::app::DEFAULT_JOURNAL_BYTES;

/// Longest header value kept whole in an entry; longer ones are cut here.
pub const MAX_VALUE: usize = 1024;

/// Longest path or query kept whole in an entry.
pub const MAX_PATH: usize = 4096;

/// What an entry costs beyond its strings (the struct, the `Arc`, the header vector).
const ENTRY_OVERHEAD: usize = 256;

/// Header names whose values are never journaled.
const SECRET_HEADERS: &[&str] = &[
    "x-auth-token",
    "x-subject-token",
    "x-service-token",
    "x-storage-token",
    "x-emu-token",
    "authorization",
    "proxy-authorization",
    "cookie",
];

/// What replaces a secret header value.
pub const REDACTED: &str = "<redacted>";

/// One request and its outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// 1-based, in the order outcomes were recorded; never reused (also not after a clear).
    pub seq: u64,
    /// When the request arrived, by the emulator's clock (Glance's format, UTC).
    pub time: String,
    /// Request method.
    pub method: String,
    /// Request path as sent (percent-encoding kept), without the query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Request headers in arrival order, names lower-cased, secrets redacted.
    pub headers: Vec<(String, String)>,
    /// Client address, when known.
    pub peer: Option<String>,
    /// The caller's tenant under the current `--auth` mode (null for noauth or 401).
    pub tenant: Option<String>,
    /// Response status; null when no response was sent (connection reset, or the client
    /// went away first).
    pub status: Option<u16>,
    /// Id of the fault rule that fired, if any.
    pub fault: Option<String>,
    /// Its action (`delay`, `status`, `reset`, ...).
    pub action: Option<String>,
    /// Milliseconds (host time) until the response head was ready.
    pub elapsed_ms: f64,
    /// Some header value, the path or the query was longer than the journal keeps and was
    /// cut (only present when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl JournalEntry {
    /// Cuts long strings (at a character boundary) and marks the entry if it did.
    fn trim(&mut self) {
        fn cut(s: &mut String, max: usize) -> bool {
            if s.len() <= max {
                return false;
            }
            let mut at = max;
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.truncate(at);
            true
        }
        let mut t = cut(&mut self.path, MAX_PATH);
        if let Some(q) = &mut self.query {
            t |= cut(q, MAX_PATH);
        }
        for (n, v) in &mut self.headers {
            t |= cut(n, MAX_VALUE);
            t |= cut(v, MAX_VALUE);
        }
        self.truncated |= t;
    }

    /// Bytes this entry holds (an estimate that errs high).
    fn cost(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        ENTRY_OVERHEAD
            + self.time.len()
            + self.method.len()
            + self.path.len()
            + opt(&self.query)
            + opt(&self.peer)
            + opt(&self.tenant)
            + opt(&self.fault)
            + opt(&self.action)
            + self
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 48)
                .sum::<usize>()
    }

    /// The value of a request header (by lower-case name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A journal query; every given criterion must match.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalFilter {
    /// Method, case-insensitive.
    pub method: Option<String>,
    /// Path glob (`*` matches any run of characters, `/` included).
    pub path: Option<String>,
    /// Exact status, or a class such as `5xx`.
    pub status: Option<String>,
    /// Caller tenant.
    pub tenant: Option<String>,
    /// Only entries whose fault field is this rule id (`*` for any fault).
    pub fault: Option<String>,
    /// Only entries with `seq` greater than this.
    pub since: Option<u64>,
    /// At most this many (the newest ones), still oldest first.
    pub limit: Option<usize>,
}

impl JournalFilter {
    /// Parses `?method=GET&path=/v1/*&status=4xx&since=10&limit=5`.
    pub fn from_query(query: Option<&str>) -> Result<Self, String> {
        let mut f = JournalFilter::default();
        for (k, v) in crate::app::query_params(query) {
            match k.as_str() {
                "method" => f.method = Some(v),
                "path" => f.path = Some(v),
                "status" => f.status = Some(v),
                "tenant" => f.tenant = Some(v),
                "fault" => f.fault = Some(v),
                "since" => {
                    f.since = Some(v.parse().map_err(|_| format!("since: not a number: {v}"))?)
                }
                "limit" => {
                    f.limit = Some(v.parse().map_err(|_| format!("limit: not a number: {v}"))?)
                }
                other => return Err(format!("unknown journal filter '{other}'")),
            }
        }
        if let Some(s) = &f.status {
            if !status_filter_ok(s) {
                return Err(format!(
                    "status: expected a code such as 404 or a class such as 5xx, got '{s}'"
                ));
            }
        }
        Ok(f)
    }

    fn matches(&self, e: &JournalEntry) -> bool {
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(&e.method) {
                return false;
            }
        }
        if let Some(p) = &self.path {
            if !glob_match(p, &e.path) {
                return false;
            }
        }
        if let Some(s) = &self.status {
            let Some(code) = e.status else { return false };
            if !status_matches(s, code) {
                return false;
            }
        }
        if let Some(t) = &self.tenant {
            if e.tenant.as_deref() != Some(t.as_str()) {
                return false;
            }
        }
        if let Some(f) = &self.fault {
            match &e.fault {
                Some(id) if f == "*" || f == id => {}
                _ => return false,
            }
        }
        if let Some(since) = self.since {
            if e.seq <= since {
                return false;
            }
        }
        true
    }
}

fn status_filter_ok(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 3
        && (b'1'..=b'5').contains(&b[0])
        && (s[1..].eq_ignore_ascii_case("xx") || s.parse::<u16>().is_ok())
}

fn status_matches(filter: &str, code: u16) -> bool {
    if filter[1..].eq_ignore_ascii_case("xx") {
        return u16::from(filter.as_bytes()[0] - b'0') == code / 100;
    }
    filter.parse::<u16>().ok() == Some(code)
}

/// A page of the journal, as `GET /_emu/journal` answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalPage {
    /// Maximum entries kept.
    pub cap: usize,
    /// Entries recorded since start (dropped and cleared ones included).
    pub recorded: u64,
    /// Entries dropped because the cap or the byte budget was reached.
    pub dropped: u64,
    /// Matching entries, oldest first.
    pub entries: Vec<JournalEntry>,
}

/// The same page with the entries shared, not copied: what the HTTP answer is serialised
/// from (the same JSON as [`JournalPage`]).
#[derive(Debug, Clone, Serialize)]
pub struct SharedPage {
    /// Maximum entries kept.
    pub cap: usize,
    /// Entries recorded since start.
    pub recorded: u64,
    /// Entries dropped because the cap or the byte budget was reached.
    pub dropped: u64,
    /// Matching entries, oldest first.
    pub entries: Vec<Arc<JournalEntry>>,
}

#[derive(Debug, Default)]
struct Ring {
    entries: VecDeque<(Arc<JournalEntry>, usize)>,
    next_seq: u64,
    dropped: u64,
    bytes: usize,
}

impl Ring {
    fn pop_oldest(&mut self) {
        if let Some((_, cost)) = self.entries.pop_front() {
            self.bytes -= cost;
            self.dropped += 1;
        }
    }
}

/// The bounded journal.
#[derive(Debug)]
pub struct Journal {
    cap: AtomicUsize,
    budget: AtomicUsize,
    ring: Mutex<Ring>,
}

impl Default for Journal {
    fn default() -> Self {
        Journal::new(DEFAULT_CAP)
    }
}

impl Journal {
    /// A journal keeping at most `cap` entries (0: records nothing) within the default byte
    /// budget.
    pub fn new(cap: usize) -> Self {
        Journal::with_budget(cap, DEFAULT_BUDGET)
    }

    /// A journal keeping at most `cap` entries and about `budget` bytes.
    pub fn with_budget(cap: usize, budget: usize) -> Self {
        Journal {
            cap: AtomicUsize::new(cap),
            budget: AtomicUsize::new(budget),
            ring: Mutex::new(Ring {
                next_seq: 1,
                ..Ring::default()
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether requests are being recorded.
    pub fn enabled(&self) -> bool {
        self.cap.load(Ordering::Relaxed) > 0
    }

    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap.load(Ordering::Relaxed)
    }

    /// Changes the cap, dropping the oldest entries beyond it.
    pub fn set_cap(&self, cap: usize) {
        let mut r = self.lock();
        self.cap.store(cap, Ordering::Relaxed);
        while r.entries.len() > cap {
            r.pop_oldest();
        }
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.budget.load(Ordering::Relaxed)
    }

    /// Bytes the kept entries hold (by the journal's estimate).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Appends an entry (its `seq` is assigned here), cutting long values and dropping the
    /// oldest entries beyond the cap or the byte budget. An entry larger than the whole
    /// budget is counted as dropped.
    pub fn record(&self, mut e: JournalEntry) {
        let cap = self.cap();
        if cap == 0 {
            return;
        }
        e.trim();
        let cost = e.cost();
        let budget = self.budget();
        let mut r = self.lock();
        e.seq = r.next_seq;
        r.next_seq += 1;
        if cost > budget {
            r.dropped += 1;
            return;
        }
        while !r.entries.is_empty() && (r.entries.len() >= cap || r.bytes + cost > budget) {
            r.pop_oldest();
        }
        r.bytes += cost;
        r.entries.push_back((Arc::new(e), cost));
    }

    /// Removes every entry (sequence numbers keep counting).
    pub fn clear(&self) {
        let mut r = self.lock();
        r.entries.clear();
        r.bytes = 0;
    }

    /// The entries matching `f`, shared with the journal (no entry is copied).
    pub fn query_shared(&self, f: &JournalFilter) -> SharedPage {
        let r = self.lock();
        let mut entries: Vec<Arc<JournalEntry>> = r
            .entries
            .iter()
            .filter(|(e, _)| f.matches(e))
            .map(|(e, _)| Arc::clone(e))
            .collect();
        if let Some(limit) = f.limit {
            let skip = entries.len().saturating_sub(limit);
            entries.drain(..skip);
        }
        SharedPage {
            cap: self.cap(),
            recorded: r.next_seq - 1,
            dropped: r.dropped,
            entries,
        }
    }

    /// The entries matching `f`, as owned values.
    pub fn query(&self, f: &JournalFilter) -> JournalPage {
        let p = self.query_shared(f);
        JournalPage {
            cap: p.cap,
            recorded: p.recorded,
            dropped: p.dropped,
            entries: p.entries.iter().map(|e| (**e).clone()).collect(),
        }
    }
}

/// Request headers as journaled: lower-case names, values lossily decoded, secrets
/// redacted.
pub fn redacted_headers(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, v)| {
            let name = n.as_str();
            let value = if SECRET_HEADERS.contains(&name) {
                REDACTED.to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (name.to_string(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, status: u16) -> JournalEntry {
        JournalEntry {
            seq: 0,
            time: String::new(),
            method: "GET".into(),
            path: path.into(),
            query: None,
            headers: Vec::new(),
            peer: None,
            tenant: None,
            status: Some(status),
            fault: None,
            action: None,
            elapsed_ms: 0.0,
            truncated: false,
        }
    }

    // Rule: The journal keeps within its byte budget by dropping the oldest entries, and cuts long values (marked truncated).
    #[test]
    fn budget_drops_oldest_and_long_values_are_cut() {
        let j = Journal::with_budget(1000, 20_000);
        for i in 0..100 {
            let mut e = entry(&format!("/{i}"), 200);
            e.headers.push(("x-big".into(), "é".repeat(5000)));
            j.record(e);
        }
        let p = j.query(&JournalFilter::default());
        assert!(j.bytes() <= 20_000, "{}", j.bytes());
        assert!(p.entries.len() < 100 && !p.entries.is_empty());
        assert_eq!(p.dropped as usize + p.entries.len(), 100);
        let last = p.entries.last().unwrap();
        assert_eq!(last.path, "/99");
        assert!(last.truncated);
        assert!(last.headers[0].1.len() <= MAX_VALUE);
        let small = entry("/small", 200);
        assert!(!serde_json::to_string(&small).unwrap().contains("truncated"));
        // Larger than the whole budget: counted, not kept.
        let j = Journal::with_budget(10, 100);
        j.record(entry("/x", 200));
        assert_eq!(j.query(&JournalFilter::default()).dropped, 1);
        assert_eq!(j.bytes(), 0);
    }

    // Rule: The journal keeps at most its cap of entries, dropping the oldest.
    #[test]
    fn cap_drops_oldest() {
        let j = Journal::new(2);
        for i in 0..5 {
            j.record(entry(&format!("/{i}"), 200));
        }
        let p = j.query(&JournalFilter::default());
        assert_eq!(p.recorded, 5);
        assert_eq!(p.dropped, 3);
        let paths: Vec<_> = p.entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/3", "/4"]);
        assert_eq!(p.entries[1].seq, 5);
        j.set_cap(1);
        assert_eq!(j.query(&JournalFilter::default()).entries.len(), 1);
        j.set_cap(0);
        j.record(entry("/x", 200));
        assert!(j.query(&JournalFilter::default()).entries.is_empty());
    }

    // Rule: Journal filters select by method, path glob, status class, since and limit.
    #[test]
    fn filters() {
        let j = Journal::new(10);
        j.record(entry("/v1/images/a", 200));
        j.record(entry("/v1/images/b", 404));
        j.record(entry("/versions", 503));
        let q = |s: &str| {
            j.query(&JournalFilter::from_query(Some(s)).unwrap())
                .entries
        };
        assert_eq!(q("status=4xx").len(), 1);
        assert_eq!(q("status=503")[0].path, "/versions");
        assert_eq!(q("path=/v1/*").len(), 2);
        assert_eq!(q("since=2").len(), 1);
        assert_eq!(q("limit=1")[0].seq, 3);
        assert_eq!(q("method=get").len(), 3);
        assert!(JournalFilter::from_query(Some("status=abc")).is_err());
        assert!(JournalFilter::from_query(Some("colour=red")).is_err());
    }

    // Rule: Token headers are redacted in journal entries; other headers are kept.
    #[test]
    fn tokens_are_redacted() {
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", "secret".parse().unwrap());
        h.insert("accept", "*/*".parse().unwrap());
        let r = redacted_headers(&h);
        assert!(r.contains(&("x-auth-token".into(), REDACTED.into())));
        assert!(r.contains(&("accept".into(), "*/*".into())));
    }
}
