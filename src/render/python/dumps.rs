//! `json.dumps` of a [`Py`] value with Python 2.7's defaults.

use crate::render::python::repr::py_float_repr;
use crate::render::python::value::Py;

/// `json.dumps(v)` with Python 2.7's defaults (`", "`/`": "`, `ensure_ascii`).
pub fn dumps(v: &Py) -> String {
    let mut out = String::new();
    dump_into(v, &mut out);
    out
}

pub(crate) fn dump_into(v: &Py, out: &mut String) {
    match v {
        Py::None => out.push_str("null"),
        Py::Bool(true) => out.push_str("true"),
        Py::Bool(false) => out.push_str("false"),
        Py::Int(n) => out.push_str(&n.to_string()),
        Py::Float(f) => {
            if f.is_nan() {
                out.push_str("NaN");
            } else if f.is_infinite() {
                out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                out.push_str(&py_float_repr(*f));
            }
        }
        Py::Str(s) => json_str(s, out),
        Py::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_into(x, out);
            }
            out.push(']');
        }
        Py::Dict(d) => {
            out.push('{');
            for (i, (k, x)) in d.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_str(k, out);
                out.push_str(": ");
                dump_into(x, out);
            }
            out.push('}');
        }
    }
}

/// A string as `json.dumps` wrote it: the one escaper, [`super::json::to_string`]'s
/// (ensure_ascii, `\uXXXX` surrogate pairs, Python's short escapes).
pub(crate) fn json_str(s: &str, out: &mut String) {
    // Printable ASCII other than `"` and `\\` is written as it is; anything else goes
    // through the one escaper (most strings here are ids, names, dates and URLs).
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&super::json::to_string(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: one escaper for both JSON writers, spelling strings as Python 2.7's json.dumps.
    #[test]
    fn strings_escape_as_python_json_dumps() {
        let mut out = String::new();
        json_str("a\"\\\n\t\u{8}\u{c}\r\u{1}\u{7f}\u{e9}\u{1f600}", &mut out);
        assert_eq!(out, r#""a\"\\\n\t\b\f\r\u0001\u007f\u00e9\ud83d\ude00""#);
    }

    // The plain-ASCII shortcut writes what the escaper writes, for every byte value.
    #[test]
    fn the_ascii_shortcut_agrees_with_the_escaper() {
        for b in 0u8..=0x7f {
            let s = format!("id-{}-x", b as char);
            let mut out = String::new();
            json_str(&s, &mut out);
            assert_eq!(
                out,
                super::super::json::to_string(s.as_str()),
                "byte {b:#x}"
            );
        }
        let mut out = String::new();
        json_str("", &mut out);
        assert_eq!(out, "\"\"");
    }
}
