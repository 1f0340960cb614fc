//! Temp files left behind by an eyaml-gpg process that was killed (`SIGKILL`, power loss) in
//! the middle of an atomic write: `.NAME.eyaml-gpg-PID-TIME-N.part` next to the file it was
//! replacing (see `fsutil::stage`). Only names of that exact form, owned by the
//! current user, whose process is no longer running, count as leftovers: a live process's
//! temp file is its own business, and nothing else is ever touched.
//!
//! They hold ciphertexts only (what `recrypt` and `edit` write into a tree never contains a
//! plaintext), so they are removed, not wiped.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A temp file of an eyaml-gpg process that no longer runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leftover {
    /// The temp file.
    pub path: PathBuf,
    /// The process that wrote it.
    pub pid: u32,
}

/// The pid encoded in a suffix made by [`crate::fsutil::unique_suffix`] (`PID-HEXTIME-N`).
pub fn suffix_pid(suffix: &str) -> Option<u32> {
    let mut parts = suffix.split('-');
    let (pid, time, n) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if parts.next().is_some() || !digits(time, 16) || !digits(n, 10) || !digits(pid, 10) {
        return None;
    }
    pid.parse().ok()
}

/// The pid of the process that wrote a temp file named `name`, if the name is of the form
/// eyaml-gpg's atomic writes use.
pub fn temp_file_pid(name: &OsStr) -> Option<u32> {
    let name = name.to_str()?;
    let rest = name.strip_prefix('.')?.strip_suffix(".part")?;
    let at = rest.rfind(".eyaml-gpg-")?;
    if at == 0 {
        return None;
    }
    suffix_pid(&rest[at + ".eyaml-gpg-".len()..])
}

/// Whether a process with this pid runs (one of another user counts as running).
pub fn process_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        // 0 and negative numbers address process groups, not a process.
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(e) => e != nix::errno::Errno::ESRCH,
    }
}

/// The leftovers in `dirs` (not below them): our temp-file names, owned by the current user,
/// of processes that no longer run; in path order.
pub fn find<'a>(dirs: impl IntoIterator<Item = &'a Path>) -> Vec<Leftover> {
    let uid = nix::unistd::geteuid().as_raw();
    let mut out = BTreeSet::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Some(pid) = temp_file_pid(&e.file_name()) else {
                continue;
            };
            let ours = e
                .metadata()
                .is_ok_and(|m| m.is_file() && m.uid() == uid && !e.path().is_symlink());
            if ours && !process_alive(pid) {
                out.insert((e.path(), pid));
            }
        }
    }
    out.into_iter()
        .map(|(path, pid)| Leftover { path, pid })
        .collect()
}

/// The real directories holding `files` (where their temp files are written), each once.
pub fn dirs_of<'a>(files: impl IntoIterator<Item = &'a Path>) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    for f in files {
        let real = std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf());
        if let Some(d) = real.parent() {
            out.insert(d.to_path_buf());
        }
    }
    out.into_iter().collect()
}

/// Removes a leftover; one that is already gone is not an error.
pub fn remove(l: &Leftover) -> Result<()> {
    match std::fs::remove_file(&l.path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&l.path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil;

    #[test]
    fn recognises_only_our_temp_names() {
        let name = |s: &str| temp_file_pid(OsStr::new(s));
        assert_eq!(name(".a.eyaml.eyaml-gpg-123-1f-0.part"), Some(123));
        assert_eq!(name(".x.eyaml-gpg-7-abc-12.part"), Some(7));
        for other in [
            "a.eyaml.eyaml-gpg-123-1f-0.part",
            ".a.eyaml.eyaml-gpg-123-1f-0",
            ".a.eyaml.eyaml-gpg-12x-1f-0.part",
            ".a.eyaml.eyaml-gpg-123-1f-0-9.part",
            ".a.eyaml.eyaml-gpg-123-zz-0.part",
            ".eyaml-gpg-1-1-1.part",
            ".a.part",
        ] {
            assert_eq!(name(other), None, "{other}");
        }
        let staged = fsutil::unique_suffix();
        assert_eq!(suffix_pid(&staged), Some(std::process::id()));
    }

    #[test]
    fn finds_dead_processes_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        let dead_file = dir
            .path()
            .join(format!(".a.eyaml.eyaml-gpg-{dead}-1-0.part"));
        std::fs::write(&dead_file, "x").unwrap();
        std::fs::write(
            dir.path()
                .join(format!(".a.eyaml.eyaml-gpg-{live}-1-0.part")),
            "x",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.part"), "x").unwrap();
        let found = find([dir.path()]);
        assert_eq!(
            found,
            vec![Leftover {
                path: dead_file.clone(),
                pid: dead
            }]
        );
        remove(&found[0]).unwrap();
        remove(&found[0]).unwrap();
        assert!(!dead_file.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
