//! The progress bar on a long scan: under a pseudo-terminal (util-linux `script`) the
//! bar appears and moves forward, with records per second and the alerts so far; piped,
//! the same scan prints its alerts and the summary and nothing else.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A chain that alerts (untrusted image pulled, started, runs a shell), then `n`
/// benign exec records a second apart: the alert is raised early, the scan runs long.
fn write_input(path: &Path, n: usize) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create input"));
    let chain_id = "c0ffee00d15ea5e5b0a710ad5eed1e55ba5eba11c0de5eed00ddba11fee1dead";
    let t0: u64 = 1_795_166_100;
    let ctr = |status: &str, action: &str, t: u64| {
        format!(
            r#"{{"status":"{status}","id":"{chain_id}","from":"evil.example/x:1","Type":"container","Action":"{action}","Actor":{{"ID":"{chain_id}","Attributes":{{"image":"evil.example/x:1","name":"miner"}}}},"scope":"local","time":{t},"timeNano":{t}000000000}}"#
        )
    };
    writeln!(f, r#"{{"status":"pull","id":"evil.example/x:1","Type":"image","Action":"pull","Actor":{{"ID":"evil.example/x:1","Attributes":{{"name":"evil.example/x"}}}},"scope":"local","time":{t0},"timeNano":{t0}000000000}}"#).expect("write");
    writeln!(f, "{}", ctr("create", "create", t0 + 1)).expect("write");
    writeln!(f, "{}", ctr("start", "start", t0 + 2)).expect("write");
    writeln!(f, "{}", ctr("exec_start", "exec_start: sh -c id", t0 + 3)).expect("write");
    for i in 0..n {
        let t = t0 + 10 + i as u64;
        let id = format!("{:064x}", i + 1);
        writeln!(f, r#"{{"status":"exec_start","id":"{id}","from":"nginx:1.27.2","Type":"container","Action":"exec_start: /usr/sbin/nginx -t","Actor":{{"ID":"{id}","Attributes":{{"image":"nginx:1.27.2","name":"web-{i}","execID":"e{i}"}}}},"scope":"local","time":{t},"timeNano":{t}000000000}}"#).expect("write");
    }
    f.flush().expect("flush input");
}

fn piped(input: &Path) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .arg("scan")
        .arg(input)
        .stdin(Stdio::null())
        .output()
        .expect("run pullwatch");
    (out, start.elapsed())
}

fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs pullwatch with stdout and stderr on a pseudo-terminal; returns what the
/// terminal received.
fn under_pty(input: &Path, extra: &str) -> String {
    let cmd = format!(
        "'{}' scan {extra} '{}'",
        env!("CARGO_BIN_EXE_pullwatch"),
        input.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn to_bytes(num: &str, unit: &str) -> f64 {
    let n: f64 = num.parse().unwrap_or(0.0);
    n * match unit {
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => 1.0,
    }
}

#[test]
fn a_long_scan_shows_a_moving_bar_on_a_terminal_and_nothing_when_piped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input: PathBuf = dir.path().join("big.jsonl");
    // Large enough that the scan outlasts the bar's half-second delay several times
    // over on this machine, whatever its speed.
    let mut n = 20_000;
    let (out, took) = loop {
        write_input(&input, n);
        let (out, took) = piped(&input);
        if took >= Duration::from_millis(1500) || n >= 1_280_000 {
            break (out, took);
        }
        n *= 2;
    };
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    assert!(stdout.starts_with("HIGH      an0691.chain"), "{stdout}");
    assert!(
        stderr.starts_with("pullwatch: scan summary\n"),
        "piped stderr is the summary alone: {stderr:?}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "no bar drawn into a pipe"
    );
    assert!(stderr.contains(&format!("{} records", n + 4)));

    if !script_available() {
        println!(
            "skipped: no `script` (util-linux) for a pseudo-terminal; piped output checked only"
        );
        return;
    }
    let tty = under_pty(&input, "");
    let frame = regex::Regex::new(
        r"\[[=> ]+\] ([\d.]+) (B|KiB|MiB|GiB)/([\d.]+) (B|KiB|MiB|GiB) (\d+) records \((\d+)/s\), (\d+) alerts?",
    )
    .expect("regex");
    let frames: Vec<(f64, f64, u64, u64)> = tty
        .split('\r')
        .filter_map(|f| frame.captures(f))
        .map(|c| {
            (
                to_bytes(&c[1], &c[2]),
                to_bytes(&c[3], &c[4]),
                c[5].parse().unwrap_or(0),
                c[7].parse().unwrap_or(0),
            )
        })
        .collect();
    assert!(
        frames.len() >= 2,
        "expected progress frames on the terminal after {took:?} of scanning, got:\n{}",
        tty.escape_debug()
    );
    let size = std::fs::metadata(&input).expect("input size").len() as f64;
    let mut positions: Vec<f64> = frames.iter().map(|f| f.0).collect();
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "the bar never goes back: {positions:?}"
    );
    positions.dedup();
    assert!(positions.len() >= 2, "the bar moved: {positions:?}");
    for (pos, total, _, _) in &frames {
        assert!(
            (total - size).abs() / size < 0.01,
            "total is the input's size"
        );
        assert!(*pos <= *total * 1.01);
    }
    assert!(frames.iter().any(|f| f.2 > 0), "records are counted");
    assert_eq!(frames.last().map(|f| f.3), Some(1), "the alert is counted");
    // The bar is cleared before the summary, and the alert and summary still arrive.
    assert!(tty.contains("an0691.chain"));
    let summary_at = tty
        .find("pullwatch: scan summary")
        .expect("summary on the terminal");
    assert!(
        !frame.is_match(&tty[summary_at..]),
        "no bar after the summary"
    );

    let quiet = under_pty(&input, "--quiet");
    assert!(!frame.is_match(&quiet), "--quiet draws no bar");
    assert!(!quiet.contains("scan summary"));
    assert!(quiet.contains("an0691.chain"));
}
