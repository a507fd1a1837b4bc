//! The alert contract shared by every output format: what fired, on what, why each
//! stage matched, and the evidence with each record's source and position.

use crate::source::SourceRef;
use crate::time::Ts;
use serde::Serialize;

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
