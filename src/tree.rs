//! The set of files a command works on, from the work tree or the git index (`--staged`), and
//! for each file the recipients file that governs it.
//!
//! One rule for every command that walks (`check`, `recrypt`):
//! - a path named on the command line is taken as it is, whatever its name (a named
//!   `hiera-eyaml-gpg.recipients` may instead stand for its directory, see
//!   [`Walk::recipients_select_dir`]);
//! - a directory is walked in file-name order; below it, hidden directories (name starting
//!   with `.`, so `.git` too) are skipped, a named root is walked even when hidden;
//! - a file is selected when a pattern matches: a pattern without `/` matches the file name,
//!   one with `/` the path below the walked directory (globs by `globset`: `*` and `?` stay in
//!   one path segment, `**` crosses them);
//! - a symbolic link to a file is taken like the file; links to directories are not followed;
//! - each file is taken once (by its real path), in the order found.
//!
//! The recipients file that governs a file is the nearest `hiera-eyaml-gpg.recipients` at or
//! above its directory ([`recipients::nearest`]): on disk from the file's real directory; in
//! the index from the file's directory in the repository, then on disk above the repository.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use crate::error::{Error, Result};
use crate::git::Index;
use crate::recipients::{self, RECIPIENTS_FILE};

/// Compiles one glob: `*` and `?` within a path segment, `**` across segments.
pub fn glob(pattern: &str) -> Result<GlobMatcher> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| Error::Glob {
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })
}

/// The patterns that select files (see the module doc).
#[derive(Clone, Debug)]
pub struct Patterns {
    name: GlobSet,
    path: GlobSet,
}

impl Patterns {
    /// Compiles the patterns.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Patterns> {
        let (mut name, mut path) = (GlobSetBuilder::new(), GlobSetBuilder::new());
        for p in patterns {
            let p = p.as_ref();
            let set = if p.contains('/') {
                &mut path
            } else {
                &mut name
            };
            set.add(
                GlobBuilder::new(p)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| Error::Glob {
                        pattern: p.to_string(),
                        message: e.kind().to_string(),
                    })?,
            );
        }
        let build = |b: GlobSetBuilder| {
            b.build().map_err(|e| Error::Glob {
                pattern: patterns
                    .iter()
                    .map(|p| p.as_ref())
                    .collect::<Vec<_>>()
                    .join(" "),
                message: e.to_string(),
            })
        };
        Ok(Patterns {
            name: build(name)?,
            path: build(path)?,
        })
    }

    /// The files with an extension (`eyaml` or `.eyaml`): `*.eyaml`.
    pub fn extension(extension: &str) -> Result<Patterns> {
        Patterns::new(&[format!("*.{}", extension.trim_start_matches('.'))])
    }

    /// Whether `rel` (a `/`-separated path below the walked directory) is selected.
    pub fn is_match(&self, rel: &str) -> bool {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        self.name.is_match(name) || self.path.is_match(rel)
    }
}

/// Where a file's bytes are.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Location {
    /// On disk (as walked or named, not made real).
    Disk(PathBuf),
    /// Staged in the git index, by repository path.
    Index(String),
}

/// One selected file.
#[derive(Clone, Debug)]
pub struct TreeFile {
    /// The path shown to the user (relative to the working directory, no `./`).
    pub display: PathBuf,
    /// Where its bytes are.
    pub location: Location,
    /// Its recipients file (a key of [`FileSet::recipients`]).
    pub recipients: Option<Location>,
}

impl TreeFile {
    /// The path on disk, for a work-tree file.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::Disk(p) => Some(p),
            Location::Index(_) => None,
        }
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct FileSet {
    /// The selected files, in order.
    pub files: Vec<TreeFile>,
    /// Every recipients file met: those governing a file and those found in walked
    /// directories; location → path shown to the user.
    pub recipients: BTreeMap<Location, PathBuf>,
    /// Walked directories in which no file was selected.
    pub empty_roots: Vec<PathBuf>,
    index: Option<Index>,
}

/// The bytes of a [`FileSet`].
#[derive(Debug, Default)]
pub struct Contents {
    /// Per file of [`FileSet::files`], in order.
    pub files: Vec<Vec<u8>>,
    /// Per recipients file.
    pub recipients: BTreeMap<Location, Vec<u8>>,
}

impl FileSet {
    /// Reads every file and recipients file (the index in one `git cat-file` run).
    pub fn read(&self) -> Result<Contents> {
        let locations: Vec<&Location> = self
            .files
            .iter()
            .map(|f| &f.location)
            .chain(self.recipients.keys())
            .collect();
        let staged: Vec<&str> = locations
            .iter()
            .filter_map(|l| match l {
                Location::Index(p) => Some(p.as_str()),
                Location::Disk(_) => None,
            })
            .collect();
        let mut from_index = match &self.index {
            Some(index) => index.contents(&staged)?.into_iter(),
            None => Vec::new().into_iter(),
        };
        let mut bytes = Vec::with_capacity(locations.len());
        for l in &locations {
            bytes.push(match l {
                Location::Disk(p) => crate::fsutil::read_bytes(p)?,
                Location::Index(p) => from_index.next().ok_or_else(|| Error::GitMalformed {
                    command: "cat-file",
                    message: format!("nothing for {p}"),
                })?,
            });
        }
        let mut bytes = bytes.into_iter();
        let files = bytes.by_ref().take(self.files.len()).collect();
        let recipients = self.recipients.keys().cloned().zip(bytes).collect();
        Ok(Contents { files, recipients })
    }
}

/// How to walk: the patterns and what a named recipients file means.
#[derive(Clone, Debug)]
pub struct Walk {
    patterns: Patterns,
    recipients_select_dir: bool,
}

impl Walk {
    /// A walk selecting files by `patterns`.
    pub fn new(patterns: Patterns) -> Walk {
        Walk {
            patterns,
            recipients_select_dir: false,
        }
    }

    /// A named `hiera-eyaml-gpg.recipients` stands for its directory (a changed recipients
    /// file: everything it governs), as `check` wants.
    pub fn recipients_select_dir(mut self, yes: bool) -> Walk {
        self.recipients_select_dir = yes;
        self
    }

    fn is_recipients(p: &Path) -> bool {
        p.file_name().is_some_and(|n| n == RECIPIENTS_FILE)
    }

    /// Walks the work tree below `paths`. A path that does not exist is an
    /// [`Error::PathArgument`].
    pub fn work_tree(&self, paths: &[PathBuf]) -> Result<FileSet> {
        let cwd = std::env::current_dir()
            .and_then(|d| d.canonicalize())
            .unwrap_or_default();
        let mut set = FileSet::default();
        let mut seen = HashSet::new();
        let mut nearest_cache: HashMap<PathBuf, Option<PathBuf>> = HashMap::new();
        let add_recipients = |set: &mut FileSet, path: &Path| -> Result<Location> {
            let real = path.canonicalize().map_err(|e| Error::io(path, e))?;
            let display = match real.strip_prefix(&cwd) {
                Ok(rel) if !cwd.as_os_str().is_empty() => clean(rel),
                _ => real.clone(),
            };
            let key = Location::Disk(real);
            set.recipients.entry(key.clone()).or_insert(display);
            Ok(key)
        };
        let mut add_file = |set: &mut FileSet, path: PathBuf| -> Result<()> {
            let real = path.canonicalize().unwrap_or_else(|_| path.clone());
            if !seen.insert(real) {
                return Ok(());
            }
            let dir = recipients::target_dir(&path);
            let nearest = nearest_cache
                .entry(dir.clone())
                .or_insert_with(|| recipients::find_file(&dir))
                .clone();
            let recipients = nearest.map(|r| add_recipients(set, &r)).transpose()?;
            set.files.push(TreeFile {
                display: clean(&path),
                location: Location::Disk(path),
                recipients,
            });
            Ok(())
        };
        for p in paths {
            let meta = std::fs::metadata(p).map_err(|e| Error::PathArgument {
                path: p.clone(),
                source: std::sync::Arc::new(e),
            })?;
            let root = if meta.is_dir() {
                p.clone()
            } else if self.recipients_select_dir && Self::is_recipients(p) {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                add_file(&mut set, p.clone())?;
                continue;
            };
            let root_dir = if root.as_os_str().is_empty() {
                Path::new(".")
            } else {
                root.as_path()
            };
            let walker = walkdir::WalkDir::new(root_dir)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0
                        || !(e.file_type().is_dir()
                            && e.file_name().to_string_lossy().starts_with('.'))
                });
            let mut found = 0;
            for entry in walker {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(root_dir).to_path_buf();
                    Error::io(path, e.into())
                })?;
                let is_file = entry.file_type().is_file()
                    || (entry.path_is_symlink() && entry.path().is_file());
                if !is_file {
                    continue;
                }
                let path = entry.path();
                if Self::is_recipients(path) {
                    add_recipients(&mut set, path)?;
                    continue;
                }
                let rel = path
                    .strip_prefix(root_dir)
                    .unwrap_or(path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if self.patterns.is_match(&rel) {
                    found += 1;
                    add_file(&mut set, path.to_path_buf())?;
                }
            }
            if found == 0 {
                set.empty_roots.push(p.clone());
            }
        }
        Ok(set)
    }

    /// Walks the git index of the repository around the working directory, below `paths`
    /// (relative to the working directory).
    pub fn index(&self, paths: &[PathBuf]) -> Result<FileSet> {
        let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
        self.index_at(&cwd, paths)
    }

    /// [`Walk::index`] as if run in `dir`: `paths` and the paths shown are relative to it.
    pub fn index_at(&self, dir: &Path, paths: &[PathBuf]) -> Result<FileSet> {
        let index = Index::read(dir)?;
        let mut chosen: Vec<String> = Vec::new();
        let mut roots: Vec<(PathBuf, String)> = Vec::new();
        for p in paths {
            let repo = index.repo_path(p);
            let is_file = index.entries.contains_key(&repo);
            if is_file && !(self.recipients_select_dir && repo_name(&repo) == RECIPIENTS_FILE) {
                if !chosen.contains(&repo) {
                    chosen.push(repo);
                }
            } else if is_file {
                roots.push((p.clone(), repo_dir(&repo).to_string()));
            } else {
                roots.push((p.clone(), repo));
            }
        }
        let under = |root: &str, p: &str| {
            root.is_empty() || p == root || p.starts_with(&format!("{root}/"))
        };
        let hidden = |root: &str, p: &str| {
            let rel = if root.is_empty() {
                p
            } else {
                &p[root.len().min(p.len())..]
            };
            let dirs = rel.trim_start_matches('/').rsplit_once('/').map(|(d, _)| d);
            dirs.is_some_and(|d| d.split('/').any(|c| c.starts_with('.')))
        };
        let mut set = FileSet::default();
        let mut found = vec![0; roots.len()];
        for p in index.entries.keys() {
            let Some(ri) = roots.iter().position(|(_, r)| under(r, p) && !hidden(r, p)) else {
                continue;
            };
            let root = &roots[ri].1;
            if repo_name(p) == RECIPIENTS_FILE {
                set.recipients
                    .insert(Location::Index(p.clone()), index.display(p));
                continue;
            }
            let rel = if root.is_empty() {
                p.as_str()
            } else {
                &p[root.len() + 1..]
            };
            if self.patterns.is_match(rel) {
                found[ri] += 1;
                if !chosen.contains(p) {
                    chosen.push(p.clone());
                }
            }
        }
        set.empty_roots = roots
            .iter()
            .zip(&found)
            .filter(|(_, n)| **n == 0)
            .map(|((p, _), _)| p.clone())
            .collect();
        chosen.sort();
        let above_repo = index.top.parent().and_then(recipients::find_file);
        for p in chosen {
            let staged = recipients::nearest(Path::new(repo_dir(&p)), |f| {
                index.entries.contains_key(&*f.to_string_lossy())
            });
            let governing = match staged {
                Some(r) => {
                    let r = r.to_string_lossy().into_owned();
                    let display = index.display(&r);
                    let key = Location::Index(r);
                    set.recipients.insert(key.clone(), display);
                    Some(key)
                }
                None => above_repo.as_ref().map(|f| {
                    let key = Location::Disk(f.clone());
                    set.recipients.insert(key.clone(), f.clone());
                    key
                }),
            };
            set.files.push(TreeFile {
                display: index.display(&p),
                location: Location::Index(p),
                recipients: governing,
            });
        }
        set.index = Some(index);
        Ok(set)
    }
}

/// The last component of a repository path.
fn repo_name(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// The directory of a repository path (empty at the top).
fn repo_dir(p: &str) -> &str {
    p.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// A path without `./` components, for display.
fn clean(p: &Path) -> PathBuf {
    let out: PathBuf = p
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect();
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = |p: &str, s: &str| glob(p).unwrap().is_match(s);
        assert!(m("*.eyaml", "a.eyaml"));
        assert!(!m("*.eyaml", "d/a.eyaml"));
        assert!(m("**/*.eyaml", "a.eyaml"));
        assert!(m("**/*.eyaml", "x/y/a.eyaml"));
        assert!(m("hieradata/**", "hieradata/a/b.yaml"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "a/c"));
        assert!(matches!(glob("a[b"), Err(Error::Glob { .. })));
    }

    #[test]
    fn patterns_match_names_or_paths() {
        let p = Patterns::new(&["*.eyaml", "data/**/*.yaml"]).unwrap();
        assert!(p.is_match("x/y/a.eyaml"));
        assert!(p.is_match("data/a/b.yaml"));
        assert!(!p.is_match("other/b.yaml"));
        assert!(Patterns::extension(".yaml").unwrap().is_match("c.yaml"));
    }

    #[test]
    fn walk_skips_hidden_directories_follows_file_links_and_finds_recipients() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for f in [
            "a.eyaml",
            "s/b.eyaml",
            ".hidden/c.eyaml",
            ".git/d.eyaml",
            "s/t/e.txt",
        ] {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x: 1\n").unwrap();
        }
        std::fs::write(root.join("s").join(RECIPIENTS_FILE), "bob\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("a.eyaml"), root.join("s/link.eyaml")).unwrap();
        let walk = Walk::new(Patterns::extension("eyaml").unwrap());
        let set = walk.work_tree(&[root.to_path_buf()]).unwrap();
        let names: Vec<_> = set
            .files
            .iter()
            .map(|f| f.path().unwrap().strip_prefix(root).unwrap().to_path_buf())
            .collect();
        // The link names the same real file as a.eyaml: taken once.
        assert_eq!(names, [Path::new("a.eyaml"), Path::new("s/b.eyaml")]);
        let r = root.join("s").join(RECIPIENTS_FILE).canonicalize().unwrap();
        assert_eq!(set.files[1].recipients, Some(Location::Disk(r.clone())));
        assert!(set.recipients.contains_key(&Location::Disk(r)));
        // A hidden root named on the command line is walked; an empty one is reported.
        let set = walk
            .work_tree(&[root.join(".hidden"), root.join("s/t")])
            .unwrap();
        assert_eq!(set.files.len(), 1);
        assert_eq!(set.empty_roots, [root.join("s/t")]);
        assert!(matches!(
            walk.work_tree(&[root.join("missing")]),
            Err(Error::PathArgument { .. })
        ));
        // A named recipients file stands for its directory only when asked.
        let named = [root.join("s").join(RECIPIENTS_FILE)];
        assert_eq!(walk.work_tree(&named).unwrap().files.len(), 1);
        let set = walk.recipients_select_dir(true).work_tree(&named).unwrap();
        assert_eq!(set.files[0].path(), Some(&*root.join("s/b.eyaml")));
    }

    #[test]
    fn index_walk_reads_staged_contents_and_nearest_staged_recipients() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let write = |f: &str, text: &str| {
            let p = repo.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("a/b/x.eyaml", "staged\n");
        write("a/hiera-eyaml-gpg.recipients", "bob\n");
        write("a/.hidden/y.eyaml", "y\n");
        write("top.eyaml", "t\n");
        let git = |args: &[&str]| {
            let ok = std::process::Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(args)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "."]);
        write("a/b/x.eyaml", "changed in the work tree only\n");
        write("a/b/new.eyaml", "not staged\n");
        let walk = Walk::new(Patterns::extension("eyaml").unwrap());
        let set = walk
            .index_at(&repo.join("a"), &[PathBuf::from(".")])
            .unwrap();
        let shown: Vec<_> = set.files.iter().map(|f| f.display.clone()).collect();
        assert_eq!(shown, [PathBuf::from("b/x.eyaml")]);
        let r = Location::Index("a/hiera-eyaml-gpg.recipients".into());
        assert_eq!(set.files[0].recipients, Some(r.clone()));
        assert_eq!(
            set.recipients[&r],
            PathBuf::from("hiera-eyaml-gpg.recipients")
        );
        let contents = set.read().unwrap();
        assert_eq!(contents.files, [b"staged\n".to_vec()]);
        assert_eq!(contents.recipients[&r], b"bob\n");
        // A path above the working directory is shown with `../`.
        let set = walk
            .index_at(&repo.join("a"), &[PathBuf::from("..")])
            .unwrap();
        assert!(set
            .files
            .iter()
            .any(|f| f.display == Path::new("../top.eyaml")));
    }
}
