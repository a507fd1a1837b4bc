//! The live service's loop. One thread reads every source, decodes, merges by event
//! time and drives the detector; the HTTP server and the stdin reader only hand it
//! bytes (through the spool and a bounded channel). Nothing here decides what is
//! detected: the pipeline's [`Detector`] does, as it does for `scan`.

use crate::checkpoint::Checkpoint;
use crate::follow::{Chunk, FilePos, Follower};
use crate::http::{self, HttpState};
use crate::journal::SentJournal;
use crate::live::LiveMerge;
use crate::metrics::Metrics;
use crate::settings::RunSettings;
use crate::spool::Spool;
use crate::ServeError;
use pullwatch_decode::{DecodeOptions, DecodeStats, EventStream, Prefilter, RecordFilter};
use pullwatch_engine::config::Config;
use pullwatch_model::time::Dur;
use pullwatch_model::{Event, Ts};
use pullwatch_pipeline::baseline::ScanBaseline;
use pullwatch_pipeline::detector::SentAlert;
use pullwatch_pipeline::Detector;
use pullwatch_report::AlertSink;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The source index of stdin in the merge; followed files come after it.
const STDIN: usize = 0;

/// How the service ended.
#[derive(Debug, Default)]
pub struct RunOutcome {
    pub alerts: u64,
    pub suppressed: u64,
    pub records: u64,
    pub skipped: u64,
}

/// The flags signals set; the loop looks at them between batches.
#[derive(Clone, Default)]
pub struct Control {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
}

impl Control {
    /// SIGTERM and SIGINT stop (after draining and a checkpoint), SIGHUP reloads.
    pub fn from_signals() -> std::io::Result<Control> {
        let c = Control::default();
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, c.stop.clone())?;
        }
        signal_hook::flag::register(signal_hook::consts::SIGHUP, c.reload.clone())?;
        Ok(c)
    }
}

/// How long state must be kept so that a replay from the checkpoint still finds every
/// record a chain in flight needs.
pub(crate) fn retention(cfg: &Config) -> Dur {
    let w = cfg.time_window.0 .0.max(cfg.first_boot_window.0 .0);
    Dur(w.saturating_add(cfg.allowed_lateness.0 .0))
}

/// A JSON document (CloudTrail's `{"Records":[…]}`, pretty-printed) being written:
/// its lines are gathered until the document is complete, then decoded whole.
struct Document {
    start: FilePos,
    bytes: Vec<u8>,
}

/// The largest document gathered while it is written; a larger one is skipped.
const MAX_LIVE_DOCUMENT: usize = 256 << 20;

/// True when `line` opens a JSON value it does not close.
fn opens_document(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    (t.starts_with(b"{") || t.starts_with(b"["))
        && serde_json::from_slice::<serde::de::IgnoredAny>(t).is_err_and(|e| e.is_eof())
}

/// True when `bytes` hold one complete JSON value (and maybe more after it).
fn document_complete(bytes: &[u8]) -> bool {
    // Only worth a parse when the last line could close a value.
    let last = bytes.trim_ascii_end();
    if !(last.ends_with(b"}") || last.ends_with(b"]")) {
        return false;
    }
    let mut it = serde_json::Deserializer::from_slice(bytes).into_iter::<serde::de::IgnoredAny>();
    !matches!(it.next(), Some(Err(e)) if e.is_eof())
}

/// One followed file's decoding and what a checkpoint needs of it.
struct FileState {
    label: Arc<str>,
    /// The source's name in the metrics: the path, or for spool segments their
    /// source's (see [`crate::spool::metrics_label`]).
    metrics_label: Arc<str>,
    document: Option<Document>,
    stream: EventStream,
    /// Chunks read and not yet behind the retention horizon: where each starts, and
    /// the latest event time it held.
    chunks: VecDeque<(FilePos, Option<Ts>)>,
    last_data: Option<Instant>,
    /// A spool segment read to its end after its source had moved on to a later one:
    /// it will say nothing more, so it is idle at once rather than after the idle
    /// timeout, during which it would hold every event of its successor in the merge.
    finished: bool,
}

/// Decodes whole lines, except those `filter` proves no loaded analytic can use: those
/// are counted under their format and never parsed, as `scan`'s prefilter does. Runs of
/// kept lines are decoded together.
fn decode_filtered(
    stream: &mut EventStream,
    bytes: &[u8],
    first_line: u64,
    filter: Option<&dyn RecordFilter>,
    max_line: usize,
    out: &mut Vec<Event>,
    stats: &mut DecodeStats,
) {
    let Some(filter) = filter else {
        stream.decode_lines(bytes, first_line, out, stats);
        return;
    };
    let (mut run_start, mut run_line) = (0usize, first_line);
    let mut at = 0usize;
    let mut line_no = first_line;
    while at < bytes.len() {
        // The newline search is the one pass over every byte that a skipped record
        // pays for besides the filter's own look: memchr keeps it far below the filter.
        let (line, end) = match memchr::memchr(b'\n', &bytes[at..]) {
            Some(i) => (&bytes[at..at + i], at + i + 1),
            None => (&bytes[at..], bytes.len()),
        };
        let skip = if line.len() > max_line || line.is_empty() {
            None
        } else {
            filter.skip_why(line)
        };
        if let Some((format, why)) = skip {
            if run_start < at {
                stream.decode_lines(&bytes[run_start..at], run_line, out, stats);
            }
            let l = line.strip_suffix(b"\r").unwrap_or(line);
            stats.bytes += l.len() as u64 + (end - at - line.len()) as u64;
            stats.record(format, 0);
            stats.prefilter(why);
            run_start = end;
            run_line = line_no + 1;
        }
        at = end;
        line_no += 1;
    }
    if run_start < bytes.len() {
        stream.decode_lines(&bytes[run_start..], run_line, out, stats);
    }
}

impl FileState {
    /// Decodes a chunk of whole lines: line by line, or, when the file is a JSON
    /// document, gathered until the document is complete.
    fn take(
        &mut self,
        c: &Chunk<'_>,
        opts: &DecodeOptions,
        filter: Option<&dyn RecordFilter>,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        let first_line = c.bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        if self.document.is_none() && c.start.offset == 0 && opens_document(first_line) {
            self.document = Some(Document {
                start: c.start,
                bytes: Vec::new(),
            });
        }
        let Some(doc) = self.document.as_mut() else {
            decode_filtered(
                &mut self.stream,
                c.bytes,
                c.start.line + 1,
                filter,
                opts.max_line_bytes,
                out,
                stats,
            );
            // Lines that gave no event are needed by no chain: resuming after them
            // (or from an earlier chunk that had events) loses nothing.
            if let Some(max) = out.iter().map(|e| e.time).max() {
                self.chunks.push_back((c.start, Some(max)));
            }
            return;
        };
        doc.bytes.extend_from_slice(c.bytes);
        if doc.bytes.len() > MAX_LIVE_DOCUMENT {
            stats.skip(
                "document too large",
                &self.label,
                doc.start.line + 1,
                format!("over {MAX_LIVE_DOCUMENT} bytes while being written"),
            );
            self.document = None;
            return;
        }
        if !document_complete(&doc.bytes) {
            return;
        }
        let Some(doc) = self.document.take() else {
            return;
        };
        let input = pullwatch_decode::Input {
            path: self.label.clone(),
            size: Some(doc.bytes.len() as u64),
            reader: Box::new(std::io::Cursor::new(doc.bytes)),
        };
        let mut whole = EventStream::new(input, opts.clone());
        loop {
            match whole.fill(out, stats, 4096) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    stats.skip(
                        "unreadable document",
                        &self.label,
                        doc.start.line + 1,
                        e.to_string(),
                    );
                    break;
                }
            }
        }
        let max = out.iter().map(|e| e.time).max();
        self.chunks.push_back((doc.start, max));
    }

    /// The position a restart must resume this file from.
    fn resume_from(&self) -> Option<FilePos> {
        match (&self.document, self.chunks.front()) {
            (Some(d), _) => Some(d.start),
            (None, Some((p, _))) => Some(*p),
            (None, None) => None,
        }
    }
}

/// Decodes the file's first lines (its headers: Zeek's `#fields`, a VPC Flow Logs
/// column line) before resuming in its middle, so that the lines after the checkpoint
/// are read with the columns they were written under. What those lines yield is
/// dropped: it was correlated before the restart.
fn prime(stream: &mut EventStream, path: &Path, upto: u64) {
    const PRIME_BYTES: u64 = 64 << 10;
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let mut head = Vec::new();
    if f.take(upto.min(PRIME_BYTES))
        .read_to_end(&mut head)
        .is_err()
    {
        return;
    }
    let complete = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let lines: Vec<&[u8]> = head[..complete]
        .split_inclusive(|&b| b == b'\n')
        .take(16)
        .collect();
    let bytes: Vec<u8> = lines.concat();
    let (mut sink, mut stats) = (Vec::new(), DecodeStats::default());
    stream.decode_lines(&bytes, 1, &mut sink, &mut stats);
}

struct Generation<'a> {
    settings: &'a RunSettings,
    /// `scan`'s prefilter: records no loaded analytic can use are counted, not parsed.
    filter: Option<Arc<dyn RecordFilter>>,
    cfg: Config,
    detector: Detector,
    follower: Follower,
    merge: LiveMerge,
    files: HashMap<usize, FileState>,
    stdin: Option<&'a Receiver<Vec<u8>>>,
    stdin_stream: EventStream,
    stdin_line: u64,
    stdin_last: Option<Instant>,
    stdin_done: bool,
    spool: Option<&'a Spool>,
    /// The spool's count of segments opened when the follower last looked for files.
    spool_segments: u64,
    metrics: &'a Metrics,
    decoded: Vec<Event>,
    released: Vec<Event>,
    all_idle_handled: bool,
    last_checkpoint: Instant,
    state_dir: &'a Path,
    journal: SentJournal,
}

/// What a reload brings in: the configuration and the baseline, both read again.
type Reloaded = (Config, Option<ScanBaseline>);

enum End {
    Stop,
    Reload(Box<Reloaded>),
    InputsDone,
}

/// The baseline `--baseline` (or `sources: baseline:`) names, loaded as `scan` loads it:
/// the file must exist (a misspelt path must not pass for an empty baseline), and
/// the service only judges by it; it never records into it.
pub(crate) fn open_baseline(settings: &RunSettings) -> Result<Option<ScanBaseline>, String> {
    settings
        .baseline
        .as_deref()
        .map(|p| ScanBaseline::open(p, false, None).map_err(|e| e.to_string()))
        .transpose()
}

impl<'a> Generation<'a> {
    fn decode_opts(&self) -> DecodeOptions {
        DecodeOptions {
            max_line_bytes: self.settings.max_line_bytes,
            ..DecodeOptions::default()
        }
    }

    /// Reads what every source gained. Returns whether anything arrived.
    fn read_sources(&mut self, now: Instant) -> bool {
        let mut got = false;
        let opts = self.decode_opts();
        let decoded = &mut self.decoded;
        let files = &mut self.files;
        let merge = &mut self.merge;
        let stats = &mut self.detector.summary.decode;
        let spool_dir = self.spool.map(|s| s.dir().to_path_buf());
        let metrics = self.metrics;
        let filter = self.filter.clone();
        let mut spool_bytes = 0u64;
        if let Some(spool) = self.spool {
            let opened = spool.segments_opened();
            if opened != self.spool_segments {
                self.spool_segments = opened;
                self.follower.rescan_soon();
            }
        }
        let mut each = |c: Chunk<'_>| {
            got = true;
            let path = c.path;
            if spool_dir.as_deref().is_some_and(|d| path.starts_with(d)) {
                spool_bytes += c.bytes.len() as u64;
            }
            let fs = files.entry(c.file).or_insert_with(|| {
                let label: Arc<str> = Arc::from(path.display().to_string());
                let metrics_label = match spool_dir.as_deref().is_some_and(|d| path.starts_with(d))
                {
                    true => crate::spool::metrics_label(path).map_or(label.clone(), Arc::from),
                    false => label.clone(),
                };
                let mut stream = EventStream::detached(label.clone(), opts.clone());
                if c.start.offset > 0 {
                    prime(&mut stream, path, c.start.offset);
                }
                FileState {
                    label,
                    metrics_label,
                    stream,
                    chunks: VecDeque::new(),
                    last_data: None,
                    document: None,
                    finished: false,
                }
            });
            if c.restarted {
                let mut old = std::mem::replace(
                    &mut fs.stream,
                    EventStream::detached(fs.label.clone(), opts.clone()),
                );
                old.finish_detached(decoded, stats);
                fs.document = None;
            }
            fs.last_data = Some(now);
            metrics.read_from(&fs.metrics_label, c.lines, c.bytes.len() as u64);
            fs.take(&c, &opts, filter.as_deref(), decoded, stats);
            for ev in decoded.drain(..) {
                merge.offer(c.file + 1, ev);
            }
        };
        self.follower.poll(now, &mut each);
        self.follower
            .flush_quiet_partials(now, self.settings.idle_timeout, &mut each);
        // As the follower has it: a part found rewritten (truncated, replaced) is no
        // longer finished.
        for tail in self.follower.files() {
            if let Some(fs) = self.files.get_mut(&tail.id) {
                fs.finished = tail.finished();
            }
        }
        // Files deleted or moved away (read to their end; spool segments the checkpoint
        // no longer needed): their last partial record, if any, and then nothing of
        // them is kept.
        for id in self.follower.gone.drain(..) {
            if let Some(mut fs) = self.files.remove(&id) {
                // A followed file's series ends with it; a spool source's goes on.
                if fs.metrics_label == fs.label {
                    self.metrics.forget_source(&fs.label);
                }
                fs.stream.finish_detached(&mut self.decoded, stats);
                for ev in self.decoded.drain(..) {
                    self.merge.offer(id + 1, ev);
                }
            }
            self.merge.forget(id + 1);
        }
        stats.inputs = self.follower.files().len() as u64 + u64::from(self.stdin.is_some());
        if let Some(s) = self.spool {
            s.consumed(spool_bytes);
        }
        for issue in self.follower.issues.drain(..) {
            let msg = format!("{}: {}", issue.path.display(), issue.what);
            eprintln!("pullwatch: {msg}");
            self.detector.summary.input_errors.push(msg);
        }
        for (path, line, len) in self.follower.too_long.drain(..) {
            self.detector.summary.decode.skip(
                "line too long",
                &path.display().to_string(),
                line,
                format!("{len}+ bytes, limit {}", self.settings.max_line_bytes),
            );
        }
        if let Some(rx) = self.stdin {
            if !self.stdin_done {
                loop {
                    match rx.try_recv() {
                        Ok(bytes) => {
                            got = true;
                            let stats = &mut self.detector.summary.decode;
                            let first = self.stdin_line + 1;
                            let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
                            self.stdin_line += lines;
                            // Through the prefilter, as followed files and `scan` are.
                            decode_filtered(
                                &mut self.stdin_stream,
                                &bytes,
                                first,
                                self.filter.as_deref(),
                                self.settings.max_line_bytes,
                                &mut self.decoded,
                                stats,
                            );
                            self.stdin_last = Some(now);
                            self.metrics.read_from("-", lines, bytes.len() as u64);
                            for ev in self.decoded.drain(..) {
                                self.merge.offer(STDIN, ev);
                            }
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            let stats = &mut self.detector.summary.decode;
                            self.stdin_stream.finish_detached(&mut self.decoded, stats);
                            for ev in self.decoded.drain(..) {
                                self.merge.offer(STDIN, ev);
                            }
                            self.stdin_done = true;
                            break;
                        }
                    }
                }
            }
        }
        got
    }

    /// Marks quiet sources idle; returns whether every source is.
    fn mark_idle(&mut self, now: Instant) -> bool {
        let idle = |last: Option<Instant>| {
            last.is_none_or(|t| now.duration_since(t) >= self.settings.idle_timeout)
        };
        let mut all = true;
        for (idx, fs) in &self.files {
            let i = fs.finished || idle(fs.last_data);
            all &= i;
            self.merge.set_idle(idx + 1, i);
        }
        if self.stdin.is_some() {
            let i = self.stdin_done || idle(self.stdin_last);
            all &= i;
            self.merge.set_idle(STDIN, i);
        }
        all
    }

    fn release(&mut self, sink: &mut dyn AlertSink) -> Result<(), ServeError> {
        let released = &mut self.released;
        self.merge.release(&mut |e| released.push(e));
        for ev in self.released.drain(..) {
            self.detector.push(ev, sink).map_err(ServeError::Output)?;
        }
        Ok(())
    }

    /// Every source has been quiet for the idle timeout: what they sent is all there is
    /// up to their latest record, so event time moves past it by the allowed lateness
    /// and every held record is correlated. Done once per quiet spell.
    fn on_all_idle(&mut self, sink: &mut dyn AlertSink) -> Result<(), ServeError> {
        if self.all_idle_handled {
            return Ok(());
        }
        self.all_idle_handled = true;
        self.release(sink)?;
        if let Some(high) = self.merge.high().or(self.detector.engine().latest()) {
            // The watermark releases what lies strictly before it: one nanosecond past
            // the latest record takes that record too.
            let t = high
                .saturating_add(self.cfg.allowed_lateness.0)
                .saturating_add(Dur(1));
            self.detector
                .advance_to(t, sink)
                .map_err(ServeError::Output)?;
        }
        Ok(())
    }

    /// Where each file must be resumed from: the start of its oldest chunk that still
    /// holds a record inside the retention horizon.
    fn positions(&mut self) -> BTreeMap<PathBuf, FilePos> {
        let wm = self.detector.engine().watermark();
        let horizon = wm.saturating_sub(retention(&self.cfg));
        let mut out = BTreeMap::new();
        for tail in self.follower.files() {
            // A file deleted or moved away has nothing left to resume.
            if !tail.is_open() {
                continue;
            }
            let pos = match self.files.get_mut(&tail.id) {
                Some(fs) => {
                    while fs
                        .chunks
                        .front()
                        .is_some_and(|(_, max)| max.is_none_or(|m| m < horizon) && wm > Ts::MIN)
                    {
                        fs.chunks.pop_front();
                    }
                    fs.resume_from().unwrap_or(tail.pos())
                }
                None => tail.pos(),
            };
            out.insert(tail.path.clone(), pos);
        }
        out
    }

    fn checkpoint(&mut self) -> Result<(), ServeError> {
        let files = self.positions();
        let horizon = self
            .detector
            .engine()
            .watermark()
            .saturating_sub(retention(&self.cfg));
        let sent = self.detector.sent_since(horizon);
        let checkpoint = Checkpoint::new(files, sent);
        checkpoint
            .save(self.state_dir)
            .map_err(ServeError::Checkpoint)?;
        self.journal.truncate().map_err(ServeError::Output)?;
        self.last_checkpoint = Instant::now();
        self.collect_spool(&checkpoint.files);
        Ok(())
    }

    /// Deletes spool segments that are finished (a newer one is being written) and
    /// that the checkpoint no longer needs (it resumes them at their end).
    fn collect_spool(&self, files: &BTreeMap<PathBuf, FilePos>) {
        let Some(spool) = self.spool else {
            return;
        };
        let current = spool.current_paths();
        for (path, pos) in files {
            if !path.starts_with(spool.dir()) || current.contains(path) {
                continue;
            }
            let finished = std::fs::metadata(path).is_ok_and(|m| pos.offset >= m.len());
            if finished {
                if let Err(e) = std::fs::remove_file(path) {
                    eprintln!(
                        "pullwatch: cannot delete spool segment {}: {e}",
                        path.display()
                    );
                }
            }
        }
    }

    fn publish(&mut self) {
        self.detector.refresh_summary();
        self.metrics.publish(
            &self.detector.summary,
            self.detector.suppressed(),
            self.merge.len(),
        );
        self.metrics
            .merge_forced
            .inner()
            .store(self.merge.forced, Ordering::Relaxed);
        let age = self.last_checkpoint.elapsed().as_secs_f64();
        let lag = self.detector.engine().latest().map_or(0.0, |t| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
            (now.saturating_sub(t.0)) as f64 / 1e9
        });
        self.metrics.set_lag(lag, age);
    }

    fn run(
        &mut self,
        control: &Control,
        sink: &mut dyn AlertSink,
        reload: &dyn Fn() -> Result<Reloaded, String>,
        finite: bool,
    ) -> Result<End, ServeError> {
        let mut last_publish = Instant::now();
        let mut unpublished = false;
        loop {
            let now = Instant::now();
            let got = self.read_sources(now);
            if got {
                self.all_idle_handled = false;
            }
            let all_idle = self.mark_idle(now);
            self.release(sink)?;
            if all_idle {
                self.on_all_idle(sink)?;
            }
            self.journal
                .record(&self.detector.take_fresh())
                .map_err(ServeError::Output)?;
            // Every second while records flow, and as soon as the inputs are caught up:
            // a scrape after a burst sees everything it brought, not a second-old count.
            unpublished |= got;
            let caught_up = !got && unpublished;
            if caught_up || now.duration_since(last_publish) >= Duration::from_secs(1) {
                self.publish();
                last_publish = now;
                unpublished = false;
            }
            if now.duration_since(self.last_checkpoint) >= self.settings.checkpoint_every {
                self.checkpoint()?;
            }
            if control.stop.load(Ordering::Relaxed) {
                // Drain: what was accepted is read, and correlated, before the last
                // checkpoint.
                while self.read_sources(Instant::now()) {}
                self.merge.all_idle();
                self.release(sink)?;
                return Ok(End::Stop);
            }
            if control.reload.swap(false, Ordering::Relaxed) {
                match reload() {
                    Ok(new) => return Ok(End::Reload(Box::new(new))),
                    Err(e) => {
                        eprintln!("pullwatch: reload refused, the running configuration stays: {e}")
                    }
                }
            }
            if finite && self.stdin_done && self.follower.files().is_empty() {
                self.merge.all_idle();
                self.release(sink)?;
                return Ok(End::InputsDone);
            }
            if !got {
                std::thread::sleep(self.settings.poll_every);
            }
        }
    }
}

fn spawn_stdin() -> std::io::Result<Receiver<Vec<u8>>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(64);
    std::thread::Builder::new()
        .name("pullwatch-stdin".into())
        .spawn(move || {
            let mut input = std::io::stdin().lock();
            let mut carry: Vec<u8> = Vec::new();
            let mut buf = vec![0u8; 256 << 10];
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                carry.extend_from_slice(&buf[..n]);
                if let Some(i) = carry.iter().rposition(|&b| b == b'\n') {
                    let rest = carry.split_off(i + 1);
                    let lines = std::mem::replace(&mut carry, rest);
                    if tx.send(lines).is_err() {
                        return;
                    }
                }
            }
            if !carry.is_empty() {
                carry.push(b'\n');
                let _ = tx.send(carry);
            }
        })?;
    Ok(rx)
}

/// Runs the service until SIGTERM/SIGINT (or, reading only stdin, its end).
/// `already_sent`: ids the caller found already delivered (in its output file), on top
/// of those the checkpoint and the journal hold.
pub fn run(
    settings: &RunSettings,
    load_config: &dyn Fn() -> Result<Config, String>,
    sink: &mut dyn AlertSink,
    already_sent: Vec<SentAlert>,
    control: &Control,
) -> Result<RunOutcome, ServeError> {
    if let Some(k) = &settings.kafka {
        return crate::kafka::run(settings, k, load_config, sink, control);
    }
    let mut cfg = load_config().map_err(ServeError::Usage)?;
    let mut baseline = open_baseline(settings).map_err(ServeError::Usage)?;
    if let Some(b) = &baseline {
        for note in &b.notes {
            eprintln!("pullwatch: {note}");
        }
    }
    // SIGHUP reads both again; either one refused keeps both as they were.
    let reload = || -> Result<Reloaded, String> {
        let cfg = load_config()?;
        let baseline = open_baseline(settings)?;
        Ok((cfg, baseline))
    };
    let temp;
    let state_dir: PathBuf = match &settings.state_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .map_err(|e| ServeError::Usage(format!("{}: {e}", d.display())))?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir()
                .map_err(|e| ServeError::Usage(format!("cannot create a state directory: {e}")))?;
            temp.path().to_path_buf()
        }
    };
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let stopping = Arc::new(AtomicBool::new(false));
    let spool = match settings.listen.is_some() || settings.docker_socket.is_some() {
        true => Some(Arc::new(
            Spool::open(&state_dir.join("spool"), settings.backlog_limit)
                .map_err(|e| ServeError::Usage(format!("{}: {e}", state_dir.display())))?,
        )),
        false => None,
    };
    let mut http_thread = None;
    if let (Some(addr), Some(spool)) = (settings.listen, &spool) {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| ServeError::Usage(format!("cannot listen on {addr}: {e}")))?;
        // The address actually bound (port 0 asks for any free one).
        let bound = listener.local_addr().map_err(ServeError::Output)?;
        let state = Arc::new(HttpState {
            spool: Some(spool.clone()),
            metrics: metrics.clone(),
            token: settings.token.clone(),
            ready: ready.clone(),
            stopping: stopping.clone(),
        });
        let tls = match &settings.tls {
            Some((cert, key)) => Some(http::tls_config(cert, key).map_err(ServeError::Usage)?),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        http_thread =
            Some(http::serve(listener, state, settings.max_body, tls).map_err(ServeError::Output)?);
        eprintln!("pullwatch: listening on {scheme}://{bound}");
    }
    let stops = [&control.stop, &stopping];
    let docker_thread =
        crate::docker::start(settings, &state_dir, &cfg, spool.as_ref(), &metrics, stops)
            .map_err(ServeError::Output)?;
    let stdin = if settings.stdin {
        Some(spawn_stdin().map_err(ServeError::Output)?)
    } else {
        None
    };
    let mut patterns = settings.follow.clone();
    if let Some(s) = &spool {
        patterns.push(s.pattern());
    }
    let finite = patterns.is_empty();
    let mut outcome = RunOutcome::default();
    loop {
        let ck = Checkpoint::load(&state_dir).map_err(ServeError::Checkpoint)?;
        let (resume, mut sent) = match ck {
            Some(c) => (c.files.into_iter().collect::<HashMap<_, _>>(), c.sent),
            None => (HashMap::new(), Vec::new()),
        };
        let journal = SentJournal::open(&state_dir).map_err(ServeError::Output)?;
        sent.extend(journal.entries().iter().cloned());
        sent.extend(already_sent.iter().cloned());
        let mut detector = Detector::new(cfg.clone(), baseline.as_ref());
        detector.remember_sent();
        detector.suppress(sent);
        // As in `scan`: the prefilter skips activity in allowlisted images, which is
        // exactly what a baseline judges (a digest never seen), so with a baseline every
        // record is decoded.
        let prefilter = settings.prefilter && baseline.is_none();
        let filter: Option<Arc<dyn RecordFilter>> = prefilter.then(|| {
            Arc::new(Prefilter::new(Arc::new(
                pullwatch_engine::interest::trusted_image_test(&cfg),
            ))) as Arc<dyn RecordFilter>
        });
        let mut follower = Follower::new(patterns.clone(), resume, settings.max_line_bytes);
        if let Some(dir) = spool.as_deref().map(|s| s.dir().to_path_buf()) {
            follower.sequence_by(Box::new(move |p: &Path| {
                p.starts_with(&dir)
                    .then(|| crate::spool::segment_of(p))
                    .flatten()
                    .map(|(source, n)| (source.to_owned(), n))
            }));
        }
        let mut g = Generation {
            settings,
            filter,
            detector,
            follower,
            merge: LiveMerge::new(cfg.limits.max_pending_events),
            files: HashMap::new(),
            stdin: stdin.as_ref(),
            stdin_stream: EventStream::detached(
                Arc::from("-"),
                DecodeOptions {
                    max_line_bytes: settings.max_line_bytes,
                    ..DecodeOptions::default()
                },
            ),
            stdin_line: 0,
            stdin_last: None,
            stdin_done: stdin.is_none(),
            spool: spool.as_deref(),
            spool_segments: 0,
            metrics: &metrics,
            decoded: Vec::new(),
            released: Vec::new(),
            all_idle_handled: false,
            last_checkpoint: Instant::now(),
            state_dir: &state_dir,
            journal,
            cfg: cfg.clone(),
        };
        ready.store(true, Ordering::Relaxed);
        let end = g.run(control, sink, &reload, finite)?;
        if matches!(end, End::InputsDone) || matches!(end, End::Stop) {
            stopping.store(true, Ordering::Relaxed);
            g.detector.finish(sink).map_err(ServeError::Output)?;
            g.journal
                .record(&g.detector.take_fresh())
                .map_err(ServeError::Output)?;
        }
        g.checkpoint()?;
        g.publish();
        outcome.alerts += g.detector.delivered();
        outcome.suppressed += g.detector.suppressed();
        outcome.records += g.detector.summary.records_read();
        outcome.skipped += g.detector.summary.decode.skipped_total();
        match end {
            End::Reload(new) => {
                eprintln!("pullwatch: configuration reloaded; replaying from the checkpoint");
                (cfg, baseline) = *new;
            }
            End::Stop | End::InputsDone => {
                eprint!("{}", g.detector.summary.render());
                break;
            }
        }
    }
    stopping.store(true, Ordering::Relaxed);
    if let Some(t) = http_thread {
        let _ = t.join();
    }
    if let Some(t) = docker_thread {
        let _ = t.join();
    }
    sink.flush().map_err(ServeError::Output)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::Format;

    const EXEC: &str = r#"{"Type":"container","Action":"exec_start: sh -c id","Actor":{"ID":"abc","Attributes":{"image":"IMAGE"}},"timeNano":5}"#;

    fn decode(data: &str, filter: Option<&dyn RecordFilter>) -> (Vec<Event>, DecodeStats) {
        let mut stream = EventStream::detached(Arc::from("t"), DecodeOptions::default());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        decode_filtered(
            &mut stream,
            data.as_bytes(),
            1,
            filter,
            1 << 20,
            &mut out,
            &mut stats,
        );
        (out, stats)
    }

    /// What the service skips unread, counts and locates is what scan's prefilter
    /// does: the kept records decode as without a filter, on their own line numbers,
    /// and every byte is counted once, up to a last line without its newline.
    #[test]
    fn skipped_lines_are_counted_and_kept_ones_decoded_in_place() {
        let trusted = Prefilter::new(Arc::new(|i: &str| i == "nginx"));
        let nginx = EXEC.replace("IMAGE", "nginx");
        let evil = EXEC.replace("IMAGE", "evil/x");
        let data = format!("{nginx}\n{evil}\r\n\n{nginx}\n{evil}\n{nginx}");
        let (all, all_stats) = decode(&data, None);
        let (kept, stats) = decode(&data, Some(&trusted));
        assert_eq!(stats.prefiltered, 3);
        assert_eq!(stats.bytes, all_stats.bytes);
        assert_eq!(stats.bytes, data.len() as u64 - 1, "without the CRLF's \\r");
        assert_eq!(stats.formats[&Format::DockerEvents].records, 5);
        let lines = |evs: &[Event]| evs.iter().map(|e| e.source.line).collect::<Vec<_>>();
        assert_eq!(lines(&kept), vec![2, 5]);
        let evil_lines: Vec<Event> = all
            .into_iter()
            .filter(|e| e.source.line == 2 || e.source.line == 5)
            .collect();
        assert_eq!(format!("{kept:?}"), format!("{evil_lines:?}"));
    }
}
