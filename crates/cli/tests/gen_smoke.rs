//! The benchmark corpus, end to end through the real binary: a generated file holds
//! exactly the chains it claims, and pullwatch finds exactly those (and no decoy).

mod common;

use assert_cmd::Command;
use std::collections::BTreeSet;

fn gen(
    dir: &std::path::Path,
    seed: u64,
    records: u64,
    chains: u64,
) -> (std::path::PathBuf, BTreeSet<String>) {
    let out = dir.join(format!("corpus-{seed}.jsonl"));
    let truth = dir.join(format!("truth-{seed}.txt"));
    Command::cargo_bin("pullwatch")
        .unwrap()
        .args([
            "gen",
            "--seed",
            &seed.to_string(),
            "--records",
            &records.to_string(),
        ])
        .args(["--chains", &chains.to_string(), "--out"])
        .arg(&out)
        .arg("--truth")
        .arg(&truth)
        .assert()
        .success();
    let images = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    (out, images)
}

/// The images of the chain alerts a scan raises, and the summary it printed.
fn chain_images(args: &[&str], path: &std::path::Path) -> (Vec<String>, String) {
    let s = common::scan_json(args, &[path]);
    (common::chain_images(&s.alerts), s.stderr)
}

#[test]
fn scan_finds_exactly_the_generated_chains() {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = gen(dir.path(), 11, 20_000, 6);
    assert_eq!(truth.len(), 6);
    let (found, summary) = chain_images(&[], &path);
    assert_eq!(found.len(), 6, "one alert per chain: {found:?}\n{summary}");
    let found: BTreeSet<String> = found.into_iter().collect();
    assert_eq!(found, truth, "{summary}");
    // Every generated record is decodable: the corpus is in the formats as they are.
    assert!(summary.contains("skipped: none"), "{summary}");
}

#[test]
fn generation_is_deterministic_and_exact_in_size() {
    let dir = tempfile::tempdir().unwrap();
    let (a, ta) = gen(dir.path(), 5, 4_000, 3);
    let b = dir.path().join("again.jsonl");
    Command::cargo_bin("pullwatch")
        .unwrap()
        .args([
            "gen",
            "--seed",
            "5",
            "--records",
            "4000",
            "--chains",
            "3",
            "--out",
        ])
        .arg(&b)
        .assert()
        .success();
    let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert_eq!(ba, bb);
    assert_eq!(ba.iter().filter(|&&c| c == b'\n').count(), 4_000);
    assert_eq!(ta.len(), 3);
}

#[test]
fn too_many_chains_for_the_size_is_refused() {
    Command::cargo_bin("pullwatch")
        .unwrap()
        .args(["gen", "--records", "100", "--chains", "50"])
        .assert()
        .code(2);
}

/// The whole alert output, byte for byte.
fn scan_output(args: &[&str], paths: &[&std::path::Path]) -> String {
    let out = Command::cargo_bin("pullwatch")
        .unwrap()
        .args(["scan", "--format", "json", "--quiet"])
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn alerts_are_the_same_for_any_thread_count_with_or_without_the_prefilter() {
    let dir = tempfile::tempdir().unwrap();
    let (path, truth) = gen(dir.path(), 23, 12_000, 4);
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let paths = [path.as_path(), examples.as_path()];
    let want = scan_output(&["--threads", "1", "--prefilter", "off"], &paths);
    // The generated chains and the examples. four alerts.
    assert_eq!(want.lines().count(), truth.len() + 4, "{want}");
    for threads in ["1", "2", "3"] {
        for prefilter in ["on", "off"] {
            let got = scan_output(&["--threads", threads, "--prefilter", prefilter], &paths);
            assert_eq!(got, want, "--threads {threads} --prefilter {prefilter}");
        }
    }
}
