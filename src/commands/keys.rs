//! `keys`: list the recipients of a tree with their certificates and problems, show who can
//! and who should decrypt each file, and edit recipients files (`add`, `rm`, `replace`), then
//! say what is stale or re-encrypt it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Result};
use eyaml_gpg::check::{Config, CONFIG_FILE};
use eyaml_gpg::lock::Lock;
use eyaml_gpg::recrypt::{self, RecipientOverride};
use eyaml_gpg::roster::{self, Plan};
use eyaml_gpg::scheme::{Material, Scheme};
use eyaml_gpg::Keystore;

use super::{emit, Context};
use crate::cli::{
    KeysAckArgs, KeysArgs, KeysCommand, KeysEditArgs, KeysListArgs, KeysWhoArgs, ReportFormat,
};

/// Runs `keys`.
pub fn run(ctx: &Context, args: &KeysArgs) -> Result<ExitCode> {
    match &args.what {
        KeysCommand::List(a) => list(ctx, a),
        KeysCommand::Who(a) => who(ctx, a),
        KeysCommand::Add(a) => {
            let store = ctx.keystore()?;
            let cert = roster::resolve_key(&store, &a.key)?;
            roster::require_usable(&store, &cert, SystemTime::now())?;
            let plan = roster::plan_add(&store, &cert, &a.to)?;
            finish(ctx, store, &plan, &a.edit, Some(&cert))
        }
        KeysCommand::Rm(a) => {
            let store = ctx.keystore()?;
            let (fingerprint, _) = roster::removal_target(&store, &a.key)?;
            let files = if a.everywhere {
                roster::recipients_files(&[PathBuf::from(".")])?
            } else {
                let mut files = std::collections::BTreeMap::new();
                for dir in &a.from {
                    let f = dir.join(eyaml_gpg::keys::RECIPIENTS_FILE);
                    let real = f
                        .canonicalize()
                        .map_err(|_| eyaml_gpg::Error::NoRecipientsFile { path: dir.clone() })?;
                    files.insert(real, f);
                }
                files
            };
            let plan = roster::plan_remove(&store, &a.key, &fingerprint, None, &files)?;
            finish(ctx, store, &plan, &a.edit, None)
        }
        KeysCommand::Ack(a) => ack(ctx, a),
        KeysCommand::Replace(a) => {
            let store = ctx.keystore()?;
            let (fingerprint, _) = roster::removal_target(&store, &a.old)?;
            let new = roster::resolve_key(&store, &a.new)?;
            roster::require_usable(&store, &new, SystemTime::now())?;
            let files = roster::recipients_files(&a.paths)?;
            let plan = roster::plan_remove(&store, &a.old, &fingerprint, Some(&new), &files)?;
            finish(ctx, store, &plan, &a.edit, Some(&new))
        }
    }
}

fn ack(ctx: &Context, a: &KeysAckArgs) -> Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let config = Config::discover(a.config.as_deref(), Some(&cwd))?;
    let Some(path) = config.recipients_lock else {
        return Err(eyaml_gpg::Error::NoRecipientsLock {
            path: a
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from(CONFIG_FILE)),
        }
        .into());
    };
    let store = ctx.keystore()?;
    let mut lock = Lock::read(&path)?;
    for (real, display) in roster::recipients_files(&a.paths)? {
        let (added, removed) = lock.acknowledge(&store, &real)?;
        for id in added {
            println!("{}: + {id}", display.display());
        }
        for id in removed {
            println!("{}: - {id}", display.display());
        }
    }
    lock.write()?;
    ctx.ui
        .info(&format!("recipients lock {} written", path.display()));
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Context, a: &KeysListArgs) -> Result<ExitCode> {
    let store = ctx.keystore()?;
    let warn = Duration::from_secs(a.expiry_warning * 86400);
    let entries = roster::list(&store, &a.paths, SystemTime::now(), warn)?;
    let failed = entries
        .iter()
        .any(|e| e.problems.iter().any(|p| p.is_error()));
    let out = match a.format {
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&entries)?),
        ReportFormat::Text => {
            let mut s = String::new();
            for e in &entries {
                s.push_str(&format!(
                    "{}:{}: {}\n",
                    e.file.display(),
                    e.line,
                    e.recipient
                ));
                for c in &e.certificates {
                    s.push_str(&format!(
                        "    {} {}\n      {}, created {}, expires {}, validity {}\n",
                        c.fingerprint,
                        c.user_id.as_deref().unwrap_or("(no user id)"),
                        c.encryption.as_deref().unwrap_or("no encryption subkey"),
                        c.created,
                        c.expires.as_deref().unwrap_or("never"),
                        c.validity
                    ));
                }
                for p in &e.problems {
                    s.push_str(&format!("    {}: {}\n", p.severity, p.message));
                }
            }
            if entries.is_empty() {
                ctx.ui.warn("no recipients file found");
            }
            s
        }
    };
    emit(out.as_bytes(), false)?;
    Ok(ExitCode::from(u8::from(failed)))
}

fn who(ctx: &Context, a: &KeysWhoArgs) -> Result<ExitCode> {
    let mut store = ctx.keystore()?;
    // Only key ids are compared: the trust rule does not apply.
    store.set_always_trust(true);
    let files = roster::who(&store, &a.paths, ctx.scheme_less()?)?;
    let differs = files
        .iter()
        .any(|f| !f.missing.is_empty() || !f.extra.is_empty());
    let out = match a.format {
        ReportFormat::Json => format!("{}\n", serde_json::to_string_pretty(&files)?),
        ReportFormat::Text => {
            let mut s = String::new();
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(", ")
                }
            };
            for f in &files {
                s.push_str(&format!("{}\n", f.file.display()));
                match &f.recipients_file {
                    Some(r) => s.push_str(&format!("  recipients file: {}\n", r.display())),
                    None => s.push_str("  recipients file: none\n"),
                }
                s.push_str(&format!("  should: {}\n", list(&f.should)));
                s.push_str(&format!("  can:    {}\n", list(&f.can)));
                if !f.missing.is_empty() {
                    s.push_str(&format!(
                        "  missing (should, cannot): {}\n",
                        list(&f.missing)
                    ));
                }
                if !f.extra.is_empty() {
                    s.push_str(&format!("  extra (can, should not): {}\n", list(&f.extra)));
                }
                if a.values {
                    for v in &f.values {
                        s.push_str(&format!("  line {} {}: ", v.line, v.key));
                        match &v.unreadable {
                            Some(e) => s.push_str(&format!("unreadable: {e}\n")),
                            None if v.missing.is_empty() && v.extra.is_empty() => {
                                s.push_str(&format!("{}\n", list(&v.can)))
                            }
                            None => s.push_str(&format!(
                                "{}; missing {}; extra {}\n",
                                list(&v.can),
                                list(&v.missing),
                                list(&v.extra)
                            )),
                        }
                    }
                }
            }
            s
        }
    };
    emit(out.as_bytes(), false)?;
    Ok(ExitCode::from(u8::from(differs)))
}

/// Writes a plan, stores the certificate if asked, then re-encrypts or reports what is stale.
fn finish(
    ctx: &Context,
    mut store: Keystore,
    plan: &Plan,
    edit: &KeysEditArgs,
    cert: Option<&roster::CertDetails>,
) -> Result<ExitCode> {
    for (path, why) in &plan.unchanged {
        ctx.ui.info(&format!("{}: {why}", path.display()));
    }
    roster::apply(plan)?;
    for e in &plan.edits {
        for c in &e.changes {
            let what = if e.created { " (new file)" } else { "" };
            println!("{}{what}: {c}", e.path.display());
        }
    }
    if let (Some(dir), Some(cert)) = (&edit.store, cert) {
        let path = roster::store_certificate(&store, cert, dir)?;
        println!("{}: certificate stored", path.display());
    }
    let files = roster::governed_files(plan)?;
    if files.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !edit.recrypt {
        store.set_always_trust(true);
    }
    let method = ctx.scheme_less()?;
    let pkcs7 = ctx.pkcs7_keys();
    let material = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    // Recipients files concern GPG values; PKCS7 ones move to GPG as `recrypt` moves them.
    let (inspected, broken) = recrypt::inspect_files(
        &material,
        &files,
        method,
        Scheme::Gpg,
        &RecipientOverride::default(),
    );
    for e in &broken {
        ctx.ui.error(&e.to_string());
    }
    let stale: usize = inspected.iter().map(|f| f.counts().stale).sum();
    let stale_files = inspected.iter().filter(|f| f.counts().stale > 0).count();
    if !edit.recrypt {
        if stale > 0 {
            let dirs: Vec<String> = plan
                .edits
                .iter()
                .map(|e| parent(&e.path).display().to_string())
                .collect();
            ctx.ui.info(&format!(
                "{stale} value{} in {stale_files} file{} now stale: run `eyaml-gpg recrypt {}` (or add --recrypt)",
                plural(stale),
                plural(stale_files),
                dirs.join(" ")
            ));
        }
        return Ok(ExitCode::from(u8::from(!broken.is_empty())));
    }
    let outcomes =
        recrypt::recrypt_files(&material, &inspected, method, Scheme::Gpg, false, &|| {});
    let mut failed = false;
    for (f, o) in inspected.iter().zip(&outcomes) {
        for (vi, e) in &o.errors {
            failed = true;
            ctx.ui
                .error(&format!("{}:{}: {e}", f.path.display(), f.values[*vi].line));
        }
    }
    let written = recrypt::write_files(&inspected, &outcomes, !broken.is_empty(), false);
    for e in &written.errors {
        ctx.ui.error(&e.to_string());
    }
    if failed || !broken.is_empty() || !written.errors.is_empty() {
        return Err(anyhow!(
            "the recipients files were changed, but re-encryption failed: nothing re-encrypted (run `eyaml-gpg recrypt` with a key that can read the values)"
        ));
    }
    let n: usize = outcomes.iter().map(|o| o.recrypted.len()).sum();
    let nf = written.written.iter().filter(|w| **w).count();
    ctx.ui.info(&format!(
        "re-encrypted {n} value{} in {nf} file{}",
        plural(n),
        plural(nf)
    ));
    Ok(ExitCode::SUCCESS)
}

fn parent(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
