//! The service's Prometheus metrics. The pipeline thread owns the counts (decoding
//! statistics, the engine's, alerts); it publishes them here every second as absolute
//! values, and a scrape reads the last published ones. HTTP rejects are counted where
//! they happen.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use pullwatch_report::ScanSummary;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub struct Metrics {
    registry: Mutex<Registry>,
    records: Family<Labels, Counter>,
    skipped: Family<Labels, Counter>,
    prefiltered: Counter,
    bytes: Counter,
    raised: Family<Labels, Counter>,
    alerts: Family<Labels, Counter>,
    suppressed: Counter,
    late: Counter,
    rewinds: Counter,
    duplicates: Counter,
    evictions: Family<Labels, Counter>,
    tracked: Family<Labels, Gauge>,
    held: Gauge,
    watermark_lag: Gauge<f64, AtomicU64>,
    checkpoint_age: Gauge<f64, AtomicU64>,
    pub http_accepted: Counter,
    pub http_rejected: Family<Labels, Counter>,
    /// Lines and bytes read, by source (a followed file, a spool segment, stdin).
    source_lines: Family<Labels, Counter>,
    source_bytes: Family<Labels, Counter>,
    pub merge_forced: Counter,
    /// Docker events appended to the spool from the Engine API socket.
    pub docker_events: Counter,
    /// Events the daemon replayed that the cursor showed were appended before.
    pub docker_duplicates: Counter,
    pub docker_too_long: Counter,
    /// Connections to the Engine API socket after the first (each try counts).
    pub docker_reconnects: Counter,
    /// 1 while the event stream is open.
    pub docker_connected: Gauge,
    /// Kafka: records between a partition's read position and its end, by topic and partition.
    kafka_lag: Family<Labels, Gauge>,
    /// Kafka: partition assignments and revocations this member saw.
    pub kafka_rebalances: Counter,
    /// Kafka: records read again to rebuild correlation state after a rebalance.
    pub kafka_replayed: Counter,
    /// Kafka: partitions that stopped holding the others back before being read to
    /// their end (a replay's, or a backlog's), because they delivered nothing for too
    /// long.
    pub kafka_catch_ups_abandoned: Counter,
    /// Kafka: transactions committed and aborted.
    pub kafka_commits: Family<Labels, Counter>,
}

/// A counter set to an absolute value the pipeline counted (counts only grow).
fn set(c: &Counter, v: u64) {
    c.inner().store(v, Ordering::Relaxed);
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("pullwatch")),
            records: Family::default(),
            skipped: Family::default(),
            prefiltered: Counter::default(),
            bytes: Counter::default(),
            raised: Family::default(),
            alerts: Family::default(),
            suppressed: Counter::default(),
            late: Counter::default(),
            rewinds: Counter::default(),
            duplicates: Counter::default(),
            evictions: Family::default(),
            tracked: Family::default(),
            held: Gauge::default(),
            watermark_lag: Gauge::default(),
            checkpoint_age: Gauge::default(),
            http_accepted: Counter::default(),
            source_lines: Family::default(),
            source_bytes: Family::default(),
            http_rejected: Family::default(),
            merge_forced: Counter::default(),
            docker_events: Counter::default(),
            docker_duplicates: Counter::default(),
            docker_too_long: Counter::default(),
            docker_reconnects: Counter::default(),
            docker_connected: Gauge::default(),
            kafka_lag: Family::default(),
            kafka_rebalances: Counter::default(),
            kafka_replayed: Counter::default(),
            kafka_catch_ups_abandoned: Counter::default(),
            kafka_commits: Family::default(),
        };
        if let Ok(mut r) = m.registry.lock() {
            r.register(
                "records_decoded",
                "Records decoded, by format",
                m.records.clone(),
            );
            r.register(
                "records_skipped",
                "Records skipped, by format and reason",
                m.skipped.clone(),
            );
            r.register(
                "records_prefiltered",
                "Records skipped unread: no loaded analytic can use them",
                m.prefiltered.clone(),
            );
            r.register("input_bytes", "Bytes of input read", m.bytes.clone());
            r.register(
                "alerts_raised",
                "Alerts raised by the engine, by rule (a replay raises again)",
                m.raised.clone(),
            );
            r.register("alerts_sent", "Alerts sent, by severity", m.alerts.clone());
            r.register(
                "alerts_suppressed",
                "Alerts raised again by a replay after a restart and not sent again",
                m.suppressed.clone(),
            );
            r.register(
                "records_late",
                "Records that arrived too late to be correlated",
                m.late.clone(),
            );
            r.register(
                "rewinds",
                "Times an input restarted from an earlier time and was correlated from there",
                m.rewinds.clone(),
            );
            r.register(
                "records_duplicate",
                "Duplicate records dropped",
                m.duplicates.clone(),
            );
            r.register(
                "state_evictions",
                "State entries evicted, by reason",
                m.evictions.clone(),
            );
            r.register(
                "state_tracked",
                "Entities tracked now, by kind",
                m.tracked.clone(),
            );
            r.register(
                "merge_held_events",
                "Events waiting for a lagging source",
                m.held.clone(),
            );
            r.register(
                "merge_forced",
                "Events released before a lagging source caught up (hold cap reached)",
                m.merge_forced.clone(),
            );
            r.register(
                "watermark_lag_seconds",
                "How far event time lags behind the wall clock",
                m.watermark_lag.clone(),
            );
            r.register(
                "checkpoint_age_seconds",
                "Seconds since the last checkpoint was written",
                m.checkpoint_age.clone(),
            );
            r.register(
                "source_lines_read",
                "Lines read, by source (followed file, spool segment, stdin)",
                m.source_lines.clone(),
            );
            r.register(
                "source_bytes_read",
                "Bytes read, by source",
                m.source_bytes.clone(),
            );
            r.register(
                "http_records_accepted",
                "Records accepted over HTTP",
                m.http_accepted.clone(),
            );
            r.register(
                "http_rejected",
                "HTTP requests refused, by reason",
                m.http_rejected.clone(),
            );
            r.register(
                "docker_events",
                "Docker events read from the Engine API socket and appended to the spool",
                m.docker_events.clone(),
            );
            r.register(
                "docker_events_duplicate",
                "Docker events replayed after a reconnection and skipped (appended before)",
                m.docker_duplicates.clone(),
            );
            r.register(
                "docker_events_too_long",
                "Docker events dropped for exceeding --max-line-bytes",
                m.docker_too_long.clone(),
            );
            r.register(
                "docker_reconnects",
                "Connection attempts to the Engine API socket after the first",
                m.docker_reconnects.clone(),
            );
            r.register(
                "docker_connected",
                "1 while the Docker event stream is open",
                m.docker_connected.clone(),
            );
            r.register(
                "kafka_consumer_lag",
                "Records not yet read, by topic and partition this member owns",
                m.kafka_lag.clone(),
            );
            r.register(
                "kafka_rebalances",
                "Partition assignments and revocations",
                m.kafka_rebalances.clone(),
            );
            r.register(
                "kafka_replayed_records",
                "Records read again to rebuild correlation state after a rebalance",
                m.kafka_replayed.clone(),
            );
            r.register(
                "kafka_catch_ups_abandoned",
                "Partitions that stopped holding the others back before being read to their end (a replay, or a backlog found when they went quiet)",
                m.kafka_catch_ups_abandoned.clone(),
            );
            r.register(
                "kafka_transactions",
                "Alert transactions, by outcome (committed, aborted)",
                m.kafka_commits.clone(),
            );
        }
        m
    }

    /// Publishes the pipeline's counts.
    pub fn publish(&self, s: &ScanSummary, suppressed: u64, held: usize) {
        for (format, c) in &s.decode.formats {
            set(
                &self
                    .records
                    .get_or_create(&labels(&[("format", format.name())])),
                c.records,
            );
        }
        for (reason, c) in &s.decode.skipped {
            set(
                &self.skipped.get_or_create(&labels(&[("reason", reason)])),
                c.count,
            );
        }
        set(&self.prefiltered, s.decode.prefiltered);
        set(&self.bytes, s.decode.bytes);
        for (rule, n) in &s.engine.alerts {
            set(&self.raised.get_or_create(&labels(&[("rule", rule)])), *n);
        }
        for (severity, n) in &s.alerts_by_severity {
            set(
                &self
                    .alerts
                    .get_or_create(&labels(&[("severity", severity.as_str())])),
                *n,
            );
        }
        set(&self.suppressed, suppressed);
        set(&self.late, s.engine.late);
        set(&self.rewinds, s.engine.rewinds);
        set(&self.duplicates, s.engine.duplicates);
        for (reason, n) in &s.engine.evictions {
            set(
                &self.evictions.get_or_create(&labels(&[("reason", reason)])),
                *n,
            );
        }
        self.tracked
            .get_or_create(&labels(&[("kind", "containers")]))
            .set(i64::try_from(s.engine.containers_tracked).unwrap_or(i64::MAX));
        self.tracked
            .get_or_create(&labels(&[("kind", "instances")]))
            .set(i64::try_from(s.engine.instances_tracked).unwrap_or(i64::MAX));
        self.held.set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    pub fn set_lag(&self, watermark_lag_secs: f64, checkpoint_age_secs: f64) {
        self.watermark_lag.set(watermark_lag_secs);
        self.checkpoint_age.set(checkpoint_age_secs);
    }

    /// A source's lines were read (counted as they arrive, on the pipeline thread).
    pub fn read_from(&self, source: &str, lines: u64, bytes: u64) {
        let l = labels(&[("source", source)]);
        self.source_lines.get_or_create(&l).inc_by(lines);
        self.source_bytes.get_or_create(&l).inc_by(bytes);
    }

    /// A source that is gone (a deleted file): its series go with it, so that the
    /// exposition does not grow with every file ever followed.
    pub fn forget_source(&self, source: &str) {
        let l = labels(&[("source", source)]);
        self.source_lines.remove(&l);
        self.source_bytes.remove(&l);
    }

    /// Replaces the lag gauges with those of the partitions owned now.
    pub fn set_kafka_lag(&self, lags: &[(String, i32, i64)]) {
        self.kafka_lag.clear();
        for (topic, partition, lag) in lags {
            self.kafka_lag
                .get_or_create(&labels(&[
                    ("topic", topic),
                    ("partition", &partition.to_string()),
                ]))
                .set(*lag);
        }
    }

    pub fn kafka_transaction(&self, outcome: &str) {
        self.kafka_commits
            .get_or_create(&labels(&[("outcome", outcome)]))
            .inc();
    }

    pub fn reject(&self, reason: &str) {
        self.http_rejected
            .get_or_create(&labels(&[("reason", reason)]))
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
