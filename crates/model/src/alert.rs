//! The alert contract shared by every output format: what fired, on what, why each
//! stage matched, and the evidence with each record's source and position.

use crate::cloud::CloudAction;
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
    /// The file a finding was read from, when nothing else names what it is about
    /// (user data given as a file whose instance is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
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

/// A shared name, copied into the evidence an alert keeps and prints.
fn owned(v: &Option<crate::Name>) -> Option<String> {
    v.as_deref().map(str::to_string)
}

impl EvidenceContainer {
    fn from_ref(c: &ContainerRef) -> Option<EvidenceContainer> {
        let ec = EvidenceContainer {
            id: owned(&c.id),
            name: owned(&c.name),
            pod: owned(&c.pod),
            namespace: owned(&c.namespace),
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
                    .or_else(|| p.for_container.as_ref().and_then(|c| owned(&c.host)));
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
                e.host = owned(&l.container.host);
                e.container = EvidenceContainer::from_ref(&l.container);
                e.image = l.container.image.as_ref().map(|i| i.to_string());
            }
            EventKind::Process(p) => {
                placed(&mut e, &p.placement);
                e.process = Some(EvidenceProcess {
                    pid: p.pid,
                    ppid: p.ppid,
                    exe: p.exe.to_string(),
                    cmdline: p.cmdline.clone(),
                    parent_exe: owned(&p.parent_exe),
                    user: p.user.clone(),
                });
            }
            EventKind::Connection(c) => {
                placed(&mut e, &c.placement);
                if c.pid.is_some() || c.exe.is_some() {
                    e.process = Some(EvidenceProcess {
                        pid: c.pid,
                        exe: c.exe.as_deref().unwrap_or_default().to_string(),
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
                e.protocol = owned(&c.proto);
                e.instance_id.clone_from(&c.instance_id);
            }
            EventKind::Cloud(c) => {
                let (operation, instance) = match &c.action {
                    CloudAction::InstanceLaunch(l) => {
                        e.image = l.image.as_ref().map(|i| i.id.clone());
                        e.host = l.names.first().cloned();
                        ("launch-instance", Some(l.instance_id.clone()))
                    }
                    CloudAction::InstanceStart { instance_id } => {
                        ("start-instance", Some(instance_id.clone()))
                    }
                    CloudAction::InstanceStop { instance_id } => {
                        ("stop-instance", Some(instance_id.clone()))
                    }
                    CloudAction::UserDataChanged { instance_id, .. } => {
                        ("change-user-data", Some(instance_id.clone()))
                    }
                    CloudAction::ImageCreated { image_id, .. } => {
                        e.image = Some(image_id.clone());
                        ("create-image", None)
                    }
                    CloudAction::ImagePermission { image_id, .. } => {
                        e.image = Some(image_id.clone());
                        ("share-image", None)
                    }
                };
                e.instance_id.clone_from(&instance);
                e.api = Some(EvidenceApi {
                    service: c.provider.name().to_string(),
                    operation: operation.to_string(),
                    resource: instance,
                    actor: c.actor.clone(),
                });
            }
            EventKind::GuestBoot(g) => {
                e.host.clone_from(&g.hostname);
                e.instance_id.clone_from(&g.instance_id);
            }
            EventKind::UserData(u) => e.instance_id.clone_from(&u.instance_id),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Connection, ImagePull, PodCreate, ProcessExec};
    use crate::image::ImageRef;
    use crate::source::Format;
    use std::sync::Arc;

    fn event(kind: EventKind) -> Event {
        let src = SourceRef {
            format: Format::Tetragon,
            path: Arc::from("t.jsonl"),
            line: 3,
        };
        Event::new(Ts(7), src, kind)
    }

    fn in_container() -> Placement {
        Placement::Container(ContainerRef {
            host: Some("node-1".into()),
            id: Some("3f9c2a7d1e8b".into()),
            name: Some("worker".into()),
            image: Some(ImageRef::parse("nginx:1")),
            ..ContainerRef::default()
        })
    }

    #[test]
    fn process_evidence_keeps_the_process_and_its_container() {
        let ev = event(EventKind::Process(ProcessExec {
            lineage: Default::default(),
            placement: in_container(),
            pid: Some(42),
            ppid: Some(1),
            exe: "/usr/bin/curl".into(),
            cmdline: "curl -s x".into(),
            parent_exe: Some("/bin/sh".into()),
            user: Some("root".into()),
        }));
        let e = Evidence::from_event("activity", &ev, "exec curl".into());
        assert_eq!(
            (e.stage, e.time, e.summary.as_str()),
            ("activity", Ts(7), "exec curl")
        );
        assert_eq!(e.host.as_deref(), Some("node-1"));
        assert_eq!(e.image.as_deref(), Some("docker.io/library/nginx:1"));
        let c = e.container.expect("container");
        assert_eq!(
            (c.id.as_deref(), c.name.as_deref()),
            (Some("3f9c2a7d1e8b"), Some("worker"))
        );
        let p = e.process.expect("process");
        assert_eq!(
            (p.pid, p.ppid, &*p.exe),
            (Some(42), Some(1), "/usr/bin/curl")
        );
        assert_eq!(p.cmdline, "curl -s x");
        assert!(e.dst.is_none() && e.api.is_none());
    }

    #[test]
    fn connection_evidence_keeps_endpoints_and_protocol() {
        let ev = event(EventKind::Connection(Connection {
            placement: Placement::Unresolved { host: None },
            pid: None,
            exe: None,
            src: Some("10.0.0.2".parse().unwrap()),
            src_port: Some(5000),
            dst: "169.254.169.254".parse().unwrap(),
            dst_port: Some(80),
            proto: Some("tcp".into()),
            instance_id: Some("i-1".into()),
        }));
        let e = Evidence::from_event("activity", &ev, String::new());
        assert_eq!(
            e.dst.as_ref().map(|d| (d.ip.to_string(), d.port)),
            Some(("169.254.169.254".into(), Some(80)))
        );
        assert_eq!(e.src.as_ref().and_then(|s| s.port), Some(5000));
        assert_eq!(e.protocol.as_deref(), Some("tcp"));
        assert_eq!(e.instance_id.as_deref(), Some("i-1"));
        assert!(e.process.is_none(), "no pid and no executable: no process");
        assert!(e.container.is_none());
    }

    #[test]
    fn pulls_and_admissions() {
        let pull = event(EventKind::ImagePull(ImagePull {
            host: None,
            image: ImageRef::parse("ghcr.io/x/y:2"),
            for_container: None,
            detail: String::new(),
        }));
        let e = Evidence::from_event("pull", &pull, String::new());
        assert_eq!(e.image.as_deref(), Some("ghcr.io/x/y:2"));
        assert!(e.container.is_none() && e.host.is_none());

        let admit = event(EventKind::PodCreate(PodCreate {
            namespace: "default".into(),
            pod: "web".into(),
            node: None,
            containers: vec![],
            actor: Some("alice".into()),
        }));
        let e = Evidence::from_event("create", &admit, String::new());
        let api = e.api.expect("api call");
        assert_eq!(
            (api.service.as_str(), api.operation.as_str()),
            ("kubernetes", "create")
        );
        assert_eq!(api.actor.as_deref(), Some("alice"));
        assert_eq!(e.container.and_then(|c| c.pod).as_deref(), Some("web"));
    }

    #[test]
    fn structured_fields_are_left_out_of_json_when_unknown() {
        let pull = event(EventKind::ProcessExit(crate::event::ProcessExit {
            host: None,
            pid: 1,
        }));
        let e = Evidence::from_event("x", &pull, "s".into());
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"stage":"x","time":"1970-01-01T00:00:00.000000007Z","source":{"format":"tetragon","path":"t.jsonl","line":3},"summary":"s"}"#
        );
    }
}
