//! User data: what a VM runs on first boot.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine as _};

/// Standard alphabet, padding optional: providers and tools differ on padding.
const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes `s` as base64 ignoring line breaks; `None` when it is not base64.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    B64.decode(&compact).ok()
}

/// User data as a transport carried it: base64 that decodes to text becomes the text;
/// anything else (plain text, or base64 of gzip) is kept as given, since
/// [`inspect_user_data`] unwraps base64 and gzip itself.
pub fn b64_text(s: &str) -> String {
    match b64_decode(s).map(String::from_utf8) {
        Some(Ok(text)) if looks_like_text(&text) => text,
        _ => s.to_string(),
    }
}

/// Printable text (allowing tabs and line breaks): what a script or config is.
fn looks_like_text(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}
