//! `check --hiera --facts-dir` (the CI gate: every node's keys resolve and every value it
//! receives is encrypted to its server's key) and the levels' key options (`gpg_gnupghome`)
//! in `lookup --hiera`, driving the real binary and real gpg.

use std::path::{Path, PathBuf};

use crate::harness::*;
use serde_json::Value;

const ALICE_FPR: &str = "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28";

/// A value encrypted by the binary to the reference keys `to`.
fn enc(env: &Env, to: &[&str], plaintext: &str) -> String {
    let mut c = env.cmd();
    for k in to {
        c.arg("--gpg-keyring").arg(key(&format!("{k}.pub.asc")));
    }
    let recipients: Vec<String> = to.iter().map(|k| format!("{k}@example.com")).collect();
    let out = c
        .args([
            "encrypt",
            "-o",
            "string",
            "--gpg-recipients",
            &recipients.join(","),
        ])
        .args(["-s", plaintext])
        .output()
        .unwrap();
    stdout(ok(&out)).trim().to_string()
}

/// An environment: node and role levels plus common, every level reading with the keys of
/// `home` (a GnuPG home); two nodes (web, db) and an unused role.
fn environment(env: &Env, home: &Path) -> PathBuf {
    let bob = |s| enc(env, &["bob"], s);
    let hiera = format!(
        "version: 5\n\
         defaults:\n  datadir: data\n  lookup_key: eyaml_lookup_key\n  options:\n    gpg_gnupghome: {home}\n\
         hierarchy:\n\
         \x20 - name: nodes\n    path: \"nodes/%{{trusted.certname}}.yaml\"\n\
         \x20 - name: roles\n    path: \"roles/%{{facts.role}}.yaml\"\n\
         \x20 - name: common\n    path: common.yaml\n",
        home = home.display()
    );
    env.write("env/hiera.yaml", hiera);
    env.write(
        "env/data/nodes/web1.example.com.yaml",
        format!("web::node_secret: {}\n", bob("node-secret")),
    );
    env.write(
        "env/data/roles/web.yaml",
        format!(
            "# the web role\nweb::plain: hello\nweb::token: {}\n",
            enc(env, &["alice"], "alice-only")
        ),
    );
    env.write(
        "env/data/roles/db.yaml",
        format!(
            "db::password: {}\ndb::a: \"%{{alias('db::b')}}\"\ndb::b: \"%{{alias('db::a')}}\"\n",
            enc(env, &["bob", "alice"], "db-pass")
        ),
    );
    env.write(
        "env/data/roles/unused.yaml",
        format!("unused::secret: {}\n", enc(env, &["alice"], "nobody")),
    );
    env.write(
        "env/data/common.yaml",
        format!("common::password: {}\n", bob("common-pass")),
    );
    env.write(
        "facts/web1.yaml",
        "clientcert: web1.example.com\nhostname: web1\ndomain: example.com\nfqdn: web1.example.com\nrole: web\n",
    );
    env.write(
        "facts/db1.json",
        r#"{"clientcert": "db1.example.com", "hostname": "db1", "domain": "example.com", "fqdn": "db1.example.com", "role": "db"}"#,
    );
    env.join("env/hiera.yaml")
}

fn gate(env: &Env, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["check", "--hiera", "env/hiera.yaml", "--facts-dir", "facts"];
    args.extend(extra);
    env.run(&args)
}

#[test]
fn the_gate_finds_values_a_nodes_server_cannot_decrypt_and_lookups_that_fail() {
    let env = Env::new();
    // The server's GnuPG home as CI holds it: public keys only.
    let home = env.gnupg_home("server-gnupg", &["bob.pub.asc"], false);
    environment(&env, &home);
    let out = gate(&env, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    let web = text
        .lines()
        .find(|l| l.contains("server-cannot-decrypt"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(web.starts_with("env/data/roles/web.yaml:3:13:"), "{web}");
    assert!(web.contains("node web1.example.com"), "{web}");
    assert!(web.contains(ALICE_SUB), "the recipient it has: {web}");
    assert!(web.contains("gpg_gnupghome="), "the key it lacks: {web}");
    assert_eq!(
        text.matches("server-cannot-decrypt").count(),
        1,
        "bob's values pass, the unused role is not reached: {text}"
    );
    let cycle = text
        .lines()
        .find(|l| l.contains("hiera-lookup"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(cycle.contains("node db1.example.com"), "{cycle}");
    assert!(cycle.starts_with("env/data/roles/db.yaml:2:8:"), "{cycle}");
    assert!(
        cycle.contains("db::a") || cycle.contains("db::b"),
        "{cycle}"
    );
    assert!(!text.contains("alice-only") && !text.contains("db-pass"));

    // JSON report, --fail-on, allowlisting through the check config.
    let out = gate(&env, &["--format", "json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"server-cannot-decrypt") && rules.contains(&"hiera-lookup"));
    assert!(report["findings"][0]["key"].is_string(), "{report}");
    assert_eq!(gate(&env, &["--fail-on", "never"]).status.code(), Some(0));
    let out = gate(
        &env,
        &["--skip", "hiera-lookup", "--skip", "server-cannot-decrypt"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Naming the server key narrows the check: with Alice as the server, Bob-only values fail.
    let alice = key("alice.pub.asc");
    let out = gate(
        &env,
        &[
            "--gpg-keyring",
            alice.to_str().unwrap(),
            "--server-key",
            ALICE_FPR,
            "--skip",
            "hiera-lookup",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("common.yaml:1:"), "{text}");
    assert!(text.contains("web1.example.com.yaml:1:"), "{text}");
    assert!(!text.contains("roles/web.yaml"), "{text}");
    assert!(!text.contains("roles/db.yaml"), "bob+alice passes: {text}");

    // The same server key from the check config (`server_keys`) instead of the flag.
    env.write(
        ".eyaml-gpg-check.yaml",
        format!("server_keys: [\"{ALICE_FPR}\"]\nskip: [hiera-lookup]\n"),
    );
    let out = gate(&env, &["--gpg-keyring", alice.to_str().unwrap()]);
    let from_config = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{from_config}");
    assert_eq!(from_config, text);
    env.write(
        ".eyaml-gpg-check.yaml",
        "server_keys: [not-a-fingerprint]\n",
    );
    let out = gate(&env, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("server_keys"), "{}", stderr(&out));
    std::fs::remove_file(env.join(".eyaml-gpg-check.yaml")).unwrap();

    // A malformed facts file is a finding naming it; the other nodes are still checked.
    env.write("facts/broken.json", "{\"clientcert\": ");
    let out = gate(&env, &[]);
    let text = stdout(&out);
    assert!(text.contains("facts/broken.json:"), "{text}");
    assert!(text.contains("server-cannot-decrypt"), "{text}");

    // Usage errors: no facts, no hiera.yaml, --hiera without --facts-dir.
    std::fs::create_dir_all(env.join("empty")).unwrap();
    let out = env.run(&["check", "--hiera", "env/hiera.yaml", "--facts-dir", "empty"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env.run(&["check", "--hiera", "nope.yaml", "--facts-dir", "facts"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope.yaml"), "{}", stderr(&out));
    let out = env.run(&["check", "--hiera", "env/hiera.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn a_levels_gnupg_home_decrypts_its_values_in_lookup() {
    let env = Env::new();
    let server = env.gnupg_home("server-gnupg", &["bob.sec.asc"], false);
    let config = environment(&env, &server);
    let lookup = |key: &str, extra: &[&str]| {
        let mut args = vec![
            "lookup",
            key,
            "--hiera",
            config.to_str().unwrap(),
            "--facts",
            "facts/web1.yaml",
            "--format",
            "json",
        ];
        args.extend(extra);
        env.run(&args)
    };
    // No key on the command line: the level's gpg_gnupghome decrypts.
    assert_eq!(
        stdout(ok(&lookup("web::node_secret", &[]))),
        "\"node-secret\"\n"
    );
    assert_eq!(
        stdout(ok(&lookup("common::password", &[]))),
        "\"common-pass\"\n"
    );
    // A value the level's key cannot read: Puppet's error, naming the key.
    let out = lookup("web::token", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("web::token"), "{}", stderr(&out));
    assert!(stderr(&out).contains("No secret key"), "{}", stderr(&out));
    // A level whose GnuPG home holds another key fails where the run's keys would not.
    let other = env.gnupg_home("other-gnupg", &["alice.sec.asc"], false);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(server.to_str().unwrap(), other.to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    assert_eq!(stdout(ok(&lookup("web::token", &[]))), "\"alice-only\"\n");
    let out = lookup("common::password", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // The command line's --gpg-gnupghome beats the level's, as it beats every configuration.
    assert_eq!(
        stdout(ok(&lookup(
            "common::password",
            &["--gpg-gnupghome", server.to_str().unwrap()]
        ))),
        "\"common-pass\"\n"
    );
}
