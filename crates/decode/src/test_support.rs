//! Helpers shared by the decoders' tests: a record context, and running bytes or a
//! file through the real stream (framing, sniffing, per-input state) as pullwatch
//! reads inputs.

use crate::framing::Input;
use crate::{open_path, DecodeOptions, DecodeStats, EventStream, RecordCtx};
use pullwatch_model::Event;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn ctx() -> RecordCtx {
    RecordCtx {
        path: Arc::from("t"),
        line: 1,
    }
}

/// Decodes a whole input, a few lines per refill so batch edges are exercised too.
pub fn stream_input(input: Input) -> (Vec<Event>, DecodeStats) {
    let mut s = EventStream::new(input, DecodeOptions::default());
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    while s
        .fill(&mut out, &mut stats, 3)
        .expect("in-memory and fixture reads do not fail")
    {}
    (out, stats)
}

pub fn stream_bytes(path: &str, data: Vec<u8>) -> (Vec<Event>, DecodeStats) {
    stream_input(Input {
        path: Arc::from(path),
        size: None,
        reader: Box::new(Cursor::new(data)),
    })
}

pub fn stream_file(path: &Path) -> (Vec<Event>, DecodeStats) {
    stream_input(open_path(path).expect("fixture exists"))
}

/// `shared/samples/<sub>` beside the repository, or `None` (saying the test skipped)
/// when a checkout has no shared samples next to it.
pub fn samples(sub: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples")
        .join(sub);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: shared samples not present at {}", dir.display());
        None
    }
}
