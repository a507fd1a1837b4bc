//! The normalized events. Each variant is one "something happened" that at least one
//! analytic can use; decoders map every source onto these and nothing else, so the
//! engine never learns which tool reported a fact.

use crate::cloud::{CloudAction, CloudEvent, GuestBoot, UserDataSeen};
use crate::image::ImageRef;
use crate::memo::TextMemo;
use crate::source::SourceRef;
use crate::time::Ts;
use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub time: Ts,
    pub source: SourceRef,
    /// Key under which the same fact reported twice (audit stages of one request,
    /// a kubelet event updated in place) is recognized and counted once.
    pub dedupe: Option<Box<str>>,
    pub kind: EventKind,
}

impl Event {
    pub fn new(time: Ts, source: SourceRef, kind: EventKind) -> Event {
        Event {
            time,
            source,
            dedupe: None,
            kind,
        }
    }

    /// Order among events with the same timestamp: a stage that causes another sorts
    /// first, so ties never depend on which file was read first.
    pub fn stage_rank(&self) -> u8 {
        match &self.kind {
            EventKind::ImagePull(_) => 0,
            EventKind::PodCreate(_) => 1,
            EventKind::PodBinding(_) => 2,
            EventKind::Container(c) => match c.phase {
                LifecyclePhase::Create => 3,
                LifecyclePhase::Start => 4,
                LifecyclePhase::Exit => 8,
            },
            EventKind::ContainerAddress(_) => 5,
            EventKind::ExecStarted(_) => 5,
            EventKind::Process(_) => 6,
            EventKind::ProcessFork(_) => 6,
            EventKind::Connection(_) => 7,
            EventKind::ProcessExit(_) => 9,
            EventKind::Cloud(c) => match &c.action {
                CloudAction::ImageCreated { .. } | CloudAction::ImagePermission { .. } => 0,
                CloudAction::InstanceLaunch(_) | CloudAction::UserDataChanged { .. } => 1,
                CloudAction::InstanceStart { .. } => 4,
                CloudAction::InstanceStop { .. } => 8,
            },
            EventKind::UserData(_) => 0,
            EventKind::GuestBoot(_) => 5,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            EventKind::ImagePull(_) => "image-pull",
            EventKind::PodCreate(_) => "pod-create",
            EventKind::PodBinding(_) => "pod-binding",
            EventKind::Container(c) => match c.phase {
                LifecyclePhase::Create => "container-create",
                LifecyclePhase::Start => "container-start",
                LifecyclePhase::Exit => "container-exit",
            },
            EventKind::ContainerAddress(_) => "container-address",
            EventKind::ExecStarted(_) => "exec-started",
            EventKind::Process(_) => "process",
            EventKind::ProcessFork(_) => "process-fork",
            EventKind::Connection(_) => "connection",
            EventKind::ProcessExit(_) => "process-exit",
            EventKind::Cloud(c) => match &c.action {
                CloudAction::InstanceLaunch(_) => "instance-launch",
                CloudAction::InstanceStart { .. } => "instance-start",
                CloudAction::InstanceStop { .. } => "instance-stop",
                CloudAction::UserDataChanged { .. } => "user-data-changed",
                CloudAction::ImageCreated { .. } => "image-created",
                CloudAction::ImagePermission { .. } => "image-permission",
            },
            EventKind::UserData(_) => "user-data",
            EventKind::GuestBoot(_) => "guest-boot",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// An image was fetched from a registry onto a host.
    ImagePull(ImagePull),
    /// A pod was admitted by the API server, with its containers' image specs.
    PodCreate(PodCreate),
    /// The scheduler bound a pod to a node.
    PodBinding(PodBinding),
    /// A container was created, started or exited.
    Container(ContainerLifecycle),
    /// A container (or pod) held these addresses from this time on.
    ContainerAddress(ContainerAddress),
    /// The runtime started an extra process inside a running container (`exec`): its
    /// pid belongs to the container as much as the init pid does.
    ExecStarted(ExecStarted),
    /// A process was executed.
    Process(ProcessExec),
    /// A process forked a child. Sources without container ids (auditd) need these links
    /// to follow a pid's ancestry up to a container's init pid.
    ProcessFork(ProcessFork),
    /// A process ended: it frees its pid for reuse.
    ProcessExit(ProcessExit),
    /// An outbound connection or flow.
    Connection(Connection),
    /// A cloud control-plane call: VM launch, start, stop, user-data change, image
    /// provenance or sharing.
    Cloud(CloudEvent),
    /// User data given to pullwatch directly, to be inspected.
    UserData(UserDataSeen),
    /// A guest reached a boot stage (cloud-init).
    GuestBoot(GuestBoot),
}

/// Text a node's records repeat on every event: host, container id and name, pod,
/// namespace, executable, protocol. Events are built on decoding threads and dropped on
/// the engine's: shared names cost a counter rather than an allocation, a copy and a
/// cross-thread free each. [`name`] hands out one per distinct text and thread.
pub type Name = Arc<str>;

/// Names longer than this are not remembered (each gets its own allocation), so the
/// memory of remembered names stays bounded by count times this length.
const NAME_KEPT_LEN: usize = 256;
/// Names remembered per thread; past this many the memory starts over.
const NAMES_KEPT: usize = 8192;

thread_local! {
    static NAMES: RefCell<TextMemo<Name>> = RefCell::new(TextMemo::new(NAMES_KEPT, NAME_KEPT_LEN));
}

/// The shared name for `text`.
pub fn name(text: &str) -> Name {
    NAMES.with(|names| names.borrow_mut().get_or(text, || Name::from(text)))
}

/// The shared name for `text` in ASCII lowercase; copies only text that has capitals.
pub fn lowercase_name(text: &str) -> Name {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        name(&text.to_ascii_lowercase())
    } else {
        name(text)
    }
}

/// What a record says about the container an event belongs to. Every field is
/// optional because sources know different parts: Docker knows the full id and image,
/// kubelet the pod and container name, Falco a 12-character id prefix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerRef {
    /// Node or host name, as the source names it.
    pub host: Option<Name>,
    /// Container id, lowercase hex without a runtime scheme; may be a prefix.
    pub id: Option<Name>,
    /// Container name (the Kubernetes container name inside a pod, or Docker's name).
    pub name: Option<Name>,
    pub pod: Option<Name>,
    pub namespace: Option<Name>,
    pub image: Option<ImageRef>,
    /// When the container started, if the record itself carries it (Tetragon does).
    pub started_at: Option<Ts>,
}

impl ContainerRef {
    /// Normalizes a runtime container id: strips `containerd://`-style schemes and
    /// lowercases. Returns `None` for empty ids and for Falco's `host` marker.
    pub fn clean_id(raw: &str) -> Option<Name> {
        let s = raw.trim();
        // Most ids carry no scheme; a byte scan for ':' is far cheaper than a substring
        // search, and this runs on nearly every record.
        let s = if s.as_bytes().contains(&b':') {
            s.rsplit_once("://").map_or(s, |(_, id)| id)
        } else {
            s
        };
        if s.is_empty() || s.eq_ignore_ascii_case("host") {
            return None;
        }
        Some(lowercase_name(s))
    }

    pub fn has_identity(&self) -> bool {
        self.id.is_some() || (self.pod.is_some() && self.name.is_some())
    }
}

/// Where a process or connection ran, as far as the record itself tells.
/// The container variant is much larger than the others; boxing it would cost an
/// allocation for most process and connection records, which are in containers.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Placement {
    /// Inside this container.
    Container(ContainerRef),
    /// Certainly on the host, outside any container (Falco `container.id=host`).
    Host { host: Option<String> },
    /// The record does not say (auditd, flow logs): the engine resolves it from pid
    /// ancestry or addresses, or leaves it on the host.
    Unresolved { host: Option<String> },
}

impl Placement {
    pub fn host(&self) -> Option<&str> {
        match self {
            Placement::Container(c) => c.host.as_deref(),
            Placement::Host { host } | Placement::Unresolved { host } => host.as_deref(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ImagePull {
    pub host: Option<String>,
    pub image: ImageRef,
    /// The container the pull was made for, when the source says (kubelet does).
    pub for_container: Option<ContainerRef>,
    /// What the source said, for the evidence line (`Pulling image "x"`).
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodContainerKind {
    Init,
    Regular,
    Ephemeral,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodContainerSpec {
    pub name: String,
    pub image: ImageRef,
    /// The image string as written in the pod spec.
    pub image_raw: String,
    pub pull_policy: Option<String>,
    pub kind: PodContainerKind,
    /// The spec's `command` (replacing the image's entrypoint) and `args` (replacing
    /// its command), where set: what the container runs as its pid 1.
    pub command: Vec<String>,
    pub args: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodCreate {
    pub namespace: String,
    pub pod: String,
    pub node: Option<String>,
    pub containers: Vec<PodContainerSpec>,
    /// Who asked (`user.username`).
    pub actor: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodBinding {
    pub namespace: String,
    pub pod: String,
    pub node: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecyclePhase {
    Create,
    Start,
    Exit,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerLifecycle {
    pub container: ContainerRef,
    pub phase: LifecyclePhase,
    /// Host pid of the container's init process, where the runtime reports it.
    pub pid: Option<u32>,
    /// Sandbox (pause) containers are plumbing, not workloads.
    pub sandbox: bool,
    pub detail: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerAddress {
    pub container: ContainerRef,
    pub ips: Vec<IpAddr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProcessExec {
    pub placement: Placement,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    /// Executable path or name as reported.
    pub exe: Name,
    /// Full command line, arguments joined by spaces.
    pub cmdline: String,
    pub parent_exe: Option<Name>,
    pub user: Option<String>,
    /// Where the process stands in its container's own process tree, as far as the
    /// record says (Falco `proc.vpid`/`proc.pvpid`, Tetragon `pod.container.pid`).
    pub lineage: Lineage,
}

/// A process's place in its container's process tree. Pids here are those inside the
/// container's pid namespace, where the container's entrypoint is pid 1: they tell the
/// image's own start-up from what was started later or from outside (`exec`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The process's pid inside the container: 1 is the entrypoint.
    pub pid: Option<u32>,
    /// The parent's pid inside the container: 1 when the entrypoint started it.
    pub ppid: Option<u32>,
    /// Started by the runtime's exec (`docker exec`, `kubectl exec`), not by the
    /// container's entrypoint.
    pub exec: bool,
}

impl Lineage {
    /// Lineage from in-namespace pids, given the host pids too: where the two are the
    /// same the container shares the host's pid namespace (`hostPID`), its pid 1 is the
    /// host's init, and the numbers say nothing about the container's own entrypoint.
    pub fn from_pids(
        host_pid: Option<u32>,
        ns_pid: Option<u32>,
        host_ppid: Option<u32>,
        ns_ppid: Option<u32>,
    ) -> Lineage {
        let host_ns = matches!((host_pid, ns_pid), (Some(h), Some(n)) if h == n)
            || matches!((host_ppid, ns_ppid), (Some(h), Some(n)) if h == n);
        if host_ns {
            return Lineage::default();
        }
        Lineage {
            pid: ns_pid.filter(|p| *p != 0),
            ppid: ns_ppid.filter(|p| *p != 0),
            exec: false,
        }
    }

    /// Whether the record says anything about the process's place in its container.
    pub fn known(&self) -> bool {
        self.pid.is_some() || self.ppid.is_some() || self.exec
    }

    /// The container's entrypoint itself (pid 1), or a process it started directly
    /// (parent pid 1), and not one the runtime started with `exec`.
    pub fn is_startup(&self) -> bool {
        !self.exec && (self.pid == Some(1) || self.ppid == Some(1))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ExecStarted {
    pub container: ContainerRef,
    /// Host pid of the exec'd process.
    pub pid: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProcessFork {
    pub host: Option<String>,
    /// The child's pid.
    pub pid: u32,
    /// The forking process's pid.
    pub ppid: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProcessExit {
    pub host: Option<String>,
    pub pid: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub placement: Placement,
    pub pid: Option<u32>,
    pub exe: Option<Name>,
    pub src: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst: IpAddr,
    pub dst_port: Option<u16>,
    /// `tcp`, `udp`, … in lowercase.
    pub proto: Option<Name>,
    /// Cloud instance id, where the record carries one (custom VPC flow logs).
    pub instance_id: Option<String>,
}

/// The final path component of an executable, without a Windows `.exe`, lowercased:
/// the form `suspicious_binaries` entries are compared with.
pub fn exe_basename(exe: &str) -> String {
    let base = exe.rsplit(['/', '\\']).next().unwrap_or(exe);
    let lower = base.trim().to_ascii_lowercase();
    match lower.strip_suffix(".exe") {
        Some(s) => s.to_string(),
        None => lower,
    }
}

/// Executables that run as whichever of their built-in programs (applets) they are
/// invoked as: `/bin/sh` in an Alpine image is a link to `/bin/busybox`.
pub const MULTI_CALL_BINARIES: &[&str] = &["busybox", "toybox"];

/// The program a multi-call binary runs, from its command line: argv[0] names the
/// applet (`sh -c …`), unless the binary was invoked by its own name, when the next
/// word does (`busybox wget …`). Sensors report the executable a process maps, which
/// for every applet is the same `/bin/busybox`; judging that name would make every
/// `ls` in an Alpine image look like the same program. `None` when `exe` is not a
/// multi-call binary or the command line names no applet (then the binary itself is
/// what is known to have run).
pub fn applet<'a>(exe: &str, cmdline: &'a str) -> Option<&'a str> {
    let multi = |s: &str| MULTI_CALL_BINARIES.contains(&exe_basename(s).as_str());
    if !multi(exe) {
        return None;
    }
    let mut words = cmdline.split_whitespace();
    let first = words.next()?;
    let applet = if multi(first) { words.next()? } else { first };
    (!applet.starts_with('-')).then_some(applet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applets_of_multi_call_binaries() {
        assert_eq!(applet("/bin/busybox", "sh -c id"), Some("sh"));
        assert_eq!(applet("/bin/busybox", "/bin/ls -l /tmp"), Some("/bin/ls"));
        assert_eq!(
            applet("/bin/busybox", "busybox wget -q http://x"),
            Some("wget")
        );
        assert_eq!(
            applet("/bin/busybox", "/bin/busybox wget http://x"),
            Some("wget")
        );
        assert_eq!(applet("/usr/bin/toybox", "nc 10.0.0.1 80"), Some("nc"));
        // The binary alone, or asked for its help, names no applet.
        assert_eq!(applet("/bin/busybox", "busybox"), None);
        assert_eq!(applet("/bin/busybox", "busybox --list"), None);
        assert_eq!(applet("/bin/busybox", ""), None);
        // Anything else is judged as itself.
        assert_eq!(applet("/usr/bin/curl", "sh -c x"), None);
    }

    #[test]
    fn basenames() {
        assert_eq!(exe_basename("/usr/bin/curl"), "curl");
        assert_eq!(
            exe_basename("C:\\Windows\\System32\\CertUtil.EXE"),
            "certutil"
        );
        assert_eq!(exe_basename("sh"), "sh");
        assert_eq!(exe_basename(""), "");
    }

    #[test]
    fn names_are_shared_and_bounded() {
        let a = name("node-7");
        let b = name("node-7");
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a, &b), "the second is the remembered one");
        let long = "n".repeat(NAME_KEPT_LEN + 1);
        let (x, y) = (name(&long), name(&long));
        assert_eq!(x, y);
        assert!(!Arc::ptr_eq(&x, &y), "long names are not remembered");
        for i in 0..NAMES_KEPT + 10 {
            assert_eq!(&*name(&format!("pod-{i}")), format!("pod-{i}"));
        }
        NAMES.with(|n| assert!(n.borrow().len() <= NAMES_KEPT));
        // Ids are lowercased on the way in, and shared like other names.
        let id = ContainerRef::clean_id("docker://ABCdef").unwrap();
        assert_eq!(&*id, "abcdef");
        assert!(Arc::ptr_eq(&id, &ContainerRef::clean_id("abcdef").unwrap()));
    }

    #[test]
    fn container_ids() {
        assert_eq!(
            ContainerRef::clean_id("containerd://ABC123").as_deref(),
            Some("abc123")
        );
        assert_eq!(ContainerRef::clean_id("host"), None);
        assert_eq!(ContainerRef::clean_id(" "), None);
    }
}
