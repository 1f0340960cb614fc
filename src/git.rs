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
        repo_path(&self.top, &self.prefix, p)
    }
}

/// The top directory and prefix of the repository around `dir`, or
/// [`Error::NotAGitRepository`].
pub fn locate(dir: &Path) -> Result<(PathBuf, String)> {
    let d = dir.to_string_lossy();
    let top = git(&["-C", &d, "rev-parse", "--show-toplevel"]).map_err(|e| match e {
        Error::GitFailed { .. } => Error::NotAGitRepository {
            path: dir.to_path_buf(),
        },
        e => e,
    })?;
    let prefix = text(git(&["-C", &d, "rev-parse", "--show-prefix"])?)
        .trim()
        .to_string();
    Ok((PathBuf::from(text(top).trim()), prefix))
}

/// The repository path of `p` given at a directory `prefix` below `top` (see
/// [`Index::repo_path`]).
pub fn repo_path(top: &Path, prefix: &str, p: &Path) -> String {
    match p.strip_prefix(top) {
        Ok(rel) if p.is_absolute() => normalize(&rel.to_string_lossy()),
        _ => normalize(&format!("{prefix}{}", p.to_string_lossy())),
    }
}

/// The commits where a shallow clone's history stops (empty for a full clone).
pub fn shallow_boundary(top: &Path) -> Result<Vec<String>> {
    let t = top.to_string_lossy();
    let shallow = text(git(&["-C", &t, "rev-parse", "--is-shallow-repository"])?);
    if shallow.trim() != "true" {
        return Ok(Vec::new());
    }
    let file = text(git(&["-C", &t, "rev-parse", "--git-path", "shallow"])?);
    let file = top.join(file.trim());
    let list = std::fs::read_to_string(&file).map_err(|e| Error::io(&file, e))?;
    Ok(list.lines().map(str::to_string).collect())
}

/// The commits reachable from `HEAD` (after `since` when given, `since` itself first),
/// parents before children.
pub fn rev_list(top: &Path, since: Option<&str>) -> Result<Vec<String>> {
    let t = top.to_string_lossy();
    if git(&["-C", &t, "rev-parse", "--verify", "-q", "HEAD"]).is_err() {
        // No commit yet: no history.
        return Ok(Vec::new());
    }
    let range = match since {
        Some(rev) => format!("{rev}..HEAD"),
        None => "HEAD".to_string(),
    };
    let mut out = Vec::new();
    if let Some(rev) = since {
        let id = text(git(&[
            "-C",
            &t,
            "rev-parse",
            "--verify",
            &format!("{rev}^{{commit}}"),
        ])?);
        out.push(id.trim().to_string());
    }
    let listing = text(git(&[
        "-C",
        &t,
        "rev-list",
        "--topo-order",
        "--reverse",
        &range,
    ])?);
    out.extend(listing.lines().map(str::to_string));
    Ok(out)
}

/// A commit as the history walk needs it.
#[derive(Clone, Debug)]
pub struct Commit {
    /// Its root tree.
    pub tree: String,
    /// Committer time, seconds since the epoch.
    pub time: i64,
}

/// Objects read through one long-lived `git cat-file --batch` process: one request, one
/// reply, no process per object.
pub struct Objects {
    child: std::process::Child,
    input: std::io::BufWriter<std::process::ChildStdin>,
    output: std::io::BufReader<std::process::ChildStdout>,
    hash_len: usize,
    /// Tree id → the matching files below it (path below the tree, blob id).
    trees: std::collections::HashMap<String, Arc<Vec<(String, String)>>>,
}

impl Objects {
    /// Starts `git cat-file --batch` in the repository at `top`.
    pub fn open(top: &Path) -> Result<Objects> {
        let t = top.to_string_lossy();
        let format = text(git(&["-C", &t, "rev-parse", "--show-object-format"])?);
        let hash_len = if format.trim() == "sha256" { 32 } else { 20 };
        let mut child = Command::new("git")
            .arg("-C")
            .arg(top)
            .args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::GitNotRunnable(Arc::new(e)))?;
        let broken = || Error::GitFailed {
            command: "cat-file --batch".into(),
            message: "no pipe".into(),
        };
        let input = std::io::BufWriter::new(child.stdin.take().ok_or_else(broken)?);
        let output = std::io::BufReader::new(child.stdout.take().ok_or_else(broken)?);
        Ok(Objects {
            child,
            input,
            output,
            hash_len,
            trees: std::collections::HashMap::new(),
        })
    }

    /// Reads one object: its type and contents.
    pub fn get(&mut self, id: &str) -> Result<(String, Vec<u8>)> {
        use std::io::{BufRead, Read};
        let io = |e: std::io::Error| Error::GitFailed {
            command: "cat-file --batch".into(),
            message: e.to_string(),
        };
        writeln!(self.input, "{id}").map_err(io)?;
        self.input.flush().map_err(io)?;
        let mut header = String::new();
        self.output.read_line(&mut header).map_err(io)?;
        let bad = || Error::GitMalformed {
            command: "cat-file",
            message: format!("unexpected reply {:?} for {id}", header.trim_end()),
        };
        let f: Vec<&str> = header.trim_end().split(' ').collect();
        let (kind, size) = match f[..] {
            [_, kind, size] => (kind.to_string(), size.parse::<usize>().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        let mut body = vec![0u8; size + 1];
        self.output.read_exact(&mut body).map_err(io)?;
        if body.pop() != Some(b'\n') {
            return Err(bad());
        }
        Ok((kind, body))
    }

    /// Reads a commit's tree and committer time.
    pub fn commit(&mut self, id: &str) -> Result<Commit> {
        let (kind, body) = self.get(id)?;
        let body = String::from_utf8_lossy(&body);
        let bad = || Error::GitMalformed {
            command: "cat-file",
            message: format!("{id} is not a readable commit ({kind})"),
        };
        let mut tree = None;
        let mut time = 0;
        for line in body.lines().take_while(|l| !l.is_empty()) {
            if let Some(t) = line.strip_prefix("tree ") {
                tree = Some(t.to_string());
            } else if let Some(c) = line.strip_prefix("committer ") {
                time = c
                    .rsplit(' ')
                    .nth(1)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0);
            }
        }
        Ok(Commit {
            tree: tree.ok_or_else(bad)?,
            time,
        })
    }

    /// The regular files below tree `id` whose repository path is under one of `prefixes`
    /// (`""` is everything) and whose name `wanted` accepts: (repository path, blob id).
    /// Subtrees seen before (unchanged between commits) are not read again.
    pub fn files(
        &mut self,
        id: &str,
        prefixes: &[String],
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        self.walk(id, "", prefixes, wanted, &mut out)?;
        Ok(out)
    }

    fn walk(
        &mut self,
        id: &str,
        at: &str,
        prefixes: &[String],
        wanted: &dyn Fn(&str) -> bool,
        out: &mut Vec<(String, String)>,
    ) -> Result<()> {
        let inside = prefixes
            .iter()
            .any(|p| p.is_empty() || at == p || at.starts_with(&format!("{p}/")));
        if inside {
            // The whole subtree counts: its listing does not depend on where it is.
            let below = self.subtree(id, wanted)?;
            for (p, b) in below.iter() {
                out.push((join(at, p), b.clone()));
            }
            return Ok(());
        }
        for (mode, name, child) in self.entries(id)? {
            let path = join(at, &name);
            let leads = prefixes
                .iter()
                .any(|p| *p == path || p.starts_with(&format!("{path}/")));
            if !leads {
                continue;
            }
            if mode == "40000" {
                self.walk(&child, &path, prefixes, wanted, out)?;
            } else if matches!(mode.as_str(), "100644" | "100755") && wanted(&name) {
                out.push((path, child));
            }
        }
        Ok(())
    }

    fn subtree(
        &mut self,
        id: &str,
        wanted: &dyn Fn(&str) -> bool,
    ) -> Result<Arc<Vec<(String, String)>>> {
        if let Some(t) = self.trees.get(id) {
            return Ok(t.clone());
        }
        let mut files = Vec::new();
        for (mode, name, child) in self.entries(id)? {
            if mode == "40000" {
                for (p, b) in self.subtree(&child, wanted)?.iter() {
                    files.push((join(&name, p), b.clone()));
                }
            } else if matches!(mode.as_str(), "100644" | "100755") && wanted(&name) {
                files.push((name, child));
            }
        }
        let files = Arc::new(files);
        self.trees.insert(id.to_string(), files.clone());
        Ok(files)
    }

    /// A tree's entries: (mode, name, object id), from git's binary tree format
    /// (`MODE SP NAME NUL HASH`).
    fn entries(&mut self, id: &str) -> Result<Vec<(String, String, String)>> {
        let (kind, body) = self.get(id)?;
        let bad = || Error::GitMalformed {
            command: "cat-file",
            message: format!("{id} is not a readable tree ({kind})"),
        };
        if kind != "tree" {
            return Err(bad());
        }
        let mut out = Vec::new();
        let mut rest = &body[..];
        while !rest.is_empty() {
            let sp = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
            let nul = rest.iter().position(|&b| b == 0).ok_or_else(bad)?;
            let hash = rest.get(nul + 1..nul + 1 + self.hash_len).ok_or_else(bad)?;
            if sp > nul {
                return Err(bad());
            }
            out.push((
                String::from_utf8_lossy(&rest[..sp]).into_owned(),
                String::from_utf8_lossy(&rest[sp + 1..nul]).into_owned(),
                hash.iter().map(|b| format!("{b:02x}")).collect(),
            ));
            rest = &rest[nul + 1 + self.hash_len..];
        }
        Ok(out)
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        // Closing its input ends cat-file; wait so no zombie is left.
        let _ = self.input.flush();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
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
