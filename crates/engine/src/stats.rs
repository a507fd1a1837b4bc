//! What the engine did with the events it was given, for the closing summary. Every
//! event that did not take part in correlation is counted under a reason here.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct LateLocation {
    pub path: String,
    pub line: u64,
    pub behind: String,
}

/// A record dated further ahead of the others than `max_future_skew`.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct FutureLocation {
    pub path: String,
    pub line: u64,
    pub ahead: String,
}

/// Where an input restarted from an earlier time: the first record of the run that
/// showed it, and how far behind the watermark it lay.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RewindLocation {
    pub path: String,
    pub line: u64,
    pub back: String,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct EngineStats {
    pub events: u64,
    /// Refused because they arrived after the watermark had passed them.
    pub late: u64,
    pub late_first: Vec<LateLocation>,
    /// Dated more than `max_future_skew` ahead of the other records: correlated at
    /// their own time, but never allowed to move the watermark.
    pub future: u64,
    pub future_first: Vec<FutureLocation>,
    /// Times an input restarted from an earlier time (a run of records far behind the
    /// watermark): what was held was correlated, then event time moved back.
    pub rewinds: u64,
    pub rewind_first: Vec<RewindLocation>,
    /// The same fact reported again (audit stages, kubelet event updates).
    pub duplicates: u64,
    /// Released before the watermark because the reorder buffer was full.
    pub reorder_forced: u64,
    pub containers_tracked: u64,
    pub containers_peak: u64,
    pub instances_tracked: u64,
    /// Evictions by reason (`expired`, `capacity: trusted`, …).
    pub evictions: BTreeMap<String, u64>,
    /// Activity that did not complete a chain, by reason.
    pub activity: BTreeMap<String, u64>,
    pub alerts: BTreeMap<String, u64>,
}

impl EngineStats {
    pub fn activity(&mut self, reason: &str) {
        // Called for most events: no allocation once a reason has been seen.
        match self.activity.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                self.activity.insert(reason.to_string(), 1);
            }
        }
    }

    pub fn evicted(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.evictions.entry(reason.to_string()).or_default() += n;
        }
    }

    pub fn evictions_total(&self) -> u64 {
        self.evictions.values().sum()
    }
}
