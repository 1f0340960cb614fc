//! Pieces shared by the subcommands: settings from flags and config files, messages, input
//! reading and the key store.

pub mod config;
pub mod input;
pub mod keys;
pub mod ui;

use std::fmt;

/// A usage or environment error: exit code 2 instead of 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for failing with a usage error.
pub fn usage<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(msg.into()).into())
}

/// An exit status to end with, everything already reported (e.g. `recrypt --dry-run` found
/// stale values: status 1, no error message).
#[derive(Debug)]
pub struct Status(pub u8);

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Status {}

/// Several errors reported together (e.g. every bad value of a file).
#[derive(Debug)]
pub struct Many(pub Vec<eyaml_gpg::Error>);

impl fmt::Display for Many {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Many {}

impl From<Vec<eyaml_gpg::Error>> for Many {
    fn from(v: Vec<eyaml_gpg::Error>) -> Self {
        Many(v)
    }
}
