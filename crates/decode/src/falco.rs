//! Falco alerts written with `json_output: true`.
//!
//! A Falco alert is not an event stream: `output_fields` holds only the fields the
//! rule's output string names, so one alert may tell pullwatch about a process, a
//! socket, both or neither. Values are typed by the Falco field (strings, integers,
//! `null` when unknown), so every field is read leniently.

use crate::util::{nonempty, rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    Connection, ContainerRef, Event, EventKind, Format, ImageRef, Lineage, Placement, ProcessExec,
    Ts,
};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    rule: Option<Text<'a>>,
    #[serde(borrow)]
    time: Option<Text<'a>>,
    #[serde(borrow)]
    hostname: Option<Text<'a>>,
    /// Read only to tell Falco's JSON log lines (an `output`, no rule) from alerts.
    output: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    output_fields: Option<Fields<'a>>,
}

/// The Falco fields pullwatch reads; every other key is ignored.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(rename = "evt.time", borrow)]
    evt_time: Option<Val<'a>>,
    #[serde(rename = "evt.type", borrow)]
    evt_type: Option<Val<'a>>,
    #[serde(rename = "container.id", borrow)]
    container_id: Option<Val<'a>>,
    #[serde(rename = "container.name", borrow)]
    container_name: Option<Val<'a>>,
    #[serde(rename = "container.image", borrow)]
    container_image: Option<Val<'a>>,
    #[serde(rename = "container.image.repository", borrow)]
    image_repository: Option<Val<'a>>,
    #[serde(rename = "container.image.tag", borrow)]
    image_tag: Option<Val<'a>>,
    #[serde(rename = "container.image.digest", borrow)]
    image_digest: Option<Val<'a>>,
    /// Falco ≥ 0.43 (the container plugin): when the container started, epoch ns.
    #[serde(rename = "container.start_ts", borrow)]
    container_start_ts: Option<Val<'a>>,
    #[serde(rename = "k8s.ns.name", borrow)]
    namespace: Option<Val<'a>>,
    #[serde(rename = "k8s.pod.name", borrow)]
    pod: Option<Val<'a>>,
    #[serde(rename = "proc.name", borrow)]
    proc_name: Option<Val<'a>>,
    #[serde(rename = "proc.exepath", borrow)]
    proc_exepath: Option<Val<'a>>,
    #[serde(rename = "proc.exe", borrow)]
    proc_exe: Option<Val<'a>>,
    #[serde(rename = "proc.cmdline", borrow)]
    proc_cmdline: Option<Val<'a>>,
    #[serde(rename = "proc.pid", borrow)]
    proc_pid: Option<Val<'a>>,
    #[serde(rename = "proc.ppid", borrow)]
    proc_ppid: Option<Val<'a>>,
    /// Pids inside the container's pid namespace: the entrypoint is `proc.vpid` 1.
    #[serde(rename = "proc.vpid", borrow)]
    proc_vpid: Option<Val<'a>>,
    #[serde(rename = "proc.pvpid", borrow)]
    proc_pvpid: Option<Val<'a>>,
    #[serde(rename = "proc.pname", borrow)]
    proc_pname: Option<Val<'a>>,
    #[serde(rename = "user.name", borrow)]
    user_name: Option<Val<'a>>,
    #[serde(rename = "fd.name", borrow)]
    fd_name: Option<Val<'a>>,
    #[serde(rename = "fd.rip", borrow)]
    fd_rip: Option<Val<'a>>,
    #[serde(rename = "fd.rport", borrow)]
    fd_rport: Option<Val<'a>>,
    #[serde(rename = "fd.lip", borrow)]
    fd_lip: Option<Val<'a>>,
    #[serde(rename = "fd.lport", borrow)]
    fd_lport: Option<Val<'a>>,
    #[serde(rename = "fd.sip", borrow)]
    fd_sip: Option<Val<'a>>,
    #[serde(rename = "fd.sport", borrow)]
    fd_sport: Option<Val<'a>>,
    #[serde(rename = "fd.cip", borrow)]
    fd_cip: Option<Val<'a>>,
    #[serde(rename = "fd.cport", borrow)]
    fd_cport: Option<Val<'a>>,
    #[serde(rename = "fd.l4proto", borrow)]
    fd_l4proto: Option<Val<'a>>,
}

/// One `output_fields` value. Falco writes each field in its own type (and lists as
/// arrays), and `null` or `<NA>` when the value is unknown; both mean absent here.
enum Val<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Val<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Val<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Falco field value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val<'a>, E> {
                Ok(Val::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Val<'a>, E> {
                Ok(Val::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Val<'a>, E> {
                Ok(Val::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'a>, E> {
                Ok(Val::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'a>, E> {
                Ok(Val::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val<'a>, E> {
                Ok(Val::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val<'a>, E> {
                Ok(Val::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Val<'a>, E> {
                Ok(Val::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Val::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Val::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Val<'_> {
    /// The value as text, or `None` when Falco did not know it.
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Str(s) => known(s).map(Cow::Borrowed),
            Val::Int(i) => Some(Cow::Owned(i.to_string())),
            Val::UInt(u) => Some(Cow::Owned(u.to_string())),
            Val::Float(f) => Some(Cow::Owned(f.to_string())),
            Val::Bool(b) => Some(Cow::Owned(b.to_string())),
            Val::Other => None,
        }
    }

    fn int(&self, field: &str) -> Result<Option<i64>, DecodeError> {
        let bad = |v: &str| DecodeError::Invalid(format!("{field}: expected an integer, got {v}"));
        match self {
            Val::Int(i) => Ok(Some(*i)),
            Val::UInt(u) => i64::try_from(*u).map(Some).map_err(|_| bad(&u.to_string())),
            Val::Str(_) => match self.text() {
                None => Ok(None),
                Some(t) => t
                    .parse()
                    .map(Some)
                    .map_err(|_| bad(&format!("{:?}", truncate(&t, 32)))),
            },
            Val::Float(f) => Err(bad(&f.to_string())),
            Val::Bool(b) => Err(bad(&b.to_string())),
            Val::Other => Ok(None),
        }
    }
}

fn text<'v>(v: &'v Option<Val<'_>>) -> Option<Cow<'v, str>> {
    v.as_ref().and_then(Val::text)
}

fn string(v: &Option<Val<'_>>) -> Option<String> {
    text(v).map(Cow::into_owned)
}

fn int_in<T: TryFrom<i64>>(v: &Option<Val<'_>>, field: &str) -> Result<Option<T>, DecodeError> {
    match v.as_ref().map(|v| v.int(field)).transpose()?.flatten() {
        None => Ok(None),
        Some(i) => T::try_from(i)
            .map(Some)
            .map_err(|_| DecodeError::Invalid(format!("{field}: {i} is out of range"))),
    }
}

fn ip(v: &Option<Val<'_>>, field: &str) -> Result<Option<IpAddr>, DecodeError> {
    match text(v) {
        None => Ok(None),
        Some(t) => parse_ip(&t).map(Some).ok_or_else(|| {
            DecodeError::Invalid(format!(
                "{field}: not an IP address: {:?}",
                truncate(&t, 64)
            ))
        }),
    }
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let w: Wire = serde_json::from_str(text)?;
    if w.rule.is_none() && w.output_fields.is_none() && w.output.is_some() {
        return Err(DecodeError::NotTelemetry("log line, not an alert"));
    }
    let f = w
        .output_fields
        .ok_or(DecodeError::Missing("output_fields"))?;
    w.rule.ok_or(DecodeError::Missing("rule"))?;
    let time = event_time(&f, w.time.as_deref())?;
    let host = nonempty(&w.hostname);
    let mut placement = placement(&f, host);
    // Without it a container Falco alone reports never shows evidence of starting, so
    // Falco alone could never make a chain of an image that was already present.
    if let Placement::Container(c) = &mut placement {
        c.started_at = container_start(&f)?;
    }
    let pid = int_in::<u32>(&f.proc_pid, "proc.pid")?;
    // Without `proc.cmdline`, `proc.name` is argv[0]'s name: for a busybox applet it
    // is the applet, which `proc.exepath` (`/bin/busybox`) does not say.
    let cmdline = string(&f.proc_cmdline).or_else(|| string(&f.proc_name));
    // `proc.cmdline` starts with the process name, which stands in for a missing exe.
    let exe = string(&f.proc_exepath)
        .or_else(|| string(&f.proc_name))
        .or_else(|| string(&f.proc_exe))
        .or_else(|| {
            cmdline
                .as_deref()
                .and_then(|c| c.split_whitespace().next())
                .map(str::to_string)
        });

    let connection = connection(&f)?;

    if let Some(exe) = &exe {
        let cmdline = cmdline.unwrap_or_else(|| exe.clone());
        // One process trips many Falco rules (and one rule many times): with a pid the
        // alerts are recognizably about the same process and count once.
        let dedupe = pid.map(|p| {
            let cid = match &placement {
                Placement::Container(c) => c.id.as_deref().unwrap_or(""),
                Placement::Host { .. } => "host",
                Placement::Unresolved { .. } => "",
            };
            format!("falco:proc:{}:{cid}:{p}:{cmdline}", host.unwrap_or("")).into_boxed_str()
        });
        let ppid = int_in::<u32>(&f.proc_ppid, "proc.ppid")?;
        let lineage = match &placement {
            Placement::Container(_) => Lineage::from_pids(
                pid,
                int_in::<u32>(&f.proc_vpid, "proc.vpid")?,
                ppid,
                int_in::<u32>(&f.proc_pvpid, "proc.pvpid")?,
            ),
            _ => Lineage::default(),
        };
        let mut e = Event::new(
            time,
            ctx.source(Format::Falco),
            EventKind::Process(ProcessExec {
                placement: placement.clone(),
                pid,
                ppid,
                exe: pullwatch_model::name(exe),
                cmdline,
                parent_exe: string(&f.proc_pname).as_deref().map(pullwatch_model::name),
                user: string(&f.user_name),
                lineage,
            }),
        );
        e.dedupe = dedupe;
        out.push(e);
    }

    if let Some(c) = connection {
        out.push(Event::new(
            time,
            ctx.source(Format::Falco),
            EventKind::Connection(Connection {
                placement,
                pid,
                exe: exe.as_deref().map(pullwatch_model::name),
                src: c.src,
                src_port: c.src_port,
                dst: c.dst,
                dst_port: c.dst_port,
                proto: string(&f.fd_l4proto).map(|p| pullwatch_model::lowercase_name(&p)),
                instance_id: None,
            }),
        ));
    }
    Ok(())
}

/// Falco writes its own log to the same stream as its alerts: startup lines
/// (`Wed Nov 20 09:00:00 2026: Falco version: 0.43.0 (x86_64)`, or with an ISO 8601
/// time `2026-11-20T09:00:00+0000: Loading rules from: …`) and, with `json_output`
/// off, its alerts as text (`09:00:41.518000000: Notice A shell was spawned …`).
/// Neither is an alert pullwatch can read; each is a skip that says which it was.
pub fn decode_text(line: &str) -> Result<(), DecodeError> {
    let Some(rest) = text_line_body(line) else {
        return Err(DecodeError::Invalid("not a Falco log line".into()));
    };
    let first = rest.split(' ').next().unwrap_or("");
    if PRIORITIES.contains(&first) {
        Err(DecodeError::NotTelemetry(
            "text alert, not read (set json_output: true)",
        ))
    } else {
        Err(DecodeError::NotTelemetry("startup/log line, not an alert"))
    }
}

const PRIORITIES: &[&str] = &[
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Info",
    "Debug",
];

/// Whether a text line opens as Falco's log and text alerts do.
pub fn looks_like_text_line(line: &str) -> bool {
    text_line_body(line).is_some()
}

/// What follows a Falco line's time and `": "`, for the three times Falco writes:
/// ctime (`Wed Nov 20 09:00:00 2026`), ISO 8601 with a colon-less offset
/// (`2026-11-20T09:00:00.123456789+0000`) and a bare time of day (`09:00:41.518000000`).
fn text_line_body(line: &str) -> Option<&str> {
    let (time, rest) = line.split_once(": ")?;
    let b = time.as_bytes();
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let clock = |s: &[u8]| {
        s.len() == 8
            && digits(&s[..2])
            && s[2] == b':'
            && digits(&s[3..5])
            && s[5] == b':'
            && digits(&s[6..])
    };
    let ctime = b.len() == 24
        && b[..3].iter().all(u8::is_ascii_alphabetic)
        && b[3] == b' '
        && b[4..7].iter().all(u8::is_ascii_alphabetic)
        && b[7] == b' '
        && (b[8] == b' ' || b[8].is_ascii_digit())
        && b[9].is_ascii_digit()
        && b[10] == b' '
        && clock(&b[11..19])
        && b[19] == b' '
        && digits(&b[20..]);
    let iso = b.len() >= 24
        && digits(&b[..4])
        && b[4] == b'-'
        && b[10] == b'T'
        && clock(&b[11..19])
        && matches!(b[b.len() - 5], b'+' | b'-')
        && digits(&b[b.len() - 4..]);
    let time_of_day = b.len() > 9 && clock(&b[..8]) && b[8] == b'.' && digits(&b[9..]);
    (ctime || iso || time_of_day).then_some(rest)
}

/// `evt.time` is the syscall's own time in integer nanoseconds; the top-level `time` is
/// the same instant in RFC 3339 and covers rules whose output does not name it.
fn event_time(f: &Fields, top: Option<&str>) -> Result<Ts, DecodeError> {
    let from_field = match &f.evt_time {
        Some(Val::Int(i)) => Some(Ts(*i)),
        Some(Val::UInt(u)) => i64::try_from(*u).ok().map(Ts),
        // Some outputs format `evt.time` as a time of day, which names no date.
        Some(v @ Val::Str(_)) => v
            .text()
            .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .map(Ts),
        _ => None,
    };
    match (from_field, top) {
        (Some(t), _) => Ok(t),
        (None, Some(s)) => rfc3339(s),
        (None, None) => Err(DecodeError::Missing("time")),
    }
}

/// `container.start_ts`: 0 (or `null`) when Falco did not know it.
fn container_start(f: &Fields) -> Result<Option<Ts>, DecodeError> {
    match int_in::<i64>(&f.container_start_ts, "container.start_ts")? {
        None | Some(0) => Ok(None),
        Some(ns) if ns < 0 => Err(DecodeError::Invalid(format!(
            "container.start_ts: {ns} is before 1970"
        ))),
        Some(ns) => Ok(Some(Ts(ns))),
    }
}

fn placement(f: &Fields, host: Option<&str>) -> Placement {
    let host_owned = host.map(str::to_string);
    let id = text(&f.container_id);
    let name = string(&f.container_name);
    // Falco names host events `container.id=host` (and `container.name=host`).
    if id
        .as_deref()
        .is_some_and(|i| i.eq_ignore_ascii_case("host"))
        || (id.is_none()
            && name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case("host")))
    {
        return Placement::Host { host: host_owned };
    }
    let c = ContainerRef {
        host: host_owned.as_deref().map(pullwatch_model::name),
        id: id.as_deref().and_then(ContainerRef::clean_id),
        name: name.as_deref().map(pullwatch_model::name),
        pod: string(&f.pod).as_deref().map(pullwatch_model::name),
        namespace: string(&f.namespace).as_deref().map(pullwatch_model::name),
        image: image(f),
        started_at: None,
    };
    if c.id.is_none() && c.name.is_none() && c.pod.is_none() && c.image.is_none() {
        // The rule's output did not mention a container: not proof of a host process.
        return Placement::Unresolved { host: host_owned };
    }
    Placement::Container(c)
}

fn image(f: &Fields) -> Option<ImageRef> {
    let digest = text(&f.image_digest);
    let raw = match text(&f.image_repository) {
        Some(repo) => image_text(&repo, text(&f.image_tag).as_deref(), digest.as_deref()),
        None => image_text(&string(&f.container_image)?, None, digest.as_deref()),
    };
    Some(ImageRef::parse(&raw))
}

/// A Falco string value, or `None` when Falco did not know it (empty, or `<NA>`).
pub(crate) fn known(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty() && t != "<NA>").then_some(t)
}

/// The image reference a container's image fields spell, `repository:tag@digest`; the
/// digest is left out when the reference already pins one. The prefilter judges the
/// allowlist on this same text, so that it cannot trust what the decoder would not.
pub(crate) fn image_text(image: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    let mut s = image.to_string();
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(d) = digest {
        if !s.contains('@') {
            s.push('@');
            s.push_str(d);
        }
    }
    s
}

struct Sock {
    src: Option<IpAddr>,
    src_port: Option<u16>,
    dst: IpAddr,
    dst_port: Option<u16>,
}

/// Syscalls whose socket's far end is the destination pullwatch cares about.
const OUTBOUND: &[&str] = &["connect", "sendto", "sendmsg"];
/// Syscalls whose socket's far end is a client that reached in.
const INBOUND: &[&str] = &["accept", "accept4", "listen", "bind", "recvfrom", "recvmsg"];

fn connection(f: &Fields) -> Result<Option<Sock>, DecodeError> {
    let evt = text(&f.evt_type);
    let evt = evt.as_deref();
    let outbound = evt.is_some_and(|e| OUTBOUND.contains(&e));
    let inbound = evt.is_some_and(|e| INBOUND.contains(&e));
    let rip = ip(&f.fd_rip, "fd.rip")?;
    if !(outbound || (rip.is_some() && !inbound)) {
        return Ok(None);
    }
    let tuple = text(&f.fd_name).and_then(|n| parse_tuple(&n));
    let (dst, dst_port, src, src_port) = if let Some(dst) = rip {
        (
            dst,
            int_in::<u16>(&f.fd_rport, "fd.rport")?,
            ip(&f.fd_lip, "fd.lip")?,
            int_in::<u16>(&f.fd_lport, "fd.lport")?,
        )
    } else if let Some(dst) = ip(&f.fd_sip, "fd.sip")? {
        (
            dst,
            int_in::<u16>(&f.fd_sport, "fd.sport")?,
            ip(&f.fd_cip, "fd.cip")?,
            int_in::<u16>(&f.fd_cport, "fd.cport")?,
        )
    } else if let Some(t) = &tuple {
        (t.dst, t.dst_port, t.src, t.src_port)
    } else {
        return Ok(None);
    };
    // Fill what the address fields left out from `fd.name` when it names the same peer.
    let same = tuple.as_ref().filter(|t| t.dst == dst);
    Ok(Some(Sock {
        src: src.or(same.and_then(|t| t.src)),
        src_port: src_port.or(same.and_then(|t| t.src_port)),
        dst,
        dst_port: dst_port.or(same.and_then(|t| t.dst_port)),
    }))
}

/// `10.0.0.2:45678->1.2.3.4:443`, `fd00::2:45678->2001:db8::1:443` (libsinsp's form), or
/// `[fd00::2]:45678->[2001:db8::1]:443`. File paths and Unix socket names give `None`.
fn parse_tuple(name: &str) -> Option<Sock> {
    let (l, r) = name.split_once("->")?;
    let (dst, dst_port) = parse_endpoint(r)?;
    let (src, src_port) = match parse_endpoint(l) {
        Some((a, p)) => (Some(a), p),
        None => (None, None),
    };
    Some(Sock {
        src,
        src_port,
        dst,
        dst_port,
    })
}

fn parse_endpoint(s: &str) -> Option<(IpAddr, Option<u16>)> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (addr, tail) = rest.split_once(']')?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        return Some((addr.parse().ok()?, port));
    }
    // Falco always writes a port after the last ':' (IPv6 unbracketed), or a service
    // name in its place when port resolution is on.
    if let Some((addr, port)) = s.rsplit_once(':') {
        if let Ok(a) = addr.parse() {
            return Some((a, port.parse().ok()));
        }
    }
    Some((s.parse().ok()?, None))
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

    fn process(e: &Event) -> &ProcessExec {
        match &e.kind {
            EventKind::Process(p) => p,
            other => panic!("not a process: {other:?}"),
        }
    }

    fn conn(e: &Event) -> &Connection {
        match &e.kind {
            EventKind::Connection(c) => c,
            other => panic!("not a connection: {other:?}"),
        }
    }

    const DIGEST: &str = "sha256:8e86f744bfea165fd4ce68caa05abc96500f40130b857773186401926af7e9e6";

    #[test]
    fn container_shell_with_short_id_and_nulls() {
        let rec = format!(
            r#"{{"hostname":"node-a","output":"x","priority":"Notice","rule":"Terminal shell in container","source":"syscall","tags":["container"],"time":"2021-01-14T23:39:44.834631763Z","output_fields":{{"container.id":"5892B41BCF46","container.name":"alpine","container.image.repository":"docker.io/x/y","container.image.tag":"1.0.0","container.image.digest":"{DIGEST}","k8s.ns.name":"default","k8s.pod.name":"alpine","proc.cmdline":"sh -i","proc.name":"sh","proc.exepath":"/bin/busybox","proc.pid":4242,"proc.ppid":"4200","proc.pname":null,"evt.time":1610667584834631763,"user.name":"root","fd.name":null}}}}"#
        );
        let out = decode(&rec);
        assert_eq!(out.len(), 1);
        let e = &out[0];
        assert_eq!(e.time, Ts(1_610_667_584_834_631_763));
        assert_eq!(
            e.dedupe.as_deref(),
            Some("falco:proc:node-a:5892b41bcf46:4242:sh -i")
        );
        let p = process(e);
        assert_eq!(&*p.exe, "/bin/busybox");
        assert_eq!(p.cmdline, "sh -i");
        assert_eq!(p.pid, Some(4242));
        assert_eq!(p.ppid, Some(4200));
        assert_eq!(p.parent_exe, None);
        assert_eq!(p.user.as_deref(), Some("root"));
        let Placement::Container(c) = &p.placement else {
            panic!("{:?}", p.placement)
        };
        assert_eq!(c.id.as_deref(), Some("5892b41bcf46"));
        assert_eq!(c.name.as_deref(), Some("alpine"));
        assert_eq!(c.host.as_deref(), Some("node-a"));
        assert_eq!(c.namespace.as_deref(), Some("default"));
        assert_eq!(c.pod.as_deref(), Some("alpine"));
        let img = c.image.as_ref().unwrap();
        assert_eq!(img.to_string(), format!("docker.io/x/y:1.0.0@{DIGEST}"));
        assert_eq!(img.problem, None);
    }

    #[test]
    fn container_start_ts_is_the_containers_start() {
        let rec = |start: &str| {
            format!(
                r#"{{"hostname":"node-a","rule":"Drop and execute new binary in container","time":"2026-11-20T09:00:41.518Z","output_fields":{{"container.id":"3f9c2a7d1e8b","container.image.repository":"docker.io/kitty0x/toolbox","container.image.tag":"latest","container.start_ts":{start},"evt.time":1795165241518000000,"proc.cmdline":"wget -q http://x","proc.name":"wget","proc.exepath":"/bin/busybox","proc.pid":42}}}}"#
            )
        };
        let started = |start: &str| {
            let out = decode(&rec(start));
            let Placement::Container(c) = &process(&out[0]).placement else {
                panic!()
            };
            c.started_at
        };
        assert_eq!(
            started("1795165208000000000"),
            Some(Ts(1_795_165_208_000_000_000))
        );
        assert_eq!(
            started(r#""1795165208000000000""#),
            Some(Ts(1_795_165_208_000_000_000))
        );
        // Unknown to Falco.
        assert_eq!(started("0"), None);
        assert_eq!(started("null"), None);
        assert_eq!(started(r#""<NA>""#), None);
        for bad in ["-5", r#""soon""#, "1.5"] {
            let mut out = Vec::new();
            assert!(
                matches!(decode_json(&rec(bad), &ctx(), &mut out), Err(DecodeError::Invalid(m)) if m.starts_with("container.start_ts")),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_busybox_applet_without_a_command_line_is_named_by_proc_name() {
        let out = decode(
            r#"{"rule":"r","time":"2026-11-20T09:00:41Z","output_fields":{"container.id":"3f9c2a7d1e8b","proc.name":"wget","proc.exepath":"/bin/busybox"}}"#,
        );
        let p = process(&out[0]);
        assert_eq!((&*p.exe, p.cmdline.as_str()), ("/bin/busybox", "wget"));
        assert_eq!(pullwatch_model::applet(&p.exe, &p.cmdline), Some("wget"));
    }

    #[test]
    fn host_events_and_missing_container_fields() {
        let out = decode(
            r#"{"hostname":"node-b","rule":"r","time":"2021-01-14T23:39:44Z","output_fields":{"container.id":"host","container.name":"host","proc.name":"sshd","evt.time":5}}"#,
        );
        let p = process(&out[0]);
        assert_eq!(
            p.placement,
            Placement::Host {
                host: Some("node-b".into())
            }
        );
        assert_eq!(&*p.exe, "sshd");
        assert_eq!(p.cmdline, "sshd");
        assert_eq!(out[0].dedupe, None);
        // A rule that never mentions the container says nothing about where it ran.
        let out = decode(
            r#"{"hostname":"node-b","rule":"r","time":"2021-01-14T23:39:44Z","output_fields":{"proc.cmdline":"cat /etc/shadow"}}"#,
        );
        let p = process(&out[0]);
        assert_eq!(
            p.placement,
            Placement::Unresolved {
                host: Some("node-b".into())
            }
        );
        assert_eq!(&*p.exe, "cat");
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("2021-01-14T23:39:44Z").unwrap()
        );
    }

    #[test]
    fn null_and_na_values_are_absent() {
        let out = decode(
            r#"{"rule":"r","time":"2021-01-14T23:39:44Z","output_fields":{"container.id":null,"container.image.repository":null,"proc.name":"<NA>","proc.exepath":null,"proc.cmdline":null,"proc.pid":null,"evt.time":null,"user.name":"<NA>"}}"#,
        );
        assert!(out.is_empty());
        // An image given as a whole reference when the repository field is not there.
        let out = decode(
            r#"{"rule":"r","time":"2021-01-14T23:39:44Z","output_fields":{"container.id":"abcdef012345","container.image":"nginx:1.25","container.image.tag":null,"proc.name":"nginx","user.name":null,"proc.pid":"<NA>"}}"#,
        );
        let p = process(&out[0]);
        assert_eq!(p.user, None);
        assert_eq!(p.pid, None);
        let Placement::Container(c) = &p.placement else {
            panic!()
        };
        assert_eq!(
            c.image.as_ref().unwrap().to_string(),
            "docker.io/library/nginx:1.25"
        );
        assert_eq!(c.host, None);
    }

    #[test]
    fn spaced_output_fields_key_and_other_formats() {
        let out = decode(
            r#"{"hostname":"h","rule":"r","time":"2016-08-04T16:17:57.881781397Z", "output_fields": {"evt.time.iso8601":1,"proc.cmdline":"cat /dev/null"}}"#,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].time, Ts(1_470_327_477_881_781_397));
        let mut v = Vec::new();
        assert_eq!(
            decode_json(
                r#"{"rule":"r","time":"2016-08-04T16:17:57Z"}"#,
                &ctx(),
                &mut v
            ),
            Err(DecodeError::Missing("output_fields"))
        );
        assert_eq!(
            decode_json(
                r#"{"output_fields":{"proc.name":"x"},"time":"2016-08-04T16:17:57Z"}"#,
                &ctx(),
                &mut v
            ),
            Err(DecodeError::Missing("rule"))
        );
        assert_eq!(
            decode_json(
                r#"{"rule":"r","output_fields":{"proc.name":"x"}}"#,
                &ctx(),
                &mut v
            ),
            Err(DecodeError::Missing("time"))
        );
        assert!(matches!(
            decode_json(
                r#"{"rule":"r","time":"soon","output_fields":{}}"#,
                &ctx(),
                &mut v
            ),
            Err(DecodeError::Time(_))
        ));
        assert!(matches!(
            decode_json(r#"{"rule":"r","time":"2016-08-04T16:17:57Z","output_fields":{"proc.name":"x","proc.pid":"12ab"}}"#, &ctx(), &mut v),
            Err(DecodeError::Invalid(m)) if m.contains("proc.pid")
        ));
        assert!(v.is_empty());
    }

    #[test]
    fn connect_from_fd_name_ipv4() {
        let out = decode(
            r#"{"hostname":"h","rule":"Outbound","time":"2024-01-01T00:00:00Z","output_fields":{"evt.type":"connect","fd.name":"10.0.0.2:45678->1.2.3.4:443","fd.l4proto":"TCP","proc.name":"curl","proc.pid":77,"container.id":"0123456789ab"}}"#,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(&*process(&out[0]).exe, "curl");
        let c = conn(&out[1]);
        assert_eq!(c.dst, "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst_port, Some(443));
        assert_eq!(c.src, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(c.src_port, Some(45678));
        assert_eq!(c.proto.as_deref(), Some("tcp"));
        assert_eq!(c.pid, Some(77));
        assert_eq!(c.exe.as_deref(), Some("curl"));
        let Placement::Container(r) = &c.placement else {
            panic!()
        };
        assert_eq!(r.id.as_deref(), Some("0123456789ab"));
        assert_eq!(out[1].dedupe, None);
    }

    #[test]
    fn connect_from_fd_name_ipv6() {
        let out = decode(
            r#"{"rule":"Outbound","time":"2024-01-01T00:00:00Z","output_fields":{"evt.type":"connect","fd.name":"[fd00::2]:45678->[2606:4700::1111]:53"}}"#,
        );
        // No process fields: only the connection.
        assert_eq!(out.len(), 1);
        let c = conn(&out[0]);
        assert_eq!(c.dst, "2606:4700::1111".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst_port, Some(53));
        assert_eq!(c.src, Some("fd00::2".parse().unwrap()));
        assert_eq!(c.exe, None);
        assert_eq!(c.placement, Placement::Unresolved { host: None });
        let t = parse_tuple("::1:40000->2001:db8::1:443").unwrap();
        assert_eq!(
            (t.src, t.src_port),
            (Some("::1".parse().unwrap()), Some(40000))
        );
        assert_eq!(
            (t.dst, t.dst_port),
            ("2001:db8::1".parse().unwrap(), Some(443))
        );
        let t = parse_tuple("10.0.0.2:45678->1.2.3.4:https").unwrap();
        assert_eq!((t.dst, t.dst_port), ("1.2.3.4".parse().unwrap(), None));
        assert!(parse_tuple("/var/run/docker.sock").is_none());
        assert!(parse_tuple("ffff8c2a->ffff8c2b").is_none());
        assert!(parse_tuple("[::1]:1->[::2:1").is_none());
        assert!(parse_tuple("[::1]:1->[::2]x").is_none());
    }

    #[test]
    fn connection_from_address_fields_and_direction() {
        // fd.rip without evt.type: the far end is the destination; fd.name fills the ports.
        let out = decode(
            r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"fd.rip":"1.2.3.4","fd.rport":"443","fd.name":"10.0.0.2:45678->1.2.3.4:443"}}"#,
        );
        let c = conn(&out[0]);
        assert_eq!((c.dst, c.dst_port), ("1.2.3.4".parse().unwrap(), Some(443)));
        assert_eq!(
            (c.src, c.src_port),
            (Some("10.0.0.2".parse().unwrap()), Some(45678))
        );
        // sendto names server and client addresses.
        let out = decode(
            r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"evt.type":"sendto","fd.sip":"8.8.8.8","fd.sport":53,"fd.cip":"10.0.0.9","fd.cport":33333,"fd.l4proto":"udp"}}"#,
        );
        let c = conn(&out[0]);
        assert_eq!((c.dst, c.dst_port), ("8.8.8.8".parse().unwrap(), Some(53)));
        assert_eq!(
            (c.src, c.src_port),
            (Some("10.0.0.9".parse().unwrap()), Some(33333))
        );
        assert_eq!(c.proto.as_deref(), Some("udp"));
        // An accepted socket's far end is a client, not a destination.
        let out = decode(
            r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"evt.type":"accept","fd.rip":"1.2.3.4","fd.name":"1.2.3.4:5555->10.0.0.2:22"}}"#,
        );
        assert!(out.is_empty());
        // A socket name without a connect-like syscall is not a connection.
        let out = decode(
            r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"evt.type":"write","fd.name":"10.0.0.2:45678->1.2.3.4:443"}}"#,
        );
        assert!(out.is_empty());
        let mut v = Vec::new();
        assert!(matches!(
            decode_json(r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"fd.rip":"not-an-ip"}}"#, &ctx(), &mut v),
            Err(DecodeError::Invalid(m)) if m.starts_with("fd.rip")
        ));
        assert!(matches!(
            decode_json(r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"fd.rip":"1.2.3.4","fd.rport":70000}}"#, &ctx(), &mut v),
            Err(DecodeError::Invalid(m)) if m.starts_with("fd.rport")
        ));
    }

    #[test]
    fn odd_value_types_do_not_break_records() {
        let out = decode(
            r#"{"rule":"r","time":"2024-01-01T00:00:00Z","output_fields":{"proc.name":"x","container.id":["a"],"evt.time":"10:00:00.000000001","user.name":0}}"#,
        );
        let p = process(&out[0]);
        assert_eq!(p.user.as_deref(), Some("0"));
        assert_eq!(p.placement, Placement::Unresolved { host: None });
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("2024-01-01T00:00:00Z").unwrap()
        );
    }

    /// Falco's own test output, from the shared samples when they are present.
    #[test]
    fn vpid_and_pvpid_place_a_process_in_its_containers_tree() {
        let alert = |fields: &str| {
            format!(
                r#"{{"hostname":"node-a","output":"x","priority":"Notice","rule":"Run shell untrusted","source":"syscall","time":"2026-11-20T09:00:02.5Z","output_fields":{{"container.id":"3f9c2a7d1e8b","container.image.repository":"docker.io/library/nginx","container.image.tag":"1.28","proc.exepath":"/bin/sh","proc.cmdline":"sh -c /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",{fields}}}}}"#
            )
        };
        let lineage = |fields: &str| process(&decode(&alert(fields))[0]).lineage;
        let l = lineage(r#""proc.pid":4020,"proc.vpid":23,"proc.ppid":4001,"proc.pvpid":1"#);
        assert_eq!((l.pid, l.ppid, l.exec), (Some(23), Some(1), false));
        assert!(l.is_startup());
        // As strings, and with the parent outside the container (0): an exec.
        let l = lineage(r#""proc.pid":4030,"proc.vpid":"31","proc.ppid":3990,"proc.pvpid":0"#);
        assert_eq!((l.pid, l.ppid), (Some(31), None));
        assert!(!l.is_startup());
        // Not in the output: nothing known.
        assert_eq!(lineage(r#""proc.pid":4030"#), Lineage::default());
        assert_eq!(
            lineage(r#""proc.vpid":null,"proc.pvpid":"<NA>""#),
            Lineage::default()
        );
        // hostPID: in-namespace pids equal the host's.
        assert_eq!(
            lineage(r#""proc.pid":812,"proc.vpid":812,"proc.ppid":1,"proc.pvpid":1"#),
            Lineage::default()
        );
        // Host processes carry none, whatever their pids.
        let host = alert(r#""proc.vpid":1"#).replace("3f9c2a7d1e8b", "host");
        assert_eq!(process(&decode(&host)[0]).lineage, Lineage::default());
    }

    #[test]
    fn shared_samples() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/falco");
        let Ok(text) = std::fs::read_to_string(dir.join("single_rule_with_cat_write.json")) else {
            eprintln!("skipped: shared samples not present at {}", dir.display());
            return;
        };
        let mut out = Vec::new();
        for line in text.lines() {
            decode_json(line, &ctx(), &mut out).unwrap();
        }
        assert_eq!(out.len(), 8);
        for e in &out {
            let p = process(e);
            assert_eq!(&*p.exe, "cat");
            assert_eq!(p.cmdline, "cat /dev/null");
            assert_eq!(p.pid, None);
            assert_eq!(
                p.placement,
                Placement::Unresolved {
                    host: Some("test-falco-hostname".into())
                }
            );
            assert_eq!(e.source.format, Format::Falco);
        }
        assert_eq!(out[0].time, Ts(1_470_327_477_881_781_397));
        assert_eq!(out[7].time, Ts(1_470_327_477_882_054_739));

        // Through the stream, as pullwatch reads the file: every line recognized as Falco.
        let input = crate::open_path(&dir.join("single_rule_with_cat_write.json")).unwrap();
        let mut s = crate::EventStream::new(input, crate::DecodeOptions::default());
        let (mut streamed, mut stats) = (Vec::new(), crate::DecodeStats::default());
        while s.fill(&mut streamed, &mut stats, 100).unwrap() {}
        assert_eq!(stats.skipped_total(), 0, "{stats:?}");
        assert_eq!(stats.formats[&Format::Falco].records, 8);
        assert_eq!(streamed.len(), 8);
        assert_eq!(streamed[7].source.line, 8);
        assert_eq!(streamed[7].kind, out[7].kind);
    }
}
