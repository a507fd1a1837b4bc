//! OCSF 1.8.0 Detection Finding (class 2004): one finding per alert, so a SIEM or data
//! lake that speaks OCSF takes pullwatch's alerts without a custom parser.
//!
//! The mapping keeps every stage of the chain as an `evidences` entry with the record's
//! own structure (process, container, endpoints, API call, device) and its source
//! position under `data`, because OCSF has no attribute for "file and line".

use crate::chain;
use crate::id::stable_uid;
use pullwatch_model::alert::{Evidence, EvidenceEndpoint};
use pullwatch_model::{Alert, Format, Severity, Ts};
use serde::Serialize;
use std::collections::BTreeSet;

pub const OCSF_VERSION: &str = "1.8.0";
const CATEGORY_UID: u32 = 2;
const CLASS_UID: u32 = 2004;
const ACTIVITY_CREATE: u32 = 1;

pub fn finding_line(a: &Alert) -> String {
    serde_json::to_string(&finding(a))
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

#[derive(Serialize)]
pub struct Finding {
    activity_id: u32,
    activity_name: &'static str,
    category_uid: u32,
    category_name: &'static str,
    class_uid: u32,
    class_name: &'static str,
    type_uid: u64,
    type_name: &'static str,
    severity_id: u32,
    severity: &'static str,
    time: i64,
    time_dt: String,
    start_time: i64,
    start_time_dt: String,
    end_time: i64,
    end_time_dt: String,
    message: String,
    metadata: Metadata,
    finding_info: FindingInfo,
    evidences: Vec<OcsfEvidence>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<Resource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observables: Vec<Observable>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cloud: Option<Cloud>,
    confidence_id: u32,
    confidence: &'static str,
    status_id: u32,
    status: &'static str,
    is_alert: bool,
}

#[derive(Serialize)]
struct Metadata {
    version: &'static str,
    product: Product,
    profiles: Vec<&'static str>,
    uid: String,
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'static str>,
}

#[derive(Serialize)]
struct FindingInfo {
    uid: String,
    title: String,
    desc: String,
    analytic: Analytic,
    attacks: Vec<Attack>,
    related_events: Vec<RelatedEvent>,
    created_time: i64,
    created_time_dt: String,
    first_seen_time: i64,
    first_seen_time_dt: String,
    last_seen_time: i64,
    last_seen_time_dt: String,
    data_sources: Vec<&'static str>,
    types: Vec<&'static str>,
}

#[derive(Serialize)]
struct Analytic {
    name: &'static str,
    uid: &'static str,
    type_id: u32,
    #[serde(rename = "type")]
    type_name: &'static str,
}

#[derive(Serialize)]
struct Attack {
    tactic: Named,
    technique: Named,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_technique: Option<Named>,
}

#[derive(Serialize)]
struct Named {
    uid: String,
    name: &'static str,
}

#[derive(Serialize)]
struct RelatedEvent {
    uid: String,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    desc: String,
    first_seen_time: i64,
    first_seen_time_dt: String,
    product: Product,
}

#[derive(Serialize)]
struct OcsfEvidence {
    name: &'static str,
    uid: String,
    data: EvidenceData,
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dst_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection_info: Option<ConnectionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<Api>,
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<Device>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<Resource>,
}

/// Pass-through of what has no OCSF attribute: where the record is and what it said.
#[derive(Serialize)]
struct EvidenceData {
    stage: &'static str,
    time: String,
    summary: String,
    source: Source,
}

#[derive(Serialize)]
struct Source {
    format: &'static str,
    path: String,
    line: u64,
}

#[derive(Serialize)]
struct Process {
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    /// Minted when the record has no pid: OCSF requires a pid or a uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    cmd_line: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_process: Option<Box<Process>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<User>,
}

#[derive(Serialize)]
struct File {
    name: String,
    path: String,
    type_id: u32,
    #[serde(rename = "type")]
    type_name: &'static str,
}

#[derive(Serialize)]
struct User {
    name: String,
}

#[derive(Serialize)]
struct Container {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    orchestrator: Option<&'static str>,
}

#[derive(Serialize)]
struct Image {
    uid: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<String>,
}

#[derive(Serialize)]
struct Endpoint {
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
struct ConnectionInfo {
    direction_id: u32,
    direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol_num: Option<u32>,
}

#[derive(Serialize)]
struct Api {
    operation: String,
    service: Service,
}

#[derive(Serialize)]
struct Service {
    name: String,
}

#[derive(Serialize)]
struct Actor {
    user: User,
}

#[derive(Serialize)]
struct Device {
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    type_id: u32,
    #[serde(rename = "type")]
    type_name: &'static str,
}

#[derive(Serialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
}

impl Resource {
    fn new(kind: &'static str) -> Resource {
        Resource {
            kind,
            uid: None,
            name: None,
            namespace: None,
            hostname: None,
            region: None,
            role_id: None,
            role: None,
        }
    }

    fn affected(mut self) -> Resource {
        self.role_id = Some(3);
        self.role = Some("Affected");
        self
    }
}

#[derive(Serialize)]
struct Observable {
    name: &'static str,
    type_id: u32,
    #[serde(rename = "type")]
    type_name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Cloud {
    provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
}

#[derive(Serialize)]
struct Account {
    uid: String,
}

/// Maps one alert onto a Detection Finding.
pub fn finding(a: &Alert) -> Finding {
    let (severity_id, severity) = severity(a.severity);
    let (confidence_id, confidence) = if a.rule.ends_with(".chain") {
        (3, "High")
    } else {
        (2, "Medium")
    };
    let first = a.evidence.iter().map(|e| e.time).min().unwrap_or(a.time);
    let last = a.evidence.iter().map(|e| e.time).max().unwrap_or(a.time);
    let uid = finding_uid(a);
    let cloud = a.entity.cloud.as_ref().map(|provider| Cloud {
        provider: provider.clone(),
        account: a
            .entity
            .account
            .as_ref()
            .map(|uid| Account { uid: uid.clone() }),
        region: a.entity.region.clone(),
    });
    let mut profiles = vec!["datetime"];
    if cloud.is_some() {
        profiles.push("cloud");
    }
    let title = chain::title(a);
    let data_sources: BTreeSet<&'static str> =
        a.evidence.iter().map(|e| e.source.format.name()).collect();
    Finding {
        activity_id: ACTIVITY_CREATE,
        activity_name: "Create",
        category_uid: CATEGORY_UID,
        category_name: "Findings",
        class_uid: CLASS_UID,
        class_name: "Detection Finding",
        type_uid: u64::from(CLASS_UID) * 100 + u64::from(ACTIVITY_CREATE),
        type_name: "Detection Finding: Create",
        severity_id,
        severity,
        time: a.time.millis(),
        time_dt: dt(a.time),
        start_time: first.millis(),
        start_time_dt: dt(first),
        end_time: last.millis(),
        end_time_dt: dt(last),
        message: title.clone(),
        metadata: Metadata {
            version: OCSF_VERSION,
            product: pullwatch_product(),
            profiles,
            uid: uid.clone(),
        },
        finding_info: FindingInfo {
            uid,
            title,
            desc: a.reasons.join("; "),
            analytic: Analytic {
                name: a.analytic,
                uid: a.rule,
                type_id: 1,
                type_name: "Rule",
            },
            attacks: vec![attack(a.technique)],
            related_events: a.evidence.iter().map(related_event).collect(),
            created_time: a.time.millis(),
            created_time_dt: dt(a.time),
            first_seen_time: first.millis(),
            first_seen_time_dt: dt(first),
            last_seen_time: last.millis(),
            last_seen_time_dt: dt(last),
            data_sources: data_sources.into_iter().collect(),
            types: vec![a.rule],
        },
        evidences: a.evidence.iter().map(evidence).collect(),
        resources: resources(a),
        observables: observables(a),
        device: device(
            a.entity.host.as_deref(),
            a.entity.instance_id.as_deref(),
            a.entity.cloud.as_ref().and(a.entity.region.as_deref()),
        ),
        cloud,
        confidence_id,
        confidence,
        status_id: 1,
        status: "New",
        is_alert: true,
    }
}

fn severity(s: Severity) -> (u32, &'static str) {
    match s {
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// The `_dt` twin of an OCSF millisecond timestamp, at the same precision.
fn dt(t: Ts) -> String {
    Ts::from_millis(t.millis()).unwrap_or(t).to_rfc3339()
}

fn pullwatch_product() -> Product {
    Product {
        name: "pullwatch",
        vendor_name: Some("pullwatch"),
        version: Some(env!("CARGO_PKG_VERSION")),
    }
}

/// The finding's uid is the alert's id (see [`crate::id`]): the same chain has the
/// same uid in every run and on every input path, so a re-scan, a restarted service or
/// another worker updates findings rather than duplicating them.
pub fn finding_uid(a: &Alert) -> String {
    crate::id::alert_id(a)
}

fn record_uid(e: &Evidence) -> String {
    stable_uid(&[
        e.source.format.name(),
        &e.source.path,
        &e.source.line.to_string(),
    ])
}

fn attack(technique: &str) -> Attack {
    let (parent, sub) = match technique.split_once('.') {
        Some((p, _)) => (p, Some(technique)),
        None => (technique, None),
    };
    Attack {
        tactic: Named {
            uid: "TA0002".into(),
            name: "Execution",
        },
        technique: Named {
            uid: parent.to_string(),
            name: technique_name(parent),
        },
        sub_technique: sub.map(|s| Named {
            uid: s.to_string(),
            name: technique_name(s),
        }),
    }
}

fn technique_name(id: &str) -> &'static str {
    match id {
        "T1204" => "User Execution",
        "T1204.003" => "Malicious Image",
        _ => "",
    }
}

/// The product that wrote a record of each format, for `related_events`.
fn format_product(f: Format) -> &'static str {
    match f {
        Format::DockerEvents => "Docker Engine",
        Format::PodmanEvents => "Podman",
        Format::ContainerdEvents => "containerd",
        Format::K8sAudit => "Kubernetes API server audit log",
        Format::K8sEvents => "Kubernetes Events",
        Format::Falco => "Falco",
        Format::Tetragon => "Tetragon",
        Format::Auditd => "Linux Audit",
        Format::ZeekConn => "Zeek",
        Format::SuricataEve => "Suricata",
        Format::HubbleFlow => "Cilium Hubble",
        Format::VpcFlow => "VPC Flow Logs",
        Format::CloudTrail => "AWS CloudTrail",
        Format::GcpAudit => "Google Cloud Audit Logs",
        Format::AzureActivity => "Azure Activity Log",
        Format::AzureSyslog => "Azure Monitor Logs (Syslog)",
        Format::Sysmon => "Sysmon",
        Format::CloudInit => "cloud-init",
        Format::UserData => "Instance user data",
    }
}

fn related_event(e: &Evidence) -> RelatedEvent {
    RelatedEvent {
        uid: record_uid(e),
        kind: e.stage,
        title: format!("{} {}", e.source.format, e.source),
        desc: e.summary.clone(),
        first_seen_time: e.time.millis(),
        first_seen_time_dt: dt(e.time),
        product: Product {
            name: format_product(e.source.format),
            vendor_name: None,
            version: None,
        },
    }
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn evidence(e: &Evidence) -> OcsfEvidence {
    let uid = record_uid(e);
    let process = e.process.as_ref().map(|p| {
        let name = (!p.exe.is_empty()).then(|| basename(&p.exe).to_string());
        Process {
            pid: p.pid,
            uid: p.pid.is_none().then(|| format!("{uid}-process")),
            name: name.clone(),
            cmd_line: p.cmdline.clone(),
            file: name.map(|n| File {
                name: n,
                path: p.exe.clone(),
                type_id: 1,
                type_name: "Regular File",
            }),
            parent_process: p.ppid.map(|ppid| {
                let pname = p.parent_exe.as_deref().map(|x| basename(x).to_string());
                Box::new(Process {
                    pid: Some(ppid),
                    uid: None,
                    name: pname.clone(),
                    cmd_line: String::new(),
                    file: pname.zip(p.parent_exe.clone()).map(|(n, path)| File {
                        name: n,
                        path,
                        type_id: 1,
                        type_name: "Regular File",
                    }),
                    parent_process: None,
                    user: None,
                })
            }),
            user: p.user.as_ref().map(|u| User { name: u.clone() }),
        }
    });
    let mut resources = Vec::new();
    let container = e.container.as_ref().and_then(|c| {
        if let Some(pod) = &c.pod {
            let mut r = Resource::new("Kubernetes Pod");
            r.name = Some(pod.clone());
            r.namespace.clone_from(&c.namespace);
            resources.push(r);
        }
        if c.id.is_none() && c.name.is_none() {
            return None;
        }
        Some(Container {
            uid: c.id.clone(),
            name: c.name.clone(),
            image: e.image.as_deref().map(image),
            orchestrator: c.pod.as_ref().map(|_| "Kubernetes"),
        })
    });
    if container.is_none() {
        if let Some(i) = &e.image {
            let img = image(i);
            let mut r = Resource::new("Container Image");
            r.uid = Some(img.uid);
            r.name = Some(i.clone());
            resources.push(r);
        }
    }
    OcsfEvidence {
        name: e.stage,
        uid,
        data: EvidenceData {
            stage: e.stage,
            time: e.time.to_rfc3339(),
            summary: e.summary.clone(),
            source: Source {
                format: e.source.format.name(),
                path: e.source.path.to_string(),
                line: e.source.line,
            },
        },
        process,
        container,
        src_endpoint: e.src.as_ref().map(endpoint),
        dst_endpoint: e.dst.as_ref().map(endpoint),
        connection_info: e.dst.as_ref().map(|_| ConnectionInfo {
            direction_id: 2,
            direction: "Outbound",
            protocol_name: e.protocol.clone(),
            protocol_num: e.protocol.as_deref().and_then(protocol_num),
        }),
        api: e.api.as_ref().map(|api| Api {
            operation: match &api.resource {
                Some(r) => format!("{} {r}", api.operation),
                None => api.operation.clone(),
            },
            service: Service {
                name: api.service.clone(),
            },
        }),
        actor: e
            .api
            .as_ref()
            .and_then(|api| api.actor.clone())
            .map(|name| Actor {
                user: User { name },
            }),
        device: device(e.host.as_deref(), e.instance_id.as_deref(), None),
        resources,
    }
}

fn protocol_num(p: &str) -> Option<u32> {
    match p {
        "icmp" => Some(1),
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmpv6" | "ipv6-icmp" => Some(58),
        "sctp" => Some(132),
        _ => None,
    }
}

fn endpoint(e: &EvidenceEndpoint) -> Endpoint {
    Endpoint {
        ip: e.ip.to_string(),
        port: e.port,
    }
}

/// An image reference as OCSF wants it: `uid` (required) is the digest when the
/// reference carries one, else the reference itself.
fn image(reference: &str) -> Image {
    let parsed = pullwatch_model::ImageRef::parse(reference);
    Image {
        uid: parsed
            .digest
            .clone()
            .unwrap_or_else(|| reference.to_string()),
        name: parsed.repository(),
        tag: parsed.tag.clone(),
    }
}

fn device(host: Option<&str>, instance: Option<&str>, region: Option<&str>) -> Option<Device> {
    if host.is_none() && instance.is_none() {
        return None;
    }
    Some(Device {
        hostname: host.map(str::to_string),
        instance_uid: instance.map(str::to_string),
        region: region.map(str::to_string),
        type_id: 0,
        type_name: "Unknown",
    })
}

fn resources(a: &Alert) -> Vec<Resource> {
    let e = &a.entity;
    let mut out = Vec::new();
    if e.container_id.is_some() || e.container.is_some() {
        let mut r = Resource::new("Container");
        r.uid.clone_from(&e.container_id);
        r.name.clone_from(&e.container);
        r.namespace.clone_from(&e.namespace);
        r.hostname.clone_from(&e.host);
        out.push(r.affected());
    }
    if let Some(pod) = &e.pod {
        let mut r = Resource::new("Kubernetes Pod");
        r.name = Some(pod.clone());
        r.namespace.clone_from(&e.namespace);
        r.hostname.clone_from(&e.host);
        out.push(r.affected());
    }
    if let Some(i) = &e.instance_id {
        let mut r = Resource::new("Virtual Machine Instance");
        r.uid = Some(i.clone());
        r.hostname.clone_from(&e.host);
        // `region` on a resource belongs to OCSF's cloud profile, applied only when
        // the cloud is known.
        if e.cloud.is_some() {
            r.region.clone_from(&e.region);
        }
        out.push(r.affected());
    }
    if !a.image.reference.is_empty() {
        let mut r = Resource::new("Container Image");
        r.uid = Some(
            a.image
                .digest
                .clone()
                .unwrap_or_else(|| a.image.reference.clone()),
        );
        r.name = Some(a.image.reference.clone());
        out.push(r.affected());
    }
    out
}

fn observables(a: &Alert) -> Vec<Observable> {
    let mut out = Vec::new();
    if let Some(d) = &a.image.digest {
        out.push(Observable {
            name: "resources.uid",
            type_id: 8,
            type_name: "Hash",
            value: d.clone(),
        });
    }
    let mut hosts = BTreeSet::new();
    if let Some(h) = &a.entity.host {
        hosts.insert(h.clone());
        out.push(Observable {
            name: "device.hostname",
            type_id: 1,
            type_name: "Hostname",
            value: h.clone(),
        });
    }
    for e in &a.evidence {
        if let Some(h) = &e.host {
            if hosts.insert(h.clone()) {
                out.push(Observable {
                    name: "evidences.device.hostname",
                    type_id: 1,
                    type_name: "Hostname",
                    value: h.clone(),
                });
            }
        }
    }
    let mut ips = BTreeSet::new();
    for e in &a.evidence {
        for (name, ep) in [
            ("evidences.dst_endpoint.ip", &e.dst),
            ("evidences.src_endpoint.ip", &e.src),
        ] {
            if let Some(ep) = ep {
                if ips.insert((name, ep.ip)) {
                    out.push(Observable {
                        name,
                        type_id: 2,
                        type_name: "IP Address",
                        value: ep.ip.to_string(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::alert::{AlertEntity, AlertImage, EvidenceProcess};
    use pullwatch_model::SourceRef;
    use std::sync::Arc;

    fn alert() -> Alert {
        let src = |line| SourceRef {
            format: Format::Tetragon,
            path: Arc::from("node/tetragon.jsonl"),
            line,
        };
        let mut act = Evidence::new(
            "activity",
            Ts(1_795_166_441_518_000_000),
            src(5),
            "exec /usr/bin/curl".into(),
        );
        act.process = Some(EvidenceProcess {
            exe: "/usr/bin/curl".into(),
            cmdline: "curl -s http://x".into(),
            ..EvidenceProcess::default()
        });
        act.dst = Some(EvidenceEndpoint {
            ip: "198.51.100.23".parse().unwrap(),
            port: Some(80),
        });
        act.protocol = Some("tcp".into());
        Alert {
            rule: "an0691.chain",
            analytic: "AN0691",
            technique: "T1204.003",
            severity: Severity::Critical,
            time: Ts(1_795_166_441_518_123_456),
            entity: AlertEntity {
                host: Some("node-1".into()),
                container_id: Some("3f9c2a7d1e8b".into()),
                ..AlertEntity::default()
            },
            image: AlertImage {
                reference: "docker.io/kitty0x/toolbox:latest".into(),
                ..AlertImage::default()
            },
            reasons: vec!["a".into(), "b".into()],
            evidence: vec![
                Evidence::new("pull", Ts(1_795_166_400_000_000_000), src(1), "pull".into()),
                act,
            ],
        }
    }

    #[test]
    fn classification_and_times() {
        let v = serde_json::to_value(finding(&alert())).unwrap();
        assert_eq!(v["class_uid"], 2004);
        assert_eq!(v["category_uid"], 2);
        assert_eq!(v["type_uid"], 200401);
        assert_eq!(v["severity_id"], 5);
        assert_eq!(v["time"], 1_795_166_441_518i64);
        assert_eq!(v["time_dt"], "2026-11-20T09:20:41.518Z");
        assert_eq!(v["start_time"], 1_795_166_400_000i64);
        assert_eq!(v["metadata"]["version"], "1.8.0");
        assert_eq!(v["finding_info"]["desc"], "a; b");
        let att = &v["finding_info"]["attacks"][0];
        assert_eq!(att["tactic"]["uid"], "TA0002");
        assert_eq!(att["technique"]["uid"], "T1204");
        assert_eq!(att["sub_technique"]["uid"], "T1204.003");
        assert_eq!(att["sub_technique"]["name"], "Malicious Image");
    }

    #[test]
    fn process_without_pid_gets_a_uid_and_file() {
        let v = serde_json::to_value(finding(&alert())).unwrap();
        let p = &v["evidences"][1]["process"];
        assert!(p.get("pid").is_none());
        assert!(p["uid"].as_str().unwrap().ends_with("-process"));
        assert_eq!(p["file"]["name"], "curl");
        assert_eq!(p["file"]["path"], "/usr/bin/curl");
        assert_eq!(p["cmd_line"], "curl -s http://x");
        assert_eq!(v["evidences"][1]["dst_endpoint"]["ip"], "198.51.100.23");
        assert_eq!(v["evidences"][1]["connection_info"]["protocol_num"], 6);
        assert_eq!(
            v["evidences"][0]["data"]["source"]["path"],
            "node/tetragon.jsonl"
        );
    }

    #[test]
    fn uid_is_stable_and_depends_on_the_chain() {
        let a = alert();
        let uid = finding_uid(&a);
        assert_eq!(uid.len(), 32);
        assert_eq!(uid, finding_uid(&alert()));
        let mut b = alert();
        b.entity.container_id = Some("other".into());
        assert_ne!(uid, finding_uid(&b));
        let mut c = alert();
        c.evidence[0].time = Ts(c.evidence[0].time.0 + 1);
        assert_ne!(uid, finding_uid(&c));
        // Where the record was read is not part of the identity: the same record
        // pushed over HTTP or read from a file is the same finding.
        let mut e = alert();
        e.evidence[0].source.line = 2;
        assert_eq!(uid, finding_uid(&e));
        // Nor is the alert time: the same chain found later (a rescan with a
        // different lateness) is the same finding.
        let mut d = alert();
        d.time = Ts(0);
        assert_eq!(uid, finding_uid(&d));
    }

    #[test]
    fn stable_uid_is_length_prefixed() {
        assert_ne!(stable_uid(&["ab", "c"]), stable_uid(&["a", "bc"]));
        // SHA-256 of the empty input's prefix is fixed forever.
        assert_eq!(stable_uid(&[]), "e3b0c44298fc1c149afbf4c8996fb924");
    }
}
