//! pullwatch's memory across runs: for each normalized image repository, the digests
//! seen and when; for each tag, the digests it resolved to over time; for VM images, the
//! ids seen launching with their owner and origin; and the learning period, during
//! which whatever is seen is learned rather than reported.
//!
//! DET0248 starts a chain on "a new digest never seen before", which only means
//! something against a record of what was seen before, kept across scans. This crate
//! is that record and nothing else: the engine gets a read-only snapshot of it before a
//! scan and hands back what it saw, and the `pullwatch` binary moves both to and from
//! the file.
//!
//! # Why a replaced file and not an embedded database
//!
//! The baseline is small (one entry per digest, tag resolution and VM image ever seen:
//! thousands, not millions), is read whole before every scan, and changes once per run.
//! An atomically replaced file ([`store`]) gives the same guarantee an embedded store
//! such as redb gives for this pattern — a reader, or the next run after a crash, sees
//! the previous state or the new one — while keeping the format ours to document and
//! version ([`format`]), readable and diffable by the people who review it, and free of
//! a database dependency and its own file format and locking rules.
#![forbid(unsafe_code)]

pub mod atomic;
pub mod baseline;
pub mod diff;
pub mod format;
pub mod store;

pub use baseline::{
    Baseline, Counts, MergeReport, Repository, Seen, Sighting, TagResolution, TagSighting, VmImage,
    VmImageOrigin,
};
pub use diff::{diff, Diff};
pub use format::{FormatError, FORMAT_VERSION};
pub use store::{StateError, Store};
