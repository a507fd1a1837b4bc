//! Podman events: `podman events --format json` (one object per line: `ID`, `Image`,
//! `Name`, `Status`, `Type`, `Attributes`, and the time as RFC 3339 `Time` before
//! Podman 5, epoch `time`/`timeNano` since) and the default text form
//! `<Go time> <type> <status> <id> (image=…, name=…, <labels>)`.
//!
//! Podman has no daemon that other sensors see, so on a Podman host these are the
//! pull, create and start stages. An image `pull` names the reference pulled in `Name`
//! (its `ID` is the image id, not a digest of the reference); a container's `Image` is
//! the reference it was created from. `exec` events name the container but not the
//! command, so they are not activity; `init`, `attach`, `cleanup` and the rest are of
//! no interest. Podman's compatibility API (Docker's socket) writes Docker's shape,
//! which the docker-events decoder reads.

use crate::util::{nonempty, rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Ts,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "ID", borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "Image", borrow)]
    image: Option<Text<'a>>,
    #[serde(rename = "Name", borrow)]
    name: Option<Text<'a>>,
    #[serde(rename = "Status", borrow)]
    status: Option<Text<'a>>,
    #[serde(rename = "Type", borrow)]
    typ: Option<Text<'a>>,
    #[serde(rename = "Time", borrow)]
    time_text: Option<Text<'a>>,
    #[serde(rename = "timeNano")]
    time_nano: Option<i64>,
    time: Option<i64>,
}

/// The fields one event needs, from either form.
struct Fields<'a> {
    time: Ts,
    typ: &'a str,
    status: &'a str,
    id: &'a str,
    image: Option<&'a str>,
    name: Option<&'a str>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    let time = match (w.time_nano, w.time, nonempty(&w.time_text)) {
        (Some(ns), _, _) => Ts(ns),
        (None, _, Some(t)) => rfc3339(t)?,
        (None, Some(s), None) => {
            Ts::from_secs(s).ok_or_else(|| DecodeError::Time(s.to_string()))?
        }
        (None, None, None) => return Err(DecodeError::Missing("Time")),
    };
    let fields = Fields {
        time,
        typ: nonempty(&w.typ).ok_or(DecodeError::Missing("Type"))?,
        status: nonempty(&w.status).ok_or(DecodeError::Missing("Status"))?,
        id: nonempty(&w.id).unwrap_or(""),
        image: nonempty(&w.image),
        name: nonempty(&w.name),
    };
    emit(&fields, ctx, out)
}

/// `2026-11-20 09:00:02.123456789 +0000 UTC container start 3f9c… (image=…, name=…)`
/// and, for images, `… image pull <image id> <reference>`.
pub fn decode_text(line: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let (time, rest) = go_time(line)?;
    let mut words = rest.splitn(3, ' ');
    let typ = words.next().filter(|s| !s.is_empty());
    let typ = typ.ok_or(DecodeError::Missing("type"))?;
    let status = words.next().filter(|s| !s.is_empty());
    let status = status.ok_or(DecodeError::Missing("status"))?;
    let tail = words.next().unwrap_or("").trim();
    if !TYPES.contains(&typ) {
        return Err(DecodeError::Invalid(format!(
            "event type {:?} is not one Podman writes",
            truncate(typ, 40)
        )));
    }
    let (head, attrs) = match tail.split_once(" (") {
        Some((h, a)) => (h.trim(), a.strip_suffix(')').unwrap_or(a)),
        None => (tail, ""),
    };
    let (id, image, name) = if typ == "image" {
        // `<image id> <reference>`; the id is left out of some pulls.
        let mut parts = head.split_whitespace();
        let first = parts.next().unwrap_or("");
        match parts.next() {
            Some(reference) => (first, None, Some(reference)),
            None => ("", None, Some(first).filter(|s| !s.is_empty())),
        }
    } else {
        (head, attr(attrs, "image"), attr(attrs, "name"))
    };
    emit(
        &Fields {
            time,
            typ,
            status,
            id,
            image,
            name,
        },
        ctx,
        out,
    )
}

const TYPES: &[&str] = &[
    "container",
    "image",
    "pod",
    "volume",
    "network",
    "system",
    "machine",
    "secret",
];

/// The first `key=value` of the attribute list: Podman writes the container's own
/// `image` and `name` first, and image labels after them may repeat those keys.
fn attr<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    attrs.split(", ").find_map(|kv| {
        kv.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// Go's `time.Time.String()`: `YYYY-MM-DD HH:MM:SS[.fraction] ±hhmm ZONE`, with the
/// rest of the line after it.
fn go_time(line: &str) -> Result<(Ts, &str), DecodeError> {
    let mut it = line.trim().splitn(5, ' ');
    let (Some(date), Some(clock), Some(offset), Some(_zone), Some(rest)) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(DecodeError::Missing("time"));
    };
    let ob = offset.as_bytes();
    let shape = crate::containerd::is_date(date)
        && crate::containerd::is_clock(clock)
        && ob.len() == 5
        && matches!(ob[0], b'+' | b'-');
    let time = shape
        .then(|| Ts::parse_rfc3339(&format!("{date}T{clock}{offset}")))
        .flatten()
        .ok_or_else(|| DecodeError::Time(truncate(&format!("{date} {clock} {offset}"), 64)))?;
    Ok((time, rest.trim_start()))
}

/// Whether a text line opens as Podman's: a Go time, then an event type Podman writes
/// and no containerd topic (`/tasks/start`).
pub fn looks_like_text(line: &str) -> bool {
    let mut it = line.splitn(6, ' ');
    let (Some(date), Some(_), Some(_), Some(_), Some(typ)) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return false;
    };
    crate::containerd::is_date(date) && TYPES.contains(&typ)
}

fn emit(f: &Fields, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let kind = match (f.typ, f.status) {
        ("image", "pull") => {
            // A pull that failed or has not resolved names no reference.
            let Some(reference) = f.name else {
                return Ok(());
            };
            EventKind::ImagePull(ImagePull {
                host: None,
                image: ImageRef::parse(reference),
                for_container: None,
                detail: format!("podman image pull {}", truncate(reference, 200)),
            })
        }
        ("container", "create" | "start" | "died") => {
            if f.id.is_empty() {
                return Err(DecodeError::Missing("ID"));
            }
            let phase = match f.status {
                "create" => LifecyclePhase::Create,
                "start" => LifecyclePhase::Start,
                _ => LifecyclePhase::Exit,
            };
            EventKind::Container(ContainerLifecycle {
                container: ContainerRef {
                    host: None,
                    id: ContainerRef::clean_id(f.id),
                    name: f.name.map(pullwatch_model::name),
                    pod: None,
                    namespace: None,
                    image: f.image.map(ImageRef::parse),
                    started_at: None,
                },
                phase,
                pid: None,
                // The infra container that holds a pod's namespaces, as kubelet's pause.
                sandbox: f.name.is_some_and(|n| n.ends_with("-infra")),
                detail: format!(
                    "podman container {} {}",
                    f.status,
                    f.id.get(..12).unwrap_or(f.id)
                ),
            })
        }
        _ => return Ok(()),
    };
    out.push(Event::new(f.time, ctx.source(Format::PodmanEvents), kind));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ctx;

    const CID: &str = "3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";

    fn json(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    fn text(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_text(s, &ctx(), &mut out).unwrap();
        out
    }

    fn lifecycle(e: &Event) -> &ContainerLifecycle {
        match &e.kind {
            EventKind::Container(c) => c,
            other => panic!("not a lifecycle record: {other:?}"),
        }
    }

    #[test]
    fn json_lifecycle_in_both_time_spellings() {
        let v4 = json(&format!(
            r#"{{"ID":"{CID}","Image":"docker.io/kitty0x/toolbox:latest","Name":"worker","Status":"start","Time":"2026-11-20T10:00:03.123456789+01:00","Type":"container","Attributes":{{"image":"docker.io/kitty0x/toolbox:latest","name":"worker","maintainer":"x"}}}}"#
        ));
        assert_eq!(v4.len(), 1);
        assert_eq!(v4[0].time, Ts(1_795_165_203_123_456_789));
        assert_eq!(v4[0].source.format, Format::PodmanEvents);
        let c = lifecycle(&v4[0]);
        assert_eq!(c.phase, LifecyclePhase::Start);
        assert_eq!(c.container.id.as_deref(), Some(CID));
        assert_eq!(c.container.name.as_deref(), Some("worker"));
        assert_eq!(
            c.container
                .image
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("docker.io/kitty0x/toolbox:latest")
        );
        assert!(!c.sandbox);
        let v5 = json(&format!(
            r#"{{"ContainerExitCode":137,"ID":"{CID}","Image":"x:1","Name":"worker","Status":"died","time":1795165260,"timeNano":1795165260000000001,"Type":"container"}}"#
        ));
        assert_eq!(v5[0].time, Ts(1_795_165_260_000_000_001));
        assert_eq!(lifecycle(&v5[0]).phase, LifecyclePhase::Exit);
    }

    #[test]
    fn pulls_name_the_reference_not_the_image_id() {
        let e = json(
            r#"{"ID":"5f3a2b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a","Name":"docker.io/kitty0x/toolbox:latest","Status":"pull","Time":"2026-11-20T09:00:02Z","Type":"image"}"#,
        );
        let EventKind::ImagePull(p) = &e[0].kind else {
            panic!()
        };
        assert_eq!(p.image.to_string(), "docker.io/kitty0x/toolbox:latest");
        let e = text("2026-11-20 09:00:02.5 +0000 UTC image pull 5f3a2b0c9d8e docker.io/kitty0x/toolbox:latest");
        let EventKind::ImagePull(p) = &e[0].kind else {
            panic!()
        };
        assert_eq!(p.image.to_string(), "docker.io/kitty0x/toolbox:latest");
        assert_eq!(e[0].time, Ts(1_795_165_202_500_000_000));
        // A pull with no reference, and statuses of no interest, say nothing.
        assert!(
            json(r#"{"Status":"pull","Time":"2026-11-20T09:00:02Z","Type":"image"}"#).is_empty()
        );
        assert!(json(&format!(
            r#"{{"ID":"{CID}","Status":"exec","Time":"2026-11-20T09:00:02Z","Type":"container","Name":"w"}}"#
        ))
        .is_empty());
    }

    #[test]
    fn text_form_takes_the_first_image_and_name() {
        let e = text(&format!(
            "2026-11-20 11:00:03.123456789 +0200 EET container create {CID} (image=docker.io/kitty0x/toolbox:latest, name=worker, name=Toolbox Image, summary=a, b)"
        ));
        let c = lifecycle(&e[0]);
        assert_eq!(e[0].time, Ts(1_795_165_203_123_456_789));
        assert_eq!(c.phase, LifecyclePhase::Create);
        assert_eq!(c.container.name.as_deref(), Some("worker"));
        assert_eq!(
            c.container
                .image
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("docker.io/kitty0x/toolbox:latest")
        );
        let infra = text(&format!(
            "2026-11-20 09:00:03 +0000 UTC container start {CID} (image=localhost/podman-pause:5.2.2-1724198400, name=9a1b2c3d4e5f-infra, pod_id=9a1b)"
        ));
        assert!(lifecycle(&infra[0]).sandbox);
    }

    #[test]
    fn broken_records_are_errors() {
        let err = |s: &str| {
            let mut out = Vec::new();
            let r = if s.starts_with('{') {
                decode_json(s, &ctx(), &mut out)
            } else {
                decode_text(s, &ctx(), &mut out)
            };
            assert!(out.is_empty());
            r.unwrap_err()
        };
        assert_eq!(
            err(r#"{"ID":"a","Status":"start","Type":"container"}"#),
            DecodeError::Missing("Time")
        );
        assert_eq!(
            err(r#"{"Status":"start","Time":"2026-11-20T09:00:02Z","Type":"container"}"#),
            DecodeError::Missing("ID")
        );
        assert!(matches!(
            err(r#"{"ID":"a","Status":"start","Time":"yesterday","Type":"container"}"#),
            DecodeError::Time(_)
        ));
        assert!(matches!(
            err("2026-11-20 25:00:00 +0000 UTC container start a (image=x)"),
            DecodeError::Time(_)
        ));
        assert!(matches!(
            err("2026-11-20 09:00:00 +0000 UTC k8s.io /tasks/start {}"),
            DecodeError::Invalid(_)
        ));
        assert!(looks_like_text(&format!(
            "2026-11-20 09:00:00.1 +0000 UTC container start {CID} (image=x)"
        )));
        assert!(!looks_like_text(
            "2026-11-20 09:00:00.1 +0000 UTC k8s.io /tasks/start {}"
        ));
    }
}
