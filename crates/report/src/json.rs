//! One JSON object per alert per line: the stable machine contract.

use pullwatch_model::Alert;

pub fn alert_line(a: &Alert) -> String {
    serde_json::to_string(a).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}
