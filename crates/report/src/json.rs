//! One JSON object per alert per line: the stable machine contract. The alert's
//! deterministic `id` leads, so consumers can de-duplicate on it.

use pullwatch_model::Alert;
use serde::Serialize;

#[derive(Serialize)]
struct Line<'a> {
    id: &'a str,
    #[serde(flatten)]
    alert: &'a Alert,
}

/// The alert as one JSON line, with `id` (see [`crate::id::alert_id`]).
pub fn alert_line(a: &Alert) -> String {
    alert_line_with_id(a, &crate::id::alert_id(a))
}

/// [`alert_line`] for a caller that already computed the id.
pub fn alert_line_with_id(a: &Alert, id: &str) -> String {
    serde_json::to_string(&Line { id, alert: a })
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}
