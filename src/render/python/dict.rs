//! CPython 2.7's dict: the string hash and the table's probing, resizing and deletion dummies,
//! so that dict iteration order (and hence `json.dumps` key order) matches Nova's.

use crate::render::python::value::Py;
use serde_json::Value;

/// CPython 2.7's string hash (`_Py_HashSecret` zero, as without `-R`), over code points as
/// a UCS-4 build hashed `unicode` (equal to `str` for ASCII).
pub fn py_hash(s: &str) -> i64 {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return 0;
    };
    let mut x: i64 = i64::from(u32::from(first)) << 7;
    let mut len: i64 = 0;
    for c in s.chars() {
        x = 1_000_003i64.wrapping_mul(x) ^ i64::from(u32::from(c));
        len += 1;
    }
    x ^= len;
    if x == -1 {
        -2
    } else {
        x
    }
}

/// One slot of a CPython 2.7 dict table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Empty,
    Dummy,
    Used(usize),
}

/// CPython 2.7's dict table, tracking key placement (`lookdict`, `insertdict`,
/// `dictresize`, deletion dummies).
#[derive(Debug, Clone)]
pub struct PyDict {
    slots: Vec<Slot>,
    keys: Vec<(String, u64)>,
    fill: usize,
    used: usize,
}

impl PyDict {
    const MINSIZE: usize = 8;

    /// `{}`.
    pub fn new() -> Self {
        PyDict {
            slots: vec![Slot::Empty; Self::MINSIZE],
            keys: Vec::new(),
            fill: 0,
            used: 0,
        }
    }

    /// A dict literal of `n` items (`BUILD_MAP n` presizes when `n > 5`).
    pub fn presized(n: usize) -> Self {
        let mut d = PyDict::new();
        if n > 5 {
            d.resize(n);
        }
        d
    }

    pub(crate) fn next_probe(i: u64, perturb: u64) -> u64 {
        (i << 2)
            .wrapping_add(i)
            .wrapping_add(perturb)
            .wrapping_add(1)
    }

    pub(crate) fn resize(&mut self, minused: usize) {
        let mut size = Self::MINSIZE;
        while size <= minused {
            size <<= 1;
        }
        let old = std::mem::replace(&mut self.slots, vec![Slot::Empty; size]);
        let mask = (size - 1) as u64;
        for slot in old {
            let Slot::Used(idx) = slot else { continue };
            // insertdict_clean: first empty slot on the probe sequence.
            let hash = self.keys[idx].1;
            let mut i = hash & mask;
            let mut perturb = hash;
            while self.slots[(i & mask) as usize] != Slot::Empty {
                i = Self::next_probe(i, perturb);
                perturb >>= 5;
            }
            self.slots[(i & mask) as usize] = Slot::Used(idx);
        }
        self.fill = self.used;
    }

    /// The slot holding `key`, or the slot an insert would use (first dummy seen, else the
    /// empty slot ending the probe).
    pub(crate) fn lookup(&self, key: &str, hash: u64) -> (usize, bool) {
        let mask = (self.slots.len() - 1) as u64;
        let mut i = hash & mask;
        let mut perturb = hash;
        let mut free: Option<usize> = None;
        loop {
            let pos = (i & mask) as usize;
            match self.slots[pos] {
                Slot::Empty => return (free.unwrap_or(pos), false),
                Slot::Dummy => {
                    free.get_or_insert(pos);
                }
                Slot::Used(idx) => {
                    if self.keys[idx].1 == hash && self.keys[idx].0 == key {
                        return (pos, true);
                    }
                }
            }
            i = Self::next_probe(i, perturb);
            perturb >>= 5;
        }
    }

    /// `d[key] = ...`; returns the entry index (an existing key keeps its slot).
    pub fn insert(&mut self, key: &str) -> usize {
        let hash = py_hash(key) as u64;
        let (pos, found) = self.lookup(key, hash);
        if found {
            if let Slot::Used(idx) = self.slots[pos] {
                return idx;
            }
        }
        let idx = self.keys.len();
        self.keys.push((key.to_string(), hash));
        if self.slots[pos] == Slot::Empty {
            self.fill += 1;
        }
        self.slots[pos] = Slot::Used(idx);
        self.used += 1;
        if self.fill * 3 >= self.slots.len() * 2 {
            let used = self.used;
            self.resize(if used > 50_000 { 2 * used } else { 4 * used });
        }
        idx
    }

    /// `del d[key]` (leaves a dummy); returns the removed entry index.
    pub fn remove(&mut self, key: &str) -> Option<usize> {
        let hash = py_hash(key) as u64;
        let (pos, found) = self.lookup(key, hash);
        if !found {
            return None;
        }
        let Slot::Used(idx) = self.slots[pos] else {
            return None;
        };
        self.slots[pos] = Slot::Dummy;
        self.used -= 1;
        Some(idx)
    }

    /// Entry indices in iteration order.
    pub fn order(&self) -> Vec<usize> {
        self.slots
            .iter()
            .filter_map(|s| match s {
                Slot::Used(i) => Some(*i),
                _ => None,
            })
            .collect()
    }
}

impl Default for PyDict {
    fn default() -> Self {
        PyDict::new()
    }
}

/// A live Python dict: its table plus the values, so later inserts land where CPython put
/// them.
#[derive(Debug, Clone)]
pub struct DictBuilder {
    table: PyDict,
    values: Vec<(String, Py)>,
}

impl DictBuilder {
    /// `{}`.
    pub fn new() -> Self {
        DictBuilder {
            table: PyDict::new(),
            values: Vec::new(),
        }
    }

    /// A literal of `n` items.
    pub fn literal(n: usize) -> Self {
        DictBuilder {
            table: PyDict::presized(n),
            values: Vec::new(),
        }
    }

    /// `d[key] = value`.
    pub fn insert(&mut self, key: &str, value: Py) {
        let idx = self.table.insert(key);
        if idx < self.values.len() {
            self.values[idx].1 = value;
        } else {
            self.values.push((key.to_string(), value));
        }
    }

    /// `d.pop(key)`.
    pub fn remove(&mut self, key: &str) -> Option<Py> {
        let idx = self.table.remove(key)?;
        self.values
            .get_mut(idx)
            .map(|slot| std::mem::replace(&mut slot.1, Py::None))
    }

    /// `d.get(key)`.
    pub fn get(&self, key: &str) -> Option<&Py> {
        let hash = py_hash(key) as u64;
        let (pos, found) = self.table.lookup(key, hash);
        match (found, self.table.slots[pos]) {
            (true, Slot::Used(idx)) => self.values.get(idx).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Entries in iteration order.
    pub fn entries(&self) -> Vec<(String, Py)> {
        self.table
            .order()
            .into_iter()
            .filter_map(|i| self.values.get(i).cloned())
            .collect()
    }

    /// The dict as a value.
    pub fn finish(self) -> Py {
        Py::Dict(self.entries())
    }

    /// `copy.deepcopy`: a fresh dict filled in this one's iteration order.
    pub fn deepcopy(&self) -> DictBuilder {
        let mut d = DictBuilder::new();
        for (k, v) in self.entries() {
            d.insert(&k, v.deepcopy());
        }
        d
    }
}

impl Default for DictBuilder {
    fn default() -> Self {
        DictBuilder::new()
    }
}

/// Fills a fresh `{}` with `entries` in the given order (duplicate keys keep the first
/// position and the last value).
pub fn fill(entries: Vec<(String, Py)>) -> DictBuilder {
    let mut d = DictBuilder::new();
    for (k, v) in entries {
        d.insert(&k, v);
    }
    d
}

/// [`fill`], returned in iteration order.
pub fn reinsert(entries: Vec<(String, Py)>) -> Vec<(String, Py)> {
    fill(entries).entries()
}

/// The conversions that fill fresh dicts (here, beside the dict, so that [`Py`] itself
/// needs nothing from this module).
impl Py {
    /// `json.loads`: objects become dicts filled in document order.
    pub fn from_json(v: &Value) -> Py {
        match v {
            Value::Null => Py::None,
            Value::Bool(b) => Py::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Py::Int(i128::from(i))
                } else if let Some(u) = n.as_u64() {
                    Py::Int(i128::from(u))
                } else {
                    Py::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            Value::String(s) => Py::Str(s.clone()),
            Value::Array(a) => Py::List(a.iter().map(Py::from_json).collect()),
            Value::Object(m) => Py::Dict(reinsert(
                m.iter()
                    .map(|(k, v)| (k.clone(), Py::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// `copy.deepcopy`: every dict is refilled in its iteration order.
    pub fn deepcopy(&self) -> Py {
        match self {
            Py::List(l) => Py::List(l.iter().map(Py::deepcopy).collect()),
            Py::Dict(d) => Py::Dict(reinsert(
                d.iter().map(|(k, v)| (k.clone(), v.deepcopy())).collect(),
            )),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::python::dumps::dumps;
    use crate::render::python::repr::{py_float_repr, py_float_str, py_str, unicode_repr};

    pub(crate) fn order(keys: &[&str], literal: usize, extra: &[&str]) -> Vec<String> {
        let mut d = DictBuilder::literal(literal);
        for k in keys.iter().chain(extra) {
            d.insert(k, Py::None);
        }
        match d.finish() {
            Py::Dict(e) => e.into_iter().map(|(k, _)| k).collect(),
            _ => unreachable!(),
        }
    }

    const VIEW: [&str; 10] = [
        "id", "name", "minRam", "minDisk", "metadata", "created", "updated", "status", "progress",
        "links",
    ];

    #[test]
    pub(crate) fn hash_matches_cpython_27() {
        // Values printed by CPython 2.7.18 (64-bit, UCS-4).
        assert_eq!(py_hash("id"), 13440080745121181);
        assert_eq!(py_hash("status"), -5721376809469579840);
        assert_eq!(py_hash(""), 0);
        assert_eq!(py_hash("caf\u{e9}"), 5473382298129946391);
        assert_eq!(py_hash("\u{1F600}x"), -1997109378905513350);
    }

    // Rule: Nova view dicts iterate in CPython 2.7's order.
    #[test]
    pub(crate) fn view_key_orders_match_cpython_27() {
        let j = |v: Vec<String>| v.join(", ");
        assert_eq!(
            j(order(&VIEW, 10, &["server", "OS-EXT-IMG-SIZE:size", "OS-DCF:diskConfig"])),
            "status, updated, links, OS-DCF:diskConfig, id, OS-EXT-IMG-SIZE:size, name, created, minDisk, server, progress, minRam, metadata"
        );
        assert_eq!(
            j(order(&VIEW, 10, &["OS-EXT-IMG-SIZE:size"])),
            "status, updated, links, id, OS-EXT-IMG-SIZE:size, name, created, minDisk, progress, minRam, metadata"
        );
        assert_eq!(
            j(order(&VIEW, 10, &["OS-EXT-IMG-SIZE:size", "OS-DCF:diskConfig"])),
            "status, updated, links, OS-DCF:diskConfig, id, OS-EXT-IMG-SIZE:size, name, created, minDisk, progress, minRam, metadata"
        );
        assert_eq!(
            j(order(&VIEW, 10, &[])),
            "status, updated, name, links, created, progress, minRam, minDisk, id, metadata"
        );
        assert_eq!(j(order(&["rel", "href"], 2, &[])), "href, rel");
        assert_eq!(
            j(order(&["rel", "type", "href"], 3, &[])),
            "href, type, rel"
        );
        assert_eq!(j(order(&["code", "message"], 2, &[])), "message, code");
        assert_eq!(
            j(order(&["id", "name", "links"], 3, &[])),
            "id, links, name"
        );
        assert_eq!(
            j(order(&["images"], 1, &["images_links"])),
            "images, images_links"
        );
    }

    // Rule: Float str()/repr() and unicode repr match Python 2.7.
    #[test]
    pub(crate) fn floats_and_reprs_match_python_2() {
        assert_eq!(py_float_str(1e12), "1e+12");
        assert_eq!(py_float_str(123456789012.0), "1.23456789012e+11");
        assert_eq!(py_float_str(99999999999.0), "99999999999.0");
        assert_eq!(py_float_str(1.0 / 3.0), "0.333333333333");
        assert_eq!(py_float_str(1e-5), "1e-05");
        assert_eq!(py_float_str(-0.0), "-0.0");
        assert_eq!(py_float_repr(1e16), "1e+16");
        assert_eq!(py_float_repr(1e15), "1000000000000000.0");
        assert_eq!(py_float_repr(0.0001), "0.0001");
        assert_eq!(py_float_repr(1.5e300), "1.5e+300");
        assert_eq!(py_float_repr(2.0), "2.0");
        let v = Py::List(vec![
            Py::Str("a".into()),
            Py::Int(1),
            Py::Int(1 << 63),
            Py::Bool(true),
            Py::None,
            Py::Float(1.5),
            Py::Dict(vec![("x".into(), Py::Str("it's".into()))]),
        ]);
        assert_eq!(
            py_str(&v),
            r#"[u'a', 1, 9223372036854775808L, True, None, 1.5, {u'x': u"it's"}]"#
        );
        assert_eq!(
            unicode_repr("caf\u{e9}\n\t\\ \"q\" \u{7f} \u{1F600}"),
            r#"u'caf\xe9\n\t\\ "q" \x7f \U0001f600'"#
        );
        let d = Py::from_json(
            &serde_json::json!({"a": 1e16, "b": 1e-5, "c": 2.0, "d": "\u{7f}\u{e9}"}),
        );
        assert_eq!(
            dumps(&d),
            r#"{"a": 1e+16, "c": 2.0, "b": 1e-05, "d": "\u007f\u00e9"}"#
        );
    }
}
