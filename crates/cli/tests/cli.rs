//! The real binary on the bundled examples: every output format pinned by a snapshot,
//! and the output options (`--output`, `--fail-on-alert`, `--color`) and the helper
//! commands (`formats`, `completions`, `man`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pullwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .current_dir(repo_root())
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run pullwatch")
}

fn scan(format: &str) -> (String, String) {
    let out = pullwatch(&["scan", "--format", format, "examples/"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

#[test]
fn text_snapshot() {
    let (out, err) = scan("text");
    // Piped stdout: no colour, whatever the terminal the tests run in.
    assert!(!out.contains('\x1b'));
    insta::assert_snapshot!("text", out);
    insta::assert_snapshot!("summary", err);
}

#[test]
fn json_snapshot() {
    let (out, _) = scan("json");
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one JSON object per line");
        assert!(v["evidence"].as_array().is_some_and(|e| !e.is_empty()));
    }
    insta::assert_snapshot!("json", out);
}

#[test]
fn ocsf_snapshot() {
    let (out, _) = scan("ocsf");
    assert_eq!(out.lines().count(), 4);
    for line in out.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("one finding per line");
        assert_eq!(v["class_uid"], 2004);
    }
    insta::assert_snapshot!("ocsf", out);
}

#[test]
fn html_snapshot() {
    let (out, err) = scan("html");
    assert!(out.starts_with("<!DOCTYPE html>"));
    assert!(err.starts_with("pullwatch: scan summary"));
    insta::assert_snapshot!("html", out);
}

#[test]
fn output_file_holds_what_stdout_would() {
    let dir = tempfile::tempdir().expect("tempdir");
    for format in ["text", "json", "ocsf", "html"] {
        let (stdout, _) = scan(format);
        let path = dir.path().join(format!("out.{format}"));
        let p = path.to_str().expect("utf-8 path");
        let out = pullwatch(&["scan", "-q", "--format", format, "--output", p, "examples/"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stdout.is_empty(),
            "{format}: nothing on stdout with --output"
        );
        assert!(out.stderr.is_empty(), "{format}: -q keeps stderr quiet");
        let written = std::fs::read_to_string(&path).expect("output file");
        assert_eq!(written, stdout, "{format}");
    }
}

#[test]
fn unwritable_output_is_a_usage_error() {
    let out = pullwatch(&[
        "scan",
        "--output",
        "/nonexistent-dir/x/report.html",
        "examples/",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot write /nonexistent-dir/x/report.html"),
        "{err}"
    );
}

#[test]
fn fail_on_alert_exits_one_only_with_alerts() {
    let out = pullwatch(&["scan", "-q", "--fail-on-alert", "examples/"]);
    assert_eq!(out.status.code(), Some(1));
    let out = pullwatch(&["scan", "-q", "--fail-on-alert", "examples/node/falco.jsonl"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn colour_on_request_and_never_on_data() {
    let out = pullwatch(&["scan", "-q", "--color", "always", "examples/"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("\x1b[33mMEDIUM\x1b[0m    \x1b[1man0691.namespace_scope\x1b[0m"));
    assert!(text.contains("CRITICAL\x1b[0m  \x1b[1man0691.chain\x1b[0m"));
    let (plain, _) = scan("text");
    let stripped = strip_sgr(&text);
    assert_eq!(stripped, plain, "colour changes nothing but styles");
    let out = pullwatch(&["scan", "-q", "--color", "never", "examples/"]);
    assert!(!out.stdout.contains(&0x1b));
}

fn strip_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            for d in it.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn hostile_terminal_sequences_stay_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.jsonl");
    let id = "c0ffee00d15ea5e5b0a710ad5eed1e55ba5eba11c0de5eed00ddba11fee1dead";
    let ev = |status: &str, action: &str, t: u64| {
        format!(
            r#"{{"status":"{status}","id":"{id}","from":"evil.io/x:1","Type":"container","Action":"{action}","Actor":{{"ID":"{id}","Attributes":{{"image":"evil.io/x:1","name":"box\u001b]0;owned\u0007\u001b[2J"}}}},"scope":"local","time":{t},"timeNano":{t}000000000}}"#
        )
    };
    let lines = [
        r#"{"status":"pull","id":"evil.io/x:1","Type":"image","Action":"pull","Actor":{"ID":"evil.io/x:1","Attributes":{"name":"evil.io/x"}},"scope":"local","time":1795166100,"timeNano":1795166100000000000}"#.to_string(),
        ev("create", "create", 1795166101),
        ev("start", "start", 1795166102),
        ev("exec_start", "exec_start: sh -c 'printf \\u001b[31m'", 1795166103),
    ];
    std::fs::write(&path, lines.join("\n") + "\n").expect("write fixture");
    let out = pullwatch(&["scan", "--color", "always", path.to_str().expect("utf-8")]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        strip_sgr(&text).starts_with("HIGH"),
        "the fixture raises a chain alert: {text}"
    );
    assert!(text.contains("box\\x1b]0;owned\\x07\\x1b[2J"), "{text}");
    assert!(text.contains("printf \\x1b[31m"), "{text}");
    assert!(!text.contains("\x1b]0;") && !text.contains("\x1b[2J") && !text.contains('\x07'));
}

#[test]
fn formats_lists_each_recognized_format_with_an_example() {
    let out = pullwatch(&["formats"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for f in [
        "docker-events",
        "podman-events",
        "k8s-audit",
        "k8s-events",
        "falco",
        "tetragon",
        "zeek-conn",
        "suricata-eve",
        "vpc-flow",
    ] {
        assert!(names.contains(&f), "{f} missing from:\n{text}");
    }
    // Each example is a record that a scan reads as its format.
    let dir = tempfile::tempdir().expect("tempdir");
    for line in text.lines() {
        let Some((name, example)) = line.split_once(' ') else {
            continue;
        };
        let p = dir.path().join(format!("{name}.log"));
        std::fs::write(&p, format!("{}\n", example.trim_start())).expect("write example");
        let out = pullwatch(&["scan", p.to_str().expect("utf-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("read {name} ")), "{name}: {err}");
        assert!(err.contains("skipped: none"), "{name}: {err}");
    }
}

/// The README's "Input formats" table and `pullwatch formats` name the same formats.
#[test]
fn readme_input_formats_table_matches_the_formats_command() {
    let out = pullwatch(&["formats"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let section = readme
        .split("## Input formats")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("an Input formats section");
    let mut documented: Vec<&str> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|f| *f != "format")
        .collect();
    listed.sort_unstable();
    documented.sort_unstable();
    assert_eq!(listed, documented);
}

#[test]
fn completions_and_man_page_come_from_the_cli_definition() {
    let out = pullwatch(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let bash = String::from_utf8(out.stdout).expect("utf-8");
    assert!(bash.contains("_pullwatch()"));
    assert!(bash.contains("--fail-on-alert"));
    assert!(
        bash.contains("text json ocsf html"),
        "format values are completed"
    );
    let out = pullwatch(&["completions", "zsh"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("#compdef pullwatch"));

    let out = pullwatch(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let man = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        man.starts_with(".ie") || man.contains(".TH pullwatch 1"),
        "{man}"
    );
    assert!(man.contains("completions"));

    let dir = tempfile::tempdir().expect("tempdir");
    let out = pullwatch(&["man", "--dir", dir.path().to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0));
    let scan_page =
        std::fs::read_to_string(dir.path().join("pullwatch-scan.1")).expect("scan page");
    assert!(scan_page.contains("fail\\-on\\-alert"), "{scan_page}");
    assert!(scan_page.contains("ocsf"));
}
