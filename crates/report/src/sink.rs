//! Where alerts go as they are raised. `scan` and `run` hand every alert to an
//! [`AlertSink`]; the streamed formats (text, JSON lines, OCSF lines) write each one at
//! once, so a live service's alert is on disk or on the wire the moment it is raised.
//! The HTML report needs the whole scan and stays with `scan`.

use pullwatch_model::Alert;
use std::io::{self, Write};

/// A destination for alerts. `id` is the alert's deterministic id
/// ([`crate::id::alert_id`]), computed once by the caller, which also uses it to
/// suppress alerts a restarted service already sent.
pub trait AlertSink: Send {
    fn emit(&mut self, alert: &Alert, id: &str) -> io::Result<()>;
    /// Pushes out what is buffered: called after each batch of alerts and at the end.
    fn flush(&mut self) -> io::Result<()>;
}

/// The formats written one alert at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFormat {
    Text,
    Json,
    Ocsf,
}

impl StreamFormat {
    /// One alert in this format, without the trailing newline.
    pub fn render(self, a: &Alert, id: &str, color: bool) -> String {
        match self {
            StreamFormat::Json => crate::json::alert_line_with_id(a, id),
            StreamFormat::Ocsf => crate::ocsf::finding_line(a),
            StreamFormat::Text => crate::text::alert_block(a, color),
        }
    }
}

/// Text, JSON lines or OCSF lines to any writer (stdout, a file).
pub struct StreamSink<W: Write + Send> {
    out: W,
    format: StreamFormat,
    color: bool,
}

impl<W: Write + Send> StreamSink<W> {
    pub fn new(out: W, format: StreamFormat, color: bool) -> StreamSink<W> {
        StreamSink { out, format, color }
    }
}

impl<W: Write + Send> AlertSink for StreamSink<W> {
    fn emit(&mut self, alert: &Alert, id: &str) -> io::Result<()> {
        writeln!(self.out, "{}", self.format.render(alert, id, self.color))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Keeps every alert, for outputs written when the scan ends (the HTML report) and for
/// tests.
#[derive(Default)]
pub struct CollectSink {
    pub alerts: Vec<Alert>,
}

impl AlertSink for CollectSink {
    fn emit(&mut self, alert: &Alert, _id: &str) -> io::Result<()> {
        self.alerts.push(alert.clone());
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::{AlertEntity, AlertImage, Severity, Ts};

    fn alert() -> Alert {
        Alert {
            rule: "an0691.chain",
            analytic: "AN0691",
            technique: "T1204.003",
            severity: Severity::High,
            time: Ts(1),
            entity: AlertEntity::default(),
            image: AlertImage::default(),
            reasons: vec!["why \u{1b}[2J".into()],
            evidence: vec![],
        }
    }

    #[test]
    fn json_lines_lead_with_the_id_and_end_each_alert_with_a_newline() {
        let mut sink = StreamSink::new(Vec::new(), StreamFormat::Json, false);
        sink.emit(&alert(), "abc").unwrap();
        sink.emit(&alert(), "def").unwrap();
        sink.flush().unwrap();
        let text = String::from_utf8(sink.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("{\"id\":\"abc\",\"rule\":\"an0691.chain\""));
        // The escape sequence stays escaped in JSON.
        assert!(lines[0].contains("\\u001b[2J"));
    }

    #[test]
    fn text_never_passes_escape_sequences_through() {
        let mut sink = StreamSink::new(Vec::new(), StreamFormat::Text, false);
        sink.emit(&alert(), "abc").unwrap();
        let text = String::from_utf8(sink.out).unwrap();
        assert!(!text.contains('\u{1b}'));
    }
}
