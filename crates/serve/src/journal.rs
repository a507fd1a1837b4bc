//! The ids of alerts sent since the last checkpoint, appended and flushed to disk as
//! they are sent. The checkpoint holds the ids of the span it covers; the journal
//! covers the seconds between two checkpoints, so a `kill -9` right after an alert
//! still finds its id on restart and the replay does not send it again.

use pullwatch_pipeline::detector::SentAlert;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

pub struct SentJournal {
    file: File,
    entries: Vec<SentAlert>,
}

impl SentJournal {
    /// Opens (or creates) the journal in `state_dir`, reading what it holds. A torn last
    /// line (a kill mid-write) is ignored: its alert's write had not completed either.
    pub fn open(state_dir: &Path) -> io::Result<SentJournal> {
        let path = state_dir.join("sent.jsonl");
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        let mut entries = Vec::new();
        for line in BufReader::new(&file).lines() {
            if let Ok(s) = serde_json::from_str::<SentAlert>(&line?) {
                entries.push(s);
            }
        }
        Ok(SentJournal { file, entries })
    }

    /// What the journal held when it was opened.
    pub fn entries(&self) -> &[SentAlert] {
        &self.entries
    }

    /// Appends and flushes to disk.
    pub fn record(&mut self, sent: &[SentAlert]) -> io::Result<()> {
        if sent.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for s in sent {
            serde_json::to_writer(&mut buf, s).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }

    /// Empties the journal once a checkpoint holding its ids is on disk.
    pub fn truncate(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.entries.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::Ts;

    #[test]
    fn ids_survive_a_reopen_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = SentJournal::open(dir.path()).unwrap();
        j.record(&[SentAlert {
            id: "a1".into(),
            time: Ts(3),
        }])
        .unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("sent.jsonl"))
            .unwrap();
        f.write_all(b"{\"id\":\"b").unwrap();
        let j = SentJournal::open(dir.path()).unwrap();
        assert_eq!(j.entries().len(), 1);
        assert_eq!(j.entries()[0].id, "a1");
        let mut j = j;
        j.truncate().unwrap();
        assert!(SentJournal::open(dir.path()).unwrap().entries().is_empty());
    }
}
