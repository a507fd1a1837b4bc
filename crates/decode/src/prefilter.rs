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
//! Without escape sequences a JSON string cannot contain a quote, so the small walker
//! below can find values by key path exactly, skipping everything else by structure.

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
        // So is a log shipper's envelope, by the same function as the stream's.
        let shipped = crate::framing::shipper_payload(line);
        let line = shipped.as_ref().map_or(line, |s| &*s.record);
        if memchr::memchr(b'\\', line).is_some() {
            return None;
        }
        let text = std::str::from_utf8(line).ok()?.trim_ascii();
        if !(text.starts_with('{') && text.ends_with('}')) {
            return None;
        }
        // A record whose opening names its format is decoded as that format first (see
        // `EventStream`); any other record must be recognized as exactly one format.
        let leading = sniff::leading(text);
        let format = match leading {
            Some(l) => l.format,
            None => only_candidate(text)?,
        };
        let why = if format == Format::Tetragon {
            self.tetragon(text)
                .then_some("tetragon: exec in a container of an allowlisted image")
        } else {
            let doc = Walk::new(text);
            match format {
                Format::Falco => self
                    .falco(&doc)
                    .then_some("falco: alert in a container of an allowlisted image"),
                Format::K8sAudit => audit_without_pods(&doc)
                    .then_some("k8s-audit: API call about other resources than pods"),
                Format::K8sEvents => event_without_kubelet_reason(&doc)
                    .then_some("k8s-events: a reason no analytic reads"),
                Format::DockerEvents => self.docker(&doc),
                _ => None,
            }
        };
        let skip = why.is_some();
        // When the decoder rejects a record whose opening only guesses its format (a
        // bad timestamp, say), the stream tries the formats its keys suggest; so such a
        // record is skipped only if it suggests no other, or a record could pass here as
        // a trusted Falco alert and be decoded as something else. Checked last: only
        // records about to be skipped pay for it.
        if skip && leading.is_some_and(|l| !l.certain) && !suggests_only(text, format) {
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
/// reads records with a walker of its own, so this is a differential check of that
/// walker against serde and the decoders, shared by the engine's tests and the
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

    /// A process execution in a pod container whose image is allowlisted. Every other
    /// Tetragon event (connections, whose source address places flow records; exits,
    /// which end pid links) is decoded. Tetragon's records are most of a node's
    /// telemetry, so they are read in one validating pass into a few borrowed fields
    /// (see `tetragon::exec_image`) rather than walked more than once.
    fn tetragon(&self, text: &str) -> bool {
        crate::tetragon::exec_image(text).is_some_and(|image| self.trusted_text(&image))
    }

    /// A Falco alert about a container whose image (repository, tag and digest, as the
    /// decoder puts them together) is allowlisted.
    fn falco(&self, doc: &Walk) -> bool {
        let field = |k: &str| doc.string(&["output_fields", k]).and_then(falco::known);
        let Some(id) = field("container.id") else {
            return false;
        };
        if id.eq_ignore_ascii_case("host") {
            return false;
        }
        let Some(repo) = field("container.image.repository") else {
            return false;
        };
        // Tag and digest: absent, a string, or another type, which the decoder would
        // spell out (`Some(None)` for an unknown one, `None` to decode).
        let optional = |k: &str| match doc.get(&["output_fields", k]) {
            None => Some(None),
            Some(Value::Str(v)) => Some(falco::known(v)),
            Some(Value::Other) => None,
        };
        let (Some(tag), Some(digest)) = (
            optional("container.image.tag"),
            optional("container.image.digest"),
        ) else {
            return false;
        };
        self.trusted_text(&falco::image_text(repo, tag, digest))
    }

    /// Docker events the decoder reads nothing from, and `exec_start` in a container
    /// whose image is allowlisted.
    fn docker(&self, doc: &Walk) -> Option<&'static str> {
        let action = doc.string(&["Action"])?;
        let verb = action.split_once(": ").map_or(action, |(v, _)| v);
        match verb {
            "pull" | "create" | "start" | "die" => None,
            "exec_start" => {
                matches!(doc.string(&["Actor", "Attributes", "image"]), Some(i) if self.trusted_text(i))
                    .then_some("docker-events: exec in a container of an allowlisted image")
            }
            _ => Some(match doc.string(&["Type"])? {
                "container" => "docker-events: container event of a kind not used",
                "image" => "docker-events: image event other than a pull (not used)",
                "network" => "docker-events: network event (not used)",
                "volume" => "docker-events: volume event (not used)",
                _ => "docker-events: daemon, plugin or swarm event (not used)",
            }),
        }
    }
}

/// Audit events about anything but pods (and bindings) emit nothing.
fn audit_without_pods(doc: &Walk) -> bool {
    if doc.has_top("properties") {
        return false;
    }
    match doc.string(&["objectRef", "resource"]) {
        Some(r) => r != "pods" && r != "bindings",
        None => false,
    }
}

/// Kubernetes Events whose reason the decoder does not read emit nothing.
fn event_without_kubelet_reason(doc: &Walk) -> bool {
    if doc.has_top("object") {
        return false;
    }
    match doc.string(&["reason"]) {
        Some(r) => !matches!(r, "Pulling" | "Pulled" | "Created" | "Started" | "Killing"),
        None => false,
    }
}

/// A value found by [`Walk::get`].
#[derive(Debug, PartialEq, Eq)]
enum Value<'a> {
    Str(&'a str),
    Other,
}

/// Reads an escape-free JSON object by key path. Every lookup re-walks from the top,
/// skipping values it does not need by their structure; any surprise gives `None`.
struct Walk<'a> {
    b: &'a [u8],
    s: &'a str,
    /// The top-level members (key, position of value), read once; `None` when the
    /// record is not a well-formed object or repeats a key.
    top: Option<Vec<(&'a str, usize)>>,
}

impl<'a> Walk<'a> {
    fn new(s: &'a str) -> Walk<'a> {
        let mut w = Walk {
            b: s.as_bytes(),
            s,
            top: None,
        };
        let mut top = Vec::with_capacity(16);
        let ok = w
            .object(w.ws(0), |k, v| {
                top.push((k, v));
                true
            })
            .is_some_and(|end| w.ws(end) == w.b.len());
        let unique = top
            .iter()
            .enumerate()
            .all(|(i, (k, _))| top[..i].iter().all(|(o, _)| o != k));
        w.top = (ok && unique).then_some(top);
        w
    }

    fn string(&self, path: &[&str]) -> Option<&'a str> {
        match self.get(path)? {
            Value::Str(s) => Some(s),
            Value::Other => None,
        }
    }

    fn has_top(&self, key: &str) -> bool {
        // A malformed record is decoded, so "unsure" counts as present.
        self.top
            .as_ref()
            .is_none_or(|t| t.iter().any(|(k, _)| *k == key))
    }

    fn get(&self, path: &[&str]) -> Option<Value<'a>> {
        let at = self.locate(path)?;
        match self.b.get(at)? {
            b'"' => {
                let end = self.string_end(at)?;
                Some(Value::Str(self.s.get(at + 1..end)?))
            }
            _ => Some(Value::Other),
        }
    }

    /// Position of the value at `path` (which must name object members all the way).
    fn locate(&self, path: &[&str]) -> Option<usize> {
        let (first, rest) = path.split_first()?;
        let mut at = self.top.as_ref()?.iter().find(|(k, _)| k == first)?.1;
        for key in rest {
            let mut found: Option<usize> = None;
            let mut dup = false;
            self.object(at, |k, v| {
                if k == *key {
                    if found.is_some() {
                        dup = true;
                        return false;
                    }
                    found = Some(v);
                }
                true
            })?;
            if dup {
                return None;
            }
            at = found?;
        }
        Some(at)
    }

    /// Visits the members of the object at `at` (key, position of value); `None` if it
    /// is not a well-formed object. The visitor returns `false` to stop.
    fn object(&self, at: usize, mut visit: impl FnMut(&'a str, usize) -> bool) -> Option<usize> {
        if self.b.get(at) != Some(&b'{') {
            return None;
        }
        let mut i = self.ws(at + 1);
        if self.b.get(i) == Some(&b'}') {
            return Some(i + 1);
        }
        loop {
            if self.b.get(i) != Some(&b'"') {
                return None;
            }
            let kend = self.string_end(i)?;
            let key = self.s.get(i + 1..kend)?;
            i = self.ws(kend + 1);
            if self.b.get(i) != Some(&b':') {
                return None;
            }
            let v = self.ws(i + 1);
            if !visit(key, v) {
                return None;
            }
            i = self.ws(self.skip_value(v)?);
            match self.b.get(i) {
                Some(b',') => i = self.ws(i + 1),
                Some(b'}') => return Some(i + 1),
                _ => return None,
            }
        }
    }

    fn string_end(&self, at: usize) -> Option<usize> {
        memchr::memchr(b'"', self.b.get(at + 1..)?).map(|n| at + 1 + n)
    }

    fn ws(&self, mut i: usize) -> usize {
        while self.b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        i
    }

    /// The position just after the value at `at`.
    fn skip_value(&self, at: usize) -> Option<usize> {
        match *self.b.get(at)? {
            b'"' => Some(self.string_end(at)? + 1),
            b'{' | b'[' => {
                // One pass over the bytes: the strings of a record are short, and a
                // search call per string costs more than reading it. Records with
                // escapes never get here, so a quote always ends a string.
                let mut depth = 0usize;
                let mut in_string = false;
                for (i, &c) in self.b.get(at..)?.iter().enumerate() {
                    if in_string {
                        in_string = c != b'"';
                        continue;
                    }
                    match c {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(at + i + 1);
                            }
                        }
                        _ => {}
                    }
                }
                None
            }
            _ => {
                let mut i = at;
                while self
                    .b
                    .get(i)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    i += 1;
                }
                (i > at).then_some(i)
            }
        }
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
