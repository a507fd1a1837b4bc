//! Decoders at pullwatch's edge. Every input (file, directory entry or stdin) is framed
//! into records (lines, or the elements of a JSON document), each record's format is
//! recognized on its own (files may mix shapes), and the format's decoder turns it into
//! normalized events. Anything that cannot be decoded becomes a counted, located skip.
#![forbid(unsafe_code)]

pub mod auditd;
pub mod azure_activity;
pub mod azure_syslog;
pub mod cloud_init;
pub mod cloudtrail;
pub mod containerd;
pub mod docker;
pub mod falco;
mod flow;
pub mod framing;
pub mod gcp_audit;
pub mod hubble;
mod json_walk;
pub mod k8s_audit;
pub mod k8s_events;
pub mod parallel;
pub mod podman;
pub mod prefilter;
pub mod sniff;
pub mod stats;
pub mod stream;
pub mod suricata;
pub mod sysmon;
#[cfg(test)]
pub(crate) mod test_support;
pub mod tetragon;
pub mod user_data;
pub mod util;
pub mod vpc_flow;
pub mod zeek;

use pullwatch_model::{Event, Format, SourceRef};
use std::sync::Arc;

pub use framing::{
    open_path, open_path_with, open_stdin, open_stdin_with, DecompressedLimit, Input, ReadError,
};
pub use parallel::{ChunkOptions, ParallelStream, Pool};
pub use prefilter::{audit_skip, decode_unfiltered, Prefilter, RecordFilter, SkipBreach};
pub use stats::{DecodeStats, SkipLocation};
pub use stream::EventStream;

/// Why one record could not be decoded. The text is shown to users next to the
/// record's file and line, so it names the field or value at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("missing field {0}")]
    Missing(&'static str),
    #[error("bad timestamp {0:?}")]
    Time(String),
    #[error("{0}")]
    Invalid(String),
    /// The record is another format's, though its keys are this one's: GKE writes its
    /// Kubernetes audit events as Cloud Audit Logs entries. The stream decodes it as
    /// that format, and counts it there, rather than have it vanish as an entry of a
    /// service this decoder does not read.
    #[error("a {0} record")]
    OtherFormat(Format),
    /// The record is this format's but is not telemetry (a sensor's own startup or log
    /// line): a skip whose reason says what it was, so the summary names the cause.
    #[error("{0}")]
    NotTelemetry(&'static str),
}

impl From<serde_json::Error> for DecodeError {
    fn from(e: serde_json::Error) -> Self {
        DecodeError::Json(e.to_string())
    }
}

/// Where the record being decoded sits; decoders stamp it on every event they emit.
#[derive(Clone, Debug)]
pub struct RecordCtx {
    pub path: Arc<str>,
    pub line: u64,
}

impl RecordCtx {
    pub fn source(&self, format: Format) -> SourceRef {
        SourceRef {
            format,
            path: self.path.clone(),
            line: self.line,
        }
    }
}

/// Limits that protect pullwatch from hostile or broken input.
#[derive(Clone, Debug)]
pub struct DecodeOptions {
    /// Lines longer than this are skipped without being held in memory whole.
    pub max_line_bytes: usize,
    /// A single JSON document (not JSON Lines) larger than this is refused.
    pub max_document_bytes: usize,
    /// A compressed input is read only this far once decompressed, so a few megabytes
    /// of gzip cannot make pullwatch read terabytes; the rest is a located skip.
    pub max_decompressed_bytes: u64,
    /// How much of each record a decoder reads.
    pub reading: Reading,
}

/// How much of a record its decoder reads, and so validates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Reading {
    /// Only the members the decoder uses, where a decoder can read them by structure
    /// (Tetragon, whose records are most of a node's telemetry): the other members are
    /// jumped over, not validated (see `tetragon`'s `walk`). On a record that is JSON
    /// the events are the same as [`Reading::Whole`]'s.
    #[default]
    Used,
    /// The whole record, by serde: every malformed record is reported, wherever its
    /// fault lies (`scan --strict`).
    Whole,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_line_bytes: 16 << 20,
            max_document_bytes: 512 << 20,
            max_decompressed_bytes: 4 << 30,
            reading: Reading::Used,
        }
    }
}

/// Decodes one JSON record whose format is already known, reading only what the
/// decoder uses where it can ([`Reading::Used`]).
pub fn decode_json_as(
    format: Format,
    text: &str,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    decode_json_reading(format, text, ctx, Reading::Used, out)
}

/// [`decode_json_as`], reading as much of the record as `reading` says.
pub fn decode_json_reading(
    format: Format,
    text: &str,
    ctx: &RecordCtx,
    reading: Reading,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    match format {
        Format::DockerEvents => docker::decode_json(text, ctx, out),
        Format::PodmanEvents => podman::decode_json(text, ctx, out),
        Format::CloudTrail => cloudtrail::decode_json(text, ctx, out),
        Format::UserData => user_data::decode_json(text, ctx, out),
        Format::Sysmon => sysmon::decode_json(text, ctx, out),
        Format::GcpAudit => gcp_audit::decode_json(text, ctx, out),
        Format::AzureActivity => azure_activity::decode_json(text, ctx, out),
        Format::AzureSyslog => azure_syslog::decode_json(text, ctx, out),
        Format::Falco => falco::decode_json(text, ctx, out),
        Format::Tetragon => match reading {
            Reading::Used => tetragon::decode_json(text, ctx, out),
            Reading::Whole => tetragon::decode_json_whole(text, ctx, out),
        },
        Format::ZeekConn => zeek::decode_json(text, ctx, out),
        Format::SuricataEve => suricata::decode_json(text, ctx, out),
        Format::HubbleFlow => hubble::decode_json(text, ctx, out),
        Format::K8sAudit => k8s_audit::decode_json(text, ctx, out),
        Format::K8sEvents => k8s_events::decode_json(text, ctx, out),
        other => Err(DecodeError::Invalid(format!(
            "{other} records are not decoded by this build"
        ))),
    }
}

/// Decodes one text (non-JSON) line whose format is already known.
pub fn decode_text_as(
    format: Format,
    line: &str,
    ctx: &RecordCtx,
    state: &mut TextState,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    match format {
        Format::DockerEvents => docker::decode_text(line, ctx, out),
        Format::Falco => falco::decode_text(line),
        Format::PodmanEvents => podman::decode_text(line, ctx, out),

        Format::ZeekConn => zeek::decode_tsv(line, ctx, &mut state.zeek, out),
        Format::VpcFlow => vpc_flow::decode_text(line, ctx, &mut state.vpc, out),
        Format::CloudInit => cloud_init::decode_text(line, ctx, &mut state.cloud_init, out),
        Format::ContainerdEvents => containerd::decode_text(line, ctx, &mut state.containerd, out),
        Format::Auditd => auditd::decode_text(line, ctx, &mut state.auditd, out),
        other => Err(DecodeError::Invalid(format!(
            "{other} lines are not decoded by this build"
        ))),
    }
}

/// Per-input state for the text formats that need it (header lines that define the
/// columns, records that span several lines).
#[derive(Default, Debug)]
pub struct TextState {
    /// The format the input's previous text line had, tried first on the next one.
    pub last: Option<Format>,
    /// The current Zeek log block's header.
    pub zeek: zeek::ZeekState,
    /// The columns named by the last VPC Flow Logs header line.
    pub vpc: vpc_flow::VpcState,
    pub containerd: containerd::State,
    pub auditd: auditd::State,
    /// Whether the input is cloud-init's, and the instance id it named last.
    pub cloud_init: cloud_init::CloudInitState,
}

impl TextState {
    /// Emits what multi-line formats still hold at the end of the input.
    pub fn flush(&mut self, path: &Arc<str>, out: &mut Vec<Event>) {
        self.auditd.flush(path, out);
    }
}
