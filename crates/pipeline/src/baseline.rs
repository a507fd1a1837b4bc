//! The baseline's side of a scan or a service: loading the file into the engine's
//! view before the first record, and recording what was seen after the last.

use crate::error::PipelineError;
use pullwatch_engine::provenance::{Learning, Observations, ProvenanceView, VmOrigin};
use pullwatch_model::time::Dur;
use pullwatch_report::escape::terminal;
use pullwatch_state::{Baseline, MergeReport, StateError, Store, VmImageOrigin};
use std::fmt::Write as _;
use std::path::Path;

/// The baseline a scan judges by and, with `--update-baseline`, records into.
pub struct ScanBaseline {
    store: Store,
    baseline: Baseline,
    learning: Learning,
    /// Said on stderr before the scan (an ignored `--learning-period`).
    pub notes: Vec<String>,
}

/// A baseline that cannot be used is the user's to fix.
pub fn usage(e: StateError) -> PipelineError {
    PipelineError::Usage(match e {
        StateError::Missing { path } => format!(
            "{}: no such baseline (create it with `pullwatch baseline learn` or `pullwatch scan --update-baseline`)",
            path.display()
        ),
        other => other.to_string(),
    })
}

impl ScanBaseline {
    /// Loads the baseline. Without `update` it must exist (a misspelt path must not
    /// pass for an empty baseline); with `update` a missing file is a fresh baseline.
    /// A learning period is declared only on a fresh baseline: on one that has a
    /// period, that period stands; on one already holding sightings, there is nothing
    /// left to learn from scratch.
    pub fn open(
        path: &Path,
        update: bool,
        learning_period: Option<Dur>,
    ) -> Result<ScanBaseline, PipelineError> {
        let store = Store::new(path);
        let baseline = if update {
            store.load_or_new()
        } else {
            store.load_existing()
        }
        .map_err(usage)?;
        let mut notes = Vec::new();
        let learning = match (baseline.learning_until(), learning_period) {
            (Some(u), _) => Learning::Until(u),
            (None, Some(d)) if baseline.is_empty() => Learning::FromFirstEvent(d),
            (None, Some(_)) => {
                notes.push(format!(
                    "{}: --learning-period ignored: the baseline already holds sightings and declared no learning period",
                    path.display()
                ));
                Learning::None
            }
            (None, None) => Learning::None,
        };
        Ok(ScanBaseline {
            store,
            baseline,
            learning,
            notes,
        })
    }

    pub fn view(&self) -> ProvenanceView {
        let mut v = ProvenanceView::new();
        for (name, repo) in self.baseline.repositories() {
            for digest in repo.digests.keys() {
                v.add_digest(name, digest);
            }
            for (tag, history) in &repo.tags {
                for digest in history.keys() {
                    v.add_tag_digest(name, tag, digest);
                }
            }
        }
        for (provider, images) in self.baseline.vm_images() {
            for id in images.keys() {
                v.add_vm_image(provider, id);
            }
        }
        v.set_learning(self.learning);
        v
    }

    /// Merges what the scan saw into the file (re-read first, so that a run that
    /// finished meanwhile keeps its sightings). Returns the line to show.
    pub fn record(&self, o: &Observations) -> Result<String, StateError> {
        let seen = as_baseline(o);
        let report = self.store.update(|b| b.merge(&seen))?;
        Ok(updated_line(self.store.path(), &report))
    }
}

/// What a scan observed, as a baseline to merge into the stored one.
pub fn as_baseline(o: &Observations) -> Baseline {
    let mut seen = Baseline::new();
    for d in &o.digests {
        seen.record_digest(&d.repository, &d.digest, d.first);
        seen.record_digest(&d.repository, &d.digest, d.last);
    }
    for t in &o.tags {
        seen.record_tag(&t.repository, &t.tag, &t.digest, t.first);
        seen.record_tag(&t.repository, &t.tag, &t.digest, t.last);
    }
    for vm in &o.vm_images {
        let origin = vm.origin.as_ref().map(|o| match o {
            VmOrigin::CreatedHere => VmImageOrigin::CreatedHere,
            VmOrigin::CopiedFrom { region } => VmImageOrigin::CopiedFrom {
                account: None,
                region: region.clone(),
            },
            VmOrigin::Imported => VmImageOrigin::Imported,
            VmOrigin::SharedIn => VmImageOrigin::SharedIn,
        });
        for at in [vm.first, vm.last] {
            seen.record_vm_image(
                &vm.provider,
                &vm.id,
                vm.owner.as_deref(),
                origin.clone(),
                at,
            );
        }
    }
    if let Some(u) = o.learning_until {
        seen.declare_learning_until(u);
    }
    seen
}

/// The line that tells the user what an update added.
pub fn updated_line(path: &Path, r: &MergeReport) -> String {
    let mut s = format!(
        "pullwatch: baseline {} updated: {} digests added, {} tag resolutions added ({} moved tags)",
        terminal(&path.display().to_string()),
        r.digests_added,
        r.tag_resolutions_added,
        r.tags_moved
    );
    if r.vm_images_added > 0 {
        let _ = write!(s, ", {} VM images added", r.vm_images_added);
    }
    if r.learning_declared {
        s.push_str(", learning period declared");
    }
    s
}
