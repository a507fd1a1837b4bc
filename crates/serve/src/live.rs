//! Merging live sources by event time. A scan merges whole files; a service cannot
//! wait for a file's end, so each source's events wait here until every source that is
//! still talking has reached their time (the low watermark), then go to the engine in
//! time order. A source that lags (a shipper minutes behind) holds the others back
//! rather than having its records arrive too late to correlate; a source that has said
//! nothing for the idle timeout no longer holds anyone back. What is held is capped:
//! past the cap the earliest go on regardless, and are counted.
//!
//! Wall-clock time enters only as the caller's word that a source is idle; the order
//! events leave in depends on their times and positions alone.

use pullwatch_model::{Event, Ts};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

type Key = (Ts, u8, Arc<str>, u64, u64);

struct Held {
    key: Key,
    event: Event,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        self.key == o.key
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.key.cmp(&o.key)
    }
}

#[derive(Clone, Copy)]
struct SourceState {
    /// The latest event time this source has delivered.
    high: Option<Ts>,
    idle: bool,
}

/// A source that has sent nothing yet holds nothing back: there is no telling a source
/// that will speak from one that never will.
const SILENT: SourceState = SourceState {
    high: None,
    idle: true,
};

pub struct LiveMerge {
    heap: BinaryHeap<Reverse<Held>>,
    /// Events of the one source that is talking while nothing else is held: its own
    /// watermark is its latest event, so all of them are due at once, and the heap
    /// (a key with a shared path per event) would only cost time. Moved into the heap
    /// as soon as another source talks.
    alone: Vec<Event>,
    alone_source: Option<usize>,
    /// By source number. A map, not a vector: sources come and go for the service's
    /// life (a pod's log, a spool segment), and [`LiveMerge::forget`] drops them.
    sources: HashMap<usize, SourceState>,
    /// The latest event time any source, forgotten or not, delivered.
    high: Option<Ts>,
    seq: u64,
    cap: usize,
    /// Released early because the cap was reached.
    pub forced: u64,
}

impl LiveMerge {
    pub fn new(cap: usize) -> LiveMerge {
        LiveMerge {
            heap: BinaryHeap::new(),
            alone: Vec::new(),
            alone_source: None,
            sources: HashMap::new(),
            high: None,
            seq: 0,
            cap: cap.max(1),
            forced: 0,
        }
    }

    fn source(&mut self, s: usize) -> &mut SourceState {
        self.sources.entry(s).or_insert(SILENT)
    }

    /// Source `s` will send nothing more (its file is gone): it no longer holds the
    /// others back, and nothing is kept for it. What it sent and is held stays.
    pub fn forget(&mut self, s: usize) {
        self.sources.remove(&s);
    }

    /// How many sources are known (talking, idle, or silent so far).
    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.alone.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty() && self.alone.is_empty()
    }

    /// Whether `s` is the only source talking.
    fn talks_alone(&self, s: usize) -> bool {
        self.sources.iter().all(|(&i, st)| i == s || st.idle)
    }

    fn hold(&mut self, event: Event) {
        let key = (
            event.time,
            event.stage_rank(),
            event.source.path.clone(),
            event.source.line,
            self.seq,
        );
        self.seq += 1;
        self.heap.push(Reverse(Held { key, event }));
    }

    /// Another source talks: what went by alone is ordered with the rest.
    fn end_alone(&mut self) {
        self.alone_source = None;
        for ev in std::mem::take(&mut self.alone) {
            self.hold(ev);
        }
    }

    /// An event from source `s`; the source is talking again.
    pub fn offer(&mut self, s: usize, event: Event) {
        let st = self.source(s);
        st.idle = false;
        st.high = Some(st.high.map_or(event.time, |h| h.max(event.time)));
        self.high = Some(self.high.map_or(event.time, |h| h.max(event.time)));
        let alone = match self.alone_source {
            Some(a) => a == s,
            None => self.talks_alone(s),
        };
        if self.heap.is_empty() && alone {
            self.alone_source = Some(s);
            self.alone.push(event);
            return;
        }
        if self.alone_source.is_some() {
            self.end_alone();
        }
        self.hold(event);
    }

    /// Marks source `s` idle (quiet for the idle timeout) or talking.
    pub fn set_idle(&mut self, s: usize, idle: bool) {
        self.source(s).idle = idle;
        if !idle && self.alone_source.is_some_and(|a| a != s) {
            self.end_alone();
        }
    }

    /// Every source is taken as idle (the inputs end): everything held may go.
    pub fn all_idle(&mut self) {
        for s in self.sources.values_mut() {
            s.idle = true;
        }
    }

    /// The time every talking source has reached; `None` when none is talking (then
    /// everything may go).
    pub fn low_watermark(&self) -> Option<Ts> {
        self.sources
            .values()
            .filter(|s| !s.idle)
            .map(|s| s.high.unwrap_or(Ts::MIN))
            .min()
    }

    /// The latest event time any source delivered.
    pub fn high(&self) -> Option<Ts> {
        self.high
    }

    /// Hands over, in order, every event at or before the low watermark (all of them
    /// when every source is idle), and the earliest beyond the cap.
    pub fn release(&mut self, out: &mut dyn FnMut(Event)) {
        for ev in self.alone.drain(..) {
            out(ev);
        }
        self.alone_source = None;
        let wm = self.low_watermark();
        while let Some(Reverse(top)) = self.heap.peek() {
            let due = wm.is_none_or(|w| top.key.0 <= w);
            let over = self.heap.len() > self.cap;
            if !due && !over {
                break;
            }
            if let Some(Reverse(h)) = self.heap.pop() {
                if !due {
                    self.forced += 1;
                }
                out(h.event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::{EventKind, Format, GuestBoot, SourceRef};

    fn ev(t: i64, path: &str) -> Event {
        Event::new(
            Ts(t),
            SourceRef {
                format: Format::DockerEvents,
                path: Arc::from(path),
                line: t as u64,
            },
            EventKind::GuestBoot(GuestBoot {
                instance_id: None,
                hostname: None,
                uptime_ms: None,
                stage: "init".into(),
            }),
        )
    }

    fn drain(m: &mut LiveMerge) -> Vec<i64> {
        let mut out = Vec::new();
        m.release(&mut |e| out.push(e.time.0));
        out
    }

    #[test]
    fn a_lagging_source_holds_the_others_back_until_it_catches_up() {
        let mut m = LiveMerge::new(100);
        m.offer(0, ev(100, "fast"));
        m.offer(0, ev(200, "fast"));
        m.offer(1, ev(10, "slow"));
        assert_eq!(drain(&mut m), vec![10]);
        m.offer(1, ev(150, "slow"));
        assert_eq!(drain(&mut m), vec![100, 150]);
        // The slow source goes quiet: it no longer holds the fast one.
        m.set_idle(1, true);
        assert_eq!(drain(&mut m), vec![200]);
    }

    #[test]
    fn a_source_that_never_spoke_holds_nothing_once_idle() {
        let mut m = LiveMerge::new(100);
        m.set_idle(1, false);
        m.offer(0, ev(5, "a"));
        assert!(drain(&mut m).is_empty());
        m.set_idle(1, true);
        assert_eq!(drain(&mut m), vec![5]);
    }

    proptest::proptest! {
        /// Sources that each deliver in time order, interleaved in any way, leave the
        /// merge in one global time order, whatever the arrival order: the engine sees
        /// what a scan's merge of the same files would give it.
        #[test]
        fn any_interleaving_of_ordered_sources_leaves_in_time_order(
            sources in proptest::collection::vec(proptest::collection::vec(0i64..1000, 0..40), 1..4),
            picks in proptest::collection::vec(0usize..4, 0..200),
        ) {
            let mut queues: Vec<std::collections::VecDeque<i64>> = sources
                .iter()
                .map(|s| { let mut s = s.clone(); s.sort(); s.into() })
                .collect();
            let total: usize = queues.iter().map(|q| q.len()).sum();
            let mut m = LiveMerge::new(10_000);
            // Every source has spoken (an empty one is idle from the start).
            for (i, q) in queues.iter().enumerate() {
                m.set_idle(i, q.is_empty());
            }
            let mut out = Vec::new();
            let mut picks = picks.into_iter();
            while queues.iter().any(|q| !q.is_empty()) {
                let n = queues.len();
                let mut i = picks.next().unwrap_or(0) % n;
                while queues[i].is_empty() {
                    i = (i + 1) % n;
                }
                if let Some(t) = queues[i].pop_front() {
                    m.offer(i, ev(t, &format!("s{i}")));
                }
                if queues[i].is_empty() {
                    m.set_idle(i, true);
                }
                m.release(&mut |e| out.push(e.time.0));
            }
            m.all_idle();
            m.release(&mut |e| out.push(e.time.0));
            proptest::prop_assert_eq!(out.len(), total);
            proptest::prop_assert!(out.windows(2).all(|w| w[0] <= w[1]), "{:?}", out);
            proptest::prop_assert_eq!(m.forced, 0);
        }
    }

    #[test]
    fn a_forgotten_source_holds_nothing_back_and_keeps_nothing() {
        let mut m = LiveMerge::new(100);
        m.offer(0, ev(100, "fast"));
        m.offer(1, ev(10, "gone"));
        assert_eq!(drain(&mut m), vec![10]);
        m.offer(0, ev(200, "fast"));
        m.set_idle(1, false);
        assert!(
            drain(&mut m).is_empty(),
            "the talking source 1 holds 100 and 200"
        );
        m.forget(1);
        assert_eq!(drain(&mut m), vec![100, 200]);
        assert_eq!(m.sources(), 1);
        // Its latest time still counts as the latest delivered.
        m.offer(2, ev(50, "late"));
        assert_eq!(m.high().map(|t| t.0), Some(200));
    }

    #[test]
    fn past_the_cap_the_earliest_go_and_are_counted() {
        let mut m = LiveMerge::new(2);
        m.offer(1, ev(1, "slow"));
        assert_eq!(drain(&mut m), vec![1]);
        for t in [10, 20, 30] {
            m.offer(0, ev(t, "fast"));
        }
        assert_eq!(drain(&mut m), vec![10]);
        assert_eq!(m.forced, 1);
    }
}
