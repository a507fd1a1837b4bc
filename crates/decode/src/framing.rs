//! Opening inputs and cutting them into records: transparent gzip (every member, as
//! CloudTrail and rotated logs are multi-member) and zstd, bounded line reading, and
//! the choice between JSON Lines and one JSON document per input.

use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use crate::json_walk::{self, Step, Walked};
use crate::DecodeOptions;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// An opened input, already decompressed.
pub struct Input {
    pub path: Arc<str>,
    /// Size on disk when known, for progress reporting.
    pub size: Option<u64>,
    pub reader: Box<dyn BufRead + Send>,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

pub fn open_path(path: &Path) -> Result<Input, ReadError> {
    open_path_with(path, &DecodeOptions::default())
}

/// Opens a file, decompressing it within `opts.max_decompressed_bytes`.
pub fn open_path_with(path: &Path, opts: &DecodeOptions) -> Result<Input, ReadError> {
    let err = |source| ReadError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let size = file.metadata().ok().map(|m| m.len());
    let reader = decompress_capped(
        Box::new(BufReader::with_capacity(1 << 20, file)),
        opts.max_decompressed_bytes,
    )
    .map_err(err)?;
    Ok(Input {
        path: Arc::from(path.display().to_string()),
        size,
        reader,
    })
}

pub fn open_stdin() -> Result<Input, ReadError> {
    open_stdin_with(&DecodeOptions::default())
}

pub fn open_stdin_with(opts: &DecodeOptions) -> Result<Input, ReadError> {
    let reader = decompress_capped(
        Box::new(BufReader::with_capacity(1 << 20, io::stdin())),
        opts.max_decompressed_bytes,
    )
    .map_err(|source| ReadError::Io {
        path: "-".into(),
        source,
    })?;
    Ok(Input {
        path: Arc::from("-"),
        size: None,
        reader,
    })
}

/// Wraps a reader in the decompressor its first bytes call for.
pub fn decompress(r: Box<dyn BufRead + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    decompress_capped(r, DecodeOptions::default().max_decompressed_bytes)
}

/// Like [`decompress`], but a compressed input that expands past `max` bytes (a
/// decompression bomb: gigabytes of zeros in a few megabytes) fails with
/// [`DecompressedLimit`] once it gets there, instead of being read on and on.
pub fn decompress_capped(
    mut r: Box<dyn BufRead + Send>,
    max: u64,
) -> io::Result<Box<dyn BufRead + Send>> {
    let head = r.fill_buf()?;
    if head.starts_with(GZIP_MAGIC) {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            Capped::new(MultiGzDecoder::new(r), max),
        )));
    }
    if head.starts_with(ZSTD_MAGIC) {
        let d = zstd::stream::read::Decoder::with_buffer(r)?;
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            Capped::new(d, max),
        )));
    }
    Ok(r)
}

/// The error a capped decompressor returns when its input expands past the limit.
#[derive(Debug, thiserror::Error)]
#[error("decompresses to more than {max} bytes")]
pub struct DecompressedLimit {
    pub max: u64,
}

impl DecompressedLimit {
    /// The limit, when `e` is this error.
    pub fn of(e: &io::Error) -> Option<u64> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<DecompressedLimit>())
            .map(|l| l.max)
    }
}

/// Counts decompressed bytes and refuses to go past the limit.
struct Capped<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Capped<R> {
    fn new(inner: R, max: u64) -> Self {
        Capped {
            inner,
            left: max,
            max,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // One byte more tells a stream that ends exactly at the limit from one
            // that goes on.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(DecompressedLimit { max: self.max })),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// One line from [`read_line_capped`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer (without its `\n`).
    Complete,
    /// The input's last line, which has no `\n`, is in the buffer.
    Unterminated,
    /// The line exceeded the limit; it was consumed and discarded. Holds its length.
    TooLong(u64),
    Eof,
}

/// Reads one line into `buf` (cleared first), never holding more than `max` bytes of
/// it: a longer line is consumed and dropped, and its length reported.
pub fn read_line_capped(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut total: u64 = 0;
    let mut too_long = false;
    let mut newline = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            if total == 0 {
                return Ok(Line::Eof);
            }
            break;
        }
        let (chunk, found) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i)),
            None => (avail, None),
        };
        total += chunk.len() as u64;
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = found.map_or(chunk.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            newline = true;
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong(total));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(if newline {
        Line::Complete
    } else {
        Line::Unterminated
    })
}

/// Reads the whole input up to `max` bytes; `None` when it is larger.
pub fn read_all_capped(r: &mut dyn BufRead, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let n = r.take(max as u64 + 1).read_to_end(&mut buf)?;
    if n > max {
        return Ok(None);
    }
    Ok(Some(buf))
}

/// The stream a container runtime's log line came from: a partial line of one stream is
/// continued by the next line of the same stream, with the other's lines in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

/// A line of a container log as the kubelet (CRI) or Docker's json-file driver writes
/// it: the sensor's own line (`payload`) behind the runtime's timestamp and stream.
/// Tetragon and Falco running as pods are collected from `/var/log/pods` in this shape.
#[derive(Debug, PartialEq, Eq)]
pub struct ContainerLogLine<'a> {
    pub stream: LogStream,
    /// The runtime split a long line: the record goes on in the next line of `stream`.
    pub partial: bool,
    pub payload: std::borrow::Cow<'a, [u8]>,
}

/// Recognizes a CRI log line (`2026-11-20T09:00:41.518123456Z stdout F {…}`) or a
/// Docker json-file line (`{"log":"…\n","stream":"stdout","time":"…"}`). `None` for
/// anything else, which is read as it is.
pub fn container_log_line(line: &[u8]) -> Option<ContainerLogLine<'_>> {
    if line.first() == Some(&b'{') {
        return json_file_line(line);
    }
    cri_line(line)
}

fn cri_line(line: &[u8]) -> Option<ContainerLogLine<'_>> {
    // An RFC 3339 time opens the line: `YYYY-MM-DDT…`, then one space.
    let head = line.get(..11)?;
    let date_shape = head.iter().enumerate().all(|(i, b)| match i {
        4 | 7 => *b == b'-',
        10 => *b == b'T',
        _ => b.is_ascii_digit(),
    });
    if !date_shape {
        return None;
    }
    let sp = memchr::memchr(b' ', line)?;
    if sp > 40 {
        return None;
    }
    let rest = line.get(sp + 1..)?;
    let (stream, rest) = if let Some(r) = rest.strip_prefix(b"stdout ") {
        (LogStream::Stdout, r)
    } else if let Some(r) = rest.strip_prefix(b"stderr ") {
        (LogStream::Stderr, r)
    } else {
        return None;
    };
    // The tag is `P` or `F`, possibly followed by `:`-separated attributes.
    let tag_end = memchr::memchr(b' ', rest).unwrap_or(rest.len());
    let tag = rest.get(..tag_end)?;
    let partial = match tag.split(|b| *b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return None,
    };
    let payload = rest.get(tag_end + 1..).unwrap_or_default();
    Some(ContainerLogLine {
        stream,
        partial,
        payload: std::borrow::Cow::Borrowed(payload),
    })
}

fn json_file_line(line: &[u8]) -> Option<ContainerLogLine<'_>> {
    if !line.starts_with(b"{\"log\":") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct JsonFile<'a> {
        #[serde(borrow)]
        log: std::borrow::Cow<'a, str>,
        #[serde(borrow, default)]
        stream: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow)]
        #[allow(dead_code)]
        time: std::borrow::Cow<'a, str>,
    }
    let j: JsonFile = serde_json::from_slice(line).ok()?;
    let stream = match j.stream.as_deref() {
        Some("stderr") => LogStream::Stderr,
        _ => LogStream::Stdout,
    };
    // The driver ends every complete line with its `\n`; a line without one was split.
    let (text, partial) = match j.log.strip_suffix('\n') {
        Some(t) => (t.strip_suffix('\r').unwrap_or(t), false),
        None => (j.log.as_ref(), true),
    };
    let payload = match &j.log {
        std::borrow::Cow::Borrowed(b) => {
            std::borrow::Cow::Borrowed(b.get(..text.len()).unwrap_or_default().as_bytes())
        }
        std::borrow::Cow::Owned(_) => std::borrow::Cow::Owned(text.as_bytes().to_vec()),
    };
    Some(ContainerLogLine {
        stream,
        partial,
        payload,
    })
}

/// The log shipper that wrapped a record, as far as its envelope tells: the scan
/// summary counts records per shipper, so users see what was unwrapped and from where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shipper {
    /// Vector: a `source_type` beside the record.
    Vector,
    /// Filebeat or another ECS writer: `event.original`, or `agent`/`ecs` beside it.
    Filebeat,
    /// Fluent Bit: the record as the string `log`.
    FluentBit,
    /// Some other shipper (syslog-style `message`, a `json` or `payload` object).
    Other,
}

impl Shipper {
    pub fn label(self) -> &'static str {
        match self {
            Shipper::Vector => "vector",
            Shipper::Filebeat => "filebeat",
            Shipper::FluentBit => "fluent-bit",
            Shipper::Other => "other shipper",
        }
    }
}

/// A record found inside a shipper's envelope (see [`shipper_payload`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Shipped<'a> {
    pub shipper: Shipper,
    /// The record's bytes: borrowed from the line when it was nested as an object (or
    /// as a string with nothing escaped), unescaped otherwise.
    pub record: std::borrow::Cow<'a, [u8]>,
}

/// The record a log shipper wrapped, when `line` is a shipper's envelope and not a
/// record of its own. Used by the stream and the prefilter alike, so both read the same
/// record behind the same lines (see [`shipper_payload_into`] for what qualifies).
pub fn shipper_payload(line: &[u8]) -> Option<Shipped<'_>> {
    let env = envelope(line)?;
    // The stream reads only lines of UTF-8 (others are a skip of their own).
    std::str::from_utf8(line).ok()?;
    let value = line.get(env.start..env.end)?;
    let record = if env.string {
        let inner = value.get(1..value.len().saturating_sub(1))?;
        if memchr::memchr(b'\\', inner).is_some() {
            let mut buf = Vec::with_capacity(inner.len());
            unescape_json_string(inner, &mut buf)?;
            std::borrow::Cow::Owned(buf)
        } else {
            std::borrow::Cow::Borrowed(inner)
        }
    } else {
        std::borrow::Cow::Borrowed(value)
    };
    Some(Shipped {
        shipper: env.shipper,
        record,
    })
}

/// Like [`shipper_payload`], unescaping into `buf` (cleared first) so that a stream of
/// wrapped records reuses one buffer. The line is not parsed into a tree: one pass over
/// its top-level keys finds the wrapper, nested values are skipped by their brackets,
/// and a record nested as a string is unescaped once.
///
/// A line is an envelope when all of these hold, so that no record of a known format is
/// ever read as a wrapper around something else:
/// - it is a JSON object whose opening names no format (`sniff::leading`);
/// - it has none of the list wrappers' keys (`Records`, `items`, …) at the top level;
/// - one of `event.original` (or `event` → `original`), `json`, `payload`, `message`,
///   `log` holds an object, or a string whose text opens an object or array: a plain
///   log line in `message` is not unwrapped (text formats keep state from line to line,
///   which chunks decoded on their own would not share);
/// - no format's marker keys occur outside that value (inside it too, for a string,
///   where only the managed Kubernetes services' escaped audit markers can occur: those
///   records are read by the audit decoder itself, as they always were).
///
/// The envelope's own metadata is not validated beyond its structure: it is not
/// evidence, and the record inside is decoded in full.
pub fn shipper_payload_into<'a>(
    line: &'a [u8],
    buf: &'a mut Vec<u8>,
) -> Option<(Shipper, &'a [u8])> {
    buf.clear();
    let env = envelope(line)?;
    std::str::from_utf8(line).ok()?;
    payload_into(line, &env, buf)
}

/// [`shipper_payload_into`] for a line already known to be UTF-8.
pub(crate) fn shipper_payload_str<'a>(
    line: &'a str,
    buf: &'a mut Vec<u8>,
) -> Option<(Shipper, &'a [u8])> {
    buf.clear();
    let line = line.as_bytes();
    let env = envelope(line)?;
    payload_into(line, &env, buf)
}

fn payload_into<'a>(
    line: &'a [u8],
    env: &Envelope,
    buf: &'a mut Vec<u8>,
) -> Option<(Shipper, &'a [u8])> {
    let value = line.get(env.start..env.end)?;
    if !env.string {
        return Some((env.shipper, value));
    }
    let inner = value.get(1..value.len().saturating_sub(1))?;
    if memchr::memchr(b'\\', inner).is_none() {
        return Some((env.shipper, inner));
    }
    unescape_json_string(inner, buf)?;
    Some((env.shipper, buf.as_slice()))
}

/// Which shipper wrapped the line, without unescaping anything: for counting records
/// the prefilter skipped from behind an envelope.
pub fn shipper_of(line: &[u8]) -> Option<Shipper> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|b| {
        let mut b = b.borrow_mut();
        let found = shipper_payload_into(line, &mut b).map(|(s, _)| s);
        if b.capacity() > 1 << 16 {
            // One long record must not keep its size per thread for good.
            *b = Vec::new();
        }
        found
    })
}

/// Where a shipper put the record: the value's byte range in the line.
#[derive(Debug)]
struct Envelope {
    shipper: Shipper,
    start: usize,
    end: usize,
    string: bool,
}

/// The wrapper keys, most telling first: `event.original` is the unparsed record by
/// definition, `json`/`payload` hold a parsed one, `message` and `log` may hold
/// anything a program printed.
const WRAPPER_KEYS: [&[u8]; 5] = [b"event.original", b"json", b"payload", b"message", b"log"];

/// Keys of the list wrappers the stream unwraps itself (`{"Records":[…]}` and kin).
const LIST_KEYS: [&[u8]; 4] = [b"Records", b"records", b"items", b"logEvents"];

/// Lines without any wrapper key are ruled out by one search, before any walk.
fn may_be_envelope(line: &[u8]) -> bool {
    static F: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 5]> =
        std::sync::OnceLock::new();
    let f = F.get_or_init(|| {
        [
            "\"message\"",
            "\"log\"",
            "\"json\"",
            "\"payload\"",
            "original\"",
        ]
        .map(memchr::memmem::Finder::new)
    });
    f.iter().any(|f| f.find(line).is_some())
}

fn envelope(line: &[u8]) -> Option<Envelope> {
    let lead = line.len() - line.trim_ascii_start().len();
    let text = line.trim_ascii();
    if text.first() != Some(&b'{')
        || crate::sniff::leading_bytes(text).is_some()
        || !may_be_envelope(text)
    {
        return None;
    }
    let mut found: [Option<(usize, usize, bool)>; 5] = [None; 5];
    let (mut vector, mut beats) = (false, false);
    let mut dup = false;
    let walked = json_walk::walk_members(text, 0, |key, start| {
        // A name spelled with escapes could be a list wrapper's key to serde, which
        // the stream reads as a list before any envelope: not taken for one.
        if LIST_KEYS.contains(&key) || memchr::memchr(b'\\', key).is_some() {
            return Step::Stop;
        }
        match key {
            b"source_type" => vector = true,
            b"agent" | b"ecs" => beats = true,
            _ => {}
        }
        let mut put = |i: usize, v: (usize, usize, bool)| match found[i] {
            Some(_) => dup = true,
            None => found[i] = Some(v),
        };
        // Only the values that may hold the record are measured here, once (the walk
        // goes on from where they end); the walk jumps over the others.
        let first = text.get(start).copied();
        if key == b"event" && first == Some(b'{') {
            // ECS nests it: `"event":{"original":"…"}`.
            let inner = json_walk::walk_members(text, start, |k, s| {
                if k != b"original" || text.get(s) != Some(&b'"') {
                    return Step::Next;
                }
                match json_walk::value_end(text, s) {
                    Some(e) => {
                        put(0, (s, e, true));
                        Step::Past(e)
                    }
                    None => Step::Stop,
                }
            });
            return match inner {
                Some(Walked::End(e)) => Step::Past(e),
                _ => Step::Stop,
            };
        }
        match WRAPPER_KEYS.iter().position(|k| *k == key) {
            Some(i) if matches!(first, Some(b'"' | b'{')) => {
                match json_walk::value_end(text, start) {
                    Some(e) => {
                        put(i, (start, e, first == Some(b'"')));
                        Step::Past(e)
                    }
                    None => Step::Stop,
                }
            }
            _ => Step::Next,
        }
    })?;
    let Walked::End(end) = walked else {
        return None;
    };
    if dup || !text.get(end..).unwrap_or_default().trim_ascii().is_empty() {
        return None;
    }
    let looks_like_record = |&(s, e, string): &(usize, usize, bool)| {
        !string || {
            let inner = text.get(s + 1..e.saturating_sub(1)).unwrap_or_default();
            matches!(inner.trim_ascii_start().first(), Some(b'{' | b'['))
        }
    };
    let (which, (start, end, string)) = found
        .iter()
        .enumerate()
        .find_map(|(i, f)| f.filter(looks_like_record).map(|f| (i, f)))?;
    let outside = [
        text.get(..start).unwrap_or_default(),
        text.get(end..).unwrap_or_default(),
    ];
    // Inside a string only an escaped key can occur, and the audit marker is the one
    // marker spelled so: the whole line is sniffed only when the string holds it.
    let claimed = crate::sniff::claims_format(&outside)
        || (string
            && crate::sniff::holds_escaped_audit_marker(text.get(start..end).unwrap_or_default())
            && crate::sniff::claims_format(&[text]));
    if claimed {
        return None;
    }
    let shipper = if vector {
        Shipper::Vector
    } else if which == 0 || beats {
        Shipper::Filebeat
    } else if WRAPPER_KEYS[which] == b"log" {
        Shipper::FluentBit
    } else {
        Shipper::Other
    };
    Some(Envelope {
        shipper,
        start: lead + start,
        end: lead + end,
        string,
    })
}

/// Unescapes the inside of a JSON string into `out`; `None` when it is not valid JSON
/// string text (a bad escape, a lone surrogate, a raw control character), which serde
/// would have refused in the whole line too.
fn unescape_json_string(s: &[u8], out: &mut Vec<u8>) -> Option<()> {
    // Unescaping never lengthens the text (`\uXXXX`, six bytes, is at most three of
    // UTF-8; a surrogate pair, twelve, is four), so the output is sized once and
    // written by position: a record nested as a string has an escape every few bytes,
    // where growing the buffer or copying runs between escapes costs more than this.
    out.clear();
    out.resize(s.len(), 0);
    let hex4 = |h: &[u8]| -> Option<u32> {
        let t = std::str::from_utf8(h.get(..4)?).ok()?;
        u32::from_str_radix(t, 16).ok()
    };
    let (mut i, mut w) = (0, 0);
    while let Some(&b) = s.get(i) {
        i += 1;
        let byte = if b != b'\\' {
            if b < 0x20 {
                return None;
            }
            b
        } else {
            let c = *s.get(i)?;
            i += 1;
            match c {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let hi = hex4(s.get(i..)?)?;
                    i += 4;
                    let code = if (0xd800..0xdc00).contains(&hi) {
                        if s.get(i..i + 2)? != b"\\u" {
                            return None;
                        }
                        let lo = hex4(s.get(i + 2..)?)?;
                        if !(0xdc00..0xe000).contains(&lo) {
                            return None;
                        }
                        i += 6;
                        0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                    } else {
                        hi
                    };
                    let ch = char::from_u32(code)?;
                    let mut tmp = [0u8; 4];
                    let enc = ch.encode_utf8(&mut tmp).as_bytes();
                    out.get_mut(w..w + enc.len())?.copy_from_slice(enc);
                    w += enc.len();
                    continue;
                }
                _ => return None,
            }
        };
        *out.get_mut(w)? = byte;
        w += 1;
    }
    out.truncate(w);
    Some(())
}

/// Follows the brackets of a JSON text spread over lines, so that a multi-line
/// document is known to end (or to be broken) on the line where it does, without
/// parsing it again at every line. It checks only what can tell a document's lines
/// from other records' lines: nesting, strings, and the characters allowed between them.
#[derive(Clone, Debug, Default)]
pub struct JsonScan {
    depth: u32,
    deepest: u32,
    in_string: bool,
    escaped: bool,
}

/// What [`JsonScan::line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Scanned {
    /// The value is still open at the end of the line.
    Open,
    /// The value closed just before this byte offset of the line.
    Closed(usize),
    /// The line cannot belong to a JSON text: a bracket closes nothing, a string runs
    /// past the end of the line, or a character stands outside any string that JSON
    /// does not allow there.
    Broken,
}

/// serde_json's recursion limit: a document nested deeper cannot be parsed.
pub const MAX_DOCUMENT_DEPTH: u32 = 128;

/// Bytes JSON allows outside strings: structure, numbers and `true`/`false`/`null`.
fn bare_json_byte(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b':' | b',' | b'0'
            ..=b'9'
                | b'-'
                | b'+'
                | b'.'
                | b'e'
                | b'E'
                | b't'
                | b'r'
                | b'u'
                | b'f'
                | b'a'
                | b'l'
                | b's'
                | b'n'
    )
}

impl JsonScan {
    /// The deepest nesting seen so far: past [`MAX_DOCUMENT_DEPTH`] the document
    /// cannot be parsed, whatever follows.
    pub fn deepest(&self) -> u32 {
        self.deepest
    }

    /// Feeds one line (without its `\n`).
    pub fn line(&mut self, line: &[u8]) -> Scanned {
        for (i, &b) in line.iter().enumerate() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                } else if b < 0x20 && b != b'\t' {
                    return Scanned::Broken;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth = self.depth.saturating_add(1);
                    self.deepest = self.deepest.max(self.depth);
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Scanned::Broken;
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Scanned::Closed(i + 1);
                    }
                }
                b if bare_json_byte(b) => {}
                _ => return Scanned::Broken,
            }
        }
        if self.in_string {
            // JSON strings cannot hold a raw line break.
            return Scanned::Broken;
        }
        Scanned::Open
    }
}

/// The line opens a JSON value that it does not close: the first line of a
/// pretty-printed document (or a record cut short). A line that ends with a closing
/// bracket is taken for a whole record without looking further: that is every JSON
/// Lines record, and a line cut short there is still a located skip of its own.
pub fn opens_document(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    if !(t.starts_with(b"{") || t.starts_with(b"[")) || t.ends_with(b"}") || t.ends_with(b"]") {
        return false;
    }
    JsonScan::default().line(t) == Scanned::Open
}

/// Where reading may pick up again after a broken document: a line that starts, in its
/// first column, something other than the inside of a JSON text (which is indented,
/// opens with a closing bracket, a key or a separator, or ends with a comma).
pub fn starts_record(line: &[u8]) -> bool {
    matches!(line.first(), Some(b) if !b.is_ascii_whitespace() && !b"}]\",:".contains(b))
        && line.trim_ascii_end().last() != Some(&b',')
}

/// The openings cloud-init acts on: a file that starts with one is user data as a
/// whole (a script, a cloud-config, a MIME multipart), not lines of a log.
const USER_DATA_OPENINGS: &[&[u8]] = &[
    b"#!",
    b"#cloud-config",
    b"#cloud-boothook",
    b"#include",
    b"#part-handler",
    b"Content-Type: multipart/",
    b"MIME-Version:",
];

/// True when the input's first bytes are user data (gzip is already undone by the
/// reader): one of cloud-init's openings, or base64 of one or of gzip.
pub fn is_user_data(head: &[u8]) -> bool {
    let opens = |b: &[u8]| USER_DATA_OPENINGS.iter().any(|o| b.starts_with(o));
    if opens(head) {
        return true;
    }
    // Base64 of user data: the first line is all base64, and its start decodes to an
    // opening (or to gzip's magic bytes).
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let take = first.len().min(64) / 4 * 4;
    let Some(start) = first.get(..take).filter(|s| s.len() >= 8) else {
        return false;
    };
    if !start
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return false;
    }
    std::str::from_utf8(start)
        .ok()
        .and_then(crate::user_data::b64_decode)
        .is_some_and(|d| opens(&d) || d.starts_with(GZIP_MAGIC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn whole_user_data_is_told_from_logs_by_its_opening() {
        use base64::Engine as _;
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        for yes in [
            b"#!/bin/bash\ncurl x | sh\n".to_vec(),
            b"#cloud-config\nruncmd: []\n".to_vec(),
            b"Content-Type: multipart/mixed; boundary=\"x\"\n".to_vec(),
            b64(b"#cloud-config\nruncmd:\n - id\n").into_bytes(),
            b64(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0]).into_bytes(),
        ] {
            assert!(is_user_data(&yes), "{}", String::from_utf8_lossy(&yes));
        }
        for no in [
            &b"#separator \\x09\n#fields\tts\n"[..],
            b"version account-id instance-id\n",
            b"{\"Records\": [\n",
            b"YWJjZGVmZ2hpams=\n",
            b"type=SYSCALL msg=audit(1.2:3): x\n",
            b"",
        ] {
            assert!(!is_user_data(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn cri_lines_are_recognized_with_their_stream_and_tag() {
        let l = container_log_line(b"2026-11-20T09:00:41.518123456Z stdout F {\"a\":1}").unwrap();
        assert_eq!(l.stream, LogStream::Stdout);
        assert!(!l.partial);
        assert_eq!(&*l.payload, b"{\"a\":1}");
        let l = container_log_line(b"2026-11-20T09:00:41Z stderr P part").unwrap();
        assert_eq!((l.stream, l.partial), (LogStream::Stderr, true));
        assert_eq!(&*l.payload, b"part");
        let l = container_log_line(b"2026-11-20T09:00:41Z stdout F").unwrap();
        assert!(l.payload.is_empty());
        // Not container-log lines: a syslog date, an unknown stream or tag.
        for no in [
            &b"2026-11-20 09:00:41 stdout F x"[..],
            b"2026-11-20T09:00:41Z console F x",
            b"2026-11-20T09:00:41Z stdout X x",
            b"version account-id",
            b"",
        ] {
            assert_eq!(
                container_log_line(no),
                None,
                "{}",
                String::from_utf8_lossy(no)
            );
        }
    }

    #[test]
    fn docker_json_file_lines_give_their_log_without_the_newline() {
        let l = container_log_line(
            br#"{"log":"{\"a\":\"b\"}\n","stream":"stderr","time":"2026-11-20T09:00:41.5Z"}"#,
        )
        .unwrap();
        assert_eq!(&*l.payload, br#"{"a":"b"}"#);
        assert_eq!((l.stream, l.partial), (LogStream::Stderr, false));
        let l =
            container_log_line(br#"{"log":"abc","stream":"stdout","time":"2026-11-20T09:00:41Z"}"#)
                .unwrap();
        assert!(l.partial);
        assert_eq!(&*l.payload, b"abc");
        // A record that merely has a `log` key first, with no time, is not one.
        assert_eq!(container_log_line(br#"{"log":"x\n"}"#), None);
    }

    fn shipped(line: &str) -> Option<(Shipper, String)> {
        let a = shipper_payload(line.as_bytes())
            .map(|s| (s.shipper, String::from_utf8(s.record.into_owned()).unwrap()));
        let mut buf = b"left over".to_vec();
        let b = shipper_payload_into(line.as_bytes(), &mut buf)
            .map(|(s, r)| (s, String::from_utf8(r.to_vec()).unwrap()));
        assert_eq!(a, b, "{line}");
        assert_eq!(shipper_of(line.as_bytes()), a.as_ref().map(|s| s.0));
        a
    }

    #[test]
    fn envelopes_give_their_record_and_name_their_shipper() {
        let rec = r#"{"status":"pull","id":"a\"b","from":"x"}"#;
        let q = serde_json::to_string(rec).unwrap();
        let cases = [
            (
                format!(r#"{{"message":{q},"source_type":"kubernetes_logs","host":"n1"}}"#),
                Shipper::Vector,
            ),
            (
                format!(
                    r#"{{"@timestamp":"t","host":{{"name":"n1"}},"event":{{"kind":"event","original":{q}}}}}"#
                ),
                Shipper::Filebeat,
            ),
            (
                format!(r#"{{"@timestamp":"t","event.original":{q}}}"#),
                Shipper::Filebeat,
            ),
            (
                format!(r#"{{"@timestamp":"t","log":{q},"kubernetes":{{"pod_name":"p"}}}}"#),
                Shipper::FluentBit,
            ),
            (
                format!(r#"  {{ "json" : {rec} , "agent":{{"type":"filebeat"}} }}  "#),
                Shipper::Filebeat,
            ),
            (
                format!(r#"{{"payload":{rec},"n":[1,{{"a":"}}]"}}],"ok":true}}"#),
                Shipper::Other,
            ),
            // `message` is plain text; the record is in `log`.
            (
                format!(r#"{{"message":"GET / 200","log":{q}}}"#),
                Shipper::FluentBit,
            ),
        ];
        for (line, shipper) in cases {
            assert_eq!(shipped(&line), Some((shipper, rec.to_string())), "{line}");
        }
        // Nothing escaped: the record is borrowed, not copied.
        let line = r#"{"message":"[1]"}"#;
        let s = shipper_payload(line.as_bytes()).unwrap();
        assert!(matches!(s.record, std::borrow::Cow::Borrowed(b"[1]")));
        let line = r#"{"message":"{\"a\":\"\u00e9\ud83d\ude00\n\/\"}"}"#;
        assert_eq!(
            shipped(line).map(|s| s.1).as_deref(),
            Some("{\"a\":\"\u{e9}\u{1f600}\n/\"}")
        );
    }

    #[test]
    fn records_of_known_formats_and_other_lines_are_no_envelope() {
        let rec = r#"{"a":1}"#;
        let q = serde_json::to_string(rec).unwrap();
        for no in [
            // The opening names a format.
            format!(r#"{{"status":"x","message":{q}}}"#),
            format!(r#"{{"hostname":"n","message":{rec}}}"#),
            // A format's keys outside the wrapped value.
            format!(r#"{{"message":{q},"involvedObject":{{}},"reason":"x"}}"#),
            format!(r#"{{"json":{rec},"eventSource":"s","eventName":"n"}}"#),
            r#"{"log":{"offset":1},"auditID":"a","kind":"Event"}"#.to_string(),
            // An EKS audit export: the audit decoder reads it.
            r#"{"message":"{\"auditID\":\"a\"}","timestamp":1}"#.to_string(),
            // List wrappers are the stream's own.
            format!(r#"{{"message":{q},"Records":[]}}"#),
            // Text in the wrapper, or no wrapper at all.
            r#"{"message":"GET / 200","source_type":"file"}"#.to_string(),
            r#"{"log":5,"json":"x","payload":null}"#.to_string(),
            r#"{"other":{"message":{"a":1}}}"#.to_string(),
            // Twice the same wrapper key, broken structure, something after the object.
            format!(r#"{{"message":{q},"message":{q}}}"#),
            format!(r#"{{"message":{q},"x":}}"#),
            format!(r#"{{"message":{q}}} trailing"#),
            format!(r#"{{"message":{q}"#),
            format!(r#"{{"message" {q}}}"#),
            // Not JSON string text inside.
            r#"{"message":"{\x}"}"#.to_string(),
            r#"{"message":"{\ud800}"}"#.to_string(),
            r#"{"message":"{\u12"}"#.to_string(),
            "{\"message\":\"{\t\\n}\"}".to_string(),
            String::new(),
            "[]".to_string(),
        ] {
            assert_eq!(shipped(&no), None, "{no}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The unescaping agrees with serde on every string, and no line panics.
        #[test]
        fn unescaping_agrees_with_serde(
            body in ".{0,40}",
            garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
        ) {
            let rec = format!("{{{body}");
            let line = format!(r#"{{"message":{},"k":[1]}}"#, serde_json::to_string(&rec).unwrap());
            let got = shipper_payload(line.as_bytes()).map(|s| s.record.into_owned());
            proptest::prop_assert_eq!(got, Some(rec.into_bytes()));
            let _ = shipper_payload(&garbage);
            let mut g = br#"{"message":"#.to_vec();
            g.extend_from_slice(&garbage);
            let _ = shipper_payload(&g);
            let mut buf = Vec::new();
            let _ = shipper_payload_into(&g, &mut buf);
        }
    }

    #[test]
    fn the_scanner_follows_documents_across_lines() {
        let mut s = JsonScan::default();
        assert_eq!(s.line(b"{\"Records\": ["), Scanned::Open);
        assert_eq!(
            s.line(b"  {\"a\": \"}]\\\"\", \"n\": -1.5e3, \"t\": true},"),
            Scanned::Open
        );
        assert_eq!(s.line(b"]}version account-id"), Scanned::Closed(2));
        let mut s = JsonScan::default();
        assert_eq!(s.line(b"{"), Scanned::Open);
        assert_eq!(s.line(b"5 111122223333 eni-1 ACCEPT OK"), Scanned::Broken);
        let mut s = JsonScan::default();
        assert_eq!(s.line(b"{\"a\": \"unterminated"), Scanned::Broken);
        assert!(opens_document(b"{\"truncated\": "));
        assert!(opens_document(b"[ "));
        assert!(!opens_document(b"{\"a\":1}"));
        assert!(!opens_document(b"not json {"));
        assert!(starts_record(b"{") && starts_record(b"5 1111") && starts_record(b"["));
        assert!(!starts_record(b"  {") && !starts_record(b"}") && !starts_record(b"\"k\": 1"));
        assert!(!starts_record(b"{\"a\": 1},"));
    }

    #[test]
    fn lines_are_capped_without_buffering_the_excess() {
        let data = format!("short\r\n{}\nafter", "x".repeat(100));
        let mut r = BufReader::with_capacity(8, Cursor::new(data.into_bytes()));
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 10).unwrap(),
            Line::Complete
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 10).unwrap(),
            Line::TooLong(100)
        );
        assert!(buf.capacity() < 64);
        assert_eq!(
            read_line_capped(&mut r, &mut buf, 10).unwrap(),
            Line::Unterminated
        );
        assert_eq!(buf, b"after");
        assert_eq!(read_line_capped(&mut r, &mut buf, 10).unwrap(), Line::Eof);
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut out = Vec::new();
        for part in ["one\n", "two\n"] {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part.as_bytes()).unwrap();
            out.extend(e.finish().unwrap());
        }
        let mut r = decompress(Box::new(Cursor::new(out))).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "one\ntwo\n");
    }

    #[test]
    fn zstd_is_read() {
        let z = zstd::encode_all(Cursor::new(b"hello\n".to_vec()), 1).unwrap();
        let mut r = decompress(Box::new(Cursor::new(z))).unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello\n");
    }
}
