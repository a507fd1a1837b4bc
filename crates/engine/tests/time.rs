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
    // from before it (beyond the allowed lateness) is late.
    let events = vec![
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
    let (_, s) = run(Config::default(), events.clone());
    assert_eq!((s.late, s.future), (1, 0));
    assert_eq!(s.late_first[0].line, 3);
    assert_eq!(s.late_first[0].behind, "27m");
    // With a tighter skew, the same record is dated ahead instead, and nothing is late.
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
