
#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const JSON: &str = r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"x"}},"timeNano":5}"#;

    /// JSON records, blank and CRLF lines, garbage, a text format whose state runs from
    /// line to line (containerd), an overlong line, and no newline at the end.
    fn mixed() -> String {
        let mut s = String::new();
        for i in 0..40 {
            s.push_str(JSON);
            s.push_str(if i % 7 == 0 { "\r\n" } else { "\n" });
            if i % 11 == 0 {
                s.push_str("\n  \nnot a record\n");
            }
            if i == 20 {
                s.push_str("2026-11-20 09:00:00.5 +0000 UTC k8s.io /containers/create {\"id\":\"c1\",\"image\":\"ghcr.io/evil/x:1\"}\n");
                s.push_str("2026-11-20 09:00:01.5 +0000 UTC k8s.io /tasks/start {\"container_id\":\"c1\",\"pid\":42}\n");
                s.push_str(&"y".repeat(300));
                s.push('\n');
            }
        }
        s.push_str("2026-11-20 09:00:02.5 +0000 UTC k8s.io /tasks/exit {\"container_id\":\"c1\",\"id\":\"c1\",\"pid\":42}");
        s
    }

    fn opts() -> DecodeOptions {
        DecodeOptions {
            max_line_bytes: 200,
            ..DecodeOptions::default()
        }
    }

    fn input(data: &str) -> Input {
        Input {
            path: Arc::from("mem"),
            size: None,
            reader: Box::new(Cursor::new(data.as_bytes().to_vec())),
        }
    }

    fn sequential(data: &str) -> (Vec<Event>, DecodeStats) {
        let mut s = EventStream::new(input(data), opts());
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        (out, stats)
    }

    fn chunked(data: &str, chunk_bytes: usize, threads: usize) -> (Vec<Event>, DecodeStats) {
        let pool = (threads > 1).then(|| Pool::new(threads).unwrap());
        let chunk = ChunkOptions {
            chunk_bytes,
            inflight: 3,
        };
        let mut s = ParallelStream::new(input(data), opts(), chunk, pool, None).unwrap();
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        (out, stats)
    }

    #[test]
    fn chunked_decoding_equals_sequential_for_any_threads_and_chunk_size() {
        let data = mixed();
        let (want, want_stats) = sequential(&data);
        assert_eq!(want_stats.skipped["line too long"].count, 1);
        assert!(want_stats.formats.contains_key(&pullwatch_model::Format::ContainerdEvents));
        assert_eq!(want.len(), 43, "{want_stats:?}");
        for chunk_bytes in [1, 7, 64, 150, 1000, 1 << 20] {
            for threads in [1, 2, 3] {
                let (got, stats) = chunked(&data, chunk_bytes, threads);
                assert_eq!(got, want, "chunk {chunk_bytes}, threads {threads}");
                assert_eq!(stats, want_stats, "chunk {chunk_bytes}, threads {threads}");
            }
        }
    }

    #[test]
    fn a_json_document_is_decoded_whole() {
        let doc = format!("[\n  {JSON},\n  {JSON}\n]\n");
        let (want, _) = sequential(&doc);
        assert_eq!(want.len(), 2);
        let (got, _) = chunked(&doc, 8, 2);
        assert_eq!(got, want);
    }

    struct SkipDocker;
    impl RecordFilter for SkipDocker {
        fn skip(&self, line: &[u8]) -> Option<pullwatch_model::Format> {
            line.starts_with(b"{\"Type\"")
                .then_some(pullwatch_model::Format::DockerEvents)
        }
    }

    #[test]
    fn filtered_records_are_counted_not_decoded() {
        let data = format!("{JSON}\nnot json\n{JSON}\n");
        let chunk = ChunkOptions::default();
        let mut s = ParallelStream::new(input(&data), opts(), chunk, None, Some(Arc::new(SkipDocker))).unwrap();
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        // The text line makes the chunk impure, so nothing is filtered there.
        assert_eq!(out.len(), 2);
        let data = format!("{JSON}\n\n{JSON}\n");
        let mut s = ParallelStream::new(input(&data), opts(), ChunkOptions::default(), None, Some(Arc::new(SkipDocker))).unwrap();
        let (mut out, mut stats) = (Vec::new(), DecodeStats::default());
        while s.fill(&mut out, &mut stats, 3).unwrap() {}
        assert!(out.is_empty());
        assert_eq!(stats.prefiltered, 2);
        assert_eq!(stats.formats[&pullwatch_model::Format::DockerEvents].records, 2);
        assert_eq!(stats.bytes, data.len() as u64);
    }
}
