//! Reading an input on a thread of its own, a few blocks ahead of its reader.
//!
//! With several decoding threads, the thread that cuts an input into chunks also merges
//! and correlates their events; the read system calls and the decompression of a
//! compressed input were a fifth of its time, and while it waited on them the decoders
//! waited on it. Here they run beside it. What is read, and every error (the
//! decompression cap's included, which the chunker turns into a located skip), reaches
//! the reader unchanged and in order.

use std::io::{self, BufRead, Read};
use std::sync::mpsc;

/// Bytes read per block: large enough that a system call is cheap beside it, small
/// enough that the blocks in flight add little to the peak memory.
const BLOCK: usize = 256 << 10;

/// Blocks read but not yet taken.
const AHEAD: usize = 2;

/// A [`BufRead`] fed by a thread that reads the inner reader.
///
/// Dropping it ends the thread at its next block (or when its read returns): a read
/// blocked on a pipe that never ends is left to finish by itself.
pub struct ReadAhead {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Emptied blocks go back to the thread, so that reading allocates nothing.
    back: mpsc::SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    /// Starts the reading thread; when it cannot start, hands `inner` back.
    pub fn new(inner: Box<dyn BufRead + Send>) -> Result<ReadAhead, Box<dyn BufRead + Send>> {
        let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD);
        let (back, spare) = mpsc::sync_channel::<Vec<u8>>(AHEAD + 2);
        // The reader goes to the thread once it runs, so that it is not lost with a
        // thread that could not start.
        let (give, take) = mpsc::sync_channel::<Box<dyn BufRead + Send>>(1);
        let started = std::thread::Builder::new()
            .name("pullwatch-read".into())
            .spawn(move || {
                let Ok(mut inner) = take.recv() else {
                    return;
                };
                loop {
                    let mut buf = spare.try_recv().unwrap_or_default();
                    buf.clear();
                    let ended = fill_block(&mut inner, &mut buf);
                    if !buf.is_empty() && tx.send(Ok(buf)).is_err() {
                        return;
                    }
                    match ended {
                        Some(Ok(())) => {
                            let _ = tx.send(Ok(Vec::new()));
                            return;
                        }
                        Some(Err(e)) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                        None => {}
                    }
                }
            });
        if started.is_err() {
            return Err(inner);
        }
        give.send(inner).map_err(|e| e.0)?;
        Ok(ReadAhead {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
            done: false,
        })
    }
}

/// Reads up to [`BLOCK`] bytes into `buf`. Returns how the input ended, if it did: at
/// its end, or with an error (what was read before it is in `buf`).
fn fill_block(inner: &mut Box<dyn BufRead + Send>, buf: &mut Vec<u8>) -> Option<io::Result<()>> {
    buf.reserve(BLOCK);
    while buf.len() < BLOCK {
        let avail = match inner.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Some(Err(e)),
        };
        if avail.is_empty() {
            return Some(Ok(()));
        }
        let n = avail.len().min(BLOCK - buf.len());
        buf.extend_from_slice(&avail[..n]);
        inner.consume(n);
    }
    None
}

impl Read for ReadAhead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.cur.len() && !self.done {
            match self.rx.recv() {
                Ok(Ok(block)) => {
                    if block.is_empty() {
                        self.done = true;
                    }
                    let old = std::mem::replace(&mut self.cur, block);
                    self.pos = 0;
                    let _ = self.back.try_send(old);
                }
                Ok(Err(e)) => {
                    // The thread has stopped: the input ends with this error.
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the thread reading the input stopped"));
                }
            }
        }
        Ok(self.cur.get(self.pos..).unwrap_or_default())
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.cur.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &mut ReadAhead) -> (Vec<u8>, Option<io::Error>) {
        let mut got = Vec::new();
        loop {
            match r.fill_buf() {
                Ok([]) => return (got, None),
                Ok(a) => {
                    let n = a.len().min(1000);
                    got.extend_from_slice(&a[..n]);
                    r.consume(n);
                }
                Err(e) => return (got, Some(e)),
            }
        }
    }

    #[test]
    fn every_byte_arrives_in_order() {
        let data: Vec<u8> = (0..BLOCK * 5 + 123).map(|i| (i % 251) as u8).collect();
        let inner = Box::new(io::Cursor::new(data.clone()));
        let Ok(mut r) = ReadAhead::new(inner) else {
            panic!("no reading thread");
        };
        let (got, err) = read_all(&mut r);
        assert!(err.is_none());
        assert_eq!(got, data);
        assert!(r.fill_buf().expect("still the end").is_empty());
    }

    #[test]
    fn an_empty_input_ends_at_once() {
        let Ok(mut r) = ReadAhead::new(Box::new(io::Cursor::new(Vec::new()))) else {
            panic!("no reading thread");
        };
        assert!(r.fill_buf().expect("end").is_empty());
    }

    /// A reader that fails once after some bytes: those bytes come first, then the
    /// error, with its payload (the decompression cap is told apart by it).
    struct FailsAfter {
        left: usize,
        failed: bool,
    }

    impl Read for FailsAfter {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                if self.failed {
                    return Ok(0);
                }
                self.failed = true;
                return Err(io::Error::other(crate::DecompressedLimit { max: 7 }));
            }
            let n = out.len().min(self.left).min(1000);
            out[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn an_error_arrives_after_what_was_read_before_it() {
        let inner = Box::new(io::BufReader::new(FailsAfter {
            left: BLOCK + 10,
            failed: false,
        }));
        let Ok(mut r) = ReadAhead::new(inner) else {
            panic!("no reading thread");
        };
        let (got, err) = read_all(&mut r);
        assert_eq!(got.len(), BLOCK + 10);
        let err = err.expect("the error");
        assert_eq!(crate::DecompressedLimit::of(&err), Some(7));
        assert!(r.fill_buf().expect("then the end").is_empty());
    }
}
