//! Cilium Hubble flows: `hubble observe -o json` and the Hubble exporter's file, one
//! `{"flow":{…},"node_name":…,"time":…}` per line (older `hubble observe` printed the
//! flow object itself).
//!
//! Unlike Zeek, Suricata or VPC flow logs, a Hubble flow names the pod at each end
//! (`source.pod_name`, `source.namespace`), so its egress is attributed to the pod
//! directly, without joining the source address to a lease. What is taken: L3/L4
//! flows leaving a pod (`traffic_direction` `EGRESS`, not `is_reply`) that were
//! forwarded (`FORWARDED`, or `AUDIT`: a policy in audit mode let it through); dropped
//! packets never reached their destination. Flows from a host or world identity carry
//! no pod and are placed by source address like any flow. Hubble reports a connection
//! packet by packet (SYN, ACK, …); the 5-tuple is the dedupe key, so one connection
//! counts once. `node_status` and `lost_events` records say nothing about workloads.

use crate::util::{nonempty, rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{Connection, ContainerRef, Event, EventKind, Format, Placement};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::net::IpAddr;

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    flow: Option<Flow<'a>>,
    #[serde(borrow)]
    node_name: Option<Text<'a>>,
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    node_status: Option<&'a RawValue>,
    #[serde(borrow)]
    lost_events: Option<&'a RawValue>,
    /// A bare flow (older `hubble observe`): the flow's own keys at the top.
    #[serde(rename = "IP", borrow)]
    ip: Option<Ip<'a>>,
}

#[derive(Deserialize)]
struct Flow<'a> {
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    verdict: Option<Text<'a>>,
    #[serde(rename = "IP", borrow)]
    ip: Option<Ip<'a>>,
    l4: Option<L4>,
    #[serde(borrow)]
    source: Option<Endpoint<'a>>,
    #[serde(rename = "Type", borrow)]
    typ: Option<Text<'a>>,
    #[serde(borrow)]
    node_name: Option<Text<'a>>,
    #[serde(borrow)]
    traffic_direction: Option<Text<'a>>,
    is_reply: Option<bool>,
}

#[derive(Deserialize)]
struct Ip<'a> {
    #[serde(borrow)]
    source: Option<Text<'a>>,
    #[serde(borrow)]
    destination: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct L4 {
    #[serde(rename = "TCP")]
    tcp: Option<Ports>,
    #[serde(rename = "UDP")]
    udp: Option<Ports>,
    #[serde(rename = "SCTP")]
    sctp: Option<Ports>,
    #[serde(rename = "ICMPv4")]
    icmp4: Option<serde::de::IgnoredAny>,
    #[serde(rename = "ICMPv6")]
    icmp6: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Ports {
    source_port: Option<u16>,
    destination_port: Option<u16>,
}

#[derive(Deserialize)]
struct Endpoint<'a> {
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    #[serde(borrow)]
    pod_name: Option<Text<'a>>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    let (flow, top_time, top_node) = match w.flow {
        Some(f) => (f, w.time, w.node_name),
        None if w.node_status.is_some() || w.lost_events.is_some() => return Ok(()),
        None if w.ip.is_some() => {
            // A bare flow: read the same text as the flow itself.
            let f: Flow = serde_json::from_str(text)?;
            (f, None, None)
        }
        None => return Err(DecodeError::Missing("flow")),
    };
    let raw_time = nonempty(&flow.time)
        .or(nonempty(&top_time))
        .ok_or(DecodeError::Missing("flow.time"))?;
    let time = rfc3339(raw_time)?;
    if !matches!(nonempty(&flow.typ), None | Some("L3_L4")) {
        return Ok(());
    }
    if !matches!(nonempty(&flow.verdict), Some("FORWARDED" | "AUDIT")) {
        return Ok(());
    }
    if nonempty(&flow.traffic_direction) != Some("EGRESS") || flow.is_reply == Some(true) {
        return Ok(());
    }
    let ip = flow.ip.as_ref().ok_or(DecodeError::Missing("flow.IP"))?;
    let addr = |v: &Option<Text>, field: &str| -> Result<IpAddr, DecodeError> {
        let s = nonempty(v).ok_or_else(|| DecodeError::Invalid(format!("{field} is empty")))?;
        s.parse().map_err(|_| {
            DecodeError::Invalid(format!("{field}: not an address: {}", truncate(s, 64)))
        })
    };
    let src = addr(&ip.source, "flow.IP.source")?;
    let dst = addr(&ip.destination, "flow.IP.destination")?;
    let (proto, ports) = match &flow.l4 {
        Some(l4) => match (&l4.tcp, &l4.udp, &l4.sctp) {
            (Some(p), _, _) => (Some("tcp"), Some(p)),
            (_, Some(p), _) => (Some("udp"), Some(p)),
            (_, _, Some(p)) => (Some("sctp"), Some(p)),
            _ if l4.icmp4.is_some() => (Some("icmp"), None),
            _ if l4.icmp6.is_some() => (Some("ipv6-icmp"), None),
            _ => (None, None),
        },
        None => (None, None),
    };
    let node = nonempty(&flow.node_name).or(nonempty(&top_node));
    let pod = flow
        .source
        .as_ref()
        .and_then(|s| Some((nonempty(&s.namespace)?, nonempty(&s.pod_name)?)));
    let placement = match pod {
        Some((ns, pod)) => Placement::Container(ContainerRef {
            host: node.map(pullwatch_model::name),
            pod: Some(pullwatch_model::name(pod)),
            namespace: Some(pullwatch_model::name(ns)),
            ..ContainerRef::default()
        }),
        None => Placement::Unresolved { host: None },
    };
    let src_port = ports.and_then(|p| p.source_port);
    let dst_port = ports.and_then(|p| p.destination_port);
    let mut e = Event::new(
        time,
        ctx.source(Format::HubbleFlow),
        EventKind::Connection(Connection {
            placement,
            pid: None,
            exe: None,
            src: Some(src),
            src_port,
            dst,
            dst_port,
            proto: proto.map(pullwatch_model::name),
            instance_id: None,
        }),
    );
    e.dedupe = Some(
        format!(
            "hubble:{}:{}:{src}:{}:{dst}:{}",
            node.unwrap_or(""),
            proto.unwrap_or(""),
            src_port.unwrap_or(0),
            dst_port.unwrap_or(0)
        )
        .into(),
    );
    out.push(e);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ctx;
    use pullwatch_model::Ts;

    fn flow(overrides: &[(&str, serde_json::Value)]) -> String {
        let mut f = serde_json::json!({"time":"2026-11-20T09:00:41.518652Z","uuid":"7d1f0c2e-8a4b-4c3d-9e2f-1a0b9c8d7e6f",
            "verdict":"FORWARDED","ethernet":{"source":"aa:bb:cc:00:11:22","destination":"aa:bb:cc:33:44:55"},
            "IP":{"source":"10.244.1.23","destination":"198.51.100.23","ipVersion":"IPv4"},
            "l4":{"TCP":{"source_port":51514,"destination_port":443,"flags":{"SYN":true}}},
            "source":{"ID":1234,"identity":5678,"namespace":"default","labels":["k8s:app=report-gen","k8s:io.kubernetes.pod.namespace=default"],
                "pod_name":"report-gen-7d9f8-x2kqp","workloads":[{"name":"report-gen","kind":"Deployment"}]},
            "destination":{"identity":2,"labels":["reserved:world"]},
            "Type":"L3_L4","node_name":"kind-worker","event_type":{"type":4,"sub_type":3},
            "traffic_direction":"EGRESS","trace_observation_point":"TO_STACK","is_reply":false,"Summary":"TCP Flags: SYN"});
        for (k, v) in overrides {
            f[*k] = v.clone();
        }
        serde_json::json!({"flow":f,"node_name":"kind-worker","time":"2026-11-20T09:00:41.518652Z"})
            .to_string()
    }

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    #[test]
    fn egress_names_its_pod() {
        let ev = decode(&flow(&[]));
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2026-11-20T09:00:41.518652Z").unwrap()
        );
        let EventKind::Connection(c) = &ev[0].kind else {
            panic!()
        };
        let Placement::Container(r) = &c.placement else {
            panic!("{:?}", c.placement)
        };
        assert_eq!(
            (r.namespace.as_deref(), r.pod.as_deref(), r.host.as_deref()),
            (
                Some("default"),
                Some("report-gen-7d9f8-x2kqp"),
                Some("kind-worker")
            )
        );
        assert_eq!(r.name, None);
        assert_eq!(c.src, Some("10.244.1.23".parse().unwrap()));
        assert_eq!(
            (c.dst, c.dst_port, c.src_port),
            ("198.51.100.23".parse().unwrap(), Some(443), Some(51514))
        );
        assert_eq!(c.proto.as_deref(), Some("tcp"));
        // The next packet of the same connection counts once.
        let ack = decode(&flow(&[("Summary", "TCP Flags: ACK".into())]));
        assert_eq!(ack[0].dedupe, ev[0].dedupe);
    }

    #[test]
    fn what_is_not_a_forwarded_egress_is_of_no_interest() {
        for o in [
            ("verdict", serde_json::json!("DROPPED")),
            ("traffic_direction", serde_json::json!("INGRESS")),
            ("is_reply", serde_json::json!(true)),
            ("Type", serde_json::json!("L7")),
        ] {
            assert!(decode(&flow(std::slice::from_ref(&o))).is_empty(), "{o:?}");
        }
        assert!(decode(r#"{"node_status":{"state_change":"NODE_CONNECTED","node_name":"n"},"node_name":"n","time":"2026-11-20T09:00:00Z"}"#).is_empty());
        // A host process's flow has no pod: placed by its address, as other flows are.
        let ev = decode(&flow(&[(
            "source",
            serde_json::json!({"identity":1,"labels":["reserved:host"]}),
        )]));
        let EventKind::Connection(c) = &ev[0].kind else {
            panic!()
        };
        assert_eq!(c.placement, Placement::Unresolved { host: None });
        // UDP and ICMP.
        let dns = decode(&flow(&[(
            "l4",
            serde_json::json!({"UDP":{"source_port":40000,"destination_port":53}}),
        )]));
        let EventKind::Connection(c) = &dns[0].kind else {
            panic!()
        };
        assert_eq!((c.proto.as_deref(), c.dst_port), (Some("udp"), Some(53)));
        let ping = decode(&flow(&[("l4", serde_json::json!({"ICMPv4":{"type":8}}))]));
        let EventKind::Connection(c) = &ping[0].kind else {
            panic!()
        };
        assert_eq!((c.proto.as_deref(), c.dst_port), (Some("icmp"), None));
    }

    #[test]
    fn bare_flows_and_broken_records() {
        let wrapped = flow(&[]);
        let v: serde_json::Value = serde_json::from_str(&wrapped).unwrap();
        let bare = v["flow"].to_string();
        assert_eq!(decode(&bare).len(), 1);
        let err = |s: String| {
            let mut out = Vec::new();
            let r = decode_json(&s, &ctx(), &mut out);
            assert!(out.is_empty());
            r.unwrap_err()
        };
        assert!(matches!(
            err(flow(&[("IP", serde_json::json!({"source":"10.0.0.1","destination":"nowhere"}))])),
            DecodeError::Invalid(m) if m.contains("flow.IP.destination")
        ));
        assert!(matches!(
            err(flow(&[("time", serde_json::json!("later"))])),
            DecodeError::Time(_)
        ));
        assert_eq!(
            err(r#"{"node_name":"n"}"#.into()),
            DecodeError::Missing("flow")
        );
    }
}
