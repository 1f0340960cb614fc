//! The value-aware three-way merge behind `eyaml-gpg merge` (a git merge driver). Text that is
//! not a secret merges by lines as git merges it; every `ENC[…]` value is one atomic unit named
//! by its YAML key path, so changes to different values never conflict, and a value changed on
//! both sides is decided by its plaintexts when a key can read them. A conflict never shows a
//! plaintext: the markers enclose the two sides' encrypted values.
//!
//! ```
//! use eyaml_gpg::{merge::Merger, Keystore};
//!
//! let keys = Keystore::new(); // no secret key: ciphertexts are compared byte for byte
//! let base = "a: ENC[GPG,AAAA]\nb: ENC[GPG,BBBB]\n";
//! let ours = "a: ENC[GPG,AAA1]\nb: ENC[GPG,BBBB]\n";
//! let theirs = "a: ENC[GPG,AAAA]\nb: ENC[GPG,BBB2]\n";
//! let merged = Merger::new(&keys).merge(base.as_bytes(), ours.as_bytes(), theirs.as_bytes());
//! assert_eq!(merged.conflicts, 0);
//! assert_eq!(merged.text, b"a: ENC[GPG,AAA1]\nb: ENC[GPG,BBB2]\n");
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use rayon::prelude::*;
use similar::{capture_diff_slices, Algorithm, DiffOp};

use crate::crypto::{EncryptionKey, Plaintext};
use crate::error::Result;
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::stale::{inspect_value, ValueState};
use crate::token::{self, EncToken, Kinds, Token};
use crate::yaml;

/// Git's default conflict marker size.
pub const DEFAULT_MARKER_SIZE: usize = 7;

/// Separates placeholders from text in the line model; a text holding it merges as plain text.
const MARK: char = '\0';

/// Where the recipients of the merged file come from, asked at most once and only when a
/// value changed on one side may need re-encrypting.
pub type DesiredKeys<'a> = Box<dyn Fn() -> Result<Vec<EncryptionKey>> + Send + Sync + 'a>;

/// A three-way merge of eyaml texts with the keys of `backend`.
pub struct Merger<'a> {
    backend: &'a dyn KeyMaterial,
    method: Scheme,
    marker_size: usize,
    desired: Option<DesiredKeys<'a>>,
}

impl std::fmt::Debug for Merger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merger")
            .field("method", &self.method)
            .field("marker_size", &self.marker_size)
            .field("desired", &self.desired.is_some())
            .finish_non_exhaustive()
    }
}

/// The merged text and what happened.
#[derive(Debug)]
pub struct Merged {
    /// The result: every value encrypted, conflicts between markers.
    pub text: Vec<u8>,
    /// How many conflict blocks the text holds.
    pub conflicts: usize,
    /// Values re-encrypted to the file's recipients.
    pub reencrypted: usize,
    /// One line per fallback or decision worth telling (never a secret).
    pub notes: Vec<String>,
}

/// What a value becomes.
#[derive(Clone, Debug)]
enum Resolution {
    /// This text (`None`: the value is gone).
    Take(Option<String>),
    /// Both sides, between markers.
    Conflict,
}

/// One version of the file in the line model.
struct Side {
    /// Lines (with their ends), each `ENC[…]` value replaced by a placeholder `\0id\0`.
    lines: Vec<String>,
    /// Value id → the token.
    values: HashMap<usize, EncToken>,
}

/// Value paths shared by the three sides.
#[derive(Default)]
struct Names {
    ids: HashMap<String, usize>,
    shown: Vec<String>,
}

impl Names {
    fn id(&mut self, path: &[String], occurrence: usize) -> usize {
        let mut key = path.join("\u{1f}");
        let mut shown = path.join(".");
        if occurrence > 1 {
            key.push_str(&format!("\u{1f}#{occurrence}"));
            shown.push_str(&format!(" (value {occurrence} of the scalar)"));
        }
        let next = self.shown.len();
        *self.ids.entry(key).or_insert_with(|| {
            self.shown.push(shown);
            next
        })
    }
}

impl<'a> Merger<'a> {
    /// A merger decrypting, inspecting and encrypting with `backend`; without
    /// [`Merger::desired`] no value is re-encrypted.
    pub fn new(backend: &'a dyn KeyMaterial) -> Self {
        Merger {
            backend,
            method: Scheme::Gpg,
            marker_size: DEFAULT_MARKER_SIZE,
            desired: None,
        }
    }

    /// The scheme of scheme-less `ENC[…]` values (`-n`).
    pub fn method(mut self, method: Scheme) -> Self {
        self.method = method;
        self
    }

    /// The length of the conflict markers (git's `%L`).
    pub fn marker_size(mut self, size: usize) -> Self {
        self.marker_size = size.max(1);
        self
    }

    /// The recipients of the merged file: a value changed on one side only and not encrypted
    /// to exactly these keys is re-encrypted to them.
    pub fn desired(mut self, desired: DesiredKeys<'a>) -> Self {
        self.desired = Some(desired);
        self
    }

    /// Merges `ours` and `theirs`, both descended from `base`.
    pub fn merge(&self, base: &[u8], ours: &[u8], theirs: &[u8]) -> Merged {
        let mut notes = Vec::new();
        let texts: Vec<(&str, std::borrow::Cow<'_, str>)> =
            [("base", base), ("ours", ours), ("theirs", theirs)]
                .into_iter()
                .map(|(name, b)| (name, String::from_utf8_lossy(b)))
                .collect();
        let binary = [base, ours, theirs]
            .iter()
            .any(|b| std::str::from_utf8(b).is_err());
        let with_mark = texts.iter().any(|(_, t)| t.contains(MARK));
        if binary || with_mark {
            notes.push(if binary {
                "a side is not UTF-8 text: merged by lines, without looking at values".to_string()
            } else {
                "a side contains a NUL character: merged by lines, without looking at values"
                    .to_string()
            });
            // Bytes as Latin-1 characters: a lossless round trip through the line merge.
            let latin = |b: &[u8]| -> String { b.iter().map(|&c| char::from(c)).collect() };
            let sides = [base, ours, theirs].map(|b| Side {
                lines: split_lines(&latin(b)),
                values: HashMap::new(),
            });
            let out = self.assemble(&sides, &[], &[], &mut notes, false);
            return Merged {
                text: out.text.chars().map(|c| c as u8).collect(),
                conflicts: out.conflicts,
                reencrypted: 0,
                notes,
            };
        }
        let mut names = Names::default();
        let sides: Vec<Side> = texts
            .iter()
            .map(|(name, text)| self.side(name, text, &mut names, &mut notes))
            .collect();
        let sides: [Side; 3] = sides.try_into().unwrap_or_else(|_| unreachable!("3 sides"));
        let desired = OnceLock::new();
        let decided: Vec<(Resolution, Option<String>, bool)> = (0..names.shown.len())
            .into_par_iter()
            .map(|id| self.resolve(&sides, id, &names.shown[id], &desired))
            .collect();
        let mut reencrypted = 0;
        let mut resolutions = Vec::with_capacity(decided.len());
        for (r, note, re) in decided {
            notes.extend(note);
            reencrypted += usize::from(re);
            resolutions.push(r);
        }
        if let Some(Err(why)) = desired.get() {
            notes.insert(
                0,
                format!("values changed on one side were not re-encrypted: {why}"),
            );
        }
        let out = self.assemble(&sides, &resolutions, &names.shown, &mut notes, true);
        Merged {
            text: out.text.into_bytes(),
            conflicts: out.conflicts,
            reencrypted,
            notes,
        }
    }

    /// Scans one side into the line model. A side that is not valid YAML keeps its values as
    /// plain text (it then merges as git would merge it).
    fn side(&self, name: &str, text: &str, names: &mut Names, notes: &mut Vec<String>) -> Side {
        let tokens = token::scan(text, Kinds::ENC);
        let scalars = match yaml::scalar_paths(text) {
            Ok(s) => Some(s),
            Err(e) => {
                if tokens.iter().any(|t| matches!(t.token, Token::Enc(_))) {
                    notes.push(format!(
                        "{name} is not valid YAML ({e}): its values are merged as plain lines"
                    ));
                }
                None
            }
        };
        let mut abstracted = String::with_capacity(text.len());
        let mut values = HashMap::new();
        let mut occurrences: HashMap<Vec<String>, usize> = HashMap::new();
        for t in &tokens {
            let Token::Enc(e) = &t.token else {
                abstracted.push_str(t.token.raw());
                continue;
            };
            let keyword = t.offset + e.raw.find("ENC[").unwrap_or(0);
            let path = scalars.as_ref().and_then(|s| {
                let i = s.partition_point(|x| x.range.start <= keyword);
                let x = s.get(i.checked_sub(1)?)?;
                (keyword < x.range.end.max(x.range.start + 1)).then(|| x.path.clone())
            });
            match path {
                Some(path) => {
                    let n = occurrences.entry(path.clone()).or_default();
                    *n += 1;
                    let id = names.id(&path, *n);
                    abstracted.push(MARK);
                    abstracted.push_str(&id.to_string());
                    abstracted.push(MARK);
                    values.insert(id, e.clone());
                }
                // Not a value (a comment, a key): plain text.
                None => abstracted.push_str(&e.raw),
            }
        }
        Side {
            lines: split_lines(&abstracted),
            values,
        }
    }

    /// Decides one value: (what it becomes, a note, whether it was re-encrypted).
    fn resolve(
        &self,
        sides: &[Side; 3],
        id: usize,
        name: &str,
        desired: &OnceLock<std::result::Result<Vec<EncryptionKey>, String>>,
    ) -> (Resolution, Option<String>, bool) {
        let [b, o, t] = [0, 1, 2].map(|i| sides[i].values.get(&id));
        let same =
            |x: Option<&EncToken>, y: Option<&EncToken>| x.map(|e| &e.raw) == y.map(|e| &e.raw);
        if same(o, t) {
            return (Resolution::Take(o.map(|e| e.raw.clone())), None, false);
        }
        if same(b, o) {
            return self.one_sided(t, None, name, desired);
        }
        if same(b, t) {
            return self.one_sided(o, None, name, desired);
        }
        let conflict = |why: String| (Resolution::Conflict, Some(format!("{name}: {why}")), false);
        let plain = |e: &EncToken| scheme::decrypt(self.backend, e, self.method);
        let (o, t) = match (o, t) {
            (Some(o), Some(t)) => (o, t),
            (changed, _) => {
                let (Some(b), Some(c)) = (b, changed.or(t)) else {
                    unreachable!("a value absent on one side differs from base on both")
                };
                return match (plain(b), plain(c)) {
                    (Ok(pb), Ok(pc)) if pb == pc => (Resolution::Take(None), None, false),
                    (Ok(_), Ok(_)) => conflict("deleted on one side, changed on the other".into()),
                    (Err(e), _) | (_, Err(e)) => conflict(format!(
                        "deleted on one side, re-encrypted or changed on the other (cannot tell which: {})",
                        e.root()
                    )),
                };
            }
        };
        let (po, pt) = match (plain(o), plain(t)) {
            (Ok(po), Ok(pt)) => (po, pt),
            (Err(e), _) | (_, Err(e)) => {
                return conflict(format!(
                    "changed on both sides (cannot compare the plaintexts: {})",
                    e.root()
                ))
            }
        };
        if po == pt {
            // Equal plaintexts: keep the side already encrypted to the file's recipients.
            return if !self.is_current(o, desired) && self.is_current(t, desired) {
                self.one_sided(Some(t), Some(pt), name, desired)
            } else {
                self.one_sided(Some(o), Some(po), name, desired)
            };
        }
        let Some(b) = b else {
            return conflict("added on both sides with different values".into());
        };
        match plain(b) {
            Ok(pb) if pb == po => self.one_sided(Some(t), Some(pt), name, desired),
            Ok(pb) if pb == pt => self.one_sided(Some(o), Some(po), name, desired),
            Ok(_) => conflict("changed on both sides to different values".into()),
            Err(e) => conflict(format!(
                "changed on both sides (cannot read the common ancestor: {})",
                e.root()
            )),
        }
    }

    /// Whether `e` is encrypted to exactly the desired keys (false when they are unknown).
    fn is_current(
        &self,
        e: &EncToken,
        desired: &OnceLock<std::result::Result<Vec<EncryptionKey>, String>>,
    ) -> bool {
        match self.desired_keys(desired) {
            Some(keys) => matches!(
                inspect_value(self.backend, e, self.method, keys),
                ValueState::Current
            ),
            None => false,
        }
    }

    fn desired_keys<'d>(
        &self,
        desired: &'d OnceLock<std::result::Result<Vec<EncryptionKey>, String>>,
    ) -> Option<&'d [EncryptionKey]> {
        let f = self.desired.as_ref()?;
        desired
            .get_or_init(|| f().map_err(|e| e.to_string()))
            .as_deref()
            .ok()
    }

    /// A value taken from one side, re-encrypted when it is not encrypted to exactly the
    /// desired keys (and a key can read it).
    fn one_sided(
        &self,
        value: Option<&EncToken>,
        plaintext: Option<Plaintext>,
        name: &str,
        desired: &OnceLock<std::result::Result<Vec<EncryptionKey>, String>>,
    ) -> (Resolution, Option<String>, bool) {
        let Some(e) = value else {
            return (Resolution::Take(None), None, false);
        };
        let keep = Resolution::Take(Some(e.raw.clone()));
        let Some(keys) = self.desired_keys(desired) else {
            return (keep, None, false);
        };
        match inspect_value(self.backend, e, self.method, keys) {
            // inspect_value compares GPG recipients only: it never asks for a migration.
            ValueState::Current
            | ValueState::Wildcard { .. }
            | ValueState::Migrate { .. }
            | ValueState::OtherCertificate { .. } => (keep, None, false),
            ValueState::Unreadable(why) => (
                keep,
                Some(format!("{name}: kept as it is (cannot read it: {why})")),
                false,
            ),
            ValueState::Stale { .. } => {
                let plaintext = match plaintext {
                    Some(p) => Ok(p),
                    None => scheme::decrypt(self.backend, e, self.method),
                };
                let encrypted =
                    plaintext.and_then(|p| Scheme::Gpg.encrypt(self.backend, keys, &p, &e.form));
                match encrypted {
                    Ok(text) => (Resolution::Take(Some(text)), None, true),
                    Err(why) => (
                        keep,
                        Some(format!(
                            "{name}: kept as changed, not re-encrypted to the file's recipients ({})",
                            why.root()
                        )),
                        false,
                    ),
                }
            }
        }
    }

    /// The line merge: diff3 over the placeholder lines, values filled in from `resolutions`
    /// (empty when `values` is false: plain lines only).
    fn assemble(
        &self,
        sides: &[Side; 3],
        resolutions: &[Resolution],
        shown: &[String],
        notes: &mut Vec<String>,
        values: bool,
    ) -> Output {
        let [base, ours, theirs] = sides;
        let eol = if ours
            .lines
            .first()
            .or(theirs.lines.first())
            .or(base.lines.first())
            .is_some_and(|l| l.ends_with("\r\n"))
        {
            "\r\n"
        } else {
            "\n"
        };
        let mut out = Output {
            text: String::new(),
            conflicts: 0,
            eol,
            size: self.marker_size,
        };
        let r = Render {
            sides,
            resolutions,
            values,
        };
        for chunk in diff3(&base.lines, &ours.lines, &theirs.lines) {
            match chunk {
                Chunk::Stable(range) => r.clean(&mut out, &base.lines[range], 0),
                Chunk::Changed { b, o, t } => {
                    let (bl, ol, tl) = (&base.lines[b], &ours.lines[o], &theirs.lines[t]);
                    let one_side = if ol == tl || tl == bl {
                        Some((1, ol))
                    } else if ol == bl {
                        Some((2, tl))
                    } else {
                        None
                    };
                    match one_side {
                        Some((side, kept)) => {
                            let lost = r.lost_values(bl, kept);
                            if lost.is_empty() {
                                r.clean(&mut out, kept, side);
                            } else {
                                for id in lost {
                                    notes.push(format!(
                                        "{}: deleted on one side, changed on the other",
                                        shown[id]
                                    ));
                                }
                                out.conflict(&r.own(ol, 1), &r.own(tl, 2));
                            }
                        }
                        None => {
                            let head = ol.iter().zip(tl).take_while(|(a, b)| a == b).count();
                            let tail = ol[head..]
                                .iter()
                                .rev()
                                .zip(tl[head..].iter().rev())
                                .take_while(|(a, b)| a == b)
                                .count();
                            r.clean(&mut out, &ol[..head], 1);
                            out.conflict(
                                &r.own(&ol[head..ol.len() - tail], 1),
                                &r.own(&tl[head..tl.len() - tail], 2),
                            );
                            r.clean(&mut out, &ol[ol.len() - tail..], 1);
                        }
                    }
                }
            }
        }
        out
    }
}

/// Lines with their line ends.
fn split_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(str::to_string).collect()
}

/// The placeholders of a line model line: (text, id) pieces; ids at odd positions.
fn pieces(line: &str) -> impl Iterator<Item = (usize, &str)> {
    line.split(MARK).enumerate()
}

fn ids(lines: &[String]) -> BTreeSet<usize> {
    lines
        .iter()
        .flat_map(|l| {
            pieces(l)
                .filter(|(i, _)| i % 2 == 1)
                .filter_map(|(_, s)| s.parse().ok())
                .collect::<Vec<usize>>()
        })
        .collect()
}

struct Render<'r> {
    sides: &'r [Side; 3],
    resolutions: &'r [Resolution],
    values: bool,
}

impl Render<'_> {
    /// A side's own text of `lines` (each value as that side wrote it).
    fn own(&self, lines: &[String], side: usize) -> String {
        lines
            .iter()
            .map(|l| self.line(l, |id| self.raw(side, id)))
            .collect()
    }

    fn raw(&self, side: usize, id: usize) -> Option<&str> {
        self.sides[side].values.get(&id).map(|e| e.raw.as_str())
    }

    fn line<'s>(&'s self, line: &'s str, value: impl Fn(usize) -> Option<&'s str>) -> String {
        if !self.values {
            return line.to_string();
        }
        pieces(line)
            .map(|(i, s)| {
                if i % 2 == 0 {
                    s
                } else {
                    s.parse().ok().and_then(&value).unwrap_or("")
                }
            })
            .collect()
    }

    /// The merged text of a value: its resolution, else (a value moved between lines) the
    /// first side that has it, preferring `side`.
    fn merged(&self, id: usize, side: usize) -> Option<&str> {
        match self.resolutions.get(id) {
            Some(Resolution::Take(Some(s))) => Some(s),
            _ => self
                .raw(side, id)
                .or_else(|| self.raw(1, id))
                .or_else(|| self.raw(2, id)),
        }
    }

    fn conflicted(&self, line: &str) -> bool {
        self.values
            && pieces(line)
                .filter(|(i, _)| i % 2 == 1)
                .filter_map(|(_, s)| s.parse::<usize>().ok())
                .any(|id| matches!(self.resolutions.get(id), Some(Resolution::Conflict)))
    }

    /// Lines taken as they are, each value as merged; a line with a conflicting value
    /// becomes a conflict between the two sides' versions of it.
    fn clean(&self, out: &mut Output, lines: &[String], side: usize) {
        let mut i = 0;
        while i < lines.len() {
            let n = lines[i..].iter().take_while(|l| self.conflicted(l)).count();
            if n > 0 {
                let run = &lines[i..i + n];
                let version = |s: usize| -> String {
                    run.iter()
                        .filter(|l| {
                            ids(std::slice::from_ref(*l))
                                .iter()
                                .all(|&id| self.raw(s, id).is_some())
                        })
                        .map(|l| {
                            self.line(l, |id| match self.resolutions.get(id) {
                                Some(Resolution::Conflict) => self.raw(s, id),
                                _ => self.merged(id, s),
                            })
                        })
                        .collect()
                };
                out.conflict(&version(1), &version(2));
                i += n;
            } else {
                out.text
                    .push_str(&self.line(&lines[i], |id| self.merged(id, side.max(1))));
                i += 1;
            }
        }
    }

    /// Values in `base_lines` that the side keeping `kept` dropped although the merge of the
    /// value keeps it (changed on the other side).
    fn lost_values(&self, base_lines: &[String], kept: &[String]) -> Vec<usize> {
        if !self.values {
            return Vec::new();
        }
        let kept = ids(kept);
        ids(base_lines)
            .into_iter()
            .filter(|id| !kept.contains(id))
            .filter(|&id| !matches!(self.resolutions.get(id), Some(Resolution::Take(None))))
            .collect()
    }
}

struct Output {
    text: String,
    conflicts: usize,
    eol: &'static str,
    size: usize,
}

impl Output {
    fn conflict(&mut self, ours: &str, theirs: &str) {
        if ours == theirs {
            self.text.push_str(ours);
            return;
        }
        self.conflicts += 1;
        let eol = self.eol;
        let mut side = |marker: char, label: &str, body: &str| {
            self.text.push_str(&marker.to_string().repeat(self.size));
            if !label.is_empty() {
                self.text.push(' ');
                self.text.push_str(label);
            }
            self.text.push_str(eol);
            self.text.push_str(body);
            if !body.is_empty() && !body.ends_with('\n') {
                self.text.push_str(eol);
            }
        };
        side('<', "ours", ours);
        side('=', "", theirs);
        self.text.push_str(&">".repeat(self.size));
        self.text.push_str(" theirs");
        self.text.push_str(eol);
    }
}

/// A region of the three-way line alignment.
#[derive(Debug, PartialEq, Eq)]
enum Chunk {
    /// Base lines equal on all three sides.
    Stable(std::ops::Range<usize>),
    /// Lines that differ on at least one side.
    Changed {
        b: std::ops::Range<usize>,
        o: std::ops::Range<usize>,
        t: std::ops::Range<usize>,
    },
}

/// For each base line, the line of `side` it is matched with by a Myers diff.
fn matches(base: &[String], side: &[String]) -> Vec<Option<usize>> {
    let mut m = vec![None; base.len()];
    for op in capture_diff_slices(Algorithm::Myers, base, side) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = op
        {
            for k in 0..len {
                m[old_index + k] = Some(new_index + k);
            }
        }
    }
    m
}

/// The diff3 alignment: stable base lines (matched on both sides in step) and the changed
/// chunks between them.
fn diff3(base: &[String], ours: &[String], theirs: &[String]) -> Vec<Chunk> {
    let (mo, mt) = (matches(base, ours), matches(base, theirs));
    let (mut i, mut j, mut k) = (0, 0, 0);
    let mut chunks = Vec::new();
    loop {
        let stable_start = i;
        while i < base.len() && mo[i] == Some(j) && mt[i] == Some(k) {
            i += 1;
            j += 1;
            k += 1;
        }
        if i > stable_start {
            chunks.push(Chunk::Stable(stable_start..i));
        }
        let next = (i..base.len()).find(|&x| mo[x].is_some() && mt[x].is_some());
        let (bi, oj, tk) = match next {
            Some(x) => (x, mo[x].unwrap_or(j), mt[x].unwrap_or(k)),
            None => (base.len(), ours.len(), theirs.len()),
        };
        if (bi, oj, tk) != (i, j, k) {
            chunks.push(Chunk::Changed {
                b: i..bi,
                o: j..oj,
                t: k..tk,
            });
        }
        (i, j, k) = (bi, oj, tk);
        if next.is_none() {
            return chunks;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Backend as _;
    use crate::pgp::Keystore;

    fn lines(s: &str) -> Vec<String> {
        split_lines(s)
    }

    fn plain_merge(b: &str, o: &str, t: &str) -> (String, usize) {
        let keys = Keystore::new();
        let m = Merger::new(&keys).merge(b.as_bytes(), o.as_bytes(), t.as_bytes());
        (String::from_utf8(m.text).unwrap(), m.conflicts)
    }

    #[test]
    fn diff3_finds_stable_and_changed_chunks() {
        let b = lines("a\nb\nc\nd\n");
        let o = lines("a\nB\nc\nd\n");
        let t = lines("a\nb\nc\nD\n");
        assert_eq!(
            diff3(&b, &o, &t),
            vec![
                Chunk::Stable(0..1),
                Chunk::Changed {
                    b: 1..2,
                    o: 1..2,
                    t: 1..2
                },
                Chunk::Stable(2..3),
                Chunk::Changed {
                    b: 3..4,
                    o: 3..4,
                    t: 3..4
                },
            ]
        );
    }

    #[test]
    fn plain_lines_merge_like_git() {
        assert_eq!(
            plain_merge("a\nb\nc\nd\n", "a\nB\nc\nd\n", "a\nb\nc\nD\n"),
            ("a\nB\nc\nD\n".into(), 0)
        );
        assert_eq!(
            plain_merge("a\nb\nc\n", "a\nX\nc\n", "a\nY\nc\n"),
            (
                "a\n<<<<<<< ours\nX\n=======\nY\n>>>>>>> theirs\nc\n".into(),
                1
            )
        );
        // Common lines at the edges of a conflict are not part of it (git's zealous level).
        assert_eq!(
            plain_merge("a\n", "a\ns\nX\ne\n", "a\ns\nY\ne\n"),
            (
                "a\ns\n<<<<<<< ours\nX\n=======\nY\n>>>>>>> theirs\ne\n".into(),
                1
            )
        );
        assert_eq!(plain_merge("", "x\n", "x\n"), ("x\n".into(), 0));
    }

    #[test]
    fn values_on_adjacent_lines_merge_cleanly_without_keys() {
        let base = "a:\n  x: ENC[GPG,AAAA]\n  y: ENC[GPG,BBBB]\n";
        let ours = "a:\n  x: ENC[GPG,AAA1]\n  y: ENC[GPG,BBBB]\n";
        let theirs = "a:\n  x: ENC[GPG,AAAA]\n  y: ENC[GPG,BBB2]\n";
        assert_eq!(
            plain_merge(base, ours, theirs),
            ("a:\n  x: ENC[GPG,AAA1]\n  y: ENC[GPG,BBB2]\n".into(), 0)
        );
    }

    #[test]
    fn a_value_changed_on_both_sides_conflicts_between_its_ciphertexts() {
        let base = "x: ENC[GPG,AAAA]\nz: 1\n";
        let ours = "x: ENC[GPG,AAA1]\nz: 1\n";
        let theirs = "x: ENC[GPG,AAA2]\nz: 2\n";
        let keys = Keystore::new();
        let m = Merger::new(&keys).marker_size(3).merge(
            base.as_bytes(),
            ours.as_bytes(),
            theirs.as_bytes(),
        );
        assert_eq!(m.conflicts, 1);
        assert_eq!(
            String::from_utf8(m.text).unwrap(),
            "<<< ours\nx: ENC[GPG,AAA1]\n===\nx: ENC[GPG,AAA2]\n>>> theirs\nz: 2\n"
        );
        assert!(
            m.notes[0].starts_with("x: changed on both sides"),
            "{:?}",
            m.notes
        );
    }

    #[test]
    fn a_deleted_key_against_a_changed_value_conflicts() {
        let base = "a: 1\nx: ENC[GPG,AAAA]\nb: 2\n";
        let ours = "a: 1\nb: 2\n";
        let theirs = "a: 1\nx: ENC[GPG,AAA2]\nb: 2\n";
        let (text, n) = plain_merge(base, ours, theirs);
        assert_eq!(n, 1);
        assert_eq!(
            text,
            "a: 1\n<<<<<<< ours\n=======\nx: ENC[GPG,AAA2]\n>>>>>>> theirs\nb: 2\n"
        );
        // Deleted on one side, untouched on the other: a clean deletion.
        assert_eq!(plain_merge(base, ours, base), (ours.into(), 0));
    }

    #[test]
    fn with_a_key_a_re_encryption_gives_way_to_the_other_sides_change() {
        let mut keys = Keystore::new();
        keys.load_path(std::path::Path::new("fixtures/reference/keys/bob.sec.asc"))
            .unwrap();
        let to = vec![keys.resolve("bob@example.com").unwrap()];
        let e = |p: &str| {
            Scheme::Gpg
                .encrypt(&keys, &to, p.as_bytes(), &token::Form::String)
                .unwrap()
        };
        let (a_base, a_ours, a_theirs) = (e("x"), e("x"), e("y"));
        let (z_base, z_theirs) = (e("z"), e("z"));
        let (s_ours, s_theirs) = (e("same"), e("same"));
        let base = format!("a: {a_base}\nz: {z_base}\n");
        let ours = format!("s: {s_ours}\na: {a_ours}\n");
        let theirs = format!("s: {s_theirs}\na: {a_theirs}\nz: {z_theirs}\n");
        let m = Merger::new(&keys).merge(base.as_bytes(), ours.as_bytes(), theirs.as_bytes());
        assert_eq!(m.conflicts, 0, "{:?}", m.notes);
        assert_eq!(
            String::from_utf8(m.text).unwrap(),
            format!("s: {s_ours}\na: {a_theirs}\n"),
            "a: their change; z: our deletion (they only re-encrypted); s: equal plaintexts"
        );
        // Recipients that cannot be resolved: nothing re-encrypted, one note.
        let m = Merger::new(&keys)
            .desired(Box::new(|| {
                keys.resolve("nobody@example.com").map(|k| vec![k])
            }))
            .merge(base.as_bytes(), ours.as_bytes(), theirs.as_bytes());
        assert_eq!(m.reencrypted, 0);
        assert!(m.notes[0].starts_with("values changed on one side were not re-encrypted"));
    }

    #[test]
    fn crlf_markers_and_bytes_that_are_not_text() {
        let (text, n) = plain_merge("a\r\nb\r\n", "a\r\nX\r\n", "a\r\nY\r\n");
        assert_eq!(n, 1);
        assert_eq!(
            text,
            "a\r\n<<<<<<< ours\r\nX\r\n=======\r\nY\r\n>>>>>>> theirs\r\n"
        );
        let keys = Keystore::new();
        let m = Merger::new(&keys).merge(b"\xff\n1\n", b"\xff\n2\n", b"\xff\n1\n");
        assert_eq!((m.text, m.conflicts), (b"\xff\n2\n".to_vec(), 0));
        assert_eq!(m.notes.len(), 1);
    }
}
