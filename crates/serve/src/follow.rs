//! Following files as sensors write them: paths and globs expanded again every second
//! (new pods' logs appear), each file read from where the service left it, whole lines
//! only (a line being written is held until its newline), and rotation handled the
//! ways log writers and logrotate do it:
//! - rename and recreate: the old file is read to its end, then the new one from its
//!   start;
//! - truncation in place (`copytruncate`): the file is read again from its start;
//! - a file deleted or moved away is read to its end and then forgotten; one that
//!   appears under its name again is a new file, read from its start. Forgetting is what
//!   keeps a long-running service's memory flat while pods come and go and spool
//!   segments are deleted.
//!
//! Positions are byte offsets with their line numbers and the file's identity (device
//! and inode), so a checkpoint names exactly where to resume.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where reading of one file stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FilePos {
    pub dev: u64,
    pub ino: u64,
    /// Bytes of complete lines before this position.
    pub offset: u64,
    /// Lines before this position.
    pub line: u64,
}

/// Complete lines read from one file.
pub struct Chunk<'a> {
    /// The file's id ([`Tail::id`]).
    pub file: usize,
    pub path: &'a Path,
    pub bytes: &'a [u8],
    /// How many lines `bytes` holds (the last may lack its newline).
    pub lines: u64,
    /// Where the chunk starts.
    pub start: FilePos,
    /// The file was replaced or truncated since the previous chunk: its decoding
    /// state (headers, partial records) starts afresh.
    pub restarted: bool,
}

/// One followed file.
pub struct Tail {
    /// Stable while the file is followed; a file forgotten (deleted) and found again
    /// under its name gets a new one.
    pub id: usize,
    pub path: PathBuf,
    file: Option<File>,
    pos: FilePos,
    /// The end of the last line read whole; bytes after it are `partial`.
    partial: Vec<u8>,
    /// A line longer than the limit is being skipped up to its newline.
    discarding: bool,
    restarted: bool,
    /// No more data will come (unreadable).
    done: bool,
    /// When the file last grew.
    grew: Option<Instant>,
    /// The last read found nothing more and no partial line is waiting.
    at_end: bool,
    /// The stream this file is a numbered part of, and its number (see
    /// [`Follower::sequence_by`]).
    part: Option<(Arc<str>, u64)>,
    /// A part whose stream has a later part, read to its end: it never grows again.
    finished: bool,
}

impl Tail {
    pub fn pos(&self) -> FilePos {
        self.pos
    }

    /// A numbered part of a stream with a later part on disk, read to its end: its
    /// writer has moved on, so it has nothing more to say.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// False while the file is moved away or deleted.
    pub fn is_open(&self) -> bool {
        self.file.is_some()
    }
}

/// What went wrong with one file; the follower carries on with the others.
#[derive(Debug)]
pub struct FollowIssue {
    pub path: PathBuf,
    pub what: String,
}

pub struct Follower {
    patterns: Vec<String>,
    files: Vec<Tail>,
    by_path: HashMap<PathBuf, usize>,
    next_id: usize,
    /// Ids of files deleted or moved away, read to their end and forgotten since the
    /// caller last took them: whatever it keeps for them can go.
    pub gone: Vec<usize>,
    /// Positions to resume from, by path (a checkpoint's).
    resume: HashMap<PathBuf, FilePos>,
    last_scan: Option<Instant>,
    rescan_every: Duration,
    read_budget: usize,
    max_line: usize,
    buf: Vec<u8>,
    pub issues: Vec<FollowIssue>,
    /// Lines longer than the limit, skipped: (path, line number, length so far).
    pub too_long: Vec<(PathBuf, u64, usize)>,
    sequence: Option<Sequence>,
}

/// Names the files that are numbered parts of one stream, written one after the other.
pub type Sequence = Box<dyn Fn(&Path) -> Option<(String, u64)> + Send>;

fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl Follower {
    /// `patterns` are paths or globs (`/var/log/pods/**/*.log`); `max_line` caps a line
    /// held while it is being written.
    pub fn new(
        patterns: Vec<String>,
        resume: HashMap<PathBuf, FilePos>,
        max_line: usize,
    ) -> Follower {
        Follower {
            patterns,
            files: Vec::new(),
            by_path: HashMap::new(),
            next_id: 0,
            gone: Vec::new(),
            resume,
            last_scan: None,
            rescan_every: Duration::from_secs(1),
            read_budget: 1 << 20,
            max_line,
            buf: Vec::new(),
            issues: Vec::new(),
            too_long: Vec::new(),
            sequence: None,
        }
    }

    /// Files that `f` names parts of one stream (a spool source's segments: the writer
    /// starts part n+1 only once part n is complete) are read in order: a part is read
    /// only once every earlier part is read to its end. Reading them side by side would
    /// only hand the caller later records to hold until the earlier part catches up.
    pub fn sequence_by(&mut self, f: Sequence) {
        self.sequence = Some(f);
    }

    /// For each stream, the latest part on disk and the earliest part not finished.
    fn parts(&self) -> HashMap<Arc<str>, (u64, u64)> {
        let mut out: HashMap<Arc<str>, (u64, u64)> = HashMap::new();
        for t in &self.files {
            if let Some((stream, n)) = &t.part {
                let e = out.entry(stream.clone()).or_insert((*n, u64::MAX));
                e.0 = e.0.max(*n);
                if !t.finished {
                    e.1 = e.1.min(*n);
                }
            }
        }
        out
    }

    /// Looks for new files at the next poll rather than at the next periodic look:
    /// the caller knows one was just created (a spool segment).
    pub fn rescan_soon(&mut self) {
        self.last_scan = None;
    }

    pub fn files(&self) -> &[Tail] {
        &self.files
    }

    /// Every path a pattern names now, in sorted order.
    fn expand(&mut self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for p in &self.patterns {
            let is_glob = p.contains(['*', '?', '[']);
            if !is_glob {
                if Path::new(p).is_file() {
                    out.push(PathBuf::from(p));
                }
                continue;
            }
            match glob::glob(p) {
                Ok(paths) => {
                    for entry in paths.flatten() {
                        if entry.is_file() {
                            out.push(entry);
                        }
                    }
                }
                Err(e) => self.issues.push(FollowIssue {
                    path: PathBuf::from(p),
                    what: format!("bad pattern: {e}"),
                }),
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn scan(&mut self, now: Instant) {
        if self
            .last_scan
            .is_some_and(|t| now.duration_since(t) < self.rescan_every)
        {
            return;
        }
        self.last_scan = Some(now);
        for path in self.expand() {
            if self.by_path.contains_key(&path) {
                continue;
            }
            let id = self.next_id;
            let mut tail = Tail {
                id,
                path: path.clone(),
                file: None,
                pos: FilePos {
                    dev: 0,
                    ino: 0,
                    offset: 0,
                    line: 0,
                },
                partial: Vec::new(),
                discarding: false,
                restarted: false,
                done: false,
                grew: None,
                at_end: false,
                part: self
                    .sequence
                    .as_ref()
                    .and_then(|f| f(&path))
                    .map(|(stream, n)| (Arc::from(stream), n)),
                finished: false,
            };
            let resume = self.resume.remove(&path);
            match open_at(&path, resume) {
                Ok((f, pos)) => {
                    tail.file = Some(f);
                    tail.pos = pos;
                }
                Err(e) => {
                    self.issues.push(FollowIssue {
                        path: path.clone(),
                        what: e.to_string(),
                    });
                    continue;
                }
            }
            self.next_id += 1;
            self.by_path.insert(path, id);
            self.files.push(tail);
        }
    }

    /// Reads what the files gained since the last call, up to a budget per file, and
    /// hands each file's complete lines to `each`. Returns the bytes read.
    pub fn poll(&mut self, now: Instant, each: &mut dyn FnMut(Chunk<'_>)) -> usize {
        self.scan(now);
        let mut parts = self.parts();
        let mut total = 0;
        for idx in 0..self.files.len() {
            let Some((stream, n)) = self.files.get(idx).and_then(|t| t.part.clone()) else {
                total += self.poll_one(idx, each);
                continue;
            };
            let Some((latest, earliest_open)) = parts.get_mut(&stream) else {
                continue;
            };
            if n > *earliest_open {
                continue;
            }
            total += self.poll_one(idx, each);
            // A later part on disk was created once this one was complete, and this read
            // came after it was found: at its end now, this part is finished. One that
            // cannot be read (reported as an issue) must not stop the later ones either.
            if let Some(t) = self.files.get_mut(idx) {
                if n < *latest && (t.at_end || t.done) {
                    t.finished = true;
                    *earliest_open = n + 1;
                }
            }
        }
        self.forget_closed();
        total
    }

    /// Drops the files found deleted or moved away (read to their end).
    fn forget_closed(&mut self) {
        if self.files.iter().all(Tail::is_open) {
            return;
        }
        let (gone, by_path) = (&mut self.gone, &mut self.by_path);
        self.files.retain(|t| {
            if t.is_open() {
                return true;
            }
            gone.push(t.id);
            by_path.remove(&t.path);
            false
        });
    }

    fn poll_one(&mut self, idx: usize, each: &mut dyn FnMut(Chunk<'_>)) -> usize {
        let budget = self.read_budget;
        let max_line = self.max_line;
        let Some(tail) = self.files.get_mut(idx) else {
            return 0;
        };
        if tail.done {
            return 0;
        }
        let Some(file) = tail.file.as_mut() else {
            return 0;
        };
        self.buf.clear();
        self.buf.extend_from_slice(&tail.partial);
        let carried = tail.partial.len();
        // The partial line now lives in the shared buffer; the room a long one took is
        // given back rather than kept by every quiet file.
        if tail.partial.capacity() > PARTIAL_ROOM_KEPT {
            tail.partial = Vec::new();
        } else {
            tail.partial.clear();
        }
        let read = match file.take(budget as u64).read_to_end(&mut self.buf) {
            Ok(n) => n,
            Err(e) => {
                self.issues.push(FollowIssue {
                    path: tail.path.clone(),
                    what: e.to_string(),
                });
                tail.done = true;
                return 0;
            }
        };
        if read == 0 {
            // Only the partial line goes back to the file: the shared buffer (as large
            // as the read budget) stays shared. Handing it over would leave every quiet
            // file holding a megabyte, and the next read faulting in a fresh one.
            tail.partial.extend_from_slice(&self.buf[..carried]);
            tail.at_end = carried == 0;
            self.buf.clear();
            self.check_rotation(idx);
            return 0;
        }
        tail.grew = Some(Instant::now());
        tail.at_end = false;
        let buf = std::mem::take(&mut self.buf);
        let mut body: &[u8] = &buf;
        let mut start = tail.pos;
        // A line too long to hold is skipped up to its newline, counted once.
        if tail.discarding {
            match memchr_nl(body) {
                Some(i) => {
                    tail.discarding = false;
                    tail.pos.offset += i as u64 + 1;
                    tail.pos.line += 1;
                    body = &body[i + 1..];
                    start = tail.pos;
                }
                None => {
                    tail.pos.offset += body.len() as u64;
                    self.buf = buf;
                    return read;
                }
            }
        }
        let complete = memchr::memrchr(b'\n', body).map_or(0, |i| i + 1);
        let (lines, rest) = body.split_at(complete);
        if rest.len() > max_line {
            self.too_long.push((
                tail.path.clone(),
                tail.pos.line + count_nl(lines) + 1,
                rest.len(),
            ));
            tail.discarding = true;
            tail.pos.offset += rest.len() as u64;
        } else {
            tail.partial.extend_from_slice(rest);
        }
        if !lines.is_empty() {
            let n = count_nl(lines);
            let restarted = std::mem::take(&mut tail.restarted);
            tail.pos.offset += lines.len() as u64;
            tail.pos.line += n;
            each(Chunk {
                file: tail.id,
                path: &tail.path,
                bytes: lines,
                lines: n,
                start,
                restarted,
            });
        }
        self.buf = buf;
        read
    }

    /// A last line without its newline, in a file that has not grown for `quiet`, is
    /// taken as complete: a writer does not pause for seconds in the middle of a line,
    /// but files copied into place often lack the final newline. Should the line go on
    /// after all, its rest is read as a line of its own (and skipped as malformed).
    pub fn flush_quiet_partials(
        &mut self,
        now: Instant,
        quiet: Duration,
        each: &mut dyn FnMut(Chunk<'_>),
    ) {
        for tail in self.files.iter_mut() {
            if tail.partial.is_empty() || tail.discarding {
                continue;
            }
            if tail.grew.is_some_and(|g| now.duration_since(g) < quiet) {
                continue;
            }
            let start = tail.pos;
            let bytes = std::mem::take(&mut tail.partial);
            tail.pos.offset += bytes.len() as u64;
            tail.pos.line += 1;
            let restarted = std::mem::take(&mut tail.restarted);
            each(Chunk {
                file: tail.id,
                path: &tail.path,
                bytes: &bytes,
                lines: 1,
                start,
                restarted,
            });
        }
    }

    /// At the end of what a file holds: has it been replaced, truncated or deleted?
    fn check_rotation(&mut self, idx: usize) {
        let Some(tail) = self.files.get_mut(idx) else {
            return;
        };
        match std::fs::metadata(&tail.path) {
            Ok(m) => {
                let (dev, ino) = identity(&m);
                if (dev, ino) != (tail.pos.dev, tail.pos.ino) {
                    // Renamed away and recreated: the old one is read to its end
                    // (this call found its end), the new one from its start. A line
                    // left unfinished in the old file is counted lost.
                    if let Ok((f, pos)) = open_at(&tail.path, None) {
                        if !tail.partial.is_empty() {
                            self.issues.push(FollowIssue {
                                path: tail.path.clone(),
                                what: format!(
                                    "rotated with an unfinished last line ({} bytes) at line {}",
                                    tail.partial.len(),
                                    tail.pos.line + 1
                                ),
                            });
                        }
                        tail.file = Some(f);
                        tail.pos = pos;
                        tail.partial.clear();
                        tail.discarding = false;
                        tail.restarted = true;
                        tail.at_end = false;
                        tail.finished = false;
                    }
                } else if m.len() < tail.pos.offset + tail.partial.len() as u64 {
                    // Truncated in place (copytruncate): read again from the start.
                    if let Some(f) = tail.file.as_mut() {
                        if f.seek(SeekFrom::Start(0)).is_ok() {
                            tail.pos.offset = 0;
                            tail.pos.line = 0;
                            tail.partial.clear();
                            tail.discarding = false;
                            tail.restarted = true;
                            tail.at_end = false;
                            tail.finished = false;
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // Deleted or moved away: everything it held has been read, and it is
                // forgotten at the end of this poll. A file that appears under the name
                // again is a new one, read from its start.
                tail.file = None;
            }
            Err(_) => {}
        }
    }
}

/// A quiet file keeps at most this much room for its unfinished last line.
const PARTIAL_ROOM_KEPT: usize = 64 << 10;

fn memchr_nl(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

/// Every byte read passes through here once: memchr's counter, not a byte loop.
fn count_nl(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Opens `path` at a checkpoint's position when it is still the same file and still
/// holds that much; otherwise at its start (it was rotated or truncated meanwhile).
fn open_at(path: &Path, resume: Option<FilePos>) -> io::Result<(File, FilePos)> {
    let mut f = File::open(path)?;
    let m = f.metadata()?;
    let (dev, ino) = identity(&m);
    let fresh = FilePos {
        dev,
        ino,
        offset: 0,
        line: 0,
    };
    match resume {
        Some(r) if (r.dev, r.ino) == (dev, ino) && r.offset <= m.len() => {
            f.seek(SeekFrom::Start(r.offset))?;
            Ok((f, r))
        }
        _ => Ok((f, fresh)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn collect(f: &mut Follower) -> Vec<(String, u64, bool)> {
        let mut out = Vec::new();
        f.poll(Instant::now() + Duration::from_secs(3600), &mut |c| {
            out.push((
                String::from_utf8_lossy(c.bytes).into_owned(),
                c.start.line + 1,
                c.restarted,
            ))
        });
        out
    }

    fn follower(p: &Path) -> Follower {
        let mut f = Follower::new(vec![p.display().to_string()], HashMap::new(), 64);
        f.rescan_every = Duration::ZERO;
        f
    }

    /// A numbered part is read only once every earlier part of its stream has been read
    /// whole: the caller is never handed a later segment's records while an earlier one
    /// still has some. Files of no stream are read as always.
    #[test]
    fn the_parts_of_a_stream_are_read_one_after_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let part = |n: u64| dir.path().join(format!("seg-{n}.log"));
        std::fs::write(part(1), "a1\na2\n").unwrap();
        std::fs::write(part(2), "b1\n").unwrap();
        std::fs::write(dir.path().join("other.log"), "x1\nx2\n").unwrap();
        let pattern = dir.path().join("*.log").display().to_string();
        let mut f = Follower::new(vec![pattern], HashMap::new(), 64);
        f.rescan_every = Duration::ZERO;
        f.read_budget = 3;
        f.sequence_by(Box::new(|p: &Path| {
            let n = p
                .file_stem()?
                .to_str()?
                .strip_prefix("seg-")?
                .parse()
                .ok()?;
            Some(("seg".to_owned(), n))
        }));
        let poll = |f: &mut Follower| {
            let mut out = Vec::new();
            f.poll(Instant::now(), &mut |c| {
                out.push(String::from_utf8_lossy(c.bytes).into_owned())
            });
            out
        };
        assert_eq!(poll(&mut f), vec!["x1\n", "a1\n"]);
        assert_eq!(poll(&mut f), vec!["x2\n", "a2\n"]);
        // Part 1 is found at its end, so part 2 is read in the same poll.
        assert_eq!(poll(&mut f), vec!["b1\n"]);
        let finished: Vec<(String, bool)> = f
            .files()
            .iter()
            .map(|t| {
                (
                    t.path.file_name().unwrap().to_string_lossy().into_owned(),
                    t.finished(),
                )
            })
            .collect();
        assert_eq!(
            finished,
            vec![
                ("other.log".to_owned(), false),
                ("seg-1.log".to_owned(), true),
                ("seg-2.log".to_owned(), false)
            ]
        );
    }

    #[test]
    fn a_line_is_held_until_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\ntw").unwrap();
        let mut f = follower(&p);
        assert_eq!(collect(&mut f), vec![("one\n".into(), 1, false)]);
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"o\nthree\n").unwrap();
        assert_eq!(collect(&mut f), vec![("two\nthree\n".into(), 2, false)]);
        assert_eq!(f.files()[0].pos().line, 3);
        assert!(collect(&mut f).is_empty());
    }

    #[test]
    fn quiet_files_do_not_keep_the_read_buffer() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3)
            .map(|i| dir.path().join(format!("{i}.log")))
            .collect();
        for p in &paths {
            // Many lines and an unfinished one: a large read, then a quiet file.
            std::fs::write(p, format!("{}tail", "line\n".repeat(50_000))).unwrap();
        }
        let pat = dir.path().join("*.log").display().to_string();
        let mut f = Follower::new(vec![pat], HashMap::new(), 1 << 20);
        f.rescan_every = Duration::ZERO;
        assert_eq!(collect(&mut f).len(), 3);
        assert!(collect(&mut f).is_empty());
        for t in f.files() {
            assert_eq!(t.partial, b"tail");
            assert!(t.partial.capacity() < 4096, "{}", t.partial.capacity());
        }
        // The unfinished line is still whole when it ends.
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&paths[1])
            .unwrap();
        w.write_all(b"-end\n").unwrap();
        assert_eq!(collect(&mut f), vec![("tail-end\n".into(), 50_001, false)]);
    }

    #[test]
    fn a_last_line_without_newline_counts_once_the_file_is_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\n}").unwrap();
        let mut f = follower(&p);
        assert_eq!(collect(&mut f).len(), 1);
        let mut got = Vec::new();
        f.flush_quiet_partials(Instant::now(), Duration::from_secs(60), &mut |c| {
            got.push(c.bytes.to_vec())
        });
        assert!(got.is_empty(), "not quiet yet");
        f.flush_quiet_partials(
            Instant::now() + Duration::from_secs(61),
            Duration::from_secs(60),
            &mut |c| got.push(c.bytes.to_vec()),
        );
        assert_eq!(got, vec![b"}".to_vec()]);
        assert_eq!(f.files()[0].pos().offset, 5);
    }

    #[test]
    fn rename_and_recreate_reads_the_old_file_out_then_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\n").unwrap();
        let mut f = follower(&p);
        assert_eq!(collect(&mut f).len(), 1);
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"two\n").unwrap();
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        std::fs::write(&p, "new-one\n").unwrap();
        // The old file's last line first, then (at its end) the switch.
        assert_eq!(collect(&mut f), vec![("two\n".into(), 2, false)]);
        assert!(collect(&mut f).is_empty());
        assert_eq!(collect(&mut f), vec![("new-one\n".into(), 1, true)]);
    }

    #[test]
    fn a_file_moved_away_and_recreated_later_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\n").unwrap();
        let mut f = follower(&p);
        assert_eq!(collect(&mut f).len(), 1);
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        assert!(collect(&mut f).is_empty());
        assert!(collect(&mut f).is_empty());
        // Read to its end and gone: forgotten, and said so once.
        assert!(f.files().is_empty());
        assert_eq!(std::mem::take(&mut f.gone), vec![0]);
        std::fs::write(&p, "two\n").unwrap();
        assert_eq!(collect(&mut f), vec![("two\n".into(), 1, false)]);
        assert_eq!(f.files()[0].id, 1, "a new file, with state of its own");
        assert!(f.gone.is_empty());
    }

    #[test]
    fn truncation_in_place_reads_again_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\ntwo\n").unwrap();
        let mut f = follower(&p);
        assert_eq!(collect(&mut f).len(), 1);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        assert!(collect(&mut f).is_empty());
        std::fs::write(&p, "x\n").unwrap();
        assert_eq!(collect(&mut f), vec![("x\n".into(), 1, true)]);
    }

    #[test]
    fn a_line_longer_than_the_limit_is_skipped_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, format!("ok\n{}", "x".repeat(100))).unwrap();
        let mut f = follower(&p);
        assert_eq!(collect(&mut f), vec![("ok\n".into(), 1, false)]);
        assert_eq!(f.too_long.len(), 1);
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(b"xxxx\nafter\n").unwrap();
        assert_eq!(collect(&mut f), vec![("after\n".into(), 3, false)]);
    }

    #[test]
    fn a_checkpoint_resumes_the_same_file_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, "one\ntwo\n").unwrap();
        let mut f = follower(&p);
        collect(&mut f);
        let mut pos = f.files()[0].pos();
        pos.offset = 4;
        pos.line = 1;
        let mut g = Follower::new(
            vec![p.display().to_string()],
            HashMap::from([(p.clone(), pos)]),
            64,
        );
        assert_eq!(collect(&mut g), vec![("two\n".into(), 2, false)]);
        // Another file under the same name starts from its beginning.
        let mut other = pos;
        other.ino += 1;
        let mut h = Follower::new(
            vec![p.display().to_string()],
            HashMap::from([(p.clone(), other)]),
            64,
        );
        assert_eq!(collect(&mut h), vec![("one\ntwo\n".into(), 1, false)]);
    }

    #[test]
    fn globs_pick_up_files_that_appear_later() {
        let dir = tempfile::tempdir().unwrap();
        let pat = dir.path().join("*.log").display().to_string();
        let mut f = Follower::new(vec![pat], HashMap::new(), 64);
        f.rescan_every = Duration::ZERO;
        assert!(collect(&mut f).is_empty());
        std::fs::write(dir.path().join("b.log"), "b\n").unwrap();
        std::fs::write(dir.path().join("a.log"), "a\n").unwrap();
        let got = collect(&mut f);
        assert_eq!(
            got,
            vec![("a\n".into(), 1, false), ("b\n".into(), 1, false)]
        );
    }
}
