//! Pieces shared by the subcommands: settings from flags and config files, messages, input
//! reading and the key store.

pub mod config;
pub mod input;
pub mod process;
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
