//! Messages on standard error: `eyaml-gpg: …`, coloured only on a terminal (and never with
//! `NO_COLOR`).

use std::io::{IsTerminal, Write};

/// How much to say and how.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// 0 quiet, 1 normal, 2 verbose, 3 trace.
    pub level: u8,
    color: bool,
}

impl Ui {
    /// Decides colour from the terminal and `NO_COLOR`. `-q` beats `-v` and `-t`, as in eyaml
    /// (which counts verbosity up, then sets it to 0 for `-q`).
    pub fn new(quiet: bool, verbose: bool, trace: bool) -> Self {
        let level = if quiet {
            0
        } else if trace {
            3
        } else if verbose {
            2
        } else {
            1
        };
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Ui { level, color }
    }

    fn emit(&self, color: &str, msg: &str) {
        let mut err = std::io::stderr().lock();
        for line in msg.lines() {
            let _ = if self.color {
                writeln!(err, "{color}eyaml-gpg: {line}\x1b[0m")
            } else {
                writeln!(err, "eyaml-gpg: {line}")
            };
        }
    }

    /// An error (always shown).
    pub fn error(&self, msg: &str) {
        self.emit("\x1b[31m", msg);
    }

    /// A warning.
    pub fn warn(&self, msg: &str) {
        if self.level >= 1 {
            self.emit("\x1b[33m", &format!("warning: {msg}"));
        }
    }

    /// An informational message (hidden by `-q`).
    pub fn info(&self, msg: &str) {
        if self.level >= 1 {
            self.emit("\x1b[0m", msg);
        }
    }

    /// Shown with `-v`.
    pub fn debug(&self, msg: &str) {
        if self.level >= 2 {
            self.emit("\x1b[32m", msg);
        }
    }

    /// Shown with `-t`.
    pub fn trace(&self, msg: &str) {
        if self.level >= 3 {
            self.emit("\x1b[34m", msg);
        }
    }
}
