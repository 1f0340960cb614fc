//! Keys from a real GnuPG home: public keys from `pubring.kbx` / `pubring.gpg`, GnuPG's trust
//! rule, and secret keys through a real gpg-agent (PKDECRYPT for unprotected keys, one export
//! for passphrase-protected ones), with a scripted pinentry. Every test makes its own home; the
//! harness stops every agent it started.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::harness::*;

const UNTRUSTED_ALICE: &str = "Key FD14CC28 (alice@example.com) not trusted (if key trust is established by another means then specify always-trust)";
const BOB_SUBKEY: &str = "E741DB31073DB129 (Bob Builder <bob@example.com>)";
/// Keygrip of Bob's cv25519 subkey (`gpg --with-keygrip`).
pub(crate) const BOB_KEYGRIP: &str = "B75A5D025FE4FC474C3054196E60CED0C867B67C";

pub(crate) fn home_str(p: &Path) -> String {
    format!("--gpg-gnupghome={}", p.display())
}

#[test]
fn recipients_found_only_in_pubring_kbx_by_email_uid_and_fingerprint() {
    let env = Env::new();
    let home = env.gnupg_home("home", &PUBLIC_KEYS, true);
    assert!(home.join("pubring.kbx").is_file());
    let o = env.run(&[
        &home_str(&home),
        "encrypt",
        "-o",
        "string",
        "-s",
        "kbx secret",
        "--gpg-recipients",
        "alice@example.com,Bob Builder,211945E86F4141A36AC356155D15F4FAFD07824A",
    ]);
    ok(&o);
    assert_eq!(
        pkesk_ids(&enc_payloads(&stdout(&o))[0]),
        [ALICE_SUB, BOB_SUB, PM_SUB]
    );
    // Bob's secret key (from a key file) reads it back.
    let o = env.run(&[
        "--gpg-keyring",
        key("bob.sec.asc").to_str().unwrap(),
        "decrypt",
        "-s",
        &stdout(&o),
    ]);
    assert_eq!(stdout(ok(&o)), "kbx secret");
}

#[test]
fn legacy_pubring_gpg_home() {
    let env = Env::new();
    let home = env.join("legacy");
    std::fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    // An existing pubring.gpg makes GnuPG 2.2 keep the legacy keyring format.
    std::fs::write(home.join("pubring.gpg"), b"").unwrap();
    for k in PUBLIC_KEYS {
        ok(&gpg(&home).arg("--import").arg(key(k)).output().unwrap());
    }
    ok(&gpg(&home)
        .arg("--import-ownertrust")
        .arg(key("ownertrust.txt"))
        .output()
        .unwrap());
    assert!(!home.join("pubring.kbx").exists());
    assert!(std::fs::metadata(home.join("pubring.gpg")).unwrap().len() > 0);
    let o = env.run(&[
        &home_str(&home),
        "encrypt",
        "-o",
        "string",
        "-s",
        "legacy",
        "--gpg-recipients",
        "puppetmaster",
    ]);
    let value = stdout(ok(&o));
    let o = env.run(&[
        "--gpg-keyring",
        key("puppetmaster.sec.asc").to_str().unwrap(),
        "decrypt",
        "-s",
        &value,
    ]);
    assert_eq!(stdout(ok(&o)), "legacy");
    kill_agent(&home);
}

#[test]
fn trust_rule_untrusted_refused_always_trust_and_ownertrust_accepted() {
    let env = Env::new();
    let untrusted = env.gnupg_home("untrusted", &PUBLIC_KEYS, false);
    let args = |home: &Path| {
        vec![
            home_str(home),
            "encrypt".into(),
            "-o".into(),
            "string".into(),
            "-s".into(),
            "x".into(),
            "--gpg-recipients".into(),
            "alice@example.com".into(),
        ]
    };
    let o = env.cmd().args(args(&untrusted)).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains(UNTRUSTED_ALICE), "{}", stderr(&o));
    assert!(o.stdout.is_empty());

    let o = env
        .cmd()
        .args(args(&untrusted))
        .arg("--gpg-always-trust")
        .output()
        .unwrap();
    assert!(stdout(ok(&o)).starts_with("ENC[GPG,"));

    env.write(".eyaml/config.yaml", "gpg_always_trust: true\n");
    let o = env.cmd().args(args(&untrusted)).output().unwrap();
    assert!(stdout(ok(&o)).starts_with("ENC[GPG,"));
    std::fs::remove_file(env.join(".eyaml/config.yaml")).unwrap();

    // The user named this key file: it is trusted even though the home has the key too.
    let o = env
        .cmd()
        .args(args(&untrusted))
        .args(["--gpg-keyring", key("alice.pub.asc").to_str().unwrap()])
        .output()
        .unwrap();
    ok(&o);

    let trusted = env.gnupg_home("trusted", &PUBLIC_KEYS, true);
    let o = env.cmd().args(args(&trusted)).output().unwrap();
    assert!(stdout(ok(&o)).starts_with("ENC[GPG,"));

    // encrypt -e refuses too, and leaves the output empty.
    env.write("t.eyaml", "a: DEC::GPG[one]!\n");
    let o = env.run(&[
        &home_str(&untrusted),
        "encrypt",
        "--gpg-recipients",
        "alice@example.com",
        "-e",
        "t.eyaml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(UNTRUSTED_ALICE), "{}", stderr(&o));
}

#[test]
fn decrypts_every_reference_fixture_through_the_agent() {
    let env = Env::new();
    // No ownertrust: decryption never checks trust.
    let home = env.gnupg_home("home", &SECRET_KEYS, false);
    for f in REFERENCE_FILES {
        let o = env.run(&[
            &home_str(&home),
            "decrypt",
            "-e",
            hieradata(f).to_str().unwrap(),
        ]);
        assert_eq!(ok(&o).stdout, golden(f, "decrypted"), "{f}");
    }
}

#[test]
fn decryptable_by_single_secret_key_homes() {
    let env = Env::new();
    for (who, sec) in [
        ("alice", "alice.sec.asc"),
        ("bob", "bob.sec.asc"),
        ("puppetmaster", "puppetmaster.sec.asc"),
    ] {
        let mut keys = PUBLIC_KEYS.to_vec();
        keys.push(sec);
        let home = env.gnupg_home(who, &keys, true);
        for f in REFERENCE_FILES {
            let expected = golden_text(f, "decryptable-by")
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{who} ")).map(str::to_string))
                .unwrap();
            let o = env.run(&[
                &home_str(&home),
                "decrypt",
                "-e",
                hieradata(f).to_str().unwrap(),
            ]);
            match expected.as_str() {
                "yes" => assert_eq!(ok(&o).stdout, golden(f, "decrypted"), "{who} {f}"),
                _ => {
                    assert_eq!(o.status.code(), Some(1), "{who} {f}");
                    assert!(o.stdout.is_empty());
                    let e = stderr(&o);
                    assert!(
                        e.contains("No secret key: the value is encrypted to "),
                        "{e}"
                    );
                    assert!(e.contains("via gpg-agent"), "{e}");
                }
            }
        }
    }
}

#[test]
fn key_not_held_names_recipients_and_the_agents_keys() {
    let env = Env::new();
    let mut keys = PUBLIC_KEYS.to_vec();
    keys.push("alice.sec.asc");
    let home = env.gnupg_home("alice-only", &keys, true);
    let o = env.run(&[
        &home_str(&home),
        "decrypt",
        "-e",
        hieradata("development/app1/app1.eyaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "No secret key: the value is encrypted to {BOB_SUBKEY}; secret keys available: \
             357D502CA066B359 (Alice Admin <alice@example.com>) via gpg-agent"
        )),
        "{e}"
    );
}

#[test]
fn agent_that_cannot_start_is_reported() {
    let env = Env::new();
    let home = env.gnupg_home("home", &["bob.sec.asc"], false);
    kill_agent(&home);
    // A non-empty directory where the socket belongs: nothing can listen there.
    let _ = std::fs::remove_file(home.join("S.gpg-agent"));
    std::fs::create_dir_all(home.join("S.gpg-agent/blocked")).unwrap();
    let o = env.run(&[
        &home_str(&home),
        "decrypt",
        "-e",
        hieradata("development/app1/app1.eyaml").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("gpg-agent: cannot connect to gpg-agent at ") && e.contains("S.gpg-agent"),
        "{e}"
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn home_precedence_and_missing_homes() {
    let env = Env::new();
    let home = env.gnupg_home("real", &["bob.sec.asc"], false);
    let app1 = hieradata("development/app1/app1.eyaml");
    let app1 = app1.to_str().unwrap();
    let want = golden_text("development/app1/app1.eyaml", "decrypted");
    let missing = env.join("missing-home");
    let message = format!(
        "Configured GPG home directory {} doesn't exist, check gpg_gnupghome configuration value is correct",
        missing.display()
    );

    // Flag, environment and config name a home: a missing one is exit 2 with Ruby's text.
    let o = env.run(&[&home_str(&missing), "decrypt", "-e", app1]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&message), "{}", stderr(&o));
    let o = env
        .cmd()
        .env("HIERA_EYAML_GPG_GNUPGHOME", &missing)
        .args(["decrypt", "-e", app1])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&message));
    env.write(
        ".eyaml/config.yaml",
        format!("gpg_gnupghome: {}\n", missing.display()),
    );
    let o = env.run(&["decrypt", "-e", app1]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&message));
    env.write(".eyaml/config.yaml", "gpg_gnupghome: ''\n");
    let o = env.run(&["decrypt", "-e", app1]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("No GPG home directory configured"),
        "{}",
        stderr(&o)
    );
    env.write(
        ".eyaml/config.yaml",
        format!("gpg_gnupghome: {}\n", missing.display()),
    );

    // The flag beats the environment variable (Ruby lets the variable win) and the config.
    let o = env
        .cmd()
        .env("HIERA_EYAML_GPG_GNUPGHOME", &missing)
        .args([&home_str(&home), "decrypt", "-e", app1])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&o)), want);
    // The environment variable beats the config file.
    let o = env
        .cmd()
        .env("HIERA_EYAML_GPG_GNUPGHOME", &home)
        .args(["decrypt", "-e", app1])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&o)), want);
    std::fs::remove_file(env.join(".eyaml/config.yaml")).unwrap();

    // GNUPGHOME, then ~/.gnupg, are used when nothing else is set.
    let o = env
        .cmd()
        .env("GNUPGHOME", &home)
        .args(["decrypt", "-e", app1])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&o)), want);
    copy_home(&home, &env.join(".gnupg"));
    let o = env
        .cmd()
        .env_remove("GNUPGHOME")
        .args(["decrypt", "-e", app1])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&o)), want);
    kill_agent(&env.join(".gnupg"));

    // A missing default home is skipped: keys then come from --gpg-keyring alone.
    let o = env.run(&[
        "--gpg-keyring",
        key("bob.sec.asc").to_str().unwrap(),
        "decrypt",
        "-e",
        app1,
    ]);
    assert_eq!(stdout(ok(&o)), want);
}

#[test]
fn nist_p256_key_through_the_agent() {
    let env = Env::new();
    let home = env.gnupg_home("nist", &[], false);
    let gen = |args: &[&str]| {
        ok(&gpg(&home)
            .args(["--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .unwrap())
        .stdout
        .clone()
    };
    gen(&[
        "--quick-gen-key",
        "Nist <nist@example.com>",
        "nistp256",
        "sign",
        "never",
    ]);
    let listing = String::from_utf8(
        ok(&gpg(&home)
            .args(["--with-colons", "--list-keys"])
            .output()
            .unwrap())
        .stdout
        .clone(),
    )
    .unwrap();
    let fpr = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:::::::::"))
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    gen(&["--quick-add-key", &fpr, "nistp256", "encr", "never"]);
    // Generated keys are ultimately trusted in their home.
    let o = env.run(&[
        &home_str(&home),
        "encrypt",
        "-o",
        "string",
        "-s",
        "p-256 secret",
        "--gpg-recipients",
        "nist@example.com",
    ]);
    let value = stdout(ok(&o));
    let o = env.run(&[&home_str(&home), "decrypt", "-s", &value]);
    assert_eq!(stdout(ok(&o)), "p-256 secret");
}

#[test]
fn ocb_message_falls_back_to_gpg_and_explains() {
    let env = Env::new();
    let home = env.gnupg_home("home", &["bob.sec.asc"], false);
    // Bob's PKESK from a real value, then a tag 20 (OCB) packet in place of the SEIPD.
    let text = std::fs::read_to_string(hieradata("development/app1/app1.eyaml")).unwrap();
    let msg = b64decode(&enc_payloads(&text)[0]);
    assert_eq!(msg[0] & 0xfc, 0x84, "old-format PKESK header expected");
    let pkesk_len = match msg[0] & 0x03 {
        0 => 2 + msg[1] as usize,
        1 => 3 + u16::from_be_bytes([msg[1], msg[2]]) as usize,
        _ => panic!("unexpected PKESK length type"),
    };
    let mut ocb = msg[..pkesk_len].to_vec();
    let body: Vec<u8> = [1u8, 9, 2, 10]
        .into_iter()
        .chain([7u8; 15])
        .chain([0u8; 40])
        .collect();
    ocb.extend([0xC0 | 20, body.len() as u8]);
    ocb.extend(body);
    use base64::Engine as _;
    let value = format!(
        "ENC[GPG,{}]",
        base64::engine::general_purpose::STANDARD.encode(&ocb)
    );
    let o = env.run(&[&home_str(&home), "decrypt", "-s", &value]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("AEAD OCB message (packet tag 20"), "{e}");
    assert!(e.contains("setpref"), "{e}");
    assert!(
        e.contains("`gpg --decrypt` could not read it either"),
        "{e}"
    );
}

// --- passphrase-protected keys --------------------------------------------------------------

/// A scripted pinentry: answers GETPIN with the content of `pinentry.pass` next to it (or
/// cancels when `pinentry.cancel` exists) and logs every GETPIN to `pinentry.log`.
const PINENTRY: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "OK Pleased to meet you"
while IFS= read -r line; do
  case "$line" in
    GETPIN*)
      echo getpin >> "$dir/pinentry.log"
      if [ -f "$dir/pinentry.cancel" ]; then
        echo "ERR 83886179 Operation cancelled <Pinentry>"
      else
        printf 'D %s\nOK\n' "$(cat "$dir/pinentry.pass")"
      fi ;;
    BYE*) echo OK; exit 0 ;;
    *) echo OK ;;
  esac
done
"#;

pub(crate) const PASSPHRASE: &str = "correct horse";

/// A home whose secret keys (from `secs`) are protected by [`PASSPHRASE`], with the scripted
/// pinentry and preset passphrases allowed. The agent is stopped, so nothing is cached.
pub(crate) fn protected_home(env: &Env, name: &str, secs: &[&str]) -> PathBuf {
    let home = env.join(name);
    std::fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    let pinentry = env.write_script(&format!("{name}/pinentry.sh"), PINENTRY);
    std::fs::write(home.join("pinentry.pass"), PASSPHRASE).unwrap();
    std::fs::write(
        home.join("gpg-agent.conf"),
        format!(
            "pinentry-program {}\nallow-preset-passphrase\n",
            pinentry.display()
        ),
    )
    .unwrap();
    for k in secs {
        ok(&gpg(&home).arg("--import").arg(key(k)).output().unwrap());
    }
    for fpr in [
        ("alice.sec.asc", "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28"),
        ("bob.sec.asc", "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1"),
    ]
    .iter()
    .filter(|(k, _)| secs.contains(k))
    .map(|(_, f)| *f)
    {
        ok(&gpg(&home)
            .args([
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                PASSPHRASE,
                "--passwd",
                fpr,
            ])
            .output()
            .unwrap());
    }
    kill_agent(&home);
    let _ = std::fs::remove_file(home.join("pinentry.log"));
    home
}

pub(crate) fn prompts(home: &Path) -> usize {
    std::fs::read_to_string(home.join("pinentry.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Copies a home without its sockets.
fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    set_mode(to, 0o700);
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with("S.") {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_home(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// An eyaml file of `n` values encrypted to Bob (in process, from his public key file).
pub(crate) fn bob_file(env: &Env, n: usize) -> PathBuf {
    let mut src = String::from("---\n");
    for i in 0..n {
        src.push_str(&format!("key{i}: DEC::GPG[value number {i}]!\n"));
    }
    env.write("bulk.src.eyaml", &src);
    let o = env.run(&[
        "--gpg-keyring",
        key("bob.pub.asc").to_str().unwrap(),
        "--gpg-recipients",
        "bob@example.com",
        "encrypt",
        "-e",
        "bulk.src.eyaml",
    ]);
    env.write("bulk.eyaml", stdout(ok(&o)))
}

#[test]
fn protected_keys_bulk_decryption_asks_once() {
    let env = Env::new();
    let home = protected_home(&env, "protected", &["alice.sec.asc", "bob.sec.asc"]);
    let n = 200;
    let file = bob_file(&env, n);
    let start = Instant::now();
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    let elapsed = start.elapsed();
    let out = stdout(ok(&o));
    for i in [0, 99, n - 1] {
        assert!(out.contains(&format!("key{i}: DEC::GPG[value number {i}]!")));
    }
    assert_eq!(prompts(&home), 1, "one pinentry prompt for {n} values");
    println!(
        "protected cv25519 key, {n} values through gpg-agent (one unlock): {:.0} ms",
        elapsed.as_secs_f64() * 1000.0
    );

    // A protected RSA key (Alice) is exported once too.
    kill_agent(&home);
    let f = "production/role.eyaml";
    let o = env.run(&[
        &home_str(&home),
        "decrypt",
        "-e",
        hieradata(f).to_str().unwrap(),
    ]);
    assert_eq!(ok(&o).stdout, golden(f, "decrypted"));
    assert_eq!(prompts(&home), 2);
}

#[test]
fn preset_passphrase_needs_no_prompt() {
    let env = Env::new();
    let home = protected_home(&env, "preset", &["bob.sec.asc"]);
    ok(&std::process::Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--launch", "gpg-agent"])
        .output()
        .unwrap());
    ok(
        &std::process::Command::new("/usr/lib/gnupg/gpg-preset-passphrase")
            .env("GNUPGHOME", &home)
            .args(["--preset", "-P", PASSPHRASE, BOB_KEYGRIP])
            .output()
            .unwrap(),
    );
    // A few values (app1 has 4 for Bob) and many: the key is exported with the preset
    // passphrase, no prompt.
    let f = "development/app1/app1.eyaml";
    let o = env.run(&[
        &home_str(&home),
        "decrypt",
        "-e",
        hieradata(f).to_str().unwrap(),
    ]);
    assert_eq!(ok(&o).stdout, golden(f, "decrypted"));
    let file = bob_file(&env, 20);
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    assert!(stdout(ok(&o)).contains("key19: DEC::GPG[value number 19]!"));
    assert_eq!(prompts(&home), 0);

    // A wrong preset passphrase: the export falls back to the prompt.
    let preset = |args: &[&str]| {
        ok(
            &std::process::Command::new("/usr/lib/gnupg/gpg-preset-passphrase")
                .env("GNUPGHOME", &home)
                .args(args)
                .arg(BOB_KEYGRIP)
                .output()
                .unwrap(),
        );
    };
    // (`gpg-preset-passphrase --forget` fails in GnuPG 2.2: "No inquire callback in IPC".)
    let forget = || {
        ok(&std::process::Command::new("gpg-connect-agent")
            .arg("--homedir")
            .arg(&home)
            .arg(format!("CLEAR_PASSPHRASE --mode=normal {BOB_KEYGRIP}"))
            .arg("/bye")
            .output()
            .unwrap());
    };
    forget();
    preset(&["--preset", "-P", "not the passphrase"]);
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    assert!(stdout(ok(&o)).contains("key19: DEC::GPG[value number 19]!"));
    assert_eq!(prompts(&home), 1);

    // A passphrase cached by a prompt (gpg's own decryption) cannot be read back: a few values
    // go through PKDECRYPT without a prompt, then the export asks; that prompt dismissed, the
    // cached passphrase still decrypts everything, slowly.
    forget();
    let message = env.join("one.gpg");
    ok(&gpg(&home)
        .args([
            "--trust-model",
            "always",
            "-e",
            "-r",
            "bob@example.com",
            "-o",
        ])
        .arg(&message)
        .arg(key("ownertrust.txt"))
        .output()
        .unwrap());
    ok(&gpg(&home).arg("-d").arg(&message).output().unwrap());
    assert_eq!(prompts(&home), 2);
    std::fs::write(home.join("pinentry.cancel"), "").unwrap();
    let file = bob_file(&env, 5);
    let start = Instant::now();
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    println!(
        "5 values by PKDECRYPT with a cached passphrase: {:.0} ms",
        start.elapsed().as_secs_f64() * 1000.0
    );
    assert!(stdout(ok(&o)).contains("key4: DEC::GPG[value number 4]!"));
    assert_eq!(prompts(&home), 3);
}

#[test]
fn wrong_passphrase_is_reported_without_a_prompt_per_value() {
    let env = Env::new();
    let home = protected_home(&env, "wrong", &["bob.sec.asc"]);
    std::fs::write(home.join("pinentry.pass"), "not the passphrase").unwrap();
    let file = bob_file(&env, 20);
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e = stderr(&o);
    assert!(
        e.contains(&format!("bad passphrase for secret key {BOB_SUBKEY}")),
        "{e}"
    );
    // gpg-agent's own retries (3 tries), not one round per value.
    assert!(prompts(&home) <= 4, "{} prompts", prompts(&home));
}

#[test]
fn cancelled_pinentry_is_reported() {
    let env = Env::new();
    let home = protected_home(&env, "cancel", &["bob.sec.asc"]);
    std::fs::write(home.join("pinentry.cancel"), "").unwrap();
    let file = bob_file(&env, 20);
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains(&format!(
            "pinentry cancelled: the passphrase prompt for {BOB_SUBKEY} was dismissed"
        )),
        "{e}"
    );
    assert_eq!(prompts(&home), 1);
}

#[test]
fn elgamal_key_decrypts_through_the_agent() {
    let env = Env::new();
    let home = env.gnupg_home("elg", &[], false);
    let extra = fixtures().join("gnupg");
    ok(&gpg(&home)
        .arg("--import")
        .arg(extra.join("elgamal.sec.asc"))
        .output()
        .unwrap());
    let value = std::fs::read_to_string(extra.join("elgamal.value")).unwrap();
    let o = env.run(&[&home_str(&home), "decrypt", "-s", &value]);
    assert_eq!(stdout(ok(&o)), "hello-elg\n");
}

#[test]
fn unprotected_key_in_bulk_needs_no_prompt() {
    let env = Env::new();
    // The scripted pinentry is installed only to count prompts: there must be none.
    let home = protected_home(&env, "unprotected", &[]);
    ok(&gpg(&home)
        .arg("--import")
        .arg(key("bob.sec.asc"))
        .output()
        .unwrap());
    let file = bob_file(&env, 30);
    let o = env.run(&[&home_str(&home), "decrypt", "-e", file.to_str().unwrap()]);
    let out = stdout(ok(&o));
    for i in 0..30 {
        assert!(out.contains(&format!("key{i}: DEC::GPG[value number {i}]!")));
    }
    assert_eq!(prompts(&home), 0);
}
