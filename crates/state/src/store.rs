//! The baseline file: read whole, replaced whole, never written in place.
//!
//! An update writes the complete new document to a temporary file in the same
//! directory, flushes it to disk (`fsync`), renames it over the baseline, and flushes
//! the directory. A rename within one file system is atomic, so whoever opens the
//! baseline — during an update, or after pullwatch was killed or the machine lost
//! power at any point of one — finds either the previous document or the new one,
//! complete, never a mixture. A killed update can at worst leave its temporary file
//! (`.NAME.PID-N.tmp`) behind, which is never read and can be deleted.
//!
//! Updates re-read the file and merge into what is there, so two runs one after the
//! other never lose each other's sightings. Two updates racing at the same instant are
//! not locked against each other: each leaves a complete baseline, and the sightings
//! of the one that renamed first are missing until they are seen again.

use crate::baseline::Baseline;
use crate::format::{self, FormatError};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Format { path: PathBuf, error: FormatError },
    #[error("{}: no such baseline", path.display())]
    Missing { path: PathBuf },
}

/// A baseline file, named by its path. Nothing is held open between calls.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(path: impl Into<PathBuf>) -> Store {
        Store { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The baseline, or `None` when the file does not exist yet. A file that exists but
    /// is not a complete baseline of this format version is an error: treating it as
    /// empty would make every image look new, and the next update would overwrite it.
    pub fn load(&self) -> Result<Option<Baseline>, StateError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StateError::Io {
                    path: self.path.clone(),
                    error,
                })
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| StateError::Format {
            path: self.path.clone(),
            error: FormatError::Damaged("not UTF-8 text".into()),
        })?;
        format::decode(&text)
            .map(Some)
            .map_err(|error| StateError::Format {
                path: self.path.clone(),
                error,
            })
    }

    /// The baseline, which must exist.
    pub fn load_existing(&self) -> Result<Baseline, StateError> {
        self.load()?.ok_or_else(|| StateError::Missing {
            path: self.path.clone(),
        })
    }

    /// The baseline, or a fresh empty one when the file does not exist yet.
    pub fn load_or_new(&self) -> Result<Baseline, StateError> {
        Ok(self.load()?.unwrap_or_default())
    }

    /// Applies `change` to the current baseline (a fresh one when there is none) and
    /// replaces the file with the result: one atomic replacement per update.
    pub fn update<R>(&self, change: impl FnOnce(&mut Baseline) -> R) -> Result<R, StateError> {
        let mut b = self.load_or_new()?;
        let r = change(&mut b);
        self.save(&b)?;
        Ok(r)
    }

    /// Replaces the file with `b` (see the module documentation for how).
    pub fn save(&self, b: &Baseline) -> Result<(), StateError> {
        let io = |error| StateError::Io {
            path: self.path.clone(),
            error,
        };
        // Replacing a symbolic link would cut it; the file it points at is replaced.
        let target = match fs::symlink_metadata(&self.path) {
            Ok(m) if m.file_type().is_symlink() => fs::canonicalize(&self.path).map_err(io)?,
            _ => self.path.clone(),
        };
        let name = target.file_name().ok_or_else(|| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a baseline path must name a file",
            ))
        })?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        crate::atomic::replace(&target, &dir, &name.to_string_lossy(), |w| {
            format::encode_to(b, w)
        })
        .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pullwatch_model::Ts;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    const CHILD_ENV: &str = "PULLWATCH_STATE_CRASH_CHILD";
    const LOOP_REPO: &str = "registry.example/loop";
    const BALLAST_REPO: &str = "registry.example/ballast";
    const BALLAST: u64 = 1000;

    fn digest(n: u64) -> String {
        format!("sha256:{n:064x}")
    }

    #[test]
    fn missing_file_is_none_and_update_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("b.json"));
        assert!(store.load().unwrap().is_none());
        assert!(matches!(
            store.load_existing(),
            Err(StateError::Missing { .. })
        ));
        let added = store
            .update(|b| b.record_digest(LOOP_REPO, &digest(1), Ts(5)))
            .unwrap();
        assert_eq!(added, crate::Sighting::New);
        let b = store.load_existing().unwrap();
        assert!(b.digest_known(LOOP_REPO, &digest(1)));
        // Nothing but the baseline is left in the directory.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["b.json"]);
    }

    #[test]
    fn a_damaged_baseline_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.json");
        let half = r#"{"format":"pullwatch-baseline","version":1,"repositories":{"docker.io/x/"#;
        fs::write(&path, half).unwrap();
        let store = Store::new(&path);
        let err = store
            .update(|b| b.declare_learning_until(Ts(1)))
            .unwrap_err();
        assert!(
            matches!(
                &err,
                StateError::Format {
                    error: FormatError::Damaged(_),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().starts_with(&path.display().to_string()));
        assert_eq!(fs::read_to_string(&path).unwrap(), half);
        fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            store.load(),
            Err(StateError::Format { error: FormatError::Damaged(m), .. }) if m == "not UTF-8 text"
        ));
    }

    #[cfg(unix)]
    #[test]
    fn replacing_keeps_symlinks_and_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        Store::new(&real).save(&Baseline::new()).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        Store::new(&link)
            .update(|b| b.record_digest(LOOP_REPO, &digest(7), Ts(1)))
            .unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(Store::new(&real)
            .load_existing()
            .unwrap()
            .digest_known(LOOP_REPO, &digest(7)));
        let mode = fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// Child side of `survives_kill_during_update`: updates the baseline in a loop,
    /// each update adding the next digest and moving the `rolling` tag to it, until
    /// it is killed.
    #[test]
    #[ignore = "run by survives_kill_during_update in a child process"]
    fn crash_child() {
        let Some(path) = std::env::var_os(CHILD_ENV) else {
            eprintln!("crash_child: only runs as the child of survives_kill_during_update");
            return;
        };
        let store = Store::new(PathBuf::from(path));
        loop {
            let step = store.update(|b| {
                let n = b
                    .repository(LOOP_REPO)
                    .map_or(0, |r| r.digests.len() as u64);
                b.record_tag(LOOP_REPO, "rolling", &digest(n), Ts(n as i64));
            });
            if step.is_err() {
                std::process::exit(3);
            }
        }
    }

    /// How many loop updates the baseline holds, after checking that it holds exactly
    /// the result of that many complete updates and nothing half-done.
    fn completed_updates(b: &Baseline) -> u64 {
        let ballast = b.repository(BALLAST_REPO).expect("ballast kept");
        assert_eq!(ballast.digests.len() as u64, BALLAST);
        let Some(repo) = b.repository(LOOP_REPO) else {
            return 0;
        };
        let n = repo.digests.len() as u64;
        let want: Vec<String> = (0..n).map(digest).collect();
        let have: Vec<&String> = repo.digests.keys().collect();
        assert_eq!(have, want.iter().collect::<Vec<_>>());
        let history: Vec<String> = b
            .tag_history(LOOP_REPO, "rolling")
            .into_iter()
            .map(|r| r.digest)
            .collect();
        assert_eq!(history, want);
        n
    }

    #[test]
    fn survives_kill_during_update() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        let store = Store::new(&path);
        // Ballast makes every update write over a hundred kilobytes, so that kills land
        // inside the write as well as between updates.
        let mut b = Baseline::new();
        for i in 0..BALLAST {
            b.record_digest(BALLAST_REPO, &digest(i), Ts(i as i64));
        }
        store.save(&b).unwrap();

        let exe = std::env::current_exe().unwrap();
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        eprintln!("survives_kill_during_update: seed {seed}");
        let (mut last, mut interrupted, mut rounds) = (0u64, 0u32, 0u32);
        // Until enough kills have landed inside a write (a temporary file was left
        // behind), with a bound so a very fast disk cannot loop forever.
        while rounds < 30 || (interrupted < 3 && rounds < 300) {
            rounds += 1;
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut child = Command::new(&exe)
                .args(["--ignored", "--exact", "store::tests::crash_child"])
                .env(CHILD_ENV, &path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            // Longer while no update has completed yet, for a slow, busy machine.
            let spread = if last == 0 && rounds > 5 { 600 } else { 120 };
            std::thread::sleep(Duration::from_millis(10 + seed % spread));
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(!status.success(), "child ended on its own: {status}");

            let b = store
                .load()
                .unwrap_or_else(|e| panic!("round {rounds}: {e}"))
                .expect("baseline present");
            let n = completed_updates(&b);
            assert!(n >= last, "round {rounds}: went back from {last} to {n}");
            last = n;
            for e in fs::read_dir(dir.path()).unwrap() {
                let p = e.unwrap().path();
                if p != path {
                    assert!(p.to_string_lossy().ends_with(".tmp"), "{}", p.display());
                    interrupted += 1;
                    fs::remove_file(p).unwrap();
                }
            }
        }
        eprintln!(
            "survives_kill_during_update: {rounds} kills, {interrupted} inside a write, {last} updates completed"
        );
        assert!(last > 0, "the child never completed an update");
        assert!(interrupted > 0, "no kill landed inside a write");
    }
}
