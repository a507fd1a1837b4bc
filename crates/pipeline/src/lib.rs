//! pullwatch's one pipeline. `scan` (archives) and `run` (a live service) both turn
//! records into events with the same decoders, feed them to the same engine through a
//! [`Detector`], and hand alerts to the same sinks with the same deterministic ids; they
//! differ only in where records come from and when event time moves. That is why the
//! two give the same alerts for the same events.
//!
//! No sockets, threads or clocks here beyond what batch decoding needs: the live
//! service's I/O (following files, HTTP, the Docker socket) lives in `pullwatch-serve`.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod detector;
pub mod error;
pub mod inputs;
pub mod merge;
pub mod scan;

pub use detector::Detector;
pub use error::PipelineError;
