//! The alert's deterministic id: the same events give the same id in a batch scan, a
//! live service, after a restart that replays them, and on any worker of a consumer
//! group. That is what lets a restarted service or a new Kafka worker recognise an
//! alert it already sent, and a SIEM update a finding instead of duplicating it.
//!
//! The id hashes what the alert is about (rule, entity) and the content of its first
//! record (format, stage, event time, summary), never where the record was read from:
//! the same record pushed over HTTP or read from a file names the same alert.

use pullwatch_model::Alert;
use sha2::{Digest, Sha256};

/// Hex of the first 16 bytes of SHA-256 over length-prefixed parts: stable across runs,
/// platforms and Rust versions, and no part can bleed into the next.
pub(crate) fn stable_uid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The alert's id (32 hex digits).
pub fn alert_id(a: &Alert) -> String {
    let e = &a.entity;
    fn opt(o: &Option<String>) -> &str {
        o.as_deref().unwrap_or_default()
    }
    let first = a.evidence.first();
    let time = first.map(|f| f.time.0.to_string()).unwrap_or_default();
    stable_uid(&[
        a.rule,
        opt(&e.host),
        opt(&e.container_id),
        opt(&e.namespace),
        opt(&e.pod),
        opt(&e.container),
        opt(&e.instance_id),
        first.map(|f| f.source.format.name()).unwrap_or_default(),
        first.map(|f| f.stage).unwrap_or_default(),
        &time,
        first.map(|f| f.summary.as_str()).unwrap_or_default(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::{AlertEntity, AlertImage, Evidence, Format, Severity, SourceRef, Ts};
    use std::sync::Arc;

    fn alert(path: &str, line: u64, time: i64) -> Alert {
        Alert {
            rule: "an0691.chain",
            analytic: "AN0691",
            technique: "T1204.003",
            severity: Severity::High,
            time: Ts(time),
            entity: AlertEntity {
                host: Some("node-1".into()),
                container_id: Some("3f9c2a7d1e8b".into()),
                ..AlertEntity::default()
            },
            image: AlertImage::default(),
            reasons: vec![],
            evidence: vec![Evidence::new(
                "pull",
                Ts(time),
                SourceRef {
                    format: Format::DockerEvents,
                    path: Arc::from(path),
                    line,
                },
                "pull evil/x".into(),
            )],
        }
    }

    #[test]
    fn where_a_record_was_read_does_not_change_the_id() {
        let a = alert("/var/log/docker.jsonl", 7, 5);
        assert_eq!(alert_id(&a), alert_id(&alert("http:ingest", 1, 5)));
        assert_eq!(alert_id(&a).len(), 32);
    }

    #[test]
    fn another_record_or_entity_is_another_id() {
        let a = alert("f", 1, 5);
        assert_ne!(alert_id(&a), alert_id(&alert("f", 1, 6)));
        let mut b = a.clone();
        b.entity.container_id = Some("77aa".into());
        assert_ne!(alert_id(&a), alert_id(&b));
        let mut c = a.clone();
        c.rule = "an0691.namespace_scope";
        assert_ne!(alert_id(&a), alert_id(&c));
    }
}
