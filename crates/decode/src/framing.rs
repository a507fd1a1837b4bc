//! Opening inputs and cutting them into records: transparent gzip (every member, as
//! CloudTrail and rotated logs are multi-member) and zstd, bounded line reading, and
//! the choice between JSON Lines and one JSON document per input.

use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

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
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong(total));
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Complete)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

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
            Line::Complete
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
