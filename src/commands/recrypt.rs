//! `recrypt`: re-encrypts the values of files or trees whose recipients changed (only those by
//! default, every value with `--all`), or reports them with `--dry-run`. All files are
//! decided before any is written; each is written atomically.

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Result};
use eyaml_gpg::crypto::{Backend, EncryptionKey, KeyId};
use eyaml_gpg::recrypt::{self, FileOutcome};
use eyaml_gpg::stale::{self, FileInspection, RecipientOverride, StateCounts, ValueState};
use eyaml_gpg::Error;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::Context;
use crate::cli::{RecryptArgs, ReportFormat};
use crate::common::usage;

/// Runs `recrypt`.
pub fn run(ctx: &Context, args: &RecryptArgs) -> Result<ExitCode> {
    if !args.change_encryption.eq_ignore_ascii_case("gpg") {
        return usage(format!(
            "recrypt -d {}: only gpg is supported (values are re-encrypted to the GPG keys of their recipients files)",
            args.change_encryption
        ));
    }
    let paths = collect(ctx, &args.paths, &args.extension)?;
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
    let inspected: Vec<Result<FileInspection, Error>> = paths
        .par_iter()
        .map(|p| stale::inspect_file(&store, p, method, &over))
        .collect();
    let mut files = Vec::new();
    let mut broken = Vec::new();
    for r in inspected {
        match r {
            Ok(f) => files.push(f),
            Err(e) => broken.push(e),
        }
    }
    for f in &files {
        describe_file(ctx, f);
    }
    for e in &broken {
        ctx.ui.error(&e.to_string());
    }
    let totals = files.iter().fold(StateCounts::default(), |mut acc, f| {
        acc += f.counts();
        acc
    });
    let selected: usize = files
        .iter()
        .map(|f| {
            f.values
                .iter()
                .filter(|v| recrypt::selected(v, args.all))
                .count()
        })
        .sum();
    let files_selected = files
        .iter()
        .filter(|f| f.values.iter().any(|v| recrypt::selected(v, args.all)))
        .count();

    if args.dry_run {
        match args.format {
            ReportFormat::Json => print_json(&report_json(&store, &files, &broken, None, args)),
            ReportFormat::Text => print_text(&store, &files, args.all),
        }
        if ctx.ui.level >= 1 {
            eprintln!(
                "{}",
                summary(
                    "would re-encrypt",
                    selected,
                    files_selected,
                    &totals,
                    args.all
                )
            );
        }
        return Ok(if selected > 0 || !broken.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }

    warn_unreadable(ctx, &files, args.all);
    let bar = progress_bar(ctx, selected);
    let outcomes = recrypt::recrypt_files(&store, &files, method, args.all, &|| {
        if let Some(b) = &bar {
            b.inc(1)
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut failed_values = 0;
    for (f, o) in files.iter().zip(&outcomes) {
        report_failures(ctx, &f.path, &o.errors);
        failed_values += o.errors.len();
    }
    let failed_files = outcomes.iter().filter(|o| !o.ok()).count() + broken.len();
    let written = recrypt::write_files(&files, &outcomes, !broken.is_empty(), args.keep_going);
    for e in &written.errors {
        ctx.ui.error(&e.to_string());
    }
    let write_errors = written.errors.len();
    let written = written.written;
    let recrypted: usize = outcomes
        .iter()
        .zip(&written)
        .filter(|(_, w)| **w)
        .map(|(o, _)| o.recrypted.len())
        .sum();
    let files_written = written.iter().filter(|w| **w).count();
    if args.format == ReportFormat::Json {
        print_json(&report_json(
            &store,
            &files,
            &broken,
            Some((&outcomes, &written)),
            args,
        ));
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
    let line = format!(
        "re-encrypted {recrypted} value{} in {files_written} file{} ({} value{} current{})",
        plural(recrypted),
        plural(files_written),
        totals.current,
        plural(totals.current),
        others(&totals)
    );
    if failed_files + write_errors > 0 {
        let why = if args.keep_going {
            format!(
                "{} file{} not written",
                failed_files + write_errors,
                plural(failed_files + write_errors)
            )
        } else if files_written == 0 {
            let mut parts = Vec::new();
            if failed_values > 0 {
                parts.push(format!(
                    "{failed_values} value{} failed",
                    plural(failed_values)
                ));
            }
            if !broken.is_empty() {
                parts.push(format!(
                    "{} file{} could not be inspected",
                    broken.len(),
                    plural(broken.len())
                ));
            }
            if write_errors > 0 {
                parts.push(format!(
                    "{write_errors} file{} could not be written",
                    plural(write_errors)
                ));
            }
            format!(
                "nothing written: {} (--keep-going writes the files that succeeded)",
                parts.join(", ")
            )
        } else {
            format!(
                "{write_errors} file{} could not be replaced after the others were",
                plural(write_errors)
            )
        };
        return Err(anyhow!("{line}; {why}"));
    }
    if ctx.ui.level >= 1 {
        eprintln!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports a file's failed values, one line per distinct reason (a key missing for a whole
/// file would otherwise repeat the same message for every value).
fn report_failures(ctx: &Context, path: &Path, errors: &[Error]) {
    let mut by_reason: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for e in errors {
        match e {
            Error::At { line, source, .. } => {
                by_reason.entry(source.to_string()).or_default().push(*line)
            }
            e => ctx.ui.error(&e.to_string()),
        }
    }
    for (reason, mut lines) in by_reason {
        lines.sort_unstable();
        let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
        let which = if lines.len() == 1 { "line" } else { "lines" };
        ctx.ui.error(&format!(
            "{}: {which} {}: {reason}",
            path.display(),
            lines.join(", ")
        ));
    }
}

/// The files named, and the files with the extension below the directories named (hidden
/// directories and `.git` skipped), each once, in order.
fn collect(ctx: &Context, paths: &[PathBuf], extension: &str) -> Result<Vec<PathBuf>> {
    let suffix = format!(".{}", extension.trim_start_matches('.'));
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut add = |p: PathBuf| {
        let key = p.canonicalize().unwrap_or_else(|_| p.clone());
        if seen.insert(key) {
            out.push(p);
        }
    };
    for p in paths {
        let meta = match std::fs::metadata(p) {
            Ok(m) => m,
            Err(e) => return usage(format!("{}: {e}", p.display())),
        };
        if !meta.is_dir() {
            add(p.clone());
            continue;
        }
        let walk = walkdir::WalkDir::new(p)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with('.'))
            });
        let mut found = 0;
        for entry in walk {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(p).to_path_buf();
                Error::io(path, e.into())
            })?;
            let name = entry.file_name().to_string_lossy();
            if name.ends_with(&suffix) && name.len() > suffix.len() && entry.path().is_file() {
                add(entry.into_path());
                found += 1;
            }
        }
        if found == 0 {
            ctx.ui
                .warn(&format!("{}: no *{suffix} file below it", p.display()));
        }
    }
    Ok(out)
}

/// `-v`: the file, its recipients and the counts.
fn describe_file(ctx: &Context, f: &FileInspection) {
    let c = f.counts();
    let from = match &f.desired {
        None => "no encrypted values".to_string(),
        Some(d) => match d.recipients.file() {
            Some(r) => format!("recipients from {}", shown(r).display()),
            None => "recipients from --gpg-recipients".to_string(),
        },
    };
    ctx.ui.debug(&format!(
        "{}: {from}: {} value{}, {} stale, {} current{}",
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

fn summary(verb: &str, n: usize, files: usize, totals: &StateCounts, all: bool) -> String {
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
        "{verb} {n} value{} in {files} file{}{current}",
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
fn print_text(store: &dyn Backend, files: &[FileInspection], all: bool) {
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
        let from = f
            .desired
            .as_ref()
            .and_then(|d| d.recipients.file().map(|p| shown(p).display().to_string()))
            .unwrap_or_else(|| "--gpg-recipients".into());
        out.push_str(&format!(
            "{}: {} of {} value{} to re-encrypt (recipients: {from})\n",
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

fn key_json(k: &EncryptionKey) -> Value {
    json!({
        "key_id": k.subkey_id.to_string(),
        "fingerprint": k.cert.fingerprint,
        "user_id": k.cert.user_id,
        "recipient": k.recipient,
    })
}

fn id_json(store: &dyn Backend, id: &KeyId) -> Value {
    let c = store.describe(id);
    json!({
        "key_id": id.to_string(),
        "fingerprint": c.as_ref().map(|c| c.fingerprint.clone()),
        "user_id": c.and_then(|c| c.user_id),
    })
}

/// The machine-readable report (schema in the README).
fn report_json(
    store: &dyn Backend,
    files: &[FileInspection],
    broken: &[Error],
    done: Option<(&[FileOutcome], &[bool])>,
    args: &RecryptArgs,
) -> Value {
    let mut totals = StateCounts::default();
    let mut selected_total = 0;
    let mut recrypted_total = 0;
    let mut failed_total = 0;
    let mut out_files = Vec::new();
    for (i, f) in files.iter().enumerate() {
        totals += f.counts();
        let outcome = done.map(|(o, w)| (&o[i], w[i]));
        let failed: BTreeMap<(usize, usize), String> = outcome
            .map(|(o, _)| {
                o.errors
                    .iter()
                    .filter_map(|e| match e {
                        Error::At {
                            line,
                            column,
                            source,
                            ..
                        } => Some(((*line, *column), source.to_string())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let written = outcome.is_some_and(|(_, w)| w);
        let values: Vec<Value> = f
            .values
            .iter()
            .map(|v| {
                let sel = recrypt::selected(v, args.all);
                selected_total += usize::from(sel);
                let error = failed.get(&(v.line, v.column));
                failed_total += usize::from(error.is_some());
                let recrypted = written && sel && error.is_none();
                recrypted_total += usize::from(recrypted);
                let mut o = json!({
                    "line": v.line,
                    "column": v.column,
                    "index": v.index,
                    "label": v.label,
                    "state": state_name(&v.state),
                    "recrypt": sel,
                    "recrypted": recrypted,
                });
                match &v.state {
                    ValueState::Stale { added, removed } => {
                        o["added"] = added.iter().map(key_json).collect();
                        o["removed"] = removed.iter().map(|id| id_json(store, id)).collect();
                    }
                    ValueState::Wildcard { named } => {
                        o["named"] = named.iter().map(|id| id_json(store, id)).collect();
                    }
                    ValueState::Unreadable(e) => o["error"] = json!(e.to_string()),
                    ValueState::Current => {}
                }
                if let Some(e) = error {
                    o["error"] = json!(e);
                }
                o
            })
            .collect();
        out_files.push(json!({
            "path": f.path,
            "recipients_file": f.desired.as_ref().and_then(|d| d.recipients.file().map(Path::to_path_buf)),
            "recipients": f.desired.as_ref().map(|d| d.recipients.names.clone()).unwrap_or_default(),
            "keys": f.desired.as_ref().map(|d| d.keys.iter().map(key_json).collect::<Vec<_>>()).unwrap_or_default(),
            "written": written,
            "error": Value::Null,
            "values": values,
        }));
    }
    for e in broken {
        let path = match e {
            Error::InFile { path, .. } | Error::Io { path, .. } | Error::NotUtf8 { path, .. } => {
                json!(path)
            }
            _ => Value::Null,
        };
        out_files.push(json!({
            "path": path,
            "recipients_file": null,
            "recipients": [],
            "keys": [],
            "written": false,
            "error": e.to_string(),
            "values": [],
        }));
    }
    json!({
        "dry_run": args.dry_run,
        "all": args.all,
        "files": out_files,
        "summary": {
            "files": files.len() + broken.len(),
            "values": totals.current + totals.stale + totals.wildcard + totals.unreadable,
            "current": totals.current,
            "stale": totals.stale,
            "wildcard": totals.wildcard,
            "unreadable": totals.unreadable,
            "recrypt": selected_total,
            "recrypted": recrypted_total,
            "failed": failed_total,
            "file_errors": broken.len(),
        },
    })
}

fn state_name(s: &ValueState) -> &'static str {
    match s {
        ValueState::Current => "current",
        ValueState::Stale { .. } => "stale",
        ValueState::Wildcard { .. } => "wildcard",
        ValueState::Unreadable(_) => "unreadable",
    }
}

fn print_json(v: &Value) {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    let _ = super::emit(s.as_bytes(), false);
}
