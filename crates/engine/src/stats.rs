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

    /// Adds the counts of an engine this one replaced (a Kafka member builds a new
    /// engine on every rebalance), so that counters never go back: a record refused as
    /// late before a rebalance stays counted. What is tracked now stays this engine's;
    /// the first locations are the earlier engine's, then this one's, as many as one
    /// engine keeps.
    pub fn carry(&mut self, earlier: &EngineStats) {
        fn firsts<T: Clone>(mine: &mut Vec<T>, earlier: &[T]) {
            let mut all = earlier.to_vec();
            all.append(mine);
            all.truncate(crate::LATE_LOCATIONS_KEPT);
            *mine = all;
        }
        fn sum(mine: &mut BTreeMap<String, u64>, earlier: &BTreeMap<String, u64>) {
            for (k, n) in earlier {
                *mine.entry(k.clone()).or_default() += n;
            }
        }
        self.events += earlier.events;
        self.late += earlier.late;
        firsts(&mut self.late_first, &earlier.late_first);
        self.future += earlier.future;
        firsts(&mut self.future_first, &earlier.future_first);
        self.rewinds += earlier.rewinds;
        firsts(&mut self.rewind_first, &earlier.rewind_first);
        self.duplicates += earlier.duplicates;
        self.reorder_forced += earlier.reorder_forced;
        self.containers_peak = self.containers_peak.max(earlier.containers_peak);
        sum(&mut self.evictions, &earlier.evictions);
        sum(&mut self.activity, &earlier.activity);
        sum(&mut self.alerts, &earlier.alerts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late(line: u64) -> LateLocation {
        LateLocation {
            path: "kafka:node/0".into(),
            line,
            behind: "3m".into(),
        }
    }

    /// Counters go on from the engine replaced; what is tracked is the new engine's.
    #[test]
    fn counts_go_on_from_the_engine_replaced() {
        let mut earlier = EngineStats {
            events: 100,
            late: 3,
            late_first: vec![late(1), late(2), late(3)],
            rewinds: 1,
            containers_tracked: 40,
            containers_peak: 50,
            ..EngineStats::default()
        };
        earlier.evicted("expired", 2);
        earlier.activity("no pull seen");
        let mut now = EngineStats {
            events: 10,
            late: 4,
            late_first: vec![late(7), late(8), late(9), late(10)],
            containers_tracked: 4,
            containers_peak: 5,
            ..EngineStats::default()
        };
        now.evicted("expired", 1);
        now.evicted("capacity: trusted", 1);
        now.carry(&earlier);
        assert_eq!(now.events, 110);
        assert_eq!(now.late, 7);
        assert_eq!(now.rewinds, 1);
        let lines: Vec<u64> = now.late_first.iter().map(|l| l.line).collect();
        assert_eq!(lines, [1, 2, 3, 7, 8], "the first ones, earliest first");
        assert_eq!(now.containers_tracked, 4);
        assert_eq!(now.containers_peak, 50);
        assert_eq!(now.evictions.get("expired"), Some(&3));
        assert_eq!(now.evictions.get("capacity: trusted"), Some(&1));
        assert_eq!(now.activity.get("no pull seen"), Some(&1));
    }
}
