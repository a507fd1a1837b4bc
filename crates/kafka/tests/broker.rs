//! pullwatch's Kafka layer against a real broker (scripts/kafka.sh): consumer groups,
//! replay by time, and alerts committed together with offsets, including across a member
//! killed with SIGKILL.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{broker, now_ms, produce, read_all, settings, topics, unique, watchdog, Deadline};
use pullwatch_kafka::{
    next_offsets, AlertProducer, Error, GroupConsumer, KafkaRecord, KafkaSettings, Rebalance,
    TableReader, TopicPartition,
};

const POLL: Duration = Duration::from_millis(100);
const CALL: Duration = Duration::from_secs(30);

fn owned(c: &GroupConsumer) -> BTreeSet<i32> {
    c.assignment()
        .expect("assignment")
        .iter()
        .map(|tp| tp.partition)
        .collect()
}

fn alert_key(r: &KafkaRecord) -> String {
    format!("alert-{}-{}", r.partition, r.offset)
}

/// What the hand-over test's members processed.
#[derive(Default)]
struct Tally {
    seen: HashMap<usize, usize>,
    key_partition: HashMap<Vec<u8>, i32>,
    commit_failures: usize,
    /// The last offset committed for each partition (the next record to process).
    committed: BTreeMap<i32, i64>,
}

impl Tally {
    fn process(&mut self, c: &GroupConsumer, batch: &[KafkaRecord]) {
        for r in batch {
            let seq: usize = std::str::from_utf8(&r.payload)
                .expect("utf8")
                .parse()
                .expect("seq");
            *self.seen.entry(seq).or_default() += 1;
            let key = r.key.clone().expect("keyed record");
            let first = *self.key_partition.entry(key).or_insert(r.partition);
            assert_eq!(first, r.partition, "a key moved partitions");
        }
        // Committed after processing, as with an alert sink that is not Kafka. A commit
        // refused during a rebalance only means those records are processed again.
        let next = next_offsets(batch);
        if c.commit_offsets(&next).is_err() {
            self.commit_failures += 1;
        } else {
            for (_, p, o) in next {
                self.committed.insert(p, o);
            }
        }
    }
}

/// (a) Two members share a keyed topic; when one leaves, the other takes its partitions
/// and resumes at its committed offsets: every record is processed, none twice.
#[test]
fn group_member_leaving_hands_its_partitions_over() {
    handover("group_member_leaving_hands_its_partitions_over", false);
}

/// (a) again under KIP-848, the broker-driven group protocol (`group.protocol=consumer`),
/// whose hand-overs are incremental: the member that stays keeps its partitions throughout.
#[test]
fn group_member_leaving_hands_its_partitions_over_under_kip_848() {
    handover(
        "group_member_leaving_hands_its_partitions_over_under_kip_848",
        true,
    );
}

fn handover(test: &'static str, kip_848: bool) {
    let Some(bootstrap) = broker(test) else {
        return;
    };
    let _dog = watchdog(test, 180);
    let topic = unique("handover");
    let group = unique("handover-group");
    topics(&bootstrap, &[(&topic, 6)]);
    let mut s = settings(&bootstrap, &[&topic], &group);
    if kip_848 {
        // The broker sets heartbeats and session timeouts under this protocol.
        s.properties.clear();
        s.properties
            .insert("group.protocol".into(), "consumer".into());
    }
    let mut a = GroupConsumer::new(&s).expect("member a");
    let mut b = GroupConsumer::new(&s).expect("member b");

    // Both members own partitions before any record exists, so that the hand-over below
    // is the only rebalance with records at stake.
    let joined = Deadline::new(60, "both members to own three partitions each");
    loop {
        assert!(a.poll_batch(10, POLL).expect("poll a").is_empty());
        assert!(b.poll_batch(10, POLL).expect("poll b").is_empty());
        let (pa, pb) = (owned(&a), owned(&b));
        if pa.len() == 3 && pb.len() == 3 && pa.is_disjoint(&pb) {
            break;
        }
        joined.check((pa, pb));
    }
    let b_partitions = owned(&b);
    a.take_rebalances();

    const N: usize = 3000;
    produce(&bootstrap, &topic, N, 50, now_ms(), 1);

    let mut tally = Tally::default();
    // b processes a part of its partitions, then leaves the group cleanly.
    let mut b_read = 0;
    let leaving = Deadline::new(60, "member b to read 300 records");
    while b_read < 300 {
        let batch = b.poll_batch(100, POLL).expect("poll b");
        b_read += batch.len();
        tally.process(&b, &batch);
        let batch = a.poll_batch(50, POLL).expect("poll a");
        tally.process(&a, &batch);
        leaving.check(b_read);
    }
    // What the group holds for b's partitions once b is gone: printed if a record is
    // processed twice, to tell lost commits from commits the next owner did not start at.
    let b_commits = tally.committed.clone();
    drop(b);
    let b_list: Vec<(&str, i32)> = b_partitions.iter().map(|p| (topic.as_str(), *p)).collect();
    let held_after_leave = a.committed_offsets(&b_list, CALL);

    let mut a_from_b = 0;
    let mut a_first: BTreeMap<i32, i64> = BTreeMap::new();
    let rest = Deadline::new(60, "member a to process every record");
    while tally.seen.len() < N {
        let batch = a.poll_batch(500, POLL).expect("poll a");
        a_from_b += batch
            .iter()
            .filter(|r| b_partitions.contains(&r.partition))
            .count();
        for r in &batch {
            a_first.entry(r.partition).or_insert(r.offset);
        }
        tally.process(&a, &batch);
        rest.check((tally.seen.len(), owned(&a)));
    }

    assert_eq!(
        owned(&a),
        (0..6).collect::<BTreeSet<i32>>(),
        "a owns every partition"
    );
    let rebalances = a.take_rebalances();
    if kip_848 {
        let revoked = rebalances
            .iter()
            .any(|r| matches!(r, Rebalance::Revoked { partitions, .. } if !partitions.is_empty()));
        assert!(
            !revoked,
            "KIP-848 took nothing from the member that stayed: {rebalances:?}"
        );
    }
    let assigned_to_a: BTreeSet<i32> = rebalances
        .iter()
        .filter_map(|r| match r {
            Rebalance::Assigned(p) => Some(p.iter().map(|tp| tp.partition)),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        b_partitions.is_subset(&assigned_to_a),
        "a was assigned b's partitions {b_partitions:?}, got {assigned_to_a:?}"
    );
    assert!(
        a_from_b > 0,
        "a read records of b's partitions after b left"
    );
    assert!(tally.seen.len() == N && (0..N).all(|i| tally.seen.contains_key(&i)));
    let twice: Vec<_> = tally
        .seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(i, _)| *i)
        .collect();
    if !twice.is_empty() {
        eprintln!(
            "b's partitions {b_partitions:?}; b committed (partition, next offset): {b_commits:?}"
        );
        eprintln!("the group held for them right after b left: {held_after_leave:?}");
        eprintln!("the first offset a read of each partition: {a_first:?}");
        eprintln!("a's rebalances: {rebalances:?}");
    }
    assert!(
        twice.is_empty() || tally.commit_failures > 0,
        "records processed twice although every commit succeeded: {} of them",
        twice.len()
    );
}

/// (b) Replay by time: each partition moves to its first record whose timestamp is at or
/// after the asked time, and reading resumes there.
#[test]
fn seek_to_times_lands_on_the_first_record_at_or_after_the_time() {
    let Some(bootstrap) = broker("seek_to_times_lands_on_the_first_record_at_or_after_the_time")
    else {
        return;
    };
    let _dog = watchdog(
        "seek_to_times_lands_on_the_first_record_at_or_after_the_time",
        120,
    );
    let topic = unique("seek");
    topics(&bootstrap, &[(&topic, 3)]);
    let base = now_ms() - 600_000;
    const N: usize = 600;
    produce(&bootstrap, &topic, N, 40, base, 10);

    let mut c = GroupConsumer::new(&settings(&bootstrap, &[&topic], &unique("seek-group")))
        .expect("consumer");
    let mut all: Vec<KafkaRecord> = Vec::new();
    let first_read = Deadline::new(60, "the first read of every record");
    while all.len() < N {
        all.extend(c.poll_batch(1000, POLL).expect("poll"));
        first_read.check(all.len());
    }
    assert!(
        c.poll_batch(10, POLL).expect("poll").is_empty(),
        "read {N}, no more"
    );

    // Between two records' timestamps, so "at or after" and "after" differ from "at".
    let target = base + 10 * 300 + 5;
    let mut expected: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &all {
        if r.timestamp_ms.expect("CreateTime") >= target {
            let e = expected.entry(r.partition).or_insert(r.offset);
            *e = (*e).min(r.offset);
        }
    }
    let parts: Vec<(&str, i32)> = (0..3).map(|p| (topic.as_str(), p)).collect();
    let seeked = c
        .seek_to_times(&parts, target, CALL)
        .expect("seek to times");
    let got: BTreeMap<i32, i64> = seeked
        .iter()
        .map(|s| {
            (
                s.partition.partition,
                s.offset.expect("records after the target"),
            )
        })
        .collect();
    assert_eq!(got, expected);

    let again_expected = all
        .iter()
        .filter(|r| r.timestamp_ms >= Some(target))
        .count();
    let mut again: Vec<KafkaRecord> = Vec::new();
    let reread = Deadline::new(60, "the re-read from the target time");
    while again.len() < again_expected {
        again.extend(c.poll_batch(1000, POLL).expect("poll"));
        reread.check(again.len());
    }
    assert!(c.poll_batch(10, POLL).expect("poll").is_empty());
    let mut first: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &again {
        first.entry(r.partition).or_insert(r.offset);
        assert!(
            r.timestamp_ms >= Some(target),
            "re-read a record older than the target: {r:?}"
        );
    }
    assert_eq!(first, expected, "reading resumed at the seeked offsets");

    // No record is that recent: the partitions move to their ends.
    let future = base + 10 * N as i64 + 60_000;
    let seeked = c
        .seek_to_times(&parts, future, CALL)
        .expect("seek past the end");
    assert!(seeked.iter().all(|s| s.offset.is_none()), "{seeked:?}");
    assert!(c
        .poll_batch(10, Duration::from_millis(500))
        .expect("poll")
        .is_empty());
}

/// Reads `n` records as the group's only member.
fn read_n(c: &mut GroupConsumer, n: usize, what: &str) -> Vec<KafkaRecord> {
    let mut out = Vec::new();
    let deadline = Deadline::new(60, what.to_owned());
    while out.len() < n {
        out.extend(c.poll_batch(1000, POLL).expect("poll"));
        deadline.check(out.len());
    }
    assert_eq!(out.len(), n, "{what}: no more than {n}");
    out
}

/// (c) An aborted transaction leaves neither alerts nor offsets behind; a committed one
/// makes both visible, the alerts once.
#[test]
fn alerts_and_offsets_commit_or_abort_together() {
    let Some(bootstrap) = broker("alerts_and_offsets_commit_or_abort_together") else {
        return;
    };
    let _dog = watchdog("alerts_and_offsets_commit_or_abort_together", 120);
    let input = unique("txn-in");
    let alerts = unique("txn-alerts");
    let group = unique("txn-group");
    topics(&bootstrap, &[(&input, 2), (&alerts, 1)]);
    const N: usize = 20;
    produce(&bootstrap, &input, N, 7, now_ms(), 1);

    let mut s = settings(&bootstrap, &[&input], &group);
    s.alerts_topic = Some(alerts.clone());
    let mut c = GroupConsumer::new(&s).expect("consumer");
    let producer = AlertProducer::new(&s, "txn-test").expect("alert producer");
    producer.init(CALL).expect("init transactions");
    let parts: Vec<(&str, i32)> = vec![(&input, 0), (&input, 1)];

    // Attempt 1, aborted after its alerts reached the broker.
    let records = read_n(&mut c, N, "the first read");
    let meta = c.group_metadata().expect("group metadata");
    producer.begin().expect("begin");
    for r in &records {
        producer
            .send(&alert_key(r), b"first attempt")
            .expect("send");
    }
    producer.flush(CALL).expect("alerts written, uncommitted");
    assert!(!c.rebalanced_since(&meta));
    producer.abort(CALL).expect("abort");
    assert_eq!(
        read_all(&bootstrap, &alerts, "read_uncommitted").len(),
        N,
        "the aborted alerts were written"
    );
    assert!(
        read_all(&bootstrap, &alerts, "read_committed").is_empty(),
        "and are invisible to read_committed"
    );
    let committed = c.committed_offsets(&parts, CALL).expect("committed");
    assert!(
        committed.iter().all(|(_, o)| o.is_none()),
        "no offsets after the abort: {committed:?}"
    );

    // Attempt 2: the same records again, from the committed (here: no) offsets.
    c.rewind_to_committed(CALL).expect("rewind");
    let records = read_n(&mut c, N, "the re-read after the abort");
    let meta = c.group_metadata().expect("group metadata");
    producer.begin().expect("begin");
    for r in &records {
        producer
            .send(&alert_key(r), b"second attempt")
            .expect("send");
    }
    let offsets = next_offsets(&records);
    producer
        .commit_with_offsets(&offsets, &meta, CALL)
        .expect("commit");

    let seen = read_all(&bootstrap, &alerts, "read_committed");
    assert_eq!(seen.len(), N, "each alert once");
    assert!(
        seen.iter().all(|(_, v)| v == "second attempt"),
        "only the committed attempt"
    );
    let keys: BTreeSet<&String> = seen.iter().map(|(k, _)| k).collect();
    let expected: BTreeSet<String> = records.iter().map(alert_key).collect();
    assert_eq!(keys, expected.iter().collect());
    let committed: BTreeMap<i32, Option<i64>> = c
        .committed_offsets(&parts, CALL)
        .expect("committed")
        .into_iter()
        .map(|(tp, o)| (tp.partition, o))
        .collect();
    let want: BTreeMap<i32, Option<i64>> = offsets.iter().map(|(_, p, o)| (*p, Some(*o))).collect();
    assert_eq!(committed, want, "the group's offsets moved with the alerts");
}

/// A transaction whose group metadata predates a rebalance cannot commit its offsets:
/// the broker refuses, and the caller is told to abort.
#[test]
fn commit_under_stale_group_metadata_must_abort() {
    let Some(bootstrap) = broker("commit_under_stale_group_metadata_must_abort") else {
        return;
    };
    let _dog = watchdog("commit_under_stale_group_metadata_must_abort", 120);
    let input = unique("stale-in");
    let alerts = unique("stale-alerts");
    let group = unique("stale-group");
    topics(&bootstrap, &[(&input, 2), (&alerts, 1)]);
    produce(&bootstrap, &input, 10, 5, now_ms(), 1);
    let mut s = settings(&bootstrap, &[&input], &group);
    s.alerts_topic = Some(alerts.clone());

    let mut a = GroupConsumer::new(&s).expect("member a");
    let records = read_n(&mut a, 10, "member a's read");
    let producer = AlertProducer::new(&s, "stale-test").expect("alert producer");
    producer.init(CALL).expect("init");
    let meta = a.group_metadata().expect("metadata");
    producer.begin().expect("begin");
    for r in &records {
        producer.send(&alert_key(r), b"stale").expect("send");
    }

    // A second member joins: the group moves to a new generation.
    let mut b = GroupConsumer::new(&s).expect("member b");
    let moved = Deadline::new(60, "the rebalance after b joined");
    while !a.rebalanced_since(&meta) || owned(&b).is_empty() {
        a.poll_batch(10, POLL).expect("poll a");
        b.poll_batch(10, POLL).expect("poll b");
        moved.check((owned(&a), owned(&b)));
    }
    let err = producer
        .commit_with_offsets(&next_offsets(&records), &meta, CALL)
        .expect_err("offsets under a stale generation are refused");
    assert!(err.requires_abort(), "{err}");
    producer.abort(CALL).expect("abort");
    assert!(read_all(&bootstrap, &alerts, "read_committed").is_empty());
}

/// A producer whose transactional id was taken over by a newer instance learns that it is a
/// zombie as a typed error, and its open transaction's alerts are never committed.
#[test]
fn a_zombie_producer_is_fenced() {
    let Some(bootstrap) = broker("a_zombie_producer_is_fenced") else {
        return;
    };
    let _dog = watchdog("a_zombie_producer_is_fenced", 120);
    let input = unique("fence-in");
    let alerts = unique("fence-alerts");
    topics(&bootstrap, &[(&input, 1), (&alerts, 1)]);
    produce(&bootstrap, &input, 5, 5, now_ms(), 1);
    let mut s = settings(&bootstrap, &[&input], &unique("fence-group"));
    s.alerts_topic = Some(alerts.clone());
    let mut c = GroupConsumer::new(&s).expect("consumer");
    let records = read_n(&mut c, 5, "the zombie's read");
    let meta = c.group_metadata().expect("metadata");

    let zombie = AlertProducer::new(&s, "fence-test").expect("zombie");
    zombie.init(CALL).expect("zombie init");
    zombie.begin().expect("begin");
    for r in &records {
        zombie.send(&alert_key(r), b"zombie").expect("send");
    }
    zombie.flush(CALL).expect("flush");

    let successor = AlertProducer::new(&s, "fence-test").expect("successor");
    successor
        .init(CALL)
        .expect("successor init fences the zombie");
    let err = zombie
        .commit_with_offsets(&next_offsets(&records), &meta, CALL)
        .expect_err("a fenced producer cannot commit");
    assert!(matches!(err, Error::Fenced(_)), "{err:?}");
    assert!(read_all(&bootstrap, &alerts, "read_committed").is_empty());
    let committed = c
        .committed_offsets(&[(input.as_str(), 0)], CALL)
        .expect("committed");
    assert_eq!(committed[0].1, None, "no offsets from the zombie");
}

const ROLE: &str = "PULLWATCH_KAFKA_TEST_ROLE";
const KILL_TEST: &str = "killed_member_leaves_no_committed_alerts_and_survivor_takes_over";

/// Kills the child if the test ends early, so that no victim outlives its test.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The kill test's surviving member: one transaction per batch. A batch never spans a
/// rebalance, so the metadata taken right after it matches the partitions its records
/// came from.
struct Survivor {
    consumer: GroupConsumer,
    producer: AlertProducer,
    committed: BTreeSet<String>,
    aborts: usize,
    /// Each transaction's partitions, offsets and outcome, printed when the test fails.
    log: Vec<String>,
}

/// `partition:first-last` for each partition a batch holds.
fn ranges(batch: &[KafkaRecord]) -> String {
    let mut spans: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for r in batch {
        let e = spans.entry(r.partition).or_insert((r.offset, r.offset));
        e.0 = e.0.min(r.offset);
        e.1 = e.1.max(r.offset);
    }
    spans
        .iter()
        .map(|(p, (a, b))| format!("{p}:{a}-{b}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Survivor {
    fn step(&mut self) {
        let batch = self.consumer.poll_batch(500, POLL).expect("poll survivor");
        if batch.is_empty() {
            return;
        }
        let meta = self.consumer.group_metadata().expect("metadata");
        let what = format!(
            "epoch {} owns {:?} batch {}",
            self.consumer.rebalance_epoch(),
            owned(&self.consumer),
            ranges(&batch)
        );
        self.producer.begin().expect("begin");
        for r in &batch {
            self.producer
                .send(&alert_key(r), b"survivor")
                .expect("send");
        }
        match self
            .producer
            .commit_with_offsets(&next_offsets(&batch), &meta, CALL)
        {
            Ok(()) => {
                self.log.push(format!("{what}: committed"));
                self.committed.extend(batch.iter().map(alert_key))
            }
            Err(e) if e.requires_abort() => {
                self.log.push(format!("{what}: aborted ({e})"));
                self.aborts += 1;
                self.producer.abort(CALL).expect("abort");
                self.consumer.rewind_to_committed(CALL).expect("rewind");
            }
            Err(e) => panic!("survivor's commit failed: {e}"),
        }
    }
}

/// (d) A member killed with SIGKILL inside an open transaction: its alerts never become
/// visible, and the survivor takes over its partitions and alerts on their records once.
#[test]
fn killed_member_leaves_no_committed_alerts_and_survivor_takes_over() {
    if std::env::var(ROLE).as_deref() == Ok("victim") {
        victim();
    }
    let Some(bootstrap) = broker(KILL_TEST) else {
        return;
    };
    let _dog = watchdog(KILL_TEST, 240);
    let input = unique("kill-in");
    let alerts = unique("kill-alerts");
    let group = unique("kill-group");
    topics(&bootstrap, &[(&input, 4), (&alerts, 1)]);
    const N: usize = 400;

    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", KILL_TEST, "--nocapture", "--test-threads=1"])
        .env(ROLE, "victim")
        .env("KAFKA_BOOTSTRAP", &bootstrap)
        .env("VICTIM_INPUT", &input)
        .env("VICTIM_ALERTS", &alerts)
        .env("VICTIM_GROUP", &group)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the victim");
    let stdout = child.stdout.take().expect("victim stdout");
    let mut child = Reap(child);
    let (lines_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut s = settings(&bootstrap, &[&input], &group);
    s.alerts_topic = Some(alerts.clone());
    let mut survivor = Survivor {
        consumer: GroupConsumer::new(&s).expect("survivor"),
        producer: AlertProducer::new(&s, "survivor").expect("survivor's producer"),
        committed: BTreeSet::new(),
        aborts: 0,
        log: Vec::new(),
    };
    survivor.producer.init(CALL).expect("init");

    // Records are produced only once each member owns two partitions: otherwise the first
    // to join could process (and commit) all of them before the other arrives.
    let wait_for = |what: &str, survivor: &mut Survivor| -> String {
        let tag = what.to_owned();
        let deadline = Deadline::new(90, format!("the victim's {what}"));
        loop {
            survivor.step();
            if let Ok(line) = lines.try_recv() {
                // The harness's "test … " may precede it on the same line.
                if let Some(at) = line.find(&tag) {
                    break line[at + tag.len()..].trim().to_owned();
                }
            }
            deadline.check(owned(&survivor.consumer));
        }
    };
    wait_for("VICTIM-ASSIGNED", &mut survivor);
    let split = Deadline::new(60, "the survivor to own the other two partitions");
    while owned(&survivor.consumer).len() != 2 {
        survivor.step();
        split.check(owned(&survivor.consumer));
    }
    produce(&bootstrap, &input, N, 40, now_ms(), 1);

    // The victim reports once it has read its partitions to the end and has their alerts
    // written in an open transaction.
    let victim_line = wait_for("VICTIM-READY", &mut survivor);
    let mut fields = victim_line.split_whitespace();
    let victim_alerts: usize = fields
        .next()
        .and_then(|n| n.parse().ok())
        .expect("alert count");
    let victim_partitions: BTreeSet<i32> = fields.map(|p| p.parse().expect("partition")).collect();
    assert_eq!(victim_partitions.len(), 2);
    assert!(victim_alerts > 0);
    let before_kill = owned(&survivor.consumer);
    assert!(
        before_kill.is_disjoint(&victim_partitions),
        "{before_kill:?} / {victim_partitions:?}"
    );
    survivor.consumer.take_rebalances();

    child.0.kill().expect("SIGKILL the victim");
    child.0.wait().expect("reap the victim");

    // The victim's successor, under the same transactional id, fences it: the broker
    // aborts the open transaction now rather than after transaction.timeout.ms.
    AlertProducer::new(&s, "victim")
        .expect("successor")
        .init(CALL)
        .expect("fence the victim");

    let takeover = Deadline::new(90, "the survivor to alert on every record");
    while survivor.committed.len() < N {
        survivor.step();
        takeover.check((
            survivor.committed.len(),
            owned(&survivor.consumer),
            survivor.aborts,
        ));
    }
    let all: BTreeSet<i32> = (0..4).collect();
    assert_eq!(owned(&survivor.consumer), all);
    let got_victims: BTreeSet<i32> = survivor
        .consumer
        .take_rebalances()
        .iter()
        .filter_map(|r| match r {
            Rebalance::Assigned(p) => Some(p.iter().map(|tp: &TopicPartition| tp.partition)),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(victim_partitions.is_subset(&got_victims), "{got_victims:?}");

    let raw = read_all(&bootstrap, &alerts, "read_uncommitted");
    let from_victim = raw.iter().filter(|(_, v)| v == "victim").count();
    assert_eq!(
        from_victim, victim_alerts,
        "the victim's alerts were written before the kill"
    );
    let seen = read_all(&bootstrap, &alerts, "read_committed");
    assert!(
        seen.iter().all(|(_, v)| v == "survivor"),
        "no alert of the killed member is visible"
    );
    let keys: BTreeSet<&String> = seen.iter().map(|(k, _)| k).collect();
    if seen.len() != N {
        let mut count: HashMap<&String, usize> = HashMap::new();
        for (k, _) in &seen {
            *count.entry(k).or_default() += 1;
        }
        let mut twice: Vec<&&String> = count
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, _)| k)
            .collect();
        twice.sort();
        eprintln!("alerts seen twice: {twice:?}");
        eprintln!("victim had {victim_partitions:?}; survivor's transactions:");
        for line in &survivor.log {
            eprintln!("  {line}");
        }
    }
    assert_eq!(seen.len(), N, "one alert per record");
    assert_eq!(keys.len(), N, "no alert twice");

    let parts: Vec<(&str, i32)> = (0..4).map(|p| (input.as_str(), p)).collect();
    let committed = survivor
        .consumer
        .committed_offsets(&parts, CALL)
        .expect("committed");
    let lag = survivor.consumer.lag(CALL).expect("lag");
    for (tp, offset) in &committed {
        let high = lag
            .iter()
            .find(|l| l.partition == *tp)
            .map(|l| l.high_watermark)
            .expect("lag of an owned partition");
        assert_eq!(
            *offset,
            Some(high),
            "partition {} fully committed",
            tp.partition
        );
    }
    assert!(lag.iter().all(|l| l.lag == Some(0)), "{lag:?}");
}

/// The victim's side of the kill test, in a child process: read its partitions, write their
/// alerts in a transaction it never commits, report, and wait to be killed.
fn victim() -> ! {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("victim needs {k}"));
    let (bootstrap, input, alerts, group) = (
        var("KAFKA_BOOTSTRAP"),
        var("VICTIM_INPUT"),
        var("VICTIM_ALERTS"),
        var("VICTIM_GROUP"),
    );
    let mut s = settings(&bootstrap, &[&input], &group);
    s.alerts_topic = Some(alerts);
    let mut c = GroupConsumer::new(&s).expect("victim consumer");
    let producer = AlertProducer::new(&s, "victim").expect("victim producer");
    producer.init(CALL).expect("victim init");
    let mut records: Vec<KafkaRecord> = Vec::new();
    let mut announced = false;
    let deadline = Deadline::new(120, "the victim to read two partitions to their end");
    loop {
        records.extend(c.poll_batch(500, POLL).expect("victim poll"));
        if !c.take_rebalances().is_empty() {
            // Partitions moved: start over from what the group has committed (nothing).
            records.clear();
            c.rewind_to_committed(CALL).expect("victim rewind");
        }
        let mine = owned(&c);
        if mine.len() == 2 && !announced {
            println!("VICTIM-ASSIGNED");
            announced = true;
        }
        if mine.len() == 2 {
            let lag = c.lag(CALL).expect("victim lag");
            if !records.is_empty() && lag.len() == 2 && lag.iter().all(|l| l.lag == Some(0)) {
                break;
            }
        }
        deadline.check((mine, records.len()));
    }
    producer.begin().expect("victim begin");
    for r in &records {
        producer
            .send(&alert_key(r), b"victim")
            .expect("victim send");
    }
    producer.flush(CALL).expect("victim flush");
    let parts: Vec<String> = owned(&c).iter().map(|p| p.to_string()).collect();
    println!("VICTIM-READY {} {}", records.len(), parts.join(" "));
    // Killed by the parent long before this; the bound only keeps an orphan from living on.
    let orphan = Deadline::new(120, "the parent to kill the victim");
    loop {
        std::thread::sleep(Duration::from_millis(200));
        orphan.check("victim still alive");
    }
}

/// Writing alerts to Kafka without naming the topic is a configuration error, found
/// before any connection is made.
#[test]
fn settings_for_alerts_need_an_alerts_topic() {
    let s = pullwatch_kafka::KafkaSettings::new("127.0.0.1:9", vec!["t".into()]);
    match AlertProducer::new(&s, "x") {
        Err(Error::Setting { key, .. }) => assert_eq!(key, "alerts_topic"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("an alert producer without an alerts topic"),
    }
}

/// A topic written in transactions ends with a commit marker that read_committed never
/// hands out, so the last record's offset stops one short of the partition's end. A
/// replay that waits to reach the end must be able to see that it did: the read position
/// moves past the marker.
#[test]
fn the_read_position_passes_a_transaction_marker_the_records_do_not_show() {
    let Some(bootstrap) =
        broker("the_read_position_passes_a_transaction_marker_the_records_do_not_show")
    else {
        return;
    };
    let _dog = watchdog(
        "the_read_position_passes_a_transaction_marker_the_records_do_not_show",
        120,
    );
    let topic = unique("marker");
    topics(&bootstrap, &[(&topic, 1)]);
    let mut s = settings(&bootstrap, &[&topic], &unique("marker-group"));
    s.alerts_topic = Some(topic.clone());
    let producer = AlertProducer::new(&s, "marker-test").expect("alert producer");
    producer.init(CALL).expect("init transactions");
    producer.begin().expect("begin");
    const N: usize = 5;
    for i in 0..N {
        producer.send(&format!("k{i}"), b"v").expect("send");
    }
    let mut c = GroupConsumer::new(&s).expect("consumer");
    // Committed without offsets: a plain transaction.
    let meta = c.group_metadata().expect("group metadata");
    producer
        .commit_with_offsets::<&str>(&[], &meta, CALL)
        .expect("commit");

    let records = read_n(&mut c, N, "the committed records");
    let last = records.iter().map(|r| r.offset).max().expect("records");
    let end = c
        .end_offsets(&[(topic.as_str(), 0)], CALL)
        .expect("end offsets")[0]
        .1;
    assert_eq!(
        end,
        last + 2,
        "the marker takes the offset after the last record"
    );
    let reached = Deadline::new(30, "the read position passing the marker");
    loop {
        assert!(
            c.poll_batch(10, POLL).expect("poll").is_empty(),
            "no more records"
        );
        let pos = c.positions().expect("positions");
        if pos
            .iter()
            .any(|(tp, o)| tp.partition == 0 && *o == Some(end))
        {
            break;
        }
        reached.check(0);
    }
}

/// A table started at a time no record reaches (an empty topic, as when the members of
/// a new deployment start before the shippers) starts at a numbered end, not at
/// librdkafka's logical end: that is resolved only when the fetch starts, and records
/// written in between would be passed over. Every record written after the start is
/// read, and so after a seek to a time past every record.
#[test]
fn a_table_started_past_every_record_reads_what_is_written_next() {
    let Some(bootstrap) = broker("a_table_started_past_every_record_reads_what_is_written_next")
    else {
        return;
    };
    let _dog = watchdog(
        "a_table_started_past_every_record_reads_what_is_written_next",
        120,
    );
    let topic = unique("table-end");
    topics(&bootstrap, &[(&topic, 2)]);
    let s = KafkaSettings::new(&bootstrap, Vec::new());
    let mut table =
        TableReader::new(&s, std::slice::from_ref(&topic), Some(now_ms()), CALL).expect("table");
    let read_to_end = |table: &mut TableReader, n: usize, what: &str| {
        let deadline = Deadline::new(30, what);
        let mut got = Vec::new();
        while got.len() < n {
            got.extend(table.poll_batch(100, POLL).expect("poll"));
            deadline.check(got.len());
        }
        got
    };
    produce(&bootstrap, &topic, 6, 6, now_ms(), 1);
    let first = read_to_end(&mut table, 6, "the records written after the table started");
    assert_eq!(first.len(), 6);

    // Past every record now: each partition starts at its end, given as a number.
    let starts = table
        .seek_to_time(now_ms() + 3_600_000, CALL)
        .expect("seek");
    let ends: BTreeMap<i32, i64> = table
        .end_offsets(CALL)
        .expect("ends")
        .into_iter()
        .map(|((_, p), o)| (p, o))
        .collect();
    assert_eq!(starts.len(), 2);
    for s in &starts {
        let p = s.partition.1;
        assert_eq!(
            s.start,
            ends.get(&p).copied(),
            "partition {p} starts at its end"
        );
        assert_eq!(
            s.end,
            ends.get(&p).copied(),
            "partition {p}'s end is handed back"
        );
    }
    produce(&bootstrap, &topic, 4, 4, now_ms(), 1);
    let next = read_to_end(&mut table, 4, "the records written after the seek");
    assert_eq!(next.len(), 4);
}
