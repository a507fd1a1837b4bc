//! What several integration tests do alike: run `pullwatch scan` on files and read the
//! alerts it wrote, or keep `pullwatch` running while driving it ([`running`]). Each
//! test binary uses a part of it.
#![allow(dead_code)]

pub mod running;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_pullwatch");

/// What a successful scan wrote.
pub struct Scanned {
    /// The alert lines, as written.
    pub lines: Vec<String>,
    /// The same, parsed.
    pub alerts: Vec<Value>,
    /// The summary and any notes.
    pub stderr: String,
}

/// `pullwatch scan --format json ARGS PATHS`, which must exit 0.
pub fn scan_json(args: &[&str], paths: &[&Path]) -> Scanned {
    let out = Command::new(BIN)
        .args(["scan", "--format", "json"])
        .args(args)
        .args(paths)
        .output()
        .expect("pullwatch runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let alerts = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect();
    Scanned {
        lines,
        alerts,
        stderr,
    }
}

/// The images (without digest) of the `an0691.chain` alerts, in order.
pub fn chain_images(alerts: &[Value]) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| a["rule"] == "an0691.chain")
        .filter_map(|a| a["image"]["ref"].as_str())
        .map(|r| r.split('@').next().unwrap_or(r).to_string())
        .collect()
}
