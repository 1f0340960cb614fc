//! The PKCS7 scheme through the real binary, against the real Ruby `eyaml` 3.3 (PKCS7 built
//! in) and `openssl cms`, both ways: values, keys, mixed PKCS7 + GPG files, and bad input.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::{self as common, key, ok, reference, stderr, stdout, Env};

/// Whether a real component is installed; without it a test skips, except under CI=true.
pub(crate) fn have(tool: &str) -> bool {
    crate::harness::require(&[tool])
}

/// Ruby `eyaml` run in the test's temp home and working directory.
pub(crate) fn ruby(env: &Env, args: &[&str]) -> Output {
    Command::new("eyaml")
        .current_dir(env.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.path())
        .env("LC_ALL", "C.UTF-8")
        .args(args)
        .output()
        .expect("run eyaml")
}

pub(crate) fn ruby_ok(env: &Env, args: &[&str]) -> String {
    let o = ruby(env, args);
    assert!(o.status.success(), "eyaml {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// A 10 KB multi-line plaintext with non-ASCII text.
fn big_plaintext() -> String {
    (0..200)
        .map(|i| format!("line {i:04} ünïcödé ✓ {}\n", "x".repeat(20)))
        .collect()
}

#[test]
fn ruby_values_decrypt_byte_for_byte() {
    if !have("eyaml") {
        return;
    }
    let env = Env::new();
    ruby_ok(&env, &["createkeys"]);
    let cases = [
        "plain".to_string(),
        String::new(),
        "grüße ✓ 日本".to_string(),
        "two\nlines\n".to_string(),
        big_plaintext(),
    ];
    for (i, plain) in cases.iter().enumerate() {
        let file = env.write(&format!("plain{i}.txt"), plain);
        let value = ruby_ok(
            &env,
            &["encrypt", "-o", "string", "-f", file.to_str().unwrap()],
        );
        let out = ok(&env.run(&["decrypt", "-s", value.trim()]))
            .stdout
            .clone();
        assert_eq!(out, plain.as_bytes(), "case {i}");
        // Scheme-less ENC[…] is read with -n pkcs7.
        let bare = value.trim().replace("ENC[PKCS7,", "ENC[");
        let out = ok(&env.run(&["decrypt", "-n", "pkcs7", "-s", &bare]))
            .stdout
            .clone();
        assert_eq!(out, plain.as_bytes(), "case {i} without a scheme");
    }
    // Block form, in an eyaml file, to edit form.
    let block = ruby_ok(&env, &["encrypt", "-o", "block", "-s", "blocky"]);
    // eyaml prints the block indented by two spaces.
    let f = env.write("b.eyaml", format!("---\nkey: >\n{block}"));
    let out = stdout(ok(&env.run(&["decrypt", "-e", f.to_str().unwrap()])));
    assert!(out.contains("key: >\n  DEC::PKCS7[blocky]!"), "{out}");
}

#[test]
fn our_values_and_keys_work_with_ruby_and_openssl() {
    if !have("eyaml") || !have("openssl") {
        return;
    }
    let env = Env::new();
    ok(&env.run(&[
        "createkeys",
        "-n",
        "pkcs7",
        "--pkcs7-subject",
        "/O=Example/CN=eyaml",
    ]));
    let private = env.join("keys/private_key.pkcs7.pem");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pem = std::fs::read_to_string(&private).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
    let cert = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-issuer", "-in"])
        .arg(env.join("keys/public_key.pkcs7.pem"))
        .output()
        .unwrap();
    let cert = stdout(&cert);
    assert!(cert.contains("issuer=O = Example, CN = eyaml"), "{cert}");

    for plain in ["from rust", "", "grüße\nzwei Zeilen\n", &big_plaintext()] {
        let value = stdout(ok(
            &env.run(&["encrypt", "-n", "pkcs7", "-o", "string", "-s", plain])
        ));
        let back = ruby_ok(&env, &["decrypt", "-s", value.trim()]);
        // eyaml 3.3 prints with `puts` (a newline unless there is one); openssl is exact.
        assert_eq!(back.trim_end_matches('\n'), plain.trim_end_matches('\n'));
        let der = common::b64decode(&value.trim()["ENC[PKCS7,".len()..value.trim().len() - 1]);
        let dfile = env.write("v.der", der);
        let o = Command::new("openssl")
            .args(["cms", "-decrypt", "-inform", "DER", "-in"])
            .arg(&dfile)
            .arg("-inkey")
            .arg(&private)
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl cms: {}", stderr(&o));
        assert_eq!(o.stdout, plain.as_bytes());
    }
    // Ruby encrypts to our certificate; we decrypt.
    let value = ruby_ok(&env, &["encrypt", "-o", "string", "-s", "ruby to us"]);
    assert_eq!(
        stdout(ok(&env.run(&["decrypt", "-s", value.trim()]))),
        "ruby to us"
    );
}

#[test]
fn keys_from_environment_variables() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let private = std::fs::read_to_string(env.join("keys/private_key.pkcs7.pem")).unwrap();
    let public = std::fs::read_to_string(env.join("keys/public_key.pkcs7.pem")).unwrap();
    let value = stdout(ok(
        &env.run(&["encrypt", "-n", "pkcs7", "-o", "string", "-s", "env"])
    ));
    std::fs::remove_dir_all(env.join("keys")).unwrap();
    let out = env
        .cmd()
        .env("P7_PRIV", format!("some text before\n{private}after\n"))
        .args([
            "decrypt",
            "--pkcs7-private-key-env-var",
            "P7_PRIV",
            "-s",
            value.trim(),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), "env");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&private);
    let out = env
        .cmd()
        .env("P7_B64", b64)
        .args([
            "decrypt",
            "--pkcs7-b64-private-key-env-var",
            "P7_B64",
            "-s",
            value.trim(),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), "env");
    // The public key from a variable, for encryption; config file keys use `_`.
    let cfg = env.write(
        "config.yaml",
        "---\nencrypt_method: pkcs7\npkcs7_public_key_env_var: P7_PUB\n",
    );
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &cfg)
        .env("P7_PUB", &public)
        .args(["encrypt", "-o", "string", "-s", "x"])
        .output()
        .unwrap();
    assert!(stdout(ok(&out)).starts_with("ENC[PKCS7,"));
    // A named variable that is unset: said, and the default file is missing too.
    let out = env.run(&[
        "decrypt",
        "--pkcs7-private-key-env-var",
        "NOT_SET",
        "-s",
        value.trim(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("environment variable NOT_SET is not set"),
        "{err}"
    );
    assert!(!err.contains("BEGIN"), "{err}");
}

#[test]
fn mixed_gpg_and_pkcs7_file_through_decrypt_encrypt_and_textconv() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let p7 =
        stdout(ok(&env.run(&[
            "encrypt", "-n", "pkcs7", "-o", "string", "-s", "seven",
        ])));
    let gpg_file = reference().join("hieradata/development/app1/app1.eyaml");
    let mut text = std::fs::read_to_string(&gpg_file).unwrap();
    text.push_str(&format!("p7::secret: {}\n", p7.trim()));
    let f = env.write("mixed.eyaml", &text);
    let bob = key("bob.sec.asc");
    let args = ["--gpg-keyring", bob.to_str().unwrap()];
    let dec = stdout(ok(&env
        .cmd()
        .args(args)
        .args(["decrypt", "-e", f.to_str().unwrap()])
        .output()
        .unwrap()));
    assert!(
        dec.contains("app1::db_password: DEC::GPG[dev-db-pass]!"),
        "{dec}"
    );
    assert!(dec.contains("p7::secret: DEC::PKCS7[seven]!"), "{dec}");
    // A new PKCS7 value in edit form needs no OpenPGP recipient.
    let dec_file = env.write("new.eyaml", "a: DEC::PKCS7[fresh]!\nb: plain\n");
    let enc = stdout(ok(&env.run(&["encrypt", "-e", dec_file.to_str().unwrap()])));
    assert!(
        enc.starts_with("a: ENC[PKCS7,") && enc.ends_with("b: plain\n"),
        "{enc}"
    );
    let back = env.write("back.eyaml", &enc);
    let dec = stdout(ok(&env.run(&["decrypt", "-e", back.to_str().unwrap()])));
    assert_eq!(dec, "a: DEC::PKCS7[fresh]!\nb: plain\n");
    // textconv shows what the keys at hand open, the rest stays ENC.
    let tc = stdout(ok(&env.run(&["textconv", f.to_str().unwrap()])));
    assert!(tc.contains("p7::secret: DEC::PKCS7[seven]!"), "{tc}");
    assert!(tc.contains("app1::db_password: ENC[GPG,"), "{tc}");
    // lookup decrypts a PKCS7 value with the keys of the working directory.
    let out = env
        .cmd()
        .args(args)
        .args(["lookup", "p7::secret", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)).trim(), "--- seven");
}

#[test]
fn bad_pkcs7_input_is_refused_clearly() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let value = stdout(ok(
        &env.run(&["encrypt", "-n", "pkcs7", "-o", "string", "-s", "x"])
    ));
    let value = value.trim();
    let payload = &value["ENC[PKCS7,".len()..value.len() - 1];
    let der = common::b64decode(payload);
    use base64::Engine as _;
    let enc = |bytes: &[u8]| {
        format!(
            "ENC[PKCS7,{}]",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    };
    let fails = |args: &[&str], code: i32, needle: &str| {
        let o = env.run(args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(needle), "{args:?}: {err}");
        err
    };
    fails(
        &["decrypt", "-s", "ENC[PKCS7,aGVsbG8=]"],
        1,
        "not a valid PKCS7 value: not DER",
    );
    fails(
        &["decrypt", "-s", &enc(&der[..der.len() - 20])],
        1,
        "not a valid PKCS7 value",
    );
    let mut long = der.clone();
    long.extend_from_slice(&[0; 16]);
    fails(
        &["decrypt", "-s", &enc(&long)],
        1,
        "not a valid PKCS7 value",
    );
    // Inside a file the error names the file and line.
    let f = env.write("bad.eyaml", "---\nok: 1\nbad: ENC[PKCS7,aGVsbG8=]\n");
    fails(&["decrypt", "-e", f.to_str().unwrap()], 1, "bad.eyaml:3:");
    // Keys: missing file, a certificate instead of a key, the wrong key.
    fails(
        &["decrypt", "--pkcs7-private-key", "nope.pem", "-s", value],
        2,
        "cannot read the PKCS7 private key nope.pem: No such file or directory",
    );
    fails(
        &[
            "decrypt",
            "--pkcs7-private-key",
            "keys/public_key.pkcs7.pem",
            "-s",
            value,
        ],
        2,
        "holds a certificate, not a private key",
    );
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
    fails(
        &[
            "decrypt",
            "--pkcs7-private-key",
            other_key.to_str().unwrap(),
            "-s",
            value,
        ],
        1,
        "wrong PKCS7 private key",
    );
    let err = fails(
        &[
            "decrypt",
            "--pkcs7-private-key",
            other_key.to_str().unwrap(),
            "-s",
            value,
        ],
        1,
        "issuer CN=eyaml, serial ",
    );
    assert!(!err.contains("BEGIN"), "{err}");
}

#[test]
fn createkeys_refuses_to_overwrite_and_points_gpg_users_elsewhere() {
    let env = Env::new();
    ok(&env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]));
    let before = std::fs::read(env.join("keys/private_key.pkcs7.pem")).unwrap();
    let o = env.run(&["createkeys", "-n", "pkcs7", "--pkcs7-keysize", "1024"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(env.join("keys/private_key.pkcs7.pem")).unwrap(),
        before
    );
    let o = env.run(&["createkeys"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("gpg --batch"), "{}", stderr(&o));
    let o = env.run(&[
        "createkeys",
        "-n",
        "pkcs7",
        "--pkcs7-subject",
        "/",
        "--pkcs7-private-key",
        "k/a.pem",
        "--pkcs7-public-key",
        "k/b.pem",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("Bouncy Castle"), "{}", stderr(&o));
    assert!(!Path::new(&env.join("k/a.pem")).exists());
}

/// Certificates and keys eyaml accepts besides its own 3.x ones: an eyaml 4/5-style v1
/// certificate with serial 0 and an empty issuer over a PKCS#8 key, and an `openssl req -x509`
/// certificate with a real issuer; a PEM key with text around it. Values we encrypt to each
/// decrypt with `openssl cms`, and with us from the private key alone.
#[test]
fn v1_serial_zero_and_openssl_req_certificates_and_pkcs8_keys() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let openssl = |args: &[&str]| {
        let o = Command::new("openssl")
            .current_dir(env.path())
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "openssl {args:?}: {}", stderr(&o));
        o
    };
    // eyaml 4/5 style: v1, serial 0, empty subject and issuer, PKCS#8 key.
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "v1.key",
    ]);
    openssl(&[
        "req", "-new", "-key", "v1.key", "-subj", "/", "-out", "v1.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "v1.csr",
        "-signkey",
        "v1.key",
        "-set_serial",
        "0",
        "-days",
        "3650",
        "-out",
        "v1.crt",
    ]);
    let text = stdout(&openssl(&["x509", "-in", "v1.crt", "-noout", "-text"]));
    assert!(text.contains("Version: 1 (0x0)"), "{text}");
    assert!(text.contains("Serial Number: 0 (0x0)"), "{text}");
    // openssl req -x509: a real issuer.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "req.key",
        "-subj",
        "/CN=puppet.example.com/O=Example",
        "-days",
        "30",
        "-out",
        "req.crt",
    ]);
    let pem = std::fs::read_to_string(env.join("v1.key")).unwrap();
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8: {pem}"
    );
    env.write(
        "v1-text.key",
        format!("a note before the key\n{pem}and after\n"),
    );

    for (cert, key, keys) in [
        ("v1.crt", "v1.key", ["v1.key", "v1-text.key"]),
        ("req.crt", "req.key", ["req.key", "req.key"]),
    ] {
        let plain = format!("to {cert}");
        let value = stdout(ok(&env.run(&[
            "encrypt",
            "-n",
            "pkcs7",
            "--pkcs7-public-key",
            cert,
            "-o",
            "string",
            "-s",
            &plain,
        ])));
        let value = value.trim();
        let der = common::b64decode(&value["ENC[PKCS7,".len()..value.len() - 1]);
        env.write("v.der", der);
        let o = openssl(&[
            "cms", "-decrypt", "-inform", "DER", "-in", "v.der", "-inkey", key,
        ]);
        assert_eq!(o.stdout, plain.as_bytes(), "openssl cms, {cert}");
        for k in keys {
            let back = env.run(&["decrypt", "--pkcs7-private-key", k, "-s", value]);
            assert_eq!(stdout(ok(&back)), plain, "{k}");
        }
        // Another key is refused, naming the recipient the value is for.
        let wrong = if key == "v1.key" { "req.key" } else { "v1.key" };
        let o = env.run(&["decrypt", "--pkcs7-private-key", wrong, "-s", value]);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("serial"), "{}", stderr(&o));
    }
}
