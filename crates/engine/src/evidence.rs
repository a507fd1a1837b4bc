//! Building evidence lines, shared by the analytics so every alert's evidence reads
//! the same way.

use pullwatch_model::alert::Evidence;
use pullwatch_model::{redact_secrets, Event};

/// Evidence for one record, with the structured fields (process, endpoint, container,
/// API call) the event carries, so every output format can show them.
///
/// Summaries and command lines quote what sources recorded: a credential in them must
/// not travel on with the alert, so both are redacted here, where all evidence is made.
pub fn evidence(stage: &'static str, ev: &Event, summary: String) -> Evidence {
    let mut e = Evidence::from_event(stage, ev, redact_secrets(&summary).into_owned());
    if let Some(p) = e.process.as_mut() {
        if let std::borrow::Cow::Owned(r) = redact_secrets(&p.cmdline) {
            p.cmdline = r;
        }
    }
    e
}

/// Command lines can be long and multi-line; evidence summaries are one line of
/// bounded length (the renderers escape whatever remains).
pub fn one_line(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if flat.chars().count() > 300 {
        let cut: String = flat.chars().take(300).collect();
        format!("{cut}…")
    } else {
        flat
    }
}
