//! `eyaml-gpg lookup --hiera`: a Hiera 5 environment (`fixtures/hiera/env`) with facts for three
//! nodes, compared key by key with what Puppet 7.23 answered (`fixtures/hiera/expected`,
//! recorded by `fixtures/hiera/record.rb` from the plaintext sources), plus a live run of
//! Puppet as a library and the bad inputs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

fn hiera_fixtures() -> PathBuf {
    fixtures().join("hiera")
}

fn keyring() -> Vec<String> {
    vec![
        "--gpg-keyring".into(),
        key("bob.sec.asc").display().to_string(),
    ]
}

/// The fixture environment in a temp dir with every `DEC::GPG[…]!` encrypted to bob.
fn encrypted_env(env: &Env) -> PathBuf {
    let root = env.copy_tree(&hiera_fixtures().join("env"), "env");
    let mut eyaml = Vec::new();
    collect(&root, &mut eyaml);
    for file in eyaml {
        let out = env
            .cmd()
            .args(["encrypt", "-e"])
            .arg(&file)
            .args(["--gpg-recipients", "bob@example.com", "--gpg-always-trust"])
            .args(keyring())
            .output()
            .unwrap();
        ok(&out);
        assert!(!stdout(&out).contains("DEC::"), "{}", stdout(&out));
        std::fs::write(&file, &out.stdout).unwrap();
    }
    root.join("production")
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "eyaml") {
            out.push(p);
        }
    }
}

fn facts(node: &str) -> PathBuf {
    let dir = hiera_fixtures().join("facts");
    for ext in ["yaml", "json"] {
        let p = dir.join(format!("{node}.{ext}"));
        if p.exists() {
            return p;
        }
    }
    panic!("no facts for {node}")
}

fn lookup(env: &Env, envdir: &Path, node: &str, key: &str, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .arg("lookup")
        .arg(key)
        .arg("--hiera")
        .arg(envdir.join("hiera.yaml"))
        .arg("--facts")
        .arg(facts(node))
        .args(["--format", "json"])
        .args(extra)
        .args(keyring())
        .output()
        .unwrap()
}

/// `(key, answer)`: the JSON Puppet printed, or `!` and its error.
fn expected(node: &str) -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(hiera_fixtures().join(format!("expected/{node}.txt"))).unwrap();
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

const NODES: [&str; 3] = ["web1", "db1", "app1"];

#[test]
fn every_node_and_key_equals_puppet() {
    let env = Env::new();
    let envdir = encrypted_env(&env);
    let mut failures = Vec::new();
    let mut compared = 0;
    for node in NODES {
        let cases = expected(node);
        assert!(cases.len() >= 40, "{node}: {} keys", cases.len());
        for (key, want) in cases {
            let out = lookup(&env, &envdir, node, &key, &[]);
            compared += 1;
            let got = if out.status.success() {
                stdout(&out).trim_end_matches('\n').to_string()
            } else {
                format!("!{}", stderr(&out).trim())
            };
            let same = match want.strip_prefix('!') {
                Some(msg) => !out.status.success() && got.contains(msg),
                None => got == want,
            };
            if !same {
                failures.push(format!("{node} {key}\n  puppet: {want}\n  ours:   {got}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn live_puppet_as_a_library_agrees() {
    if Command::new("puppet").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "puppet is required in CI"
        );
        eprintln!("puppet not installed: skipped");
        return;
    }
    let env = Env::new();
    let out_dir = env.join("recorded");
    let rec = Command::new("ruby")
        .arg(hiera_fixtures().join("record.rb"))
        .arg(&out_dir)
        .env("HOME", env.path())
        .output()
        .unwrap();
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    for node in NODES {
        let live = std::fs::read_to_string(out_dir.join(format!("{node}.txt"))).unwrap();
        let recorded =
            std::fs::read_to_string(hiera_fixtures().join(format!("expected/{node}.txt"))).unwrap();
        assert_eq!(live, recorded, "{node}: Puppet now answers differently");
    }
    // The plain YAML levels live: Puppet's answers for keys with no GPG value in them.
    let envdir = encrypted_env(&env);
    for node in NODES {
        let live = std::fs::read_to_string(out_dir.join(format!("{node}.txt"))).unwrap();
        for line in live
            .lines()
            .filter(|l| !l.starts_with("secret::") && !l.contains('!'))
        {
            let (key, want) = line.split_once('\t').unwrap();
            if key.starts_with("profile::secrets::") {
                continue;
            }
            let out = lookup(&env, &envdir, node, key, &[]);
            assert_eq!(stdout(&out).trim_end(), want, "{node} {key}");
        }
    }
}

#[test]
fn merge_on_the_command_line_wins_and_explain_shows_the_search() {
    let env = Env::new();
    let envdir = encrypted_env(&env);
    // lookup_options says unique; --merge first takes the first level's array.
    let out = lookup(
        &env,
        &envdir,
        "web1",
        "profile::base::packages",
        &["--merge", "first"],
    );
    assert_eq!(stdout(ok(&out)).trim(), r#"["nginx"]"#);
    let out = lookup(
        &env,
        &envdir,
        "web1",
        "profile::ntp::servers",
        &["--merge", "deep", "--sort-merged-arrays"],
    );
    assert_eq!(
        stdout(ok(&out)).trim(),
        r#"["0.web1.ntp","a.ntp.org","b.debian.pool.ntp.org","c.ntp.org"]"#
    );
    let out = lookup(&env, &envdir, "web1", "secret::node", &["--explain"]);
    let text = stdout(ok(&out));
    assert!(
        text.contains("Hierarchy entry \"Per-node secrets\""),
        "{text}"
    );
    assert!(text.contains("secrets/web1.example.com.eyaml"), "{text}");
    assert!(
        text.contains("Original path: \"secrets/%{trusted.certname}.eyaml\""),
        "{text}"
    );
    assert!(text.contains("decrypted value not shown"), "{text}");
    assert!(text.contains("Result: \"web1 node secret\""), "{text}");
    // No plaintext in the explanation of a value that is not printed.
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("Result:")).collect();
    assert!(!lines.join("\n").contains("web1 node secret"), "{text}");
}

/// A one-level environment with this data and hiera.yaml.
fn small_env(env: &Env, hiera: &str, data: &str) -> PathBuf {
    env.write("e/hiera.yaml", hiera);
    env.write("e/data/common.yaml", data);
    env.write("facts.yaml", "role: web\nos: {family: Debian}\n");
    env.join("e/hiera.yaml")
}

fn run_small(env: &Env, hiera: &Path, key: &str) -> std::process::Output {
    env.cmd()
        .args(["lookup", key, "--hiera"])
        .arg(hiera)
        .arg("--facts")
        .arg(env.join("facts.yaml"))
        .args(["--format", "json"])
        .args(keyring())
        .output()
        .unwrap()
}

const ONE_LEVEL: &str =
    "version: 5\ndefaults:\n  data_hash: yaml_data\nhierarchy:\n  - name: common\n    path: common.yaml\n";

#[test]
fn bad_input_is_a_clear_error_naming_file_and_line() {
    let env = Env::new();
    let cases: [(&str, &str, &str); 5] = [
        ("version: 4\nhierarchy: []\n", "hiera.yaml:1:10: hiera.yaml version 4 is not supported: only version 5", "k"),
        ("---\n:backends: [yaml]\n", "hiera.yaml:2:1: hiera.yaml has no 'version'", "k"),
        ("version: 5\nhierarchy:\n  - name: c\n    path: c.yaml\n    data_hash: yaml_data\n    datdir: x\n", "hiera.yaml:6:13: unrecognized key 'datdir'", "k"),
        ("version: 5\ndefaults:\n  data_hash: yaml_data\nhierarchy:\n  - name: nopath\n", "hiera.yaml:5:5: hierarchy level 'nopath' declares none of path", "k"),
        ("version: 5\nhierarchy:\n  - name: vault\n    lookup_key: hiera_vault\n    path: x\n", "hierarchy level 'vault': backend 'lookup_key: hiera_vault' is not supported", "k"),
    ];
    for (hiera, want, key) in cases {
        let h = small_env(&env, hiera, "k: v\n");
        let out = run_small(&env, &h, key);
        assert_eq!(out.status.code(), Some(1), "{hiera}");
        let err = stderr(&out);
        assert!(err.contains(want), "want {want}\ngot {err}");
    }
    let h = small_env(
        &env,
        ONE_LEVEL,
        "a: \"%{alias('b')}\"\nb: \"%{alias('a')}\"\nc: \"x %{alias('d')}\"\nd: v\nu: \"[%{facts.nope}]\"\n",
    );
    let out = run_small(&env, &h, "a");
    assert!(
        stderr(&out).contains("Recursive lookup detected in [a, b]"),
        "{}",
        stderr(&out)
    );
    let out = run_small(&env, &h, "c");
    assert!(
        stderr(&out).contains("'alias' interpolation is only permitted if the expression is equal to the entire string"),
        "{}",
        stderr(&out)
    );
    // An unknown fact interpolates as an empty string, as in Puppet.
    assert_eq!(stdout(ok(&run_small(&env, &h, "u"))).trim(), r#""[]""#);
    // Malformed facts.
    env.write("facts.yaml", "os: {family: [Debian\n");
    let out = env
        .cmd()
        .args(["lookup", "d", "--hiera"])
        .arg(&h)
        .arg("--facts")
        .arg(env.join("facts.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("facts.yaml:1:14: invalid YAML"),
        "{}",
        stderr(&out)
    );
    env.write("facts.json", "{\"os\": [1,}\n");
    let out = env
        .cmd()
        .args(["lookup", "d", "--hiera"])
        .arg(&h)
        .arg("--facts")
        .arg(env.join("facts.json"))
        .output()
        .unwrap();
    assert!(stderr(&out).contains("facts.json:1:"), "{}", stderr(&out));
}
