//! Expanding the paths a user names into the inputs to read: directories recursively,
//! in a stable (sorted) order so that a scan's output never depends on the file
//! system's listing order.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    Stdin,
    File(PathBuf),
}

/// What to tell someone who ran a scan with no path from a terminal: pullwatch is
/// then waiting for records typed or pasted on stdin, which looks like a hang. Nothing
/// when input is piped or redirected, or when a path (even `-`) was named.
pub fn stdin_hint(paths: &[PathBuf], stdin_is_terminal: bool) -> Option<&'static str> {
    (paths.is_empty() && stdin_is_terminal).then_some(
        "pullwatch: reading records from stdin (Ctrl-D to end); give a file or directory to scan it",
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stdin_hint_is_for_a_terminal_and_no_path_only() {
        let hint = stdin_hint(&[], true).expect("a hint on a terminal");
        assert!(hint.contains("stdin") && hint.contains("Ctrl-D"), "{hint}");
        assert_eq!(stdin_hint(&[], false), None);
        assert_eq!(stdin_hint(&[PathBuf::from("-")], true), None);
        assert_eq!(stdin_hint(&[PathBuf::from("logs/")], true), None);
    }
}
