//! Recognizing a record's format from its bytes, per record, so that one file may mix
//! shapes. JSON records are recognized by top-level keys that only their format uses,
//! searched as `"key":` (a string value can never contain that sequence unescaped).
//! Keys can still be planted at nested levels by whoever names a label, so sniffing
//! yields candidates in order and the caller falls back to the next when a decoder
//! rejects the record.

use memchr::memmem;
use pullwatch_model::Format;

/// A marker: the format it suggests and the key sequences that must all be present.
struct Marker {
    format: Format,
    all: &'static [&'static str],
}

const JSON_MARKERS: &[Marker] = &[
    Marker {
        format: Format::Tetragon,
        all: &["\"process_exec\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_kprobe\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_exit\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_connect\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_tracepoint\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_uprobe\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_lsm\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_listen\":"],
    },
    Marker {
        format: Format::Tetragon,
        all: &["\"process_close\":"],
    },
    Marker {
        format: Format::Falco,
        all: &["\"output_fields\""],
    },
    Marker {
        format: Format::K8sAudit,
        all: &["\"auditID\":"],
    },
    // The managed services' wrappers carry the audit event as an escaped JSON string:
    // AKS diagnostic logs in `properties.log`, EKS (CloudWatch Logs) in `message`.
    Marker {
        format: Format::K8sAudit,
        all: &["\\\"auditID\\\":", "\"properties\":"],
    },
    Marker {
        format: Format::K8sAudit,
        all: &["\\\"auditID\\\":", "\"message\":"],
    },
    Marker {
        format: Format::K8sEvents,
        all: &["\"involvedObject\":"],
    },
    Marker {
        format: Format::K8sEvents,
        all: &["\"regarding\":", "\"reason\":"],
    },
    Marker {
        format: Format::DockerEvents,
        all: &["\"Action\":", "\"Actor\":"],
    },
    Marker {
        format: Format::DockerEvents,
        all: &["\"status\":", "\"from\":", "\"id\":"],
    },
    Marker {
        format: Format::PodmanEvents,
        all: &["\"ID\":", "\"Status\":"],
    },
    Marker {
        format: Format::CloudTrail,
        all: &["\"eventSource\":", "\"eventName\":"],
    },
    Marker {
        format: Format::GcpAudit,
        all: &["\"protoPayload\":"],
    },
    Marker {
        format: Format::AzureActivity,
        all: &["\"operationName\":", "\"resourceId\":"],
    },
    // A row of Log Analytics' Syslog table (Sysmon for Linux, AUOMS).
    Marker {
        format: Format::AzureSyslog,
        all: &["\"SyslogMessage\":"],
    },
    // Hubble flows, wrapped as `hubble observe -o json` and the exporter write them or
    // bare; before Suricata, whose `event_type` key a Hubble flow also has.
    Marker {
        format: Format::HubbleFlow,
        all: &["\"flow\":", "\"node_name\":"],
    },
    Marker {
        format: Format::HubbleFlow,
        all: &["\"traffic_direction\":"],
    },
    // The exporter's records about itself and its nodes.
    Marker {
        format: Format::HubbleFlow,
        all: &["\"node_status\":", "\"node_name\":"],
    },
    Marker {
        format: Format::HubbleFlow,
        all: &["\"lost_events\":", "\"node_name\":"],
    },
    Marker {
        format: Format::SuricataEve,
        all: &["\"event_type\":"],
    },
    Marker {
        format: Format::ZeekConn,
        all: &["\"id.orig_h\":"],
    },
    Marker {
        format: Format::Sysmon,
        all: &["\"EventData\":"],
    },
    Marker {
        format: Format::UserData,
        all: &["\"InstanceId\":", "\"UserData\":"],
    },
    Marker {
        format: Format::Sysmon,
        all: &["\"winlog\":"],
    },
];

/// Candidate formats for a JSON record, most specific first, without duplicates.
pub fn json_candidates(text: &str, preferred: Option<Format>, out: &mut Vec<Format>) {
    out.clear();
    let found = KeysFound::scan(text.as_bytes());
    let push = |f: Format, out: &mut Vec<Format>| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    let masks = marker_masks();
    if let Some(p) = preferred {
        if masks.iter().any(|m| m.format == p && found.has_all(m)) {
            push(p, out);
        }
    }
    for m in masks {
        if found.has_all(m) {
            push(m.format, out);
        }
    }
}

/// Whether the keys found in `pieces` (the parts of one record, as though they were
/// one text) are some format's markers: a shipper's envelope is told from a record by
/// the keys outside the value it wraps.
pub fn claims_format(pieces: &[&[u8]]) -> bool {
    let bits = pieces
        .iter()
        .fold(0u64, |bits, p| bits | KeysFound::scan(p).bits);
    marker_masks().iter().any(|m| {
        bits & m.bits == m.bits
            && m.other
                .iter()
                .all(|seq| pieces.iter().any(|p| seq.find(p).is_some()))
    })
}

/// A marker as the bits of [`KeysFound`] it needs, plus any key sequence the one-pass
/// scan does not know (searched for as written, with a searcher built once).
struct MarkerMask {
    format: Format,
    bits: u64,
    other: Vec<memmem::Finder<'static>>,
}

/// Worked out once: comparing key names per marker and record cost more than the
/// scan itself.
fn marker_masks() -> &'static [MarkerMask] {
    static M: std::sync::OnceLock<Vec<MarkerMask>> = std::sync::OnceLock::new();
    M.get_or_init(|| {
        JSON_MARKERS
            .iter()
            .map(|m| {
                let mut mask = MarkerMask {
                    format: m.format,
                    bits: 0,
                    other: Vec::new(),
                };
                for seq in m.all {
                    match bit_of(seq) {
                        Some(b) => mask.bits |= 1 << b,
                        None => mask.other.push(memmem::Finder::new(seq.as_bytes())),
                    }
                }
                mask
            })
            .collect()
    })
}

/// The [`KeysFound`] bit that stands for a marker key sequence, if the scan knows it.
fn bit_of(seq: &str) -> Option<usize> {
    if seq == "\"output_fields\"" {
        return Some(63);
    }
    if seq == ESCAPED_AUDIT_ID {
        return Some(62);
    }
    let (escaped, name) = match seq.strip_prefix("\\\"") {
        Some(rest) => (true, rest.strip_suffix("\\\":")),
        None => (
            false,
            seq.strip_prefix('"').and_then(|r| r.strip_suffix("\":")),
        ),
    };
    if escaped {
        return None;
    }
    MARKER_KEYS.iter().position(|k| Some(*k) == name)
}

/// The one escaped key a marker uses: an audit event inside a JSON string.
const ESCAPED_AUDIT_ID: &str = "\\\"auditID\\\":";

/// Whether `text` holds the audit marker as written inside a JSON string (escaped), the
/// one marker that can be: a searcher built once, as this runs on every record a
/// shipper wrapped as a string.
pub(crate) fn holds_escaped_audit_marker(text: &[u8]) -> bool {
    static F: std::sync::OnceLock<memmem::Finder<'static>> = std::sync::OnceLock::new();
    F.get_or_init(|| memmem::Finder::new(ESCAPED_AUDIT_ID.as_bytes()))
        .find(text)
        .is_some()
}

/// Record openings that name their format, as the sensors write them: the first key of
/// an object is certainly top-level (nothing nested can come before it), so it cannot
/// have been planted in a label. Most records of a busy node start this way, and
/// recognizing them costs a prefix comparison instead of a pass over every key.
///
/// Some openings belong to their format alone (`certain`): a record that opens so and
/// that its decoder rejects is a malformed record of that format, a counted skip, not
/// a record to try under other formats. That also keeps the prefilter honest: what it
/// judges as, say, a trusted Tetragon exec cannot turn out to be a Kubernetes Event
/// once its timestamp fails. The others (`status`, `hostname`, `output` first) are
/// guesses: a shipper may put such a key first in any record, so a record decoded
/// under a guess and rejected still gets the full sniff.
const LEADING: &[(&str, Format, bool)] = &[
    ("{\"process_exec\":", Format::Tetragon, true),
    ("{\"process_kprobe\":", Format::Tetragon, true),
    ("{\"process_exit\":", Format::Tetragon, true),
    (
        "{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/",
        Format::K8sAudit,
        true,
    ),
    // Core and events.k8s.io Events, as `kubectl get events -o json` and event
    // exporters write them one per line.
    (
        "{\"kind\":\"Event\",\"apiVersion\":\"v1\",",
        Format::K8sEvents,
        true,
    ),
    (
        "{\"kind\":\"Event\",\"apiVersion\":\"events.k8s.io/",
        Format::K8sEvents,
        true,
    ),
    // `docker events --format '{{json .}}'`: older engines lead with the deprecated
    // `status`, newer ones with `Type`.
    ("{\"status\":", Format::DockerEvents, false),
    ("{\"Type\":\"container\",", Format::DockerEvents, true),
    ("{\"Type\":\"image\",", Format::DockerEvents, true),
    // `podman events --format json`: Go writes the fields in declaration order, the
    // exit code (of `died` events) or the id first.
    ("{\"ContainerExitCode\":", Format::PodmanEvents, true),
    // `hubble observe -o json` and the Hubble exporter.
    ("{\"flow\":", Format::HubbleFlow, false),
    ("{\"ID\":", Format::PodmanEvents, false),
    // Falco's JSON output, with and without `json_include_output_property`'s hostname.
    ("{\"hostname\":", Format::Falco, false),
    ("{\"output\":", Format::Falco, false),
];

/// What a record's opening says of its format (see [`LEADING`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leading {
    pub format: Format,
    /// The opening belongs to `format` alone.
    pub certain: bool,
}

/// What the record's opening says of its format, if it is one of [`LEADING`].
pub fn leading(text: &str) -> Option<Leading> {
    leading_bytes(text.as_bytes())
}

/// [`leading`] on a record not yet known to be UTF-8 (the openings are ASCII).
pub fn leading_bytes(b: &[u8]) -> Option<Leading> {
    LEADING
        .iter()
        .find(|(p, _, _)| b.starts_with(p.as_bytes()))
        .map(|&(_, format, certain)| Leading { format, certain })
}

/// Every marker key sequence is `"name":` (or the AKS wrapper's escaped `\"name\":`),
/// except `"output_fields"`. Rather than search the record once per marker, one pass
/// visits every `":` and reads the name between it and the quote before it: `"K":`
/// occurs exactly where a `":` is preceded by `"K`, and the names contain no quote, so
/// the quote before the `":` is the one that opens `K`. The result is the same set of
/// markers a substring search per marker finds.
struct KeysFound<'a> {
    hay: &'a [u8],
    bits: u64,
}

impl<'a> KeysFound<'a> {
    fn scan(hay: &'a [u8]) -> KeysFound<'a> {
        let mut bits = 0u64;
        let finders = finders();
        // Every `":` is found as a colon with a quote before it: one pass of `memchr`'s
        // iterator, rather than a substring search started again after each hit.
        let key_ends = memchr::memchr_iter(b':', hay)
            .filter(|&c| c > 0 && hay[c - 1] == b'"')
            .map(|c| c - 1);
        for p in key_ends {
            let head = &hay[..p];
            // Only names of up to `KEY_MAX` bytes can be marker keys (the escaped
            // `auditID\` too): the opening quote is looked for no further back than that,
            // rather than through the whole record before a long name.
            let from = p.saturating_sub(KEY_MAX + 1);
            let Some(q) = memchr::memrchr(b'"', &head[from..]).map(|q| from + q) else {
                continue;
            };
            let name = &head[q + 1..];
            if let Some(i) = key_index(name) {
                bits |= 1 << i;
            }
            // `\"auditID\":`: the name ends in a backslash and its quote is escaped.
            if name == b"auditID\\" && q > 0 && head[q - 1] == b'\\' {
                bits |= 1 << 62;
            }
        }
        if finders.output_fields.find(hay).is_some() {
            bits |= 1 << 63;
        }
        KeysFound { hay, bits }
    }

    /// Whether every key sequence of a marker occurs.
    fn has_all(&self, m: &MarkerMask) -> bool {
        self.bits & m.bits == m.bits && m.other.iter().all(|seq| seq.find(self.hay).is_some())
    }
}

struct Finders {
    output_fields: memmem::Finder<'static>,
}

/// Built once: building a searcher costs more than running it over one record.
fn finders() -> &'static Finders {
    static F: std::sync::OnceLock<Finders> = std::sync::OnceLock::new();
    F.get_or_init(|| Finders {
        output_fields: memmem::Finder::new(b"\"output_fields\""),
    })
}

/// The longest name in [`MARKER_KEYS`].
const KEY_MAX: usize = 18;

/// Most names in a record are not marker keys; their length rules nearly all of them
/// out before any bytes are compared. The keys are grouped by length once, so a name is
/// compared only with the few keys as long as it (this runs for every key of a record).
fn key_index(name: &[u8]) -> Option<usize> {
    static BY_LEN: std::sync::OnceLock<Vec<Vec<usize>>> = std::sync::OnceLock::new();
    let by_len = BY_LEN.get_or_init(|| {
        let mut v = vec![Vec::new(); KEY_MAX + 1];
        for (i, k) in MARKER_KEYS.iter().enumerate() {
            if let Some(slot) = v.get_mut(k.len()) {
                slot.push(i);
            }
        }
        v
    });
    by_len
        .get(name.len())?
        .iter()
        .copied()
        .find(|&i| MARKER_KEYS.get(i).is_some_and(|k| k.as_bytes() == name))
}

/// The names used in [`JSON_MARKERS`] (at most 62: bit 62 is the escaped `auditID`,
/// 63 `output_fields`).
const MARKER_KEYS: &[&str] = &[
    "process_exec",
    "process_kprobe",
    "process_exit",
    "process_connect",
    "process_tracepoint",
    "process_uprobe",
    "process_lsm",
    "process_listen",
    "process_close",
    "auditID",
    "properties",
    "message",
    "involvedObject",
    "regarding",
    "reason",
    "Action",
    "Actor",
    "status",
    "from",
    "id",
    "eventSource",
    "eventName",
    "protoPayload",
    "operationName",
    "resourceId",
    "event_type",
    "id.orig_h",
    "EventData",
    "winlog",
    "InstanceId",
    "UserData",
    "ID",
    "Status",
    "SyslogMessage",
    "flow",
    "node_name",
    "traffic_direction",
    "node_status",
    "lost_events",
];

/// Formats a non-JSON line may be, from its shape. Stateful formats (headers that
/// define columns) are decided by the caller's state first.
pub fn text_candidates(line: &str, out: &mut Vec<Format>) {
    out.clear();
    let b = line.as_bytes();
    // Falco's own log lines and text alerts: before Docker's text form, whose
    // timestamp Falco's ISO 8601 lines also open with.
    if crate::falco::looks_like_text_line(line) {
        out.push(Format::Falco);
    }
    if looks_like_rfc3339_prefix(b) && (line.contains(" container ") || line.contains(" image ")) {
        out.push(Format::DockerEvents);
    }
    if crate::podman::looks_like_text(line) {
        out.push(Format::PodmanEvents);
    }
    // Zeek TSV: header lines, and data lines led by a decimal epoch. The stream then
    // keeps trying Zeek first, so data lines follow their header.
    if crate::zeek::is_header_line(line) || crate::zeek::looks_like_record(line) {
        out.push(Format::ZeekConn);
    }
    // VPC Flow Logs: the S3 header naming the fields, or a default-format record.
    if crate::vpc_flow::looks_like_header(line) || crate::vpc_flow::looks_like_default_record(line)
    {
        out.push(Format::VpcFlow);
    }
    // cloud-init logs: Python logging prefix, syslog tag, or a stage banner. Unframed
    // output lines follow through the stream's memory of the previous line's format.
    if crate::cloud_init::looks_like(line) {
        out.push(Format::CloudInit);
    }
    if (b.starts_with(b"type=") || b.starts_with(b"node=")) && line.contains(" msg=") {
        out.push(Format::Auditd);
    }
    if looks_like_go_time_prefix(b) && line.contains(" /") {
        out.push(Format::ContainerdEvents);
    }
}

/// `YYYY-MM-DD HH:MM:SS` at the start of the line (Go's `time.Time.String()`).
fn looks_like_go_time_prefix(b: &[u8]) -> bool {
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
}

/// `YYYY-MM-DDTHH:MM:SS` at the start of the line.
fn looks_like_rfc3339_prefix(b: &[u8]) -> bool {
    b.len() >= 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition the one-pass scan must agree with: a substring search per key.
    fn naive(text: &str, preferred: Option<Format>, out: &mut Vec<Format>) {
        out.clear();
        let hay = text.as_bytes();
        let hit = |m: &Marker| {
            m.all
                .iter()
                .all(|k| memmem::find(hay, k.as_bytes()).is_some())
        };
        if let Some(p) = preferred {
            if JSON_MARKERS.iter().filter(|m| m.format == p).any(hit) {
                out.push(p);
            }
        }
        for m in JSON_MARKERS {
            if hit(m) && !out.contains(&m.format) {
                out.push(m.format);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn one_pass_scan_finds_what_substring_search_finds(
            parts in proptest::collection::vec(prop_oneof![
                Just("\"".to_string()), Just("\\".to_string()), Just(":".to_string()),
                Just("{".to_string()), Just(" ".to_string()), Just("x".to_string()),
                proptest::sample::select(MARKER_KEYS).prop_map(str::to_string),
                Just("output_fields".to_string()), Just("auditID\\".to_string()),
            ], 0..40),
            pref in proptest::option::of(proptest::sample::select(vec![
                Format::Tetragon, Format::Falco, Format::K8sAudit, Format::K8sEvents,
                Format::DockerEvents, Format::SuricataEve,
            ])),
        ) {
            let text: String = parts.concat();
            let (mut a, mut b) = (Vec::new(), Vec::new());
            json_candidates(&text, pref, &mut a);
            naive(&text, pref, &mut b);
            prop_assert_eq!(a, b, "{}", text);
        }
    }

    #[test]
    fn every_marker_key_is_known_to_the_scan() {
        for m in JSON_MARKERS {
            for k in m.all {
                let name = k
                    .trim_start_matches("\\\"")
                    .trim_start_matches('"')
                    .trim_end_matches("\\\":")
                    .trim_end_matches("\":")
                    .trim_end_matches('"');
                assert!(
                    MARKER_KEYS.contains(&name) || name == "output_fields",
                    "{k}"
                );
            }
        }
        assert!(MARKER_KEYS.len() <= 62);
    }

    fn leading_format(text: &str) -> Option<Format> {
        leading(text).map(|l| l.format)
    }

    #[test]
    fn no_marker_key_is_longer_than_the_scan_looks_back() {
        assert_eq!(MARKER_KEYS.iter().map(|k| k.len()).max(), Some(KEY_MAX));
        // A long name before `":` is no marker, however it ends.
        let long = format!(r#"{{"{}process_exec":1}}"#, "x".repeat(40));
        let mut c = Vec::new();
        json_candidates(&long, None, &mut c);
        assert!(c.is_empty(), "{c:?}");
    }

    #[test]
    fn leading_keys_name_the_format_only_at_the_start() {
        assert_eq!(
            leading_format(r#"{"process_exec":{"process":{}},"time":"x"}"#),
            Some(Format::Tetragon)
        );
        assert_eq!(
            leading_format(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata"}"#),
            Some(Format::K8sAudit)
        );
        // Core Events share the kind but not the API group.
        assert_eq!(
            leading_format(r#"{"kind":"Event","apiVersion":"v1","involvedObject":{}}"#),
            Some(Format::K8sEvents)
        );
        // Nested, the same key says nothing.
        assert_eq!(leading_format(r#"{"x":{"process_exec":{}}}"#), None);
        // Every leading guess is also a candidate of the full sniff, on a record as
        // its source writes it (the opening alone lacks the other markers).
        let records = [
            r#"{"process_exec":{"process":{}}}"#,
            r#"{"process_kprobe":{"process":{}}}"#,
            r#"{"process_exit":{"process":{}}}"#,
            r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a"}"#,
            r#"{"kind":"Event","apiVersion":"v1","involvedObject":{},"reason":"Pulled"}"#,
            r#"{"kind":"Event","apiVersion":"events.k8s.io/v1","regarding":{},"reason":"Pulled"}"#,
            r#"{"status":"start","id":"a","from":"nginx","Type":"container","Action":"start","Actor":{}}"#,
            r#"{"Type":"container","Action":"start","Actor":{"ID":"a"}}"#,
            r#"{"Type":"image","Action":"pull","Actor":{"ID":"nginx"}}"#,
            r#"{"ContainerExitCode":0,"ID":"a","Status":"died","Time":"t","Type":"container"}"#,
            r#"{"flow":{"traffic_direction":"EGRESS"},"node_name":"n","time":"t"}"#,
            r#"{"ID":"a","Image":"x","Name":"n","Status":"start","Time":"t","Type":"container"}"#,
            r#"{"hostname":"n","output":"o","rule":"r","output_fields":{}}"#,
            r#"{"output":"o","rule":"r","output_fields":{}}"#,
        ];
        for (p, f, _) in LEADING {
            let rec = records
                .iter()
                .find(|r| r.starts_with(p))
                .unwrap_or_else(|| panic!("no sample record for {p}"));
            assert_eq!(leading_format(rec), Some(*f), "{rec}");
            let mut c = Vec::new();
            json_candidates(rec, None, &mut c);
            assert!(c.contains(f), "{p}");
        }
    }

    #[test]
    fn recognizes_by_keys_not_values() {
        let mut c = Vec::new();
        json_candidates(
            r#"{"Type":"container","Action":"start","Actor":{"ID":"x"}}"#,
            None,
            &mut c,
        );
        assert_eq!(c, vec![Format::DockerEvents]);
        // A value spelling a key does not count.
        json_candidates(r#"{"name":"auditID","x":"\"auditID\":"}"#, None, &mut c);
        assert!(c.is_empty());
        // A planted nested key adds a candidate but keeps the real format in the list.
        json_candidates(
            r#"{"Type":"container","Action":"start","Actor":{"ID":"x","Attributes":{"auditID":"1"}}}"#,
            None,
            &mut c,
        );
        assert!(c.contains(&Format::DockerEvents));
    }
}
