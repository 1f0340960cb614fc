//! `eyaml-gpg check` and `eyaml-gpg textconv`: the planted tree, the reference tree, a
//! recipients change, real git repositories with a pre-commit hook, `--staged`, and
//! `git diff` through the textconv driver.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::*;

/// Every planted secret value contains this marker; no output may.
const PLANTED: &str = "plant3d";

fn assert_no_secret(o: &Output) {
    for (name, text) in [("stdout", stdout(o)), ("stderr", stderr(o))] {
        assert!(
            !text.to_lowercase().contains(PLANTED),
            "{name} shows a planted secret:\n{text}"
        );
    }
}

fn planted(env: &Env) -> PathBuf {
    env.copy_tree(&fixtures().join("check"), "tree")
}

/// Public keys only: the three reference keys and the hygiene keys.
fn public_key_args(tree: &Path) -> Vec<String> {
    let mut v = keyring(&PUBLIC_KEYS);
    v.push("--gpg-keyring".into());
    v.push(tree.join("keys").to_string_lossy().into_owned());
    v
}

fn check_in(env: &Env, dir: &Path, args: &[&str]) -> Output {
    let out = env
        .cmd()
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .expect("run");
    assert_no_secret(&out);
    out
}

fn planted_run(env: &Env, extra: &[&str]) -> Output {
    let tree = planted(env);
    let keys = public_key_args(&tree);
    let mut args: Vec<&str> = vec!["hieradata", "orphan"];
    args.extend(keys.iter().map(String::as_str));
    args.extend(extra);
    check_in(env, &tree, &args)
}

/// (path, line, column, severity, rule) of every finding the planted tree must produce.
const EXPECTED: &[(&str, usize, usize, &str, &str)] = &[
    ("hieradata/common/broken-yaml.eyaml", 3, 23, "error", "yaml"),
    (
        "hieradata/common/broken-yaml.eyaml",
        3,
        25,
        "error",
        "plaintext-secret",
    ),
    ("hieradata/common/broken.eyaml", 2, 18, "error", "bad-enc"),
    ("hieradata/common/broken.eyaml", 3, 19, "error", "bad-enc"),
    ("hieradata/common/broken.eyaml", 4, 21, "error", "bad-enc"),
    ("hieradata/common/broken.eyaml", 5, 22, "error", "bad-enc"),
    ("hieradata/common/broken.eyaml", 6, 19, "error", "bad-enc"),
    (
        "hieradata/common/broken.eyaml",
        8,
        3,
        "error",
        "puppet-wont-decrypt",
    ),
    ("hieradata/common/broken.eyaml", 11, 3, "error", "bad-enc"),
    (
        "hieradata/common/broken.eyaml",
        13,
        1,
        "error",
        "puppet-wont-decrypt",
    ),
    (
        "hieradata/common/leaks.eyaml",
        1,
        1,
        "error",
        "edit-preamble",
    ),
    ("hieradata/common/leaks.eyaml", 4, 19, "error", "dec-marker"),
    ("hieradata/common/leaks.eyaml", 5, 15, "error", "dec-marker"),
    ("hieradata/common/leaks.eyaml", 6, 9, "error", "dec-marker"),
    (
        "hieradata/common/leaks.eyaml",
        7,
        22,
        "error",
        "plaintext-secret",
    ),
    (
        "hieradata/common/leaks.eyaml",
        9,
        16,
        "error",
        "plaintext-secret",
    ),
    (
        "hieradata/common/leaks.eyaml",
        10,
        18,
        "error",
        "plaintext-secret",
    ),
    (
        "hieradata/common/leaks.eyaml",
        14,
        19,
        "error",
        "plaintext-secret",
    ),
    (
        "hieradata/common/leaks.eyaml",
        15,
        16,
        "error",
        "plaintext-secret",
    ),
    (
        "hieradata/hygiene/hiera-eyaml-gpg.recipients",
        2,
        1,
        "warning",
        "recipient-hygiene",
    ),
    (
        "hieradata/hygiene/hiera-eyaml-gpg.recipients",
        3,
        1,
        "warning",
        "recipient-hygiene",
    ),
    (
        "hieradata/hygiene/hiera-eyaml-gpg.recipients",
        4,
        1,
        "warning",
        "recipient-hygiene",
    ),
    (
        "hieradata/hygiene/hiera-eyaml-gpg.recipients",
        5,
        1,
        "warning",
        "recipient-hygiene",
    ),
    (
        "hieradata/stale/app.eyaml",
        3,
        13,
        "error",
        "stale-recipients",
    ),
    (
        "hieradata/stale/app.eyaml",
        4,
        19,
        "error",
        "stale-recipients",
    ),
    (
        "hieradata/unknown/hiera-eyaml-gpg.recipients",
        3,
        1,
        "error",
        "unknown-recipient",
    ),
    (
        "orphan/.orphan.eyaml.eyaml-gpg-4194305-1f-0.part",
        1,
        1,
        "warning",
        "leftover-temp-file",
    ),
    ("orphan/orphan.eyaml", 3, 13, "error", "no-recipients"),
];

fn parse_human(text: &str) -> Vec<(String, usize, usize, String, String)> {
    text.lines()
        .map(|l| {
            let mut parts = l.splitn(4, ':');
            let path = parts.next().unwrap().to_string();
            let line = parts.next().unwrap().parse().unwrap();
            let col = parts.next().unwrap().parse().unwrap();
            let rest = parts.next().unwrap().trim_start();
            let (sev, rest) = rest.split_once('[').unwrap();
            let rule = rest.split_once(']').unwrap().0;
            (path, line, col, sev.to_string(), rule.to_string())
        })
        .collect()
}

#[test]
fn planted_tree_human_exact() {
    let env = Env::new();
    let out = planted_run(&env, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let got = parse_human(&text);
    let want: Vec<_> = EXPECTED
        .iter()
        .map(|(p, l, c, s, r)| (p.to_string(), *l, *c, s.to_string(), r.to_string()))
        .collect();
    assert_eq!(got, want, "\n{text}");
    // Every rule fires at least once; `unwanted-scheme` is opt-in (`schemes` in the config) and
    // has its own test (migrate::check_flags_pkcs7_values_only_where_gpg_alone_is_wanted); the
    // policy rules need a configuration of their own (tests/integration/keys.rs); the `--hiera`
    // rules are in hiera_gate.rs.
    use eyaml_gpg::check::Rule;
    let opt_in = [
        Rule::UnwantedScheme,
        Rule::RequiredRecipient,
        Rule::DeniedRecipient,
        Rule::RecipientsLock,
        Rule::HieraLookup,
        Rule::ServerCannotDecrypt,
    ];
    for rule in Rule::ALL.into_iter().filter(|r| !opt_in.contains(r)) {
        assert!(got.iter().any(|g| g.4 == rule.id()), "{rule} never fired");
    }
    // The full text, messages included.
    let expected = std::fs::read_to_string(fixtures().join("check/expected.txt")).unwrap();
    assert_eq!(text, expected);
    assert!(
        stderr(&out).contains("checked 8 file(s): 23 error(s), 5 warning(s)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn planted_tree_json_exact() {
    let env = Env::new();
    let out = planted_run(&env, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let want: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("check/expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(got, want);
    assert_eq!(got["version"], 1);
    assert_eq!(got["files_checked"], 8);
    assert_eq!(got["summary"]["errors"], 23);
    assert_eq!(got["summary"]["warnings"], 5);
    let findings = got["findings"].as_array().unwrap();
    let tuples: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64().unwrap() as usize,
                f["column"].as_u64().unwrap() as usize,
                f["severity"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<_> = EXPECTED
        .iter()
        .map(|(p, l, c, s, r)| (p.to_string(), *l, *c, s.to_string(), r.to_string()))
        .collect();
    assert_eq!(tuples, want);
    // Keys are reported where known (for allowlists).
    assert!(findings
        .iter()
        .any(|f| f["key"] == "app::admin_password" && f["rule"] == "plaintext-secret"));
}

#[test]
fn planted_tree_github_annotations() {
    let env = Env::new();
    let out = planted_run(&env, &["--format", "github"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), EXPECTED.len());
    assert!(text
        .lines()
        .all(|l| l.starts_with("::error file=") || l.starts_with("::warning file=")));
    assert!(
        text.contains(
            "::error file=hieradata/common/leaks.eyaml,line=4,col=19,title=eyaml-gpg dec-marker::"
        ),
        "{text}"
    );
    assert!(text.contains("::warning file=hieradata/hygiene/hiera-eyaml-gpg.recipients,line=2,col=1,title=eyaml-gpg recipient-hygiene::"));
}

#[test]
fn fail_on_and_skip() {
    let env = Env::new();
    let out = planted_run(&env, &["--fail-on", "never"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(parse_human(&stdout(&out)).len(), EXPECTED.len());

    // Only the hygiene directory: warnings only.
    let env = Env::new();
    let tree = planted(&env);
    let keys = public_key_args(&tree);
    let mut args = vec!["hieradata/hygiene"];
    args.extend(keys.iter().map(String::as_str));
    let out = check_in(&env, &tree, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().count(), 4);
    let mut strict = args.clone();
    strict.extend(["--fail-on", "warning"]);
    assert_eq!(check_in(&env, &tree, &strict).status.code(), Some(1));
    let mut skipped = args.clone();
    skipped.extend(["--skip", "recipient-hygiene", "--fail-on", "warning"]);
    let out = check_in(&env, &tree, &skipped);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    // --expiry-warning beats the config file: Erin's 2099 expiry is no longer close.
    let mut short = args.clone();
    short.extend(["--expiry-warning", "30"]);
    let out = check_in(&env, &tree, &short);
    assert_eq!(stdout(&out).lines().count(), 3, "{}", stdout(&out));
    assert!(!stdout(&out).contains("2099"));
}

#[test]
fn glob_adds_patterns() {
    let env = Env::new();
    let tree = planted(&env);
    let keys = public_key_args(&tree);
    let mut args = vec!["hieradata/common"];
    args.extend(keys.iter().map(String::as_str));
    let out = check_in(&env, &tree, &args);
    assert!(!stdout(&out).contains("plain.yaml"));
    args.extend(["--glob", "*.yaml"]);
    let out = check_in(&env, &tree, &args);
    assert!(
        stdout(&out).contains("hieradata/common/plain.yaml:2:21: error[plaintext-secret]: a plain value under the secret-looking key `app::yaml_password`"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn allowlist_comes_from_the_config_file() {
    let env = Env::new();
    let tree = planted(&env);
    let keys = public_key_args(&tree);
    let mut args = vec!["hieradata/common/clean.eyaml"];
    args.extend(keys.iter().map(String::as_str));
    let out = check_in(&env, &tree, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "");
    // Without the configuration, the allowlisted key is reported; the inline
    // `# eyaml-gpg: allow` still silences its own line.
    std::fs::write(tree.join("empty.yaml"), "").unwrap();
    args.extend(["--config", "empty.yaml"]);
    let out = check_in(&env, &tree, &args);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        parse_human(&stdout(&out)),
        vec![(
            "hieradata/common/clean.eyaml".to_string(),
            43,
            20,
            "error".to_string(),
            "plaintext-secret".to_string()
        )],
        "{}",
        stdout(&out)
    );
    // A broken config is a usage error.
    std::fs::write(tree.join("bad.yaml"), "allow: [{rule: no-such-rule}]\n").unwrap();
    let out = check_in(
        &env,
        &tree,
        &["--config", "bad.yaml", "hieradata/common/clean.eyaml"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-rule"));
}

#[test]
fn reference_tree_is_clean_but_for_hygiene_warnings() {
    let env = Env::new();
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let keys = public_key_args(&fixtures().join("check"));
    let mut args = vec!["."];
    args.extend(keys.iter().map(String::as_str));
    let out = check_in(&env, &tree, &args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let got = parse_human(&stdout(&out));
    assert_eq!(got.len(), 7, "{}", stdout(&out));
    assert!(got.iter().all(|g| g.3 == "warning"
        && g.4 == "recipient-hygiene"
        && g.0.ends_with("hiera-eyaml-gpg.recipients")));
    // The fingerprint line of dc1 is not a finding.
    assert!(!got
        .iter()
        .any(|g| g.0 == "production/dc1/hiera-eyaml-gpg.recipients" && g.1 == 3));
}

#[test]
fn recipients_change_shows_exactly_the_stale_values() {
    let env = Env::new();
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let recipients = tree.join("development/hiera-eyaml-gpg.recipients");
    let mut text = std::fs::read_to_string(&recipients).unwrap();
    text.push_str("AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28\n");
    std::fs::write(&recipients, text).unwrap();
    let keys = public_key_args(&fixtures().join("check"));
    let mut args = vec![".", "--skip", "recipient-hygiene"];
    args.extend(keys.iter().map(String::as_str));
    let out = check_in(&env, &tree, &args);
    assert_eq!(out.status.code(), Some(1));
    // app2 is governed by development/ (app1 has its own file): each of its values, no other.
    let app2 = std::fs::read_to_string(tree.join("development/app2/app2.eyaml")).unwrap();
    // A block value starts at its `>`.
    let lines: Vec<&str> = app2.lines().collect();
    let want: Vec<_> = lines
        .iter()
        .enumerate()
        .filter_map(|(i, l)| l.find("ENC[").map(|c| (i, c)))
        .map(|(i, c)| match i.checked_sub(1).map(|p| lines[p]) {
            Some(prev) if prev.ends_with('>') => (i, prev.len()),
            _ => (i + 1, c + 1),
        })
        .map(|(l, c)| {
            (
                "development/app2/app2.eyaml".to_string(),
                l,
                c,
                "error".to_string(),
                "stale-recipients".to_string(),
            )
        })
        .collect();
    assert_eq!(want.len(), 4);
    assert_eq!(parse_human(&stdout(&out)), want, "{}", stdout(&out));
    assert!(stdout(&out)
        .contains("not encrypted to 357D502CA066B359 (Alice Admin <alice@example.com>)"));
}

#[test]
fn no_public_keys_is_an_environment_error_unless_skipped() {
    let env = Env::new();
    let tree = planted(&env);
    let out = check_in(&env, &tree, &["hieradata/stale"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no public keys loaded"),
        "{}",
        stderr(&out)
    );
    let out = check_in(
        &env,
        &tree,
        &[
            "hieradata/common/leaks.eyaml",
            "--skip",
            "stale-recipients",
            "--skip",
            "unknown-recipient",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("dec-marker"));
    // Naming hygiene needs no key.
    let out = check_in(
        &env,
        &tree,
        &[
            "hieradata/hygiene",
            "--skip",
            "stale-recipients",
            "--skip",
            "unknown-recipient",
        ],
    );
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    let tree = planted(&env);
    for args in [
        vec!["--skip", "no-such-rule", "orphan"],
        vec!["does-not-exist"],
        vec!["--config", "missing.yaml", "orphan"],
        vec!["--staged"],
    ] {
        let out = check_in(&env, &tree, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("eyaml-gpg: "), "{}", stderr(&out));
    }
}

/// Bug: `check` walked past a symbolic link to a file (only regular files were checked), so a
/// leak behind a link went unreported; `recrypt` followed such links.
#[test]
fn regression_check_skipped_symlinked_files() {
    let env = Env::new();
    let real = env.write("elsewhere/leak.eyaml", "a: DEC::GPG[plant3d-linked]!\n");
    let dir = env.join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("leak.eyaml")).unwrap();
    let out = env.run(&[
        "check",
        "--skip",
        "stale-recipients",
        "--skip",
        "unknown-recipient",
        "tree",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("leak.eyaml:1:4: error[dec-marker]"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("plant3d") && !stderr(&out).contains("plant3d"));
}

// ---- git ----

/// `git` in `repo`, in the isolated environment, with the binary first on `PATH` (hooks and
/// the textconv driver call it by name) and no system git config.
fn git_cmd(env: &Env, repo: &Path) -> Command {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = env.command("git");
    c.current_dir(repo)
        .env("PATH", path)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "T")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "T")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    c
}

fn git(env: &Env, repo: &Path, args: &[&str]) -> Output {
    git_cmd(env, repo)
        .env("EYAML_GPG_KEYRING", key_env())
        .args(args)
        .output()
        .expect("git")
}

/// Public keys for check; the test that decrypts sets its own.
fn key_env() -> String {
    std::env::join_paths([key("bob.pub.asc"), key("puppetmaster.pub.asc")])
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn git_ok(env: &Env, repo: &Path, args: &[&str]) -> Output {
    let o = git(env, repo, args);
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    o
}

const BOB: &str = "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1";

/// A repository with a recipients file (Bob) and one encrypted value.
fn repo(env: &Env) -> PathBuf {
    let repo = env.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git_ok(env, &repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("hiera-eyaml-gpg.recipients"), format!("{BOB}\n")).unwrap();
    std::fs::write(
        repo.join("common.eyaml"),
        encrypt_text(env, &repo, "---\napp::db_password: DEC::GPG[old-value]!\n"),
    )
    .unwrap();
    repo
}

/// `encrypt -e` of an edit-mode text, in `dir` (so its recipients file applies).
fn encrypt_text(env: &Env, dir: &Path, text: &str) -> String {
    let f = dir.join(".tmp-dec.eyaml");
    std::fs::write(&f, text).unwrap();
    let out = env
        .cmd()
        .current_dir(dir)
        .args(["encrypt", "-e", ".tmp-dec.eyaml", "--gpg-keyring"])
        .arg(key("bob.pub.asc"))
        .output()
        .unwrap();
    std::fs::remove_file(&f).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn pre_commit_hook_blocks_a_dec_marker_and_lets_a_clean_commit_through() {
    let env = Env::new();
    let repo = repo(&env);
    let hook = repo.join(".git/hooks/pre-commit");
    std::fs::write(&hook, "#!/bin/sh\nexec eyaml-gpg check --staged\n").unwrap();
    set_mode(&hook, 0o755);
    git_ok(&env, &repo, &["add", "."]);
    let clean = git(&env, &repo, &["commit", "-q", "-m", "clean"]);
    assert!(
        clean.status.success(),
        "clean commit refused: {}{}",
        stdout(&clean),
        stderr(&clean)
    );

    std::fs::write(
        repo.join("leak.eyaml"),
        "---\napp::api_key: DEC::GPG[plant3d-hook]!\n",
    )
    .unwrap();
    git_ok(&env, &repo, &["add", "leak.eyaml"]);
    let blocked = git(&env, &repo, &["commit", "-q", "-m", "leak"]);
    assert!(!blocked.status.success());
    assert_no_secret(&blocked);
    let said = format!("{}{}", stdout(&blocked), stderr(&blocked));
    assert!(
        said.contains("leak.eyaml:2:15: error[dec-marker]"),
        "{said}"
    );
    let log = git_ok(&env, &repo, &["log", "--oneline"]);
    assert_eq!(stdout(&log).lines().count(), 1);
}

#[test]
fn staged_checks_the_index_not_the_work_tree() {
    let env = Env::new();
    let repo = repo(&env);
    git_ok(&env, &repo, &["add", "."]);
    let check = |args: &[&str]| {
        let out = env
            .cmd()
            .current_dir(&repo)
            .env("EYAML_GPG_KEYRING", key_env())
            .arg("check")
            .args(args)
            .output()
            .unwrap();
        assert_no_secret(&out);
        out
    };
    // Clean in the index, a DEC marker in the work tree only.
    std::fs::write(
        repo.join("common.eyaml"),
        "---\napp::db_password: DEC::GPG[plant3d-worktree]!\n",
    )
    .unwrap();
    let staged = check(&["--staged"]);
    assert_eq!(
        staged.status.code(),
        Some(0),
        "{}{}",
        stdout(&staged),
        stderr(&staged)
    );
    let work = check(&[]);
    assert_eq!(work.status.code(), Some(1));
    assert!(
        stdout(&work).contains("common.eyaml:2:19: error[dec-marker]"),
        "{}",
        stdout(&work)
    );

    // Now the marker is staged and the work tree is fixed.
    git_ok(&env, &repo, &["add", "common.eyaml"]);
    std::fs::write(
        repo.join("common.eyaml"),
        encrypt_text(&env, &repo, "---\napp::db_password: DEC::GPG[fixed]!\n"),
    )
    .unwrap();
    let staged = check(&["--staged"]);
    assert_eq!(staged.status.code(), Some(1));
    assert!(
        stdout(&staged).contains("common.eyaml:2:19: error[dec-marker]"),
        "{}",
        stdout(&staged)
    );
    assert_eq!(check(&[]).status.code(), Some(0));

    // The recipients file comes from the index too: staging a new recipient makes the
    // committed value stale, whatever the work tree says.
    git_ok(&env, &repo, &["add", "common.eyaml"]);
    std::fs::write(
        repo.join("hiera-eyaml-gpg.recipients"),
        format!("{BOB}\n211945E86F4141A36AC356155D15F4FAFD07824A\n"),
    )
    .unwrap();
    assert_eq!(check(&["--staged"]).status.code(), Some(0));
    git_ok(&env, &repo, &["add", "hiera-eyaml-gpg.recipients"]);
    std::fs::write(repo.join("hiera-eyaml-gpg.recipients"), format!("{BOB}\n")).unwrap();
    let staged = check(&["--staged"]);
    assert_eq!(staged.status.code(), Some(1));
    assert!(
        stdout(&staged).contains("common.eyaml:2:19: error[stale-recipients]"),
        "{}",
        stdout(&staged)
    );
    // Paths name what is staged; a path outside selects nothing.
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    let out = env
        .cmd()
        .current_dir(repo.join("sub"))
        .env("EYAML_GPG_KEYRING", key_env())
        .args(["check", "--staged", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = env
        .cmd()
        .current_dir(repo.join("sub"))
        .env("EYAML_GPG_KEYRING", key_env())
        .args(["check", "--staged", ".."])
        .output()
        .unwrap();
    assert!(
        stdout(&out).contains("../common.eyaml:2:19: error[stale-recipients]"),
        "{}",
        stdout(&out)
    );
    // An absolute path names the same index entry.
    let top = stdout(&git_ok(&env, &repo, &["rev-parse", "--show-toplevel"]))
        .trim()
        .to_string();
    let out = env
        .cmd()
        .current_dir(&repo)
        .env("EYAML_GPG_KEYRING", key_env())
        .args(["check", "--staged"])
        .arg(Path::new(&top).join("common.eyaml"))
        .output()
        .unwrap();
    assert_eq!(parse_human(&stdout(&out)).len(), 1, "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("common.eyaml:2:19: error[stale-recipients]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn git_diff_through_textconv_shows_the_changed_plaintext() {
    let env = Env::new();
    let repo = repo(&env);
    std::fs::write(repo.join(".gitattributes"), "*.eyaml diff=eyaml\n").unwrap();
    git_ok(
        &env,
        &repo,
        &["config", "diff.eyaml.textconv", "eyaml-gpg textconv"],
    );
    git_ok(&env, &repo, &["add", "."]);
    git_ok(&env, &repo, &["commit", "-q", "-m", "one"]);
    std::fs::write(
        repo.join("common.eyaml"),
        encrypt_text(&env, &repo, "---\napp::db_password: DEC::GPG[new-value]!\n"),
    )
    .unwrap();

    // With Bob's secret key: the plaintexts.
    let out = git_cmd(&env, &repo)
        .env("EYAML_GPG_KEYRING", key("bob.sec.asc"))
        .args(["diff", "--no-color"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(
        diff.contains("-app::db_password: DEC::GPG[old-value]!"),
        "{diff}"
    );
    assert!(
        diff.contains("+app::db_password: DEC::GPG[new-value]!"),
        "{diff}"
    );

    // Without any secret key: the ciphertexts, and the diff still works.
    let out = git(&env, &repo, &["diff", "--no-color"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.contains("-app::db_password: ENC[GPG,"), "{diff}");
    assert!(diff.contains("+app::db_password: ENC[GPG,"), "{diff}");
}

#[test]
fn textconv_never_fails_on_keys_only_on_unreadable_files() {
    let env = Env::new();
    let file = reference().join("hieradata/development/app2/app2.eyaml");
    let original = std::fs::read_to_string(&file).unwrap();
    // No key at all, even a configured GnuPG home that does not exist.
    let out = env
        .cmd()
        .args(["textconv"])
        .arg(&file)
        .args(["--gpg-gnupghome", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), original);
    // Bob decrypts every value: the `decrypt -e` form exactly.
    let out = env
        .cmd()
        .args(["textconv"])
        .arg(&file)
        .arg("--gpg-keyring")
        .arg(key("bob.sec.asc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let golden = golden_text("development/app2/app2.eyaml", "decrypted");
    assert_eq!(stdout(&out).trim_end(), golden.trim_end());
    // Values Bob cannot read (production is Alice and the puppet master) stay encrypted.
    let app1 =
        std::fs::read_to_string(reference().join("hieradata/development/app1/app1.eyaml")).unwrap();
    let role =
        std::fs::read_to_string(reference().join("hieradata/production/role.eyaml")).unwrap();
    let admin = role
        .lines()
        .find(|l| l.starts_with("role::webserver::admin_password"))
        .unwrap();
    let mixed = env.write("mixed.eyaml", format!("{app1}{admin}\n"));
    let out = env
        .cmd()
        .args(["textconv"])
        .arg(&mixed)
        .arg("--gpg-keyring")
        .arg(key("bob.sec.asc"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("app1::db_password: DEC::GPG[dev-db-pass]!"),
        "{text}"
    );
    assert!(text.ends_with(&format!("{admin}\n")), "{text}");
    // An unreadable file is the one failure.
    let out = env
        .cmd()
        .args(["textconv", "missing.eyaml"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("missing.eyaml"));
}

#[test]
fn pre_commit_hooks_file_runs_check() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".pre-commit-hooks.yaml"),
    )
    .unwrap();
    eyaml_gpg::value::validate_yaml(&text).unwrap();
    assert!(text.contains("id: eyaml-gpg-check"));
    assert!(text.contains("entry: eyaml-gpg check"));
}
