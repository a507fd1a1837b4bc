//! The readable terminal view: one block per alert, severity first, then the chain in
//! time order with offsets from its first record.

use crate::escape::terminal;
use pullwatch_model::Alert;
use std::fmt::Write;

pub fn alert_block(a: &Alert) -> String {
    let mut s = String::new();
    let e = &a.entity;
    let mut what = Vec::new();
    if let Some(h) = &e.host {
        what.push(format!("host {}", terminal(h)));
    }
    if let (Some(ns), Some(p)) = (&e.namespace, &e.pod) {
        what.push(format!("pod {}/{}", terminal(ns), terminal(p)));
    }
    if let Some(c) = &e.container {
        what.push(format!("container {}", terminal(c)));
    }
    if let Some(id) = &e.container_id {
        what.push(format!("id {}", terminal(id.get(..12).unwrap_or(id))));
    }
    if let Some(i) = &e.instance_id {
        what.push(format!("instance {}", terminal(i)));
    }
    let _ = writeln!(
        s,
        "{:<8} {}  {}  {}",
        a.severity.as_str().to_uppercase(),
        a.rule,
        a.time,
        what.join(", ")
    );
    if !a.image.reference.is_empty() {
        let _ = writeln!(s, "  image    {}", terminal(&a.image.reference));
    }
    for r in &a.reasons {
        let _ = writeln!(s, "  why      {}", terminal(r));
    }
    let t0 = a.evidence.first().map(|e| e.time);
    for ev in &a.evidence {
        let offset = t0.map(|t| ev.time.since(t)).unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<8} +{:<7} {}  [{} {}]",
            ev.stage,
            offset.to_string(),
            terminal(&ev.summary),
            ev.source.format,
            terminal(&ev.source.to_string()),
        );
    }
    s
}
