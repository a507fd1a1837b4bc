//! Suricata EVE JSON (`eve.json`): the `flow` records, one per finished flow.
//!
//! The same file carries alerts, protocol logs and statistics; they describe flows
//! that also get a `flow` record of their own, so only that one becomes a
//! [`Connection`], and the others are recognized and pass without events. Suricata
//! sees traffic from the wire: pullwatch places the flow by its source address.

use crate::flow::proto_name;
use crate::flow::{addr, Flow as FlowRecord};
use crate::util::{rfc3339, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{Event, Format};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// `flow_id` is deliberately not read: it exceeds 2^53 and pullwatch has no use for it.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    event_type: Option<Text<'a>>,
    #[serde(borrow)]
    timestamp: Option<Text<'a>>,
    #[serde(borrow)]
    src_ip: Option<Text<'a>>,
    #[serde(borrow)]
    dest_ip: Option<Text<'a>>,
    src_port: Option<u16>,
    dest_port: Option<u16>,
    #[serde(borrow)]
    proto: Option<Proto<'a>>,
    /// Read only for `flow` records: `stats` records have a `flow` object of counters.
    #[serde(borrow)]
    flow: Option<&'a RawValue>,
}

/// Suricata writes the protocol's name (`TCP`, `IPv6-ICMP`), or its number when it has
/// no name for it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Proto<'a> {
    Number(u8),
    #[serde(borrow)]
    Name(Cow<'a, str>),
}

#[derive(Deserialize)]
struct Flow<'a> {
    #[serde(borrow)]
    start: Option<Text<'a>>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    let event_type = w.event_type.ok_or(DecodeError::Missing("event_type"))?;
    if event_type != "flow" {
        return Ok(());
    }
    let start = match w.flow {
        Some(f) => serde_json::from_str::<Flow>(f.get())?.start,
        None => None,
    };
    // The flow started at `flow.start`; `timestamp` is when it was logged, after it ended
    // or timed out.
    let time = match (&start, &w.timestamp) {
        (Some(s), _) | (None, Some(s)) => rfc3339(s)?,
        (None, None) => return Err(DecodeError::Missing("timestamp")),
    };
    let dst = addr(
        w.dest_ip
            .as_deref()
            .ok_or(DecodeError::Missing("dest_ip"))?,
        "dest_ip",
    )?;
    let src = w.src_ip.as_deref().map(|s| addr(s, "src_ip")).transpose()?;
    let proto = w.proto.map(|p| match p {
        Proto::Number(n) => proto_name(n),
        Proto::Name(s) => match s.parse::<u8>() {
            Ok(n) => proto_name(n),
            Err(_) => s.to_ascii_lowercase(),
        },
    });
    // ICMP flows carry `icmp_type`/`icmp_code`, and no ports.
    crate::flow::push(
        out,
        time,
        ctx.source(Format::SuricataEve),
        FlowRecord {
            src,
            src_port: w.src_port,
            dst,
            dst_port: w.dest_port,
            proto,
            instance_id: None,
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeOptions, DecodeStats, EventStream};
    use pullwatch_model::Ts;
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

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    #[test]
    fn flow_with_expanded_ipv6_and_huge_flow_id() {
        let ev = decode(
            r#"{"timestamp":"2024-03-01T09:00:05.000001-0400","flow_id":9007199254740993,"event_type":"flow","src_ip":"2001:0db8:0000:0000:0000:0000:0000:0042","src_port":41000,"dest_ip":"2606:4700:0000:0000:0000:0000:0000:1111","dest_port":443,"proto":"TCP","flow":{"pkts_toserver":3,"start":"2024-03-01T09:00:00.123456-0400","end":"2024-03-01T09:00:01.000000-0400","state":"closed"}}"#,
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2024-03-01T13:00:00.123456Z").unwrap()
        );
        assert_eq!(ev[0].source.format, Format::SuricataEve);
        let c = conn(&ev[0]);
        assert_eq!(c.placement, Placement::Unresolved { host: None });
        assert_eq!(c.src, Some(ip("2001:db8::42")));
        assert_eq!(c.dst, ip("2606:4700::1111"));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (Some(41000), Some(443), Some("tcp"))
        );
        // A flow_id at the top of the u64 range, or past it, is no obstacle either.
        for id in ["18446744073709551615", "36893488147419103232"] {
            let ev = decode(&format!(
                r#"{{"timestamp":"2024-03-01T09:00:05+0000","flow_id":{id},"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"UDP"}}"#
            ));
            assert_eq!(
                ev[0].time,
                Ts::parse_rfc3339("2024-03-01T09:00:05Z").unwrap()
            );
            assert_eq!(conn(&ev[0]).proto.as_deref(), Some("udp"));
        }
    }

    #[test]
    fn icmp_and_numbered_protocols() {
        let ev = decode(
            r#"{"timestamp":"2024-03-01T09:00:05.5+0000","event_type":"flow","src_ip":"fe80::1","dest_ip":"ff02::2","proto":"IPv6-ICMP","icmp_type":133,"icmp_code":0}"#,
        );
        let c = conn(&ev[0]);
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (None, None, Some("ipv6-icmp"))
        );
        let ev = decode(
            r#"{"timestamp":"2024-03-01T09:00:05Z","event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":"47"}"#,
        );
        assert_eq!(conn(&ev[0]).proto.as_deref(), Some("47"));
        let ev = decode(
            r#"{"timestamp":"2024-03-01T09:00:05Z","event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","proto":6}"#,
        );
        assert_eq!(conn(&ev[0]).proto.as_deref(), Some("tcp"));
    }

    #[test]
    fn other_event_types_pass_and_broken_flows_fail() {
        for other in [
            r#"{"timestamp":"2024-03-01T09:00:05Z","flow_id":1,"event_type":"alert","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","alert":{"signature":"x"},"flow":{"start":"2024-03-01T09:00:00Z"}}"#,
            r#"{"timestamp":"2024-03-01T09:00:05Z","event_type":"stats","stats":{},"flow":{"memcap":0,"tcp":1}}"#,
            r#"{"timestamp":"2024-03-01T09:00:05Z","event_type":"dns","src_ip":"10.0.0.1","dest_ip":"10.0.0.2","dns":{"type":"query"}}"#,
        ] {
            assert!(decode(other).is_empty(), "{other}");
        }
        let mut out = Vec::new();
        assert_eq!(
            decode_json(
                r#"{"timestamp":"2024-03-01T09:00:05Z","src_ip":"10.0.0.1"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("event_type"))
        );
        assert_eq!(
            decode_json(
                r#"{"timestamp":"2024-03-01T09:00:05Z","event_type":"flow","src_ip":"10.0.0.1"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("dest_ip"))
        );
        assert_eq!(
            decode_json(
                r#"{"event_type":"flow","src_ip":"10.0.0.1","dest_ip":"10.0.0.2"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("timestamp"))
        );
        assert!(matches!(
            decode_json(
                r#"{"timestamp":"05/07/2018","event_type":"flow","dest_ip":"10.0.0.2"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Time(_))
        ));
        assert!(matches!(
            decode_json(r#"{"timestamp":"2024-03-01T09:00:05Z","event_type":"flow","dest_ip":"10.0.0.256"}"#, &ctx(), &mut out),
            Err(DecodeError::Invalid(m)) if m.starts_with("dest_ip")
        ));
        assert!(out.is_empty());
    }

    /// elastic/beats' eve-small.log: a real capture with one record of each event type.
    #[test]
    fn shared_samples() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/samples/suricata/eve-small.log");
        if !path.is_file() {
            eprintln!("skipped: shared samples not present at {}", path.display());
            return;
        }
        let mut s = EventStream::new(crate::open_path(&path).unwrap(), DecodeOptions::default());
        let (mut ev, mut st) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut ev, &mut st, 64).unwrap() {}
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::SuricataEve].records, 8);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.line, 8);
        // flow.start, not the later `timestamp`, converted from -0400.
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2018-07-05T19:51:23.453468Z").unwrap()
        );
        let c = conn(&ev[0]);
        assert_eq!(c.src, Some(ip("fe80::fada:cff:fedc:87f1")));
        assert_eq!(c.dst, ip("ff02::1:2"));
        assert_eq!(
            (c.src_port, c.dst_port, c.proto.as_deref()),
            (Some(546), Some(547), Some("udp"))
        );
    }
}
