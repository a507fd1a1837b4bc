//! `pullwatch run` as one member of a Kafka consumer group (README: "Scaling out on
//! Kafka"). Node topics, keyed by host, are split across the group, so a host's records
//! all reach one member; context topics are read whole by every member; the alerts topic
//! is read whole too, as the table of alerts already committed.
//!
//! Alerts and the group's offsets are committed in one transaction carrying the group
//! generation it started in. On any rebalance (and after an aborted transaction) the
//! member drops its correlation state and replays every partition it owns, and the
//! context, from the retention horizon; an alert whose id is already in the alerts topic
//! is not sent again. Only the owner of an alert's records can commit it: an alert built
//! only from context records is sent by the member owning partition `hash(id) mod N` of
//! the first node topic.

use crate::live::LiveMerge;
use crate::metrics::Metrics;
use crate::service::{retention, Control, RunOutcome};
use crate::settings::{KafkaRun, RunSettings};
use crate::ServeError;
use pullwatch_decode::{DecodeOptions, EventStream};
use pullwatch_engine::config::Config;
use pullwatch_kafka::{
    AlertProducer, Error as KafkaError, GroupConsumer, GroupMetadata, KafkaRecord, TableReader,
};
use pullwatch_model::time::Dur;
use pullwatch_model::{Alert, Event};
use pullwatch_pipeline::baseline::ScanBaseline;
use pullwatch_pipeline::Detector;
use pullwatch_report::{AlertSink, StreamFormat};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a broker call may take before the member gives up on it.
const CALL: Duration = Duration::from_secs(30);
/// How often consumer lag is asked of the brokers.
const LAG_EVERY: Duration = Duration::from_secs(15);
/// Records taken per poll.
const BATCH: usize = 5000;
/// How long a rebuild may keep failing (partitions not ready to seek yet, the alerts
/// table not caught up) before the member stops with an error.
const REBUILD_PATIENCE: Duration = Duration::from_secs(120);

type Part = (Arc<str>, i32);

/// How long a partition behind its end may deliver nothing before it stops holding the
/// others back: a broker that never serves the rest of a backlog must not stop alerts for
/// good. Counted, and said on stderr, when it happens.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(30);

/// How often, at most, the brokers are asked whether partitions that went quiet have
/// records this member has not read yet.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// How long that question may take; unanswered, the partitions count as quiet.
const BACKLOG_CALL: Duration = Duration::from_secs(5);

/// One partition's decoding, and its place in the merge.
///
/// A partition holds the others back until it is quiet and has been read to its end.
/// Quiet alone (no event for the idle timeout) is not enough: a member that spent seconds
/// committing, or whose fetch of one partition came seconds after the others', would take
/// a partition with records waiting at the broker for a quiet one, and the others would
/// carry event time past those records. They would then reach the engine late (or as a
/// rewind) and correlate differently than a scan of the same records.
struct PartState {
    stream: EventStream,
    source: usize,
    last: Option<Instant>,
    /// An end offset the partition was found to hold records up to and has not been read
    /// to yet: where its replay ends after a rebalance, or the backlog found when it went
    /// quiet. Until it has been read that far it is never idle.
    read_to: Option<i64>,
    /// When `read_to` was set, or the partition last delivered since.
    progress: Instant,
    /// Where the last rebuild started the partition: its read position until its first
    /// fetch (`i64::MAX` for a context partition the brokers gave no start for).
    start: Option<i64>,
    /// Whether the merge has it as idle.
    idle: bool,
}

impl PartState {
    fn new(stream: EventStream, source: usize, last: Option<Instant>) -> PartState {
        PartState {
            stream,
            source,
            last,
            read_to: None,
            progress: Instant::now(),
            start: None,
            idle: false,
        }
    }

    /// Notes that the partition reads `next` next; ends its catching up once that reaches
    /// the end it had.
    fn reached(&mut self, next: i64, now: Instant) {
        if let Some(end) = self.read_to {
            self.progress = now;
            if next >= end {
                self.read_to = None;
            }
        }
    }

    /// No event for `timeout` and nothing known left to read: the brokers are asked
    /// next whether it is idle.
    fn quiet(&self, now: Instant, timeout: Duration) -> bool {
        self.read_to.is_none() && self.last.is_none_or(|t| now.duration_since(t) >= timeout)
    }

    /// Judges a quiet partition by its end offset and read position (`None`: unknown). A
    /// partition behind its end catches up before it may be idle; one at its end, or
    /// whose end the brokers did not give, is idle.
    fn judge(&mut self, end: Option<i64>, position: Option<i64>, now: Instant) {
        let at = position.or(self.start);
        match (end, at) {
            (Some(end), Some(at)) if at < end => {
                self.read_to = Some(end);
                self.progress = now;
                self.idle = false;
            }
            _ => self.idle = true,
        }
    }
}

/// Keeps what the detector raises, with its id, for the owner check and the transaction.
#[derive(Default)]
struct Raised {
    alerts: Vec<(Alert, String)>,
}

impl AlertSink for Raised {
    fn emit(&mut self, alert: &Alert, id: &str) -> std::io::Result<()> {
        self.alerts.push((alert.clone(), id.to_owned()));
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stable hash (FNV-1a) of an alert id: every member must pick the same owner.
fn owner_partition(id: &str, partitions: i32) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let n = u64::try_from(partitions.max(1)).unwrap_or(1);
    i32::try_from(h % n).unwrap_or(0)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn label(topic: &str, partition: i32) -> Arc<str> {
    Arc::from(format!("kafka:{topic}/{partition}"))
}

fn kafka_err(what: &str, e: KafkaError) -> ServeError {
    ServeError::Usage(format!("kafka: {what}: {e}"))
}

struct Worker<'a> {
    run: &'a RunSettings,
    k: &'a KafkaRun,
    cfg: Config,
    /// `--baseline`: every rebuilt detector judges by it.
    baseline: Option<ScanBaseline>,
    metrics: &'a Metrics,
    group: GroupConsumer,
    context: Option<TableReader>,
    alerts_table: TableReader,
    producer: AlertProducer,
    /// Alert ids committed to the alerts topic, by any member (and by this one).
    sent: HashSet<String>,
    /// Prefixes of the context topics' labels: an alert whose evidence all carries one
    /// was built from context alone.
    context_labels: Vec<String>,
    owner_topic: Arc<str>,
    owner_partitions: i32,
    detector: Detector,
    merge: LiveMerge,
    parts: HashMap<Part, PartState>,
    /// Node partitions owned now.
    owned: BTreeSet<Part>,
    /// The group's committed offset of each owned partition at the last rebuild: records
    /// before it are a replay.
    committed: HashMap<Part, i64>,
    /// The offset to commit next for each owned partition (never below the committed one).
    commit_at: BTreeMap<Part, i64>,
    offsets_moved: bool,
    /// The open transaction: its group metadata and the alerts in it.
    txn: Option<(GroupMetadata, Vec<(Alert, String)>)>,
    last_commit: Instant,
    last_lag: Instant,
    all_idle_handled: bool,
    /// When the brokers were last asked for the end offsets of quiet partitions.
    last_backlog_check: Option<Instant>,
    /// Whether the idle partitions were found read to their end since records last
    /// arrived.
    idle_confirmed: bool,
    need_rebuild: Option<Instant>,
    decoded: Vec<Event>,
    outcome: RunOutcome,
}

impl<'a> Worker<'a> {
    fn decode_opts(&self) -> DecodeOptions {
        DecodeOptions {
            max_line_bytes: self.run.max_line_bytes,
            ..DecodeOptions::default()
        }
    }

    fn horizon_ms(&self) -> i64 {
        let keep = retention(&self.cfg).0 / 1_000_000;
        now_ms().saturating_sub(keep)
    }

    /// Takes what the alerts topic gained: ids committed by any member.
    fn read_alerts_table(&mut self, wait: Duration) -> Result<usize, ServeError> {
        let recs = self
            .alerts_table
            .poll_batch(BATCH, wait)
            .map_err(|e| kafka_err("reading the alerts topic", e))?;
        let n = recs.len();
        for r in recs {
            if let Some(key) = r.key {
                if let Ok(id) = String::from_utf8(key) {
                    self.sent.insert(id);
                }
            }
        }
        Ok(n)
    }

    /// Drops the correlation state and rebuilds it for the partitions owned now: every
    /// owned partition and the context are replayed from the retention horizon (or from
    /// the committed offset, when that is earlier), with the alerts topic read to its end
    /// before the replay, so that every alert committed before is known and not sent
    /// again.
    ///
    /// The alerts topic is read after the committed offsets are fetched, not before. A
    /// member that committed alerts and offsets in one transaction just before the
    /// rebalance had its commit acknowledged once the coordinator logged it; the commit
    /// markers reach the alerts topic and the offsets topic only afterwards. The offsets
    /// fetch waits for its marker (it asks for stable offsets); a read of the alerts
    /// topic before it could end short of that transaction's alerts (at the last stable
    /// offset), and the replay would then send them a second time.
    fn rebuild(&mut self) -> Result<(), KafkaError> {
        if self.txn.take().is_some() {
            self.producer.abort(CALL)?;
            self.metrics.kafka_transaction("aborted");
        }
        let owned: BTreeSet<Part> = self
            .group
            .assignment()?
            .into_iter()
            .map(|tp| (tp.topic, tp.partition))
            .collect();
        let horizon = self.horizon_ms();
        let list: Vec<(Arc<str>, i32)> = owned.iter().cloned().collect();
        let mut committed = HashMap::new();
        let mut commit_at = BTreeMap::new();
        // Where each partition's replay starts and ends; a partition that starts at its
        // end has nothing to replay.
        let mut starts_at: HashMap<Part, i64> = HashMap::new();
        let mut ends: HashMap<Part, i64> = HashMap::new();
        if !list.is_empty() {
            let by_time = self.group.seek_to_times(&list, horizon, CALL)?;
            for s in &by_time {
                if let Some(end) = s.end {
                    ends.insert((Arc::clone(&s.partition.topic), s.partition.partition), end);
                }
            }
            let done = self.group.committed_offsets(&list, CALL)?;
            let mut starts: Vec<(Arc<str>, i32, i64)> = Vec::new();
            for (tp, c) in done {
                let t = by_time
                    .iter()
                    .find(|s| s.partition == tp)
                    .and_then(|s| s.offset);
                // Never start after the committed offset: records after it were not
                // processed by anyone. A group that committed nothing reads what is
                // retained, as a new group does.
                let start = match (t, c) {
                    (Some(t), Some(c)) => t.min(c),
                    (None, Some(c)) => c,
                    (_, None) => 0,
                };
                starts.push((Arc::clone(&tp.topic), tp.partition, start));
                starts_at.insert((Arc::clone(&tp.topic), tp.partition), start);
                if let Some(c) = c {
                    committed.insert((Arc::clone(&tp.topic), tp.partition), c);
                    commit_at.insert((Arc::clone(&tp.topic), tp.partition), c);
                }
            }
            self.group.seek_to_offsets(&starts, CALL)?;
        }
        self.alerts_table.mark()?;
        let deadline = Instant::now() + CALL;
        while !self.alerts_table.caught_up() {
            if Instant::now() >= deadline {
                return Err(KafkaError::Setting {
                    key: "alerts_topic".into(),
                    reason: "could not be read to its end in time".into(),
                });
            }
            self.read_alerts_table(Duration::from_millis(100))
                .map_err(|e| KafkaError::Setting {
                    key: "alerts_topic".into(),
                    reason: e.to_string(),
                })?;
        }
        if let Some(ctx) = self.context.as_mut() {
            for s in ctx.seek_to_time(horizon, CALL)? {
                // No number from the brokers: taken as at its end, nothing to replay.
                starts_at.insert(s.partition.clone(), s.start.unwrap_or(i64::MAX));
                if let Some(end) = s.end {
                    ends.insert(s.partition, end);
                }
            }
        }
        let mut detector = Detector::new(self.cfg.clone(), self.baseline.as_ref());
        detector.remember_sent();
        // Counts go on across rebuilds: they are counters.
        detector.succeed(&mut self.detector);
        self.detector = detector;
        // The new partitions' lag is published with the next metrics.
        self.last_lag = Instant::now()
            .checked_sub(LAG_EVERY)
            .unwrap_or_else(Instant::now);
        self.merge = LiveMerge::new(self.cfg.limits.max_pending_events);
        self.parts.clear();
        // Every partition being replayed holds the others back until it has been read to
        // the end it has now, however long its first fetch takes.
        let opts = self.decode_opts();
        let now = Instant::now();
        let context_parts: Vec<Part> = self
            .context
            .as_ref()
            .map(|c| c.partitions().to_vec())
            .unwrap_or_default();
        for key in owned.iter().cloned().chain(context_parts) {
            let source = self.parts.len();
            self.merge.set_idle(source, false);
            let mut ps = PartState::new(
                EventStream::detached(label(&key.0, key.1), opts.clone()),
                source,
                Some(now),
            );
            ps.start = starts_at.get(&key).copied();
            ps.read_to = ends
                .get(&key)
                .copied()
                .filter(|end| ps.start.is_none_or(|start| start < *end));
            self.parts.insert(key, ps);
        }
        self.owned = owned;
        self.committed = committed;
        self.commit_at = commit_at;
        self.offsets_moved = false;
        self.all_idle_handled = false;
        self.idle_confirmed = false;
        eprintln!(
            "pullwatch: kafka: owning {} partition(s) of {}; replaying from {} ms",
            self.owned.len(),
            self.k.settings.topics.join(","),
            horizon
        );
        Ok(())
    }

    fn take_records(&mut self, records: Vec<KafkaRecord>, group: bool, now: Instant) {
        let opts = self.decode_opts();
        let mut replayed = 0u64;
        for r in records {
            let key = (Arc::clone(&r.topic), r.partition);
            let next_source = self.parts.len();
            let ps = self.parts.entry(key.clone()).or_insert_with(|| {
                PartState::new(
                    EventStream::detached(label(&r.topic, r.partition), opts.clone()),
                    next_source,
                    None,
                )
            });
            ps.reached(r.offset + 1, now);
            let line = u64::try_from(r.offset).unwrap_or(0) + 1;
            let stats = &mut self.detector.summary.decode;
            if r.payload.ends_with(b"\n") {
                ps.stream
                    .decode_lines(&r.payload, line, &mut self.decoded, stats);
            } else {
                let mut bytes = r.payload;
                bytes.push(b'\n');
                ps.stream
                    .decode_lines(&bytes, line, &mut self.decoded, stats);
            }
            // A partition holds the others back only while it yields events: records it
            // skips (unreadable, or of no use to any analytic) give it no event time.
            if !self.decoded.is_empty() {
                ps.last = Some(now);
                ps.idle = false;
            }
            for ev in self.decoded.drain(..) {
                self.merge.offer(ps.source, ev);
            }
            if group {
                if self.committed.get(&key).is_some_and(|c| r.offset < *c) {
                    replayed += 1;
                }
                let at = self.commit_at.entry(key).or_insert(r.offset + 1);
                if *at < r.offset + 1 {
                    *at = r.offset + 1;
                }
                self.offsets_moved = true;
            }
        }
        self.metrics.kafka_replayed.inc_by(replayed);
    }

    /// Where each partition reads next, as librdkafka knows it without asking a broker.
    fn positions(&self) -> HashMap<Part, Option<i64>> {
        let mut positions = HashMap::new();
        match self.group.positions() {
            Ok(p) => positions.extend(p.into_iter().map(|(tp, o)| ((tp.topic, tp.partition), o))),
            Err(e) => eprintln!("pullwatch: kafka: read positions unknown: {e}"),
        }
        if let Some(ctx) = self.context.as_ref() {
            match ctx.positions() {
                Ok(p) => positions.extend(p),
                Err(e) => eprintln!("pullwatch: kafka: read positions unknown: {e}"),
            }
        }
        positions
    }

    /// The end offsets of `parts`: one request per broker for the group's partitions, and
    /// one for the context's.
    fn end_offsets(&self, parts: &[Part]) -> Result<HashMap<Part, i64>, KafkaError> {
        let owned: Vec<&Part> = parts.iter().filter(|p| self.owned.contains(*p)).collect();
        let mut ends = HashMap::new();
        if !owned.is_empty() {
            let list: Vec<(&str, i32)> = owned.iter().map(|(t, p)| (&**t, *p)).collect();
            for (tp, end) in self.group.end_offsets(&list, BACKLOG_CALL)? {
                ends.insert((tp.topic, tp.partition), end);
            }
        }
        if let Some(ctx) = self.context.as_ref() {
            if parts.len() > owned.len() {
                ends.extend(ctx.end_offsets(BACKLOG_CALL)?);
            }
        }
        Ok(ends)
    }

    /// Ends the catching up of partitions whose read position passed their end without a
    /// record to show it (transaction markers and aborted records are read but not
    /// handed out), and of those that made no progress for [`CATCH_UP_PATIENCE`].
    fn settle_catch_ups(&mut self, now: Instant) {
        if self.parts.values().all(|ps| ps.read_to.is_none()) {
            return;
        }
        for (key, pos) in self.positions() {
            if let (Some(ps), Some(pos)) = (self.parts.get_mut(&key), pos) {
                if ps.read_to.is_some_and(|end| pos >= end) {
                    ps.read_to = None;
                }
            }
        }
        for (key, ps) in &mut self.parts {
            if ps.read_to.is_some() && now.duration_since(ps.progress) >= CATCH_UP_PATIENCE {
                eprintln!(
                    "pullwatch: kafka: {}/{} delivered nothing of what it holds for {:?}; \
                     it no longer holds the other partitions back",
                    key.0, key.1, CATCH_UP_PATIENCE
                );
                self.metrics.kafka_catch_ups_abandoned.inc();
                ps.read_to = None;
            }
        }
    }

    /// Marks idle the partitions that are quiet and read to their end; returns whether
    /// every one is idle. Those found behind their end catch up first.
    ///
    /// An idle partition lets the others go past it only while that is confirmed: once
    /// records arrived (`got`), the brokers are asked again before anything goes past an
    /// idle partition. Records written to all partitions at once (a backfill, a shipper
    /// catching up) reach this member through separate fetches, and a partition still
    /// idle from before must not let the others carry event time past records of its own
    /// that already wait at the broker. The brokers are asked at most every
    /// [`BACKLOG_EVERY`]; until then the idle partitions hold the others back, which
    /// costs alerts at most that much delay.
    fn mark_idle(&mut self, now: Instant, got: bool) -> bool {
        self.settle_catch_ups(now);
        if got {
            self.idle_confirmed = false;
        }
        let timeout = self.run.idle_timeout;
        let quiet: Vec<Part> = self
            .parts
            .iter()
            .filter(|(_, ps)| ps.quiet(now, timeout))
            .map(|(k, _)| k.clone())
            .collect();
        let unconfirmed = !self.idle_confirmed
            || quiet
                .iter()
                .any(|k| self.parts.get(k).is_some_and(|ps| !ps.idle));
        if unconfirmed
            && !quiet.is_empty()
            && self
                .last_backlog_check
                .is_none_or(|t| now.duration_since(t) >= BACKLOG_EVERY)
        {
            self.last_backlog_check = Some(now);
            let ends = self.end_offsets(&quiet).unwrap_or_else(|e| {
                eprintln!(
                    "pullwatch: kafka: end offsets unknown, quiet partitions count as idle: {e}"
                );
                HashMap::new()
            });
            let positions = self.positions();
            for key in quiet {
                if let Some(ps) = self.parts.get_mut(&key) {
                    let pos = positions.get(&key).copied().flatten();
                    ps.judge(ends.get(&key).copied(), pos, now);
                }
            }
            self.idle_confirmed = true;
        }
        let confirmed = self.idle_confirmed;
        let mut all = true;
        for ps in self.parts.values() {
            let idle = ps.idle && confirmed;
            all &= idle;
            self.merge.set_idle(ps.source, idle);
        }
        all
    }

    /// Correlates what the merge lets go, and routes what is raised.
    fn release(&mut self, all_idle: bool) -> Result<(), ServeError> {
        let mut raised = Raised::default();
        let mut released = Vec::new();
        self.merge.release(&mut |e| released.push(e));
        for ev in released {
            self.detector
                .push(ev, &mut raised)
                .map_err(ServeError::Output)?;
        }
        if all_idle && !self.all_idle_handled {
            self.all_idle_handled = true;
            if let Some(high) = self.merge.high().or(self.detector.engine().latest()) {
                let t = high
                    .saturating_add(self.cfg.allowed_lateness.0)
                    .saturating_add(Dur(1));
                self.detector
                    .advance_to(t, &mut raised)
                    .map_err(ServeError::Output)?;
            }
        }
        for (alert, id) in raised.alerts {
            self.route(alert, id)?;
        }
        Ok(())
    }

    /// Whether every member may have raised `a` (all its evidence is context; an alert
    /// without evidence is counted so too, so that it is sent once rather than by all).
    fn context_only(&self, a: &Alert) -> bool {
        a.evidence.iter().all(|e| {
            self.context_labels
                .iter()
                .any(|p| e.source.path.starts_with(p.as_str()))
        })
    }

    /// Sends an alert in the open transaction, unless it was committed already or another
    /// member owns it.
    fn route(&mut self, alert: Alert, id: String) -> Result<(), ServeError> {
        if self.sent.contains(&id)
            || self
                .txn
                .as_ref()
                .is_some_and(|(_, v)| v.iter().any(|(_, i)| *i == id))
        {
            self.outcome.suppressed += 1;
            return Ok(());
        }
        if self.context_only(&alert) {
            let p = owner_partition(&id, self.owner_partitions);
            if !self.owned.contains(&(Arc::clone(&self.owner_topic), p)) {
                return Ok(());
            }
        }
        if !self.open_txn()? {
            return Ok(());
        }
        let line = StreamFormat::Json.render(&alert, &id, false);
        if let Err(e) = self.producer.send(&id, line.as_bytes()) {
            return self.txn_failed(e);
        }
        if let Some((_, v)) = self.txn.as_mut() {
            v.push((alert, id));
        }
        Ok(())
    }

    /// Begins a transaction unless one is open. `false` when it could not begin: the
    /// failure was handled as [`Self::txn_failed`] handles it, and nothing is to be sent.
    fn open_txn(&mut self) -> Result<bool, ServeError> {
        if self.txn.is_some() {
            return Ok(true);
        }
        let meta = self
            .group
            .group_metadata()
            .map_err(|e| kafka_err("group metadata", e))?;
        if let Err(e) = self.producer.begin() {
            self.txn_failed(e)?;
            return Ok(false);
        }
        self.txn = Some((meta, Vec::new()));
        Ok(true)
    }

    /// A transaction that cannot commit: abort, and replay from the committed state.
    fn txn_failed(&mut self, e: KafkaError) -> Result<(), ServeError> {
        match e {
            KafkaError::Fenced(_) | KafkaError::TxnFatal(_) => Err(kafka_err(
                "the alert producer cannot go on (another instance with the same name?)",
                e,
            )),
            other => {
                eprintln!("pullwatch: kafka: transaction aborted, replaying: {other}");
                self.need_rebuild.get_or_insert_with(Instant::now);
                Ok(())
            }
        }
    }

    /// Commits the open transaction (or offsets that moved) with the owned partitions'
    /// offsets, then hands the committed alerts to the local sink.
    fn commit(&mut self, sink: &mut dyn AlertSink) -> Result<(), ServeError> {
        self.last_commit = Instant::now();
        if self.txn.is_none() && !self.offsets_moved {
            return Ok(());
        }
        let offsets: Vec<(Arc<str>, i32, i64)> = self
            .commit_at
            .iter()
            .filter(|(p, _)| self.owned.contains(*p))
            .map(|((t, p), o)| (Arc::clone(t), *p, *o))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        if !self.open_txn()? {
            return Ok(());
        }
        let Some((meta, alerts)) = self.txn.take() else {
            return Ok(());
        };
        if self.group.rebalanced_since(&meta) {
            let _ = self.producer.abort(CALL);
            self.metrics.kafka_transaction("aborted");
            self.need_rebuild.get_or_insert_with(Instant::now);
            return Ok(());
        }
        // The alerts reach the log before the offsets are checked against the group's
        // generation: a member that took these partitions over since reads them when it
        // catches up on the alerts topic.
        let mut result = self.producer.flush(CALL);
        if result.is_ok() {
            result = self.producer.commit_with_offsets(&offsets, &meta, CALL);
        }
        let deadline = Instant::now() + CALL;
        while let Err(KafkaError::TxnRetriable(_)) = &result {
            if Instant::now() >= deadline {
                break;
            }
            result = self.producer.retry_commit(CALL);
        }
        match result {
            Ok(()) => {
                self.metrics.kafka_transaction("committed");
                self.offsets_moved = false;
                for (alert, id) in &alerts {
                    sink.emit(alert, id).map_err(ServeError::Output)?;
                    self.sent.insert(id.clone());
                }
                sink.flush().map_err(ServeError::Output)?;
                self.outcome.alerts += alerts.len() as u64;
                Ok(())
            }
            Err(e) => {
                if e.requires_abort() || matches!(e, KafkaError::TxnRetriable(_)) {
                    let _ = self.producer.abort(CALL);
                }
                self.metrics.kafka_transaction("aborted");
                self.txn_failed(e)
            }
        }
    }

    fn publish(&mut self) {
        self.detector.refresh_summary();
        // One broker round trip per partition: not every second.
        if self.last_lag.elapsed() < LAG_EVERY {
            return;
        }
        self.last_lag = Instant::now();
        match self.group.lag(Duration::from_secs(2)) {
            Err(e) => eprintln!("pullwatch: kafka: consumer lag unknown: {e}"),
            Ok(lags) => {
                let lags: Vec<(String, i32, i64)> = lags
                    .iter()
                    .map(|l| {
                        (
                            l.partition.topic.to_string(),
                            l.partition.partition,
                            l.lag.unwrap_or(0),
                        )
                    })
                    .collect();
                self.metrics.set_kafka_lag(&lags);
            }
        }
    }

    fn run(&mut self, control: &Control, sink: &mut dyn AlertSink) -> Result<(), ServeError> {
        let mut last_publish = Instant::now();
        loop {
            let now = Instant::now();
            let batch = self
                .group
                .poll_batch(BATCH, self.run.poll_every)
                .map_err(|e| kafka_err("consuming", e))?;
            for e in self.group.take_errors() {
                eprintln!("pullwatch: kafka: {e}");
            }
            let rebalances = self.group.take_rebalances();
            if !rebalances.is_empty() {
                self.metrics
                    .kafka_rebalances
                    .inc_by(rebalances.len() as u64);
                self.need_rebuild.get_or_insert(now);
            }
            if let Some(since) = self.need_rebuild {
                // What this poll returned is read again from the replay's start.
                match self.rebuild() {
                    Ok(()) => self.need_rebuild = None,
                    Err(e @ (KafkaError::Fenced(_) | KafkaError::TxnFatal(_))) => {
                        return Err(kafka_err("rebuilding after a rebalance", e));
                    }
                    Err(e) if since.elapsed() >= REBUILD_PATIENCE => {
                        return Err(kafka_err("rebuilding after a rebalance", e));
                    }
                    Err(e) => {
                        eprintln!("pullwatch: kafka: rebuild after a rebalance, retrying: {e}");
                    }
                }
                if control.stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                continue;
            }
            self.read_alerts_table(Duration::ZERO)?;
            let mut got = !batch.is_empty();
            self.take_records(batch, true, now);
            if let Some(ctx) = self.context.as_mut() {
                let recs = ctx
                    .poll_batch(BATCH, Duration::ZERO)
                    .map_err(|e| kafka_err("reading context topics", e))?;
                got |= !recs.is_empty();
                self.take_records(recs, false, now);
            }
            if got {
                self.all_idle_handled = false;
            }
            let all_idle = self.mark_idle(now, got);
            self.release(all_idle)?;
            if self.need_rebuild.is_none()
                && now.duration_since(self.last_commit) >= self.k.commit_every
            {
                self.commit(sink)?;
            }
            if now.duration_since(last_publish) >= Duration::from_secs(1) {
                self.publish();
                last_publish = now;
            }
            if control.stop.load(Ordering::Relaxed) {
                // What was correlated so far is committed; chains still open are
                // completed by whoever owns these partitions next.
                if self.need_rebuild.is_none() {
                    self.commit(sink)?;
                }
                return Ok(());
            }
        }
    }
}

/// Retries a start-up call while the cluster settles (a topic just created has no leader
/// for a moment; a broker restarting refuses connections), up to [`CALL`].
fn settle<T>(what: &str, mut f: impl FnMut() -> Result<T, KafkaError>) -> Result<T, ServeError> {
    let deadline = Instant::now() + CALL;
    loop {
        match f() {
            Ok(v) => return Ok(v),
            Err(e @ KafkaError::Setting { .. }) => return Err(kafka_err(what, e)),
            Err(e) if Instant::now() >= deadline => return Err(kafka_err(what, e)),
            Err(e) => {
                eprintln!("pullwatch: kafka: {what}, retrying: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    }
}

/// Runs `pullwatch run` on Kafka until SIGTERM/SIGINT.
pub fn run(
    settings: &RunSettings,
    k: &KafkaRun,
    load_config: &dyn Fn() -> Result<Config, String>,
    sink: &mut dyn AlertSink,
    control: &Control,
) -> Result<RunOutcome, ServeError> {
    let cfg = load_config().map_err(ServeError::Usage)?;
    let baseline = crate::service::open_baseline(settings).map_err(ServeError::Usage)?;
    let ks = &k.settings;
    ks.validate()
        .map_err(|e| ServeError::Usage(e.to_string()))?;
    let Some(alerts_topic) = ks.alerts_topic.clone() else {
        return Err(ServeError::Usage(
            "kafka: an alerts topic is needed (--kafka-alerts-topic or kafka.alerts_topic)".into(),
        ));
    };
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Health and metrics over HTTP; records come from Kafka only.
    let mut http_thread = None;
    if let Some(addr) = settings.listen {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| ServeError::Usage(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener.local_addr().map_err(ServeError::Output)?;
        let state = Arc::new(crate::http::HttpState {
            spool: None,
            metrics: metrics.clone(),
            token: settings.token.clone(),
            ready: ready.clone(),
            stopping: stopping.clone(),
        });
        http_thread = Some(
            crate::http::serve(listener, state, settings.max_body, None)
                .map_err(ServeError::Output)?,
        );
        eprintln!("pullwatch: listening on http://{bound} (health and metrics)");
    }
    let producer =
        AlertProducer::new(ks, &k.instance).map_err(|e| kafka_err("alert producer", e))?;
    // Fences an earlier process with this name and aborts what it left open.
    producer
        .init(CALL)
        .map_err(|e| kafka_err("starting transactions", e))?;
    let alerts_table = settle("reading the alerts topic", || {
        TableReader::new(ks, std::slice::from_ref(&alerts_topic), None, CALL)
    })?;
    let owner_topic: Arc<str> = Arc::from(ks.topics[0].as_str());
    let owner_partitions = settle("node topic", || {
        alerts_table.partition_count(&owner_topic, CALL)
    })?;
    let keep = retention(&cfg).0 / 1_000_000;
    let context = if k.context_topics.is_empty() {
        None
    } else {
        Some(settle("context topics", || {
            TableReader::new(
                ks,
                &k.context_topics,
                Some(now_ms().saturating_sub(keep)),
                CALL,
            )
        })?)
    };
    let group = GroupConsumer::new(ks).map_err(|e| kafka_err("joining the group", e))?;
    let context_labels = k
        .context_topics
        .iter()
        .map(|t| format!("kafka:{t}/"))
        .collect();
    eprintln!(
        "pullwatch: kafka: member {} of group {} on {}",
        producer.transactional_id(),
        ks.group_id,
        ks.bootstrap
    );
    let mut w = Worker {
        run: settings,
        k,
        detector: Detector::new(cfg.clone(), baseline.as_ref()),
        baseline,
        merge: LiveMerge::new(cfg.limits.max_pending_events),
        cfg,
        metrics: &metrics,
        group,
        context,
        alerts_table,
        producer,
        sent: HashSet::new(),
        context_labels,
        owner_topic,
        owner_partitions,
        parts: HashMap::new(),
        owned: BTreeSet::new(),
        committed: HashMap::new(),
        commit_at: BTreeMap::new(),
        offsets_moved: false,
        txn: None,
        last_commit: Instant::now(),
        // The first lag is published with the first metrics.
        last_lag: Instant::now()
            .checked_sub(LAG_EVERY)
            .unwrap_or_else(Instant::now),
        all_idle_handled: false,
        last_backlog_check: None,
        idle_confirmed: false,
        // Nothing is owned until the group assigns it.
        need_rebuild: None,
        decoded: Vec::new(),
        outcome: RunOutcome::default(),
    };
    ready.store(true, Ordering::Relaxed);
    let result = w.run(control, sink);
    stopping.store(true, Ordering::Relaxed);
    if let Some(t) = http_thread {
        let _ = t.join();
    }
    w.detector.refresh_summary();
    let mut outcome = std::mem::take(&mut w.outcome);
    outcome.records = w.detector.summary.records_read();
    outcome.skipped = w.detector.summary.decode.skipped_total();
    let Worker {
        group,
        context,
        alerts_table,
        producer,
        ..
    } = w;
    close_bounded(group, context, alerts_table, producer);
    result?;
    sink.flush().map_err(ServeError::Output)?;
    Ok(outcome)
}

/// How long closing the Kafka clients may take at shutdown.
const CLOSE_PATIENCE: Duration = Duration::from_secs(15);

/// Closes the clients (leaving the group, so that the partitions move at once) on a
/// thread of their own, waiting at most [`CLOSE_PATIENCE`]: a close caught in a group
/// rebalance was seen to wait far longer, and SIGTERM must end the service. Everything to
/// commit was committed before this; a close cut short only leaves the group to notice
/// the member's absence by its session timeout.
fn close_bounded(
    group: GroupConsumer,
    context: Option<TableReader>,
    alerts_table: TableReader,
    producer: AlertProducer,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("pullwatch-kafka-close".into())
        .spawn(move || {
            drop(producer);
            drop(context);
            drop(alerts_table);
            drop(group);
            let _ = tx.send(());
        });
    if spawned.is_ok() && rx.recv_timeout(CLOSE_PATIENCE).is_err() {
        eprintln!(
            "pullwatch: kafka: clients did not close within {CLOSE_PATIENCE:?}; exiting anyway"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_an_alert_is_the_same_for_every_member_and_spread() {
        assert_eq!(owner_partition("abc", 6), owner_partition("abc", 6));
        let hit: BTreeSet<i32> = (0..200)
            .map(|i| owner_partition(&format!("{i:032x}"), 6))
            .collect();
        assert_eq!(hit, (0..6).collect());
        assert_eq!(owner_partition("x", 0), 0);
    }

    fn part(last: Instant) -> PartState {
        let stream = EventStream::detached(label("node", 0), DecodeOptions::default());
        PartState::new(stream, 0, Some(last))
    }

    /// A partition whose replay has not reached its end holds the others back however
    /// long its fetch takes; the offset of the end reached (by a record or the read
    /// position) lets it go quiet like any other.
    #[test]
    fn a_replaying_partition_is_never_quiet_until_read_to_its_end() {
        let start = Instant::now();
        let mut ps = part(start);
        ps.read_to = Some(10);
        let timeout = Duration::from_secs(2);
        let later = start + Duration::from_secs(60);
        assert!(!ps.quiet(later, timeout), "still replaying");
        ps.reached(9, later);
        assert!(!ps.quiet(later, timeout), "one record short of the end");
        assert_eq!(ps.progress, later, "progress is noted");
        ps.reached(10, later);
        assert_eq!(ps.read_to, None);
        assert!(ps.quiet(later, timeout), "quiet since its last event");
        ps.last = Some(later);
        assert!(!ps.quiet(later + Duration::from_secs(1), timeout));
        assert!(ps.quiet(later + timeout, timeout));
    }

    /// A quiet partition with records left at the broker (the member stalled, or its
    /// fetch came late) catches up before it is idle; one read to its end is idle, and so
    /// is one whose end the brokers did not give.
    #[test]
    fn a_quiet_partition_is_idle_only_once_read_to_its_end() {
        let t = Instant::now();
        let mut behind = part(t);
        behind.judge(Some(50), Some(20), t);
        assert!(!behind.idle);
        assert_eq!(behind.read_to, Some(50));
        // An idle partition that records reached at the broker is idle no longer.
        let mut woken = part(t);
        woken.idle = true;
        woken.judge(Some(51), Some(50), t);
        assert!(!woken.idle);
        assert_eq!(woken.read_to, Some(51));

        let mut at_end = part(t);
        at_end.judge(Some(50), Some(50), t);
        assert!(at_end.idle);
        assert_eq!(at_end.read_to, None);

        // Before its first fetch the position is where the rebuild started it.
        let mut unfetched = part(t);
        unfetched.start = Some(30);
        unfetched.judge(Some(50), None, t);
        assert_eq!(unfetched.read_to, Some(50));
        let mut started_at_end = part(t);
        started_at_end.start = Some(i64::MAX);
        started_at_end.judge(Some(50), None, t);
        assert!(started_at_end.idle);

        let mut unknown = part(t);
        unknown.judge(None, Some(20), t);
        assert!(
            unknown.idle,
            "the brokers did not answer: the time rule alone"
        );
    }
}
