//! Every input a command names, read lazily and merged by event time, so that files
//! from different sensors interleave as the events happened. `scan` feeds the result
//! to the engine; `baseline learn` records the images it names.

use crate::inputs::{expand, InputSpec};
use pullwatch_decode::{open_path, open_stdin, DecodeOptions, DecodeStats, EventStream};
use pullwatch_model::Event;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// Lines decoded per refill of one input.
const BATCH_LINES: usize = 4096;

struct Source {
    stream: EventStream,
    queue: VecDeque<Event>,
    live: bool,
    /// Size on disk, when known.
    size: Option<u64>,
    /// Bytes this input has given the decoder so far (decompressed).
    consumed: u64,
}

impl Source {
    /// Refills until an event is queued or the input ends.
    fn refill(&mut self, stats: &mut DecodeStats, errors: &mut Vec<String>) {
        let mut buf = Vec::new();
        let before = stats.bytes;
        while self.queue.is_empty() && self.live {
            match self.stream.fill(&mut buf, stats, BATCH_LINES) {
                Ok(more) => self.live = more,
                Err(e) => {
                    errors.push(e.to_string());
                    self.live = false;
                }
            }
            self.queue.extend(buf.drain(..));
        }
        self.consumed += stats.bytes.saturating_sub(before);
    }

    /// Progress through the input in on-disk bytes. Compressed inputs decompress to
    /// more than their size, so their share is capped until they end.
    fn progress(&self) -> u64 {
        match self.size {
            Some(size) if !self.live => size,
            Some(size) => self.consumed.min(size),
            None => self.consumed,
        }
    }
}

type HeadKey = (pullwatch_model::Ts, u8, Arc<str>, u64, usize);

fn head_key(ev: &Event, idx: usize) -> HeadKey {
    (
        ev.time,
        ev.stage_rank(),
        ev.source.path.clone(),
        ev.source.line,
        idx,
    )
}

/// The inputs, each holding its next event, ordered by that event's time.
pub struct Merged {
    sources: Vec<Source>,
    heap: BinaryHeap<Reverse<HeadKey>>,
}

impl Merged {
    /// Opens every input `paths` names (stdin when none). A path that does not exist
    /// is a usage error; an input that cannot be opened is recorded in `errors` and
    /// left out.
    pub fn open(
        paths: &[PathBuf],
        stats: &mut DecodeStats,
        errors: &mut Vec<String>,
    ) -> Result<Merged, String> {
        let specs = expand(paths)?;
        let mut sources: Vec<Source> = Vec::new();
        for spec in &specs {
            let opened = match spec {
                InputSpec::Stdin => open_stdin(),
                InputSpec::File(p) => open_path(p),
            };
            match opened {
                Ok(input) => {
                    stats.inputs += 1;
                    let size = input.size;
                    sources.push(Source {
                        stream: EventStream::new(input, DecodeOptions::default()),
                        queue: VecDeque::new(),
                        live: true,
                        size,
                        consumed: 0,
                    });
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
        let mut heap = BinaryHeap::new();
        for (i, s) in sources.iter_mut().enumerate() {
            s.refill(stats, errors);
            if let Some(ev) = s.queue.front() {
                heap.push(Reverse(head_key(ev, i)));
            }
        }
        Ok(Merged { sources, heap })
    }

    /// The earliest event not yet returned, or `None` when every input is done.
    /// The inputs' paths, in the order they were named.
    pub fn paths(&self) -> Vec<String> {
        self.sources
            .iter()
            .map(|s| s.stream.path().to_string())
            .collect()
    }

    /// Total size on disk, when every input's is known.
    pub fn total_size(&self) -> Option<u64> {
        self.sources.iter().map(|s| s.size).sum()
    }

    /// How far the scan is through the inputs, in on-disk bytes.
    pub fn progress_bytes(&self) -> u64 {
        self.sources.iter().map(Source::progress).sum()
    }

    pub fn next_event(
        &mut self,
        stats: &mut DecodeStats,
        errors: &mut Vec<String>,
    ) -> Option<Event> {
        while let Some(Reverse(key)) = self.heap.pop() {
            let idx = key.4;
            let Some(src) = self.sources.get_mut(idx) else {
                continue;
            };
            let Some(ev) = src.queue.pop_front() else {
                continue;
            };
            if src.queue.is_empty() {
                src.refill(stats, errors);
            }
            if let Some(next) = src.queue.front() {
                self.heap.push(Reverse(head_key(next, idx)));
            }
            return Some(ev);
        }
        None
    }
}
