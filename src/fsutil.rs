//! File system helpers: writing a file atomically, so that a reader (or a crash) sees either
//! the old content or the new one, never a half-written file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Replaces the content of `path` with `bytes` atomically: the bytes go to a temp file in the
/// same directory, which is flushed to disk and renamed over the target. An existing file's
/// permissions (and, where allowed, owner and group) are kept; a symlink is followed, so the
/// file it points to is replaced, not the link. On any error the target is left as it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    stage(path, bytes)?.commit()
}

/// A new content written and flushed next to its target, not yet in place: [`Staged::commit`]
/// renames it over the target; dropping it removes the temp file. Staging every file of a
/// batch before committing any makes a failure (full disk, read-only directory) leave every
/// target untouched, since only the renames remain.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    dir: PathBuf,
    done: bool,
}

/// Writes `bytes` to a temp file next to `path` (see [`write_atomic`]) without replacing it.
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Staged> {
    let target = real_target(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let old = std::fs::metadata(&target).ok();
    let (tmp_path, mut tmp) = create_temp(&dir, &target)?;
    let staged = Staged {
        tmp: tmp_path,
        target,
        dir,
        done: false,
    };
    let result = (|| -> std::io::Result<()> {
        if let Some(meta) = &old {
            tmp.set_permissions(meta.permissions())?;
            keep_owner(&tmp, meta);
        }
        tmp.write_all(bytes)?;
        tmp.sync_all()
    })();
    result.map_err(|e| Error::io(&staged.target, e))?;
    Ok(staged)
}

impl Staged {
    /// The file that [`Staged::commit`] replaces.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temp file over the target.
    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        self.done = true;
        // The rename is durable only once the directory itself is on disk.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// The file a write to `path` should replace: the end of a symlink chain, else `path`.
fn real_target(path: &Path) -> PathBuf {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().unwrap_or(path.to_path_buf()),
        _ => path.to_path_buf(),
    }
}

/// Creates a new, exclusive temp file next to `target` (`.NAME.XXXX.part`).
fn create_temp(dir: &Path, target: &Path) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut last = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let candidate = dir.join(format!(
            ".{name}.{}-{nanos:08x}-{n}.part",
            std::process::id()
        ));
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Readable by the owner only until the target's permissions are copied over.
            opts.mode(0o600);
        }
        match opts.open(&candidate) {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Error::io(target, e)),
        }
    }
    Err(Error::io(
        target,
        last.unwrap_or_else(|| std::io::Error::other("cannot create a temp file")),
    ))
}

#[cfg(unix)]
fn keep_owner(file: &File, meta: &std::fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    // Only root may give a file away; for everyone else the file stays theirs, as with an
    // in-place write by the same user.
    let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _meta: &std::fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.eyaml");
        std::fs::write(&p, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temp file left behind");
    }

    #[cfg(unix)]
    #[test]
    fn follows_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.eyaml");
        let link = dir.path().join("link.eyaml");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
    }

    #[test]
    fn a_dropped_stage_leaves_the_target_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.eyaml");
        std::fs::write(&p, "old").unwrap();
        let staged = stage(&p, b"new").unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        drop(staged);
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nope/a.eyaml");
        let e = write_atomic(&p, b"x").unwrap_err();
        assert!(e.to_string().contains("a.eyaml"), "{e}");
    }
}
