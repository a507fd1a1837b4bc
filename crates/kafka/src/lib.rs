//! pullwatch on Kafka: instances of one deployment share the telemetry topics as members of
//! one consumer group, and each writes its alerts to an alerts topic.
//!
//! # Exactly once, and what the caller does for it
//!
//! An alert must reach the alerts topic once per chain, however often instances crash,
//! restart or hand partitions to one another. Three pieces give that:
//!
//! * **Alerts and offsets in one transaction.** [`AlertProducer`] sends a batch's alerts and
//!   then, in the same transaction, the consumer group's offsets for the records that were
//!   processed ([`AlertProducer::commit_with_offsets`], Kafka's `send_offsets_to_transaction`).
//!   Both become visible at the commit or neither does: an instance killed mid-batch leaves
//!   an open transaction that its successor (same instance name, so same transactional id)
//!   aborts in `init`, and the records are read again from the old offsets.
//! * **`read_committed` everywhere.** Readers of the alerts topic must use
//!   `isolation.level=read_committed`, or they also see alerts of aborted attempts.
//!   [`GroupConsumer`] reads telemetry that way too, so a shipper that writes in
//!   transactions is never read half-written.
//! * **Fencing on rebalance.** The group metadata a commit carries must be no newer than the
//!   transaction's first record: take it ([`GroupConsumer::group_metadata`]) right after the
//!   transaction's first batch, which never spans a rebalance. If partitions moved since,
//!   the broker refuses the offsets and the commit fails with [`Error::TxnAbortable`]: the
//!   old owner cannot commit alerts for records the new owner is also processing.
//!
//! The consumer never commits by itself (auto-commit and the automatic offset store are
//! off): a record counts as processed only when the caller says so.
//!
//! # What the caller (the `run` pipeline) does
//!
//! Correlation state lives in memory, so an instance that receives a partition starts
//! without the context of the records before its committed offset. After a rebalance the
//! caller therefore replays: [`GroupConsumer::seek_to_times`] moves each new partition back
//! to its watermark less the correlation window and the allowed lateness, the engine is fed
//! from there, and alerts raised by records before the group's committed offset
//! ([`GroupConsumer::committed_offsets`], the next record to process) are suppressed as
//! already sent. Alert ids are
//! deterministic, which is what lets the caller recognise them. After an abort the caller
//! calls [`GroupConsumer::rewind_to_committed`] and drops the state the aborted batch built.
//!
//! Every type here is blocking and runs without an async runtime (rdkafka's
//! `StreamConsumer` and `FutureProducer` need tokio; `BaseConsumer` and
//! `ThreadedProducer` do not).

#![forbid(unsafe_code)]

mod admin;
mod consumer;
mod error;
mod producer;
mod settings;
mod table;

pub use admin::create_topics;
pub use consumer::{
    next_offsets, GroupConsumer, GroupMetadata, KafkaRecord, PartitionLag, Rebalance, SeekedTo,
    TopicPartition,
};
pub use error::Error;
pub use producer::{AlertProducer, RecordProducer};
pub use settings::KafkaSettings;
pub use table::{TableReader, TableSeek};
