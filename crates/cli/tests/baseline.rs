//! Scenarios for image provenance, driving the real `pullwatch` binary on Tetragon and
//! Docker fixtures: a baseline is learned from `history.jsonl` (nginx 1.27.2 and stable
//! at digest a…, ghcr.io/acme/billing 2.4 at digest e…, on 2026-11-20), then later
//! telemetry is scanned against it.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

const NGINX_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const NGINX_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const NGINX_C: &str = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const BILLING_E: &str = "sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";
const BILLING_F: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/baseline")
        .join(name)
        .display()
        .to_string()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn pullwatch(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_pullwatch"))
        .args(args)
        .output()
        .expect("pullwatch runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The alerts without their ids (a hash of the alert, checked for its shape here and
/// for its meaning in the report crate's tests).
fn alerts(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).expect("one JSON alert per line");
            let id = v
                .as_object_mut()
                .and_then(|o| o.remove("id"))
                .expect("every alert has an id");
            let id = id.as_str().expect("the id is a string");
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
            v
        })
        .collect()
}

/// A baseline learned from the history fixture, in a fresh directory.
fn learned() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("baseline.json");
    let run = pullwatch(&[
        "baseline",
        "learn",
        "--baseline",
        path.to_str().unwrap(),
        &fixture("history.jsonl"),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "learned from 1 inputs, 3 records (0 skipped), 3 events: 2 digests in 2 repositories, 3 tag resolutions\n"
        ),
        "{}",
        run.stderr
    );
    (dir, path)
}

fn scan_json(baseline: Option<&Path>, extra: &[&str], file: &str) -> Run {
    let mut args = vec!["scan", "--format", "json"];
    let b;
    if let Some(p) = baseline {
        b = p.display().to_string();
        args.extend(["--baseline", b.as_str()]);
    }
    args.extend(extra);
    let f = fixture(file);
    args.push(&f);
    let run = pullwatch(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run
}

fn summary_line<'a>(run: &'a Run, prefix: &str) -> &'a str {
    run.stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{}", run.stderr))
}

#[test]
fn a_new_digest_in_an_allowlisted_repository_followed_by_a_shell_alerts() {
    let (_dir, baseline) = learned();
    let run = scan_json(Some(&baseline), &[], "scan-new-digest.jsonl");
    let file = fixture("scan-new-digest.jsonl");
    let image = format!("docker.io/library/nginx:1.27.3@{NGINX_B}");
    assert_eq!(
        alerts(&run),
        [json!({
            "rule": "an0691.chain",
            "analytic": "AN0691",
            "technique": "T1204.003",
            "severity": "medium",
            "time": "2026-11-25T10:00:30Z",
            "entity": {
                "host": "node-a",
                "container_id": "4444444444444444444444444444444444444444444444444444444444444444",
                "namespace": "shop",
                "pod": "web-8a9b0-c1d2e",
                "container": "nginx"
            },
            "image": {"ref": image, "digest": NGINX_B, "registry": "docker.io"},
            "reasons": [
                format!("image {image} is allowed by image_registry_allow_list entry docker.io/library, but digest {NGINX_B} was first seen at 2026-11-25T10:00:00.2Z and is not in the baseline"),
                "no pull seen (image already present); window measured from the container's first lifecycle record at 2026-11-25T10:00:00Z",
                "ran /bin/sh ('sh' in suspicious_binaries), 30s after container start (time_window 15m)"
            ],
            "evidence": [{
                "stage": "activity",
                "time": "2026-11-25T10:00:30Z",
                "source": {"format": "tetragon", "path": file, "line": 2},
                "summary": "exec /bin/sh -c id; uname -a",
                "host": "node-a",
                "image": image,
                "container": {
                    "id": "4444444444444444444444444444444444444444444444444444444444444444",
                    "name": "nginx",
                    "pod": "web-8a9b0-c1d2e",
                    "namespace": "shop"
                },
                "process": {
                    "pid": 5120,
                    "ppid": 1,
                    "exe": "/bin/sh",
                    "cmdline": "/bin/sh -c id; uname -a",
                    "parent_exe": "/usr/bin/containerd-shim-runc-v2"
                }
            }]
        })]
    );
    assert_eq!(
        summary_line(&run, "baseline:"),
        "baseline: 1 digests seen, 1 not in the baseline, 0 moved tags"
    );
}

#[test]
fn a_digest_already_in_the_baseline_does_not_alert() {
    let (_dir, baseline) = learned();
    // The same digest through both of the tags it was learned under.
    let run = scan_json(Some(&baseline), &[], "scan-known-digest.jsonl");
    assert_eq!(run.stdout, "");
    assert_eq!(
        summary_line(&run, "baseline:"),
        "baseline: 1 digests seen, 0 not in the baseline, 0 moved tags"
    );
    assert_eq!(summary_line(&run, "alerts:"), "alerts: none");
}

#[test]
fn a_moved_tag_raises_severity_and_says_so() {
    let (_dir, baseline) = learned();
    let run = scan_json(Some(&baseline), &[], "scan-moved-tag.jsonl");
    let got = alerts(&run);
    assert_eq!(got.len(), 2, "{}", run.stdout);

    // Allowlisted nginx, tag 1.27.2 moved from a… to c…: medium raised to high.
    let nginx = format!("docker.io/library/nginx:1.27.2@{NGINX_C}");
    assert_eq!(got[0]["severity"], "high");
    assert_eq!(got[0]["image"]["ref"], nginx.as_str());
    assert_eq!(got[0]["entity"]["pod"], "web-5d8f7-r5t6y");
    assert_eq!(
        got[0]["reasons"],
        json!([
            format!("image {nginx} is allowed by image_registry_allow_list entry docker.io/library, but digest {NGINX_C} was first seen at 2026-11-25T12:00:00.2Z and is not in the baseline"),
            "no pull seen (image already present); window measured from the container's first lifecycle record at 2026-11-25T12:00:00Z",
            "ran /bin/sh ('sh' in suspicious_binaries), 42s after container start (time_window 15m)",
            format!("tag moved: docker.io/library/nginx:1.27.2 now resolves to {NGINX_C}, never seen for that tag (known: {NGINX_A}); severity raised to high")
        ])
    );

    // Untrusted billing image, tag 2.4 moved from e… to f…: high raised to critical.
    let billing = format!("ghcr.io/acme/billing:2.4@{BILLING_F}");
    assert_eq!(got[1]["severity"], "critical");
    assert_eq!(got[1]["time"], "2026-11-25T12:05:07Z");
    assert_eq!(
        got[1]["reasons"],
        json!([
            format!("image {billing} is not in image_registry_allow_list (registry ghcr.io, repository acme/billing)"),
            "no pull seen (image already present); window measured from the container's first lifecycle record at 2026-11-25T12:05:00Z",
            "ran /usr/bin/curl ('curl' in suspicious_binaries), 7s after container start (time_window 15m)",
            format!("tag moved: ghcr.io/acme/billing:2.4 now resolves to {BILLING_F}, never seen for that tag (known: {BILLING_E}); severity raised to critical")
        ])
    );
    assert_eq!(
        summary_line(&run, "baseline:"),
        "baseline: 2 digests seen, 2 not in the baseline, 2 moved tags"
    );
}

#[test]
fn without_a_baseline_nothing_is_newly_seen() {
    let run = scan_json(None, &[], "scan-new-digest.jsonl");
    assert_eq!(run.stdout, "");
    assert_eq!(
        summary_line(&run, "baseline:"),
        "baseline: none (no digest or tag counts as newly seen without --baseline)"
    );
    // The untrusted image still alerts as before, at its usual severity.
    let run = scan_json(None, &[], "scan-moved-tag.jsonl");
    let got = alerts(&run);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["severity"], "high");
    assert_eq!(got[0]["reasons"].as_array().map(Vec::len), Some(3));
}

#[test]
fn update_baseline_records_what_was_seen() {
    let (_dir, baseline) = learned();
    let run = scan_json(
        Some(&baseline),
        &["--update-baseline"],
        "scan-new-digest.jsonl",
    );
    assert_eq!(alerts(&run).len(), 1);
    assert!(
        run.stderr.ends_with(&format!(
            "pullwatch: baseline {} updated: 1 digests added, 1 tag resolutions added (0 moved tags)\n",
            baseline.display()
        )),
        "{}",
        run.stderr
    );
    // Seen now: the same telemetry again is established, not new.
    let again = scan_json(
        Some(&baseline),
        &["--update-baseline"],
        "scan-new-digest.jsonl",
    );
    assert_eq!(again.stdout, "");
    assert!(again
        .stderr
        .ends_with("updated: 0 digests added, 0 tag resolutions added (0 moved tags)\n"));
    let show = pullwatch(&["baseline", "show", "--baseline", baseline.to_str().unwrap()]);
    assert!(show.stdout.contains(&format!(
        "  tag 1.27.3\n       {NGINX_B}  seen 2026-11-25T10:00:00.2Z .. 2026-11-25T10:00:30Z\n"
    )));
}

#[test]
fn a_learning_period_learns_before_it_judges() {
    let dir = tempfile::tempdir().unwrap();
    let week = dir.path().join("week.json");
    let two_days = dir.path().join("two-days.json");
    for (path, period) in [(&week, "7d"), (&two_days, "2d")] {
        let run = scan_json(
            Some(path),
            &["--update-baseline", "--learning-period", period],
            "history.jsonl",
        );
        assert_eq!(run.stdout, "");
        assert!(
            run.stderr.contains("learning period declared"),
            "{}",
            run.stderr
        );
    }
    // Learning runs from the first event (2026-11-20T08:00:00.2Z).
    let show = pullwatch(&["baseline", "show", "--baseline", week.to_str().unwrap()]);
    assert!(show
        .stdout
        .contains("\nlearning period: until 2026-11-27T08:00:00.2Z\n"));

    // 2026-11-25 is inside a week of learning: the new digest is learned, not reported.
    let run = scan_json(Some(&week), &[], "scan-new-digest.jsonl");
    assert_eq!(run.stdout, "");
    assert_eq!(
        summary_line(&run, "baseline:"),
        "baseline: 1 digests seen, 1 not in the baseline, 0 moved tags; learning until 2026-11-27T08:00:00.2Z"
    );
    // After two days of learning it is a first sight.
    let run = scan_json(Some(&two_days), &[], "scan-new-digest.jsonl");
    let got = alerts(&run);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["severity"], "medium");

    // The period, once declared, is not extended by the same command line next time.
    let run = scan_json(
        Some(&two_days),
        &["--update-baseline", "--learning-period", "30d"],
        "scan-new-digest.jsonl",
    );
    assert_eq!(alerts(&run).len(), 1);
    let show = pullwatch(&["baseline", "show", "--baseline", two_days.to_str().unwrap()]);
    assert!(show
        .stdout
        .contains("\nlearning period: until 2026-11-22T08:00:00.2Z\n"));

    // A baseline built without one gets none afterwards, and says so.
    let (_d, learned) = learned();
    let run = scan_json(
        Some(&learned),
        &["--learning-period", "7d"],
        "scan-new-digest.jsonl",
    );
    assert_eq!(alerts(&run).len(), 1);
    assert!(run.stderr.starts_with(&format!(
        "pullwatch: {}: --learning-period ignored",
        learned.display()
    )));
}

#[test]
fn show_prints_what_the_baseline_knows() {
    let (_dir, baseline) = learned();
    let run = pullwatch(&["baseline", "show", "--baseline", baseline.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "baseline {} (format version 1)
learning period: none
2 repositories, 2 digests, 3 tags (3 resolutions), 0 VM images

docker.io/library/nginx
  digest {NGINX_A}  seen 2026-11-20T08:00:00.2Z .. 2026-11-20T08:10:00.1Z
  tag 1.27.2
       {NGINX_A}  seen 2026-11-20T08:00:00.2Z
  tag stable
       {NGINX_A}  seen 2026-11-20T08:10:00.1Z

ghcr.io/acme/billing
  digest {BILLING_E}  seen 2026-11-20T08:05:00.1Z
  tag 2.4
       {BILLING_E}  seen 2026-11-20T08:05:00.1Z
",
            baseline.display()
        )
    );
}

#[test]
fn diff_shows_new_digests_and_moved_tags() {
    let (dir, old) = learned();
    let new = dir.path().join("new.json");
    std::fs::copy(&old, &new).unwrap();
    scan_json(Some(&new), &["--update-baseline"], "scan-moved-tag.jsonl");
    let run = pullwatch(&[
        "baseline",
        "diff",
        "--baseline",
        old.to_str().unwrap(),
        "--against",
        new.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "+ digest docker.io/library/nginx@{NGINX_C}  seen 2026-11-25T12:00:00.2Z .. 2026-11-25T12:00:42Z
+ digest ghcr.io/acme/billing@{BILLING_F}  seen 2026-11-25T12:05:00.1Z .. 2026-11-25T12:05:07Z
+ tag    docker.io/library/nginx:1.27.2 -> {NGINX_C}  seen 2026-11-25T12:00:00.2Z .. 2026-11-25T12:00:42Z  (moved; was {NGINX_A})
+ tag    ghcr.io/acme/billing:2.4 -> {BILLING_F}  seen 2026-11-25T12:05:00.1Z .. 2026-11-25T12:05:07Z  (moved; was {BILLING_E})
2 digests added, 0 removed; 2 tag resolutions added (2 moved tags), 0 removed; 0 VM images added, 0 changed, 0 removed; 0 entries seen again
"
        )
    );
    let same = pullwatch(&[
        "baseline",
        "diff",
        "--baseline",
        new.to_str().unwrap(),
        "--against",
        new.to_str().unwrap(),
    ]);
    assert!(same.stdout.starts_with("0 digests added, 0 removed;"));
}

#[test]
fn missing_or_damaged_baselines_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo.json");
    let run = pullwatch(&[
        "scan",
        "--baseline",
        missing.to_str().unwrap(),
        &fixture("scan-new-digest.jsonl"),
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr,
        format!(
            "pullwatch: {}: no such baseline (create it with `pullwatch baseline learn` or `pullwatch scan --update-baseline`)\n",
            missing.display()
        )
    );
    assert!(!missing.exists());

    let damaged = dir.path().join("damaged.json");
    std::fs::write(
        &damaged,
        "{\"format\":\"pullwatch-baseline\",\"version\":1,",
    )
    .unwrap();
    for args in [
        vec!["scan", "--update-baseline", "--baseline"],
        vec!["baseline", "learn", "--baseline"],
        vec!["baseline", "show", "--baseline"],
    ] {
        let mut args = args.clone();
        args.push(damaged.to_str().unwrap());
        let f = fixture("scan-new-digest.jsonl");
        if args[0] != "baseline" || args[1] == "learn" {
            args.push(&f);
        }
        let run = pullwatch(&args);
        assert_eq!(run.code, 2, "{args:?}");
        assert!(
            run.stderr.starts_with(&format!(
                "pullwatch: {}: damaged baseline:",
                damaged.display()
            )),
            "{}",
            run.stderr
        );
    }
    // Left as it was, for someone to look at.
    assert_eq!(
        std::fs::read_to_string(&damaged).unwrap(),
        "{\"format\":\"pullwatch-baseline\",\"version\":1,"
    );

    let run = pullwatch(&["scan", "--update-baseline", &fixture("history.jsonl")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--baseline"), "{}", run.stderr);
}

#[test]
fn a_docker_pull_by_a_new_digest_starts_the_chain_at_the_pull() {
    let (_dir, baseline) = learned();
    let run = scan_json(Some(&baseline), &[], "docker-pull-by-digest.jsonl");
    let got = alerts(&run);
    assert_eq!(got.len(), 1, "{}", run.stdout);
    let digest = format!("sha256:{}", "9".repeat(64));
    let image = format!("docker.io/library/nginx@{digest}");
    assert_eq!(got[0]["severity"], "medium");
    assert_eq!(got[0]["image"]["ref"], image.as_str());
    assert_eq!(
        got[0]["reasons"],
        json!([
            format!("image {image} is allowed by image_registry_allow_list entry docker.io/library, but digest {digest} was first seen at 2026-11-25T10:00:00Z and is not in the baseline"),
            "pulled at 2026-11-25T10:00:00Z, container started 3s later",
            "ran sh ('sh' in suspicious_binaries), 20s after the pull (time_window 15m)"
        ])
    );
    let stages: Vec<&str> = got[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["pull", "create", "start", "activity"]);

    // Once recorded, the same pull and exec are the digest's established use.
    let run = scan_json(
        Some(&baseline),
        &["--update-baseline"],
        "docker-pull-by-digest.jsonl",
    );
    assert_eq!(alerts(&run).len(), 1);
    let run = scan_json(Some(&baseline), &[], "docker-pull-by-digest.jsonl");
    assert_eq!(run.stdout, "");
}

const NGINX_D: &str = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
const STARTUP_NOTE: &str = "1 earlier process(es) of the container's own start-up (its entrypoint, or run directly by it) were not counted: expected for a newly seen digest of an allowlisted image";

/// nginx 1.28 at a digest the baseline lacks, starting as the official image does:
/// `/docker-entrypoint.sh` as pid 1 runs `sh -c /docker-entrypoint.d/…` (parent pid 1),
/// seen by Tetragon (`pod.container.pid`) in one pod and Falco (`proc.vpid`/`proc.pvpid`)
/// in another. That is the image's own start-up, not a suspicious execution.
#[test]
fn an_allowlisted_images_new_digest_starting_up_through_its_entrypoint_does_not_alert() {
    let (_dir, baseline) = learned();
    let (tetragon, falco) = (
        fixture("scan-entrypoint.jsonl"),
        fixture("scan-entrypoint-falco.jsonl"),
    );
    let b = baseline.display().to_string();
    let run = pullwatch(&[
        "scan",
        "--format",
        "json",
        "--baseline",
        &b,
        &tetragon,
        &falco,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(
        summary_line(&run, "baseline:"),
        "baseline: 1 digests seen, 1 not in the baseline, 0 moved tags"
    );
    // The Tetragon script's shell and both Falco shells; `/docker-entrypoint.sh` and
    // nginx are no suspicious binaries to begin with.
    assert_eq!(
        summary_line(&run, "start-up not alerted:"),
        "start-up not alerted: 3 processes (entrypoint of a newly seen digest of an allowlisted image, or run directly by it)"
    );
    assert_eq!(summary_line(&run, "alerts:"), "alerts: none");
}

/// After the same start-up, what is not start-up still alerts: a shell exec'd by the
/// runtime (its parent is runc, outside the container), a curl run by the entrypoint's
/// script (two levels down), and an untrusted image's entrypoint running curl.
#[test]
fn exec_processes_deeper_ones_and_untrusted_entrypoints_still_alert() {
    let (_dir, baseline) = learned();
    let run = scan_json(Some(&baseline), &[], "scan-entrypoint-exec.jsonl");
    let got = alerts(&run);
    assert_eq!(got.len(), 3, "{}", run.stdout);
    let nginx = format!("docker.io/library/nginx:1.28@{NGINX_D}");
    let new_digest = format!("image {nginx} is allowed by image_registry_allow_list entry docker.io/library, but digest {NGINX_D} was first seen at 2026-11-26T10:00:00.1Z and is not in the baseline");

    assert_eq!(got[0]["severity"], "medium");
    assert_eq!(got[0]["entity"]["pod"], "web-9c8d7-g5h6i");
    assert_eq!(
        got[0]["reasons"],
        json!([
            new_digest,
            "no pull seen (image already present); window measured from the container's first lifecycle record at 2026-11-26T10:00:00Z",
            "ran /bin/sh ('sh' in suspicious_binaries), 120.2s after container start (time_window 15m)",
            STARTUP_NOTE
        ])
    );
    assert_eq!(
        got[0]["evidence"][0]["process"]["parent_exe"],
        "/usr/bin/runc"
    );

    assert_eq!(got[1]["severity"], "medium");
    assert_eq!(got[1]["entity"]["pod"], "web-9c8d7-j7k8l");
    assert_eq!(
        got[1]["reasons"],
        json!([
            new_digest,
            "no pull seen (image already present); window measured from the container's first lifecycle record at 2026-11-26T10:10:00Z",
            "ran /usr/bin/curl ('curl' in suspicious_binaries), 500ms after container start (time_window 15m)",
            STARTUP_NOTE
        ])
    );

    // The attack itself: an untrusted image's entrypoint (pid 1) fetching a payload.
    let toolbox = "docker.io/kitty0x/toolbox:latest@sha256:9999999999999999999999999999999999999999999999999999999999999999";
    assert_eq!(got[2]["severity"], "high");
    assert_eq!(got[2]["image"]["ref"], toolbox);
    assert_eq!(
        got[2]["reasons"][2],
        "ran /usr/bin/curl ('curl' in suspicious_binaries), 100ms after container start (time_window 15m)"
    );
    assert_eq!(got[2]["reasons"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        summary_line(&run, "start-up not alerted:"),
        "start-up not alerted: 2 processes (entrypoint of a newly seen digest of an allowlisted image, or run directly by it)"
    );

    // Without a baseline nothing is newly seen: only the untrusted image alerts, and no
    // start-up was excused (nothing needed excusing).
    let run = scan_json(None, &[], "scan-entrypoint-exec.jsonl");
    let got = alerts(&run);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["image"]["ref"], toolbox);
    assert!(
        !run.stderr.contains("start-up not alerted"),
        "{}",
        run.stderr
    );
}
