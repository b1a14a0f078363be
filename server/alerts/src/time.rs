//! Durations (`30s`, `5m`, `1h30m`) and timestamps (unix ms or RFC 3339) as users write them.
//!
//! The crate has no clock and no date library: rules and silences carry plain milliseconds
//! once parsed, and the small RFC 3339 reader here is all the calendar it needs.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;

/// Parses `500ms`, `30s`, `5m`, `1h`, `1d`, `2w` or a sum such as `1h30m` (and a bare `0`) into
/// milliseconds. Negative durations are refused by name.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    if t == "0" {
        return Ok(0);
    }
    let invalid = || {
        format!(
            "invalid duration {text:?}; expected a number and a unit (ms, s, m, h, d, w) such as 30s, 5m or 1h30m"
        )
    };
    if t.is_empty() {
        return Err(invalid());
    }
    let mut rest = t;
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(invalid());
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("duration {text:?} is too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => SECOND_MS,
            "m" => MINUTE_MS,
            "h" => HOUR_MS,
            "d" => DAY_MS,
            "w" => WEEK_MS,
            _ => return Err(invalid()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| format!("duration {text:?} is too large"))?;
    }
    Ok(total)
}

/// Writes milliseconds the way [`parse_duration`] reads them, largest units first: `1h30m`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, name) in [
        (DAY_MS as u64, "d"),
        (HOUR_MS as u64, "h"),
        (MINUTE_MS as u64, "m"),
        (SECOND_MS as u64, "s"),
        (1, "ms"),
    ] {
        let n = rest / unit;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(name);
            rest %= unit;
        }
    }
    out
}

/// Parses unix milliseconds (`"1764250000000"`) or RFC 3339 (`2026-11-27T12:00:00Z`,
/// `…T12:00:00.250+01:00`) into unix milliseconds.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map_err(|_| format!("timestamp {text:?} is too large"));
    }
    parse_rfc3339(t).ok_or_else(|| {
        format!("invalid time {text:?}; expected unix ms or RFC 3339 such as 2026-11-27T12:00:00Z")
    })
}

fn parse_rfc3339(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// A duration as written in JSON: a string such as `"30s"` or whole milliseconds. Kept as
/// written so that a spec serializes back the way it came; [`DurationSpec::to_ms`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationSpec {
    Millis(i64),
    Text(String),
}

impl DurationSpec {
    /// The duration in milliseconds, or why it is not one.
    pub fn to_ms(&self) -> Result<i64, String> {
        match self {
            Self::Millis(ms) if *ms < 0 => Err(format!("negative duration {ms}")),
            Self::Millis(ms) => Ok(*ms),
            Self::Text(text) => parse_duration(text),
        }
    }

    /// The canonical spelling of `ms`.
    pub fn from_ms(ms: i64) -> Self {
        Self::Text(format_duration(ms))
    }
}

/// A timestamp as written in JSON: unix milliseconds or an RFC 3339 string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSpec {
    Millis(i64),
    Text(String),
}

impl TimeSpec {
    /// The time in unix milliseconds, or why it is not one.
    pub fn to_ms(&self) -> Result<i64, String> {
        match self {
            Self::Millis(ms) => Ok(*ms),
            Self::Text(text) => parse_timestamp(text),
        }
    }
}

/// Both specs are "an integer or a string"; one visitor reads either.
struct IntOrText(&'static str);

enum Raw {
    Int(i64),
    Text(String),
}

impl<'de> Visitor<'de> for IntOrText {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
        i64::try_from(v)
            .map(Raw::Int)
            .map_err(|_| E::custom(format!("{v} is too large")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Text(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = d.deserialize_any(IntOrText(
            "a duration such as \"30s\" or whole milliseconds",
        ))?;
        Ok(match raw {
            Raw::Int(ms) => Self::Millis(ms),
            Raw::Text(text) => Self::Text(text),
        })
    }
}

impl Serialize for DurationSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Millis(ms) => s.serialize_i64(*ms),
            Self::Text(text) => s.serialize_str(text),
        }
    }
}

impl<'de> Deserialize<'de> for TimeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = d.deserialize_any(IntOrText("unix milliseconds or an RFC 3339 time"))?;
        Ok(match raw {
            Raw::Int(ms) => Self::Millis(ms),
            Raw::Text(text) => Self::Text(text),
        })
    }
}

impl Serialize for TimeSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Millis(ms) => s.serialize_i64(*ms),
            Self::Text(text) => s.serialize_str(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        let cases = [
            ("0", 0),
            ("0s", 0),
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1d", 86_400_000),
            ("2w", 14 * 86_400_000),
            ("1h30m", 5_400_000),
            ("1m500ms", 60_500),
            (" 10s ", 10_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn refuses_bad_durations_clearly() {
        for text in ["", "5", "s", "5x", "1.5m", "5 m", "m5", "1h-5m", "30S"] {
            let e = parse_duration(text).unwrap_err();
            assert!(e.starts_with("invalid duration"), "{text}: {e}");
            assert!(e.contains("30s"), "{e}");
        }
        assert_eq!(
            parse_duration("-5m").unwrap_err(),
            "negative duration \"-5m\""
        );
        assert!(parse_duration("99999999999999999999s")
            .unwrap_err()
            .contains("too large"));
        assert!(parse_duration("9223372036854775807d")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn formats_durations_round_trip() {
        let cases = [
            (0, "0s"),
            (500, "500ms"),
            (30_000, "30s"),
            (90_000, "1m30s"),
            (5_400_000, "1h30m"),
            (7 * DAY_MS, "7d"),
            (DAY_MS + 1, "1d1ms"),
            (-60_000, "-1m"),
        ];
        for (ms, text) in cases {
            assert_eq!(format_duration(ms), text);
            if ms >= 0 {
                assert_eq!(parse_duration(text), Ok(ms));
            }
        }
    }

    #[test]
    fn parses_rfc3339_and_unix_ms() {
        let cases = [
            ("1970-01-01T00:00:00Z", 0),
            ("2026-11-27T12:00:00Z", 1_795_780_800_000),
            ("2026-11-27t12:00:00z", 1_795_780_800_000),
            ("2026-11-27 12:00:00Z", 1_795_780_800_000),
            ("2000-02-29T23:59:59.123Z", 951_868_799_123),
            ("2000-02-29T23:59:59.1234567Z", 951_868_799_123),
            ("2000-02-29T23:59:59.1Z", 951_868_799_100),
            ("1969-12-31T23:00:00Z", -3_600_000),
            ("2024-12-31T23:30:00-01:30", 1_735_693_200_000),
            ("2026-11-27T13:00:00+01:00", 1_795_780_800_000),
            ("1764250000000", 1_764_250_000_000),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_timestamp(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn refuses_bad_timestamps() {
        for text in [
            "",
            "yesterday",
            "2026-11-27",
            "2026-11-27T12:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-11-27T24:00:00Z",
            "2026-11-27T12:60:00Z",
            "2026-11-27T12:00:00.Z",
            "2026-11-27T12:00:00+1:00",
            "2026-11-27T12:00:00+01:00x",
            "2026-11-27T12:00:00Zx",
            "2026/11/27T12:00:00Z",
            "-5",
        ] {
            let e = parse_timestamp(text).unwrap_err();
            assert!(e.contains("RFC 3339"), "{text}: {e}");
        }
        assert!(parse_timestamp("99999999999999999999")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn specs_read_strings_and_integers() {
        let d: DurationSpec = serde_json::from_str("\"5m\"").unwrap();
        assert_eq!(d.to_ms(), Ok(300_000));
        let d: DurationSpec = serde_json::from_str("1500").unwrap();
        assert_eq!(d.to_ms(), Ok(1_500));
        let d: DurationSpec = serde_json::from_str("-1").unwrap();
        assert_eq!(d.to_ms(), Err("negative duration -1".to_string()));
        let e = serde_json::from_str::<DurationSpec>("1.5").unwrap_err();
        assert!(e.to_string().contains("a duration such as"), "{e}");
        assert!(serde_json::from_str::<DurationSpec>("18446744073709551615").is_err());
        assert_eq!(serde_json::to_string(&d).unwrap(), "-1");
        assert_eq!(
            serde_json::to_string(&DurationSpec::from_ms(90_000)).unwrap(),
            "\"1m30s\""
        );

        let t: TimeSpec = serde_json::from_str("\"2026-11-27T12:00:00Z\"").unwrap();
        assert_eq!(t.to_ms(), Ok(1_795_780_800_000));
        let t: TimeSpec = serde_json::from_str("1795780800000").unwrap();
        assert_eq!(t.to_ms(), Ok(1_795_780_800_000));
        assert_eq!(serde_json::to_string(&t).unwrap(), "1795780800000");
        assert!(serde_json::from_str::<TimeSpec>("true").is_err());
    }
}
