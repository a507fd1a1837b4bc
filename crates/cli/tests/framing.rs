//! Records framed the way collectors really write them, through the real binary:
//! sensors running as pods behind the container runtime's log prefix (CRI and
//! Docker json-file, with lines split by the runtime), and files concatenated with
//! `cat`, where a JSON document is followed by other formats' lines.

mod common;

use common::{scan_json_outcome, Outcome as Run};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(rel: &str) -> PathBuf {
    root().join("examples").join(rel)
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn scan(args: &[&str], paths: &[&Path], stdin: Option<Vec<u8>>) -> Run {
    scan_json_outcome(args, paths, stdin.as_deref())
}

fn alerts(r: &Run) -> Vec<Value> {
    r.alerts()
}

/// An alert without where its records were read: the same detection made from the
/// same records, whichever files or lines they came in.
fn detection(a: &Value) -> Value {
    let mut a = a.clone();
    if let Some(ev) = a.get_mut("evidence").and_then(Value::as_array_mut) {
        for e in ev {
            if let Some(o) = e.as_object_mut() {
                o.remove("source");
            }
        }
    }
    a
}

fn detections(r: &Run) -> Vec<Value> {
    alerts(r).iter().map(detection).collect()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).expect("read")
}

/// A concatenation of files goes back in time where one file ends and the next begins
/// (the examples' cloud records are from 09:30, the container records from 09:00): with
/// the default `allowed_lateness` the input is rewound there (see the `cat` test
/// below). An hour of lateness keeps every record in one time line, so that what was
/// read is compared with the files scanned apart without depending on that rule.
fn lenient_config(dir: &Path) -> PathBuf {
    let p = dir.join("lenient.yaml");
    std::fs::write(&p, "allowed_lateness: 1h\n").expect("write");
    p
}

/// The records read per format, from the summary (the events they gave depend on
/// whether the prefilter saw them: it reads JSON Lines, not a document's records).
fn records_read(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("read "))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

#[test]
fn a_json_document_followed_by_text_lines_swallows_nothing() {
    // { cat examples/cloud/cloudtrail.json; echo; cat vpc-flow.log events.jsonl; }
    let mut mixed = read(&example("cloud/cloudtrail.json"));
    mixed.push(b'\n');
    mixed.extend(read(&example("cloud/vpc-flow.log")));
    mixed.extend(read(&example("docker/events.jsonl")));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mixed.log");
    std::fs::write(&path, &mixed).expect("write");

    let cfg = lenient_config(dir.path());
    let cfg = cfg.to_str().expect("UTF-8 path");
    let got = scan(&["--config", cfg], &[&path], None);
    assert_eq!(got.code, 0, "{}", got.stderr);
    let separate = scan(
        &["--config", cfg],
        &[
            &example("cloud/cloudtrail.json"),
            &example("cloud/vpc-flow.log"),
            &example("docker/events.jsonl"),
        ],
        None,
    );
    assert!(!alerts(&separate).is_empty());
    assert_eq!(detections(&got), detections(&separate), "{}", got.stderr);
    assert!(got.stderr.contains("skipped: none"), "{}", got.stderr);
    for format in ["cloudtrail", "vpc-flow", "docker-events"] {
        assert!(got.stderr.contains(format), "{format}: {}", got.stderr);
    }
    // The VPC flow that completes the AN0692 chain is located at its line of the
    // concatenation: the document's lines, the blank line, the header, then it.
    let doc_lines = mixed
        .split(|b| *b == b'\n')
        .position(|l| l.starts_with(b"version "))
        .expect("the flow log's header") as u64
        + 1;
    let flow = alerts(&got)
        .iter()
        .flat_map(|a| a["evidence"].as_array().cloned().unwrap_or_default())
        .find(|e| e["source"]["format"] == "vpc-flow")
        .expect("a VPC flow in a chain");
    assert_eq!(flow["source"]["line"], doc_lines + 3, "{flow}");
}

#[test]
fn a_document_cut_short_costs_its_own_lines_and_says_where() {
    // The first 40 lines of the CloudTrail document, then the flow log and Docker events.
    let trail = read(&example("cloud/cloudtrail.json"));
    let mut cut: Vec<u8> = trail
        .split_inclusive(|b| *b == b'\n')
        .take(40)
        .flatten()
        .copied()
        .collect();
    cut.extend(read(&example("cloud/vpc-flow.log")));
    cut.extend(read(&example("docker/events.jsonl")));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.log");
    std::fs::write(&path, &cut).expect("write");

    let got = scan(&["--strict"], &[&path], None);
    assert_eq!(got.code, 3, "{}", got.stderr);
    // One skip, located at the document's first line, as its message says, with the
    // range it cost; every line number is the file's.
    assert!(got.stderr.contains("skipped: 1 records"), "{}", got.stderr);
    assert!(
        got.stderr.contains(&format!(
            "at {}:1: JSON document from line 1 cut short: line 41 cannot continue it; lines 1-40 skipped",
            path.display()
        )),
        "{}",
        got.stderr
    );
    let separate = scan(
        &[],
        &[
            &example("cloud/vpc-flow.log"),
            &example("docker/events.jsonl"),
        ],
        None,
    );
    let read_here: Vec<_> = records_read(&got.stderr);
    for f in records_read(&separate.stderr) {
        assert!(read_here.contains(&f), "{f:?}: {}", got.stderr);
    }
}

#[test]
fn cat_of_every_example_on_stdin_gives_the_alerts_of_the_directory() {
    // cat examples/*/* | pullwatch scan -  (cloudtrail.json has no final newline)
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .expect("examples")
        .flat_map(|d| std::fs::read_dir(d.expect("entry").path()).expect("dir"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    assert!(!read(&files[0]).ends_with(b"\n"), "{}", files[0].display());
    let all: Vec<u8> = files.iter().flat_map(|p| read(p)).collect();

    // Every record is read, none skipped. The files after the cloud ones are dated up
    // to 40 minutes before them: the input restarted from an earlier time, and with the
    // default configuration that is a rewind, not late records. The same 4 alerts as
    // the directory's (where the files are merged by event time), ids included, on
    // one decoding thread or two.
    let dir = scan(&[], &[&root().join("examples")], None);
    assert_eq!(dir.code, 0, "{}", dir.stderr);
    let mut want = detections(&dir);
    want.sort_by_key(|a| a["id"].to_string());
    assert_eq!(want.len(), 4, "{}", dir.stderr);
    for threads in ["1", "2"] {
        let piped = scan(&["--strict", "--threads", threads], &[], Some(all.clone()));
        assert_eq!(piped.code, 0, "{}", piped.stderr);
        assert_eq!(records_read(&piped.stderr), records_read(&dir.stderr));
        assert!(piped.stderr.contains("skipped: none"), "{}", piped.stderr);
        assert!(!piped.stderr.contains("late (beyond"), "{}", piped.stderr);
        assert!(
            piped
                .stderr
                .contains("rewound (input restarted from an earlier time"),
            "{}",
            piped.stderr
        );
        // Located at the first record of the Docker events, after the cloud files.
        let docker_first = all
            .split(|b| *b == b'\n')
            .position(|l| l.starts_with(b"{\"status\""))
            .map(|i| i + 1);
        assert!(
            docker_first.is_some_and(|l| piped.stderr.contains(&format!("at -:{l}: "))),
            "{docker_first:?}: {}",
            piped.stderr
        );
        let mut got = detections(&piped);
        got.sort_by_key(|a| a["id"].to_string());
        assert_eq!(got, want, "{}", piped.stderr);
    }
}

#[test]
fn sensors_collected_from_var_log_pods_alert_as_their_own_files_do() {
    // Tetragon in the CRI format (lines split by the runtime, stderr interleaved) and
    // Falco through Docker's json-file driver, with the rest of the examples.
    let pods = [
        fixture("pods/tetragon_0.log"),
        fixture("pods/falco-json.log"),
    ];
    let others = [example("cloud"), example("docker"), example("k8s")];
    let paths: Vec<&Path> = others.iter().chain(&pods).map(PathBuf::as_path).collect();
    let one = scan(&["--threads", "1"], &paths, None);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let two = scan(&["--threads", "2"], &paths, None);
    assert_eq!(one.stdout, two.stdout);
    assert_eq!(one.stderr, two.stderr);

    let plain = scan(&[], &[&root().join("examples")], None);
    assert_eq!(detections(&one), detections(&plain), "{}", one.stderr);

    // The curl exec, split over lines 8-11 (a stderr line in between), is located at
    // the first of them.
    let curl = alerts(&one)
        .iter()
        .flat_map(|a| a["evidence"].as_array().cloned().unwrap_or_default())
        .find(|e| e["source"]["format"] == "tetragon" && e["stage"] == "activity")
        .expect("Tetragon activity in a chain");
    assert!(
        curl["source"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("tetragon_0.log")),
        "{curl}"
    );
    assert_eq!(curl["source"]["line"], 8, "{curl}");
    // Tetragon's own stderr lines are not records: counted and located.
    assert!(one.stderr.contains("unrecognized line"), "{}", one.stderr);
    assert!(one.stderr.contains("tetragon_0.log:2"), "{}", one.stderr);
}

#[test]
fn a_never_ending_run_of_partial_lines_is_a_located_skip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("0.log");
    let mut text = String::new();
    for _ in 0..100 {
        text.push_str("2026-11-20T09:00:41.518123456Z stdout P ");
        text.push_str(&"x".repeat(100));
        text.push('\n');
    }
    std::fs::write(&path, &text).expect("write");
    let r = scan(&["--max-line-bytes", "1K", "--strict"], &[&path], None);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("partial line never completed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("{}:1", path.display())),
        "{}",
        r.stderr
    );
}
