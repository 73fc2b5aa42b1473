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
        if let Some(t) = Self::parse_fast(s.as_bytes()) {
            return Some(t);
        }
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
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b[r].iter().try_fold(0u32, |acc, c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let micros = match &b[19..] {
            [] => 0,
            [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 6 => {
                let v = num(20..b.len())?;
                v * 10u32.pow(6 - frac.len() as u32)
            }
            _ => return None,
        };
        // Year 0 is valid for chrono, not for Python's datetime.
        let year = num(0..4).filter(|y| *y >= 1)?;
        let date = chrono::NaiveDate::from_ymd_opt(year as i32, num(5..7)?, num(8..10)?)?;
        let time = chrono::NaiveTime::from_hms_micro_opt(
            num(11..13)?,
            num(14..16)?,
            num(17..19)?,
            micros,
        )?;
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
