//! The readable terminal view: one block per alert, severity first, then what it is
//! about, why it fired, and the chain in time order with offsets from the pull, each
//! stage with the record that proves it. Colour is the caller's decision (a terminal,
//! `NO_COLOR` unset); every string from the input has its control characters made
//! visible whatever the colour setting.

use crate::chain;
use crate::escape::terminal;
use anstyle::{AnsiColor, Effects, Style};
use pullwatch_model::{Alert, Severity};
use std::fmt::Write;

fn severity_style(s: Severity) -> Style {
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    match s {
        Severity::Critical => red.effects(Effects::BOLD | Effects::INVERT),
        Severity::High => red.effects(Effects::BOLD),
        Severity::Medium => Style::new().fg_color(Some(AnsiColor::Yellow.into())),
        Severity::Low => Style::new().fg_color(Some(AnsiColor::Cyan.into())),
    }
}

const LABEL: Style = Style::new().effects(Effects::DIMMED);
const RULE: Style = Style::new().effects(Effects::BOLD);
const SOURCE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)));

/// `text` in `style` when colouring, padded to `width` columns outside the escape
/// sequences so alignment does not depend on colour.
fn paint(out: &mut String, style: Style, text: &str, width: usize, color: bool) {
    if color {
        let _ = write!(out, "{style}{text}{style:#}");
    } else {
        out.push_str(text);
    }
    let len = text.chars().count();
    for _ in len..width {
        out.push(' ');
    }
}

pub fn alert_block(a: &Alert, color: bool) -> String {
    let mut s = String::new();
    paint(
        &mut s,
        severity_style(a.severity),
        &a.severity.as_str().to_uppercase(),
        0,
        color,
    );
    // Pads after the colour so that a highlighted `HIGH` is not followed by a coloured
    // run of spaces.
    let sev_len = a.severity.as_str().len();
    s.push_str(&" ".repeat(10usize.saturating_sub(sev_len)));
    paint(&mut s, RULE, a.rule, 0, color);
    let _ = writeln!(s, "  {}  {} {}", a.time, a.analytic, a.technique);

    let label = |s: &mut String, l: &str| {
        s.push_str("  ");
        paint(s, LABEL, l, 9, color);
    };
    let parts = chain::entity_parts(a);
    if !parts.is_empty() {
        label(&mut s, "on");
        let joined: Vec<String> = parts
            .iter()
            .map(|(k, v)| format!("{k} {}", terminal(v)))
            .collect();
        let _ = writeln!(s, "{}", joined.join(", "));
    }
    if !a.image.reference.is_empty() {
        label(&mut s, "image");
        let _ = writeln!(s, "{}", terminal(&a.image.reference));
    }
    for r in &a.reasons {
        label(&mut s, "why");
        let _ = writeln!(s, "{}", terminal(r));
    }

    let (_, steps) = chain::steps(a);
    let rows: Vec<(String, &str, String, String)> = steps
        .iter()
        .map(|st| {
            let e = st.evidence;
            (
                chain::signed(st.offset),
                e.stage,
                format!("{} {}", e.source.format, terminal(&e.source.to_string())),
                terminal(&e.summary),
            )
        })
        .collect();
    let w_off = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    let w_stage = rows.iter().map(|r| r.1.len()).max().unwrap_or(0);
    let w_src = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
    for (i, (off, stage, src, summary)) in rows.iter().enumerate() {
        label(&mut s, if i == 0 { "chain" } else { "" });
        let _ = write!(s, "{off:<w_off$}  {stage:<w_stage$}  ");
        paint(&mut s, SOURCE, src, w_src, color);
        let _ = writeln!(s, "  {summary}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::{AlertEntity, AlertImage, Evidence, Format, SourceRef, Ts};
    use std::sync::Arc;

    fn alert() -> Alert {
        let src = |path: &str, line| SourceRef {
            format: Format::DockerEvents,
            path: Arc::from(path),
            line,
        };
        Alert {
            rule: "an0691.chain",
            analytic: "AN0691",
            technique: "T1204.003",
            severity: Severity::High,
            time: Ts(1_000_000_000),
            entity: AlertEntity {
                host: Some("node\x1b[2J".into()),
                container: Some("c".into()),
                ..AlertEntity::default()
            },
            image: AlertImage {
                reference: "docker.io/x/y:1".into(),
                ..AlertImage::default()
            },
            reasons: vec!["because\nnewline".into()],
            evidence: vec![
                Evidence::new(
                    "activity",
                    Ts(9_500_000_000),
                    src("a.jsonl", 12),
                    "exec \x1b]0;pwned\x07".into(),
                ),
                Evidence::new(
                    "pull",
                    Ts(1_000_000_000),
                    src("long/path.jsonl", 3),
                    "pulled".into(),
                ),
            ],
        }
    }

    #[test]
    fn plain_block_is_aligned_and_escaped() {
        let got = alert_block(&alert(), false);
        let want = "\
HIGH      an0691.chain  1970-01-01T00:00:01Z  AN0691 T1204.003
  on       host node\\x1b[2J, container c
  image    docker.io/x/y:1
  why      because\\nnewline
  chain    +0s    pull      docker-events long/path.jsonl:3  pulled
           +8.5s  activity  docker-events a.jsonl:12         exec \\x1b]0;pwned\\x07
";
        assert_eq!(got, want);
        assert!(!got.contains('\x1b'));
    }

    #[test]
    fn colour_adds_styles_but_keeps_data_escaped_and_columns() {
        let got = alert_block(&alert(), true);
        assert!(got.starts_with("\x1b[1m\x1b[31mHIGH\x1b[0m      "));
        // The only escape sequences are our own styles: data ones stay visible text.
        assert!(got.contains("node\\x1b[2J"));
        assert!(!got.contains("\x1b]0;"));
        let plain: String = strip(&got);
        assert_eq!(plain, alert_block(&alert(), false));
    }

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            if c == '\x1b' {
                for d in it.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
