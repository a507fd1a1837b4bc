//! Rendering alerts and scan summaries. Everything here treats alert content as
//! attacker-controlled: JSON is escaped by the serializer, HTML by the template engine,
//! terminal text has control characters and escape sequences made visible.
#![forbid(unsafe_code)]

pub mod chain;
pub mod escape;
pub mod html;
pub mod id;
pub mod json;
pub mod ocsf;
pub mod sink;
pub mod summary;
pub mod text;

pub use id::alert_id;
pub use sink::{AlertSink, CollectSink, StreamFormat, StreamSink};
pub use summary::ScanSummary;
