//! What changed between two baselines, for review: the digests, tag resolutions and VM
//! images one has and the other has not, with moved tags set apart from new ones.
//! Spans that only widened (a digest seen again) are counted, not listed.

use crate::baseline::{Baseline, Seen, VmImage};
use pullwatch_model::Ts;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestEntry {
    pub repository: String,
    pub digest: String,
    pub seen: Seen,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagEntry {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    pub seen: Seen,
    /// The digests the tag had resolved to in the older baseline; empty for a tag the
    /// older baseline did not know (a new tag, not a moved one).
    pub previous: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmEntry {
    pub provider: String,
    pub id: String,
    pub image: VmImage,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// `(older, newer)` when the learning period differs.
    pub learning: Option<(Option<Ts>, Option<Ts>)>,
    pub digests_added: Vec<DigestEntry>,
    pub digests_removed: Vec<DigestEntry>,
    pub tags_added: Vec<TagEntry>,
    pub tags_removed: Vec<TagEntry>,
    pub vm_added: Vec<VmEntry>,
    pub vm_removed: Vec<VmEntry>,
    /// `(older, newer)` for VM images whose owner or origin differ.
    pub vm_changed: Vec<(VmEntry, VmEntry)>,
    /// Entries in both whose first/last-seen span differs.
    pub widened: u64,
}

impl Diff {
    /// No additions, removals or changes (widened spans aside).
    pub fn is_empty(&self) -> bool {
        self.learning.is_none()
            && self.digests_added.is_empty()
            && self.digests_removed.is_empty()
            && self.tags_added.is_empty()
            && self.tags_removed.is_empty()
            && self.vm_added.is_empty()
            && self.vm_removed.is_empty()
            && self.vm_changed.is_empty()
    }

    /// Tag resolutions added to tags the older baseline knew.
    pub fn tags_moved(&self) -> usize {
        self.tags_added
            .iter()
            .filter(|t| !t.previous.is_empty())
            .count()
    }
}

/// Everything in `newer` that `older` lacks, everything `older` has that `newer` lost.
pub fn diff(older: &Baseline, newer: &Baseline) -> Diff {
    let mut d = Diff::default();
    if older.learning_until() != newer.learning_until() {
        d.learning = Some((older.learning_until(), newer.learning_until()));
    }
    for (name, repo) in newer.repositories() {
        for (digest, seen) in &repo.digests {
            match older.digest(name, digest) {
                None => d.digests_added.push(DigestEntry {
                    repository: name.clone(),
                    digest: digest.clone(),
                    seen: *seen,
                }),
                Some(old) if old != *seen => d.widened += 1,
                Some(_) => {}
            }
        }
        for (tag, history) in &repo.tags {
            for (digest, seen) in history {
                match older.tag_resolved_to(name, tag, digest) {
                    None => d.tags_added.push(TagEntry {
                        repository: name.clone(),
                        tag: tag.clone(),
                        digest: digest.clone(),
                        seen: *seen,
                        previous: older
                            .tag_history(name, tag)
                            .into_iter()
                            .map(|o| o.digest)
                            .collect(),
                    }),
                    Some(old) if old != *seen => d.widened += 1,
                    Some(_) => {}
                }
            }
        }
    }
    for (name, repo) in older.repositories() {
        for (digest, seen) in &repo.digests {
            if !newer.digest_known(name, digest) {
                d.digests_removed.push(DigestEntry {
                    repository: name.clone(),
                    digest: digest.clone(),
                    seen: *seen,
                });
            }
        }
        for (tag, history) in &repo.tags {
            for (digest, seen) in history {
                if newer.tag_resolved_to(name, tag, digest).is_none() {
                    d.tags_removed.push(TagEntry {
                        repository: name.clone(),
                        tag: tag.clone(),
                        digest: digest.clone(),
                        seen: *seen,
                        previous: Vec::new(),
                    });
                }
            }
        }
    }
    let entry = |provider: &str, id: &str, image: &VmImage| VmEntry {
        provider: provider.to_string(),
        id: id.to_string(),
        image: image.clone(),
    };
    for (provider, images) in newer.vm_images() {
        for (id, image) in images {
            match older.vm_image(provider, id) {
                None => d.vm_added.push(entry(provider, id, image)),
                Some(old) if old.owner != image.owner || old.origin != image.origin => d
                    .vm_changed
                    .push((entry(provider, id, old), entry(provider, id, image))),
                Some(old) if old.seen() != image.seen() => d.widened += 1,
                Some(_) => {}
            }
        }
    }
    for (provider, images) in older.vm_images() {
        for (id, image) in images {
            if newer.vm_image(provider, id).is_none() {
                d.vm_removed.push(entry(provider, id, image));
            }
        }
    }
    // Earliest first within what was added: the order things happened in.
    d.digests_added.sort_by(|a, b| {
        (a.seen.first_seen, &a.repository, &a.digest).cmp(&(
            b.seen.first_seen,
            &b.repository,
            &b.digest,
        ))
    });
    d.tags_added.sort_by(|a, b| {
        (a.seen.first_seen, &a.repository, &a.tag, &a.digest).cmp(&(
            b.seen.first_seen,
            &b.repository,
            &b.tag,
            &b.digest,
        ))
    });
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::VmImageOrigin;

    const REPO: &str = "docker.io/library/nginx";
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn t(s: i64) -> Ts {
        Ts(s * 1_000_000_000)
    }

    #[test]
    fn additions_moves_and_removals() {
        let mut old = Baseline::new();
        old.record_tag(REPO, "1.27", D1, t(10));
        old.record_tag("ghcr.io/acme/gone", "1", D1, t(11));
        old.record_vm_image("aws", "ami-1", None, None, t(12));
        let mut new = old.clone();
        new.record_tag(REPO, "1.27", D1, t(20)); // widened only
        new.record_tag(REPO, "1.27", D2, t(30)); // moved
        new.record_tag(REPO, "stable", D2, t(31)); // new tag, known digest by now
        new.record_vm_image(
            "aws",
            "ami-1",
            Some("999999999999"),
            Some(VmImageOrigin::SharedIn),
            t(40),
        );
        new.record_vm_image("aws", "ami-2", None, Some(VmImageOrigin::Imported), t(41));
        new.declare_learning_until(t(100));
        // A hand-edited newer file that lost a repository.
        new.repositories.remove("ghcr.io/acme/gone");

        let d = diff(&old, &new);
        assert_eq!(d.learning, Some((None, Some(t(100)))));
        assert_eq!(
            d.digests_added,
            [DigestEntry {
                repository: REPO.into(),
                digest: D2.into(),
                seen: Seen {
                    first_seen: t(30),
                    last_seen: t(31)
                },
            }]
        );
        assert_eq!(d.tags_added.len(), 2);
        assert_eq!(d.tags_added[0].tag, "1.27");
        assert_eq!(d.tags_added[0].previous, [D1]);
        assert_eq!(d.tags_added[1].tag, "stable");
        assert!(d.tags_added[1].previous.is_empty());
        assert_eq!(d.tags_moved(), 1);
        assert_eq!(d.digests_removed.len(), 1);
        assert_eq!(d.digests_removed[0].repository, "ghcr.io/acme/gone");
        assert_eq!(d.tags_removed.len(), 1);
        assert_eq!(d.vm_added.len(), 1);
        assert_eq!(d.vm_added[0].id, "ami-2");
        assert_eq!(d.vm_changed.len(), 1);
        assert_eq!(
            d.vm_changed[0].1.image.origin,
            Some(VmImageOrigin::SharedIn)
        );
        // nginx D1 and its 1.27 resolution were seen again.
        assert_eq!(d.widened, 2);
        assert!(!d.is_empty());
        assert!(diff(&new, &new).is_empty());
        assert_eq!(diff(&new, &new).widened, 0);
    }
}
