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

use crate::util::{opt_string, rfc3339, truncate};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef, LifecyclePhase, Ts,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    api_version: Option<Cow<'a, str>>,
    /// `Normal|Warning` on an Event, `ADDED|MODIFIED|DELETED|…` on a watch notification.
    #[serde(rename = "type", borrow)]
    typ: Option<Cow<'a, str>>,
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
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    note: Option<Cow<'a, str>>,
    #[serde(borrow)]
    source: Option<Source<'a>>,
    #[serde(borrow)]
    deprecated_source: Option<Source<'a>>,
    #[serde(borrow)]
    reporting_instance: Option<Cow<'a, str>>,
    #[serde(borrow)]
    first_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event_time: Option<Cow<'a, str>>,
    #[serde(borrow)]
    deprecated_first_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    deprecated_last_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    series: Option<Series<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    uid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    creation_timestamp: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjRef<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    namespace: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    field_path: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Source<'a> {
    #[serde(borrow)]
    host: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series<'a> {
    #[serde(borrow)]
    last_observed_time: Option<Cow<'a, str>>,
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
                other => Err(DecodeError::Invalid(format!("unknown watch type {:?}", truncate(other, 32)))),
            };
        }
    }
    decode_event(w, ctx, out)
}

fn decode_event(w: Wire, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    if let Some(k) = w.kind.as_deref() {
        if k != "Event" {
            return Err(DecodeError::Invalid(format!("kind {:?} is not an Event", truncate(k, 64))));
        }
    }
    if let Some(v) = w.api_version.as_deref() {
        if v != "v1" && !v.starts_with("events.k8s.io/") {
            return Err(DecodeError::Invalid(format!("apiVersion {:?} is not an Event API", truncate(v, 64))));
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
        .or_else(|| w.deprecated_source.as_ref().and_then(|s| opt_string(&s.host)));
    let name = obj
        .field_path
        .as_deref()
        .and_then(container_from_field_path)
        .or_else(|| container_from_message(message))
        .map(str::to_string);
    let source = ctx.source(Format::K8sEvents);
    if pull {
        let raw = quoted_image(message)
            .ok_or_else(|| DecodeError::Invalid(format!("{reason} message has no quoted image: {}", truncate(message, 80))))?;
        let image = ImageRef::parse(raw);
        let key = format!("k8s-pull:{namespace}/{pod}/{}/{image}", name.as_deref().unwrap_or(""));
        let mut e = Event::new(
            time,
            source,
            EventKind::ImagePull(ImagePull {
                host: host.clone(),
                image: image.clone(),
                for_container: Some(ContainerRef {
                    host,
                    name,
                    pod: Some(pod),
                    namespace: Some(namespace),
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
                host,
                name,
                pod: Some(pod),
                namespace: Some(namespace),
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
    let series = w.series.as_ref().and_then(|s| s.last_observed_time.as_deref());
    let created = w.metadata.as_ref().and_then(|m| m.creation_timestamp.as_deref());
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
    let id = match (opt_string(&m.uid), opt_string(&m.namespace), opt_string(&m.name)) {
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
    let rest = ["Created container", "Started container", "Stopping container"]
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
