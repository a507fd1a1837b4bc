//! The investigation report: one self-contained HTML file (inline CSS, no script, no
//! fetch) with the scan summary and, per alert, the chain on a time axis with its
//! reasons and the record behind every stage.
//!
//! Everything from the input reaches the page through askama's HTML auto-escaping; the
//! only values written into `style` attributes are percentages this module computes.
//! The page also carries a Content-Security-Policy that forbids scripts and any network
//! fetch, so even a rendering bug could not turn a hostile container name into code.

use crate::chain;
use crate::summary::ScanSummary;
use askama::Template;
use pullwatch_model::alert::Evidence;
use pullwatch_model::Alert;

#[derive(Debug, thiserror::Error)]
pub enum HtmlError {
    #[error("rendering the HTML report: {0}")]
    Render(#[from] askama::Error),
}

struct Row {
    label: String,
    value: String,
}

struct SkipRow {
    reason: String,
    count: u64,
    first: Vec<String>,
}

struct StepView {
    stage: &'static str,
    offset: String,
    /// Position on the axis, 0–100, formatted for a `style` attribute.
    pct: String,
    time: String,
    summary: String,
    format: &'static str,
    location: String,
    facts: Vec<Row>,
}

struct AlertView {
    id: String,
    severity: &'static str,
    rule: &'static str,
    analytic: &'static str,
    technique: &'static str,
    time: String,
    title: String,
    entity: Vec<Row>,
    image: String,
    digest: String,
    reasons: Vec<String>,
    anchor: String,
    axis_start: String,
    axis_end: String,
    steps: Vec<StepView>,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    version: &'static str,
    inputs: Vec<String>,
    input_errors: Vec<String>,
    bytes: u64,
    formats: Vec<(&'static str, u64, u64)>,
    records_read: u64,
    skipped_total: u64,
    skipped: Vec<SkipRow>,
    correlated: u64,
    duplicates: u64,
    late: u64,
    rewinds: u64,
    alerts_total: usize,
    by_rule: Vec<(String, u64)>,
    by_severity: Vec<(&'static str, u64)>,
    alerts: Vec<AlertView>,
}

/// Renders the report for a finished scan. Deterministic: no clock, no environment, so
/// the same scan gives the same bytes.
pub fn render(summary: &ScanSummary, alerts: &[Alert]) -> Result<String, HtmlError> {
    let d = &summary.decode;
    let e = &summary.engine;
    let mut by_rule: Vec<(String, u64)> = Vec::new();
    for a in alerts {
        match by_rule.iter_mut().find(|(r, _)| r == a.rule) {
            Some((_, n)) => *n += 1,
            None => by_rule.push((a.rule.to_string(), 1)),
        }
    }
    by_rule.sort();
    let mut by_severity: Vec<(&'static str, u64)> = Vec::new();
    let mut sev: Vec<_> = alerts.iter().map(|a| a.severity).collect();
    sev.sort_by(|a, b| b.cmp(a));
    for s in sev {
        match by_severity.last_mut() {
            Some((name, n)) if *name == s.as_str() => *n += 1,
            _ => by_severity.push((s.as_str(), 1)),
        }
    }
    let page = ReportPage {
        version: env!("CARGO_PKG_VERSION"),
        inputs: summary.inputs.clone(),
        input_errors: summary.input_errors.clone(),
        bytes: d.bytes,
        formats: d
            .formats
            .iter()
            .map(|(f, c)| (f.name(), c.records, c.events))
            .collect(),
        records_read: summary.records_read(),
        skipped_total: d.skipped_total(),
        skipped: d
            .skipped
            .iter()
            .map(|(reason, s)| SkipRow {
                reason: reason.clone(),
                count: s.count,
                first: s
                    .first
                    .iter()
                    .map(|l| format!("{}:{}: {}", l.path, l.line, l.detail))
                    .collect(),
            })
            .collect(),
        correlated: e.events.saturating_sub(e.late),
        duplicates: e.duplicates,
        late: e.late,
        rewinds: e.rewinds,
        alerts_total: alerts.len(),
        by_rule,
        by_severity,
        alerts: alerts
            .iter()
            .enumerate()
            .map(|(i, a)| alert_view(i, a))
            .collect(),
    };
    Ok(page.render()?)
}

fn alert_view(i: usize, a: &Alert) -> AlertView {
    let (anchor, steps) = chain::steps(a);
    let min = steps.iter().map(|s| s.offset.0).min().unwrap_or(0);
    let max = steps.iter().map(|s| s.offset.0).max().unwrap_or(0);
    let span = (max - min).max(1) as f64;
    let steps = steps
        .iter()
        .map(|s| {
            let ev = s.evidence;
            StepView {
                stage: ev.stage,
                offset: chain::signed(s.offset),
                pct: format!("{:.2}", (s.offset.0 - min) as f64 / span * 100.0),
                time: ev.time.to_string(),
                summary: ev.summary.clone(),
                format: ev.source.format.name(),
                location: ev.source.to_string(),
                facts: facts(ev),
            }
        })
        .collect();
    AlertView {
        id: format!("alert-{}", i + 1),
        severity: a.severity.as_str(),
        rule: a.rule,
        analytic: a.analytic,
        technique: a.technique,
        time: a.time.to_string(),
        title: chain::title(a),
        entity: chain::entity_parts(a)
            .into_iter()
            .map(|(k, v)| Row {
                label: k.to_string(),
                value: v,
            })
            .collect(),
        image: a.image.reference.clone(),
        digest: a.image.digest.clone().unwrap_or_default(),
        reasons: a.reasons.clone(),
        anchor: anchor.map(|t| t.to_string()).unwrap_or_default(),
        axis_start: chain::signed(pullwatch_model::time::Dur(min)),
        axis_end: chain::signed(pullwatch_model::time::Dur(max)),
        steps,
    }
}

/// The structured facts of a stage that its one-line summary may shorten.
fn facts(e: &Evidence) -> Vec<Row> {
    let mut out = Vec::new();
    let mut push = |label: &str, value: String| {
        if !value.is_empty() {
            out.push(Row {
                label: label.to_string(),
                value,
            })
        }
    };
    if let Some(h) = &e.host {
        push("host", h.clone());
    }
    if let Some(c) = &e.container {
        let mut parts = Vec::new();
        if let (Some(ns), Some(p)) = (&c.namespace, &c.pod) {
            parts.push(format!("pod {ns}/{p}"));
        }
        if let Some(n) = &c.name {
            parts.push(format!("name {n}"));
        }
        if let Some(id) = &c.id {
            parts.push(format!("id {id}"));
        }
        push("container", parts.join(", "));
    }
    if let Some(i) = &e.image {
        push("image", i.clone());
    }
    if let Some(p) = &e.process {
        let mut head = Vec::new();
        if let Some(pid) = p.pid {
            head.push(format!("pid {pid}"));
        }
        if let Some(pp) = p.ppid {
            head.push(format!("ppid {pp}"));
        }
        if let Some(u) = &p.user {
            head.push(format!("user {u}"));
        }
        if !p.exe.is_empty() {
            head.push(p.exe.clone());
        }
        push("process", head.join(", "));
        push("command line", p.cmdline.clone());
    }
    if let Some(d) = &e.dst {
        let proto = e
            .protocol
            .as_deref()
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        let port = d.port.map(|p| format!(" port {p}")).unwrap_or_default();
        push("destination", format!("{}{port}{proto}", d.ip));
    }
    if let Some(api) = &e.api {
        let by = api
            .actor
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        let res = api
            .resource
            .as_deref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        push("api", format!("{} {}{res}{by}", api.service, api.operation));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::alert::EvidenceProcess;
    use pullwatch_model::{AlertEntity, AlertImage, Format, Severity, SourceRef, Ts};
    use std::sync::Arc;

    fn hostile() -> Alert {
        let src = SourceRef {
            format: Format::DockerEvents,
            path: Arc::from("a<b>.jsonl"),
            line: 7,
        };
        let mut act = Evidence::new(
            "activity",
            Ts(30_000_000_000),
            src.clone(),
            "exec </style><script>alert(1)</script>".into(),
        );
        act.process = Some(EvidenceProcess {
            pid: Some(4),
            exe: "/bin/sh".into(),
            cmdline: "sh -c '</style><script>alert(1)</script>'".into(),
            ..EvidenceProcess::default()
        });
        Alert {
            rule: "an0691.chain",
            analytic: "AN0691",
            technique: "T1204.003",
            severity: Severity::Critical,
            time: Ts(30_000_000_000),
            entity: AlertEntity {
                container: Some("<img src=x onerror=alert(1)>".into()),
                ..AlertEntity::default()
            },
            image: AlertImage {
                reference: "evil.io/x\"onmouseover=\"alert(1)".into(),
                ..AlertImage::default()
            },
            reasons: vec!["r & <b>".into()],
            evidence: vec![
                Evidence::new("pull", Ts(10_000_000_000), src, "pull".into()),
                act,
            ],
        }
    }

    #[test]
    fn hostile_strings_are_escaped() {
        let html = render(&ScanSummary::default(), &[hostile()]).unwrap();
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("<script>"));
        assert!(!html.contains("</style><"));
        assert!(!html.contains("\"onmouseover"));
        assert!(
            html.contains("&#60;img src=x onerror=alert(1)&#62;")
                || html.contains("&lt;img src=x onerror=alert(1)&gt;")
        );
        // No script, no external resource anywhere in the page.
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn timeline_positions_follow_offsets() {
        let html = render(&ScanSummary::default(), &[hostile()]).unwrap();
        // pull at 0%, activity 20s later at 100% of a 20s axis.
        assert!(html.contains("style=\"width: 0.00%\""), "{html}");
        assert!(html.contains("style=\"width: 100.00%\""));
        assert!(html.contains("+20s"));
    }
}
