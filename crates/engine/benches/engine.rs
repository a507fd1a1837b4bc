//! The correlation core alone: a generated stream, already decoded, pushed through the
//! engine (reorder buffer, dedupe, container state, matching, alerts).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pullwatch_corpus::{generate, GenSpec};
use pullwatch_decode::{DecodeOptions, DecodeStats, EventStream, Input};
use pullwatch_engine::config::Config;
use pullwatch_engine::Engine;
use pullwatch_model::Event;
use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;

fn events(records: u64, chains: u64) -> Vec<Event> {
    let mut data = Vec::new();
    generate(
        &GenSpec {
            seed: 9,
            records,
            chains,
            rate: 250,
        },
        &mut data,
    )
    .expect("generate");
    let input = Input {
        path: Arc::from("bench"),
        size: None,
        reader: Box::new(Cursor::new(data)),
    };
    let mut s = EventStream::new(input, DecodeOptions::default());
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    while s.fill(&mut out, &mut stats, 4096).unwrap_or(false) {}
    out
}

fn bench(c: &mut Criterion) {
    let evs = events(50_000, 10);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.sample_size(10);
    g.bench_function("generated-mix-50k-records", |b| {
        b.iter_batched(
            || evs.clone(),
            |evs| {
                let mut engine = Engine::new(Config::default());
                let mut alerts = Vec::new();
                for e in evs {
                    engine.push(e, &mut alerts);
                }
                engine.finish(&mut alerts);
                assert_eq!(alerts.len(), 10);
                black_box(alerts.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
