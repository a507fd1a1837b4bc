//! The progress bar for long scans: bytes read of the inputs' total size, records per
//! second and alerts so far. It exists only when stderr is a terminal and the user did
//! not ask for quiet, and it shows itself only once a scan has run for a moment, so
//! short scans and piped runs print nothing but their output.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

/// How long a scan runs before the bar appears.
const SHOW_AFTER: Duration = Duration::from_millis(500);

pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    shown: bool,
}

impl Progress {
    /// `total`: the inputs' combined size on disk, when every input has one.
    pub fn new(enabled: bool, total: Option<u64>) -> Progress {
        let bar = enabled.then(|| {
            // Hidden until SHOW_AFTER: creating it drawn would flash a bar on every
            // short scan.
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
            let template = if total.is_some() {
                "{spinner} {elapsed:>4} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {msg}"
            } else {
                "{spinner} {elapsed:>4} {binary_bytes} read {msg}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
            shown: false,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.bar.is_some()
    }

    pub fn update(&mut self, bytes: u64, records: u64, alerts: u64) {
        let Some(bar) = &self.bar else { return };
        let elapsed = self.start.elapsed();
        if !self.shown {
            if elapsed < SHOW_AFTER {
                return;
            }
            bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        let secs = elapsed.as_secs_f64().max(0.001);
        bar.set_position(bytes);
        bar.set_message(format!(
            "{records} records ({:.0}/s), {alerts} alert{}",
            records as f64 / secs,
            if alerts == 1 { "" } else { "s" }
        ));
    }

    /// Removes the bar so the closing summary starts on a clean line.
    /// The last state is drawn first (updates are drawn at a limited rate, and the
    /// final count of alerts may have come after the last drawn frame).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            if self.shown {
                bar.force_draw();
            }
            bar.finish_and_clear();
        }
    }
}
