//! `pullwatch run`: flags and the configuration file's `sources:`/`sinks:` resolved into
//! the service's settings, alerts to stdout or a file, exit codes. The service itself is
//! `pullwatch-serve`.

use crate::{load_config, parse_duration, parse_size, ColorChoice, Toggle};
use pullwatch_model::time::Dur;
use pullwatch_report::{AlertSink, StreamFormat, StreamSink};
use pullwatch_serve::settings::{parse_format, ServiceFile};
use pullwatch_serve::{Control, RunSettings, ServeError};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct RunArgs {
    /// YAML configuration file: detection settings, and `sources:`/`sinks:` for the
    /// service. SIGHUP reloads it (a bad new file is refused and the old one stays).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Where checkpoints and the HTTP ingest spool live; without it a restart starts
    /// over (a temporary directory is used).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Alert format (json by default).
    #[arg(long, short, value_parser = ["json", "ocsf", "text"])]
    format: Option<String>,
    /// Appends alerts to FILE instead of writing them to stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// A file or glob to follow (`/var/log/pods/**/*.log`); repeatable.
    #[arg(long, value_name = "PATH_OR_GLOB")]
    follow: Vec<String>,
    /// Serves HTTP ingest, health and metrics here (e.g. 127.0.0.1:8787).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Docker Engine API socket to read events from.
    #[arg(long, value_name = "PATH")]
    docker_socket: Option<PathBuf>,
    /// Also POSTs each alert (its JSON line) to this http(s) URL, with retries; the
    /// bearer token, if any, comes from $PULLWATCH_WEBHOOK_TOKEN.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Reads records from stdin too (alone, the service ends with stdin).
    #[arg(long)]
    stdin: bool,
    /// A file holding the bearer token HTTP ingest requires.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// PEM certificate chain: HTTP ingest serves HTTPS (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How long a source may be quiet before it no longer holds the others back and
    /// what it sent is correlated without waiting for more.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_timeout: Option<Dur>,
    /// How often the checkpoint is written.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    checkpoint_interval: Dur,
    /// Largest HTTP request body accepted.
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    max_body: u64,
    /// Bytes accepted over HTTP and not yet read, past which pushes are refused (429).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    max_backlog: u64,
    /// Lines longer than this are skipped, counted and located.
    #[arg(long, value_name = "SIZE", default_value = "16M", value_parser = parse_size)]
    max_line_bytes: u64,
    /// Kafka brokers (`host:port,…`): read telemetry as one member of a consumer group
    /// and commit alerts to `--kafka-alerts-topic` exactly once (README: "Scaling out on
    /// Kafka"). Files and HTTP are not read then.
    #[arg(long, value_name = "HOST:PORT,…")]
    kafka_bootstrap: Option<String>,
    /// A node telemetry topic keyed by host (Tetragon, Falco, auditd, Docker/containerd,
    /// kubelet events), split across the group; repeatable.
    #[arg(long, value_name = "TOPIC")]
    kafka_topic: Vec<String>,
    /// A context topic (Kubernetes audit, cloud activity) every member reads whole;
    /// repeatable.
    #[arg(long, value_name = "TOPIC")]
    kafka_context_topic: Vec<String>,
    /// The consumer group every member of one deployment shares (default `pullwatch`).
    #[arg(long, value_name = "GROUP")]
    kafka_group: Option<String>,
    /// Where alerts are committed, keyed by alert id.
    #[arg(long, value_name = "TOPIC")]
    kafka_alerts_topic: Option<String>,
    /// This member's name, stable across its restarts (default: the host name).
    #[arg(long, value_name = "NAME")]
    kafka_instance: Option<String>,
    /// How often alerts and offsets are committed (default 1s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    kafka_commit_interval: Option<Dur>,
    /// When to colour the text format.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    color: ColorChoice,
    /// The baseline of image digests and tags seen before, as `scan --baseline` reads
    /// it (it must exist; SIGHUP reads it again; the service never writes it). With a
    /// baseline every record is decoded, as in `scan`.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Skip records no loaded analytic can use before decoding them in full (as `scan`).
    #[arg(long, value_enum, default_value_t = Toggle::On)]
    prefilter: Toggle,
}

fn dur(d: Dur) -> Duration {
    Duration::from_nanos(u64::try_from(d.0).unwrap_or(0))
}

fn settings(a: &RunArgs) -> Result<RunSettings, String> {
    let file = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read config {}: {e}", p.display()))?;
            ServiceFile::from_yaml(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => ServiceFile::default(),
    };
    let mut s = RunSettings {
        config_path: a.config.clone(),
        state_dir: a.state_dir.clone(),
        ..RunSettings::default()
    };
    let format = a.format.clone().or(file.sinks.format.clone());
    if let Some(f) = format {
        s.format = parse_format(&f)?;
    }
    s.output = a.output.clone().or(file.sinks.output.clone());
    s.webhook = a.webhook.clone().or(file.sinks.webhook.clone());
    s.baseline = a.baseline.clone().or(file.sources.baseline.clone());
    s.follow = file.sources.follow.clone();
    s.follow.extend(a.follow.iter().cloned());
    s.listen = a.listen.or(file.sources.listen);
    s.docker_socket = a
        .docker_socket
        .clone()
        .or(file.sources.docker_socket.clone());
    s.stdin = a.stdin || file.sources.stdin;
    let token_file = a.token_file.clone().or(file.sources.token_file.clone());
    if let Some(p) = token_file {
        let t = std::fs::read_to_string(&p)
            .map_err(|e| format!("cannot read token file {}: {e}", p.display()))?;
        let t = t.trim().to_string();
        if t.is_empty() {
            return Err(format!("token file {} is empty", p.display()));
        }
        s.token = Some(t);
    }
    let cert = a.tls_cert.clone().or(file.sources.tls_cert.clone());
    let key = a.tls_key.clone().or(file.sources.tls_key.clone());
    s.tls = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("a TLS certificate needs its key, and a key its certificate".into()),
    };
    let idle = match (a.idle_timeout, &file.sources.idle_timeout) {
        (Some(d), _) => Some(d),
        (None, Some(text)) => Some(parse_duration(text)?),
        (None, None) => None,
    };
    if let Some(d) = idle {
        s.idle_timeout = dur(d);
    }
    s.checkpoint_every = dur(a.checkpoint_interval);
    s.max_body = usize::try_from(a.max_body).unwrap_or(usize::MAX);
    s.backlog_limit = a.max_backlog;
    s.max_line_bytes = usize::try_from(a.max_line_bytes).unwrap_or(usize::MAX);
    s.prefilter = a.prefilter == Toggle::On;
    s.kafka = kafka_settings(a, file.kafka)?;
    if s.kafka.is_some() {
        if !s.follow.is_empty() || s.docker_socket.is_some() || s.stdin {
            return Err("with Kafka, give no --follow, --docker-socket or --stdin: every record comes from the topics (--listen serves health and metrics)".into());
        }
        return Ok(s);
    }
    if s.follow.is_empty() && s.listen.is_none() && s.docker_socket.is_none() && !s.stdin {
        return Err(
            "nothing to read: give --follow, --listen, --docker-socket or --stdin (or `sources:` in the config)"
                .into(),
        );
    }
    Ok(s)
}

/// The host name, the default member name: stable across restarts on one machine, and a
/// StatefulSet pod's own name in Kubernetes.
fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// `kafka:` and the `--kafka-*` flags: flags override scalars and add topics.
fn kafka_settings(
    a: &RunArgs,
    file: Option<pullwatch_serve::settings::KafkaSection>,
) -> Result<Option<pullwatch_serve::settings::KafkaRun>, String> {
    let f = file.unwrap_or_default();
    let Some(bootstrap) = a.kafka_bootstrap.clone().or(f.bootstrap) else {
        let flags = !a.kafka_topic.is_empty()
            || !a.kafka_context_topic.is_empty()
            || a.kafka_alerts_topic.is_some()
            || a.kafka_group.is_some();
        return match flags || !f.topics.is_empty() {
            true => Err(
                "kafka topics given without brokers (--kafka-bootstrap or kafka.bootstrap)".into(),
            ),
            false => Ok(None),
        };
    };
    let mut topics = f.topics;
    topics.extend(a.kafka_topic.iter().cloned());
    let mut context_topics = f.context_topics;
    context_topics.extend(a.kafka_context_topic.iter().cloned());
    if topics.is_empty() {
        return Err("kafka: name at least one node topic (--kafka-topic or kafka.topics); context topics alone cannot be split across a group".into());
    }
    if let Some(t) = context_topics.iter().find(|t| topics.contains(t)) {
        return Err(format!(
            "kafka: topic {t} is both a node topic and a context topic"
        ));
    }
    let mut ks = pullwatch_kafka::KafkaSettings::new(bootstrap, topics);
    if let Some(g) = a.kafka_group.clone().or(f.group_id) {
        ks.group_id = g;
    }
    ks.alerts_topic = a.kafka_alerts_topic.clone().or(f.alerts_topic);
    if ks.alerts_topic.is_none() {
        return Err(
            "kafka: an alerts topic is needed (--kafka-alerts-topic or kafka.alerts_topic)".into(),
        );
    }
    if let Some(p) = f.transactional_id_prefix {
        ks.transactional_id_prefix = p;
    }
    ks.properties = f.properties;
    ks.validate().map_err(|e| e.to_string())?;
    let instance = a
        .kafka_instance
        .clone()
        .or(f.instance)
        .or_else(host_name)
        .ok_or(
            "kafka: name this member (--kafka-instance or kafka.instance): no host name found",
        )?;
    let commit_every = match (a.kafka_commit_interval, &f.commit_interval) {
        (Some(d), _) => dur(d),
        (None, Some(t)) => dur(parse_duration(t)?),
        (None, None) => Duration::from_secs(1),
    };
    Ok(Some(pullwatch_serve::settings::KafkaRun {
        settings: ks,
        context_topics,
        instance,
        commit_every,
    }))
}

pub fn main(a: &RunArgs) -> ExitCode {
    let s = match settings(a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("pullwatch: {e}");
            return ExitCode::from(2);
        }
    };
    // Alerts already in the output file were delivered, whatever the journal says.
    let already_sent = match &s.output {
        Some(p) if s.format != StreamFormat::Text => {
            match pullwatch_serve::recover::sent_in_output(p) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("pullwatch: cannot read {}: {e}", p.display());
                    return ExitCode::from(2);
                }
            }
        }
        _ => Vec::new(),
    };
    let out: Box<dyn Write + Send> = match &s.output {
        Some(p) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("pullwatch: cannot write {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let color =
        s.format == StreamFormat::Text && crate::scan::use_color(a.color, s.output.is_some());
    let sink: Box<dyn AlertSink> = Box::new(StreamSink::new(out, s.format, color));
    let mut sink = match pullwatch_serve::webhook::with_webhook(sink, s.webhook.as_deref()) {
        Ok(sink) => sink,
        Err(e) => {
            eprintln!("pullwatch: {e}");
            return ExitCode::from(2);
        }
    };
    let control = match Control::from_signals() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("pullwatch: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    };
    let config_path = a.config.clone();
    let load = move || load_config(config_path.as_deref()).map_err(|e| format!("{e:#}"));
    match pullwatch_serve::run(&s, &load, sink.as_mut(), already_sent, &control) {
        Ok(_) => ExitCode::SUCCESS,
        Err(ServeError::Usage(e)) => {
            eprintln!("pullwatch: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("pullwatch: {e}");
            ExitCode::from(1)
        }
    }
}
