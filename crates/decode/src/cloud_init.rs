//! cloud-init's own logs: `/var/log/cloud-init.log` (Python logging,
//! `2020-01-16 19:14:48,519 - util.py[DEBUG]: …`, or through syslog/journal as
//! `… host cloud-init[106]: [CLOUDINIT] util.py[DEBUG]: …`) and
//! `/var/log/cloud-init-output.log` (stage banners around the raw output of user
//! scripts). The stage banners — `Cloud-init v. 18.5 running 'init' at <date>. Up 31.12
//! seconds.` and `… finished at <date>. … Up N seconds` — become [`GuestBoot`] events:
//! the guest's own clock of its first boot, which anchors AN0692's first-boot window.
//!
//! The instance id is learned from `/var/lib/cloud/instances/<id>/` paths as they
//! appear, and forgotten at each `init-local` banner, where a new boot (possibly of a
//! new instance made from the same disk) begins. cloud-init only finds its datasource
//! during `init`, so the first banners of a boot carry no instance id.
//!
//! Times: the banner's own date carries a zone; the line prefix has milliseconds but
//! was local time before cloud-init 17.1. The prefix is used when it agrees with the
//! banner to the second (a UTC logger), the banner's date otherwise.
//!
//! Lines without cloud-init's framing (script output, tracebacks) are accepted only
//! once the input has shown cloud-init lines, and never when another format claims them.

use crate::util::truncate;
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{Event, EventKind, Format, GuestBoot, Ts};

/// What one input has taught the decoder so far.
#[derive(Default, Debug)]
pub struct CloudInitState {
    /// The input showed cloud-init lines: unframed lines belong to its output log.
    seen: bool,
    instance_id: Option<String>,
}

/// True for lines that are certainly cloud-init's: the Python logging prefix, the
/// syslog tag, or a stage banner.
pub fn looks_like(line: &str) -> bool {
    python_prefix(line).is_some()
        || syslog_message(line).is_some()
        || line.starts_with("Cloud-init v. ")
}

pub fn decode_text(
    line: &str,
    ctx: &RecordCtx,
    state: &mut CloudInitState,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let (prefix_time, host, msg) = if let Some((ts, msg)) = python_prefix(line) {
        (Some(ts), None, msg)
    } else if let Some((host, msg)) = syslog_message(line) {
        (None, Some(host), msg)
    } else if line.starts_with("Cloud-init v. ") {
        (None, None, line)
    } else {
        if !state.seen {
            return Err(DecodeError::Invalid("not a cloud-init line".into()));
        }
        // Output of user scripts inside cloud-init-output.log, unless it is plainly
        // another format's line.
        let mut others = Vec::new();
        crate::sniff::text_candidates(line, &mut others);
        if others.iter().any(|f| *f != Format::CloudInit) {
            return Err(DecodeError::Invalid("not a cloud-init line".into()));
        }
        return Ok(());
    };
    state.seen = true;
    let msg = msg.trim();
    if let Some(banner) = msg.strip_prefix("Cloud-init v. ") {
        return banner_event(banner, prefix_time, host, ctx, state, out);
    }
    if let Some(id) = instance_id_in(msg) {
        // Lowercase, as pullwatch keeps AWS ids everywhere.
        state.instance_id = Some(id.to_ascii_lowercase());
    }
    Ok(())
}

fn banner_event(
    banner: &str,
    prefix_time: Option<&str>,
    host: Option<&str>,
    ctx: &RecordCtx,
    state: &mut CloudInitState,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    // `18.5 running 'init' at <date>. Up 31.12 seconds.`
    // `18.5 finished at <date>. Datasource DataSourceUI.  Up 34.34 seconds`
    let (stage, after) = if let Some((_, rest)) = banner.split_once(" running '") {
        let (stage, rest) = rest.split_once('\'').ok_or_else(|| {
            DecodeError::Invalid(format!("unterminated stage in {:?}", truncate(banner, 80)))
        })?;
        (stage.to_string(), rest)
    } else if let Some((_, rest)) = banner.split_once(" finished") {
        ("finished".to_string(), rest)
    } else {
        // Other lines that start like a banner (`Cloud-init v. X … Datasource …`).
        return Ok(());
    };
    if stage == "init-local" {
        state.instance_id = None;
    }
    let date = after
        .trim_start()
        .strip_prefix("at ")
        .and_then(|r| r.split_once(". ").map(|(d, _)| d).or(Some(r)));
    let banner_ts = date.and_then(rfc2822);
    let uptime_ms = after
        .rsplit_once("Up ")
        .and_then(|(_, r)| r.split_whitespace().next())
        .and_then(secs_to_ms);
    let prefix_ts = prefix_time.and_then(python_time);
    let time = match (prefix_ts, banner_ts) {
        // In i128: a prefix and a banner at the two ends of the representable range are
        // further apart than an i64 holds.
        (Some(p), Some(b)) if (0..1_000_000_000).contains(&(i128::from(p.0) - i128::from(b.0))) => {
            p
        }
        (_, Some(b)) => b,
        (Some(p), None) => p,
        (None, None) => {
            return Err(DecodeError::Time(truncate(date.unwrap_or(banner), 64)));
        }
    };
    // The banner appears in both cloud-init.log and cloud-init-output.log.
    let dedupe = format!(
        "cloud-init:{stage}:{}:{}",
        banner_ts.map_or(time.0, |b| b.0),
        uptime_ms.map_or(String::new(), |u| u.to_string())
    );
    let mut e = Event::new(
        time,
        ctx.source(Format::CloudInit),
        EventKind::GuestBoot(GuestBoot {
            instance_id: state.instance_id.clone(),
            hostname: host.map(str::to_string),
            uptime_ms,
            stage,
        }),
    );
    e.dedupe = Some(dedupe.into());
    out.push(e);
    Ok(())
}

/// `2020-01-16 19:14:48,519 - util.py[DEBUG]: msg`: the timestamp and the message.
fn python_prefix(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    let ok = b.len() > 26
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b' '
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b','
        && line.get(23..26) == Some(" - ");
    if !ok {
        return None;
    }
    let rest = &line[26..];
    Some((&line[..23], logger_message(rest)?))
}

/// `module.py[LEVEL]: message` → `message`.
fn logger_message(s: &str) -> Option<&str> {
    let (head, msg) = s.split_once("]: ")?;
    let (module, level) = head.split_once('[')?;
    (module.ends_with(".py") && !level.is_empty() && level.bytes().all(|c| c.is_ascii_uppercase()))
        .then_some(msg)
}

/// `<time> host cloud-init[106]: [CLOUDINIT] util.py[DEBUG]: msg`: host and message.
fn syslog_message(line: &str) -> Option<(&str, &str)> {
    let i = line
        .find(" cloud-init[")
        .or_else(|| line.find(" cloud-init: "))?;
    let head = &line[..i];
    let rest = &line[i + 1..];
    let (_, after_tag) = rest.split_once(": ")?;
    let host = head.rsplit(' ').next().filter(|h| !h.is_empty())?;
    let msg = after_tag.trim_start();
    let msg = msg.strip_prefix("[CLOUDINIT]").map_or(msg, str::trim_start);
    Some((host, logger_message(msg).unwrap_or(msg)))
}

/// The `<id>` of a `/var/lib/cloud/instances/<id>/…` path in a message.
fn instance_id_in(msg: &str) -> Option<&str> {
    let (_, rest) = msg.split_once("/var/lib/cloud/instances/")?;
    let end = rest
        .find(|c: char| c == '/' || c == '\'' || c == '"' || c.is_whitespace())
        .unwrap_or(rest.len());
    let id = &rest[..end];
    (!id.is_empty()).then_some(id)
}

/// `2020-01-16 19:14:48,519`, read as UTC.
fn python_time(s: &str) -> Option<Ts> {
    Ts::parse_rfc3339(&format!(
        "{}T{}Z",
        s.get(..10)?,
        s.get(11..)?.replace(',', ".")
    ))
}

/// `Thu, 16 Jan 2020 19:14:48 +0000` (the weekday optional).
fn rfc2822(s: &str) -> Option<Ts> {
    let s = s.trim();
    let s = s.split_once(", ").map_or(s, |(_, r)| r);
    let mut it = s.split_whitespace();
    let day: u32 = it.next()?.parse().ok()?;
    let month = match it.next()?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year: u32 = it.next()?.parse().ok()?;
    let hms = it.next()?;
    let zone = it.next().unwrap_or("+0000");
    let zone = match zone {
        "UTC" | "GMT" | "Z" => "+0000",
        z => z,
    };
    Ts::parse_rfc3339(&format!("{year:04}-{month:02}-{day:02}T{hms}{zone}"))
}

/// `19.41` seconds as milliseconds, without floating point.
fn secs_to_ms(s: &str) -> Option<u64> {
    let s = s.trim_end_matches('.');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut ms: u64 = int.parse::<u64>().ok()?.checked_mul(1000)?;
    for (i, d) in frac.bytes().take(3).enumerate() {
        ms = ms.checked_add(u64::from(d - b'0') * 10u64.pow(2 - i as u32))?;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeStats;
    use std::sync::Arc;

    fn stream(data: &str) -> (Vec<Event>, DecodeStats) {
        crate::test_support::stream_bytes("mem", data.as_bytes().to_vec())
    }

    fn boot(e: &Event) -> &GuestBoot {
        match &e.kind {
            EventKind::GuestBoot(b) => b,
            other => panic!("not a boot marker: {other:?}"),
        }
    }

    #[test]
    fn python_logging_form_learns_the_instance_id() {
        let log = "\
2024-02-01 09:00:01,250 - util.py[DEBUG]: Cloud-init v. 23.4 running 'init-local' at Thu, 01 Feb 2024 09:00:01 +0000. Up 5.06 seconds.
2024-02-01 09:00:03,000 - util.py[DEBUG]: Cloud-init v. 23.4 running 'init' at Thu, 01 Feb 2024 09:00:02 +0000. Up 6.9 seconds.
2024-02-01 09:00:03,100 - url_helper.py[DEBUG]: Read from http://169.254.169.254/latest/user-data (200, 344b) after 1 attempts
2024-02-01 09:00:03,200 - util.py[DEBUG]: Writing to /var/lib/cloud/instances/i-0ABC123def/user-data.txt - wb: [600] 344 bytes
2024-02-01 09:00:09,000 - util.py[DEBUG]: Cloud-init v. 23.4 running 'modules:final' at Thu, 01 Feb 2024 09:00:09 +0000. Up 13 seconds.
Traceback (most recent call last):
  File \"/usr/lib/python3/dist-packages/cloudinit/util.py\", line 1, in x
2024-02-01 09:00:09,500 - util.py[DEBUG]: Cloud-init v. 23.4 finished at Thu, 01 Feb 2024 09:00:09 +0000. Datasource DataSourceEc2Local.  Up 13.58 seconds
";
        let (ev, st) = stream(log);
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::CloudInit].records, 8);
        let got: Vec<(&str, Option<&str>, Option<u64>)> = ev
            .iter()
            .map(|e| {
                let b = boot(e);
                (b.stage.as_str(), b.instance_id.as_deref(), b.uptime_ms)
            })
            .collect();
        assert_eq!(
            got,
            [
                ("init-local", None, Some(5_060)),
                // The banner says :02, the prefix :03,000: the banner's own date wins.
                ("init", None, Some(6_900)),
                ("modules:final", Some("i-0abc123def"), Some(13_000)),
                ("finished", Some("i-0abc123def"), Some(13_580)),
            ]
        );
        // A UTC prefix agreeing with the banner gives milliseconds.
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2024-02-01T09:00:01.250Z").unwrap()
        );
        assert_eq!(
            ev[1].time,
            Ts::parse_rfc3339("2024-02-01T09:00:02Z").unwrap()
        );
        assert_eq!(ev[0].source.format, Format::CloudInit);
        assert_eq!(ev[2].source.line, 5);
        // A new boot forgets the previous instance until it is named again.
        let again = format!(
            "{log}2024-02-02 09:00:01,250 - util.py[DEBUG]: Cloud-init v. 23.4 running 'init-local' at Fri, 02 Feb 2024 09:00:01 +0000. Up 4.00 seconds.\n"
        );
        let (ev, _) = stream(&again);
        assert_eq!(boot(&ev[4]).instance_id, None);
    }

    #[test]
    fn syslog_form_and_local_time_prefixes() {
        let log = "Nov 03 06:51:06.074410 web-1 cloud-init[106]: [CLOUDINIT] util.py[DEBUG]: Cloud-init v. 22.1 running 'init' at Fri, 03 Nov 2023 06:51:06 +0000. Up 7.51 seconds.\n\
Nov 03 06:51:07.000000 web-1 cloud-init[106]: [CLOUDINIT] util.py[DEBUG]: Writing to /var/lib/cloud/instances/1234567890123456789/user-data.txt - wb: [600] 20 bytes\n\
Nov 03 06:51:09.000000 web-1 cloud-init[300]: Cloud-init v. 22.1 running 'modules:final' at Fri, 03 Nov 2023 06:51:09 +0000. Up 10.00 seconds.\n";
        let (ev, st) = stream(log);
        assert_eq!(st.formats[&Format::CloudInit].records, 3);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            *boot(&ev[1]),
            GuestBoot {
                instance_id: Some("1234567890123456789".into()),
                hostname: Some("web-1".into()),
                uptime_ms: Some(10_000),
                stage: "modules:final".into()
            }
        );
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2023-11-03T06:51:06Z").unwrap()
        );
        // cloud-init before 17.1 wrote local time in the prefix: five hours off here.
        let old = "2015-11-17 19:31:22,001 - util.py[DEBUG]: Cloud-init v. 0.7.5 running 'init-local' at Wed, 18 Nov 2015 00:31:22 +0000. Up 2.32 seconds.\n";
        let (ev, _) = stream(old);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2015-11-18T00:31:22Z").unwrap()
        );
    }

    #[test]
    fn unframed_lines_need_a_cloud_init_input() {
        // On their own, script output lines are nobody's.
        let (ev, st) = stream("Generating public/private rsa key pair.\n");
        assert!(ev.is_empty());
        assert_eq!(st.skipped["unrecognized line"].count, 1);
        let mut state = CloudInitState::default();
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut out = Vec::new();
        assert!(decode_text("random text", &ctx, &mut state, &mut out).is_err());
        decode_text("Cloud-init v. 0.7.5 running 'init' at Wed, 18 Nov 2015 00:31:26 +0000. Up 5.59 seconds.", &ctx, &mut state, &mut out).unwrap();
        decode_text("random text", &ctx, &mut state, &mut out).unwrap();
        // A line another format claims is left to it.
        assert!(decode_text(
            "2017-01-05T00:35:58.859401177+08:00 container create 0fdb (image=alpine)",
            &ctx,
            &mut state,
            &mut out
        )
        .is_err());
        assert_eq!(out.len(), 1);
        assert_eq!(secs_to_ms("19.41"), Some(19_410));
        assert_eq!(secs_to_ms("7"), Some(7_000));
        assert_eq!(secs_to_ms("1.2345"), Some(1_234));
        assert_eq!(secs_to_ms("x"), None);
        assert_eq!(
            rfc2822("Thu, 16 Jan 2020 19:14:48 +0100"),
            Ts::parse_rfc3339("2020-01-16T18:14:48Z")
        );
    }

    /// Overflows found by reading the decoder while fuzzing it (a fuzz build, like a
    /// debug build, checks arithmetic): an uptime just under `u64::MAX` milliseconds
    /// overflowed when its fraction was added, and a line prefix and a banner dated at
    /// the two ends of the representable range overflowed their difference. In release
    /// builds both wrapped silently.
    #[test]
    fn extreme_uptimes_and_dates_do_not_overflow() {
        assert_eq!(secs_to_ms("18446744073709551.615"), Some(u64::MAX));
        assert_eq!(secs_to_ms("18446744073709551.999"), None);
        let ctx = RecordCtx {
            path: Arc::from("t"),
            line: 1,
        };
        let mut state = CloudInitState::default();
        let mut out = Vec::new();
        let line = "2262-04-11 23:47:16,000 - util.py[DEBUG]: Cloud-init v. 1 running 'init' at \
                    Fri, 21 Sep 1677 00:12:44 +0000. Up 5 seconds.";
        decode_text(line, &ctx, &mut state, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        // The prefix disagrees with the banner: the banner's own date wins.
        assert_eq!(
            out[0].time,
            Ts::parse_rfc3339("1677-09-21T00:12:44Z").unwrap()
        );
        assert_eq!(boot(&out[0]).uptime_ms, Some(5_000));
    }

    #[test]
    fn shared_samples() {
        let Some(dir) = crate::test_support::samples("cloud-init") else {
            return;
        };
        let (ev, st) = crate::test_support::stream_file(&dir.join("cloud-init.log"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::CloudInit].records, 2357);
        assert_eq!(ev.len(), 34);
        let first: Vec<(u64, &str, Option<&str>, Option<u64>)> = ev[..9]
            .iter()
            .map(|e| {
                let b = boot(e);
                (
                    e.source.line,
                    b.stage.as_str(),
                    b.instance_id.as_deref(),
                    b.uptime_ms,
                )
            })
            .collect();
        let iid = "8d1d5fbc0242bc85d5a9d4cb013689ac";
        assert_eq!(
            first,
            [
                (1, "init-local", None, Some(19_410)),
                (23, "init", None, Some(31_120)),
                (
                    176,
                    "modules:config",
                    Some("iid-datasource-none"),
                    Some(83_330)
                ),
                (
                    183,
                    "modules:final",
                    Some("iid-datasource-none"),
                    Some(83_480)
                ),
                (191, "init-local", None, Some(20_250)),
                (214, "init", None, Some(32_230)),
                (455, "modules:config", Some(iid), Some(33_740)),
                (545, "modules:final", Some(iid), Some(33_960)),
                (594, "finished", Some(iid), Some(34_340)),
            ]
        );
        assert_eq!(
            ev.iter().filter(|e| boot(e).instance_id.is_none()).count(),
            14
        );
        assert_eq!(
            ev.iter()
                .filter(|e| boot(e).instance_id.as_deref() == Some(iid))
                .count(),
            18
        );
        // cloud-init 18.5 logs UTC: the prefix's milliseconds are kept.
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2020-01-16T19:14:48.519Z").unwrap()
        );

        let (ev, st) = crate::test_support::stream_file(&dir.join("cloud-init-output.log"));
        assert_eq!(st.skipped_total(), 0, "{st:?}");
        assert_eq!(st.formats[&Format::CloudInit].records, 230);
        assert_eq!(ev.len(), 40);
        assert_eq!(ev.iter().filter(|e| boot(e).stage == "finished").count(), 8);
        assert!(ev.iter().all(|e| boot(e).instance_id.is_none()));
        assert_eq!(
            ev[4].time,
            Ts::parse_rfc3339("2015-11-18T00:31:30Z").unwrap()
        );
        assert_eq!(boot(&ev[4]).uptime_ms, Some(10_030));
        assert_eq!(
            ev[4].dedupe.as_deref(),
            Some(
                format!(
                    "cloud-init:finished:{}:10030",
                    Ts::parse_rfc3339("2015-11-18T00:31:30Z").unwrap().0
                )
                .as_str()
            )
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
        /// Damaged log lines never panic the decoder, whatever survives of the framing.
        #[test]
        fn never_panics(s in "(2020-01-16 19:14:48,5é9 - |2020-01-16 19:14:48,519 - util.py\\[DEBUG\\]: |h cloud-init\\[1\\]: )?(Cloud-init v\\. )?[ -~é]{0,120}") {
            let mut state = CloudInitState { seen: true, instance_id: None };
            let mut out = Vec::new();
            let _ = decode_text(&s, &crate::test_support::ctx(), &mut state, &mut out);
        }
    }
}
