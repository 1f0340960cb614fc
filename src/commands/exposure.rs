//! `exposure`: every value a key could read at some point of the git history, grouped by what
//! it means today (exposed, current, unknown, removed, rotated).

use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::exposure::{self, Options, Status};

use super::{emit, Context};
use crate::cli::{ExposureArgs, ReportFormat};

/// Runs `exposure`.
pub fn run(ctx: &Context, args: &ExposureArgs) -> Result<ExitCode> {
    let mut store = ctx.keystore()?;
    // Only key ids are compared and plaintexts decrypted: the trust rule does not apply.
    store.set_always_trust(true);
    let options = Options {
        since: args.since.clone(),
        extension: args.extension.clone(),
        method: ctx.scheme_less()?,
    };
    let cwd = std::env::current_dir()?;
    let report = exposure::exposure(&store, &args.key, &cwd, &args.paths, &options)?;
    if !report.missing_history.is_empty() {
        let short: Vec<&str> = report
            .missing_history
            .iter()
            .map(|c| &c[..c.len().min(12)])
            .collect();
        ctx.ui.warn(&format!(
            "shallow clone: the history before {} is missing, so older exposure is not shown (run `git fetch --unshallow`)",
            short.join(", ")
        ));
    }
    for w in &report.warnings {
        ctx.ui.warn(w);
    }
    ctx.ui.debug(&format!(
        "{} commit{} read for {}",
        report.commits,
        if report.commits == 1 { "" } else { "s" },
        report.certificate
    ));
    let out = match args.format {
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&report.exposures)?),
        ReportFormat::Text => text(&report),
    };
    emit(out.as_bytes(), false)?;
    Ok(ExitCode::from(u8::from(report.any_exposed())))
}

fn text(report: &exposure::Report) -> String {
    let mut s = String::new();
    if report.exposures.is_empty() {
        s.push_str(&format!(
            "{} could not read any value in {} commit{}\n",
            report.certificate,
            report.commits,
            if report.commits == 1 { "" } else { "s" }
        ));
        return s;
    }
    let heading = |st: Status| match st {
        Status::Exposed => {
            "exposed: an earlier version the key could read has today's plaintext (rotate these)"
        }
        Status::Current => {
            "current: the key can decrypt these now (keys rm, then recrypt, then rotate)"
        }
        Status::Unknown => "unknown: no secret key at hand to compare the plaintexts",
        Status::Removed => {
            "removed: no longer in the tree (rotate the secret if it is still in use)"
        }
        Status::Rotated => "rotated: the plaintext changed after the key lost access",
    };
    let mut last = None;
    for e in &report.exposures {
        if last != Some(e.status) {
            if last.is_some() {
                s.push('\n');
            }
            s.push_str(heading(e.status));
            s.push('\n');
            last = Some(e.status);
        }
        let refs = |v: &[exposure::CommitRef]| {
            v.iter()
                .map(|c| format!("{} ({})", &c.commit[..c.commit.len().min(10)], c.date))
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!("  {}  {}", e.file, e.key));
        s.push_str(&format!("  gained {}", refs(&e.gained)));
        if !e.lost.is_empty() {
            s.push_str(&format!("  lost {}", refs(&e.lost)));
        }
        s.push('\n');
    }
    s
}
