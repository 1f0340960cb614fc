//! `check`: maps the arguments to a library check run (files from the work tree or the git
//! index, configuration, keys) and prints its report as text, JSON or GitHub workflow
//! annotations.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::check::{self, Checker, Config, Finding, HieraGate, RecipientsCheck, Rule};
use eyaml_gpg::eyaml;
use eyaml_gpg::eyaml::{Patterns, Walk};
use eyaml_gpg::hiera::LevelKeyLoader;
use eyaml_gpg::keys;

use super::Context;
use crate::cli::{CheckArgs, CheckFormat, FailOn};
use crate::common::{usage, UsageError};

/// Runs `check`; the exit code says whether findings reached `--fail-on`.
pub fn run(ctx: &Context, args: &CheckArgs) -> Result<ExitCode> {
    let method = ctx.method()?;
    let cwd = std::env::current_dir().ok();
    let mut config = Config::discover(args.config.as_deref(), cwd.as_deref())
        .map_err(|e| UsageError(e.to_string()))?;
    for id in &args.skip {
        match Rule::from_id(id) {
            Some(r) => {
                config.skip.insert(r);
            }
            None => {
                return usage(format!(
                    "--skip: unknown rule {id:?} (rules: {})",
                    Rule::ALL.map(|r| r.id()).join(", ")
                ))
            }
        }
    }
    if let Some(d) = args.expiry_warning {
        config.expiry_warning = std::time::Duration::from_secs(d * 86400);
    }
    if let Some(hiera) = &args.hiera {
        return run_hiera(ctx, args, hiera, &config, method);
    }
    let mut patterns = vec!["*.eyaml".to_string()];
    patterns.extend(args.glob.iter().cloned());
    let walk = Walk::new(Patterns::new(&patterns).map_err(|e| UsageError(format!("--glob: {e}")))?)
        .recipients_select_dir(true);
    let tree = if args.staged {
        walk.index(&args.paths)?
    } else {
        walk.work_tree(&args.paths)?
    };
    let contents = tree.read()?;
    ctx.ui.debug(&format!(
        "checking {} file(s), {} recipients file(s)",
        tree.files.len(),
        tree.recipients.len()
    ));

    let mut store = ctx.keystore()?;
    // Only key ids are compared: trust matters for encrypting, not for checking.
    store.set_always_trust(true);
    let keys_needed =
        config.applies(Rule::StaleRecipients) || config.applies(Rule::UnknownRecipient);
    let option_recipients = !ctx.settings.recipients.is_empty();
    let needs_resolution = option_recipients
        || ctx.settings.recipients_file.is_some()
        || tree.files.iter().any(|f| f.recipients.is_some());
    if store.is_empty() && keys_needed && needs_resolution {
        return usage(
            "no public keys loaded: check compares each value's recipients with the public keys \
             its recipients file names; give them with --gpg-keyring FILE|DIR (or a GnuPG home), \
             or skip that comparison with --skip stale-recipients --skip unknown-recipient",
        );
    }
    let resolve = !store.is_empty();
    let checker = Checker::new(&store, &config).with_method(method);
    // Recipients that apply to every file, from the options.
    let global: Option<RecipientsCheck> = if option_recipients {
        let r = keys::resolve_recipients(&ctx.settings.recipients, None, None)?;
        let keys = eyaml::resolve_all(&store, &r.names)
            .map_err(|e| UsageError(format!("--gpg-recipients: {e}")))?;
        Some(RecipientsCheck::from_keys(keys))
    } else if let Some(f) = &ctx.settings.recipients_file {
        let bytes = eyaml::read_bytes(f)?;
        Some(checker.recipients_file(f, &bytes, resolve))
    } else {
        None
    };
    let report = checker.tree(&tree, &contents, global, resolve);
    print(ctx, args, &report)
}

/// `check --hiera`: every node of the facts directory against its servers' keys.
fn run_hiera(
    ctx: &Context,
    args: &CheckArgs,
    hiera: &std::path::Path,
    config: &Config,
    method: eyaml_gpg::scheme::Scheme,
) -> Result<ExitCode> {
    let dir = args
        .facts_dir
        .as_deref()
        .expect("clap requires --facts-dir");
    let mut facts: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| UsageError(format!("--facts-dir {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        })
        .collect();
    facts.sort();
    if facts.is_empty() {
        return usage(format!(
            "--facts-dir {}: no facts files (*.yaml, *.yml, *.json)",
            dir.display()
        ));
    }
    let mut gpg = ctx.keystore()?;
    // Only key ids are compared: trust matters for encrypting, not for checking.
    gpg.set_always_trust(true);
    let pkcs7 = ctx.pkcs7_keys();
    let mut sources = ctx.key_sources();
    sources.always_trust = true;
    let loader = LevelKeyLoader::new(sources, ctx.settings.pkcs7.clone());
    let gate = HieraGate {
        config: hiera,
        environment: &args.environment,
        loader: &loader,
        gpg: &gpg,
        pkcs7: &pkcs7,
        server_keys: if args.server_key.is_empty() {
            &config.server_keys
        } else {
            &args.server_key
        },
        method,
    };
    let (files, findings) = gate.run(&facts).map_err(|e| UsageError(e.to_string()))?;
    ctx.ui
        .debug(&format!("{} node(s), {files} data file(s)", facts.len()));
    let report = check::Report::new(files, findings, config);
    print(ctx, args, &report)
}

/// Prints a report in the chosen format; the exit code follows `--fail-on`.
fn print(ctx: &Context, args: &CheckArgs, report: &check::Report) -> Result<ExitCode> {
    let out = match args.format {
        CheckFormat::Human => human(&report.findings),
        CheckFormat::Json => report.to_json(),
        CheckFormat::Github => github(&report.findings),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if ctx.ui.level >= 1 && args.format == CheckFormat::Human {
        eprintln!(
            "eyaml-gpg: checked {} file(s): {} error(s), {} warning(s)",
            report.files_checked, report.summary.errors, report.summary.warnings
        );
    }
    Ok(ExitCode::from(u8::from(
        report.fails(fail_on(args.fail_on)),
    )))
}

fn fail_on(f: FailOn) -> check::FailOn {
    match f {
        FailOn::Never => check::FailOn::Never,
        FailOn::Warning => check::FailOn::Warning,
        FailOn::Error => check::FailOn::Error,
    }
}

fn human(findings: &[Finding]) -> String {
    findings.iter().map(|f| format!("{f}\n")).collect()
}

/// GitHub workflow commands: `::error file=…,line=…,col=…,title=…::message`.
fn github(findings: &[Finding]) -> String {
    fn data(s: &str) -> String {
        s.replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A")
    }
    fn property(s: &str) -> String {
        data(s).replace(':', "%3A").replace(',', "%2C")
    }
    findings
        .iter()
        .map(|f| {
            format!(
                "::{} file={},line={},col={},title={}::{}\n",
                f.severity,
                property(&f.path.to_string_lossy()),
                f.line,
                f.column,
                property(&format!("eyaml-gpg {}", f.rule)),
                data(&f.message)
            )
        })
        .collect()
}
