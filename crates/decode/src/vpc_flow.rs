//! AWS VPC Flow Logs: the default version 2 format and custom formats, whose fields are
//! named by the header line that S3 delivery writes at the top of every file.
//!
//! A flow record is seen from a network interface, not from a process: it becomes a
//! [`Connection`] that pullwatch places by the instance id (custom formats) or by the
//! source address and time.
//!
//! Rejected flows (`action` REJECT) are emitted like accepted ones. The model has no
//! field for the verdict, and a rejected attempt is still the workload reaching out:
//! blocked egress right after an untrusted image starts is exactly what the detection
//! looks for, so dropping it would hide the strongest signal.

use crate::flow::{is_icmp, proto_name, Flow};
use crate::util::truncate;
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{Event, Format, Ts};
use std::net::IpAddr;

/// The fields pullwatch reads, as slots into a picked-values array.
const SRCADDR: usize = 0;
const DSTADDR: usize = 1;
const PKT_SRCADDR: usize = 2;
const PKT_DSTADDR: usize = 3;
const SRCPORT: usize = 4;
const DSTPORT: usize = 5;
const PROTOCOL: usize = 6;
const START: usize = 7;
const END: usize = 8;
const INSTANCE_ID: usize = 9;
const LOG_STATUS: usize = 10;
const SLOTS: usize = 11;

const SLOT_NAMES: [&str; SLOTS] = [
    "srcaddr",
    "dstaddr",
    "pkt-srcaddr",
    "pkt-dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "start",
    "end",
    "instance-id",
    "log-status",
];

/// The default format, used for header-less lines of its shape (CloudWatch Logs
/// delivery writes no header).
const V2_FIELDS: [&str; 14] = [
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The columns named by the input's last header line.
#[derive(Debug, Default)]
pub struct VpcState {
    columns: Option<Columns>,
}

#[derive(Debug)]
struct Columns {
    count: usize,
    /// For each column, the slot it fills, if pullwatch reads it.
    slot_of: Vec<Option<usize>>,
}

impl Columns {
    fn from_names<'a>(names: impl Iterator<Item = &'a str>) -> Columns {
        let slot_of: Vec<Option<usize>> = names
            .map(|n| {
                // Athena and Parquet exports spell the names with underscores.
                let n = n.replace('_', "-");
                SLOT_NAMES.iter().position(|s| *s == n)
            })
            .collect();
        Columns {
            count: slot_of.len(),
            slot_of,
        }
    }

    fn has(&self, slot: usize) -> bool {
        self.slot_of.contains(&Some(slot))
    }
}

/// True for a header line naming the fields (`version account-id … srcaddr …`): every
/// word is a field name, and one of them is an address.
pub fn looks_like_header(line: &str) -> bool {
    let mut words = 0;
    let mut addr = false;
    for w in line.split_ascii_whitespace() {
        let b = w.as_bytes();
        let name_char =
            |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_';
        if !(b.first().is_some_and(u8::is_ascii_lowercase) && b.iter().all(name_char)) {
            return false;
        }
        words += 1;
        addr |= w.ends_with("srcaddr") || w.ends_with("dstaddr");
    }
    words >= 2 && addr
}

/// True for a header-less data line of the default format: a version number first and
/// at least as many fields as version 2 has.
pub fn looks_like_default_record(line: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    words
        .next()
        .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))
        && words.count() >= V2_FIELDS.len() - 1
}

/// Decodes one line: a header replaces the columns, a record is read by them.
pub fn decode_text(
    line: &str,
    ctx: &RecordCtx,
    state: &mut VpcState,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    if line.starts_with('#') {
        return Err(DecodeError::Invalid(
            "a comment or another log's header line".into(),
        ));
    }
    if looks_like_header(line) {
        state.columns = Some(Columns::from_names(line.split_ascii_whitespace()));
        return Ok(());
    }
    let n = line.split_ascii_whitespace().count();
    let v2;
    let cols = match &state.columns {
        Some(c) if c.count == n => c,
        // A default-format file concatenated after a custom one, or no header at all.
        _ if n == V2_FIELDS.len() && looks_like_default_record(line) => {
            v2 = Columns::from_names(V2_FIELDS.into_iter());
            &v2
        }
        Some(c) => {
            return Err(DecodeError::Invalid(format!(
                "{n} fields where the header line names {}",
                c.count
            )))
        }
        None => {
            return Err(DecodeError::Invalid(format!(
                "{n} fields without a header line naming them (not the 14 of the default format)"
            )))
        }
    };
    let mut picked: [Option<&str>; SLOTS] = [None; SLOTS];
    for (i, w) in line.split_ascii_whitespace().enumerate() {
        if let Some(Some(slot)) = cols.slot_of.get(i) {
            if w != "-" {
                picked[*slot] = Some(w);
            }
        }
    }
    // Capture windows with no traffic, or records the service had to drop.
    if matches!(picked[LOG_STATUS], Some("NODATA" | "SKIPDATA")) {
        return Ok(());
    }
    let time_field = if cols.has(START) { START } else { END };
    let secs = picked[time_field].ok_or(DecodeError::Missing("start"))?;
    let time = secs
        .parse::<i64>()
        .ok()
        .and_then(Ts::from_secs)
        .ok_or_else(|| DecodeError::Time(truncate(secs, 32)))?;
    // Behind a NAT gateway or a secondary interface, srcaddr/dstaddr are the interface's
    // view; the pkt-* fields carry the addresses the packets really had.
    let dst = picked[PKT_DSTADDR]
        .or(picked[DSTADDR])
        .ok_or(DecodeError::Missing("dstaddr"))?;
    let dst = addr(dst, DSTADDR)?;
    let src = picked[PKT_SRCADDR]
        .or(picked[SRCADDR])
        .map(|s| addr(s, SRCADDR))
        .transpose()?;
    let proto = picked[PROTOCOL]
        .map(|p| {
            p.parse::<u8>().map(proto_name).map_err(|_| {
                DecodeError::Invalid(format!(
                    "protocol: not a protocol number: {}",
                    truncate(p, 32)
                ))
            })
        })
        .transpose()?;
    let icmp = proto.as_deref().is_some_and(is_icmp);
    let port = |slot: usize| -> Result<Option<u16>, DecodeError> {
        match picked[slot] {
            // ICMP flows are logged with ports 0: they have none.
            Some(_) if icmp => Ok(None),
            Some(p) => p.parse().map(Some).map_err(|_| {
                DecodeError::Invalid(format!(
                    "{}: not a port: {}",
                    SLOT_NAMES[slot],
                    truncate(p, 32)
                ))
            }),
            None => Ok(None),
        }
    };
    crate::flow::push(
        out,
        time,
        ctx.source(Format::VpcFlow),
        Flow {
            src,
            src_port: port(SRCPORT)?,
            dst,
            dst_port: port(DSTPORT)?,
            proto,
            instance_id: picked[INSTANCE_ID].map(str::to_string),
        },
    );
    Ok(())
}

fn addr(s: &str, slot: usize) -> Result<IpAddr, DecodeError> {
    crate::flow::addr(s, SLOT_NAMES[slot])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeOptions, DecodeStats, EventStream, Input};
    use pullwatch_model::{Connection, EventKind, Placement};
    use std::net::IpAddr;

    use std::sync::Arc;

    fn conn(e: &Event) -> &Connection {
        match &e.kind {
            EventKind::Connection(c) => c,
            other => panic!("not a connection: {other:?}"),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn run(input: Input) -> (Vec<Event>, DecodeStats) {
        let mut s = EventStream::new(input, DecodeOptions::default());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        (out, stats)
    }

    fn stream(data: &str) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data.as_bytes().to_vec())
    }

    #[test]
    fn custom_format_with_instance_id_and_packet_addresses() {
        let data = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status\n\
            3 vpc-0a1b2c3d subnet-0a1b2c3d i-0abcdef1234567890 eni-0a1b2c3d4e5f60708 123456789012 IPv4 10.0.1.17 10.0.0.220 43418 443 172.17.0.5 203.0.113.50 6 5720 12 1700000100 1700000160 ACCEPT 19 OK\n\
            3 vpc-0a1b2c3d subnet-0a1b2c3d - eni-0a1b2c3d4e5f60709 123456789012 IPv4 10.0.1.17 203.0.113.50 43418 443 - - 6 5720 12 1700000101 1700000160 REJECT 2 OK\n";
        let (ev, st) = stream(data);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].time, Ts::from_secs(1_700_000_100).unwrap());
        assert_eq!(ev[0].source.line, 2);
        assert_eq!(ev[0].source.format, Format::VpcFlow);
        let c = conn(&ev[0]);
        assert_eq!(c.placement, Placement::Unresolved { host: None });
        assert_eq!(c.instance_id.as_deref(), Some("i-0abcdef1234567890"));
        // pkt-* wins over the interface's view.
        assert_eq!(c.src, Some(ip("172.17.0.5")));
        assert_eq!(c.dst, ip("203.0.113.50"));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (Some(43418), Some(443), Some("tcp"))
        );
        // `-` instance and pkt-* fall back; REJECT still emits.
        let c = conn(&ev[1]);
        assert_eq!(c.instance_id, None);
        assert_eq!((c.src, c.dst), (Some(ip("10.0.1.17")), ip("203.0.113.50")));
    }

    #[test]
    fn lines_led_by_an_instance_id_follow_their_header() {
        // Nothing in these data lines looks like VPC Flow Logs on its own: the header
        // line does, and the stream keeps trying the format that decoded it.
        let data = "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr start\n\
                    - eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5 1700000000\n\
                    i-01234567890123456 eni-1111aaaa2222bbbb3 10.0.1.5 203.0.113.5 10.0.1.5 203.0.113.5 1700000001\n";
        let (ev, st) = stream(data);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 2);
        assert_eq!(conn(&ev[0]).instance_id, None);
        assert_eq!(conn(&ev[0]).dst, ip("203.0.113.5"));
        assert_eq!(
            conn(&ev[1]).instance_id.as_deref(),
            Some("i-01234567890123456")
        );
        assert_eq!(ev[1].source.line, 3);
    }

    #[test]
    fn sniffing_text_lines() {
        let mut c = Vec::new();
        crate::sniff::text_candidates(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol",
            &mut c,
        );
        assert_eq!(c, vec![Format::VpcFlow]);
        crate::sniff::text_candidates(
            "2 123456789010 eni-1 1.2.3.4 5.6.7.8 1 2 6 20 4249 1418530010 1418530070 ACCEPT OK",
            &mut c,
        );
        assert_eq!(c, vec![Format::VpcFlow]);
        crate::sniff::text_candidates("2 123456789010 eni-1 1.2.3.4 5.6.7.8", &mut c);
        assert!(c.is_empty());
        crate::sniff::text_candidates("#separator \\x09", &mut c);
        assert_eq!(c, vec![Format::ZeekConn]);
        crate::sniff::text_candidates("#fields\tts\tuid", &mut c);
        assert_eq!(c, vec![Format::ZeekConn]);
        crate::sniff::text_candidates(
            "1521911721.255387\tC8Tful1TvM3Zf5x8fl\t10.164.94.120",
            &mut c,
        );
        assert_eq!(c, vec![Format::ZeekConn]);
        crate::sniff::text_candidates("# a comment", &mut c);
        assert!(c.is_empty());
    }

    #[test]
    fn headerless_v2_and_nodata() {
        let data = "2 123456789012 eni-0a1b2c3d - - - - - - - 1431280876 1431280934 - NODATA\n\
                    2 123456789012 eni-0a1b2c3d 10.0.0.5 198.51.100.1 50000 53 17 1 70 1700000000 1700000060 ACCEPT OK\n\
                    2 123456789012 eni-0a1b2c3d - - - - - - - 1431280876 1431280934 - SKIPDATA\n\
                    2 123456789012 eni-0a1b2c3d 2001:db8::5 2001:db8::6 0 0 58 1 70 1700000001 1700000060 ACCEPT OK\n\
                    2 123456789012 eni-0a1b2c3d 10.0.0.5 198.51.100.1 0 0 47 1 70 1700000002 1700000060 ACCEPT OK\n";
        let (ev, st) = stream(data);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::VpcFlow].records, 5);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[0].source.line, 2);
        let c = conn(&ev[0]);
        assert_eq!((c.src, c.dst), (Some(ip("10.0.0.5")), ip("198.51.100.1")));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (Some(50000), Some(53), Some("udp"))
        );
        assert_eq!(c.instance_id, None);
        let c = conn(&ev[1]);
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, None, Some("ipv6-icmp"))
        );
        assert_eq!(conn(&ev[2]).proto.as_deref(), Some("47"));
        assert_eq!(conn(&ev[2]).src_port, Some(0));
    }

    #[test]
    fn bad_records_are_located_errors() {
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut st = VpcState::default();
        let mut out = Vec::new();
        // Without a header, only the default format's shape is known.
        assert!(decode_text("- eni-1 10.0.0.1 10.0.0.2", &ctx, &mut st, &mut out).is_err());
        decode_text(
            "instance-id srcaddr dstaddr protocol",
            &ctx,
            &mut st,
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        // Another log's header line never reads as a record of this one.
        assert!(decode_text(
            "#fields ts id.orig_h id.resp_h protocol",
            &ctx,
            &mut st,
            &mut out
        )
        .is_err());
        // No start (nor end) field: the record has no time.
        assert_eq!(
            decode_text("i-1 10.0.0.1 10.0.0.2 6", &ctx, &mut st, &mut out),
            Err(DecodeError::Missing("start"))
        );
        decode_text("srcaddr dstaddr end protocol", &ctx, &mut st, &mut out).unwrap();
        decode_text("10.0.0.1 10.0.0.2 1700000000 6", &ctx, &mut st, &mut out).unwrap();
        assert_eq!(out[0].time, Ts::from_secs(1_700_000_000).unwrap());
        assert!(decode_text("10.0.0.1 10.0.0.2 1700000000", &ctx, &mut st, &mut out).is_err());
        assert!(matches!(
            decode_text("10.0.0.1 10.0.0.2 soon 6", &ctx, &mut st, &mut out),
            Err(DecodeError::Time(_))
        ));
        assert!(matches!(
            decode_text("10.0.0.1 nowhere 1700000000 6", &ctx, &mut st, &mut out),
            Err(DecodeError::Invalid(m)) if m.starts_with("dstaddr")
        ));
        assert_eq!(
            decode_text("10.0.0.1 - 1700000000 6", &ctx, &mut st, &mut out),
            Err(DecodeError::Missing("dstaddr"))
        );
        assert!(decode_text("10.0.0.1 10.0.0.2 1700000000 tcp", &ctx, &mut st, &mut out).is_err());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn header_shapes() {
        assert!(looks_like_header(
            "version account-id interface-id srcaddr dstaddr"
        ));
        assert!(looks_like_header(
            "instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr"
        ));
        assert!(looks_like_header("version account_id srcaddr"));
        assert!(!looks_like_header("version account-id interface-id"));
        assert!(!looks_like_header("- eni-1 10.0.0.1 srcaddr"));
        assert!(!looks_like_header("srcaddr"));
        let mut st = VpcState::default();
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut out = Vec::new();
        decode_text(
            "start srcaddr dst_addr pkt_dstaddr",
            &ctx,
            &mut st,
            &mut out,
        )
        .unwrap();
        decode_text("5 10.0.0.1 10.0.0.2 10.0.0.3", &ctx, &mut st, &mut out).unwrap();
        assert_eq!(conn(&out[0]).dst, ip("10.0.0.3"));
    }

    /// elastic/beats' VPC flow inputs (AWS documentation values).
    #[test]
    fn shared_samples() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/samples/vpc-flow");
        if !dir.is_dir() {
            eprintln!("skipped: shared samples not present at {}", dir.display());
            return;
        }
        let (ev, st) = run(crate::open_path(&dir.join("accept-reject-traffic.log")).unwrap());
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].source.line, 2);
        assert_eq!(ev[0].time, Ts::from_secs(1_418_530_010).unwrap());
        let c = conn(&ev[0]);
        assert_eq!((c.src, c.src_port), (Some(ip("78.24.182.42")), Some(20641)));
        assert_eq!(
            (c.dst, c.dst_port, c.proto.as_deref()),
            (ip("158.109.0.1"), Some(22), Some("tcp"))
        );
        // The REJECTed RDP attempt is kept.
        assert_eq!(conn(&ev[1]).dst_port, Some(3389));
        let c = conn(&ev[3]);
        assert_eq!(ev[3].time, Ts::from_secs(1_432_917_094).unwrap());
        assert_eq!(
            (c.src, c.dst),
            (Some(ip("172.31.16.139")), ip("203.0.113.12"))
        );
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, None, Some("icmp"))
        );

        // This custom format has neither start nor end: its records cannot be placed in
        // time, and each is reported where it is.
        let (ev, st) = run(crate::open_path(&dir.join("custom-nat-gateway.log")).unwrap());
        assert!(ev.is_empty());
        let skipped = &st.skipped["vpc-flow: missing field start"];
        assert_eq!(skipped.count, 2);
        assert_eq!((skipped.first[0].line, skipped.first[1].line), (2, 3));
    }
}
