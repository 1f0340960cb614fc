//! `keys list/who/add/rm/replace` and `exposure` on trees and git repositories built here,
//! with the reference keys (key files and a real GnuPG home) and real git.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

const ALICE: &str = "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28";
const BOB: &str = "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1";
const PM: &str = "211945E86F4141A36AC356155D15F4FAFD07824A";

/// `--gpg-keyring` arguments for the public keys, or the secret ones.
fn public() -> Vec<String> {
    keyring(&PUBLIC_KEYS)
}

fn secret() -> Vec<String> {
    keyring(&SECRET_KEYS)
}

fn run(env: &Env, keys: &[String], args: &[&str]) -> Output {
    env.cmd()
        .args(keys)
        .args(args)
        .output()
        .expect("run eyaml-gpg")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// Writes `rel` as an eyaml file whose `DEC::GPG[…]!` values are encrypted to the
/// recipients file that governs it.
fn encrypted(env: &Env, rel: &str, dec: &str) -> PathBuf {
    let path = env.write(rel, dec);
    let out = run(env, &public(), &["encrypt", "-e", rel]);
    ok(&out);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// The primary fingerprints of the certificates that can decrypt each value of a file
/// (`keys who --format json`).
fn holders(env: &Env, rel: &str) -> Vec<Vec<String>> {
    let out = run(env, &public(), &["keys", "who", "--format", "json", rel]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["can"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap()[..40].to_string())
                .collect()
        })
        .collect()
}

/// The same list of fingerprints for each of `n` values, in `keys who`'s (sorted) order.
fn each(n: usize, fingerprints: &[&str]) -> Vec<Vec<String>> {
    let mut v: Vec<String> = fingerprints.iter().map(|s| s.to_string()).collect();
    v.sort();
    vec![v; n]
}

fn tree(env: &Env) {
    env.write(
        "hieradata/hiera-eyaml-gpg.recipients",
        format!("# the team\n{ALICE} # Alice Admin\n\nbob@example.com\n"),
    );
    encrypted(
        env,
        "hieradata/common.eyaml",
        "---\n# common\napp::db_password: DEC::GPG[p1]!\nprofile::web:\n  session_secret: DEC::GPG[s1]!\n",
    );
}

#[test]
fn list_shows_certificates_and_problems() {
    let env = Env::new();
    env.write(
        "data/hiera-eyaml-gpg.recipients",
        format!("{ALICE}\nbob@example.com\nnobody@example.com\n@example.com\n5D15F4FAFD07824A\n"),
    );
    let out = run(
        &env,
        &public(),
        &["keys", "list", "--format", "json", "data"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = json.as_array().unwrap();
    assert_eq!(e.len(), 5);
    assert_eq!(e[0]["line"], 1);
    assert_eq!(e[0]["certificates"][0]["fingerprint"], ALICE);
    assert_eq!(e[0]["certificates"][0]["encryption"], "rsa3072");
    assert_eq!(e[0]["certificates"][0]["validity"], "key-file");
    assert!(e[0]["problems"].as_array().unwrap().is_empty());
    assert_eq!(e[1]["certificates"][0]["encryption"], "cv25519");
    assert_eq!(e[2]["problems"][0]["message"], "no certificate found");
    assert!(e[3]["problems"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("ambiguous: matches 2 certificates"));
    assert_eq!(e[4]["certificates"][0]["fingerprint"], PM);
    assert_eq!(e[4]["problems"][0]["severity"], "warning");
    // Human form: file:line, the certificate, the problem.
    let out = run(&env, &public(), &["keys", "list", "data"]);
    let text = stdout(&out);
    assert!(
        text.contains("data/hiera-eyaml-gpg.recipients:3: nobody@example.com\n    error: no certificate found"),
        "{text}"
    );
    assert!(
        text.contains("rsa2048, created 2026-11-21, expires never"),
        "{text}"
    );
    // Only good lines: exit 0.
    env.write(
        "good/hiera-eyaml-gpg.recipients",
        format!("{ALICE}\n{BOB}\n"),
    );
    assert_eq!(code(&run(&env, &public(), &["keys", "list", "good"])), 0);
}

#[test]
fn list_reads_validity_from_a_gnupg_home() {
    if !require(&["gpg"]) {
        return;
    }
    let env = Env::new();
    let home = env.gnupg_home("gh", &PUBLIC_KEYS, false);
    env.write("d/hiera-eyaml-gpg.recipients", format!("{BOB}\n"));
    let home = home.display().to_string();
    let out = run(
        &env,
        &[],
        &[
            "--gpg-gnupghome",
            &home,
            "keys",
            "list",
            "--format",
            "json",
            "d",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["certificates"][0]["validity"], "not-full");
    assert!(json[0]["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("validity below full"));
    let out = gpg(Path::new(&home))
        .arg("--import-ownertrust")
        .arg(key("ownertrust.txt"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = run(
        &env,
        &[],
        &[
            "--gpg-gnupghome",
            &home,
            "keys",
            "list",
            "--format",
            "json",
            "d",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["certificates"][0]["validity"], "full");
}

#[test]
fn who_compares_packets_with_the_recipients_file() {
    let env = Env::new();
    tree(&env);
    assert_eq!(
        holders(&env, "hieradata/common.eyaml"),
        each(2, &[ALICE, BOB])
    );
    let out = run(&env, &public(), &["keys", "who", "hieradata"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    env.write(
        "hieradata/hiera-eyaml-gpg.recipients",
        format!("{ALICE}\npuppetmaster\n"),
    );
    let out = run(&env, &public(), &["keys", "who", "--values", "hieradata"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("missing (should, cannot): {PM} (puppetmaster)")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "extra (can, should not): {BOB} (Bob Builder <bob@example.com>)"
        )),
        "{text}"
    );
    assert!(text.contains("line 3 app::db_password: "), "{text}");
}

#[test]
fn add_rm_replace_edit_only_their_lines() {
    let env = Env::new();
    tree(&env);
    let rfile = env.join("hieradata/hiera-eyaml-gpg.recipients");
    let before = std::fs::read_to_string(&rfile).unwrap();
    // add: appended with its user id, the rest byte-identical; the certificate stored.
    let out = run(
        &env,
        &public(),
        &[
            "keys",
            "add",
            "puppetmaster",
            "--to",
            "hieradata",
            "--store",
            "keys",
        ],
    );
    ok(&out);
    let after = std::fs::read_to_string(&rfile).unwrap();
    assert_eq!(after, format!("{before}{PM} # puppetmaster\n"));
    assert!(
        stderr(&out).contains("2 values in 1 file now stale"),
        "{}",
        stderr(&out)
    );
    let stored = env.join(&format!("keys/{PM}.asc"));
    assert!(std::fs::read_to_string(&stored)
        .unwrap()
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    // The stored keyring is enough to list the new line.
    let out = run(
        &env,
        &[],
        &[
            "--gpg-keyring",
            "keys",
            "keys",
            "list",
            "--format",
            "json",
            "hieradata",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[2]["certificates"][0]["fingerprint"], PM);
    // Twice: nothing changes.
    let out = run(&env, &public(), &["keys", "add", PM, "--to", "hieradata"]);
    ok(&out);
    assert!(stderr(&out).contains("already a recipient"));
    assert_eq!(std::fs::read_to_string(&rfile).unwrap(), after);

    // rm with --recrypt: the line goes, the values are re-encrypted without bob.
    let out = run(
        &env,
        &secret(),
        &["keys", "rm", "bob@example.com", "--everywhere", "--recrypt"],
    );
    ok(&out);
    assert_eq!(
        std::fs::read_to_string(&rfile).unwrap(),
        format!("# the team\n{ALICE} # Alice Admin\n\n{PM} # puppetmaster\n")
    );
    assert!(
        stderr(&out).contains("re-encrypted 2 values in 1 file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        holders(&env, "hieradata/common.eyaml"),
        each(2, &[ALICE, PM])
    );

    // replace: same place, same indentation.
    let out = run(
        &env,
        &secret(),
        &["keys", "replace", ALICE, "bob@example.com", "--recrypt"],
    );
    ok(&out);
    assert_eq!(
        std::fs::read_to_string(&rfile).unwrap(),
        format!("# the team\n{BOB} # Bob Builder <bob@example.com>\n\n{PM} # puppetmaster\n")
    );
    assert_eq!(holders(&env, "hieradata/common.eyaml"), each(2, &[BOB, PM]));
    // A directory without a recipients file inherits the list, plus the key.
    std::fs::create_dir_all(env.join("hieradata/prod")).unwrap();
    ok(&run(
        &env,
        &public(),
        &["keys", "add", ALICE, "--to", "hieradata/prod"],
    ));
    let inherited =
        std::fs::read_to_string(env.join("hieradata/prod/hiera-eyaml-gpg.recipients")).unwrap();
    assert!(
        inherited.starts_with("# Recipients of this directory (copied from "),
        "{inherited}"
    );
    assert!(
        inherited.contains(&format!("{BOB} # Bob Builder")),
        "{inherited}"
    );
    assert!(inherited.ends_with(&format!("{ALICE} # Alice Admin <alice@example.com>\n")));
}

#[test]
fn edits_refuse_bad_keys_and_files_and_change_nothing() {
    let env = Env::new();
    tree(&env);
    let rfile = env.join("hieradata/hiera-eyaml-gpg.recipients");
    let before = std::fs::read(&rfile).unwrap();
    let unchanged = || assert_eq!(std::fs::read(&rfile).unwrap(), before);

    let out = run(
        &env,
        &public(),
        &["keys", "add", "nobody@example.com", "--to", "hieradata"],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no certificate matches \"nobody@example.com\""),
        "{}",
        stderr(&out)
    );
    let out = run(
        &env,
        &public(),
        &["keys", "add", "@example.com", "--to", "hieradata"],
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("matches 2 certificates"),
        "{}",
        stderr(&out)
    );
    unchanged();

    // The last recipient of a file is not removed.
    env.write(
        "solo/hiera-eyaml-gpg.recipients",
        format!("# only one\n{BOB}\n"),
    );
    let solo = std::fs::read(env.join("solo/hiera-eyaml-gpg.recipients")).unwrap();
    let out = run(
        &env,
        &public(),
        &["keys", "rm", BOB, "--from", "solo", "--from", "hieradata"],
    );
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("would leave no recipient"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(env.join("solo/hiera-eyaml-gpg.recipients")).unwrap(),
        solo
    );
    unchanged();
    let out = run(&env, &public(), &["keys", "rm", PM, "--from", "hieradata"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("is not a recipient in hieradata/hiera-eyaml-gpg.recipients"),
        "{}",
        stderr(&out)
    );

    // A read-only file and a symbolic link are refused.
    set_mode(&rfile, 0o444);
    let out = run(&env, &public(), &["keys", "add", PM, "--to", "hieradata"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("cannot edit this recipients file: it is not writable"),
        "{}",
        stderr(&out)
    );
    set_mode(&rfile, 0o644);
    unchanged();
    std::fs::create_dir_all(env.join("linked")).unwrap();
    std::os::unix::fs::symlink(&rfile, env.join("linked/hiera-eyaml-gpg.recipients")).unwrap();
    let out = run(&env, &public(), &["keys", "add", PM, "--to", "linked"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("it is a symbolic link"),
        "{}",
        stderr(&out)
    );
    unchanged();
}

/// git in the test's directory, with a fixed identity and dates.
fn git(env: &Env, dir: &Path, args: &[&str], when: u32) -> Output {
    let date = format!("2026-11-{when:02}T12:00:00Z");
    let out = env
        .command("git")
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .args(args)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    out
}

fn commit(env: &Env, message: &str, when: u32) -> String {
    git(env, env.path(), &["add", "-A"], when);
    git(env, env.path(), &["commit", "-q", "-m", message], when);
    stdout(&git(env, env.path(), &["rev-parse", "HEAD"], when))
        .trim()
        .to_string()
}

/// A history: bob reads three values, is removed and the values re-encrypted, one value is
/// rotated, one removed, one added later; another tree still lists bob.
fn history(env: &Env) -> (String, String) {
    git(env, env.path(), &["init", "-q", "-b", "main"], 1);
    tree(env);
    let path = env.join("hieradata/common.eyaml");
    // A value whose payload is not OpenPGP, in YAML that does not parse.
    encrypted(env, "hieradata/old.eyaml", "app::gone: DEC::GPG[g1]!\n");
    env.write("hieradata/broken.eyaml", "a: [unclosed\nb: ENC[GPG,AAAA]\n");
    env.write("other/hiera-eyaml-gpg.recipients", format!("{BOB}\n"));
    encrypted(env, "other/bob.eyaml", "bob::token: DEC::GPG[b1]!\n");
    let first = commit(env, "bob joins", 2);
    ok(&run(
        env,
        &secret(),
        &["keys", "rm", BOB, "--from", "hieradata", "--recrypt"],
    ));
    let second = commit(env, "bob leaves", 3);
    // Rotate the db password, remove app::gone, add a value bob never had.
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("app::db_password: ").unwrap();
    let end = start + text[start..].find('\n').unwrap();
    let rotated = format!(
        "{}app::db_password: DEC::GPG[p2]!{}app::new: DEC::GPG[n1]!\n",
        &text[..start],
        &text[end..]
    );
    encrypted(env, "hieradata/common.eyaml", &rotated);
    std::fs::remove_file(env.join("hieradata/old.eyaml")).unwrap();
    commit(env, "rotate", 4);
    (first, second)
}

#[test]
fn exposure_walks_the_history() {
    if !require(&["git"]) {
        return;
    }
    let env = Env::new();
    let (first, second) = history(&env);
    let out = run(
        &env,
        &secret(),
        &["exposure", "--format", "json", "bob@example.com"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<(String, String, String)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_string(),
                e["file"].as_str().unwrap().to_string(),
                e["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        (
            "exposed",
            "hieradata/common.eyaml",
            "profile::web.session_secret",
        ),
        ("current", "other/bob.eyaml", "bob::token"),
        ("removed", "hieradata/old.eyaml", "app::gone"),
        ("rotated", "hieradata/common.eyaml", "app::db_password"),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    );
    let exposed = &json[0];
    assert_eq!(exposed["gained"][0]["commit"], first.as_str());
    assert_eq!(exposed["gained"][0]["date"], "2026-11-02");
    assert_eq!(exposed["lost"][0]["commit"], second.as_str());
    assert_eq!(exposed["line"], 5);
    // The broken file of the first commit is reported, not fatal.
    let err = stderr(&out);
    assert!(err.contains("hieradata/broken.eyaml at "), "{err}");
    assert!(err.contains("not valid YAML"), "{err}");
    // Without secret keys, plaintexts cannot be compared.
    let out = run(
        &env,
        &public(),
        &["exposure", "bob@example.com", "hieradata"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("unknown: no secret key at hand"), "{text}");
    assert!(
        text.contains("  hieradata/common.eyaml  app::db_password  gained "),
        "{text}"
    );
    assert!(!text.contains("other/bob.eyaml"), "{text}");
    // --since the removal: bob could read nothing after it, except the other tree.
    let out = run(
        &env,
        &secret(),
        &["exposure", "--since", &second, "--format", "json", BOB],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["status"], "current");
    // Alice never lost access: everything of hers is current.
    let out = run(
        &env,
        &public(),
        &[
            "exposure",
            "--format",
            "json",
            "alice@example.com",
            "hieradata",
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["key"] == "app::new" && e["status"] == "current"));
}

#[test]
fn exposure_errors_and_shallow_clones() {
    if !require(&["git"]) {
        return;
    }
    let env = Env::new();
    env.write("plain/x.eyaml", "a: b\n");
    let out = run(&env, &public(), &["exposure", BOB, "plain"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not in a git repository"),
        "{}",
        stderr(&out)
    );
    history(&env);
    let out = run(&env, &public(), &["exposure", "nobody@example.com"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no certificate matches"),
        "{}",
        stderr(&out)
    );
    let url = format!("file://{}", env.path().display());
    git(
        &env,
        env.path(),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
        5,
    );
    let out = env
        .cmd()
        .current_dir(env.join("shallow"))
        .args(public())
        .args(["exposure", BOB])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("shallow clone: the history before "),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("git fetch --unshallow"));
}

/// (rule, path, line) of every finding of `check --format json`.
fn findings(out: &Output) -> Vec<(String, String, u64)> {
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn has(list: &[(String, String, u64)], rule: &str, path: &str, line: u64) -> bool {
    list.iter()
        .any(|(r, p, l)| r == rule && p == path && *l == line)
}

#[test]
fn check_policy_require_deny_and_the_recipients_lock() {
    let env = Env::new();
    tree(&env);
    let (rf, common) = (
        "hieradata/hiera-eyaml-gpg.recipients",
        "hieradata/common.eyaml",
    );
    // Without a lock configured, ack says how to configure one.
    let out = run(&env, &public(), &["keys", "ack"]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("no recipients_lock set in .eyaml-gpg-check.yaml"),
        "{}",
        stderr(&out)
    );
    env.write(
        ".eyaml-gpg-check.yaml",
        format!(
            "require:\n  - path: 'hieradata/**'\n    keys: [{PM}]\ndeny: [{BOB}]\n\
             recipients_lock: .eyaml-gpg-recipients.lock\n"
        ),
    );
    let out = run(&env, &public(), &["check", "--format", "json", "hieradata"]);
    assert_eq!(code(&out), 1);
    let f = findings(&out);
    for line in [3, 5] {
        assert!(has(&f, "required-recipient", common, line), "{f:?}");
        assert!(has(&f, "denied-recipient", common, line), "{f:?}");
    }
    assert!(has(&f, "denied-recipient", rf, 4), "{f:?}");
    assert!(has(&f, "recipients-lock", rf, 1), "{f:?}");

    // ack records the file; the lock findings go.
    let out = run(&env, &public(), &["keys", "ack", "hieradata"]);
    ok(&out);
    assert_eq!(stdout(&out), format!("{rf}: + {BOB}\n{rf}: + {ALICE}\n"));
    let lock = std::fs::read_to_string(env.join(".eyaml-gpg-recipients.lock")).unwrap();
    assert!(
        lock.ends_with(&format!("{rf}:\n  - {BOB}\n  - {ALICE}\n")),
        "{lock}"
    );
    let f = findings(&run(
        &env,
        &public(),
        &["check", "--format", "json", "hieradata"],
    ));
    assert!(!f.iter().any(|(r, _, _)| r == "recipients-lock"), "{f:?}");

    // A key slipped in by hand shows up at its line; one taken out at line 1.
    let text = std::fs::read_to_string(env.join(rf)).unwrap();
    env.write(rf, text.replace("bob@example.com\n", &format!("{PM}\n")));
    let f = findings(&run(
        &env,
        &public(),
        &["check", "--format", "json", "hieradata"],
    ));
    assert!(has(&f, "recipients-lock", rf, 4), "{f:?}");
    assert!(has(&f, "recipients-lock", rf, 1), "{f:?}");
    assert!(!has(&f, "denied-recipient", rf, 4), "{f:?}");
    // After the values are re-encrypted and acknowledged, the tree is clean.
    ok(&run(&env, &secret(), &["recrypt", "hieradata"]));
    ok(&run(&env, &public(), &["keys", "ack", "hieradata"]));
    let out = run(&env, &public(), &["check", "--format", "json", "hieradata"]);
    assert_eq!(findings(&out), vec![], "{}", stdout(&out));
}
