//! `pullwatch scan` with no path reads stdin. From a terminal that looks like a hang,
//! so it says so on stderr; piped or redirected, it says nothing. Under a
//! pseudo-terminal from util-linux `script`, as the progress bar's test does.

use std::process::{Command, Stdio};

fn script_available() -> bool {
    Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const HINT: &str = "reading records from stdin (Ctrl-D to end)";

#[test]
fn a_scan_of_a_terminal_says_it_reads_stdin() {
    if !script_available() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    // `script` gives pullwatch a pseudo-terminal as stdin; nothing is typed, so the scan
    // waits until `timeout` ends it: the hint must be out before then.
    let cmd = format!("timeout 3 '{}' scan", env!("CARGO_BIN_EXE_pullwatch"));
    let out = Command::new("timeout")
        .args(["60", "script", "-q", "-c", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(terminal.contains(HINT), "{terminal}");
    // On the terminal too: a file to scan means no hint.
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/docker");
    let cmd = format!("'{}' scan '{examples}'", env!("CARGO_BIN_EXE_pullwatch"));
    let out = Command::new("timeout")
        .args(["60", "script", "-q", "-e", "-c", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script");
    let terminal = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{terminal}");
    assert!(!terminal.contains(HINT), "{terminal}");
}

#[test]
fn a_piped_scan_says_nothing_of_stdin() {
    let out = Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .arg("scan")
        .stdin(Stdio::null())
        .output()
        .expect("run pullwatch");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains(HINT), "{stderr}");
    assert!(stderr.contains("scan summary"), "{stderr}");
}
