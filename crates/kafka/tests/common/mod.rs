//! Shared by the broker tests: finding the broker, unique names, deadlines, and readers that
//! see a topic the way an alert consumer would.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pullwatch_kafka::{create_topics, KafkaSettings, RecordProducer};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;

/// The broker from `scripts/kafka.sh`, or `None` after saying so where a captured test run
/// still shows it: written to the real stderr, not through `eprintln!`, which the test
/// harness swallows for passing tests. With `PULLWATCH_REQUIRE_KAFKA=1` (set by
/// scripts/test.sh once its broker is up) a missing broker fails the test instead.
pub fn broker(test: &str) -> Option<String> {
    match std::env::var("KAFKA_BOOTSTRAP") {
        Ok(b) if !b.trim().is_empty() => Some(b),
        _ => {
            assert!(
                std::env::var("PULLWATCH_REQUIRE_KAFKA").as_deref() != Ok("1"),
                "{test}: PULLWATCH_REQUIRE_KAFKA=1 but KAFKA_BOOTSTRAP is not set"
            );
            // One write, so that the lines of tests running in parallel do not interleave.
            let line = format!(
                "{test}: skipped: no broker (run via scripts/kafka.sh run cargo test -p pullwatch-kafka)\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// Topic and group names no other test (or earlier run against the same broker) uses.
pub fn unique(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("pw-{what}-{}-{nanos}", std::process::id())
}

/// Settings for a test member: quick heartbeats so that joins and hand-overs take about a
/// second, and a session timeout at the broker's minimum so that a killed member is
/// noticed after 6 s.
pub fn settings(bootstrap: &str, topics: &[&str], group: &str) -> KafkaSettings {
    let mut s = KafkaSettings::new(bootstrap, topics.iter().map(|t| t.to_string()).collect());
    s.group_id = group.to_owned();
    s.properties = BTreeMap::from([
        ("session.timeout.ms".to_owned(), "6000".to_owned()),
        ("heartbeat.interval.ms".to_owned(), "500".to_owned()),
    ]);
    s
}

pub fn topics(bootstrap: &str, topics: &[(&str, i32)]) {
    let s = KafkaSettings::new(bootstrap, Vec::new());
    create_topics(&s, topics, Some(1), Duration::from_secs(30)).expect("create test topics");
}

/// Produces `n` records `key-{i % keys}` → `i`, with CreateTime `base_ms + step_ms * i`.
pub fn produce(bootstrap: &str, topic: &str, n: usize, keys: usize, base_ms: i64, step_ms: i64) {
    let producer =
        RecordProducer::new(&KafkaSettings::new(bootstrap, Vec::new())).expect("producer");
    for i in 0..n {
        let key = format!("key-{}", i % keys);
        let ts = base_ms + step_ms * i as i64;
        producer
            .send(
                topic,
                Some(key.as_bytes()),
                i.to_string().as_bytes(),
                Some(ts),
            )
            .expect("queue record");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("every record delivered");
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A deadline that fails the test with what it was waiting for.
pub struct Deadline {
    end: Instant,
    what: String,
}

impl Deadline {
    pub fn new(secs: u64, what: impl Into<String>) -> Self {
        Self {
            end: Instant::now() + Duration::from_secs(secs),
            what: what.into(),
        }
    }

    /// Panics once the deadline has passed; call it in every waiting loop.
    pub fn check(&self, state: impl std::fmt::Debug) {
        assert!(
            Instant::now() < self.end,
            "timed out waiting for {}; state: {state:?}",
            self.what
        );
    }
}

/// Ends the whole test process if a test hangs (librdkafka can block forever in a destroy),
/// so that CI fails instead of waiting for its own timeout. Dropping the guard disarms it.
pub struct Watchdog(#[allow(dead_code)] mpsc::Sender<()>);

pub fn watchdog(test: &'static str, secs: u64) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            let _ = writeln!(
                std::io::stderr(),
                "{test}: still running after {secs} s; aborting the test process"
            );
            std::process::exit(101);
        }
    });
    Watchdog(tx)
}

/// Everything in `topic` as a reader with the given isolation level sees it: (key, payload)
/// in partition and offset order. Reads until every partition's position reaches the
/// high watermark observed at the start.
pub fn read_all(bootstrap: &str, topic: &str, isolation: &str) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("reader");
    let partitions: Vec<i32> = {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        md.topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect()
    };
    let mut ends = Vec::new();
    {
        let mut tpl = TopicPartitionList::new();
        for &p in &partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            ends.push((p, high));
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("offset");
        }
        consumer.assign(&tpl).expect("assign");
    }
    let deadline = Deadline::new(
        60,
        format!("{isolation} reader of {topic} to reach {ends:?}"),
    );
    let mut out: Vec<(i32, i64, String, String)> = Vec::new();
    loop {
        let done = {
            let pos = consumer.position().expect("position");
            ends.iter().all(|&(p, high)| {
                high == 0
                    || matches!(pos.find_partition(topic, p).map(|e| e.offset()), Some(Offset::Offset(o)) if o >= high)
            })
        };
        if done {
            break;
        }
        deadline.check(out.len());
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("reader poll");
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            out.push((m.partition(), m.offset(), text(m.key()), text(m.payload())));
        }
    }
    out.sort();
    out.into_iter().map(|(_, _, k, v)| (k, v)).collect()
}
