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
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = match line.find(" #").or_else(|| line.find("\t#")) {
                Some(i) => line[..i].trim_end(),
                None => line,
            };
            (!line.is_empty()).then(|| line.to_string())
        })
        .collect()
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
    real.ancestors()
        .map(|d| d.join(RECIPIENTS_FILE))
        .find(|f| f.is_file())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_blanks() {
        let text = "# head\n\n  bob@example.com  \n   # indented\nAA05 # alice\n\tpuppetmaster\r\n";
        assert_eq!(parse(text), vec!["bob@example.com", "AA05", "puppetmaster"]);
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
    fn option_list_wins_and_is_trimmed() {
        let r = resolve(&[" a , b,".into()], None, None).unwrap();
        assert_eq!(r.names, vec!["a", "b"]);
        assert_eq!(r.source, Source::Option);
        assert!(matches!(resolve(&[], None, None), Err(Error::NoRecipients)));
    }
}
