//! `recrypt`: re-encrypts the values of files or trees whose recipients changed (only those by
//! default, every value with `--all`) and migrates the values of the other scheme to the `-d`
//! one, or reports them with `--dry-run`. All files are decided before any is written; each is
//! written atomically.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use eyaml_gpg::eyaml::{Patterns, Walk};
use eyaml_gpg::leftover;
use eyaml_gpg::recrypt::{self, Report};
use eyaml_gpg::recrypt::{FileInspection, RecipientOverride, StateCounts, ValueState};
use eyaml_gpg::scheme::{Backend, EncryptionKey, KeyId, KeyMaterial, Material, Scheme};
use eyaml_gpg::Error;

use super::Context;
use crate::cli::{RecryptArgs, ReportFormat};
use crate::common::{usage, UsageError};

/// Runs `recrypt`.
pub fn run(ctx: &Context, args: &RecryptArgs) -> Result<ExitCode> {
    let Some(target) = Scheme::from_method(&args.change_encryption.to_ascii_lowercase()) else {
        return usage(format!(
            "recrypt -d {}: unknown encryption method (gpg or pkcs7)",
            args.change_encryption
        ));
    };
    let paths = collect(ctx, &args.paths, &args.extension)?;
    clean_leftovers(ctx, &paths, args.dry_run);
    let mut store = ctx.keystore()?;
    if args.dry_run {
        // Nothing is encrypted, only key ids compared: the GnuPG trust rule does not apply,
        // so a CI home with imported public keys and no ownertrust can run the dry run.
        store.set_always_trust(true);
    }
    let method = ctx.scheme_less()?;
    let over = RecipientOverride {
        names: ctx.settings.recipients.clone(),
        file: ctx.settings.recipients_file.clone(),
    };
    let pkcs7 = ctx.pkcs7_keys();
    let material = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    let (files, broken) = recrypt::inspect_files(&material, &paths, method, target, &over);
    for f in &files {
        describe_file(ctx, f, target);
    }
    for e in &broken {
        ctx.ui.error(&e.to_string());
    }

    if args.dry_run {
        if !ctx.settings.always_trust {
            warn_untrusted(ctx, &mut store, &files);
        }
        let material = Material {
            gpg: &store,
            pkcs7: &pkcs7,
        };
        let report = Report::new(&material, &files, &broken, None, target, args.all);
        match args.format {
            ReportFormat::Json => print(&report.to_json()),
            ReportFormat::Text => print_text(&material, &files, target, args.all),
        }
        let t = &report.summary;
        if ctx.ui.level >= 1 {
            eprintln!(
                "{}",
                summary(
                    "would re-encrypt",
                    t.recrypt,
                    t.files_selected,
                    &t.states(),
                    target,
                    args.all
                )
            );
        }
        return Ok(ExitCode::from(u8::from(
            t.recrypt > 0 || !broken.is_empty(),
        )));
    }

    warn_unreadable(ctx, &files, args.all);
    let to_do = files
        .iter()
        .flat_map(|f| &f.values)
        .filter(|v| recrypt::selected(v, args.all))
        .count();
    let bar = progress_bar(ctx, to_do);
    let outcomes = recrypt::recrypt_files(&material, &files, method, target, args.all, &|| {
        if let Some(b) = &bar {
            b.inc(1)
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    for (f, o) in files.iter().zip(&outcomes) {
        report_failures(ctx, f, &o.errors);
    }
    let failed_files = outcomes.iter().filter(|o| !o.ok()).count() + broken.len();
    let written = recrypt::write_files(&files, &outcomes, !broken.is_empty(), args.keep_going);
    for e in &written.errors {
        ctx.ui.error(&e.to_string());
    }
    let write_errors = written.errors.len();
    let report = Report::new(
        &material,
        &files,
        &broken,
        Some((&outcomes, &written)),
        target,
        args.all,
    );
    if args.format == ReportFormat::Json {
        print(&report.to_json());
    }
    for (f, o) in files.iter().zip(&outcomes) {
        if !o.recrypted.is_empty() || !o.errors.is_empty() {
            ctx.ui.debug(&format!(
                "{}: {} re-encrypted, {} failed",
                f.path.display(),
                o.recrypted.len(),
                o.errors.len()
            ));
        }
    }
    let t = &report.summary;
    let (recrypted, files_written, failed_values) = (t.recrypted, t.files_written, t.failed);
    let migrated = if t.migrated > 0 {
        format!(", {} of them migrated to {target}", t.migrated)
    } else {
        String::new()
    };
    let line = format!(
        "re-encrypted {recrypted} value{} in {files_written} file{}{migrated} ({} value{} current{})",
        plural(recrypted),
        plural(files_written),
        t.current,
        plural(t.current),
        others(&t.states())
    );
    if failed_files + write_errors > 0 {
        let skipped = t.skipped;
        let other_write = write_errors - skipped;
        let mut parts = Vec::new();
        if failed_values > 0 {
            parts.push(format!(
                "{failed_values} value{} failed",
                plural(failed_values)
            ));
        }
        let untrusted = broken
            .iter()
            .filter(|e| matches!(e.root(), Error::Untrusted { .. }))
            .count();
        if untrusted > 0 {
            parts.push(format!(
                "{untrusted} file{} {} a recipient key that is not trusted (see above)",
                plural(untrusted),
                if untrusted == 1 { "has" } else { "have" }
            ));
        }
        let other = broken.len() - untrusted;
        if other > 0 {
            parts.push(format!(
                "{other} file{} could not be inspected",
                plural(other)
            ));
        }
        if skipped > 0 {
            parts.push(format!(
                "{skipped} file{} skipped: changed on disk after being read, left as is (run recrypt again)",
                plural(skipped)
            ));
        }
        if other_write > 0 {
            parts.push(format!(
                "{other_write} file{} could not be written",
                plural(other_write)
            ));
        }
        let only_skipped = skipped > 0 && other_write == 0 && failed_files == 0;
        let why = if args.keep_going || only_skipped {
            parts.join("; ")
        } else if files_written == 0 {
            format!(
                "nothing written: {} (--keep-going writes the files that succeeded)",
                parts.join(", ")
            )
        } else {
            format!(
                "{other_write} file{} could not be replaced after the others were",
                plural(other_write)
            )
        };
        return Err(anyhow!("{line}; {why}"));
    }
    if ctx.ui.level >= 1 {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `--dry-run` compares key ids only, so it ignores GnuPG trust; the real run does not. Warns
/// once per recipient whose key the real run would refuse as untrusted.
fn warn_untrusted(ctx: &Context, store: &mut eyaml_gpg::Keystore, files: &[FileInspection]) {
    store.set_always_trust(false);
    let names: std::collections::BTreeSet<&String> = files
        .iter()
        .filter_map(|f| f.desired.as_ref())
        .flat_map(|d| &d.recipients.names)
        .collect();
    for name in names {
        if let Err(e @ Error::Untrusted { .. }) = store.resolve(name) {
            ctx.ui.warn(&format!(
                "recipient {name:?}: {e}; recrypt without --dry-run will refuse it"
            ));
        }
    }
    store.set_always_trust(true);
}

/// Removes the temp files a killed earlier run (recrypt or edit) left next to these files
/// (a dry run only reports them), saying so.
fn clean_leftovers(ctx: &Context, paths: &[PathBuf], dry_run: bool) {
    let dirs = leftover::dirs_of(paths.iter().map(PathBuf::as_path));
    for l in leftover::find(dirs.iter().map(PathBuf::as_path)) {
        let what = format!(
            "{}: temp file left by an interrupted eyaml-gpg run (process {}, no longer running)",
            shown(&l.path).display(),
            l.pid
        );
        if dry_run {
            ctx.ui
                .warn(&format!("{what}; recrypt without --dry-run removes it"));
        } else {
            match leftover::remove(&l) {
                Ok(()) => ctx.ui.warn(&format!("removed {what}")),
                Err(e) => ctx.ui.warn(&format!("{what}; cannot remove it: {e}")),
            }
        }
    }
}

/// Reports a file's failed values, one line per distinct reason (a key missing for a whole
/// file would otherwise repeat the same message for every value).
fn report_failures(ctx: &Context, f: &FileInspection, errors: &[(usize, Error)]) {
    let mut by_reason: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (vi, e) in errors {
        by_reason
            .entry(e.to_string())
            .or_default()
            .push(f.values[*vi].line);
    }
    for (reason, mut lines) in by_reason {
        lines.sort_unstable();
        let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
        let which = if lines.len() == 1 { "line" } else { "lines" };
        ctx.ui.error(&format!(
            "{}: {which} {}: {reason}",
            f.path.display(),
            lines.join(", ")
        ));
    }
}

/// The files named, and the files with the extension below the directories named (the
/// library's walk rule, see [`eyaml_gpg::eyaml::Walk`]).
fn collect(ctx: &Context, paths: &[PathBuf], extension: &str) -> Result<Vec<PathBuf>> {
    let patterns = Patterns::extension(extension).map_err(|e| UsageError(e.to_string()))?;
    let set = Walk::new(patterns).work_tree(paths)?;
    let suffix = extension.trim_start_matches('.');
    for p in &set.empty_roots {
        ctx.ui
            .warn(&format!("{}: no *.{suffix} file below it", p.display()));
    }
    Ok(set
        .files
        .into_iter()
        .filter_map(|f| f.path().map(Path::to_path_buf))
        .collect())
}

/// `-v`: the file, its recipients and the counts.
fn describe_file(ctx: &Context, f: &FileInspection, target: Scheme) {
    let c = f.counts();
    let from = match &f.desired {
        None if f.values.is_empty() => "no encrypted values".to_string(),
        None => format!("to {target}"),
        Some(d) => match d.recipients.file() {
            Some(r) => format!("recipients from {}", shown(r).display()),
            None => "recipients from --gpg-recipients".to_string(),
        },
    };
    let migrate = if c.migrate > 0 {
        format!(", {} to migrate to {target}", c.migrate)
    } else {
        String::new()
    };
    ctx.ui.debug(&format!(
        "{}: {from}: {} value{}{migrate}, {} stale, {} current{}",
        f.path.display(),
        f.values.len(),
        plural(f.values.len()),
        c.stale,
        c.current,
        others(&c)
    ));
    if let Some(d) = &f.desired {
        for k in &d.keys {
            ctx.ui.trace(&format!(
                "  {} -> subkey {} of {}",
                k.recipient, k.subkey_id, k.cert
            ));
        }
    }
}

fn warn_unreadable(ctx: &Context, files: &[FileInspection], all: bool) {
    for f in files {
        for v in &f.values {
            let at = format!("{}:{}:{}", f.path.display(), v.line, v.column);
            match &v.state {
                ValueState::Wildcard { .. } if !all => ctx.ui.warn(&format!(
                    "{at}: hidden (wildcard) recipients, cannot tell whether it is stale; left as is (--all re-encrypts it)"
                )),
                ValueState::Unreadable(e) => {
                    ctx.ui.warn(&format!("{at}: left as is: {e}"))
                }
                _ => {}
            }
        }
    }
}

fn progress_bar(ctx: &Context, total: usize) -> Option<indicatif::ProgressBar> {
    if ctx.ui.level == 0 || total == 0 || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} re-encrypting [{bar:40}] {pos}/{len} values ({eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

/// A path relative to the working directory when it lies below it (recipients files are
/// found as real, absolute paths).
fn shown(p: &Path) -> PathBuf {
    std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .ok()
        .and_then(|d| p.strip_prefix(d).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn others(c: &StateCounts) -> String {
    let mut s = String::new();
    if c.wildcard > 0 {
        s.push_str(&format!(", {} with hidden recipients", c.wildcard));
    }
    if c.unreadable > 0 {
        s.push_str(&format!(", {} unreadable", c.unreadable));
    }
    s
}

fn summary(
    verb: &str,
    n: usize,
    files: usize,
    totals: &StateCounts,
    target: Scheme,
    all: bool,
) -> String {
    let migrate = if totals.migrate > 0 {
        format!(", {} of them migrated to {target}", totals.migrate)
    } else {
        String::new()
    };
    let current = if all {
        String::new()
    } else {
        format!(
            " ({} value{} current{})",
            totals.current,
            plural(totals.current),
            others(totals)
        )
    };
    format!(
        "{verb} {n} value{} in {files} file{}{migrate}{current}",
        plural(n),
        plural(files)
    )
}

/// `SUBKEYID FINGERPRINT USER-ID` of a desired key.
fn show_added(k: &EncryptionKey) -> String {
    match &k.cert.user_id {
        Some(u) => format!("{} {} {u}", k.subkey_id, k.cert.fingerprint),
        None => format!("{} {}", k.subkey_id, k.cert.fingerprint),
    }
}

/// `KEYID FINGERPRINT USER-ID` of a key a value is encrypted to (just the id when unknown).
fn show_removed(store: &dyn Backend, id: &KeyId) -> String {
    match store.describe(id) {
        Some(c) => match &c.user_id {
            Some(u) => format!("{id} {} {u}", c.fingerprint),
            None => format!("{id} {}", c.fingerprint),
        },
        None => format!("{id} (unknown key)"),
    }
}

/// The dry-run report for people: per file, the values to change grouped by reason.
fn print_text(keys: &dyn KeyMaterial, files: &[FileInspection], target: Scheme, all: bool) {
    let store = keys.gpg();
    let mut out = String::new();
    for f in files {
        let todo: Vec<_> = f
            .values
            .iter()
            .filter(|v| recrypt::selected(v, all))
            .collect();
        let odd: Vec<_> = f
            .values
            .iter()
            .filter(|v| !recrypt::selected(v, all) && !matches!(v.state, ValueState::Current))
            .collect();
        if todo.is_empty() && odd.is_empty() {
            continue;
        }
        let from = match &f.desired {
            Some(d) => format!(
                "recipients: {}",
                d.recipients
                    .file()
                    .map(|p| shown(p).display().to_string())
                    .unwrap_or_else(|| "--gpg-recipients".into())
            ),
            None => format!("to {target}: {}", pkcs7_certificate(keys)),
        };
        out.push_str(&format!(
            "{}: {} of {} value{} to re-encrypt ({from})\n",
            f.path.display(),
            todo.len(),
            f.values.len(),
            plural(f.values.len())
        ));
        let mut groups: BTreeMap<(Vec<String>, Vec<String>), Vec<String>> = BTreeMap::new();
        for v in todo {
            let reason = match &v.state {
                ValueState::Stale { added, removed } => (
                    added
                        .iter()
                        .map(|k| format!("+ {}", show_added(k)))
                        .collect(),
                    removed
                        .iter()
                        .map(|id| format!("- {}", show_removed(store, id)))
                        .collect(),
                ),
                ValueState::Migrate { from } => (vec![format!("{from} -> {target}")], vec![]),
                ValueState::OtherCertificate { named } => (
                    vec![format!("+ {}", pkcs7_certificate(keys))],
                    named.iter().map(|r| format!("- {r}")).collect(),
                ),
                ValueState::Wildcard { .. } => (
                    vec!["(--all) hidden (wildcard) recipients".to_string()],
                    vec![],
                ),
                _ => (vec!["(--all) already current".to_string()], vec![]),
            };
            groups
                .entry(reason)
                .or_default()
                .push(format!("line {}: {}", v.line, v.label));
        }
        for ((added, removed), values) in groups {
            for r in added.iter().chain(&removed) {
                out.push_str(&format!("  {r}\n"));
            }
            for v in values {
                out.push_str(&format!("      {v}\n"));
            }
        }
        for v in odd {
            let why = match &v.state {
                ValueState::Wildcard { .. } => {
                    "hidden (wildcard) recipients, cannot compare (--all re-encrypts it)"
                        .to_string()
                }
                ValueState::Unreadable(e) => format!("unreadable, left as is: {e}"),
                _ => continue,
            };
            out.push_str(&format!("  ! line {}: {}: {why}\n", v.line, v.label));
        }
    }
    let _ = super::emit(out.as_bytes(), false);
}

/// The PKCS7 certificate values are encrypted to, as a PKCS7 value names it.
fn pkcs7_certificate(keys: &dyn KeyMaterial) -> String {
    match keys.pkcs7().and_then(|k| k.public_key()) {
        Ok(k) => k.id().to_string(),
        Err(_) => "the PKCS7 public key".into(),
    }
}

fn print(s: &str) {
    let _ = super::emit(s.as_bytes(), false);
}
