//! Small helpers shared by decoders: lenient scalar types for sources that write the
//! same field as a number or a string, and timestamp parsing with a located error.

use crate::DecodeError;
use pullwatch_model::Ts;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// Parses an RFC 3339 timestamp, or says which value was wrong.
pub fn rfc3339(s: &str) -> Result<Ts, DecodeError> {
    Ts::parse_rfc3339(s).ok_or_else(|| DecodeError::Time(truncate(s, 64)))
}

/// A copy of at most `max` bytes of `s` (on a char boundary), for error messages
/// that quote input.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An integer written as a JSON number or as a decimal string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LenientI64(pub i64);

impl<'de> Deserialize<'de> for LenientI64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than an untagged enum: untagged enums buffer every value
        // before trying their variants, and pids and ports are on most records.
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = LenientI64;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer, as a number or a decimal string")
            }

            fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<LenientI64, E> {
                Ok(LenientI64(i))
            }

            fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<LenientI64, E> {
                i64::try_from(u)
                    .map(LenientI64)
                    .map_err(|_| E::custom("integer out of range"))
            }

            fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<LenientI64, E> {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Ok(LenientI64(f as i64))
                } else {
                    Err(E::custom("expected an integer"))
                }
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<LenientI64, E> {
                s.trim().parse().map(LenientI64).map_err(|_| {
                    E::custom(format!("expected an integer, got {:?}", truncate(s, 32)))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A string field of a record, borrowed from the record unless it holds escapes.
/// serde's `borrow` attribute borrows a bare `Cow<str>` but not one inside an `Option`,
/// which it copies into a new `String` every time; this type borrows wherever it sits,
/// so the decoders' optional fields are `#[serde(borrow)] name: Option<Text<'a>>`
/// (missing or `null`: `None`). Most fields of most records are read, compared and
/// dropped, so not copying them is much of a decoder's speed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Text<'a> {
        Text(Cow::Borrowed(s))
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(Cow::Owned(s))
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A field's text without surrounding whitespace, or `None` when nothing is left:
/// producers write `""` or `" "` where they mean "not known", and an empty name must
/// not become a key that unrelated records share.
pub fn nonblank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// [`nonblank`] for an optional borrowed field, as the decoders' structs hold them.
pub fn nonempty<'s>(v: &'s Option<Text<'_>>) -> Option<&'s str> {
    nonblank(v.as_deref())
}

/// Strings that may be absent, `null`, or (in Falco) some other scalar.
pub fn opt_string(v: &Option<Text<'_>>) -> Option<String> {
    nonempty(v).map(str::to_string)
}

/// A JSON object of strings (cloud tags and labels), kept in the order written; `null`
/// values become empty strings and a `null` object no pairs.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct Pairs(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Pairs, E> {
                Ok(Pairs::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Pairs, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<Cow<str>, Option<Cow<str>>>()? {
                    v.push((k.into_owned(), val.map(Cow::into_owned).unwrap_or_default()));
                }
                Ok(Pairs(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Percent-decoding (`%2F` → `/`); a malformed escape is kept as written rather than
/// failing the record. With `plus_is_space`, `+` is a space, as in URL query strings
/// (Go's `url.ParseQuery`).
pub fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Rec<'a> {
        #[serde(borrow)]
        s: Option<Text<'a>>,
        n: Option<LenientI64>,
    }

    #[test]
    fn blank_text_is_absent_and_the_rest_is_trimmed() {
        assert_eq!(nonblank(None), None);
        assert_eq!(nonblank(Some("")), None);
        assert_eq!(nonblank(Some(" \t\n")), None);
        assert_eq!(nonblank(Some("  web-7 ")), Some("web-7"));
        let r: Rec = serde_json::from_str(r#"{"s":"  "}"#).unwrap();
        assert_eq!(nonempty(&r.s), None);
        let r: Rec = serde_json::from_str(r#"{"s":" node-7"}"#).unwrap();
        assert_eq!(nonempty(&r.s), Some("node-7"));
        assert_eq!(opt_string(&r.s).as_deref(), Some("node-7"));
    }

    #[test]
    fn optional_strings_are_borrowed_unless_escaped() {
        let r: Rec = serde_json::from_str(r#"{"s":"node-7"}"#).unwrap();
        assert!(matches!(r.s, Some(Text(Cow::Borrowed("node-7")))));
        let r: Rec = serde_json::from_str(r#"{"s":"a\"b"}"#).unwrap();
        assert!(matches!(r.s, Some(Text(Cow::Owned(ref o))) if o == "a\"b"));
        let r: Rec = serde_json::from_str(r#"{"s":null}"#).unwrap();
        assert!(r.s.is_none());
        let r: Rec = serde_json::from_str(r#"{}"#).unwrap();
        assert!(r.s.is_none());
        assert!(serde_json::from_str::<Rec>(r#"{"s":5}"#).is_err());
        // From a reader nothing can be borrowed: the string is copied, not refused.
        let mut de = serde_json::Deserializer::from_reader(&br#"{"s":"x"}"#[..]);
        let r = Rec::deserialize(&mut de).unwrap();
        assert!(matches!(r.s, Some(Text(Cow::Owned(ref o))) if o == "x"));
    }

    #[test]
    fn lenient_integers() {
        let n = |s: &str| serde_json::from_str::<Rec>(s).map(|r| r.n.map(|n| n.0));
        assert_eq!(n(r#"{"n":42}"#).unwrap(), Some(42));
        assert_eq!(n(r#"{"n":-7}"#).unwrap(), Some(-7));
        assert_eq!(n(r#"{"n":" 42 "}"#).unwrap(), Some(42));
        assert_eq!(n(r#"{"n":"4\u0032"}"#).unwrap(), Some(42));
        assert_eq!(n(r#"{"n":1e3}"#).unwrap(), Some(1000));
        assert_eq!(n(r#"{"n":null}"#).unwrap(), None);
        assert!(n(r#"{"n":1.5}"#).is_err());
        assert!(n(r#"{"n":18446744073709551615}"#).is_err());
        assert!(n(r#"{"n":"x"}"#).is_err());
        assert!(n(r#"{"n":true}"#).is_err());
        assert!(n(r#"{"n":[1]}"#).is_err());
    }
}
