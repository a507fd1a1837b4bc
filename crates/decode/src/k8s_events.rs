//! Kubernetes Events as the kubelet reports them: `core/v1` Events (`involvedObject`,
//! `message`, `source`) and the same objects seen through `events.k8s.io/v1`
//! (`regarding`, `note`, `deprecated*`), one per line, as the items of a
//! `kubectl get events -o json` list (unwrapped by the stream), or as watch
//! notifications `{"type":"ADDED","object":{…}}`.
//!
//! Only kubelet reasons about pods matter here: `Pulling` and `Pulled` (an image came
//! from a registry onto a node) and `Created`/`Started`/`Killing` (container
//! lifecycle). Events are lossy and short-lived, so they corroborate runtime sources
//! rather than replace them; they do name the node, pod and container, which runtime
//! events often do not.
//!
//! The API server updates an Event in place when the same thing recurs (`count`,
//! `series`, and a MODIFIED watch notification), so one object can be read many times.
//! Lifecycle events carry `dedupe = "k8s-event:<uid>"`; pulls carry
//! `"k8s-pull:<namespace>/<pod>/<container>/<image>"`, shared by `Pulling` and the
//! `Pulled` that follows it, so a pull counts once whichever of the two was kept.

use crate::util::{opt_string, rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Ts,
};
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    api_version: Option<Text<'a>>,
    /// `Normal|Warning` on an Event, `ADDED|MODIFIED|DELETED|…` on a watch notification.
    #[serde(rename = "type", borrow)]
    typ: Option<Text<'a>>,
    /// The Event inside a watch notification.
    #[serde(borrow)]
    object: Option<&'a RawValue>,
    #[serde(borrow)]
    metadata: Option<Meta<'a>>,
    #[serde(borrow)]
    involved_object: Option<ObjRef<'a>>,
    #[serde(borrow)]
    regarding: Option<ObjRef<'a>>,
    #[serde(borrow)]
    reason: Option<Text<'a>>,
    #[serde(borrow)]
    message: Option<Text<'a>>,
    #[serde(borrow)]
    note: Option<Text<'a>>,
    #[serde(borrow)]
    source: Option<Source<'a>>,
    #[serde(borrow)]
    deprecated_source: Option<Source<'a>>,
    #[serde(borrow)]
    reporting_instance: Option<Text<'a>>,
    #[serde(borrow)]
    first_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    event_time: Option<Text<'a>>,
    #[serde(borrow)]
    deprecated_first_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    last_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    deprecated_last_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    series: Option<Series<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    #[serde(borrow)]
    uid: Option<Text<'a>>,
    #[serde(borrow)]
    creation_timestamp: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjRef<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    field_path: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Source<'a> {
    #[serde(borrow)]
    host: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series<'a> {
    #[serde(borrow)]
    last_observed_time: Option<Text<'a>>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    if w.involved_object.is_none() && w.regarding.is_none() {
        if let Some(obj) = w.object {
            let typ = w.typ.as_deref().ok_or(DecodeError::Missing("type"))?;
            return match typ {
                "ADDED" | "MODIFIED" => decode_event(serde_json::from_str(obj.get())?, ctx, out),
                // The Event expired or was deleted: nothing happened on the node. It is
                // still decoded, so that a notification of another kind fails here.
                "DELETED" => decode_event(serde_json::from_str(obj.get())?, ctx, &mut Vec::new()),
                "BOOKMARK" | "ERROR" => Ok(()),
                other => Err(DecodeError::Invalid(format!(
                    "unknown watch type {:?}",
                    truncate(other, 32)
                ))),
            };
        }
    }
    decode_event(w, ctx, out)
}

fn decode_event(w: Wire, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    if let Some(k) = w.kind.as_deref() {
        if k != "Event" {
            return Err(DecodeError::Invalid(format!(
                "kind {:?} is not an Event",
                truncate(k, 64)
            )));
        }
    }
    if let Some(v) = w.api_version.as_deref() {
        if v != "v1" && !v.starts_with("events.k8s.io/") {
            return Err(DecodeError::Invalid(format!(
                "apiVersion {:?} is not an Event API",
                truncate(v, 64)
            )));
        }
    }
    let obj = w
        .involved_object
        .as_ref()
        .or(w.regarding.as_ref())
        .ok_or(DecodeError::Missing("involvedObject"))?;
    let time = event_time(&w)?;
    if obj.kind.as_deref() != Some("Pod") {
        return Ok(());
    }
    let reason = w.reason.as_deref().unwrap_or("");
    let message = w.message.as_deref().or(w.note.as_deref()).unwrap_or("");
    let (phase, pull) = match reason {
        "Pulling" => (None, true),
        // `Container image "x" already present on machine`: no pull happened.
        "Pulled" if message.starts_with("Successfully pulled image") => (None, true),
        "Created" => (Some(LifecyclePhase::Create), false),
        "Started" => (Some(LifecyclePhase::Start), false),
        "Killing" => (Some(LifecyclePhase::Exit), false),
        _ => return Ok(()),
    };
    let pod = opt_string(&obj.name).ok_or(DecodeError::Missing("involvedObject.name"))?;
    let namespace = opt_string(&obj.namespace)
        .or_else(|| w.metadata.as_ref().and_then(|m| opt_string(&m.namespace)))
        .ok_or(DecodeError::Missing("involvedObject.namespace"))?;
    let host = w
        .source
        .as_ref()
        .and_then(|s| opt_string(&s.host))
        .or_else(|| opt_string(&w.reporting_instance))
        .or_else(|| {
            w.deprecated_source
                .as_ref()
                .and_then(|s| opt_string(&s.host))
        });
    let name = obj
        .field_path
        .as_deref()
        .and_then(container_from_field_path)
        .or_else(|| container_from_message(message))
        .map(str::to_string);
    let source = ctx.source(Format::K8sEvents);
    if pull {
        let raw = quoted_image(message).ok_or_else(|| {
            DecodeError::Invalid(format!(
                "{reason} message has no quoted image: {}",
                truncate(message, 80)
            ))
        })?;
        let image = ImageRef::parse(raw);
        let key = format!(
            "k8s-pull:{namespace}/{pod}/{}/{image}",
            name.as_deref().unwrap_or("")
        );
        let mut e = Event::new(
            time,
            source,
            EventKind::ImagePull(ImagePull {
                host: host.clone(),
                image: image.clone(),
                for_container: Some(ContainerRef {
                    host: host.as_deref().map(pullwatch_model::name),
                    name: name.as_deref().map(pullwatch_model::name),
                    pod: Some(pullwatch_model::name(&pod)),
                    namespace: Some(pullwatch_model::name(&namespace)),
                    image: Some(image),
                    ..ContainerRef::default()
                }),
                detail: message.to_string(),
            }),
        );
        e.dedupe = Some(key.into_boxed_str());
        out.push(e);
        return Ok(());
    }
    let Some(phase) = phase else {
        return Ok(());
    };
    let mut e = Event::new(
        time,
        source,
        EventKind::Container(ContainerLifecycle {
            container: ContainerRef {
                host: host.as_deref().map(pullwatch_model::name),
                name: name.as_deref().map(pullwatch_model::name),
                pod: Some(pullwatch_model::name(&pod)),
                namespace: Some(pullwatch_model::name(&namespace)),
                ..ContainerRef::default()
            },
            phase,
            pid: None,
            sandbox: false,
            detail: format!("{reason}: {message}"),
        }),
    );
    e.dedupe = event_key(&w);
    out.push(e);
    Ok(())
}

/// The time the event first happened: the Event object keeps it while `count` and
/// the last-seen time move on. The last-seen times and the object's creation only
/// stand in when no first time was written.
fn event_time(w: &Wire) -> Result<Ts, DecodeError> {
    let series = w
        .series
        .as_ref()
        .and_then(|s| s.last_observed_time.as_deref());
    let created = w
        .metadata
        .as_ref()
        .and_then(|m| m.creation_timestamp.as_deref());
    let raw = [
        w.first_timestamp.as_deref(),
        w.event_time.as_deref(),
        w.deprecated_first_timestamp.as_deref(),
        w.last_timestamp.as_deref(),
        w.deprecated_last_timestamp.as_deref(),
        series,
        created,
    ]
    .into_iter()
    .flatten()
    .find(|s| is_set(s))
    .ok_or(DecodeError::Missing("firstTimestamp"))?;
    rfc3339(raw)
}

/// Go's zero time can leak out of older clients as `0001-01-01T00:00:00Z`: it means
/// "not set", like `null`.
fn is_set(s: &str) -> bool {
    !s.is_empty() && !s.starts_with("0001-01-01")
}

fn event_key(w: &Wire) -> Option<Box<str>> {
    let m = w.metadata.as_ref()?;
    let id = match (
        opt_string(&m.uid),
        opt_string(&m.namespace),
        opt_string(&m.name),
    ) {
        (Some(uid), _, _) => uid,
        (None, Some(ns), Some(name)) => format!("{ns}/{name}"),
        (None, None, Some(name)) => name,
        _ => return None,
    };
    Some(format!("k8s-event:{id}").into_boxed_str())
}

/// `spec.containers{nginx}`, `spec.initContainers{init}`,
/// `spec.ephemeralContainers{debugger}`: the container name is inside the braces.
fn container_from_field_path(fp: &str) -> Option<&str> {
    let (_, rest) = fp.split_once('{')?;
    let name = rest.strip_suffix('}')?;
    (!name.is_empty()).then_some(name)
}

/// Kubelets name the container in the message too (`Created container nginx`, newer
/// `Created container: nginx`), used when an event has no `fieldPath`.
fn container_from_message(msg: &str) -> Option<&str> {
    let rest = [
        "Created container",
        "Started container",
        "Stopping container",
    ]
    .iter()
    .find_map(|p| msg.strip_prefix(p))?;
    let rest = rest.strip_prefix(':').unwrap_or(rest).trim();
    (!rest.is_empty() && !rest.contains(char::is_whitespace)).then_some(rest)
}

/// The image in `Pulling image "x"` and in `Successfully pulled image "x" in 1.2s …`.
/// Image strings are not validated by the API server, so the closing quote is the one
/// before ` in ` when there is one, else the last.
fn quoted_image(msg: &str) -> Option<&str> {
    let (_, rest) = msg.split_once('"')?;
    let end = rest.find("\" in ").or_else(|| rest.rfind('"'))?;
    let image = rest.get(..end)?.trim();
    (!image.is_empty()).then_some(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{open_path, DecodeOptions, DecodeStats, EventStream};
    use std::path::Path;

    use crate::test_support::ctx;

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    fn one(s: &str) -> Event {
        let mut out = decode(s);
        assert_eq!(out.len(), 1, "{s}");
        out.remove(0)
    }

    /// A core/v1 kubelet Event about container `web` of pod `demo/web-1` on `node-a`.
    fn core(reason: &str, message: &str) -> String {
        format!(
            r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"web-1.17f0a","namespace":"demo","uid":"u-1","creationTimestamp":"2025-05-04T08:00:01Z"}},
            "involvedObject":{{"kind":"Pod","namespace":"demo","name":"web-1","fieldPath":"spec.containers{{web}}"}},
            "reason":"{reason}","message":{},"source":{{"component":"kubelet","host":"node-a"}},
            "firstTimestamp":"2025-05-04T08:00:01Z","lastTimestamp":"2025-05-04T08:07:00Z","count":4,"type":"Normal","eventTime":null,"reportingComponent":"kubelet","reportingInstance":""}}"#,
            serde_json::to_string(message).unwrap()
        )
    }

    fn pull(e: &Event) -> &ImagePull {
        let EventKind::ImagePull(p) = &e.kind else {
            panic!("{e:?}")
        };
        p
    }

    fn lifecycle(e: &Event) -> &ContainerLifecycle {
        let EventKind::Container(c) = &e.kind else {
            panic!("{e:?}")
        };
        c
    }

    #[test]
    fn pulling_names_node_pod_container_and_image() {
        let e = one(&core(
            "Pulling",
            r#"Pulling image "registry.example.com:5000/team/web:1.8""#,
        ));
        // The first occurrence, not the last update of the repeated event.
        assert_eq!(e.time, Ts::parse_rfc3339("2025-05-04T08:00:01Z").unwrap());
        assert_eq!(
            e.dedupe.as_deref(),
            Some("k8s-pull:demo/web-1/web/registry.example.com:5000/team/web:1.8")
        );
        let p = pull(&e);
        assert_eq!(p.host.as_deref(), Some("node-a"));
        assert_eq!(p.image.registry, "registry.example.com:5000");
        assert_eq!(p.image.tag.as_deref(), Some("1.8"));
        assert_eq!(
            p.detail,
            r#"Pulling image "registry.example.com:5000/team/web:1.8""#
        );
        let c = p.for_container.as_ref().unwrap();
        assert_eq!(c.host.as_deref(), Some("node-a"));
        assert_eq!(c.namespace.as_deref(), Some("demo"));
        assert_eq!(c.pod.as_deref(), Some("web-1"));
        assert_eq!(c.name.as_deref(), Some("web"));
        assert_eq!(c.id, None);
        // Old kubelets wrote the reason's message in lower case.
        assert_eq!(
            pull(&one(&core("Pulling", r#"pulling image "nginx""#)))
                .image
                .to_string(),
            "docker.io/library/nginx:latest"
        );
    }

    #[test]
    fn every_successfully_pulled_wording_shares_the_pulling_key() {
        let pulling = one(&core("Pulling", r#"Pulling image "nginx:1.25""#));
        for msg in [
            r#"Successfully pulled image "nginx:1.25" in 1.234s (1.234s including waiting). Image size: 70000000 bytes."#,
            r#"Successfully pulled image "nginx:1.25" in 1.234s (1.234s including waiting)"#,
            r#"Successfully pulled image "nginx:1.25" in 2.1s"#,
            r#"Successfully pulled image "nginx:1.25""#,
        ] {
            let e = one(&core("Pulled", msg));
            assert_eq!(e.dedupe, pulling.dedupe, "{msg}");
            assert_eq!(pull(&e).image.to_string(), "docker.io/library/nginx:1.25");
            assert_eq!(pull(&e).detail, msg);
        }
        assert_eq!(
            pulling.dedupe.as_deref(),
            Some("k8s-pull:demo/web-1/web/docker.io/library/nginx:1.25")
        );
    }

    #[test]
    fn already_present_is_not_a_pull() {
        assert!(decode(&core(
            "Pulled",
            r#"Container image "nginx:1.25" already present on machine"#
        ))
        .is_empty());
        assert!(decode(&core("Pulled", r#"Container image "nginx:1.25" already present on machine and can be accessed by the pod"#)).is_empty());
    }

    #[test]
    fn a_pull_message_without_an_image_is_an_error() {
        let mut out = Vec::new();
        let r = decode_json(&core("Pulling", "Pulling image"), &ctx(), &mut out);
        assert!(
            matches!(r, Err(DecodeError::Invalid(m)) if m.starts_with("Pulling message has no quoted image"))
        );
        let r = decode_json(
            &core("Pulled", r#"Successfully pulled image """#),
            &ctx(),
            &mut out,
        );
        assert!(r.is_err());
    }

    #[test]
    fn lifecycle_reasons_in_both_wordings() {
        for (reason, msg, phase) in [
            ("Created", "Created container web", LifecyclePhase::Create),
            ("Created", "Created container: web", LifecyclePhase::Create),
            ("Started", "Started container web", LifecyclePhase::Start),
            ("Started", "Started container: web", LifecyclePhase::Start),
            ("Killing", "Stopping container web", LifecyclePhase::Exit),
        ] {
            let e = one(&core(reason, msg));
            assert_eq!(e.dedupe.as_deref(), Some("k8s-event:u-1"));
            let c = lifecycle(&e);
            assert_eq!(c.phase, phase);
            assert_eq!(c.detail, format!("{reason}: {msg}"));
            assert!(!c.sandbox);
            assert_eq!(
                c.container,
                ContainerRef {
                    host: Some("node-a".into()),
                    name: Some("web".into()),
                    pod: Some("web-1".into()),
                    namespace: Some("demo".into()),
                    ..ContainerRef::default()
                }
            );
            // Without a fieldPath the message still names the container.
            let bare = core(reason, msg).replace(r#","fieldPath":"spec.containers{web}""#, "");
            assert_eq!(
                lifecycle(&one(&bare)).container.name.as_deref(),
                Some("web"),
                "{msg}"
            );
        }
    }

    #[test]
    fn init_and_ephemeral_container_field_paths() {
        let e = one(&core("Started", "Started container: setup")
            .replace("spec.containers{web}", "spec.initContainers{setup}"));
        assert_eq!(lifecycle(&e).container.name.as_deref(), Some("setup"));
        let e = one(&core("Pulling", r#"Pulling image "busybox""#).replace(
            "spec.containers{web}",
            "spec.ephemeralContainers{debugger-abc}",
        ));
        assert_eq!(
            pull(&e).for_container.as_ref().unwrap().name.as_deref(),
            Some("debugger-abc")
        );
        assert_eq!(container_from_field_path("spec.containers{}"), None);
        assert_eq!(container_from_field_path("spec.containers"), None);
        assert_eq!(container_from_message("Created container"), None);
    }

    #[test]
    fn events_k8s_io_v1_shape() {
        let e = one(
            r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"api-0.180a","namespace":"prod","uid":"u-9","creationTimestamp":"2025-06-01T00:00:09Z"},
            "eventTime":"2025-06-01T00:00:05.123456Z","series":{"count":3,"lastObservedTime":"2025-06-01T00:10:00.000000Z"},
            "reportingController":"kubelet","reportingInstance":"node-b","action":"Pulling","reason":"Pulling",
            "regarding":{"kind":"Pod","namespace":"prod","name":"api-0","fieldPath":"spec.containers{api}"},
            "note":"Pulling image \"ghcr.io/x/api:2\"","type":"Normal",
            "deprecatedSource":{},"deprecatedFirstTimestamp":null,"deprecatedLastTimestamp":null,"deprecatedCount":0}"#,
        );
        assert_eq!(
            e.time,
            Ts::parse_rfc3339("2025-06-01T00:00:05.123456Z").unwrap()
        );
        let p = pull(&e);
        assert_eq!(p.host.as_deref(), Some("node-b"));
        assert_eq!(p.image.to_string(), "ghcr.io/x/api:2");
        // A kubelet event read through events.k8s.io keeps its old fields as deprecated*.
        let e = one(
            r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"api-0.180b","namespace":"prod","uid":"u-10"},
            "eventTime":null,"reportingController":"kubelet","reportingInstance":"","reason":"Started",
            "regarding":{"kind":"Pod","namespace":"prod","name":"api-0","fieldPath":"spec.containers{api}"},
            "note":"Started container api","type":"Normal","deprecatedSource":{"component":"kubelet","host":"node-c"},
            "deprecatedFirstTimestamp":"2025-06-01T00:01:00Z","deprecatedLastTimestamp":"2025-06-01T00:03:00Z","deprecatedCount":2}"#,
        );
        assert_eq!(e.time, Ts::parse_rfc3339("2025-06-01T00:01:00Z").unwrap());
        assert_eq!(e.dedupe.as_deref(), Some("k8s-event:u-10"));
        let c = lifecycle(&e);
        assert_eq!(c.container.host.as_deref(), Some("node-c"));
        assert_eq!(c.phase, LifecyclePhase::Start);
    }

    #[test]
    fn time_falls_back_from_first_to_last_to_creation() {
        let only_last = core("Started", "Started container web").replace(
            r#""firstTimestamp":"2025-05-04T08:00:01Z""#,
            r#""firstTimestamp":null"#,
        );
        assert_eq!(
            one(&only_last).time,
            Ts::parse_rfc3339("2025-05-04T08:07:00Z").unwrap()
        );
        let zero_first = core("Started", "Started container web").replace(
            r#""firstTimestamp":"2025-05-04T08:00:01Z""#,
            r#""firstTimestamp":"0001-01-01T00:00:00Z""#,
        );
        assert_eq!(
            one(&zero_first).time,
            Ts::parse_rfc3339("2025-05-04T08:07:00Z").unwrap()
        );
        let only_created = only_last.replace(
            r#""lastTimestamp":"2025-05-04T08:07:00Z""#,
            r#""lastTimestamp":null"#,
        );
        assert_eq!(
            one(&only_created).time,
            Ts::parse_rfc3339("2025-05-04T08:00:01Z").unwrap()
        );
        let none = only_created.replace(r#","creationTimestamp":"2025-05-04T08:00:01Z""#, "");
        let mut out = Vec::new();
        assert_eq!(
            decode_json(&none, &ctx(), &mut out),
            Err(DecodeError::Missing("firstTimestamp"))
        );
        let bad = core("Started", "x").replace("2025-05-04T08:00:01Z", "soon");
        assert!(matches!(
            decode_json(&bad, &ctx(), &mut out),
            Err(DecodeError::Time(_))
        ));
    }

    #[test]
    fn dedupe_key_falls_back_to_namespace_and_name() {
        let e = one(&core("Created", "Created container web").replace(r#","uid":"u-1""#, ""));
        assert_eq!(e.dedupe.as_deref(), Some("k8s-event:demo/web-1.17f0a"));
    }

    #[test]
    fn reasons_and_objects_of_no_interest_emit_nothing() {
        for reason in [
            "BackOff",
            "Failed",
            "Scheduled",
            "ErrImagePull",
            "ImagePullBackOff",
            "Unhealthy",
            "",
        ] {
            assert!(
                decode(&core(reason, r#"Failed to pull image "x": not found"#)).is_empty(),
                "{reason}"
            );
        }
        let node =
            core("Pulling", r#"Pulling image "x""#).replace(r#""kind":"Pod""#, r#""kind":"Node""#);
        assert!(decode(&node).is_empty());
    }

    #[test]
    fn watch_notifications_unwrap_and_updates_count_once() {
        let added = format!(
            r#"{{"type":"ADDED","object":{}}}"#,
            core("Created", "Created container: web")
        );
        let modified = added
            .replace("ADDED", "MODIFIED")
            .replace(r#""count":4"#, r#""count":5"#);
        let (a, m) = (one(&added), one(&modified));
        assert_eq!(a.dedupe, m.dedupe);
        assert_eq!(a.time, m.time);
        assert!(decode(&added.replace("ADDED", "DELETED")).is_empty());
        assert!(decode(
            r#"{"type":"BOOKMARK","object":{"kind":"Event","metadata":{"resourceVersion":"9"}}}"#
        )
        .is_empty());
        let mut out = Vec::new();
        assert!(matches!(
            decode_json(&added.replace("ADDED", "SHRUG"), &ctx(), &mut out),
            Err(DecodeError::Invalid(_))
        ));
        // A DELETED notification of something that is not an Event still fails.
        assert_eq!(
            decode_json(
                r#"{"type":"DELETED","object":{"kind":"Event","metadata":{}}}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("involvedObject"))
        );
    }

    #[test]
    fn other_formats_fail() {
        let mut out = Vec::new();
        assert_eq!(
            decode_json(
                r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"1","stage":"ResponseComplete"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Invalid(
                r#"apiVersion "audit.k8s.io/v1" is not an Event API"#.into()
            ))
        );
        assert_eq!(
            decode_json(
                r#"{"Type":"container","Action":"start","Actor":{"ID":"x"},"timeNano":1}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("involvedObject"))
        );
        assert!(matches!(
            decode_json(
                r#"{"kind":"Pod","involvedObject":{"kind":"Pod"}}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Invalid(_))
        ));
    }

    fn stream(name: &str) -> (Vec<Event>, DecodeStats) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/k8s-events")
            .join(name);
        let mut s = EventStream::new(open_path(&path).unwrap(), DecodeOptions::default());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 64).unwrap() {}
        (out, stats)
    }

    /// `kubectl get events -o json`: a pretty-printed `List`, unwrapped by the stream.
    #[test]
    fn kubectl_list_through_the_stream() {
        let (ev, stats) = stream("kubectl-get-events.json");
        assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
        assert_eq!(stats.formats[&Format::K8sEvents].records, 8);
        assert_eq!(
            ev.iter().map(Event::kind_name).collect::<Vec<_>>(),
            [
                "image-pull",
                "image-pull",
                "container-create",
                "container-start"
            ]
        );
        assert_eq!(
            ev.iter().map(|e| e.source.line).collect::<Vec<_>>(),
            [35, 68, 101, 134]
        );
        assert_eq!(ev[0].dedupe, ev[1].dedupe);
        assert_eq!(
            ev[1].time,
            Ts::parse_rfc3339("2025-05-04T08:00:03Z").unwrap()
        );
        assert_eq!(
            pull(&ev[0]).image.to_string(),
            "registry.example.com/team/web:1.8"
        );
        let c = &lifecycle(&ev[3]).container;
        assert_eq!(
            (c.host.as_deref(), c.pod.as_deref(), c.name.as_deref()),
            (Some("node-a"), Some("web-6d4cf56db6-8kq2w"), Some("web"))
        );
    }

    /// A raw watch (`GET /api/v1/events?watch=true`): ADDED, MODIFIED as the count
    /// grows, DELETED when the event expires.
    #[test]
    fn watch_stream_through_the_stream() {
        let (ev, stats) = stream("watch-core-v1.jsonl");
        assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
        assert_eq!(stats.formats[&Format::K8sEvents].records, 3);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].dedupe, ev[1].dedupe);
        assert_eq!(ev[0].time, ev[1].time);
        assert_eq!(ev[1].source.line, 2);
        assert_eq!(
            pull(&ev[0]).image.to_string(),
            "evil.example.net/miner:latest"
        );
    }
}
