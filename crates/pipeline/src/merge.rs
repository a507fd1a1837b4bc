//! Every input a command names, read lazily and merged by event time, so that files
//! from different sensors interleave as the events happened. `scan` feeds the result
//! to the engine; `baseline learn` records the images it names.

use crate::error::PipelineError;
use crate::inputs::{expand, InputSpec};
use pullwatch_decode::{
    open_path_with, open_stdin_with, ChunkOptions, DecodeOptions, DecodeStats, ParallelStream,
    Pool, RecordFilter,
};
use pullwatch_model::time::Dur;
use pullwatch_model::{Event, Ts};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// Lines decoded per refill of one input.
const BATCH_LINES: usize = 4096;

/// How inputs are decoded: on how many threads, and with which prefilter.
pub struct MergeOptions {
    pub threads: usize,
    /// Skips records no loaded analytic can use (only when nothing else needs them).
    pub filter: Option<Arc<dyn RecordFilter>>,
    pub decode: DecodeOptions,
    /// How far ahead of its input's previous record a record may be dated and still
    /// be merged at its own time (see [`merge_time`]).
    pub skew: Dur,
}

impl MergeOptions {
    /// One thread, every record decoded.
    pub fn sequential() -> MergeOptions {
        MergeOptions {
            threads: 1,
            filter: None,
            decode: DecodeOptions::default(),
            skew: Dur::from_secs(3600),
        }
    }
}

struct Source {
    stream: ParallelStream,
    path: String,
    /// Time of the last event taken from this input (see [`merge_time`]).
    last: Option<Ts>,
    queue: VecDeque<Event>,
    live: bool,
    /// Size on disk, when known.
    size: Option<u64>,
}

impl Source {
    /// Refills until an event is queued or the input ends.
    /// Refills until an event is queued or the input ends. A long run of records that
    /// yield no event (prefiltered, or of no interest) still reports each batch to
    /// `on_batch`, so progress moves while it is read.
    fn refill(
        &mut self,
        stats: &mut DecodeStats,
        errors: &mut Vec<String>,
        on_batch: &mut dyn FnMut(&DecodeStats),
    ) {
        let mut buf = Vec::new();
        while self.queue.is_empty() && self.live {
            match self.stream.fill(&mut buf, stats, BATCH_LINES) {
                Ok(more) => self.live = more,
                Err(e) => {
                    errors.push(e.to_string());
                    self.live = false;
                }
            }
            if self.queue.is_empty() {
                // Takes the batch's storage as it is rather than moving every event,
                // and gives the emptied queue's storage back for a later chunk.
                let used =
                    std::mem::replace(&mut self.queue, VecDeque::from(std::mem::take(&mut buf)));
                self.stream.recycle_events(Vec::from(used));
            } else {
                self.queue.extend(buf.drain(..));
            }
            on_batch(stats);
        }
    }
}

type HeadKey = (Ts, u8, Arc<str>, u64, usize);

/// The time an input's next event is merged at. An event dated far ahead of the one
/// before it in the same input (a bad clock, a forged date) would otherwise hold back
/// the whole rest of its input behind every other input; it is merged at the time of
/// its predecessor instead, and the engine counts it and keeps it from moving time.
fn merge_time(ev: &Event, last: Option<Ts>, skew: Dur) -> Ts {
    match last {
        Some(l) if ev.time > l.saturating_add(skew) => l,
        _ => ev.time,
    }
}

fn head_key(ev: &Event, last: Option<Ts>, skew: Dur, idx: usize) -> HeadKey {
    (
        merge_time(ev, last, skew),
        ev.stage_rank(),
        ev.source.path.clone(),
        ev.source.line,
        idx,
    )
}

/// The inputs, each holding its next event, ordered by that event's time.
pub struct Merged {
    sources: Vec<Source>,
    skew: Dur,
    heap: BinaryHeap<Reverse<HeadKey>>,
}

impl Merged {
    /// Opens every input `paths` names (stdin when none). A path that does not exist
    /// is a usage error; an input that cannot be opened is recorded in `errors` and
    /// left out.
    pub fn open(
        paths: &[PathBuf],
        opts: &MergeOptions,
        stats: &mut DecodeStats,
        errors: &mut Vec<String>,
    ) -> Result<Merged, PipelineError> {
        let specs = expand(paths).map_err(PipelineError::Usage)?;
        let mut sources: Vec<Source> = Vec::new();
        // Decoding runs on `threads` workers (none for one thread: the same chunks are
        // then decoded in place); the engine stays on the caller's thread and sees the
        // same events in the same order either way.
        let pool =
            if opts.threads > 1 {
                Some(Pool::new(opts.threads).map_err(|e| {
                    PipelineError::Usage(format!("cannot start decoding threads: {e}"))
                })?)
            } else {
                None
            };
        // Decoding on the caller's thread gains nothing from chunks decoded ahead; they
        // would only be held in memory.
        let chunk = ChunkOptions {
            inflight: if pool.is_some() {
                2 * opts.threads + 2
            } else {
                1
            },
            ..ChunkOptions::default()
        };
        for spec in &specs {
            let opened = match spec {
                InputSpec::Stdin => open_stdin_with(&opts.decode),
                InputSpec::File(p) => open_path_with(p, &opts.decode),
            };
            let opened = opened.and_then(|input| {
                let (path, size) = (input.path.to_string(), input.size);
                ParallelStream::new(
                    input,
                    opts.decode.clone(),
                    chunk.clone(),
                    pool.clone(),
                    opts.filter.clone(),
                )
                .map(|s| (s, path, size))
            });
            match opened {
                Ok((stream, path, size)) => {
                    stats.inputs += 1;
                    sources.push(Source {
                        stream,
                        path,
                        last: None,
                        queue: VecDeque::new(),
                        live: true,
                        size,
                    });
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let mut heap = BinaryHeap::new();
        for s in sources.iter_mut() {
            s.refill(stats, errors, &mut |_| {});
        }
        // Each input's first record is merged at its own time: inputs of a hunt may
        // cover different days. Later jumps within one input are what `merge_time` holds.
        // A first record dated far ahead of the one after it is an outlier (a forged
        // or bad-clock date) and is merged at its successor's time instead.
        for (i, s) in sources.iter_mut().enumerate() {
            if let (Some(a), Some(b)) = (s.queue.front(), s.queue.get(1)) {
                if a.time > b.time.saturating_add(opts.skew) {
                    s.last = Some(b.time);
                }
            }
            if let Some(ev) = s.queue.front() {
                heap.push(Reverse(head_key(ev, s.last, opts.skew, i)));
            }
        }
        Ok(Merged {
            sources,
            skew: opts.skew,
            heap,
        })
    }

    /// The inputs' paths, in the order they were named.
    pub fn paths(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.path.clone()).collect()
    }

    /// Total size on disk, when every input's is known.
    pub fn total_size(&self) -> Option<u64> {
        self.sources.iter().map(|s| s.size).sum()
    }

    /// The earliest event not yet returned, or `None` when every input is done.
    pub fn next_event(
        &mut self,
        stats: &mut DecodeStats,
        errors: &mut Vec<String>,
    ) -> Option<Event> {
        self.next_event_observed(stats, errors, &mut |_| {})
    }

    /// [`Merged::next_event`], reporting every batch of records read to `on_batch`.
    pub fn next_event_observed(
        &mut self,
        stats: &mut DecodeStats,
        errors: &mut Vec<String>,
        on_batch: &mut dyn FnMut(&DecodeStats),
    ) -> Option<Event> {
        // One input needs no merging: its events come in its own order, and the heap
        // (a key with a shared path per event) would only cost time.
        if let [src] = self.sources.as_mut_slice() {
            if src.queue.is_empty() {
                src.refill(stats, errors, on_batch);
            }
            return src.queue.pop_front();
        }
        while let Some(Reverse(key)) = self.heap.pop() {
            let idx = key.4;
            let Some(src) = self.sources.get_mut(idx) else {
                continue;
            };
            let Some(ev) = src.queue.pop_front() else {
                continue;
            };
            src.last = Some(merge_time(&ev, src.last, self.skew));
            if src.queue.is_empty() {
                src.refill(stats, errors, on_batch);
            }
            if let Some(next) = src.queue.front() {
                self.heap
                    .push(Reverse(head_key(next, src.last, self.skew, idx)));
            }
            return Some(ev);
        }
        None
    }
}
