//! The `eyaml-gpg` binary: a thin layer that maps arguments to library calls.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod common;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use common::config::Settings;
use common::ui::Ui;
use common::UsageError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let early = Ui::new(cli.global.quiet, cli.global.verbose, cli.global.trace);
    let settings = match Settings::load(&cli.global) {
        Ok(s) => s,
        Err(e) => return fail(&early, e),
    };
    let ui = Ui::new(settings.quiet, settings.verbose, settings.trace);
    for f in &settings.config_files {
        ui.debug(&format!("config file {}", f.display()));
    }
    common::process::protect_plaintext(&ui);
    let ctx = commands::Context { settings, ui };
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
        Command::Version => {
            println!("eyaml-gpg {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(a) => commands::generate::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&ctx.ui, e),
    }
}

/// Prints the error (its cause chain, without repeating what a message already says) and
/// picks the exit code: 2 for usage and environment errors, 1 for failed operations.
fn fail(ui: &Ui, e: anyhow::Error) -> ExitCode {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
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
