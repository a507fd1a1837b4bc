//! Per-component costs of decoding: each decoder on a representative record of its
//! format, format sniffing, and the whole stream (framing, sniffing, decoding) over a
//! generated mix. Records come from the benchmark corpus generator, so they have the
//! shapes and sizes the end-to-end benchmark measures.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pullwatch_corpus::{generate_shaped, GenSpec, Mix, Shape, Wrap};
use pullwatch_decode::{
    decode_json_as, decode_json_reading, sniff, ChunkOptions, DecodeOptions, DecodeStats,
    EventStream, Input, ParallelStream, Pool, Prefilter, Reading, RecordCtx, RecordFilter,
};
use pullwatch_model::Format;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::sync::Arc;

fn corpus(records: u64) -> Vec<u8> {
    shaped(records, Wrap::None)
}

/// The same records as [`corpus`], delivered as a log shipper does.
fn shaped(records: u64, wrap: Wrap) -> Vec<u8> {
    let mut out = Vec::new();
    generate_shaped(
        &GenSpec {
            seed: 3,
            records,
            chains: 5,
            rate: 250,
        },
        Shape {
            wrap,
            mix: Mix::Container,
        },
        &mut out,
    )
    .expect("generate");
    out
}

/// Decodes a whole input, as `pullwatch scan` does one file, without a prefilter.
fn stream_all(bytes: Vec<u8>) -> usize {
    let input = Input {
        path: Arc::from("bench"),
        size: None,
        reader: Box::new(Cursor::new(bytes)),
    };
    let mut s = EventStream::new(input, DecodeOptions::default());
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    while s.fill(&mut out, &mut stats, 4096).unwrap_or(false) {
        out.clear();
    }
    stats.formats.len()
}

/// One record of each shape the corpus holds, named by format and what it reports.
fn samples(text: &str) -> Vec<(String, Format, String)> {
    let mut seen = Vec::new();
    let mut cands = Vec::new();
    for line in text.lines() {
        sniff::json_candidates(line, None, &mut cands);
        let Some(&format) = cands.first() else {
            continue;
        };
        let shape = [
            "process_exec",
            "process_kprobe",
            "process_exit",
            "\"verb\":\"create\"",
            "\"verb\":\"get\"",
            "Pulling",
            "Unhealthy",
            "exec_start",
            "\"pull\"",
            "output_fields",
        ]
        .iter()
        .find(|k| line.contains(*k))
        .map_or("other", |k| k.trim_matches('"'));
        let name = format!("{format}/{}", shape.replace("\"", "").replace(':', "="));
        if !seen
            .iter()
            .any(|(n, _, _): &(String, Format, String)| *n == name)
        {
            seen.push((name, format, line.to_string()));
        }
    }
    seen
}

fn bench(c: &mut Criterion) {
    let data = corpus(20_000);
    let text = String::from_utf8(data.clone()).expect("utf8");
    let ctx = RecordCtx {
        path: Arc::from("bench"),
        line: 1,
    };
    let samples = samples(&text);
    let mut g = c.benchmark_group("decode");
    for (name, format, line) in &samples {
        g.throughput(Throughput::Bytes(line.len() as u64));
        let mut out = Vec::new();
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                out.clear();
                let r = decode_json_as(*format, black_box(line), &ctx, &mut out);
                black_box(r.is_ok())
            })
        });
    }
    g.finish();

    // Tetragon's records as `scan --strict` reads them: whole, by serde. The group above
    // reads them by the structural walk, the default; the two are the walk's gain.
    let mut g = c.benchmark_group("decode_whole");
    for (name, format, line) in samples.iter().filter(|(_, f, _)| *f == Format::Tetragon) {
        g.throughput(Throughput::Bytes(line.len() as u64));
        let mut out = Vec::new();
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                out.clear();
                let r =
                    decode_json_reading(*format, black_box(line), &ctx, Reading::Whole, &mut out);
                black_box(r.is_ok())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sniff");
    let mut cands = Vec::new();
    for (name, _, line) in &samples {
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                sniff::json_candidates(black_box(line), None, &mut cands);
                black_box(cands.len())
            })
        });
    }
    g.finish();

    // The prefilter on each shape (a record it skips is read only as far as its rule
    // needs). The allowlist is the corpus's own: images under docker.io/library/ and
    // registry.k8s.io/ are trusted.
    let trusted: pullwatch_decode::prefilter::TrustedImage = Arc::new(|i: &str| {
        i.starts_with("docker.io/library/") || i.starts_with("registry.k8s.io/")
    });
    let p = Prefilter::new(trusted);
    let mut g = c.benchmark_group("prefilter");
    for (name, _, line) in &samples {
        g.throughput(Throughput::Bytes(line.len() as u64));
        g.bench_function(name.as_str(), |b| {
            b.iter(|| black_box(p.skip(black_box(line.as_bytes()))))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("stream");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("generated-mix-20k", |b| {
        b.iter_batched(
            || data.clone(),
            |bytes| black_box(stream_all(bytes)),
            BatchSize::LargeInput,
        )
    });
    g.finish();

    // The same 20k records as shippers deliver them: what an envelope costs. Measured
    // per record (not per byte: an envelope's bytes are more, its records the same).
    let mut g = c.benchmark_group("shipped");
    g.throughput(Throughput::Elements(20_000));
    g.sample_size(10);
    for (name, wrap) in [
        ("bare", Wrap::None),
        ("vector", Wrap::Vector),
        ("filebeat", Wrap::Filebeat),
        ("fluent-bit", Wrap::FluentBit),
    ] {
        let data = shaped(20_000, wrap);
        g.bench_function(name, |b| {
            b.iter_batched(
                || data.clone(),
                |bytes| black_box(stream_all(bytes)),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

/// Decodes a whole input on a pool of `threads`, as `pullwatch scan --threads N` does.
fn parallel_all(reader: Box<dyn BufRead + Send>, pool: &Arc<Pool>) -> usize {
    let input = Input {
        path: Arc::from("bench"),
        size: None,
        reader,
    };
    let chunk = ChunkOptions {
        inflight: 2 * pool.threads() + 2,
        ..ChunkOptions::default()
    };
    let Ok(mut s) = ParallelStream::new(
        input,
        DecodeOptions::default(),
        chunk,
        Some(Arc::clone(pool)),
        None,
    ) else {
        return 0;
    };
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    while s.fill(&mut out, &mut stats, 4096).unwrap_or(false) {
        out.clear();
    }
    stats.formats.len()
}

/// Two decoding threads and the caller's, as `pullwatch scan --threads 2` decodes one
/// input: plain, and gzip-compressed (inflated on the caller's thread, where the input
/// is cut into chunks).
fn bench_parallel(c: &mut Criterion) {
    let data = corpus(100_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&data);
    let gz = gz.finish().unwrap_or_default();
    let Ok(pool) = Pool::new(2) else {
        return;
    };
    let mut g = c.benchmark_group("parallel-2");
    g.throughput(Throughput::Elements(100_000));
    g.sample_size(10);
    g.bench_function("plain", |b| {
        b.iter_batched(
            || Box::new(Cursor::new(data.clone())) as Box<dyn BufRead + Send>,
            |r| black_box(parallel_all(r, &pool)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("gzip", |b| {
        b.iter_batched(
            || {
                Box::new(BufReader::with_capacity(
                    1 << 20,
                    flate2::read::MultiGzDecoder::new(Cursor::new(gz.clone())),
                )) as Box<dyn BufRead + Send>
            },
            |r| black_box(parallel_all(r, &pool)),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench, bench_parallel);
criterion_main!(benches);
