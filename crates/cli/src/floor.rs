//! `pullwatch bench-floor`: the parse floor the benchmark compares pullwatch with. It
//! reads a file line by line and parses each line with serde_json into a small typed,
//! borrowed struct of eight top-level fields, and nothing else: no format detection, no
//! normalization, no correlation. pullwatch's full decode can only approach this.

use serde::Deserialize;
use std::borrow::Cow;
use std::io::{BufRead, BufReader};
use std::path::Path;

#[derive(Deserialize)]
struct Floor<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "Type", borrow)]
    typ: Option<Cow<'a, str>>,
    #[serde(rename = "Action", borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow)]
    verb: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reason: Option<Cow<'a, str>>,
    #[serde(borrow)]
    node_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    hostname: Option<Cow<'a, str>>,
    #[serde(rename = "timeNano")]
    time_nano: Option<i64>,
}

impl Floor<'_> {
    fn present(&self) -> u64 {
        [
            self.kind.is_some(),
            self.typ.is_some(),
            self.action.is_some(),
            self.verb.is_some(),
            self.reason.is_some(),
            self.node_name.is_some(),
            self.hostname.is_some(),
            self.time_nano.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count() as u64
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct FloorCounts {
    pub lines: u64,
    pub parsed: u64,
    pub failed: u64,
    /// Fields found across all records, so the parse cannot be optimized away.
    pub fields: u64,
    pub bytes: u64,
}

/// Reads `path`; with `parse` false only splits lines (the reading floor).
pub fn run(path: &Path, parse: bool) -> std::io::Result<FloorCounts> {
    let file = std::fs::File::open(path)?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(1 << 12);
    let mut c = FloorCounts::default();
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        c.lines += 1;
        c.bytes += n as u64;
        if !parse {
            continue;
        }
        match serde_json::from_slice::<Floor>(&buf) {
            Ok(f) => {
                c.parsed += 1;
                c.fields += f.present();
            }
            Err(_) => c.failed += 1,
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_line_into_the_typed_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(
            &p,
            "{\"kind\":\"Event\",\"verb\":\"get\",\"objectRef\":{\"a\":[1,2]}}\n{\"Type\":\"container\",\"Action\":\"start\",\"timeNano\":5}\nnot json\n",
        )
        .unwrap();
        let c = run(&p, true).unwrap();
        assert_eq!(
            c,
            FloorCounts {
                lines: 3,
                parsed: 2,
                failed: 1,
                fields: 5,
                bytes: std::fs::metadata(&p).unwrap().len(),
            }
        );
        let l = run(&p, false).unwrap();
        assert_eq!((l.lines, l.parsed), (3, 0));
    }
}
