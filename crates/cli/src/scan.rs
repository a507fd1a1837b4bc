//! `pullwatch scan`: reads every input lazily, merges them by event time (so files from
//! different sensors interleave as the events happened), feeds the engine, and writes
//! alerts as they are raised.

use crate::baseline::ScanBaseline;
use crate::merge::Merged;
use crate::{OutputFormat, ScanArgs};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::Alert;
use pullwatch_report::ScanSummary;
use std::io::Write;

pub enum ScanError {
    Usage(String),
    Other(anyhow::Error),
}

pub struct Outcome {
    pub alerts: u64,
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
    let mut summary = ScanSummary::default();
    let mut inputs = Merged::open(&args.paths, &mut summary.decode, &mut summary.input_errors)
        .map_err(ScanError::Usage)?;
    let mut engine = Engine::new(cfg);
    if let Some(b) = &baseline {
        if !args.quiet {
            for note in &b.notes {
                eprintln!("pullwatch: {note}");
            }
        }
        engine = engine.with_provenance(b.view());
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut alerts: Vec<Alert> = Vec::new();
    let mut total_alerts = 0u64;

    while let Some(ev) = inputs.next_event(&mut summary.decode, &mut summary.input_errors) {
        engine.push(ev, &mut alerts);
        total_alerts += write_alerts(&mut out, &mut alerts, args.format)
            .map_err(|e| ScanError::Other(e.into()))?;
    }
    engine.finish(&mut alerts);
    total_alerts +=
        write_alerts(&mut out, &mut alerts, args.format).map_err(|e| ScanError::Other(e.into()))?;
    out.flush().map_err(|e| ScanError::Other(e.into()))?;
    summary.engine = engine.stats();
    summary.provenance = engine.provenance().stats().clone();
    let saved = match &baseline {
        Some(b) if args.update_baseline => Some(
            b.record(&engine.provenance().observations())
                .map_err(|e| ScanError::Other(e.into()))?,
        ),
        _ => None,
    };
    if !args.quiet {
        eprint!("{}", summary.render());
        if let Some(line) = saved {
            eprintln!("{line}");
        }
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
