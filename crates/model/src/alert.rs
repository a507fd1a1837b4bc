//! The alert contract shared by every output format: what fired, on what, why each
//! stage matched, and the evidence with each record's source and position.

use crate::event::{ContainerRef, Event, EventKind, Placement};
use crate::source::SourceRef;
use crate::time::Ts;
use serde::Serialize;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AlertEntity {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AlertImage {
    #[serde(rename = "ref")]
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    /// `pull`, `create`, `start`, `activity`, `launch`, …
    pub stage: &'static str,
    pub time: Ts,
    pub source: SourceRef,
    pub summary: String,
    /// The structured facts below are what the record itself said, kept for outputs
    /// that map fields (OCSF) instead of printing the summary. Sources know different
    /// parts, so every one is optional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The image reference the record names (a pull's image, a container's image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<EvidenceContainer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<EvidenceProcess>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<EvidenceEndpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<EvidenceEndpoint>,
    /// Transport protocol of a connection, lowercase (`tcp`, `udp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<EvidenceApi>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvidenceContainer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl EvidenceContainer {
    fn from_ref(c: &ContainerRef) -> Option<EvidenceContainer> {
        let ec = EvidenceContainer {
            id: c.id.clone(),
            name: c.name.clone(),
            pod: c.pod.clone(),
            namespace: c.namespace.clone(),
        };
        (ec != EvidenceContainer::default()).then_some(ec)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvidenceProcess {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    /// Executable path or name as reported; empty when the record does not say.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub exe: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cmdline: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_exe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvidenceEndpoint {
    pub ip: IpAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A control-plane call (Kubernetes API server, cloud provider API).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvidenceApi {
    /// `kubernetes`, `ec2.amazonaws.com`, …
    pub service: String,
    /// The verb or API operation (`create`, `RunInstances`).
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Evidence {
    /// Evidence with only the summary: for records whose structure says nothing more.
    pub fn new(stage: &'static str, time: Ts, source: SourceRef, summary: String) -> Evidence {
        Evidence {
            stage,
            time,
            source,
            summary,
            host: None,
            instance_id: None,
            image: None,
            container: None,
            process: None,
            src: None,
            dst: None,
            protocol: None,
            api: None,
        }
    }

    /// Evidence for one event, carrying the structured facts its record gave.
    pub fn from_event(stage: &'static str, ev: &Event, summary: String) -> Evidence {
        let mut e = Evidence::new(stage, ev.time, ev.source.clone(), summary);
        let placed = |e: &mut Evidence, p: &Placement| {
            e.host = p.host().map(str::to_string);
            if let Placement::Container(c) = p {
                e.container = EvidenceContainer::from_ref(c);
                e.image = c.image.as_ref().map(|i| i.to_string());
            }
        };
        match &ev.kind {
            EventKind::ImagePull(p) => {
                e.host = p
                    .host
                    .clone()
                    .or_else(|| p.for_container.as_ref().and_then(|c| c.host.clone()));
                e.image = Some(p.image.to_string());
                e.container = p
                    .for_container
                    .as_ref()
                    .and_then(EvidenceContainer::from_ref);
            }
            EventKind::PodCreate(p) => {
                e.host.clone_from(&p.node);
                e.container = Some(EvidenceContainer {
                    pod: Some(p.pod.clone()),
                    namespace: Some(p.namespace.clone()),
                    ..EvidenceContainer::default()
                });
                e.api = Some(EvidenceApi {
                    service: "kubernetes".into(),
                    operation: "create".into(),
                    resource: Some("pods".into()),
                    actor: p.actor.clone(),
                });
            }
            EventKind::PodBinding(b) => {
                e.host = Some(b.node.clone());
                e.container = Some(EvidenceContainer {
                    pod: Some(b.pod.clone()),
                    namespace: Some(b.namespace.clone()),
                    ..EvidenceContainer::default()
                });
            }
            EventKind::Container(l) => {
                e.host.clone_from(&l.container.host);
                e.container = EvidenceContainer::from_ref(&l.container);
                e.image = l.container.image.as_ref().map(|i| i.to_string());
            }
            EventKind::Process(p) => {
                placed(&mut e, &p.placement);
                e.process = Some(EvidenceProcess {
                    pid: p.pid,
                    ppid: p.ppid,
                    exe: p.exe.clone(),
                    cmdline: p.cmdline.clone(),
                    parent_exe: p.parent_exe.clone(),
                    user: p.user.clone(),
                });
            }
            EventKind::Connection(c) => {
                placed(&mut e, &c.placement);
                if c.pid.is_some() || c.exe.is_some() {
                    e.process = Some(EvidenceProcess {
                        pid: c.pid,
                        exe: c.exe.clone().unwrap_or_default(),
                        ..EvidenceProcess::default()
                    });
                }
                e.src = c.src.map(|ip| EvidenceEndpoint {
                    ip,
                    port: c.src_port,
                });
                e.dst = Some(EvidenceEndpoint {
                    ip: c.dst,
                    port: c.dst_port,
                });
                e.protocol.clone_from(&c.proto);
                e.instance_id.clone_from(&c.instance_id);
            }
            // Addresses and exits never stand as evidence of a stage on their own.
            _ => {}
        }
        e
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alert {
    pub rule: &'static str,
    pub analytic: &'static str,
    pub technique: &'static str,
    pub severity: Severity,
    pub time: Ts,
    pub entity: AlertEntity,
    pub image: AlertImage,
    pub reasons: Vec<String>,
    pub evidence: Vec<Evidence>,
}
