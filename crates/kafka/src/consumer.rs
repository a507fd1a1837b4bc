//! One member of pullwatch's consumer group.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata,
    Rebalance as RdRebalance,
};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;

use crate::{Error, KafkaSettings};

/// One record as pullwatch's decoders need it, owned so that it can outlive the poll that
/// returned it (librdkafka's borrowed messages pin the consumer's buffers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// CreateTime or LogAppendTime, whichever the topic keeps; `None` when the producer
    /// set none.
    pub timestamp_ms: Option<i64>,
    pub key: Option<Vec<u8>>,
    /// A null payload (a tombstone) is empty.
    pub payload: Vec<u8>,
}

/// A topic partition, with the topic name shared among all records and events naming it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: Arc<str>,
    pub partition: i32,
}

/// A change of this member's partitions, in the order the group made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    Assigned(Vec<TopicPartition>),
    /// `lost` when the group took them without asking (this member missed its session
    /// timeout): another member may already have processed past our position.
    Revoked {
        partitions: Vec<TopicPartition>,
        lost: bool,
    },
    Failed(String),
}

/// Where a partition stands, for lag metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: TopicPartition,
    /// The next offset this member will read: its fetch position, or before the first
    /// record since the assignment, the group's committed offset; `None` when neither exists.
    pub position: Option<i64>,
    /// One past the last record this member may read: the high watermark, or under
    /// read_committed the last stable offset.
    pub high_watermark: i64,
    pub lag: Option<i64>,
}

/// Where `seek_to_times` moved a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeekedTo {
    pub partition: TopicPartition,
    /// The first offset whose timestamp is at or after the asked time; `None` when no record
    /// is that recent (the partition is moved to its end as it stood before the search, so
    /// that records written since are read).
    pub offset: Option<i64>,
    /// The partition's end offset, asked before the search (`None`: the brokers gave no
    /// number): where a replay from `offset` has read everything there was.
    pub end: Option<i64>,
}

/// The group membership a transaction's offsets are committed under.
///
/// Taken right after the transaction's first batch, not when it commits: if the group
/// rebalanced in between, the broker refuses the commit (its generation is stale) and the
/// alerts are aborted, instead of a new owner and this member both committing alerts for
/// the same records.
pub struct GroupMetadata {
    pub(crate) inner: ConsumerGroupMetadata,
    epoch: u64,
}

impl std::fmt::Debug for GroupMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMetadata")
            .field("epoch", &self.epoch)
            .finish()
    }
}

/// How many warnings wait for `take_errors` before older ones are dropped: a broker that
/// stays down reports the same failure every few seconds.
const MAX_QUEUED_ERRORS: usize = 256;

#[derive(Default)]
struct Events {
    rebalances: Vec<Rebalance>,
    errors: Vec<Error>,
    topics: Vec<Arc<str>>,
}

impl Events {
    fn intern(&mut self, topic: &str) -> Arc<str> {
        if let Some(t) = self.topics.iter().find(|t| ***t == *topic) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(topic);
        self.topics.push(Arc::clone(&t));
        t
    }

    fn partitions(&mut self, tpl: &TopicPartitionList) -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> = tpl
            .elements()
            .iter()
            .map(|e| TopicPartition {
                topic: self.intern(e.topic()),
                partition: e.partition(),
            })
            .collect();
        out.sort();
        out
    }
}

/// Receives librdkafka's callbacks, which run inside `poll` on the caller's thread, and
/// queues them for the caller: the pipeline, not a callback, decides what a rebalance means.
#[derive(Default)]
pub(crate) struct GroupContext {
    events: Mutex<Events>,
    epoch: AtomicU64,
}

impl GroupContext {
    fn events(&self) -> MutexGuard<'_, Events> {
        // A panic while holding this lock leaves only queued notices behind; they stay usable.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClientContext for GroupContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let mut events = self.events();
        if events.errors.len() >= MAX_QUEUED_ERRORS {
            events.errors.remove(0);
        }
        events.errors.push(if reason.is_empty() {
            Error::Kafka(error)
        } else {
            Error::Notice {
                detail: reason.to_owned(),
                source: error,
            }
        });
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &RdRebalance<'_>) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let mut events = self.events();
        let event = match rebalance {
            RdRebalance::Assign(tpl) => Rebalance::Assigned(events.partitions(tpl)),
            RdRebalance::Revoke(tpl) => Rebalance::Revoked {
                partitions: events.partitions(tpl),
                lost: consumer.assignment_lost(),
            },
            RdRebalance::Error(e) => Rebalance::Failed(e.to_string()),
        };
        events.rebalances.push(event);
    }
}

/// A member of the consumer group named in the settings, subscribed to its topics.
///
/// Offsets move only when the caller commits them — in the alert transaction
/// ([`crate::AlertProducer::commit_with_offsets`]) or with [`GroupConsumer::commit_offsets`] —
/// never because a record was returned: a record handed out but not yet turned into
/// alerts must be read again by whoever owns its partition next.
pub struct GroupConsumer {
    consumer: BaseConsumer<GroupContext>,
    reset_to_end: bool,
}

impl GroupConsumer {
    /// Joins the group lazily: membership and the first assignment arrive during `poll_batch`.
    pub fn new(settings: &KafkaSettings) -> Result<Self, Error> {
        settings.validate()?;
        let mut defaults = vec![
            ("client.id", "pullwatch"),
            // A new group reads the retained history rather than skip it: a chain may have
            // started before pullwatch did.
            ("auto.offset.reset", "earliest"),
        ];
        // Under the classic protocol, rebalances are noticed at the next heartbeat and a
        // dead member after its session timeout: 1 s and 10 s rather than 3 s and 45 s.
        // Under KIP-848 (`group.protocol=consumer`) the broker owns both, and librdkafka
        // refuses a client that sets them.
        if settings
            .properties
            .get("group.protocol")
            .map(String::as_str)
            != Some("consumer")
        {
            defaults.extend([
                ("heartbeat.interval.ms", "1000"),
                ("session.timeout.ms", "10000"),
            ]);
        }
        let mut config = settings.client_config(&defaults)?;
        config
            .set("group.id", &settings.group_id)
            // The pipeline commits offsets with its alerts; auto-commit and the automatic
            // offset store would commit records it has not processed (and on close, records
            // it never saw).
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Telemetry written transactionally (including by another pullwatch) is read
            // only once committed, never as an aborted attempt.
            .set("isolation.level", "read_committed");
        let reset_to_end = matches!(
            settings
                .properties
                .get("auto.offset.reset")
                .map(String::as_str),
            Some("latest" | "largest" | "end")
        );
        let consumer: BaseConsumer<GroupContext> =
            config.create_with_context(GroupContext::default())?;
        let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Self {
            consumer,
            reset_to_end,
        })
    }

    /// Waits up to `timeout` for a first record, then takes what is already fetched, up to
    /// `max` records.
    ///
    /// A rebalance ends the batch early; records of partitions it revoked are left out of
    /// the batch (their next owner reads them from the committed offset), so the caller
    /// sees the rebalance in [`GroupConsumer::take_rebalances`] before any record that
    /// follows it. Errors librdkafka recovers from by itself go to
    /// [`GroupConsumer::take_errors`]; only a fatal one fails the call.
    pub fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<KafkaRecord>, Error> {
        let deadline = Instant::now() + timeout;
        let start_epoch = self.rebalance_epoch();
        let start_events = self.consumer.context().events().rebalances.len();
        let mut out: Vec<KafkaRecord> = Vec::new();
        let mut last_topic: Option<Arc<str>> = None;
        while out.len() < max {
            let wait = if out.is_empty() {
                deadline.saturating_duration_since(Instant::now())
            } else {
                Duration::ZERO
            };
            let polled = self.consumer.poll(wait);
            if self.rebalance_epoch() != start_epoch {
                // Records read before a revocation are read again from the committed offset
                // by the partition's next owner (this member too, when it gets the partition
                // back). A message returned by this very poll came after the rebalance.
                let since: Vec<Rebalance> = self
                    .consumer
                    .context()
                    .events()
                    .rebalances
                    .get(start_events..)
                    .map(<[Rebalance]>::to_vec)
                    .unwrap_or_default();
                drop_revoked(&mut out, &since);
                if let Some(Ok(m)) = polled {
                    out.push(record(&m, &mut last_topic, self.consumer.context()));
                }
                break;
            }
            match polled {
                None => {
                    if !out.is_empty() || Instant::now() >= deadline {
                        break;
                    }
                }
                Some(Ok(m)) => out.push(record(&m, &mut last_topic, self.consumer.context())),
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(Error::ConsumerFatal(KafkaError::MessageConsumptionFatal(
                        code,
                    )));
                }
                Some(Err(e)) => {
                    self.consumer.context().error(e, "");
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The partition changes since the last call, oldest first.
    pub fn take_rebalances(&self) -> Vec<Rebalance> {
        std::mem::take(&mut self.consumer.context().events().rebalances)
    }

    /// Errors librdkafka reported and recovers from itself (a broker down, an unknown
    /// topic), oldest first, for the caller to log and count.
    pub fn take_errors(&self) -> Vec<Error> {
        std::mem::take(&mut self.consumer.context().events().errors)
    }

    /// Counts rebalance callbacks; it moves whenever partitions were assigned or revoked.
    pub fn rebalance_epoch(&self) -> u64 {
        self.consumer.context().epoch.load(Ordering::SeqCst)
    }

    /// A snapshot of the group membership, for the transaction whose first batch was just
    /// polled.
    pub fn group_metadata(&self) -> Result<GroupMetadata, Error> {
        let epoch = self.rebalance_epoch();
        let inner = self.consumer.group_metadata().ok_or(Error::NotInGroup)?;
        Ok(GroupMetadata { inner, epoch })
    }

    /// Whether partitions moved since `meta` was taken, in which case the transaction it
    /// belongs to cannot commit and aborting it now saves a round trip to the broker.
    pub fn rebalanced_since(&self, meta: &GroupMetadata) -> bool {
        self.rebalance_epoch() != meta.epoch
    }

    /// The partitions this member owns now.
    pub fn assignment(&self) -> Result<Vec<TopicPartition>, Error> {
        let tpl = self.consumer.assignment()?;
        Ok(self.consumer.context().events().partitions(&tpl))
    }

    /// Moves each partition to its first record with a timestamp at or after `ts_ms`, for
    /// replay after a rebalance: the caller passes its watermark less the correlation window
    /// and the allowed lateness, and suppresses the alerts it already committed. Returns
    /// where each starts and the end offsets asked to find that, so a replay need not ask
    /// them again.
    pub fn seek_to_times<T: AsRef<str>>(
        &self,
        partitions: &[(T, i32)],
        ts_ms: i64,
        timeout: Duration,
    ) -> Result<Vec<SeekedTo>, Error> {
        let deadline = Instant::now() + timeout;
        // Where each partition ends, as a number and asked first: a partition with no
        // record that recent is moved there. librdkafka's logical end is resolved by a
        // query of its own when the fetch starts; records written in between (on topics
        // that were empty at a rebalance, the first records of all) would be passed over,
        // and a later seek of the same partition races with that query.
        let ends = ask_end_offsets(
            &self.consumer,
            partitions.iter().map(|(t, p)| (t.as_ref(), *p)),
            remaining(deadline),
        )?;
        let end_of = |topic: &str, partition: i32| {
            ends.elements()
                .iter()
                .find(|e| e.topic() == topic && e.partition() == partition)
                .and_then(|e| offset_value(e.offset()))
        };
        let mut query = TopicPartitionList::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            query.add_partition_offset(topic.as_ref(), *partition, Offset::Offset(ts_ms))?;
        }
        let found = self
            .consumer
            .offsets_for_times(query, remaining(deadline))?;
        let mut seek = TopicPartitionList::with_capacity(found.count());
        let mut out = Vec::with_capacity(found.count());
        {
            let mut events = self.consumer.context().events();
            for e in found.elements() {
                e.error()?;
                let offset = offset_value(e.offset());
                let end = end_of(e.topic(), e.partition());
                let to = match offset.or(end) {
                    Some(o) => Offset::Offset(o),
                    None => Offset::End,
                };
                seek.add_partition_offset(e.topic(), e.partition(), to)?;
                out.push(SeekedTo {
                    partition: TopicPartition {
                        topic: events.intern(e.topic()),
                        partition: e.partition(),
                    },
                    offset,
                    end,
                });
            }
        }
        drop(found);
        self.seek(seek, deadline)?;
        Ok(out)
    }

    /// Moves partitions to the given offsets (the next record each will return).
    pub fn seek_to_offsets<T: AsRef<str>>(
        &self,
        offsets: &[(T, i32, i64)],
        timeout: Duration,
    ) -> Result<(), Error> {
        let tpl = offsets_list(offsets)?;
        self.seek(tpl, Instant::now() + timeout)
    }

    /// Moves every owned partition back to its committed offset (or to where a new group
    /// starts, when none is committed): what an aborted transaction had read is read again.
    pub fn rewind_to_committed(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        let owned = self.consumer.assignment()?;
        if owned.count() == 0 {
            return Ok(());
        }
        let committed = self
            .consumer
            .committed_offsets(owned, remaining(deadline))?;
        let mut seek = TopicPartitionList::with_capacity(committed.count());
        for e in committed.elements() {
            let to = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ if self.reset_to_end => Offset::End,
                _ => Offset::Beginning,
            };
            seek.add_partition_offset(e.topic(), e.partition(), to)?;
        }
        drop(committed);
        self.seek(seek, deadline)
    }

    fn seek(&self, tpl: TopicPartitionList, deadline: Instant) -> Result<(), Error> {
        if tpl.count() == 0 {
            return Ok(());
        }
        let done = self.consumer.seek_partitions(tpl, remaining(deadline))?;
        for e in done.elements() {
            e.error()?;
        }
        Ok(())
    }

    /// The group's committed offset (the next record to process) of each partition; `None`
    /// where nothing was committed yet.
    pub fn committed_offsets<T: AsRef<str>>(
        &self,
        partitions: &[(T, i32)],
        timeout: Duration,
    ) -> Result<Vec<(TopicPartition, Option<i64>)>, Error> {
        let mut query = TopicPartitionList::with_capacity(partitions.len());
        for (topic, partition) in partitions {
            query.add_partition(topic.as_ref(), *partition);
        }
        // The list returned lives only inside this call: a list that outlives its consumer
        // makes librdkafka's destroy wait forever.
        let committed = self.consumer.committed_offsets(query, timeout)?;
        let mut events = self.consumer.context().events();
        let mut out = Vec::with_capacity(committed.count());
        for e in committed.elements() {
            e.error()?;
            let offset = offset_value(e.offset());
            out.push((
                TopicPartition {
                    topic: events.intern(e.topic()),
                    partition: e.partition(),
                },
                offset,
            ));
        }
        Ok(out)
    }

    /// Commits offsets outside a transaction, for sinks that are not Kafka (at least once:
    /// commit after the sink accepted the alerts). Blocks until the broker answered.
    pub fn commit_offsets<T: AsRef<str>>(&self, offsets: &[(T, i32, i64)]) -> Result<(), Error> {
        let tpl = offsets_list(offsets)?;
        if tpl.count() == 0 {
            return Ok(());
        }
        self.consumer.commit(&tpl, CommitMode::Sync)?;
        Ok(())
    }

    /// The offset one past the last record each partition holds for this reader (under
    /// read_committed, the last stable offset), asked of the brokers in one request per
    /// broker rather than one per partition: a replay after a rebalance reads each
    /// partition up to here before the partition may count as quiet.
    pub fn end_offsets<T: AsRef<str>>(
        &self,
        partitions: &[(T, i32)],
        timeout: Duration,
    ) -> Result<Vec<(TopicPartition, i64)>, Error> {
        let found = ask_end_offsets(
            &self.consumer,
            partitions.iter().map(|(t, p)| (t.as_ref(), *p)),
            timeout,
        )?;
        let mut events = self.consumer.context().events();
        Ok(found
            .elements()
            .iter()
            .filter_map(|e| {
                let o = offset_value(e.offset())?;
                let tp = TopicPartition {
                    topic: events.intern(e.topic()),
                    partition: e.partition(),
                };
                Some((tp, o))
            })
            .collect())
    }

    /// Where each owned partition reads next, as librdkafka knows it without asking a
    /// broker (`None` before its first fetch). Unlike the offsets of the records handed
    /// out, it also moves past what read_committed hides: transaction markers and
    /// aborted records.
    pub fn positions(&self) -> Result<Vec<(TopicPartition, Option<i64>)>, Error> {
        let tpl = self.consumer.position()?;
        let mut events = self.consumer.context().events();
        Ok(tpl
            .elements()
            .iter()
            .map(|e| {
                let pos = offset_value(e.offset());
                (
                    TopicPartition {
                        topic: events.intern(e.topic()),
                        partition: e.partition(),
                    },
                    pos,
                )
            })
            .collect())
    }

    /// End offset less position for each owned partition. The end offsets are asked in one
    /// request per broker (as [`GroupConsumer::end_offsets`]): asked one partition at a time,
    /// a member owning a dozen partitions on a loaded broker spent seconds here, not
    /// polling.
    pub fn lag(&self, timeout: Duration) -> Result<Vec<PartitionLag>, Error> {
        let deadline = Instant::now() + timeout;
        let positions = self.positions()?;
        // A partition that returned nothing since its assignment has no fetch position yet;
        // it will start at the group's committed offset.
        let unknown: Vec<(&str, i32)> = positions
            .iter()
            .filter(|(_, pos)| pos.is_none())
            .map(|(tp, _)| (&*tp.topic, tp.partition))
            .collect();
        let committed = if unknown.is_empty() {
            Vec::new()
        } else {
            self.committed_offsets(&unknown, remaining(deadline))?
        };
        let all: Vec<(&str, i32)> = positions
            .iter()
            .map(|(tp, _)| (&*tp.topic, tp.partition))
            .collect();
        let ends = if all.is_empty() {
            Vec::new()
        } else {
            self.end_offsets(&all, remaining(deadline))?
        };
        let mut out = Vec::with_capacity(positions.len());
        for (tp, position) in positions {
            let Some(end) = ends.iter().find(|(e, _)| *e == tp).map(|(_, o)| *o) else {
                continue;
            };
            let position = position.or_else(|| {
                committed
                    .iter()
                    .find(|(c, _)| *c == tp)
                    .and_then(|(_, o)| *o)
            });
            out.push(PartitionLag {
                partition: tp,
                position,
                high_watermark: end,
                lag: position.map(|p| (end - p).max(0)),
            });
        }
        Ok(out)
    }
}

/// The offsets to commit after `records` were processed: one past the last record of each
/// partition.
pub fn next_offsets(records: &[KafkaRecord]) -> Vec<(Arc<str>, i32, i64)> {
    let mut out: Vec<(Arc<str>, i32, i64)> = Vec::new();
    for r in records {
        match out
            .iter_mut()
            .find(|(t, p, _)| *p == r.partition && **t == *r.topic)
        {
            Some(entry) => entry.2 = entry.2.max(r.offset + 1),
            None => out.push((Arc::clone(&r.topic), r.partition, r.offset + 1)),
        }
    }
    out.sort();
    out
}

pub(crate) fn offsets_list<T: AsRef<str>>(
    offsets: &[(T, i32, i64)],
) -> Result<TopicPartitionList, Error> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for (topic, partition, offset) in offsets {
        tpl.add_partition_offset(topic.as_ref(), *partition, Offset::Offset(*offset))?;
    }
    Ok(tpl)
}

/// Asks the brokers where each of `partitions` ends (one past its last record; under
/// read_committed, the last stable offset): one ListOffsets request per broker. A
/// partition's error fails the whole answer.
pub(crate) fn ask_end_offsets<'a, X: ConsumerContext, C: Consumer<X>>(
    consumer: &C,
    partitions: impl Iterator<Item = (&'a str, i32)>,
    timeout: Duration,
) -> Result<TopicPartitionList, Error> {
    let mut query = TopicPartitionList::new();
    for (topic, partition) in partitions {
        query.add_partition_offset(topic, partition, Offset::End)?;
    }
    let found = consumer.offsets_for_times(query, timeout)?;
    for e in found.elements() {
        e.error()?;
    }
    Ok(found)
}

/// A partition's offset as a number, `None` for librdkafka's logical offsets (end,
/// beginning, invalid: what a partition that has not fetched yet reports).
pub(crate) fn offset_value(o: Offset) -> Option<i64> {
    match o {
        Offset::Offset(o) => Some(o),
        _ => None,
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

fn record<M: Message>(m: &M, last_topic: &mut Option<Arc<str>>, ctx: &GroupContext) -> KafkaRecord {
    let topic = match last_topic {
        Some(t) if **t == *m.topic() => Arc::clone(t),
        _ => {
            let t = ctx.events().intern(m.topic());
            *last_topic = Some(Arc::clone(&t));
            t
        }
    };
    KafkaRecord {
        topic,
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

/// A record read outside the group (see `crate::TableReader`), its topic name shared with
/// the records before it when it is the same.
pub(crate) fn record_of<M: Message>(m: &M, last_topic: &mut Option<Arc<str>>) -> KafkaRecord {
    let topic = match last_topic {
        Some(t) if **t == *m.topic() => Arc::clone(t),
        _ => {
            let t: Arc<str> = Arc::from(m.topic());
            *last_topic = Some(Arc::clone(&t));
            t
        }
    };
    KafkaRecord {
        topic,
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key().map(<[u8]>::to_vec),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

fn drop_revoked(records: &mut Vec<KafkaRecord>, since: &[Rebalance]) {
    let revoked: HashSet<(&str, i32)> = since
        .iter()
        .filter_map(|r| match r {
            Rebalance::Revoked { partitions, .. } => Some(partitions),
            _ => None,
        })
        .flatten()
        .map(|tp| (&*tp.topic, tp.partition))
        .collect();
    if !revoked.is_empty() {
        records.retain(|r| !revoked.contains(&(&*r.topic, r.partition)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(topic: &Arc<str>, partition: i32, offset: i64) -> KafkaRecord {
        KafkaRecord {
            topic: Arc::clone(topic),
            partition,
            offset,
            timestamp_ms: None,
            key: None,
            payload: Vec::new(),
        }
    }

    #[test]
    fn a_member_can_use_the_kip_848_group_protocol() {
        // Nothing listens on the discard port; creating and subscribing do not connect.
        let mut s = KafkaSettings::new("127.0.0.1:9", vec!["telemetry".into()]);
        s.properties
            .insert("group.protocol".into(), "consumer".into());
        let created = GroupConsumer::new(&s);
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[test]
    fn an_unreachable_broker_is_reported_not_fatal() {
        // Nothing listens on the discard port: every connection is refused at once.
        let s = KafkaSettings::new("127.0.0.1:9", vec!["telemetry".into()]);
        let mut c = GroupConsumer::new(&s).expect("consumer");
        let deadline = Instant::now() + Duration::from_secs(20);
        let errors = loop {
            let batch = c
                .poll_batch(10, Duration::from_millis(200))
                .expect("not fatal");
            assert!(batch.is_empty());
            let errors = c.take_errors();
            if !errors.is_empty() {
                break errors;
            }
            assert!(
                Instant::now() < deadline,
                "no error reported for a refused connection"
            );
        };
        let shown = errors[0].to_string();
        assert!(
            shown.contains("127.0.0.1:9"),
            "the notice names the broker: {shown}"
        );
    }

    #[test]
    fn next_offsets_are_one_past_the_highest_per_partition() {
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        let records = [
            rec(&a, 0, 5),
            rec(&b, 0, 9),
            rec(&a, 0, 7),
            rec(&a, 1, 0),
            rec(&a, 0, 6),
        ];
        let got = next_offsets(&records);
        assert_eq!(
            got,
            vec![
                (Arc::clone(&a), 0, 8),
                (Arc::clone(&a), 1, 1),
                (Arc::clone(&b), 0, 10)
            ]
        );
    }

    #[test]
    fn records_of_revoked_partitions_leave_the_batch() {
        let a: Arc<str> = Arc::from("a");
        let mut records = vec![rec(&a, 0, 1), rec(&a, 1, 1), rec(&a, 2, 1)];
        let since = [
            Rebalance::Revoked {
                partitions: vec![TopicPartition {
                    topic: Arc::clone(&a),
                    partition: 1,
                }],
                lost: false,
            },
            Rebalance::Assigned(Vec::new()),
        ];
        drop_revoked(&mut records, &since);
        let left: Vec<i32> = records.iter().map(|r| r.partition).collect();
        assert_eq!(left, vec![0, 2]);
    }
}
