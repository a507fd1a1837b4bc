//! Zeek `conn.log`, in its default TSV form (columns named by `#fields` header lines)
//! and in its JSON form (`LogAscii::use_json=T`).
//!
//! Every connection record becomes a [`Connection`] from the originator to the
//! responder. Zeek sees traffic from the wire, not from a host, so the record names no
//! container or instance: pullwatch resolves the originator address to a container by
//! address and time, and decides itself which side is the local one.

use crate::flow::proto_name;
use crate::flow::{addr, Flow};
use crate::util::{rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{Event, Format, Ts};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The columns pullwatch reads, as slots into a picked-values array.
const TS: usize = 0;
const ORIG_H: usize = 1;
const ORIG_P: usize = 2;
const RESP_H: usize = 3;
const RESP_P: usize = 4;
const PROTO: usize = 5;
const IP_PROTO: usize = 6;
const SLOTS: usize = 7;

const SLOT_NAMES: [&str; SLOTS] = [
    "ts",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "ip_proto",
];

/// What the header lines of the current log block said. A new `#separator` line starts
/// a new block (logs concatenated with `cat`), and a new `#fields` line replaces the
/// columns, because the columns differ between Zeek versions and loaded scripts.
#[derive(Debug, Default)]
pub struct ZeekState {
    /// `None` until a `#separator` line: Zeek's default is a tab.
    separator: Option<String>,
    /// `None` means Zeek's default `(empty)`.
    empty_field: Option<String>,
    /// `None` means Zeek's default `-`.
    unset_field: Option<String>,
    path: Option<String>,
    columns: Option<Columns>,
}

#[derive(Debug)]
struct Columns {
    /// How many fields a data line has.
    count: usize,
    /// For each column, the slot it fills, if pullwatch reads it.
    slot_of: Vec<Option<usize>>,
}

impl ZeekState {
    fn separator(&self) -> &str {
        self.separator.as_deref().unwrap_or("\t")
    }
}

/// The header directives Zeek writes, each as `#name<separator>value`.
const DIRECTIVES: &[&str] = &[
    "separator",
    "set_separator",
    "empty_field",
    "unset_field",
    "path",
    "open",
    "close",
    "fields",
    "types",
];

/// True for a Zeek ASCII log header line (`#separator \x09`, `#fields\tts\t…`).
pub fn is_header_line(line: &str) -> bool {
    directive(line).is_some()
}

/// True for a default TSV data line: tab-separated, a decimal epoch `ts` first.
pub fn looks_like_record(line: &str) -> bool {
    line.split_once('\t')
        .is_some_and(|(ts, _)| Ts::parse_decimal_secs(ts).is_some())
}

/// The directive name of a header line and the rest of the line after it.
fn directive(line: &str) -> Option<(&'static str, &str)> {
    let body = line.strip_prefix('#')?;
    DIRECTIVES.iter().find_map(|&d| {
        let rest = body.strip_prefix(d)?;
        // The name must end there: `#fieldsX` is not `#fields`.
        match rest.chars().next() {
            None => Some((d, rest)),
            Some(c) if !(c.is_ascii_alphanumeric() || c == '_') => Some((d, rest)),
            Some(_) => None,
        }
    })
}

/// Decodes one line of a TSV conn.log: a header line updates `state`, a data line is
/// read by the column positions the last `#fields` line named.
pub fn decode_tsv(
    line: &str,
    ctx: &RecordCtx,
    state: &mut ZeekState,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    if line.starts_with('#') {
        return header(line, state);
    }
    let cols = state
        .columns
        .as_ref()
        .ok_or_else(|| DecodeError::Invalid("Zeek data line before any #fields header".into()))?;
    let sep = state.separator();
    let mut picked: [Option<&str>; SLOTS] = [None; SLOTS];
    let mut n = 0;
    for (i, value) in line.split(sep).enumerate() {
        if let Some(Some(slot)) = cols.slot_of.get(i) {
            picked[*slot] = Some(value);
        }
        n = i + 1;
    }
    if n != cols.count {
        return Err(DecodeError::Invalid(format!(
            "{n} fields where the #fields header names {}",
            cols.count
        )));
    }
    // Other Zeek logs (dns, http, …) share the framing but are not connections.
    if state.path.as_deref().is_some_and(|p| p != "conn") {
        return Ok(());
    }
    let unset = state.unset_field.as_deref().unwrap_or("-");
    let empty = state.empty_field.as_deref().unwrap_or("(empty)");
    // A column absent from `#fields` reads like an unset one: the record cannot say it.
    let get = |slot: usize| picked[slot].filter(|v| !(*v == unset || *v == empty || v.is_empty()));
    let ts = get(TS).ok_or(DecodeError::Missing("ts"))?;
    let time = Ts::parse_decimal_secs(ts).ok_or_else(|| DecodeError::Time(truncate(ts, 64)))?;
    let fields = Fields {
        orig_h: get(ORIG_H),
        orig_p: get(ORIG_P).map(|p| port(p, ORIG_P)).transpose()?,
        resp_h: get(RESP_H),
        resp_p: get(RESP_P).map(|p| port(p, RESP_P)).transpose()?,
        proto: get(PROTO),
        ip_proto: get(IP_PROTO)
            .map(|p| {
                p.parse::<u8>().map_err(|_| {
                    DecodeError::Invalid(format!(
                        "ip_proto: not a protocol number: {}",
                        truncate(p, 32)
                    ))
                })
            })
            .transpose()?,
    };
    emit(time, &fields, ctx, out)
}

fn port(s: &str, slot: usize) -> Result<u16, DecodeError> {
    s.parse().map_err(|_| {
        DecodeError::Invalid(format!(
            "{}: not a port: {}",
            SLOT_NAMES[slot],
            truncate(s, 32)
        ))
    })
}

fn header(line: &str, state: &mut ZeekState) -> Result<(), DecodeError> {
    let (name, rest) = directive(line).ok_or_else(|| {
        DecodeError::Invalid(format!("not a Zeek header line: {}", truncate(line, 40)))
    })?;
    if name == "separator" {
        // The one directive written before the separator is known: a space, then the
        // separator with its bytes escaped (`\x09`).
        let sep = unescape(rest.trim_start_matches([' ', '\t']));
        if sep.is_empty() {
            return Err(DecodeError::Invalid("#separator names no separator".into()));
        }
        *state = ZeekState {
            separator: Some(sep),
            ..ZeekState::default()
        };
        return Ok(());
    }
    let value = match rest.strip_prefix(state.separator()) {
        Some(v) => v,
        None if rest.is_empty() => "",
        None => {
            return Err(DecodeError::Invalid(format!(
                "#{name} is not followed by the separator {:?}",
                state.separator()
            )))
        }
    };
    match name {
        "empty_field" => state.empty_field = Some(value.to_string()),
        "unset_field" => state.unset_field = Some(value.to_string()),
        "path" => state.path = Some(value.to_string()),
        "fields" => {
            let sep = state.separator().to_string();
            let mut slot_of = Vec::new();
            for f in value.split(sep.as_str()) {
                slot_of.push(SLOT_NAMES.iter().position(|s| *s == f));
            }
            state.columns = Some(Columns {
                count: slot_of.len(),
                slot_of,
            });
        }
        // `set_separator` only matters inside set values, which pullwatch does not
        // read; `open`, `close` and `types` carry nothing it needs.
        _ => {}
    }
    Ok(())
}

/// Decodes Zeek's `\xHH` escapes (the form `#separator` is written in).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.get(..2).and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if b.is_ascii() => {
                out.push(char::from(b));
                rest = &after[2..];
            }
            _ => {
                out.push_str("\\x");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

struct Fields<'a> {
    orig_h: Option<&'a str>,
    orig_p: Option<u16>,
    resp_h: Option<&'a str>,
    resp_p: Option<u16>,
    proto: Option<&'a str>,
    ip_proto: Option<u8>,
}

fn emit(time: Ts, f: &Fields, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let dst = addr(
        f.resp_h.ok_or(DecodeError::Missing("id.resp_h"))?,
        "id.resp_h",
    )?;
    let src = f.orig_h.map(|s| addr(s, "id.orig_h")).transpose()?;
    let proto = match (f.proto, f.ip_proto) {
        // Zeek names only tcp, udp and icmp; newer versions give the number beside.
        (Some(p), Some(n)) if p.eq_ignore_ascii_case("unknown_transport") => Some(proto_name(n)),
        (Some(p), _) => Some(p.to_ascii_lowercase()),
        (None, Some(n)) => Some(proto_name(n)),
        (None, None) => None,
    };
    crate::flow::push(
        out,
        time,
        ctx.source(Format::ZeekConn),
        Flow {
            src,
            src_port: f.orig_p,
            dst,
            dst_port: f.resp_p,
            proto,
            instance_id: None,
        },
    );
    Ok(())
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    ts: Option<&'a RawValue>,
    /// Written by some log shippers that merge every Zeek log into one stream.
    #[serde(rename = "_path", borrow)]
    path: Option<Text<'a>>,
    #[serde(rename = "id.orig_h", borrow)]
    orig_h: Option<Text<'a>>,
    #[serde(rename = "id.orig_p")]
    orig_p: Option<u16>,
    #[serde(rename = "id.resp_h", borrow)]
    resp_h: Option<Text<'a>>,
    #[serde(rename = "id.resp_p")]
    resp_p: Option<u16>,
    #[serde(borrow)]
    proto: Option<Text<'a>>,
    ip_proto: Option<u8>,
}

/// Decodes one JSON conn.log record. Unset fields are simply absent.
pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    let ts = w.ts.ok_or(DecodeError::Missing("ts"))?;
    if w.resp_h.is_none() {
        return Err(DecodeError::Missing("id.resp_h"));
    }
    if w.path.as_deref().is_some_and(|p| p != "conn") {
        return Ok(());
    }
    let time = json_ts(ts.get())?;
    let fields = Fields {
        orig_h: w.orig_h.as_deref(),
        orig_p: w.orig_p,
        resp_h: w.resp_h.as_deref(),
        resp_p: w.resp_p,
        proto: w.proto.as_deref(),
        ip_proto: w.ip_proto,
    };
    emit(time, &fields, ctx, out)
}

/// `ts` as Zeek's `json_timestamps` option writes it: epoch seconds as a number (the
/// default), an ISO 8601 string, or integer epoch milliseconds (`TS_MILLIS`). The
/// number is read from its text, never through a float, so microseconds stay exact.
fn json_ts(raw: &str) -> Result<Ts, DecodeError> {
    let raw = raw.trim();
    let bad = || DecodeError::Time(truncate(raw, 64));
    if raw.starts_with('"') {
        let s: Cow<str> = serde_json::from_str(raw).map_err(|_| bad())?;
        return match Ts::parse_decimal_secs(&s) {
            Some(t) => Ok(t),
            None => rfc3339(&s),
        };
    }
    let integer = raw.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if integer {
        let n: i64 = raw.parse().map_err(|_| bad())?;
        // Epoch seconds reach 10^11 only in the year 5138: larger integers are
        // milliseconds.
        return if n.unsigned_abs() >= 100_000_000_000 {
            Ts::from_millis(n).ok_or_else(bad)
        } else {
            Ts::from_secs(n).ok_or_else(bad)
        };
    }
    decimal_from_json_number(raw)
        .and_then(|d| Ts::parse_decimal_secs(&d))
        .ok_or_else(bad)
}

/// Rewrites a JSON number with an exponent (`1.7253903225e9`, as some re-serializers
/// write it) into plain decimal notation, shifting digits instead of computing.
fn decimal_from_json_number(raw: &str) -> Option<String> {
    let (neg, body) = match raw.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, raw),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (
            &body[..i],
            body[i + 1..].trim_start_matches('+').parse::<i32>().ok()?,
        ),
        None => (body, 0),
    };
    // Far beyond any time an i64 of nanoseconds can hold.
    if exp.abs() > 40 {
        return None;
    }
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = [int, frac].concat();
    let point = int.len() as i32 + exp;
    let mut s = String::with_capacity(digits.len() + 44);
    if neg {
        s.push('-');
    }
    if point <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', point.unsigned_abs() as usize));
        s.push_str(&digits);
    } else if point as usize >= digits.len() {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        let (a, b) = digits.split_at(point as usize);
        s.push_str(a);
        s.push('.');
        s.push_str(b);
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeOptions, DecodeStats, EventStream};
    use pullwatch_model::{Connection, EventKind, Placement};
    use std::net::IpAddr;

    use crate::test_support::ctx;

    fn conn(e: &Event) -> &Connection {
        match &e.kind {
            EventKind::Connection(c) => c,
            other => panic!("not a connection: {other:?}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn stream(data: &str) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data.as_bytes().to_vec())
    }

    const HEAD: &str = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2024-03-01-10-00-00\n";

    #[test]
    fn tsv_by_fields_header_with_exact_microseconds() {
        let data = format!(
            "{HEAD}#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tconn_state\n\
             #types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tstring\n\
             1700000000.000001\tCabc\t10.1.2.3\t40000\t198.51.100.7\t443\ttcp\tssl\tSF\n\
             1521911721.255387\tCdef\tfd00::5\t5353\t2001:db8::1\t53\tUDP\tdns\tS0\n\
             #close\t2024-03-01-11-00-00\n"
        );
        let (ev, st) = stream(&data);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].time, Ts(1_700_000_000_000_001_000));
        assert_eq!(ev[1].time, Ts(1_521_911_721_255_387_000));
        assert_eq!(ev[0].source.line, 9);
        assert_eq!(ev[0].source.format, Format::ZeekConn);
        let c = conn(&ev[0]);
        assert_eq!(c.placement, Placement::Unresolved { host: None });
        assert_eq!(c.src, Some(ip("10.1.2.3")));
        assert_eq!(c.src_port, Some(40000));
        assert_eq!(c.dst, ip("198.51.100.7"));
        assert_eq!(c.dst_port, Some(443));
        assert_eq!(c.proto.as_deref(), Some("tcp"));
        assert_eq!(c.instance_id, None);
        let c = conn(&ev[1]);
        assert_eq!(c.src, Some(ip("fd00::5")));
        assert_eq!(c.dst, ip("2001:db8::1"));
        assert_eq!(c.proto.as_deref(), Some("udp"));
    }

    #[test]
    fn community_id_column_moves_the_others() {
        let data = format!(
            "{HEAD}#fields\tts\tuid\tcommunity_id\tid.resp_p\tid.orig_h\tid.orig_p\tid.resp_h\tproto\tip_proto\n\
             1700000000.5\tCx\t1:LQU9qZlK+B5F3KDmev6m5PMibrg=\t8080\t172.17.0.2\t51000\t203.0.113.9\ttcp\t6\n"
        );
        let (ev, st) = stream(&data);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].time, Ts(1_700_000_000_500_000_000));
        let c = conn(&ev[0]);
        assert_eq!(c.src, Some(ip("172.17.0.2")));
        assert_eq!(c.src_port, Some(51000));
        assert_eq!(c.dst, ip("203.0.113.9"));
        assert_eq!(c.dst_port, Some(8080));
    }

    #[test]
    fn unset_and_empty_fields_are_absent() {
        let mut st = ZeekState::default();
        let mut out = Vec::new();
        for h in HEAD.lines() {
            decode_tsv(h, &ctx(), &mut st, &mut out).unwrap();
        }
        decode_tsv(
            "#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\ttunnel_parents",
            &ctx(),
            &mut st,
            &mut out,
        )
        .unwrap();
        decode_tsv(
            "1.000001\t10.0.0.1\t-\t10.0.0.2\t-\t-\t(empty)",
            &ctx(),
            &mut st,
            &mut out,
        )
        .unwrap();
        decode_tsv(
            "2\t10.0.0.1\t1\t10.0.0.2\t2\t(empty)\t(empty)",
            &ctx(),
            &mut st,
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].time, Ts(1_000_001_000));
        let c = conn(&out[0]);
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, None, None)
        );
        let c = conn(&out[1]);
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (Some(1), Some(2), None)
        );
        // An unset responder or time makes the record useless: a located error.
        assert_eq!(
            decode_tsv(
                "3\t10.0.0.1\t1\t-\t2\ttcp\t(empty)",
                &ctx(),
                &mut st,
                &mut out
            ),
            Err(DecodeError::Missing("id.resp_h"))
        );
        assert_eq!(
            decode_tsv(
                "-\t10.0.0.1\t1\t10.0.0.3\t2\ttcp\t(empty)",
                &ctx(),
                &mut st,
                &mut out
            ),
            Err(DecodeError::Missing("ts"))
        );
        assert!(matches!(
            decode_tsv(
                "1.5e9\t10.0.0.1\t1\t10.0.0.3\t2\ttcp\t(empty)",
                &ctx(),
                &mut st,
                &mut out
            ),
            Err(DecodeError::Time(_))
        ));
        assert!(matches!(
            decode_tsv("3\t10.0.0.1\t99999\t10.0.0.3\t2\ttcp\t(empty)", &ctx(), &mut st, &mut out),
            Err(DecodeError::Invalid(m)) if m.contains("id.orig_p")
        ));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn custom_markers_and_separator_are_honoured() {
        let mut st = ZeekState::default();
        let mut out = Vec::new();
        for h in [
            "#separator \\x2c",
            "#unset_field,NONE",
            "#empty_field,EMPTY",
            "#path,conn",
            "#fields,ts,id.orig_h,id.orig_p,id.resp_h,id.resp_p,proto",
        ] {
            decode_tsv(h, &ctx(), &mut st, &mut out).unwrap();
        }
        decode_tsv(
            "5.25,10.0.0.1,NONE,10.0.0.2,80,EMPTY",
            &ctx(),
            &mut st,
            &mut out,
        )
        .unwrap();
        let c = conn(&out[0]);
        assert_eq!(out[0].time, Ts(5_250_000_000));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, Some(80), None)
        );
        // `-` is an ordinary (bad) value once another unset marker is declared.
        assert!(decode_tsv("5.25,10.0.0.1,-,10.0.0.2,80,tcp", &ctx(), &mut st, &mut out).is_err());
        // A tab instead of the space after `#separator` still names a tab.
        decode_tsv("#separator\t\\x09", &ctx(), &mut st, &mut out).unwrap();
        assert_eq!(st.separator(), "\t");
        assert!(st.columns.is_none(), "a new block forgets the old columns");
    }

    #[test]
    fn icmp_type_and_code_are_not_ports() {
        let data = format!(
            "{HEAD}#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n1\t10.0.0.1\t8\t10.0.0.2\t0\ticmp\n"
        );
        let (ev, _) = stream(&data);
        let c = conn(&ev[0]);
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, None, Some("icmp"))
        );
    }

    #[test]
    fn other_logs_blocks_and_framing_errors() {
        // A dns.log and a conn.log concatenated: the second block's header replaces the
        // first, and only the conn block emits.
        let dns = "#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tquery\n\
                   10\tC1\t10.0.0.1\t5000\t10.0.0.53\t53\tudp\texample.com\n";
        let conn_block = "#separator \\x09\n#path\tconn\n#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n\
                          11\t10.0.0.1\t5001\t10.0.0.54\t53\tudp\n";
        let (ev, st) = stream(&format!("{dns}{conn_block}"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 1);
        assert_eq!(conn(&ev[0]).dst, ip("10.0.0.54"));
        assert_eq!(ev[0].source.line, 8);

        // Data before any #fields header, and a line with the wrong number of fields.
        let (ev, st) = stream(
            "1700000000.1\t10.0.0.1\t1\t10.0.0.2\t2\ttcp\n#separator \\x09\n#fields\tts\tid.orig_h\tid.resp_h\n1\t10.0.0.1\n",
        );
        assert!(ev.is_empty());
        let before = &st.skipped["zeek-conn: invalid record"];
        assert_eq!(before.count, 2);
        assert_eq!(before.first[0].line, 1);
        assert_eq!(
            before.first[0].detail,
            "Zeek data line before any #fields header"
        );
        assert_eq!(before.first[1].line, 4);
        assert_eq!(
            before.first[1].detail,
            "2 fields where the #fields header names 3"
        );

        let mut st = ZeekState::default();
        assert!(decode_tsv("#comment\tx", &ctx(), &mut st, &mut Vec::new()).is_err());
        assert!(decode_tsv("#fieldsx\tts", &ctx(), &mut st, &mut Vec::new()).is_err());
        assert!(decode_tsv("#separator ", &ctx(), &mut st, &mut Vec::new()).is_err());
        assert!(
            is_header_line("#close\t2020")
                && is_header_line("#separator \\x09")
                && !is_header_line("#x")
        );
    }

    fn one_json(s: &str) -> Event {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        assert_eq!(out.len(), 1, "{s}");
        out.remove(0)
    }

    #[test]
    fn json_with_missing_optional_fields() {
        let e = one_json(
            r#"{"ts":1725390322.524353,"uid":"C1","id.orig_h":"10.0.0.9","id.resp_h":"93.184.216.34","conn_state":"S0"}"#,
        );
        assert_eq!(e.time, Ts(1_725_390_322_524_353_000));
        let c = conn(&e);
        assert_eq!(c.src, Some(ip("10.0.0.9")));
        assert_eq!(c.dst, ip("93.184.216.34"));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, None, None)
        );
        let e = one_json(
            r#"{"ts":1725390322.1,"id.orig_h":"10.0.0.9","id.orig_p":4444,"id.resp_h":"10.0.0.1","id.resp_p":22,"proto":"tcp","local_orig":true}"#,
        );
        let c = conn(&e);
        assert_eq!(e.time, Ts(1_725_390_322_100_000_000));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (Some(4444), Some(22), Some("tcp"))
        );
    }

    #[test]
    fn json_timestamp_forms_are_exact() {
        let rec =
            |ts: &str| format!(r#"{{"ts":{ts},"id.orig_h":"10.0.0.9","id.resp_h":"10.0.0.1"}}"#);
        assert_eq!(
            one_json(&rec("\"2024-09-03T19:05:22.524353Z\"")).time,
            Ts(1_725_390_322_524_353_000)
        );
        assert_eq!(
            one_json(&rec("1725390322524")).time,
            Ts(1_725_390_322_524_000_000)
        );
        assert_eq!(
            one_json(&rec("1725390322")).time,
            Ts(1_725_390_322_000_000_000)
        );
        assert_eq!(
            one_json(&rec("1.725390322524353e9")).time,
            Ts(1_725_390_322_524_353_000)
        );
        assert_eq!(
            one_json(&rec("1.725390322524353E+09")).time,
            Ts(1_725_390_322_524_353_000)
        );
        assert_eq!(
            one_json(&rec("629503200.0")).time,
            Ts(629_503_200_000_000_000)
        );
        assert_eq!(one_json(&rec("5e-1")).time, Ts(500_000_000));
        let mut out = Vec::new();
        assert!(matches!(
            decode_json(&rec("1e400"), &ctx(), &mut out),
            Err(DecodeError::Time(_))
        ));
        assert!(matches!(
            decode_json(&rec("\"soon\""), &ctx(), &mut out),
            Err(DecodeError::Time(_))
        ));
    }

    #[test]
    fn json_of_other_logs_or_formats() {
        let mut out = Vec::new();
        decode_json(
            r#"{"_path":"dns","ts":1.0,"id.orig_h":"10.0.0.9","id.resp_h":"10.0.0.1","query":"x"}"#,
            &ctx(),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        assert_eq!(
            decode_json(r#"{"ts":1.0,"id.orig_h":"10.0.0.9"}"#, &ctx(), &mut out),
            Err(DecodeError::Missing("id.resp_h"))
        );
        assert_eq!(
            decode_json(
                r#"{"id.orig_h":"10.0.0.9","id.resp_h":"10.0.0.1"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("ts"))
        );
        assert!(decode_json(
            r#"{"ts":1.0,"id.orig_h":"10.0.0.9","id.resp_h":"nope"}"#,
            &ctx(),
            &mut out
        )
        .is_err());
    }

    #[test]
    fn exponent_rewriting() {
        assert_eq!(decimal_from_json_number("1.5e3").as_deref(), Some("1500"));
        assert_eq!(
            decimal_from_json_number("-1.5e-2").as_deref(),
            Some("-0.015")
        );
        assert_eq!(decimal_from_json_number("12.5").as_deref(), Some("12.5"));
        assert_eq!(decimal_from_json_number("e5"), None);
        assert_eq!(decimal_from_json_number("1.x"), None);
    }

    fn sample_stream(path: &std::path::Path) -> (Vec<Event>, DecodeStats) {
        let input = crate::open_path(path).unwrap();
        let mut s = EventStream::new(input, DecodeOptions::default());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 64).unwrap() {}
        (out, stats)
    }

    /// brimdata/zed's TSV conn.log (a real 2018 capture) and ocsf/examples' JSON one.
    #[test]
    fn shared_samples() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/zeek");
        if !dir.is_dir() {
            eprintln!("skipped: shared samples not present at {}", dir.display());
            return;
        }
        let (ev, st) = sample_stream(&dir.join("conn.log"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 92);
        // 8 header lines and 92 records.
        assert_eq!(st.formats[&Format::ZeekConn].records, 100);
        assert_eq!(ev[0].source.line, 9);
        assert_eq!(ev[0].time, Ts(1_521_911_721_255_387_000));
        let c = conn(&ev[0]);
        assert_eq!(c.src, Some(ip("10.164.94.120")));
        assert_eq!(c.src_port, Some(39681));
        assert_eq!(c.dst, ip("10.47.3.155"));
        assert_eq!(c.dst_port, Some(3389));
        assert_eq!(c.proto.as_deref(), Some("tcp"));
        let last = ev.last().unwrap();
        assert_eq!(last.time, Ts(1_521_911_720_664_900_000));
        let c = conn(last);
        assert_eq!(
            (c.src, c.dst, c.dst_port),
            (Some(ip("10.164.94.120")), ip("10.47.3.200"), Some(80))
        );

        let (ev, st) = sample_stream(&dir.join("json/conn.log"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 1250);
        assert_eq!(ev[0].time, Ts(629_503_200_000_000_000));
        let c = conn(&ev[0]);
        assert_eq!((c.src, c.src_port), (Some(ip("10.0.0.1")), Some(62673)));
        assert_eq!(
            (c.dst, c.dst_port, c.proto.as_deref()),
            (ip("8.8.8.8"), Some(53), Some("udp"))
        );
        let last = ev.last().unwrap();
        assert_eq!(last.source.line, 1250);
        assert_eq!(last.time, Ts(1_725_390_322_524_353_000));
        let c = conn(last);
        assert_eq!(
            (c.src_port, c.dst, c.dst_port),
            (Some(51732), ip("127.0.0.1"), Some(5432))
        );
        let by_proto = |p: &str| {
            ev.iter()
                .filter(|e| conn(e).proto.as_deref() == Some(p))
                .count()
        };
        assert_eq!(
            (by_proto("tcp"), by_proto("udp"), by_proto("icmp")),
            (532, 641, 77)
        );
        assert!(ev
            .iter()
            .filter(|e| conn(e).proto.as_deref() == Some("icmp"))
            .all(|e| conn(e).dst_port.is_none()));
    }
}
