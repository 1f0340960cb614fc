//! The features together, as an engineer uses them: keys in a real GnuPG home, secret keys in
//! its gpg-agent, and no `--gpg-keyring` anywhere. One test per workflow: edit, lookup, check,
//! textconv, recrypt after adding a recipient, and an `encrypt -e`/`decrypt -e` round trip
//! configured through `EYAML_CONFIG`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness::{
    enc_payloads, golden_text, gpg, ok, reference, stderr, stdout, Env, PUBLIC_KEYS,
};

/// `dc1/base.eyaml` (encrypted to alice, bob and puppetmaster) with its recipients files.
fn production(env: &Env) -> PathBuf {
    env.copy_tree(&reference().join("hieradata"), "hieradata")
        .join("production/dc1/base.eyaml")
}

/// Bob's secret key in the agent, every recipient's public key trusted (the edit re-encrypts
/// to all three).
fn bob_home(env: &Env) -> PathBuf {
    env.gnupg_home(
        "bob-home",
        &["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"],
        true,
    )
}

/// The binary in its own session (no controlling terminal), keys from `GNUPGHOME` only.
fn cmd(env: &Env, home: &Path) -> Command {
    let mut c = env.session_cmd();
    c.env("GNUPGHOME", home);
    c
}

fn run(env: &Env, home: &Path, args: &[&str]) -> Output {
    cmd(env, home).args(args).output().unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn edit_through_the_agent_changes_only_the_edited_value() {
    let env = Env::new();
    let home = bob_home(&env);
    let file = production(&env);
    let before = std::fs::read_to_string(&file).unwrap();
    let ed = env.editor();

    let out = cmd(&env, &home)
        .env("EDITOR", &ed)
        .env("EYAML_SED", r"s/GPG\[repl-3\]!/GPG[repl-4]!/")
        .args(["edit", path(&file)])
        .output()
        .unwrap();
    ok(&out);
    let after = std::fs::read_to_string(&file).unwrap();
    let (old, new) = (enc_payloads(&before), enc_payloads(&after));
    assert_eq!(old.len(), 11);
    assert_eq!(new.len(), 11);
    let changed: Vec<usize> = (0..11).filter(|&i| old[i] != new[i]).collect();
    // The replication password is the eighth value of the file.
    assert_eq!(changed, [7], "only the edited value is re-encrypted");
    // Outside that value, the file is byte-identical.
    let (b, a) = (before.find(&old[7]).unwrap(), after.find(&new[7]).unwrap());
    assert_eq!(before[..b], after[..a]);
    assert_eq!(before[b + old[7].len()..], after[a + new[7].len()..]);

    let out = run(&env, &home, &["decrypt", "-e", path(&file)]);
    let dec = stdout(ok(&out));
    assert!(dec.contains("password: DEC::GPG[repl-4]!\n"), "{dec}");
    assert!(!dec.contains("repl-3"), "{dec}");
    let golden = golden_text("production/dc1/base.eyaml", "decrypted");
    assert_eq!(dec, golden.replace("[repl-3]", "[repl-4]"));

    // Still encrypted to all three recipients: alice's own home reads the new value.
    let alice = env.gnupg_home("alice-home", &["alice.sec.asc"], false);
    let out = run(&env, &alice, &["decrypt", "-e", path(&file)]);
    assert!(stdout(ok(&out)).contains("DEC::GPG[repl-4]!"));
}

#[test]
fn lookup_through_the_agent() {
    let env = Env::new();
    let home = env.gnupg_home("pm-home", &["puppetmaster.sec.asc"], false);
    let file = production(&env);
    let common = file.parent().unwrap().parent().unwrap().join("role.eyaml");
    let out = run(
        &env,
        &home,
        &[
            "lookup",
            "profile::base::database.replication.credentials.password",
            path(&file),
            path(&common),
        ],
    );
    assert_eq!(stdout(ok(&out)), "--- repl-3\n");
    let out = run(
        &env,
        &home,
        &[
            "lookup",
            "--format",
            "json",
            "role::webserver::admin_password",
            path(&file),
            path(&common),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&ok(&out).stdout).unwrap();
    assert!(v.is_string(), "{v}");
    // A key the agent cannot decrypt: Puppet's wording, exit 1, no plaintext anywhere.
    let bob = env.gnupg_home("bob-only", &["bob.sec.asc"], false);
    let out = run(
        &env,
        &bob,
        &["lookup", "role::webserver::admin_password", path(&common)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("Lookup of key 'role::webserver::admin_password' failed"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("No secret key"), "{}", stderr(&out));
}

#[test]
fn check_with_public_keys_only_finds_no_error() {
    let env = Env::new();
    let home = env.gnupg_home("pub-home", &PUBLIC_KEYS, false);
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let out = run(&env, &home, &["check", "--format", "json", path(&tree)]);
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["errors"], 0, "{v}");
    assert_eq!(v["files_checked"], 5, "{v}");

    // The same check sees a stale value once a recipient is added: the keys really are read.
    std::fs::write(
        tree.join("development/app1/hiera-eyaml-gpg.recipients"),
        "bob@example.com\nalice@example.com\n",
    )
    .unwrap();
    let out = run(&env, &home, &["check", path(&tree)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("stale-recipients"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn textconv_through_the_agent() {
    let env = Env::new();
    let home = env.gnupg_home("bob-home", &["bob.sec.asc"], false);
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    for f in ["development/app1/app1.eyaml", "production/dc1/base.eyaml"] {
        let out = run(&env, &home, &["textconv", path(&tree.join(f))]);
        let golden = golden_text(f, "decrypted");
        assert_eq!(stdout(ok(&out)), golden, "{f}");
    }
    // Bob cannot read role.eyaml: it comes out unchanged, exit 0.
    let role = tree.join("production/role.eyaml");
    let out = run(&env, &home, &["textconv", path(&role)]);
    assert_eq!(stdout(ok(&out)), std::fs::read_to_string(&role).unwrap());
}

#[test]
fn recrypt_through_the_agent_for_an_added_recipient() {
    let env = Env::new();
    let home = env.gnupg_home("bob-home", &["bob.sec.asc", "alice.pub.asc"], true);
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let app1 = tree.join("development/app1/app1.eyaml");
    let alice = env.gnupg_home("alice-home", &["alice.sec.asc"], false);
    // Before: alice cannot read it.
    let out = run(&env, &alice, &["decrypt", "-e", path(&app1)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    std::fs::write(
        tree.join("development/app1/hiera-eyaml-gpg.recipients"),
        "bob@example.com\nalice@example.com\n",
    )
    .unwrap();
    let out = run(&env, &home, &["recrypt", path(&app1)]);
    ok(&out);
    let golden = golden_text("development/app1/app1.eyaml", "decrypted");
    // Alice's single-key home now reads every value, and so does Bob's.
    for h in [&alice, &home] {
        let out = run(&env, h, &["decrypt", "-e", path(&app1)]);
        assert_eq!(stdout(ok(&out)), golden);
    }
    // Nothing left to do.
    let out = run(&env, &home, &["recrypt", "--dry-run", path(&app1)]);
    ok(&out);
    let before = std::fs::read(&app1).unwrap();
    let out = run(&env, &home, &["recrypt", path(&app1)]);
    ok(&out);
    assert_eq!(std::fs::read(&app1).unwrap(), before);
}

#[test]
fn encrypt_and_decrypt_with_the_home_from_eyaml_config() {
    let env = Env::new();
    let home = env.gnupg_home("configured-home", &["bob.sec.asc", "alice.pub.asc"], true);
    let config = env.write(
        "eyaml.yaml",
        format!("---\ngpg_gnupghome: '{}'\n", home.display()),
    );
    env.write(
        "data/hiera-eyaml-gpg.recipients",
        "bob@example.com\nalice@example.com\n",
    );
    let src =
        "---\n# comment\na: DEC::GPG[first secret]!\nb: >\n    DEC::GPG[second\nline]!\nc: plain\n";
    let src_file = env.write("data/common.src", src);
    // GNUPGHOME points nowhere: only the configured home has keys.
    let nowhere = env.join("no-gnupg-home");
    let out = cmd(&env, &nowhere)
        .env("EYAML_CONFIG", &config)
        .args(["encrypt", "-e", path(&src_file)])
        .output()
        .unwrap();
    let enc = stdout(ok(&out));
    assert_eq!(enc_payloads(&enc).len(), 2, "{enc}");
    assert!(!enc.contains("first secret"));
    let enc_file = env.write("data/common.eyaml", &enc);
    let out = cmd(&env, &nowhere)
        .env("EYAML_CONFIG", &config)
        .args(["decrypt", "-e", path(&enc_file)])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), src);
    // Without the config the keys are gone.
    let out = run(&env, &nowhere, &["decrypt", "-e", path(&enc_file)]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// Bug: a trust db naming an ultimately trusted key that is no longer in the home (a deleted
/// key) makes `gpg --list-keys` exit 2 after a complete listing; the trust check took that as
/// a failure and refused every encryption, where gpg itself encrypts.
#[test]
fn regression_trust_check_refused_every_encryption_when_a_trusted_key_was_deleted() {
    let env = Env::new();
    // Alice ultimately trusted; Bob and puppetmaster named by the trust db but absent.
    let home = env.gnupg_home("home", &["alice.pub.asc"], true);
    let out = run(
        &env,
        &home,
        &[
            "encrypt",
            "-o",
            "string",
            "-s",
            "x",
            "--gpg-recipients",
            "alice@example.com",
        ],
    );
    assert_eq!(enc_payloads(&stdout(ok(&out))).len(), 1);
    // The listing is still read for what it says: an untrusted key is refused.
    let env = Env::new();
    let home = env.gnupg_home("home", &["alice.pub.asc"], false);
    let trust = env.write("trust.txt", "211945E86F4141A36AC356155D15F4FAFD07824A:6:\n");
    let o = gpg(&home)
        .arg("--import-ownertrust")
        .arg(trust)
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = run(
        &env,
        &home,
        &[
            "encrypt",
            "-s",
            "x",
            "--gpg-recipients",
            "alice@example.com",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Key FD14CC28 (alice@example.com) not trusted"),
        "{}",
        stderr(&out)
    );
}

/// Bug: a value the agent cannot decrypt is shown as `ENC[…]` in the editor; an editor change
/// that touched its text (here a global replace of `443`) was saved, leaving a value nobody
/// can decrypt (`invalid base64`). Now the edit is refused with the value's position and the
/// file is untouched; a new, well-formed ENC value is still accepted.
#[test]
fn regression_edit_saved_an_enc_value_damaged_in_the_editor() {
    let env = Env::new();
    let home = env.gnupg_home("bob-home", &["bob.sec.asc"], false);
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let role = tree.join("production/role.eyaml");
    let before = std::fs::read(&role).unwrap();
    let ed = env.editor();
    let edit = |sed: &str, args: &[&str]| {
        cmd(&env, &home)
            .env("EDITOR", &ed)
            .env("EYAML_SED", sed)
            .arg("edit")
            .args(args)
            .arg(&role)
            .output()
            .unwrap()
    };
    // `443` is the port and also occurs in the deploy_ssh_key ciphertext (line 46).
    assert!(String::from_utf8_lossy(&before).contains("BD5d443ntk"));
    // Its `>` is at 34:34 of the file: below 11 preamble lines, plus one note line when values
    // are decrypted (the note says three are shown encrypted).
    for (args, line) in [(&[][..], 46), (&["-d"][..], 45)] {
        let out = edit("s/443/8443/", args);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let want = format!(
            "role.eyaml (edit text):{line}:34: this ENC value is not in the file and cannot be \
             read (invalid base64 in ENC value)"
        );
        assert!(stderr(&out).contains(&want), "{}", stderr(&out));
        assert_eq!(std::fs::read(&role).unwrap(), before, "file untouched");
    }
    // Only the port changed: saved.
    let out = edit("s/port: 443/port: 8443/", &["-d"]);
    ok(&out);
    let after = std::fs::read_to_string(&role).unwrap();
    assert_eq!(
        after,
        String::from_utf8_lossy(&before).replace("port: 443", "port: 8443")
    );
    // A pasted ENC value that is well-formed (from `encrypt`) is accepted.
    let out = cmd(&env, &home)
        .args([
            "encrypt",
            "-o",
            "string",
            "-s",
            "new",
            "--gpg-recipients",
            "bob@example.com",
            "--gpg-always-trust",
        ])
        .output()
        .unwrap();
    let value = stdout(ok(&out));
    let out = cmd(&env, &home)
        .env("EDITOR", &ed)
        .env("EYAML_SED", format!("$a pasted: {value}"))
        .args(["edit", "-d", path(&role)])
        .output()
        .unwrap();
    ok(&out);
    let text = std::fs::read_to_string(&role).unwrap();
    assert!(text.ends_with(&format!("pasted: {value}\n")), "{text}");
    let out = run(&env, &home, &["lookup", "pasted", path(&role)]);
    assert_eq!(stdout(ok(&out)), "--- new\n");
}
