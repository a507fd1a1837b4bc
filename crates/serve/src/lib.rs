//! `pullwatch run`: the live service. It follows the files sensors write, takes pushes
//! over HTTP, and feeds the same pipeline `scan` uses, so the two give the same alerts
//! for the same events. Around it: per-source event-time merging with an idle timeout,
//! checkpoints that let a restart replay a chain in flight without sending an alert
//! twice, and health, readiness and Prometheus metrics.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod docker;
pub mod follow;
pub mod http;
pub mod journal;
pub mod kafka;
pub mod live;
pub mod metrics;
pub mod recover;
pub mod service;
pub mod settings;
pub mod spool;
pub mod webhook;

pub use service::{run, Control, RunOutcome};
pub use settings::RunSettings;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting or a file it names is wrong: the user's to fix.
    #[error("{0}")]
    Usage(String),
    #[error("cannot write alerts or state: {0}")]
    Output(#[source] std::io::Error),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] checkpoint::CheckpointError),
}
