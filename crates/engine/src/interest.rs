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
use std::collections::HashMap;

impl Engine {
    /// True when no loaded analytic can use `ev`. With a baseline, activity in
    /// allowlisted images matters (its digest may never have been seen), so nothing is.
    pub fn ignores(&self, ev: &Event) -> bool {
        self.may_ignore() && ignorable(&self.matchers, ev)
    }

    /// [`Engine::ignores`], with verdicts remembered per shared image parse: what
    /// `push` asks of every arriving event.
    pub(crate) fn ignores_remembered(&mut self, ev: &Event) -> bool {
        self.may_ignore() && self.trust_memo.ignorable(&self.matchers, ev)
    }

    fn may_ignore(&self) -> bool {
        !self.containers.provenance.is_active()
    }
}

fn ignorable(m: &Matchers, ev: &Event) -> bool {
    activity_image(ev).is_some_and(|i| m.is_trusted(i))
}

/// The image of the container a process or connection's own record places it in.
fn activity_image(ev: &Event) -> Option<&ImageRef> {
    let placement = match &ev.kind {
        EventKind::Process(p) => &p.placement,
        EventKind::Connection(c) => &c.placement,
        _ => return None,
    };
    match placement {
        Placement::Container(c) => c.image.as_ref(),
        _ => None,
    }
}

/// Verdicts remembered by shared parse; past this many the memory starts over.
const TRUST_MEMO_KEPT: usize = 1024;

/// [`ignorable`] with the allowlist verdict remembered per shared image parse. Each
/// entry holds its reference, so the parse it is keyed by stays alive and no other
/// parse can take its address while the entry lasts.
#[derive(Default)]
pub(crate) struct TrustMemo {
    verdicts: HashMap<usize, (ImageRef, bool), foldhash::fast::RandomState>,
}

impl TrustMemo {
    pub(crate) fn ignorable(&mut self, m: &Matchers, ev: &Event) -> bool {
        let Some(image) = activity_image(ev) else {
            return false;
        };
        let key = image.parse_id();
        if let Some((_, verdict)) = self.verdicts.get(&key) {
            return *verdict;
        }
        let verdict = m.is_trusted(image);
        if self.verdicts.len() >= TRUST_MEMO_KEPT {
            self.verdicts.clear();
        }
        self.verdicts.insert(key, (image.clone(), verdict));
        verdict
    }
}

/// The allowlist test the prefilter applies to an image reference as a record spells
/// it: the same parse and the same patterns the engine uses.
pub fn trusted_image_test(cfg: &Config) -> impl Fn(&str) -> bool + Send + Sync + 'static {
    let m = Matchers::new(cfg);
    move |raw: &str| m.is_trusted(&ImageRef::parse(raw))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::exec_in;
    use pullwatch_model::Ts;

    #[test]
    fn remembered_verdicts_equal_fresh_ones() {
        let m = Matchers::new(&Config::default());
        let mut memo = TrustMemo::default();
        let mut images: Vec<String> = (0..TRUST_MEMO_KEPT + 50)
            .map(|i| format!("ghcr.io/unvetted{i}/app:1"))
            .collect();
        images.extend(["docker.io/library/nginx:1.25".into(), "nginx".into()]);
        let mut trusted = 0;
        for round in 0..2 {
            for image in &images {
                // Each event parses its image again, as records arriving do.
                let ev = exec_in(Ts(0), image);
                let want = ignorable(&m, &ev);
                assert_eq!(memo.ignorable(&m, &ev), want, "{image}, round {round}");
                trusted += usize::from(want);
            }
        }
        assert!(
            trusted > 0,
            "the default allowlist trusts Docker Hub's official images"
        );
        assert!(memo.verdicts.len() <= TRUST_MEMO_KEPT);
        // Not a process or connection: never ignorable, nothing remembered.
        let mut pull = exec_in(Ts(0), "nginx");
        pull.kind = EventKind::ProcessExit(pullwatch_model::ProcessExit { host: None, pid: 1 });
        assert!(!memo.ignorable(&m, &pull));
    }
}
