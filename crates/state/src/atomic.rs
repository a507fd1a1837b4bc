//! Replacing a file so that whoever opens it — meanwhile, or after a crash or `kill -9`
//! at any moment — finds the previous content or the new one, complete, never a
//! mixture: the new content goes to a temporary file in the same directory, is flushed
//! to disk, renamed over the target, and the directory is flushed. The baseline and the
//! live service's checkpoints are both written this way.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces `target` (named `name`, in `dir`) with what `write` writes. The file keeps
/// the permissions it had (it may be kept private). A killed write can leave a
/// `.NAME.PID-N.tmp` file behind, which is never read.
pub fn replace(
    target: &Path,
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let (tmp, file) = create_temp(dir, name)?;
    let written = write_and_rename(file, write, &tmp, target, dir);
    if written.is_err() {
        // Gone already when the rename happened and only the directory flush failed.
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn create_temp(dir: &Path, name: &str) -> std::io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.{pid}-{n}.tmp"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            // Left by a killed process that had the same pid: try the next name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1_000_000 => continue,
            Err(e) => return Err(e),
        }
    }
}

fn write_and_rename(
    file: File,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    tmp: &Path,
    target: &Path,
    dir: &Path,
) -> std::io::Result<()> {
    {
        let mut w = BufWriter::new(&file);
        write(&mut w)?;
        w.flush()?;
    }
    if let Ok(meta) = fs::metadata(target) {
        file.set_permissions(meta.permissions())?;
    }
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, target)?;
    sync_dir(dir)
}

/// Makes the rename itself durable: without this, a power loss right after it can
/// bring back the old directory entry.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}
