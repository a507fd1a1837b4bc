//! What the loaded analytics can use, stated once so that the engine and the decoders'
//! prefilter agree. AN0691 completes a chain only in a container whose image is not
//! allowlisted, so a process or a connection that its own record places in a container
//! of an allowlisted image can never be part of one: the engine drops such activity on
//! arrival, and the prefilter may skip the records that carry nothing else. Everything
//! else (pulls, lifecycle, pod specs, addresses, exits, activity in other containers or
//! on hosts) is kept.

use crate::config::Config;
use crate::matchers::Matchers;
use crate::Engine;
use pullwatch_model::{Event, EventKind, ImageRef, Placement};

impl Engine {
    /// True when no loaded analytic can use `ev`. With a baseline, activity in
    /// allowlisted images matters (its digest may never have been seen), so nothing is.
    pub fn ignores(&self, ev: &Event) -> bool {
        !self.containers.provenance.is_active() && ignorable(&self.matchers, ev)
    }
}

fn ignorable(m: &Matchers, ev: &Event) -> bool {
    let placement = match &ev.kind {
        EventKind::Process(p) => &p.placement,
        EventKind::Connection(c) => &c.placement,
        _ => return false,
    };
    match placement {
        Placement::Container(c) => c.image.as_ref().is_some_and(|i| m.is_trusted(i)),
        _ => false,
    }
}

/// The allowlist test the prefilter applies to an image reference as a record spells
/// it: the same parse and the same patterns the engine uses.
pub fn trusted_image_test(cfg: &Config) -> impl Fn(&str) -> bool + Send + Sync + 'static {
    let m = Matchers::new(cfg);
    move |raw: &str| m.is_trusted(&ImageRef::parse(raw))
}
