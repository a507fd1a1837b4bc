//! What can stop a scan or a service. Usage errors (a path that does not exist, a
//! damaged baseline) are the user's to fix and exit with status 2; the rest are the
//! environment's (a full disk, a closed pipe) and exit with status 1.

use pullwatch_state::StateError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The command line or a file it names is wrong.
    #[error("{0}")]
    Usage(String),
    #[error("baseline: {0}")]
    Baseline(#[from] StateError),
    #[error("cannot write alerts: {0}")]
    Output(#[source] std::io::Error),
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot render the report: {0}")]
    Render(String),
}

impl PipelineError {
    /// Whether the user can fix it by changing the command or its files.
    pub fn is_usage(&self) -> bool {
        matches!(self, PipelineError::Usage(_))
    }
}
