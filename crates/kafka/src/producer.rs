//! Writing to Kafka: alerts in transactions, and plain records for tests and tools.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

use crate::consumer::{offsets_list, GroupMetadata};
use crate::{Error, KafkaSettings};

/// How long `send` waits for room in librdkafka's queue before giving up.
const QUEUE_FULL_PATIENCE: Duration = Duration::from_secs(30);

/// Writes alerts to the alerts topic in transactions that also carry the consumer group's
/// offsets, so that an alert is visible to `read_committed` readers exactly when the
/// records that raised it count as processed.
///
/// One per pullwatch instance. Its transactional id is the settings' prefix and the
/// instance's name; a name that survives restarts (a StatefulSet pod's, a host's) lets the
/// restarted instance fence its predecessor at once, aborting what that one left open.
/// Under a new name, the open transaction lingers until the broker's
/// `transaction.timeout.ms`, and `read_committed` readers of the alerts partitions it wrote
/// to wait for it.
pub struct AlertProducer {
    producer: ThreadedProducer<PlainContext>,
    topic: String,
    transactional_id: String,
}

impl AlertProducer {
    /// Creates the producer; nothing is sent before [`AlertProducer::init`].
    pub fn new(settings: &KafkaSettings, instance: &str) -> Result<Self, Error> {
        let topic = settings
            .alerts_topic
            .clone()
            .ok_or_else(|| Error::Setting {
                key: "alerts_topic".into(),
                reason: "is needed to write alerts to Kafka".into(),
            })?;
        if instance.trim().is_empty() {
            return Err(Error::Setting {
                key: "instance".into(),
                reason: "must name this pullwatch instance, stably across restarts".into(),
            });
        }
        let transactional_id = format!("{}-{}", settings.transactional_id_prefix, instance);
        let mut config = settings.client_config(&[("client.id", "pullwatch-alerts")])?;
        config.set("transactional.id", &transactional_id);
        config.set("enable.idempotence", "true");
        let producer = create(&config)?;
        Ok(Self {
            producer,
            topic,
            transactional_id,
        })
    }

    pub fn transactional_id(&self) -> &str {
        &self.transactional_id
    }

    /// Registers the transactional id with the broker, fencing any older producer with the
    /// same id and aborting its open transaction. Call once before the first `begin`.
    pub fn init(&self, timeout: Duration) -> Result<(), Error> {
        self.producer
            .init_transactions(timeout)
            .map_err(Error::from_txn)
    }

    pub fn begin(&self) -> Result<(), Error> {
        self.producer.begin_transaction().map_err(Error::from_txn)
    }

    /// Queues one alert in the open transaction. Keyed by the alert's deterministic id, so
    /// an alert always lands in the same partition and a replay can be recognized. After an
    /// error the transaction cannot be trusted to commit: abort it.
    pub fn send(&self, key: &str, payload: &[u8]) -> Result<(), Error> {
        send_waiting(
            &self.producer,
            BaseRecord::to(&self.topic).key(key).payload(payload),
        )
        .map_err(|e| match e {
            Error::Kafka(k) => Error::from_txn(k),
            other => other,
        })
    }

    /// Adds the consumed offsets (the next offset to read, per partition) to the open
    /// transaction and commits it: alerts and offsets become visible together or not at all.
    ///
    /// `group` must be no newer than the transaction's first batch: if the group rebalanced
    /// since, the broker refuses the offsets and this returns [`Error::TxnAbortable`].
    pub fn commit_with_offsets<T: AsRef<str>>(
        &self,
        offsets: &[(T, i32, i64)],
        group: &GroupMetadata,
        timeout: Duration,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        if !offsets.is_empty() {
            let tpl = offsets_list(offsets)?;
            self.producer
                .send_offsets_to_transaction(&tpl, &group.inner, remaining(deadline))
                .map_err(|e| match Error::from_txn(e) {
                    // Retrying only the commit would commit the alerts without the offsets:
                    // the safe recovery from any failure at this step is to abort and replay.
                    Error::TxnRetriable(k) => Error::TxnAbortable(k),
                    other => other,
                })?;
        }
        self.producer
            .commit_transaction(remaining(deadline))
            .map_err(Error::from_txn)
    }

    /// Finishes a commit after [`AlertProducer::commit_with_offsets`] returned
    /// [`Error::TxnRetriable`] (the outcome was not known in time). It returns that only
    /// once the offsets are in the transaction, so retrying the commit alone is safe.
    pub fn retry_commit(&self, timeout: Duration) -> Result<(), Error> {
        self.producer
            .commit_transaction(timeout)
            .map_err(Error::from_txn)
    }

    /// Waits until every alert sent so far reached the broker (still uncommitted). A commit
    /// does this by itself; it is for callers that want delivery errors before committing.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.producer.flush(timeout).map_err(Error::from_txn)
    }

    /// Aborts the open transaction; alerts sent in it are never seen by `read_committed`
    /// readers, and the offsets stay where they were.
    pub fn abort(&self, timeout: Duration) -> Result<(), Error> {
        self.producer
            .abort_transaction(timeout)
            .map_err(Error::from_txn)
    }
}

/// Produces keyed, timestamped records: the test suite's and tools' way to put telemetry on
/// a topic. Delivery failures are kept and reported by [`RecordProducer::flush`].
pub struct RecordProducer {
    producer: ThreadedProducer<PlainContext>,
}

impl RecordProducer {
    pub fn new(settings: &KafkaSettings) -> Result<Self, Error> {
        let config =
            settings.client_config(&[("client.id", "pullwatch-records"), ("linger.ms", "5")])?;
        Ok(Self {
            producer: create(&config)?,
        })
    }

    /// Queues a record; `timestamp_ms` becomes its CreateTime (the broker's clock when `None`).
    pub fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        payload: &[u8],
        timestamp_ms: Option<i64>,
    ) -> Result<(), Error> {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(ts) = timestamp_ms {
            record = record.timestamp(ts);
        }
        send_waiting(&self.producer, record)
    }

    /// Waits until every queued record was delivered, or returns the first failure since
    /// the last flush.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        self.producer.flush(timeout)?;
        let failed = self
            .producer
            .context()
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Keeps the first delivery failure for `flush`. In a transaction a failed delivery also
/// makes the commit fail, so the alert producer needs nothing more.
#[derive(Default)]
pub struct PlainContext {
    failure: Mutex<Option<Error>>,
}

impl ClientContext for PlainContext {}

impl ProducerContext for PlainContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((err, message)) = result {
            let mut slot = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(Error::Delivery {
                    topic: rdkafka::message::Message::topic(message).to_owned(),
                    source: err.clone(),
                });
            }
        }
    }
}

fn create(config: &ClientConfig) -> Result<ThreadedProducer<PlainContext>, Error> {
    Ok(config.create_with_context(PlainContext::default())?)
}

/// Sends, waiting for room while librdkafka's queue is full (the broker is slower than
/// the engine for a moment) rather than failing the batch.
fn send_waiting<K, P>(
    producer: &ThreadedProducer<PlainContext>,
    mut record: BaseRecord<'_, K, P>,
) -> Result<(), Error>
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    let deadline = Instant::now() + QUEUE_FULL_PATIENCE;
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                if Instant::now() >= deadline {
                    return Err(Error::QueueFull(QUEUE_FULL_PATIENCE));
                }
                record = back;
                // The producer's own thread delivers and frees the queue meanwhile.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(Error::Kafka(e)),
        }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
