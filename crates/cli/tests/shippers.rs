//! The generated corpus delivered by log shippers (`pullwatch gen --wrap`), through the
//! real binary: a scan of the wrapped corpus raises exactly the alerts of the bare one,
//! for every shipper and for the wide mix (Hubble flows and CloudTrail among the
//! container sensors' records), and the summary says what was unwrapped.

mod common;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Generates the corpus at `path` (the same path for every shape, so that alerts'
/// evidence names the same file) and returns the truth's chain images.
fn gen(path: &Path, truth: &Path, wrap: &str, mix: &str) -> BTreeSet<String> {
    Command::cargo_bin("pullwatch")
        .unwrap()
        .args(["gen", "--seed", "9", "--records", "12000", "--chains", "4"])
        .args(["--wrap", wrap, "--mix", mix, "--out"])
        .arg(path)
        .arg("--truth")
        .arg(truth)
        .assert()
        .success();
    std::fs::read_to_string(truth)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The alerts as written (one JSON object per line) and the summary.
fn scan(path: &Path) -> (Vec<String>, String) {
    let s = common::scan_json(&[], &[path]);
    (s.lines, s.stderr)
}

fn chain_images(alerts: &[String]) -> BTreeSet<String> {
    let parsed: Vec<Value> = alerts
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .collect();
    common::chain_images(&parsed).into_iter().collect()
}

#[test]
fn a_wrapped_corpus_raises_exactly_the_alerts_of_the_bare_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corpus.jsonl");
    let truth_path = dir.path().join("truth.txt");
    for mix in ["container", "wide"] {
        let truth = gen(&path, &truth_path, "none", mix);
        assert_eq!(truth.len(), 4);
        let (bare, summary) = scan(&path);
        assert_eq!(chain_images(&bare), truth, "{summary}");
        assert!(summary.contains("skipped: none"), "{summary}");
        assert!(!summary.contains("unwrapped"), "{summary}");
        if mix == "wide" {
            assert!(summary.contains("read hubble-flow"), "{summary}");
            assert!(summary.contains("read cloudtrail"), "{summary}");
        }
        for (wrap, label) in [
            ("vector", None),
            ("filebeat", Some("12000  filebeat")),
            ("fluent-bit", Some("12000  fluent-bit")),
        ] {
            let wrapped_truth = gen(&path, &truth_path, wrap, mix);
            assert_eq!(wrapped_truth, truth, "{wrap}, {mix}");
            let (alerts, summary) = scan(&path);
            assert_eq!(alerts, bare, "{wrap}, {mix}:\n{summary}");
            assert!(
                summary.contains("skipped: none"),
                "{wrap}, {mix}: {summary}"
            );
            match label {
                Some(l) => assert!(
                    summary.contains("unwrapped from log shippers' envelopes: 12000 records")
                        && summary.contains(l),
                    "{wrap}, {mix}: {summary}"
                ),
                // Vector's fields sit beside the record's own: nothing to unwrap.
                None => assert!(!summary.contains("unwrapped"), "{summary}"),
            }
        }
    }
}
