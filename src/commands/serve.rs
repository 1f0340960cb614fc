//! `serve`: the decryption service for Puppet servers (a socket of our own or one inherited
//! from systemd), its one-shot form for the Puppet module's binary mode (`--once`), and
//! `--check`, which proves the keys read a whole tree.

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use eyaml_gpg::eyaml::read_bytes;
use eyaml_gpg::scheme::Scheme;
use eyaml_gpg::serve::{self, Control, ErrorReply, Keys, Options};
use nix::unistd::{Gid, Group, Uid, User};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::{emit, Context};
use crate::cli::ServeArgs;
use crate::common::{usage, UsageError};

/// Runs `serve`.
pub fn run(ctx: &Context, args: &ServeArgs) -> Result<ExitCode> {
    // Taken first, while the process has one thread: the crate clears LISTEN_* from the
    // environment so children do not inherit them.
    let mut inherited = listenfd::ListenFd::from_env();
    let method = ctx.scheme_less()?;
    if !args.check.is_empty() {
        return check(ctx, args, method);
    }
    if let Some(file) = &args.once {
        let request = read_bytes(file)?;
        let store = match keys(ctx) {
            Ok(s) => s,
            Err(e) => {
                // The module reads standard output only (Puppet Server drops stderr).
                let msg = format!("{e:#}");
                emit(
                    &serve::error_line(None, ErrorReply::new("keys", &msg)),
                    false,
                )?;
                ctx.ui.error(&msg);
                return Ok(ExitCode::from(2));
            }
        };
        return emit(
            &serve::handle_request(&store, &request, method, usize::MAX),
            false,
        );
    }
    let options = Options {
        max_request: args.max_request,
        max_reply: args.max_reply,
        max_clients: args.max_clients,
        allow_uids: uids(&args.allow_uid, args.allow_group.is_empty())?,
        allow_gids: gids(&args.allow_group)?,
        method,
    };
    // Keys and signal handlers first: the socket appears only once the service can answer
    // and stop cleanly.
    let store = keys(ctx).map_err(|e| UsageError(format!("{e:#}")))?;
    ctx.ui.info(&store.summary());
    let control = signals()?;
    let (listener, owned) = if inherited.len() > 0 {
        let l = inherited
            .take_unix_listener(0)
            .context("socket activation: LISTEN_FDS names no Unix stream socket")?
            .ok_or_else(|| UsageError("socket activation: no socket passed".into()))?;
        ctx.ui
            .info("serving the socket passed by the service manager");
        (l, None)
    } else {
        let Some(path) = args.socket.clone() else {
            return usage(
                "--socket is required (unless systemd passes a socket: LISTEN_FDS, LISTEN_PID)",
            );
        };
        let l = serve::bind(&path, args.socket_mode).map_err(|e| UsageError(e.to_string()))?;
        ctx.ui.info(&format!(
            "listening on {} (mode {:04o})",
            path.display(),
            args.socket_mode
        ));
        (l, Some(path))
    };
    let result = serve_until_stopped(ctx, &listener, store, options, &control);
    if let Some(path) = owned {
        let _ = std::fs::remove_file(&path);
    }
    result?;
    ctx.ui.info("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The keys of every scheme, from the run's key sources.
fn keys(ctx: &Context) -> Result<Keys> {
    Ok(Keys::load(ctx.keystore()?, ctx.settings.pkcs7.clone())?)
}

/// Flags set by SIGHUP (reload) and SIGTERM/SIGINT (stop), with a wake-up pipe for the
/// accept loop.
fn signals() -> Result<Control> {
    let (wake_tx, wake_rx) = UnixStream::pair().context("wake-up pipe")?;
    let control = Control {
        reload: Arc::new(AtomicBool::new(false)),
        stop: Arc::new(AtomicBool::new(false)),
        wake: wake_rx,
    };
    for (signal, flag) in [
        (SIGHUP, &control.reload),
        (SIGTERM, &control.stop),
        (SIGINT, &control.stop),
    ] {
        signal_hook::flag::register(signal, Arc::clone(flag)).context("signal handler")?;
        signal_hook::low_level::pipe::register(signal, wake_tx.try_clone()?)
            .context("signal handler")?;
    }
    Ok(control)
}

fn serve_until_stopped(
    ctx: &Context,
    listener: &UnixListener,
    store: Keys,
    options: Options,
    control: &Control,
) -> Result<()> {
    let reload = Context {
        settings: ctx.settings.clone(),
        ui: ctx.ui,
        no_gnupg_home: Default::default(),
    };
    let log_ui = ctx.ui;
    serve::run(
        listener,
        store,
        move || keys(&reload).map_err(|e| format!("{e:#}")),
        options,
        control,
        Box::new(move |m: &str| log_ui.info(m)),
    )?;
    Ok(())
}

fn uids(names: &[String], default_self: bool) -> Result<Vec<u32>> {
    if names.is_empty() && default_self {
        return Ok(vec![Uid::current().as_raw()]);
    }
    names
        .iter()
        .map(|n| match n.parse::<u32>() {
            Ok(id) => Ok(id),
            Err(_) => match User::from_name(n) {
                Ok(Some(u)) => Ok(u.uid.as_raw()),
                _ => usage(format!("--allow-uid: no user named {n:?}")),
            },
        })
        .collect()
}

fn gids(names: &[String]) -> Result<Vec<u32>> {
    names
        .iter()
        .map(|n| match n.parse::<u32>() {
            Ok(id) => Ok(Gid::from_raw(id).as_raw()),
            Err(_) => match Group::from_name(n) {
                Ok(Some(g)) => Ok(g.gid.as_raw()),
                _ => usage(format!("--allow-group: no group named {n:?}")),
            },
        })
        .collect()
}

fn check(ctx: &Context, args: &ServeArgs, method: Scheme) -> Result<ExitCode> {
    for dir in &args.check {
        if !dir.is_dir() {
            return usage(format!("{}: not a directory", dir.display()));
        }
    }
    let store = keys(ctx)?;
    let dirs: Vec<PathBuf> = args.check.clone();
    let report = serve::check_tree(&store, &dirs, method);
    for f in &report.failures {
        ctx.ui.error(&f.error.to_string());
    }
    let summary = format!(
        "{} file(s), {} value(s) decrypted, {} failure(s)",
        report.files,
        report.decrypted,
        report.failures.len()
    );
    if report.failures.is_empty() {
        ctx.ui.info(&summary);
        Ok(ExitCode::SUCCESS)
    } else {
        ctx.ui.error(&summary);
        Ok(ExitCode::FAILURE)
    }
}
