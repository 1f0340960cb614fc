//! The YAML adapter: checks that a text is one valid YAML document and says where it is not.
//! It only reads; eyaml-gpg never re-serialises YAML.

use std::fmt;

/// Why a text is not valid YAML, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line (0 when the parser gave no position).
    pub line: usize,
    /// 1-based column (0 when the parser gave no position).
    pub column: usize,
    /// The parser's message.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Checks that `text` is valid YAML (one document; an empty document is valid).
pub fn validate(text: &str) -> Result<(), YamlError> {
    match serde_saphyr::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => Ok(()),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((0, 0));
            Err(YamlError {
                line,
                column,
                message: short_message(&e.to_string()),
            })
        }
    }
}

/// The parser's first line without its `error: line N column M: ` prefix (the position is kept
/// in the fields; the source excerpt that follows is left out).
fn short_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match first.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, rest)) if pos.contains(" column ") => rest.to_string(),
        _ => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documents() {
        for ok in [
            "",
            "---\n",
            "---",
            "a: 1\n",
            "---\n# c\na: >\n    ENC[GPG,abc\n    def]\nb: [1, 2]\n",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn reports_position() {
        let e = validate("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = validate("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4), "{e:?}");
        assert_eq!(e.message, "mapping values are not allowed in this context");
    }
}
