//! A Python value as Nova held it ([`Py`]). Building one from `json.loads` output and
//! `copy.deepcopy` fill dicts, so they live with the dict (`dict.rs`).

// =========================================================================================
// Python values: CPython 2.7 dict order, json.dumps, str() and repr()
// =========================================================================================

/// A Python value as Nova held it. `Dict` entries are in the dict's iteration order.
#[derive(Debug, Clone, PartialEq)]
pub enum Py {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// `int` / `long`.
    Int(i128),
    /// `float`.
    Float(f64),
    /// `unicode`.
    Str(String),
    /// `list`.
    List(Vec<Py>),
    /// `dict`, in iteration order.
    Dict(Vec<(String, Py)>),
}

impl Py {
    pub(crate) fn truthy(&self) -> bool {
        match self {
            Py::None => false,
            Py::Bool(b) => *b,
            Py::Int(n) => *n != 0,
            Py::Float(f) => *f != 0.0,
            Py::Str(s) => !s.is_empty(),
            Py::List(l) => !l.is_empty(),
            Py::Dict(d) => !d.is_empty(),
        }
    }

    /// `key in self` (`Err` for a `TypeError`).
    pub(crate) fn contains(&self, key: &str) -> Result<bool, ()> {
        match self {
            Py::Dict(d) => Ok(d.iter().any(|(k, _)| k == key)),
            Py::List(l) => Ok(l.iter().any(|v| matches!(v, Py::Str(s) if s == key))),
            Py::Str(s) => Ok(s.contains(key)),
            _ => Err(()),
        }
    }

    /// `self[key]` on a dict (`None` otherwise or when absent).
    pub(crate) fn getitem(&self, key: &str) -> Option<Py> {
        match self {
            Py::Dict(d) => d.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> Option<usize> {
        match self {
            Py::Dict(d) => Some(d.len()),
            Py::List(l) => Some(l.len()),
            Py::Str(s) => Some(s.chars().count()),
            _ => None,
        }
    }
}
