//! What one tracked container costs in memory. Tracked state is what grows with a busy
//! cluster (not with the size of the input: windows expire it), so its cost per
//! container is the figure a user sizes a node agent by. Measured here with a counting
//! allocator, as the slope between two runs that differ only in how many containers
//! are live at once: fixed costs (configuration, the reorder buffer's steady-state
//! storage) cancel out.
//!
//! Each container is realistic for Kubernetes: an untrusted image pulled by digest,
//! created, started, and running one ordinary process, all inside the time window.
//! `bench/compare` prints the figure (`cargo test --release -p pullwatch-engine --test
//! state_bytes -- --nocapture`).

use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::{
    ContainerLifecycle, ContainerRef, Event, EventKind, Format, ImagePull, ImageRef,
    LifecyclePhase, Placement, ProcessExec, SourceRef, Ts,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the layout is passed through unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc` and `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The counter is process-wide: measurements must not overlap.
static SERIAL: Mutex<()> = Mutex::new(());

const SEC: i64 = 1_000_000_000;
const T0: i64 = 1_795_165_200 * SEC;
/// Containers start this far apart: a steady cluster, 2.5 starts a second.
const SPACING: i64 = 400_000_000;

fn event(line: &mut u64, t: i64, kind: EventKind) -> Event {
    *line += 1;
    Event::new(
        Ts(t),
        SourceRef {
            format: Format::Tetragon,
            path: Arc::from("state.jsonl"),
            line: *line,
        },
        kind,
    )
}

fn container(i: usize) -> ContainerRef {
    ContainerRef {
        host: Some(format!("node-{}", i % 16).into()),
        // Distinct in the first 12 characters, as runtime ids are.
        id: Some(format!("{:012x}{}", i + 0xa11_0000, "e".repeat(52)).into()),
        name: Some("app".into()),
        pod: Some(format!("web-{i}-5f7d8c9b4-x2x7q").into()),
        namespace: Some("shop".into()),
        image: Some(image(i)),
        started_at: None,
    }
}

/// Forty distinct images, each by digest, as a cluster's deployments pull them.
fn image(i: usize) -> ImageRef {
    ImageRef::parse(&format!(
        "registry.unvetted.example/team{}/svc:1.{}@sha256:{:064x}",
        i % 40,
        i % 40,
        i % 40 + 1
    ))
}

/// Live heap bytes once `n` containers are tracked and every event is released.
fn live_bytes_with(n: usize) -> (isize, usize) {
    let mut engine = Engine::new(Config::default());
    let mut alerts = Vec::new();
    let mut line = 0;
    let before = LIVE.load(Ordering::Relaxed);
    let mut last = T0;
    for i in 0..n {
        let t = T0 + i as i64 * SPACING;
        let c = container(i);
        let kinds = [
            EventKind::ImagePull(ImagePull {
                host: c.host.as_deref().map(str::to_string),
                image: image(i),
                for_container: None,
                detail: "Pulling image".into(),
            }),
            EventKind::Container(ContainerLifecycle {
                container: c.clone(),
                phase: LifecyclePhase::Create,
                pid: None,
                sandbox: false,
                detail: "Created container app".into(),
            }),
            EventKind::Container(ContainerLifecycle {
                container: c.clone(),
                phase: LifecyclePhase::Start,
                pid: Some(1000 + i as u32),
                sandbox: false,
                detail: "Started container app".into(),
            }),
            EventKind::Process(ProcessExec {
                lineage: Default::default(),
                placement: Placement::Container(c.clone()),
                pid: Some(1000 + i as u32),
                ppid: None,
                exe: "/app/server".into(),
                cmdline: "/app/server --port 8080".into(),
                parent_exe: None,
                user: None,
            }),
        ];
        for (k, kind) in kinds.into_iter().enumerate() {
            last = t + k as i64 * 1_000_000;
            engine.push(event(&mut line, last, kind), &mut alerts);
        }
    }
    // One last record past the allowed lateness releases everything held; the window
    // (15 minutes) still covers every container.
    let flush = last + 121 * SEC;
    engine.push(
        event(
            &mut line,
            flush,
            EventKind::Process(ProcessExec {
                lineage: Default::default(),
                placement: Placement::Host { host: None },
                pid: None,
                ppid: None,
                exe: "/bin/true".into(),
                cmdline: "/bin/true".into(),
                parent_exe: None,
                user: None,
            }),
        ),
        &mut alerts,
    );
    let tracked = engine.stats().containers_tracked as usize;
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(engine);
    (bytes, tracked)
}

#[test]
fn a_tracked_container_costs_a_few_kilobytes() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (small, small_tracked) = live_bytes_with(1000);
    let (large, large_tracked) = live_bytes_with(2000);
    assert_eq!(small_tracked, 1000);
    assert_eq!(large_tracked, 2000);
    let per = (large - small) as f64 / 1000.0;
    println!("state: {per:.0} bytes per tracked container (slope between 1000 and 2000 live)");
    assert!(per > 0.0, "tracking containers must cost something: {per}");
    // The bound a user can size by: a node with 500 live containers needs a few MiB.
    assert!(per < 8192.0, "{per} bytes per tracked container");
}
