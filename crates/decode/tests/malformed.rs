//! pullwatch's malformed-input policy, checked against every decoder: whatever an input
//! holds, each of its lines is either decoded or skipped with a reason and its file and
//! line, and nothing panics, aborts or grows without bound.
//!
//! The decoders are driven from valid records: the seed files in
//! `tests/fixtures/seeds/`, named after the format they hold (`<format>[-…].<ext>`).
//! Every seed is mutated (each line truncated, made invalid UTF-8, given NUL bytes; each
//! JSON value removed or replaced by a wrong type or an absurd value; each text field
//! replaced likewise) and streamed the way pullwatch reads inputs, and every mutated
//! record is also handed to its own decoder directly, bypassing the sniffer.
//!
//! A new decoder joins by adding a seed file of valid records (and its fuzz target in
//! `fuzz/Cargo.toml`); `every_decoder_has_a_seed_and_a_fuzz_target` fails until it does.

use pullwatch_decode::{
    decode_json_as, decode_text_as, DecodeError, DecodeOptions, DecodeStats, EventStream, Input,
    RecordCtx, TextState,
};
use pullwatch_model::{Event, EventKind, Format};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Seed {
    format: Format,
    name: String,
    text: String,
}

/// The format a seed file holds: the longest format name its file name starts with.
fn format_of(file_name: &str) -> Option<Format> {
    Format::ALL
        .iter()
        .filter(|f| file_name.starts_with(f.name()))
        .max_by_key(|f| f.name().len())
        .copied()
}

fn seeds() -> Vec<Seed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seeds");
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("seed directory")
        .map(|e| e.expect("seed entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("seed names are UTF-8")
            .to_string();
        let format = format_of(&name).unwrap_or_else(|| panic!("{name}: no format by that name"));
        let text = std::fs::read_to_string(&path).expect("seed is UTF-8");
        out.push(Seed { format, name, text });
    }
    out
}

fn is_json_seed(s: &Seed) -> bool {
    s.text.trim_start().starts_with('{')
}

/// Formats this build decodes from JSON records, or from text lines.
fn decodes_json(f: Format) -> bool {
    !matches!(
        decode_json_as(f, "{}", &ctx(1), &mut Vec::new()),
        Err(DecodeError::Invalid(m)) if m.ends_with("not decoded by this build")
    )
}

fn decodes_text(f: Format) -> bool {
    !matches!(
        decode_text_as(f, "x", &ctx(1), &mut TextState::default(), &mut Vec::new()),
        Err(DecodeError::Invalid(m)) if m.ends_with("not decoded by this build")
    )
}

fn ctx(line: u64) -> RecordCtx {
    RecordCtx {
        path: Arc::from("direct"),
        line,
    }
}

fn stream_with(name: &str, data: Vec<u8>, opts: DecodeOptions) -> (Vec<Event>, DecodeStats) {
    let input = Input {
        path: Arc::from(name),
        size: None,
        reader: Box::new(Cursor::new(data)),
    };
    let mut s = EventStream::new(input, opts);
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    // Small refills, so records cross batch edges as they do in long inputs.
    while s
        .fill(&mut out, &mut stats, 3)
        .expect("in-memory reads do not fail")
    {}
    (out, stats)
}

fn stream(name: &str, data: Vec<u8>) -> (Vec<Event>, DecodeStats) {
    stream_with(name, data, DecodeOptions::default())
}

/// Lines the stream reads as records: not blank once decoded as UTF-8 and trimmed
/// (lines that are not UTF-8 count, as they must be skipped).
fn record_lines(data: &[u8]) -> u64 {
    data.split(|&b| b == b'\n')
        .filter(|l| match std::str::from_utf8(l) {
            Ok(s) => !s.trim().is_empty(),
            Err(_) => true,
        })
        .count() as u64
}

/// No silent drop: every record line was decoded or skipped, and everything skipped or
/// emitted points at a real line of this input.
fn assert_accounted(what: &str, name: &str, data: &[u8], events: &[Event], st: &DecodeStats) {
    let lines = record_lines(data);
    let records: u64 = st.formats.values().map(|c| c.records).sum();
    assert_eq!(
        records + st.skipped_total(),
        lines,
        "{what}: {records} records + {} skipped for {lines} lines: {st:#?}",
        st.skipped_total()
    );
    let total_lines = data.split(|&b| b == b'\n').count() as u64;
    for (reason, sc) in &st.skipped {
        assert!(!reason.is_empty(), "{what}: a skip without a reason");
        for loc in &sc.first {
            assert_eq!(loc.path, name, "{what}: {reason}");
            assert!(
                (1..=total_lines).contains(&loc.line),
                "{what}: {reason} located at line {} of {total_lines}",
                loc.line
            );
        }
    }
    assert_sane_pids(what, events);
    for e in events {
        assert_eq!(&*e.source.path, name, "{what}");
        assert!((1..=total_lines).contains(&e.source.line), "{what}: {e:?}");
    }
}

/// Pids named by an event. A negative pid must never wrap around into a huge one.
fn pids(e: &Event) -> Vec<u32> {
    match &e.kind {
        EventKind::Container(c) => c.pid.into_iter().collect(),
        EventKind::Process(p) => p.pid.into_iter().chain(p.ppid).collect(),
        EventKind::ExecStarted(x) => vec![x.pid],
        EventKind::ProcessFork(f) => vec![f.pid, f.ppid],
        EventKind::ProcessExit(x) => vec![x.pid],
        EventKind::Connection(c) => c.pid.into_iter().collect(),
        _ => Vec::new(),
    }
}

fn assert_sane_pids(what: &str, events: &[Event]) {
    for e in events {
        for pid in pids(e) {
            assert!(pid <= u32::MAX / 2, "{what}: pid {pid} in {e:?}");
        }
    }
}

/// Hands one record to its own decoder, bypassing the sniffer: it must answer (an
/// event, nothing, or an error), and what it emits must carry its format and line.
fn decode_direct(format: Format, line: &str, state: &mut TextState) {
    let mut out = Vec::new();
    let c = ctx(7);
    if decodes_json(format) && line.trim_start().starts_with(['{', '[']) {
        let _ = decode_json_as(format, line, &c, &mut out);
    }
    if decodes_text(format) {
        let _ = decode_text_as(format, line, &c, state, &mut out);
    }
    state.flush(&c.path, &mut out);
    assert_sane_pids(line, &out);
    for e in &out {
        assert_eq!(e.source.format, format, "{line:.200}");
        assert_eq!(&*e.source.path, "direct");
    }
}

fn lines_of(seed: &Seed) -> Vec<&str> {
    seed.text.lines().collect()
}

/// The seed with line `i` (0-based) replaced.
fn with_line(seed: &Seed, i: usize, replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (j, l) in seed.text.lines().enumerate() {
        if j == i {
            out.extend_from_slice(replacement);
        } else {
            out.extend_from_slice(l.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

#[test]
fn every_seed_decodes_cleanly() {
    let seeds = seeds();
    assert!(seeds.len() >= 10);
    for s in &seeds {
        let (ev, st) = stream(&s.name, s.text.clone().into_bytes());
        assert_eq!(st.skipped_total(), 0, "{}: {st:#?}", s.name);
        assert!(!ev.is_empty(), "{}: no events", s.name);
        assert!(
            ev.iter().all(|e| e.source.format == s.format),
            "{}: {:?}",
            s.name,
            ev.iter().map(|e| e.source.format).collect::<BTreeSet<_>>()
        );
        assert_accounted(&s.name, &s.name, s.text.as_bytes(), &ev, &st);
    }
}

#[test]
fn every_decoder_has_a_seed_and_a_fuzz_target() {
    let seeded: BTreeSet<Format> = seeds().iter().map(|s| s.format).collect();
    let fuzz = std::fs::read_to_string(workspace().join("fuzz/Cargo.toml")).expect("fuzz crate");
    for f in Format::ALL {
        if !(decodes_json(f) || decodes_text(f)) {
            continue;
        }
        assert!(seeded.contains(&f), "{f}: add a seed file of valid records");
        assert!(
            fuzz.contains(&format!("name = \"{}\"", f.name())),
            "{f}: add a [[bin]] fuzz target named {f} to fuzz/Cargo.toml"
        );
    }
}

#[test]
fn truncated_lines_are_skipped_where_they_are() {
    for s in &seeds() {
        let lines = lines_of(s);
        for (i, line) in lines.iter().enumerate() {
            for cut in [
                1,
                line.len() / 3,
                line.len() / 2,
                line.len().saturating_sub(1),
            ] {
                let Some(head) = line.get(..cut) else {
                    continue; // not a char boundary
                };
                if head.trim().is_empty() {
                    continue;
                }
                let data = with_line(s, i, head.as_bytes());
                let what = format!("{} line {} cut at {cut}", s.name, i + 1);
                let (ev, st) = stream(&s.name, data.clone());
                assert_accounted(&what, &s.name, &data, &ev, &st);
                if is_json_seed(s) && head.trim_start().starts_with('{') {
                    // A JSON object cut short is never a record.
                    let loc = st
                        .skipped
                        .get("invalid JSON")
                        .unwrap_or_else(|| panic!("{what}: {st:#?}"));
                    assert!(
                        loc.first.iter().any(|l| l.line == i as u64 + 1),
                        "{what}: {loc:?}"
                    );
                }
                decode_direct(s.format, head, &mut TextState::default());
            }
        }
    }
}

#[test]
fn invalid_utf8_and_nul_bytes_are_located() {
    for s in &seeds() {
        for (i, line) in lines_of(s).iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mid = line.len() / 2;
            let mut bad = line.as_bytes().to_vec();
            bad.insert(mid, 0xff);
            let data = with_line(s, i, &bad);
            let what = format!("{} line {} with 0xff", s.name, i + 1);
            let (ev, st) = stream(&s.name, data.clone());
            assert_accounted(&what, &s.name, &data, &ev, &st);
            let loc = &st.skipped["invalid UTF-8"];
            assert_eq!(loc.count, 1, "{what}");
            assert_eq!(loc.first[0].line, i as u64 + 1, "{what}");
            assert_eq!(
                loc.first[0].detail,
                format!("invalid byte at column {}", mid + 1)
            );

            let mut nul = line.as_bytes().to_vec();
            nul.insert(mid, 0);
            let data = with_line(s, i, &nul);
            let what = format!("{} line {} with NUL", s.name, i + 1);
            let (ev, st) = stream(&s.name, data.clone());
            assert_accounted(&what, &s.name, &data, &ev, &st);
            if is_json_seed(s) {
                // A raw control character is invalid JSON wherever it stands.
                assert!(
                    st.skipped
                        .values()
                        .any(|sc| sc.first.iter().any(|l| l.line == i as u64 + 1)),
                    "{what}: {st:#?}"
                );
            }
            decode_direct(
                s.format,
                std::str::from_utf8(&nul).expect("NUL is UTF-8"),
                &mut TextState::default(),
            );
        }
    }
}

/// Values that no field of any source should hold, each a way decoders have failed.
fn absurd_json_values() -> Vec<Value> {
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    vec![
        Value::Null,
        Value::Bool(true),
        serde_json::json!(0),
        serde_json::json!(-1),
        serde_json::json!(-2_147_483_649i64),
        serde_json::json!(1.5),
        serde_json::json!(i64::MAX),
        serde_json::json!(i64::MIN),
        serde_json::json!(u64::MAX),
        serde_json::json!(1e300),
        serde_json::json!(""),
        serde_json::json!("x"),
        serde_json::json!("-1"),
        serde_json::json!("99999999999999999999"),
        serde_json::json!("1970-01-01T00:00:00Z"),
        serde_json::json!("9999-12-31T23:59:59.999999999Z"),
        serde_json::json!("+275760-09-13T00:00:00Z"),
        serde_json::json!("253402300800.5"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!([1, "a", null, {"b": []}]),
        serde_json::json!("nul\u{0}byte \u{1b}[2J \u{202e}"),
        Value::String("A".repeat(64 << 10)),
        // Past serde_json's recursion limit: refused, never a stack overflow.
        Value::String(deep),
    ]
}

/// JSON pointers to every value in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

fn remove_at(v: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>() {
                if i < a.len() {
                    a.remove(i);
                }
            }
        }
        _ => {}
    }
}

/// One variant line per mutation (with whether it is the deep-nesting one, which is
/// spliced in as raw JSON rather than as a string).
fn json_variants(line: &str) -> Vec<(String, bool)> {
    let v: Value = serde_json::from_str(line).expect("seed lines are JSON");
    let mut ptrs = Vec::new();
    pointers(&v, String::new(), &mut ptrs);
    let absurd = absurd_json_values();
    let deep_index = absurd.len() - 1;
    let mut out = Vec::new();
    for p in &ptrs {
        let mut missing = v.clone();
        remove_at(&mut missing, p);
        out.push((missing.to_string(), false));
        for (n, a) in absurd.iter().enumerate() {
            let mut m = v.clone();
            if let Some(slot) = m.pointer_mut(p) {
                *slot = a.clone();
            }
            let mut text = m.to_string();
            let deep = n == deep_index;
            if let (true, Value::String(raw)) = (deep, a) {
                text = text.replace(&format!("\"{raw}\""), raw);
            }
            out.push((text, deep));
        }
    }
    out
}

#[test]
fn wrong_types_missing_fields_and_absurd_values_in_json() {
    let mut refused_deep = 0;
    for s in seeds().iter().filter(|s| is_json_seed(s)) {
        for (i, line) in lines_of(s).iter().enumerate() {
            let variants = json_variants(line);
            // All of a line's variants in one input: each is a line of its own.
            let (mut data, mut deep) = (Vec::new(), Vec::new());
            for (v, is_deep) in &variants {
                let sink = if *is_deep { &mut deep } else { &mut data };
                sink.extend_from_slice(v.as_bytes());
                sink.push(b'\n');
                decode_direct(s.format, v, &mut TextState::default());
            }
            let what = format!("{} line {}: {} variants", s.name, i + 1, variants.len());
            let (ev, st) = stream(&s.name, data.clone());
            assert_accounted(&what, &s.name, &data, &ev, &st);
            // Nesting past serde_json's recursion limit: refused where a decoder reads
            // the value, skipped over (without recursing) where it does not; either
            // way accounted for, and no stack overflow.
            let (ev, st) = stream(&s.name, deep.clone());
            assert_accounted(&what, &s.name, &deep, &ev, &st);
            refused_deep += st
                .skipped
                .values()
                .flat_map(|sc| &sc.first)
                .filter(|l| l.detail.contains("recursion limit"))
                .count();
        }
    }
    assert!(refused_deep > 0);
}

/// Replacements for one whitespace-separated field of a text record.
fn absurd_text_fields() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "-",
        "-1",
        "0",
        "99999999999999999999",
        "-9223372036854775809",
        "253402300800.999",
        "9999-12-31T23:59:59.999999999Z",
        "1970-01-01T00:00:00Z",
        "1e308",
        "NaN",
        "nul\0byte",
        "\u{1b}[2J",
        "ü€𝄞",
        "=",
        "\"",
        "(",
        "{\"a\":",
        "0x",
        "a=b=c",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("A".repeat(64 << 10));
    v
}

/// `line` with field `i` replaced (and `key=value` fields with only the value replaced).
fn text_variants(line: &str) -> Vec<String> {
    let sep = if line.contains('\t') { '\t' } else { ' ' };
    let fields: Vec<&str> = line.split(sep).collect();
    let absurd = absurd_text_fields();
    let mut out = Vec::new();
    for i in 0..fields.len() {
        let join = |replacement: Option<String>| {
            let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
            match replacement {
                Some(r) => f[i] = r,
                None => {
                    f.remove(i);
                }
            }
            f.join(&sep.to_string())
        };
        out.push(join(None));
        for a in &absurd {
            out.push(join(Some(a.clone())));
            if let Some((k, _)) = fields[i].split_once('=') {
                out.push(join(Some(format!("{k}={a}"))));
            }
        }
    }
    out
}

#[test]
fn wrong_and_absurd_fields_in_text_records() {
    for s in seeds().iter().filter(|s| !is_json_seed(s)) {
        let lines = lines_of(s);
        for (i, line) in lines.iter().enumerate() {
            for (n, v) in text_variants(line).iter().enumerate() {
                let data = with_line(s, i, v.as_bytes());
                let what = format!("{} line {} variant {n}", s.name, i + 1);
                let (ev, st) = stream(&s.name, data.clone());
                assert_accounted(&what, &s.name, &data, &ev, &st);
                // The decoder alone, after the lines before it (headers, open events).
                let mut state = TextState::default();
                let mut sink = Vec::new();
                for (j, before) in lines.iter().take(i).enumerate() {
                    let _ =
                        decode_text_as(s.format, before, &ctx(j as u64 + 1), &mut state, &mut sink);
                }
                decode_direct(s.format, v, &mut state);
            }
        }
    }
}

#[test]
fn deep_nesting_is_refused_by_every_json_decoder_without_overflowing() {
    // Far past any stack: serde_json's recursion limit must stop it.
    let depth = 100_000;
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    for f in Format::ALL.into_iter().filter(|f| decodes_json(*f)) {
        for deep in [&arrays, &objects] {
            let r = decode_json_as(f, deep, &ctx(1), &mut Vec::new());
            assert!(r.is_err(), "{f}");
            // As a field the decoder does not read, it is skipped over (serde_json
            // does that without recursing); the record still lacks what it needs.
            let wrapped = format!("{{\"auditID\":\"x\",\"event_type\":\"flow\",\"x\":{deep}}}");
            let r = decode_json_as(f, &wrapped, &ctx(1), &mut Vec::new());
            assert!(r.is_err(), "{f}: {r:?}");
        }
    }
    // Through the stream: as a line, inside a wrapper, and as a multi-line document.
    for data in [
        format!("{arrays}\n"),
        format!("{{\"items\":{arrays},\"kind\":\"EventList\"}}\n"),
        format!("[\n{arrays}\n]\n"),
    ] {
        let (ev, st) = stream("deep.json", data.clone().into_bytes());
        assert!(ev.is_empty());
        assert_eq!(st.skipped_total(), 1, "{st:#?}");
        let (reason, sc) = st.skipped.iter().next().expect("one skip");
        assert!(
            ["invalid JSON", "unrecognized JSON record"].contains(&reason.as_str()),
            "{st:#?}"
        );
        // A multi-line document is lost whole, located at its first line (its message
        // names the line where it went too deep).
        assert_eq!(sc.first[0].line, 1);
        if data.starts_with("[\n") {
            assert!(
                sc.first[0]
                    .detail
                    .contains("deeper than 128 levels at line 2"),
                "{st:#?}"
            );
        }
    }
}

#[test]
fn a_line_over_the_limit_is_skipped_and_the_next_one_read() {
    let seeds = seeds();
    let docker = seeds
        .iter()
        .find(|s| s.name == "docker-events.jsonl")
        .expect("docker seed");
    let first = lines_of(docker)[0];
    let long = format!("{{\"Type\":\"container\",\"x\":\"{}\"}}", "A".repeat(5000));
    let data = format!("{first}\n{long}\n{first}\n").into_bytes();
    let opts = DecodeOptions {
        max_line_bytes: 4096,
        ..DecodeOptions::default()
    };
    let (ev, st) = stream_with("long.jsonl", data.clone(), opts);
    assert_accounted("long line", "long.jsonl", &data, &ev, &st);
    let sc = &st.skipped["line too long"];
    assert_eq!(sc.count, 1);
    assert_eq!(sc.first[0].line, 2);
    assert_eq!(
        sc.first[0].detail,
        format!("{} bytes, limit 4096", long.len())
    );
    assert_eq!(
        ev.iter().map(|e| e.source.line).collect::<Vec<_>>(),
        vec![1, 3]
    );
}

#[test]
fn a_document_over_the_limit_is_refused_with_its_location() {
    let data = format!(
        "[\n{}\n]\n",
        vec![r#"{"Type":"container","Action":"start","Actor":{"ID":"abc"},"timeNano":5}"#; 200]
            .join(",\n")
    );
    let opts = DecodeOptions {
        max_document_bytes: 1000,
        ..DecodeOptions::default()
    };
    let (ev, st) = stream_with("doc.json", data.into_bytes(), opts);
    assert!(ev.is_empty());
    let sc = &st.skipped["document too large"];
    assert_eq!((sc.count, sc.first[0].line), (1, 1));
    // The whole document, to its closing bracket, and nothing after it.
    assert_eq!(
        sc.first[0].detail,
        "JSON document from line 1 over 1000 bytes; lines 1-202 skipped"
    );
    assert_eq!(st.skipped_total(), 1);
}

/// Every date and epoch in `line` moved: `to` replaces the calendar date, `epoch` the
/// leading digits of epoch seconds and nanoseconds (all seeds are from 2024 or 2026).
fn redate(line: &str, date: &str, epoch: &str) -> String {
    line.replace("2026-11-20", date)
        .replace("2024-10-23", date)
        .replace("17951", epoch)
}

/// Lines of a seed that produce events of their own.
fn eventful_lines(seed: &Seed) -> BTreeSet<u64> {
    let (ev, _) = stream(&seed.name, seed.text.clone().into_bytes());
    ev.iter().map(|e| e.source.line).collect()
}

#[test]
fn timestamps_past_the_representable_range_are_located_skips() {
    // Year 9999, and epochs of about 82 000 years: past i64 nanoseconds (year 2262).
    let mut checked = 0;
    for s in &seeds() {
        // cloud-init banners carry their own date, which rightly wins over a line
        // prefix that disagrees (pre-17.1 prefixes are local time): redating the
        // prefix alone cannot move such a record.
        if s.format == Format::CloudInit {
            continue;
        }
        let eventful = eventful_lines(s);
        for (i, line) in lines_of(s).iter().enumerate() {
            let n = i as u64 + 1;
            let far = redate(line, "9999-12-31", "2534023");
            if far == *line || !eventful.contains(&n) {
                continue;
            }
            let data = with_line(s, i, far.as_bytes());
            let what = format!("{} line {n} dated 9999", s.name);
            let (ev, st) = stream(&s.name, data.clone());
            assert_accounted(&what, &s.name, &data, &ev, &st);
            assert!(
                !ev.iter().any(|e| e.source.line == n),
                "{what}: decoded {ev:#?}"
            );
            let skipped_here: Vec<&String> = st
                .skipped
                .iter()
                .filter(|(_, sc)| sc.first.iter().any(|l| l.line == n))
                .map(|(r, _)| r)
                .collect();
            assert!(!skipped_here.is_empty(), "{what}: {st:#?}");
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked}");
}

#[test]
fn timestamps_in_1970_decode_as_1970() {
    // Whole seeds redated, so records spread over several lines (auditd) stay whole.
    let year_1971 = 365 * 86_400 * 1_000_000_000i64;
    for s in &seeds() {
        // See above: a cloud-init banner's own date wins over its line prefix.
        if s.format == Format::CloudInit {
            continue;
        }
        let (clean, _) = stream(&s.name, s.text.clone().into_bytes());
        let old = redate(&s.text, "1970-01-01", "");
        let what = format!("{} dated 1970", s.name);
        let (ev, st) = stream(&s.name, old.clone().into_bytes());
        assert_accounted(&what, &s.name, old.as_bytes(), &ev, &st);
        assert_eq!(st.skipped_total(), 0, "{what}: {st:#?}");
        assert_eq!(
            ev.iter().map(|e| e.source.line).collect::<Vec<_>>(),
            clean.iter().map(|e| e.source.line).collect::<Vec<_>>(),
            "{what}"
        );
        for e in &ev {
            assert!((0..year_1971).contains(&e.time.0), "{what}: {e:?}");
        }
    }
}
