//! Rendering alerts and scan summaries. Everything here treats alert content as
//! attacker-controlled: JSON is escaped by the serializer, HTML by the template engine,
//! terminal text has control characters and escape sequences made visible.
#![forbid(unsafe_code)]

pub mod chain;
pub mod escape;
pub mod html;
pub mod json;
pub mod ocsf;
pub mod summary;
pub mod text;

pub use summary::ScanSummary;
