//! Event-time ordering. Records arrive roughly in time order but not exactly (several
//! sensors, clock jitter, batching). Holding each one until the watermark (the latest
//! event time seen, less the allowed lateness) passes it, and releasing in a total order
//! that does not depend on arrival, makes the alerts the same for any arrival order
//! within that lateness, in batch and in streaming alike.

use pullwatch_model::time::Dur;
use pullwatch_model::{Event, Ts};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A held event. The event itself is boxed: the heap moves its elements on every push
/// and pop, and an `Event` is a few hundred bytes.
struct Pending {
    time: Ts,
    rank: u8,
    seq: u64,
    event: Box<Event>,
}

impl Pending {
    /// Time, then causal stage, then position in the input: a total order among
    /// distinct records that arrival order cannot change.
    fn order(&self, other: &Self) -> Ordering {
        self.time
            .cmp(&other.time)
            .then(self.rank.cmp(&other.rank))
            .then_with(|| {
                let (a, b) = (&self.event.source, &other.event.source);
                let path = if std::sync::Arc::ptr_eq(&a.path, &b.path) {
                    Ordering::Equal
                } else {
                    a.path.cmp(&b.path)
                };
                path.then(a.line.cmp(&b.line))
            })
            .then(self.seq.cmp(&other.seq))
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.order(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first.
        other.order(self)
    }
}

pub enum Admit {
    Held,
    /// Older than what was already released: correlating it now would put it in the
    /// wrong order, so it is refused (and counted by the caller).
    Late {
        behind: Dur,
    },
}

pub struct ReorderBuffer {
    heap: BinaryHeap<Pending>,
    lateness: Dur,
    max_seen: Option<Ts>,
    /// Everything strictly before this time has been released.
    released_before: Ts,
    seq: u64,
    cap: usize,
}

impl ReorderBuffer {
    pub fn new(lateness: Dur, cap: usize) -> ReorderBuffer {
        ReorderBuffer {
            heap: BinaryHeap::new(),
            lateness,
            max_seen: None,
            released_before: Ts::MIN,
            seq: 0,
            cap: cap.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The current watermark: no record older than this is expected any more.
    pub fn watermark(&self) -> Ts {
        self.released_before
    }

    pub fn admit(&mut self, event: Event) -> Admit {
        if event.time < self.released_before {
            return Admit::Late {
                behind: self.released_before.since(event.time),
            };
        }
        self.max_seen = Some(self.max_seen.map_or(event.time, |m| m.max(event.time)));
        // Arrival sequence only breaks ties between events of one record, which a
        // decoder always emits in the same order.
        let seq = self.seq;
        self.seq += 1;
        self.heap.push(Pending {
            time: event.time,
            rank: event.stage_rank(),
            seq,
            event: Box::new(event),
        });
        Admit::Held
    }

    /// Releases, in order, every held record the watermark has passed. When more than
    /// `cap` records are held, the earliest are released early (the caller counts it).
    pub fn release(&mut self, out: &mut Vec<Event>) -> usize {
        let mut forced = 0;
        if let Some(max) = self.max_seen {
            let wm = max.saturating_sub(self.lateness);
            if wm > self.released_before {
                self.released_before = wm;
            }
        }
        while let Some(top) = self.heap.peek() {
            if top.time < self.released_before {
                if let Some(p) = self.heap.pop() {
                    out.push(*p.event);
                }
            } else if self.heap.len() > self.cap {
                if let Some(p) = self.heap.pop() {
                    self.released_before = self.released_before.max(p.time);
                    out.push(*p.event);
                    forced += 1;
                }
            } else {
                break;
            }
        }
        forced
    }

    /// Releases everything (end of input).
    pub fn drain(&mut self, out: &mut Vec<Event>) {
        while let Some(p) = self.heap.pop() {
            self.released_before = self.released_before.max(p.time);
            out.push(*p.event);
        }
    }
}
