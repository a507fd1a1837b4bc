//! Skipping records that no loaded analytic can use, before paying for a full decode.
//!
//! Most of what a cluster's sensors write is ordinary: processes and connections in
//! containers running allowlisted images, API reads, kubelet probe chatter. The rules
//! here recognize such records from their bytes, and they are conservative: a record
//! is skipped only when it is certain that a full decode would emit nothing, or only
//! events the engine itself ignores (see `Engine::ignores`). Anything unusual (an escape
//! sequence anywhere in the record, whitespace where it is rarely written, a duplicate
//! key, a format the sniffer is not sure of, a value of an unexpected type) is decoded
//! in full.
//!
//! Without escape sequences a JSON string cannot contain a quote, so the small reader
//! below can find values by key path exactly, skipping everything else by structure.
//!
//! A skipped record is not validated: what the rules read of it decides, and the rest
//! of it is not looked at (a record that is not JSON gives no event whatever the rules
//! read; see [`Lazy`]). So a malformed record can be counted as skipped-irrelevant
//! rather than as a located skip, when nothing in it could matter. `scan --strict`,
//! which promises that every malformed record is reported, decodes every record
//! instead: validating each record before skipping it was measured to cost more than
//! decoding it.

use crate::json_walk::{self, Walked};
use crate::{falco, sniff, DecodeOptions, DecodeStats, EventStream};
use pullwatch_model::memo::TextMemo;
use pullwatch_model::{Event, Format};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;

/// Decides, from a record's bytes, that it need not be decoded.
pub trait RecordFilter: Send + Sync {
    /// `Some(format)` when the record is certainly of `format` and holds nothing any
    /// loaded analytic uses: it is counted as a record of that format and not decoded.
    fn skip(&self, line: &[u8]) -> Option<Format>;

    /// [`RecordFilter::skip`] with the reason, as the scan summary names it: what kind
    /// of record this was and why nothing uses it.
    fn skip_why(&self, line: &[u8]) -> Option<(Format, &'static str)> {
        self.skip(line)
            .map(|f| (f, "no loaded analytic can use the record"))
    }
}

/// Whether an image reference, as a record spells it, is allowlisted.
pub type TrustedImage = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The prefilter for the container analytics (AN0691).
pub struct Prefilter {
    trusted: TrustedImage,
    /// Tells this prefilter's remembered verdicts from another's (another allowlist).
    id: u64,
}

impl Prefilter {
    pub fn new(trusted: TrustedImage) -> Prefilter {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Prefilter {
            trusted,
            id: NEXT.fetch_add(1, AtomicOrdering::Relaxed),
        }
    }
}

thread_local! {
    static CANDS: RefCell<Vec<Format>> = const { RefCell::new(Vec::new()) };
    static VERDICTS: RefCell<(Option<u64>, TextMemo<bool>)> =
        RefCell::new((None, TextMemo::new(VERDICTS_KEPT, VERDICT_KEY_MAX)));
}

/// Image names remembered per thread; past this many (a record stream naming ever new
/// images) the memory starts over, so it stays small whatever the input.
const VERDICTS_KEPT: usize = 4096;
/// Image names longer than this are judged every time, not remembered: without it a
/// stream of long forged names would hold thousands of them per thread.
const VERDICT_KEY_MAX: usize = 256;

impl RecordFilter for Prefilter {
    fn skip(&self, line: &[u8]) -> Option<Format> {
        self.skip_why(line).map(|(f, _)| f)
    }

    fn skip_why(&self, line: &[u8]) -> Option<(Format, &'static str)> {
        // Sensors running as pods are collected behind the runtime's prefix (CRI) or
        // inside its json-file wrapper; the stream takes them off the same way, and a
        // split line is never skipped.
        let wrapped = crate::framing::container_log_line(line);
        let line = match &wrapped {
            Some(c) if c.partial => return None,
            Some(c) => &*c.payload,
            None => line,
        };
        // A record with an escape anywhere is decoded in full. That includes a record a
        // log shipper carried as an escaped string (Filebeat's `event.original`, Fluent
        // Bit's `log`): unescaping it here would be paid again by the stream for every
        // record kept, which was measured to cost more than the skips save.
        if memchr::memchr(b'\\', line).is_some() {
            return None;
        }
        // An envelope holding the record as an object (or keys a shipper appended) is
        // looked into by the same function as the stream's.
        let shipped = crate::framing::shipper_payload(line);
        let line = shipped.as_ref().map_or(line, |s| &*s.record);
        let b = line.trim_ascii();
        if !(b.starts_with(b"{") && b.ends_with(b"}")) {
            return None;
        }
        // A record whose opening names its format is decoded as that format first (see
        // `EventStream`); any other record must be recognized as exactly one format.
        let leading = sniff::leading_bytes(b);
        let format = match leading {
            Some(l) => l.format,
            None => only_candidate(std::str::from_utf8(b).ok()?)?,
        };
        let doc = Lazy { b };
        let why = match format {
            Format::Tetragon => self
                .tetragon(&doc)
                .then_some("tetragon: exec in a container of an allowlisted image"),
            Format::Falco => self
                .falco(&doc)
                .then_some("falco: alert in a container of an allowlisted image"),
            Format::K8sAudit => audit_without_pods(&doc)
                .then_some("k8s-audit: API call about other resources than pods"),
            Format::K8sEvents => event_without_kubelet_reason(&doc)
                .then_some("k8s-events: a reason no analytic reads"),
            Format::DockerEvents => self.docker(&doc),
            _ => None,
        };
        // When the decoder rejects a record whose opening only guesses its format (a
        // bad timestamp, say), the stream tries the formats its keys suggest; so such a
        // record is skipped only if it suggests no other, or a record could pass here as
        // a trusted Falco alert and be decoded as something else. Checked last: only
        // records about to be skipped pay for it.
        if why.is_some()
            && leading.is_some_and(|l| !l.certain)
            && !suggests_only(std::str::from_utf8(b).ok()?, format)
        {
            return None;
        }

        why.map(|w| (format, w))
    }
}

/// A skip that broke the prefilter's contract, found by [`audit_skip`].
#[derive(Debug, thiserror::Error)]
pub enum SkipBreach {
    #[error("skipped as {skipped} but decodes as {decoded:?}")]
    OtherFormat {
        skipped: Format,
        decoded: Vec<Format>,
    },
    #[error("skipped as {format} but decodes to an event the engine uses: {event:?}")]
    UsedEvent { format: Format, event: Box<Event> },
}

/// Checks one record against the contract any [`RecordFilter`] must keep: a record it
/// skips, decoded in full as `pullwatch scan` would without it, is of the format it was
/// counted as (or a counted skip: a malformed record may be counted as its format) and
/// gives only events `ignores` (the engine's `Engine::ignores`) drops. The prefilter
/// reads records with a reader of its own, so this is a differential check of that
/// reader against serde and the decoders, shared by the engine's tests and the
/// `prefilter` fuzz target. Returns the format of a skipped record, `None` when the
/// filter keeps it.
pub fn audit_skip(
    filter: &dyn RecordFilter,
    line: &[u8],
    ignores: impl Fn(&Event) -> bool,
) -> Result<Option<Format>, SkipBreach> {
    let Some(format) = filter.skip(line) else {
        return Ok(None);
    };
    let (out, stats) = decode_unfiltered(line);
    if !stats.formats.contains_key(&format) && stats.skipped_total() != 1 {
        return Err(SkipBreach::OtherFormat {
            skipped: format,
            decoded: stats.formats.keys().copied().collect(),
        });
    }
    match out.into_iter().find(|e| !ignores(e)) {
        Some(event) => Err(SkipBreach::UsedEvent {
            format,
            event: Box::new(event),
        }),
        None => Ok(Some(format)),
    }
}

/// Decodes one record in full, as `pullwatch scan` would without a prefilter: the
/// reading a skip is measured against.
pub fn decode_unfiltered(line: &[u8]) -> (Vec<Event>, DecodeStats) {
    let mut stream = EventStream::detached(Arc::from("audit"), DecodeOptions::default());
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    stream.decode_lines(line, 1, &mut out, &mut stats);
    // The record is the whole input: one that opens a document or a split line ends
    // here, as it would at the end of a file.
    stream.finish_detached(&mut out, &mut stats);
    (out, stats)
}

/// The formats a record's keys suggest (see `sniff::json_candidates`), handed to `f`.
fn with_candidates<R>(text: &str, f: impl FnOnce(&[Format]) -> R) -> R {
    CANDS.with(|c| {
        let mut c = c.borrow_mut();
        sniff::json_candidates(text, None, &mut c);
        f(&c)
    })
}

/// The one format a record's keys suggest, if exactly one.
fn only_candidate(text: &str) -> Option<Format> {
    with_candidates(text, |c| match c {
        [one] => Some(*one),
        _ => None,
    })
}

/// Whether a record's keys suggest no format but `format`.
fn suggests_only(text: &str, format: Format) -> bool {
    with_candidates(text, |c| c.iter().all(|&f| f == format))
}

/// Searchers for the fixed strings the rules look for anywhere in a record, built once:
/// building one costs more than a search through a record.
struct Finders {
    process: memchr::memmem::Finder<'static>,
    properties: memchr::memmem::Finder<'static>,
    object: memchr::memmem::Finder<'static>,
}

fn finders() -> &'static Finders {
    static F: std::sync::OnceLock<Finders> = std::sync::OnceLock::new();
    F.get_or_init(|| Finders {
        process: memchr::memmem::Finder::new(b"\"process_"),
        properties: memchr::memmem::Finder::new(b"\"properties\""),
        object: memchr::memmem::Finder::new(b"\"object\""),
    })
}

/// Tetragon events other than an exec: a record holding one of these besides its exec
/// is no lone exec.
const TETRAGON_OTHER_EVENTS: [&[u8]; 8] = [
    b"exit",
    b"kprobe",
    b"connect",
    b"tracepoint",
    b"uprobe",
    b"lsm",
    b"listen",
    b"close",
];

impl Prefilter {
    fn trusted_text(&self, image: &str) -> bool {
        let t = image.trim();
        if t.is_empty() {
            return false;
        }
        // A node runs a handful of images, each named in thousands of records: the
        // answer is remembered per thread rather than parsed and matched each time.
        VERDICTS.with(|v| {
            let (owner, memo) = &mut *v.borrow_mut();
            if *owner != Some(self.id) {
                memo.clear();
                *owner = Some(self.id);
            }
            memo.get_or(t, || (self.trusted)(t))
        })
    }

    /// A process execution (with a binary) in a pod container whose image is
    /// allowlisted, and no other event in the record. Every other Tetragon event
    /// (connections, whose source address places flow records; exits, which end pid
    /// links) is decoded. Tetragon's records are most of a node's telemetry: this reads
    /// the few members on the way to the image and nothing after them.
    fn tetragon(&self, doc: &Lazy) -> bool {
        // `"process_NAME"` occurs only where a key NAME occurs (no escapes: a string
        // cannot hold a quote), so one search finds every event the record might hold,
        // at any depth; finding one anywhere is enough to decode the record.
        let other = finders().process.find_iter(doc.b).any(|at| {
            let name = &doc.b[at + 9..];
            TETRAGON_OTHER_EVENTS
                .iter()
                .any(|e| name.starts_with(e) && name.get(e.len()) == Some(&b'"'))
        });
        if other {
            return false;
        }
        let Some(process) = doc.path(0, &["process_exec", "process"]) else {
            return false;
        };
        // The binary and the pod (each key's first occurrence) in one walk of the
        // process: it is most of an exec record, and the pod comes after the binary.
        let (mut binary, mut pod) = (None, None);
        let walked = json_walk::members(doc.b, process, |k, v| {
            if k == b"binary" {
                binary = binary.or(Some(v));
            } else if k == b"pod" {
                pod = pod.or(Some(v));
            }
            binary.is_none() || pod.is_none()
        });
        if walked.is_none() {
            return false;
        }
        let binary = binary.and_then(|at| doc.string(at));
        if binary.is_none_or(|b| b.trim().is_empty()) {
            return false;
        }
        pod.and_then(|at| doc.path(at, &["container", "image", "name"]))
            .and_then(|at| doc.string(at))
            .is_some_and(|image| self.trusted_text(image))
    }

    /// A Falco alert about a container whose image (repository, tag and digest, as the
    /// decoder puts them together) is allowlisted.
    fn falco(&self, doc: &Lazy) -> bool {
        const KEYS: [&[u8]; 4] = [
            b"container.id",
            b"container.image.repository",
            b"container.image.tag",
            b"container.image.digest",
        ];
        let Some(fields) = doc.path(0, &["output_fields"]) else {
            return false;
        };
        // The fields are read as a map, where a repeated key's last value wins: every
        // member is read, and a repeated one of these keys means decoding in full.
        let Some(found) = doc.unique(fields, &KEYS) else {
            return false;
        };
        let [id, repo, tag, digest] = found;
        let field = |at: Option<usize>| at.and_then(|at| doc.string(at)).and_then(falco::known);
        let Some(id) = field(id) else {
            return false;
        };
        if id.eq_ignore_ascii_case("host") {
            return false;
        }
        let Some(repo) = field(repo) else {
            return false;
        };
        // Tag and digest: absent, a string, or another type, which the decoder would
        // spell out (`Some(None)` for an unknown one, `None` to decode).
        let optional = |at: Option<usize>| match at {
            None => Some(None),
            Some(at) => doc.string(at).map(falco::known),
        };
        let (Some(tag), Some(digest)) = (optional(tag), optional(digest)) else {
            return false;
        };
        self.trusted_text(&falco::image_text(repo, tag, digest))
    }

    /// Docker events the decoder reads nothing from, and `exec_start` in a container
    /// whose image is allowlisted.
    fn docker(&self, doc: &Lazy) -> Option<&'static str> {
        let action = doc.path(0, &["Action"]).and_then(|at| doc.string(at))?;
        let verb = action.split_once(": ").map_or(action, |(v, _)| v);
        match verb {
            "pull" | "create" | "start" | "die" => None,
            "exec_start" => {
                let attrs = doc.path(0, &["Actor", "Attributes"])?;
                let [image] = doc.unique(attrs, &[b"image"])?;
                matches!(image.and_then(|at| doc.string(at)), Some(i) if self.trusted_text(i))
                    .then_some("docker-events: exec in a container of an allowlisted image")
            }
            _ => Some(
                match doc.path(0, &["Type"]).and_then(|at| doc.string(at))? {
                    "container" => "docker-events: container event of a kind not used",
                    "image" => "docker-events: image event other than a pull (not used)",
                    "network" => "docker-events: network event (not used)",
                    "volume" => "docker-events: volume event (not used)",
                    _ => "docker-events: daemon, plugin or swarm event (not used)",
                },
            ),
        }
    }
}

/// Audit events about anything but pods (and bindings) emit nothing. An entry that
/// carries `properties` (a cloud's wrapper) is decoded, wherever the key sits.
fn audit_without_pods(doc: &Lazy) -> bool {
    if doc.mentions_key(&finders().properties) {
        return false;
    }
    match doc
        .path(0, &["objectRef", "resource"])
        .and_then(|at| doc.string(at))
    {
        Some(r) => r != "pods" && r != "bindings",
        None => false,
    }
}

/// Kubernetes Events whose reason the decoder does not read emit nothing. A watch
/// event (the Event under `object`) is decoded, wherever the key sits.
fn event_without_kubelet_reason(doc: &Lazy) -> bool {
    if doc.mentions_key(&finders().object) {
        return false;
    }
    match doc.path(0, &["reason"]).and_then(|at| doc.string(at)) {
        Some(r) => !matches!(r, "Pulling" | "Pulled" | "Created" | "Started" | "Killing"),
        None => false,
    }
}

/// Reads members of an escape-free JSON object by key, reading only as far as the
/// member it looks for and skipping what comes before it by structure. It does not
/// check that the record is JSON, and need not: on a record that is JSON it reads what
/// serde reads (with no escapes a quote always opens or closes a string), and a record
/// that is not JSON is one every decoder rejects, which yields no event whatever was
/// read here. That is what lets a skipped record go unvalidated (`scan --strict`
/// decodes every record instead).
///
/// A lookup takes a key's first occurrence. That is the decoders' reading wherever
/// the object is one of their structs, which refuse a repeated field; objects read as
/// maps (where the last occurrence wins) are looked up with [`Lazy::unique`].
struct Lazy<'a> {
    b: &'a [u8],
}

impl<'a> Lazy<'a> {
    /// The value at `path` from the object at `at`, each key's first occurrence.
    fn path(&self, mut at: usize, path: &[&str]) -> Option<usize> {
        for key in path {
            let mut found = None;
            json_walk::members(self.b, at, |k, v| {
                if k == key.as_bytes() {
                    found = Some(v);
                }
                found.is_none()
            })?;
            at = found?;
        }
        Some(at)
    }

    /// Where each of `keys` sits in the object at `at` (`None` for a key not there),
    /// reading every member; `None` when one of them occurs twice or the object does
    /// not read to its end.
    fn unique<const N: usize>(&self, at: usize, keys: &[&[u8]; N]) -> Option<[Option<usize>; N]> {
        let mut found = [None; N];
        let mut twice = false;
        let walked = json_walk::members(self.b, at, |k, v| {
            if let Some(i) = keys.iter().position(|key| *key == k) {
                twice |= found[i].replace(v).is_some();
            }
            !twice
        })?;
        (!twice && walked != Walked::Stopped).then_some(found)
    }

    /// Whether the quoted key `quoted_key` searches for (one of [`finders`]) occurs
    /// anywhere in the record: with no escapes, `"key"` can only be a whole string, so
    /// the search cannot be fooled by text inside a value.
    fn mentions_key(&self, quoted_key: &memchr::memmem::Finder) -> bool {
        quoted_key.find(self.b).is_some()
    }

    /// The string at `at`, if the value there is one (and is UTF-8).
    fn string(&self, at: usize) -> Option<&'a str> {
        if self.b.get(at) != Some(&b'"') {
            return None;
        }
        let end = json_walk::string_end(self.b, at)?;
        std::str::from_utf8(self.b.get(at + 1..end - 1)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filter that skips every record as one format, to hold `audit_skip` to account.
    struct SkipAllAs(Format);

    impl RecordFilter for SkipAllAs {
        fn skip(&self, _: &[u8]) -> Option<Format> {
            Some(self.0)
        }
    }

    const PULL: &[u8] = br#"{"status":"pull","id":"evil.example/x:1","Type":"image","Action":"pull","Actor":{"ID":"evil.example/x:1","Attributes":{"name":"evil.example/x"}},"scope":"local","time":1795166100,"timeNano":1795166100000000000}"#;

    #[test]
    fn audit_skip_holds_a_filter_to_its_contract() {
        let docker = SkipAllAs(Format::DockerEvents);
        assert_eq!(
            audit_skip(&docker, PULL, |_| true).ok(),
            Some(Some(Format::DockerEvents))
        );
        // The pull is something the engine uses.
        let err = audit_skip(&docker, PULL, |_| false).unwrap_err();
        assert!(matches!(
            err,
            SkipBreach::UsedEvent {
                format: Format::DockerEvents,
                ..
            }
        ));
        // Counted as Falco, but the decoders read a Docker event.
        let err = audit_skip(&SkipAllAs(Format::Falco), PULL, |_| true).unwrap_err();
        assert!(
            matches!(&err, SkipBreach::OtherFormat { decoded, .. } if decoded == &[Format::DockerEvents]),
            "{err}"
        );
        // A malformed record may be counted as the format the filter names.
        assert_eq!(
            audit_skip(&SkipAllAs(Format::Falco), b"{\"rule\":", |_| false).ok(),
            Some(Some(Format::Falco))
        );
        assert_eq!(
            audit_skip(&Prefilter::new(Arc::new(|_| true)), b"x", |_| false).ok(),
            Some(None)
        );
    }

    #[test]
    fn each_skip_names_what_the_record_was() {
        let p = Prefilter::new(Arc::new(|i: &str| i.starts_with("nginx")));
        let docker = |typ: &str, action: &str, image: &str| {
            format!(
                r#"{{"Type":"{typ}","Action":"{action}","Actor":{{"ID":"a1","Attributes":{{"image":"{image}","name":"n"}}}},"scope":"local","time":1,"timeNano":1}}"#
            )
        };
        let why = |line: &str| p.skip_why(line.as_bytes()).map(|(_, w)| w);
        assert_eq!(
            why(&docker("network", "connect", "")),
            Some("docker-events: network event (not used)")
        );
        assert_eq!(
            why(&docker("image", "untag", "")),
            Some("docker-events: image event other than a pull (not used)")
        );
        assert_eq!(
            why(&docker(
                "container",
                "exec_start: sh -c nginx -t",
                "nginx:1.27"
            )),
            Some("docker-events: exec in a container of an allowlisted image")
        );
        // Execs in other images, and what the analytics read, are decoded.
        assert_eq!(
            why(&docker("container", "exec_start: sh", "evil/x:1")),
            None
        );
        assert_eq!(why(&docker("image", "pull", "")), None);
        // `skip` is the same verdict without the reason.
        for line in [
            docker("volume", "mount", ""),
            docker("container", "start", "nginx"),
        ] {
            assert_eq!(
                p.skip(line.as_bytes()),
                p.skip_why(line.as_bytes()).map(|(f, _)| f)
            );
        }
        assert_eq!(
            why(&docker("volume", "mount", "")),
            Some("docker-events: volume event (not used)")
        );
    }

    #[test]
    fn a_container_log_prefix_is_looked_behind_soundly() {
        let exec = r#"{"Type":"container","Action":"exec_start: sh -c id","Actor":{"ID":"abc","Attributes":{"image":"nginx"}},"timeNano":5}"#;
        let f = Prefilter::new(Arc::new(|i: &str| i == "nginx"));
        let cri = format!("2026-11-20T09:00:41.518123456Z stdout F {exec}");
        assert_eq!(f.skip(exec.as_bytes()), Some(Format::DockerEvents));
        assert_eq!(
            audit_skip(&f, cri.as_bytes(), |_| true).ok(),
            Some(Some(Format::DockerEvents))
        );
        // Half a record, or a prefix that is not a container log's: decoded in full.
        let partial = format!("2026-11-20T09:00:41Z stdout P {exec}");
        assert_eq!(f.skip(partial.as_bytes()), None);
        let other = format!("2026-11-20 09:00:41 stdout F {exec}");
        assert_eq!(f.skip(other.as_bytes()), None);
        // Untrusted image behind the prefix: kept.
        let evil = cri.replace("nginx", "evil.example/x");
        assert_eq!(f.skip(evil.as_bytes()), None);
        // Docker's json-file wrapper: the record is its escaped `log`.
        let log = serde_json::to_string(&format!("{exec}\n")).unwrap();
        let json_file =
            format!(r#"{{"log":{log},"stream":"stdout","time":"2026-11-20T09:00:41Z"}}"#);
        assert_eq!(
            audit_skip(&f, json_file.as_bytes(), |_| true).ok(),
            Some(Some(Format::DockerEvents))
        );
        let split = json_file.replace("\\n\"", "\"");
        assert_eq!(f.skip(split.as_bytes()), None, "{split}");
    }
}
