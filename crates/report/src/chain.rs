//! What every human-facing view says the same way: the title of an alert, the entity it
//! is about, and its stages on one time axis anchored at the pull (or VM launch).

use pullwatch_model::alert::Evidence;
use pullwatch_model::time::Dur;
use pullwatch_model::{Alert, Ts};

/// One stage of a chain with its offset from the anchor.
pub struct Step<'a> {
    pub evidence: &'a Evidence,
    pub offset: Dur,
}

/// The chain in time order, each stage with its offset from the anchor: the pull or the
/// launch when the chain has one (that is where the time window starts), else its first
/// record. Stages before the anchor (a pod admitted before its image is pulled) get
/// negative offsets.
pub fn steps(a: &Alert) -> (Option<Ts>, Vec<Step<'_>>) {
    let mut ev: Vec<&Evidence> = a.evidence.iter().collect();
    ev.sort_by_key(|e| e.time);
    let anchor = ev
        .iter()
        .find(|e| e.stage == "pull" || e.stage == "launch")
        .or(ev.first())
        .map(|e| e.time);
    let steps = ev
        .into_iter()
        .map(|e| Step {
            evidence: e,
            offset: anchor.map_or(Dur(0), |t| e.time.since(t)),
        })
        .collect();
    (anchor, steps)
}

/// `+8s`, `-1.9s`, `+0s`.
pub fn signed(d: Dur) -> String {
    if d.0 < 0 {
        d.to_string()
    } else {
        format!("+{d}")
    }
}

/// `host h, pod ns/p, container c, id 0123456789ab`: the entity as a reader names it.
/// Values are raw (attacker-controlled): escape them for the output at hand.
pub fn entity_parts(a: &Alert) -> Vec<(&'static str, String)> {
    let e = &a.entity;
    let mut out = Vec::new();
    if let Some(h) = &e.host {
        out.push(("host", h.clone()));
    }
    match (&e.namespace, &e.pod) {
        (Some(ns), Some(p)) => out.push(("pod", format!("{ns}/{p}"))),
        (None, Some(p)) => out.push(("pod", p.clone())),
        (Some(ns), None) => out.push(("namespace", ns.clone())),
        (None, None) => {}
    }
    if let Some(c) = &e.container {
        out.push(("container", c.clone()));
    }
    if let Some(id) = &e.container_id {
        out.push(("id", id.get(..12).unwrap_or(id).to_string()));
    }
    if let Some(i) = &e.instance_id {
        out.push(("instance", i.clone()));
    }
    if let Some(c) = &e.cloud {
        let mut s = c.clone();
        for part in [&e.account, &e.region].into_iter().flatten() {
            s.push(' ');
            s.push_str(part);
        }
        out.push(("cloud", s));
    }
    if let Some(f) = &e.file {
        out.push(("file", f.clone()));
    }
    out
}

/// A one-line headline for the alert (the OCSF title, the HTML heading).
pub fn title(a: &Alert) -> String {
    let what = match a.rule {
        "an0691.chain" => "Container from an untrusted image ran suspicious activity",
        "an0691.namespace_scope" => "Pod in a watched namespace runs an untrusted or mutable image",
        _ => "Malicious image execution chain",
    };
    let e = &a.entity;
    let on = e
        .container
        .as_deref()
        .map(|c| format!("container {c}"))
        .or_else(|| match (&e.namespace, &e.pod) {
            (Some(ns), Some(p)) => Some(format!("pod {ns}/{p}")),
            _ => None,
        })
        .or_else(|| e.instance_id.as_deref().map(|i| format!("instance {i}")))
        .or_else(|| e.container_id.as_deref().map(|i| format!("container {i}")))
        .or_else(|| e.host.as_deref().map(|h| format!("host {h}")))
        .or_else(|| e.file.as_deref().map(|f| format!("file {f}")));
    match on {
        Some(on) if !a.image.reference.is_empty() => {
            format!("{what}: {on}, image {}", a.image.reference)
        }
        Some(on) => format!("{what}: {on}"),
        None if !a.image.reference.is_empty() => format!("{what}: image {}", a.image.reference),
        None => what.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::{AlertEntity, AlertImage, Format, Severity, SourceRef};
    use std::sync::Arc;

    fn ev(stage: &'static str, secs: i64) -> Evidence {
        let src = SourceRef {
            format: Format::DockerEvents,
            path: Arc::from("x"),
            line: 1,
        };
        Evidence::new(stage, Ts(secs * 1_000_000_000), src, stage.to_string())
    }

    fn alert(evidence: Vec<Evidence>) -> Alert {
        Alert {
            rule: "an0691.chain",
            analytic: "AN0691",
            technique: "T1204.003",
            severity: Severity::High,
            time: Ts(0),
            entity: AlertEntity {
                container: Some("worker".into()),
                ..AlertEntity::default()
            },
            image: AlertImage {
                reference: "docker.io/x/y:1".into(),
                ..AlertImage::default()
            },
            reasons: vec![],
            evidence,
        }
    }

    #[test]
    fn anchored_at_the_pull_in_time_order() {
        let a = alert(vec![
            ev("activity", 40),
            ev("create", 8),
            ev("pull", 10),
            ev("start", 12),
        ]);
        let (anchor, s) = steps(&a);
        assert_eq!(anchor, Some(Ts(10_000_000_000)));
        let got: Vec<(&str, String)> = s
            .iter()
            .map(|s| (s.evidence.stage, signed(s.offset)))
            .collect();
        assert_eq!(
            got,
            [
                ("create", "-2s".to_string()),
                ("pull", "+0s".to_string()),
                ("start", "+2s".to_string()),
                ("activity", "+30s".to_string())
            ]
        );
    }

    #[test]
    fn without_a_pull_anchored_at_the_first_record() {
        let a = alert(vec![ev("start", 5), ev("activity", 7)]);
        let (anchor, s) = steps(&a);
        assert_eq!(anchor, Some(Ts(5_000_000_000)));
        assert_eq!(signed(s[1].offset), "+2s");
    }

    #[test]
    fn titles_name_the_entity_and_image() {
        let a = alert(vec![]);
        assert_eq!(
            title(&a),
            "Container from an untrusted image ran suspicious activity: container worker, image docker.io/x/y:1"
        );
    }
}
