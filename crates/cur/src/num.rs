//! Exact decimal and timestamp parsing straight from bytes.
//!
//! These are the hot path of every reader: no allocation, no UTF-8 validation (digits are ASCII),
//! and never a detour through `f64` for text input.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use rust_decimal::Decimal;

/// The largest scale `rust_decimal` can hold.
const MAX_SCALE: u32 = 28;

/// Parses a decimal number such as `12`, `-0.0800000000`, `.5`, `1.2E-7` or `+3e2` exactly.
///
/// Surrounding ASCII spaces are ignored. Digits beyond the 28 decimal places `Decimal` can hold
/// are rounded half-to-even. Returns `None` for anything that is not a finite number (including
/// the empty string).
// Always inlined, with the rare general path kept out of line: returned through memory, the
// `Decimal` written as 32-bit parts was read back as one 16-byte copy, a store-forwarding
// stall on every cost cell (ADR 0010, third addendum).
#[inline(always)]
pub fn parse_decimal(bytes: &[u8]) -> Option<Decimal> {
    match parse_plain_decimal(bytes) {
        Some(d) => Some(d),
        None => parse_decimal_general(bytes),
    }
}

/// The fast path for the common spelling, `-?digits[.digits]` with at most 19 digits in all:
/// the mantissa fits a `u64` and no rounding can be needed. `None` for anything else (which
/// the general parser then decides on), never a different value.
#[inline(always)]
fn parse_plain_decimal(b: &[u8]) -> Option<Decimal> {
    let (neg, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut mant = 0u64;
    let mut dot = None;
    for (i, &c) in digits.iter().enumerate() {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            // Wraps only with 20 digits, which are rejected below.
            mant = mant.wrapping_mul(10).wrapping_add(d as u64);
        } else if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return None;
        }
    }
    let (count, scale) = match dot {
        Some(i) => (digits.len() - 1, digits.len() - 1 - i),
        None => (digits.len(), 0),
    };
    if count == 0 || count > 19 {
        return None;
    }
    // `-0` is zero without a sign, as in the general parser.
    Some(Decimal::from_parts(
        mant as u32,
        (mant >> 32) as u32,
        0,
        neg && mant != 0,
        scale as u32,
    ))
}

#[cold]
#[inline(never)]
fn parse_decimal_general(bytes: &[u8]) -> Option<Decimal> {
    let b = trim(bytes);
    let (neg, mut i) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    // Mantissa accumulated in u128 with up to 28 significant digits (29 when it stays below 2^96);
    // `scale` counts the decimal places kept. Fractional digits past that precision are
    // remembered for rounding: the first one, and whether any non-zero digit follows.
    let mut mant: u128 = 0;
    let mut scale: i32 = 0;
    let mut sig = 0u32;
    let mut any_digit = false;
    let mut seen_dot = false;
    let mut round_digit: Option<u8> = None;
    let mut sticky = false;
    let mut int_overflow = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'0'..=b'9' => {
                any_digit = true;
                let d = c - b'0';
                if mant == 0 && d == 0 {
                    // Leading zero: not significant, but after the dot it is a decimal place.
                    if seen_dot {
                        scale += 1;
                    }
                } else if sig < 28 || (sig == 28 && mant * 10 + (d as u128) < (1u128 << 96)) {
                    mant = mant * 10 + d as u128;
                    sig += 1;
                    if seen_dot {
                        scale += 1;
                    }
                } else if seen_dot {
                    match round_digit {
                        None => round_digit = Some(d),
                        Some(_) => sticky |= d != 0,
                    }
                } else {
                    int_overflow = true;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if !any_digit || int_overflow {
        return None;
    }
    if i < b.len() {
        // Exponent.
        i += 1;
        let (eneg, mut j) = match b.get(i)? {
            b'-' => (true, i + 1),
            b'+' => (false, i + 1),
            _ => (false, i),
        };
        if j >= b.len() {
            return None;
        }
        let mut e: i32 = 0;
        while j < b.len() {
            let c = b[j];
            if !c.is_ascii_digit() {
                return None;
            }
            e = e.checked_mul(10)?.checked_add((c - b'0') as i32)?;
            if e > 1000 {
                return None;
            }
            j += 1;
        }
        scale -= if eneg { -e } else { e };
    }
    while scale < 0 {
        mant = mant.checked_mul(10)?;
        scale += 1;
    }
    // Round away digits past the maximum scale.
    while scale > MAX_SCALE as i32 || mant >= (1u128 << 96) {
        if scale == 0 {
            return None;
        }
        let d = (mant % 10) as u8;
        if let Some(prev) = round_digit {
            sticky |= prev != 0;
        }
        round_digit = Some(d);
        mant /= 10;
        scale -= 1;
    }
    if let Some(d) = round_digit {
        if d > 5 || (d == 5 && (sticky || mant % 2 == 1)) {
            mant += 1;
            if mant >= (1u128 << 96) {
                mant /= 10;
                scale -= 1;
                if scale < 0 {
                    return None;
                }
            }
        }
    }
    let m = if neg { -(mant as i128) } else { mant as i128 };
    Decimal::try_from_i128_with_scale(m, scale as u32).ok()
}

/// Converts a Parquet `DOUBLE` to the decimal a person would have written: the shortest text
/// that round-trips to the same `f64` (so `0.1` stays `0.1`, not `0.1000000000000000055...`).
pub(crate) fn decimal_from_f64(v: f64) -> Option<Decimal> {
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        return Some(Decimal::ZERO);
    }
    let mut buf = StackBuf::default();
    use std::fmt::Write;
    // `{:e}` is the shortest round-trip form in scientific notation (e.g. `1.5e-7`).
    if write!(buf, "{v:e}").is_ok() {
        if let Some(d) = parse_decimal(buf.as_bytes()) {
            return Some(d);
        }
    }
    Decimal::from_f64_retain(v)
}

struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> Self {
        StackBuf {
            buf: [0; 64],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Parses the timestamp spellings found in CUR, CUR 2.0 and FOCUS files, as UTC:
/// `2023-11-01T00:00:00Z`, `2023-11-01T00:00:00.000Z`, `2024-09-01 00:00:00`,
/// `2024-09-01T00:00:00+00:00`, `2024-09-01T00:00Z` and a bare date `2024-09-01`.
/// A numeric offset is applied. Returns `None` for anything else.
pub fn parse_timestamp(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let b = trim(bytes);
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if b.len() == 10 {
        return Some(date.and_time(NaiveTime::MIN).and_utc());
    }
    if !(b[10] == b'T' || b[10] == b' ') || b.len() < 16 || b[13] != b':' {
        return None;
    }
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let mut i = 16;
    let mut second = 0;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b':') {
        second = digits(b.get(i + 1..i + 3)?)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut scale = 100_000_000u32;
            while i < b.len() && b[i].is_ascii_digit() {
                nanos += (b[i] - b'0') as u32 * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let naive = NaiveDateTime::new(date, time);
    let rest = &b[i..];
    let offset_secs: i64 = match rest {
        [] | b"Z" | b"z" | b" UTC" | b"UTC" => 0,
        [sign @ (b'+' | b'-'), h1, h2, tail @ ..] => {
            let h = digits(&[*h1, *h2])? as i64;
            let m = match tail {
                [] => 0,
                [b':', m1, m2] | [m1, m2] => digits(&[*m1, *m2])? as i64,
                _ => return None,
            };
            let s = h * 3600 + m * 60;
            if *sign == b'+' {
                s
            } else {
                -s
            }
        }
        _ => return None,
    };
    Some((naive - chrono::Duration::seconds(offset_secs)).and_utc())
}

/// Remembers parsed timestamps of one column by their text: a report has few distinct
/// timestamps (the hours or days of a month) but its rows visit them in any order.
///
/// Direct-mapped on the month, day and hour digits; a miss parses and replaces the entry.
pub(crate) struct TimestampCache {
    entries: Box<[CachedTs; TS_CACHE_SIZE]>,
    /// Lookups that had to parse.
    misses: u64,
}

/// 4096 entries (192 KiB): an hourly month's 720-744 distinct timestamps mostly find a slot of
/// their own (256 slots, enough for a daily month, made hourly rows miss most of the time).
const TS_CACHE_BITS: u32 = 12;
const TS_CACHE_SIZE: usize = 1 << TS_CACHE_BITS;
const TS_KEY: usize = 32;

#[derive(Clone, Copy)]
struct CachedTs {
    /// 0 for an unused entry (empty text is never looked up).
    len: u8,
    key: [u8; TS_KEY],
    value: DateTime<Utc>,
}

impl Default for TimestampCache {
    fn default() -> Self {
        let unused = CachedTs {
            len: 0,
            key: [0; TS_KEY],
            value: DateTime::<Utc>::default(),
        };
        TimestampCache {
            entries: Box::new([unused; TS_CACHE_SIZE]),
            misses: 0,
        }
    }
}

impl TimestampCache {
    /// [`parse_timestamp`], remembered.
    #[inline]
    pub(crate) fn parse(&mut self, raw: &[u8]) -> Option<DateTime<Utc>> {
        if raw.is_empty() || raw.len() > TS_KEY {
            return parse_timestamp(raw);
        }
        // `MM-DDTHH` of `YYYY-MM-DDTHH:...`, or whatever bytes are there.
        let mut word = [0u8; 8];
        let n = raw.len().min(8);
        let at = raw.len().min(13) - n;
        word[..n].copy_from_slice(&raw[at..at + n]);
        let hash = u64::from_le_bytes(word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let e = &mut self.entries[(hash >> (64 - TS_CACHE_BITS)) as usize];
        if e.len as usize == raw.len() && e.key[..raw.len()] == *raw {
            return Some(e.value);
        }
        self.misses += 1;
        let value = parse_timestamp(raw)?;
        e.len = raw.len() as u8;
        e.key[..raw.len()].copy_from_slice(raw);
        e.value = value;
        Some(value)
    }
}

/// Timestamp from a count of `unit_per_sec` units since the Unix epoch.
pub(crate) fn timestamp_from_units(v: i64, units_per_sec: i64) -> Option<DateTime<Utc>> {
    let secs = v.div_euclid(units_per_sec);
    let rem = v.rem_euclid(units_per_sec);
    let nanos = rem * (1_000_000_000 / units_per_sec);
    DateTime::from_timestamp(secs, nanos as u32)
}

#[inline]
fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

#[inline]
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e && b[s] == b' ' {
        s += 1;
    }
    while e > s && b[e - 1] == b' ' {
        e -= 1;
    }
    &b[s..e]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn decimals_parse_exactly() {
        assert_eq!(parse_decimal(b"0.0800000000"), Some(d("0.0800000000")));
        assert_eq!(parse_decimal(b"-1.5"), Some(d("-1.5")));
        assert_eq!(parse_decimal(b"+3"), Some(d("3")));
        assert_eq!(parse_decimal(b".5"), Some(d("0.5")));
        assert_eq!(parse_decimal(b"5."), Some(d("5")));
        assert_eq!(parse_decimal(b"1.2E-7"), Some(d("0.00000012")));
        assert_eq!(parse_decimal(b"1.2e+2"), Some(d("120")));
        assert_eq!(parse_decimal(b"3E2"), Some(d("300")));
        assert_eq!(parse_decimal(b"0"), Some(Decimal::ZERO));
        assert_eq!(parse_decimal(b"0.000"), Some(d("0.000")));
        assert_eq!(parse_decimal(b" 7 "), Some(d("7")));
        assert_eq!(parse_decimal(b"00012.50"), Some(d("12.50")));
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_parser() {
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "-0.000",
            "0.",
            "-.5",
            ".",
            "-",
            "",
            "-.",
            "1.2.3",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "1234567890123456789",
            "12345678901234567890",
            "-9999999999999999999",
            "9999999999999999999.",
            ".9999999999999999999",
            "0000000000000000000001",
            "18446744073709551615",
            "1.8446744073709551616",
            "0.0800000000",
            "-12.50",
            "12345678.12345678",
            "1234567/",
            "1234567:",
            "0.1234567/8",
            "0.12345678:",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 23) as usize;
            let s: String = (0..len)
                .map(|k| b"0123456789012345678.-e/:"[((x >> (k * 2 % 60)) % 24) as usize] as char)
                .collect();
            cases.push(s);
        }
        for c in cases {
            let fast = parse_plain_decimal(c.as_bytes());
            let general = parse_decimal_general(c.as_bytes());
            if let Some(f) = fast {
                let g = general.unwrap_or_else(|| panic!("{c:?}: fast {f}, general none"));
                assert_eq!(
                    (f.mantissa(), f.scale(), f.is_sign_negative()),
                    (g.mantissa(), g.scale(), g.is_sign_negative()),
                    "{c:?}"
                );
            }
            assert_eq!(parse_decimal(c.as_bytes()), general, "{c:?}");
        }
    }

    #[test]
    fn decimals_reject_junk() {
        for junk in [
            &b""[..],
            b"-",
            b".",
            b"abc",
            b"1.2.3",
            b"1e",
            b"1e-",
            b"NaN",
            b"1,5",
            b"--1",
            b"1e5000",
            b"99999999999999999999999999999999",
        ] {
            assert_eq!(
                parse_decimal(junk),
                None,
                "{:?}",
                String::from_utf8_lossy(junk)
            );
        }
    }

    #[test]
    fn decimals_round_past_28_places() {
        assert_eq!(
            parse_decimal(b"0.00000000000000000000000000015"),
            Some(d("0.0000000000000000000000000002"))
        );
        assert_eq!(
            parse_decimal(b"0.00000000000000000000000000025"),
            Some(d("0.0000000000000000000000000002"))
        );
        assert_eq!(
            parse_decimal(b"1.00000000000000000000000000049"),
            Some(d("1.0000000000000000000000000005"))
        );
    }

    #[test]
    fn floats_become_their_shortest_decimal() {
        assert_eq!(decimal_from_f64(0.1), Some(d("0.1")));
        assert_eq!(decimal_from_f64(-0.08), Some(d("-0.08")));
        assert_eq!(decimal_from_f64(1.2e-7), Some(d("0.00000012")));
        assert_eq!(
            decimal_from_f64(12345.6789012345),
            Some(d("12345.6789012345"))
        );
        assert_eq!(decimal_from_f64(0.0), Some(Decimal::ZERO));
        assert_eq!(decimal_from_f64(f64::NAN), None);
    }

    #[test]
    fn an_hourly_month_mostly_hits_the_timestamp_cache() {
        let mut cache = TimestampCache::default();
        let hours: Vec<String> = (1..=31)
            .flat_map(|day| (0..24).map(move |h| format!("2024-10-{day:02}T{h:02}:00:00Z")))
            .collect();
        for t in &hours {
            cache.parse(t.as_bytes()).unwrap();
        }
        let first_pass = cache.misses;
        for round in 1..4 {
            for k in 0..hours.len() {
                let t = &hours[(k * 13 + round) % hours.len()];
                assert_eq!(cache.parse(t.as_bytes()), parse_timestamp(t.as_bytes()));
            }
        }
        let later = cache.misses - first_pass;
        assert!(
            later * 10 < 3 * hours.len() as u64,
            "{later} misses over 3 passes of {} hourly timestamps",
            hours.len()
        );
    }

    #[test]
    fn cached_timestamps_are_the_parsed_ones() {
        let mut cache = TimestampCache::default();
        let mut texts: Vec<String> = Vec::new();
        for day in 1..=30 {
            for hour in [0, 7, 23] {
                texts.push(format!("2024-09-{day:02}T{hour:02}:00:00Z"));
                texts.push(format!("2024-09-{day:02}T{hour:02}:30:00.000Z"));
                texts.push(format!("2024-09-{day:02} {hour:02}:00:00"));
            }
        }
        texts.extend(["2024-09-01", "x", "2024-13-01", "", &"9".repeat(40)].map(String::from));
        for round in 0..3 {
            for k in 0..texts.len() {
                let t = &texts[(k * 7 + round) % texts.len()];
                assert_eq!(
                    cache.parse(t.as_bytes()),
                    parse_timestamp(t.as_bytes()),
                    "{t}"
                );
            }
        }
    }

    #[test]
    fn timestamps_in_every_spelling() {
        let want = DateTime::parse_from_rfc3339("2024-09-01T10:20:30Z")
            .unwrap()
            .to_utc();
        for s in [
            "2024-09-01T10:20:30Z",
            "2024-09-01T10:20:30.000Z",
            "2024-09-01 10:20:30",
            "2024-09-01T10:20:30+00:00",
            "2024-09-01T12:20:30+02:00",
            "2024-09-01T10:20:30 UTC",
        ] {
            assert_eq!(parse_timestamp(s.as_bytes()), Some(want), "{s}");
        }
        assert_eq!(
            parse_timestamp(b"2024-09-01T10:20Z"),
            Some(
                DateTime::parse_from_rfc3339("2024-09-01T10:20:00Z")
                    .unwrap()
                    .to_utc()
            )
        );
        assert_eq!(
            parse_timestamp(b"2024-09-01"),
            Some(
                DateTime::parse_from_rfc3339("2024-09-01T00:00:00Z")
                    .unwrap()
                    .to_utc()
            )
        );
        assert_eq!(
            parse_timestamp(b"2024-09-01T00:00:00.5Z")
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
        for bad in [
            "",
            "2024-13-01",
            "2024-09-01X00:00:00",
            "2024-09-01T25:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_timestamp(bad.as_bytes()), None, "{bad}");
        }
    }
}
