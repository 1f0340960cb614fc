//! `eyaml-gpg recrypt` on copies of the reference tree: only stale values change, the rest of
//! every file stays byte-identical, dry runs need no secret key, failures write nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

fn tree(env: &Env) -> PathBuf {
    env.copy_tree(&reference().join("hieradata"), "hieradata")
}

/// Every file below `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Files whose bytes differ between two snapshots.
fn changed(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> BTreeSet<String> {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same files"
    );
    a.iter()
        .filter(|(k, v)| b[*k] != **v)
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect()
}

/// The text with every ENC payload (block line breaks and indentation included) replaced by
/// `X`: what must stay identical when values are re-encrypted.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("ENC[GPG,") {
        out.push_str(&rest[..i + 8]);
        let after = &rest[i + 8..];
        let end = after.find(']').unwrap();
        out.push('X');
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// `(file name, line)` of the values a JSON report marks for re-encryption.
fn selected(report: &serde_json::Value) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    for f in report["files"].as_array().unwrap() {
        let name = Path::new(f["path"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for v in f["values"].as_array().unwrap() {
            if v["recrypt"].as_bool().unwrap() {
                out.insert((name.clone(), v["line"].as_u64().unwrap()));
            }
        }
    }
    out
}

/// The 1-based lines where `ENC[` values (or their `>` block headers) start.
fn value_lines(text: &str) -> Vec<u64> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("ENC[") && i > 0 && lines[i - 1].trim_end().ends_with('>') {
            out.push(i as u64);
        } else if l.contains("ENC[") && !l.trim_start().starts_with("ENC[") {
            out.push(i as u64 + 1);
        }
    }
    out
}

#[test]
fn adding_a_recipient_changes_only_the_values_under_it() {
    let env = Env::new();
    let root = tree(&env);
    let app1 = root.join("development/app1/app1.eyaml");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&app1, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let rfile = root.join("development/app1/hiera-eyaml-gpg.recipients");
    let mut r = read(&rfile);
    r.push_str("alice@example.com\n");
    std::fs::write(&rfile, r).unwrap();
    let before = snapshot(&root);
    let old = read(&app1);

    let keys = ["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];
    let o = ok(&env.run_keys(&keys, &["recrypt", "-v", "hieradata"])).clone();
    let err = stderr(&o);
    assert!(
        err.contains("re-encrypted 4 values in 1 file (18 values current)"),
        "{err}"
    );
    assert!(
        err.contains("app1.eyaml: recipients from hieradata/development/app1/hiera-eyaml-gpg.recipients: 4 values, 4 stale, 0 current"),
        "-v names the file, its recipients file and the counts: {err}"
    );

    let after = snapshot(&root);
    assert_eq!(
        changed(&before, &after),
        ids(&["development/app1/app1.eyaml"])
    );
    let new = read(&app1);
    assert_eq!(masked(&old), masked(&new), "only ENC payloads changed");
    let (old_p, new_p) = (enc_payloads(&old), enc_payloads(&new));
    assert_eq!(old_p.len(), 4);
    for (a, b) in old_p.iter().zip(&new_p) {
        assert_ne!(a, b);
        assert_eq!(recipient_ids(a), ids(&[BOB_SUB]));
        assert_eq!(recipient_ids(b), ids(&[BOB_SUB, ALICE_SUB]));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&app1).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "mode preserved");
    }

    // The new key reads them, with the same plaintexts.
    let golden = read(&reference().join("golden/development/app1/app1.eyaml.decrypted"));
    let d = ok(&env.run_keys(
        &["alice.sec.asc"],
        &["decrypt", "-e", "hieradata/development/app1/app1.eyaml"],
    ))
    .clone();
    assert_eq!(stdout(&d).trim_end(), golden.trim_end());

    // Nothing is stale any more: a second run changes nothing.
    let o = ok(&env.run_keys(&keys, &["recrypt", "hieradata"])).clone();
    assert!(
        stderr(&o).contains("re-encrypted 0 values in 0 files (22 values current)"),
        "{}",
        stderr(&o)
    );
    assert!(changed(&after, &snapshot(&root)).is_empty());
}

#[test]
fn removing_a_recipient_leaves_it_unable_to_decrypt() {
    let env = Env::new();
    let root = tree(&env);
    let role = root.join("production/role.eyaml");
    let ok_before = env.run_keys(
        &["puppetmaster.sec.asc"],
        &["decrypt", "-e", "hieradata/production/role.eyaml"],
    );
    ok(&ok_before);
    std::fs::write(
        root.join("production/hiera-eyaml-gpg.recipients"),
        "alice@example.com\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let old = read(&role);

    let keys = ["alice.sec.asc", "bob.pub.asc", "puppetmaster.pub.asc"];
    ok(&env.run_keys(&keys, &["recrypt", "hieradata/production"]));
    // dc1 has its own recipients file (with the puppet master): untouched.
    assert_eq!(
        changed(&before, &snapshot(&root)),
        ids(&["production/role.eyaml"])
    );
    let new = read(&role);
    assert_eq!(masked(&old), masked(&new));
    for p in enc_payloads(&new) {
        assert_eq!(recipient_ids(&p), ids(&[ALICE_SUB]));
    }

    let o = env.run_keys(
        &["puppetmaster.sec.asc"],
        &["decrypt", "-e", "hieradata/production/role.eyaml"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No secret key"), "{}", stderr(&o));
    let o = ok(&env.run_keys(
        &["alice.sec.asc"],
        &["decrypt", "-e", "hieradata/production/role.eyaml"],
    ))
    .clone();
    assert_eq!(
        stdout(&o).trim_end(),
        read(&reference().join("golden/production/role.eyaml.decrypted")).trim_end()
    );

    // Fresh session keys: the old session key (which the puppet master could recover from an
    // old copy) opens none of the new values.
    let home = env.gnupg_home("alice-home", &["alice.sec.asc"], true);
    for (a, b) in enc_payloads(&old).iter().zip(enc_payloads(&new)) {
        let old_file = env.write("old.gpg", b64decode(a));
        let new_file = env.write("new.gpg", b64decode(&b));
        let o = gpg(&home)
            .args(["--show-session-key", "--decrypt"])
            .arg(&old_file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let err = stderr(&o);
        let sk = err
            .lines()
            .find_map(|l| l.split("session key: '").nth(1))
            .and_then(|s| s.split('\'').next())
            .unwrap_or_else(|| panic!("no session key in {err}"))
            .to_string();
        let o = gpg(&home)
            .arg("--override-session-key")
            .arg(&sk)
            .arg("--decrypt")
            .arg(&new_file)
            .output()
            .unwrap();
        assert!(
            !o.status.success(),
            "the old session key must not decrypt the new value"
        );
    }
}

#[test]
fn dry_run_lists_exactly_the_stale_values_without_any_secret_key() {
    let env = Env::new();
    let root = tree(&env);

    // Nothing stale: exit 0.
    let o = env.run_keys(&PUBLIC_KEYS, &["recrypt", "--dry-run", "hieradata"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");

    // Development: the puppet master leaves, Alice joins.
    std::fs::write(
        root.join("development/hiera-eyaml-gpg.recipients"),
        "bob@example.com\nalice@example.com\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let o = env.run_keys(
        &PUBLIC_KEYS,
        &["recrypt", "--dry-run", "--format", "json", "hieradata"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        changed(&before, &snapshot(&root)),
        BTreeSet::new(),
        "a dry run writes nothing"
    );
    let report = json(&o);
    let app2_text = read(&root.join("development/app2/app2.eyaml"));
    let expected: BTreeSet<(String, u64)> = value_lines(&app2_text)
        .into_iter()
        .map(|l| ("app2.eyaml".to_string(), l))
        .collect();
    assert_eq!(expected.len(), 4);
    assert_eq!(selected(&report), expected);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["summary"]["stale"], 4);
    assert_eq!(report["summary"]["current"], 18);
    assert_eq!(report["summary"]["recrypted"], 0);
    let app2 = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("app2.eyaml"))
        .unwrap();
    assert_eq!(
        app2["recipients"],
        serde_json::json!(["bob@example.com", "alice@example.com"])
    );
    for v in app2["values"].as_array().unwrap() {
        assert_eq!(v["state"], "stale");
        assert_eq!(v["added"][0]["key_id"], ALICE_SUB);
        assert_eq!(
            v["added"][0]["fingerprint"],
            "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28"
        );
        assert_eq!(v["added"][0]["user_id"], "Alice Admin <alice@example.com>");
        assert_eq!(v["removed"][0]["key_id"], PM_SUB);
        assert_eq!(v["removed"][0]["user_id"], "puppetmaster");
        assert_eq!(v["added"].as_array().unwrap().len(), 1);
        assert_eq!(v["removed"].as_array().unwrap().len(), 1);
    }
    assert!(app2["values"][0]["label"]
        .as_str()
        .unwrap()
        .starts_with("app2::"));

    let o = env.run_keys(&PUBLIC_KEYS, &["recrypt", "--dry-run", "hieradata"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("app2.eyaml: 4 of 4 values to re-encrypt"),
        "{out}"
    );
    assert!(
        out.contains("+ 357D502CA066B359 AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28 Alice Admin <alice@example.com>"),
        "{out}"
    );
    assert!(
        out.contains("- 24ECE6A9E03148AF 211945E86F4141A36AC356155D15F4FAFD07824A puppetmaster"),
        "{out}"
    );
    assert!(
        !out.contains("app1.eyaml") && !out.contains("role.eyaml"),
        "{out}"
    );
    assert!(
        stderr(&o).contains("would re-encrypt 4 values in 1 file (18 values current)"),
        "{}",
        stderr(&o)
    );

    // A removed key that is not on any keyring is still reported, by key id.
    let o = env.run_keys(
        &["alice.pub.asc", "bob.pub.asc"],
        &["recrypt", "--dry-run", "hieradata/development/app2"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("- 24ECE6A9E03148AF (unknown key)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn nested_recipients_file_overrides_its_parent() {
    let env = Env::new();
    let root = tree(&env);
    let dry = |env: &Env| {
        selected(&json(&env.run_keys(
            &PUBLIC_KEYS,
            &[
                "recrypt",
                "--dry-run",
                "--format",
                "json",
                "hieradata/development",
            ],
        )))
    };
    // The parent now wants the puppet master only: app2 follows it, app1 keeps its own file.
    std::fs::write(
        root.join("development/hiera-eyaml-gpg.recipients"),
        "puppetmaster\n",
    )
    .unwrap();
    let files: BTreeSet<String> = dry(&env).into_iter().map(|(f, _)| f).collect();
    assert_eq!(files, ids(&["app2.eyaml"]));
    // Without its own file, app1 falls back to the parent's and becomes stale too.
    std::fs::remove_file(root.join("development/app1/hiera-eyaml-gpg.recipients")).unwrap();
    let files: BTreeSet<String> = dry(&env).into_iter().map(|(f, _)| f).collect();
    assert_eq!(files, ids(&["app1.eyaml", "app2.eyaml"]));
    // --gpg-recipients overrides every file's own list.
    let o = env.run_keys(
        &PUBLIC_KEYS,
        &[
            "recrypt",
            "--dry-run",
            "--gpg-recipients",
            "bob@example.com",
            "hieradata/development/app1",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "app1 is encrypted to bob only: {}",
        stdout(&o)
    );
}

#[test]
fn a_file_ruby_wrote_and_we_recrypt_still_decrypts_with_gpg() {
    let env = Env::new();
    let root = tree(&env);
    let base = root.join("production/dc1/base.eyaml");
    let old = read(&base);
    let keys = ["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];
    let o = ok(&env.run_keys(
        &keys,
        &[
            "recrypt",
            "--all",
            "-d",
            "gpg",
            "hieradata/production/dc1/base.eyaml",
        ],
    ))
    .clone();
    assert!(
        stderr(&o).contains("re-encrypted 11 values in 1 file"),
        "{}",
        stderr(&o)
    );
    let new = read(&base);
    assert_eq!(masked(&old), masked(&new));
    let golden: serde_json::Value = serde_json::from_str(&read(
        &reference().join("golden/production/dc1/base.eyaml.values.json"),
    ))
    .unwrap();
    let payloads = enc_payloads(&new);
    assert_eq!(payloads.len(), golden.as_array().unwrap().len());
    let home = env.gnupg_home("bob-home", &["bob.sec.asc"], true);
    for (p, g) in payloads.iter().zip(golden.as_array().unwrap()) {
        assert!(
            !old.contains(p.as_str()),
            "every value re-encrypted with --all"
        );
        assert_eq!(recipient_ids(p), ids(&[ALICE_SUB, BOB_SUB, PM_SUB]));
        let f = env.write("v.gpg", b64decode(p));
        let o = gpg(&home).arg("--decrypt").arg(&f).output().unwrap();
        assert!(o.status.success(), "gpg: {}", stderr(&o));
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            g["plaintext"].as_str().unwrap()
        );
    }
}

#[test]
fn a_value_nobody_here_can_decrypt_stops_every_write_unless_keep_going() {
    let env = Env::new();
    let root = tree(&env);
    // app1 gains the puppet master (Bob can redo it); production gains Bob, but role.eyaml is
    // encrypted to Alice and the puppet master only, whose secret keys are not here.
    std::fs::write(
        root.join("development/app1/hiera-eyaml-gpg.recipients"),
        "bob@example.com\npuppetmaster\n",
    )
    .unwrap();
    std::fs::write(
        root.join("production/hiera-eyaml-gpg.recipients"),
        "alice@example.com\npuppetmaster\nbob@example.com\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let keys = ["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];

    let o = env.run_keys(&keys, &["recrypt", "hieradata"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("role.eyaml:"), "{err}");
    assert!(
        err.contains("357D502CA066B359 (Alice Admin <alice@example.com>)")
            && err.contains("24ECE6A9E03148AF (puppetmaster)"),
        "names the keys that could decrypt: {err}"
    );
    assert!(err.contains("nothing written"), "{err}");
    assert_eq!(
        changed(&before, &snapshot(&root)),
        BTreeSet::new(),
        "every file as it was"
    );

    let o = env.run_keys(
        &keys,
        &["recrypt", "--keep-going", "--format", "json", "hieradata"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        changed(&before, &snapshot(&root)),
        ids(&["development/app1/app1.eyaml"])
    );
    let report = json(&o);
    assert_eq!(report["summary"]["recrypted"], 4);
    assert_eq!(report["summary"]["failed"], 3);
    for f in report["files"].as_array().unwrap() {
        let written = f["written"].as_bool().unwrap();
        assert_eq!(
            written,
            f["path"].as_str().unwrap().ends_with("app1.eyaml"),
            "{f}"
        );
    }
    ok(&env.run_keys(
        &["puppetmaster.sec.asc"],
        &["decrypt", "-e", "hieradata/development/app1/app1.eyaml"],
    ));
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let env = Env::new();
    let root = tree(&env);
    std::fs::write(
        root.join("development/app1/hiera-eyaml-gpg.recipients"),
        "puppetmaster\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let keys = ["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];
    let o = env.run_keys(&keys, &["recrypt", "-d", "rsa", "hieradata"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("recrypt -d rsa: unknown encryption method"),
        "{}",
        stderr(&o)
    );
    let o = env.run_keys(&keys, &["recrypt", "hieradata", "no-such-dir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-dir"), "{}", stderr(&o));
    let o = env.run_keys(&keys, &["recrypt"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(changed(&before, &snapshot(&root)), BTreeSet::new());
    // `-d GPG` is the default spelled out.
    ok(&env.run_keys(
        &keys,
        &["recrypt", "--change-encryption", "GPG", "hieradata"],
    ));
    assert_eq!(
        changed(&before, &snapshot(&root)),
        ids(&["development/app1/app1.eyaml"])
    );
}

#[test]
fn a_recipient_without_a_key_fails_the_file_naming_the_recipients_file() {
    let env = Env::new();
    let root = tree(&env);
    std::fs::write(
        root.join("production/hiera-eyaml-gpg.recipients"),
        "carol@example.com\n",
    )
    .unwrap();
    let before = snapshot(&root);
    let o = env.run_keys(&PUBLIC_KEYS, &["recrypt", "--dry-run", "hieradata"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("role.eyaml: ") && err.contains("production/hiera-eyaml-gpg.recipients: No key found on keyring for carol@example.com"),
        "{err}"
    );
    let o = env.run_keys(
        &["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"],
        &["recrypt", "--all", "hieradata"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(changed(&before, &snapshot(&root)), BTreeSet::new());
}

#[test]
fn directories_walk_by_extension_skipping_hidden_ones() {
    let env = Env::new();
    let src = std::fs::read(reference().join("hieradata/development/app1/app1.eyaml")).unwrap();
    env.write("t/hiera-eyaml-gpg.recipients", "puppetmaster\n");
    env.write("t/a.eyaml", &src);
    env.write("t/sub/b.eyaml", &src);
    env.write("t/sub/c.yaml", &src);
    env.write("t/.git/d.eyaml", &src);
    env.write("t/.hidden/e.eyaml", &src);
    let files = |extra: &[&str]| -> BTreeSet<String> {
        let mut args = vec!["recrypt", "--dry-run", "--format", "json", "t"];
        args.extend_from_slice(extra);
        selected(&json(&env.run_keys(&PUBLIC_KEYS, &args)))
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    };
    assert_eq!(files(&[]), ids(&["a.eyaml", "b.eyaml"]));
    assert_eq!(files(&["--extension", "yaml"]), ids(&["c.yaml"]));
    assert_eq!(files(&["--extension", ".yaml"]), ids(&["c.yaml"]));
    let o = env.run_keys(
        &PUBLIC_KEYS,
        &["recrypt", "--dry-run", "--extension", "nope", "t"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        stderr(&o).contains("t: no *.nope file below it"),
        "{}",
        stderr(&o)
    );
    // A file named explicitly is taken whatever its name; a hidden root is walked.
    assert_eq!(
        files(&["t/.git/d.eyaml", "t/.hidden"]),
        ids(&["a.eyaml", "b.eyaml", "d.eyaml", "e.eyaml"])
    );
}

#[test]
fn hidden_recipients_and_unreadable_values_are_reported_and_left_alone() {
    let env = Env::new();
    let home = env.gnupg_home("enc-home", &["bob.pub.asc"], false);
    let o = gpg(&home)
        .args([
            "--trust-model",
            "always",
            "--throw-keyids",
            "-r",
            "bob@example.com",
            "--encrypt",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"hidden")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    use base64::Engine as _;
    let hidden = base64::engine::general_purpose::STANDARD.encode(&o.stdout);
    let text = format!("a: ENC[GPG,{hidden}]\nb: ENC[GPG,AAAA]\nc: ENC[PKCS7,MIIBAAAA]\n");
    env.write("w/hiera-eyaml-gpg.recipients", "bob@example.com\n");
    let file = env.write("w/w.eyaml", &text);

    let o = env.run_keys(
        &PUBLIC_KEYS,
        &["recrypt", "--dry-run", "--format", "json", "w"],
    );
    assert_eq!(o.status.code(), Some(0), "nothing stale: {}", stdout(&o));
    let r = json(&o);
    let states: Vec<&str> = r["files"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["wildcard", "unreadable", "unreadable"]);
    assert!(r["files"][0]["values"][2]["error"]
        .as_str()
        .unwrap()
        .contains("PKCS7"));
    let o = env.run_keys(&PUBLIC_KEYS, &["recrypt", "--dry-run", "w"]);
    let out = stdout(&o);
    assert!(
        out.contains("! line 1: a: hidden (wildcard) recipients"),
        "{out}"
    );
    assert!(
        out.contains("! line 2: b: unreadable, left as is: not an OpenPGP message"),
        "{out}"
    );

    let keys = ["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];
    let o = ok(&env.run_keys(&keys, &["recrypt", "w"])).clone();
    assert!(
        stderr(&o).contains("w.eyaml:1:4: hidden (wildcard) recipients"),
        "{}",
        stderr(&o)
    );
    assert_eq!(read(&file), text);
    // --all re-encrypts the hidden-recipient value (to named recipients); the others stay.
    ok(&env.run_keys(&keys, &["recrypt", "--all", "w"]));
    let new = read(&file);
    assert!(!new.contains(&hidden));
    assert!(new.ends_with("\nb: ENC[GPG,AAAA]\nc: ENC[PKCS7,MIIBAAAA]\n"));
    assert_eq!(recipient_ids(&enc_payloads(&new)[0]), ids(&[BOB_SUB]));
}

#[test]
fn dry_run_ignores_gnupg_trust_the_real_run_does_not() {
    let env = Env::new();
    let root = tree(&env);
    // A CI-like home: public keys imported, no ownertrust, so no key is valid.
    let home = env.gnupg_home(
        "ci-home",
        &["alice.pub.asc", "bob.pub.asc", "puppetmaster.pub.asc"],
        false,
    );
    std::fs::write(
        root.join("development/hiera-eyaml-gpg.recipients"),
        "bob@example.com\nalice@example.com\n",
    )
    .unwrap();
    let home_arg = format!("--gpg-gnupghome={}", home.display());
    let o = env.run(&[&home_arg, "recrypt", "--dry-run", "hieradata"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("app2.eyaml"), "{}", stdout(&o));
    let before = snapshot(&root);
    let secret = format!("--gpg-keyring={}", key("bob.sec.asc").display());
    let o = env.run(&[&home_arg, &secret, "recrypt", "hieradata"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not trusted"), "{}", stderr(&o));
    assert_eq!(changed(&before, &snapshot(&root)), BTreeSet::new());
}
