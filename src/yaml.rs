//! YAML validation (a minimal adapter on serde-saphyr): whether a text parses, and where it
//! does not. The parser only judges; nothing is ever re-serialised.

use std::fmt;

/// Why a text is not valid YAML, with its 1-based position. The message comes from the parser
/// without any source snippet, so it does not echo the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line (0 when unknown).
    pub line: usize,
    /// 1-based column (0 when unknown).
    pub column: usize,
    /// The parser's message, without location or source excerpt.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Checks that `text` is one YAML document as Hiera reads it (duplicate keys: the last wins,
/// `<<` merges). An empty or comment-only text is valid.
pub fn validate(text: &str) -> Result<(), YamlError> {
    use serde_saphyr::options::DuplicateKeyPolicy;
    use serde_saphyr::MessageFormatter as _;
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::LastWins,
    };
    match serde_saphyr::from_str_with_options::<serde::de::IgnoredAny>(text, options) {
        Ok(_) => Ok(()),
        Err(serde_saphyr::Error::Eof { .. }) => Ok(()),
        Err(e) => {
            let (line, column) = e
                .location()
                .map(|l| (l.line() as usize, l.column() as usize))
                .unwrap_or((0, 0));
            let message = serde_saphyr::UserMessageFormatter
                .format_message(e.without_snippet())
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Err(YamlError {
                line,
                column,
                message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_empty_and_broken() {
        assert_eq!(validate(""), Ok(()));
        assert_eq!(validate("# only a comment\n"), Ok(()));
        assert_eq!(validate("---\na: 1\na: 2\n"), Ok(()));
        let e = validate("a: 1\nb: [unclosed\nc: 3\n").unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let e = validate("a: 1\n  b: hunter2-secret\n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(!e.message.contains("hunter2"), "{e:?}");
    }
}
