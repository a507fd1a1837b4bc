//! pullwatch's correlation core. It does no I/O and reads no clock: events go in with
//! their own timestamps, alerts come out, and the same events give the same alerts in
//! any arrival order within the allowed lateness. Every piece of state is keyed,
//! expires with its window, and is capped, with every eviction counted.
#![forbid(unsafe_code)]

pub mod an0691;
pub mod an0692;
pub mod config;
mod evidence;
pub mod identity;
pub mod interest;
pub mod matchers;
pub mod provenance;
pub mod reorder;
pub mod stats;
#[cfg(test)]
mod test_support;

use an0691::{Activity, ContainerChains};
use an0692::InstanceChains;
use config::Config;
use identity::NodeIdentity;
use matchers::Matchers;
use provenance::{Provenance, ProvenanceView};
use pullwatch_model::inspect::{ContentInspector, NoInspection};
use pullwatch_model::time::Dur;
use pullwatch_model::{Alert, Event, EventKind, LifecyclePhase, Placement, Ts};
use reorder::{Admit, ReorderBuffer};
use stats::{EngineStats, FutureLocation, LateLocation, RewindLocation};
use std::collections::HashMap;

/// The engine's tables, keyed by names and ids the input chooses: foldhash seeded per
/// process, so no colliding keys can be prepared ahead, at a fraction of SipHash's cost
/// per lookup (the container tables alone took 2% of a scan's instructions with SipHash).
pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

pub use config::ConfigError;

pub(crate) const LATE_LOCATIONS_KEPT: usize = 5;

/// The statistics' reason for activity no analytic can use.
const IGNORED_REASON: &str = "activity in a container of an allowlisted image";

pub struct Engine {
    cfg: Config,
    matchers: Matchers,
    reorder: ReorderBuffer,
    containers: ContainerChains,
    identity: NodeIdentity,
    instances: InstanceChains,
    inspector: Box<dyn ContentInspector>,
    /// Dedupe keys seen, with the event time they were first seen at. The keys hold
    /// attacker-chosen text: hashed with a per-process random seed.
    seen: HashMap<Box<str>, Ts, foldhash::fast::RandomState>,
    /// Allowlist verdicts of the image references arriving activity carries, by the
    /// shared parse they point to (decoders hand out one per distinct reference): most
    /// events would otherwise match the same image against every pattern again.
    trust_memo: interest::TrustMemo,
    stats: EngineStats,
    /// Events dropped by [`Engine::ignores`] on arrival: most events, so counted here
    /// and folded into the statistics' reasons only when they are read.
    ignored_on_arrival: u64,
    ready: Vec<Event>,
    next_expiry: Ts,
}

impl Engine {
    /// An engine without content inspection: user data and command-line patterns are
    /// not examined (the binary wires the real inspector with [`Engine::with_inspector`]).
    pub fn new(cfg: Config) -> Engine {
        Engine::with_inspector(cfg, Box::new(NoInspection))
    }

    pub fn with_inspector(cfg: Config, inspector: Box<dyn ContentInspector>) -> Engine {
        let window = cfg.time_window.0;
        let lateness = cfg.allowed_lateness.0;
        Engine {
            matchers: Matchers::new(&cfg),
            reorder: ReorderBuffer::with_future_skew(
                lateness,
                cfg.max_future_skew.0,
                cfg.limits.max_pending_events,
            ),
            containers: ContainerChains::new(
                window,
                lateness,
                cfg.limits.max_tracked_containers,
                cfg.limits.max_tracked_pulls,
            ),
            identity: NodeIdentity::new(lateness, cfg.limits.max_tracked_processes),
            instances: InstanceChains::new(&cfg),
            inspector,
            seen: HashMap::default(),
            trust_memo: interest::TrustMemo::default(),
            stats: EngineStats::default(),
            ignored_on_arrival: 0,
            ready: Vec::new(),
            next_expiry: Ts::MIN,
            cfg,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Judges image provenance against `view` (the baseline, loaded by the caller) and
    /// notes the digests and tag resolutions the scan sees; see [`provenance`].
    pub fn with_provenance(mut self, view: ProvenanceView) -> Engine {
        self.containers.provenance = Provenance::new(view, self.cfg.time_window.0);
        self
    }

    /// What the scan saw (`observations()`) and how it compared with the baseline.
    pub fn provenance(&self) -> &Provenance {
        &self.containers.provenance
    }

    /// Takes one event; alerts that it (or the records it lets through the watermark)
    /// completes are appended to `alerts`.
    pub fn push(&mut self, event: Event, alerts: &mut Vec<Alert>) {
        self.stats.events += 1;
        // User data handed over directly has no time of its own: it is context for
        // whichever launch it belongs to, never "late".
        if matches!(event.kind, EventKind::UserData(_)) {
            self.process(&event, alerts);
            return;
        }
        // What no analytic can use is dropped on arrival, as the prefilter drops its
        // record: it neither waits in the reorder buffer (most of a node's telemetry,
        // held for the whole allowed lateness) nor moves event time, so a scan gives
        // the same alerts with the prefilter on or off.
        if self.ignores_remembered(&event) {
            self.ignored_on_arrival += 1;
            return;
        }
        let (path, line) = (event.source.path.clone(), event.source.line);
        match self.reorder.admit(event) {
            Admit::Held => {}
            Admit::Future { ahead } => self.future(&path, line, ahead),
            // Held aside: late, or the start of a rewind; nothing moves until it is known.
            Admit::Behind => return,
            Admit::Rewind => self.rewind(alerts),
        }
        self.count_late();
        for o in self.reorder.take_outliers() {
            self.future(&o.path, o.line, o.ahead);
        }
        let confirmed = self.reorder.take_confirmed();
        if !confirmed.is_empty() {
            // Time really moved on (an archive's gap): those records were the present,
            // not dated ahead, and are no longer reported as such.
            self.stats.future = self.stats.future.saturating_sub(confirmed.len() as u64);
            self.stats.future_first.retain(|f| {
                !confirmed
                    .iter()
                    .any(|(p, l)| *l == f.line && **p == *f.path)
            });
        }
        self.release_ready(alerts);
    }

    /// Moves event time to `t` when no record does: a live caller whose inputs went
    /// quiet says how far event time has come (its wall clock's idle time added to the
    /// last record's time), so the records held for the allowed lateness are correlated
    /// and windows expire. The engine itself still reads no clock: the same calls give
    /// the same alerts. Never moves time backwards, and a quiet spell is not the end
    /// of an input: records held aside as a possible rewind are late from then on.
    pub fn advance_to(&mut self, t: Ts, alerts: &mut Vec<Alert>) {
        self.reorder.advance_to(t);
        self.count_late();
        self.release_ready(alerts);
    }

    /// Counts and locates the records the reorder buffer refused as late.
    fn count_late(&mut self) {
        for l in self.reorder.take_late() {
            self.stats.late += 1;
            if self.stats.late_first.len() < LATE_LOCATIONS_KEPT {
                self.stats.late_first.push(LateLocation {
                    path: l.path.to_string(),
                    line: l.line,
                    behind: l.behind.to_string(),
                });
            }
        }
    }

    /// The input restarted from an earlier time (see [`Admit::Rewind`]): what is held
    /// is correlated first, as at the end of an input, then event time moves back to
    /// the run of records that showed it, which is correlated from there on. State
    /// from before stays: every analytic joins a stage only to activity that follows
    /// it in event time, so what came before the rewind in the input but lies later
    /// in time cannot open a chain for what follows.
    fn rewind(&mut self, alerts: &mut Vec<Alert>) {
        self.drain_all(alerts);
        if let Some(r) = self.reorder.restart() {
            self.stats.rewinds += 1;
            if self.stats.rewind_first.len() < LATE_LOCATIONS_KEPT {
                self.stats.rewind_first.push(RewindLocation {
                    path: r.path.to_string(),
                    line: r.line,
                    back: r.back.to_string(),
                });
            }
        }
        // Expiry follows the watermark, which just moved back.
        self.next_expiry = Ts::MIN;
    }

    /// Correlates everything held, whatever the watermark: at the end of an input and
    /// before a rewind.
    fn drain_all(&mut self, alerts: &mut Vec<Alert>) {
        let mut ready = std::mem::take(&mut self.ready);
        for ev in ready.drain(..) {
            self.process(&ev, alerts);
        }
        self.ready = ready;
        while let Some(ev) = self.reorder.drain_next() {
            self.process(&ev, alerts);
        }
    }

    /// Correlates what the watermark has passed, then lets expired state go.
    fn release_ready(&mut self, alerts: &mut Vec<Alert>) {
        let mut ready = std::mem::take(&mut self.ready);
        self.stats.reorder_forced += self.reorder.release(&mut ready) as u64;
        for ev in ready.drain(..) {
            self.process(&ev, alerts);
        }
        self.ready = ready;
        self.maybe_expire();
    }

    /// The latest event time a record (or [`Engine::advance_to`]) has brought.
    pub fn latest(&self) -> Option<Ts> {
        self.reorder.latest()
    }

    fn future(&mut self, path: &str, line: u64, ahead: Dur) {
        self.stats.future += 1;
        if self.stats.future_first.len() < LATE_LOCATIONS_KEPT {
            self.stats.future_first.push(FutureLocation {
                path: path.to_string(),
                line,
                ahead: ahead.to_string(),
            });
        }
    }

    /// End of input: everything held is released and correlated. A run of records
    /// far behind that is still pending shows that the input restarted from an
    /// earlier time: it is correlated after the rest, as a rewind.
    pub fn finish(&mut self, alerts: &mut Vec<Alert>) {
        if self.reorder.behind_len() > 0 {
            self.rewind(alerts);
            for o in self.reorder.take_outliers() {
                self.future(&o.path, o.line, o.ahead);
            }
        }
        self.drain_all(alerts);
        self.instances
            .flush_pending_user_data(&mut self.stats, alerts);
    }

    pub fn stats(&self) -> EngineStats {
        let mut s = self.stats.clone();
        if self.ignored_on_arrival > 0 {
            *s.activity.entry(IGNORED_REASON.to_string()).or_default() += self.ignored_on_arrival;
        }
        s.containers_tracked = self.containers.tracked() as u64;
        s.instances_tracked = self.instances.tracked() as u64;
        s
    }

    pub fn watermark(&self) -> Ts {
        self.reorder.watermark()
    }

    fn maybe_expire(&mut self) {
        let wm = self.reorder.watermark();
        if wm < self.next_expiry {
            return;
        }
        // Sweeping every eighth of a window keeps state within ~1.125 windows while
        // costing one pass per sweep.
        let step = Dur((self.cfg.time_window.0 .0 / 8).max(1));
        self.next_expiry = wm.saturating_add(step);
        self.containers.expire(wm, &mut self.stats);
        self.instances.expire(wm, &mut self.stats);
        let horizon = wm
            .saturating_sub(self.cfg.time_window.0)
            .saturating_sub(self.cfg.allowed_lateness.0);
        let ev = self.identity.expire(horizon);
        self.stats.evicted("process links: expired", ev.links);
        self.stats.evicted("address leases: expired", ev.leases);
        let before = self.seen.len();
        self.seen.retain(|_, t| *t >= horizon);
        self.stats
            .evicted("dedupe keys: expired", (before - self.seen.len()) as u64);
    }

    /// A duplicate of a fact already correlated is counted and dropped.
    fn is_duplicate(&mut self, ev: &Event) -> bool {
        let Some(key) = &ev.dedupe else { return false };
        if self.seen.contains_key(key) {
            self.stats.duplicates += 1;
            return true;
        }
        if self.seen.len() >= self.cfg.limits.max_dedupe_keys {
            // Forget the oldest half rather than grow: a forgotten key can at worst let
            // one repeat through, which the one-alert-per-entity rule absorbs.
            let mut times: Vec<Ts> = self.seen.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            let before = self.seen.len();
            self.seen.retain(|_, t| *t > cut);
            self.stats
                .evicted("dedupe keys: capacity", (before - self.seen.len()) as u64);
        }
        self.seen.insert(key.clone(), ev.time);
        false
    }

    /// Takes an event that [`Engine::push`] let through: what no analytic can use was
    /// dropped there already.
    fn process(&mut self, ev: &Event, alerts: &mut Vec<Alert>) {
        if self.is_duplicate(ev) {
            return;
        }
        self.containers.provenance.observe(ev);
        let m = &self.matchers;
        let stats = &mut self.stats;
        let t = ev.time;
        match &ev.kind {
            EventKind::ImagePull(p) => self.containers.on_pull(ev, p, m, stats),
            EventKind::PodCreate(p) => self.containers.on_pod_create(ev, p, m, stats, alerts),
            EventKind::PodBinding(b) => self.containers.on_binding(ev, b),
            EventKind::Container(l) => {
                match (l.phase, l.pid) {
                    (LifecyclePhase::Start, Some(pid)) if !l.sandbox => {
                        let e =
                            self.identity
                                .link(l.container.host.as_deref(), pid, &l.container, t);
                        stats.evicted("process links: capacity", e.links);
                    }
                    (LifecyclePhase::Exit, _) => self.identity.container_exit(&l.container, t),
                    _ => {}
                }
                self.containers.on_lifecycle(ev, l, m, stats);
            }
            EventKind::ExecStarted(x) => {
                let e = self
                    .identity
                    .link(x.container.host.as_deref(), x.pid, &x.container, t);
                stats.evicted("process links: capacity", e.links);
            }
            EventKind::ProcessFork(f) => {
                let e = self.identity.fork(f.host.as_deref(), f.pid, f.ppid, t);
                stats.evicted("process links: capacity", e.links);
            }
            EventKind::ProcessExit(x) => self.identity.exit(x.host.as_deref(), x.pid),
            EventKind::Cloud(c) => self.instances.on_cloud(
                ev,
                c,
                &*self.inspector,
                &self.containers.provenance,
                stats,
                alerts,
            ),
            EventKind::UserData(u) => {
                self.instances
                    .on_user_data(ev, u, &*self.inspector, stats, alerts)
            }
            EventKind::GuestBoot(g) => self.instances.on_guest_boot(ev, g),
            EventKind::ContainerAddress(a) => {
                for ip in &a.ips {
                    self.identity.lease(*ip, &a.container, t);
                }
            }
            EventKind::Process(p) => {
                let act = Activity::Process {
                    exe: &p.exe,
                    cmdline: &p.cmdline,
                    lineage: p.lineage,
                };
                match &p.placement {
                    Placement::Container(c) => {
                        self.containers.on_activity(ev, c, &act, m, stats, alerts)
                    }
                    Placement::Host { host } => self.guest_process(ev, p, host.as_deref(), alerts),
                    Placement::Unresolved { host } => {
                        match self
                            .identity
                            .resolve_process(host.as_deref(), p.pid, p.ppid, t)
                        {
                            Some(c) => self.containers.on_activity(ev, &c, &act, m, stats, alerts),
                            None => self.guest_process(ev, p, host.as_deref(), alerts),
                        }
                    }
                }
            }
            EventKind::Connection(c) => {
                let act = Activity::Connection {
                    dst: c.dst,
                    dst_port: c.dst_port,
                    proto: c.proto.as_deref(),
                    exe: c.exe.as_deref(),
                    src: c.src,
                };
                if let Some(k) = c
                    .instance_id
                    .as_deref()
                    .and_then(|i| self.instances.by_instance_id(i))
                {
                    self.instances
                        .on_connection(&k, ev, c.dst, c.dst_port, m, stats, alerts);
                    return;
                }
                match &c.placement {
                    Placement::Container(cr) => {
                        self.containers.on_activity(ev, cr, &act, m, stats, alerts)
                    }
                    Placement::Host { .. } => self.guest_connection(ev, c, alerts),
                    Placement::Unresolved { host } => {
                        let by_pid = match c.pid {
                            Some(_) => {
                                self.identity
                                    .resolve_process(host.as_deref(), c.pid, None, t)
                            }
                            None => None,
                        };
                        let owner = by_pid
                            .or_else(|| c.src.and_then(|ip| self.identity.resolve_address(ip, t)));
                        match owner {
                            Some(cr) => {
                                self.containers.on_activity(ev, &cr, &act, m, stats, alerts)
                            }
                            None => self.guest_connection(ev, c, alerts),
                        }
                    }
                }
            }
        }
    }

    /// A process outside every container: a VM guest's, if the host is a known instance.
    fn guest_process(
        &mut self,
        ev: &Event,
        p: &pullwatch_model::ProcessExec,
        host: Option<&str>,
        alerts: &mut Vec<Alert>,
    ) {
        match host.and_then(|h| self.instances.by_host(h)) {
            Some(k) => self.instances.on_process(
                &k,
                ev,
                &p.exe,
                &p.cmdline,
                p.parent_exe.as_deref(),
                &self.matchers,
                &*self.inspector,
                &mut self.stats,
                alerts,
            ),
            None => self.stats.activity("process on a host"),
        }
    }

    /// A connection outside every container: a VM's egress, if its source is a known
    /// instance address.
    fn guest_connection(
        &mut self,
        ev: &Event,
        c: &pullwatch_model::Connection,
        alerts: &mut Vec<Alert>,
    ) {
        let by_host = c.placement.host().and_then(|h| self.instances.by_host(h));
        match by_host.or_else(|| c.src.and_then(|ip| self.instances.by_address(ip))) {
            Some(k) => self.instances.on_connection(
                &k,
                ev,
                c.dst,
                c.dst_port,
                &self.matchers,
                &mut self.stats,
                alerts,
            ),
            None => self
                .stats
                .activity("connection not from a container or known instance"),
        }
    }
}
