//! The YAML adapter: the one module that reads YAML (through serde-saphyr's parser). It reads a
//! text the way Ruby's Psych does in Puppet (YAML 1.1 scalars, merge keys, aliases) into our own
//! [`Value`](crate::value::Value), validates texts for the editing commands, and locates values.

use std::fmt;

use serde_saphyr::granit_parser::{Event, Parser, ScanError};

/// A YAML error at a place in the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for YamlError {}

impl From<ScanError> for YamlError {
    fn from(e: ScanError) -> Self {
        let m = e.marker();
        YamlError {
            line: m.line().max(1),
            column: m.col() + 1,
            message: e.kind().to_string(),
        }
    }
}

/// Checks that `text` is YAML that Puppet can load, reporting the first problem with its
/// line and column.
pub fn validate(text: &str) -> Result<(), YamlError> {
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        if let (Event::StreamEnd, _) = event? {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_reports_line_and_column() {
        assert_eq!(validate("a: 1\nb: [2, 3]\n"), Ok(()));
        let e = validate("a: 1\nb: [2, 3\nc: 4\n").unwrap_err();
        assert!(e.line >= 2, "{e}");
        let e = validate("a: 1\n  b: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 4), "{e}");
    }
}
