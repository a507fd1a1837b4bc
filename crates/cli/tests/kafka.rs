//! `pullwatch run` on a real Kafka broker, as users scale it out: a generated corpus with
//! known chains produced to node topics keyed by host and to a context topic (Kubernetes
//! audit), three members of one group, one killed with SIGKILL mid-stream and a new one
//! joining later. The alerts topic, read with read_committed, must hold exactly the
//! alerts `pullwatch scan` gives on the same records: none lost, none doubled.
//!
//! The broker comes from scripts/kafka.sh (KAFKA_BOOTSTRAP); without one the test says it
//! skipped, unless PULLWATCH_REQUIRE_KAFKA=1.

use pullwatch_kafka::{create_topics, KafkaSettings, RecordProducer, TableReader};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::running::{self, Running};
use common::BIN;
const NODE_TOPICS: [&str; 4] = ["tetragon", "falco", "kubelet", "docker"];
const NODE_PARTITIONS: i32 = 6;

fn broker(test: &str) -> Option<String> {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) if !b.trim().is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var("PULLWATCH_REQUIRE_KAFKA").as_deref() != Ok("1"),
                "{test}: PULLWATCH_REQUIRE_KAFKA=1 but KAFKA_BOOTSTRAP is not set"
            );
            let line = format!(
                "{test}: skipped: no broker (run via scripts/kafka.sh run cargo test -p pullwatch --test kafka)\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("pw-{what}-{}-{nanos}", std::process::id())
}

/// Which topic a record goes to, and its key, as a deployment's shippers would do it:
/// Kubernetes audit is control-plane context; node telemetry is keyed by the node.
fn route(line: &str) -> (&'static str, Option<String>) {
    let v: Value = serde_json::from_str(line).expect("generated records are JSON");
    let first = v
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    let s = |x: &Value| x.as_str().map(str::to_string);
    match first.as_str() {
        "kind"
            if v["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("audit.k8s.io")) =>
        {
            ("audit", None)
        }
        "kind" => ("kubelet", s(&v["source"]["host"])),
        k if k.starts_with("process_") => ("tetragon", s(&v["node_name"])),
        "hostname" => ("falco", s(&v["hostname"])),
        // Docker's events name no host: its shipper keys them by the one it runs on.
        _ => ("docker", Some("docker-node-1".into())),
    }
}

/// A running member of the group.
struct Member(Running);

impl std::ops::Deref for Member {
    type Target = Running;
    fn deref(&self) -> &Running {
        &self.0
    }
}

impl std::ops::DerefMut for Member {
    fn deref_mut(&mut self) -> &mut Running {
        &mut self.0
    }
}

impl Member {
    fn start(args: &[String]) -> Member {
        let mut argv = vec!["run".to_string()];
        argv.extend_from_slice(args);
        Member(Running::start(&argv))
    }

    /// Partitions this member said it owns, at its latest rebuild.
    fn owns(&self) -> Option<usize> {
        self.last_said(|l| {
            l.strip_prefix("pullwatch: kafka: owning ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
        })
    }

    /// SIGTERM, then the exit code.
    fn stop(&mut self) -> i32 {
        self.0.stop_within(Duration::from_secs(60)).0
    }
}

/// Polls `f` until it holds; on timeout, fails with what the members said.
fn wait_until(limit: Duration, what: &str, members: &[&Member], f: impl FnMut() -> bool) {
    if !running::wait_until(limit, f) {
        let said: Vec<String> = members
            .iter()
            .enumerate()
            .map(|(i, m)| format!("--- member {i}:\n{}", m.stderr()))
            .collect();
        panic!("timed out waiting for {what}\n{}", said.join("\n"));
    }
}

/// Every alert committed to `topic` (its id, body, and partition and offset), in order,
/// duplicates kept: a reader that starts at the beginning and reads to the end with
/// read_committed. Where each copy lies tells a failure which transactions committed an
/// alert twice.
fn committed_alerts(bootstrap: &str, topic: &str) -> Vec<(String, Value, (i32, i64))> {
    let s = KafkaSettings::new(bootstrap, Vec::new());
    let mut r = TableReader::new(&s, &[topic.to_string()], None, Duration::from_secs(30))
        .expect("alerts reader");
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !r.caught_up() {
        assert!(
            Instant::now() < deadline,
            "alerts topic not read to its end"
        );
        for rec in r
            .poll_batch(10_000, Duration::from_millis(200))
            .expect("read alerts")
        {
            let id = String::from_utf8(rec.key.expect("alerts are keyed")).expect("utf-8 id");
            let body: Value = serde_json::from_slice(&rec.payload).expect("alert JSON");
            assert_eq!(
                body["id"].as_str(),
                Some(id.as_str()),
                "key is the alert id"
            );
            ids.push((id, body, (rec.partition, rec.offset)));
        }
    }
    ids
}

/// `GET /metrics` from a member started with `--listen 127.0.0.1:0`.
fn get_metrics(m: &Member) -> String {
    let line = m.wait_for_line("pullwatch: listening on http://");
    let addr = line.split(' ').next().unwrap_or_default();
    let mut s = std::net::TcpStream::connect(addr).expect("connect to metrics");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).expect("response");
    body
}

/// The alerts a scan of `corpus` raises, by id.
fn scan_alerts(corpus: &Path, config: &Path) -> BTreeMap<String, Value> {
    let out = Command::new(BIN)
        .args(["scan", "--format", "json", "--config"])
        .arg(config)
        .arg(corpus)
        .output()
        .expect("scan runs");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let body = serde_json::from_str::<Value>(l).expect("alert JSON");
            let id = body["id"].as_str().expect("id").to_string();
            (id, body)
        })
        .collect()
}

fn scan_ids(corpus: &Path, config: &Path) -> BTreeSet<String> {
    scan_alerts(corpus, config).into_keys().collect()
}

#[test]
fn three_members_one_killed_mid_stream_commit_exactly_the_alerts_scan_gives() {
    let Some(bootstrap) =
        broker("three_members_one_killed_mid_stream_commit_exactly_the_alerts_scan_gives")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus.jsonl");
    // 400 s of event time: longer than the allowed lateness, so alerts flow mid-stream.
    let gen = Command::new(BIN)
        .args([
            "gen",
            "--records",
            "4000",
            "--chains",
            "8",
            "--seed",
            "7",
            "--rate",
            "10",
            "-o",
        ])
        .arg(&corpus)
        .output()
        .expect("gen runs");
    assert!(gen.status.success());
    let suffix = unique("t");
    let topic = |t: &str| format!("{t}-{suffix}");
    let alerts_topic = topic("alerts");
    let group = topic("group");
    let config = dir.path().join("pullwatch.yaml");
    // namespace_scope makes alerts from a pod create alone: built from context only, they
    // must be sent by one member.
    std::fs::write(
        &config,
        "namespace_scope: [shop]\nkafka:\n  properties:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"500\"\n    transaction.timeout.ms: \"10000\"\n",
    )
    .expect("config");
    let scanned = scan_alerts(&corpus, &config);
    let expected: BTreeSet<String> = scanned.keys().cloned().collect();
    assert!(
        expected.len() >= 10,
        "the corpus has chains: {}",
        expected.len()
    );

    let admin = KafkaSettings::new(&bootstrap, Vec::new());
    let mut create: Vec<(String, i32)> = NODE_TOPICS
        .iter()
        .map(|t| (topic(t), NODE_PARTITIONS))
        .collect();
    create.push((topic("audit"), 3));
    create.push((alerts_topic.clone(), 3));
    let create_refs: Vec<(&str, i32)> = create.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    create_topics(&admin, &create_refs, Some(1), Duration::from_secs(30)).expect("topics");

    let mut args: Vec<String> = vec![
        "--config".into(),
        config.display().to_string(),
        "--kafka-bootstrap".into(),
        bootstrap.clone(),
        "--kafka-group".into(),
        group.clone(),
        "--kafka-alerts-topic".into(),
        alerts_topic.clone(),
        "--kafka-context-topic".into(),
        topic("audit"),
        "--idle-timeout".into(),
        "2s".into(),
        "--kafka-commit-interval".into(),
        "500ms".into(),
    ];
    for t in NODE_TOPICS {
        args.push("--kafka-topic".into());
        args.push(topic(t));
    }
    // Every member serves its metrics.
    let member = |name: &str| {
        let mut a = args.clone();
        a.extend([
            "--kafka-instance".into(),
            name.into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ]);
        Member::start(&a)
    };
    let mut members = vec![member("w1"), member("w2"), member("w3")];
    let total = (NODE_TOPICS.len() as i32 * NODE_PARTITIONS) as usize;
    let m = &members;
    wait_until(
        Duration::from_secs(90),
        "three members sharing the partitions",
        &[&m[0], &m[1], &m[2]],
        || {
            let owns: Vec<Option<usize>> = m.iter().map(Member::owns).collect();
            owns.iter().all(|o| o.is_some_and(|n| n > 0))
                && owns.iter().flatten().sum::<usize>() == total
        },
    );

    let lines: Vec<String> = std::fs::read_to_string(&corpus)
        .expect("corpus")
        .lines()
        .map(str::to_string)
        .collect();
    let producer = RecordProducer::new(&admin).expect("producer");
    let produce = |part: &[String]| {
        for l in part {
            let (t, key) = route(l);
            producer
                .send(
                    &topic(t),
                    key.as_deref().map(str::as_bytes),
                    l.as_bytes(),
                    None,
                )
                .expect("queue record");
        }
        producer.flush(Duration::from_secs(60)).expect("delivered");
    };
    let split = lines.len() * 3 / 5;
    produce(&lines[..split]);

    // Mid-stream: once alerts are being committed, w2 dies without a word.
    let mut seen = BTreeMap::new();
    let mut watch = TableReader::new(
        &admin,
        std::slice::from_ref(&alerts_topic),
        None,
        Duration::from_secs(30),
    )
    .expect("alerts watcher");
    let mut take = |seen: &mut BTreeMap<String, usize>| {
        for r in watch
            .poll_batch(10_000, Duration::from_millis(100))
            .expect("watch alerts")
        {
            let id = String::from_utf8(r.key.unwrap_or_default()).unwrap_or_default();
            *seen.entry(id).or_insert(0) += 1;
        }
    };
    wait_until(
        Duration::from_secs(45),
        "the first committed alerts",
        &[&members[0], &members[1], &members[2]],
        || {
            take(&mut seen);
            !seen.is_empty()
        },
    );
    members[1].kill9();
    produce(&lines[split..]);

    // Later a new member joins under the dead one's name (fencing what it left open).
    wait_until(
        Duration::from_secs(60),
        "the survivors taking over",
        &[&members[0], &members[2]],
        || members[0].owns().unwrap_or(0) + members[2].owns().unwrap_or(0) == total,
    );
    members.push(member("w2"));

    // Waits for every expected alert; what is missing after the deadline is reported
    // below with the members' logs.
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline && !expected.iter().all(|id| seen.contains_key(id)) {
        take(&mut seen);
    }
    for (i, m) in members.iter_mut().enumerate() {
        if i != 1 {
            assert!(m.alive(), "member {i} died: {}", m.stderr());
        }
    }
    // Which member replayed what it or another had committed depends on timing: the
    // counts are summed over the members alive.
    let metrics: Vec<String> = [0, 2, 3]
        .iter()
        .map(|&i| get_metrics(&members[i]))
        .collect();
    for counted in [
        "pullwatch_kafka_rebalances_total",
        "pullwatch_kafka_replayed_records_total",
        "pullwatch_kafka_transactions_total{outcome=\"committed\"}",
    ] {
        let n: f64 = metrics
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix(counted))
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .sum();
        assert!(n > 0.0, "{counted} is counted: {metrics:?}");
    }
    // Lag is asked of the brokers every 15 s (and is empty for a moment while a
    // rebalance has revoked everything): a member shows it within that.
    wait_until(
        Duration::from_secs(40),
        "lag per partition in w1's metrics",
        &[&members[0]],
        || get_metrics(&members[0]).contains("pullwatch_kafka_consumer_lag{"),
    );
    // Everyone stops (committing what it holds); then the topic is final.
    for (i, m) in members.iter_mut().enumerate() {
        if i != 1 {
            assert_eq!(m.stop(), 0, "member {i}: {}", m.stderr());
        }
    }
    let committed = committed_alerts(&bootstrap, &alerts_topic);
    let mut copies: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
    for (id, _, at) in &committed {
        copies.entry(id.as_str()).or_default().push(*at);
    }
    let doubled: Vec<_> = copies.iter().filter(|(_, at)| at.len() > 1).collect();
    if !doubled.is_empty() {
        // Where each copy lies, the evidence of one copy (which input records it came
        // from), and what every member logged: which of them committed which copy, and
        // what each had read of the alerts already committed when it took over.
        let evidence: Vec<_> = doubled
            .iter()
            .filter_map(|(id, _)| committed.iter().find(|(i, _, _)| i == *id))
            .map(|(_, body, _)| body["evidence"].to_string())
            .collect();
        let logs: Vec<String> = members
            .iter()
            .enumerate()
            .map(|(i, m)| format!("--- member {i}:\n{}", m.stderr()))
            .collect();
        panic!(
            "alerts committed twice (alerts topic partition, offset of each copy): {doubled:?}\n\
             evidence: {evidence:?}\n{}",
            logs.join("\n")
        );
    }
    let got: BTreeMap<String, Value> = committed
        .into_iter()
        .map(|(id, body, _)| (id, body))
        .collect();
    let lost: Vec<&Value> = scanned
        .iter()
        .filter(|(id, _)| !got.contains_key(*id))
        .map(|(_, a)| a)
        .collect();
    let extra: Vec<&Value> = got
        .iter()
        .filter(|(id, _)| !expected.contains(*id))
        .map(|(_, a)| a)
        .collect();
    // What tells a late or reordered record apart, as each member counted it.
    let disorder: Vec<&str> = metrics
        .iter()
        .flat_map(|m| m.lines())
        .filter(|l| {
            !l.starts_with('#')
                && ["late", "rewind", "forced", "abandoned"]
                    .iter()
                    .any(|w| l.contains(w))
        })
        .collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "lost {lost:#?}\nnot in scan {extra:#?}\nmetrics of w1, w3, new w2: {disorder:#?}\n\
         w1: {}\nw3: {}\nnew w2: {}",
        members[0].stderr(),
        members[2].stderr(),
        members[3].stderr()
    );
}

/// Settings that cannot work are refused before any broker is contacted (exit 2), with a
/// message naming what to fix.
#[test]
fn kafka_settings_that_cannot_work_are_refused_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = dir.path().join("typo.yaml");
    std::fs::write(&typo, "kafka:\n  bootstrap: 127.0.0.1:1\n  topic: [t]\n").expect("config");
    let typo = typo.display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["--kafka-topic", "t"], "without brokers"),
        (
            &["--kafka-bootstrap", "127.0.0.1:1", "--kafka-topic", "t"],
            "alerts topic is needed",
        ),
        (
            &[
                "--kafka-bootstrap",
                "127.0.0.1:1",
                "--kafka-alerts-topic",
                "a",
            ],
            "at least one node topic",
        ),
        (
            &[
                "--kafka-bootstrap",
                "127.0.0.1:1",
                "--kafka-topic",
                "t",
                "--kafka-context-topic",
                "t",
                "--kafka-alerts-topic",
                "a",
            ],
            "both a node topic and a context topic",
        ),
        (&["--config", &typo], "topic"),
    ];
    for (args, says) in cases {
        let out = Command::new(BIN)
            .arg("run")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("pullwatch runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    }
    // Files and Kafka together: every record comes from the topics.
    let out = Command::new(BIN)
        .args([
            "run",
            "--kafka-bootstrap",
            "127.0.0.1:1",
            "--kafka-topic",
            "t",
            "--kafka-alerts-topic",
            "a",
            "--follow",
            "/tmp/x.log",
        ])
        .output()
        .expect("pullwatch runs");
    assert_eq!(out.status.code(), Some(2));
}

/// The benchmark behind `bench/kafka` (ignored in the suite: it wants a release build and
/// minutes). One corpus produced once; then for 1, 2 and 3 members in a fresh group and
/// a fresh alerts topic: the time from the group's last rebuild to every alert `scan`
/// gives being committed (records per second over that span). Then 3 members again, one
/// killed with SIGKILL as soon as the group settles: the time from its death to every
/// alert committed, its partitions' included (detection by the session timeout, then a
/// replay of the window by the survivors).
#[test]
#[ignore]
fn bench_kafka_members() {
    let Some(bootstrap) = broker("bench_kafka_members") else {
        return;
    };
    let records: usize = std::env::var("PULLWATCH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let corpus = dir.path().join("corpus.jsonl");
    let gen = Command::new(BIN)
        .args([
            "gen",
            "--records",
            &records.to_string(),
            "--chains",
            "20",
            "--seed",
            "11",
            "-o",
        ])
        .arg(&corpus)
        .output()
        .expect("gen runs");
    assert!(gen.status.success());
    let config = dir.path().join("pullwatch.yaml");
    std::fs::write(
        &config,
        "namespace_scope: [shop]\nkafka:\n  properties:\n    session.timeout.ms: \"6000\"\n    heartbeat.interval.ms: \"500\"\n    transaction.timeout.ms: \"10000\"\n",
    )
    .expect("config");
    let expected = scan_ids(&corpus, &config);
    let suffix = unique("bench");
    let topic = |t: &str| format!("{t}-{suffix}");
    let admin = KafkaSettings::new(&bootstrap, Vec::new());
    let mut create: Vec<(String, i32)> = NODE_TOPICS
        .iter()
        .map(|t| (topic(t), NODE_PARTITIONS))
        .collect();
    create.push((topic("audit"), 3));
    for n in 1..=4 {
        create.push((topic(&format!("alerts{n}")), 3));
    }
    let refs: Vec<(&str, i32)> = create.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    create_topics(&admin, &refs, Some(1), Duration::from_secs(30)).expect("topics");
    let text = std::fs::read_to_string(&corpus).expect("corpus");
    let producer = RecordProducer::new(&admin).expect("producer");
    let t = Instant::now();
    for l in text.lines() {
        let (tp, key) = route(l);
        producer
            .send(
                &topic(tp),
                key.as_deref().map(str::as_bytes),
                l.as_bytes(),
                None,
            )
            .expect("queue");
    }
    producer.flush(Duration::from_secs(120)).expect("delivered");
    let produce_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "bench: {records} records, {} alerts expected; produced in {produce_secs:.2} s",
        expected.len()
    );
    let total = (NODE_TOPICS.len() as i32 * NODE_PARTITIONS) as usize;
    for (round, n, kill) in [
        (1, 1usize, false),
        (2, 2, false),
        (3, 3, false),
        (4, 3, true),
    ] {
        let alerts = topic(&format!("alerts{round}"));
        let mut args: Vec<String> = vec![
            "--config".into(),
            config.display().to_string(),
            "--kafka-bootstrap".into(),
            bootstrap.clone(),
            "--kafka-group".into(),
            topic(&format!("group{round}")),
            "--kafka-alerts-topic".into(),
            alerts.clone(),
            "--kafka-context-topic".into(),
            topic("audit"),
            "--idle-timeout".into(),
            "1s".into(),
        ];
        for t in NODE_TOPICS {
            args.push("--kafka-topic".into());
            args.push(topic(t));
        }
        let start = Instant::now();
        let mut members: Vec<Member> = (0..n)
            .map(|i| {
                let mut a = args.clone();
                a.extend(["--kafka-instance".into(), format!("b{round}-{i}")]);
                Member::start(&a)
            })
            .collect();
        let refs: Vec<&Member> = members.iter().collect();
        // The last rebuild: the moment every member owns its final share.
        let mut settled = None;
        wait_until(Duration::from_secs(120), "a settled group", &refs, || {
            let owns: Vec<Option<usize>> = refs.iter().map(|m| m.owns()).collect();
            let ok = owns.iter().all(|o| o.is_some_and(|x| x > 0))
                && owns.iter().flatten().sum::<usize>() == total;
            if ok && settled.is_none() {
                settled = Some(Instant::now());
            }
            ok
        });
        let settled = settled.unwrap_or(start);
        let killed = Instant::now();
        if kill {
            members[1].kill9();
        }
        let refs: Vec<&Member> = members
            .iter()
            .enumerate()
            .filter(|(i, _)| !(kill && *i == 1))
            .map(|(_, m)| m)
            .collect();
        let mut watch = TableReader::new(
            &admin,
            std::slice::from_ref(&alerts),
            None,
            Duration::from_secs(30),
        )
        .expect("watch");
        let mut seen = BTreeSet::new();
        wait_until(Duration::from_secs(600), "every alert", &refs, || {
            for r in watch
                .poll_batch(10_000, Duration::from_millis(100))
                .expect("watch")
            {
                seen.insert(String::from_utf8(r.key.unwrap_or_default()).unwrap_or_default());
            }
            expected.iter().all(|id| seen.contains(id))
        });
        let busy = settled.elapsed().as_secs_f64();
        if kill {
            eprintln!(
                "bench: 3 members, one killed at {:.2} s: every alert committed {:.2} s after the SIGKILL",
                (killed - start).as_secs_f64(),
                killed.elapsed().as_secs_f64()
            );
        } else {
            eprintln!(
            "bench: {n} member(s): joined in {:.2} s; all alerts {busy:.2} s after the last rebuild: {:.0} records/s",
            (settled - start).as_secs_f64(),
            records as f64 / busy
            );
        }
        for m in members.iter_mut() {
            if m.alive() {
                m.stop();
            }
        }
    }
}
