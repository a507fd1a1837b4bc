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
    // The AKS diagnostic wrapper carries the audit event as an escaped JSON string.
    Marker {
        format: Format::K8sAudit,
        all: &["\\\"auditID\\\":", "\"properties\":"],
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
    let hay = text.as_bytes();
    let push = |f: Format, out: &mut Vec<Format>| {
        if !out.contains(&f) {
            out.push(f);
        }
    };
    if let Some(p) = preferred {
        if JSON_MARKERS.iter().filter(|m| m.format == p).any(|m| {
            m.all
                .iter()
                .all(|k| memmem::find(hay, k.as_bytes()).is_some())
        }) {
            push(p, out);
        }
    }
    for m in JSON_MARKERS {
        if m.all
            .iter()
            .all(|k| memmem::find(hay, k.as_bytes()).is_some())
        {
            push(m.format, out);
        }
    }
}

/// Formats a non-JSON line may be, from its shape. Stateful formats (headers that
/// define columns) are decided by the caller's state first.
pub fn text_candidates(line: &str, out: &mut Vec<Format>) {
    out.clear();
    let b = line.as_bytes();
    if looks_like_rfc3339_prefix(b) && (line.contains(" container ") || line.contains(" image ")) {
        out.push(Format::DockerEvents);
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
