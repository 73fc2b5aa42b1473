//! JSON text exactly as Python's `json.dumps` wrote it with default arguments: `", "` and
//! `": "` separators, and `ensure_ascii` (every non-ASCII character and DEL escaped as
//! `\uXXXX`, surrogate pairs above the BMP). Glance's and WebOb's bodies were made that way.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;

/// A serde_json formatter reproducing Python's default `json.dumps` layout.
#[derive(Debug, Default, Clone, Copy)]
pub struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if fragment.bytes().all(|b| b < 0x7f) {
            return w.write_all(fragment.as_bytes());
        }
        let mut buf = [0u16; 2];
        for ch in fragment.chars() {
            if (ch as u32) < 0x7f {
                let mut b = [0u8; 4];
                w.write_all(ch.encode_utf8(&mut b).as_bytes())?;
            } else {
                for unit in ch.encode_utf16(&mut buf) {
                    write!(w, "\\u{:04x}", unit)?;
                }
            }
        }
        Ok(())
    }
}

/// Serialises a value the way Python's `json.dumps(value)` would.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    // Serialising a serde_json::Value or plain data into a Vec cannot fail.
    if value.serialize(&mut ser).is_err() {
        return "null".to_string();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    // Rule: The JSON formatter writes what Python's `json.dumps` wrote (separators, escapes).
    #[test]
    fn matches_python_dumps() {
        assert_eq!(
            super::to_string(&json!({"images": []})),
            r#"{"images": []}"#
        );
        assert_eq!(
            super::to_string(&json!({"a": 1, "b": [true, null, "x"]})),
            r#"{"a": 1, "b": [true, null, "x"]}"#
        );
        assert_eq!(
            super::to_string(&json!("caf\u{e9} \u{1F600}\u{7f}\n")),
            r#""caf\u00e9 \ud83d\ude00\u007f\n""#
        );
    }
}
