//! Fault rules: which requests to break and how. Off by default (no rules); rules are
//! checked in the order they were added and the first one that fires wins.
//!
//! A rule matches on method, path glob and optionally the caller's tenant; it fires on the
//! matching requests after the first `after`, at most `times` times, each with probability
//! `fraction`. Its action is applied after an optional `delay_ms`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::clock::SplitMix;

/// What a fired rule does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Waits `delay_ms`, then answers normally.
    Delay,
    /// Answers `status` (400-599) with Glance's own error page for it (chosen by `Accept`,
    /// as WebOb did), without running the handler.
    Status {
        /// The status code.
        status: u16,
        /// Replaces WebOb's generic explanation in the page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Resets the connection (TCP RST) without answering; the handler does not run.
    Reset,
    /// Sends the real response head, then closes the connection before any body byte.
    CloseAfterHeaders,
    /// A short download: only the first `bytes` of the body (default half) are sent.
    /// By default `Content-Length` announces the short length, so the exchange is valid
    /// HTTP and clients notice through the image checksum; with `keep_length` the original
    /// `Content-Length` is kept and the connection is closed after the short body.
    Truncate {
        /// Bytes to send (default: half the body).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<u64>,
        /// Keep the original `Content-Length` and close the connection early.
        #[serde(default)]
        keep_length: bool,
    },
    /// Sends the body in `chunk_bytes` pieces, `interval_ms` apart.
    SlowBody {
        /// Bytes per piece (default 1024).
        #[serde(default = "default_chunk")]
        chunk_bytes: u64,
        /// Pause between pieces in milliseconds (default 100).
        #[serde(default = "default_interval")]
        interval_ms: u64,
    },
}

fn default_chunk() -> u64 {
    1024
}

fn default_interval() -> u64 {
    100
}

impl Action {
    /// The action's name as written in rules and the journal.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Delay => "delay",
            Action::Status { .. } => "status",
            Action::Reset => "reset",
            Action::CloseAfterHeaders => "close_after_headers",
            Action::Truncate { .. } => "truncate",
            Action::SlowBody { .. } => "slow_body",
        }
    }

    fn fields(&self) -> &'static [&'static str] {
        match self {
            Action::Status { .. } => &["status", "message"],
            Action::Truncate { .. } => &["bytes", "keep_length"],
            Action::SlowBody { .. } => &["chunk_bytes", "interval_ms"],
            _ => &[],
        }
    }
}

/// A fault rule as posted to `/_emu/faults` (flat JSON: matching fields plus `action` and
/// the action's own fields).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Rule id; assigned (`f1`, `f2`, ...) when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Method to match (any when absent), case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path glob (`*` matches any run of characters, `/` included); when it contains `?`
    /// it is matched against `path?query`. Default `*`.
    #[serde(default = "default_path")]
    pub path: String,
    /// Only requests whose caller has this tenant (under the `--auth` mode in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Skip this many matching requests before firing (default 0).
    #[serde(default)]
    pub after: u64,
    /// Fire at most this many times (default: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// Fire on this fraction of matching requests, 0.0 to 1.0 (default 1.0); seeded by
    /// `/_emu/ids` for repeatable runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// Wait this long before acting (default 0).
    #[serde(default)]
    pub delay_ms: u64,
    /// What to do.
    #[serde(flatten)]
    pub action: Action,
}

fn default_path() -> String {
    "*".to_string()
}

const RULE_FIELDS: &[&str] = &[
    "id", "method", "path", "tenant", "after", "times", "fraction", "delay_ms", "action",
];

impl FaultRule {
    /// A rule matching every request (method any, path `*`) with this action.
    pub fn new(action: Action) -> Self {
        FaultRule {
            id: None,
            method: None,
            path: default_path(),
            tenant: None,
            after: 0,
            times: None,
            fraction: None,
            delay_ms: 0,
            action,
        }
    }

    /// Sets the id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Matches only this method.
    pub fn method(mut self, m: impl Into<String>) -> Self {
        self.method = Some(m.into());
        self
    }

    /// Matches only paths matching this glob.
    pub fn path(mut self, p: impl Into<String>) -> Self {
        self.path = p.into();
        self
    }

    /// Matches only this caller tenant.
    pub fn tenant(mut self, t: impl Into<String>) -> Self {
        self.tenant = Some(t.into());
        self
    }

    /// Skips the first `n` matching requests.
    pub fn after(mut self, n: u64) -> Self {
        self.after = n;
        self
    }

    /// Fires at most `n` times.
    pub fn times(mut self, n: u64) -> Self {
        self.times = Some(n);
        self
    }

    /// Fires on this fraction of matching requests.
    pub fn fraction(mut self, f: f64) -> Self {
        self.fraction = Some(f);
        self
    }

    /// Waits before acting.
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = ms;
        self
    }

    /// Parses a posted rule, rejecting unknown fields (a typo must not silently make a rule
    /// that matches everything).
    pub fn from_json(v: serde_json::Value) -> Result<Self, String> {
        let keys: Vec<String> = match &v {
            serde_json::Value::Object(m) => m.keys().cloned().collect(),
            _ => return Err("a fault rule is a JSON object".to_string()),
        };
        let rule: FaultRule = serde_json::from_value(v).map_err(|e| e.to_string())?;
        for k in keys {
            if !RULE_FIELDS.contains(&k.as_str()) && !rule.action.fields().contains(&k.as_str()) {
                return Err(format!(
                    "unknown field '{k}' for action '{}'",
                    rule.action.name()
                ));
            }
        }
        rule.validate()?;
        Ok(rule)
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(f) = self.fraction {
            if !(0.0..=1.0).contains(&f) {
                return Err(format!("fraction must be between 0 and 1, got {f}"));
            }
        }
        if let Some(m) = &self.method {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(format!("method: not an HTTP method: '{m}'"));
            }
        }
        if self.path.is_empty() {
            return Err("path must not be empty (use \"*\" for any)".to_string());
        }
        match &self.action {
            Action::Status { status, .. } if !(400..=599).contains(status) => {
                return Err(format!(
                    "status must be 400-599 (an error Glance could answer), got {status}"
                ));
            }
            Action::SlowBody {
                chunk_bytes,
                interval_ms: _,
            } if *chunk_bytes == 0 => return Err("chunk_bytes must be at least 1".to_string()),
            Action::Delay if self.delay_ms == 0 => {
                return Err("action 'delay' needs delay_ms > 0".to_string())
            }
            _ => {}
        }
        if let Some(id) = &self.id {
            if id.is_empty() || id.contains('/') || id.len() > 100 {
                return Err("id must be 1-100 characters without '/'".to_string());
            }
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str, query: Option<&str>, tenant: Option<&str>) -> bool {
        if let Some(m) = &self.method {
            if !m.eq_ignore_ascii_case(method) {
                return false;
            }
        }
        if let Some(t) = &self.tenant {
            if tenant != Some(t.as_str()) {
                return false;
            }
        }
        if self.path.contains('?') {
            let full = match query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            };
            glob_match(&self.path, &full)
        } else {
            glob_match(&self.path, path)
        }
    }
}

/// A rule with its counters, as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultInfo {
    /// The rule (its `id` always set).
    #[serde(flatten)]
    pub rule: FaultRule,
    /// Requests that matched (method, path, tenant).
    pub matched: u64,
    /// Times it fired.
    pub fired: u64,
}

/// A rule that fired for one request.
#[derive(Debug, Clone)]
pub struct Fired {
    /// Rule id.
    pub id: String,
    /// Delay before acting.
    pub delay_ms: u64,
    /// The action.
    pub action: Action,
}

#[derive(Debug)]
struct Rules {
    rules: Vec<FaultInfo>,
    next_id: u64,
    rng: SplitMix,
}

/// Why a rule was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddRuleError {
    /// The rule itself is invalid (the message says which field).
    #[error("{0}")]
    Invalid(String),
    /// A rule with this id exists.
    #[error("a fault rule with id '{0}' already exists")]
    Duplicate(String),
}

/// The rule set.
#[derive(Debug)]
pub struct Faults {
    /// Fast path: number of rules.
    count: AtomicUsize,
    inner: Mutex<Rules>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            count: AtomicUsize::new(0),
            inner: Mutex::new(Rules {
                rules: Vec::new(),
                next_id: 1,
                rng: SplitMix::random(),
            }),
        }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any rule exists.
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    /// Whether any rule matches on the caller's tenant.
    pub fn needs_tenant(&self) -> bool {
        self.any() && self.lock().rules.iter().any(|r| r.rule.tenant.is_some())
    }

    /// Adds a rule at the end; returns its id.
    pub fn add(&self, mut rule: FaultRule) -> Result<String, AddRuleError> {
        rule.validate().map_err(AddRuleError::Invalid)?;
        let mut g = self.lock();
        let id = match rule.id.clone() {
            Some(id) => {
                if g.rules
                    .iter()
                    .any(|r| r.rule.id.as_deref() == Some(id.as_str()))
                {
                    return Err(AddRuleError::Duplicate(id));
                }
                id
            }
            None => {
                let taken: HashSet<String> =
                    g.rules.iter().filter_map(|r| r.rule.id.clone()).collect();
                loop {
                    let id = format!("f{}", g.next_id);
                    g.next_id += 1;
                    if !taken.contains(&id) {
                        break id;
                    }
                }
            }
        };
        rule.id = Some(id.clone());
        g.rules.push(FaultInfo {
            rule,
            matched: 0,
            fired: 0,
        });
        self.count.store(g.rules.len(), Ordering::Release);
        Ok(id)
    }

    /// Every rule with its counters, in order.
    pub fn list(&self) -> Vec<FaultInfo> {
        self.lock().rules.clone()
    }

    /// One rule.
    pub fn get(&self, id: &str) -> Option<FaultInfo> {
        self.lock()
            .rules
            .iter()
            .find(|r| r.rule.id.as_deref() == Some(id))
            .cloned()
    }

    /// Removes one rule; false when there is none with that id.
    pub fn remove(&self, id: &str) -> bool {
        let mut g = self.lock();
        let before = g.rules.len();
        g.rules.retain(|r| r.rule.id.as_deref() != Some(id));
        self.count.store(g.rules.len(), Ordering::Release);
        g.rules.len() != before
    }

    /// Removes every rule (ids keep counting).
    pub fn clear(&self) {
        let mut g = self.lock();
        g.rules.clear();
        self.count.store(0, Ordering::Release);
    }

    /// Re-seeds the generator behind `fraction`.
    pub fn seed(&self, seed: u64) {
        self.lock().rng = SplitMix::new(seed ^ 0x4641_554C_5400_0000);
    }

    /// The first rule that fires for this request, counters updated.
    pub fn pick(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        tenant: Option<&str>,
    ) -> Option<Fired> {
        if !self.any() {
            return None;
        }
        let mut g = self.lock();
        let Rules { rules, rng, .. } = &mut *g;
        for r in rules.iter_mut() {
            if !r.rule.matches(method, path, query, tenant) {
                continue;
            }
            r.matched += 1;
            if r.matched <= r.rule.after {
                continue;
            }
            if r.rule.times.is_some_and(|t| r.fired >= t) {
                continue;
            }
            if let Some(f) = r.rule.fraction {
                if rng.next_f64() >= f {
                    continue;
                }
            }
            r.fired += 1;
            return Some(Fired {
                id: r.rule.id.clone().unwrap_or_default(),
                delay_ms: r.rule.delay_ms,
                action: r.rule.action.clone(),
            });
        }
        None
    }
}

/// Glob match where `*` matches any run of characters (including `/`) and everything else
/// matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Rule: Fault path globs: `*` matches any run of characters, slashes included; the rest matches exactly.
    #[test]
    fn globs() {
        assert!(glob_match("*", ""));
        assert!(glob_match("/v1/images/*", "/v1/images/abc"));
        assert!(glob_match("/v1/images/*", "/v1/images/a/members"));
        assert!(!glob_match("/v1/images/*", "/v1/images"));
        assert!(glob_match("*/members", "/v1/images/x/members"));
        assert!(glob_match(
            "/v1/images/*/members/*",
            "/v1/images/x/members/t"
        ));
        assert!(!glob_match("/v1/images", "/v1/images/x"));
    }

    // Rule: A fault rule in its flat JSON form parses to the same rule as the builder makes.
    #[test]
    fn parse_flat_rules() {
        let r = FaultRule::from_json(json!({
            "method": "GET", "path": "/v1/images/*", "times": 2,
            "action": "status", "status": 503, "message": "busy"
        }))
        .unwrap();
        assert_eq!(
            r.action,
            Action::Status {
                status: 503,
                message: Some("busy".into())
            }
        );
        let err = FaultRule::from_json(json!({"action": "reset", "stauts": 1})).unwrap_err();
        assert!(err.contains("unknown field 'stauts'"), "{err}");
        let err = FaultRule::from_json(json!({"action": "status", "status": 200})).unwrap_err();
        assert!(err.contains("400-599"), "{err}");
        assert!(FaultRule::from_json(json!({"action": "explode"})).is_err());
        assert!(FaultRule::from_json(json!({"action": "delay"})).is_err());
        let r = FaultRule::from_json(json!({"action": "slow_body"})).unwrap();
        assert_eq!(
            r.action,
            Action::SlowBody {
                chunk_bytes: 1024,
                interval_ms: 100
            }
        );
    }

    // Rule: A rule skips its first `after` matches, fires at most `times` times, fires for about
    // `fraction` of matches (seeded), and only for its `tenant`.
    #[test]
    fn times_after_and_fraction() {
        let f = Faults::default();
        f.add(FaultRule::new(Action::Reset).path("/a").after(1).times(2))
            .unwrap();
        let hits: Vec<bool> = (0..5)
            .map(|_| f.pick("GET", "/a", None, None).is_some())
            .collect();
        assert_eq!(hits, [false, true, true, false, false]);
        assert!(f.pick("GET", "/b", None, None).is_none());
        let info = &f.list()[0];
        assert_eq!((info.matched, info.fired), (5, 2));
        f.clear();
        f.seed(1);
        f.add(FaultRule::new(Action::Reset).fraction(0.5)).unwrap();
        let n = (0..1000)
            .filter(|_| f.pick("GET", "/", None, None).is_some())
            .count();
        assert!((400..600).contains(&n), "{n}");
        f.clear();
        f.add(FaultRule::new(Action::Reset).tenant("t1")).unwrap();
        assert!(f.pick("GET", "/", None, Some("t2")).is_none());
        assert!(f.pick("GET", "/", None, Some("t1")).is_some());
        assert!(f.pick("GET", "/", None, None).is_none());
    }

    // Rule: Fault rule ids are generated in order and a duplicate id is refused.
    #[test]
    fn ids_are_unique() {
        let f = Faults::default();
        assert_eq!(f.add(FaultRule::new(Action::Reset)).unwrap(), "f1");
        assert!(f.add(FaultRule::new(Action::Reset).id("f1")).is_err());
        f.add(FaultRule::new(Action::Reset).id("f2")).unwrap();
        assert_eq!(f.add(FaultRule::new(Action::Reset)).unwrap(), "f3");
        assert!(f.remove("f2"));
        assert!(!f.remove("f2"));
        assert_eq!(f.list().len(), 2);
    }
}
