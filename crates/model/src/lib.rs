//! The normalized event model every pullwatch decoder produces and the correlation
//! engine consumes. It depends on nothing else in the workspace, so decoders, the
//! engine and the renderers can evolve independently around it.
#![forbid(unsafe_code)]

pub mod alert;
pub mod cloud;
pub mod event;
pub mod image;
pub mod inspect;
pub mod memo;
pub mod net;
pub mod redact;
pub mod source;
pub mod time;

pub use alert::{
    Alert, AlertEntity, AlertImage, Evidence, EvidenceApi, EvidenceContainer, EvidenceEndpoint,
    EvidenceProcess, Severity,
};
pub use cloud::*;
pub use event::*;
pub use image::{ImageRef, RefPattern, RefPatternError};
pub use net::is_public as is_public_ip;
pub use redact::redact_secrets;
pub use source::{Format, SourceRef};
pub use time::Ts;
