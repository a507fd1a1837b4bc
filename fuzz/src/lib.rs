//! What pullwatch's fuzz targets do with their bytes, and the properties they check
//! beyond "does not panic". Kept out of the target files so that every decoder target
//! is the same one line.
#![forbid(unsafe_code)]

use pullwatch_decode::user_data::{inspect_user_data, ContentInspection};
use pullwatch_decode::{
    audit_skip, decode_json_as, decode_text_as, DecodeOptions, DecodeStats, EventStream, Input,
    Prefilter, RecordCtx, TextState,
};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::inspect::ContentInspector;
use pullwatch_model::{Alert, CloudAction, Event, EventKind, Format, UserDataSeen, UserDataState};
use pullwatch_report::ScanSummary;
use std::io::Cursor;
use std::sync::{Arc, OnceLock};

/// The decoder target named after `name` (a format name such as `docker-events`).
pub fn decoder_named(name: &str, data: &[u8]) {
    static FORMAT: OnceLock<Format> = OnceLock::new();
    let format = *FORMAT.get_or_init(|| {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == name)
            .unwrap_or_else(|| panic!("fuzz target {name:?} is not a format name"))
    });
    decoder(format, data);
}

/// Every line of `data` handed straight to one decoder (its JSON and its text entry,
/// with per-input state carried across lines as the stream does), bypassing the
/// sniffer so the fuzzer's mutations reach the decoder whatever they look like. User
/// data the decoder finds goes through the user-data inspector, as `pullwatch scan`'s
/// engine would send it; for the `user-data` target the whole input is also inspected
/// as user data (a script, cloud-config, MIME, base64 or gzip), which is what the
/// inspector reads from instances and launch requests, and, when it is UTF-8, through
/// the engine's inspector, which must agree with it.
pub fn decoder(format: Format, data: &[u8]) {
    if format == Format::UserData {
        let findings = inspect_user_data(data).findings;
        check_findings(&findings);
        if let Ok(text) = std::str::from_utf8(data) {
            engine_sees_the_same(text, &findings);
        }
    }
    let text = String::from_utf8_lossy(data);
    let path: Arc<str> = Arc::from("fuzz");
    let mut state = TextState::default();
    let mut out: Vec<Event> = Vec::new();
    let mut line_no = 0u64;
    for line in text.split('\n') {
        line_no += 1;
        let ctx = RecordCtx {
            path: path.clone(),
            line: line_no,
        };
        let t = line.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            let _ = decode_json_as(format, line, &ctx, &mut out);
            if format == Format::Tetragon {
                tetragon_walk_agrees(line, &ctx);
            }
        }
        let _ = decode_text_as(format, line, &ctx, &mut state, &mut out);
        check_events(format, &out, line_no);
        inspect_events(&out);
        out.clear();
    }
    state.flush(&path, &mut out);
    check_events(format, &out, line_no);
    inspect_events(&out);
}

/// Tetragon's records are read by a walk over the members the decoder uses, and by
/// serde whole where the walk is not certain (or under `--strict`). On every line that
/// is JSON the two readings give the same events, or the same error; only a line that
/// is not JSON may read differently (the walk does not validate what it jumps over).
fn tetragon_walk_agrees(line: &str, ctx: &RecordCtx) {
    use pullwatch_decode::tetragon::{decode_json, decode_json_whole};
    if serde_json::from_str::<&serde_json::value::RawValue>(line).is_err() {
        return;
    }
    let (mut walked, mut whole) = (Vec::new(), Vec::new());
    let walked = decode_json(line, ctx, &mut walked).map(|()| walked);
    let whole = decode_json_whole(line, ctx, &mut whole).map(|()| whole);
    assert_eq!(walked, whole, "{line:?}");
}

/// The user data events carry, through the inspector the engine is given.
fn inspect_events(events: &[Event]) {
    let inspector = ContentInspection::default();
    for e in events {
        let content = match &e.kind {
            EventKind::UserData(UserDataSeen { content, .. }) => content,
            EventKind::Cloud(c) => match &c.action {
                CloudAction::InstanceLaunch(l) => match &l.user_data {
                    UserDataState::Present(content) => content,
                    _ => continue,
                },
                CloudAction::UserDataChanged {
                    user_data: UserDataState::Present(content),
                    ..
                } => content,
                _ => continue,
            },
            _ => continue,
        };
        for f in inspector.user_data(content) {
            assert_capped(&f.line);
        }
    }
}

fn check_findings(findings: &[pullwatch_decode::user_data::Finding]) {
    for f in findings {
        assert_capped(&f.line);
    }
}

/// The engine asks about user data through `ContentInspector`, which hands it findings
/// by label (the labels alerts print and the reports explain). It must see exactly the
/// findings the inspector reports, in the same order, each under its own reason's label.
fn engine_sees_the_same(text: &str, findings: &[pullwatch_decode::user_data::Finding]) {
    let seen = ContentInspection::default().user_data(text);
    assert_eq!(seen.len(), findings.len(), "{text:?}");
    for (s, f) in seen.iter().zip(findings) {
        assert_eq!(
            (s.why.as_str(), s.line.as_str(), s.place.as_str()),
            (f.why.name(), f.line.as_str(), f.place.as_str()),
        );
    }
}

/// Findings quote at most 400 characters of a line (and an ellipsis).
fn assert_capped(line: &str) {
    assert!(
        line.chars().count() <= 401,
        "finding line not capped: {line:?}"
    );
}

/// Events name the decoder's format and a line that was already read.
fn check_events(format: Format, events: &[Event], line_no: u64) {
    for e in events {
        assert_eq!(e.source.format, format);
        assert_eq!(&*e.source.path, "fuzz");
        assert!((1..=line_no).contains(&e.source.line), "{e:?}");
    }
}

/// A whole EVTX file through the Sysmon decoder, as `pullwatch scan` reads a file that
/// starts with the EVTX magic. The evtx crate parses the binary format; what it renders
/// is decoded like a line of its JSON. Events name Sysmon and the file; a record that
/// cannot be read or decoded is a counted skip.
pub fn evtx(data: &[u8]) {
    let path: Arc<str> = Arc::from("fuzz.evtx");
    let mut out: Vec<Event> = Vec::new();
    let mut stats = DecodeStats::default();
    pullwatch_decode::sysmon::decode_evtx(&path, data.to_vec(), &mut out, &mut stats);
    for e in &out {
        assert_eq!(e.source.format, Format::Sysmon);
        assert_eq!(&*e.source.path, "fuzz.evtx");
    }
    inspect_events(&out);
}

/// Every line of `data` through the prefilter `pullwatch scan` uses with the default
/// allowlist. A line it skips is then decoded in full, as it would have been without the
/// prefilter: it must decode as the format the prefilter counted it as (or be a counted
/// skip, a malformed record the prefilter may count as its format) and give only events
/// the engine ignores. The prefilter reads records with a small walker of its own, so
/// this is a differential check of that walker against serde and the decoders: a
/// record the two read differently is a record an attacker could hide activity in.
pub fn prefilter(data: &[u8]) {
    static STATE: OnceLock<(Prefilter, Engine)> = OnceLock::new();
    let (filter, engine) = STATE.get_or_init(|| {
        let cfg = Config::default();
        let trusted = pullwatch_engine::interest::trusted_image_test(&cfg);
        (Prefilter::new(Arc::new(trusted)), Engine::new(cfg))
    });
    for line in data.split(|&b| b == b'\n') {
        if let Err(breach) = audit_skip(filter, line, |e| engine.ignores(e)) {
            panic!("{breach}\n{:?}", String::from_utf8_lossy(line));
        }
    }
}

fn small_limits() -> Config {
    let mut cfg = Config::default();
    cfg.limits.max_tracked_containers = 64;
    cfg.limits.max_tracked_pulls = 64;
    cfg.limits.max_tracked_processes = 256;
    cfg.limits.max_pending_events = 1024;
    cfg.limits.max_dedupe_keys = 256;
    cfg
}

/// Bytes in, alerts out, as `pullwatch scan` does it (user data and first-boot command
/// lines inspected), with small limits so that
/// evictions and forced releases are exercised too. Checks that nothing escapes the
/// bounds, that every location is a real line, and that rendered output is safe.
pub fn pipeline(data: &[u8]) {
    let input = Input {
        path: Arc::from("fuzz"),
        size: None,
        reader: Box::new(Cursor::new(data.to_vec())),
    };
    let opts = DecodeOptions {
        max_line_bytes: 1 << 16,
        max_document_bytes: 1 << 20,
        max_decompressed_bytes: 1 << 24,
        ..DecodeOptions::default()
    };
    let mut stream = EventStream::new(input, opts);
    let mut engine = Engine::with_inspector(small_limits(), Box::new(ContentInspection::default()));
    let mut stats = DecodeStats::default();
    let (mut events, mut alerts): (Vec<Event>, Vec<Alert>) = (Vec::new(), Vec::new());
    loop {
        // A read error ends this input.
        let more = stream.fill(&mut events, &mut stats, 64).unwrap_or(false);
        for e in events.drain(..) {
            engine.push(e, &mut alerts);
        }
        if !more {
            break;
        }
    }
    engine.finish(&mut alerts);
    let lines = data.split(|&b| b == b'\n').count() as u64;
    for sc in stats.skipped.values() {
        for loc in &sc.first {
            assert!((1..=lines).contains(&loc.line), "{loc:?} of {lines}");
        }
    }
    let es = engine.stats();
    assert!(es.containers_peak <= 64, "{es:?}");
    for a in &alerts {
        check_alert(a, lines);
    }
    let mut summary = ScanSummary {
        decode: stats,
        engine: es,
        ..ScanSummary::default()
    };
    for a in &alerts {
        summary.count_alert(a);
    }
    assert_terminal_safe(&summary.render());
}

fn check_alert(a: &Alert, lines: u64) {
    for e in &a.evidence {
        assert!((1..=lines).contains(&e.source.line), "{e:?}");
    }
    let json = pullwatch_report::json::alert_line(a);
    assert!(!json.contains('\n'), "an alert is one JSON line");
    let back: serde_json::Value = serde_json::from_str(&json).expect("alert JSON parses");
    assert_eq!(back["rule"], a.rule);
    if let Some(name) = &a.entity.container {
        assert_eq!(back["entity"]["container"].as_str(), Some(name.as_str()));
    }
    let ocsf = pullwatch_report::ocsf::finding_line(a);
    assert!(!ocsf.contains('\n'), "an OCSF finding is one JSON line");
    serde_json::from_str::<serde_json::Value>(&ocsf).expect("OCSF finding parses");
    // Without colour: the escape sequences of the coloured view are pullwatch's own.
    assert_terminal_safe(&pullwatch_report::text::alert_block(a, false));
}

/// No control character but the line breaks the renderer writes itself reaches a
/// terminal.
fn assert_terminal_safe(text: &str) {
    for c in text.chars() {
        let bad = (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!bad, "control character {c:?} in terminal output");
    }
}
