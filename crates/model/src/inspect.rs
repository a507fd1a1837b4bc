//! Content inspection as the engine sees it. Reading user data (base64, gzip, MIME,
//! cloud-config, shell) is decoding work and lives at the edge; the engine asks through
//! this trait, so it stays free of parsers and I/O while the wiring layer hands it the
//! real inspector.

/// One line of inspected content that matters, already redacted of secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentFinding {
    /// The offending line, secrets replaced by `[REDACTED]`.
    pub line: String,
    /// Short reason name: `download-execute`, `encoded-exec`, `download`, …
    pub why: String,
    /// Where in the content: `runcmd[2]`, `part 1`, `command line`.
    pub place: String,
}

pub trait ContentInspector: Send + Sync {
    /// Inspects user data or a startup script, in whatever encoding it arrived.
    fn user_data(&self, content: &str) -> Vec<ContentFinding>;
    /// Inspects one process command line for download-and-execute patterns.
    fn command_line(&self, line: &str) -> Vec<ContentFinding>;
    /// The finding a startup script fetched from a URL at boot deserves.
    fn startup_script_url(&self, url: &str) -> ContentFinding;
}

/// An inspector that finds nothing; used when none is wired in (the engine says so in
/// its statistics rather than pretending content was clean).
pub struct NoInspection;

impl ContentInspector for NoInspection {
    fn user_data(&self, _: &str) -> Vec<ContentFinding> {
        Vec::new()
    }
    fn command_line(&self, _: &str) -> Vec<ContentFinding> {
        Vec::new()
    }
    fn startup_script_url(&self, url: &str) -> ContentFinding {
        ContentFinding {
            line: url.to_string(),
            why: "startup-script-url".into(),
            place: "metadata".into(),
        }
    }
}
