//! The ids of alerts already in an output file. A file the service appends JSON or OCSF
//! alerts to is its own record of what was delivered: an alert written just before a
//! `kill -9`, whose id the journal had not yet recorded, is still found here, so the
//! replay after the restart does not write it twice.

use pullwatch_model::Ts;
use pullwatch_pipeline::detector::SentAlert;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// How much of the file's end is read: far more than the alerts of one window.
const TAIL_BYTES: u64 = 8 << 20;

#[derive(serde::Deserialize)]
struct JsonAlert {
    id: String,
    time: String,
}

#[derive(serde::Deserialize)]
struct OcsfFinding {
    time: i64,
    finding_info: FindingInfo,
}

#[derive(serde::Deserialize)]
struct FindingInfo {
    uid: String,
}

fn parse(line: &str) -> Option<SentAlert> {
    if let Ok(a) = serde_json::from_str::<JsonAlert>(line) {
        return Some(SentAlert {
            id: a.id,
            time: Ts::parse_rfc3339(&a.time)?,
        });
    }
    let f = serde_json::from_str::<OcsfFinding>(line).ok()?;
    Some(SentAlert {
        id: f.finding_info.uid,
        time: Ts(f.time.saturating_mul(1_000_000)),
    })
}

/// The alerts the file at `path` holds (none when it does not exist), and, when its
/// last line was cut short by a kill, a newline appended so the next alert starts a
/// line of its own.
pub fn sent_in_output(path: &Path) -> std::io::Result<Vec<SentAlert>> {
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let from = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    f.read_to_end(&mut tail)?;
    if !tail.is_empty() && !tail.ends_with(b"\n") {
        f.write_all(b"\n")?;
    }
    let text = String::from_utf8_lossy(&tail);
    let mut lines = text.lines();
    if from > 0 {
        // The first line read may be the end of a longer one.
        lines.next();
    }
    Ok(lines.filter_map(parse).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_back_from_json_and_ocsf_lines_and_a_torn_line_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("alerts.jsonl");
        assert!(sent_in_output(&p).unwrap().is_empty());
        std::fs::write(
            &p,
            "{\"id\":\"a1\",\"rule\":\"an0691.chain\",\"time\":\"2026-11-20T09:00:41.518Z\"}\n\
             {\"time\":1795165241518,\"finding_info\":{\"uid\":\"b2\"}}\n{\"id\":\"c3\",\"ti",
        )
        .unwrap();
        let got = sent_in_output(&p).unwrap();
        let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["a1", "b2"]);
        assert_eq!(got[0].time, got[1].time);
        assert!(std::fs::read(&p).unwrap().ends_with(b"\"ti\n"));
    }
}
