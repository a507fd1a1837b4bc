//! What the network-flow decoders (Zeek, Suricata, VPC Flow Logs) share: a flow names
//! addresses, not processes or containers, so each becomes the same unplaced
//! connection, which the engine places by its source address.

use crate::util::truncate;
use crate::DecodeError;
use pullwatch_model::{Connection, Event, EventKind, Placement, SourceRef, Ts};
use std::net::IpAddr;

pub(crate) struct Flow {
    pub src: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    pub proto: Option<String>,
    pub instance_id: Option<String>,
}

/// Appends the flow as an unplaced connection. For ICMP the "ports" are the message
/// type and code (Zeek) or zero (VPC): they are not ports, and are dropped.
pub(crate) fn push(out: &mut Vec<Event>, time: Ts, source: SourceRef, f: Flow) {
    let icmp = f.proto.as_deref().is_some_and(is_icmp);
    let conn = Connection {
        placement: Placement::Unresolved { host: None },
        pid: None,
        exe: None,
        src: f.src,
        src_port: f.src_port.filter(|_| !icmp),
        dst: f.dst,
        dst_port: f.dst_port.filter(|_| !icmp),
        proto: f.proto.as_deref().map(pullwatch_model::name),
        instance_id: f.instance_id,
    };
    out.push(Event::new(time, source, EventKind::Connection(conn)));
}

/// An address field, or a located error naming the field.
pub(crate) fn addr(s: &str, field: &str) -> Result<IpAddr, DecodeError> {
    s.trim()
        .parse()
        .map_err(|_| DecodeError::Invalid(format!("{field}: not an address: {}", truncate(s, 64))))
}

/// The lowercase name pullwatch uses for an IANA protocol number; the number itself
/// for protocols no rule is written against.
pub(crate) fn proto_name(n: u8) -> String {
    match n {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        other => other.to_string(),
    }
}

/// ICMP (v4 or v6) by the names the flow sources use.
pub(crate) fn is_icmp(proto: &str) -> bool {
    matches!(proto, "icmp" | "ipv6-icmp" | "icmp6" | "icmpv6")
}
