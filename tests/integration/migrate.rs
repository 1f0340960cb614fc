//! Scheme migration with `recrypt -d gpg` / `-d pkcs7` through the real binary: a tree written
//! by the real Ruby eyaml 3.3 moved to GPG and back (Ruby reads the result), the dry run (human
//! and JSON), error paths that leave every file as it was, `check`'s `unwanted-scheme` rule, and
//! `edit` of a mixed PKCS7 + GPG file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::harness::{keyring, ok, reference, stderr, stdout, Env};
use crate::pkcs7::{have, ruby_ok};

/// Every `ENC[…]` token of a text replaced by `ENC`: what a migration must leave byte-identical.
fn skeleton(text: &str) -> String {
    let re = regex::Regex::new(r"ENC\[[^\]]*\]").unwrap();
    re.replace_all(text, "ENC").into_owned()
}

/// Every file below `root`, by path, with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.insert(e.path().to_path_buf(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

const TEMPLATE: &str = "---
# Secrets of the web tier (comments, order and quoting survive a migration)
web::name: web01
web::password: DEC::PKCS7[s3cret]!
web::quoted: \"DEC::PKCS7[in quotes]!\"
web::unicode: DEC::PKCS7[Grüße ✓ 日本]!
web::multiline: DEC::PKCS7[line one
line two
]!
web::list:
  - DEC::PKCS7[first]!
  - plain
";

/// A tree written by Ruby eyaml: `hieradata/common.eyaml` (PKCS7 values, a block value, a
/// GPG value encrypted to bob next to them), `hieradata/legacy.eyaml` (a scheme-less `ENC[…]`,
/// PKCS7 as eyaml's default), a recipients file naming bob, and Ruby's keys in `./keys`.
fn ruby_tree(env: &Env) -> PathBuf {
    ruby_ok(env, &["createkeys"]);
    let src = env.write("src/common.eyaml", TEMPLATE);
    let mut common = ruby_ok(env, &["encrypt", "-e", src.to_str().unwrap()]);
    let block = ruby_ok(env, &["encrypt", "-o", "block", "-s", "a block value"]);
    common.push_str(&format!("web::block: >\n{block}"));
    let gpg = env.run_keys(
        &["bob.pub.asc"],
        &[
            "encrypt",
            "-o",
            "string",
            "--gpg-recipients",
            "bob@example.com",
            "--gpg-always-trust",
            "-s",
            "already gpg",
        ],
    );
    common.push_str(&format!("web::gpg: {}", stdout(ok(&gpg))));
    env.write("hieradata/common.eyaml", &common);
    let legacy = ruby_ok(env, &["encrypt", "-o", "string", "-s", "legacy value"]);
    let legacy = legacy.trim().replace("ENC[PKCS7,", "ENC[");
    env.write(
        "hieradata/legacy.eyaml",
        format!("# written before eyaml tagged its values\nlegacy::key: {legacy}\n"),
    );
    env.write("hieradata/hiera-eyaml-gpg.recipients", "bob@example.com\n");
    env.join("hieradata")
}

/// `decrypt -e` of a file with bob's key and the PKCS7 keys of the working directory.
fn decrypted(env: &Env, file: &Path) -> String {
    stdout(ok(&env.run_keys(
        &["bob.sec.asc"],
        &["-n", "pkcs7", "decrypt", "-e", file.to_str().unwrap()],
    )))
}

#[test]
fn a_ruby_eyaml_tree_migrates_to_gpg_and_back() {
    if !have("eyaml") {
        return;
    }
    let env = Env::new();
    let root = ruby_tree(&env);
    let common = root.join("common.eyaml");
    let legacy = root.join("legacy.eyaml");
    let before = snapshot(&root);
    let plain_common = decrypted(&env, &common);
    let plain_legacy = decrypted(&env, &legacy);
    assert!(
        plain_common.contains("web::password: DEC::PKCS7[s3cret]!"),
        "{plain_common}"
    );
    let gpg_value = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("web::gpg: "))
            .unwrap()
            .to_string()
    };

    // The dry run needs no private key: not the PKCS7 one, not bob's.
    let dry = env.run_keys(
        &["bob.pub.asc"],
        &[
            "-n",
            "pkcs7",
            "--pkcs7-private-key",
            "nope.pem",
            "recrypt",
            "--dry-run",
            "hieradata",
        ],
    );
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    let text = stdout(&dry);
    assert!(
        text.contains("hieradata/common.eyaml: 6 of 7 values to re-encrypt"),
        "{text}"
    );
    assert!(text.contains("  PKCS7 -> GPG\n"), "{text}");
    assert!(text.contains("      line 4: web::password\n"), "{text}");
    assert!(text.contains("      line 2: legacy::key\n"), "{text}");
    assert!(!text.contains("web::gpg"), "a current GPG value: {text}");
    let dry = env.run_keys(
        &["bob.pub.asc"],
        &[
            "-n",
            "pkcs7",
            "--pkcs7-private-key",
            "nope.pem",
            "recrypt",
            "--dry-run",
            "--format",
            "json",
            "hieradata",
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(report["change_encryption"], "gpg");
    assert_eq!(report["summary"]["migrate"], 7);
    assert_eq!(report["summary"]["current"], 1);
    let values = report["files"][0]["values"].as_array().unwrap();
    assert_eq!(values[0]["state"], "migrate");
    assert_eq!(values[0]["from"], "PKCS7");
    assert_eq!(snapshot(&root), before, "a dry run writes nothing");

    // Without the PKCS7 private key nothing is written, and the error says which key.
    let o = env.run_keys(
        &["bob.sec.asc"],
        &[
            "-n",
            "pkcs7",
            "--pkcs7-private-key",
            "nope.pem",
            "recrypt",
            "hieradata",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("cannot read the PKCS7 private key nope.pem"),
        "{err}"
    );
    assert!(err.contains("nothing written"), "{err}");
    assert_eq!(snapshot(&root), before);

    // The migration: every PKCS7 value to bob, the current GPG value keeps its bytes.
    let o = ok(&env.run_keys(
        &["bob.sec.asc"],
        &["-n", "pkcs7", "recrypt", "-d", "gpg", "hieradata"],
    ))
    .clone();
    assert!(
        stderr(&o).contains("re-encrypted 7 values in 2 files, 7 of them migrated to GPG"),
        "{}",
        stderr(&o)
    );
    for (file, plain) in [(&common, &plain_common), (&legacy, &plain_legacy)] {
        let after = std::fs::read_to_string(file).unwrap();
        let was = String::from_utf8(before[file].clone()).unwrap();
        assert_eq!(skeleton(&after), skeleton(&was), "only ENC tokens change");
        assert!(!after.contains("ENC[PKCS7,"), "{after}");
        for payload in crate::harness::enc_payloads(&after) {
            assert_eq!(
                crate::harness::recipient_ids(&payload),
                crate::harness::ids(&[crate::harness::BOB_SUB])
            );
        }
        // Read with bob's key alone: the PKCS7 key is not needed any more.
        let now = stdout(ok(&env.run_keys(
            &["bob.sec.asc"],
            &[
                "--pkcs7-private-key",
                "nope.pem",
                "decrypt",
                "-e",
                file.to_str().unwrap(),
            ],
        )));
        assert_eq!(now, plain.replace("DEC::PKCS7[", "DEC::GPG["));
    }
    let after = std::fs::read_to_string(&common).unwrap();
    let was = String::from_utf8(before[&common].clone()).unwrap();
    assert_eq!(gpg_value(&after), gpg_value(&was));
    let block = after.split("web::block: >\n").nth(1).unwrap();
    assert!(block.trim_start().starts_with("ENC[GPG,"), "{after}");
    // Nothing left to migrate: a second run changes nothing.
    let migrated = snapshot(&root);
    ok(&env.run_keys(&["bob.sec.asc"], &["recrypt", "hieradata"]));
    assert_eq!(snapshot(&root), migrated);

    // And back to PKCS7: Ruby eyaml reads every value.
    let o = ok(&env.run_keys(&["bob.sec.asc"], &["recrypt", "-d", "pkcs7", "hieradata"])).clone();
    assert!(
        stderr(&o).contains("re-encrypted 8 values in 2 files, 8 of them migrated to PKCS7"),
        "{}",
        stderr(&o)
    );
    let back = std::fs::read_to_string(&common).unwrap();
    assert!(!back.contains("ENC[GPG,"), "{back}");
    assert_eq!(skeleton(&back), skeleton(&was));
    let ruby_view = ruby_ok(&env, &["decrypt", "-e", common.to_str().unwrap()]);
    for needle in [
        "web::password: DEC::PKCS7[s3cret]!",
        "web::unicode: DEC::PKCS7[Grüße ✓ 日本]!",
        "web::gpg: DEC::PKCS7[already gpg]!",
        "DEC::PKCS7[a block value]!",
        "DEC::PKCS7[line one\nline two\n]!",
    ] {
        assert!(ruby_view.contains(needle), "{needle}: {ruby_view}");
    }
    let ruby_legacy = ruby_ok(&env, &["decrypt", "-e", legacy.to_str().unwrap()]);
    assert!(
        ruby_legacy.contains("legacy::key: DEC::PKCS7[legacy value]!"),
        "{ruby_legacy}"
    );
}

#[test]
fn migration_errors_leave_every_file_as_it_was() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let p7 =
        stdout(ok(&env.run(&[
            "encrypt", "-n", "pkcs7", "-o", "string", "-s", "seven",
        ])));
    let root = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let mixed = root.join("development/app1/app1.eyaml");
    let mut text = std::fs::read_to_string(&mixed).unwrap();
    text.push_str(&format!("p7::secret: {}", p7.trim_start()));
    std::fs::write(&mixed, &text).unwrap();
    let keys = ["alice.sec.asc", "bob.sec.asc", "puppetmaster.sec.asc"];
    let before = snapshot(&root);

    let o = env.run_keys(&keys, &["recrypt", "-d", "rsa", "hieradata"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("recrypt -d rsa: unknown encryption method (gpg or pkcs7)"),
        "{}",
        stderr(&o)
    );

    // The wrong PKCS7 private key: the value that fails is named, nothing is written.
    let other = Env::new();
    ok(&other.run(&[
        "createkeys",
        "-n",
        "pkcs7",
        "--pkcs7-keysize",
        "1024",
        "--pkcs7-subject",
        "/CN=other",
    ]));
    let other_key = other.join("keys/private_key.pkcs7.pem");
    let o = env.run_keys(
        &keys,
        &[
            "--pkcs7-private-key",
            other_key.to_str().unwrap(),
            "recrypt",
            "hieradata",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let line = text.lines().count();
    assert!(
        err.contains(&format!("app1.eyaml: line {line}: "))
            && err.contains("wrong PKCS7 private key"),
        "{err}"
    );
    assert_eq!(snapshot(&root), before);

    // To PKCS7 without a certificate: every GPG value fails, nothing is written.
    let o = env.run_keys(
        &keys,
        &[
            "--pkcs7-public-key",
            "none.pem",
            "recrypt",
            "-d",
            "pkcs7",
            "hieradata",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read the PKCS7 public key none.pem"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&root), before);

    // A PKCS7 value encrypted to another certificate is stale when moving to PKCS7.
    let foreign = stdout(ok(
        &other.run(&["encrypt", "-n", "pkcs7", "-o", "string", "-s", "x"])
    ));
    let f = env.write("solo/one.eyaml", format!("a: {}", foreign.trim_start()));
    env.write("solo/hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let o = env.run_keys(&keys, &["recrypt", "-d", "pkcs7", "--dry-run", "solo"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("- issuer CN=other, serial "), "{out}");
    assert!(out.contains("+ issuer CN=eyaml, serial "), "{out}");
    assert!(out.contains("      line 1: a\n"), "{out}");
    // The value encrypted to our own certificate is current.
    std::fs::write(&f, format!("a: {}", p7.trim_start())).unwrap();
    ok(&env.run_keys(&keys, &["recrypt", "-d", "pkcs7", "--dry-run", "solo"]));

    // A PKCS7 value that is not DER is left as it is, with a warning; the rest migrates.
    std::fs::write(&f, "a: ENC[PKCS7,aGVsbG8=]\nb: ENC[PKCS7,aGVsbG8=]\n").unwrap();
    let o = ok(&env.run_keys(&keys, &["recrypt", "solo"])).clone();
    assert!(
        stderr(&o).contains("one.eyaml:1:4: left as is: not a valid PKCS7 value"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a: ENC[PKCS7,aGVsbG8=]\nb: ENC[PKCS7,aGVsbG8=]\n"
    );
}

#[test]
fn check_flags_pkcs7_values_only_where_gpg_alone_is_wanted() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let p7 =
        stdout(ok(&env.run(&[
            "encrypt", "-n", "pkcs7", "-o", "string", "-s", "seven",
        ])));
    let root = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let file = root.join("development/app1/app1.eyaml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&format!("p7::secret: {}", p7.trim_start()));
    std::fs::write(&file, &text).unwrap();
    let line = text.lines().count();
    let run = |extra: &[&str]| {
        env.cmd()
            .args(keyring(&crate::harness::PUBLIC_KEYS))
            .args(["check", "--format", "json"])
            .args(extra)
            .arg("hieradata/development/app1/app1.eyaml")
            .output()
            .unwrap()
    };
    // By default both schemes are fine, and a sound PKCS7 value is no bad-enc.
    let o = run(&[]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        !rules.contains(&"bad-enc") && !rules.contains(&"unwanted-scheme"),
        "{report}"
    );
    env.write(".eyaml-gpg-check.yaml", "schemes: [gpg]\n");
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let found: Vec<&serde_json::Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "unwanted-scheme")
        .collect();
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0]["line"], line);
    assert_eq!(found[0]["key"], "p7::secret");
    assert_eq!(found[0]["severity"], "error");
    let human = env
        .cmd()
        .args(keyring(&crate::harness::PUBLIC_KEYS))
        .args(["check", "hieradata/development/app1/app1.eyaml"])
        .output()
        .unwrap();
    assert!(
        stdout(&human).contains(&format!(
            "hieradata/development/app1/app1.eyaml:{line}:13: error[unwanted-scheme]: a PKCS7 value where only GPG is wanted"
        )),
        "{}",
        stdout(&human)
    );
    env.write(".eyaml-gpg-check.yaml", "schemes: [rsa]\n");
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown scheme \"rsa\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn edit_a_mixed_file_keeps_unchanged_values_and_writes_new_pkcs7_ones() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let p7 = |s: &str| {
        stdout(ok(
            &env.run(&["encrypt", "-n", "pkcs7", "-o", "string", "-s", s])
        ))
        .trim()
        .to_string()
    };
    let (alpha, bravo) = (p7("alpha"), p7("bravo"));
    let gpg = stdout(ok(&env.run_keys(
        &["bob.pub.asc"],
        &[
            "encrypt",
            "-o",
            "string",
            "--gpg-recipients",
            "bob@example.com",
            "--gpg-always-trust",
            "-s",
            "charlie",
        ],
    )))
    .trim()
    .to_string();
    let original = format!("---\n# mixed\na: {alpha}\nb: {bravo}\nc: {gpg}\n");
    let file = env.write("t.eyaml", &original);
    env.write("hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let o = env
        .session_cmd()
        .env("EDITOR", env.editor())
        .env(
            "EYAML_SED",
            "s/::PKCS7\\[bravo\\]!/::PKCS7[BRAVO]!/; $a d: DEC::PKCS7[delta]!",
        )
        .args(keyring(&["bob.sec.asc"]))
        .args(["--gpg-always-trust", "edit", "t.eyaml"])
        .output()
        .unwrap();
    ok(&o);
    let after = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines[..3], ["---", "# mixed", &format!("a: {alpha}")]);
    assert!(lines[3].starts_with("b: ENC[PKCS7,") && lines[3] != format!("b: {bravo}"));
    assert_eq!(lines[4], format!("c: {gpg}"));
    assert!(lines[5].starts_with("d: ENC[PKCS7,"), "{after}");
    let dec = stdout(ok(
        &env.run_keys(&["bob.sec.asc"], &["decrypt", "-e", file.to_str().unwrap()])
    ));
    assert_eq!(
        dec,
        "---\n# mixed\na: DEC::PKCS7[alpha]!\nb: DEC::PKCS7[BRAVO]!\nc: DEC::GPG[charlie]!\nd: DEC::PKCS7[delta]!\n"
    );
    // Without the PKCS7 private key the PKCS7 values stay opaque; the file is unchanged.
    let before = std::fs::read(&file).unwrap();
    let o = env
        .session_cmd()
        .env("EDITOR", env.editor())
        .env("EYAML_SED", "s/charlie/CHARLIE/")
        .args(keyring(&["bob.sec.asc"]))
        .args([
            "--pkcs7-private-key",
            "nope.pem",
            "--gpg-always-trust",
            "edit",
            "t.eyaml",
        ])
        .output()
        .unwrap();
    ok(&o);
    let after = std::fs::read_to_string(&file).unwrap();
    let old = String::from_utf8(before).unwrap();
    for (new_line, old_line) in after.lines().zip(old.lines()) {
        if !old_line.starts_with("c: ") {
            assert_eq!(new_line, old_line);
        }
    }
}

#[test]
fn lookup_hiera_reads_pkcs7_values_with_each_levels_own_keys() {
    let env = Env::new();
    // Two key pairs, neither in ./keys: one named relative to the working directory (as
    // Puppet's eyaml opens it), one absolute.
    let value = |dir: &str, plain: &str| {
        for args in [
            vec!["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"],
            vec!["encrypt", "-n", "pkcs7", "-o", "string", "-s", plain],
        ] {
            let o = env
                .cmd()
                .args([
                    "--pkcs7-private-key",
                    &format!("{dir}/private.pem"),
                    "--pkcs7-public-key",
                    &format!("{dir}/public.pem"),
                ])
                .args(&args)
                .output()
                .unwrap();
            if args[0] == "encrypt" {
                return stdout(ok(&o)).trim().to_string();
            }
            ok(&o);
        }
        unreachable!()
    };
    let node_value = value("pk-node", "from the node level");
    let abs = env.join("pk-common");
    let common_value = value(abs.to_str().unwrap(), "from the common level");
    env.write(
        "e/hiera.yaml",
        format!(
            "version: 5\nhierarchy:\n  - name: node\n    lookup_key: eyaml_lookup_key\n    path: node.eyaml\n    options:\n      pkcs7_private_key: pk-node/private.pem\n      pkcs7_public_key: pk-node/public.pem\n  - name: common\n    lookup_key: eyaml_lookup_key\n    path: common.eyaml\n    options:\n      pkcs7_private_key: {}/private.pem\n      pkcs7_public_key: {}/public.pem\n",
            abs.display(),
            abs.display()
        ),
    );
    env.write(
        "e/data/node.eyaml",
        format!("a: {node_value}\nboth: {node_value}\n"),
    );
    env.write(
        "e/data/common.eyaml",
        format!("b: {common_value}\nboth: {common_value}\n"),
    );
    env.write("facts.yaml", "role: web\n");
    let lookup = |key: &str, extra: &[&str]| {
        env.cmd()
            .args([
                "lookup",
                key,
                "--hiera",
                "e/hiera.yaml",
                "--facts",
                "facts.yaml",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    assert_eq!(stdout(ok(&lookup("a", &[]))), "--- from the node level\n");
    assert_eq!(stdout(ok(&lookup("b", &[]))), "--- from the common level\n");
    let merged = lookup("both", &["--merge", "unique"]);
    assert_eq!(
        stdout(ok(&merged)),
        "---\n- from the node level\n- from the common level\n"
    );
    // A level's key that is missing is an error naming the key file, not another level's key.
    std::fs::remove_file(env.join("pk-node/private.pem")).unwrap();
    let o = lookup("a", &[]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("cannot read the PKCS7 private key pk-node/private.pem"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(ok(&lookup("b", &[]))), "--- from the common level\n");
    // A level without key options uses the run's keys (here --pkcs7-private-key).
    env.write(
        "e/hiera.yaml",
        "version: 5\nhierarchy:\n  - name: common\n    lookup_key: eyaml_lookup_key\n    path: common.eyaml\n",
    );
    let own = format!("{}/private.pem", abs.display());
    assert_eq!(
        stdout(ok(&lookup("b", &["--pkcs7-private-key", &own]))),
        "--- from the common level\n"
    );
    assert_ne!(lookup("b", &[]).status.code(), Some(0));
}
