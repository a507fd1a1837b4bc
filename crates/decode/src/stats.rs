//! Counters for the closing summary: what was read per format, and every record that
//! was skipped, with the reason and where the first few were.

use pullwatch_model::Format;
use serde::Serialize;
use std::collections::BTreeMap;

/// How many locations are kept per skip reason; the rest are only counted.
pub const SKIP_LOCATIONS_KEPT: usize = 5;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct FormatCounts {
    /// Records recognized as this format.
    pub records: u64,
    /// Normalized events they produced (records of no interest produce none).
    pub events: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SkipLocation {
    pub path: String,
    pub line: u64,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct SkipCounts {
    pub count: u64,
    pub first: Vec<SkipLocation>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DecodeStats {
    pub inputs: u64,
    pub bytes: u64,
    pub formats: BTreeMap<Format, FormatCounts>,
    /// Keyed by a short reason ("invalid JSON", "k8s-audit: missing field auditID").
    pub skipped: BTreeMap<String, SkipCounts>,
    /// Records counted under their format but not decoded: the prefilter saw that no
    /// loaded analytic could use them.
    pub prefiltered: u64,
    /// `prefiltered` by what the records were ("docker-events: network event (not
    /// used)"), so the summary does not call every skipped record the same thing.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub prefiltered_why: BTreeMap<&'static str, u64>,
    /// Records read from inside a log shipper's envelope (Vector's `message`,
    /// Filebeat's `event.original`, Fluent Bit's `log` …), by shipper: the summary
    /// says what was unwrapped, so a pipeline's shape is visible.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub shipped: BTreeMap<&'static str, u64>,
}

impl DecodeStats {
    pub fn record(&mut self, format: Format, events: usize) {
        let c = self.formats.entry(format).or_default();
        c.records += 1;
        c.events += events as u64;
    }

    pub fn skip(&mut self, reason: &str, path: &str, line: u64, detail: String) {
        let s = self.skipped.entry(reason.to_string()).or_default();
        s.count += 1;
        if s.first.len() < SKIP_LOCATIONS_KEPT {
            s.first.push(SkipLocation {
                path: path.to_string(),
                line,
                detail,
            });
        }
    }

    pub fn prefilter(&mut self, why: &'static str) {
        self.prefiltered += 1;
        *self.prefiltered_why.entry(why).or_default() += 1;
    }

    pub fn shipped(&mut self, shipper: crate::framing::Shipper) {
        *self.shipped.entry(shipper.label()).or_default() += 1;
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().map(|s| s.count).sum()
    }

    pub fn merge(&mut self, other: &DecodeStats) {
        self.inputs += other.inputs;
        self.bytes += other.bytes;
        self.prefiltered += other.prefiltered;
        for (why, n) in &other.prefiltered_why {
            *self.prefiltered_why.entry(why).or_default() += n;
        }
        for (s, n) in &other.shipped {
            *self.shipped.entry(s).or_default() += n;
        }
        for (f, c) in &other.formats {
            let m = self.formats.entry(*f).or_default();
            m.records += c.records;
            m.events += c.events;
        }
        for (r, s) in &other.skipped {
            let m = self.skipped.entry(r.clone()).or_default();
            m.count += s.count;
            for loc in &s.first {
                if m.first.len() < SKIP_LOCATIONS_KEPT {
                    m.first.push(loc.clone());
                }
            }
        }
    }
}
