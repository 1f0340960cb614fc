//! `merge`: the git merge driver (`eyaml-gpg merge %O %A %B %P`), the merge itself being
//! `eyaml_gpg::merge`; `--install` configures it for the current repository.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{anyhow, Context as _, Result};
use eyaml_gpg::eyaml;
use eyaml_gpg::merge::Merger;
use eyaml_gpg::recrypt::{desired_for, RecipientOverride};
use eyaml_gpg::Keystore;

use super::Context;
use crate::cli::MergeArgs;
use crate::common::input::read_bytes;
use crate::common::usage;

/// The driver command `--install` configures (and the README shows).
pub const DRIVER: &str = "eyaml-gpg merge --marker-size %L %O %A %B %P";
/// The attributes line `--install` adds.
pub const ATTRIBUTES: &str = "*.eyaml merge=eyaml";

/// Runs `merge`: exit 0 clean, 1 conflicts left in OURS.
pub fn run(ctx: &Context, args: &MergeArgs) -> Result<ExitCode> {
    if args.install {
        install(ctx)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(base), Some(ours), Some(theirs)) = (&args.base, &args.ours, &args.theirs) else {
        return usage("merge needs BASE, OURS and THEIRS (or --install)");
    };
    let method = ctx.scheme_less()?;
    let texts = [read_bytes(base)?, read_bytes(ours)?, read_bytes(theirs)?];
    let store = match ctx.keystore() {
        Ok(s) => s,
        Err(e) => {
            ctx.ui.warn(&format!(
                "merge: no keys ({e}): values are compared as ciphertexts"
            ));
            Keystore::new()
        }
    };
    let shown = args.path.as_deref().unwrap_or(ours.as_path());
    let mut merger = Merger::new(&store)
        .method(method)
        .marker_size(args.marker_size);
    if let Some(path) = &args.path {
        let over = RecipientOverride {
            names: ctx.settings.recipients.clone(),
            file: ctx.settings.recipients_file.clone(),
        };
        let store = &store;
        merger = merger.desired(Box::new(move || {
            desired_for(store, &over, path).map(|d| d.keys)
        }));
    }
    let merged = merger.merge(&texts[0], &texts[1], &texts[2]);
    for note in &merged.notes {
        ctx.ui.warn(&format!("merge: {}: {note}", shown.display()));
    }
    if merged.reencrypted > 0 {
        ctx.ui.info(&format!(
            "merge: {}: {} value(s) re-encrypted to the file's recipients",
            shown.display(),
            merged.reencrypted
        ));
    }
    eyaml::write_atomic(ours, &merged.text, None)?;
    if merged.conflicts > 0 {
        ctx.ui.info(&format!(
            "merge: {}: {} conflict(s) left between markers",
            shown.display(),
            merged.conflicts
        ));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `*.eyaml merge=eyaml` to the repository's `.gitattributes` (unless there) and sets
/// `merge.eyaml.driver` in its config.
fn install(ctx: &Context) -> Result<()> {
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = Path::new(top.trim_end_matches('\n'));
    let attributes = top.join(".gitattributes");
    let existing = match std::fs::read(&attributes) {
        Ok(b) => {
            String::from_utf8(b).map_err(|_| anyhow!("{}: not UTF-8 text", attributes.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| attributes.display().to_string()),
    };
    if existing.lines().any(|l| l.trim() == ATTRIBUTES) {
        ctx.ui.info(&format!(
            "{} already has {ATTRIBUTES}",
            attributes.display()
        ));
    } else {
        let mut text = existing;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(ATTRIBUTES);
        text.push('\n');
        eyaml::write_atomic(&attributes, text.as_bytes(), None)?;
        ctx.ui
            .info(&format!("added {ATTRIBUTES} to {}", attributes.display()));
    }
    git(&[
        "config",
        "merge.eyaml.name",
        "eyaml-gpg value-aware merge of eyaml files",
    ])?;
    git(&["config", "merge.eyaml.driver", DRIVER])?;
    ctx.ui
        .info(&format!("git config merge.eyaml.driver '{DRIVER}'"));
    Ok(())
}

fn git(args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .args(args)
        .output()
        .context("cannot run git")?;
    if !out.status.success() {
        return usage(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
