//! The git index as `check --staged` and a pre-commit hook see it: the stage-0 regular files
//! (`git ls-files -s -z`) and their staged contents (one `git cat-file --batch` run). Every
//! reply of git is parsed with checks: a malformed one is an [`Error::GitMalformed`], never a panic.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::error::{Error, Result};

/// The index of the repository holding the working directory.
#[derive(Clone, Debug)]
pub struct Index {
    /// The work tree's top directory.
    pub top: PathBuf,
    /// The directory read at, below `top`, as git spells it (`a/b/`, or empty at the top).
    pub prefix: String,
    /// Stage-0 regular files: repository path (`/`-separated) → blob id.
    pub entries: BTreeMap<String, String>,
}

impl Index {
    /// Reads the index of the repository around `dir` (paths are then relative to `dir`).
    pub fn read(dir: &Path) -> Result<Index> {
        let dir = dir.to_string_lossy();
        let top = text(git(&["-C", &dir, "rev-parse", "--show-toplevel"])?)
            .trim()
            .to_string();
        let prefix = text(git(&["-C", &dir, "rev-parse", "--show-prefix"])?)
            .trim()
            .to_string();
        let listing = git(&["-C", &top, "ls-files", "-s", "-z"])?;
        Ok(Index {
            top: PathBuf::from(top),
            prefix,
            entries: parse_ls_files(&listing)?,
        })
    }

    /// Reads the staged contents of repository paths, in order.
    pub fn contents(&self, paths: &[&str]) -> Result<Vec<Vec<u8>>> {
        let ids = paths
            .iter()
            .map(|p| {
                self.entries
                    .get(*p)
                    .cloned()
                    .ok_or_else(|| Error::GitNotInIndex(p.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.top)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::GitNotRunnable(Arc::new(e)))?;
        let request: String = ids.iter().map(|i| format!("{i}\n")).collect();
        let mut input = child.stdin.take().ok_or_else(|| Error::GitFailed {
            command: "cat-file".into(),
            message: "no standard input".into(),
        })?;
        // Written from another thread: git answers while it reads, and a full pipe either way
        // would block both.
        let writer = std::thread::spawn(move || input.write_all(request.as_bytes()));
        let out = child.wait_with_output().map_err(|e| Error::GitFailed {
            command: "cat-file".into(),
            message: e.to_string(),
        })?;
        let _ = writer.join();
        if !out.status.success() {
            return Err(Error::GitFailed {
                command: "cat-file --batch".into(),
                message: out.status.to_string(),
            });
        }
        parse_batch(&out.stdout, &ids)
    }

    /// A repository path as shown to the user: relative to the directory read at.
    pub fn display(&self, repo_path: &str) -> PathBuf {
        match repo_path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => PathBuf::from(rest),
            None => {
                let depth = self.prefix.matches('/').count();
                PathBuf::from(format!("{}{repo_path}", "../".repeat(depth)))
            }
        }
    }

    /// The repository path of a command-line path (relative to the directory read at, or
    /// absolute below the top), lexically normalised.
    pub fn repo_path(&self, p: &Path) -> String {
        match p.strip_prefix(&self.top) {
            Ok(rel) if p.is_absolute() => normalize(&rel.to_string_lossy()),
            _ => normalize(&format!("{}{}", self.prefix, p.to_string_lossy())),
        }
    }
}

fn text(b: Vec<u8>) -> String {
    String::from_utf8_lossy(&b).into_owned()
}

fn git(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::GitNotRunnable(Arc::new(e)))?;
    if !out.status.success() {
        return Err(Error::GitFailed {
            command: args.join(" "),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// Parses `git ls-files -s -z`: `MODE SP ID SP STAGE TAB PATH NUL` records. Only stage-0
/// regular files are kept (links, submodules and conflicted entries are not data files).
pub fn parse_ls_files(listing: &[u8]) -> Result<BTreeMap<String, String>> {
    let mut index = BTreeMap::new();
    for rec in listing.split(|&b| b == 0).filter(|r| !r.is_empty()) {
        let rec = String::from_utf8_lossy(rec);
        let bad = || Error::GitMalformed {
            command: "ls-files",
            message: format!("malformed entry {rec:?}"),
        };
        let (meta, path) = rec.split_once('\t').ok_or_else(bad)?;
        let mut f = meta.split(' ');
        let (Some(mode), Some(id), Some(stage), None) = (f.next(), f.next(), f.next(), f.next())
        else {
            return Err(bad());
        };
        if stage == "0" && matches!(mode, "100644" | "100755") {
            index.insert(path.to_string(), id.to_string());
        }
    }
    Ok(index)
}

/// Parses `git cat-file --batch` output for `ids`: per object `ID SP TYPE SP SIZE LF`, the
/// contents, `LF`.
pub fn parse_batch(data: &[u8], ids: &[String]) -> Result<Vec<Vec<u8>>> {
    let mut objects = Vec::with_capacity(ids.len());
    let mut rest = data;
    for id in ids {
        let short = || Error::GitMalformed {
            command: "cat-file",
            message: format!("short output for {id}"),
        };
        let nl = rest.iter().position(|&b| b == b'\n').ok_or_else(short)?;
        let header = String::from_utf8_lossy(&rest[..nl]);
        let size: usize = match header.split(' ').collect::<Vec<_>>()[..] {
            [got, _, size] if got == id.as_str() => size.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| Error::GitMalformed {
            command: "cat-file",
            message: format!("unexpected reply {header:?} for {id}"),
        })?;
        let body = &rest[nl + 1..];
        let (object, after) = (body.get(..size), body.get(size..));
        match (object, after.and_then(|a| a.first())) {
            (Some(object), Some(b'\n')) => {
                objects.push(object.to_vec());
                rest = &body[size + 1..];
            }
            _ => return Err(short()),
        }
    }
    Ok(objects)
}

/// Joins a repository path lexically (`a/b/../c` = `a/c`).
fn normalize(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_files_keeps_stage_zero_regular_files() {
        let listing = b"100644 aa 0\ta.eyaml\x00120000 bb 0\tlink\x00100644 cc 2\tc.eyaml\x00\
                        100755 dd 0\td/e f.eyaml\x00";
        let index = parse_ls_files(listing).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index["a.eyaml"], "aa");
        assert_eq!(index["d/e f.eyaml"], "dd");
        assert!(matches!(
            parse_ls_files(b"100644 aa\0"),
            Err(Error::GitMalformed { command: "ls-files", message }) if message.contains("malformed")
        ));
    }

    #[test]
    fn batch_replies_are_checked() {
        let ids = vec!["aa".to_string(), "bb".to_string()];
        let good = b"aa blob 3\nabc\nbb blob 0\n\n";
        assert_eq!(
            parse_batch(good, &ids).unwrap(),
            vec![b"abc".to_vec(), vec![]]
        );
        // A size past the end, a missing object, a reply for another id, a missing newline.
        for bad in [
            &b"aa blob 30\nabc\n"[..],
            b"aa blob 3\nabc\nbb missing\n",
            b"aa blob 3\nabc\ncc blob 0\n\n",
            b"aa blob 3\nabcbb blob 0\n\n",
            b"",
        ] {
            assert!(
                matches!(parse_batch(bad, &ids), Err(Error::GitMalformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn paths_normalise() {
        assert_eq!(normalize("a/./b/../c/"), "a/c");
        assert_eq!(normalize("../x"), "x");
    }
}
