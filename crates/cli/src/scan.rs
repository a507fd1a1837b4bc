//! `pullwatch scan`: reads every input lazily, merges them by event time (so files from
//! different sensors interleave as the events happened), feeds the engine, and writes
//! alerts as they are raised.

use crate::inputs::{expand, InputSpec};
use crate::{OutputFormat, ScanArgs};
use pullwatch_decode::{open_path_with, open_stdin_with, DecodeOptions, DecodeStats, EventStream};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::time::Dur;
use pullwatch_model::{Alert, Event, Ts};
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
    /// Records skipped, inputs unreadable and records too late to correlate: what
    /// `--strict` refuses.
    pub incomplete: u64,
}

/// Lines decoded per refill of one input.
const BATCH_LINES: usize = 4096;

struct Source {
    stream: EventStream,
    queue: VecDeque<Event>,
    live: bool,
    /// Time of the last event taken from this input (see [`merge_time`]).
    last: Option<Ts>,
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

pub fn run(cfg: Config, args: &ScanArgs) -> Result<Outcome, ScanError> {
    let specs = expand(&args.paths).map_err(ScanError::Usage)?;
    let opts = DecodeOptions {
        max_line_bytes: usize::try_from(args.max_line_bytes).unwrap_or(usize::MAX),
        max_decompressed_bytes: args.max_decompressed_bytes,
        ..DecodeOptions::default()
    };
    let skew = cfg.max_future_skew.0;
    let mut summary = ScanSummary::default();
    let mut sources: Vec<Source> = Vec::new();
    for spec in &specs {
        let opened = match spec {
            InputSpec::Stdin => open_stdin_with(&opts),
            InputSpec::File(p) => open_path_with(p, &opts),
        };
        match opened {
            Ok(input) => {
                summary.decode.inputs += 1;
                sources.push(Source {
                    stream: EventStream::new(input, opts.clone()),
                    queue: VecDeque::new(),
                    live: true,
                    last: None,
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
    for s in sources.iter_mut() {
        s.refill(&mut summary.decode, &mut summary.input_errors);
    }
    // Until an input has given an event, its first is judged against the earliest
    // first event of all inputs.
    let start = sources
        .iter()
        .filter_map(|s| s.queue.front().map(|e| e.time))
        .min();
    for (i, s) in sources.iter_mut().enumerate() {
        s.last = start;
        if let Some(ev) = s.queue.front() {
            heap.push(Reverse(head_key(ev, s.last, skew, i)));
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
        src.last = Some(merge_time(&ev, src.last, skew));
        engine.push(ev, &mut alerts);
        if src.queue.is_empty() {
            src.refill(&mut summary.decode, &mut summary.input_errors);
        }
        if let Some(next) = src.queue.front() {
            heap.push(Reverse(head_key(next, src.last, skew, idx)));
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
    let incomplete =
        summary.decode.skipped_total() + summary.input_errors.len() as u64 + summary.engine.late;
    Ok(Outcome {
        alerts: total_alerts,
        incomplete,
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
