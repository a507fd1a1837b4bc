//! Event time. Internally every timestamp is `i64` nanoseconds since the Unix epoch:
//! cheap to compare and hash, and exact for every source format (Zeek microseconds,
//! Docker `timeNano`, Falco `evt.time`). Parsing of each source's textual form happens
//! in the decoders; this module only offers the shared conversions.

use serde::{Serialize, Serializer};
use std::fmt;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Ts(pub i64);

pub const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Ts {
    pub const MIN: Ts = Ts(i64::MIN);
    pub const MAX: Ts = Ts(i64::MAX);

    pub fn from_secs(s: i64) -> Option<Ts> {
        s.checked_mul(NANOS_PER_SEC).map(Ts)
    }

    pub fn from_millis(ms: i64) -> Option<Ts> {
        ms.checked_mul(1_000_000).map(Ts)
    }

    pub fn from_micros(us: i64) -> Option<Ts> {
        us.checked_mul(1_000).map(Ts)
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    pub fn millis(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn saturating_add(self, d: Dur) -> Ts {
        Ts(self.0.saturating_add(d.0))
    }

    pub fn saturating_sub(self, d: Dur) -> Ts {
        Ts(self.0.saturating_sub(d.0))
    }

    /// Signed distance `self - earlier`.
    pub fn since(self, earlier: Ts) -> Dur {
        Dur(self.0.saturating_sub(earlier.0))
    }

    /// Parses RFC 3339 / ISO 8601 instants with any number of fractional digits and
    /// an offset (`Z`, `+00:00`, or `+0000` without a colon, as Suricata writes it).
    pub fn parse_rfc3339(s: &str) -> Option<Ts> {
        let ts: jiff::Timestamp = match s.parse() {
            Ok(t) => t,
            Err(_) => {
                // `-0400` without a colon: insert one and retry.
                let b = s.as_bytes();
                if b.len() > 5 && s.is_char_boundary(s.len() - 5) {
                    let (head, tail) = s.split_at(s.len() - 5);
                    let tb = tail.as_bytes();
                    if (tb[0] == b'+' || tb[0] == b'-') && tb[1..].iter().all(u8::is_ascii_digit) {
                        let fixed = format!("{head}{}:{}", &tail[..3], &tail[3..]);
                        fixed.parse().ok()?
                    } else {
                        return None;
                    }
                } else {
                    return None;
                }
            }
        };
        i64::try_from(ts.as_nanosecond()).ok().map(Ts)
    }

    /// Parses a decimal epoch-seconds string (`1521911721.255387`) exactly, without
    /// going through a float.
    pub fn parse_decimal_secs(s: &str) -> Option<Ts> {
        let s = s.trim();
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: i64 = int.parse().ok()?;
        let mut nanos: i64 = 0;
        for (i, b) in frac.bytes().take(9).enumerate() {
            nanos += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
        }
        let total = secs.checked_mul(NANOS_PER_SEC)?.checked_add(nanos)?;
        Some(Ts(if neg { -total } else { total }))
    }

    /// RFC 3339 in UTC with the precision the value needs (whole seconds, or 9 digits).
    pub fn to_rfc3339(self) -> String {
        match jiff::Timestamp::from_nanosecond(i128::from(self.0)) {
            Ok(t) => t.to_string(),
            Err(_) => format!("@{}ns", self.0),
        }
    }
}

impl fmt::Display for Ts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

/// A signed duration in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub i64);

impl Dur {
    pub fn from_secs(s: i64) -> Dur {
        Dur(s.saturating_mul(NANOS_PER_SEC))
    }

    /// Parses durations as users write them in config: `15m`, `90s`, `1h30m`, `500ms`,
    /// `2d`. A bare number is seconds.
    pub fn parse(s: &str) -> Option<Dur> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i64>().ok().map(Dur::from_secs);
        }
        let mut total: i64 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let n: i64 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let mult: i64 = match unit {
                "ns" => 1,
                "us" | "µs" => 1_000,
                "ms" => 1_000_000,
                "s" => NANOS_PER_SEC,
                "m" => 60 * NANOS_PER_SEC,
                "h" => 3_600 * NANOS_PER_SEC,
                "d" => 86_400 * NANOS_PER_SEC,
                _ => return None,
            };
            total = total.checked_add(n.checked_mul(mult)?)?;
        }
        Some(Dur(total))
    }

    pub fn secs_f(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
}

impl fmt::Display for Dur {
    /// Human form used in alert reasons and `config show`: `15m`, `1h30m`, `4.2s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n < 0 {
            f.write_str("-")?;
        }
        let n = n.unsigned_abs();
        let ns_per_s = NANOS_PER_SEC as u64;
        if !n.is_multiple_of(ns_per_s) {
            if n < 1_000_000 {
                return write!(f, "{n}ns");
            }
            if n < ns_per_s {
                return write!(f, "{}ms", n / 1_000_000);
            }
            let secs = n as f64 / ns_per_s as f64;
            return write!(f, "{secs:.1}s");
        }
        let mut s = n / ns_per_s;
        if s == 0 {
            return f.write_str("0s");
        }
        let d = s / 86_400;
        s %= 86_400;
        let h = s / 3600;
        s %= 3600;
        let m = s / 60;
        s %= 60;
        if d > 0 {
            write!(f, "{d}d")?;
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if s > 0 {
            write!(f, "{s}s")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_variants() {
        let a = Ts::parse_rfc3339("2018-10-25T14:09:49.750328Z").unwrap();
        let b = Ts::parse_rfc3339("2018-10-25T10:09:49.750328-0400").unwrap();
        let c = Ts::parse_rfc3339("2018-10-25T16:09:49.750328+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_rfc3339(), "2018-10-25T14:09:49.750328Z");
        assert!(Ts::parse_rfc3339("yesterday").is_none());
        // Found by the malformed-input suite: the offset fix-up must not cut a
        // character in two.
        assert!(Ts::parse_rfc3339("ü€𝄞").is_none());
        assert!(Ts::parse_rfc3339("2018-10-25T10:09:49€0400").is_none());
        assert!(Ts::parse_rfc3339("").is_none());
    }

    #[test]
    fn decimal_seconds_are_exact() {
        let t = Ts::parse_decimal_secs("1521911721.255387").unwrap();
        assert_eq!(t.0, 1_521_911_721_255_387_000);
        assert_eq!(Ts::parse_decimal_secs("12").unwrap().0, 12 * NANOS_PER_SEC);
        assert!(Ts::parse_decimal_secs("1e9").is_none());
        assert!(Ts::parse_decimal_secs(".5").is_none());
        assert!(Ts::parse_decimal_secs("99999999999999999999").is_none());
    }

    #[test]
    fn durations_round_trip() {
        for (s, n) in [
            ("15m", 900),
            ("90s", 90),
            ("1h30m", 5400),
            ("2d", 172_800),
            ("30", 30),
        ] {
            let d = Dur::parse(s).unwrap();
            assert_eq!(d, Dur::from_secs(n), "{s}");
        }
        assert_eq!(Dur::parse("500ms").unwrap().0, 500_000_000);
        assert_eq!(Dur::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Dur(4_200_000_000).to_string(), "4.2s");
        assert!(Dur::parse("15 minutes").is_none());
        assert!(Dur::parse("m").is_none());
        assert!(Dur::parse("").is_none());
    }
}
