//! Placing records that do not say which container they belong to. auditd knows only
//! pids and flow logs only addresses, yet MITRE's own sources for AN0691 are exactly
//! these. A process belongs to a container when it descends from the container's init
//! (or exec'd) pid reported by the runtime, for as long as those processes live; a flow
//! belongs to a container when its source address was the container's at that time.
//! Pids and addresses are reused, so every link ends when its process exits or its
//! address moves on.

use crate::Map;
use pullwatch_model::time::Dur;
use pullwatch_model::{ContainerRef, Ts};
use std::net::IpAddr;

type ProcKey = (Option<String>, u32);

#[derive(Clone, Debug)]
struct Link {
    container: ContainerRef,
    last_seen: Ts,
}

#[derive(Clone, Debug)]
struct Lease {
    owner: ContainerRef,
    from: Ts,
    until: Option<Ts>,
    /// The latest time the owner was seen with the address.
    seen: Ts,
}

pub struct NodeIdentity {
    grace: Dur,
    max_links: usize,
    procs: Map<ProcKey, Link>,
    /// Pids linked to each container (by id), so they all end with it.
    members: Map<String, Vec<ProcKey>>,
    leases: Map<IpAddr, Vec<Lease>>,
    lease_count: usize,
}

fn host_key(h: Option<&str>) -> Option<String> {
    h.map(str::to_ascii_lowercase)
}

fn owner_key(c: &ContainerRef) -> Option<String> {
    if let Some(id) = &c.id {
        return Some(format!("id:{}", id.get(..12).unwrap_or(id)));
    }
    match (&c.namespace, &c.pod) {
        (Some(ns), Some(p)) => Some(format!("pod:{ns}/{p}/{}", c.name.as_deref().unwrap_or(""))),
        _ => None,
    }
}

/// `owner_key(a) == owner_key(b)` for an `a` that has a key, without building either:
/// exits are frequent and every open lease is compared.
fn same_owner(a: &ContainerRef, b: &ContainerRef) -> bool {
    match (&a.id, &b.id) {
        (Some(x), Some(y)) => x.get(..12).unwrap_or(x) == y.get(..12).unwrap_or(y),
        (Some(_), None) | (None, Some(_)) => false,
        (None, None) => match ((&a.namespace, &a.pod), (&b.namespace, &b.pod)) {
            ((Some(an), Some(ap)), (Some(bn), Some(bp))) => {
                an == bn
                    && ap == bp
                    && a.name.as_deref().unwrap_or("") == b.name.as_deref().unwrap_or("")
            }
            _ => false,
        },
    }
}

/// Counts what the caller should report.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evicted {
    pub links: u64,
    pub leases: u64,
}

impl NodeIdentity {
    pub fn new(grace: Dur, max_links: usize) -> NodeIdentity {
        NodeIdentity {
            grace,
            max_links: max_links.max(1),
            procs: Map::default(),
            members: Map::default(),
            leases: Map::default(),
            lease_count: 0,
        }
    }

    pub fn tracked_processes(&self) -> usize {
        self.procs.len()
    }

    /// The runtime reports a process (a container's init, or an exec) by host pid.
    pub fn link(
        &mut self,
        host: Option<&str>,
        pid: u32,
        container: &ContainerRef,
        t: Ts,
    ) -> Evicted {
        let Some(okey) = container
            .id
            .as_deref()
            .map(|id| id.get(..12).unwrap_or(id).to_string())
        else {
            return Evicted::default();
        };
        let mut evicted = Evicted::default();
        if self.procs.len() >= self.max_links {
            evicted.links = self.evict_oldest_links();
        }
        let key = (host_key(host), pid);
        let link = Link {
            container: ContainerRef {
                host: host
                    .map(pullwatch_model::name)
                    .or_else(|| container.host.clone()),
                id: container.id.clone(),
                ..ContainerRef::default()
            },
            last_seen: t,
        };
        self.procs.insert(key.clone(), link);
        self.members.entry(okey).or_default().push(key);
        evicted
    }

    /// A fork: the child inherits its parent's container, and a pid that is reused by
    /// a process outside every container loses any stale link.
    pub fn fork(&mut self, host: Option<&str>, pid: u32, ppid: u32, t: Ts) -> Evicted {
        match self.lookup(host, ppid) {
            Some(c) => self.link(host, pid, &c, t),
            None => {
                self.procs.remove(&(host_key(host), pid));
                Evicted::default()
            }
        }
    }

    pub fn exit(&mut self, host: Option<&str>, pid: u32) {
        self.procs.remove(&(host_key(host), pid));
    }

    /// The container ended: every pid linked to it is free again, and its addresses
    /// stop being its own.
    pub fn container_exit(&mut self, container: &ContainerRef, t: Ts) {
        if let Some(id) = container.id.as_deref() {
            if let Some(keys) = self.members.remove(id.get(..12).unwrap_or(id)) {
                for k in keys {
                    if let Some(l) = self.procs.get(&k) {
                        if l.container
                            .id
                            .as_deref()
                            .is_some_and(|c| c.starts_with(id) || id.starts_with(c))
                        {
                            self.procs.remove(&k);
                        }
                    }
                }
            }
        }
        if owner_key(container).is_none() {
            return;
        }
        for list in self.leases.values_mut() {
            for l in list.iter_mut() {
                if l.until.is_none() && same_owner(&l.owner, container) {
                    l.until = Some(t);
                }
            }
        }
    }

    fn lookup(&self, host: Option<&str>, pid: u32) -> Option<ContainerRef> {
        let hk = host_key(host);
        if let Some(l) = self.procs.get(&(hk.clone(), pid)) {
            return Some(l.container.clone());
        }
        // Runtime events often carry no host name while auditd's `node=` does: on a
        // single node's telemetry the two name the same machine.
        if hk.is_some() {
            if let Some(l) = self.procs.get(&(None, pid)) {
                return Some(l.container.clone());
            }
        }
        None
    }

    /// The container a process runs in: its own pid's link, else its parent's (and
    /// then the process is linked too, so its children are found).
    pub fn resolve_process(
        &mut self,
        host: Option<&str>,
        pid: Option<u32>,
        ppid: Option<u32>,
        t: Ts,
    ) -> Option<ContainerRef> {
        if let Some(p) = pid {
            if let Some(c) = self.lookup(host, p) {
                if let Some(l) = self.procs.get_mut(&(host_key(host), p)) {
                    l.last_seen = t;
                }
                return Some(c);
            }
        }
        let parent = self.lookup(host, ppid?)?;
        if let Some(p) = pid {
            self.link(host, p, &parent, t);
        }
        Some(parent)
    }

    /// An address is the container's from `t` on; whoever held it before no longer does.
    pub fn lease(&mut self, ip: IpAddr, owner: &ContainerRef, t: Ts) {
        let okey = owner_key(owner);
        let list = self.leases.entry(ip).or_default();
        if let Some(cur) = list.iter_mut().rev().find(|l| l.until.is_none()) {
            if owner_key(&cur.owner) == okey {
                cur.seen = cur.seen.max(t);
                return;
            }
            cur.until = Some(t);
        }
        list.push(Lease {
            owner: owner.clone(),
            from: t,
            until: None,
            seen: t,
        });
        self.lease_count += 1;
    }

    /// Who held `ip` at `t`. An address first seen slightly after the flow (sensors
    /// report the first connection, flow logs its start) still counts within the
    /// allowed lateness, unless someone else held it then.
    pub fn resolve_address(&self, ip: IpAddr, t: Ts) -> Option<ContainerRef> {
        let list = self.leases.get(&ip)?;
        let held = |l: &&Lease| l.from <= t && l.until.is_none_or(|u| t < u);
        if let Some(l) = list.iter().rev().find(held) {
            return Some(l.owner.clone());
        }
        list.iter()
            .find(|l| l.from > t && l.from.since(t) <= self.grace)
            .map(|l| l.owner.clone())
    }

    fn evict_oldest_links(&mut self) -> u64 {
        let want = (self.max_links / 10).max(1);
        let mut order: Vec<(Ts, ProcKey)> = self
            .procs
            .iter()
            .map(|(k, l)| (l.last_seen, k.clone()))
            .collect();
        order.sort_unstable();
        let mut n = 0;
        for (_, k) in order.into_iter().take(want) {
            self.procs.remove(&k);
            n += 1;
        }
        n
    }

    /// Drops links not used since `horizon` (their containers are past every window)
    /// and leases that ended, or were last seen, before it.
    pub fn expire(&mut self, horizon: Ts) -> Evicted {
        let before = self.procs.len();
        self.procs.retain(|_, l| l.last_seen >= horizon);
        let links = (before - self.procs.len()) as u64;
        let procs = &self.procs;
        self.members.retain(|_, keys| {
            keys.retain(|k| procs.contains_key(k));
            !keys.is_empty()
        });
        let mut leases = 0;
        for list in self.leases.values_mut() {
            let b = list.len();
            // A lease still open but not seen since the horizon goes too: its owner's
            // exit may never be reported, and activity that late is past every window
            // its container could alert in. Otherwise every address ever announced
            // would be kept for the whole scan.
            list.retain(|l| match l.until {
                Some(u) => u >= horizon,
                None => l.seen >= horizon,
            });
            leases += (b - list.len()) as u64;
        }
        self.leases.retain(|_, v| !v.is_empty());
        self.lease_count -= leases as usize;
        Evicted { links, leases }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(id: &str) -> ContainerRef {
        ContainerRef {
            id: Some(id.into()),
            ..ContainerRef::default()
        }
    }

    #[test]
    fn descendants_belong_to_the_container_until_it_exits() {
        let mut n = NodeIdentity::new(Dur::from_secs(120), 100);
        n.link(None, 4242, &c("abcdef0123456789"), Ts(1));
        assert!(n
            .resolve_process(Some("node-a"), Some(4300), Some(4242), Ts(2))
            .is_some());
        let got = n
            .resolve_process(Some("node-a"), Some(4301), Some(4300), Ts(3))
            .unwrap();
        assert_eq!(got.id.as_deref(), Some("abcdef0123456789"));
        n.container_exit(&c("abcdef0123456789"), Ts(4));
        assert!(n
            .resolve_process(Some("node-a"), Some(5000), Some(4242), Ts(5))
            .is_none());
    }

    #[test]
    fn a_reused_pid_forked_from_the_host_is_unlinked() {
        let mut n = NodeIdentity::new(Dur::from_secs(120), 100);
        n.link(None, 4242, &c("abcdef0123456789"), Ts(1));
        n.resolve_process(None, Some(4300), Some(4242), Ts(2));
        n.exit(None, 4300);
        n.fork(None, 4300, 1, Ts(3));
        assert!(n
            .resolve_process(None, Some(4300), Some(1), Ts(4))
            .is_none());
    }

    #[test]
    fn addresses_are_time_bounded() {
        let mut n = NodeIdentity::new(Dur(10), 100);
        let ip: IpAddr = "10.244.1.23".parse().unwrap();
        n.lease(ip, &c("aaaaaaaaaaaa1"), Ts(100));
        n.lease(ip, &c("bbbbbbbbbbbb1"), Ts(200));
        assert_eq!(
            n.resolve_address(ip, Ts(150)).unwrap().id.as_deref(),
            Some("aaaaaaaaaaaa1")
        );
        assert_eq!(
            n.resolve_address(ip, Ts(250)).unwrap().id.as_deref(),
            Some("bbbbbbbbbbbb1")
        );
        assert_eq!(
            n.resolve_address(ip, Ts(95)).unwrap().id.as_deref(),
            Some("aaaaaaaaaaaa1")
        );
        assert!(n.resolve_address(ip, Ts(50)).is_none());
        n.container_exit(&c("bbbbbbbbbbbb1"), Ts(300));
        assert!(n.resolve_address(ip, Ts(301)).is_none());
    }

    #[test]
    fn open_leases_not_seen_since_the_horizon_expire() {
        // Exits go unreported (a sensor restarted, the scan ends mid-life): an address
        // must not be held for the rest of the scan because of it.
        let mut n = NodeIdentity::new(Dur(10), 100);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        n.lease(a, &c("aaaaaaaaaaaa1"), Ts(100));
        n.lease(b, &c("bbbbbbbbbbbb1"), Ts(100));
        // `b`'s owner is seen with it again later; `a`'s is not.
        n.lease(b, &c("bbbbbbbbbbbb1"), Ts(900));
        let ev = n.expire(Ts(500));
        assert_eq!(ev.leases, 1);
        assert!(n.resolve_address(a, Ts(950)).is_none());
        assert_eq!(
            n.resolve_address(b, Ts(950)).unwrap().id.as_deref(),
            Some("bbbbbbbbbbbb1")
        );
        // The lease still starts where it started.
        assert_eq!(
            n.resolve_address(b, Ts(150)).unwrap().id.as_deref(),
            Some("bbbbbbbbbbbb1")
        );
    }
}

#[cfg(test)]
mod owner_tests {
    use super::*;

    #[test]
    fn same_owner_agrees_with_owner_keys() {
        let refs = [
            ContainerRef {
                id: Some("3f9c2a7d1e8b4c6a9d0e".into()),
                ..ContainerRef::default()
            },
            ContainerRef {
                id: Some("3f9c2a7d1e8b".into()),
                pod: Some("p".into()),
                ..ContainerRef::default()
            },
            ContainerRef {
                id: Some("77aa".into()),
                ..ContainerRef::default()
            },
            ContainerRef {
                namespace: Some("ns".into()),
                pod: Some("p".into()),
                name: Some("c".into()),
                ..ContainerRef::default()
            },
            ContainerRef {
                namespace: Some("ns".into()),
                pod: Some("p".into()),
                ..ContainerRef::default()
            },
            ContainerRef {
                namespace: Some("ns".into()),
                pod: Some("p".into()),
                name: Some("d".into()),
                ..ContainerRef::default()
            },
        ];
        for a in &refs {
            for b in &refs {
                let want = owner_key(a).is_some() && owner_key(a) == owner_key(b);
                assert_eq!(same_owner(a, b), want, "{a:?} {b:?}");
            }
        }
    }
}
