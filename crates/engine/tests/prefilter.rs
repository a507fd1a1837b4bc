//! The prefilter never drops a record a full decode would give the engine something
//! to use: whatever it skips decodes to nothing, or only to events the engine ignores.

use pullwatch_corpus::{generate, GenSpec};
use pullwatch_decode::{audit_skip, decode_unfiltered, Prefilter, RecordFilter};
use pullwatch_engine::config::Config;
use pullwatch_engine::interest::trusted_image_test;
use pullwatch_engine::Engine;
use std::sync::Arc;

fn prefilter() -> Prefilter {
    Prefilter::new(Arc::new(trusted_image_test(&Config::default())))
}

/// Asserts the contract for one record (see `audit_skip`); returns whether it was skipped.
fn check(p: &Prefilter, engine: &Engine, line: &str) -> bool {
    match audit_skip(p, line.as_bytes(), |e| engine.ignores(e)) {
        Ok(skipped) => skipped.is_some(),
        Err(breach) => panic!("{breach}\n{line}"),
    }
}

/// A generated corpus of `records` records with `chains` chains in it.
fn corpus(seed: u64, records: u64, chains: u64) -> String {
    let mut data = Vec::new();
    generate(
        &GenSpec {
            seed,
            records,
            chains,
            rate: 250,
        },
        &mut data,
    )
    .unwrap();
    String::from_utf8(data).unwrap()
}

#[test]
fn skipped_generated_records_hold_nothing_the_engine_uses() {
    let text = corpus(21, 30_000, 8);
    let (p, engine) = (prefilter(), Engine::new(Config::default()));
    let mut skipped = 0;
    for line in text.lines() {
        skipped += usize::from(check(&p, &engine, line));
    }
    // Ordinary activity dominates the corpus, and most of it is skipped.
    assert!(skipped > 30_000 * 2 / 5, "{skipped} skipped");
}

#[test]
fn behind_a_container_log_prefix_the_same_records_are_skipped_and_the_contract_holds() {
    // Sensors running as pods are read from /var/log/pods with the runtime's prefix.
    let text = corpus(5, 3_000, 2);
    let (p, engine) = (prefilter(), Engine::new(Config::default()));
    let mut skipped = 0;
    for line in text.lines() {
        let cri = format!("2026-11-20T09:00:41.518123456Z stdout F {line}");
        let raw = check(&p, &engine, line);
        assert_eq!(check(&p, &engine, &cri), raw, "{cri}");
        skipped += usize::from(raw);
        // Half a record is never skipped: the rest of it is on the next line.
        let partial = format!("2026-11-20T09:00:41.518123456Z stdout P {line}");
        assert!(!check(&p, &engine, &partial), "{partial}");
        let log = serde_json::to_string(&format!("{line}\n")).unwrap();
        let json_file =
            format!(r#"{{"log":{log},"stream":"stdout","time":"2026-11-20T09:00:41Z"}}"#);
        assert_eq!(check(&p, &engine, &json_file), raw, "{json_file}");
    }
    assert!(skipped > 1_000, "{skipped} skipped");
}

const TRUSTED_EXEC: &str = r#"{"process_exec":{"process":{"pid":7,"binary":"/usr/bin/curl","arguments":"-s x","start_time":"2026-11-20T09:00:00Z","pod":{"namespace":"shop","name":"web-1","container":{"id":"containerd://8a1b2c3d4e5f60718293a4b5c6d7e8f9","name":"nginx","image":{"id":"docker.io/library/nginx@sha256:2d19","name":"docker.io/library/nginx:1.27.2"},"start_time":"2026-11-20T08:00:00Z"}}},"parent":{"pid":1}},"node_name":"n1","time":"2026-11-20T09:00:00Z"}"#;

#[test]
fn tricky_records_are_decoded_when_in_doubt() {
    let (p, engine) = (prefilter(), Engine::new(Config::default()));
    assert!(check(&p, &engine, TRUSTED_EXEC));
    let untrusted =
        TRUSTED_EXEC.replace("docker.io/library/nginx:1.27.2", "docker.io/evil/nginx:1");
    let cases = [
        // The process's own image decides, not a look-alike elsewhere in the record.
        untrusted.clone(),
        untrusted.replace(r#""parent":{"pid":1}"#, r#""parent":{"pid":1,"pod":{"container":{"image":{"name":"docker.io/library/nginx:1.27.2"}}}}"#),
        // Escapes anywhere: decoded.
        TRUSTED_EXEC.replace("-s x", "-s \\\"x\\\""),
        // An exec that is also another Tetragon event.
        TRUSTED_EXEC.replace(r#""node_name""#, r#""process_kprobe":{"function_name":"tcp_connect"},"node_name""#),
        // Kprobes carry the source address that places flow records: always decoded.
        r#"{"process_kprobe":{"process":{"pid":7,"binary":"/x","pod":{"namespace":"a","name":"b","container":{"id":"c","name":"d","image":{"name":"docker.io/library/nginx:1"}}}},"function_name":"tcp_connect","args":[{"sock_arg":{"family":"AF_INET","saddr":"10.0.0.1","daddr":"10.0.0.2","sport":1,"dport":2}}]},"node_name":"n","time":"2026-11-20T09:00:00Z"}"#.to_string(),
        // Falco on the host, or with an unknown image.
        r#"{"rule":"r","time":"2026-11-20T09:00:00Z","output_fields":{"container.id":"host","container.image.repository":"docker.io/library/nginx","proc.exepath":"/bin/sh"}}"#.to_string(),
        r#"{"rule":"r","time":"2026-11-20T09:00:00Z","output_fields":{"container.id":"abc","container.image.repository":"<NA>","proc.exepath":"/bin/sh"}}"#.to_string(),
        r#"{"rule":"r","time":"2026-11-20T09:00:00Z","output_fields":{"container.id":"abc","container.image.repository":"docker.io/library/nginx","container.image.tag":5,"proc.exepath":"/bin/sh"}}"#.to_string(),
        // Audit events about pods, and Events with a kubelet reason.
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p"},"requestURI":"/api/v1/namespaces/n/pods/p/exec?command=sh","stageTimestamp":"2026-11-20T09:00:00Z"}"#.to_string(),
        r#"{"kind":"Event","apiVersion":"v1","involvedObject":{"kind":"Pod","namespace":"n","name":"p"},"reason":"Pulling","message":"Pulling image x","firstTimestamp":"2026-11-20T09:00:00Z"}"#.to_string(),
        // Docker exec in a container whose image is untrusted or not named.
        r#"{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"abc","Attributes":{"image":"evil/x"}},"timeNano":5}"#.to_string(),
        r#"{"Type":"container","Action":"exec_start: sh","Actor":{"ID":"abc"},"from":"nginx","timeNano":5}"#.to_string(),
        r#"{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"image":"nginx"}},"timeNano":5}"#.to_string(),
    ];
    for c in &cases {
        assert!(p.skip(c.as_bytes()).is_none(), "skipped: {c}");
    }
    // Records the Tetragon decoder refuses: a repeated key, a value that is not JSON
    // after the image. Skipped records are not validated, so these may be counted as
    // irrelevant rather than as malformed: the contract holds (they give no event), and
    // `scan --strict` turns the prefilter off to report them.
    for refused in [
        TRUSTED_EXEC.replace(
            r#""node_name":"n1""#,
            r#""process_exec":{},"node_name":"n1""#,
        ),
        TRUSTED_EXEC.replace(r#""parent":{"pid":1}"#, r#""parent":{"pid":1,}"#),
        TRUSTED_EXEC.replace(r#""node_name":"n1""#, r#""node_name":n1"#),
    ] {
        let (out, stats) = decode_unfiltered(refused.as_bytes());
        assert!(out.is_empty() && stats.skipped_total() == 1, "{refused}");
        assert!(check(&p, &engine, &refused), "not skipped: {refused}");
    }
    let skippable = [
        r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a","stage":"ResponseComplete","verb":"get","objectRef":{"resource":"configmaps","namespace":"n"},"stageTimestamp":"2026-11-20T09:00:00Z"}"#,
        r#"{"kind":"Event","apiVersion":"v1","involvedObject":{"kind":"Pod","namespace":"n","name":"p"},"reason":"Unhealthy","message":"probe failed","firstTimestamp":"2026-11-20T09:00:00Z"}"#,
        r#"{"Type":"network","Action":"connect","Actor":{"ID":"abc","Attributes":{"name":"bridge"}},"timeNano":5}"#,
        r#"{"Type":"container","Action":"exec_start: /bin/sh -c id","Actor":{"ID":"abc","Attributes":{"image":"nginx:1.27"}},"timeNano":5}"#,
        r#"{"rule":"r","time":"2026-11-20T09:00:00Z","output_fields":{"container.id":"abc","container.image.repository":"docker.io/library/nginx","container.image.tag":"1.27","proc.exepath":"/bin/sh","fd.rip":"169.254.169.254"}}"#,
    ];
    for c in skippable {
        assert!(check(&p, &engine, c), "not skipped: {c}");
    }
}

#[test]
fn remembered_verdicts_belong_to_one_allowlist() {
    // Two prefilters on one thread (two scans with different configs): what one
    // remembered about an image must not decide for the other.
    let trusting = prefilter();
    let mut strict_cfg = Config::default();
    strict_cfg.image_registry_allow_list.clear();
    let strict = Prefilter::new(Arc::new(trusted_image_test(&strict_cfg)));
    for _ in 0..2 {
        assert!(trusting.skip(TRUSTED_EXEC.as_bytes()).is_some());
        assert!(strict.skip(TRUSTED_EXEC.as_bytes()).is_none());
    }
}

#[test]
fn the_fuzz_seeds_hold_skippable_records_and_keep_the_contract() {
    // fuzz/seeds/prefilter.jsonl seeds the `prefilter` fuzz target, which asserts this
    // same contract on mutated records; seeds that were never skipped would leave the
    // skip path unfuzzed.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/prefilter.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let (p, engine) = (prefilter(), Engine::new(Config::default()));
    let lines: Vec<&str> = text.lines().collect();
    let skipped: Vec<bool> = lines.iter().map(|l| check(&p, &engine, l)).collect();
    assert!(lines.len() >= 10, "{} seeds", lines.len());
    // The trusted execs, the Docker exec, network event and exec exit, the Falco alert,
    // the configmap read and the probe failure are skipped; the Tetragon exit, the
    // untrusted pod and the pull are decoded.
    assert_eq!(
        skipped,
        [true, true, false, true, true, true, true, true, false, true, false],
        "{path:?}"
    );
}

/// The keys of a kubelet Event, to append to a record whose own decoder rejects it.
const EVENT_TAIL: &str = r#""kind":"Event","apiVersion":"v1","involvedObject":{"kind":"Pod","namespace":"shop","name":"web-1","fieldPath":"spec.containers{x}"},"reason":"Started","message":"Started container x","source":{"component":"kubelet","host":"n1"},"firstTimestamp":"2026-11-20T09:00:00Z"}"#;

#[test]
fn a_record_its_decoder_rejects_is_not_read_as_another_format_behind_the_prefilter() {
    let (p, engine) = (prefilter(), Engine::new(Config::default()));
    // Found by the `prefilter` fuzz target: a record opening as a Tetragon exec of a
    // trusted image, with a timestamp the Tetragon decoder rejects and the keys of a
    // Kubernetes Event. The stream used to fall back to the Events decoder, which read a
    // container start from it, while the prefilter skipped it as a trusted exec. An
    // opening that belongs to Tetragon alone now makes it a malformed Tetragon record:
    // a counted skip, with or without the prefilter.
    let forged = TRUSTED_EXEC.replace(
        r#""time":"2026-11-20T09:00:00Z"}"#,
        r#""time":"2026-11-20T09:00:00t","#,
    ) + EVENT_TAIL;
    let (out, stats) = decode_unfiltered(forged.as_bytes());
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(stats.skipped_total(), 1, "{stats:?}");
    assert!(
        stats.skipped.keys().any(|r| r.contains("tetragon")),
        "{stats:?}"
    );
    check(&p, &engine, &forged);

    // Falco's `hostname`-first opening is only a guess, so a rejected alert still gets
    // the other formats' decoders; the prefilter keeps it when its keys suggest one.
    let falco = r#"{"hostname":"n1","rule":"r","time":"2026-11-20T09:00:00Z","output_fields":{"container.id":"abc","container.image.repository":"docker.io/library/nginx","container.image.tag":"1.27","proc.exepath":"/bin/sh"}}"#;
    assert!(check(&p, &engine, falco), "a trusted alert is skipped");
    let forged = falco.replace(
        r#""time":"2026-11-20T09:00:00Z""#,
        r#""time":"2026-11-20T09:00:00t""#,
    );
    let forged = format!("{},{EVENT_TAIL}", &forged[..forged.len() - 1]);
    let (out, _) = decode_unfiltered(forged.as_bytes());
    assert!(
        out.iter().any(|e| !engine.ignores(e)),
        "{forged} should decode to something the engine uses: {out:?}"
    );
    assert!(p.skip(forged.as_bytes()).is_none(), "{forged}");
}

#[test]
fn a_falco_alert_is_judged_with_its_digest_as_the_decoder_reads_it() {
    // Found by the `prefilter` fuzz target: repository and tag allowlisted, but a
    // malformed `container.image.digest`. The decoder pins the image with the digest,
    // and a malformed digest is never trusted, so the engine uses the event; the
    // prefilter had judged repository and tag alone and skipped it.
    let (p, engine) = (prefilter(), Engine::new(Config::default()));
    let alert = |digest: &str| {
        format!(
            r#"{{"rule":"Terminal shell in container","time":"2026-11-20T09:01:05Z","output_fields":{{"container.id":"8a1b2c3d4e5f","container.image.repository":"docker.io/library/nginx","container.image.tag":"1.27.2"{digest},"proc.exepath":"/bin/sh","proc.cmdline":"sh -c id"}}}}"#
        )
    };
    let well_formed = format!(r#","container.image.digest":"sha256:{}""#, "ab".repeat(32));
    for (digest, skipped) in [
        ("", true),
        (well_formed.as_str(), true),
        (r#","container.image.digest":"<NA>""#, true),
        (r#","container.image.digest":"shop""#, false),
        (r#","container.image.digest":7"#, false),
    ] {
        let line = alert(digest);
        assert_eq!(check(&p, &engine, &line), skipped, "{line}");
    }
}
