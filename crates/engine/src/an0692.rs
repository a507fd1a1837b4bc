//! AN0692, IaaS: a VM launched from an image outside the approved catalog (or newly
//! seen) whose first boot downloads code, spawns utilities, or opens C2 or mining
//! traffic; and user data or startup scripts that download and execute.
//!
//! Instances are keyed by provider and instance id, and reachable by the names and
//! addresses guest telemetry reports (Sysmon `Computer`, auditd `node=`, flow source
//! addresses, cloud-init instance ids). The first-boot window runs from the launch, or
//! from a start that follows a user-data change (the new user data runs then).

use crate::config::{ApprovedImageCatalog, Config, VmTagScope};
use crate::evidence::{evidence, one_line};
use crate::matchers::Matchers;
use crate::provenance::Provenance;
use crate::stats::EngineStats;
use crate::Map;
use pullwatch_model::alert::{Alert, AlertEntity, AlertImage, Evidence, Severity};
use pullwatch_model::inspect::{ContentFinding, ContentInspector};
use pullwatch_model::time::Dur;
use pullwatch_model::{
    exe_basename, is_public_ip, CloudAction, CloudEvent, CloudProvider, Event, GuestBoot,
    ImageOrigin, Ts, UserDataSeen, UserDataState, VmImage, VmImageKind, VmLaunch,
};
use std::net::IpAddr;

pub const RULE_CHAIN: &str = "an0692.chain";
pub const RULE_USER_DATA: &str = "an0692.user_data";
const ANALYTIC: &str = "AN0692";
const TECHNIQUE: &str = "T1204.003";

/// Ports of the stratum mining protocol that pools commonly listen on.
pub const MINING_PORTS: &[u16] = &[
    3333, 4444, 5555, 6666, 7777, 8888, 9999, 14433, 14444, 45560, 45700,
];

/// How long an instance is remembered after it was last seen: a stop, a user-data
/// change and a start may come days after the launch.
const RETENTION: Dur = Dur(7 * 86_400 * 1_000_000_000);

#[derive(Clone, Debug)]
struct Stage {
    time: Ts,
    evidence: Evidence,
}

/// Why an image is or is not approved, in words for the alert.
#[derive(Clone, Debug)]
enum Approval {
    /// Named in the catalog's explicit list: approved whatever its novelty.
    Listed(String),
    /// Approved by owner, project or publisher.
    Approved(String),
    Unapproved(String),
    Unknown,
}

#[derive(Clone, Debug)]
struct Instance {
    provider: CloudProvider,
    id: String,
    account: Option<String>,
    region: Option<String>,
    image: Option<VmImage>,
    approval: Approval,
    names: Vec<String>,
    in_scope: bool,
    launch: Option<Stage>,
    /// The first-boot window's start and the record that opened it.
    boot: Option<Stage>,
    /// A user-data change waiting for the next start.
    pending_change: Option<Stage>,
    /// The user-data change that made the current boot a first boot again.
    change: Option<Stage>,
    boot_marker: Option<Stage>,
    user_data_withheld: bool,
    /// Where the image came from, when it was copied, imported or shared in.
    origin_note: Option<String>,
    alerted_chain: bool,
    alerted_user_data: bool,
    last_seen: Ts,
}

pub struct InstanceChains {
    window: Dur,
    inspect_user_data: bool,
    catalog: ApprovedImageCatalog,
    scope: VmTagScope,
    max_instances: usize,
    instances: Map<String, Instance>,
    by_name: Map<String, String>,
    by_ip: Map<IpAddr, String>,
    /// Owners learned from images built, copied or imported in an account.
    image_owner: Map<String, String>,
    /// Images copied, imported or shared in, with how, for the alerts to say so.
    image_origin: Map<String, String>,
    /// User data handed over directly, waiting for its instance's launch (the event it
    /// came in, to be reported on its own if the launch never comes).
    pending_user_data: Map<String, (Vec<ContentFinding>, Evidence, Event)>,
    /// The instance id cloud-init last named, by the root of the host tree its log was
    /// read from (what precedes `/var/log/`): user data read from the same tree without
    /// an id in its path (`/var/lib/cloud/instance/user-data.txt`) belongs to it.
    boot_ids_by_root: Map<String, String>,
    /// User data whose path names no instance but lies in a host tree, waiting for the
    /// end of the scan to learn the tree's instance from cloud-init.
    user_data_in_trees: Vec<(Vec<ContentFinding>, Evidence, Event, String)>,
}

/// Host trees and user-data files remembered, at most: a scan of many collected hosts
/// stays bounded, and past this user data is reported on its file at once.
const TREES_KEPT: usize = 4096;

/// The root of the host tree a collected file sits in: what precedes its
/// `/var/lib/cloud/` or `/var/log/` (empty for the live host's own files).
fn host_root(path: &str) -> Option<&str> {
    ["/var/lib/cloud/", "/var/log/"]
        .iter()
        .find_map(|m| path.find(m).map(|i| &path[..i]))
}

fn key(provider: CloudProvider, id: &str) -> String {
    format!("{}:{}", provider.name(), id.to_ascii_lowercase())
}

/// Guest host names are compared case-insensitively and by their first label, so
/// `IP-10-0-1-5.ec2.internal`, `ip-10-0-1-5` and `ip-10-0-1-5.eu-west-1.compute.internal`
/// are one machine.
fn name_key(n: &str) -> String {
    let lower = n.trim().to_ascii_lowercase();
    lower.split('.').next().unwrap_or(&lower).to_string()
}

impl InstanceChains {
    pub fn new(cfg: &Config) -> InstanceChains {
        InstanceChains {
            window: cfg.first_boot_window.0,
            inspect_user_data: cfg.user_data_inspection,
            catalog: cfg.approved_image_catalog.clone(),
            scope: cfg.vm_tag_scope.clone(),
            max_instances: cfg.limits.max_tracked_instances.max(1),
            instances: Map::default(),
            by_name: Map::default(),
            by_ip: Map::default(),
            image_owner: Map::default(),
            image_origin: Map::default(),
            pending_user_data: Map::default(),
            boot_ids_by_root: Map::default(),
            user_data_in_trees: Vec::new(),
        }
    }

    pub fn tracked(&self) -> usize {
        self.instances.len()
    }

    fn approval(&self, provider: CloudProvider, image: Option<&VmImage>) -> Approval {
        let Some(img) = image else {
            return Approval::Unknown;
        };
        let c = &self.catalog;
        let id = img.id.to_ascii_lowercase();
        match provider {
            CloudProvider::Aws => {
                if c.aws.image_ids.iter().any(|i| i.eq_ignore_ascii_case(&id)) {
                    return Approval::Listed(format!(
                        "{} is in approved_image_catalog.aws.image_ids",
                        img.id
                    ));
                }
                let owner = img
                    .owner
                    .clone()
                    .or_else(|| self.image_owner.get(&id).cloned());
                match owner {
                    Some(o) if c.aws.owners.iter().any(|x| x == &o) => {
                        Approval::Approved(format!("owner {o} is in approved_image_catalog.aws.owners"))
                    }
                    Some(o) => Approval::Unapproved(format!(
                        "AMI {} (owner {o}) is neither in approved_image_catalog.aws.image_ids nor owned by an approved owner",
                        img.id
                    )),
                    None => Approval::Unapproved(format!(
                        "AMI {} is not in approved_image_catalog.aws.image_ids (its owner is not in the log)",
                        img.id
                    )),
                }
            }
            CloudProvider::Gcp => {
                if c.gcp.images.iter().any(|i| gcp_image_matches(i, &id)) {
                    return Approval::Listed(format!(
                        "{} is in approved_image_catalog.gcp.images",
                        img.id
                    ));
                }
                let project = img.owner.clone().or_else(|| gcp_project(&id));
                match project {
                    Some(p) if c.gcp.projects.iter().any(|x| x.eq_ignore_ascii_case(&p)) => {
                        Approval::Approved(format!("project {p} is in approved_image_catalog.gcp.projects"))
                    }
                    Some(p) => Approval::Unapproved(format!(
                        "image {} comes from project {p}, which is not in approved_image_catalog.gcp.projects",
                        img.id
                    )),
                    None => Approval::Unapproved(format!("image {} is not in approved_image_catalog.gcp", img.id)),
                }
            }
            CloudProvider::Azure => {
                if c.azure.images.iter().any(|i| i.eq_ignore_ascii_case(&id)) {
                    return Approval::Listed(format!(
                        "{} is in approved_image_catalog.azure.images",
                        img.id
                    ));
                }
                match (&img.publisher, img.kind) {
                    (Some(p), VmImageKind::AzureMarketplace) if c.azure.publishers.iter().any(|x| x.eq_ignore_ascii_case(p)) => {
                        Approval::Approved(format!("publisher {p} is in approved_image_catalog.azure.publishers"))
                    }
                    (Some(p), VmImageKind::AzureMarketplace) => Approval::Unapproved(format!(
                        "marketplace publisher {p} is not in approved_image_catalog.azure.publishers"
                    )),
                    _ => Approval::Unapproved(format!(
                        "{} image {} is not in approved_image_catalog.azure.images",
                        img.kind.name(),
                        img.id
                    )),
                }
            }
        }
    }

    fn in_scope(&self, l: &VmLaunch) -> bool {
        let s = &self.scope;
        let tags_ok = s.tags.is_empty()
            || s.tags.iter().any(|(k, allowed)| {
                l.tags.iter().any(|(tk, tv)| {
                    tk == k && (allowed.is_empty() || allowed.iter().any(|a| a == tv))
                })
            });
        let subnet_ok = s.subnets.is_empty()
            || l.subnet
                .as_ref()
                .is_some_and(|n| s.subnets.iter().any(|x| x == n));
        tags_ok && subnet_ok
    }

    pub fn on_cloud(
        &mut self,
        ev: &Event,
        c: &CloudEvent,
        inspector: &dyn ContentInspector,
        prov: &Provenance,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        match &c.action {
            CloudAction::InstanceLaunch(l) => self.launch(ev, c, l, inspector, prov, stats, alerts),
            CloudAction::InstanceStart { instance_id } => {
                let Some(inst) = self.instances.get_mut(&key(c.provider, instance_id)) else {
                    stats.activity("start of an instance whose launch was not seen");
                    return;
                };
                inst.last_seen = ev.time;
                if let Some(change) = inst.pending_change.take() {
                    // New user data runs on this boot: it is a first boot again.
                    inst.boot = Some(Stage {
                        time: ev.time,
                        evidence: evidence(
                            "start",
                            ev,
                            format!("instance {instance_id} started after its user data changed"),
                        ),
                    });
                    inst.change = Some(change);
                    inst.alerted_chain = false;
                }
            }
            CloudAction::InstanceStop { .. } => {}
            CloudAction::UserDataChanged {
                instance_id,
                user_data,
                startup_script_url,
            } => {
                let k = key(c.provider, instance_id);
                let summary = format!("user data of {instance_id} changed{}", by(c));
                let findings = self.findings(user_data, startup_script_url.as_deref(), inspector);
                let Some(inst) = self.instances.get_mut(&k) else {
                    stats.activity("user-data change of an instance whose launch was not seen");
                    return;
                };
                inst.last_seen = ev.time;
                inst.pending_change = Some(Stage {
                    time: ev.time,
                    evidence: evidence("user-data-change", ev, summary),
                });
                if matches!(user_data, UserDataState::Redacted) {
                    inst.user_data_withheld = true;
                }
                if !findings.is_empty() {
                    let inst = inst.clone();
                    self.user_data_alert(ev, &inst, &findings, stats, alerts);
                }
            }
            CloudAction::ImageCreated { image_id, how } => {
                if let Some(acct) = &c.account {
                    self.image_owner
                        .insert(image_id.to_ascii_lowercase(), acct.clone());
                }
                let note = match how {
                    ImageOrigin::Copied {
                        source_image,
                        source_region,
                    } => Some(format!(
                        "image {image_id} was copied from {source_image}{}",
                        source_region
                            .as_deref()
                            .map(|r| format!(" in {r}"))
                            .unwrap_or_default()
                    )),
                    ImageOrigin::Imported { source } => Some(format!(
                        "image {image_id} was imported{}",
                        source
                            .as_deref()
                            .map(|s| format!(" from {s}"))
                            .unwrap_or_default()
                    )),
                    ImageOrigin::SharedIn => {
                        Some(format!("image {image_id} was shared in by another account"))
                    }
                    ImageOrigin::Created { .. } | ImageOrigin::Registered => None,
                };
                if let Some(n) = note {
                    self.image_origin.insert(image_id.to_ascii_lowercase(), n);
                }
            }
            CloudAction::ImagePermission { .. } => {}
        }
    }

    fn findings(
        &self,
        user_data: &UserDataState,
        url: Option<&str>,
        inspector: &dyn ContentInspector,
    ) -> Vec<ContentFinding> {
        if !self.inspect_user_data {
            return Vec::new();
        }
        let mut f = match user_data {
            UserDataState::Present(content) => inspector.user_data(content),
            _ => Vec::new(),
        };
        if let Some(u) = url {
            f.push(inspector.startup_script_url(u));
        }
        f
    }

    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        ev: &Event,
        c: &CloudEvent,
        l: &VmLaunch,
        inspector: &dyn ContentInspector,
        prov: &Provenance,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        if self.instances.len() >= self.max_instances {
            self.evict(stats);
        }
        let k = key(c.provider, &l.instance_id);
        let mut approval = self.approval(c.provider, l.image.as_ref());
        // With a baseline, an image approved only by its owner, project or publisher
        // that was never seen launching is judged by its novelty.
        if let (Approval::Approved(why), Some(img)) = (&approval, &l.image) {
            if let Some(first) = prov.vm_first_seen(c.provider.name(), &img.id, ev.time) {
                approval = Approval::Unapproved(format!(
                    "{first}, and it is approved only because {why}, not by the catalog's explicit list"
                ));
            }
        }
        let origin_note = l
            .image
            .as_ref()
            .and_then(|i| self.image_origin.get(&i.id.to_ascii_lowercase()).cloned());
        let image_desc = l
            .image
            .as_ref()
            .map_or("an image the log does not name".to_string(), |i| {
                i.id.clone()
            });
        let template = l
            .launch_template
            .as_deref()
            .map(|t| format!(" via launch template {t}"))
            .unwrap_or_default();
        let launch = Stage {
            time: ev.time,
            evidence: evidence(
                "launch",
                ev,
                format!(
                    "instance {} launched from {image_desc}{template}{}",
                    l.instance_id,
                    by(c)
                ),
            ),
        };
        let mut names: Vec<String> = l.names.iter().map(|n| name_key(n)).collect();
        names.dedup();
        let inst = Instance {
            provider: c.provider,
            id: l.instance_id.clone(),
            account: c.account.clone(),
            region: c.region.clone(),
            image: l.image.clone(),
            approval,
            names: names.clone(),
            in_scope: self.in_scope(l),
            launch: Some(launch.clone()),
            boot: Some(Stage {
                time: l.launched_at.unwrap_or(ev.time).max(ev.time),
                evidence: launch.evidence.clone(),
            }),
            pending_change: None,
            change: None,
            boot_marker: None,
            user_data_withheld: matches!(l.user_data, UserDataState::Redacted),
            origin_note,
            alerted_chain: false,
            alerted_user_data: false,
            last_seen: ev.time,
        };
        for n in names {
            self.by_name.insert(n, k.clone());
        }
        for ip in &l.private_ips {
            self.by_ip.insert(*ip, k.clone());
        }
        if !inst.in_scope {
            stats.activity("instance outside vm_tag_scope");
        }
        let mut findings = self.findings(&l.user_data, l.startup_script_url.as_deref(), inspector);
        let pending = self
            .pending_user_data
            .remove(&l.instance_id.to_ascii_lowercase());
        let mut extra_evidence = None;
        if let Some((f, e, _)) = pending {
            findings.extend(f);
            extra_evidence = Some(e);
        }
        self.instances.insert(k, inst.clone());
        if !findings.is_empty() {
            self.user_data_alert_with(ev, &inst, &findings, extra_evidence, stats, alerts);
        }
    }

    /// User data given to pullwatch directly (the instance's `user-data.txt`, or
    /// `describe-instance-attribute` output).
    pub fn on_user_data(
        &mut self,
        ev: &Event,
        u: &UserDataSeen,
        inspector: &dyn ContentInspector,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        if !self.inspect_user_data {
            return;
        }
        let findings = inspector.user_data(&u.content);
        let e = evidence("user-data", ev, format!("user data from {}", u.origin));
        if findings.is_empty() {
            stats.activity("user data inspected, nothing to report");
            return;
        }
        let id = u.instance_id.as_deref().map(str::to_ascii_lowercase);
        let known = id.as_ref().and_then(|i| {
            self.instances
                .values()
                .find(|inst| inst.id.eq_ignore_ascii_case(i))
                .cloned()
        });
        match (known, id) {
            (Some(inst), _) => {
                self.user_data_alert_with(ev, &inst, &findings, Some(e), stats, alerts)
            }
            (None, Some(i)) => {
                self.pending_user_data.insert(i, (findings, e, ev.clone()));
            }
            (None, None)
                if host_root(&ev.source.path).is_some()
                    && self.user_data_in_trees.len() < TREES_KEPT =>
            {
                self.user_data_in_trees
                    .push((findings, e, ev.clone(), u.origin.clone()));
            }
            (None, None) => {
                let before = alerts.len();
                let inst = bare_instance(CloudProvider::Aws, String::new(), ev.time);
                self.user_data_alert_with(ev, &inst, &findings, Some(e), stats, alerts);
                // No instance to name: the finding is on the file it was read from.
                for a in alerts.iter_mut().skip(before) {
                    a.entity.file = Some(u.origin.clone());
                }
            }
        }
    }

    /// The end of the scan: user data whose instance was named (by its path, say) but
    /// never launched in the records read is reported on that instance all the same,
    /// rather than dropped.
    pub fn flush_pending_user_data(&mut self, stats: &mut EngineStats, alerts: &mut Vec<Alert>) {
        for (findings, e, ev, origin) in std::mem::take(&mut self.user_data_in_trees) {
            let id = host_root(&ev.source.path)
                .and_then(|r| self.boot_ids_by_root.get(r))
                .cloned();
            let known = id.as_ref().and_then(|i| {
                self.instances
                    .values()
                    .find(|inst| inst.id.eq_ignore_ascii_case(i))
                    .cloned()
            });
            match (known, id) {
                (Some(inst), _) => {
                    self.user_data_alert_with(&ev, &inst, &findings, Some(e), stats, alerts)
                }
                (None, Some(i)) => {
                    self.pending_user_data.insert(i, (findings, e, ev));
                }
                (None, None) => {
                    let before = alerts.len();
                    let inst = bare_instance(CloudProvider::Aws, String::new(), ev.time);
                    self.user_data_alert_with(&ev, &inst, &findings, Some(e), stats, alerts);
                    for a in alerts.iter_mut().skip(before) {
                        a.entity.file = Some(origin.clone());
                    }
                }
            }
        }
        let mut pending: Vec<_> = self.pending_user_data.drain().collect();
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, (findings, e, ev)) in pending {
            let provider = if id.starts_with("i-") {
                CloudProvider::Aws
            } else if id.bytes().all(|b| b.is_ascii_digit()) {
                CloudProvider::Gcp
            } else {
                CloudProvider::Azure
            };
            let inst = bare_instance(provider, id, ev.time);
            self.user_data_alert_with(&ev, &inst, &findings, Some(e), stats, alerts);
        }
    }

    pub fn on_guest_boot(&mut self, ev: &Event, g: &GuestBoot) {
        if let (Some(id), Some(root)) = (&g.instance_id, host_root(&ev.source.path)) {
            if self.boot_ids_by_root.len() < TREES_KEPT || self.boot_ids_by_root.contains_key(root)
            {
                self.boot_ids_by_root
                    .insert(root.to_string(), id.to_ascii_lowercase());
            }
        }
        let k = g
            .instance_id
            .as_deref()
            .and_then(|id| self.find_by_id(id))
            .or_else(|| {
                g.hostname
                    .as_deref()
                    .and_then(|h| self.by_name.get(&name_key(h)).cloned())
            });
        let Some(k) = k else { return };
        if let (Some(h), true) = (&g.hostname, true) {
            self.by_name.entry(name_key(h)).or_insert_with(|| k.clone());
        }
        if let Some(inst) = self.instances.get_mut(&k) {
            inst.last_seen = inst.last_seen.max(ev.time);
            let up = g
                .uptime_ms
                .map(|ms| format!(", up {}", Dur(ms as i64 * 1_000_000)))
                .unwrap_or_default();
            inst.boot_marker.get_or_insert(Stage {
                time: ev.time,
                evidence: evidence("boot", ev, format!("cloud-init {}{up}", g.stage)),
            });
        }
    }

    fn find_by_id(&self, id: &str) -> Option<String> {
        let lower = id.to_ascii_lowercase();
        [CloudProvider::Aws, CloudProvider::Gcp, CloudProvider::Azure]
            .into_iter()
            .map(|p| key(p, &lower))
            .find(|k| self.instances.contains_key(k))
    }

    /// The instance a guest record belongs to, by host name.
    pub fn by_host(&self, host: &str) -> Option<String> {
        self.by_name.get(&name_key(host)).cloned()
    }

    pub fn by_address(&self, ip: IpAddr) -> Option<String> {
        self.by_ip.get(&ip).cloned()
    }

    pub fn by_instance_id(&self, id: &str) -> Option<String> {
        self.find_by_id(id)
    }

    /// A process on a guest during its first boot.
    #[allow(clippy::too_many_arguments)]
    pub fn on_process(
        &mut self,
        k: &str,
        ev: &Event,
        exe: &str,
        cmdline: &str,
        parent: Option<&str>,
        m: &Matchers,
        inspector: &dyn ContentInspector,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        let mut why = Vec::new();
        match m.suspicious_process(exe, cmdline) {
            Some((entry, Some(a))) => why.push(format!(
                "ran {exe} as '{a}' ('{entry}' in suspicious_binaries)"
            )),
            Some((entry, None)) => {
                why.push(format!("ran {exe} ('{entry}' in suspicious_binaries)"))
            }
            None => {}
        }
        for f in inspector.command_line(cmdline) {
            why.push(format!("command line is a {} pattern: {}", f.why, f.line));
        }
        if why.is_empty() {
            stats.activity("guest process not suspicious");
            return;
        }
        if let Some(p) = parent {
            let pb = exe_basename(p);
            if BOOT_MACHINERY.iter().any(|b| pb.starts_with(b)) {
                why.push(format!("spawned by the boot machinery ({p})"));
            }
        }
        let summary = format!(
            "exec {}",
            one_line(if cmdline.is_empty() { exe } else { cmdline })
        );
        self.activity(k, ev, why, summary, stats, alerts);
    }

    /// Egress from an instance: blocked destinations and mining-pool ports.
    #[allow(clippy::too_many_arguments)]
    pub fn on_connection(
        &mut self,
        k: &str,
        ev: &Event,
        dst: IpAddr,
        dst_port: Option<u16>,
        m: &Matchers,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        let dest = match dst_port {
            Some(p) if dst.is_ipv6() => format!("[{dst}]:{p}"),
            Some(p) => format!("{dst}:{p}"),
            None => dst.to_string(),
        };
        let why = if let Some(net) = m.blocked(dst) {
            format!("connected to {dest}, inside outbound_cidr_block_list entry {net}")
        } else if dst_port.is_some_and(|p| MINING_PORTS.contains(&p)) && is_public_ip(dst) {
            format!(
                "connected to {dest}: a public address on a well-known mining-pool (stratum) port"
            )
        } else {
            stats.activity("guest connection not suspicious");
            return;
        };
        self.activity(k, ev, vec![why], format!("connect {dest}"), stats, alerts);
    }

    fn activity(
        &mut self,
        k: &str,
        ev: &Event,
        why: Vec<String>,
        summary: String,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        let window = self.window;
        let Some(inst) = self.instances.get_mut(k) else {
            return;
        };
        inst.last_seen = inst.last_seen.max(ev.time);
        if !inst.in_scope {
            stats.activity("activity on an instance outside vm_tag_scope");
            return;
        }
        if inst.alerted_chain {
            stats.activity("instance already alerted");
            return;
        }
        let approval_reason = match &inst.approval {
            Approval::Unapproved(r) => r.clone(),
            Approval::Approved(_) | Approval::Listed(_) => {
                stats.activity("suspicious first-boot activity on an approved image");
                return;
            }
            Approval::Unknown => {
                stats.activity("suspicious activity, instance image unknown");
                return;
            }
        };
        let Some(boot) = inst.boot.clone() else {
            return;
        };
        if ev.time < boot.time {
            stats.activity("guest activity before the launch");
            return;
        }
        let elapsed = ev.time.since(boot.time);
        if elapsed > window {
            stats.activity("guest activity after first_boot_window");
            return;
        }
        inst.alerted_chain = true;
        let mut reasons = vec![approval_reason];
        reasons.extend(inst.origin_note.clone());
        let boot_kind = if boot.evidence.stage == "start" {
            "restart after a user-data change"
        } else {
            "launch"
        };
        for w in why {
            reasons.push(format!(
                "{w}, {elapsed} after the {boot_kind} (first_boot_window {window})"
            ));
        }
        if inst.user_data_withheld {
            reasons.push(
                "the control plane withholds this instance's user data (CloudTrail logs <sensitiveDataRemoved>): it was not inspected; give pullwatch the instance's user-data.txt or describe-instance-attribute output to inspect it"
                    .into(),
            );
        }
        let mut ev_list: Vec<Evidence> = Vec::new();
        for s in [&inst.launch, &inst.change, &inst.boot, &inst.boot_marker]
            .into_iter()
            .flatten()
        {
            if !ev_list.contains(&s.evidence) {
                ev_list.push(s.evidence.clone());
            }
        }
        ev_list.push(evidence("activity", ev, summary));
        ev_list.sort_by_key(|e| e.time);
        *stats.alerts.entry(RULE_CHAIN.to_string()).or_default() += 1;
        alerts.push(Alert {
            rule: RULE_CHAIN,
            analytic: ANALYTIC,
            technique: TECHNIQUE,
            severity: Severity::High,
            time: ev.time,
            entity: entity(inst),
            image: image(inst),
            reasons,
            evidence: ev_list,
        });
    }

    fn user_data_alert(
        &mut self,
        ev: &Event,
        inst: &Instance,
        findings: &[ContentFinding],
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        self.user_data_alert_with(ev, inst, findings, None, stats, alerts);
    }

    fn user_data_alert_with(
        &mut self,
        ev: &Event,
        inst: &Instance,
        findings: &[ContentFinding],
        extra: Option<Evidence>,
        stats: &mut EngineStats,
        alerts: &mut Vec<Alert>,
    ) {
        if !inst.id.is_empty() {
            let k = key(inst.provider, &inst.id);
            match self.instances.get_mut(&k) {
                Some(i) if i.alerted_user_data => return,
                Some(i) => i.alerted_user_data = true,
                None => {}
            }
            if !inst.in_scope {
                stats.activity("user data of an instance outside vm_tag_scope");
                return;
            }
        }
        let (severity, lead) = match &inst.approval {
            Approval::Unapproved(r) => (Severity::High, Some(r.clone())),
            Approval::Approved(r) | Approval::Listed(r) => {
                (Severity::Medium, Some(format!("image approved ({r})")))
            }
            Approval::Unknown => (Severity::Medium, None),
        };
        let mut reasons: Vec<String> = lead.into_iter().collect();
        reasons.extend(inst.origin_note.clone());
        for f in findings {
            reasons.push(format!("user data {} ({}): {}", f.why, f.place, f.line));
        }
        let mut ev_list: Vec<Evidence> = Vec::new();
        if let Some(l) = &inst.launch {
            ev_list.push(l.evidence.clone());
        }
        if let Some(e) = extra {
            ev_list.push(e);
        }
        if ev_list.iter().all(|e| e.source != ev.source) {
            ev_list.push(evidence(
                "user-data",
                ev,
                "user data with download or execute directives".into(),
            ));
        }
        ev_list.sort_by_key(|e| e.time);
        *stats.alerts.entry(RULE_USER_DATA.to_string()).or_default() += 1;
        alerts.push(Alert {
            rule: RULE_USER_DATA,
            analytic: ANALYTIC,
            technique: TECHNIQUE,
            severity,
            time: ev.time,
            entity: entity(inst),
            image: image(inst),
            reasons,
            evidence: ev_list,
        });
    }

    fn evict(&mut self, stats: &mut EngineStats) {
        let want = (self.max_instances / 10).max(1);
        let mut order: Vec<(bool, Ts, String)> = self
            .instances
            .iter()
            .map(|(k, i)| {
                (
                    matches!(i.approval, Approval::Unapproved(_)) && !i.alerted_chain,
                    i.last_seen,
                    k.clone(),
                )
            })
            .collect();
        order.sort_unstable();
        let mut n = 0;
        for (_, _, k) in order.into_iter().take(want) {
            self.instances.remove(&k);
            n += 1;
        }
        self.drop_dangling();
        stats.evicted("instances: capacity", n);
    }

    fn drop_dangling(&mut self) {
        let live = &self.instances;
        self.by_name.retain(|_, k| live.contains_key(k));
        self.by_ip.retain(|_, k| live.contains_key(k));
    }

    pub fn expire(&mut self, watermark: Ts, stats: &mut EngineStats) {
        let horizon = watermark.saturating_sub(RETENTION.max(self.window));
        let before = self.instances.len();
        self.instances.retain(|_, i| i.last_seen >= horizon);
        let n = before - self.instances.len();
        if n > 0 {
            self.drop_dangling();
            stats.evicted("instances: expired", n as u64);
        }
    }
}

/// Processes whose children are the boot machinery's work.
const BOOT_MACHINERY: &[&str] = &[
    "cloud-init",
    "cloud-init-per",
    "ec2launch",
    "ec2config",
    "waagent",
    "walinuxagent",
    "google_metadata_script_runner",
    "google-guest-agent",
    "gce-guest-agent",
    "runcmd",
    "part-0",
];

fn by(c: &CloudEvent) -> String {
    c.actor
        .as_deref()
        .map(|a| format!(" by {a}"))
        .unwrap_or_default()
}

/// An instance known only by the id its user data named (or by nothing at all): no
/// launch, image or names, so its alert can say only what the user data does.
fn bare_instance(provider: CloudProvider, id: String, seen: Ts) -> Instance {
    Instance {
        provider,
        id,
        account: None,
        region: None,
        image: None,
        approval: Approval::Unknown,
        names: Vec::new(),
        in_scope: true,
        launch: None,
        boot: None,
        pending_change: None,
        change: None,
        boot_marker: None,
        user_data_withheld: false,
        origin_note: None,
        alerted_chain: false,
        alerted_user_data: false,
        last_seen: seen,
    }
}

fn entity(i: &Instance) -> AlertEntity {
    AlertEntity {
        host: i.names.first().cloned(),
        instance_id: (!i.id.is_empty()).then(|| i.id.clone()),
        cloud: (!i.id.is_empty()).then(|| i.provider.name().to_string()),
        account: i.account.clone(),
        region: i.region.clone(),
        ..AlertEntity::default()
    }
}

fn image(i: &Instance) -> AlertImage {
    match &i.image {
        Some(img) => AlertImage {
            reference: img.id.clone(),
            digest: None,
            registry: None,
            owner: img.owner.clone().or_else(|| img.publisher.clone()),
        },
        None => AlertImage::default(),
    }
}

fn gcp_project(id: &str) -> Option<String> {
    let rest = id.strip_prefix("projects/")?;
    rest.split('/').next().map(str::to_string)
}

/// A catalog image entry approves the exact image, or every image of a family when it
/// names the family (`projects/p/global/images/family/f`).
fn gcp_image_matches(entry: &str, id: &str) -> bool {
    let e = entry.trim().to_ascii_lowercase();
    let e = e.trim_start_matches("https://www.googleapis.com/compute/v1/");
    e == id
}
