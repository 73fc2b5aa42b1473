//! A record's owner (a tenant id) as stored: Keystone's form, 32 lowercase hex digits, kept
//! as 16 bytes inside the record (no heap block, so a catalogue where every record has its
//! own owner pays nothing per owner); any other text kept once and shared. The text is
//! always given back exactly as it came in ([`Owner::text`]).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use super::Interner;

/// An owner: compare, hash and print it as its text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Owner(Repr);

/// Canonical: text that fits `Hex` is never held as `Text`, so equal texts have equal
/// representations (the derived `Eq` and `Hash` are the text's).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Hex([u8; 16]),
    Text(Arc<str>),
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex16(s: &str) -> Option<[u8; 16]> {
    let b = s.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(b[2 * i])? << 4) | nibble(b[2 * i + 1])?;
    }
    Some(out)
}

impl Owner {
    /// The owner `s`.
    pub fn new(s: &str) -> Self {
        match hex16(s) {
            Some(h) => Owner(Repr::Hex(h)),
            None => Owner(Repr::Text(Arc::from(s))),
        }
    }

    /// The owner `s`, text other than 32 hex digits shared through `interner` (the loaders:
    /// many records of one tenant).
    pub fn interned(s: &str, interner: &mut Interner) -> Self {
        match hex16(s) {
            Some(h) => Owner(Repr::Hex(h)),
            None => Owner(Repr::Text(interner.get(s))),
        }
    }

    /// The text, exactly as given.
    pub fn text(&self) -> OwnerText<'_> {
        match &self.0 {
            Repr::Hex(h) => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u8; 32];
                for (i, b) in h.iter().enumerate() {
                    buf[2 * i] = DIGITS[usize::from(b >> 4)];
                    buf[2 * i + 1] = DIGITS[usize::from(b & 15)];
                }
                OwnerText(TextRepr::Hex(buf))
            }
            Repr::Text(t) => OwnerText(TextRepr::Text(t)),
        }
    }
}

/// An owner's text (on the stack for a hex owner): derefs to `str`.
#[derive(Clone, Copy)]
pub struct OwnerText<'a>(TextRepr<'a>);

#[derive(Clone, Copy)]
enum TextRepr<'a> {
    Hex([u8; 32]),
    Text(&'a str),
}

impl std::ops::Deref for OwnerText<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match &self.0 {
            // Built from hex digits only: always valid UTF-8.
            TextRepr::Hex(b) => std::str::from_utf8(b).unwrap_or_default(),
            TextRepr::Text(t) => t,
        }
    }
}

impl PartialEq for OwnerText<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for OwnerText<'_> {}

impl PartialOrd for OwnerText<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OwnerText<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl std::hash::Hash for OwnerText<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<'a> From<&'a str> for OwnerText<'a> {
    fn from(s: &'a str) -> Self {
        OwnerText(TextRepr::Text(s))
    }
}

impl PartialOrd for Owner {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Owner {
    /// The text's order (hex digits in byte order are the bytes' order).
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Hex(a), Repr::Hex(b)) => a.cmp(b),
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialEq<str> for Owner {
    fn eq(&self, other: &str) -> bool {
        match &self.0 {
            Repr::Hex(h) => hex16(other).as_ref() == Some(h),
            Repr::Text(t) => &**t == other,
        }
    }
}

impl From<&str> for Owner {
    fn from(s: &str) -> Self {
        Owner::new(s)
    }
}

impl From<String> for Owner {
    fn from(s: String) -> Self {
        Owner::new(&s)
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text(), f)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

impl serde::Serialize for Owner {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_orders_as_text() {
        let cases = [
            "6513270e269e0d37f2a74de452e6b438",
            "6513270E269E0D37F2A74DE452E6B438",
            "6513270e269e0d37f2a74de452e6b43",
            "6513270e269e0d37f2a74de452e6b4381",
            "",
            "tenant-a",
            "ffffffffffffffffffffffffffffffff",
            "00000000000000000000000000000000",
            "0000000000000000000000000000000g",
            "é",
        ];
        let mut interner = Interner::default();
        for a in cases {
            let o = Owner::new(a);
            assert_eq!(&*o.text(), a);
            assert_eq!(o.to_string(), a);
            assert!(o == *a);
            assert_eq!(Owner::interned(a, &mut interner), o);
            for b in cases {
                let p = Owner::new(b);
                assert_eq!(o.cmp(&p), a.cmp(b), "{a} {b}");
                assert_eq!(o == p, a == b);
                assert_eq!(o == *b, a == b);
            }
        }
        assert!(matches!(Owner::new(cases[0]).0, Repr::Hex(_)));
        assert!(matches!(Owner::new(cases[1]).0, Repr::Text(_)));
        assert_eq!(std::mem::size_of::<Option<Owner>>(), 24);
    }
}
