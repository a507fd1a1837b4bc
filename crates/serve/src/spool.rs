//! Records pushed over HTTP are appended to a spool file before they are acknowledged,
//! and the spool is followed like any sensor's log. Pushed records therefore take the
//! same path as followed ones (one reader, one decoder, one checkpoint), survive a
//! restart of the service (the checkpoint names a position in the spool like in any
//! file), and what is waiting is bounded by bytes on disk: past the backlog limit a
//! push is refused with 429 rather than held in memory.
//!
//! Each pushing source (`?source=NAME`: a Falco instance, the API server's webhook)
//! has spool files of its own, and so an event-time clock of its own in the merge: one
//! sensor that pushes minutes behind the others holds them back instead of having its
//! records arrive too late.

use serde::de::IgnoredAny;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// A segment is closed and a new one started past this size, so that read segments can
/// be deleted.
const SEGMENT_BYTES: u64 = 64 << 20;

/// How many distinct `?source=` names the spool takes. Each one holds an open file, a
/// clock in the merge, decoder state and metric series for the service's life: a client
/// that invents a name per request must not grow them without bound. A deployment has
/// one per pushing sensor, a handful to a few dozen.
pub const MAX_SOURCES: usize = 256;

pub struct Spool {
    dir: PathBuf,
    /// The segment being written, by source name.
    current: Mutex<HashMap<String, Segment>>,
    backlog_limit: u64,
    written: AtomicU64,
    consumed: AtomicU64,
    /// Counts segments opened: the reader looks for new files when it changes instead
    /// of waiting for its next periodic look, so a push is read at once.
    opened: AtomicU64,
    /// Distinct names clients pushed under (changed under the `current` lock).
    pushed_names: AtomicU64,
}

struct Segment {
    file: File,
    seq: u64,
    size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("a source name is 1 to 64 letters, digits, '-' or '_'")]
    BadSource,
    #[error("this service takes pushes from at most {0} source names")]
    TooManySources(usize),
    #[error("the ingest backlog is full ({0} bytes waiting)")]
    Full(u64),
    #[error("cannot write the ingest spool: {0}")]
    Io(#[from] io::Error),
}

/// The source pushes go to when they name none.
pub const DEFAULT_SOURCE: &str = "default";

fn segment_path(dir: &Path, source: &str, seq: u64) -> PathBuf {
    dir.join(format!("ingest-{source}-{seq:08}.jsonl"))
}

/// The source and sequence number of a spool segment's path: a source's segments are
/// one stream, written one after the other (see [`crate::follow::Follower::sequence_by`]).
pub fn segment_of(path: &Path) -> Option<(&str, u64)> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("ingest-")?.strip_suffix(".jsonl")?;
    let (source, seq) = rest.rsplit_once('-')?;
    if !valid_source(source) || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((source, seq.parse().ok()?))
}

/// What the metrics call a spool segment: all of one source's segments under one name
/// (`…/ingest-falco-*.jsonl`), so that a series per pusher lasts while its segments come
/// and go, rather than a new series for every segment ever written.
pub fn metrics_label(path: &Path) -> Option<String> {
    let (source, _) = segment_of(path)?;
    Some(
        path.with_file_name(format!("ingest-{source}-*.jsonl"))
            .display()
            .to_string(),
    )
}

/// A source name is part of a file name: nothing that could climb out of the spool
/// directory or collide with another source's files.
fn valid_source(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Spool {
    /// The spool in `dir` (created when missing).
    pub fn open(dir: &Path, backlog_limit: u64) -> io::Result<Spool> {
        std::fs::create_dir_all(dir)?;
        Ok(Spool {
            dir: dir.to_path_buf(),
            current: Mutex::new(HashMap::new()),
            backlog_limit,
            written: AtomicU64::new(0),
            consumed: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            pushed_names: AtomicU64::new(0),
        })
    }

    /// The newest segment a source has on disk (a restart appends to it).
    fn newest_seq(&self, source: &str) -> io::Result<u64> {
        let prefix = format!("ingest-{source}-");
        let mut seq = 1;
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix(".jsonl"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                seq = seq.max(n);
            }
        }
        Ok(seq)
    }

    /// The glob the follower reads the spool by.
    pub fn pattern(&self) -> String {
        self.dir.join("ingest-*.jsonl").display().to_string()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segments being written: never deleted.
    pub fn current_paths(&self) -> Vec<PathBuf> {
        self.current.lock().map_or(Vec::new(), |m| {
            m.iter()
                .map(|(src, seg)| segment_path(&self.dir, src, seg.seq))
                .collect()
        })
    }

    /// Bytes accepted and not yet read by the pipeline.
    pub fn backlog(&self) -> u64 {
        self.written
            .load(Ordering::Relaxed)
            .saturating_sub(self.consumed.load(Ordering::Relaxed))
    }

    /// The pipeline read `n` bytes of the spool.
    pub fn consumed(&self, n: u64) {
        self.consumed.fetch_add(n, Ordering::Relaxed);
    }

    /// Appends `lines` (whole lines, each ending in `\n`) to `source`'s segment in one
    /// write, so a reader never sees half of one request interleaved with another.
    /// For the service's own writers (Docker's event stream), whose names are fixed.
    pub fn append(&self, source: &str, lines: &[u8]) -> Result<(), SpoolError> {
        self.append_to(source, &[lines], false)
    }

    /// [`Spool::append`] for a name a client chose, of a body in the parts it arrived
    /// in (see [`to_lines`]): a new name past [`MAX_SOURCES`] pushed names is refused.
    pub fn push(&self, source: &str, parts: &[&[u8]]) -> Result<(), SpoolError> {
        self.append_to(source, parts, true)
    }

    fn append_to(&self, source: &str, parts: &[&[u8]], pushed: bool) -> Result<(), SpoolError> {
        if !valid_source(source) {
            return Err(SpoolError::BadSource);
        }
        let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        let backlog = self.backlog();
        if backlog.saturating_add(len) > self.backlog_limit {
            return Err(SpoolError::Full(backlog));
        }
        let mut map = self
            .current
            .lock()
            .map_err(|_| io::Error::other("spool lock poisoned"))?;
        if !map.contains_key(source) {
            if pushed {
                if self.pushed_names.load(Ordering::Relaxed) >= MAX_SOURCES as u64 {
                    return Err(SpoolError::TooManySources(MAX_SOURCES));
                }
                self.pushed_names.fetch_add(1, Ordering::Relaxed);
            }
            let seq = self.newest_seq(source)?;
            map.insert(source.to_string(), self.segment(source, seq)?);
        }
        let Some(seg) = map.get_mut(source) else {
            return Err(SpoolError::Io(io::Error::other("spool segment missing")));
        };
        if seg.size >= SEGMENT_BYTES {
            *seg = self.segment(source, seg.seq + 1)?;
        }
        write_parts(&mut seg.file, parts)?;
        seg.size += len;
        self.written.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Segments opened for writing so far: a change means a file the reader has not seen.
    pub fn segments_opened(&self) -> u64 {
        self.opened.load(Ordering::Acquire)
    }

    fn segment(&self, source: &str, seq: u64) -> io::Result<Segment> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, source, seq))?;
        let size = file.metadata()?.len();
        self.opened.fetch_add(1, Ordering::Release);
        Ok(Segment { file, seq, size })
    }
}

/// Writes `parts` one after the other with as few system calls as the kernel allows
/// (`writev`): a body that arrived in several frames goes to the spool without first
/// being copied into one buffer.
fn write_parts(file: &mut File, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    IoSlice::advance_slices(&mut rest, 0);
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One request's body as spool lines, from the parts (frames) it arrived in.
///
/// A JSON array is split into its elements, a single JSON document (pretty-printed or
/// not) is one record, anything else is taken as lines (NDJSON, or a text format such as
/// auditd). A JSON value's own line breaks lie outside its strings (inside them they
/// would be escaped), so turning them into spaces keeps the value and makes it one line.
/// With `list_items`, an object's `items` (a Kubernetes `EventList`) are the records.
/// Returns the lines and their count.
///
/// A body that already is spool lines (NDJSON as shippers send it: almost every push)
/// comes back as the parts it came in, not copied: joining the frames of a large body,
/// or cleaning up a copy of it, costs a buffer its size, freshly faulted in, for every
/// request, on the thread that shares the core with the pipeline.
pub fn to_lines<'a>(parts: &'a [&'a [u8]], list_items: bool) -> (Lines<'a>, u64) {
    if let Some(n) = already_lines(parts) {
        if !maybe_one_document(parts, n) {
            return (Lines::AsSent(parts), n);
        }
    }
    if let [whole] = parts {
        return match whole_to_lines(whole, list_items) {
            (Cow::Borrowed(_), n) => (Lines::AsSent(parts), n),
            (Cow::Owned(v), n) => (Lines::Rewritten(v), n),
        };
    }
    let whole = parts.concat();
    let (lines, n) = whole_to_lines(&whole, list_items);
    let lines = match lines {
        Cow::Owned(v) => v,
        Cow::Borrowed(_) => whole,
    };
    (Lines::Rewritten(lines), n)
}

/// A body as the spool takes it (see [`to_lines`]).
#[derive(Debug)]
pub enum Lines<'a> {
    /// The body was already spool lines: its parts, as they arrived.
    AsSent(&'a [&'a [u8]]),
    /// The lines made of it.
    Rewritten(Vec<u8>),
}

impl Lines<'_> {
    /// The bytes to write, in order.
    pub fn parts(&self) -> Vec<&[u8]> {
        match self {
            Lines::AsSent(parts) => parts.to_vec(),
            Lines::Rewritten(v) => vec![v],
        }
    }
}

/// Whether a body that is already lines could still be one JSON document, which
/// [`whole_to_lines`] would make one line of: a JSON array, a body of one line, or an
/// object whose first line is not a whole value (pretty-printed). When the first line of
/// an object is a whole value, the lines after it cannot belong to the same document.
fn maybe_one_document(parts: &[&[u8]], n: u64) -> bool {
    let Some(first) = parts.iter().find(|p| !p.is_empty()) else {
        return false;
    };
    match first[0] {
        b'[' => true,
        b'{' if n == 1 => true,
        b'{' => match memchr::memchr(b'\n', first) {
            Some(end) => serde_json::from_slice::<IgnoredAny>(&first[..end]).is_err(),
            None => true,
        },
        _ => false,
    }
}

/// [`to_lines`] on a body in one piece.
fn whole_to_lines(body: &[u8], list_items: bool) -> (Cow<'_, [u8]>, u64) {
    let trimmed = body.trim_ascii();
    let mut out = Vec::new();
    let mut n = 0;
    let mut one = |v: &[u8], out: &mut Vec<u8>| {
        out.extend(
            v.iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
        out.push(b'\n');
        n += 1;
    };
    if trimmed.starts_with(b"[") {
        if let Ok(items) = serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(trimmed) {
            for i in items {
                one(i.get().as_bytes(), &mut out);
            }
            return (Cow::Owned(out), n);
        }
    } else if trimmed.starts_with(b"{") {
        if list_items {
            #[derive(serde::Deserialize)]
            struct List<'a> {
                #[serde(borrow)]
                items: Option<Vec<&'a serde_json::value::RawValue>>,
            }
            if let Ok(List { items: Some(items) }) = serde_json::from_slice::<List>(trimmed) {
                for i in items {
                    one(i.get().as_bytes(), &mut out);
                }
                return (Cow::Owned(out), n);
            }
        }
        if serde_json::from_slice::<&serde_json::value::RawValue>(trimmed).is_ok() {
            one(trimmed, &mut out);
            return (Cow::Owned(out), n);
        }
    }
    if let Some(n) = already_lines(&[body]) {
        return (Cow::Borrowed(body), n);
    }
    // Lines to clean up: memchr finds their ends, as the reader does later.
    out.reserve(trimmed.len() + 1);
    let mut rest = trimmed;
    while !rest.is_empty() {
        let (line, after) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = after;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.trim_ascii().is_empty() {
            out.extend_from_slice(line);
            out.push(b'\n');
            n += 1;
        }
    }
    (Cow::Owned(out), n)
}

/// The number of lines when the body in `parts` is already what the spool holds: every
/// line a record ending in `\n`, none blank, none ending in `\r`, nothing to trim
/// around the body. One pass over the bytes, across the parts' boundaries: a line may
/// begin in one frame and end in the next.
fn already_lines(parts: &[&[u8]]) -> Option<u64> {
    let first = parts.iter().find_map(|p| p.first())?;
    if first.is_ascii_whitespace() {
        return None;
    }
    let mut n = 0;
    // Whether the line so far has a byte that is not whitespace; its last byte.
    let mut filled = false;
    let mut last = b'\n';
    fn take(seg: &[u8], filled: &mut bool, last: &mut u8) {
        if let Some(&b) = seg.last() {
            *filled = *filled || !seg.trim_ascii_start().is_empty();
            *last = b;
        }
    }
    // The last byte of the body's last line, before its `\n`.
    let mut line_end = b'\n';
    for part in parts {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', part) {
            take(&part[start..end], &mut filled, &mut last);
            if !filled || last == b'\r' {
                return None;
            }
            n += 1;
            line_end = last;
            (filled, last) = (false, b'\n');
            start = end + 1;
        }
        take(&part[start..], &mut filled, &mut last);
    }
    (last == b'\n' && !line_end.is_ascii_whitespace()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(lines: &Lines) -> Vec<u8> {
        lines.parts().concat()
    }

    fn lines(body: &str, items: bool) -> (String, u64) {
        let parts = [body.as_bytes()];
        let (b, n) = to_lines(&parts, items);
        (String::from_utf8(flat(&b)).unwrap(), n)
    }

    /// Line by line, the way any body that is not JSON is taken.
    fn line_by_line(body: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let mut n = 0;
        for line in body.trim_ascii().split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.trim_ascii().is_empty() {
                out.extend_from_slice(line);
                out.push(b'\n');
                n += 1;
            }
        }
        (out, n)
    }

    /// `body` cut at `cuts` (positions, in any order, repeats allowed).
    fn cut<'a>(body: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
        at.sort_unstable();
        let mut parts = Vec::new();
        let mut start = 0;
        for c in at {
            parts.push(&body[start..c]);
            start = c;
        }
        parts.push(&body[start..]);
        parts
    }

    proptest::proptest! {
        /// Whether a body is written as it came or cleaned up line by line, the spool
        /// gets the same lines.
        #[test]
        fn a_body_taken_as_it_came_is_what_line_by_line_would_give(
            body in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'b', b' ', b'\t', b'\n', b'\r']),
                0..40,
            ),
            cuts in proptest::collection::vec(0usize..64, 0..4),
        ) {
            let parts = cut(&body, &cuts);
            let (got, n) = to_lines(&parts, false);
            let (want, want_n) = line_by_line(&body);
            proptest::prop_assert_eq!(flat(&got), want);
            proptest::prop_assert_eq!(n, want_n);
        }

        /// However the frames of a body are cut, the spool gets what the body in one
        /// piece gives: JSON documents, arrays and lists included.
        #[test]
        fn the_frames_a_body_arrived_in_do_not_change_its_lines(
            body in proptest::collection::vec(
                proptest::sample::select(
                    vec![b'{', b'}', b'[', b']', b'"', b':', b',', b'1', b'a', b' ', b'\n', b'\r']
                ),
                0..48,
            ),
            cuts in proptest::collection::vec(0usize..64, 1..5),
            items in proptest::bool::ANY,
        ) {
            let (whole, n) = whole_to_lines(&body, items);
            let parts = cut(&body, &cuts);
            let (got, got_n) = to_lines(&parts, items);
            proptest::prop_assert_eq!(flat(&got), whole.into_owned());
            proptest::prop_assert_eq!(got_n, n);
        }
    }

    #[test]
    fn ndjson_as_shippers_send_it_is_not_copied() {
        let body: &[u8] = b"{\"a\":1}\n{\"a\":2}\n";
        let parts = [body];
        let (got, n) = to_lines(&parts, false);
        assert!(matches!(got, Lines::AsSent(_)));
        assert_eq!((flat(&got), n), (body.to_vec(), 2));
        // Nor when it arrived in frames that cut its lines.
        let parts: [&[u8]; 3] = [b"{\"a\":1}\n{\"a", b"\":2}", b"\n{\"a\":3}\n"];
        let (got, n) = to_lines(&parts, false);
        assert!(matches!(got, Lines::AsSent(_)));
        assert_eq!(n, 3);
        // A carriage return inside a line stays, as line by line keeps it.
        let parts: [&[u8]; 1] = [b"type=EXECVE a\rb\n"];
        let (got, _) = to_lines(&parts, false);
        assert!(matches!(got, Lines::AsSent(_)));
        let parts: [&[u8]; 1] = [b"{\"a\":1}\r\n{\"a\":2}\n"];
        let (got, _) = to_lines(&parts, false);
        assert!(matches!(got, Lines::Rewritten(_)));
        assert_eq!(flat(&got), b"{\"a\":1}\n{\"a\":2}\n");
        // A document pretty-printed over several frames is still one record.
        let parts: [&[u8]; 2] = [b"{\n  \"a\":", b" 1\n}\n"];
        let (got, n) = to_lines(&parts, false);
        assert_eq!((flat(&got), n), (b"{   \"a\": 1 }\n".to_vec(), 1));
    }

    #[test]
    fn bodies_become_one_record_per_line() {
        assert_eq!(
            lines("{\"a\":1}\n{\"a\":2}\n", false),
            ("{\"a\":1}\n{\"a\":2}\n".into(), 2)
        );
        assert_eq!(
            lines("[{\"a\":1},\n {\"a\":\"x\\ny\"}]", false),
            ("{\"a\":1}\n{\"a\":\"x\\ny\"}\n".into(), 2)
        );
        assert_eq!(
            lines("{\n  \"a\": 1\n}\n", false),
            ("{   \"a\": 1 }\n".into(), 1)
        );
        assert_eq!(
            lines(
                "{\"kind\":\"EventList\",\"items\":[{\"auditID\":\"1\"},{\"auditID\":\"2\"}]}",
                true
            ),
            ("{\"auditID\":\"1\"}\n{\"auditID\":\"2\"}\n".into(), 2)
        );
        assert_eq!(
            lines("type=SYSCALL msg=audit(1.0:1): x\r\n\r\n", false),
            ("type=SYSCALL msg=audit(1.0:1): x\n".into(), 1)
        );
    }

    #[test]
    fn past_the_backlog_limit_a_push_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 10).unwrap();
        s.append("falco", b"12345678\n").unwrap();
        assert!(matches!(
            s.append("falco", b"abc\n"),
            Err(SpoolError::Full(9))
        ));
        s.consumed(9);
        s.append("falco", b"abc\n").unwrap();
        let paths = s.current_paths();
        assert_eq!(paths.len(), 1);
        assert_eq!(std::fs::read(&paths[0]).unwrap(), b"12345678\nabc\n");
        assert!(paths[0].ends_with("ingest-falco-00000001.jsonl"));
    }

    #[test]
    fn every_segment_of_a_source_counts_under_one_name() {
        let dir = Path::new("/var/lib/pullwatch/spool");
        let label = |seq| metrics_label(&segment_path(dir, "falco-1", seq));
        assert_eq!(
            label(1).as_deref(),
            Some("/var/lib/pullwatch/spool/ingest-falco-1-*.jsonl")
        );
        assert_eq!(label(1), label(7));
        assert_eq!(metrics_label(Path::new("/var/log/ingest-x.jsonl")), None);
        assert_eq!(metrics_label(Path::new("/var/log/app.log")), None);
    }

    #[test]
    fn a_segment_path_names_its_source_and_number() {
        let dir = Path::new("/var/lib/pullwatch/spool");
        assert_eq!(
            segment_of(&segment_path(dir, "falco-2", 7)),
            Some(("falco-2", 7))
        );
        assert_eq!(segment_of(Path::new("/var/log/ingest-x.jsonl")), None);
        assert_eq!(segment_of(Path::new("/var/log/ingest-x-.jsonl")), None);
        assert_eq!(segment_of(Path::new("/var/log/app.log")), None);
    }

    #[test]
    fn a_source_name_cannot_leave_the_spool_directory() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        for bad in ["", "../x", "a/b", "a.b", &"x".repeat(65)] {
            assert!(
                matches!(s.append(bad, b"x\n"), Err(SpoolError::BadSource)),
                "{bad}"
            );
        }
        s.append("api-server_1", b"x\n").unwrap();
    }

    #[test]
    fn past_the_source_limit_a_new_name_is_refused_and_known_ones_still_push() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 1 << 20).unwrap();
        for i in 0..MAX_SOURCES {
            s.push(&format!("node-{i}"), &[b"x\n"]).unwrap();
        }
        assert!(matches!(
            s.push("one-more", &[b"x\n"]),
            Err(SpoolError::TooManySources(MAX_SOURCES))
        ));
        s.push("node-0", &[b"y\n"]).unwrap();
        // The service's own writers are not clients: Docker's stream still gets its file.
        s.append("docker", b"z\n").unwrap();
        assert_eq!(s.current_paths().len(), MAX_SOURCES + 1);
    }
}
