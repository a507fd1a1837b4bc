//! Expanding the paths a user names into the inputs to read: directories recursively,
//! in a stable (sorted) order so that a scan's output never depends on the file
//! system's listing order.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    Stdin,
    File(PathBuf),
}

pub fn expand(paths: &[PathBuf]) -> Result<Vec<InputSpec>, String> {
    if paths.is_empty() {
        return Ok(vec![InputSpec::Stdin]);
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(InputSpec::Stdin);
            continue;
        }
        let meta = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out).map_err(|e| format!("{}: {e}", p.display()))?;
        } else {
            out.push(InputSpec::File(p.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<InputSpec>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Hidden files and documentation next to data are not telemetry.
        if name.starts_with('.') || name.ends_with(".md") {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if p.is_file() {
            out.push(InputSpec::File(p));
        }
    }
    Ok(())
}
