//! Property: any arrival order within the allowed lateness gives the same alerts as
//! time order. Arrival order is drawn by adding to each event's time a random delay
//! below the lateness and sorting on that, which displaces every record by less than
//! the lateness — exactly what a collector is allowed to do.

use proptest::prelude::*;
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::{
    Connection, ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Placement, ProcessExec, SourceRef, Ts,
};
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;

fn src(path: &Arc<str>, line: u64) -> SourceRef {
    SourceRef {
        format: Format::DockerEvents,
        path: path.clone(),
        line,
    }
}

fn cref(id: &str, image: &str) -> ContainerRef {
    ContainerRef {
        id: Some(id.into()),
        image: Some(ImageRef::parse(image)),
        host: Some("node-a".into()),
        ..ContainerRef::default()
    }
}

/// A small world: `chains` containers from untrusted images and `benign` from trusted
/// ones, each pulled, created, started and then running processes; some activity
/// falls after the window.
fn world(chains: usize, benign: usize, seed: u64) -> Vec<Event> {
    let path: Arc<str> = Arc::from("world.jsonl");
    let mut out = Vec::new();
    let mut line = 0u64;
    let mut next = |t: i64, kind: EventKind, out: &mut Vec<Event>| {
        line += 1;
        out.push(Event::new(Ts(t), src(&path, line), kind));
    };
    let total = chains + benign;
    for i in 0..total {
        let untrusted = i < chains;
        let image = if untrusted {
            format!("evil.example/tools/x{i}:1")
        } else {
            format!("nginx:1.{i}")
        };
        let mix = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ seed.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let id = format!("{mix:016x}").repeat(4);
        let t0 = (i as i64) * 7 * SEC + 1_000 * SEC;
        let c = cref(&id, &image);
        next(
            t0,
            EventKind::ImagePull(ImagePull {
                host: Some("node-a".into()),
                image: ImageRef::parse(&image),
                for_container: None,
                detail: format!("pull {image}"),
            }),
            &mut out,
        );
        for (dt, phase) in [(2, LifecyclePhase::Create), (3, LifecyclePhase::Start)] {
            next(
                t0 + dt * SEC,
                EventKind::Container(ContainerLifecycle {
                    container: c.clone(),
                    phase,
                    pid: None,
                    sandbox: false,
                    detail: "lifecycle".into(),
                }),
                &mut out,
            );
        }
        let late_activity = i % 3 == 2;
        let act_t = if late_activity {
            t0 + 20 * 60 * SEC
        } else {
            t0 + 30 * SEC
        };
        for (k, exe) in ["/app/server", "/bin/sh", "/usr/bin/curl"]
            .iter()
            .enumerate()
        {
            next(
                act_t + k as i64 * SEC / 2,
                EventKind::Process(ProcessExec {
                    lineage: Default::default(),
                    placement: Placement::Container(c.clone()),
                    pid: Some(100 + k as u32),
                    ppid: Some(1),
                    exe: (*exe).into(),
                    cmdline: exe.to_string(),
                    parent_exe: None,
                    user: None,
                }),
                &mut out,
            );
        }
        next(
            act_t + 2 * SEC,
            EventKind::Connection(Connection {
                placement: Placement::Container(c),
                pid: Some(101),
                exe: Some("/bin/sh".into()),
                src: None,
                src_port: None,
                dst: "169.254.169.254"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([169, 254, 169, 254])),
                dst_port: Some(80),
                proto: Some("tcp".into()),
                instance_id: None,
            }),
            &mut out,
        );
    }
    out
}

fn run(events: Vec<Event>) -> Vec<String> {
    let mut engine = Engine::new(Config::default());
    let mut alerts = Vec::new();
    for e in events {
        engine.push(e, &mut alerts);
    }
    engine.finish(&mut alerts);
    assert_eq!(
        engine.stats().late,
        0,
        "no record may be late in this property"
    );
    alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap_or_default())
        .collect()
}

fn in_time_order(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by_key(|e| (e.time, e.stage_rank(), e.source.line));
    events
}

#[test]
fn the_world_alerts_as_expected_in_time_order() {
    let alerts = run(in_time_order(world(6, 6, 1)));
    // Chains 0..6 with activity inside the window: i % 3 != 2 → 0, 1, 3, 4.
    assert_eq!(alerts.len(), 4, "{alerts:#?}");
    for (a, i) in alerts.iter().zip([0, 1, 3, 4]) {
        assert!(a.contains(&format!("evil.example/tools/x{i}:1")), "{a}");
        assert!(a.contains("\"rule\":\"an0691.chain\""));
        assert!(
            a.contains("ran /bin/sh"),
            "first suspicious process is the shell: {a}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn reordering_within_lateness_keeps_the_alerts(
        seed in 0u64..1000,
        delays in proptest::collection::vec(0i64..(120 * SEC), 0..200),
    ) {
        let events = world(5, 4, seed);
        let expected = run(in_time_order(events.clone()));
        let lateness = 120 * SEC;
        let mut keyed: Vec<(i64, usize, Event)> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let d = delays.get(i).copied().unwrap_or((i as i64 * 7_919 * SEC / 3) % lateness);
                (e.time.0 + d.min(lateness - 1), i, e)
            })
            .collect();
        keyed.sort_by_key(|(k, i, _)| (*k, *i));
        let shuffled: Vec<Event> = keyed.into_iter().map(|(_, _, e)| e).collect();
        prop_assert_eq!(run(shuffled), expected);
    }
}
