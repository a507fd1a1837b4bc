//! `pullwatch scan`: reads every input lazily, merges them by event time (so files from
//! different sensors interleave as the events happened), feeds the engine, and writes
//! alerts as they are raised.

use crate::inputs::{expand, InputSpec};
use crate::{OutputFormat, ScanArgs};
use pullwatch_decode::{
    open_path, open_stdin, ChunkOptions, DecodeOptions, DecodeStats, ParallelStream, Pool,
    Prefilter, RecordFilter,
};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::{Alert, Event};
use pullwatch_report::ScanSummary;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::Write;
use std::sync::Arc;

pub enum ScanError {
    Usage(String),
    Other(anyhow::Error),
}

pub struct Outcome {
    pub alerts: u64,
}

/// Lines decoded per refill of one input.
const BATCH_LINES: usize = 4096;

struct Source {
    stream: ParallelStream,
    queue: VecDeque<Event>,
    live: bool,
}

impl Source {
    /// Refills until an event is queued or the input ends.
    fn refill(&mut self, stats: &mut DecodeStats, errors: &mut Vec<String>) {
        let mut buf = Vec::new();
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

pub fn run(cfg: Config, args: &ScanArgs) -> Result<Outcome, ScanError> {
    let specs = expand(&args.paths).map_err(ScanError::Usage)?;
    let mut summary = ScanSummary::default();
    let mut sources: Vec<Source> = Vec::new();
    // Decoding runs on `threads` workers (none for one thread: the same chunks are then
    // decoded in place); the engine stays on this thread and sees the same events in
    // the same order either way.
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let pool = if threads > 1 {
        Some(Pool::new(threads).map_err(|e| ScanError::Other(e.into()))?)
    } else {
        None
    };
    let filter: Option<Arc<dyn RecordFilter>> = match args.prefilter {
        crate::Toggle::On => Some(Arc::new(Prefilter::new(Arc::new(
            pullwatch_engine::interest::trusted_image_test(&cfg),
        )))),
        crate::Toggle::Off => None,
    };
    let chunk = ChunkOptions {
        inflight: 2 * threads + 2,
        ..ChunkOptions::default()
    };
    for spec in &specs {
        let opened = match spec {
            InputSpec::Stdin => open_stdin(),
            InputSpec::File(p) => open_path(p),
        };
        let opened = opened.and_then(|input| {
            ParallelStream::new(
                input,
                DecodeOptions::default(),
                chunk.clone(),
                pool.clone(),
                filter.clone(),
            )
        });
        match opened {
            Ok(stream) => {
                summary.decode.inputs += 1;
                sources.push(Source {
                    stream,
                    queue: VecDeque::new(),
                    live: true,
                });
            }
            Err(e) => summary.input_errors.push(e.to_string()),
        }
    }
    let mut engine = Engine::new(cfg);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut alerts: Vec<Alert> = Vec::new();
    let mut total_alerts = 0u64;

    let mut heap: BinaryHeap<Reverse<HeadKey>> = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        s.refill(&mut summary.decode, &mut summary.input_errors);
        if let Some(ev) = s.queue.front() {
            heap.push(Reverse(head_key(ev, i)));
        }
    }
    while let Some(Reverse(key)) = heap.pop() {
        let idx = key.4;
        let Some(src) = sources.get_mut(idx) else {
            continue;
        };
        let Some(ev) = src.queue.pop_front() else {
            continue;
        };
        engine.push(ev, &mut alerts);
        if src.queue.is_empty() {
            src.refill(&mut summary.decode, &mut summary.input_errors);
        }
        if let Some(next) = src.queue.front() {
            heap.push(Reverse(head_key(next, idx)));
        }
        total_alerts += write_alerts(&mut out, &mut alerts, args.format)
            .map_err(|e| ScanError::Other(e.into()))?;
    }
    engine.finish(&mut alerts);
    total_alerts +=
        write_alerts(&mut out, &mut alerts, args.format).map_err(|e| ScanError::Other(e.into()))?;
    out.flush().map_err(|e| ScanError::Other(e.into()))?;
    summary.engine = engine.stats();
    if !args.quiet {
        eprint!("{}", summary.render());
    }
    Ok(Outcome {
        alerts: total_alerts,
    })
}

fn write_alerts(
    out: &mut impl Write,
    alerts: &mut Vec<Alert>,
    format: OutputFormat,
) -> std::io::Result<u64> {
    let n = alerts.len() as u64;
    for a in alerts.drain(..) {
        match format {
            OutputFormat::Json => writeln!(out, "{}", pullwatch_report::json::alert_line(&a))?,
            OutputFormat::Text => writeln!(out, "{}", pullwatch_report::text::alert_block(&a))?,
        }
    }
    Ok(n)
}
