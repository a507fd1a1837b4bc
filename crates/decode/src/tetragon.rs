//! Tetragon's JSON export (`tetragon.log`, `tetra getevents -o json`).
//!
//! Tetragon is the one runtime sensor that ties a process to its pod, container and
//! image digest in the same record, so every process and connection it reports carries
//! a full container reference. Egress comes from `tcp_connect`-style kprobes (and the
//! legacy `process_connect` event of old Isovalent builds).

use crate::util::{nonempty, rfc3339, truncate, LenientI64, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::memo::TextMemo;
use pullwatch_model::{
    Connection, ContainerAddress, ContainerRef, Event, EventKind, Format, ImageRef, Lineage, Name,
    Placement, ProcessExec, ProcessExit, Ts,
};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;

mod walk;

/// The event bodies are boxed: unboxed, the record type is a few kilobytes that the
/// deserializer moves several times per record, which cost more than the allocation.
#[derive(Deserialize, Default)]
struct Wire<'a> {
    #[serde(borrow)]
    process_exec: Option<Box<WithParent<'a>>>,
    #[serde(borrow)]
    process_exit: Option<Box<WithParent<'a>>>,
    #[serde(borrow)]
    process_kprobe: Option<Box<Kprobe<'a>>>,
    #[serde(borrow)]
    process_connect: Option<Box<LegacyConnect<'a>>>,
    process_tracepoint: Option<IgnoredAny>,
    process_uprobe: Option<IgnoredAny>,
    process_lsm: Option<IgnoredAny>,
    process_listen: Option<IgnoredAny>,
    process_close: Option<IgnoredAny>,
    #[serde(borrow)]
    node_name: Option<Text<'a>>,
    #[serde(borrow)]
    time: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct WithParent<'a> {
    #[serde(borrow)]
    process: Option<Process<'a>>,
    #[serde(borrow)]
    parent: Option<Parent<'a>>,
}

/// Of the parent, only what the exec's evidence names: its pid and binary, and its pid
/// inside the container. Its namespaces and arguments (as long as the child's) and the
/// rest of its pod are skipped, not built.
#[derive(Deserialize, Default)]
struct Parent<'a> {
    pid: Option<LenientI64>,
    #[serde(borrow)]
    binary: Option<Text<'a>>,
    pod: Option<ParentPod>,
}

#[derive(Deserialize, Default)]
struct ParentPod {
    container: Option<ContainerPid>,
}

/// `pod.container.pid`: the pid inside the container's pid namespace.
#[derive(Deserialize, Default)]
struct ContainerPid {
    pid: Option<LenientI64>,
}

#[derive(Deserialize, Default)]
struct Kprobe<'a> {
    #[serde(borrow)]
    process: Option<Process<'a>>,
    #[serde(borrow)]
    function_name: Option<Text<'a>>,
    #[serde(borrow)]
    args: Option<KprobeArgs<'a>>,
}

/// A probe's arguments. serde keeps them raw and they are parsed only for a connect
/// probe: other probes' arguments (file contents, buffers) are of no interest. The walk
/// ([`walk`]) reads them in the record's own pass instead of parsing them a second
/// time, and keeps the one argument the decoder uses.
enum KprobeArgs<'a> {
    Raw(&'a RawValue),
    /// The first argument that names a socket (a `sock_arg` or a `sockaddr_arg`), if
    /// any: the one [`kprobe_socket`] would pick.
    Walked(Option<KprobeArg<'a>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for KprobeArgs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(KprobeArgs::Raw)
    }
}

#[derive(Deserialize, Default)]
struct LegacyConnect<'a> {
    #[serde(borrow)]
    process: Option<Process<'a>>,
    #[serde(borrow)]
    source_ip: Option<Text<'a>>,
    source_port: Option<LenientI64>,
    #[serde(borrow)]
    destination_ip: Option<Text<'a>>,
    destination_port: Option<LenientI64>,
    #[serde(borrow)]
    protocol: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct Process<'a> {
    pid: Option<LenientI64>,
    #[serde(borrow)]
    binary: Option<Text<'a>>,
    #[serde(borrow)]
    arguments: Option<Text<'a>>,
    #[serde(borrow)]
    start_time: Option<Text<'a>>,
    #[serde(borrow)]
    docker: Option<Text<'a>>,
    #[serde(borrow)]
    pod: Option<Pod<'a>>,
    ns: Option<Namespaces>,
}

#[derive(Deserialize, Default)]
struct Pod<'a> {
    #[serde(borrow)]
    namespace: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    container: Option<PodContainer<'a>>,
}

#[derive(Deserialize, Default)]
struct PodContainer<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    image: Option<PodImage<'a>>,
    #[serde(borrow)]
    start_time: Option<Text<'a>>,
    /// The pid inside the container's pid namespace: 1 is the entrypoint.
    pid: Option<LenientI64>,
}

#[derive(Deserialize, Default)]
struct PodImage<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct Namespaces {
    net: Option<Namespace>,
}

#[derive(Deserialize, Default)]
struct Namespace {
    is_host: Option<bool>,
}

#[derive(Deserialize, Default)]
struct KprobeArg<'a> {
    #[serde(borrow)]
    sock_arg: Option<SockArg<'a>>,
    #[serde(borrow)]
    sockaddr_arg: Option<SockaddrArg<'a>>,
}

#[derive(Deserialize, Default)]
struct SockArg<'a> {
    #[serde(borrow)]
    family: Option<Text<'a>>,
    #[serde(borrow)]
    protocol: Option<Text<'a>>,
    #[serde(borrow)]
    saddr: Option<Text<'a>>,
    #[serde(borrow)]
    daddr: Option<Text<'a>>,
    sport: Option<LenientI64>,
    dport: Option<LenientI64>,
}

#[derive(Deserialize, Default)]
struct SockaddrArg<'a> {
    #[serde(borrow)]
    family: Option<Text<'a>>,
    #[serde(borrow)]
    addr: Option<Text<'a>>,
    port: Option<LenientI64>,
}

/// Decodes a record from the members the decoder uses, read by [`walk`], or by serde
/// ([`decode_json_whole`]) when the walk cannot read them with certainty. The events
/// are the same either way for every record that is JSON; what the walk does not
/// validate is listed in [`walk`].
pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    match walk::wire(text) {
        Some(w) => events(&w, ctx, out),
        None => decode_json_whole(text, ctx, out),
    }
}

/// Decodes a record read whole by serde, which validates all of it: what `scan
/// --strict` uses, so that every malformed record is reported wherever its fault lies.
pub fn decode_json_whole(
    text: &str,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    events(&w, ctx, out)
}

/// The events of a record, however it was read.
fn events(w: &Wire, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let node = nonempty(&w.node_name);
    let top_time = w.time.as_deref();
    if let Some(ev) = &w.process_exec {
        let p = ev
            .process
            .as_ref()
            .ok_or(DecodeError::Missing("process_exec.process"))?;
        let time = event_time(top_time, Some(p))?;
        let exe = nonempty(&p.binary).ok_or(DecodeError::Missing("process_exec.process.binary"))?;
        // `arguments` is one string, joined and quoted by Tetragon; kept as given.
        let cmdline = match nonempty(&p.arguments) {
            Some(args) => [exe, args].join(" "),
            None => exe.to_string(),
        };
        let parent = ev.parent.as_ref();
        let placement = placement(p, node)?;
        let host_pid = pid(p, "process_exec.process.pid")?;
        let host_ppid = match parent {
            Some(pp) => checked_pid(pp.pid, "process_exec.parent.pid")?,
            None => None,
        };
        let lineage = match &placement {
            Placement::Container(_) => Lineage::from_pids(
                host_pid,
                checked_pid(
                    p.pod
                        .as_ref()
                        .and_then(|pod| pod.container.as_ref())
                        .and_then(|c| c.pid),
                    "process_exec.process.pod.container.pid",
                )?,
                host_ppid,
                // A parent outside the container (the runtime's shim, or runc for an
                // exec) has no pod, hence no pid inside it.
                checked_pid(
                    parent
                        .and_then(|pp| pp.pod.as_ref())
                        .and_then(|pod| pod.container.as_ref())
                        .and_then(|c| c.pid),
                    "process_exec.parent.pod.container.pid",
                )?,
            ),
            _ => Lineage::default(),
        };
        out.push(Event::new(
            time,
            ctx.source(Format::Tetragon),
            EventKind::Process(ProcessExec {
                placement,
                pid: host_pid,
                ppid: host_ppid,
                exe: pullwatch_model::name(exe),
                cmdline,
                parent_exe: parent
                    .and_then(|pp| nonempty(&pp.binary))
                    .map(pullwatch_model::name),
                user: None,
                lineage,
            }),
        ));
    } else if let Some(ev) = &w.process_exit {
        let p = ev
            .process
            .as_ref()
            .ok_or(DecodeError::Missing("process_exit.process"))?;
        let time = event_time(top_time, None)?;
        let pid = pid(p, "process_exit.process.pid")?
            .ok_or(DecodeError::Missing("process_exit.process.pid"))?;
        out.push(Event::new(
            time,
            ctx.source(Format::Tetragon),
            EventKind::ProcessExit(ProcessExit {
                host: node.map(str::to_string),
                pid,
            }),
        ));
    } else if let Some(ev) = &w.process_kprobe {
        let p = ev
            .process
            .as_ref()
            .ok_or(DecodeError::Missing("process_kprobe.process"))?;
        let function = ev.function_name.as_deref().unwrap_or("").trim();
        if !is_connect_probe(function) {
            return Ok(());
        }
        let time = event_time(top_time, None)?;
        let Some(sock) = kprobe_socket(ev.args.as_ref())? else {
            return Ok(());
        };
        emit_connection(time, p, node, sock, ctx, out)?;
    } else if let Some(ev) = &w.process_connect {
        let p = ev
            .process
            .as_ref()
            .ok_or(DecodeError::Missing("process_connect.process"))?;
        let time = event_time(top_time, None)?;
        let dst = nonempty(&ev.destination_ip)
            .ok_or(DecodeError::Missing("process_connect.destination_ip"))?;
        let sock = Sock {
            src: opt_ip(&ev.source_ip, "process_connect.source_ip")?,
            src_port: port(ev.source_port, "process_connect.source_port")?,
            dst: parse_ip(dst, "process_connect.destination_ip")?,
            dst_port: port(ev.destination_port, "process_connect.destination_port")?,
            proto: proto(&ev.protocol),
        };
        emit_connection(time, p, node, sock, ctx, out)?;
    } else if w.process_tracepoint.is_none()
        && w.process_uprobe.is_none()
        && w.process_lsm.is_none()
        && w.process_listen.is_none()
        && w.process_close.is_none()
    {
        return Err(DecodeError::Invalid(
            "no Tetragon event (process_exec, process_exit, process_kprobe, …)".into(),
        ));
    }
    Ok(())
}

/// Probes whose socket argument names an outbound connection's far end.
fn is_connect_probe(function: &str) -> bool {
    matches!(
        function,
        "tcp_connect" | "tcp_v4_connect" | "tcp_v6_connect" | "security_socket_connect"
    ) || function.ends_with("sys_connect")
}

/// The event's own time. The first exec lines of a Tetragon export can lack it, and an
/// exec's process start time is the same instant; for any other event (an exit, a
/// connection) the start time is earlier than the event, so it is no substitute.
fn event_time(top: Option<&str>, exec: Option<&Process>) -> Result<Ts, DecodeError> {
    match (top, exec.and_then(|p| nonempty(&p.start_time))) {
        (Some(t), _) => rfc3339(t),
        (None, Some(t)) => rfc3339(t),
        (None, None) => Err(DecodeError::Missing("time")),
    }
}

fn pid(p: &Process, field: &str) -> Result<Option<u32>, DecodeError> {
    checked_pid(p.pid, field)
}

fn checked_pid(v: Option<LenientI64>, field: &str) -> Result<Option<u32>, DecodeError> {
    match v {
        None => Ok(None),
        Some(LenientI64(n)) => u32::try_from(n)
            .map(Some)
            .map_err(|_| DecodeError::Invalid(format!("{field}: {n} is not a pid"))),
    }
}

/// Zero means "not known yet" (an unbound source port), not port 0.
fn port(v: Option<LenientI64>, field: &str) -> Result<Option<u16>, DecodeError> {
    match v {
        None | Some(LenientI64(0)) => Ok(None),
        Some(LenientI64(n)) => u16::try_from(n)
            .map(Some)
            .map_err(|_| DecodeError::Invalid(format!("{field}: {n} is not a port"))),
    }
}

fn parse_ip(s: &str, field: &str) -> Result<IpAddr, DecodeError> {
    s.trim().parse().map_err(|_| {
        DecodeError::Invalid(format!("{field}: not an IP address: {:?}", truncate(s, 64)))
    })
}

/// A source address, where the unspecified address means "not bound yet".
fn opt_ip(v: &Option<Text<'_>>, field: &str) -> Result<Option<IpAddr>, DecodeError> {
    match nonempty(v) {
        None => Ok(None),
        Some(s) => parse_ip(s, field).map(|a| Some(a).filter(|a| !a.is_unspecified())),
    }
}

/// `IPPROTO_TCP` and `TCP` both become `tcp`.
fn proto(v: &Option<Text<'_>>) -> Option<Name> {
    nonempty(v).map(|p| {
        let p = p.strip_prefix("IPPROTO_").unwrap_or(p);
        pullwatch_model::lowercase_name(p)
    })
}

struct Sock {
    src: Option<IpAddr>,
    src_port: Option<u16>,
    dst: IpAddr,
    dst_port: Option<u16>,
    proto: Option<Name>,
}

fn is_inet(family: &Option<Text<'_>>) -> bool {
    matches!(nonempty(family), None | Some("AF_INET" | "AF_INET6"))
}

/// The first `sock_arg` (tcp_connect) or `sockaddr_arg` (connect syscalls) of a probe.
/// Unix-domain sockets name no address and give `None`.
fn kprobe_socket(args: Option<&KprobeArgs>) -> Result<Option<Sock>, DecodeError> {
    match args {
        None => Ok(None),
        Some(KprobeArgs::Raw(raw)) => {
            let args: Vec<KprobeArg> = serde_json::from_str(raw.get())?;
            socket_of(&args)
        }
        Some(KprobeArgs::Walked(first)) => socket_of(first.as_slice()),
    }
}

fn socket_of(args: &[KprobeArg]) -> Result<Option<Sock>, DecodeError> {
    for a in args {
        if let Some(s) = &a.sock_arg {
            if !is_inet(&s.family) {
                return Ok(None);
            }
            let daddr = nonempty(&s.daddr).ok_or(DecodeError::Missing("sock_arg.daddr"))?;
            return Ok(Some(Sock {
                src: opt_ip(&s.saddr, "sock_arg.saddr")?,
                src_port: port(s.sport, "sock_arg.sport")?,
                dst: parse_ip(daddr, "sock_arg.daddr")?,
                dst_port: port(s.dport, "sock_arg.dport")?,
                proto: proto(&s.protocol),
            }));
        }
        if let Some(s) = &a.sockaddr_arg {
            if !is_inet(&s.family) {
                return Ok(None);
            }
            let addr = nonempty(&s.addr).ok_or(DecodeError::Missing("sockaddr_arg.addr"))?;
            return Ok(Some(Sock {
                src: None,
                src_port: None,
                dst: parse_ip(addr, "sockaddr_arg.addr")?,
                dst_port: port(s.port, "sockaddr_arg.port")?,
                proto: None,
            }));
        }
    }
    Ok(None)
}

/// The connection, and the container's own address when the socket reveals it: that is
/// what lets flow logs, which know only addresses, be tied back to the container.
fn emit_connection(
    time: Ts,
    p: &Process,
    node: Option<&str>,
    sock: Sock,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let placement = placement(p, node)?;
    let host_netns =
        p.ns.as_ref()
            .and_then(|ns| ns.net.as_ref())
            .and_then(|n| n.is_host)
            == Some(true);
    if let (Placement::Container(c), Some(src)) = (&placement, sock.src) {
        // A host-network pod's source is the node's address, not the container's own.
        if !src.is_loopback() && !host_netns {
            // Built by hand: `format!` costs more than the rest of the event here, and
            // this runs for nearly every connection.
            let mut key = String::with_capacity(96);
            key.push_str("tetragon:addr:");
            key.push_str(node.unwrap_or(""));
            key.push(':');
            match &c.id {
                Some(id) => key.push_str(id),
                None => {
                    let _ = write!(
                        key,
                        "{}/{}/{}",
                        opt(&c.namespace),
                        opt(&c.pod),
                        opt(&c.name)
                    );
                }
            }
            key.push(':');
            push_ip(&mut key, src);
            let mut e = Event::new(
                time,
                ctx.source(Format::Tetragon),
                EventKind::ContainerAddress(ContainerAddress {
                    container: c.clone(),
                    ips: vec![src],
                }),
            );
            e.dedupe = Some(key.into());
            out.push(e);
        }
    }
    out.push(Event::new(
        time,
        ctx.source(Format::Tetragon),
        EventKind::Connection(Connection {
            placement,
            pid: pid(p, "process.pid")?,
            exe: nonempty(&p.binary).map(pullwatch_model::name),
            src: sock.src,
            src_port: sock.src_port,
            dst: sock.dst,
            dst_port: sock.dst_port,
            proto: sock.proto,
            instance_id: None,
        }),
    ));
    Ok(())
}

/// The address as its `Display` writes it. An IPv4 address is written here by hand:
/// through the formatting machinery it cost as much as the rest of the event.
fn push_ip(key: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    key.push('.');
                }
                if octet >= 100 {
                    key.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    key.push(char::from(b'0' + octet / 10 % 10));
                }
                key.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(key, "{ip}");
        }
    }
}

fn opt(v: &Option<Name>) -> &str {
    v.as_deref().unwrap_or("")
}

/// Inside a pod, inside a bare container (only the `docker` id prefix is known), or on
/// the node: Tetragon gives host processes neither.
fn placement(p: &Process, node: Option<&str>) -> Result<Placement, DecodeError> {
    // Cleaned (lowercased and interned) only when the pod names no container id, which
    // it nearly always does.
    let docker = || nonempty(&p.docker).and_then(ContainerRef::clean_id);
    let Some(pod) = &p.pod else {
        return Ok(match docker() {
            Some(id) => Placement::Container(ContainerRef {
                host: node.map(pullwatch_model::name),
                id: Some(id),
                ..ContainerRef::default()
            }),
            None => Placement::Host {
                host: node.map(str::to_string),
            },
        });
    };
    let c = pod.container.as_ref();
    let started_at = match c.and_then(|c| nonempty(&c.start_time)) {
        Some(t) => Some(rfc3339(t)?),
        None => None,
    };
    Ok(Placement::Container(ContainerRef {
        host: node.map(pullwatch_model::name),
        id: c
            .and_then(|c| nonempty(&c.id))
            .and_then(ContainerRef::clean_id)
            .or_else(docker),
        name: c.and_then(|c| nonempty(&c.name)).map(pullwatch_model::name),
        pod: nonempty(&pod.name).map(pullwatch_model::name),
        namespace: nonempty(&pod.namespace).map(pullwatch_model::name),
        image: c.and_then(|c| c.image.as_ref()).and_then(image),
        started_at,
    }))
}

/// `image.name` is the reference the pod asked for; `image.id` is `repo@digest` (with a
/// `docker-pullable://` scheme under dockershim), the digest that actually ran.
///
/// Every record of a container repeats the same pair, and combining them copies the
/// shared parsed reference, so the result is remembered per thread by the pair's text
/// (bounded like the reference cache it sits on, and seeded the same way).
fn image(i: &PodImage) -> Option<ImageRef> {
    let (Some(name), Some(id)) = (nonempty(&i.name), nonempty(&i.id)) else {
        return combine_image(i);
    };
    PINNED.with(|cell| {
        let (key, memo) = &mut *cell.borrow_mut();
        // Length-prefixed, so that no name and id pair spells another's key.
        key.clear();
        let _ = write!(key, "{}:", name.len());
        key.push_str(name);
        key.push_str(id);
        memo.get_or(key, || combine_image(i))
    })
}

/// Keys (name and id with their length prefix) longer than this are combined every
/// time, not remembered.
const PINNED_KEY_MAX: usize = 512;
/// Pairs remembered per thread; past this many the memory starts over.
const PINNED_KEPT: usize = 4096;

thread_local! {
    /// The lookup key's buffer (reused, so a hit allocates nothing) and the pairs seen.
    static PINNED: RefCell<(String, TextMemo<Option<ImageRef>>)> =
        RefCell::new((String::new(), TextMemo::new(PINNED_KEPT, PINNED_KEY_MAX)));
}

fn combine_image(i: &PodImage) -> Option<ImageRef> {
    // A bare image id (`sha256:…`) names no repository and says nothing here.
    let pinned = nonempty(&i.id)
        .filter(|id| id.contains('@'))
        .map(ImageRef::parse)
        .filter(|r| r.digest.is_some());
    match nonempty(&i.name).map(ImageRef::parse) {
        Some(mut named) => {
            if let Some(p) = &pinned {
                if named.registry == p.registry && named.path == p.path {
                    named.absorb(p);
                }
            }
            Some(named)
        }
        None => pinned,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;

    use crate::test_support::ctx;

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    fn err(s: &str) -> DecodeError {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap_err()
    }

    fn container(p: &Placement) -> &ContainerRef {
        match p {
            Placement::Container(c) => c,
            other => panic!("not in a container: {other:?}"),
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const CID: &str = "e6af4dff4ea3b8d50313c59fbaa442e377da35671e79f43b8dc53c5efcc9b659";

    fn proc_json(pod: &str, docker: &str) -> String {
        format!(
            r#"{{"exec_id":"eA==","pid":4100,"uid":0,"cwd":"/","binary":"/usr/bin/curl","arguments":"-s \"http://x/a b\"","flags":"execve clone","start_time":"2024-03-01T10:00:00.5Z"{pod}{docker}}}"#
        )
    }

    fn pod_json(cid: &str, image_id: &str) -> String {
        format!(
            r#","pod":{{"namespace":"shop","name":"web-1","container":{{"id":"{cid}","name":"app","image":{{"id":"{image_id}","name":"registry.example.com/team/app:2.1"}},"start_time":"2024-03-01T09:59:58Z","pid":7}},"pod_labels":{{"a":"b"}}}}"#
        )
    }

    fn kprobe(process: &str, args: &str, function: &str) -> String {
        format!(
            r#"{{"process_kprobe":{{"process":{process},"parent":{{"pid":1,"binary":"/bin/sh"}},"function_name":"{function}","args":{args},"action":"KPROBE_ACTION_POST","policy_name":"connect"}},"node_name":"node-7","time":"2024-03-01T10:00:01.123456789Z"}}"#
        )
    }

    const SOCK: &str = r#"[{"sock_arg":{"family":"AF_INET","type":"SOCK_STREAM","protocol":"IPPROTO_TCP","mark":0,"priority":0,"saddr":"10.244.1.9","daddr":"203.0.113.50","sport":40312,"dport":443,"cookie":"18446633063823345408","state":"TCP_SYN_SENT"}}]"#;

    #[test]
    fn tcp_connect_kprobe_in_a_pod() {
        let p = proc_json(
            &pod_json(
                &format!("docker://{CID}"),
                &format!("docker-pullable://registry.example.com/team/app@{D1}"),
            ),
            r#","docker":"e6af4dff4ea3b8d50313c59fbaa442e""#,
        );
        let out = decode(&kprobe(&p, SOCK, "tcp_connect"));
        assert_eq!(out.len(), 2);
        let t = Ts::parse_rfc3339("2024-03-01T10:00:01.123456789Z").unwrap();
        assert!(out
            .iter()
            .all(|e| e.time == t && e.source.format == Format::Tetragon));
        let EventKind::ContainerAddress(a) = &out[0].kind else {
            panic!("{:?}", out[0].kind)
        };
        assert_eq!(a.ips, vec!["10.244.1.9".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.container.id.as_deref(), Some(CID));
        assert_eq!(
            out[0].dedupe.as_deref(),
            Some(format!("tetragon:addr:node-7:{CID}:10.244.1.9").as_str())
        );
        let EventKind::Connection(c) = &out[1].kind else {
            panic!()
        };
        assert_eq!(c.src, Some("10.244.1.9".parse().unwrap()));
        assert_eq!(c.src_port, Some(40312));
        assert_eq!(c.dst, "203.0.113.50".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst_port, Some(443));
        assert_eq!(c.proto.as_deref(), Some("tcp"));
        assert_eq!(c.pid, Some(4100));
        assert_eq!(c.exe.as_deref(), Some("/usr/bin/curl"));
        let r = container(&c.placement);
        assert_eq!(r.id.as_deref(), Some(CID));
        assert_eq!(r.host.as_deref(), Some("node-7"));
        assert_eq!(r.name.as_deref(), Some("app"));
        assert_eq!(r.pod.as_deref(), Some("web-1"));
        assert_eq!(r.namespace.as_deref(), Some("shop"));
        assert_eq!(r.started_at, Ts::parse_rfc3339("2024-03-01T09:59:58Z"));
        assert_eq!(
            r.image.as_ref().unwrap().to_string(),
            format!("registry.example.com/team/app:2.1@{D1}")
        );
        assert_eq!(&a.container, r);
    }

    #[test]
    fn addresses_in_keys_are_written_as_display_writes_them() {
        let mut key = String::new();
        for octet in 0..=255u8 {
            for ip in [
                IpAddr::from([octet, 0, 10, 255]),
                IpAddr::from([1, octet, 100, 99]),
                IpAddr::from([255, 9, octet, octet]),
            ] {
                key.clear();
                push_ip(&mut key, ip);
                assert_eq!(key, ip.to_string());
            }
        }
        for ip in ["::", "2606:4700::1111", "::ffff:10.0.0.1", "fe80::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            key.clear();
            push_ip(&mut key, ip);
            assert_eq!(key, ip.to_string());
        }
    }

    #[test]
    fn connect_kprobe_edge_cases() {
        let p = proc_json(&pod_json(&format!("containerd://{CID}"), ""), "");
        // Loopback and unbound sources name no container address.
        let lo = r#"[{"sock_arg":{"family":"AF_INET","protocol":"IPPROTO_TCP","saddr":"127.0.0.1","daddr":"127.0.0.1","sport":5000,"dport":6379}}]"#;
        let out = decode(&kprobe(&p, lo, "tcp_connect"));
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0].kind, EventKind::Connection(_)));
        let unbound = r#"[{"sock_arg":{"family":"AF_INET6","protocol":"IPPROTO_TCP","saddr":"::","daddr":"2606:4700::1111","sport":0,"dport":443}}]"#;
        let out = decode(&kprobe(&p, unbound, "tcp_v6_connect"));
        assert_eq!(out.len(), 1);
        let EventKind::Connection(c) = &out[0].kind else {
            panic!()
        };
        assert_eq!((c.src, c.src_port), (None, None));
        assert_eq!(c.dst, "2606:4700::1111".parse::<IpAddr>().unwrap());
        // No image id: the name alone, without a digest.
        let r = container(&c.placement);
        assert_eq!(
            r.image.as_ref().unwrap().to_string(),
            "registry.example.com/team/app:2.1"
        );
        // A host-network pod's address is the node's.
        let hostnet = proc_json(
            &pod_json(CID, ""),
            r#","ns":{"net":{"inum":4026531840,"is_host":true}}"#,
        );
        let out = decode(&kprobe(&hostnet, SOCK, "tcp_connect"));
        assert_eq!(out.len(), 1);
        // connect(2) probes carry a sockaddr instead.
        let sa = r#"[{"int_arg":3},{"sockaddr_arg":{"family":"AF_INET","addr":"198.51.100.7","port":8080}},{"int_arg":16}]"#;
        let out = decode(&kprobe(&p, sa, "__x64_sys_connect"));
        let EventKind::Connection(c) = &out[0].kind else {
            panic!()
        };
        assert_eq!(
            (c.dst, c.dst_port),
            ("198.51.100.7".parse().unwrap(), Some(8080))
        );
        assert_eq!((c.src, c.proto.as_deref()), (None, None));
        let unix = r#"[{"sockaddr_arg":{"family":"AF_UNIX","addr":"/run/x.sock"}}]"#;
        assert!(decode(&kprobe(&p, unix, "__sys_connect")).is_empty());
        // Probes that are not connects emit nothing, whatever their arguments.
        let write = r#"[{"file_arg":{"path":"/etc/passwd"}},{"bytes_arg":"cm9vdDp4OjA6MAo="},{"size_arg":"627"}]"#;
        assert!(decode(&kprobe(&p, write, "__x64_sys_write")).is_empty());
        assert!(decode(&kprobe(&p, SOCK, "tcp_disconnect")).is_empty());
        assert!(matches!(
            err(&kprobe(&p, r#"[{"sock_arg":{"saddr":"10.0.0.1","daddr":"nope"}}]"#, "tcp_connect")),
            DecodeError::Invalid(m) if m.starts_with("sock_arg.daddr")
        ));
        assert_eq!(
            err(&kprobe(
                &p,
                r#"[{"sock_arg":{"saddr":"10.0.0.1"}}]"#,
                "tcp_connect"
            )),
            DecodeError::Missing("sock_arg.daddr")
        );
    }

    #[test]
    fn exec_in_pod_with_containerd_prefix() {
        let p = proc_json(
            &pod_json(
                &format!("containerd://{}", CID.to_uppercase()),
                &format!("registry.example.com/team/app@{D1}"),
            ),
            "",
        );
        let rec = format!(
            r#"{{"process_exec":{{"process":{p},"parent":{{"pid":4000,"binary":"/bin/sh","start_time":"2024-03-01T09:00:00Z"}}}},"node_name":"node-7","time":"2024-03-01T10:00:00.500000001Z"}}"#
        );
        let out = decode(&rec);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("2024-03-01T10:00:00.500000001Z").unwrap()
        );
        let EventKind::Process(e) = &out[0].kind else {
            panic!()
        };
        assert_eq!(&*e.exe, "/usr/bin/curl");
        assert_eq!(e.cmdline, r#"/usr/bin/curl -s "http://x/a b""#);
        assert_eq!((e.pid, e.ppid), (Some(4100), Some(4000)));
        assert_eq!(e.parent_exe.as_deref(), Some("/bin/sh"));
        let r = container(&e.placement);
        assert_eq!(r.id.as_deref(), Some(CID));
        assert_eq!(r.image.as_ref().unwrap().digest.as_deref(), Some(D1));
    }

    #[test]
    fn image_digest_only_from_the_same_repository() {
        let i = PodImage {
            id: Some(format!("docker-pullable://evil.example/other@{D1}").into()),
            name: Some("nginx:1.25".into()),
        };
        assert_eq!(
            image(&i).unwrap().to_string(),
            "docker.io/library/nginx:1.25"
        );
        let i = PodImage {
            id: Some(format!("docker.io/library/nginx@{D1}").into()),
            name: Some("nginx:1.25".into()),
        };
        assert_eq!(
            image(&i).unwrap().to_string(),
            format!("docker.io/library/nginx:1.25@{D1}")
        );
        let i = PodImage {
            id: Some(D1.into()),
            name: None,
        };
        assert_eq!(image(&i), None);
        let i = PodImage {
            id: Some(format!("docker-pullable://nginx@{D1}").into()),
            name: Some(" ".into()),
        };
        assert_eq!(
            image(&i).unwrap().to_string(),
            format!("docker.io/library/nginx@{D1}")
        );
    }

    #[test]
    fn remembered_images_answer_as_combined_ones() {
        const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let pair = |name: &str, id: &str| PodImage {
            id: Some(id.to_string().into()),
            name: Some(name.to_string().into()),
        };
        for _ in 0..2 {
            for (name, id) in [
                ("nginx:1.25", format!("docker.io/library/nginx@{D1}")),
                ("nginx:1.25", format!("docker.io/library/nginx@{D2}")),
                ("nginx:1.25", format!("evil.example/nginx@{D1}")),
            ] {
                let i = pair(name, &id);
                assert_eq!(image(&i), combine_image(&i), "{name} {id}");
            }
        }
        // No pair's key is another's: text moved between name and id is a new pair.
        let a = pair("ghcr.io/a/b:1", &format!("x@ghcr.io/a/b@{D1}"));
        let b = pair("ghcr.io/a/b:1x@", &format!("ghcr.io/a/b@{D1}"));
        for i in [&a, &b, &a, &b] {
            assert_eq!(image(i), combine_image(i));
        }
        assert_ne!(image(&a), image(&b));
    }

    #[test]
    fn host_process_and_bare_container() {
        let rec = format!(
            r#"{{"process_exec":{{"process":{},"parent":{{"pid":1,"binary":"/sbin/init"}}}},"node_name":"node-7","time":"2024-03-01T10:00:00Z"}}"#,
            proc_json("", r#","docker":"""#)
        );
        let out = decode(&rec);
        let EventKind::Process(e) = &out[0].kind else {
            panic!()
        };
        assert_eq!(
            e.placement,
            Placement::Host {
                host: Some("node-7".into())
            }
        );
        // A container outside Kubernetes: only the id prefix is known.
        let rec = format!(
            r#"{{"process_exec":{{"process":{}}},"node_name":"node-7","time":"2024-03-01T10:00:00Z"}}"#,
            proc_json("", r#","docker":"E6AF4DFF4EA3B8D50313C59FBAA442E""#)
        );
        let out = decode(&rec);
        let EventKind::Process(e) = &out[0].kind else {
            panic!()
        };
        assert_eq!(
            e.placement,
            Placement::Container(ContainerRef {
                host: Some("node-7".into()),
                id: Some("e6af4dff4ea3b8d50313c59fbaa442e".into()),
                ..ContainerRef::default()
            })
        );
        assert_eq!((e.ppid, e.parent_exe.as_deref()), (None, None));
    }

    #[test]
    fn missing_time_falls_back_to_start_time() {
        let rec = format!(
            r#"{{"process_exec":{{"process":{}}},"node_name":"n"}}"#,
            proc_json("", "")
        );
        assert_eq!(
            decode(&rec)[0].time,
            Ts::parse_rfc3339("2024-03-01T10:00:00.5Z").unwrap()
        );
        assert_eq!(
            err(r#"{"process_exec":{"process":{"pid":1,"binary":"/x"}},"node_name":"n"}"#),
            DecodeError::Missing("time")
        );
        assert!(matches!(
            err(r#"{"process_exec":{"process":{"pid":1,"binary":"/x"}},"time":"later"}"#),
            DecodeError::Time(_)
        ));
        // An exit or a connection happened after the start, at a time the record lacks.
        assert_eq!(
            err(r#"{"process_exit":{"process":{"pid":1,"start_time":"2024-03-01T10:00:00Z"}}}"#),
            DecodeError::Missing("time")
        );
    }

    #[test]
    fn exit_legacy_connect_and_other_events() {
        let out = decode(
            r#"{"process_exit":{"process":{"pid":321,"binary":"/x"},"signal":"SIGKILL","status":0},"node_name":"n","time":"2024-03-01T10:00:00Z"}"#,
        );
        assert_eq!(
            out[0].kind,
            EventKind::ProcessExit(ProcessExit {
                host: Some("n".into()),
                pid: 321
            })
        );
        let rec = format!(
            r#"{{"process_connect":{{"process":{},"source_ip":"10.88.0.6","source_port":48416,"destination_ip":"64.225.45.153","destination_port":443,"protocol":"UDP"}},"node_name":"n","time":"2024-03-01T10:00:00Z"}}"#,
            proc_json("", "")
        );
        let out = decode(&rec);
        assert_eq!(out.len(), 1);
        let EventKind::Connection(c) = &out[0].kind else {
            panic!()
        };
        assert_eq!(c.proto.as_deref(), Some("udp"));
        assert_eq!(
            c.placement,
            Placement::Host {
                host: Some("n".into())
            }
        );
        assert!(decode(r#"{"process_tracepoint":{"process":{"pid":1}},"node_name":"n","time":"2024-03-01T10:00:00Z"}"#).is_empty());
        assert!(decode(r#"{"process_lsm":{},"node_name":"n"}"#).is_empty());
        let mut cands = Vec::new();
        crate::sniff::json_candidates(r#"{"process_uprobe":{},"node_name":"n"}"#, None, &mut cands);
        assert_eq!(cands, vec![Format::Tetragon]);
        // Records of other formats are refused, so the next candidate can be tried.
        assert!(matches!(
            err(r#"{"Type":"container","Action":"start","Actor":{"ID":"x"},"timeNano":1}"#),
            DecodeError::Invalid(_)
        ));
        assert_eq!(
            err(r#"{"process_exec":{"parent":{}},"time":"2024-03-01T10:00:00Z"}"#),
            DecodeError::Missing("process_exec.process")
        );
        assert_eq!(
            err(r#"{"process_exit":{"process":{"binary":"/x"}},"time":"2024-03-01T10:00:00Z"}"#),
            DecodeError::Missing("process_exit.process.pid")
        );
        assert!(matches!(
            err(r#"{"process_exit":{"process":{"pid":-1}},"time":"2024-03-01T10:00:00Z"}"#),
            DecodeError::Invalid(_)
        ));
    }

    fn stream(path: &std::path::Path) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_file(path)
    }

    /// The Tetragon test data and the book captures, from the shared samples when they
    /// are present, read through the stream as pullwatch reads files.
    #[test]
    fn in_container_pids_place_a_process_in_its_containers_tree() {
        let pod = |pid: u32| {
            format!(
                r#"{{"namespace":"shop","name":"web-1","container":{{"id":"containerd://{CID}","name":"nginx","image":{{"id":"docker.io/library/nginx@{D1}","name":"docker.io/library/nginx:1.28"}},"start_time":"2024-03-01T09:59:58Z","pid":{pid}}}}}"#
            )
        };
        let exec = |process_pid: u32, pod: &str, parent: &str| {
            format!(
                r#"{{"process_exec":{{"process":{{"exec_id":"eA==","pid":{process_pid},"binary":"/bin/sh","arguments":"-c /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh","start_time":"2024-03-01T10:00:00.5Z","pod":{pod}}},"parent":{parent}}},"node_name":"node-7","time":"2024-03-01T10:00:00.5Z"}}"#
            )
        };
        let lineage = |line: &str| match &decode(line)[0].kind {
            EventKind::Process(p) => p.lineage,
            other => panic!("{other:?}"),
        };
        // Run by the entrypoint (its parent is pid 1 in the container).
        let parent = format!(r#"{{"pid":4001,"binary":"/bin/sh","pod":{}}}"#, pod(1));
        let l = lineage(&exec(4020, &pod(23), &parent));
        assert_eq!((l.pid, l.ppid, l.exec), (Some(23), Some(1), false));
        assert!(l.is_startup());
        // Exec'd by the runtime: the parent (runc) is outside the container.
        let runc = r#"{"pid":3990,"binary":"/usr/bin/runc","arguments":"--root /run/containerd/runc/k8s.io exec --process /tmp/runc-process"}"#;
        let l = lineage(&exec(4030, &pod(31), runc));
        assert_eq!((l.pid, l.ppid), (Some(31), None));
        assert!(!l.is_startup());
        // A hostPID pod: the "in-container" pids are the host's.
        let host = format!(r#"{{"pid":1,"binary":"/sbin/init","pod":{}}}"#, pod(1));
        assert_eq!(lineage(&exec(4040, &pod(4040), &host)), Lineage::default());
        // A pid that is no pid is an error, as for the host pids.
        let bad = exec(4050, &pod(1).replace("\"pid\":1", "\"pid\":-3"), runc);
        assert!(matches!(err(&bad), DecodeError::Invalid(_)), "{bad}");
    }

    #[test]
    fn shared_samples() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/samples/tetragon");
        if !dir.join("events.json").exists() {
            eprintln!("skipped: shared samples not present at {}", dir.display());
            return;
        }
        let quay_es = "quay.io/isovalent/jobs-app-elasticsearch:latest@sha256:ff3aa5862fd17f8695984609743f4523188984adbcd25cf5ac4224b71084558c";

        let (out, stats) = stream(&dir.join("events.json"));
        assert_eq!(stats.skipped_total(), 0, "{stats:?}");
        assert_eq!(stats.formats[&Format::Tetragon].records, 3);
        assert_eq!(out.len(), 3);
        // The first line has no `time`: its process start time stands in.
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("2022-10-18T03:16:18.273546829Z").unwrap()
        );
        assert_eq!(
            out[1].time,
            Ts::parse_rfc3339("2022-10-18T03:16:21.373327754Z").unwrap()
        );
        assert_eq!((out[0].source.line, out[2].source.line), (1, 3));
        let EventKind::Process(p) = &out[0].kind else {
            panic!()
        };
        assert_eq!(&*p.exe, "/usr/bin/netserver");
        assert_eq!(p.cmdline, "/usr/bin/netserver -D");
        assert_eq!((p.pid, p.ppid), (Some(68790), Some(68598)));
        assert_eq!(
            p.parent_exe.as_deref(),
            Some("/usr/bin/containerd-shim-runc-v2")
        );
        // The container's entrypoint: pid 1 inside it, started by the shim outside it.
        assert_eq!(
            p.lineage,
            Lineage {
                pid: Some(1),
                ppid: None,
                exec: false
            }
        );
        assert!(p.lineage.is_startup());
        let c = container(&p.placement);
        assert_eq!(
            c.id.as_deref(),
            Some("19a02291e106ce6227b684197be232ea57c4e1a5ab2604a12608c325d701c7f4")
        );
        assert_eq!(c.host.as_deref(), Some("my-node"));
        assert_eq!(
            (c.namespace.as_deref(), c.pod.as_deref()),
            (Some("default"), Some("tiefighter"))
        );
        assert_eq!(c.name.as_deref(), Some("spaceship"));
        assert_eq!(c.started_at, Ts::parse_rfc3339("2022-10-18T03:16:18Z"));
        assert_eq!(
            c.image.as_ref().unwrap().to_string(),
            "docker.io/tgraf/netperf:latest@sha256:8e86f744bfea165fd4ce68caa05abc96500f40130b857773186401926af7e9e6"
        );
        let EventKind::Process(p) = &out[2].kind else {
            panic!()
        };
        assert_eq!(p.cmdline, "/starwars-docker --port 80 --host 0.0.0.0");
        assert_eq!(
            container(&p.placement).pod.as_deref(),
            Some("deathstar-6f87496b94-gjf74")
        );

        // Pretty-printed single documents.
        let (out, stats) = stream(&dir.join("process_exec.json"));
        assert_eq!((out.len(), stats.skipped_total()), (1, 0));
        assert_eq!(out[0].source.line, 1);
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("2022-01-19T16:29:01.861Z").unwrap()
        );
        let EventKind::Process(p) = &out[0].kind else {
            panic!()
        };
        assert_eq!(p.cmdline, "/usr/bin/curl www.google.com");
        assert_eq!(
            (p.pid, p.ppid, p.parent_exe.as_deref()),
            (Some(115153), Some(114757), Some("/bin/bash"))
        );
        let c = container(&p.placement);
        assert_eq!(
            c.id.as_deref(),
            Some("86eb9e29a77d432afc7a15b424db1d24a382f3caae26f860ab22df8cb5e96054")
        );
        assert_eq!(c.image.as_ref().unwrap().to_string(), quay_es);
        assert_eq!(c.host.as_deref(), Some("minikube"));

        let (out, _) = stream(&dir.join("process_exit.json"));
        assert_eq!(
            out.iter().map(|e| (&e.kind, e.time)).collect::<Vec<_>>(),
            vec![(
                &EventKind::ProcessExit(ProcessExit {
                    host: Some("minikube".into()),
                    pid: 115153
                }),
                Ts::parse_rfc3339("2022-01-19T16:29:02.515Z").unwrap()
            )]
        );

        // A write probe: recognized, of no interest, not skipped.
        let (out, stats) = stream(&dir.join("process_kprobe.json"));
        assert!(out.is_empty());
        assert_eq!(stats.formats[&Format::Tetragon].records, 1);
        assert_eq!(stats.skipped_total(), 0);

        for (file, pod, src, sport, dst, dport, exe) in [
            (
                "process_connect.json",
                "elasticsearch-56f8fc6988-pb8c7",
                "10.88.0.7",
                49168,
                "142.250.180.196",
                80,
                "/usr/bin/curl",
            ),
            (
                "nc_process_connect.json",
                "elasticsearch-56f8fc6988-65smb",
                "10.88.0.6",
                48416,
                "64.225.45.153",
                443,
                "/usr/bin/nc",
            ),
        ] {
            let (out, stats) = stream(&dir.join(file));
            assert_eq!((out.len(), stats.skipped_total()), (2, 0), "{file}");
            let EventKind::ContainerAddress(a) = &out[0].kind else {
                panic!("{file}")
            };
            assert_eq!(a.ips, vec![src.parse::<IpAddr>().unwrap()]);
            assert_eq!(a.container.pod.as_deref(), Some(pod));
            let EventKind::Connection(c) = &out[1].kind else {
                panic!("{file}")
            };
            assert_eq!(c.src, Some(src.parse().unwrap()));
            assert_eq!(c.src_port, Some(sport));
            assert_eq!(c.dst, dst.parse::<IpAddr>().unwrap());
            assert_eq!(c.dst_port, Some(dport));
            assert_eq!(c.proto.as_deref(), Some("tcp"));
            assert_eq!(c.exe.as_deref(), Some(exe));
            let r = container(&c.placement);
            assert_eq!(r.image.as_ref().unwrap().to_string(), quay_es);
            assert_eq!(r.namespace.as_deref(), Some("tenant-jobs"));
        }
    }
}
