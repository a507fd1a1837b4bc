//! What `pullwatch run` reads from and writes to: command-line flags, or the
//! configuration file's `sources:` and `sinks:` sections (flags add to the sources and
//! override the sinks). The detection settings in the same file are the engine's.

use pullwatch_report::StreamFormat;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSection {
    #[serde(default)]
    pub follow: Vec<String>,
    pub listen: Option<SocketAddr>,
    pub docker_socket: Option<PathBuf>,
    #[serde(default)]
    pub stdin: bool,
    /// A file holding the bearer token HTTP ingest requires (kept out of the config).
    pub token_file: Option<PathBuf>,
    /// PEM certificate chain and key: HTTP ingest serves HTTPS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `5s`: how long a source may be quiet before it no longer holds the others back.
    pub idle_timeout: Option<String>,
    /// The baseline of image digests and tags seen before, as `scan --baseline` reads
    /// it (read again on SIGHUP; never written by the service).
    pub baseline: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksSection {
    pub format: Option<String>,
    pub output: Option<PathBuf>,
    pub webhook: Option<String>,
}

/// `kafka:`: run as one member of a consumer group (see the README's "Scaling out on
/// Kafka"). Flags override the scalar keys and add topics.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    pub bootstrap: Option<String>,
    /// Node telemetry keyed by host, split across the group.
    #[serde(default)]
    pub topics: Vec<String>,
    /// Control-plane context (Kubernetes audit, cloud activity) every member reads whole.
    #[serde(default)]
    pub context_topics: Vec<String>,
    pub group_id: Option<String>,
    pub alerts_topic: Option<String>,
    pub transactional_id_prefix: Option<String>,
    /// This member's stable name (its transactional id's suffix); the host name by default.
    pub instance: Option<String>,
    /// `1s`: how often alerts and offsets are committed.
    pub commit_interval: Option<String>,
    /// librdkafka settings passed through (SASL, TLS, tuning).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaSection {
    /// Passthrough values may be credentials: only their keys are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSection")
            .field("bootstrap", &self.bootstrap)
            .field("topics", &self.topics)
            .field("context_topics", &self.context_topics)
            .field("group_id", &self.group_id)
            .field("alerts_topic", &self.alerts_topic)
            .field("instance", &self.instance)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The parts of the configuration file `run` reads; every other key is the engine's.
#[derive(Debug, Default, Deserialize)]
pub struct ServiceFile {
    #[serde(default)]
    pub sources: SourcesSection,
    #[serde(default)]
    pub sinks: SinksSection,
    #[serde(default)]
    pub kafka: Option<KafkaSection>,
}

/// `run` on Kafka, flags and file merged.
#[derive(Clone, Debug)]
pub struct KafkaRun {
    /// `topics` are the node topics the group splits; the alerts topic is required.
    pub settings: pullwatch_kafka::KafkaSettings,
    pub context_topics: Vec<String>,
    pub instance: String,
    pub commit_every: Duration,
}

impl ServiceFile {
    pub fn from_yaml(text: &str) -> Result<ServiceFile, String> {
        if text.trim().is_empty() {
            return Ok(ServiceFile::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }
}

/// Everything the service needs, flags and file merged.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub config_path: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub format: StreamFormat,
    pub output: Option<PathBuf>,
    pub follow: Vec<String>,
    pub listen: Option<SocketAddr>,
    pub docker_socket: Option<PathBuf>,
    pub stdin: bool,
    pub token: Option<String>,
    /// Certificate chain and key (PEM) for HTTPS ingest.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub webhook: Option<String>,
    /// Images judged by this baseline of digests and tags seen before (as `scan`).
    pub baseline: Option<PathBuf>,
    /// How long a source may be quiet before it no longer holds back the others, and
    /// before event time is taken to have reached its latest record.
    pub idle_timeout: Duration,
    pub checkpoint_every: Duration,
    /// Largest request body HTTP ingest takes.
    pub max_body: usize,
    /// Bytes accepted over HTTP and not yet read, past which pushes get 429.
    pub backlog_limit: u64,
    pub max_line_bytes: usize,
    pub prefilter: bool,
    /// How often files are polled for new lines when nothing is arriving.
    pub poll_every: Duration,
    /// Read from Kafka as a member of a consumer group instead of files and HTTP.
    pub kafka: Option<KafkaRun>,
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings {
            config_path: None,
            state_dir: None,
            format: StreamFormat::Json,
            output: None,
            follow: Vec::new(),
            listen: None,
            docker_socket: None,
            stdin: false,
            token: None,
            tls: None,
            webhook: None,
            baseline: None,
            idle_timeout: Duration::from_secs(2),
            checkpoint_every: Duration::from_secs(5),
            max_body: 16 << 20,
            backlog_limit: 256 << 20,
            max_line_bytes: 16 << 20,
            prefilter: true,
            poll_every: Duration::from_millis(50),
            kafka: None,
        }
    }
}

pub fn parse_format(s: &str) -> Result<StreamFormat, String> {
    match s {
        "json" => Ok(StreamFormat::Json),
        "ocsf" => Ok(StreamFormat::Ocsf),
        "text" => Ok(StreamFormat::Text),
        other => Err(format!(
            "{other:?} is not a format `run` writes (json, ocsf, text)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_sections_are_read_and_the_engine_keys_left_alone() {
        let f = ServiceFile::from_yaml(
            "time_window: 10m\nsources:\n  follow: [/var/log/pods/**/*.log]\n  listen: 127.0.0.1:8787\nsinks:\n  format: ocsf\n",
        )
        .unwrap();
        assert_eq!(f.sources.follow, vec!["/var/log/pods/**/*.log"]);
        assert_eq!(f.sources.listen, Some("127.0.0.1:8787".parse().unwrap()));
        assert_eq!(f.sinks.format.as_deref(), Some("ocsf"));
        let f = ServiceFile::from_yaml("sources:\n  baseline: /var/lib/pullwatch/baseline.json\n")
            .unwrap();
        assert_eq!(
            f.sources.baseline.as_deref(),
            Some(std::path::Path::new("/var/lib/pullwatch/baseline.json"))
        );
        assert!(ServiceFile::from_yaml("sources:\n  folow: [x]\n").is_err());
    }

    #[test]
    fn the_kafka_section_is_read_and_its_secrets_never_shown() {
        let f = ServiceFile::from_yaml(
            "time_window: 10m\nkafka:\n  bootstrap: k1:9093\n  topics: [tetragon]\n  context_topics: [k8s-audit]\n  alerts_topic: alerts\n  properties:\n    sasl.password: hunter2\n",
        )
        .unwrap();
        let k = f.kafka.as_ref().unwrap();
        assert_eq!(k.bootstrap.as_deref(), Some("k1:9093"));
        assert_eq!(k.context_topics, vec!["k8s-audit"]);
        assert!(!format!("{f:?}").contains("hunter2"));
        assert!(ServiceFile::from_yaml("kafka:\n  topic: [x]\n").is_err());
    }
}
