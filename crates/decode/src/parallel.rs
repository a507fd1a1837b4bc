//! Decoding one input on several threads without changing what comes out.
//!
//! The input is cut into chunks of whole lines at boundaries that depend only on its
//! bytes (each chunk is filled to exactly `chunk_bytes` before it is cut at its last
//! newline), the chunks are decoded by a pool of workers, and their events are handed
//! back strictly in input order. A chunk that holds anything but JSON records (a text
//! format, whose state runs from line to line) is decoded on the caller's thread by one
//! stream that sees every such chunk in order. So is a chunk in which a line goes on
//! into the next (a JSON document spread over lines, a container-log line split by the
//! runtime), and every chunk after it until that stream is between records again: what
//! a worker made of such a chunk alone is dropped. A Windows event log or a file of user
//! data is read whole by an ordinary [`EventStream`]. The events, their order and the
//! statistics are therefore the same for any number of threads.

use crate::framing::{Input, ReadError};
use crate::prefilter::RecordFilter;
use crate::stats::DecodeStats;
use crate::{DecodeOptions, EventStream};
use pullwatch_model::Event;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads shared by every input of a scan.
pub struct Pool {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    handles: Vec<JoinHandle<()>>,
    threads: usize,
}

impl Pool {
    pub fn new(threads: usize) -> io::Result<Arc<Pool>> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let h = std::thread::Builder::new()
                .name(format!("pullwatch-decode-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                })?;
            handles.push(h);
        }
        Ok(Arc::new(Pool {
            tx: Mutex::new(Some(tx)),
            handles,
            threads,
        }))
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    fn submit(&self, job: Job) -> bool {
        match self.tx.lock() {
            Ok(guard) => guard.as_ref().is_some_and(|tx| tx.send(job).is_ok()),
            Err(_) => false,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// How an input is cut and how far ahead of the consumer decoding may run.
#[derive(Clone, Debug)]
pub struct ChunkOptions {
    pub chunk_bytes: usize,
    /// Chunks decoded or being decoded ahead of the one handed out.
    pub inflight: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            chunk_bytes: 1 << 20,
            inflight: 8,
        }
    }
}

struct ChunkOut {
    events: Vec<Event>,
    stats: DecodeStats,
    /// A chunk that is not pure JSON Lines, left for the ordered text stream.
    impure: Option<Vec<u8>>,
    first_line: u64,
    /// The chunk's buffer, for the next read: a fresh megabyte per chunk
    /// costs page faults that outweigh the copy into it.
    spare: Option<Vec<u8>>,
}

enum Slot {
    Ready(ChunkOut),
    Waiting(mpsc::Receiver<ChunkOut>),
}

/// One input decoded in chunks (or whole, when it is a JSON document).
pub struct ParallelStream {
    inner: Inner,
}

enum Inner {
    Whole(Box<EventStream>),
    Chunked(Box<Chunked>),
}

struct Chunked {
    path: Arc<str>,
    reader: Box<dyn BufRead + Send>,
    opts: DecodeOptions,
    chunk: ChunkOptions,
    /// Decodes non-JSON chunks, in order, and flushes text state at the end.
    text: EventStream,
    pool: Option<Arc<Pool>>,
    filter: Option<Arc<dyn RecordFilter>>,
    pending: VecDeque<Slot>,
    next_line: u64,
    carry: Vec<u8>,
    /// Emptied chunk buffers handed back by the decoders.
    spare: Vec<Vec<u8>>,
    /// Emptied event vectors handed back by the reader of the events (see
    /// [`ParallelStream::recycle_events`]), for the next chunk's decoder to fill. A
    /// chunk's events take most of a megabyte; allocating that afresh on a decoding
    /// thread and freeing it on the engine's, chunk after chunk, had the kernel zero
    /// new pages for every chunk.
    spare_events: Vec<Vec<Event>>,
    eof: bool,
    finished: bool,
    /// The decompression cap was reached: its limit and the line it cut.
    limit_hit: Option<(u64, u64)>,
}

impl ParallelStream {
    /// `pool` of `None` decodes on the calling thread, chunk by chunk, exactly as the
    /// pool would. `filter` skips records no loaded analytic can use.
    pub fn new(
        mut input: Input,
        opts: DecodeOptions,
        chunk: ChunkOptions,
        pool: Option<Arc<Pool>>,
        filter: Option<Arc<dyn RecordFilter>>,
    ) -> Result<ParallelStream, ReadError> {
        let path = input.path.clone();
        let err = |source| ReadError::Io {
            path: path.to_string(),
            source,
        };
        // A JSON document (pretty-printed, or an array spanning lines) is decoded whole,
        // as the sequential stream does; its first line tells.
        // A Windows event log is binary and read whole by the ordinary stream.
        // The decompression cap reached this early is the input's fault: the ordinary
        // stream reports it as a located skip.
        let is_cap = |e: &io::Error| crate::DecompressedLimit::of(e).is_some();
        // So is a file of user data, inspected as one document.
        let (evtx, mut capped) = match input.reader.fill_buf() {
            Ok(head) => (
                head.starts_with(crate::sysmon::EVTX_MAGIC) || crate::framing::is_user_data(head),
                false,
            ),
            Err(e) if is_cap(&e) => (false, true),
            Err(e) => return Err(err(e)),
        };
        let mut first = Vec::new();
        if !capped {
            match input
                .reader
                .as_mut()
                .take(opts.max_line_bytes as u64 + 1)
                .read_until(b'\n', &mut first)
            {
                Ok(_) => {}
                Err(e) if is_cap(&e) => capped = true,
                Err(e) => return Err(err(e)),
            }
        }
        // A JSON document spread over lines is followed from line to line by the
        // ordered stream, like a text format (see `Chunked::fill`).
        let whole = evtx || capped;
        let replay: Box<dyn BufRead + Send> = Box::new(io::BufReader::with_capacity(
            1 << 20,
            io::Cursor::new(first).chain(input.reader),
        ));
        if whole {
            let input = Input {
                path: input.path,
                size: input.size,
                reader: replay,
            };
            return Ok(ParallelStream {
                inner: Inner::Whole(Box::new(EventStream::new(input, opts))),
            });
        }
        let chunk = ChunkOptions {
            chunk_bytes: chunk.chunk_bytes.max(1),
            inflight: chunk.inflight.max(1),
        };
        Ok(ParallelStream {
            inner: Inner::Chunked(Box::new(Chunked {
                text: EventStream::detached(path.clone(), opts.clone()),
                path,
                reader: replay,
                opts,
                chunk,
                pool,
                filter,
                pending: VecDeque::new(),
                next_line: 1,
                carry: Vec::new(),
                spare: Vec::new(),
                spare_events: Vec::new(),
                eof: false,
                finished: false,
                limit_hit: None,
            })),
        })
    }

    /// Appends the next chunk's events (or a batch of up to `max_lines` lines for a
    /// document input) to `out`. Returns `false` once the input is exhausted.
    pub fn fill(
        &mut self,
        out: &mut Vec<Event>,
        stats: &mut DecodeStats,
        max_lines: usize,
    ) -> Result<bool, ReadError> {
        match &mut self.inner {
            Inner::Whole(s) => s.fill(out, stats, max_lines),
            Inner::Chunked(c) => c.fill(out, stats),
        }
    }

    /// Hands back a vector `fill` delivered, once its events are taken, so that its
    /// storage is filled again rather than freed and allocated anew.
    pub fn recycle_events(&mut self, events: Vec<Event>) {
        if let Inner::Chunked(c) = &mut self.inner {
            c.recycle_events(events);
        }
    }
}

/// Keeps an emptied vector for reuse, up to one per chunk in flight: more could never
/// be in use at once, and a vector that never allocated saves nothing.
fn keep_spare<T>(spare: &mut Vec<Vec<T>>, mut v: Vec<T>, inflight: usize) {
    if v.capacity() > 0 && spare.len() < inflight {
        v.clear();
        spare.push(v);
    }
}

impl Chunked {
    fn fill(&mut self, out: &mut Vec<Event>, stats: &mut DecodeStats) -> Result<bool, ReadError> {
        let path = self.path.clone();
        let io_err = |source| ReadError::Io {
            path: path.to_string(),
            source,
        };
        while !(self.eof && self.carry.is_empty()) && self.pending.len() < self.chunk.inflight {
            if let Some((bytes, first)) = self.read_chunk().map_err(io_err)? {
                self.dispatch(bytes, first);
            }
        }
        let Some(slot) = self.pending.pop_front() else {
            if !self.finished {
                self.finished = true;
                if let Some((max, line)) = self.limit_hit {
                    stats.skip(
                        "decompressed size limit",
                        &self.path,
                        line,
                        format!(
                            "input decompresses to more than {max} bytes (max_decompressed_bytes); the rest is not read"
                        ),
                    );
                }
                self.text.finish_detached(out, stats);
            }
            return Ok(false);
        };
        let mut r = match slot {
            Slot::Ready(r) => r,
            Slot::Waiting(rx) => rx
                .recv()
                .map_err(|_| io_err(io::Error::other("a decoding thread stopped unexpectedly")))?,
        };
        if r.impure.is_none() && !self.text.between_records() {
            // The ordered stream holds a document or a split line that this chunk
            // goes on with: what a worker made of the chunk alone does not count.
            if let Some(bytes) = r.spare.take() {
                self.recycle_events(std::mem::take(&mut r.events));
                r.stats = DecodeStats::default();
                r.impure = Some(bytes);
            }
        }
        stats.merge(&r.stats);
        let mut events = r.events;
        if out.is_empty() {
            // Hands the chunk's events over without moving each one.
            std::mem::swap(out, &mut events);
        } else {
            out.append(&mut events);
        }
        self.recycle_events(events);
        if let Some(b) = r.spare {
            self.recycle(b);
        }
        if let Some(bytes) = r.impure {
            self.text.decode_lines(&bytes, r.first_line, out, stats);
            self.recycle(bytes);
        }
        Ok(true)
    }

    /// Keeps a decoded chunk's buffer for a later read.
    fn recycle(&mut self, buf: Vec<u8>) {
        keep_spare(&mut self.spare, buf, self.chunk.inflight);
    }

    fn recycle_events(&mut self, events: Vec<Event>) {
        keep_spare(&mut self.spare_events, events, self.chunk.inflight);
    }

    fn dispatch(&mut self, bytes: Vec<u8>, first_line: u64) {
        let events = self.spare_events.pop().unwrap_or_default();
        let path = self.path.clone();
        let opts = self.opts.clone();
        let filter = self.filter.clone();
        match &self.pool {
            Some(pool) => {
                let (tx, rx) = mpsc::channel();
                let job: Job = Box::new(move || {
                    let _ = tx.send(decode_chunk(
                        path,
                        opts,
                        bytes,
                        events,
                        first_line,
                        filter.as_deref(),
                    ));
                });
                if pool.submit(job) {
                    self.pending.push_back(Slot::Waiting(rx));
                } else {
                    // Cannot happen while the pool lives; decoding here keeps the order.
                    self.pending.push_back(Slot::Ready(ChunkOut {
                        events: Vec::new(),
                        stats: DecodeStats::default(),
                        impure: None,
                        first_line,
                        spare: None,
                    }));
                }
            }
            None => {
                let r = decode_chunk(path, opts, bytes, events, first_line, filter.as_deref());
                self.pending.push_back(Slot::Ready(r));
            }
        }
    }

    /// The next chunk of whole lines and the number of its first line. Lines longer
    /// than the limit are consumed without being held and become a located skip, in
    /// order with the chunks around them.
    fn read_chunk(&mut self) -> io::Result<Option<(Vec<u8>, u64)>> {
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut target = self.chunk.chunk_bytes;
        buf.reserve(target.saturating_sub(buf.len()));
        loop {
            while buf.len() < target && !self.eof {
                let avail = match self.reader.fill_buf() {
                    Ok(a) => a,
                    Err(e) => match crate::DecompressedLimit::of(&e) {
                        // The input's own fault: what was read counts, the partial
                        // line and the rest are a located skip.
                        Some(max) => {
                            let keep = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
                            let line = self.next_line
                                + memchr::memchr_iter(b'\n', &buf[..keep]).count() as u64;
                            buf.truncate(keep);
                            self.limit_hit = Some((max, line));
                            self.eof = true;
                            break;
                        }
                        None => return Err(e),
                    },
                };
                if avail.is_empty() {
                    self.eof = true;
                    break;
                }
                let n = avail.len().min(target - buf.len());
                buf.extend_from_slice(&avail[..n]);
                self.reader.consume(n);
            }
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => {
                    self.carry.extend_from_slice(&buf[i + 1..]);
                    buf.truncate(i + 1);
                    break;
                }
                None if self.eof => break,
                None if buf.len() > self.opts.max_line_bytes => {
                    let len = buf.len() as u64 + self.discard_line()?;
                    if self.limit_hit.is_some() {
                        // The cap cut this line short: that is the skip to report.
                        buf.clear();
                        break;
                    }
                    self.skip_long_line(len);
                    buf.clear();
                    target = self.chunk.chunk_bytes;
                }
                None => target += self.chunk.chunk_bytes,
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let first = self.next_line;
        let newlines = memchr::memchr_iter(b'\n', &buf).count() as u64;
        self.next_line += newlines + u64::from(!buf.ends_with(b"\n"));
        Ok(Some((buf, first)))
    }

    /// Consumes the rest of the current line (and its newline); returns its length.
    fn discard_line(&mut self) -> io::Result<u64> {
        let mut n = 0u64;
        loop {
            let avail = match self.reader.fill_buf() {
                Ok(a) => a,
                Err(e) => match crate::DecompressedLimit::of(&e) {
                    Some(max) => {
                        self.limit_hit = Some((max, self.next_line));
                        self.eof = true;
                        return Ok(n);
                    }
                    None => return Err(e),
                },
            };
            if avail.is_empty() {
                self.eof = true;
                return Ok(n);
            }
            match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    n += i as u64;
                    self.reader.consume(i + 1);
                    return Ok(n);
                }
                None => {
                    n += avail.len() as u64;
                    let l = avail.len();
                    self.reader.consume(l);
                }
            }
        }
    }

    fn skip_long_line(&mut self, len: u64) {
        let mut stats = DecodeStats::default();
        stats.bytes += len + 1;
        stats.skip(
            "line too long",
            &self.path,
            self.next_line,
            format!("{len} bytes, limit {}", self.opts.max_line_bytes),
        );
        self.next_line += 1;
        self.pending.push_back(Slot::Ready(ChunkOut {
            events: Vec::new(),
            stats,
            impure: None,
            first_line: self.next_line,
            spare: None,
        }));
    }
}

/// Every line is blank or starts (after blanks) with `{` or `[`, or is a whole
/// container-log line (CRI `F`) whose record does.
fn pure_json_lines(bytes: &[u8]) -> bool {
    crate::stream::split_lines(bytes).all(|l| match l.iter().find(|b| !b.is_ascii_whitespace()) {
        None | Some(b'{' | b'[') => true,
        Some(b'0'..=b'9') => crate::framing::container_log_line(l).is_some_and(|c| {
            !c.partial && matches!(c.payload.trim_ascii_start().first(), Some(b'{' | b'['))
        }),
        Some(_) => false,
    })
}

/// A chunk decoded on its own is right only if no line in it went on into the next
/// (a multi-line document, a split container-log line): otherwise the ordered stream
/// decodes it, with what came before.
fn spanning(bytes: Vec<u8>, mut out: ChunkOut, events_before: usize) -> ChunkOut {
    out.events.truncate(events_before);
    out.stats = DecodeStats::default();
    out.impure = Some(bytes);
    out.spare = None;
    out
}

fn decode_chunk(
    path: Arc<str>,
    opts: DecodeOptions,
    bytes: Vec<u8>,
    events: Vec<Event>,
    first_line: u64,
    filter: Option<&dyn RecordFilter>,
) -> ChunkOut {
    if !pure_json_lines(&bytes) {
        return ChunkOut {
            events,
            stats: DecodeStats::default(),
            impure: Some(bytes),
            first_line,
            spare: None,
        };
    }
    let before = events.len();
    let (mut out, spanned) = decode_json_lines(path, opts, &bytes, events, first_line, filter);
    if spanned {
        return spanning(bytes, out, before);
    }
    out.spare = Some(bytes);
    out
}

/// Records are several hundred bytes and most give one or two events: sizing the
/// output once avoids regrowing it (and faulting in fresh pages) chunk after chunk.
const BYTES_PER_EVENT_GUESS: usize = 512;

fn decode_json_lines(
    path: Arc<str>,
    opts: DecodeOptions,
    bytes: &[u8],
    mut events: Vec<Event>,
    first_line: u64,
    filter: Option<&dyn RecordFilter>,
) -> (ChunkOut, bool) {
    events.reserve(bytes.len() / BYTES_PER_EVENT_GUESS);
    let mut out = ChunkOut {
        events,
        stats: DecodeStats::default(),
        impure: None,
        first_line,
        spare: None,
    };
    let opts_max = opts.max_line_bytes;
    let mut s = EventStream::detached(path, opts);
    let Some(filter) = filter else {
        s.decode_lines(bytes, first_line, &mut out.events, &mut out.stats);
        return (out, s.spanned_lines());
    };
    if bytes.is_empty() {
        return (out, false);
    }
    let mut line_no = first_line;
    let mut rest = bytes;
    while !rest.is_empty() {
        // The line with its newline, when it has one (the input's last may not).
        let (line, whole) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[..=i]),
            None => (rest, rest),
        };
        rest = &rest[whole.len()..];
        let newline = (whole.len() - line.len()) as u64;
        if line.is_empty() {
            out.stats.bytes += newline;
            line_no += 1;
            continue;
        }
        // An overlong line is a located skip whatever it holds: the length limit comes
        // before any look at the content. Nothing is skipped once a line went on into
        // the next: the chunk is handed back whole.
        if s.spanned_lines() {
            return (out, true);
        }
        let skip = if line.len() > opts_max {
            None
        } else {
            filter.skip_why(line)
        };
        match skip {
            Some((format, why)) => {
                let l = line.strip_suffix(b"\r").unwrap_or(line);
                out.stats.bytes += l.len() as u64 + newline;
                out.stats.record(format, 0);
                out.stats.prefilter(why);
                // Counted as the stream counts what it unwraps, decoded or not.
                if let Some(shipper) = crate::framing::shipper_of(line) {
                    out.stats.shipped(shipper);
                }
            }
            None => {
                // `decode_lines` counts the line's bytes itself.
                s.decode_lines(whole, line_no, &mut out.events, &mut out.stats);
            }
        }
        line_no += 1;
    }
    let spanned = s.spanned_lines();
    (out, spanned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const JSON: &str = r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"x"}},"timeNano":5}"#;

    /// JSON records, blank and CRLF lines, garbage, a text format whose state runs from
    /// line to line (containerd), an overlong line, and no newline at the end.
    fn mixed() -> String {
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(JSON);
            s.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
            if i % 11 == 0 {
                s.push_str("\n  \nnot a record\n");
            }
            if i == 20 {
                s.push_str("2026-11-20 09:00:00.5 +0000 UTC k8s.io /containers/create {\"id\":\"c1\",\"image\":\"ghcr.io/evil/x:1\"}\n");
                s.push_str("2026-11-20 09:00:01.5 +0000 UTC k8s.io /tasks/start {\"container_id\":\"c1\",\"pid\":42}\n");
                s.push_str(&"y".repeat(300));
                s.push('\n');
            }
        }
        s.push_str("2026-11-20 09:00:02.5 +0000 UTC k8s.io /tasks/exit {\"container_id\":\"c1\",\"id\":\"c1\",\"pid\":42}");
        s
    }

    fn opts() -> DecodeOptions {
        DecodeOptions {
            max_line_bytes: 200,
            ..DecodeOptions::default()
        }
    }

    fn input(data: &str) -> Input {
        Input {
            path: Arc::from("mem"),
            size: None,
            reader: Box::new(Cursor::new(data.as_bytes().to_vec())),
        }
    }

    fn sequential(data: &str) -> (Vec<Event>, DecodeStats) {
        let mut s = EventStream::new(input(data), opts());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        (out, stats)
    }

    /// Asserts that `data` decodes to `want` and `want_stats` for each chunk size and
    /// one to three threads.
    fn same_for_any_chunking(
        data: &str,
        chunks: &[usize],
        want: &[Event],
        want_stats: &DecodeStats,
    ) {
        for &chunk_bytes in chunks {
            for threads in [1, 2, 3] {
                let (got, stats) = run(data, chunk_bytes, threads, None);
                assert_eq!(got, want, "chunk {chunk_bytes}, threads {threads}");
                assert_eq!(&stats, want_stats, "chunk {chunk_bytes}, threads {threads}");
            }
        }
    }

    fn run(
        data: &str,
        chunk_bytes: usize,
        threads: usize,
        filter: Option<Arc<dyn RecordFilter>>,
    ) -> (Vec<Event>, DecodeStats) {
        let pool = (threads > 1).then(|| Pool::new(threads).unwrap());
        let chunk = ChunkOptions {
            chunk_bytes,
            inflight: 3,
        };
        let mut s = ParallelStream::new(input(data), opts(), chunk, pool, filter).unwrap();
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        (out, stats)
    }

    #[test]
    fn chunked_decoding_equals_sequential_for_any_threads_and_chunk_size() {
        let data = mixed();
        let (want, want_stats) = sequential(&data);
        assert_eq!(want_stats.skipped["line too long"].count, 1);
        assert!(want_stats
            .formats
            .contains_key(&pullwatch_model::Format::ContainerdEvents));
        assert!(want.len() > 40, "{want_stats:?}");
        same_for_any_chunking(&data, &[1, 7, 64, 150, 1000, 1 << 20], &want, &want_stats);
    }

    /// Records behind container-log prefixes, split by the runtime into partial lines
    /// (which may fall on either side of a chunk boundary), and JSON documents in the
    /// middle of the input, whole, broken and followed by lines on their last line.
    fn framed() -> String {
        let (a, b) = JSON.split_at(30);
        let mut s = String::new();
        for i in 0..12 {
            s.push_str(&format!("2026-11-20T09:00:4{}Z stdout F {JSON}\n", i % 10));
            s.push_str(&format!("2026-11-20T09:00:41Z stdout P {a}\n"));
            if i % 3 == 0 {
                s.push_str("2026-11-20T09:00:41Z stderr F warning\n");
            }
            s.push_str(&format!("2026-11-20T09:00:41Z stdout F {b}\n"));
            s.push_str(&format!(
                "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-20T09:00:43Z\"}}\n",
                JSON.replace('"', "\\\"")
            ));
            s.push_str(JSON);
            s.push('\n');
            if i == 4 {
                s.push_str(&format!(
                    "{{\"Records\": [\n  {JSON},\n  {JSON}\n]}}{JSON}\n"
                ));
            }
            if i == 8 {
                s.push_str("[\n  {\"Type\": \"container\",\nnot json at all\n");
            }
        }
        s
    }

    #[test]
    fn container_log_lines_and_documents_decode_alike_for_any_threads_and_chunk_size() {
        let data = framed();
        let (want, want_stats) = sequential(&data);
        assert_eq!(
            want_stats.skipped["invalid JSON"].count, 1,
            "{want_stats:?}"
        );
        // 12 prefixed, 12 joined from partial lines, 12 json-file, 12 plain, 3 around
        // the documents.
        assert_eq!(want.len(), 51, "{want_stats:?}");
        same_for_any_chunking(&data, &[1, 7, 64, 150, 1000, 1 << 20], &want, &want_stats);
    }

    #[test]
    fn the_prefilter_sees_the_record_behind_a_container_log_prefix() {
        let exec = r#"{"Type":"container","Action":"exec_start: sh -c id","Actor":{"ID":"abc","Attributes":{"image":"nginx"}},"timeNano":5}"#;
        let trusted: Arc<dyn RecordFilter> =
            Arc::new(crate::Prefilter::new(Arc::new(|i: &str| i == "nginx")));
        let data = format!("2026-11-20T09:00:41Z stdout F {exec}\n{exec}\n");
        let (out, stats) = run(&data, 1 << 20, 2, Some(trusted.clone()));
        assert!(out.is_empty());
        assert_eq!(stats.prefiltered, 2);
        // Split by the runtime, the record is read whole by the ordered stream.
        let (a, b) = exec.split_at(20);
        let data =
            format!("2026-11-20T09:00:41Z stdout P {a}\n2026-11-20T09:00:41Z stdout F {b}\n");
        let (_, stats) = run(&data, 1 << 20, 2, Some(trusted));
        assert_eq!(stats.prefiltered, 0);
        assert_eq!(
            stats.formats[&pullwatch_model::Format::DockerEvents].records,
            1
        );
    }

    /// Records in shippers' envelopes, nested as strings and as objects, one with
    /// garbage inside, between bare records.
    fn shipped() -> String {
        let q = serde_json::to_string(JSON).unwrap_or_default();
        let mut s = String::new();
        for i in 0..10 {
            s.push_str(&format!("{{\"message\":{q},\"source_type\":\"file\"}}\n"));
            s.push_str(&format!("{{\"log\":{q},\"kubernetes\":{{}}}}\n"));
            s.push_str(&format!("{{\"json\":{JSON},\"n\":{i}}}\n"));
            if i == 5 {
                s.push_str("{\"message\":\"{\\\"cut\\\": \",\"source_type\":\"file\"}\n");
            }
            s.push_str(JSON);
            s.push('\n');
        }
        s
    }

    #[test]
    fn records_in_shippers_envelopes_decode_on_workers_as_in_order() {
        let data = shipped();
        assert!(pure_json_lines(data.as_bytes()));
        let (want, want_stats) = sequential(&data);
        assert_eq!(want.len(), 40, "{want_stats:?}");
        assert_eq!(want_stats.skipped["invalid JSON"].first[0].line, 24);
        let shipped: Vec<(&str, u64)> = want_stats.shipped.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(
            shipped,
            [("fluent-bit", 10), ("other shipper", 10), ("vector", 11)]
        );
        same_for_any_chunking(&data, &[1, 64, 1000, 1 << 20], &want, &want_stats);
    }

    #[test]
    fn the_prefilter_sees_the_record_in_a_shippers_envelope_soundly() {
        let exec = r#"{"Type":"container","Action":"exec_start: sh -c id","Actor":{"ID":"abc","Attributes":{"image":"nginx"}},"timeNano":5}"#;
        let filter = crate::Prefilter::new(Arc::new(|i: &str| i == "nginx"));
        let q = serde_json::to_string(exec).unwrap_or_default();
        // A record carried as an escaped string is decoded in full (the prefilter does
        // not unescape what the stream would unescape again), and soundly so.
        let strings = [
            format!(r#"{{"message":{q},"source_type":"docker_logs"}}"#),
            format!(r#"{{"@timestamp":"t","event":{{"original":{q}}},"ecs":{{}}}}"#),
        ];
        for w in &strings {
            assert_eq!(
                crate::audit_skip(&filter, w.as_bytes(), |_| true).ok(),
                Some(None)
            );
        }
        // As an object, or with a shipper's keys beside it, it is looked into.
        let wrapped = [
            format!(r#"{{"json":{exec}}}"#),
            format!(r#"{{"payload":{exec},"@timestamp":"t"}}"#),
            format!(
                r#"{},"source_type":"docker_logs","host":"n1"}}"#,
                &exec[..exec.len() - 1]
            ),
        ];
        for w in &wrapped {
            assert_eq!(
                crate::audit_skip(&filter, w.as_bytes(), |_| true).ok(),
                Some(Some(pullwatch_model::Format::DockerEvents)),
                "{w}"
            );
            // An untrusted image in the same envelope is decoded.
            let evil = w.replace("nginx", "evil.example/x");
            assert_eq!(crate::RecordFilter::skip(&filter, evil.as_bytes()), None);
        }
        // A record of its own with a wrapper key is judged as itself, not unwrapped.
        let own = format!(r#"{{"message":{q},"involvedObject":{{}},"reason":"Pulled"}}"#);
        assert_eq!(crate::RecordFilter::skip(&filter, own.as_bytes()), None);
        let trusted: Arc<dyn RecordFilter> = Arc::new(filter);
        let data: String = wrapped
            .iter()
            .chain(&strings)
            .map(|w| format!("{w}\n"))
            .collect();
        let big = DecodeOptions::default();
        let mut s = ParallelStream::new(
            input(&data),
            big,
            ChunkOptions {
                chunk_bytes: 1 << 20,
                inflight: 3,
            },
            Some(Pool::new(2).unwrap()),
            Some(trusted),
        )
        .unwrap();
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        // The two string envelopes are decoded: two exec events of a trusted image.
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(stats.prefiltered, 3);
        let shipped: Vec<(&str, u64)> = stats.shipped.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(
            shipped,
            [("filebeat", 1), ("other shipper", 2), ("vector", 1)]
        );
    }

    #[test]
    fn a_json_document_is_decoded_whole() {
        let doc = format!("[\n  {JSON},\n  {JSON}\n]\n");
        let (want, _) = sequential(&doc);
        assert_eq!(want.len(), 2);
        let (got, _) = run(&doc, 8, 2, None);
        assert_eq!(got, want);
    }

    struct SkipDocker;
    impl RecordFilter for SkipDocker {
        fn skip(&self, line: &[u8]) -> Option<pullwatch_model::Format> {
            line.starts_with(b"{\"Type\"")
                .then_some(pullwatch_model::Format::DockerEvents)
        }
    }

    #[test]
    fn filtered_records_are_counted_not_decoded() {
        // A text line makes its chunk impure: nothing in it is filtered.
        let data = format!("{JSON}\nnot json\n{JSON}\n");
        let (out, _) = run(&data, 1 << 20, 1, Some(Arc::new(SkipDocker)));
        assert_eq!(out.len(), 2);
        let data = format!("{JSON}\n\n{JSON}\n");
        let (out, stats) = run(&data, 1 << 20, 2, Some(Arc::new(SkipDocker)));
        assert!(out.is_empty());
        assert_eq!(stats.prefiltered, 2);
        // Counted by the reason the filter gave, merged across the two workers.
        assert_eq!(
            stats
                .prefiltered_why
                .get("no loaded analytic can use the record"),
            Some(&2)
        );
        assert_eq!(
            stats.formats[&pullwatch_model::Format::DockerEvents].records,
            2
        );
        assert_eq!(stats.bytes, data.len() as u64);
    }
}
