//! What several integration tests do alike: run `pullwatch scan` on files and read the
//! alerts it wrote, or keep `pullwatch` running while driving it ([`running`]). Each
//! test binary uses a part of it.
#![allow(dead_code)]

pub mod running;

use serde_json::Value;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_pullwatch");

/// What one run of `pullwatch` gave.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The alerts of a `--format json` run, one per stdout line.
    pub fn alerts(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
            .collect()
    }
}

/// `pullwatch ARGS`, with `stdin` written to it when given (from a thread of its own, so
/// that a large input cannot deadlock against a full stdout).
pub fn pullwatch<S: AsRef<OsStr>>(args: &[S], stdin: Option<&[u8]>) -> Outcome {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pullwatch runs");
    let writer = stdin.map(|bytes| {
        let bytes = bytes.to_vec();
        let mut pipe = child.stdin.take().expect("stdin is piped");
        std::thread::spawn(move || {
            // pullwatch may stop reading early (a usage error): that is its answer.
            let _ = pipe.write_all(&bytes);
        })
    });
    let out = child.wait_with_output().expect("pullwatch runs");
    if let Some(w) = writer {
        let _ = w.join();
    }
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// What a successful scan wrote.
pub struct Scanned {
    /// The alert lines, as written.
    pub lines: Vec<String>,
    /// The same, parsed.
    pub alerts: Vec<Value>,
    /// The summary and any notes.
    pub stderr: String,
}

/// `pullwatch scan --format json ARGS PATHS`, with `-` (standard input) last and `stdin`
/// written to it when given.
pub fn scan_json_outcome(args: &[&str], paths: &[&Path], stdin: Option<&[u8]>) -> Outcome {
    let mut argv: Vec<&OsStr> = ["scan", "--format", "json"]
        .iter()
        .chain(args)
        .map(OsStr::new)
        .collect();
    argv.extend(paths.iter().map(|p| p.as_os_str()));
    if stdin.is_some() {
        argv.push(OsStr::new("-"));
    }
    pullwatch(&argv, stdin)
}

/// `pullwatch scan --format json ARGS PATHS`, which must exit 0.
pub fn scan_json(args: &[&str], paths: &[&Path]) -> Scanned {
    let out = scan_json_outcome(args, paths, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let alerts = out.alerts();
    Scanned {
        lines: out.stdout.lines().map(str::to_string).collect(),
        alerts,
        stderr: out.stderr,
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
