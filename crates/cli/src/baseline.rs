//! `pullwatch baseline …`: learning from history, and printing what a baseline holds
//! and what changed between two. The scan side (loading, recording) is the pipeline's.

use pullwatch_decode::DecodeStats;
use pullwatch_engine::provenance::{Provenance, ProvenanceView};
use pullwatch_model::time::Dur;
use pullwatch_model::Ts;
use pullwatch_pipeline::baseline::{as_baseline, updated_line, usage};
use pullwatch_pipeline::merge::{MergeOptions, Merged};
use pullwatch_pipeline::PipelineError;
use pullwatch_report::escape::terminal;
use pullwatch_state::{diff, Store, FORMAT_VERSION};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// `pullwatch baseline learn`: records every image digest and tag resolution the
/// inputs name, in one update of the baseline (created when missing).
pub fn learn(path: &Path, paths: &[PathBuf]) -> Result<(), PipelineError> {
    let store = Store::new(path);
    // A damaged baseline is reported before any input is read.
    store.load_or_new().map_err(usage)?;
    let mut stats = DecodeStats::default();
    let mut errors = Vec::new();
    let mut inputs = Merged::open(paths, &MergeOptions::sequential(), &mut stats, &mut errors)?;
    // Learning notes exactly what a scan with a baseline would note.
    let mut prov = Provenance::new(ProvenanceView::new(), Dur(i64::MAX));
    let mut events = 0u64;
    while let Some(ev) = inputs.next_event(&mut stats, &mut errors) {
        events += 1;
        prov.observe(&ev);
    }
    let learned = as_baseline(&prov.observations());
    let report = store.update(|b| b.merge(&learned))?;
    let mut s = String::new();
    for e in &errors {
        let _ = writeln!(s, "pullwatch: input error: {}", terminal(e));
    }
    let records: u64 = stats.formats.values().map(|c| c.records).sum();
    let c = learned.counts();
    let _ = writeln!(
        s,
        "pullwatch: learned from {} inputs, {records} records ({} skipped), {events} events: {} digests in {} repositories, {} tag resolutions",
        stats.inputs,
        stats.skipped_total(),
        c.digests,
        c.repositories,
        c.tag_resolutions
    );
    let _ = writeln!(s, "{}", updated_line(store.path(), &report));
    eprint!("{s}");
    Ok(())
}

fn span(first: Ts, last: Ts) -> String {
    if first == last {
        format!("seen {first}")
    } else {
        format!("seen {first} .. {last}")
    }
}

/// `pullwatch baseline show`: everything the baseline holds, repository by repository.
pub fn show(path: &Path) -> Result<(), PipelineError> {
    let b = Store::new(path).load_existing().map_err(usage)?;
    let mut s = String::new();
    let c = b.counts();
    let _ = writeln!(
        s,
        "baseline {} (format version {FORMAT_VERSION})",
        terminal(&path.display().to_string())
    );
    let learning = b
        .learning_until()
        .map_or("none".to_string(), |u| format!("until {u}"));
    let _ = writeln!(s, "learning period: {learning}");
    let _ = writeln!(
        s,
        "{} repositories, {} digests, {} tags ({} resolutions), {} VM images",
        c.repositories, c.digests, c.tags, c.tag_resolutions, c.vm_images
    );
    for (name, repo) in b.repositories() {
        let _ = writeln!(s, "\n{}", terminal(name));
        for (digest, seen) in &repo.digests {
            let _ = writeln!(
                s,
                "  digest {}  {}",
                terminal(digest),
                span(seen.first_seen, seen.last_seen)
            );
        }
        for tag in repo.tags.keys() {
            let _ = writeln!(s, "  tag {}", terminal(tag));
            for (i, r) in b.tag_history(name, tag).iter().enumerate() {
                let _ = writeln!(
                    s,
                    "    {} {}  {}",
                    if i == 0 { "  " } else { "->" },
                    terminal(&r.digest),
                    span(r.first_seen, r.last_seen)
                );
            }
        }
    }
    if c.vm_images > 0 {
        let _ = writeln!(s, "\nVM images");
        for (provider, images) in b.vm_images() {
            for (id, image) in images {
                let _ = writeln!(
                    s,
                    "  {} {}  owner {}, origin {}, {}",
                    terminal(provider),
                    terminal(id),
                    image.owner.as_deref().map_or("unknown".into(), terminal),
                    image
                        .origin
                        .as_ref()
                        .map_or("unknown".into(), |o| terminal(&o.to_string())),
                    span(image.first_seen, image.last_seen)
                );
            }
        }
    }
    print_out(&s)
}

/// `pullwatch baseline diff`: what `newer` holds that `older` did not, and the reverse.
pub fn diff_files(older: &Path, newer: &Path) -> Result<(), PipelineError> {
    let a = Store::new(older).load_existing().map_err(usage)?;
    let b = Store::new(newer).load_existing().map_err(usage)?;
    let d = diff(&a, &b);
    let mut s = String::new();
    if let Some((was, now)) = d.learning {
        let show = |t: Option<Ts>| t.map_or("none".to_string(), |t| format!("until {t}"));
        let _ = writeln!(s, "~ learning period: {} -> {}", show(was), show(now));
    }
    for e in &d.digests_added {
        let _ = writeln!(
            s,
            "+ digest {}@{}  {}",
            terminal(&e.repository),
            terminal(&e.digest),
            span(e.seen.first_seen, e.seen.last_seen)
        );
    }
    for t in &d.tags_added {
        let what = if t.previous.is_empty() {
            "new tag".to_string()
        } else {
            let was: Vec<String> = t.previous.iter().map(|p| terminal(p)).collect();
            format!("moved; was {}", was.join(", "))
        };
        let _ = writeln!(
            s,
            "+ tag    {}:{} -> {}  {}  ({what})",
            terminal(&t.repository),
            terminal(&t.tag),
            terminal(&t.digest),
            span(t.seen.first_seen, t.seen.last_seen)
        );
    }
    for e in &d.digests_removed {
        let _ = writeln!(
            s,
            "- digest {}@{}",
            terminal(&e.repository),
            terminal(&e.digest)
        );
    }
    for t in &d.tags_removed {
        let _ = writeln!(
            s,
            "- tag    {}:{} -> {}",
            terminal(&t.repository),
            terminal(&t.tag),
            terminal(&t.digest)
        );
    }
    let vm = |e: &pullwatch_state::diff::VmEntry| {
        format!(
            "{} {}  owner {}, origin {}",
            terminal(&e.provider),
            terminal(&e.id),
            e.image.owner.as_deref().map_or("unknown".into(), terminal),
            e.image
                .origin
                .as_ref()
                .map_or("unknown".into(), |o| terminal(&o.to_string()))
        )
    };
    for e in &d.vm_added {
        let _ = writeln!(s, "+ vm     {}", vm(e));
    }
    for (was, now) in &d.vm_changed {
        let _ = writeln!(s, "~ vm     {}  (was {})", vm(now), vm(was));
    }
    for e in &d.vm_removed {
        let _ = writeln!(s, "- vm     {}", vm(e));
    }
    let _ = writeln!(
        s,
        "{} digests added, {} removed; {} tag resolutions added ({} moved tags), {} removed; {} VM images added, {} changed, {} removed; {} entries seen again",
        d.digests_added.len(),
        d.digests_removed.len(),
        d.tags_added.len(),
        d.tags_moved(),
        d.tags_removed.len(),
        d.vm_added.len(),
        d.vm_changed.len(),
        d.vm_removed.len(),
        d.widened
    );
    print_out(&s)
}

fn print_out(s: &str) -> Result<(), PipelineError> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .map_err(PipelineError::Output)
}
