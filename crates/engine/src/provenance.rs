//! Image provenance: whether a digest is new and whether a tag has moved, judged
//! against the baseline of what earlier runs saw.
//!
//! The engine reads no files. The caller loads the baseline into a [`ProvenanceView`]
//! before the scan and passes it to [`crate::Engine::with_provenance`]; during the scan
//! the engine notes every digest and tag resolution it sees, with their event times,
//! and hands them back as [`Observations`] for the caller to record. Without a view
//! nothing is new: no digest can be "never seen before" without a record of what was.
//!
//! Within one scan, a digest the baseline lacks stays new for `time_window` after this
//! scan first saw it, the longest a chain can take. Containers started from it later
//! are the digest's established use, not its arrival; judging by event time keeps a
//! batch scan and a stream of the same records in agreement, and keeps a long-running
//! stream from treating one new digest as new forever.

use pullwatch_model::alert::Severity;
use pullwatch_model::time::Dur;
use pullwatch_model::{
    CloudAction, ContainerRef, Event, EventKind, ImageOrigin, ImageRef, Placement, Ts,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Distinct digests and tag resolutions noted per scan; past this, new ones are counted
/// but not kept (and, unknown to the scan, still count as new).
pub const MAX_OBSERVED: usize = 200_000;

/// How the learning period, during which nothing is new, is bounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Learning {
    #[default]
    None,
    /// Events before this time are learned from, not judged.
    Until(Ts),
    /// Declared on a fresh baseline: lasts this long from the scan's first event.
    FromFirstEvent(Dur),
}

#[derive(Clone, Debug, Default)]
struct RepoView {
    digests: HashSet<String>,
    /// Tag → its digests, listed and (for adding without scanning the list) hashed.
    tags: HashMap<String, (Vec<String>, HashSet<String>)>,
}

/// A read-only snapshot of the baseline, as the engine consults it.
#[derive(Clone, Debug, Default)]
pub struct ProvenanceView {
    repos: HashMap<String, RepoView>,
    /// VM images seen launching before, as `provider:id`.
    vm_images: HashSet<String>,
    learning: Learning,
}

fn vm_key(provider: &str, id: &str) -> String {
    format!("{provider}:{}", id.to_ascii_lowercase())
}

impl ProvenanceView {
    pub fn new() -> ProvenanceView {
        ProvenanceView::default()
    }

    pub fn add_digest(&mut self, repository: &str, digest: &str) {
        self.repo_mut(repository).digests.insert(digest.to_string());
    }

    /// A resolution of `repository:tag` to `digest` (the digest is added too).
    pub fn add_tag_digest(&mut self, repository: &str, tag: &str, digest: &str) {
        let repo = self.repo_mut(repository);
        repo.digests.insert(digest.to_string());
        let (list, set) = repo.tags.entry(tag.to_string()).or_default();
        if set.insert(digest.to_string()) {
            list.push(digest.to_string());
        }
    }

    /// A VM image (`aws`/`gcp`/`azure` and its id) the baseline knows.
    pub fn add_vm_image(&mut self, provider: &str, id: &str) {
        self.vm_images.insert(vm_key(provider, id));
    }

    pub fn vm_image_known(&self, provider: &str, id: &str) -> bool {
        self.vm_images.contains(&vm_key(provider, id))
    }

    pub fn set_learning(&mut self, learning: Learning) {
        self.learning = learning;
    }

    pub fn learning(&self) -> Learning {
        self.learning
    }

    pub fn digest_known(&self, repository: &str, digest: &str) -> bool {
        self.repos
            .get(repository)
            .is_some_and(|r| r.digests.contains(digest))
    }

    /// The digests the tag has resolved to; empty for a tag never seen.
    pub fn tag_digests(&self, repository: &str, tag: &str) -> &[String] {
        self.repos
            .get(repository)
            .and_then(|r| r.tags.get(tag))
            .map_or(&[], |(list, _)| list.as_slice())
    }

    /// Whether the tag has resolved to the digest.
    pub fn tag_resolved_to(&self, repository: &str, tag: &str, digest: &str) -> bool {
        self.repos
            .get(repository)
            .and_then(|r| r.tags.get(tag))
            .is_some_and(|(_, set)| set.contains(digest))
    }

    /// Whether `t` is in the learning period. A period counted from the first event
    /// covers everything until that event has been seen.
    pub fn in_learning(&self, t: Ts) -> bool {
        match self.learning {
            Learning::None => false,
            Learning::Until(u) => t < u,
            Learning::FromFirstEvent(_) => true,
        }
    }

    fn repo_mut(&mut self, repository: &str) -> &mut RepoView {
        self.repos.entry(repository.to_string()).or_default()
    }
}

/// A digest seen during the scan, with when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestSeen {
    pub repository: String,
    pub digest: String,
    pub first: Ts,
    pub last: Ts,
}

/// A tag seen resolving to a digest during the scan, with when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagSeen {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub first: Ts,
    pub last: Ts,
}

/// Where a VM image came from, as far as the control plane showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VmOrigin {
    CreatedHere,
    CopiedFrom { region: Option<String> },
    Imported,
    SharedIn,
}

/// A VM image seen launching (or coming into being) during the scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmImageSeen {
    pub provider: String,
    pub id: String,
    pub owner: Option<String>,
    pub origin: Option<VmOrigin>,
    pub first: Ts,
    pub last: Ts,
}

/// What a scan saw, for the caller to record in the baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observations {
    pub digests: Vec<DigestSeen>,
    pub tags: Vec<TagSeen>,
    pub vm_images: Vec<VmImageSeen>,
    /// The end of the learning period, when this scan declared one.
    pub learning_until: Option<Ts>,
}

/// For the scan summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct ProvenanceStats {
    /// Whether a baseline was given; without one nothing is newly seen.
    pub baseline: bool,
    pub learning_until: Option<Ts>,
    /// Distinct digests seen.
    pub digests_seen: u64,
    /// Of those, how many the baseline did not know.
    pub digests_new: u64,
    /// Tag resolutions, unknown to the baseline, of tags it knew.
    pub tags_moved: u64,
    /// Digests and tag resolutions not kept because `MAX_OBSERVED` was reached.
    pub not_kept: u64,
    /// Distinct VM images seen launching.
    pub vm_images_seen: u64,
    /// Of those, how many the baseline did not know.
    pub vm_images_new: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    first: Ts,
    last: Ts,
}

impl Span {
    fn at(t: Ts) -> Span {
        Span { first: t, last: t }
    }

    fn widen(&mut self, t: Ts) {
        self.first = self.first.min(t);
        self.last = self.last.max(t);
    }
}

#[derive(Default)]
struct ScanRepo {
    digests: HashMap<String, Span>,
    /// Tag → digest → when.
    tags: HashMap<String, HashMap<String, Span>>,
}

/// The digest of a chain's image was never seen before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstSeen {
    pub digest: String,
    /// When this scan first saw it.
    pub at: Ts,
}

/// A known tag resolved to a digest never seen for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagMoved {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// The digests the tag was known to resolve to.
    pub known: Vec<String>,
}

/// What the baseline says about one image at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Novelty {
    pub first_seen: Option<FirstSeen>,
    pub tag_moved: Option<TagMoved>,
}

impl Novelty {
    /// The reason a chain starts in an allowlisted image: its digest is new.
    pub fn first_seen_reason(&self, image: &ImageRef, entry: &str) -> Option<String> {
        let f = self.first_seen.as_ref()?;
        Some(format!(
            "image {image} is allowed by image_registry_allow_list entry {entry}, but digest {} was first seen at {} and is not in the baseline",
            f.digest, f.at
        ))
    }

    /// Raises the severity one level when the tag moved, saying so.
    pub fn raise(&self, severity: Severity, reasons: &mut Vec<String>) -> Severity {
        let Some(m) = &self.tag_moved else {
            return severity;
        };
        let raised = match severity {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        };
        const LISTED: usize = 3;
        let mut known = m
            .known
            .iter()
            .take(LISTED)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if m.known.len() > LISTED {
            known.push_str(&format!(" and {} more", m.known.len() - LISTED));
        }
        reasons.push(format!(
            "tag moved: {}:{} now resolves to {}, never seen for that tag (known: {known}); severity raised to {}",
            m.repository,
            m.tag,
            m.digest,
            raised.as_str()
        ));
        raised
    }
}

/// The engine's provenance state for one scan: the baseline snapshot and what the
/// scan has seen so far.
#[derive(Default)]
pub struct Provenance {
    view: Option<ProvenanceView>,
    vms: HashMap<String, VmImageSeen>,
    horizon: Dur,
    repos: HashMap<String, ScanRepo>,
    kept: usize,
    cap: usize,
    declared: Option<Ts>,
    stats: ProvenanceStats,
}

impl Provenance {
    /// No baseline: nothing is new and nothing is noted.
    pub fn inactive() -> Provenance {
        Provenance::default()
    }

    /// Judges against `view`; a digest unknown to it stays new for `horizon` after this
    /// scan first sees it.
    pub fn new(view: ProvenanceView, horizon: Dur) -> Provenance {
        let learning_until = match view.learning {
            Learning::Until(u) => Some(u),
            _ => None,
        };
        Provenance {
            view: Some(view),
            horizon,
            cap: MAX_OBSERVED,
            stats: ProvenanceStats {
                baseline: true,
                learning_until,
                ..ProvenanceStats::default()
            },
            ..Provenance::default()
        }
    }

    /// Whether a baseline is loaded.
    pub fn is_active(&self) -> bool {
        self.view.is_some()
    }

    pub fn stats(&self) -> &ProvenanceStats {
        &self.stats
    }

    /// Notes the images an event names. Called for every event, in event-time order.
    pub fn observe(&mut self, ev: &Event) {
        let Provenance {
            view: Some(view),
            vms,
            repos,
            kept,
            cap,
            stats,
            declared,
            ..
        } = self
        else {
            return;
        };
        if let Learning::FromFirstEvent(d) = view.learning {
            let until = ev.time.saturating_add(d);
            view.learning = Learning::Until(until);
            *declared = Some(until);
            stats.learning_until = Some(until);
        }
        let view = &*view;
        if let EventKind::Cloud(c) = &ev.kind {
            let provider = c.provider.name();
            let (id, owner, origin, launch) = match &c.action {
                CloudAction::InstanceLaunch(l) => match &l.image {
                    Some(i) => (i.id.clone(), i.owner.clone(), None, true),
                    None => return,
                },
                CloudAction::ImageCreated { image_id, how } => {
                    let origin = match how {
                        ImageOrigin::Created { .. } | ImageOrigin::Registered => {
                            VmOrigin::CreatedHere
                        }
                        ImageOrigin::Copied { source_region, .. } => VmOrigin::CopiedFrom {
                            region: source_region.clone(),
                        },
                        ImageOrigin::Imported { .. } => VmOrigin::Imported,
                        ImageOrigin::SharedIn => VmOrigin::SharedIn,
                    };
                    (image_id.clone(), c.account.clone(), Some(origin), false)
                }
                _ => return,
            };
            let key = vm_key(provider, &id);
            let at_cap = vms.len() >= *cap;
            match vms.get_mut(&key) {
                Some(seen) => {
                    seen.first = seen.first.min(ev.time);
                    seen.last = seen.last.max(ev.time);
                    if seen.owner.is_none() {
                        seen.owner = owner;
                    }
                    if seen.origin.is_none() {
                        seen.origin = origin;
                    }
                }
                None if at_cap => stats.not_kept += 1,
                None => {
                    if launch {
                        stats.vm_images_seen += 1;
                        if !view.vm_image_known(provider, &id) {
                            stats.vm_images_new += 1;
                        }
                    }
                    vms.insert(
                        key,
                        VmImageSeen {
                            provider: provider.to_string(),
                            id: id.to_ascii_lowercase(),
                            owner,
                            origin,
                            first: ev.time,
                            last: ev.time,
                        },
                    );
                }
            }
            return;
        }
        for_each_image(ev, |image, resolves_tag| {
            let Some(digest) = pinned_digest(image) else {
                return;
            };
            let name = image.repository();
            let tag = image.tag.as_deref().filter(|_| resolves_tag);
            let full = *kept >= *cap;
            // At the cap nothing new is created, not even an empty map.
            let repo = match repos.get_mut(&name) {
                Some(r) => r,
                None if full => {
                    stats.not_kept += 1 + u64::from(tag.is_some());
                    return;
                }
                None => repos.entry(name.clone()).or_default(),
            };
            match repo.digests.get_mut(digest) {
                Some(s) => s.widen(ev.time),
                None if *kept >= *cap => stats.not_kept += 1,
                None => {
                    repo.digests.insert(digest.to_string(), Span::at(ev.time));
                    *kept += 1;
                    stats.digests_seen += 1;
                    if !view.digest_known(&name, digest) {
                        stats.digests_new += 1;
                    }
                }
            }
            let Some(tag) = tag else { return };
            let full = *kept >= *cap;
            let history = match repo.tags.get_mut(tag) {
                Some(h) => h,
                None if full => {
                    stats.not_kept += 1;
                    return;
                }
                None => repo.tags.entry(tag.to_string()).or_default(),
            };
            match history.get_mut(digest) {
                Some(s) => s.widen(ev.time),
                None if full => stats.not_kept += 1,
                None => {
                    history.insert(digest.to_string(), Span::at(ev.time));
                    *kept += 1;
                    if !view.tag_digests(&name, tag).is_empty()
                        && !view.tag_resolved_to(&name, tag, digest)
                    {
                        stats.tags_moved += 1;
                    }
                }
            }
        });
    }

    /// What the baseline (and this scan so far) says about `image` at `t`.
    pub fn novelty(&self, image: &ImageRef, t: Ts) -> Novelty {
        let Some(view) = &self.view else {
            return Novelty::default();
        };
        if view.in_learning(t) {
            return Novelty::default();
        }
        let Some(digest) = pinned_digest(image) else {
            return Novelty::default();
        };
        let learning_end = match view.learning {
            Learning::Until(u) => Some(u),
            _ => None,
        };
        // Seen by this scan long enough ago, or while learning: established.
        let established =
            |first: Ts| learning_end.is_some_and(|u| first < u) || t.since(first) > self.horizon;
        let name = image.repository();
        let scan = self.repos.get(&name);
        let first_seen = if view.digest_known(&name, digest) {
            None
        } else {
            match scan.and_then(|r| r.digests.get(digest)) {
                Some(s) if established(s.first) => None,
                Some(s) => Some(FirstSeen {
                    digest: digest.to_string(),
                    at: s.first,
                }),
                None => Some(FirstSeen {
                    digest: digest.to_string(),
                    at: t,
                }),
            }
        };
        let tag_moved = image.tag.as_deref().and_then(|tag| {
            let seen_here = scan.and_then(|r| r.tags.get(tag));
            if view.tag_resolved_to(&name, tag, digest)
                || seen_here
                    .and_then(|h| h.get(digest))
                    .is_some_and(|s| established(s.first))
            {
                return None;
            }
            let mut known: Vec<String> = view.tag_digests(&name, tag).to_vec();
            if let Some(h) = seen_here {
                let mut learned: Vec<&String> = h
                    .iter()
                    .filter(|(d, s)| established(s.first) && !view.tag_resolved_to(&name, tag, d))
                    .map(|(d, _)| d)
                    .collect();
                learned.sort();
                known.extend(learned.into_iter().cloned());
            }
            if known.is_empty() {
                return None;
            }
            Some(TagMoved {
                repository: name.clone(),
                tag: tag.to_string(),
                digest: digest.to_string(),
                known,
            })
        });
        Novelty {
            first_seen,
            tag_moved,
        }
    }

    /// Why a VM image launching at `t` counts as newly seen: not in the baseline, outside
    /// the learning period, and first seen by this scan no longer than the horizon ago.
    pub fn vm_first_seen(&self, provider: &str, id: &str, t: Ts) -> Option<String> {
        let view = self.view.as_ref()?;
        if view.in_learning(t) || view.vm_image_known(provider, id) {
            return None;
        }
        let first = self.vms.get(&vm_key(provider, id)).map_or(t, |s| s.first);
        (t.since(first) <= self.horizon).then(|| {
            format!("image {id} was never seen launching before (not in the baseline; first seen at {first})")
        })
    }

    /// Everything the scan saw, sorted, for the caller to record.
    pub fn observations(&self) -> Observations {
        let mut o = Observations {
            learning_until: self.declared,
            ..Observations::default()
        };
        for (name, repo) in &self.repos {
            for (digest, s) in &repo.digests {
                o.digests.push(DigestSeen {
                    repository: name.clone(),
                    digest: digest.clone(),
                    first: s.first,
                    last: s.last,
                });
            }
            for (tag, history) in &repo.tags {
                for (digest, s) in history {
                    o.tags.push(TagSeen {
                        repository: name.clone(),
                        tag: tag.clone(),
                        digest: digest.clone(),
                        first: s.first,
                        last: s.last,
                    });
                }
            }
        }
        o.vm_images = self.vms.values().cloned().collect();
        o.vm_images
            .sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
        o.digests
            .sort_by(|a, b| (&a.repository, &a.digest).cmp(&(&b.repository, &b.digest)));
        o.tags.sort_by(|a, b| {
            (&a.repository, &a.tag, a.first, &a.digest).cmp(&(
                &b.repository,
                &b.tag,
                b.first,
                &b.digest,
            ))
        });
        o
    }
}

/// The digest a reference pins, when the reference is well-formed: a malformed one
/// names nothing that could be recognized again.
pub fn pinned_digest(image: &ImageRef) -> Option<&str> {
    match (&image.problem, &image.digest) {
        (None, Some(d)) => Some(d),
        _ => None,
    }
}

/// Calls `f` with every image reference an event names, and whether that reference
/// is a tag's resolution as the runtime or registry saw it (`true`) or a reference as
/// someone wrote it (a pod spec's `image:`, whose tag beside a digest is decoration).
pub fn for_each_image(ev: &Event, mut f: impl FnMut(&ImageRef, bool)) {
    fn container(c: &ContainerRef, f: &mut impl FnMut(&ImageRef, bool)) {
        if let Some(i) = &c.image {
            f(i, true);
        }
    }
    match &ev.kind {
        EventKind::ImagePull(p) => {
            f(&p.image, true);
            if let Some(c) = &p.for_container {
                container(c, &mut f);
            }
        }
        EventKind::PodCreate(p) => {
            for spec in &p.containers {
                f(&spec.image, false);
            }
        }
        EventKind::Container(l) => container(&l.container, &mut f),
        EventKind::ContainerAddress(a) => container(&a.container, &mut f),
        EventKind::Process(p) => {
            if let Placement::Container(c) = &p.placement {
                container(c, &mut f);
            }
        }
        EventKind::Connection(c) => {
            if let Placement::Container(cr) = &c.placement {
                container(cr, &mut f);
            }
        }
        EventKind::ExecStarted(x) => container(&x.container, &mut f),
        // VM images are not container images; their provenance is kept separately.
        EventKind::PodBinding(_)
        | EventKind::ProcessExit(_)
        | EventKind::ProcessFork(_)
        | EventKind::Cloud(_)
        | EventKind::UserData(_)
        | EventKind::GuestBoot(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::exec_in;
    use pullwatch_model::{Format, SourceRef};
    use std::sync::Arc;

    const REPO: &str = "docker.io/library/nginx";
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn t(s: i64) -> Ts {
        Ts(s * 1_000_000_000)
    }

    fn img(s: &str) -> ImageRef {
        ImageRef::parse(s)
    }

    fn view() -> ProvenanceView {
        let mut v = ProvenanceView::new();
        v.add_tag_digest(REPO, "1.27", D1);
        v
    }

    #[test]
    fn view_answers_from_the_baseline() {
        let mut v = view();
        v.add_tag_digest(REPO, "stable", D1);
        v.add_tag_digest(REPO, "stable", D1);
        assert!(v.digest_known(REPO, D1));
        assert!(!v.digest_known(REPO, D2));
        assert!(!v.digest_known("docker.io/library/redis", D1));
        assert_eq!(v.tag_digests(REPO, "stable"), [D1.to_string()]);
        assert!(v.tag_digests(REPO, "1.28").is_empty());
        assert!(!v.in_learning(t(0)));
        v.set_learning(Learning::Until(t(10)));
        assert!(v.in_learning(t(9)));
        assert!(!v.in_learning(t(10)));
    }

    #[test]
    fn without_a_baseline_nothing_is_new_or_noted() {
        let mut p = Provenance::inactive();
        p.observe(&exec_in(t(1), &format!("nginx:1.27@{D2}")));
        assert_eq!(
            p.novelty(&img(&format!("nginx:1.27@{D2}")), t(1)),
            Novelty::default()
        );
        assert_eq!(p.observations(), Observations::default());
        assert!(!p.stats().baseline);
    }

    #[test]
    fn a_new_digest_is_new_for_one_window_after_its_first_sight() {
        let mut p = Provenance::new(view(), Dur::from_secs(900));
        let new = format!("nginx:1.28@{D2}");
        p.observe(&exec_in(t(100), &new));
        let n = p.novelty(&img(&new), t(100));
        assert_eq!(
            n.first_seen,
            Some(FirstSeen {
                digest: D2.into(),
                at: t(100)
            })
        );
        // 1.28 was never seen: a new tag, not a moved one.
        assert_eq!(n.tag_moved, None);
        assert!(p.novelty(&img(&new), t(1000)).first_seen.is_some());
        // A container started from it an hour later is its established use.
        assert_eq!(p.novelty(&img(&new), t(3700)), Novelty::default());
        // Known to the baseline: never new.
        assert_eq!(
            p.novelty(&img(&format!("nginx:1.27@{D1}")), t(100)),
            Novelty::default()
        );
        // No digest, or a malformed reference: nothing to judge.
        assert_eq!(p.novelty(&img("nginx:1.28"), t(100)), Novelty::default());
        assert_eq!(
            p.novelty(&img(&format!("Nginx:1.28@{D2}")), t(100)),
            Novelty::default()
        );
    }

    #[test]
    fn a_known_tag_on_a_new_digest_has_moved() {
        let mut p = Provenance::new(view(), Dur::from_secs(900));
        let moved = format!("nginx:1.27@{D3}");
        p.observe(&exec_in(t(50), &moved));
        let n = p.novelty(&img(&moved), t(60));
        assert_eq!(
            n.tag_moved,
            Some(TagMoved {
                repository: REPO.into(),
                tag: "1.27".into(),
                digest: D3.into(),
                known: vec![D1.into()],
            })
        );
        assert_eq!(n.first_seen.map(|f| f.at), Some(t(50)));
        let mut reasons = Vec::new();
        assert_eq!(
            n_raise(&p, &moved, Severity::Medium, &mut reasons),
            Severity::High
        );
        assert_eq!(
            reasons,
            [format!("tag moved: {REPO}:1.27 now resolves to {D3}, never seen for that tag (known: {D1}); severity raised to high")]
        );
        assert_eq!(
            n_raise(&p, &moved, Severity::Critical, &mut Vec::new()),
            Severity::Critical
        );
        // A digest the repository knows, new for this tag, is still a move.
        let mut v = view();
        v.add_tag_digest(REPO, "stable", D2);
        let p = Provenance::new(v, Dur::from_secs(900));
        let n = p.novelty(&img(&format!("nginx:1.27@{D2}")), t(60));
        assert_eq!(n.first_seen, None);
        assert_eq!(n.tag_moved.map(|m| m.known), Some(vec![D1.to_string()]));
    }

    #[test]
    fn sightings_past_the_cap_are_counted_not_kept() {
        let mut p = Provenance::new(view(), Dur::from_secs(900));
        p.cap = 2;
        p.observe(&exec_in(t(1), &format!("nginx:1.28@{D2}")));
        // Full: neither a new digest nor a new repository is kept.
        p.observe(&exec_in(t(2), &format!("nginx:1.28@{D3}")));
        p.observe(&exec_in(t(3), &format!("ghcr.io/x/y:1@{D3}")));
        // What is kept still widens.
        p.observe(&exec_in(t(4), &format!("nginx:1.28@{D2}")));
        assert_eq!(p.stats().not_kept, 4);
        let o = p.observations();
        assert_eq!(o.digests.len(), 1);
        assert_eq!((o.digests[0].first, o.digests[0].last), (t(1), t(4)));
        assert_eq!(o.tags.len(), 1);
        assert_eq!(p.repos.len(), 1);
        // Not kept, so not known to be established: still new.
        let n = p.novelty(&img(&format!("nginx:1.28@{D3}")), t(5000));
        assert_eq!(n.first_seen.map(|f| f.at), Some(t(5000)));
    }

    fn n_raise(p: &Provenance, image: &str, s: Severity, reasons: &mut Vec<String>) -> Severity {
        p.novelty(&img(image), t(60)).raise(s, reasons)
    }

    #[test]
    fn learning_from_the_first_event() {
        let mut v = ProvenanceView::new();
        v.set_learning(Learning::FromFirstEvent(Dur::from_secs(3600)));
        let mut p = Provenance::new(v, Dur::from_secs(900));
        let a = format!("nginx:1.27@{D1}");
        let b = format!("nginx:1.27@{D2}");
        p.observe(&exec_in(t(1000), &a));
        assert_eq!(p.stats().learning_until, Some(t(4600)));
        assert_eq!(p.novelty(&img(&a), t(1000)), Novelty::default());
        // Seen during learning and again just after it: established.
        p.observe(&exec_in(t(4601), &a));
        assert_eq!(p.novelty(&img(&a), t(4601)), Novelty::default());
        // First seen after learning: new, and 1.27 (learned as D1) has moved.
        p.observe(&exec_in(t(4700), &b));
        let n = p.novelty(&img(&b), t(4700));
        assert!(n.first_seen.is_some());
        assert_eq!(n.tag_moved.map(|m| m.known), Some(vec![D1.to_string()]));
        let o = p.observations();
        assert_eq!(o.learning_until, Some(t(4600)));
        assert_eq!(
            o.digests,
            [
                DigestSeen {
                    repository: REPO.into(),
                    digest: D1.into(),
                    first: t(1000),
                    last: t(4601)
                },
                DigestSeen {
                    repository: REPO.into(),
                    digest: D2.into(),
                    first: t(4700),
                    last: t(4700)
                }
            ]
        );
        assert_eq!(o.tags.len(), 2);
        assert_eq!((o.tags[0].digest.as_str(), o.tags[0].last), (D1, t(4601)));
        assert_eq!(p.stats().digests_new, 2);
        assert_eq!(p.stats().digests_seen, 2);
    }

    #[test]
    fn pod_spec_tags_are_not_resolutions() {
        use pullwatch_model::{PodContainerKind, PodContainerSpec, PodCreate};
        let spec = format!("nginx:1.27@{D3}");
        let ev = Event::new(
            t(5),
            SourceRef {
                format: Format::K8sAudit,
                path: Arc::from("a"),
                line: 1,
            },
            EventKind::PodCreate(PodCreate {
                namespace: "shop".into(),
                pod: "web".into(),
                node: None,
                containers: vec![PodContainerSpec {
                    name: "web".into(),
                    image: img(&spec),
                    image_raw: spec.clone(),
                    pull_policy: None,
                    kind: PodContainerKind::Regular,
                    command: Vec::new(),
                    args: Vec::new(),
                }],
                actor: None,
            }),
        );
        let mut p = Provenance::new(view(), Dur::from_secs(900));
        p.observe(&ev);
        let o = p.observations();
        assert_eq!(o.digests.len(), 1);
        assert!(o.tags.is_empty());
        assert_eq!(p.stats().tags_moved, 0);
        // A runtime reporting the same reference is a resolution, and a move.
        p.observe(&exec_in(t(6), &spec));
        assert_eq!(p.observations().tags.len(), 1);
        assert_eq!(p.stats().tags_moved, 1);
    }
}
