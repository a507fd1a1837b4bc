//! The batch driver: every input read lazily and merged by event time, fed to a
//! [`Detector`], alerts to the sink as they are raised, everything held correlated at
//! the end of input.

use crate::baseline::ScanBaseline;
use crate::detector::Detector;
use crate::error::PipelineError;
use crate::merge::{MergeOptions, Merged};
use pullwatch_decode::{DecodeOptions, DecodeStats, Prefilter, Reading, RecordFilter};
use pullwatch_engine::config::Config;
use pullwatch_report::{AlertSink, ScanSummary};
use std::path::PathBuf;
use std::sync::Arc;

pub struct ScanOptions {
    /// Files, directories, `-` for stdin; stdin when empty.
    pub paths: Vec<PathBuf>,
    pub threads: usize,
    /// Skip records no loaded analytic can use before decoding them in full.
    pub prefilter: bool,
    /// Every record must be decoded, so that every malformed one is reported
    /// (`--strict`): the prefilter, which does not validate what it skips, is off, and
    /// every record is read whole ([`Reading::Whole`]).
    pub decode_every_record: bool,
    pub decode: DecodeOptions,
}

/// An opened scan: its inputs are known (and sized, for a progress bar) before the
/// first record is read.
pub struct Scan {
    inputs: Merged,
    detector: Detector,
    decode: DecodeStats,
    input_errors: Vec<String>,
}

/// What a finished scan hands back: its summary, and the detector for what it
/// observed (the baseline's new sightings).
pub struct ScanResult {
    pub summary: ScanSummary,
    pub detector: Detector,
}

impl Scan {
    pub fn open(
        cfg: Config,
        opts: &ScanOptions,
        baseline: Option<&ScanBaseline>,
    ) -> Result<Scan, PipelineError> {
        // The prefilter skips activity in allowlisted images; a baseline judges exactly
        // that activity (a digest never seen), so with one every record is decoded.
        let filter: Option<Arc<dyn RecordFilter>> =
            if opts.prefilter && !opts.decode_every_record && baseline.is_none() {
                Some(Arc::new(Prefilter::new(Arc::new(
                    pullwatch_engine::interest::trusted_image_test(&cfg),
                ))))
            } else {
                None
            };
        let mut decode = DecodeStats::default();
        let mut input_errors = Vec::new();
        let inputs = Merged::open(
            &opts.paths,
            &MergeOptions {
                threads: opts.threads.max(1),
                filter,
                decode: DecodeOptions {
                    // Every record is then also read whole: a decoder that reads only
                    // the members it uses does not validate the others.
                    reading: if opts.decode_every_record {
                        Reading::Whole
                    } else {
                        opts.decode.reading
                    },
                    ..opts.decode.clone()
                },
                skew: cfg.max_future_skew.0,
            },
            &mut decode,
            &mut input_errors,
        )?;
        Ok(Scan {
            inputs,
            detector: Detector::new(cfg, baseline),
            decode,
            input_errors,
        })
    }

    /// Total size on disk of the inputs, when every one's is known.
    pub fn total_size(&self) -> Option<u64> {
        self.inputs.total_size()
    }

    /// Reads every input to its end. `on_batch` sees the decoding counts and the alerts
    /// sent so far after every batch of records (a progress bar).
    pub fn run(
        mut self,
        sink: &mut dyn AlertSink,
        on_batch: &mut dyn FnMut(&DecodeStats, u64),
    ) -> Result<ScanResult, PipelineError> {
        let paths = self.inputs.paths();
        let alerts = std::cell::Cell::new(0u64);
        let mut observe = |stats: &DecodeStats| on_batch(stats, alerts.get());
        while let Some(ev) =
            self.inputs
                .next_event_observed(&mut self.decode, &mut self.input_errors, &mut observe)
        {
            self.detector
                .push(ev, sink)
                .map_err(PipelineError::Output)?;
            alerts.set(self.detector.delivered());
        }
        self.detector.finish(sink).map_err(PipelineError::Output)?;
        alerts.set(self.detector.delivered());
        observe(&self.decode);
        let mut summary = std::mem::take(&mut self.detector.summary);
        summary.inputs = paths;
        summary.decode = self.decode;
        summary.input_errors = self.input_errors;
        Ok(ScanResult {
            summary,
            detector: self.detector,
        })
    }
}

impl ScanResult {
    /// Records skipped, inputs unreadable and records too late to correlate: what
    /// `--strict` refuses.
    pub fn incomplete(&self) -> u64 {
        self.summary.decode.skipped_total()
            + self.summary.input_errors.len() as u64
            + self.summary.engine.late
    }
}
