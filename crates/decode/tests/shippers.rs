//! Records as log shippers deliver them: with the shipper's fields beside the record's
//! own (Vector, Filebeat/ECS), or nested in an envelope as an escaped string (Vector's
//! `message`, Filebeat's `event.original`, Fluent Bit's `log`) or as an object (`json`,
//! `payload`, `message`). Every record of the real samples must give exactly the events
//! it gives bare, and no real sample may be taken for an envelope.

use pullwatch_decode::{decode_unfiltered, DecodeOptions, DecodeStats, EventStream, Input};
use pullwatch_model::{Event, Format};
use serde_json::{Map, Value};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// One JSON record per entry, compact, from the samples of every JSON format the bench
/// corpus holds (and the issue's held-out Hubble and CloudTrail records).
fn sample_records() -> Vec<(String, String)> {
    let ws = workspace();
    let mut out = Vec::new();
    let lines_of = [
        "crates/decode/tests/fixtures/seeds/docker-events.jsonl",
        "crates/decode/tests/fixtures/seeds/falco.jsonl",
        "crates/decode/tests/fixtures/seeds/tetragon.jsonl",
        "crates/decode/tests/fixtures/seeds/k8s-audit.jsonl",
        "crates/decode/tests/fixtures/seeds/k8s-events.jsonl",
        "crates/decode/tests/fixtures/seeds/hubble-flow.jsonl",
        "crates/decode/tests/fixtures/seeds/cloudtrail.jsonl",
        "crates/decode/tests/fixtures/k8s-events/watch-core-v1.jsonl",
        "examples/docker/events.jsonl",
        "examples/k8s/audit.jsonl",
        "examples/k8s/kubelet-events.jsonl",
        "examples/node/falco.jsonl",
        "examples/node/tetragon.jsonl",
    ];
    for f in lines_of {
        let text = std::fs::read_to_string(ws.join(f)).unwrap();
        for (i, l) in text.lines().enumerate() {
            if l.trim_start().starts_with('{') {
                out.push((format!("{f}:{}", i + 1), l.trim().to_string()));
            }
        }
    }
    let trail: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.join("examples/cloud/cloudtrail.json")).unwrap(),
    )
    .unwrap();
    for (i, r) in trail["Records"].as_array().unwrap().iter().enumerate() {
        out.push((format!("cloudtrail.json#{i}"), r.to_string()));
    }
    out
}

/// Fields appended at the record's top level, skipping any the record already has
/// (a shipper sets its field; it does not write a key twice).
fn append(record: &str, fields: &[(&str, Value)]) -> String {
    let own: Map<String, Value> = serde_json::from_str(record).unwrap();
    let mut s = record.trim_end().strip_suffix('}').unwrap().to_string();
    for (k, v) in fields {
        if !own.contains_key(*k) {
            s.push_str(&format!(",{}:{v}", Value::from(*k)));
        }
    }
    s.push('}');
    s
}

/// Fields put before the record's own, as ECS writers order them (`@timestamp` first).
fn prepend(record: &str, fields: &[(&str, Value)]) -> String {
    let own: Map<String, Value> = serde_json::from_str(record).unwrap();
    let mut s = String::from("{");
    for (k, v) in fields {
        if !own.contains_key(*k) {
            s.push_str(&format!("{}:{v},", Value::from(*k)));
        }
    }
    s.push_str(record.trim_start().strip_prefix('{').unwrap());
    s
}

fn quoted(record: &str) -> String {
    Value::from(record).to_string()
}

/// Every wrapped shape of `record`, named, with the shipper the summary should count
/// (`None` when the shipper only added fields: nothing is unwrapped).
fn shapes(record: &str) -> Vec<(&'static str, String, Option<&'static str>)> {
    let host = serde_json::json!({"name": "ip-10-0-1-10", "hostname": "ip-10-0-1-10"});
    let agent = serde_json::json!({"type": "filebeat", "version": "8.15.0", "id": "3f1c"});
    let ecs = serde_json::json!({"version": "8.0.0"});
    let log = serde_json::json!({"file": {"path": "/var/log/pods/x.log"}, "offset": 1234});
    let ts = Value::from("2026-11-20T09:00:41.518Z");
    let q = quoted(record);
    vec![
        (
            "vector fields appended",
            append(
                record,
                &[
                    ("source_type", Value::from("kubernetes_logs")),
                    ("host", Value::from("ip-10-0-1-10")),
                    ("timestamp", ts.clone()),
                ],
            ),
            None,
        ),
        (
            "filebeat fields before",
            prepend(
                record,
                &[
                    ("@timestamp", ts.clone()),
                    ("host", host.clone()),
                    ("agent", agent.clone()),
                    ("ecs", ecs.clone()),
                    ("log", log.clone()),
                    ("input", serde_json::json!({"type": "filestream"})),
                    ("fields", serde_json::json!({"cluster": "prod"})),
                ],
            ),
            None,
        ),
        (
            "vector message string",
            format!(
                r#"{{"message":{q},"source_type":"kubernetes_logs","host":"ip-10-0-1-10","timestamp":{ts}}}"#
            ),
            Some("vector"),
        ),
        (
            "filebeat event.original",
            format!(
                r#"{{"@timestamp":{ts},"host":{host},"agent":{agent},"ecs":{ecs},"log":{log},"event":{{"original":{q},"dataset":"falco"}}}}"#
            ),
            Some("filebeat"),
        ),
        (
            "fluent-bit log string",
            format!(
                r#"{{"@timestamp":{ts},"log":{q},"stream":"stdout","kubernetes":{{"pod_name":"sensor-x2","namespace_name":"kube-system","host":"ip-10-0-1-10","container_name":"export"}}}}"#
            ),
            Some("fluent-bit"),
        ),
        (
            "json object",
            format!(r#"{{"@timestamp":{ts},"json":{record},"input":{{"type":"filestream"}}}}"#),
            Some("other shipper"),
        ),
        (
            "payload object",
            format!(r#"{{"payload":{record},"received_at":{ts}}}"#),
            Some("other shipper"),
        ),
        (
            "vector message object",
            format!(r#"{{"host":"ip-10-0-1-10","message":{record},"source_type":"file"}}"#),
            Some("vector"),
        ),
    ]
}

fn formats(st: &DecodeStats) -> Vec<(Format, u64, u64)> {
    st.formats
        .iter()
        .map(|(f, c)| (*f, c.records, c.events))
        .collect()
}

#[test]
fn a_wrapped_record_gives_exactly_the_events_of_the_bare_one() {
    let records = sample_records();
    assert!(records.len() > 100, "{}", records.len());
    let mut decoded = 0;
    for (at, record) in &records {
        let (bare, bare_st) = decode_unfiltered(record.as_bytes());
        if !bare.is_empty() {
            decoded += 1;
        }
        for (shape, line, shipper) in shapes(record) {
            let (ev, st) = decode_unfiltered(line.as_bytes());
            let what = format!("{at} as {shape}:\n{line}");
            assert_eq!(ev, bare, "{what}");
            assert_eq!(formats(&st), formats(&bare_st), "{what}");
            assert_eq!(
                st.skipped.keys().collect::<Vec<_>>(),
                bare_st.skipped.keys().collect::<Vec<_>>(),
                "{what}"
            );
            // An audit event as the string `message` is what EKS exports through
            // CloudWatch: the audit decoder reads that shape itself, no envelope opened.
            let audit = bare_st.formats.contains_key(&Format::K8sAudit);
            let shipper = shipper.filter(|_| !(audit && shape == "vector message string"));
            let expect: Vec<(&str, u64)> = shipper.into_iter().map(|s| (s, 1)).collect();
            let got: Vec<(&str, u64)> = st.shipped.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(got, expect, "{what}");
        }
    }
    assert!(decoded > 80, "{decoded}");
}

fn stream_file(path: &Path) -> (Vec<Event>, DecodeStats) {
    let input = pullwatch_decode::open_path(path).unwrap();
    let mut s = EventStream::new(input, DecodeOptions::default());
    let (mut out, mut st) = (Vec::new(), DecodeStats::default());
    while s.fill(&mut out, &mut st, 1000).unwrap() {}
    (out, st)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn no_real_sample_is_taken_for_a_shippers_envelope() {
    let ws = workspace();
    let mut files = Vec::new();
    files_under(&ws.join("examples"), &mut files);
    for c in std::fs::read_dir(ws.join("crates")).unwrap().flatten() {
        files_under(&c.path().join("tests/fixtures"), &mut files);
    }
    files.retain(|p| {
        !p.extension().is_some_and(|e| {
            e == "snap" || e == "toml" || e == "yaml" && !p.ends_with("cloud-config.yaml")
        })
    });
    assert!(files.len() > 40, "{}", files.len());
    for f in &files {
        let (_, st) = stream_file(f);
        assert!(st.shipped.is_empty(), "{}: {:?}", f.display(), st.shipped);
    }
}

fn stream_bytes(data: &[u8]) -> (Vec<Event>, DecodeStats) {
    let input = Input {
        path: Arc::from("wrapped.jsonl"),
        size: None,
        reader: Box::new(Cursor::new(data.to_vec())),
    };
    let mut s = EventStream::new(input, DecodeOptions::default());
    let (mut out, mut st) = (Vec::new(), DecodeStats::default());
    while s.fill(&mut out, &mut st, 3).unwrap() {}
    (out, st)
}

#[test]
fn wrapped_records_keep_their_line_and_garbage_inside_is_a_located_skip() {
    let docker = r#"{"status":"pull","id":"nginx:1.27","Type":"image","Action":"pull","Actor":{"ID":"nginx:1.27","Attributes":{"name":"nginx"}},"scope":"local","time":1795165241,"timeNano":1795165241518123456}"#;
    let q = quoted(docker);
    let data = format!(
        "{{\"message\":{q},\"source_type\":\"docker_logs\"}}\n\
         {{\"message\":\"{{not json\",\"source_type\":\"docker_logs\"}}\n\
         {{\"@timestamp\":\"t\",\"event\":{{\"original\":\"{{\\\"a\\\":1}}\"}},\"agent\":{{}}}}\n\
         {{\"log\":\"{{\\\"bad\\\": \\ud800\\\"}}\"}}\n\
         {{\"json\":{docker},\"host\":{{\"name\":\"n1\"}}}}\n"
    );
    let (ev, st) = stream_bytes(data.as_bytes());
    let lines: Vec<u64> = ev.iter().map(|e| e.source.line).collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|&l| l == 1 || l == 5), "{lines:?}");
    assert!(lines.contains(&1) && lines.contains(&5), "{lines:?}");
    assert_eq!(st.formats[&Format::DockerEvents].records, 2, "{st:?}");
    let bad = &st.skipped["invalid JSON"];
    assert_eq!(bad.first[0].line, 2, "{st:?}");
    assert_eq!(
        st.skipped["unrecognized JSON record"].first[0].line, 3,
        "{st:?}"
    );
    // A lone surrogate is no JSON string: the line is no envelope, and it is skipped
    // as the record it is.
    assert_eq!(
        st.skipped["unrecognized JSON record"].first[1].line, 4,
        "{st:?}"
    );
    assert_eq!(st.skipped_total(), 3, "{st:?}");
    assert_eq!(st.shipped["vector"], 2);
    assert_eq!(st.shipped["filebeat"], 1);
    assert_eq!(st.shipped["other shipper"], 1);
}
