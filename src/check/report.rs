//! A whole check run: every file of a [`FileSet`] and its recipients file checked, findings
//! filtered by the configuration and sorted, counted, and judged against `--fail-on`. The
//! report serialises to the documented JSON schema (README, `check --format json`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Serialize;

use super::{Checker, Config, Finding, RecipientsCheck, Rule, Severity};
use crate::tree::{Contents, FileSet, Location};

/// Which findings make a check fail (`--fail-on`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailOn {
    /// Never fail.
    Never,
    /// Fail on any finding.
    Warning,
    /// Fail on errors only.
    #[default]
    Error,
}

/// Counts of findings by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Findings of severity error.
    pub errors: usize,
    /// Findings of severity warning.
    pub warnings: usize,
}

/// The result of a check run (fields in the JSON report's key order).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// How many eyaml files were checked.
    pub files_checked: usize,
    /// The findings, by path, line, column and rule.
    pub findings: Vec<Finding>,
    /// Counts by severity.
    pub summary: Summary,
    /// The schema version (1).
    pub version: u32,
}

impl Report {
    /// A report of `findings` (filtered by `config`, then sorted and counted).
    pub fn new(files_checked: usize, mut findings: Vec<Finding>, config: &Config) -> Report {
        config.filter(&mut findings);
        findings.sort_by(|a, b| {
            (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
        });
        let errors = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count();
        Report {
            files_checked,
            summary: Summary {
                errors,
                warnings: findings.len() - errors,
            },
            findings,
            version: 1,
        }
    }

    /// Whether the findings reach `fail_on`.
    pub fn fails(&self, fail_on: FailOn) -> bool {
        match fail_on {
            FailOn::Never => false,
            FailOn::Warning => !self.findings.is_empty(),
            FailOn::Error => self.summary.errors > 0,
        }
    }

    /// The JSON report, pretty-printed, with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

impl Checker<'_> {
    /// Checks every file of `set` (in parallel) against its recipients file, or against
    /// `global` when the recipients are given for all files (`--gpg-recipients`,
    /// `--gpg-recipients-file`); every recipients file met is checked too unless `global` is
    /// given. `resolve`: whether recipients are resolved against the keys (see
    /// [`Checker::recipients`]).
    pub fn tree(
        &self,
        set: &FileSet,
        contents: &Contents,
        global: Option<RecipientsCheck>,
        resolve: bool,
    ) -> Report {
        let mut findings: Vec<Finding> = Vec::new();
        let mut by_file: HashMap<&Location, RecipientsCheck> = HashMap::new();
        match &global {
            Some(g) => findings.extend(g.findings.iter().cloned()),
            None => {
                for (location, display) in &set.recipients {
                    let bytes = contents
                        .recipients
                        .get(location)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let rc = self.recipients_file(display, bytes, resolve);
                    findings.extend(rc.findings.iter().cloned());
                    by_file.insert(location, rc);
                }
            }
        }
        let per_file: Vec<Vec<Finding>> = set
            .files
            .par_iter()
            .zip(&contents.files)
            .map(|(file, bytes)| {
                let rc = match &global {
                    Some(g) => Some(g),
                    None => file.recipients.as_ref().and_then(|k| by_file.get(k)),
                };
                match std::str::from_utf8(bytes) {
                    Ok(text) => self.file(&file.display, text, rc),
                    Err(e) => vec![Finding {
                        rule: Rule::Yaml,
                        severity: Severity::Error,
                        path: file.display.clone(),
                        line: 1,
                        column: 1,
                        message: format!(
                            "the file is not UTF-8 text (invalid byte at offset {})",
                            e.valid_up_to()
                        ),
                        key: None,
                    }],
                }
            })
            .collect();
        findings.extend(per_file.into_iter().flatten());
        findings.extend(leftover_findings(set));
        Report::new(set.files.len(), findings, self.config())
    }
}

/// The temp files interrupted runs left next to the work-tree files of `set` (see
/// [`crate::leftover`]), shown below the directory the user named where possible.
fn leftover_findings(set: &FileSet) -> Vec<Finding> {
    let mut shown: HashMap<PathBuf, PathBuf> = HashMap::new();
    for f in &set.files {
        let (Some(p), Some(display_dir)) = (f.path(), f.display.parent()) else {
            continue;
        };
        let Some(real_dir) = std::fs::canonicalize(p)
            .ok()
            .and_then(|r| r.parent().map(Path::to_path_buf))
        else {
            continue;
        };
        let same = std::fs::canonicalize(if display_dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            display_dir
        })
        .is_ok_and(|d| d == real_dir);
        let display = if same {
            display_dir.to_path_buf()
        } else {
            real_dir.clone()
        };
        shown.entry(real_dir).or_insert(display);
    }
    crate::leftover::find(shown.keys().map(PathBuf::as_path))
        .into_iter()
        .map(|l| {
            let dir = l.path.parent().and_then(|d| shown.get(d));
            let path = match (dir, l.path.file_name()) {
                (Some(d), Some(n)) => d.join(n),
                _ => l.path.clone(),
            };
            Finding {
                rule: Rule::LeftoverTempFile,
                severity: Rule::LeftoverTempFile.severity(),
                path,
                line: 1,
                column: 1,
                message: format!(
                    "temp file left by an interrupted eyaml-gpg run (process {}, no longer \
                     running): delete it, or run `eyaml-gpg recrypt` on this tree, which \
                     removes it",
                    l.pid
                ),
                key: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn finding(severity: Severity, line: usize) -> Finding {
        Finding {
            rule: Rule::DecMarker,
            severity,
            path: PathBuf::from("a.eyaml"),
            line,
            column: 1,
            message: "m".into(),
            key: None,
        }
    }

    #[test]
    fn counts_order_and_fail_policy() {
        let config = Config::default();
        let r = Report::new(
            1,
            vec![finding(Severity::Warning, 2), finding(Severity::Error, 1)],
            &config,
        );
        assert_eq!(r.findings[0].line, 1);
        assert_eq!((r.summary.errors, r.summary.warnings), (1, 1));
        assert!(r.fails(FailOn::Error) && r.fails(FailOn::Warning) && !r.fails(FailOn::Never));
        let r = Report::new(1, vec![finding(Severity::Warning, 2)], &config);
        assert!(!r.fails(FailOn::Error) && r.fails(FailOn::Warning));
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["findings"][0]["rule"], "dec-marker");
        assert_eq!(json["findings"][0]["severity"], "warning");
        assert_eq!(json["summary"]["warnings"], 1);
        assert_eq!(json["version"], 1);
    }
}
