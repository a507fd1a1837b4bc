//! The closing summary printed on stderr after a scan: what was read, what was skipped
//! and where, what the engine dropped or evicted, and the alerts by rule.

use pullwatch_decode::DecodeStats;
use pullwatch_engine::provenance::ProvenanceStats;
use pullwatch_engine::stats::EngineStats;
use pullwatch_model::{Alert, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

#[derive(Clone, Debug, Default, Serialize)]
pub struct ScanSummary {
    /// The inputs opened, in the order they were named (`-` for stdin).
    pub inputs: Vec<String>,
    pub decode: DecodeStats,
    pub engine: EngineStats,
    /// Inputs that could not be read at all, with the error.
    pub input_errors: Vec<String>,
    /// Alerts written, by severity (the engine counts them by rule).
    pub alerts_by_severity: BTreeMap<Severity, u64>,
    pub provenance: ProvenanceStats,
}

impl ScanSummary {
    /// Counts an alert that was written out.
    pub fn count_alert(&mut self, a: &Alert) {
        *self.alerts_by_severity.entry(a.severity).or_default() += 1;
    }

    /// Records recognized as some format.
    pub fn records_read(&self) -> u64 {
        self.decode.formats.values().map(|c| c.records).sum()
    }

    pub fn render(&self) -> String {
        let d = &self.decode;
        let e = &self.engine;
        let mut s = String::new();
        let _ = writeln!(s, "pullwatch: scan summary");
        let _ = writeln!(s, "  inputs: {} ({} bytes)", d.inputs, d.bytes);
        for err in &self.input_errors {
            let _ = writeln!(s, "  input error: {}", crate::escape::terminal(err));
        }
        for (f, c) in &d.formats {
            let _ = writeln!(
                s,
                "  read {:<18} {:>9} records  {:>9} events",
                f.name(),
                c.records,
                c.events
            );
        }
        if !d.shipped.is_empty() {
            let n: u64 = d.shipped.values().sum();
            let _ = writeln!(s, "  unwrapped from log shippers' envelopes: {n} records");
            for (shipper, n) in &d.shipped {
                let _ = writeln!(s, "    {n:>7}  {shipper}");
            }
        }
        if d.prefiltered > 0 {
            let _ = writeln!(
                s,
                "  prefiltered: {} records no loaded analytic can use, not decoded in full",
                d.prefiltered
            );
            for (why, n) in &d.prefiltered_why {
                let _ = writeln!(s, "    {n:>7}  {why}");
            }
        }
        let skipped = d.skipped_total();
        if skipped > 0 {
            let _ = writeln!(s, "  skipped: {skipped} records");
            for (reason, sc) in &d.skipped {
                let _ = writeln!(
                    s,
                    "    {:>7}  {}",
                    sc.count,
                    crate::escape::terminal(reason)
                );
                for loc in &sc.first {
                    let _ = writeln!(
                        s,
                        "             at {}:{}: {}",
                        crate::escape::terminal(&loc.path),
                        loc.line,
                        crate::escape::terminal(&loc.detail)
                    );
                }
            }
        } else {
            let _ = writeln!(s, "  skipped: none");
        }
        let _ = writeln!(s, "  events correlated: {}", e.events - e.late);
        if e.duplicates > 0 {
            let _ = writeln!(s, "  duplicates dropped: {}", e.duplicates);
        }
        located(
            &mut s,
            "late (beyond allowed_lateness, not correlated)",
            e.late,
            e.late_first
                .iter()
                .map(|l| (&l.path, l.line, &l.behind, "late")),
        );
        located(
            &mut s,
            "dated ahead (beyond max_future_skew, held without moving time)",
            e.future,
            e.future_first
                .iter()
                .map(|l| (&l.path, l.line, &l.ahead, "ahead")),
        );
        located(
            &mut s,
            "rewound (input restarted from an earlier time, correlated from there)",
            e.rewinds,
            e.rewind_first
                .iter()
                .map(|l| (&l.path, l.line, &l.back, "back")),
        );
        if e.reorder_forced > 0 {
            let _ = writeln!(
                s,
                "  released early (reorder buffer full): {}",
                e.reorder_forced
            );
        }
        let _ = writeln!(
            s,
            "  containers tracked: {} (peak {})",
            e.containers_tracked, e.containers_peak
        );
        for (reason, n) in &e.evictions {
            let _ = writeln!(s, "  evicted {reason}: {n}");
        }
        let _ = writeln!(s, "  {}", provenance_line(&self.provenance));
        if let Some(n) = e.activity.get(pullwatch_engine::an0691::SKIPPED_STARTUP) {
            let _ = writeln!(
                s,
                "  start-up not alerted: {n} processes (entrypoint of a newly seen digest of an allowlisted image, or run directly by it)"
            );
        }
        if e.alerts.is_empty() {
            let _ = writeln!(s, "  alerts: none");
        } else {
            let total: u64 = e.alerts.values().sum();
            let by: Vec<String> = e.alerts.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let sev: Vec<String> = self
                .alerts_by_severity
                .iter()
                .rev()
                .map(|(k, n)| format!("{} {n}", k.as_str()))
                .collect();
            let _ = write!(s, "  alerts: {total} ({})", by.join(", "));
            if !sev.is_empty() {
                let _ = write!(s, "; {}", sev.join(", "));
            }
            s.push('\n');
        }
        s
    }
}

/// A count of records the engine set apart for one reason, and where the first of them
/// are (`at PATH:LINE: AMOUNT WORD`); nothing when there were none.
fn located<'a>(
    s: &mut String,
    title: &str,
    count: u64,
    first: impl Iterator<Item = (&'a String, u64, &'a String, &'static str)>,
) {
    if count == 0 {
        return;
    }
    let _ = writeln!(s, "  {title}: {count}");
    for (path, line, amount, word) in first {
        let _ = writeln!(
            s,
            "             at {}:{}: {} {}",
            crate::escape::terminal(path),
            line,
            amount,
            word
        );
    }
}

fn provenance_line(p: &ProvenanceStats) -> String {
    if !p.baseline {
        return "baseline: none (no digest or tag counts as newly seen without --baseline)".into();
    }
    let mut line = format!(
        "baseline: {} digests seen, {} not in the baseline, {} moved tags",
        p.digests_seen, p.digests_new, p.tags_moved
    );
    if let Some(u) = p.learning_until {
        line.push_str(&format!("; learning until {u}"));
    }
    if p.not_kept > 0 {
        line.push_str(&format!(
            "; {} sightings not kept (cap reached)",
            p.not_kept
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_engine::stats::RewindLocation;

    #[test]
    fn rewinds_are_counted_and_located() {
        let mut sum = ScanSummary::default();
        sum.engine.rewinds = 2;
        sum.engine.rewind_first = vec![
            RewindLocation {
                path: "-".into(),
                line: 202,
                back: "23m".into(),
            },
            RewindLocation {
                path: "day1\u{1b}[31m.log".into(),
                line: 7,
                back: "1d".into(),
            },
        ];
        let out = sum.render();
        assert!(out.contains(
            "  rewound (input restarted from an earlier time, correlated from there): 2\n             at -:202: 23m back\n"
        ), "{out}");
        assert!(!out.contains('\u{1b}'), "{out}");
        assert!(!ScanSummary::default().render().contains("rewound"));
    }

    #[test]
    fn records_unwrapped_from_shippers_are_counted_per_shipper() {
        let mut sum = ScanSummary::default();
        assert!(!sum.render().contains("unwrapped"));
        sum.decode.shipped.insert("vector", 3);
        sum.decode.shipped.insert("filebeat", 1);
        let out = sum.render();
        assert!(
            out.contains(
                "  unwrapped from log shippers' envelopes: 4 records\n          1  filebeat\n          3  vector\n"
            ),
            "{out}"
        );
    }
}
