//! The on-disk form of a baseline, format version 1: one JSON document, pretty-printed
//! with sorted keys so that it can be read, reviewed, diffed and kept under version
//! control.
//!
//! ```text
//! {
//!   "format": "pullwatch-baseline",
//!   "version": 1,
//!   "learning_until": "2026-11-27T09:00:00Z",            (or null)
//!   "repositories": {
//!     "docker.io/library/nginx": {
//!       "digests": {
//!         "sha256:…": { "first_seen": "…", "last_seen": "…" }
//!       },
//!       "tags": {
//!         "1.27.2": [ { "digest": "sha256:…", "first_seen": "…", "last_seen": "…" } ]
//!       }
//!     }
//!   },
//!   "vm_images": {
//!     "aws": {
//!       "ami-0abc…": {
//!         "owner": "111122223333",                          (optional)
//!         "origin": { "kind": "copied_from", "account": "…", "region": "…" },  (optional)
//!         "first_seen": "…", "last_seen": "…"
//!       }
//!     }
//!   }
//! }
//! ```
//!
//! Times are RFC 3339 in UTC with as many fractional digits as the event had. Repository
//! names are normalized references (`registry/path`). A tag's list is its history,
//! earliest first. `origin.kind` is one of `created_here`, `copied_from`, `imported`,
//! `shared_in`. Unknown keys are refused rather than dropped (a later pullwatch that
//! adds a key raises the version), and so is any version other than this one.

use crate::baseline::{Baseline, Repository, VmImage};
use pullwatch_model::Ts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const FORMAT_NAME: &str = "pullwatch-baseline";
pub const FORMAT_VERSION: u64 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a pullwatch baseline ({0})")]
    NotABaseline(String),
    #[error("baseline format version {0}; this pullwatch reads version {FORMAT_VERSION}")]
    Version(u64),
    #[error("damaged baseline: {0}")]
    Damaged(String),
}

#[derive(Serialize)]
struct DocOut<'a> {
    format: &'static str,
    version: u64,
    #[serde(with = "opt_ts")]
    learning_until: Option<Ts>,
    repositories: &'a BTreeMap<String, Repository>,
    vm_images: &'a BTreeMap<String, BTreeMap<String, VmImage>>,
}

/// Read first, leniently, so that another file or another version is named as such
/// instead of failing on its first unexpected key.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocIn {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    version: u64,
    #[serde(default, with = "opt_ts")]
    learning_until: Option<Ts>,
    #[serde(default)]
    repositories: BTreeMap<String, Repository>,
    #[serde(default)]
    vm_images: BTreeMap<String, BTreeMap<String, VmImage>>,
}

/// Writes the document, pretty-printed, with a final newline.
pub fn encode_to<W: std::io::Write>(b: &Baseline, mut w: W) -> std::io::Result<()> {
    let doc = DocOut {
        format: FORMAT_NAME,
        version: FORMAT_VERSION,
        learning_until: b.learning_until,
        repositories: &b.repositories,
        vm_images: &b.vm_images,
    };
    serde_json::to_writer_pretty(&mut w, &doc)?;
    w.write_all(b"\n")?;
    w.flush()
}

pub fn encode(b: &Baseline) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    encode_to(b, &mut out)?;
    Ok(out)
}

pub fn decode(text: &str) -> Result<Baseline, FormatError> {
    match text.trim_start().as_bytes().first() {
        None => return Err(FormatError::Damaged("empty file".into())),
        Some(b'{') => {}
        Some(_) => return Err(FormatError::NotABaseline("not a JSON object".into())),
    }
    let header: Header = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            FormatError::Damaged(e.to_string())
        } else {
            FormatError::NotABaseline(e.to_string())
        }
    })?;
    match header.format.as_ref().and_then(|f| f.as_str()) {
        Some(FORMAT_NAME) => {}
        Some(other) => {
            return Err(FormatError::NotABaseline(format!(
                "\"format\" is {other:?}, not {FORMAT_NAME:?}"
            )))
        }
        None => {
            return Err(FormatError::NotABaseline(format!(
                "no \"format\": {FORMAT_NAME:?} key"
            )))
        }
    }
    match header.version.as_ref().and_then(|v| v.as_u64()) {
        Some(FORMAT_VERSION) => {}
        Some(v) => return Err(FormatError::Version(v)),
        None => {
            return Err(FormatError::Damaged(
                "\"version\" is missing or not a number".into(),
            ))
        }
    }
    let doc: DocIn = serde_json::from_str(text).map_err(|e| FormatError::Damaged(e.to_string()))?;
    let b = Baseline {
        learning_until: doc.learning_until,
        repositories: doc.repositories,
        vm_images: doc.vm_images,
    };
    check(&b)?;
    Ok(b)
}

/// What serde cannot say: names are not empty, spans run forwards, every digest a tag
/// resolved to is among the repository's digests.
fn check(b: &Baseline) -> Result<(), FormatError> {
    let damaged = |what: String| Err(FormatError::Damaged(what));
    for (name, repo) in &b.repositories {
        if name.is_empty() {
            return damaged("empty repository name".into());
        }
        for (digest, seen) in &repo.digests {
            if digest.is_empty() {
                return damaged(format!("{name}: empty digest"));
            }
            if seen.first_seen > seen.last_seen {
                return damaged(format!("{name}@{digest}: first_seen is after last_seen"));
            }
        }
        for (tag, history) in &repo.tags {
            if tag.is_empty() {
                return damaged(format!("{name}: empty tag"));
            }
            for (digest, seen) in history {
                if seen.first_seen > seen.last_seen {
                    return damaged(format!(
                        "{name}:{tag} -> {digest}: first_seen is after last_seen"
                    ));
                }
                if !repo.digests.contains_key(digest) {
                    return damaged(format!(
                        "{name}:{tag} resolved to {digest}, which is not among the repository's digests"
                    ));
                }
            }
        }
    }
    for (provider, images) in &b.vm_images {
        if provider.is_empty() {
            return damaged("empty VM image provider".into());
        }
        for (id, image) in images {
            if id.is_empty() {
                return damaged(format!("{provider}: empty VM image id"));
            }
            if image.first_seen > image.last_seen {
                return damaged(format!("{provider} {id}: first_seen is after last_seen"));
            }
        }
    }
    Ok(())
}

/// Tag histories: kept by digest in memory, written as lists earliest first.
pub(crate) mod tag_histories {
    use crate::baseline::{history_list, Seen, TagResolution};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    type Histories = BTreeMap<String, BTreeMap<String, Seen>>;

    pub fn serialize<S: Serializer>(h: &Histories, s: S) -> Result<S::Ok, S::Error> {
        let lists: BTreeMap<&String, Vec<TagResolution>> =
            h.iter().map(|(tag, m)| (tag, history_list(m))).collect();
        lists.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histories, D::Error> {
        let lists = BTreeMap::<String, Vec<TagResolution>>::deserialize(d)?;
        let mut out = Histories::new();
        for (tag, list) in lists {
            let m = out.entry(tag.clone()).or_default();
            for r in list {
                let seen = r.seen();
                if m.insert(r.digest.clone(), seen).is_some() {
                    return Err(serde::de::Error::custom(format!(
                        "tag {tag:?} lists {} twice",
                        r.digest
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// `Ts` as RFC 3339 text.
pub(crate) mod ts {
    use pullwatch_model::Ts;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Ts, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ts::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("bad time {s:?} (want RFC 3339)")))
    }
}

mod opt_ts {
    use pullwatch_model::Ts;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<Ts>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Ts>, D::Error> {
        match Option::<std::borrow::Cow<str>>::deserialize(d)? {
            None => Ok(None),
            Some(s) => Ts::parse_rfc3339(&s)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("bad time {s:?} (want RFC 3339)"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::VmImageOrigin;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn t(s: &str) -> Ts {
        Ts::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn documented_layout_round_trips() {
        let mut b = Baseline::new();
        b.declare_learning_until(t("2026-11-27T09:00:00Z"));
        b.record_tag(
            "docker.io/library/nginx",
            "1.27.2",
            D1,
            t("2026-11-20T09:01:02.3Z"),
        );
        b.record_vm_image(
            "aws",
            "ami-0abc",
            Some("111122223333"),
            Some(VmImageOrigin::CopiedFrom {
                account: Some("444455556666".into()),
                region: Some("eu-west-1".into()),
            }),
            t("2026-11-20T10:00:00Z"),
        );
        let text = String::from_utf8(encode(&b).unwrap()).unwrap();
        let expected = format!(
            r#"{{
  "format": "pullwatch-baseline",
  "version": 1,
  "learning_until": "2026-11-27T09:00:00Z",
  "repositories": {{
    "docker.io/library/nginx": {{
      "digests": {{
        "{D1}": {{
          "first_seen": "2026-11-20T09:01:02.3Z",
          "last_seen": "2026-11-20T09:01:02.3Z"
        }}
      }},
      "tags": {{
        "1.27.2": [
          {{
            "digest": "{D1}",
            "first_seen": "2026-11-20T09:01:02.3Z",
            "last_seen": "2026-11-20T09:01:02.3Z"
          }}
        ]
      }}
    }}
  }},
  "vm_images": {{
    "aws": {{
      "ami-0abc": {{
        "owner": "111122223333",
        "origin": {{
          "kind": "copied_from",
          "account": "444455556666",
          "region": "eu-west-1"
        }},
        "first_seen": "2026-11-20T10:00:00Z",
        "last_seen": "2026-11-20T10:00:00Z"
      }}
    }}
  }}
}}
"#
        );
        assert_eq!(text, expected);
        assert_eq!(decode(&text).unwrap(), b);
    }

    #[test]
    fn other_files_and_versions_are_named() {
        assert_eq!(
            decode(r#"{"format":"pullwatch-baseline","version":2}"#),
            Err(FormatError::Version(2))
        );
        assert!(matches!(
            decode(r#"{"apiVersion":"v1","kind":"Config"}"#),
            Err(FormatError::NotABaseline(_))
        ));
        assert!(matches!(
            decode(r#"["not","an","object"]"#),
            Err(FormatError::NotABaseline(_))
        ));
        assert!(matches!(
            decode(r#"{"format":"something-else","version":1}"#),
            Err(FormatError::NotABaseline(m)) if m.contains("something-else")
        ));
        // Cut short, as a copy interrupted half-way would be.
        assert!(matches!(
            decode(r#"{"format":"pullwatch-baseline","version":1,"repositories":{"#),
            Err(FormatError::Damaged(_))
        ));
        assert!(matches!(decode(""), Err(FormatError::Damaged(_))));
    }

    #[test]
    fn inconsistent_content_is_damage() {
        let minimal = r#"{"format":"pullwatch-baseline","version":1}"#;
        assert_eq!(decode(minimal), Ok(Baseline::new()));
        let unknown = r#"{"format":"pullwatch-baseline","version":1,"extra":1}"#;
        assert!(matches!(decode(unknown), Err(FormatError::Damaged(m)) if m.contains("extra")));
        let backwards = format!(
            r#"{{"format":"pullwatch-baseline","version":1,"repositories":{{"docker.io/x/y":{{"digests":{{"{D1}":{{"first_seen":"2026-01-02T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}}}}}}}}}}"#
        );
        assert!(
            matches!(decode(&backwards), Err(FormatError::Damaged(m)) if m.contains("first_seen is after last_seen"))
        );
        let orphan_tag = format!(
            r#"{{"format":"pullwatch-baseline","version":1,"repositories":{{"docker.io/x/y":{{"tags":{{"1":[{{"digest":"{D1}","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}}]}}}}}}}}"#
        );
        assert!(
            matches!(decode(&orphan_tag), Err(FormatError::Damaged(m)) if m.contains("not among the repository's digests"))
        );
        let twice = format!(
            r#"{{"format":"pullwatch-baseline","version":1,"repositories":{{"docker.io/x/y":{{"digests":{{"{D1}":{{"first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}}}},"tags":{{"1":[{{"digest":"{D1}","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}},{{"digest":"{D1}","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}}]}}}}}}}}"#
        );
        assert!(
            matches!(decode(&twice), Err(FormatError::Damaged(m)) if m.contains(&format!("tag \"1\" lists {D1} twice")))
        );
        let bad_time =
            r#"{"format":"pullwatch-baseline","version":1,"learning_until":"next week"}"#;
        assert!(
            matches!(decode(bad_time), Err(FormatError::Damaged(m)) if m.contains("next week"))
        );
    }
}
