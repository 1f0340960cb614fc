//! Which secrets a key could ever read: the git history of the eyaml files under some paths,
//! read from git objects (nothing is checked out), every value's recipients taken from its
//! PKESK key ids (no secret key needed), and for each value the key could read at some point,
//! the commits where it gained and lost access and whether today's plaintext is one it saw.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::crypto::KeyId;
use crate::error::{Error, Result};
use crate::git::{self, Objects};
use crate::pgp::Keystore;
use crate::roster;
use crate::scheme::{self, Scheme};
use crate::stale;
use crate::token::{self, EncToken, Kinds, Token};

/// What a key's past access means for a value today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// An earlier version the key could read has today's plaintext: rotate the secret.
    Exposed,
    /// The key can decrypt the value as it is now.
    Current,
    /// No secret key at hand to compare the plaintexts.
    Unknown,
    /// The value is no longer in the tree (what it protected may still be in use elsewhere).
    Removed,
    /// The plaintext changed after the key lost access.
    Rotated,
}

impl Status {
    /// The status as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Exposed => "exposed",
            Status::Current => "current",
            Status::Unknown => "unknown",
            Status::Removed => "removed",
            Status::Rotated => "rotated",
        }
    }
}

/// A commit where access changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommitRef {
    /// The full commit id.
    pub commit: String,
    /// Its committer date, `YYYY-MM-DD`.
    pub date: String,
}

/// One value the key could read at some point.
#[derive(Clone, Debug, Serialize)]
pub struct Exposure {
    /// The file, as a repository path.
    pub file: String,
    /// The value's Hiera key (nested values as dotted paths).
    pub key: String,
    /// What it means today.
    pub status: Status,
    /// Commits where the key gained access (encrypted to it after not being).
    pub gained: Vec<CommitRef>,
    /// Commits where it lost access (re-encrypted without it, or the value removed).
    pub lost: Vec<CommitRef>,
    /// The value's line today, if it still exists.
    pub line: Option<usize>,
}

/// The result of a history walk.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The certificate asked about.
    pub certificate: String,
    /// Commits read.
    pub commits: usize,
    /// Every value the key could read at some point, by status then file and key.
    pub exposures: Vec<Exposure>,
    /// Shallow clone: the commits where the history stops (what is older is missing).
    pub missing_history: Vec<String>,
    /// Values or files that could not be read in some commit (reported, not fatal).
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether anything is [`Status::Exposed`].
    pub fn any_exposed(&self) -> bool {
        self.exposures.iter().any(|e| e.status == Status::Exposed)
    }
}

/// What to walk.
#[derive(Clone, Debug)]
pub struct Options {
    /// Only commits after this revision (the revision itself is the starting state).
    pub since: Option<String>,
    /// Extension of the eyaml files (`eyaml`).
    pub extension: String,
    /// The scheme of values without a tag.
    pub method: Scheme,
}

/// One value of one blob.
#[derive(Clone)]
struct Val {
    key: String,
    line: usize,
    enc: EncToken,
    /// Whether the key's ids are among the value's recipients.
    readable: bool,
}

/// Where one (file, key) value stands while walking.
#[derive(Default)]
struct Track {
    can: bool,
    gained: Vec<usize>,
    lost: Vec<usize>,
    /// Distinct payloads the key could read.
    seen: Vec<EncToken>,
    seen_payloads: BTreeSet<String>,
    now: Option<(usize, EncToken)>,
}

/// Walks the history of the eyaml files under `paths` (relative to `dir`, in a git work
/// tree) and reports every value ever encrypted to `key` (GnuPG matching against `store`).
/// Plaintexts are compared with the secret keys `store` can reach.
pub fn exposure(
    store: &Keystore,
    key: &str,
    dir: &Path,
    paths: &[PathBuf],
    options: &Options,
) -> Result<Report> {
    let cert = roster::resolve_key(store, key)?;
    let ids: BTreeSet<KeyId> = cert.key_ids.iter().copied().collect();
    let (top, prefix) = git::locate(dir)?;
    let prefixes: Vec<String> = if paths.is_empty() {
        vec![git::repo_path(&top, &prefix, Path::new(""))]
    } else {
        paths
            .iter()
            .map(|p| {
                let abs = if p.is_absolute() {
                    p.canonicalize().unwrap_or_else(|_| p.clone())
                } else {
                    p.clone()
                };
                git::repo_path(&top, &prefix, &abs)
            })
            .collect()
    };
    let missing_history = git::shallow_boundary(&top)?;
    let commits = git::rev_list(&top, options.since.as_deref())?;
    let mut objects = Objects::open(&top)?;
    let suffix = format!(".{}", options.extension.trim_start_matches('.'));
    let wanted = |name: &str| name.ends_with(&suffix);
    let mut blobs: HashMap<String, Arc<Vec<Val>>> = HashMap::new();
    let mut warnings = Vec::new();
    let mut tracks: BTreeMap<(String, String), Track> = BTreeMap::new();
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    let mut dates = Vec::with_capacity(commits.len());
    for (ci, id) in commits.iter().enumerate() {
        let commit = objects.commit(id)?;
        dates.push(commit.time);
        let files: BTreeMap<String, String> = objects
            .files(&commit.tree, &prefixes, &wanted)?
            .into_iter()
            .collect();
        if files == previous {
            continue;
        }
        for (path, blob) in &files {
            if previous.get(path) == Some(blob) {
                continue;
            }
            let vals = match blobs.get(blob) {
                Some(v) => v.clone(),
                None => {
                    let (_, bytes) = objects.get(blob)?;
                    let v = Arc::new(read_values(
                        store,
                        &ids,
                        &bytes,
                        options.method,
                        &format!("{path} at {}", &id[..id.len().min(12)]),
                        &mut warnings,
                    ));
                    blobs.insert(blob.clone(), v.clone());
                    v
                }
            };
            let present: BTreeSet<&str> = vals.iter().map(|v| v.key.as_str()).collect();
            for v in vals.iter() {
                let t = tracks.entry((path.clone(), v.key.clone())).or_default();
                if v.readable {
                    if !t.can {
                        t.gained.push(ci);
                        t.can = true;
                    }
                    if t.seen_payloads.insert(v.enc.base64()) {
                        t.seen.push(v.enc.clone());
                    }
                } else if t.can {
                    t.lost.push(ci);
                    t.can = false;
                }
                t.now = Some((v.line, v.enc.clone()));
            }
            for ((p, k), t) in tracks.range_mut((path.clone(), String::new())..) {
                if p != path {
                    break;
                }
                if !present.contains(k.as_str()) {
                    lose(t, ci);
                }
            }
        }
        for path in previous.keys().filter(|p| !files.contains_key(*p)) {
            for ((p, _), t) in tracks.range_mut((path.clone(), String::new())..) {
                if p != path {
                    break;
                }
                lose(t, ci);
            }
        }
        previous = files;
    }
    let refs = |list: &[usize]| -> Vec<CommitRef> {
        list.iter()
            .map(|&i| CommitRef {
                commit: commits[i].clone(),
                date: date_of(dates[i]),
            })
            .collect()
    };
    let touched: Vec<((String, String), Track)> = tracks
        .into_iter()
        .filter(|(_, t)| !t.gained.is_empty())
        .collect();
    // Plaintext comparisons are independent decryptions: in parallel.
    let mut exposures: Vec<Exposure> = touched
        .into_par_iter()
        .map(|((file, key), t)| {
            let status = judge(store, &t, options.method);
            Exposure {
                file,
                key,
                status,
                gained: refs(&t.gained),
                lost: refs(&t.lost),
                line: t.now.as_ref().map(|(l, _)| *l),
            }
        })
        .collect();
    exposures.sort_by(|a, b| (a.status, &a.file, &a.key).cmp(&(b.status, &b.file, &b.key)));
    Ok(Report {
        certificate: roster::label(&cert),
        commits: commits.len(),
        exposures,
        missing_history,
        warnings,
    })
}

fn lose(t: &mut Track, ci: usize) {
    if t.can {
        t.lost.push(ci);
        t.can = false;
    }
    t.now = None;
}

fn date_of(time: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.max(0) as u64);
    crate::datetime::date(t)
}

/// Today's status of a value the key could read at some point.
fn judge(store: &Keystore, t: &Track, method: Scheme) -> Status {
    let Some((_, now)) = &t.now else {
        return Status::Removed;
    };
    if t.can {
        return Status::Current;
    }
    let Ok(today) = scheme::decrypt(store, now, method) else {
        return Status::Unknown;
    };
    let mut all_read = true;
    for old in &t.seen {
        match scheme::decrypt(store, old, method) {
            Ok(p) if *p == *today => return Status::Exposed,
            Ok(_) => {}
            Err(_) => all_read = false,
        }
    }
    if all_read {
        Status::Rotated
    } else {
        Status::Unknown
    }
}

/// The GPG values of one file version with their Hiera keys and whether `ids` can read them.
/// A file that is not YAML keeps the key each value's line shows; a value whose packets
/// cannot be read is left out. Both are reported in `warnings`.
fn read_values(
    store: &Keystore,
    ids: &BTreeSet<KeyId>,
    bytes: &[u8],
    method: Scheme,
    place: &str,
    warnings: &mut Vec<String>,
) -> Vec<Val> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!(
                "{place}: not UTF-8 text (byte offset {}); skipped",
                e.valid_up_to()
            ));
            return Vec::new();
        }
    };
    let scalars = match crate::yaml::scalar_paths(text) {
        Ok(s) => Some(s),
        Err(e) => {
            warnings.push(format!(
                "{place}: not valid YAML ({e}); keys taken from the lines"
            ));
            None
        }
    };
    let mut out: Vec<Val> = Vec::new();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for t in token::scan(text, Kinds::ENC) {
        let Token::Enc(enc) = &t.token else { continue };
        let mut key = scalars
            .as_ref()
            .and_then(|s| s.iter().find(|s| s.range.contains(&t.offset)))
            .map(|s| s.path.join("."))
            .unwrap_or_else(|| stale::label_at(text, t.offset));
        let n = counts.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            key = format!("{key}#{n}");
        }
        match stale::message_info(store, enc, method) {
            Ok(info) => out.push(Val {
                key,
                line: t.line,
                readable: info.recipient_ids().iter().any(|i| ids.contains(i)),
                enc: enc.clone(),
            }),
            Err(Error::NotGpgRecipients) => {}
            Err(e) => warnings.push(format!("{place}:{}: {key}: {e}; skipped", t.line)),
        }
    }
    out
}
