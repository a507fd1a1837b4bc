//! The baseline in memory: what pullwatch has seen of each image repository and each VM
//! image, and when. It only grows: a new sighting widens the first/last-seen span of
//! what is already known, and pullwatch never forgets on its own, so a digest that was
//! reviewed once stays known.

use pullwatch_model::Ts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// When something was first and last seen, in event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    #[serde(with = "crate::format::ts")]
    pub first_seen: Ts,
    #[serde(with = "crate::format::ts")]
    pub last_seen: Ts,
}

impl Seen {
    pub fn at(t: Ts) -> Seen {
        Seen {
            first_seen: t,
            last_seen: t,
        }
    }

    fn widen(&mut self, other: Seen) {
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// One digest a tag resolved to, with when that resolution was seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagResolution {
    pub digest: String,
    #[serde(with = "crate::format::ts")]
    pub first_seen: Ts,
    #[serde(with = "crate::format::ts")]
    pub last_seen: Ts,
}

impl TagResolution {
    pub fn seen(&self) -> Seen {
        Seen {
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }
}

/// What is known of one normalized repository (`docker.io/library/nginx`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repository {
    #[serde(default)]
    pub digests: BTreeMap<String, Seen>,
    /// Per tag, every digest it has resolved to: the tag's history, which is what
    /// shows a tag being moved. Kept by digest (a flood of digests under one tag costs
    /// a lookup each, not a scan); written as a list in the order first seen.
    #[serde(default, with = "crate::format::tag_histories")]
    pub tags: BTreeMap<String, BTreeMap<String, Seen>>,
}

/// Where a VM image came from, as far as the cloud's records tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum VmImageOrigin {
    /// Built in one of the organization's own accounts.
    CreatedHere,
    /// Copied from another account or region.
    CopiedFrom {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        region: Option<String>,
    },
    /// Imported from a disk image (VM import, image import).
    Imported,
    /// Shared into the organization by another account.
    SharedIn,
}

impl fmt::Display for VmImageOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmImageOrigin::CreatedHere => f.write_str("created here"),
            VmImageOrigin::CopiedFrom { account, region } => {
                f.write_str("copied from")?;
                if let Some(a) = account {
                    write!(f, " account {a}")?;
                }
                if let Some(r) = region {
                    write!(f, " region {r}")?;
                }
                if account.is_none() && region.is_none() {
                    f.write_str(" elsewhere")?;
                }
                Ok(())
            }
            VmImageOrigin::Imported => f.write_str("imported"),
            VmImageOrigin::SharedIn => f.write_str("shared in"),
        }
    }
}

/// A VM image (AMI, GCP image, Azure image) seen launching.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmImage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<VmImageOrigin>,
    #[serde(with = "crate::format::ts")]
    pub first_seen: Ts,
    #[serde(with = "crate::format::ts")]
    pub last_seen: Ts,
}

impl VmImage {
    pub fn seen(&self) -> Seen {
        Seen {
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }
}

/// Whether a sighting was news to the baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sighting {
    New,
    Known,
}

/// What a tag resolution meant to the tag's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagSighting {
    /// The tag had never been seen resolving to anything.
    NewTag,
    /// The tag had resolved to this digest before.
    Known,
    /// The tag is known, but had never resolved to this digest.
    Moved,
}

/// How much a merge added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    pub digests_added: u64,
    pub tag_resolutions_added: u64,
    /// Tag resolutions added to a tag that already had a history.
    pub tags_moved: u64,
    pub vm_images_added: u64,
    /// The merge declared the learning period (the baseline had none).
    pub learning_declared: bool,
}

impl MergeReport {
    pub fn is_empty(&self) -> bool {
        *self == MergeReport::default()
    }
}

/// Sizes, for summaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub repositories: u64,
    pub digests: u64,
    pub tags: u64,
    pub tag_resolutions: u64,
    pub vm_images: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Baseline {
    pub(crate) learning_until: Option<Ts>,
    pub(crate) repositories: BTreeMap<String, Repository>,
    /// Provider (`aws`, `gcp`, `azure`) → image id → what is known of it.
    pub(crate) vm_images: BTreeMap<String, BTreeMap<String, VmImage>>,
}

impl Baseline {
    pub fn new() -> Baseline {
        Baseline::default()
    }

    /// Nothing recorded and no learning period declared: what a first run starts from.
    pub fn is_empty(&self) -> bool {
        self.learning_until.is_none() && self.repositories.is_empty() && self.vm_images.is_empty()
    }

    pub fn learning_until(&self) -> Option<Ts> {
        self.learning_until
    }

    /// Declares the end of the learning period. The first declaration stands: a later
    /// one (the next day's scan with the same command line) must not extend it.
    /// Returns whether this call set it.
    pub fn declare_learning_until(&mut self, until: Ts) -> bool {
        if self.learning_until.is_some() {
            return false;
        }
        self.learning_until = Some(until);
        true
    }

    /// Whether `t` falls in the learning period, when whatever is seen is simply learned.
    pub fn in_learning(&self, t: Ts) -> bool {
        self.learning_until.is_some_and(|u| t < u)
    }

    pub fn repositories(&self) -> &BTreeMap<String, Repository> {
        &self.repositories
    }

    pub fn repository(&self, repository: &str) -> Option<&Repository> {
        self.repositories.get(repository)
    }

    pub fn digest(&self, repository: &str, digest: &str) -> Option<Seen> {
        self.repositories
            .get(repository)?
            .digests
            .get(digest)
            .copied()
    }

    pub fn digest_known(&self, repository: &str, digest: &str) -> bool {
        self.digest(repository, digest).is_some()
    }

    /// Every digest the tag has resolved to, earliest first.
    pub fn tag_history(&self, repository: &str, tag: &str) -> Vec<TagResolution> {
        self.repositories
            .get(repository)
            .and_then(|r| r.tags.get(tag))
            .map(history_list)
            .unwrap_or_default()
    }

    /// When the tag was seen resolving to the digest, if ever.
    pub fn tag_resolved_to(&self, repository: &str, tag: &str, digest: &str) -> Option<Seen> {
        self.repositories
            .get(repository)?
            .tags
            .get(tag)?
            .get(digest)
            .copied()
    }

    pub fn vm_images(&self) -> &BTreeMap<String, BTreeMap<String, VmImage>> {
        &self.vm_images
    }

    pub fn vm_image(&self, provider: &str, id: &str) -> Option<&VmImage> {
        self.vm_images.get(provider)?.get(id)
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            repositories: self.repositories.len() as u64,
            ..Counts::default()
        };
        for r in self.repositories.values() {
            c.digests += r.digests.len() as u64;
            c.tags += r.tags.len() as u64;
            c.tag_resolutions += r.tags.values().map(|h| h.len() as u64).sum::<u64>();
        }
        c.vm_images = self.vm_images.values().map(|m| m.len() as u64).sum();
        c
    }

    /// Records that `digest` of `repository` was seen at `at`.
    pub fn record_digest(&mut self, repository: &str, digest: &str, at: Ts) -> Sighting {
        self.note_digest(repository, digest, Seen::at(at))
    }

    /// Records that `repository:tag` resolved to `digest` at `at` (which also records
    /// the digest itself).
    pub fn record_tag(&mut self, repository: &str, tag: &str, digest: &str, at: Ts) -> TagSighting {
        self.note_tag(repository, tag, digest, Seen::at(at))
    }

    /// Records a VM image seen launching at `at`. What a sighting tells of the image's
    /// owner and origin fills in what was unknown; what was known first is kept, since
    /// an image id's owner and origin never change.
    pub fn record_vm_image(
        &mut self,
        provider: &str,
        id: &str,
        owner: Option<&str>,
        origin: Option<VmImageOrigin>,
        at: Ts,
    ) -> Sighting {
        self.note_vm_image(
            provider,
            id,
            VmImage {
                owner: owner.map(str::to_string),
                origin,
                first_seen: at,
                last_seen: at,
            },
        )
    }

    /// Folds `other` into this baseline: the union of both, with spans widened.
    pub fn merge(&mut self, other: &Baseline) -> MergeReport {
        let mut report = MergeReport::default();
        if let Some(u) = other.learning_until {
            report.learning_declared = self.declare_learning_until(u);
        }
        for (name, repo) in &other.repositories {
            for (digest, seen) in &repo.digests {
                if self.note_digest(name, digest, *seen) == Sighting::New {
                    report.digests_added += 1;
                }
            }
            for (tag, history) in &repo.tags {
                for (digest, seen) in history {
                    match self.note_tag(name, tag, digest, *seen) {
                        TagSighting::Known => {}
                        TagSighting::NewTag => report.tag_resolutions_added += 1,
                        TagSighting::Moved => {
                            report.tag_resolutions_added += 1;
                            report.tags_moved += 1;
                        }
                    }
                }
            }
        }
        for (provider, images) in &other.vm_images {
            for (id, image) in images {
                if self.note_vm_image(provider, id, image.clone()) == Sighting::New {
                    report.vm_images_added += 1;
                }
            }
        }
        report
    }

    fn repo_mut(&mut self, repository: &str) -> &mut Repository {
        self.repositories.entry(repository.to_string()).or_default()
    }

    fn note_digest(&mut self, repository: &str, digest: &str, seen: Seen) -> Sighting {
        let repo = self.repo_mut(repository);
        match repo.digests.get_mut(digest) {
            Some(s) => {
                s.widen(seen);
                Sighting::Known
            }
            None => {
                repo.digests.insert(digest.to_string(), seen);
                Sighting::New
            }
        }
    }

    fn note_tag(&mut self, repository: &str, tag: &str, digest: &str, seen: Seen) -> TagSighting {
        self.note_digest(repository, digest, seen);
        let repo = self.repo_mut(repository);
        let history = repo.tags.entry(tag.to_string()).or_default();
        if let Some(s) = history.get_mut(digest) {
            s.widen(seen);
            return TagSighting::Known;
        }
        let had_history = !history.is_empty();
        history.insert(digest.to_string(), seen);
        if had_history {
            TagSighting::Moved
        } else {
            TagSighting::NewTag
        }
    }

    fn note_vm_image(&mut self, provider: &str, id: &str, image: VmImage) -> Sighting {
        let images = self.vm_images.entry(provider.to_string()).or_default();
        match images.get_mut(id) {
            Some(known) => {
                let mut s = known.seen();
                s.widen(image.seen());
                known.first_seen = s.first_seen;
                known.last_seen = s.last_seen;
                if known.owner.is_none() {
                    known.owner = image.owner;
                }
                if known.origin.is_none() {
                    known.origin = image.origin;
                }
                Sighting::Known
            }
            None => {
                images.insert(id.to_string(), image);
                Sighting::New
            }
        }
    }
}

/// A tag's history as a list, earliest first; ties by digest, so the order never
/// depends on the order records were read in.
pub(crate) fn history_list(history: &BTreeMap<String, Seen>) -> Vec<TagResolution> {
    let mut list: Vec<TagResolution> = history
        .iter()
        .map(|(digest, s)| TagResolution {
            digest: digest.clone(),
            first_seen: s.first_seen,
            last_seen: s.last_seen,
        })
        .collect();
    list.sort_by(|a, b| (a.first_seen, a.digest.as_str()).cmp(&(b.first_seen, b.digest.as_str())));
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPO: &str = "docker.io/library/nginx";
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    const D3: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

    fn t(s: i64) -> Ts {
        Ts(s * 1_000_000_000)
    }

    #[test]
    fn first_sight_after_the_learning_period() {
        let mut b = Baseline::new();
        assert!(b.declare_learning_until(t(100)));
        // A second declaration (the next run's command line) does not extend it.
        assert!(!b.declare_learning_until(t(500)));
        assert_eq!(b.learning_until(), Some(t(100)));

        assert!(b.in_learning(t(50)));
        assert_eq!(b.record_digest(REPO, D1, t(50)), Sighting::New);
        assert!(!b.in_learning(t(100)));
        // Seen during learning: known after it.
        assert!(b.digest_known(REPO, D1));
        assert_eq!(b.record_digest(REPO, D1, t(150)), Sighting::Known);
        // Never seen: the first sight after learning is news.
        assert!(!b.digest_known(REPO, D2));
        assert_eq!(b.record_digest(REPO, D2, t(160)), Sighting::New);
        assert_eq!(
            b.digest(REPO, D1),
            Some(Seen {
                first_seen: t(50),
                last_seen: t(150)
            })
        );
        assert_eq!(b.digest(REPO, D2), Some(Seen::at(t(160))));
        assert!(!b.digest_known("docker.io/library/redis", D1));
    }

    #[test]
    fn a_tag_moving_to_a_new_digest() {
        let mut b = Baseline::new();
        assert_eq!(b.record_tag(REPO, "1.27", D1, t(10)), TagSighting::NewTag);
        assert_eq!(b.record_tag(REPO, "1.27", D1, t(20)), TagSighting::Known);
        assert_eq!(b.record_tag(REPO, "1.27", D2, t(30)), TagSighting::Moved);
        // Back to the old digest: known, not a move.
        assert_eq!(b.record_tag(REPO, "1.27", D1, t(40)), TagSighting::Known);
        let h = b.tag_history(REPO, "1.27");
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].digest, D1);
        assert_eq!(
            h[0].seen(),
            Seen {
                first_seen: t(10),
                last_seen: t(40)
            }
        );
        assert_eq!(h[1].digest, D2);
        assert_eq!(h[1].seen(), Seen::at(t(30)));
        // The resolutions recorded the digests too.
        assert!(b.digest_known(REPO, D1));
        assert!(b.digest_known(REPO, D2));
        assert!(b.tag_history(REPO, "1.28").is_empty());
    }

    #[test]
    fn the_same_digest_through_two_tags() {
        let mut b = Baseline::new();
        assert_eq!(b.record_tag(REPO, "1.27", D1, t(10)), TagSighting::NewTag);
        // A second tag pointing at a known digest is a new tag, not a moved one.
        assert_eq!(b.record_tag(REPO, "stable", D1, t(11)), TagSighting::NewTag);
        assert_eq!(b.counts().digests, 1);
        assert_eq!(b.counts().tags, 2);
        assert_eq!(
            b.digest(REPO, D1),
            Some(Seen {
                first_seen: t(10),
                last_seen: t(11)
            })
        );
        // `stable` moving to what `1.27` already had is still a move for `stable`.
        assert_eq!(b.record_tag(REPO, "1.27", D2, t(20)), TagSighting::Moved);
        assert_eq!(b.record_tag(REPO, "stable", D2, t(21)), TagSighting::Moved);
        assert_eq!(b.record_tag(REPO, "stable", D1, t(22)), TagSighting::Known);
        let digests: Vec<String> = b
            .tag_history(REPO, "stable")
            .into_iter()
            .map(|r| r.digest)
            .collect();
        assert_eq!(digests, [D1, D2]);
    }

    #[test]
    fn merge_is_a_union_with_widened_spans() {
        let mut a = Baseline::new();
        a.record_tag(REPO, "1.27", D1, t(10));
        a.record_vm_image("aws", "ami-0aa", Some("111122223333"), None, t(5));
        let mut b = Baseline::new();
        b.declare_learning_until(t(1000));
        b.record_tag(REPO, "1.27", D1, t(50));
        b.record_tag(REPO, "1.27", D2, t(60));
        b.record_digest("ghcr.io/acme/app", D3, t(70));
        b.record_vm_image(
            "aws",
            "ami-0aa",
            Some("999999999999"),
            Some(VmImageOrigin::SharedIn),
            t(80),
        );
        b.record_vm_image("gcp", "projects/p/global/images/i", None, None, t(90));

        let report = a.merge(&b);
        assert_eq!(
            report,
            MergeReport {
                digests_added: 2,
                tag_resolutions_added: 1,
                tags_moved: 1,
                vm_images_added: 1,
                learning_declared: true,
            }
        );
        assert_eq!(a.learning_until(), Some(t(1000)));
        assert_eq!(
            a.tag_history(REPO, "1.27")[0].seen(),
            Seen {
                first_seen: t(10),
                last_seen: t(50)
            }
        );
        let ami = a.vm_image("aws", "ami-0aa").unwrap();
        // The owner first known stays; the origin, unknown until now, is filled in.
        assert_eq!(ami.owner.as_deref(), Some("111122223333"));
        assert_eq!(ami.origin, Some(VmImageOrigin::SharedIn));
        assert_eq!(
            ami.seen(),
            Seen {
                first_seen: t(5),
                last_seen: t(80)
            }
        );
        // Merging the same thing again adds nothing.
        assert!(a.merge(&b).is_empty());
        assert_eq!(
            a.counts(),
            Counts {
                repositories: 2,
                digests: 3,
                tags: 1,
                tag_resolutions: 2,
                vm_images: 2
            }
        );
    }

    #[test]
    fn vm_origins_read_as_words() {
        let copied = VmImageOrigin::CopiedFrom {
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
        };
        assert_eq!(
            copied.to_string(),
            "copied from account 111122223333 region us-east-1"
        );
        assert_eq!(VmImageOrigin::SharedIn.to_string(), "shared in");
        assert_eq!(
            VmImageOrigin::CopiedFrom {
                account: None,
                region: None
            }
            .to_string(),
            "copied from elsewhere"
        );
    }
}
