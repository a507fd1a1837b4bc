//! Docker Engine events: `docker events --format '{{json .}}'` (modern and legacy
//! fields) and the plain-text form `docker events` prints by default.
//!
//! Docker events carry no host name and no image digest: the container's image is the
//! reference the user typed, and a pull names `repo:tag` only.

use crate::util::{rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Lineage, Placement, ProcessExec, Ts,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "Type", borrow)]
    typ: Option<Text<'a>>,
    #[serde(rename = "Action", borrow)]
    action: Option<Text<'a>>,
    #[serde(rename = "Actor")]
    actor: Option<Actor<'a>>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    from: Option<Text<'a>>,
    time: Option<i64>,
    #[serde(rename = "timeNano")]
    time_nano: Option<i64>,
}

#[derive(Deserialize)]
struct Actor<'a> {
    #[serde(rename = "ID", borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "Attributes")]
    attributes: Option<Attrs<'a>>,
}

/// The attributes pullwatch reads; labels of any other name are ignored.
#[derive(Deserialize, Default)]
struct Attrs<'a> {
    #[serde(borrow)]
    image: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(rename = "io.kubernetes.pod.name", borrow)]
    pod: Option<Text<'a>>,
    #[serde(rename = "io.kubernetes.pod.namespace", borrow)]
    namespace: Option<Text<'a>>,
    #[serde(rename = "io.kubernetes.container.name", borrow)]
    k8s_container: Option<Text<'a>>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    let time = match (w.time_nano, w.time) {
        (Some(ns), _) => Ts(ns),
        (None, Some(s)) => Ts::from_secs(s).ok_or_else(|| DecodeError::Time(s.to_string()))?,
        (None, None) => return Err(DecodeError::Missing("timeNano")),
    };
    let (actor_id, attrs) = match w.actor {
        Some(a) => (a.id, a.attributes.unwrap_or_default()),
        None => (None, Attrs::default()),
    };
    let action = w
        .action
        .or(w.status)
        .ok_or(DecodeError::Missing("Action"))?;
    let actor_id = actor_id.or(w.id).ok_or(DecodeError::Missing("Actor.ID"))?;
    // Legacy events without `Type`: image events have no `from`.
    let typ = match &w.typ {
        Some(t) => t.as_ref(),
        None if w.from.is_some() => "container",
        None => "image",
    };
    let image = attrs.image.as_deref().or(w.from.as_deref());
    let fields = Fields {
        typ,
        action: &action,
        actor_id: &actor_id,
        image,
        name: attrs.name.as_deref(),
        pod: attrs.pod.as_deref(),
        namespace: attrs.namespace.as_deref(),
        k8s_container: attrs.k8s_container.as_deref(),
    };
    emit(time, &fields, ctx, out);
    Ok(())
}

struct Fields<'a> {
    typ: &'a str,
    action: &'a str,
    actor_id: &'a str,
    image: Option<&'a str>,
    name: Option<&'a str>,
    pod: Option<&'a str>,
    namespace: Option<&'a str>,
    k8s_container: Option<&'a str>,
}

fn emit(time: Ts, f: &Fields, ctx: &RecordCtx, out: &mut Vec<Event>) {
    let source = ctx.source(Format::DockerEvents);
    // `exec_start: /bin/sh -c id`: the command rides inside the action.
    let (verb, arg) = match f.action.split_once(": ") {
        Some((v, a)) => (v, Some(a)),
        None => (f.action, None),
    };
    let kind = match (f.typ, verb) {
        ("image", "pull") => EventKind::ImagePull(ImagePull {
            host: None,
            image: ImageRef::parse(f.actor_id),
            for_container: None,
            detail: format!("docker image pull {}", truncate(f.actor_id, 200)),
        }),
        ("container", "create" | "start" | "die") => {
            let phase = match verb {
                "create" => LifecyclePhase::Create,
                "start" => LifecyclePhase::Start,
                _ => LifecyclePhase::Exit,
            };
            EventKind::Container(ContainerLifecycle {
                container: container_ref(f),
                phase,
                pid: None,
                sandbox: f.k8s_container == Some("POD"),
                detail: format!("docker container {verb} {}", short(f.actor_id)),
            })
        }
        ("container", "exec_start") => {
            let cmd = arg.unwrap_or("").trim();
            let exe = pullwatch_model::name(cmd.split_whitespace().next().unwrap_or(""));
            EventKind::Process(ProcessExec {
                placement: Placement::Container(container_ref(f)),
                pid: None,
                ppid: None,
                exe,
                cmdline: cmd.to_string(),
                parent_exe: None,
                user: None,
                lineage: Lineage {
                    exec: true,
                    ..Lineage::default()
                },
            })
        }
        _ => return,
    };
    out.push(Event::new(time, source, kind));
}

fn container_ref(f: &Fields) -> ContainerRef {
    ContainerRef {
        host: None,
        id: ContainerRef::clean_id(f.actor_id),
        name: f.k8s_container.or(f.name).map(pullwatch_model::name),
        pod: f.pod.map(pullwatch_model::name),
        namespace: f.namespace.map(pullwatch_model::name),
        image: f.image.map(ImageRef::parse),
        started_at: None,
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `2017-01-05T00:35:58.859401177+08:00 container create 0fdb… (image=alpine:latest, name=test)`
pub fn decode_text(line: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let mut parts = line.splitn(4, ' ');
    let ts = parts.next().ok_or(DecodeError::Missing("time"))?;
    let typ = parts.next().ok_or(DecodeError::Missing("type"))?;
    let rest = parts.next().ok_or(DecodeError::Missing("action"))?;
    let tail = parts.next().unwrap_or("");
    let time = rfc3339(ts)?;
    // exec_start's command contains spaces; the id follows the action's command.
    let (action, id, attrs) = if rest.ends_with(':') {
        // `exec_start: <cmd…> <id> (attrs)`: split the id off the end.
        let (before_attrs, attrs) = split_attrs(tail);
        let (cmd, id) = before_attrs
            .trim_end()
            .rsplit_once(' ')
            .unwrap_or(("", before_attrs.trim_end()));
        (format!("{rest} {cmd}"), id.to_string(), attrs)
    } else {
        let (id_part, attrs) = split_attrs(tail);
        (rest.to_string(), id_part.trim().to_string(), attrs)
    };
    if id.is_empty() {
        return Err(DecodeError::Missing("id"));
    }
    let attr = |key: &str| attr_value(attrs, key);
    let fields = Fields {
        typ,
        action: &action,
        actor_id: &id,
        image: attr("image"),
        name: attr("name"),
        pod: attr("io.kubernetes.pod.name"),
        namespace: attr("io.kubernetes.pod.namespace"),
        k8s_container: attr("io.kubernetes.container.name"),
    };
    emit(time, &fields, ctx, out);
    Ok(())
}

fn split_attrs(s: &str) -> (&str, &str) {
    match s.find(" (") {
        Some(i) if s.ends_with(')') => (&s[..i], &s[i + 2..s.len() - 1]),
        _ => (s, ""),
    }
}

/// The value of `key=` in Docker's `k=v, k=v` attribute list. Docker prints the keys
/// sorted, so the first exact key match is the real one.
fn attr_value<'a>(attrs: &'a str, key: &str) -> Option<&'a str> {
    let mut rest = attrs;
    loop {
        let (item, next) = match rest.split_once(", ") {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        if let Some((k, v)) = item.split_once('=') {
            if k == key {
                return Some(v);
            }
        }
        rest = next?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::ctx;

    fn one_json(s: &str) -> Event {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        assert_eq!(out.len(), 1, "{s}");
        out.remove(0)
    }

    #[test]
    fn modern_container_start() {
        let e = one_json(
            r#"{"Type":"container","Action":"start","Actor":{"ID":"4A2Bd9c0ffee","Attributes":{"image":"evil/miner:1","name":"m"}},"scope":"local","time":1764598461,"timeNano":1764598461000012944}"#,
        );
        assert_eq!(e.time, Ts(1764598461000012944));
        let EventKind::Container(c) = e.kind else {
            panic!()
        };
        assert_eq!(c.phase, LifecyclePhase::Start);
        assert_eq!(c.container.id.as_deref(), Some("4a2bd9c0ffee"));
        assert_eq!(
            c.container.image.unwrap().to_string(),
            "docker.io/evil/miner:1"
        );
    }

    #[test]
    fn legacy_fields_and_pull() {
        let e = one_json(r#"{"status":"pull","id":"alpine:3.19","time":1700000000}"#);
        let EventKind::ImagePull(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.image.to_string(), "docker.io/library/alpine:3.19");
        assert_eq!(e.time, Ts(1_700_000_000_000_000_000));
        let e = one_json(r#"{"status":"create","id":"abc","from":"nginx","time":1}"#);
        assert!(matches!(e.kind, EventKind::Container(_)));
    }

    #[test]
    fn a_multibyte_timestamp_is_a_bad_timestamp_not_a_panic() {
        // Found by the malformed-input suite: a time field ending in multi-byte
        // characters made the offset fix-up slice inside a character.
        let mut out = Vec::new();
        let r = decode_text("ü€𝄞 container create abc (image=x)", &ctx(), &mut out);
        assert!(
            matches!(&r, Err(DecodeError::Time(t)) if t == "ü€𝄞"),
            "{r:?}"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn exec_command_rides_in_action() {
        let e = one_json(
            r#"{"Type":"container","Action":"exec_start: /bin/sh -c curl x|sh","Actor":{"ID":"abc","Attributes":{"execID":"1"}},"timeNano":7}"#,
        );
        let EventKind::Process(p) = e.kind else {
            panic!()
        };
        assert_eq!(&*p.exe, "/bin/sh");
        assert_eq!(p.cmdline, "/bin/sh -c curl x|sh");
        assert!(p.lineage.exec && !p.lineage.is_startup());
    }

    #[test]
    fn other_events_emit_nothing_and_missing_fields_fail() {
        let mut out = Vec::new();
        decode_json(
            r#"{"Type":"network","Action":"connect","Actor":{"ID":"n"},"timeNano":1}"#,
            &ctx(),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(
            decode_json(
                r#"{"Type":"container","Actor":{"ID":"n"},"timeNano":1}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("Action"))
        );
        assert!(decode_json(
            r#"{"Type":"container","Action":"start","Actor":{"ID":"n"}}"#,
            &ctx(),
            &mut out
        )
        .is_err());
    }

    #[test]
    fn text_form() {
        let mut out = Vec::new();
        decode_text(
            "2017-01-05T00:35:58.859401177+08:00 container create 0fdb1234 (image=alpine:latest, name=test)",
            &ctx(),
            &mut out,
        )
        .unwrap();
        decode_text(
            "2017-01-05T00:36:00.000000000+08:00 container exec_start: sh -c id 0fdb1234 (execID=9, image=alpine:latest, name=test)",
            &ctx(),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("2017-01-04T16:35:58.859401177Z").unwrap()
        );
        let EventKind::Process(p) = &out[1].kind else {
            panic!()
        };
        assert_eq!(p.cmdline, "sh -c id");
        let Placement::Container(c) = &p.placement else {
            panic!()
        };
        assert_eq!(c.id.as_deref(), Some("0fdb1234"));
        assert_eq!(
            c.image.as_ref().unwrap().to_string(),
            "docker.io/library/alpine:latest"
        );
    }

    /// The docker/cli golden files, from the shared samples when they are present.
    #[test]
    fn shared_samples() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/docker");
        let Ok(json) = std::fs::read_to_string(dir.join("docker-events-json.golden")) else {
            eprintln!("skipped: shared samples not present at {}", dir.display());
            return;
        };
        let mut out = Vec::new();
        for line in json.lines() {
            decode_json(line, &ctx(), &mut out).unwrap();
        }
        // create, start and die are lifecycle events; attach is of no interest.
        assert_eq!(out.len(), 3);
        let text = std::fs::read_to_string(dir.join("docker-events-default.golden")).unwrap();
        let mut out2 = Vec::new();
        for line in text.lines() {
            decode_text(line, &ctx(), &mut out2).unwrap();
        }
        assert_eq!(out2.len(), 3);
        assert_eq!(out2[0].time, Ts::from_secs(1).unwrap());
    }
}
