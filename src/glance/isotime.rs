//! `changes-since` as the registry read it: oslo `timeutils.parse_isotime` (the `iso8601`
//! package, 0.1.11: one backtracking regular expression, then Python's `datetime`), and the
//! database layer's `normalize_time` (the offset taken off, naive UTC).
//!
//! The expression, in the order Python's `re` tries its branches:
//!
//! ```text
//! YYYY ( (-M{1,2} | MM(?!$)) ( (-D{1,2} | DD) ( [ T]hh (:?mm)? (:?s{1,2} ([.,]f+)?)?
//!        (Z | [-+]hh:?(mm)?)? )? )? )? $
//! ```
//!
//! `$` also matches before a final `\n`, as Python's does.

use chrono::{Duration, NaiveDate};

use crate::model::Timestamp;

/// Why a value was not a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IsoError {
    /// `iso8601.ParseError` (no match, or no such date): the registry's 400.
    Unrecognized,
    /// Parsed, but the database layer could not take the offset off (an offset of a day or
    /// more, or a time pushed out of years 1 to 9999): an uncaught error, a 500.
    OutOfRange,
}

/// The named groups of a match (byte ranges of the input).
#[derive(Debug, Clone, Copy, Default)]
struct Groups {
    month: Option<(usize, usize)>,
    day: Option<(usize, usize)>,
    hour: Option<(usize, usize)>,
    minute: Option<(usize, usize)>,
    second: Option<(usize, usize)>,
    fraction: Option<(usize, usize)>,
    tz_sign: Option<u8>,
    tz_hour: Option<(usize, usize)>,
    tz_minute: Option<(usize, usize)>,
}

/// The value as naive UTC, or why not.
pub(crate) fn parse_isotime(v: &str) -> Result<Timestamp, IsoError> {
    let b = v.as_bytes();
    let g = matched(b).ok_or(IsoError::Unrecognized)?;
    let num = |r: Option<(usize, usize)>| -> u32 {
        r.map_or(0, |(s, e)| {
            b[s..e].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = num(Some((0, 4)));
    let month = g.month.map_or(1, |r| num(Some(r)));
    let day = g.day.map_or(1, |r| num(Some(r)));
    // `int(Decimal("0." + digits) * 1000000)`: the first six digits, truncated.
    let micro = g.fraction.map_or(0, |(s, e)| {
        let digits = &b[s..e];
        (0..6).fold(0, |n, i| {
            n * 10 + digits.get(i).map_or(0, |d| u32::from(d - b'0'))
        })
    });
    let (hour, minute, second) = (num(g.hour), num(g.minute), num(g.second));
    if year == 0 {
        return Err(IsoError::Unrecognized);
    }
    let naive = NaiveDate::from_ymd_opt(year as i32, month, day)
        .and_then(|d| d.and_hms_micro_opt(hour, minute, second, micro))
        .ok_or(IsoError::Unrecognized)?;
    let offset = match g.tz_sign {
        None => 0,
        Some(sign) => {
            let minutes = i64::from(num(g.tz_hour)) * 60 + i64::from(num(g.tz_minute));
            if sign == b'-' {
                -minutes
            } else {
                minutes
            }
        }
    };
    // Python's tzinfo wanted an offset strictly within a day, asked for when normalising.
    if offset.abs() >= 24 * 60 {
        return Err(IsoError::OutOfRange);
    }
    let utc = naive
        .checked_sub_signed(Duration::minutes(offset))
        .ok_or(IsoError::OutOfRange)?;
    if !(1..=9999).contains(&chrono::Datelike::year(&utc)) {
        return Err(IsoError::OutOfRange);
    }
    Ok(Timestamp(utc))
}

/// Python's `$`: the end, or a final `\n` before it.
fn at_end(b: &[u8], i: usize) -> bool {
    i == b.len() || (i + 1 == b.len() && b[i] == b'\n')
}

fn digits(b: &[u8], i: usize, n: usize) -> bool {
    b.len() >= i + n && b[i..i + n].iter().all(u8::is_ascii_digit)
}

/// The first match in Python's order of trying, as the groups it set.
fn matched(b: &[u8]) -> Option<Groups> {
    if !digits(b, 0, 4) {
        return None;
    }
    let g = Groups::default();
    month_part(b, 4, g).or_else(|| at_end(b, 4).then_some(g))
}

/// The places `(-X{1,2} | XX)` may match at `i`, in the order Python tries them: after a
/// dash two digits then one, then two digits without one (not followed by the end when
/// `two_not_last`, the month's `(?!$)`).
fn field_tries(b: &[u8], i: usize, two_not_last: bool) -> Vec<(usize, usize)> {
    let mut tries = Vec::with_capacity(3);
    if b.get(i) == Some(&b'-') {
        for n in [2, 1] {
            if digits(b, i + 1, n) {
                tries.push((i + 1, i + 1 + n));
            }
        }
    }
    if digits(b, i, 2) && !(two_not_last && at_end(b, i + 2)) {
        tries.push((i, i + 2));
    }
    tries
}

/// `(-M{1,2} | MM(?!$))` and what follows it.
fn month_part(b: &[u8], i: usize, g: Groups) -> Option<Groups> {
    field_tries(b, i, true).into_iter().find_map(|r| {
        let g = Groups {
            month: Some(r),
            ..g
        };
        day_part(b, r.1, g).or_else(|| at_end(b, r.1).then_some(g))
    })
}

/// `(-D{1,2} | DD)` and what follows it.
fn day_part(b: &[u8], i: usize, g: Groups) -> Option<Groups> {
    field_tries(b, i, false).into_iter().find_map(|r| {
        let g = Groups { day: Some(r), ..g };
        time_part(b, r.1, g).or_else(|| at_end(b, r.1).then_some(g))
    })
}

/// `[ T]hh (:?mm)? (:?s{1,2}([.,]f+)?)? tz?` and the end.
fn time_part(b: &[u8], i: usize, g: Groups) -> Option<Groups> {
    if !matches!(b.get(i), Some(b' ' | b'T')) || !digits(b, i + 1, 2) {
        return None;
    }
    let g = Groups {
        hour: Some((i + 1, i + 3)),
        ..g
    };
    let i = i + 3;
    // (:?mm)? greedy: with the colon, without it, then none.
    let mut minutes: Vec<(usize, Groups)> = Vec::with_capacity(3);
    for colon in [1, 0] {
        let at = i + colon;
        if (colon == 0 || b.get(i) == Some(&b':')) && digits(b, at, 2) {
            minutes.push((
                at + 2,
                Groups {
                    minute: Some((at, at + 2)),
                    ..g
                },
            ));
        }
    }
    minutes.push((i, g));
    minutes.into_iter().find_map(|(i, g)| second_part(b, i, g))
}

/// `(:?s{1,2}([.,]f+)?)?` then the zone and the end.
fn second_part(b: &[u8], i: usize, g: Groups) -> Option<Groups> {
    for colon in [1, 0] {
        if colon == 1 && b.get(i) != Some(&b':') {
            continue;
        }
        let at = i + colon;
        for n in [2, 1] {
            if !digits(b, at, n) {
                continue;
            }
            let g = Groups {
                second: Some((at, at + n)),
                ..g
            };
            let end = at + n;
            // ([.,]f+)? greedy, giving digits back one at a time.
            if matches!(b.get(end), Some(b'.' | b',')) {
                let run = b[end + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                for len in (1..=run).rev() {
                    let g = Groups {
                        fraction: Some((end + 1, end + 1 + len)),
                        ..g
                    };
                    if let Some(g) = zone_part(b, end + 1 + len, g) {
                        return Some(g);
                    }
                }
            }
            if let Some(g) = zone_part(b, end, g) {
                return Some(g);
            }
        }
    }
    zone_part(b, i, g)
}

/// `(Z | [-+]hh:?(mm)?)?` and the end.
fn zone_part(b: &[u8], i: usize, g: Groups) -> Option<Groups> {
    if b.get(i) == Some(&b'Z') && at_end(b, i + 1) {
        return Some(g);
    }
    if let Some(&sign @ (b'+' | b'-')) = b.get(i) {
        if digits(b, i + 1, 2) {
            let g = Groups {
                tz_sign: Some(sign),
                tz_hour: Some((i + 1, i + 3)),
                ..g
            };
            for colon in [1, 0] {
                let at = i + 3 + colon;
                if colon == 1 && b.get(i + 3) != Some(&b':') {
                    continue;
                }
                if digits(b, at, 2) && at_end(b, at + 2) {
                    return Some(Groups {
                        tz_minute: Some((at, at + 2)),
                        ..g
                    });
                }
                if at_end(b, at) {
                    return Some(g);
                }
            }
        }
    }
    at_end(b, i).then_some(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rule: changes-since takes what iso8601 0.1.11 took, normalised to naive UTC; each
    // case here was answered so by Glance 15.0.2.
    #[test]
    fn values_read_as_iso8601_read_them() {
        let ok = |v: &str| match parse_isotime(v) {
            Ok(t) => t.glance(),
            Err(e) => format!("{e:?}"),
        };
        for (v, want) in [
            ("2015", "2015-01-01T00:00:00.000000"),
            ("2015-06", "2015-06-01T00:00:00.000000"),
            ("2015-6", "2015-06-01T00:00:00.000000"),
            ("2015-6-1", "2015-06-01T00:00:00.000000"),
            ("20150610", "2015-06-10T00:00:00.000000"),
            ("2015-0610", "2015-06-10T00:00:00.000000"),
            ("201506-10", "2015-06-10T00:00:00.000000"),
            ("20150610T000000", "2015-06-10T00:00:00.000000"),
            ("2015-06-10T07", "2015-06-10T07:00:00.000000"),
            ("2015-06-10 07", "2015-06-10T07:00:00.000000"),
            ("2015-06-10T0708", "2015-06-10T07:08:00.000000"),
            ("2015-06-10T07:08:9", "2015-06-10T07:08:09.000000"),
            ("2015-06-10T101", "2015-06-10T10:00:01.000000"),
            ("2015-06-10T10111", "2015-06-10T10:11:01.000000"),
            ("2015-06-10T07:0809", "2015-06-10T07:08:09.000000"),
            ("2015-06-10T00:00:00,5", "2015-06-10T00:00:00.500000"),
            ("2015-06-10T00:00:00.1234567", "2015-06-10T00:00:00.123456"),
            ("2015-06-10T00:00:00.5Z", "2015-06-10T00:00:00.500000"),
            ("2015-06-10T07Z", "2015-06-10T07:00:00.000000"),
            ("2015-06-10T00:00:00+01", "2015-06-09T23:00:00.000000"),
            ("2015-06-10T00:00:00+01:", "2015-06-09T23:00:00.000000"),
            ("2015-06-10T00:00:00+0130", "2015-06-09T22:30:00.000000"),
            ("2015-06-10T00:00:00-01:30", "2015-06-10T01:30:00.000000"),
            ("2015-06-10\n", "2015-06-10T00:00:00.000000"),
            ("2015\n", "2015-01-01T00:00:00.000000"),
            ("201506", "Unrecognized"),
            ("0000-01-01", "Unrecognized"),
            ("2015-13-01", "Unrecognized"),
            ("2015-02-30", "Unrecognized"),
            ("2015-06-10T24:00:00", "Unrecognized"),
            ("2015-06-10T00:60", "Unrecognized"),
            ("2015-06-10T00:00:60", "Unrecognized"),
            ("2015-06-10T1", "Unrecognized"),
            ("2015-06-10T1011111", "Unrecognized"),
            ("2015-06-10t00:00", "Unrecognized"),
            ("2015-06-10T00:00:00z", "Unrecognized"),
            ("2015-06-10T00:00:00.", "Unrecognized"),
            ("2015-06-10T00:00:00+1", "Unrecognized"),
            ("2015-06-10T00:00:00+01:0", "Unrecognized"),
            ("2015-06-10T00:00:00+0100Z", "Unrecognized"),
            ("2015-06-10\n\n", "Unrecognized"),
            ("", "Unrecognized"),
            (" 2015", "Unrecognized"),
            ("2015 ", "Unrecognized"),
            ("\u{662}\u{660}\u{661}\u{665}", "Unrecognized"),
            ("2015-06-10T00:00:00-99:99", "OutOfRange"),
            ("2015-06-10T00:00:00+24:00", "OutOfRange"),
            ("0001-01-01T00:00:00+01:00", "OutOfRange"),
            ("9999-12-31T23:59:59-01:00", "OutOfRange"),
        ] {
            assert_eq!(ok(v), want, "{v:?}");
        }
    }
}
