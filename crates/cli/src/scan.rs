//! `pullwatch scan`: reads every input lazily, merges them by event time (so files from
//! different sensors interleave as the events happened), feeds the engine, and writes
//! alerts as they are raised (the HTML report, which needs the whole scan's summary,
//! when it ends).

use crate::inputs::{expand, InputSpec};
use crate::progress::Progress;
use crate::{ColorChoice, OutputFormat, ScanArgs};
use pullwatch_decode::{open_path, open_stdin, DecodeOptions, DecodeStats, EventStream};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::{Alert, Event};
use pullwatch_report::ScanSummary;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::Arc;

pub enum ScanError {
    Usage(String),
    Other(anyhow::Error),
}

impl From<std::io::Error> for ScanError {
    fn from(e: std::io::Error) -> Self {
        ScanError::Other(e.into())
    }
}

pub struct Outcome {
    pub alerts: u64,
}

/// Lines decoded per refill of one input.
const BATCH_LINES: usize = 4096;
/// Events between progress updates (each one reads the clock).
const PROGRESS_EVERY: u32 = 512;

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

/// Where alerts go: streamed as they are raised, or collected for the HTML report.
enum Sink {
    Stream {
        out: Box<dyn Write>,
        format: OutputFormat,
        color: bool,
    },
    Html {
        out: Box<dyn Write>,
        alerts: Vec<Alert>,
    },
}

impl Sink {
    fn open(args: &ScanArgs) -> Result<Sink, ScanError> {
        let out: Box<dyn Write> = match &args.output {
            Some(p) => {
                let f = std::fs::File::create(p)
                    .map_err(|e| ScanError::Usage(format!("cannot write {}: {e}", p.display())))?;
                Box::new(std::io::BufWriter::new(f))
            }
            None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        Ok(match args.format {
            OutputFormat::Html => Sink::Html {
                out,
                alerts: Vec::new(),
            },
            format => Sink::Stream {
                out,
                format,
                color: format == OutputFormat::Text && use_color(args),
            },
        })
    }

    fn write(
        &mut self,
        alerts: &mut Vec<Alert>,
        summary: &mut ScanSummary,
    ) -> std::io::Result<u64> {
        let n = alerts.len() as u64;
        for a in alerts.iter() {
            summary.count_alert(a);
        }
        match self {
            Sink::Html { alerts: all, .. } => all.append(alerts),
            Sink::Stream { out, format, color } => {
                for a in alerts.drain(..) {
                    match format {
                        OutputFormat::Json => {
                            writeln!(out, "{}", pullwatch_report::json::alert_line(&a))?
                        }
                        OutputFormat::Ocsf => {
                            writeln!(out, "{}", pullwatch_report::ocsf::finding_line(&a))?
                        }
                        OutputFormat::Text | OutputFormat::Html => {
                            writeln!(out, "{}", pullwatch_report::text::alert_block(&a, *color))?
                        }
                    }
                }
            }
        }
        Ok(n)
    }

    fn finish(self, summary: &ScanSummary) -> Result<(), ScanError> {
        match self {
            Sink::Stream { mut out, .. } => out.flush()?,
            Sink::Html { mut out, alerts } => {
                let page = pullwatch_report::html::render(summary, &alerts)
                    .map_err(|e| ScanError::Other(e.into()))?;
                out.write_all(page.as_bytes())?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// Colour only for people: a terminal on stdout, and no `NO_COLOR` (https://no-color.org:
/// set and not empty disables colour).
fn use_color(args: &ScanArgs) -> bool {
    match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

pub fn run(cfg: Config, args: &ScanArgs) -> Result<Outcome, ScanError> {
    let specs = expand(&args.paths).map_err(ScanError::Usage)?;
    let mut sink = Sink::open(args)?;
    let mut summary = ScanSummary::default();
    let mut sources: Vec<Source> = Vec::new();
    for spec in &specs {
        let opened = match spec {
            InputSpec::Stdin => open_stdin(),
            InputSpec::File(p) => open_path(p),
        };
        match opened {
            Ok(input) => {
                summary.decode.inputs += 1;
                summary.inputs.push(input.path.to_string());
                let size = input.size;
                sources.push(Source {
                    stream: EventStream::new(input, DecodeOptions::default()),
                    queue: VecDeque::new(),
                    live: true,
                    size,
                    consumed: 0,
                });
            }
            Err(e) => summary.input_errors.push(e.to_string()),
        }
    }
    let total = sources.iter().map(|s| s.size).sum::<Option<u64>>();
    let mut progress = Progress::new(!args.quiet && std::io::stderr().is_terminal(), total);
    let mut engine = Engine::with_inspector(
        cfg,
        Box::new(pullwatch_decode::user_data::ContentInspection::default()),
    );
    let mut alerts: Vec<Alert> = Vec::new();
    let mut total_alerts = 0u64;

    let mut heap: BinaryHeap<Reverse<HeadKey>> = BinaryHeap::new();
    for (i, s) in sources.iter_mut().enumerate() {
        s.refill(&mut summary.decode, &mut summary.input_errors);
        if let Some(ev) = s.queue.front() {
            heap.push(Reverse(head_key(ev, i)));
        }
    }
    let mut tick = 0u32;
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
        if !alerts.is_empty() {
            total_alerts += sink.write(&mut alerts, &mut summary)?;
        }
        tick += 1;
        if tick >= PROGRESS_EVERY && progress.is_enabled() {
            tick = 0;
            let records = summary.records_read() + summary.decode.skipped_total();
            let bytes = sources.iter().map(Source::progress).sum();
            progress.update(bytes, records, total_alerts);
        }
    }
    engine.finish(&mut alerts);
    total_alerts += sink.write(&mut alerts, &mut summary)?;
    progress.finish();
    summary.engine = engine.stats();
    sink.finish(&summary)?;
    if !args.quiet {
        eprint!("{}", summary.render());
    }
    Ok(Outcome {
        alerts: total_alerts,
    })
}
