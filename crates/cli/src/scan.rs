//! `pullwatch scan`: the command-line side of a batch scan (where alerts go, the
//! progress bar, the closing summary, the baseline's notes and update). The scan itself
//! is the pipeline's, shared with `pullwatch run`.

use crate::progress::Progress;
use crate::{ColorChoice, OutputFormat, ScanArgs};
use pullwatch_decode::{DecodeOptions, DecodeStats};
use pullwatch_engine::config::Config;
use pullwatch_pipeline::baseline::ScanBaseline;
use pullwatch_pipeline::scan::{Scan, ScanOptions};
use pullwatch_pipeline::PipelineError;
use pullwatch_report::{CollectSink, StreamFormat, StreamSink};
use std::io::{IsTerminal, Write};

pub struct Outcome {
    pub alerts: u64,
    /// Records skipped, inputs unreadable and records too late to correlate: what
    /// `--strict` refuses.
    pub incomplete: u64,
}

/// Where `--output` (or stdout) points.
pub fn open_output(path: Option<&std::path::Path>) -> Result<Box<dyn Write + Send>, PipelineError> {
    Ok(match path {
        Some(p) => {
            let f = std::fs::File::create(p)
                .map_err(|e| PipelineError::Usage(format!("cannot write {}: {e}", p.display())))?;
            Box::new(std::io::BufWriter::new(f))
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// Colour only for people: a terminal on stdout, and no `NO_COLOR` (https://no-color.org:
/// set and not empty disables colour).
pub fn use_color(choice: ColorChoice, to_file: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            !to_file
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}

pub fn stream_format(f: OutputFormat) -> Option<StreamFormat> {
    match f {
        OutputFormat::Text => Some(StreamFormat::Text),
        OutputFormat::Json => Some(StreamFormat::Json),
        OutputFormat::Ocsf => Some(StreamFormat::Ocsf),
        OutputFormat::Html => None,
    }
}

pub fn run(cfg: Config, args: &ScanArgs) -> Result<Outcome, PipelineError> {
    let baseline = match &args.baseline {
        Some(path) => Some(ScanBaseline::open(
            path,
            args.update_baseline,
            args.learning_period,
        )?),
        None => None,
    };
    let mut out = open_output(args.output.as_deref())?;
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let opts = ScanOptions {
        paths: args.paths.clone(),
        threads,
        prefilter: args.prefilter == crate::Toggle::On,
        decode_every_record: args.strict,
        decode: DecodeOptions {
            max_line_bytes: usize::try_from(args.max_line_bytes).unwrap_or(usize::MAX),
            max_decompressed_bytes: args.max_decompressed_bytes,
            ..DecodeOptions::default()
        },
    };
    let scan = Scan::open(cfg, &opts, baseline.as_ref())?;
    if let Some(b) = &baseline {
        if !args.quiet {
            for note in &b.notes {
                eprintln!("pullwatch: {note}");
            }
        }
    }
    let total_size = scan.total_size();
    let mut progress = Progress::new(!args.quiet && std::io::stderr().is_terminal(), total_size);
    let show = progress.is_enabled();
    let mut on_batch = |stats: &DecodeStats, alerts: u64| {
        if show {
            let records: u64 = stats.formats.values().map(|c| c.records).sum::<u64>()
                + stats.skipped_total()
                + stats.prefiltered;
            // Decompressed bytes stand in for on-disk progress, capped by the total.
            let bytes = total_size.map_or(stats.bytes, |t| stats.bytes.min(t));
            progress.update(bytes, records, alerts);
        }
    };
    let (result, html) = match stream_format(args.format) {
        Some(format) => {
            let color =
                format == StreamFormat::Text && use_color(args.color, args.output.is_some());
            let mut sink = StreamSink::new(&mut out, format, color);
            (scan.run(&mut sink, &mut on_batch)?, None)
        }
        None => {
            let mut sink = CollectSink::default();
            let r = scan.run(&mut sink, &mut on_batch)?;
            (r, Some(sink.alerts))
        }
    };
    progress.finish();
    let saved = match &baseline {
        Some(b) if args.update_baseline => {
            Some(b.record(&result.detector.engine().provenance().observations())?)
        }
        _ => None,
    };
    if let Some(alerts) = html {
        let page = pullwatch_report::html::render(&result.summary, &alerts)
            .map_err(|e| PipelineError::Render(e.to_string()))?;
        out.write_all(page.as_bytes())
            .map_err(PipelineError::Output)?;
    }
    out.flush().map_err(PipelineError::Output)?;
    if !args.quiet {
        eprint!("{}", result.summary.render());
        if let Some(line) = saved {
            eprintln!("{line}");
        }
    }
    Ok(Outcome {
        alerts: result.detector.delivered(),
        incomplete: result.incomplete(),
    })
}
