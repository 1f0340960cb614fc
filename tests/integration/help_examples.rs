//! Every example in `--help` runs (as sq does with its own): the `Examples:` lines of the
//! top-level help and of each subcommand's are run by `sh` in a fixture environment (keys, a
//! recipients file, hieradata, a git index, an editor) and must exit 0.

use std::path::Path;
use std::process::Output;

use crate::harness::{key, ok, require, stderr, stdout, Env, BIN, EDITOR_SCRIPT};

/// The plaintexts of the fixture hieradata, encrypted to Bob when the fixture is built.
const COMMON: &str = "---
profile::base::root_password: DEC::GPG[r00t-common]!
profile::base::database:
  users:
    - name: app
      password: DEC::GPG[db-pass]!
profile::base::packages:
  - vim
  - git
";
const WEB1: &str = "---
profile::base::root_password: DEC::GPG[r00t-web1]!
profile::base::packages:
  - nginx
";

/// The help text of `args` (`--help` appended).
fn help(env: &Env, args: &[&str]) -> String {
    let out = env.cmd().args(args).arg("--help").output().unwrap();
    stdout(ok(&out))
}

/// The command lines under `Example:`/`Examples:` in a help text. clap wraps long lines at
/// 100 columns with the same indentation: a line that starts neither with `eyaml-gpg ` nor
/// with a variable assignment continues the previous example.
fn examples(help: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line == "Examples:" || line == "Example:" {
            inside = true;
        } else if inside && line.starts_with("  ") {
            let line = line.trim();
            let assignment = line.split_once('=').is_some_and(|(var, _)| {
                !var.is_empty() && var.chars().all(|c| c.is_ascii_uppercase() || c == '_')
            });
            match out.last_mut() {
                Some(last) if !line.starts_with("eyaml-gpg ") && !assignment => {
                    last.push(' ');
                    last.push_str(line);
                }
                _ => out.push(line.to_string()),
            }
        } else {
            inside = false;
        }
    }
    out
}

/// The subcommands listed by `--help` (without `help`), and their own subcommands.
fn subcommands(env: &Env, parent: &[&str]) -> Vec<Vec<String>> {
    let text = help(env, parent);
    let Some(list) = text.split("Commands:\n").nth(1) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in list
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|s| *s != "help")
    {
        let mut path: Vec<String> = parent.iter().map(|s| s.to_string()).collect();
        path.push(name.to_string());
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        out.extend(subcommands(env, &refs));
        out.push(path);
    }
    out
}

/// The user's key file in the fixture (Bob's secret key).
const KEYRING: &str = "keys/me.sec.asc";

/// A work tree as the examples assume it: `hieradata/` with a recipients file (Bob), two
/// encrypted files and a git index holding them, Bob's secret key at `~/keys/me.sec.asc`
/// (also in `EYAML_GPG_KEYRING`), a value in `value.txt`, an editor called `code`, and the
/// user's bash-completion directory, a `serve` request in `request.json`, three versions of
/// `common.eyaml` for `merge`, Alice's public key in `alice.asc`, a recipients lock, and one
/// commit.
fn fixture(env: &Env) {
    env.write(KEYRING, std::fs::read(key("bob.sec.asc")).unwrap());
    // By fingerprint, as `check` recommends, so that `--fail-on warning` passes.
    env.write(
        "hieradata/hiera-eyaml-gpg.recipients",
        "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1\n",
    );
    let tool = || {
        let mut c = env.cmd();
        c.env("EYAML_GPG_KEYRING", env.join(KEYRING));
        c
    };
    for (name, text) in [("common", COMMON), ("nodes/web1", WEB1)] {
        let src = env.write(&format!("hieradata/{name}.src"), text);
        let out = tool().args(["encrypt", "-e"]).arg(&src).output().unwrap();
        std::fs::remove_file(src).unwrap();
        env.write(&format!("hieradata/{name}.eyaml"), &ok(&out).stdout);
    }
    let out = tool()
        .args(["encrypt", "-o", "string", "-s", "hunter2"])
        .args(["--gpg-recipients", "bob@example.com"])
        .output()
        .unwrap();
    env.write("value.txt", &ok(&out).stdout);
    // `serve --once` answers one protocol request; `merge` merges three versions.
    env.write("request.json", "{\"v\":1,\"op\":\"ping\"}\n");
    let common = std::fs::read(env.join("hieradata/common.eyaml")).unwrap();
    for side in ["common.base", "common.ours", "common.theirs"] {
        env.write(side, &common);
    }
    // `keys` examples: another person's public key, a recipients lock matching the tree.
    env.write("alice.asc", std::fs::read(key("alice.pub.asc")).unwrap());
    env.write(
        ".eyaml-gpg-check.yaml",
        "recipients_lock: .eyaml-gpg-recipients.lock\n",
    );
    env.write(
        ".eyaml-gpg-recipients.lock",
        "hieradata/hiera-eyaml-gpg.recipients:\n  - 617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1\n",
    );
    env.write_script("bin/code", EDITOR_SCRIPT);
    std::fs::create_dir_all(env.join(".local/share/bash-completion/completions")).unwrap();
    // One commit (for `exposure`), then the index as the hook examples expect it.
    let identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"];
    let commit: Vec<&str> = identity
        .iter()
        .copied()
        .chain(["commit", "-q", "-m", "fixture"])
        .collect();
    for args in [
        &["init", "-q"][..],
        &["add", "hieradata"],
        &commit,
        &["add", "hieradata"],
    ] {
        let out = env
            .command("git")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    }
}

/// Runs one example line with `sh` in a fresh fixture, the binary first on `PATH`, in its own
/// session (no terminal a prompt could wait on).
fn run_example(line: &str) -> Output {
    let env = Env::new();
    fixture(&env);
    let path = format!(
        "{}:{}:{}",
        Path::new(BIN).parent().unwrap().display(),
        env.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.command("setsid")
        .args(["sh", "-c", line])
        .env("PATH", path)
        .env("EYAML_GPG_KEYRING", env.join(KEYRING))
        .env("EDITOR", env.editor())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap()
}

#[test]
fn every_help_example_runs() {
    if !require(&["git", "setsid"]) {
        return;
    }
    let env = Env::new();
    let mut commands = vec![Vec::new()];
    commands.extend(subcommands(&env, &[]));
    let mut ran = 0;
    for command in &commands {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let lines = examples(&help(&env, &args));
        assert!(
            !lines.is_empty() || command.len() > 1,
            "`eyaml-gpg {} --help` has no example",
            args.join(" ")
        );
        for line in lines {
            assert!(line.contains("eyaml-gpg "), "{line}");
            let out = run_example(&line);
            assert!(
                out.status.success(),
                "example `{line}` (from `eyaml-gpg {} --help`) exits {:?}:\n{}{}",
                args.join(" "),
                out.status.code(),
                stdout(&out),
                stderr(&out)
            );
            ran += 1;
        }
    }
    assert!(ran >= 15, "only {ran} examples");
}
