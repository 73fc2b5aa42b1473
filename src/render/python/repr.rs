//! Python 2.7's `str()` and `repr()`: floats (shortest round trip, `%r`/`%s` forms),
//! strings (`u'...'` with escapes), lists and dicts.

use crate::render::python::value::Py;

/// Digits and decimal exponent of the shortest round-trip (or `prec`-digit) form.
pub(crate) fn float_digits(f: f64, prec: Option<usize>) -> (bool, String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
        None => format!("{:e}", f.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let mut digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    (f.is_sign_negative(), digits, exp.parse().unwrap_or(0))
}

/// Python's float formatting: scientific when the exponent is below -4 or at least
/// `sci_from`; `.0` added to bare integers.
pub(crate) fn py_float_format(f: f64, prec: Option<usize>, sci_from: i32) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let (neg, digits, exp) = float_digits(f, prec);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= sci_from {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    }
    out
}

/// `repr(float)` (also what `json.dumps` writes).
pub fn py_float_repr(f: f64) -> String {
    py_float_format(f, None, 16)
}

/// `str(float)`: 12 significant digits.
pub fn py_float_str(f: f64) -> String {
    py_float_format(f, Some(12), 11)
}

/// Python 2's `str(value)` (glanceclient's `to_str` for non-string property values).
pub fn py_str(v: &Py) -> String {
    match v {
        Py::Str(s) => s.clone(),
        Py::Int(n) => n.to_string(),
        Py::Float(f) => py_float_str(*f),
        other => py_repr(other),
    }
}

/// Python 2's `repr(value)` (`u'…'` strings, `L` longs).
pub fn py_repr(v: &Py) -> String {
    match v {
        Py::None => "None".into(),
        Py::Bool(true) => "True".into(),
        Py::Bool(false) => "False".into(),
        Py::Int(n) => {
            if i64::try_from(*n).is_ok() {
                n.to_string()
            } else {
                format!("{n}L")
            }
        }
        Py::Float(f) => py_float_repr(*f),
        Py::Str(s) => unicode_repr(s),
        Py::List(l) => {
            let items: Vec<String> = l.iter().map(py_repr).collect();
            format!("[{}]", items.join(", "))
        }
        Py::Dict(d) => {
            let items: Vec<String> = d
                .iter()
                .map(|(k, x)| format!("{}: {}", unicode_repr(k), py_repr(x)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    }
}

pub(crate) fn unicode_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from("u");
    out.push(quote);
    for c in s.chars() {
        let n = u32::from(c);
        if c == quote || c == '\\' {
            out.push('\\');
            out.push(c);
        } else if c == '\t' {
            out.push_str("\\t");
        } else if c == '\n' {
            out.push_str("\\n");
        } else if c == '\r' {
            out.push_str("\\r");
        } else if !(0x20..0x7f).contains(&n) {
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else if n < 0x10000 {
                out.push_str(&format!("\\u{n:04x}"));
            } else {
                out.push_str(&format!("\\U{n:08x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.push(quote);
    out
}
