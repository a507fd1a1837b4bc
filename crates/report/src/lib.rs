//! Rendering alerts and scan summaries. Everything here treats alert content as
//! attacker-controlled: JSON is escaped by the serializer, terminal text has control
//! characters and escape sequences made visible.
#![forbid(unsafe_code)]

pub mod escape;
pub mod json;
pub mod summary;
pub mod text;

pub use summary::ScanSummary;
