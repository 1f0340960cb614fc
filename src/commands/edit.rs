//! `edit`: the terminal side of an edit session (the session logic is `eyaml_gpg::edit`). The
//! edit text lives in a fresh 0700 directory on a RAM-backed file system when there is one,
//! and is overwritten and removed on every way out: normal return, error, panic, SIGINT,
//! SIGTERM, SIGHUP.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, Once};

use anyhow::{anyhow, Context as _, Result};
use eyaml_gpg::edit::{self, Options, Outcome, Problem, Session};
use eyaml_gpg::scheme::Material;
use eyaml_gpg::{eyaml, keys, leftover};
use zeroize::Zeroizing;

use super::Context;
use crate::cli::EditArgs;
use crate::common::input::utf8;
use eyaml_gpg::Errors;

/// Directories holding plaintext that must be wiped before the process ends.
static SECRET_DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The running editor's pid (0: none; [`STARTING`]: being started).
static EDITOR_PID: AtomicU32 = AtomicU32::new(0);
const STARTING: u32 = u32::MAX;
/// Set when the editor died of SIGINT (a Ctrl-C meant for it).
static EDITOR_INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Set once a signal handler has decided to end the process.
static TERMINATING: AtomicBool = AtomicBool::new(false);
/// Whether the edit's result is in place; held while saving, so that a signal handler waits
/// for a save in progress (no temp file left, no half-done state) and then says truthfully
/// whether the file was changed.
static SAVED: Mutex<bool> = Mutex::new(false);

/// Runs `edit`.
pub fn run(ctx: &Context, args: &EditArgs) -> Result<ExitCode> {
    let path = args.file.as_path();
    let method = ctx.method()?;
    let before = edit::current_bytes(path)?;
    let original = match &before {
        Some(bytes) => utf8(bytes.clone(), path)?,
        None => {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(parent) = parent.filter(|p| !p.is_dir()) {
                return Err(anyhow!(
                    "{}: directory {} does not exist",
                    path.display(),
                    parent.display()
                ));
            }
            ctx.ui.info(&format!(
                "{} doesn't exist, editing new file",
                path.display()
            ));
            edit::NEW_FILE_TEXT.to_string()
        }
    };
    let store = ctx.keystore()?;
    let pkcs7 = ctx.pkcs7_keys();
    let keys = Material {
        gpg: &store,
        pkcs7: &pkcs7,
    };
    let options = Options {
        preamble: !args.no_preamble,
        decrypt: !args.no_decrypt,
    };
    let session = Session::new(&keys, &original, path, method, options);
    for note in session.notes() {
        ctx.ui.warn(&format!("{}: {note}", path.display()));
    }
    let editor = find_editor()?;
    ctx.ui.debug(&format!("editor: {editor:?}"));

    remove_stale_edit_dirs(ctx);
    let temp = SecretDir::create(path)?;
    let edit_file = temp.write_edit_file(path, &session.editor_text())?;
    ctx.ui
        .debug(&format!("wrote temporary file: {}", edit_file.display()));

    let dir = keys::target_dir(path);
    loop {
        run_editor(&editor, &edit_file)?;
        let edited = read_edited(&edit_file)?;
        let outcome = session.finish(&keys, &edited, || {
            ctx.recipients(&store, Some(&dir))
                .map_err(|e| match e.downcast::<eyaml_gpg::Error>() {
                    Ok(e) => e,
                    Err(e) => eyaml_gpg::Error::Gpg(e.to_string()),
                })
        });
        match outcome {
            Ok(Outcome::Unchanged) => {
                ctx.ui.info("No changes detected, exiting");
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Outcome::Changed(c)) => {
                ctx.ui.debug(&format!(
                    "{} value(s) encrypted, {} kept, {} removed",
                    c.encrypted, c.kept, c.removed
                ));
                let mut saved = lock_saved();
                if TERMINATING.load(Ordering::SeqCst) {
                    // A signal came first: its handler cancels the edit and ends the process.
                    drop(saved);
                    loop {
                        std::thread::park();
                    }
                }
                edit::save(path, before.as_deref(), &c.text)?;
                *saved = true;
                return Ok(ExitCode::SUCCESS);
            }
            Err(Problem::Fatal(e)) => return Err(e.into()),
            Err(Problem::Retry(errors)) => {
                let Some(mut tty) = Terminal::open() else {
                    return Err(anyhow::Error::new(Errors::from(errors)).context(format!(
                        "{} left unchanged (no terminal to offer a return to the editor)",
                        path.display()
                    )));
                };
                ctx.ui.error(&Errors::from(errors).to_string());
                if !tty.ask("Return to the editor? [Y/n] ")? {
                    return Err(anyhow!("{} left unchanged", path.display()));
                }
            }
        }
    }
}

fn read_edited(file: &Path) -> Result<Zeroizing<String>> {
    let bytes = Zeroizing::new(fs::read(file).map_err(|e| {
        anyhow!(
            "cannot read the edited text back from {}: {e} (did the editor move or delete it?)",
            file.display()
        )
    })?);
    match std::str::from_utf8(&bytes) {
        Ok(s) => Ok(Zeroizing::new(s.to_string())),
        Err(e) => Err(anyhow!(
            "the edited text is not valid UTF-8 (byte offset {})",
            e.valid_up_to()
        )),
    }
}

/// The editor command line from the environment.
fn find_editor() -> Result<Vec<String>> {
    let var = |n: &str| std::env::var(n).ok();
    let home = var("HOME");
    edit::editor_command(
        var("VISUAL").as_deref(),
        var("EDITOR").as_deref(),
        home.as_deref(),
        |name| on_path(name).is_some(),
        |p| Path::new(p).is_file(),
    )
    .map_err(|m| crate::common::UsageError(m).into())
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Runs the editor on `file` and waits; the editor shares our terminal (and so gets the
/// terminal's Ctrl-C itself).
fn run_editor(editor: &[String], file: &Path) -> Result<()> {
    // Marked before the spawn: a Ctrl-C that reaches the editor as it starts must not end us.
    EDITOR_PID.store(STARTING, Ordering::SeqCst);
    let mut child = match Command::new(&editor[0])
        .args(&editor[1..])
        .arg(file)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            EDITOR_PID.store(0, Ordering::SeqCst);
            return Err(anyhow!("cannot run the editor {:?}: {e}", editor[0]));
        }
    };
    EDITOR_PID.store(child.id(), Ordering::SeqCst);
    let status = child.wait();
    if status
        .as_ref()
        .is_ok_and(|s| s.signal() == Some(signal_hook::consts::SIGINT))
    {
        // Our copy of that Ctrl-C may still be queued for the signal thread: it was the
        // editor's, and the abort below cleans up.
        EDITOR_INTERRUPTED.store(true, Ordering::SeqCst);
    }
    EDITOR_PID.store(0, Ordering::SeqCst);
    if TERMINATING.load(Ordering::SeqCst) {
        // A signal handler is wiping the edit text and ending the process.
        loop {
            std::thread::park();
        }
    }
    let status = status.context("waiting for the editor")?;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(n), _) => Err(anyhow!(
            "Editor did not exit successfully (exit code {n}), aborting"
        )),
        (None, Some(s)) => Err(anyhow!(
            "Editor did not exit successfully (killed by signal {s}), aborting"
        )),
        (None, None) => Err(anyhow!("Editor did not exit successfully, aborting")),
    }
}

/// The controlling terminal, for the retry question.
struct Terminal {
    reader: BufReader<fs::File>,
    writer: fs::File,
}

impl Terminal {
    fn open() -> Option<Terminal> {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let writer = f.try_clone().ok()?;
        Some(Terminal {
            reader: BufReader::new(f),
            writer,
        })
    }

    /// Asks a yes/no question, yes by default; end of input is no.
    fn ask(&mut self, question: &str) -> Result<bool> {
        loop {
            self.writer.write_all(question.as_bytes())?;
            self.writer.flush()?;
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Ok(false);
            }
            match line.trim().to_ascii_lowercase().as_str() {
                "" | "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => {}
            }
        }
    }
}

/// A fresh 0700 directory holding the edit text; wiped and removed when dropped, on a panic
/// and on SIGINT/SIGTERM/SIGHUP.
struct SecretDir {
    dir: PathBuf,
}

impl SecretDir {
    fn create(target: &Path) -> Result<SecretDir> {
        install_handlers()?;
        let repo = repository_root(target);
        let mut tried = Vec::new();
        for base in temp_bases() {
            if let Some(root) = &repo {
                if fs::canonicalize(&base).is_ok_and(|b| b.starts_with(root)) {
                    continue;
                }
            }
            let dir = base.join(format!("eyaml-gpg-edit-{}", eyaml::unique_suffix()));
            // Registered before it exists, so that a signal right after creation finds it.
            lock_dirs().push(dir.clone());
            match DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(SecretDir { dir }),
                Err(e) => {
                    lock_dirs().retain(|d| d != &dir);
                    tried.push(format!("{}: {e}", base.display()));
                }
            }
        }
        Err(anyhow!(
            "no place for the temporary edit file ({})",
            tried.join("; ")
        ))
    }

    /// Writes the edit text as a 0600 file named like the target (ending in `.eyaml`, so
    /// editors pick YAML highlighting).
    fn write_edit_file(&self, target: &Path, text: &str) -> Result<PathBuf> {
        let mut name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.ends_with(".eyaml") {
            name.push_str(".eyaml");
        }
        let file = self.dir.join(name);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .with_context(|| format!("creating {}", file.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(file)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let mut dirs = lock_dirs();
        dirs.retain(|d| d != &self.dir);
        let _ = eyaml::wipe_dir(&self.dir);
    }
}

fn lock_dirs() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SECRET_DIRS.lock().unwrap_or_else(|e| e.into_inner())
}

fn lock_saved() -> std::sync::MutexGuard<'static, bool> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Wipes every registered directory.
fn wipe_all() {
    let mut dirs = lock_dirs();
    for d in dirs.drain(..) {
        let _ = eyaml::wipe_dir(&d);
    }
}

/// Wipes the edit directories that earlier edits of this user left behind when they could not
/// clean up (killed by SIGKILL, aborted, power loss): they hold plaintext. Only directories of
/// our naming scheme, owned by this user, whose process no longer runs; each one is named on
/// standard error.
fn remove_stale_edit_dirs(ctx: &Context) {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::geteuid().as_raw();
    for base in temp_bases() {
        let Ok(entries) = fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("eyaml-gpg-edit-"))
                .and_then(leftover::suffix_pid)
            else {
                continue;
            };
            let ours = e
                .metadata()
                .is_ok_and(|m| m.is_dir() && !m.is_symlink() && m.uid() == uid);
            if !ours || leftover::process_alive(pid) {
                continue;
            }
            let dir = e.path();
            match eyaml::wipe_dir(&dir) {
                Ok(()) => ctx.ui.warn(&format!(
                    "removed {}: the edit text of an edit that ended without cleaning up (process {pid}, no longer running)",
                    dir.display()
                )),
                Err(err) => ctx.ui.warn(&format!(
                    "{}: edit text left by an interrupted edit (process {pid}); cannot remove it: {err}",
                    dir.display()
                )),
            }
        }
    }
}

/// Candidate places for the edit text, RAM-backed first.
fn temp_bases() -> Vec<PathBuf> {
    let var = |n: &str| {
        std::env::var_os(n)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let mut out = Vec::new();
    out.extend(var("XDG_RUNTIME_DIR"));
    out.push(PathBuf::from("/dev/shm"));
    out.extend(var("TMPDIR"));
    out.push(PathBuf::from("/tmp"));
    out.into_iter().filter(|p| p.is_dir()).collect()
}

/// The root of the git work tree holding `target`, if any (the edit text never goes there).
fn repository_root(target: &Path) -> Option<PathBuf> {
    let dir = fs::canonicalize(keys::target_dir(target)).ok()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Signal thread and panic hook, once per process.
fn install_handlers() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::iterator::exfiltrator::WithOrigin;
        use signal_hook::low_level::siginfo::Cause;
        match signal_hook::iterator::SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    for origin in signals.forever() {
                        let sig = origin.signal;
                        let editor = EDITOR_PID.load(Ordering::SeqCst);
                        // The terminal's Ctrl-C (sent by the kernel to the whole foreground
                        // group) reaches the editor too, and the editor decides (vim ignores
                        // it); a SIGINT some process sent with kill(2) cancels like SIGTERM.
                        let from_terminal = origin.cause == Cause::Kernel;
                        if sig == SIGINT
                            && from_terminal
                            && (editor != 0 || EDITOR_INTERRUPTED.load(Ordering::SeqCst))
                        {
                            continue;
                        }
                        TERMINATING.store(true, Ordering::SeqCst);
                        if editor != 0 && editor != STARTING {
                            let _ = Command::new("kill")
                                .args(["-TERM", &editor.to_string()])
                                .status();
                        }
                        // Waits for a save in progress to finish.
                        let saved = *lock_saved();
                        wipe_all();
                        let what = if saved {
                            "the edit had already been saved to the file"
                        } else {
                            "the file was not changed"
                        };
                        eprintln!(
                            "eyaml-gpg: interrupted by signal {sig}; {what}, and the temporary edit text was removed"
                        );
                        std::process::exit(128 + sig);
                    }
                });
            }
            Err(e) => result = Err(anyhow!("cannot install signal handlers: {e}")),
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            wipe_all();
            previous(info);
        }));
    });
    result
}
