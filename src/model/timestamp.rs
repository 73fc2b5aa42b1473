//! Glance's timestamp ([`Timestamp`]): naive UTC with microseconds, parsed in the forms
//! Glance accepted and printed as it printed them.

use std::fmt;

use chrono::{Datelike, NaiveDateTime};

/// Glance's timestamp: naive UTC with microseconds (`2016-05-22T06:04:20.425843`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub NaiveDateTime);

impl Timestamp {
    /// This time as an HTTP `Date` value (IMF-fixdate).
    pub fn http_date(&self) -> String {
        self.0.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
    }

    /// The current UTC time, truncated to microseconds as the Glance DB stored it.
    pub fn now() -> Self {
        let now = chrono::Utc::now().naive_utc();
        let micros = now.and_utc().timestamp_micros();
        Timestamp(
            chrono::DateTime::from_timestamp_micros(micros)
                .map(|d| d.naive_utc())
                .unwrap_or(now),
        )
    }

    /// Parses the forms Glance accepted and showed: `YYYY-MM-DDTHH:MM:SS[.ffffff]`, with an
    /// optional trailing `Z` or `+00:00`, or a space instead of `T`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_fast(s.as_bytes()).or_else(|| Self::parse_general(s))
    }

    /// [`Timestamp::parse`] through chrono's formats: every accepted form.
    fn parse_general(s: &str) -> Option<Self> {
        let t = s.trim();
        let t = t
            .strip_suffix('Z')
            .or_else(|| t.strip_suffix("+00:00"))
            .unwrap_or(t);
        // What Python's `datetime` (so Glance's registry) could hold: years 1 to 9999 and
        // at most six fractional digits (microseconds).
        let frac_ok = t
            .rsplit_once('.')
            .is_none_or(|(_, f)| f.bytes().take_while(u8::is_ascii_digit).count() <= 6);
        let year_ok = |y: i32| (1..=9999).contains(&y);
        if !frac_ok {
            return None;
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
                return year_ok(dt.year()).then_some(Timestamp(dt));
            }
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return d
                .and_hms_opt(0, 0, 0)
                .filter(|dt| year_ok(dt.year()))
                .map(Timestamp);
        }
        None
    }

    /// `YYYY-MM-DDTHH:MM:SS[.f{1,6}]` exactly: the form every fixture and Glance itself uses,
    /// parsed without chrono's format machinery (a million records have three each).
    fn parse_fast(b: &[u8]) -> Option<Self> {
        if b.len() < 19
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        // Every digit is checked with one test at the end (a byte below '0' wraps to a large
        // value): no branch per digit, and no loop for the fixed fields.
        let d = |i: usize| b[i].wrapping_sub(b'0');
        let mut ok = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .fold(true, |ok, &i| ok & (d(i) <= 9));
        let two = |i: usize| u32::from(d(i)) * 10 + u32::from(d(i + 1));
        let micros = match &b[19..] {
            [] => 0,
            [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 6 => {
                let mut v = 0u32;
                for &c in frac {
                    let x = c.wrapping_sub(b'0');
                    ok &= x <= 9;
                    v = v * 10 + u32::from(x);
                }
                const SCALE: [u32; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
                v * SCALE[6 - frac.len()]
            }
            _ => return None,
        };
        let year = two(0) * 100 + two(2);
        let (month, day, hour, min, sec) = (two(5), two(8), two(11), two(14), two(17));
        // Year 0 is valid for chrono, not for Python's datetime.
        if !ok || year < 1 {
            return None;
        }
        let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
        let time = chrono::NaiveTime::from_hms_micro_opt(hour, min, sec, micros)?;
        Some(Timestamp(NaiveDateTime::new(date, time)))
    }

    /// Microseconds since the Unix epoch (for cheap comparisons and sorting).
    pub fn micros(&self) -> i64 {
        self.0.and_utc().timestamp_micros()
    }

    /// Writes `YYYY-MM-DDTHH:MM:SS.ffffff` (always six fractional digits, no zone).
    pub fn write_glance(&self, out: &mut Vec<u8>) {
        use chrono::Timelike;
        let d = &self.0;
        push_padded(out, d.year().max(0) as u32, 4);
        out.push(b'-');
        push_padded(out, d.month(), 2);
        out.push(b'-');
        push_padded(out, d.day(), 2);
        out.push(b'T');
        push_padded(out, d.hour(), 2);
        out.push(b':');
        push_padded(out, d.minute(), 2);
        out.push(b':');
        push_padded(out, d.second(), 2);
        out.push(b'.');
        push_padded(out, (d.nanosecond() / 1000) % 1_000_000, 6);
    }

    /// The Glance text form as a `String`.
    pub fn glance(&self) -> String {
        let mut v = Vec::with_capacity(26);
        self.write_glance(&mut v);
        String::from_utf8(v).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.glance())
    }
}

fn push_padded(out: &mut Vec<u8>, mut v: u32, width: usize) {
    let mut buf = [b'0'; 10];
    let mut i = buf.len();
    while v > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let digits = buf.len() - i;
    let start = if digits >= width {
        i
    } else {
        buf.len() - width
    };
    out.extend_from_slice(&buf[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input the fast reader answers must get the same answer from chrono's formats;
    /// the usual shape must be answered fast.
    fn agree(s: &str) {
        let fast = Timestamp::parse_fast(s.as_bytes());
        let general = Timestamp::parse_general(s);
        if fast.is_some() {
            assert_eq!(fast, general, "{s}");
        }
        let strict = s.len() >= 19
            && s.as_bytes()[10] == b'T'
            && s.bytes().enumerate().all(|(i, c)| match i {
                4 | 7 => c == b'-',
                10 => c == b'T',
                13 | 16 => c == b':',
                19 => c == b'.',
                _ => c.is_ascii_digit(),
            })
            && s.len() != 20
            && s.len() <= 26
            // A leap second (`:60`) is left to chrono.
            && &s[17..19] != "60";
        if strict && general.is_some() {
            assert_eq!(fast, general, "not read fast: {s}");
        }
        assert_eq!(Timestamp::parse(s), fast.or(general), "{s}");
    }

    // Rule: The fast timestamp reader agrees with chrono's formats on every input.
    #[test]
    fn fast_reader_agrees_with_chrono() {
        let years = [
            "0000", "0001", "0004", "0100", "1900", "1999", "2000", "2016", "2024", "2100", "9999",
        ];
        let months = [
            "00", "01", "02", "03", "04", "06", "09", "11", "12", "13", "99",
        ];
        let days = ["00", "01", "15", "28", "29", "30", "31", "32", "99"];
        let times = [
            "00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "09:05:07",
        ];
        let fracs = [
            "", ".", ".0", ".5", ".12", ".123456", ".000001", ".999999", ".1234567", ".0000000",
            ".12a", ".-1", "Z", ".5Z", "+00:00", " ",
        ];
        for y in years {
            for m in months {
                for d in days {
                    for t in times {
                        for f in fracs {
                            agree(&format!("{y}-{m}-{d}T{t}{f}"));
                        }
                    }
                    agree(&format!("{y}-{m}-{d} 01:02:03.4"));
                    agree(&format!("{y}-{m}-{d}"));
                }
            }
        }
        // Every byte of a valid timestamp replaced by bytes around the digits and signs.
        let base = *b"2016-02-29T23:59:59.123456";
        for i in 0..base.len() {
            for c in [
                b'/', b':', b'0', b'9', b'-', b'+', b' ', b'T', b'.', b'a', 0, 0x7f,
            ] {
                let mut v = base;
                v[i] = c;
                agree(std::str::from_utf8(&v).unwrap());
                agree(std::str::from_utf8(&v[..i.max(1)]).unwrap());
            }
        }
        // Non-ASCII text where digits are expected.
        agree("2016-05-0١T00:00:00");
        agree("２016-05-01T00:00:00");
    }
}
