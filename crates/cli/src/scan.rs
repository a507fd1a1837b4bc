//! `pullwatch scan`: reads every input lazily, merges them by event time (so files from
//! different sensors interleave as the events happened), feeds the engine, and writes
//! alerts as they are raised (the HTML report, which needs the whole scan's summary,
//! when it ends).

use crate::baseline::ScanBaseline;
use crate::merge::{MergeOptions, Merged};
use crate::progress::Progress;
use crate::{ColorChoice, OutputFormat, ScanArgs};
use pullwatch_decode::{DecodeOptions, DecodeStats};
use pullwatch_decode::{Prefilter, RecordFilter};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::Alert;
use pullwatch_report::ScanSummary;
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
    /// Records skipped, inputs unreadable and records too late to correlate: what
    /// `--strict` refuses.
    pub incomplete: u64,
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
    let baseline = match &args.baseline {
        Some(path) => Some(ScanBaseline::open(
            path,
            args.update_baseline,
            args.learning_period,
        )?),
        None => None,
    };
    let mut sink = Sink::open(args)?;
    let mut summary = ScanSummary::default();
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    // The prefilter skips activity in allowlisted images; a baseline judges exactly
    // that activity (a digest never seen), so with one every record is decoded.
    let filter: Option<Arc<dyn RecordFilter>> = match (args.prefilter, &baseline) {
        (crate::Toggle::On, None) => Some(Arc::new(Prefilter::new(Arc::new(
            pullwatch_engine::interest::trusted_image_test(&cfg),
        )))),
        _ => None,
    };
    let decode = DecodeOptions {
        max_line_bytes: usize::try_from(args.max_line_bytes).unwrap_or(usize::MAX),
        max_decompressed_bytes: args.max_decompressed_bytes,
        ..DecodeOptions::default()
    };
    let mut inputs = Merged::open(
        &args.paths,
        &MergeOptions {
            threads,
            filter,
            decode,
            skew: cfg.max_future_skew.0,
        },
        &mut summary.decode,
        &mut summary.input_errors,
    )
    .map_err(ScanError::Usage)?;
    summary.inputs = inputs.paths();
    let mut progress = Progress::new(
        !args.quiet && std::io::stderr().is_terminal(),
        inputs.total_size(),
    );
    let mut engine = Engine::with_inspector(
        cfg,
        Box::new(pullwatch_decode::user_data::ContentInspection::default()),
    );
    if let Some(b) = &baseline {
        if !args.quiet {
            for note in &b.notes {
                eprintln!("pullwatch: {note}");
            }
        }
        engine = engine.with_provenance(b.view());
    }
    let mut alerts: Vec<Alert> = Vec::new();
    let mut total_alerts = 0u64;
    let alerts_so_far = std::cell::Cell::new(0u64);
    let total_size = inputs.total_size();
    let show = progress.is_enabled();
    let mut on_batch = |stats: &DecodeStats| {
        if show {
            let records: u64 = stats.formats.values().map(|c| c.records).sum::<u64>()
                + stats.skipped_total()
                + stats.prefiltered;
            // Decompressed bytes stand in for on-disk progress, capped by the total.
            let bytes = total_size.map_or(stats.bytes, |t| stats.bytes.min(t));
            progress.update(bytes, records, alerts_so_far.get());
        }
    };
    while let Some(ev) = inputs.next_event_observed(
        &mut summary.decode,
        &mut summary.input_errors,
        &mut on_batch,
    ) {
        engine.push(ev, &mut alerts);
        if !alerts.is_empty() {
            total_alerts += sink.write(&mut alerts, &mut summary)?;
            alerts_so_far.set(total_alerts);
        }
    }
    engine.finish(&mut alerts);
    total_alerts += sink.write(&mut alerts, &mut summary)?;
    alerts_so_far.set(total_alerts);
    on_batch(&summary.decode);
    progress.finish();
    summary.engine = engine.stats();
    summary.provenance = engine.provenance().stats().clone();
    let saved = match &baseline {
        Some(b) if args.update_baseline => Some(
            b.record(&engine.provenance().observations())
                .map_err(|e| ScanError::Other(e.into()))?,
        ),
        _ => None,
    };
    sink.finish(&summary)?;
    if !args.quiet {
        eprint!("{}", summary.render());
        if let Some(line) = saved {
            eprintln!("{line}");
        }
    }
    let incomplete =
        summary.decode.skipped_total() + summary.input_errors.len() as u64 + summary.engine.late;
    Ok(Outcome {
        alerts: total_alerts,
        incomplete,
    })
}
