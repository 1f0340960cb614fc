//! Issue 2: `encrypt`/`decrypt` against the Ruby reference fixtures and the real `gpg`, and
//! every bad input the core must reject clearly.

use crate::harness::*;
use std::path::PathBuf;

fn all_keys() -> Vec<String> {
    keyring(&SECRET_KEYS)
}

fn run_with(env: &Env, keys: &[String], args: &[&str]) -> std::process::Output {
    env.cmd().args(keys).args(args).output().unwrap()
}

#[test]
fn decrypt_eyaml_matches_ruby_golden_output() {
    let env = Env::new();
    for f in REFERENCE_FILES {
        let path = hieradata(f);
        let out = run_with(
            &env,
            &all_keys(),
            &["decrypt", "-e", path.to_str().unwrap()],
        );
        ok(&out);
        assert_eq!(stdout(&out), golden_text(f, "decrypted"), "{f}");
    }
}

#[test]
fn decrypt_file_matches_ruby_golden_substitution() {
    let env = Env::new();
    // A directory of key files works like the files one by one.
    let keys = vec![
        "--gpg-keyring".to_string(),
        reference().join("keys").display().to_string(),
    ];
    for f in REFERENCE_FILES {
        let path = hieradata(f);
        let out = run_with(&env, &keys, &["decrypt", "-f", path.to_str().unwrap()]);
        ok(&out);
        assert_eq!(out.stdout, golden(f, "decrypt-f"), "{f}");
    }
}

#[test]
fn single_secret_key_decrypts_exactly_what_ruby_said() {
    let env = Env::new();
    for f in REFERENCE_FILES {
        let expected = golden_text(f, "decryptable-by");
        for line in expected.lines() {
            let (who, verdict) = line.split_once(' ').unwrap();
            // every public key, so messages can name the recipients
            let keys = keyring(&[&format!("{who}.sec.asc"), "alice.pub.asc"]);
            let out = run_with(
                &env,
                &keys,
                &["decrypt", "-e", hieradata(f).to_str().unwrap()],
            );
            if verdict == "yes" {
                ok(&out);
                assert_eq!(out.stdout, golden(f, "decrypted"), "{f} by {who}");
            } else {
                assert_eq!(out.status.code(), Some(1), "{f} by {who}");
                assert!(out.stdout.is_empty(), "no partial output for {f} by {who}");
                assert!(stderr(&out).contains("No secret key"), "{}", stderr(&out));
            }
        }
    }
}

#[test]
fn no_secret_key_names_the_recipients_and_the_keys_we_have() {
    let env = Env::new();
    let keys: Vec<String> = keyring(&["alice.sec.asc", "bob.pub.asc"]);
    let path = hieradata("development/app1/app1.eyaml");
    let out = run_with(&env, &keys, &["decrypt", "-e", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("E741DB31073DB129 (Bob Builder <bob@example.com>)"),
        "{err}"
    );
    assert!(
        err.contains("357D502CA066B359 (Alice Admin <alice@example.com>)"),
        "{err}"
    );
    // every bad value is reported with its line
    for line in [3, 7, 13, 14] {
        assert!(
            err.contains(&format!("app1.eyaml:{line}:")),
            "line {line} missing in {err}"
        );
    }
    assert!(out.stdout.is_empty());
}

fn gpg_home_with_secrets(env: &Env) -> PathBuf {
    env.gnupg_home("gpg", &SECRET_KEYS, true)
}

fn packets(home: &std::path::Path, payload: &str) -> String {
    let file = home.join("msg.gpg");
    std::fs::write(&file, b64decode(payload)).unwrap();
    let out = gpg(home)
        .args(["--list-packets"])
        .arg(&file)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gpg_decrypt(home: &std::path::Path, payload: &str) -> Vec<u8> {
    let file = home.join("msg.gpg");
    std::fs::write(&file, b64decode(payload)).unwrap();
    let out = gpg(home).args(["--decrypt"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "gpg --decrypt: {}", stderr(&out));
    out.stdout
}

#[test]
fn gpg_reads_what_we_encrypt_for_cv25519_and_rsa() {
    let env = Env::new();
    let home = gpg_home_with_secrets(&env);
    let keys: Vec<String> = keyring(&PUBLIC_KEYS);
    for (recipients, ids) in [
        ("bob@example.com", vec!["E741DB31073DB129"]),
        ("alice@example.com", vec!["357D502CA066B359"]),
        (
            "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28,bob@example.com,puppetmaster",
            vec!["357D502CA066B359", "E741DB31073DB129", "24ECE6A9E03148AF"],
        ),
    ] {
        let secret = "s3cret with ünïcode\nand a second line";
        let out = run_with(
            &env,
            &keys,
            &[
                "encrypt",
                "-o",
                "string",
                "--gpg-recipients",
                recipients,
                "-s",
                secret,
            ],
        );
        ok(&out);
        let text = stdout(&out);
        assert!(
            !text.ends_with('\n'),
            "-o string prints no trailing newline (hiera-eyaml 5.x)"
        );
        let payload = &enc_payloads(&text)[0];
        let list = packets(&home, payload);
        let pkesk: Vec<&str> = list
            .lines()
            .filter(|l| l.starts_with(":pubkey enc packet"))
            .collect();
        assert_eq!(pkesk.len(), ids.len(), "{list}");
        for (line, id) in pkesk.iter().zip(&ids) {
            assert!(line.contains("version 3"), "{line}");
            assert!(
                line.ends_with(&format!("keyid {id}")),
                "recipients in recipients order: {line}"
            );
        }
        assert!(list.contains("tag=18"), "SEIPD (tag 18): {list}");
        assert!(list.contains(":encrypted data packet:"), "{list}");
        assert!(!list.contains("tag=20"), "no OCB/AEAD: {list}");
        assert_eq!(gpg_decrypt(&home, payload), secret.as_bytes());
    }
}

#[test]
fn encrypt_eyaml_then_gpg_and_we_decrypt_it() {
    let env = Env::new();
    let home = gpg_home_with_secrets(&env);
    let dir = env.copy_tree(&reference().join("sources"), "src");
    std::fs::write(
        dir.join("production/dc1/hiera-eyaml-gpg.recipients"),
        std::fs::read(reference().join("hieradata/production/dc1/hiera-eyaml-gpg.recipients"))
            .unwrap(),
    )
    .unwrap();
    let src = dir.join("production/dc1/base.eyaml.src");
    let text = std::fs::read_to_string(&src)
        .unwrap()
        .replace("EMPTY_SECRET_PLACEHOLDER", "DEC::GPG[]!");
    std::fs::write(&src, &text).unwrap();
    let keys: Vec<String> = keyring(&["alice.pub.asc", "bob.sec.asc", "puppetmaster.pub.asc"]);
    let out = run_with(&env, &keys, &["-v", "encrypt", "-e", src.to_str().unwrap()]);
    ok(&out);
    assert!(
        stderr(&out).contains("dc1/hiera-eyaml-gpg.recipients"),
        "-v names the recipients file: {}",
        stderr(&out)
    );
    let encrypted = stdout(&out);
    assert!(!encrypted.contains("DEC::"));
    let payloads = enc_payloads(&encrypted);
    assert_eq!(payloads.len(), 11);
    // every value is encrypted to alice, bob and puppetmaster, and gpg reads it
    let first = packets(&home, &payloads[0]);
    assert_eq!(first.matches("version 3").count(), 3, "{first}");
    assert_eq!(gpg_decrypt(&home, &payloads[0]), b"R00t!pa$$w0rd#dc1");
    assert_eq!(
        gpg_decrypt(&home, &payloads[3]),
        b"",
        "an empty DEC value is an empty secret"
    );
    // block forms keep their indentation and 60-column lines
    assert!(encrypted.contains("      password: >\n        ENC[GPG,"));
    // and decrypting gives back the source
    let file = env.write("round.eyaml", &encrypted);
    let out = run_with(&env, &keys, &["decrypt", "-e", file.to_str().unwrap()]);
    ok(&out);
    assert_eq!(stdout(&out), text);
}

#[test]
fn encrypt_output_formats_follow_hiera_eyaml() {
    let env = Env::new();
    let keys = keyring(&["bob.pub.asc"]);
    let base = [
        "encrypt",
        "--gpg-recipients",
        "bob@example.com",
        "-s",
        "secret",
    ];
    let shape = |s: &str| -> Vec<usize> { s.lines().map(str::len).collect() };
    for (extra, reference_file) in [
        (vec!["-o", "examples"], "encrypt-o-examples.txt"),
        (
            vec!["-o", "examples", "-l", "my::label"],
            "encrypt-o-examples-label.txt",
        ),
        (vec!["-o", "block"], "encrypt-o-block.txt"),
        (
            vec!["-o", "block", "-l", "my::label"],
            "encrypt-o-block-label.txt",
        ),
        (
            vec!["-o", "string", "-l", "my::label"],
            "encrypt-o-string-label.txt",
        ),
        (vec![], "encrypt-o-examples.txt"),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra.iter());
        let out = run_with(&env, &keys, &args);
        ok(&out);
        let ours = stdout(&out);
        let theirs =
            std::fs::read_to_string(reference().join("encrypt-formats").join(reference_file))
                .unwrap();
        // same layout: labels, blank lines, `OR`, 60-column block lines; ciphertexts differ
        let mask = |s: &str| -> String {
            s.lines()
                .map(|l| match l.find("ENC[GPG,") {
                    Some(i) => format!("{}ENC[GPG,", &l[..i]),
                    None if l.starts_with("  ") => "  <b64>".to_string(),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(mask(&ours), mask(&theirs), "{reference_file}");
        let ours_shape = shape(&ours);
        assert!(
            ours_shape
                .iter()
                .filter(|&&n| n > 3 && n != 62 && n != 72 && n != 76)
                .count()
                <= 3,
            "{ours}"
        );
        for p in enc_payloads(&ours) {
            assert!(!p.is_empty());
        }
        assert_eq!(
            ours.ends_with('\n'),
            reference_file != "encrypt-o-string-label.txt"
        );
    }
    // examples encrypt once: the string and block forms carry the same ciphertext
    let out = run_with(&env, &keys, &base);
    let p = enc_payloads(&stdout(&out));
    assert_eq!(p.len(), 2);
    assert_eq!(p[0], p[1]);
}

#[test]
fn stdin_and_file_plaintexts_keep_their_exact_bytes() {
    let env = Env::new();
    let keys = keyring(&["bob.sec.asc"]);
    let mut child = env
        .cmd()
        .args(&keys)
        .args([
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "--stdin",
            "-o",
            "string",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    ok(&out);
    let token = stdout(&out);
    let out = run_with(&env, &keys, &["decrypt", "-s", &token]);
    ok(&out);
    assert_eq!(
        out.stdout, b"from stdin\n",
        "trailing newline kept, none added"
    );

    let pf = env.write("pf.txt", "line1\nline2\n");
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "-f",
            pf.to_str().unwrap(),
            "-o",
            "string",
        ],
    );
    let out = run_with(&env, &keys, &["decrypt", "-s", &stdout(ok(&out))]);
    assert_eq!(out.stdout, b"line1\nline2\n");

    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "-s",
            "",
            "-o",
            "string",
        ],
    );
    let out = run_with(&env, &keys, &["decrypt", "-s", &stdout(ok(&out))]);
    ok(&out);
    assert_eq!(out.stdout, b"");
}

#[test]
fn recipients_come_from_the_nearest_file_walking_up() {
    let env = Env::new();
    let tree = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let keys: Vec<String> = keyring(&PUBLIC_KEYS);
    let deep = tree.join("development/app1/new/dir");
    std::fs::create_dir_all(&deep).unwrap();
    let file = deep.join("x.eyaml");
    std::fs::write(&file, "a: DEC::GPG[x]!\n").unwrap();
    let out = run_with(
        &env,
        &keys,
        &["-v", "encrypt", "-e", file.to_str().unwrap()],
    );
    ok(&out);
    assert!(
        stderr(&out).contains("app1/hiera-eyaml-gpg.recipients"),
        "{}",
        stderr(&out)
    );
    let home = env.gnupg_home("g", &["bob.pub.asc"], false);
    let p = packets(&home, &enc_payloads(&stdout(&out))[0]);
    assert_eq!(
        p.matches(":pubkey enc packet").count(),
        1,
        "app1 is Bob-only: {p}"
    );
    assert!(p.contains("keyid E741DB31073DB129"));

    // -s from the current directory: the tree's recipients apply when run inside it
    let out = env
        .cmd()
        .args(&keys)
        .current_dir(tree.join("production"))
        .args(["-v", "encrypt", "-s", "x", "-o", "string"])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("production/hiera-eyaml-gpg.recipients"),
        "{}",
        stderr(&out)
    );

    // --gpg-recipients-file beats discovery, --gpg-recipients beats both
    let rf = env.write("r.txt", "# only alice\n   # indented comments are comments too\nalice@example.com # trailing comment\n");
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients-file",
            rf.to_str().unwrap(),
            "-e",
            file.to_str().unwrap(),
        ],
    );
    let p = packets(&home, &enc_payloads(&stdout(ok(&out)))[0]);
    assert!(
        p.contains("keyid 357D502CA066B359") && p.matches(":pubkey").count() == 1,
        "{p}"
    );
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "puppetmaster",
            "--gpg-recipients-file",
            rf.to_str().unwrap(),
            "-e",
            file.to_str().unwrap(),
        ],
    );
    let p = packets(&home, &enc_payloads(&stdout(ok(&out)))[0]);
    assert!(
        p.contains("keyid 24ECE6A9E03148AF") && p.matches(":pubkey").count() == 1,
        "{p}"
    );
}

#[test]
fn recipient_strings_match_like_gnupg() {
    let env = Env::new();
    let keys: Vec<String> = keyring(&PUBLIC_KEYS);
    let home = env.gnupg_home("g", &["bob.pub.asc"], false);
    for (r, id) in [
        (
            "0xAA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28",
            "357D502CA066B359",
        ),
        (
            "AA05 D4CD BA88 FD4B 96D9  9CEF 21AD CF29 FD14 CC28",
            "357D502CA066B359",
        ),
        ("21ADCF29FD14CC28", "357D502CA066B359"),
        ("FD14CC28", "357D502CA066B359"),
        ("357D502CA066B359!", "357D502CA066B359"),
        ("<bob@example.com>", "E741DB31073DB129"),
        ("@example.com>", ""),
        ("=puppetmaster", "24ECE6A9E03148AF"),
        ("BOB BUILDER", "E741DB31073DB129"),
    ] {
        let out = run_with(
            &env,
            &keys,
            &["encrypt", "--gpg-recipients", r, "-s", "x", "-o", "string"],
        );
        if id.is_empty() {
            assert_eq!(out.status.code(), Some(1), "{r}");
            continue;
        }
        let p = packets(&home, &enc_payloads(&stdout(ok(&out)))[0]);
        assert!(p.contains(&format!("keyid {id}")), "{r}: {p}");
    }
    // ambiguity is an error that lists the candidates (Ruby silently takes the first)
    let out = run_with(
        &env,
        &keys,
        &["encrypt", "--gpg-recipients", "example.com", "-s", "x"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("ambiguous")
            && err.contains("AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28")
            && err.contains("617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1"),
        "{err}"
    );
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "nobody@example.com",
            "-s",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No key found on keyring for nobody@example.com"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_values_are_all_reported_with_their_lines() {
    let env = Env::new();
    let keys = keyring(&["bob.sec.asc"]);
    let good = std::fs::read_to_string(hieradata("development/app1/app1.eyaml")).unwrap();
    let good_token = format!("ENC[GPG,{}]", enc_payloads(&good)[0]);
    let truncated = format!("ENC[GPG,{}]", &enc_payloads(&good)[0][..120]);
    let literal_only = {
        // a literal data packet: OpenPGP, but not encrypted
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([0xcb, 0x07, b'b', 0x00, 0, 0, 0, 0, b'x'])
    };
    let text = format!(
        "---\nok: {good_token}\nbad_b64: ENC[GPG,####]\nnot_pgp: ENC[GPG,aGVsbG8gd29ybGQ=]\ntruncated: {truncated}\nfoo: ENC[FOO,aGVsbG8=]\nliteral: ENC[GPG,{literal_only}]\npkcs7: ENC[PKCS7,aGVsbG8=]\n"
    );
    let file = env.write("bad.eyaml", &text);
    let out = run_with(&env, &keys, &["decrypt", "-e", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let err = stderr(&out);
    // `ENC[GPG,####]` is not a token at all (hiera-eyaml's regex), so it stays plain text
    assert!(!err.contains("bad.eyaml:3:"), "{err}");
    assert!(
        err.contains("bad.eyaml:4:10: not an OpenPGP message"),
        "{err}"
    );
    assert!(
        err.contains("bad.eyaml:5:12: truncated or malformed OpenPGP message"),
        "{err}"
    );
    assert!(
        err.contains("bad.eyaml:6:6: unknown encryption scheme \"FOO\""),
        "{err}"
    );
    assert!(
        err.contains("bad.eyaml:7:10: the OpenPGP message is not encrypted"),
        "{err}"
    );
    assert!(
        err.contains("bad.eyaml:8:8: not a valid PKCS7 value"),
        "{err}"
    );
    let badb64 = env.write("b64.eyaml", "x: ENC[GPG,abc]\n");
    let out = run_with(&env, &keys, &["decrypt", "-e", badb64.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("b64.eyaml:1:4: invalid base64"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn paths_and_text_that_cannot_be_read() {
    let env = Env::new();
    let keys = keyring(&["bob.sec.asc"]);
    let out = run_with(&env, &keys, &["decrypt", "-e", "missing.eyaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("missing.eyaml: No such file or directory"),
        "{}",
        stderr(&out)
    );
    std::fs::create_dir(env.join("adir")).unwrap();
    let out = run_with(&env, &keys, &["decrypt", "-e", "adir"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("adir: is a directory"),
        "{}",
        stderr(&out)
    );
    env.write("latin1.eyaml", b"a: caf\xe9\n");
    let out = run_with(&env, &keys, &["decrypt", "-e", "latin1.eyaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("latin1.eyaml: not valid UTF-8 text (byte offset 6)"),
        "{}",
        stderr(&out)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let f = env.write("locked.eyaml", "a: b\n");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&f).is_err() {
            let out = run_with(&env, &keys, &["decrypt", "-e", "locked.eyaml"]);
            assert_eq!(out.status.code(), Some(1));
            assert!(
                stderr(&out).contains("locked.eyaml: Permission denied"),
                "{}",
                stderr(&out)
            );
        }
        let rf = env.write("r.recipients", "bob@example.com\n");
        std::fs::set_permissions(&rf, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::read(&rf).is_err() {
            let out = run_with(
                &env,
                &keys,
                &[
                    "encrypt",
                    "--gpg-recipients-file",
                    "r.recipients",
                    "-s",
                    "x",
                ],
            );
            assert_eq!(out.status.code(), Some(1));
            assert!(
                stderr(&out).contains("r.recipients: Permission denied"),
                "{}",
                stderr(&out)
            );
        }
    }
    let out = run_with(
        &env,
        &keys,
        &["encrypt", "--gpg-keyring", "nope.asc", "-s", "x"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing keyring is an environment error"
    );
    assert!(stderr(&out).contains("nope.asc: keyring does not exist"));
    let junk = env.write("junk.asc", "not a key");
    let out = run_with(
        &env,
        &[],
        &[
            "encrypt",
            "--gpg-keyring",
            junk.to_str().unwrap(),
            "-s",
            "x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("junk.asc:"), "{}", stderr(&out));
}

#[test]
fn recipients_problems() {
    let env = Env::new();
    let keys = keyring(&["bob.pub.asc"]);
    let out = run_with(&env, &keys, &["encrypt", "-s", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No recipients provided, don't know who to encrypt to"));
    env.write("hiera-eyaml-gpg.recipients", "# nothing but comments\n\n");
    let out = run_with(&env, &keys, &["encrypt", "-s", "x"]);
    assert!(
        stderr(&out).contains("No recipients provided"),
        "{}",
        stderr(&out)
    );
    env.write(
        "hiera-eyaml-gpg.recipients",
        "bob@example.com\nnobody@example.com\n",
    );
    let out = run_with(&env, &keys, &["encrypt", "-s", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No key found on keyring for nobody@example.com"));
    assert!(out.stdout.is_empty());
}

#[test]
fn sources_and_methods_are_checked() {
    let env = Env::new();
    let out = env.run(&["decrypt"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("You must specify a source"));
    let out = env.run(&["encrypt", "-s", "x", "-f", "y"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("You can only specify one of (string, file)"),
        "{}",
        stderr(&out)
    );
    let out = env.run(&["encrypt", "-n", "pkcs7", "-s", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out)
        .contains("cannot read the PKCS7 public key ./keys/public_key.pkcs7.pem: No such file"));
    let out = env.run(&["encrypt", "-o", "bogus", "-s", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let out = env.run(&["version"]);
    ok(&out);
    assert!(stdout(&out).starts_with("eyaml-gpg "));
}

#[test]
fn enc_without_scheme_uses_the_method() {
    let env = Env::new();
    let keys = keyring(&["bob.sec.asc"]);
    let good = std::fs::read_to_string(hieradata("development/app1/app1.eyaml")).unwrap();
    let token = format!("ENC[{}]", enc_payloads(&good)[0]);
    let out = run_with(&env, &keys, &["decrypt", "-n", "GPG", "-s", &token]);
    ok(&out);
    assert_eq!(out.stdout, b"dev-db-pass");
    let out = run_with(
        &env,
        &keys,
        &[
            "decrypt",
            "-s",
            &format!("ENC[gpg,{}]", enc_payloads(&good)[0]),
        ],
    );
    ok(&out);
    assert_eq!(
        out.stdout, b"dev-db-pass",
        "scheme tags are case-insensitive"
    );
}

#[test]
fn dec_values_with_a_closing_marker_inside_are_not_truncated() {
    let env = Env::new();
    let keys = keyring(&["bob.pub.asc"]);
    let file = env.write("t.eyaml", "a: DEC::GPG[abc]!def]!\nb: plain\n");
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "-e",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("t.eyaml:1:4:") && stderr(&out).contains("cannot contain `]!`"),
        "{}",
        stderr(&out)
    );
    assert!(out.stdout.is_empty());
    // an empty value is a value: the text after it is not swallowed
    let file = env.write(
        "e.eyaml",
        "empty: DEC::GPG[]!\nafter: plain text\nlast: DEC::GPG[last]!\n",
    );
    let keys = keyring(&["bob.sec.asc"]);
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "-e",
            file.to_str().unwrap(),
        ],
    );
    let enc = stdout(ok(&out));
    assert!(enc.contains("\nafter: plain text\n"), "{enc}");
    assert_eq!(enc_payloads(&enc).len(), 2);
    let f2 = env.write("e2.eyaml", &enc);
    let out = run_with(&env, &keys, &["decrypt", "-e", f2.to_str().unwrap()]);
    assert_eq!(
        stdout(ok(&out)),
        "empty: DEC::GPG[]!\nafter: plain text\nlast: DEC::GPG[last]!\n"
    );
}

#[test]
fn config_files_are_read_and_flags_win() {
    let env = Env::new();
    let cfg = env.write(
        "cfg.yaml",
        format!(
            "---\ngpg_keyring:\n  - {}\n  - {}\ngpg_recipients: alice@example.com\nencrypt_method: gpg\n",
            key("alice.pub.asc").display(),
            key("bob.sec.asc").display()
        ),
    );
    let home = env.gnupg_home("g", &["bob.pub.asc"], false);
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &cfg)
        .args(["encrypt", "-s", "x", "-o", "string"])
        .output()
        .unwrap();
    let p = packets(&home, &enc_payloads(&stdout(ok(&out)))[0]);
    assert!(
        p.contains("keyid 357D502CA066B359"),
        "config recipients used: {p}"
    );
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &cfg)
        .args([
            "encrypt",
            "--gpg-recipients",
            "bob@example.com",
            "-s",
            "x",
            "-o",
            "string",
        ])
        .output()
        .unwrap();
    let p = packets(&home, &enc_payloads(&stdout(ok(&out)))[0]);
    assert!(
        p.contains("keyid E741DB31073DB129") && !p.contains("357D502CA066B359"),
        "flag wins: {p}"
    );
    // ~/.eyaml/config.yaml is read too, EYAML_CONFIG overrides it
    env.write(".eyaml/config.yaml", "encrypt_method: pkcs7\n");
    let out = env.cmd().args(["encrypt", "-s", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &cfg)
        .args(["encrypt", "-s", "x", "-o", "string"])
        .output()
        .unwrap();
    ok(&out);
    let bad = env.write("bad.yaml", "gpg_recipients: [unclosed\n");
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &bad)
        .args(["encrypt", "-s", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.yaml: invalid config file"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("[unclosed"),
        "no source excerpt: {}",
        stderr(&out)
    );
    // EYAML_GPG_KEYRING, a `:`-separated list
    let list = format!(
        "{}:{}",
        key("alice.pub.asc").display(),
        key("bob.pub.asc").display()
    );
    let out = env
        .cmd()
        .env("EYAML_GPG_KEYRING", list)
        .args([
            "encrypt",
            "-n",
            "gpg",
            "--gpg-recipients",
            "alice@example.com,bob@example.com",
            "-s",
            "x",
            "-o",
            "string",
        ])
        .output()
        .unwrap();
    ok(&out);
}

#[test]
fn protected_key_in_a_keyring_needs_a_terminal() {
    let env = Env::new();
    let keys = vec![
        "--gpg-keyring".to_string(),
        fixtures()
            .join("keys/carol-protected.sec.asc")
            .display()
            .to_string(),
    ];
    let out = run_with(
        &env,
        &keys,
        &[
            "encrypt",
            "--gpg-recipients",
            "carol@example.com",
            "-s",
            "top secret",
            "-o",
            "string",
        ],
    );
    let token = stdout(ok(&out));
    let out = run_with(&env, &keys, &["decrypt", "-s", &token]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("protected by a passphrase and there is no terminal"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("top secret"));
}

#[test]
fn protected_key_prompts_once_on_the_terminal() {
    if !require(&["script"]) {
        return;
    }
    let env = Env::new();
    let keyring = fixtures().join("keys/carol-protected.sec.asc");
    let mut text = String::from("---\n");
    for i in 0..20 {
        text.push_str(&format!("k{i}: DEC::GPG[value {i}]!\n"));
    }
    let file = env.write("many.eyaml", &text);
    let out = env.run(&[
        "--gpg-keyring",
        keyring.to_str().unwrap(),
        "encrypt",
        "--gpg-recipients",
        "carol@example.com",
        "-e",
        file.to_str().unwrap(),
    ]);
    let enc = env.write("many.enc.eyaml", stdout(ok(&out)));
    let inner = format!(
        "{BIN} --gpg-keyring {} decrypt -e {} > {}",
        keyring.display(),
        enc.display(),
        env.join("out.txt").display()
    );
    // `script` gives the command a terminal; the passphrase is typed on it
    let mut child = env
        .command("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        stdin.write_all(b"carol-passphrase\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let screen = stdout(&out);
    assert_eq!(
        screen.matches("Passphrase for").count(),
        1,
        "one prompt for 20 values: {screen}"
    );
    assert!(
        !screen.contains("carol-passphrase"),
        "the passphrase is not echoed"
    );
    assert_eq!(std::fs::read_to_string(env.join("out.txt")).unwrap(), text);
}
