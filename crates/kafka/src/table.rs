//! Reading whole topics outside the consumer group, like a table every instance holds.
//!
//! Low-volume context (Kubernetes audit, cloud activity) names no node, so no partitioning
//! by node can send it to the instance that needs it: every instance reads all of it. The
//! alerts topic is read the same way, so that an instance that takes over partitions knows
//! which alerts were already committed before it sends any.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList, TopicPartitionListElem};

use crate::consumer::{ask_end_offsets, offset_value, record_of};
use crate::{Error, KafkaRecord, KafkaSettings};

/// A topic and partition of a table.
pub type TablePartition = (Arc<str>, i32);

/// Where [`TableReader::seek_to_time`] put a partition (`None`: the brokers gave no
/// number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSeek {
    pub partition: TablePartition,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// A consumer assigned every partition of its topics, with no group: it never commits and
/// never rebalances. Reads with `isolation.level=read_committed`.
pub struct TableReader {
    consumer: BaseConsumer<DefaultConsumerContext>,
    partitions: Vec<(Arc<str>, i32)>,
    /// Partitions that reported their end (under read_committed: the last stable offset)
    /// since the last [`TableReader::mark`].
    at_end: BTreeSet<(Arc<str>, i32)>,
    /// Where each partition reads next: its start, then one past its last record.
    next: HashMap<(Arc<str>, i32), Offset>,
}

impl TableReader {
    /// Assigns every partition of `topics`, starting at the first record at or after
    /// `from_ms` (`None`: the beginning of what is retained).
    pub fn new(
        settings: &KafkaSettings,
        topics: &[String],
        from_ms: Option<i64>,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let deadline = Instant::now() + timeout;
        let mut config = settings.client_config(&[
            ("client.id", "pullwatch-table"),
            ("auto.offset.reset", "earliest"),
        ])?;
        // librdkafka wants a group id even for a consumer that only assigns; it never
        // joins it (no subscribe) and never commits to it.
        config
            .set("group.id", format!("{}-table-unused", settings.group_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed");
        let consumer: BaseConsumer<DefaultConsumerContext> = config.create()?;
        let mut partitions = Vec::new();
        for topic in topics {
            let n = partition_count(&consumer, topic, remaining(deadline))?;
            let topic: Arc<str> = Arc::from(topic.as_str());
            partitions.extend((0..n).map(|p| (Arc::clone(&topic), p)));
        }
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for (t, p) in &partitions {
            tpl.add_partition_offset(t, *p, Offset::Beginning)?;
        }
        if let Some(ts) = from_ms {
            tpl = starts_at_time(&consumer, &partitions, ts, deadline)?.0;
        }
        consumer.assign(&tpl)?;
        let next = starts(&tpl, &partitions);
        Ok(Self {
            consumer,
            partitions,
            at_end: BTreeSet::new(),
            next,
        })
    }

    /// Every partition read, in order.
    pub fn partitions(&self) -> &[(Arc<str>, i32)] {
        &self.partitions
    }

    /// How many partitions any `topic` has (not only this table's), from the broker.
    pub fn partition_count(&self, topic: &str, timeout: Duration) -> Result<i32, Error> {
        partition_count(&self.consumer, topic, timeout)
    }

    /// Up to `max` records, waiting up to `timeout` for the first.
    pub fn poll_batch(&mut self, max: usize, timeout: Duration) -> Result<Vec<KafkaRecord>, Error> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut last_topic = None;
        while out.len() < max {
            let wait = if out.is_empty() {
                remaining(deadline)
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(m)) => {
                    let r = record_of(&m, &mut last_topic);
                    self.next.insert(
                        (Arc::clone(&r.topic), r.partition),
                        Offset::Offset(r.offset + 1),
                    );
                    out.push(r);
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    // The EOF names only the partition, so only a single-topic table can
                    // tell which partition reached its end.
                    let topics: BTreeSet<Arc<str>> =
                        self.partitions.iter().map(|(t, _)| Arc::clone(t)).collect();
                    if topics.len() == 1 {
                        if let Some(t) = topics.into_iter().next() {
                            self.at_end.insert((t, p));
                        }
                    }
                }
                Some(Err(KafkaError::MessageConsumptionFatal(code))) => {
                    return Err(Error::ConsumerFatal(KafkaError::MessageConsumptionFatal(
                        code,
                    )));
                }
                // Recoverable (a broker away for a moment): librdkafka retries by itself.
                Some(Err(_)) => break,
            }
        }
        Ok(out)
    }

    /// Forgets which partitions reached their end, so that [`TableReader::caught_up`] waits
    /// for ends reached from now on: what was committed before this call is read by then.
    ///
    /// librdkafka reports a partition's end once per fetch start, so every partition is
    /// assigned again where it stands, which makes it report its end anew.
    pub fn mark(&mut self) -> Result<(), Error> {
        let mut tpl = TopicPartitionList::with_capacity(self.partitions.len());
        for (t, p) in &self.partitions {
            let at = self
                .next
                .get(&(Arc::clone(t), *p))
                .copied()
                .unwrap_or(Offset::Beginning);
            tpl.add_partition_offset(t, *p, at)?;
        }
        self.consumer.assign(&tpl)?;
        self.at_end.clear();
        Ok(())
    }

    /// Whether every partition reached its end since the last [`TableReader::mark`]
    /// (single-topic tables only; a table over several topics never reports it).
    pub fn caught_up(&self) -> bool {
        self.at_end.len() == self.partitions.len()
    }

    /// The offset one past the last record each partition holds for this reader (under
    /// read_committed, the last stable offset), in one request per broker.
    pub fn end_offsets(&self, timeout: Duration) -> Result<Vec<(TablePartition, i64)>, Error> {
        end_offsets(&self.consumer, &self.partitions, timeout)
    }

    /// Where each partition reads next, as librdkafka knows it without asking a broker
    /// (`None` before its first fetch); it moves past transaction markers too.
    pub fn positions(&self) -> Result<Vec<(TablePartition, Option<i64>)>, Error> {
        let tpl = self.consumer.position()?;
        Ok(tpl
            .elements()
            .iter()
            .filter_map(|e| Some((own(&self.partitions, e)?, offset_value(e.offset()))))
            .collect())
    }

    /// Moves every partition to its first record at or after `ts_ms` (to its end where
    /// none is that recent). Returns where each starts and ends, as the brokers gave
    /// them: the end was asked to start there, and a replay reads up to it.
    pub fn seek_to_time(&mut self, ts_ms: i64, timeout: Duration) -> Result<Vec<TableSeek>, Error> {
        let deadline = Instant::now() + timeout;
        let (tpl, ends) = starts_at_time(&self.consumer, &self.partitions, ts_ms, deadline)?;
        // Re-assigning (rather than seeking) works whether or not a partition has started
        // fetching yet.
        self.consumer.assign(&tpl)?;
        self.next = starts(&tpl, &self.partitions);
        self.at_end.clear();
        Ok(self
            .next
            .iter()
            .map(|(tp, o)| TableSeek {
                partition: tp.clone(),
                start: offset_value(*o),
                end: ends.iter().find(|(p, _)| p == tp).map(|(_, e)| *e),
            })
            .collect())
    }
}

/// Where each partition's first record at or after `ts_ms` is, or its end offset where
/// none is that recent. The end is a number asked before the times, not librdkafka's
/// logical end: that is resolved only when the fetch starts, and a record written in
/// between (the first records of a topic that was empty when a member started) would
/// be passed over, never read.
fn starts_at_time(
    consumer: &BaseConsumer<DefaultConsumerContext>,
    partitions: &[TablePartition],
    ts_ms: i64,
    deadline: Instant,
) -> Result<(TopicPartitionList, Vec<(TablePartition, i64)>), Error> {
    let ends = end_offsets(consumer, partitions, remaining(deadline))?;
    let mut query = TopicPartitionList::with_capacity(partitions.len());
    for (t, p) in partitions {
        query.add_partition_offset(t, *p, Offset::Offset(ts_ms))?;
    }
    let found = consumer.offsets_for_times(query, remaining(deadline))?;
    let mut tpl = TopicPartitionList::with_capacity(found.count());
    for e in found.elements() {
        e.error()?;
        let to = match (e.offset(), own(partitions, &e)) {
            (Offset::Offset(o), _) => Offset::Offset(o),
            (_, Some(part)) => match ends.iter().find(|(p, _)| *p == part) {
                Some((_, end)) => Offset::Offset(*end),
                None => Offset::End,
            },
            (_, None) => Offset::End,
        };
        tpl.add_partition_offset(e.topic(), e.partition(), to)?;
    }
    Ok((tpl, ends))
}

/// The offset one past the last record of each of `partitions` (under read_committed,
/// the last stable offset), in one request per broker.
fn end_offsets(
    consumer: &BaseConsumer<DefaultConsumerContext>,
    partitions: &[TablePartition],
    timeout: Duration,
) -> Result<Vec<(TablePartition, i64)>, Error> {
    let found = ask_end_offsets(
        consumer,
        partitions.iter().map(|(t, p)| (&**t, *p)),
        timeout,
    )?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| Some((own(partitions, e)?, offset_value(e.offset())?)))
        .collect())
}

/// The table's own name for the partition an answer from librdkafka is about (sharing
/// the topic's name), or `None` for a partition not in the table.
fn own(partitions: &[TablePartition], e: &TopicPartitionListElem<'_>) -> Option<TablePartition> {
    partitions
        .iter()
        .find(|(t, p)| **t == *e.topic() && *p == e.partition())
        .cloned()
}

fn starts(
    tpl: &TopicPartitionList,
    partitions: &[TablePartition],
) -> HashMap<TablePartition, Offset> {
    tpl.elements()
        .iter()
        .filter_map(|e| Some((own(partitions, e)?, e.offset())))
        .collect()
}

/// How many partitions `topic` has, from the broker's metadata.
fn partition_count(
    consumer: &BaseConsumer<DefaultConsumerContext>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, Error> {
    let md = consumer.fetch_metadata(Some(topic), timeout)?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| Error::Setting {
            key: "topics".into(),
            reason: format!("names {topic:?}, which the broker does not know"),
        })?;
    if let Some(e) = t.error() {
        return Err(Error::Setting {
            key: "topics".into(),
            reason: format!("names {topic:?}: {e:?}"),
        });
    }
    let n = i32::try_from(t.partitions().len()).unwrap_or(i32::MAX);
    if n == 0 {
        return Err(Error::Setting {
            key: "topics".into(),
            reason: format!("names {topic:?}, which has no partitions"),
        });
    }
    Ok(n)
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
