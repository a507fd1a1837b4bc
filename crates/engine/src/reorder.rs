//! Event-time ordering. Records arrive roughly in time order but not exactly (several
//! sensors, clock jitter, batching). Holding each one until the watermark (the latest
//! event time seen, less the allowed lateness) passes it, and releasing in a total order
//! that does not depend on arrival, makes the alerts the same for any arrival order
//! within that lateness, in batch and in streaming alike.

use pullwatch_model::time::Dur;
use pullwatch_model::{Event, Ts};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

/// What the heap orders: the sort key of one held record and where the record is
/// parked. Records themselves are a few hundred bytes; a heap sift moves its entries
/// a dozen times, so only these small keys live in it.
struct Pending {
    time: Ts,
    rank: u8,
    path: Arc<str>,
    line: u64,
    seq: u64,
    slot: u32,
    /// Dated too far ahead of the others: held, but never moves the watermark.
    future: bool,
}

impl Pending {
    /// Time, then causal stage, then position in the input: a total order among
    /// distinct records that arrival order cannot change.
    fn key(&self) -> (Ts, u8, &str, u64, u64) {
        (self.time, self.rank, &self.path, self.line, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
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
        // BinaryHeap is a max-heap: reverse for earliest first. Times differ far more
        // often than not, so they are compared before building the full key.
        match other.time.cmp(&self.time) {
            Ordering::Equal => other.key().cmp(&self.key()),
            o => o,
        }
    }
}

/// Held records, parked where they were put until released; freed places are reused,
/// so the storage stays as large as the most ever held at once.
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Event>>,
    free: Vec<u32>,
}

impl Slab {
    fn put(&mut self, event: Event) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(event);
                i
            }
            None => {
                self.slots.push(Some(event));
                (self.slots.len() - 1) as u32
            }
        }
    }

    fn take(&mut self, slot: u32) -> Option<Event> {
        let e = self.slots.get_mut(slot as usize)?.take();
        if e.is_some() {
            self.free.push(slot);
        }
        e
    }
}

pub enum Admit {
    Held,
    /// Older than what was already released: correlating it now would put it in the
    /// wrong order. It is held aside as a possible rewind (see [`REWIND_CONFIRM`]); the
    /// caller learns its fate later, from [`ReorderBuffer::take_late`] (refused) or a
    /// later [`Admit::Rewind`].
    Behind,
    /// Enough records in a row lay far behind the watermark that the input is taken to
    /// have restarted from an earlier time (`cat` of files in the wrong order). The
    /// caller correlates everything still held ([`ReorderBuffer::drain_next`]), then
    /// calls [`ReorderBuffer::restart`] to move time back to the held-aside records.
    Rewind,
    /// Dated more than the allowed future skew ahead of every other record: held and
    /// correlated at its own time, but it does not move the watermark (counted by the
    /// caller), so one record from 2099 cannot make every later record late.
    Future {
        ahead: Dur,
    },
}

/// A held record found, after the fact, to have been dated far ahead of the records
/// that followed it (it came first, so nothing showed it was wrong until then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outlier {
    pub path: std::sync::Arc<str>,
    pub line: u64,
    pub ahead: Dur,
}

/// A record found to be later than the allowed lateness: refused, not correlated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Late {
    pub path: Arc<str>,
    pub line: u64,
    pub behind: Dur,
}

/// Where an input restarted from an earlier time: the first record of the run that
/// confirmed it, and how far behind the watermark of the time before it lay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewind {
    pub path: Arc<str>,
    pub line: u64,
    pub back: Dur,
}

/// Before anything is released, a record far behind the latest one may show that the
/// latest is the outlier; looking back costs a pass over what is held, so it is only
/// done while little is held (at the very start of an input).
const RESEED_MAX_HELD: usize = 4096;

/// How many records dated ahead must agree before time is taken to have really moved
/// on: archived logs have gaps (a scan of two different weeks), and after a gap every
/// record is "ahead" of the last one. One forged date (or a handful) stays an outlier;
/// a run of records that all lie ahead is the new present.
const FUTURE_CONFIRM: usize = 64;

/// How many records in a row, all beyond the allowed lateness behind the watermark,
/// show that the input restarted from an earlier time (`cat day2.log day1.log`,
/// several files cat'ed into stdin) rather than carrying stragglers. Late records come
/// alone or in small bursts (a sensor's retry, a clock that jumped): a run of 32 with
/// nothing in time between them is a second stream, not jitter. The run is held aside
/// meanwhile and ordered among itself when confirmed, so the longer it may be, the
/// more disorder at a restart is forgiven (`cat examples/*/*` sends 32 events behind
/// the cloud ones, from five files that each start again); the shorter, the less is
/// held and the sooner a stray late record is reported. 32 records of a few hundred
/// bytes each cost nothing; a restart shorter than the run is still taken as one when
/// the input ends.
///
/// The mirror of [`FUTURE_CONFIRM`]: a run whose records lie further behind than the
/// allowed future skew needs [`FUTURE_CONFIRM`] records, so input can move time back no
/// further, and no more cheaply, than it could move it forward.
const REWIND_CONFIRM: usize = 32;

pub struct ReorderBuffer {
    heap: BinaryHeap<Pending>,
    held: Slab,
    lateness: Dur,
    future_skew: Dur,
    /// The latest time among records that were not dated into the future.
    max_seen: Option<Ts>,
    /// Everything strictly before this time has been released.
    released_before: Ts,
    released_any: bool,
    /// Records held as dated ahead, since time last moved.
    future_held: usize,
    seq: u64,
    cap: usize,
    outliers: Vec<Outlier>,
    /// Records admitted as dated ahead that turned out to be the present.
    confirmed: Vec<(Arc<str>, u64)>,
    /// The current run of records far behind the watermark, in arrival order, with how
    /// far behind each lay: a rewind if it grows long enough, late records if not.
    /// Never longer than [`FUTURE_CONFIRM`].
    behind: Vec<(Event, Dur)>,
    /// Some record of the run lies further behind than the allowed future skew.
    behind_deep: bool,
    /// Records of a run found to be late, since the last call to [`Self::take_late`].
    late: Vec<Late>,
}

impl ReorderBuffer {
    pub fn new(lateness: Dur, cap: usize) -> ReorderBuffer {
        ReorderBuffer::with_future_skew(lateness, Dur(i64::MAX), cap)
    }

    pub fn with_future_skew(lateness: Dur, future_skew: Dur, cap: usize) -> ReorderBuffer {
        ReorderBuffer {
            heap: BinaryHeap::new(),
            held: Slab::default(),
            lateness,
            future_skew: Dur(future_skew.0.max(0)),
            max_seen: None,
            released_before: Ts::MIN,
            released_any: false,
            future_held: 0,
            seq: 0,
            cap: cap.max(1),
            outliers: Vec::new(),
            confirmed: Vec::new(),
            behind: Vec::new(),
            behind_deep: false,
            late: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The latest time among records that count for the watermark.
    pub fn latest(&self) -> Option<Ts> {
        self.max_seen
    }

    /// The current watermark: no record older than this is expected any more.
    pub fn watermark(&self) -> Ts {
        self.released_before
    }

    /// Held records found to be outliers since the last call (see [`Outlier`]).
    pub fn take_outliers(&mut self) -> Vec<Outlier> {
        std::mem::take(&mut self.outliers)
    }

    /// Records reported as dated ahead (by [`Admit::Future`]) that a run of agreeing
    /// records has since shown to be the present, since the last call: the caller
    /// takes back what it counted.
    pub fn take_confirmed(&mut self) -> Vec<(Arc<str>, u64)> {
        std::mem::take(&mut self.confirmed)
    }

    /// Records refused as late since the last call (see [`Admit::Behind`]), in arrival
    /// order.
    pub fn take_late(&mut self) -> Vec<Late> {
        std::mem::take(&mut self.late)
    }

    /// Records held aside as a possible rewind.
    pub fn behind_len(&self) -> usize {
        self.behind.len()
    }

    /// The run of records far behind was followed by the present: they were late.
    fn refuse_behind(&mut self) {
        self.behind_deep = false;
        for (ev, behind) in self.behind.drain(..) {
            self.late.push(Late {
                path: ev.source.path.clone(),
                line: ev.source.line,
                behind,
            });
        }
    }

    /// A record beyond the allowed lateness behind the watermark: held aside until the
    /// run it starts or continues shows whether it is late or the input restarted.
    fn hold_behind(&mut self, event: Event) -> Admit {
        let t = event.time;
        let behind = self.released_before.since(t);
        if self
            .max_seen
            .is_some_and(|m| m > t.saturating_add(self.future_skew))
        {
            self.behind_deep = true;
        }
        self.behind.push((event, behind));
        let needed = if self.behind_deep {
            FUTURE_CONFIRM
        } else {
            REWIND_CONFIRM
        };
        if self.behind.len() >= needed {
            Admit::Rewind
        } else {
            Admit::Behind
        }
    }

    /// Moves time back to the run of records held aside (after an [`Admit::Rewind`],
    /// or at the end of input while a run is pending), once the caller has drained
    /// everything else: event time starts again as at the start of an input, and the
    /// run is admitted to it in arrival order, ordered among itself whatever its
    /// disorder. `None` when no run is pending.
    pub fn restart(&mut self) -> Option<Rewind> {
        if self.behind.is_empty() {
            return None;
        }
        let run = std::mem::take(&mut self.behind);
        let (first, back) = &run[0];
        let rewind = Rewind {
            path: first.source.path.clone(),
            line: first.source.line,
            back: *back,
        };
        self.behind_deep = false;
        self.max_seen = None;
        self.released_before = Ts::MIN;
        self.released_any = false;
        self.future_held = 0;
        for (ev, _) in run {
            let (path, line) = (ev.source.path.clone(), ev.source.line);
            // Nothing is released until the caller next asks: none of the run can be
            // behind; one dated far ahead of the rest is an outlier as anywhere.
            if let Admit::Future { ahead } = self.admit(ev) {
                self.outliers.push(Outlier { path, line, ahead });
            }
        }
        Some(rewind)
    }

    pub fn admit(&mut self, event: Event) -> Admit {
        let t = event.time;
        let mut future = None;
        if let Some(max) = self.max_seen {
            if t > max.saturating_add(self.future_skew) {
                future = Some(t.since(max));
            } else if !self.released_any
                && max > t.saturating_add(self.future_skew)
                && self.heap.len() <= RESEED_MAX_HELD
            {
                self.reseed(t);
            }
        }
        if future.is_none() && t < self.released_before {
            return self.hold_behind(event);
        }
        if future.is_none() {
            // The present goes on: the run held aside was late records, not a restart.
            self.refuse_behind();
            self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
        }
        // Arrival sequence only breaks ties between events of one record, which a
        // decoder always emits in the same order.
        let seq = self.seq;
        self.seq += 1;
        let (rank, path, line) = (
            event.stage_rank(),
            event.source.path.clone(),
            event.source.line,
        );
        let slot = self.held.put(event);
        self.heap.push(Pending {
            time: t,
            rank,
            path,
            line,
            seq,
            slot,
            future: future.is_some(),
        });
        match future {
            Some(ahead) => {
                self.future_held += 1;
                if self.future_held >= FUTURE_CONFIRM {
                    self.confirm_future();
                }
                Admit::Future { ahead }
            }
            None => Admit::Held,
        }
    }

    /// Enough records lie ahead that they are the present, not outliers: they count for
    /// the watermark again, and time moves on to the latest of them.
    fn confirm_future(&mut self) {
        let mut items = std::mem::take(&mut self.heap).into_vec();
        let mut max = self.max_seen;
        for p in &mut items {
            if p.future {
                p.future = false;
                self.confirmed.push((p.path.clone(), p.line));
                max = Some(max.map_or(p.time, |m| m.max(p.time)));
            }
        }
        self.heap = BinaryHeap::from(items);
        self.max_seen = max;
        self.future_held = 0;
    }

    /// Nothing is released yet and `t` lies far behind the latest record. If the held
    /// records that far ahead of `t` are no more than those near it, they are the
    /// outliers (a bad clock on the first lines of an input): they stop counting for
    /// the watermark, which starts again from the rest.
    fn reseed(&mut self, t: Ts) {
        let bound = t.saturating_add(self.future_skew);
        let live = || self.heap.iter().filter(|p| !p.future);
        let ahead = live().filter(|p| p.time > bound).count();
        let near = 1 + live().filter(|p| p.time <= bound).count();
        if ahead > near {
            return;
        }
        let mut items = std::mem::take(&mut self.heap).into_vec();
        let mut max = t;
        for p in &mut items {
            if p.future {
                continue;
            }
            if p.time > bound {
                p.future = true;
                self.outliers.push(Outlier {
                    path: p.path.clone(),
                    line: p.line,
                    ahead: p.time.since(t),
                });
            } else {
                max = max.max(p.time);
            }
        }
        self.heap = BinaryHeap::from(items);
        self.max_seen = Some(max);
        self.released_before = Ts::MIN;
    }

    /// Moves event time to at least `t` without a record: the caller's inputs went
    /// quiet, and what is held must not wait for a record that may never come. Records
    /// dated before `t` less the allowed lateness are late from now on, as if a record
    /// at `t` had arrived.
    pub fn advance_to(&mut self, t: Ts) {
        self.refuse_behind();
        self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
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
                    self.released_any = true;
                    out.extend(self.held.take(p.slot));
                }
            } else if self.heap.len() > self.cap {
                if let Some(p) = self.heap.pop() {
                    // A future-dated record forced out does not drag the watermark
                    // along with it.
                    if !p.future {
                        self.released_before = self.released_before.max(p.time);
                    }
                    self.released_any = true;
                    out.extend(self.held.take(p.slot));
                    forced += 1;
                }
            } else {
                break;
            }
        }
        forced
    }

    /// Releases the next held record regardless of the watermark (end of input), one
    /// at a time: collecting them all first would hold every record twice at the
    /// moment memory is already at its peak.
    pub fn drain_next(&mut self) -> Option<Event> {
        while let Some(p) = self.heap.pop() {
            self.released_any = true;
            self.released_before = self.released_before.max(p.time);
            if let Some(ev) = self.held.take(p.slot) {
                return Some(ev);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::exec_in;

    const SEC: i64 = 1_000_000_000;
    const LATENESS: Dur = Dur(120 * SEC);
    const SKEW: Dur = Dur(3600 * SEC);

    fn rec(secs: i64, line: u64) -> Event {
        let mut e = exec_in(Ts(1_000_000 * SEC + secs * SEC), "nginx:1");
        e.source.line = line;
        e
    }

    fn buffer() -> ReorderBuffer {
        ReorderBuffer::with_future_skew(LATENESS, SKEW, 10_000)
    }

    /// Admits `secs` in order from line `first`, releasing after each as the engine
    /// does; returns what each admit said and what was released.
    fn feed(b: &mut ReorderBuffer, first: u64, secs: &[i64]) -> (Vec<Admit>, Vec<Event>) {
        let mut admits = Vec::new();
        let mut out = Vec::new();
        for (i, s) in secs.iter().enumerate() {
            admits.push(b.admit(rec(*s, first + i as u64)));
            b.release(&mut out);
        }
        (admits, out)
    }

    fn lines(evs: &[Event]) -> Vec<u64> {
        evs.iter().map(|e| e.source.line).collect()
    }

    /// The present: 40 records a second apart from 2000 s.
    fn present(b: &mut ReorderBuffer) {
        let secs: Vec<i64> = (2000..2040).collect();
        feed(b, 1, &secs);
        assert_eq!(b.watermark(), Ts(1_000_000 * SEC + 1919 * SEC));
    }

    #[test]
    fn records_within_the_lateness_are_never_held_aside() {
        let mut b = buffer();
        present(&mut b);
        let (admits, _) = feed(&mut b, 100, &[1930, 1925, 2040]);
        assert!(admits.iter().all(|a| matches!(a, Admit::Held)));
        assert_eq!(b.behind_len(), 0);
        assert!(b.take_late().is_empty());
    }

    #[test]
    fn a_short_run_behind_followed_by_the_present_is_late_in_arrival_order() {
        let mut b = buffer();
        present(&mut b);
        let (admits, out) = feed(&mut b, 100, &[1000, 900, 1001]);
        assert!(admits.iter().all(|a| matches!(a, Admit::Behind)));
        assert!(out.is_empty());
        assert_eq!(b.behind_len(), 3);
        assert!(b.take_late().is_empty(), "nothing decided yet");
        let (admits, _) = feed(&mut b, 200, &[2041]);
        assert!(matches!(admits[0], Admit::Held));
        let late = b.take_late();
        assert_eq!(
            late.iter().map(|l| (l.line, l.behind)).collect::<Vec<_>>(),
            vec![
                (100, Dur(919 * SEC)),
                (101, Dur(1019 * SEC)),
                (102, Dur(918 * SEC))
            ]
        );
        assert_eq!(b.behind_len(), 0);
        assert_eq!(b.restart(), None);
    }

    #[test]
    fn a_run_of_rewind_confirm_records_restarts_time_from_them() {
        let mut b = buffer();
        present(&mut b);
        // The second file starts 30 minutes back, and is itself a little out of order.
        let secs: Vec<i64> = (0..REWIND_CONFIRM as i64)
            .map(|i| 200 + i * 10 - if i % 3 == 0 { 200 } else { 0 })
            .collect();
        let (admits, out) = feed(&mut b, 100, &secs);
        assert!(out.is_empty());
        assert!(admits[..REWIND_CONFIRM - 1]
            .iter()
            .all(|a| matches!(a, Admit::Behind)));
        assert!(matches!(admits[REWIND_CONFIRM - 1], Admit::Rewind));
        // The caller correlates what was held, in order, then time moves back.
        let mut held = Vec::new();
        while let Some(e) = b.drain_next() {
            held.push(e);
        }
        assert_eq!(lines(&held), (1..=40).collect::<Vec<u64>>());
        let r = b.restart().expect("a rewind");
        assert_eq!((r.line, r.back), (100, Dur(1919 * SEC)));
        assert_eq!(b.latest(), Some(Ts(1_000_000 * SEC + 510 * SEC)));
        let mut out = Vec::new();
        b.release(&mut out);
        assert_eq!(b.watermark(), Ts(1_000_000 * SEC + 390 * SEC));
        // Time goes on from there: within the lateness of the run is in time.
        let (admits, more) = feed(&mut b, 300, &[395, 520]);
        assert!(admits.iter().all(|a| matches!(a, Admit::Held)));
        out.extend(more);
        while let Some(e) = b.drain_next() {
            out.push(e);
        }
        // Every record of the run is correlated, in time order whatever its disorder.
        let times: Vec<Ts> = out.iter().map(|e| e.time).collect();
        assert_eq!(out.len(), REWIND_CONFIRM + 2);
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert!(b.take_late().is_empty());
    }

    #[test]
    fn a_run_further_back_than_the_future_skew_needs_as_many_records_as_moving_ahead() {
        let mut b = buffer();
        present(&mut b);
        // Two hours back: beyond the one-hour skew.
        let secs: Vec<i64> = (0..FUTURE_CONFIRM as i64)
            .map(|i| 2000 - 7200 + i)
            .collect();
        let (admits, _) = feed(&mut b, 100, &secs);
        assert!(admits[..FUTURE_CONFIRM - 1]
            .iter()
            .all(|a| matches!(a, Admit::Behind)));
        assert!(matches!(admits[FUTURE_CONFIRM - 1], Admit::Rewind));
        assert_eq!(
            b.behind_len(),
            FUTURE_CONFIRM,
            "the run never grows past this"
        );
        while b.drain_next().is_some() {}
        let r = b.restart().expect("a rewind");
        assert_eq!(r.back, Dur((1919 - (2000 - 7200)) * SEC));
    }

    #[test]
    fn one_record_far_back_among_a_near_run_makes_it_deep() {
        let mut b = buffer();
        present(&mut b);
        let mut secs: Vec<i64> = (0..REWIND_CONFIRM as i64).map(|i| 1000 + i).collect();
        secs[5] = -99_999;
        let (admits, _) = feed(&mut b, 100, &secs);
        assert!(admits.iter().all(|a| matches!(a, Admit::Behind)));
        // The present resumes: all of them were late.
        feed(&mut b, 500, &[2050]);
        assert_eq!(b.take_late().len(), REWIND_CONFIRM);
    }

    #[test]
    fn a_quiet_input_moving_time_on_makes_a_pending_run_late() {
        let mut b = buffer();
        present(&mut b);
        feed(&mut b, 100, &[1000, 1001]);
        b.advance_to(Ts(1_000_000 * SEC + 2100 * SEC));
        let late: Vec<u64> = b.take_late().iter().map(|l| l.line).collect();
        assert_eq!(late, vec![100, 101]);
        assert_eq!(b.restart(), None);
    }

    #[test]
    fn a_record_dated_ahead_does_not_break_a_run() {
        let mut b = buffer();
        present(&mut b);
        let mut secs: Vec<i64> = (0..REWIND_CONFIRM as i64).map(|i| 1000 + i).collect();
        secs.insert(3, 2000 + 86_400);
        let (admits, _) = feed(&mut b, 100, &secs);
        assert!(matches!(admits[3], Admit::Future { .. }));
        assert!(matches!(admits.last(), Some(Admit::Rewind)));
    }
}
