//! The service's checkpoint: for every followed file, the position of the oldest record
//! still inside the time window plus the allowed lateness (everything a chain in flight
//! may still need), and the ids of the alerts sent within that span. A restart replays
//! from those positions, so a chain whose pull, create and start were read before the
//! restart still meets its exec after it; the replay raises again the alerts it raised
//! before, and the ids keep them from being sent twice.
//!
//! Written whole and replaced atomically every few seconds and on shutdown, so a
//! `kill -9` at any moment leaves the previous checkpoint or the new one.

use crate::follow::FilePos;
use pullwatch_pipeline::detector::SentAlert;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const FORMAT: &str = "pullwatch-checkpoint";
const VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    /// Where to resume each followed file.
    pub files: BTreeMap<PathBuf, FilePos>,
    /// Alerts sent whose records lie after those positions.
    pub sent: Vec<SentAlert>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a pullwatch checkpoint of version {VERSION}: {message}", path.display())]
    Format { path: PathBuf, message: String },
}

impl Checkpoint {
    pub fn new(files: BTreeMap<PathBuf, FilePos>, sent: Vec<SentAlert>) -> Checkpoint {
        Checkpoint {
            format: FORMAT.into(),
            version: VERSION,
            files,
            sent,
        }
    }

    pub fn path_in(state_dir: &Path) -> PathBuf {
        state_dir.join("checkpoint.json")
    }

    /// The checkpoint in `state_dir`, or `None` on a first start. A damaged one is an
    /// error: starting over silently would send every alert of the span again.
    pub fn load(state_dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let path = Checkpoint::path_in(state_dir);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let c: Checkpoint = serde_json::from_slice(&text).map_err(|e| CheckpointError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if c.format != FORMAT || c.version != VERSION {
            return Err(CheckpointError::Format {
                path,
                message: format!("format {:?} version {}", c.format, c.version),
            });
        }
        Ok(Some(c))
    }

    pub fn save(&self, state_dir: &Path) -> Result<(), CheckpointError> {
        let path = Checkpoint::path_in(state_dir);
        let io = |source| CheckpointError::Io {
            path: path.clone(),
            source,
        };
        pullwatch_state::atomic::replace(&path, state_dir, "checkpoint.json", |w| {
            serde_json::to_writer_pretty(&mut *w, self).map_err(std::io::Error::other)?;
            w.write_all(b"\n")
        })
        .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::Ts;

    #[test]
    fn a_saved_checkpoint_loads_back_and_a_damaged_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), None);
        let c = Checkpoint::new(
            BTreeMap::from([(
                PathBuf::from("/var/log/a.log"),
                FilePos {
                    dev: 1,
                    ino: 2,
                    offset: 30,
                    line: 3,
                },
            )]),
            vec![SentAlert {
                id: "ab".into(),
                time: Ts(5),
            }],
        );
        c.save(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap(), Some(c));
        std::fs::write(Checkpoint::path_in(dir.path()), "{\"format\":").unwrap();
        let e = Checkpoint::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoint.json"), "{e}");
    }
}
