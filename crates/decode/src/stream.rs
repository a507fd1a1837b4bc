//! Turns one opened input into normalized events, record by record, counting what was
//! read and locating everything skipped.

use crate::framing::{read_all_capped, read_line_capped, Input, Line, ReadError};
use crate::sniff;
use crate::stats::DecodeStats;
use crate::{decode_json_as, decode_text_as, DecodeError, DecodeOptions, RecordCtx, TextState};
use pullwatch_model::{Event, Format};
use serde::Deserialize;
use serde_json::value::RawValue;
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
        for line in split_lines(body) {
            self.line_no += 1;
            if line.len() > self.opts.max_line_bytes {
                stats.bytes += line.len() as u64 + 1;
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
            stats.bytes += line.len() as u64 + 1;
            self.line(line, out, stats);
        }
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
        if self.mode == Mode::Start {
            let evtx = match self.input.reader.fill_buf() {
                Ok(head) => head.starts_with(crate::sysmon::EVTX_MAGIC),
                Err(e) => return self.read_failed(e, 1, out, stats),
            };
            if evtx {
                return self.read_evtx(out, stats);
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
                Line::Complete => {
                    self.line_no += 1;
                    stats.bytes += self.buf.len() as u64 + 1;
                    if self.mode == Mode::Start && self.starts_document() {
                        return self.read_document(out, stats);
                    }
                    self.mode = Mode::Lines;
                    let buf = std::mem::take(&mut self.buf);
                    self.line(&buf, out, stats);
                    self.buf = buf;
                }
            }
            lines += 1;
        }
        Ok(true)
    }

    /// True when the first line opens a JSON value it does not close: the input is one
    /// (pretty-printed) document, or a concatenation of them.
    fn starts_document(&self) -> bool {
        let t = trim_ascii(&self.buf);
        if !(t.starts_with(b"{") || t.starts_with(b"[")) {
            return false;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(t) {
            Ok(_) => false,
            Err(e) => e.is_eof(),
        }
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

    fn read_document(
        &mut self,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
    ) -> Result<bool, ReadError> {
        self.mode = Mode::Done;
        let path = self.input.path.clone();
        let first_line = std::mem::take(&mut self.buf);
        let rest = match read_all_capped(&mut *self.input.reader, self.opts.max_document_bytes) {
            Ok(r) => r,
            Err(e) => return self.read_failed(e, 1, out, stats),
        };
        let Some(rest) = rest else {
            stats.skip(
                "document too large",
                &path,
                1,
                format!("JSON document over {} bytes", self.opts.max_document_bytes),
            );
            return Ok(false);
        };
        stats.bytes += rest.len() as u64;
        let mut doc = first_line;
        doc.push(b'\n');
        doc.extend_from_slice(&rest);
        let Ok(text) = std::str::from_utf8(&doc) else {
            stats.skip(
                "invalid UTF-8",
                &path,
                1,
                "JSON document is not UTF-8".into(),
            );
            return Ok(false);
        };
        let mut lines = LineCounter::new(text);
        let mut de = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
        let mut values = 0usize;
        loop {
            let offset = de.byte_offset();
            match de.next() {
                None => break,
                Some(Ok(v)) => {
                    values += 1;
                    let line = lines.line_at(offset_of(text, v.get()).unwrap_or(offset));
                    self.json_unit(text, v.get(), line, &mut lines, out, stats);
                }
                Some(Err(_)) if values == 0 => {
                    // Not a document after all: a truncated first line of a JSON Lines
                    // file looks like the start of one. Read it line by line instead.
                    for (i, l) in text.lines().enumerate() {
                        self.line_no = i as u64 + 1;
                        self.line(l.as_bytes(), out, stats);
                    }
                    self.finish(out, stats);
                    break;
                }
                Some(Err(e)) => {
                    let line = lines.line_at(offset);
                    stats.skip("invalid JSON", &path, line, e.to_string());
                    break;
                }
            }
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
        let before = out.len();
        self.text.flush(&self.input.path, out);
        for e in out.get(before..).unwrap_or_default() {
            stats.formats.entry(e.source.format).or_default().events += 1;
        }
    }

    fn line(&mut self, bytes: &[u8], out: &mut Vec<Event>, stats: &mut DecodeStats) {
        let line_no = self.line_no;
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
            let mut lc = LineCounter::new(trimmed);
            self.json_unit(trimmed, trimmed, line_no, &mut lc, out, stats);
        } else {
            self.text_line(text, out, stats);
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
        let mut attempt = |format: Format, out: &mut Vec<Event>, stats: &mut DecodeStats| {
            let before = out.len();
            let mut format = format;
            let mut redirected = false;
            loop {
                match decode_json_as(format, text, &ctx, out) {
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

    fn text_line(&mut self, text: &str, out: &mut Vec<Event>, stats: &mut DecodeStats) {
        let ctx = RecordCtx {
            path: self.input.path.clone(),
            line: self.line_no,
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

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
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

/// Maps byte offsets to 1-based line numbers, for offsets visited in increasing order
/// (restarting from the top otherwise).
struct LineCounter<'a> {
    text: &'a str,
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let bytes = &self.text.as_bytes()[self.offset..offset];
        self.line += memchr::memchr_iter(b'\n', bytes).count() as u64;
        self.offset = offset;
        self.line
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
