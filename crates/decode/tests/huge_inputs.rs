//! Inputs built to exhaust memory: a 100 MB line and decompression bombs (10 GiB of
//! zeros in about 10 MB of gzip, and in zstd). Each must end as a located skip while
//! pullwatch's memory stays bounded. The inputs are generated here, never committed.
//!
//! Stated bound: this test process's peak resident set (`VmHWM`) stays under 160 MiB
//! while both tests run (the line cap is 16 MiB, each reader buffers 1 MiB; the 10 MB
//! bomb itself is held in memory by the test).

use pullwatch_decode::framing::decompress_capped;
use pullwatch_decode::{DecodeOptions, DecodeStats, EventStream, Input};
use std::io::{BufReader, Cursor, Read, Write};
use std::sync::Arc;

const MIB: u64 = 1 << 20;
const RECORD: &str = r#"{"Type":"container","Action":"start","Actor":{"ID":"3f9c2a7d1e8b","Attributes":{"image":"kitty0x/toolbox:latest"}},"timeNano":1795165203000000000}"#;

fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn drain(input: Input, opts: DecodeOptions) -> (usize, DecodeStats) {
    let mut s = EventStream::new(input, opts);
    let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
    let mut events = 0;
    while s
        .fill(&mut out, &mut stats, 4096)
        .expect("generated reads do not fail")
    {
        events += out.len();
        out.clear();
    }
    events += out.len();
    (events, stats)
}

fn assert_bounded() {
    if let Some(peak) = peak_rss_mib() {
        assert!(peak < 160, "peak RSS {peak} MiB");
    }
}

#[test]
fn a_100_mb_line_is_skipped_without_being_held() {
    // Generated as it is read: the line never exists whole, in the test or in pullwatch.
    let line = std::io::repeat(b'x').take(100 * MIB);
    let rest = Cursor::new(format!("\n{RECORD}\n").into_bytes());
    let input = Input {
        path: Arc::from("huge-line.jsonl"),
        size: None,
        reader: Box::new(BufReader::with_capacity(1 << 20, line.chain(rest))),
    };
    let (events, st) = drain(input, DecodeOptions::default());
    assert_eq!(events, 1);
    let sc = &st.skipped["line too long"];
    assert_eq!(sc.count, 1);
    assert_eq!(sc.first[0].path, "huge-line.jsonl");
    assert_eq!(sc.first[0].line, 1);
    assert_eq!(
        sc.first[0].detail,
        format!("{} bytes, limit {}", 100 * MIB, 16 * MIB)
    );
    assert_eq!(st.skipped_total(), 1);
    assert_bounded();
}

/// `members` copies of one gzip member of `member_mib` MiB of zeros: multi-member gzip
/// is read whole (rotated logs, CloudTrail), so the copies add up.
fn gzip_bomb(member_mib: u64, members: usize, tail: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; MIB as usize];
    for _ in 0..member_mib {
        e.write_all(&zeros).expect("in memory");
    }
    let member = e.finish().expect("in memory");
    let mut out = Vec::with_capacity(member.len() * members + 64);
    for _ in 0..members {
        out.extend_from_slice(&member);
    }
    let mut t = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    t.write_all(tail.as_bytes()).expect("in memory");
    out.extend(t.finish().expect("in memory"));
    out
}

#[test]
fn decompression_bombs_stop_at_the_cap_as_a_located_skip() {
    // 10 GiB of zeros after one real record.
    let head = format!("{RECORD}\n");
    let mut bomb = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(head.as_bytes()).expect("in memory");
        e.finish().expect("in memory")
    };
    bomb.extend(gzip_bomb(64, 160, &format!("\n{RECORD}\n")));
    assert!(bomb.len() < 16 * MIB as usize, "{} bytes", bomb.len());
    let cap = 256 * MIB;
    let opts = DecodeOptions {
        max_decompressed_bytes: cap,
        ..DecodeOptions::default()
    };
    let reader = decompress_capped(Box::new(Cursor::new(bomb)), cap).expect("gzip header");
    let input = Input {
        path: Arc::from("bomb.jsonl.gz"),
        size: None,
        reader,
    };
    let (events, st) = drain(input, opts);
    assert_eq!(events, 1, "{st:#?}");
    let sc = &st.skipped["decompressed size limit"];
    assert_eq!(sc.count, 1);
    assert_eq!(sc.first[0].path, "bomb.jsonl.gz");
    // Line 1 was the record; the zeros are line 2 and never end.
    assert_eq!(sc.first[0].line, 2);
    assert_eq!(
        sc.first[0].detail,
        format!("input decompresses to more than {cap} bytes (max_decompressed_bytes); the rest is not read")
    );
    // Only what was read counts: the cap, not the 10 GiB.
    assert!(st.bytes <= cap + 2, "{} bytes", st.bytes);

    // zstd frames concatenate the same way.
    let frame = zstd::encode_all(std::io::repeat(0).take(64 * MIB), 3).expect("in memory");
    let bomb: Vec<u8> = std::iter::repeat_n(frame.as_slice(), 160)
        .flatten()
        .copied()
        .collect();
    let reader = decompress_capped(Box::new(Cursor::new(bomb)), cap).expect("zstd header");
    let input = Input {
        path: Arc::from("bomb.zst"),
        size: None,
        reader,
    };
    let (events, st) = drain(input, opts_with(cap));
    assert_eq!(events, 0);
    assert_eq!(st.skipped["decompressed size limit"].first[0].line, 1);

    // An input that ends exactly at the cap is whole, not a bomb.
    let exact = format!("{RECORD}\n");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(exact.as_bytes()).expect("in memory");
    let gz = e.finish().expect("in memory");
    let n = exact.len() as u64;
    let reader = decompress_capped(Box::new(Cursor::new(gz)), n).expect("gzip header");
    let input = Input {
        path: Arc::from("exact.gz"),
        size: None,
        reader,
    };
    let (events, st) = drain(input, opts_with(n));
    assert_eq!((events, st.skipped_total()), (1, 0), "{st:#?}");
    assert_bounded();
}

fn opts_with(cap: u64) -> DecodeOptions {
    DecodeOptions {
        max_decompressed_bytes: cap,
        ..DecodeOptions::default()
    }
}
