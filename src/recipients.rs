//! Who a value is encrypted to: `--gpg-recipients`, `--gpg-recipients-file`, or the nearest
//! `hiera-eyaml-gpg.recipients` walking up from the target file's real directory.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The name of the file that lists a directory tree's recipients.
pub const RECIPIENTS_FILE: &str = "hiera-eyaml-gpg.recipients";

/// Where a recipient list came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `--gpg-recipients a,b`.
    Option,
    /// `--gpg-recipients-file FILE`.
    File(PathBuf),
    /// The nearest `hiera-eyaml-gpg.recipients` above the target.
    Discovered(PathBuf),
}

/// A recipient list and its origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipients {
    /// The recipient strings, in order.
    pub names: Vec<String>,
    /// Where they came from.
    pub source: Source,
}

impl Recipients {
    /// The recipients file, if the list came from one.
    pub fn file(&self) -> Option<&Path> {
        match &self.source {
            Source::Option => None,
            Source::File(p) | Source::Discovered(p) => Some(p),
        }
    }
}

/// Parses a recipients file: lines trimmed; blank lines, `#` comments (indented too) and
/// trailing ` # …` comments skipped.
///
/// Deliberate difference: Ruby treats an indented `# x` as a recipient named `# x`.
pub fn parse(text: &str) -> Vec<String> {
    parse_lines(text).into_iter().map(|l| l.recipient).collect()
}

/// One recipient line of a recipients file, with where it is (for editing in place).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// Byte range of the whole line, its line end included.
    pub span: std::ops::Range<usize>,
    /// Byte range of the recipient string (no indentation, no trailing comment).
    pub recipient_span: std::ops::Range<usize>,
    /// The recipient string.
    pub recipient: String,
}

/// Parses a recipients file as [`parse`] does, keeping every recipient's line and spans.
pub fn parse_lines(text: &str) -> Vec<Line> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let span = start..start + raw.len();
        start = span.end;
        let body = raw.trim_end_matches(['\n', '\r']);
        let trimmed = body.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let lead = body.len() - body.trim_start().len();
        let cut = match trimmed.find(" #").or_else(|| trimmed.find("\t#")) {
            Some(i) => trimmed[..i].trim_end(),
            None => trimmed,
        };
        if cut.is_empty() {
            continue;
        }
        let from = span.start + lead;
        out.push(Line {
            number: i + 1,
            span,
            recipient_span: from..from + cut.len(),
            recipient: cut.to_string(),
        });
    }
    out
}

/// Reads and parses a recipients file.
pub fn read_file(path: &Path) -> Result<Vec<String>> {
    Ok(parse(&crate::fsutil::read_text(path)?))
}

/// The nearest recipients file at or above `dir` (made absolute and real first; a directory
/// that does not exist yet is replaced by its nearest existing ancestor).
pub fn find_file(dir: &Path) -> Option<PathBuf> {
    let mut start = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir.to_path_buf()
    };
    let real = loop {
        if let Ok(r) = start.canonicalize() {
            break r;
        }
        match start.parent() {
            Some(p) if !p.as_os_str().is_empty() => start = p.to_path_buf(),
            _ => break std::env::current_dir().ok()?,
        }
    };
    // Anything by that name counts, not only a regular file: a directory, FIFO or looping
    // link called `hiera-eyaml-gpg.recipients` is then refused when read, never skipped for a
    // parent's list (which would encrypt to the wrong people).
    nearest(&real, |f| f.symlink_metadata().is_ok())
}

/// The walk-up every recipients lookup shares: the nearest `hiera-eyaml-gpg.recipients` at or
/// above `dir`, where `exists` says whether a candidate is a file. On disk `dir` is a real
/// directory; in the git index it is a repository path (`a/b`, or empty at the top).
pub fn nearest(dir: &Path, exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(RECIPIENTS_FILE))
        .find(|f| exists(f))
}

/// The directory whose recipients apply to `target`: its parent (the file may not exist yet).
pub fn target_dir(target: &Path) -> PathBuf {
    match target.canonicalize() {
        Ok(real) => real.parent().map(Path::to_path_buf).unwrap_or(real),
        Err(_) => target.parent().map(Path::to_path_buf).unwrap_or_default(),
    }
}

/// Decides the recipients for a target: the option list, else the option file, else the
/// nearest recipients file above `near` (a directory). Fails with the Ruby tool's message when
/// there are none.
pub fn resolve(
    option: &[String],
    option_file: Option<&Path>,
    near: Option<&Path>,
) -> Result<Recipients> {
    let names: Vec<String> = option
        .iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let found = if !names.is_empty() {
        Recipients {
            names,
            source: Source::Option,
        }
    } else if let Some(f) = option_file {
        Recipients {
            names: read_file(f)?,
            source: Source::File(f.to_path_buf()),
        }
    } else if let Some(f) = near.and_then(find_file) {
        Recipients {
            names: read_file(&f)?,
            source: Source::Discovered(f),
        }
    } else {
        return Err(Error::NoRecipients);
    };
    if found.names.is_empty() {
        return Err(Error::NoRecipients);
    }
    Ok(found)
}

/// How a recipient string names its key, as GnuPG's `classify_user_id` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Hex fingerprint; `true` when `!` asks for exactly that (sub)key.
    Fingerprint(String, bool),
    /// Hex key id (16 or 8 digits); `true` when `!` asks for exactly that (sub)key.
    KeyId(String, bool),
    /// `<mail>`: the e-mail address exactly (case-insensitive).
    MailExact(String),
    /// `@part`: a substring of the e-mail address.
    MailSub(String),
    /// `=uid`: the user id exactly.
    Exact(String),
    /// Anything else (or `*text`): a case-insensitive substring of a user id.
    Substring(String),
}

/// Classifies a recipient string as GnuPG's `classify_user_id` does.
pub fn classify(recipient: &str) -> Query {
    let s = recipient.trim();
    if let Some(rest) = s.strip_prefix('<') {
        return Query::MailExact(rest.trim_end_matches('>').to_string());
    }
    if let Some(rest) = s.strip_prefix('@') {
        return Query::MailSub(rest.to_string());
    }
    if let Some(rest) = s.strip_prefix('=') {
        return Query::Exact(rest.to_string());
    }
    if let Some(rest) = s.strip_prefix('*') {
        return Query::Substring(rest.to_string());
    }
    let (body, exact) = match s.strip_suffix('!') {
        Some(b) => (b, true),
        None => (s, false),
    };
    let body = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .unwrap_or(body);
    let compact: String = body.chars().filter(|c| *c != ' ').collect();
    if !compact.is_empty() && compact.chars().all(|c| c.is_ascii_hexdigit()) {
        let hex = compact.to_ascii_uppercase();
        match hex.len() {
            40 | 64 => return Query::Fingerprint(hex, exact),
            16 | 8 if !body.contains(' ') => return Query::KeyId(hex, exact),
            _ => {}
        }
    }
    Query::Substring(s.to_string())
}

impl Query {
    /// How the string names its key when not by fingerprint (`check`'s recipient hygiene):
    /// `key id`, `e-mail address` or `name`.
    pub fn naming(&self) -> Option<&'static str> {
        match self {
            Query::Fingerprint(..) => None,
            Query::KeyId(..) => Some("key id"),
            Query::MailExact(s) | Query::MailSub(s) | Query::Exact(s) | Query::Substring(s) => {
                Some(if s.contains('@') || matches!(self, Query::MailSub(_)) {
                    "e-mail address"
                } else {
                    "name"
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blanks() {
        let text = "# head\n\n  bob@example.com  \n   # indented\nAA05 # alice\n\tpuppetmaster\r\n";
        assert_eq!(parse(text), vec!["bob@example.com", "AA05", "puppetmaster"]);
        let lines = parse_lines(text);
        assert_eq!(
            lines.iter().map(|l| l.number).collect::<Vec<_>>(),
            vec![3, 5, 6]
        );
        assert_eq!(&text[lines[1].recipient_span.clone()], "AA05");
        assert_eq!(&text[lines[1].span.clone()], "AA05 # alice\n");
        assert_eq!(&text[lines[2].recipient_span.clone()], "puppetmaster");
    }

    #[test]
    fn walks_up_to_nearest() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(dir.path().join("a").join(RECIPIENTS_FILE), "x\n").unwrap();
        let found = find_file(&deep).unwrap();
        assert_eq!(
            found,
            dir.path()
                .join("a")
                .join(RECIPIENTS_FILE)
                .canonicalize()
                .unwrap()
        );
        // a directory that does not exist yet uses its nearest existing ancestor
        assert_eq!(find_file(&deep.join("new/dir")).unwrap(), found);
        std::fs::write(deep.join(RECIPIENTS_FILE), "y\n").unwrap();
        assert_eq!(
            find_file(&deep).unwrap(),
            deep.join(RECIPIENTS_FILE).canonicalize().unwrap()
        );
    }

    #[test]
    fn walks_up_index_paths() {
        let staged = ["a/hiera-eyaml-gpg.recipients", "hiera-eyaml-gpg.recipients"];
        let has = |f: &Path| staged.iter().any(|s| Path::new(s) == f);
        let found = |d: &str| nearest(Path::new(d), has);
        assert_eq!(found("a/b/c"), Some(PathBuf::from(staged[0])));
        assert_eq!(found("a"), Some(PathBuf::from(staged[0])));
        assert_eq!(found("x/y"), Some(PathBuf::from(staged[1])));
        assert_eq!(found(""), Some(PathBuf::from(staged[1])));
        assert_eq!(nearest(Path::new("a/b"), |_| false), None);
    }

    #[test]
    fn classifies_as_gnupg_and_names_the_kind() {
        let fpr = "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28";
        assert_eq!(classify(fpr), Query::Fingerprint(fpr.into(), false));
        let spaced = classify("0xAA05 D4CD BA88 FD4B 96D9  9CEF 21AD CF29 FD14 CC28");
        assert_eq!(spaced, Query::Fingerprint(fpr.into(), false));
        assert_eq!(spaced.naming(), None);
        assert_eq!(
            classify("21ADCF29FD14CC28!"),
            Query::KeyId("21ADCF29FD14CC28".into(), true)
        );
        assert_eq!(classify("21ADCF29FD14CC28").naming(), Some("key id"));
        assert_eq!(classify("bob@example.com").naming(), Some("e-mail address"));
        assert_eq!(
            classify("<bob@example.com>").naming(),
            Some("e-mail address")
        );
        assert_eq!(classify("puppetmaster").naming(), Some("name"));
    }

    #[test]
    fn option_list_wins_and_is_trimmed() {
        let r = resolve(&[" a , b,".into()], None, None).unwrap();
        assert_eq!(r.names, vec!["a", "b"]);
        assert_eq!(r.source, Source::Option);
        assert!(matches!(resolve(&[], None, None), Err(Error::NoRecipients)));
    }
}
