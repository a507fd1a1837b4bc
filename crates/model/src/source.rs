//! Where an event came from: the format that decoded it and its position in the input,
//! so every alert can point a person at the exact line that convinced pullwatch.

use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// The input formats pullwatch reads. The names are the ones shown in summaries, in
/// alert evidence and by `pullwatch formats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    DockerEvents,
    PodmanEvents,
    ContainerdEvents,
    K8sAudit,
    K8sEvents,
    Falco,
    Tetragon,
    Auditd,
    ZeekConn,
    SuricataEve,
    HubbleFlow,
    VpcFlow,
    CloudTrail,
    GcpAudit,
    AzureActivity,
    AzureSyslog,
    Sysmon,
    CloudInit,
    UserData,
}

impl Format {
    pub const ALL: [Format; 19] = [
        Format::DockerEvents,
        Format::PodmanEvents,
        Format::ContainerdEvents,
        Format::K8sAudit,
        Format::K8sEvents,
        Format::Falco,
        Format::Tetragon,
        Format::Auditd,
        Format::ZeekConn,
        Format::SuricataEve,
        Format::HubbleFlow,
        Format::VpcFlow,
        Format::CloudTrail,
        Format::GcpAudit,
        Format::AzureActivity,
        Format::AzureSyslog,
        Format::Sysmon,
        Format::CloudInit,
        Format::UserData,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::DockerEvents => "docker-events",
            Format::PodmanEvents => "podman-events",
            Format::ContainerdEvents => "containerd-events",
            Format::K8sAudit => "k8s-audit",
            Format::K8sEvents => "k8s-events",
            Format::Falco => "falco",
            Format::Tetragon => "tetragon",
            Format::Auditd => "auditd",
            Format::ZeekConn => "zeek-conn",
            Format::SuricataEve => "suricata-eve",
            Format::HubbleFlow => "hubble-flow",
            Format::VpcFlow => "vpc-flow",
            Format::CloudTrail => "cloudtrail",
            Format::GcpAudit => "gcp-audit",
            Format::AzureActivity => "azure-activity",
            Format::AzureSyslog => "azure-syslog",
            Format::Sysmon => "sysmon",
            Format::CloudInit => "cloud-init",
            Format::UserData => "user-data",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Position of a record: the input's path (`-` for stdin) and its 1-based line. For a
/// record inside a multi-line JSON document, the line where the record starts.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SourceRef {
    pub format: Format,
    pub path: Arc<str>,
    pub line: u64,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.line)
    }
}
