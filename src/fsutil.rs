//! File-system helpers shared by the commands that rewrite files: atomic replacement (temp file
//! in the target's directory, fsync, rename), wiping files that held secrets, and the mode a
//! new file gets.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The mode of a file eyaml-gpg creates where nothing says otherwise.
pub const NEW_FILE_MODE: u32 = 0o600;

/// A name no other process uses right now: pid, time and a counter.
pub fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{}-{:x}-{}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Fails unless `path` is a regular file (after following symbolic links): a directory, a
/// FIFO (reading it would block), a device (`/dev/zero` never ends), a socket or a symbolic
/// link loop is an error naming the path and saying what it is; a missing file is the
/// "No such file" I/O error.
pub fn require_regular(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err(Error::NotRegularFile {
                path: path.to_path_buf(),
                kind: "a symbolic link loop",
            })
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        return Err(Error::IsADirectory {
            path: path.to_path_buf(),
        });
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "an unknown kind of file"
    };
    Err(Error::NotRegularFile {
        path: path.to_path_buf(),
        kind,
    })
}

/// The largest file eyaml-gpg reads: 64 MiB, far above any Hiera data file, recipients
/// file, config or plaintext (a value decrypts to at most 16 MiB by default). A bigger file is
/// refused before it is read, so that no command spends minutes or gigabytes on it.
pub const MAX_FILE_SIZE: u64 = 64 << 20;

/// Reads a file's bytes; anything but a regular file (see `require_regular`), a file over
/// [`MAX_FILE_SIZE`], or a missing or unreadable file is an error naming it.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    require_regular(path)?;
    let too_large = |size| Error::TooLarge {
        path: path.to_path_buf(),
        size,
        limit: MAX_FILE_SIZE,
    };
    let file = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    if size > MAX_FILE_SIZE {
        return Err(too_large(size));
    }
    // The file may grow while it is read: never read past the limit.
    let mut out = Vec::with_capacity(size as usize);
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(path, e))?;
    if out.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// Converts bytes read from `path` to text; the error names the file and the offset of the
/// first invalid byte.
pub fn utf8(bytes: Vec<u8>, path: &Path) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Reads a file as UTF-8 text (see [`read_bytes`] and [`utf8`]).
pub fn read_text(path: &Path) -> Result<String> {
    utf8(read_bytes(path)?, path)
}

/// Replaces the file at `path` with `bytes` atomically: a temp file in the same directory is
/// written, flushed to disk and renamed over the target, then the directory is synced. Readers
/// see the old or the new content, never a mix; on any error the target is untouched and the
/// temp file is removed.
///
/// `mode`: `Some(m)` sets permission bits `m`; `None` keeps the existing file's mode (and,
/// where allowed, its owner and group), or uses mode 0600 for a file that does not
/// exist yet. A symbolic link is followed: the file it points to is replaced and the link stays.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<()> {
    stage(path, bytes, mode)?.commit()
}

/// A new content written and flushed next to its target, not yet in place: [`Staged::commit`]
/// renames it over the target; dropping it removes the temp file. Staging every file of a
/// batch before committing any makes a failure (full disk, read-only directory) leave every
/// target untouched, since only the renames remain.
#[derive(Debug)]
pub struct Staged {
    tmp: PathBuf,
    target: PathBuf,
    path: PathBuf,
    dir: PathBuf,
    done: bool,
}

/// Writes `bytes` to a temp file next to `path` (see [`write_atomic`]) without replacing it.
pub fn stage(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<Staged> {
    let target = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(Error::io(path, e)),
    };
    let existing = fs::metadata(&target).ok();
    if existing.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(Error::IsADirectory {
            path: path.to_path_buf(),
        });
    }
    let bits = mode
        .or_else(|| existing.as_ref().map(|m| m.mode() & 0o7777))
        .unwrap_or(NEW_FILE_MODE);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.eyaml-gpg-{}.part", unique_suffix()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        if let (Some(meta), None) = (&existing, mode) {
            // Only root may give a file away; for anyone else it stays theirs, as with an
            // in-place write by the same user.
            let _ = std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid()));
        }
        f.write_all(bytes)?;
        // The open mode is filtered by the umask; set the exact bits.
        f.set_permissions(fs::Permissions::from_mode(bits))?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(Staged {
            tmp,
            target,
            path: path.to_path_buf(),
            dir,
            done: false,
        }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(Error::io(path, e))
        }
    }
}

impl Staged {
    /// Renames the temp file over the target only if the target still holds `expected`
    /// (`None`: does not exist), so a change made by anyone after the caller read the file is
    /// never overwritten ([`Error::ChangedOnDisk`]; the temp file is removed).
    ///
    /// The comparison and the rename happen under an exclusive lock on the target's directory
    /// ([`DirLock`]), which every eyaml-gpg process takes for its own check-and-rename: two
    /// eyaml-gpg processes (a `recrypt` and an `edit`, or two `recrypt`s) can never both
    /// replace the same content. A program that does not take the lock can still slip a write
    /// into the microseconds between the comparison and the rename.
    pub fn commit_if_unchanged(self, expected: Option<&[u8]>) -> Result<()> {
        let _lock = DirLock::acquire(&self.dir)?;
        let now = match fs::symlink_metadata(&self.target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&self.path, e)),
            // Whatever replaced the file (a directory, a FIFO, a link) is not what was read,
            // and reading it could block.
            Ok(m) if !m.is_file() => return Err(Error::ChangedOnDisk(self.path.clone())),
            Ok(_) => Some(fs::read(&self.target).map_err(|e| Error::io(&self.path, e))?),
        };
        if now.as_deref() != expected {
            return Err(Error::ChangedOnDisk(self.path.clone()));
        }
        self.commit()
    }

    /// Renames the temp file over the target and syncs the directory.
    pub fn commit(mut self) -> Result<()> {
        fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.path, e))?;
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
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// An exclusive advisory lock (`flock`) on a directory, held while a file in it is compared
/// and replaced; released when dropped. Locking the directory itself leaves no lock file
/// behind. Where directories cannot be locked (some network file systems) the comparison
/// still runs, unlocked.
#[derive(Debug)]
pub struct DirLock {
    _dir: Option<File>,
}

/// How long to wait for another eyaml-gpg process to finish its check-and-rename in the same
/// directory (it holds the lock for a few milliseconds; only a stopped process holds it
/// longer).
const DIR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl DirLock {
    /// Takes the lock on `dir`, waiting up to 30 s for another holder.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let Ok(f) = File::open(dir) else {
            return Ok(DirLock { _dir: None });
        };
        let start = std::time::Instant::now();
        loop {
            match f.try_lock() {
                Ok(()) => return Ok(DirLock { _dir: Some(f) }),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < DIR_LOCK_WAIT => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::io(
                        dir,
                        std::io::Error::other(
                            "another eyaml-gpg process has held the directory lock for 30 s \
                             (is one stopped?)",
                        ),
                    ))
                }
                // No locking here (e.g. a network file system): compare unlocked.
                Err(fs::TryLockError::Error(_)) => return Ok(DirLock { _dir: None }),
            }
        }
    }
}

/// Test seam, in debug builds only: when `EYAML_GPG_TEST_PAUSE_BEFORE_RENAME` names a FIFO,
/// the process opens it and reads it to its end before the final check-and-rename of a write,
/// so a test can change a file exactly in the window between the first check and the rename
/// (it opens the FIFO for writing, which succeeds once the process waits there, changes the
/// file, and closes it). Release builds contain no trace of it.
pub(crate) fn test_pause_before_rename() {
    #[cfg(debug_assertions)]
    if let Some(fifo) = std::env::var_os("EYAML_GPG_TEST_PAUSE_BEFORE_RENAME") {
        use std::io::Read;
        if let Ok(mut f) = File::open(fifo) {
            let _ = f.read_to_end(&mut Vec::new());
        }
    }
}

/// Overwrites a regular file with zeros (its whole length), syncs it and removes it. A file
/// that is already gone is not an error.
pub fn wipe_file(path: &Path) -> std::io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_file() {
        if let Ok(mut f) = OpenOptions::new().write(true).open(path) {
            let zeros = vec![0u8; 64 * 1024];
            let mut left = meta.len();
            while left > 0 {
                let n = left.min(zeros.len() as u64) as usize;
                if f.write_all(&zeros[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
            let _ = f.sync_all();
        }
    }
    fs::remove_file(path)
}

/// Wipes every file below `dir` (editors leave swap and backup files next to the file they
/// edit) and removes the directory.
pub fn wipe_dir(dir: &Path) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => wipe_dir(&p)?,
            _ => wipe_file(&p)?,
        }
    }
    fs::remove_dir(dir)
}

/// The mode for a new file in `dir`: [`NEW_FILE_MODE`], plus the directory's group read and
/// write bits when the directory is setgid (a directory shared by a group says so that way).
/// Others never get access.
pub fn new_file_mode(dir: &Path) -> u32 {
    match fs::metadata(dir) {
        Ok(m) if m.mode() & 0o2000 != 0 => NEW_FILE_MODE | (m.mode() & 0o060),
        _ => NEW_FILE_MODE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_mode_and_follows_links() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.eyaml");
        fs::write(&f, "old").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&f, b"new", None).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(fs::metadata(&f).unwrap().mode() & 0o7777, 0o640);

        let link = dir.path().join("link.eyaml");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        write_atomic(&link, b"via link", None).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read(&f).unwrap(), b"via link");

        let n = dir.path().join("new.eyaml");
        write_atomic(&n, b"x", None).unwrap();
        assert_eq!(fs::metadata(&n).unwrap().mode() & 0o7777, 0o600);
        write_atomic(&n, b"y", Some(0o644)).unwrap();
        assert_eq!(fs::metadata(&n).unwrap().mode() & 0o7777, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temp file left: {names:?}");
    }

    #[test]
    fn atomic_write_failure_leaves_target() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("gone");
        let err = write_atomic(&sub.join("x.eyaml"), b"x", None).unwrap_err();
        assert!(err.to_string().contains("x.eyaml"), "{err}");
        assert!(write_atomic(dir.path(), b"x", None).is_err());
    }

    #[test]
    fn a_dropped_stage_leaves_the_target_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.eyaml");
        std::fs::write(&p, "old").unwrap();
        let staged = stage(&p, b"new", None).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        drop(staged);
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn wipes_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("s");
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("a"), "secret").unwrap();
        fs::write(d.join("sub/b"), "secret").unwrap();
        wipe_dir(&d).unwrap();
        assert!(!d.exists());
        wipe_dir(&d).unwrap();
    }

    #[test]
    fn setgid_dirs_share_with_group() {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o2770)).unwrap();
        assert_eq!(new_file_mode(dir.path()), 0o660);
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(new_file_mode(dir.path()), 0o600);
    }
}
