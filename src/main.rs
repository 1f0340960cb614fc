//! The `eyaml-gpg` binary: a thin layer that maps arguments to library calls.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod common;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use cli::{Cli, Command};
use common::config::{ConfigFiles, Settings};
use common::ui::Ui;
use common::UsageError;

fn main() -> ExitCode {
    // Sequoia sizes each of its buffered readers from this variable (32 KiB by default,
    // allocated zeroed per reader: several per value). Values are a few hundred bytes: a small
    // buffer cuts decryption CPU by a third (benches/decrypt.sh). Set before any thread starts.
    if std::env::var_os("SEQUOIA_BUFFERED_READER_BUFFER").is_none() {
        std::env::set_var("SEQUOIA_BUFFERED_READER_BUFFER", "1024");
    }
    // Config files come first: their keys are the defaults of the subcommands' flags.
    let early = Ui::new(false, false, false);
    let config = match ConfigFiles::read() {
        Ok(c) => c,
        Err(e) => return fail(&early, e),
    };
    let (command, notes) = match config.apply_defaults(Cli::command()) {
        Ok(c) => c,
        Err(e) => return fail(&early, e),
    };
    let cli = match command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if e.use_stderr() && !config.files.is_empty() {
                let files: Vec<String> = config
                    .files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect();
                early.info(&format!(
                    "option defaults were read from {}",
                    files.join(", ")
                ));
            }
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let settings = match Settings::load(&cli.global, &config) {
        Ok(s) => s,
        Err(e) => return fail(&early, e),
    };
    let ui = Ui::new(settings.quiet, settings.verbose, settings.trace);
    for f in &settings.config_files {
        ui.debug(&format!("config file {}", f.display()));
    }
    for n in &notes {
        ui.debug(n);
    }
    common::process::protect_plaintext(&ui);
    let ctx = commands::Context {
        settings,
        ui,
        no_gnupg_home: Default::default(),
    };
    let result = match &cli.command {
        Command::Encrypt(a) => commands::encrypt::run(&ctx, a),
        Command::Decrypt(a) => commands::decrypt::run(&ctx, a),
        Command::Check(a) => commands::check::run(&ctx, a),
        Command::Createkeys(a) => commands::createkeys::run(&ctx, a),
        Command::Textconv(a) => commands::textconv::run(&ctx, a),
        Command::Edit(a) => commands::edit::run(&ctx, a),
        Command::Lookup(a) => commands::lookup::run(&ctx, a),
        Command::Recrypt(a) => commands::recrypt::run(&ctx, a),
        Command::Serve(a) => commands::serve::run(&ctx, a),
        Command::Merge(a) => commands::merge::run(&ctx, a),
        Command::Keys(a) => commands::keys::run(&ctx, a),
        Command::Exposure(a) => commands::exposure::run(&ctx, a),
        Command::Version => commands::version::run(&ctx),
        Command::Generate(a) => commands::generate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let hint = ctx.no_home_hint(&e);
            let code = fail(&ctx.ui, e);
            if let Some(h) = hint {
                ctx.ui.error(&h);
            }
            code
        }
    }
}

/// Prints the error (its cause chain, without repeating what a message already says) and
/// picks the exit code: 2 for usage and environment errors, 1 for failed operations.
fn fail(ui: &Ui, e: anyhow::Error) -> ExitCode {
    let mut msg = once_per_key(&e).unwrap_or_else(|| e.to_string());
    for cause in e.chain().skip(1) {
        let c = once_per_key_of(cause).unwrap_or_else(|| cause.to_string());
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    ui.error(&msg);
    let environment = e.chain().any(|c| {
        c.is::<UsageError>()
            || c.downcast_ref::<eyaml_gpg::Error>()
                .is_some_and(eyaml_gpg::Error::is_environment)
            || c.downcast_ref::<eyaml_gpg::Errors>()
                .is_some_and(eyaml_gpg::Errors::is_environment)
    });
    ExitCode::from(if environment { 2 } else { 1 })
}

/// Several values' errors, with a missing pinentry said once per key instead of once per
/// value (the agent gives the same answer, e.g. `Inappropriate ioctl for device`, each time).
fn once_per_key(e: &anyhow::Error) -> Option<String> {
    e.downcast_ref::<eyaml_gpg::Errors>().and_then(collapse)
}

fn once_per_key_of(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    e.downcast_ref::<eyaml_gpg::Errors>().and_then(collapse)
}

fn collapse(errors: &eyaml_gpg::Errors) -> Option<String> {
    let mut lines: Vec<(String, usize)> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = Default::default();
    for e in errors {
        match e.root() {
            root @ eyaml_gpg::Error::AgentNoPinentry { .. } => {
                let key = root.to_string();
                match seen.get(&key) {
                    Some(&i) => lines[i].1 += 1,
                    None => {
                        seen.insert(key.clone(), lines.len());
                        lines.push((key, 1));
                    }
                }
            }
            _ => lines.push((e.to_string(), 1)),
        }
    }
    if seen.is_empty() {
        return None;
    }
    Some(
        lines
            .into_iter()
            .map(|(l, n)| match n {
                1 => l,
                n => format!("{l} ({n} values)"),
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}
