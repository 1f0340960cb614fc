//! Issue #17, the file, process and agent defects: one regression test per defect, named after
//! it, each driving the real binary. Races are constructed, not timed: a debug build pauses
//! right before its final check-and-rename when `EYAML_GPG_TEST_PAUSE_BEFORE_RENAME` names a
//! FIFO ([`Pause`]), and the test changes files exactly in that window.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::harness::*;

/// The FIFO a paused binary waits on.
struct Pause {
    fifo: PathBuf,
}

impl Pause {
    fn new(env: &Env, name: &str) -> Pause {
        let fifo = env.join(name);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        Pause { fifo }
    }

    /// Sets the pause variable on `c`.
    fn arm<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.env("EYAML_GPG_TEST_PAUSE_BEFORE_RENAME", &self.fifo)
    }

    /// Waits until `child` waits at the pause (its read end is open); the returned writer
    /// releases it when dropped. Fails if the child ends without reaching the pause.
    fn reached(&self, child: &mut Child) -> File {
        loop {
            // Opening a FIFO's write end without blocking succeeds only while a reader has it
            // open, i.e. once the binary is at the pause.
            match OpenOptions::new()
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&self.fifo)
            {
                Ok(f) => return f,
                Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) => {
                    if let Some(status) = child.try_wait().unwrap() {
                        let mut err = String::new();
                        if let Some(mut s) = child.stderr.take() {
                            let _ = std::io::Read::read_to_string(&mut s, &mut err);
                        }
                        panic!("ended ({status}) before the pause: {err}");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => panic!("{}: {e}", self.fifo.display()),
            }
        }
    }
}

fn tree(env: &Env) -> PathBuf {
    env.copy_tree(&reference().join("hieradata"), "hieradata")
}

/// Adds Alice to the recipients of app1 and of development (app2): 4 + 4 stale values.
fn make_development_stale(root: &Path) {
    for r in [
        "development/app1/hiera-eyaml-gpg.recipients",
        "development/hiera-eyaml-gpg.recipients",
    ] {
        let p = root.join(r);
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("alice@example.com\n");
        std::fs::write(&p, text).unwrap();
    }
}

const KEYS: [&str; 3] = ["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];

fn recrypt(env: &Env, extra: &[&str]) -> Command {
    let mut c = env.cmd();
    c.args(keyring(&KEYS))
        .arg("recrypt")
        .args(extra)
        .arg("hieradata")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Every `.part` file below `dir`.
fn part_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".part") {
                out.insert(p);
            }
        }
    }
    out
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// The file report of the JSON report whose path ends with `name`.
fn file_report<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap_or_default().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in the report"))
}

#[test]
fn recrypt_never_overwrites_a_concurrent_edit() {
    let env = Env::new();
    let root = tree(&env);
    make_development_stale(&root);
    let app1 = root.join("development/app1/app1.eyaml");
    let app2 = root.join("development/app2/app2.eyaml");
    let old_app2 = std::fs::read_to_string(&app2).unwrap();
    let pause = Pause::new(&env, "pause");
    let mut child = pause
        .arm(&mut recrypt(&env, &["--format", "json"]))
        .spawn()
        .unwrap();
    let release = pause.reached(&mut child);
    // Every value is re-encrypted and staged; a concurrent edit now replaces app1.
    let edited = format!(
        "{}edited: meanwhile\n",
        std::fs::read_to_string(&app1).unwrap()
    );
    let tmp = app1.with_extension("editor-tmp");
    std::fs::write(&tmp, &edited).unwrap();
    std::fs::rename(&tmp, &app1).unwrap();
    drop(release);
    let out = child.wait_with_output().unwrap();

    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&app1).unwrap(),
        edited,
        "the edit stays"
    );
    let err = stderr(&out);
    assert!(
        err.contains("app1.eyaml: changed on disk after it was read (a concurrent edit or recrypt?), so it was not overwritten"),
        "{err}"
    );
    assert!(
        err.contains(
            "1 file skipped: changed on disk after being read, left as is (run recrypt again)"
        ),
        "{err}"
    );
    let report = json(&out);
    let r1 = file_report(&report, "app1.eyaml");
    assert_eq!(
        (&r1["skipped"], &r1["written"]),
        (&true.into(), &false.into())
    );
    assert!(r1["values"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v["recrypted"] == false));
    // The other file was not touched by the edit: it is re-encrypted.
    let r2 = file_report(&report, "app2.eyaml");
    assert_eq!(
        (&r2["skipped"], &r2["written"]),
        (&false.into(), &true.into())
    );
    assert_eq!(report["summary"]["skipped"], 1);
    let new_app2 = std::fs::read_to_string(&app2).unwrap();
    for (a, b) in enc_payloads(&old_app2).iter().zip(enc_payloads(&new_app2)) {
        assert!(recipient_ids(&b).contains(ALICE_SUB));
        assert!(!recipient_ids(a).contains(ALICE_SUB));
    }
    assert!(part_files(&root).is_empty(), "{:?}", part_files(&root));

    // Run again: the edited file is now re-encrypted, edit included.
    let again = recrypt(&env, &[]).output().unwrap();
    ok(&again);
    let text = std::fs::read_to_string(&app1).unwrap();
    assert!(text.ends_with("edited: meanwhile\n"), "{text}");
    assert!(enc_payloads(&text)
        .iter()
        .all(|p| recipient_ids(p).contains(ALICE_SUB)));
}

#[test]
fn two_concurrent_recrypts_never_both_report_success() {
    let env = Env::new();
    let root = tree(&env);
    make_development_stale(&root);
    let app1 = root.join("development/app1/app1.eyaml");
    let pause = Pause::new(&env, "pause");
    let mut first = pause.arm(&mut recrypt(&env, &[])).spawn().unwrap();
    let release = pause.reached(&mut first);
    // A second recrypt of the same tree runs to the end while the first one waits.
    let second = recrypt(&env, &[]).output().unwrap();
    ok(&second);
    let by_second = std::fs::read(&app1).unwrap();
    drop(release);
    let out = first.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 files skipped"), "{err}");
    assert_eq!(std::fs::read(&app1).unwrap(), by_second);
    assert!(part_files(&root).is_empty());
}

#[test]
fn edit_never_overwrites_a_change_made_while_saving() {
    let env = Env::new();
    env.editor();
    env.write("hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let keys = keyring(&["bob.sec.asc"]);
    let src = env.write("t.src", "---\nsecret: DEC::GPG[alpha]!\n");
    let enc = env
        .cmd()
        .args(&keys)
        .args(["encrypt", "-e"])
        .arg(&src)
        .output()
        .unwrap();
    let target = env.write("t.eyaml", &ok(&enc).stdout);
    let pause = Pause::new(&env, "pause");
    let mut c = env.session_cmd();
    c.env("EDITOR", env.editor())
        .env("EYAML_SED", "s/alpha/mine/")
        .args(&keys)
        .args(["edit", "t.eyaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = pause.arm(&mut c).spawn().unwrap();
    let release = pause.reached(&mut child);
    // The editor is closed and the result staged: someone else saves the file now.
    std::fs::write(&target, "theirs: changed\n").unwrap();
    drop(release);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("t.eyaml changed on disk while the editor was open, so it was not overwritten; your edit is saved (encrypted) as"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "theirs: changed\n"
    );
    let kept: Vec<PathBuf> = std::fs::read_dir(env.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("t.eyaml.eyaml-gpg-conflict-"))
        .collect();
    assert_eq!(kept.len(), 1, "{err}");
    let d = env
        .cmd()
        .args(&keys)
        .args(["decrypt", "-e"])
        .arg(&kept[0])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&d)), "---\nsecret: DEC::GPG[mine]!\n");
    assert!(part_files(env.path()).is_empty());
}

/// A `.part` name of eyaml-gpg's scheme for a process that cannot exist (pids stop at
/// 4194304 on Linux).
const DEAD_PID_PART: &str = ".app1.eyaml.eyaml-gpg-4194305-1f-0.part";

#[test]
fn leftover_part_files_of_a_killed_recrypt_are_reported_by_check_and_removed_by_the_next_run() {
    let env = Env::new();
    let root = tree(&env);
    make_development_stale(&root);
    let app1 = root.join("development/app1/app1.eyaml");
    let old = std::fs::read(&app1).unwrap();
    let pause = Pause::new(&env, "pause");
    let mut child = pause.arm(&mut recrypt(&env, &[])).spawn().unwrap();
    let release = pause.reached(&mut child);
    // Killed with every file staged: nothing can clean up after SIGKILL.
    child.kill().unwrap();
    child.wait().unwrap();
    drop(release);
    let left = part_files(&root);
    assert_eq!(left.len(), 2, "{left:?}");
    assert_eq!(
        std::fs::read(&app1).unwrap(),
        old,
        "the target is untouched"
    );
    // A temp file of a process that still runs (this one) is not ours to touch.
    let live = root.join(format!(
        "development/app1/.app1.eyaml.eyaml-gpg-{}-1f-0.part",
        std::process::id()
    ));
    std::fs::write(&live, "in progress").unwrap();

    let c = env.run_keys(&KEYS, &["check", "hieradata"]);
    let out = stdout(&c);
    for p in &left {
        let shown = p.strip_prefix(env.path()).unwrap().display().to_string();
        assert!(
            out.contains(&format!("{shown}:1:1: warning[leftover-temp-file]: temp file left by an interrupted eyaml-gpg run (process {}", child.id())),
            "{shown}: {out}"
        );
    }
    assert!(!out.contains(&live.file_name().unwrap().to_string_lossy().into_owned()));

    // A dry run reports them and removes nothing.
    let dry = recrypt(&env, &["--dry-run"]).output().unwrap();
    assert!(
        stderr(&dry).contains("recrypt without --dry-run removes it"),
        "{}",
        stderr(&dry)
    );
    assert_eq!(part_files(&root).len(), 3);

    let o = recrypt(&env, &[]).output().unwrap();
    let err = stderr(ok(&o));
    for p in &left {
        assert!(
            err.contains(&format!(
                "removed hieradata/{}: temp file left by an interrupted eyaml-gpg run (process {}, no longer running)",
                p.strip_prefix(&root).unwrap().display(),
                child.id()
            )),
            "{err}"
        );
    }
    assert_eq!(part_files(&root), BTreeSet::from([live]));
    assert!(err.contains("re-encrypted 8 values in 2 files"), "{err}");
}

#[test]
fn check_reports_a_leftover_part_file_in_json() {
    let env = Env::new();
    let root = tree(&env);
    std::fs::write(root.join("development/app1").join(DEAD_PID_PART), "x").unwrap();
    let c = env.run_keys(&KEYS, &["check", "--format", "json", "hieradata"]);
    assert_eq!(c.status.code(), Some(0), "a warning: {}", stderr(&c));
    let report = json(&c);
    let found: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "leftover-temp-file")
        .collect();
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(
        found[0]["path"],
        format!("hieradata/development/app1/{DEAD_PID_PART}")
    );
    assert_eq!(found[0]["severity"], "warning");
}

/// What a case expects to read, and how it makes the path that is not a regular file.
type Maker<'a> = (&'a str, &'a dyn Fn(&Path));

fn mkfifo(p: &Path) {
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// Runs the binary and returns (exit code, stderr); a hang here is the defect under test.
fn run_err(env: &Env, args: &[&str]) -> (Option<i32>, String) {
    let o = env.run_keys(&["bob.sec.asc"], args);
    (o.status.code(), stderr(&o))
}

#[test]
fn non_regular_files_as_targets_are_refused_naming_them() {
    let env = Env::new();
    env.write("hiera-eyaml-gpg.recipients", "bob@example.com\n");
    mkfifo(&env.join("fifo.eyaml"));
    std::fs::create_dir(env.join("dir.eyaml")).unwrap();
    std::os::unix::fs::symlink("loop.eyaml", env.join("loop.eyaml")).unwrap();
    let cases = [
        (
            "fifo.eyaml",
            "fifo.eyaml: is a FIFO (named pipe), not a regular file",
        ),
        (
            "/dev/zero",
            "/dev/zero: is a character device, not a regular file",
        ),
        ("dir.eyaml", "dir.eyaml: is a directory"),
        (
            "loop.eyaml",
            "loop.eyaml: is a symbolic link loop, not a regular file",
        ),
    ];
    for (target, message) in cases {
        for cmd in [
            vec!["decrypt", "-e", target],
            vec!["encrypt", "-e", target],
            vec!["textconv", target],
            vec!["edit", target],
            vec!["recrypt", target],
            vec!["check", target],
        ] {
            if cmd[0] != "decrypt"
                && cmd[0] != "encrypt"
                && cmd[0] != "textconv"
                && cmd[0] != "edit"
                && target == "dir.eyaml"
            {
                // recrypt and check walk a directory they are given.
                continue;
            }
            let (code, err) = run_err(&env, &cmd);
            assert!(matches!(code, Some(1 | 2)), "{cmd:?}: exit {code:?}: {err}");
            let walked = target == "loop.eyaml" && (cmd[0] == "recrypt" || cmd[0] == "check");
            assert!(
                err.contains(message)
                    || (walked && err.contains("loop.eyaml: Too many levels of symbolic links")),
                "{cmd:?}: {err}"
            );
        }
    }
}

#[test]
fn a_recipients_file_that_is_not_a_file_never_falls_through_to_the_parent() {
    let env = Env::new();
    env.write("t/hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let enc = env.run_keys(
        &["bob.sec.asc"],
        &[
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "-o",
            "string",
            "-s",
            "s3cret",
        ],
    );
    let value = stdout(ok(&enc));
    let file = env.write("t/sub/x.eyaml", format!("a: {}\n", value.trim()));
    let before = std::fs::read(&file).unwrap();
    let dec = env.write("t/sub/new.eyaml", "b: DEC::GPG[x]!\n");
    let rfile = env.join("t/sub/hiera-eyaml-gpg.recipients");
    let makers: [Maker; 3] = [
        ("is a directory", &|p| std::fs::create_dir(p).unwrap()),
        ("is a FIFO (named pipe), not a regular file", &|p| mkfifo(p)),
        ("is a symbolic link loop, not a regular file", &|p| {
            std::os::unix::fs::symlink("hiera-eyaml-gpg.recipients", p).unwrap()
        }),
    ];
    for (what, make) in makers {
        make(&rfile);
        let message = format!("hiera-eyaml-gpg.recipients: {what}");
        for cmd in [
            vec!["encrypt", "-e", dec.to_str().unwrap()],
            vec!["recrypt", "--all", "t"],
            vec!["recrypt", "--dry-run", "t"],
        ] {
            let (code, err) = run_err(&env, &cmd);
            assert!(
                matches!(code, Some(1 | 2)),
                "{cmd:?} {what}: {code:?} {err}"
            );
            // A walk resolves the recipients file's real path first and says so its own way.
            let looped = "hiera-eyaml-gpg.recipients: Too many levels of symbolic links";
            assert!(
                err.contains(&message) || (what.contains("loop") && err.contains(looped)),
                "{cmd:?}: {err}"
            );
        }
        assert_eq!(std::fs::read(&file).unwrap(), before);
        let c = env.run_keys(&["bob.pub.asc"], &["check", "t"]);
        assert!(
            matches!(c.status.code(), Some(1 | 2)),
            "{what}: {}",
            stderr(&c)
        );
        assert!(
            stderr(&c).contains(&message) || what.contains("loop"),
            "{}",
            stderr(&c)
        );
        if rfile.is_dir() {
            std::fs::remove_dir(&rfile).unwrap();
        } else {
            std::fs::remove_file(&rfile).unwrap();
        }
    }
}

#[test]
fn a_gnupg_home_with_a_broken_keyring_names_it_and_exits_2() {
    let env = Env::new();
    let file = env.copy_tree(&reference().join("hieradata/development/app1"), "app1");
    let file = file.join("app1.eyaml");
    let home = env.join("gnupg");
    std::fs::create_dir(&home).unwrap();
    set_mode(&home, 0o700);
    let kbx = home.join("pubring.kbx");
    let makers: [Maker; 2] = [
        ("is a directory, not a keyring", &|p| {
            std::fs::create_dir(p).unwrap()
        }),
        ("is a character device, not a keyring", &|p| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap()
        }),
    ];
    for (what, make) in makers {
        make(&kbx);
        let o = env
            .cmd()
            .env("GNUPGHOME", &home)
            .args(["decrypt", "-e"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{}: {what}", kbx.display())),
            "{}",
            stderr(&o)
        );
        if kbx.is_symlink() {
            std::fs::remove_file(&kbx).unwrap();
        } else {
            std::fs::remove_dir(&kbx).unwrap();
        }
    }
}

#[test]
fn eyaml_config_naming_a_directory_or_fifo_says_what_it_is() {
    let env = Env::new();
    std::fs::create_dir(env.join("conf.d")).unwrap();
    mkfifo(&env.join("conf.fifo"));
    for (name, what) in [
        ("conf.d", "is a directory"),
        ("conf.fifo", "is a FIFO (named pipe), not a regular file"),
    ] {
        let o = env
            .cmd()
            .env("EYAML_CONFIG", env.join(name))
            .args(["decrypt", "-s", "x"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains(&format!("{name}: {what}: cannot use it as a config file")),
            "{}",
            stderr(&o)
        );
    }
}

/// Waits until `p` exists (the editor script signals that way), failing if `child` ends.
fn wait_for(p: &Path, child: &mut Child) {
    while !p.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("ended ({status}) before {} appeared", p.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// An edit of a bob-only `t.eyaml` whose scripted editor changes it, then waits (its pid in
/// `ready`, ours in `ppid`) until killed.
fn waiting_edit(env: &Env) -> (Child, PathBuf, Vec<u8>) {
    env.editor();
    env.write("hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let src = env.write("t.src", "---\nsecret: DEC::GPG[alpha]!\n");
    let enc = env.run_keys(&["bob.sec.asc"], &["encrypt", "-e", src.to_str().unwrap()]);
    let target = env.write("t.eyaml", &ok(&enc).stdout);
    let before = std::fs::read(&target).unwrap();
    let child = env
        .session_cmd()
        .env("EDITOR", env.editor())
        .env("EYAML_SED", "s/alpha/mine/")
        .env("EYAML_PPID", env.join("ppid"))
        .env("EYAML_READY", env.join("ready"))
        .args(keyring(&["bob.sec.asc"]))
        .args(["-v", "edit", "t.eyaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, target, before)
}

fn kill(sig: &str, pid: &str) {
    let st = Command::new("kill")
        .args([sig, "--", pid])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Nothing of the edit left in the temp places, and no `.part` next to the file.
fn assert_no_edit_left(env: &Env) {
    for d in ["run", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(env.join(d)).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
    }
    assert!(part_files(env.path()).is_empty());
}

#[test]
fn sigint_sent_to_the_process_while_the_editor_is_open_cancels_the_edit() {
    let env = Env::new();
    let (mut child, target, before) = waiting_edit(&env);
    wait_for(&env.join("ready"), &mut child);
    // Only our process gets it (not the terminal's Ctrl-C, which the editor gets too).
    kill("-INT", &child.id().to_string());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted by signal 2; the file was not changed, and the temporary edit text was removed"),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert_no_edit_left(&env);
}

#[test]
fn a_signal_during_the_save_says_what_happened_and_leaves_no_part_file() {
    let env = Env::new();
    env.editor();
    env.write("hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let src = env.write("t.src", "---\nsecret: DEC::GPG[alpha]!\n");
    let enc = env.run_keys(&["bob.sec.asc"], &["encrypt", "-e", src.to_str().unwrap()]);
    let target = env.write("t.eyaml", &ok(&enc).stdout);
    let pause = Pause::new(&env, "pause");
    let mut c = env.session_cmd();
    c.env("EDITOR", env.editor())
        .env("EYAML_SED", "s/alpha/mine/")
        .args(keyring(&["bob.sec.asc"]))
        .args(["edit", "t.eyaml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = pause.arm(&mut c).spawn().unwrap();
    let release = pause.reached(&mut child);
    // The result is staged and about to be renamed: SIGTERM now.
    kill("-TERM", &child.id().to_string());
    drop(release);
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    // The save completes either way; the message (if the handler ran first) says so.
    let d = env.run_keys(
        &["bob.sec.asc"],
        &["decrypt", "-e", target.to_str().unwrap()],
    );
    assert_eq!(stdout(ok(&d)), "---\nsecret: DEC::GPG[mine]!\n", "{err}");
    assert!(!err.contains("not changed"), "{err}");
    match out.status.code() {
        Some(0) => {}
        Some(143) => assert!(
            err.contains("interrupted by signal 15; the edit had already been saved to the file"),
            "{err}"
        ),
        other => panic!("exit {other:?}: {err}"),
    }
    assert_no_edit_left(&env);
}

#[test]
fn the_edit_process_holding_plaintext_cannot_dump_core_and_is_not_dumpable() {
    let env = Env::new();
    let (mut child, target, before) = waiting_edit(&env);
    wait_for(&env.join("ready"), &mut child);
    let pid = child.id();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
    // The editor inherits the core limit (its dumpable flag comes back with exec).
    let editor = std::fs::read_to_string(env.join("ready")).unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", editor.trim())).unwrap();
    assert!(limits
        .lines()
        .any(|l| l.starts_with("Max core file size") && l.split_whitespace().nth(4) == Some("0")));
    // Not dumpable: /proc/<pid> then belongs to root, which only shows for another user.
    if nix::unistd::geteuid().as_raw() != 0 {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(format!("/proc/{pid}/status")).unwrap();
        assert_eq!(
            meta.uid(),
            0,
            "non-dumpable processes' /proc files are root's"
        );
    }
    kill("-TERM", &pid.to_string());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(err.contains("not dumpable, core dumps off"), "{err}");
    assert_eq!(out.status.code(), Some(143), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), before);
    assert_no_edit_left(&env);
}

#[test]
fn stale_edit_directories_of_dead_processes_are_wiped_at_start() {
    let env = Env::new();
    env.editor();
    let dead = env.join("run/eyaml-gpg-edit-4194305-1f-0");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("t.eyaml"), "secret: DEC::GPG[plaintext]!\n").unwrap();
    let live = env.join(&format!("tmp/eyaml-gpg-edit-{}-1f-0", std::process::id()));
    std::fs::create_dir(&live).unwrap();
    env.write("plain.eyaml", "a: b\n");
    let o = env
        .session_cmd()
        .env("EDITOR", env.editor())
        .args(["edit", "plain.eyaml"])
        .output()
        .unwrap();
    let err = stderr(ok(&o));
    assert!(
        err.contains(&format!(
            "removed {}: the edit text of an edit that ended without cleaning up (process 4194305, no longer running)",
            dead.display()
        )),
        "{err}"
    );
    assert!(!dead.exists());
    assert!(live.exists(), "a running process's directory stays");
}

/// How a fake gpg-agent misbehaves.
#[derive(Clone, Copy)]
enum FakeAgent {
    /// Accepts connections and never writes.
    Hangs,
    /// Writes bytes without a newline, forever.
    Floods,
}

/// A GnuPG home with Bob's public key whose agent socket is served by a thread of this test.
struct Fake {
    home: PathBuf,
    socket: PathBuf,
}

impl Fake {
    fn new(env: &Env, how: FakeAgent) -> Fake {
        let home = env.gnupg_home("gnupg", &["bob.pub.asc"], false);
        kill_agent(&home);
        let out = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&home)
            .args(["--list-dirs", "agent-socket"])
            .output()
            .unwrap();
        let socket = PathBuf::from(stdout(&out).trim());
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming() {
                let Ok(mut s) = s else { return };
                match how {
                    FakeAgent::Hangs => held.push(s),
                    FakeAgent::Floods => {
                        std::thread::spawn(move || {
                            let junk = [b'A'; 65536];
                            while std::io::Write::write_all(&mut s, &junk).is_ok() {}
                        });
                    }
                }
            }
        });
        Fake { home, socket }
    }

    fn cmd(&self, env: &Env, args: &[&str]) -> Output {
        env.cmd()
            .env("GNUPGHOME", &self.home)
            .env("EYAML_GPG_AGENT_TIMEOUT", "0.3")
            .args(args)
            .arg(hieradata("development/app1/app1.eyaml"))
            .output()
            .unwrap()
    }
}

impl Drop for Fake {
    /// Removes the socket, so that nothing (the harness's `gpgconf --kill`) talks to it.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[test]
fn a_gpg_agent_that_never_answers_times_out_naming_the_socket() {
    if !require(&["gpg", "gpgconf"]) {
        return;
    }
    let env = Env::new();
    let fake = Fake::new(&env, FakeAgent::Hangs);
    let o = fake.cmd(&env, &["decrypt", "-e"]);
    let err = stderr(&o);
    assert!(matches!(o.status.code(), Some(1 | 2)), "{err}");
    assert!(
        err.contains(&format!(
            "no answer from {} within 0.3 s (EYAML_GPG_AGENT_TIMEOUT sets the limit)",
            fake.socket.display()
        )),
        "{err}"
    );
    // textconv shows what it cannot decrypt as it is (a diff must not fail): it ends too.
    let o = fake.cmd(&env, &["textconv"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("ENC[GPG,"));
}

#[test]
fn a_gpg_agent_flooding_bytes_without_a_newline_is_cut_off() {
    if !require(&["gpg", "gpgconf"]) {
        return;
    }
    let env = Env::new();
    let fake = Fake::new(&env, FakeAgent::Floods);
    let o = fake.cmd(&env, &["decrypt", "-e"]);
    let err = stderr(&o);
    assert!(matches!(o.status.code(), Some(1 | 2)), "{err}");
    assert!(
        err.contains(&format!(
            "{} sent a line longer than 1000 bytes",
            fake.socket.display()
        )),
        "{err}"
    );
}

#[test]
fn lookup_errors_carry_the_line_of_the_value() {
    let env = Env::new();
    env.copy_tree(&reference().join("hieradata"), "hieradata");
    let file = "hieradata/production/dc1/base.eyaml";
    for (key, line) in [
        ("profile::base::root_password", 8),
        // The first value that fails inside a hash (a list item below `users`).
        ("profile::base::database", 19),
    ] {
        let o = env.run(&["lookup", key, file]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "when looking up {key} in {file}. Error was No secret key"
            )) && err.trim_end().ends_with(&format!(" (line {line})")),
            "{err}"
        );
    }
}
