use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What went wrong, sorted by what the caller has to do about it.
///
/// The transaction variants are separate because each asks for a different recovery:
/// abort and replay, retry the same call, or give up the producer (and with it the
/// instance's claim on its transactional id).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka setting {key} {reason}")]
    Setting { key: String, reason: String },

    #[error("kafka: {0}")]
    Kafka(#[source] KafkaError),

    /// A problem librdkafka reported in the background and works around by itself (a broker
    /// unreachable, a topic unknown); `detail` says which broker or topic.
    #[error("kafka: {source}: {detail}")]
    Notice {
        detail: String,
        #[source]
        source: KafkaError,
    },

    /// The open transaction cannot commit (a send failed, or the group moved on since its
    /// metadata was taken). Abort it, rewind the consumer to its committed offsets and
    /// process again; nothing of it is visible to `read_committed` readers.
    #[error("kafka transaction must be aborted: {0}")]
    TxnAbortable(#[source] KafkaError),

    /// The call may be repeated as it was (its outcome, e.g. a commit's, is not known yet).
    #[error("kafka transaction call may be retried: {0}")]
    TxnRetriable(#[source] KafkaError),

    /// Another producer with the same transactional id has started: this instance is a
    /// zombie and must stop writing. Its open transaction has been aborted for it.
    #[error("kafka producer fenced by a newer instance with the same transactional id: {0}")]
    Fenced(#[source] KafkaError),

    /// The producer is unusable; create a new one (which aborts what this one left open).
    #[error("kafka transactional producer failed: {0}")]
    TxnFatal(#[source] KafkaError),

    /// The consumer is unusable; create a new one, which resumes at the committed offsets.
    #[error("kafka consumer failed: {0}")]
    ConsumerFatal(#[source] KafkaError),

    #[error("kafka producer queue still full after {0:?}")]
    QueueFull(Duration),

    #[error("kafka delivery to {topic} failed: {source}")]
    Delivery {
        topic: String,
        #[source]
        source: KafkaError,
    },

    /// Group metadata exists only once the consumer has joined its group.
    #[error("kafka consumer has not joined its group yet")]
    NotInGroup,

    #[error("kafka admin: topic {topic}: {code}")]
    Admin {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

impl Error {
    /// Sorts an error from a transactional producer call by the recovery it needs.
    pub(crate) fn from_txn(err: KafkaError) -> Self {
        let KafkaError::Transaction(inner) = &err else {
            return Error::Kafka(err);
        };
        let fenced = matches!(
            inner.code(),
            RDKafkaErrorCode::Fenced | RDKafkaErrorCode::ProducerFenced
        );
        if fenced {
            Error::Fenced(err)
        } else if inner.is_fatal() {
            Error::TxnFatal(err)
        } else if inner.txn_requires_abort() {
            Error::TxnAbortable(err)
        } else if inner.is_retriable() {
            Error::TxnRetriable(err)
        } else {
            Error::Kafka(err)
        }
    }

    /// True when the caller should abort the transaction and replay its input.
    pub fn requires_abort(&self) -> bool {
        matches!(self, Error::TxnAbortable(_))
    }
}

impl From<KafkaError> for Error {
    fn from(err: KafkaError) -> Self {
        Error::Kafka(err)
    }
}
