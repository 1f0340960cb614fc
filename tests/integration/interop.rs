//! The interop matrix (issue 17): messages written by gpg 2.2, gpg 1.4, rnp and Sequoia to
//! every key type (fixtures/interop, made once by its make.sh), decrypted by the binary
//! through key files and through a GnuPG home with gpg-agent, compared with the known
//! plaintext; the regression tests of defects 7-10; and a few live tests that run gpg1, rnp,
//! sq and gpg now, in both directions.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::*;

fn interop() -> PathBuf {
    fixtures().join("interop")
}

/// The messages of the MANIFEST: (name, key).
fn manifest() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(interop().join("MANIFEST")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

fn message(name: &str) -> Vec<u8> {
    std::fs::read(interop().join("msg").join(format!("{name}.gpg"))).unwrap()
}

fn plaintext(name: &str) -> String {
    std::fs::read_to_string(interop().join("msg").join(format!("{name}.txt"))).unwrap()
}

fn token(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "ENC[GPG,{}]",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn keyfile(name: &str) -> PathBuf {
    interop().join("keys").join(format!("{name}.sec.asc"))
}

fn pubfile(name: &str) -> PathBuf {
    interop().join("keys").join(format!("{name}.pub.asc"))
}

/// Messages no key can read here, by design: refused with their own message.
const REFUSED: [&str; 4] = ["g1-pgp6", "g2-symmetric", "rnp-eax", "rnp-ocb"];
/// Key types the in-process backend lacks: only the agent reads them.
const AGENT_ONLY: [&str; 2] = ["elg", "brainpool"];

/// An eyaml file with one value per message (`k_<name>: ENC[…]`).
fn eyaml_of(env: &Env, file: &str, names: &[&str]) -> PathBuf {
    let body: String = names
        .iter()
        .map(|n| format!("k_{}: {}\n", n.replace('-', "_"), token(&message(n))))
        .collect();
    env.write(file, body)
}

/// Checks `decrypt -e` output: each value came back as its plaintext.
fn assert_plaintexts(out: &Output, names: &[&str]) {
    ok(out);
    let text = stdout(out);
    for n in names {
        let want = format!("k_{}: DEC::GPG[{}]!", n.replace('-', "_"), plaintext(n));
        assert!(text.contains(&want), "{n}: expected {want:?} in\n{text}");
    }
}

/// A GnuPG home holding every interop key (secret and public).
fn interop_home(env: &Env, name: &str, keys: &[&str]) -> PathBuf {
    let home = env.join(name);
    std::fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    let mut c = gpg(&home);
    c.arg("--import");
    for k in keys {
        c.arg(keyfile(k));
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    home
}

const ALL_KEYS: [&str; 10] = [
    "rsa2048",
    "rsa3072",
    "rsa4096",
    "cv25519",
    "nistp256",
    "nistp384",
    "nistp521",
    "brainpool",
    "elg",
    "multi",
];

fn readable_in_process() -> Vec<String> {
    manifest()
        .into_iter()
        .filter(|(n, k)| !REFUSED.contains(&n.as_str()) && !AGENT_ONLY.contains(&k.as_str()))
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn matrix_through_key_files() {
    let env = Env::new();
    let names = readable_in_process();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(names.len() >= 40, "{names:?}");
    let file = eyaml_of(&env, "all.eyaml", &names);
    let out = env
        .cmd()
        .args(["decrypt", "--gpg-keyring"])
        .arg(interop().join("keys"))
        .arg("-e")
        .arg(&file)
        .output()
        .unwrap();
    assert_plaintexts(&out, &names);
    // g2-partial has partial body lengths: after its PKESK, a new-format SEIPD header (tag
    // 18) whose first length octet is 224-254.
    let m = message("g2-partial");
    let after_pkesk = match m[0] {
        0x84 => 2 + m[1] as usize,
        0x85 => 3 + u16::from_be_bytes([m[1], m[2]]) as usize,
        0xc1 if m[1] < 192 => 2 + m[1] as usize,
        b => panic!("unexpected first packet header {b:#x}"),
    };
    assert_eq!(m[after_pkesk], 0xd2, "SEIPD, new format");
    assert!(
        (224..=254).contains(&m[after_pkesk + 1]),
        "partial length octet"
    );
}

#[test]
fn matrix_through_a_gnupg_home() {
    let env = Env::new();
    let home = interop_home(&env, "gnupg", &ALL_KEYS);
    let names: Vec<String> = manifest()
        .into_iter()
        .filter(|(n, _)| !REFUSED[..2].contains(&n.as_str()))
        .map(|(n, _)| n)
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let file = eyaml_of(&env, "all.eyaml", &names);
    let out = env
        .cmd()
        .env("GNUPGHOME", &home)
        .arg("decrypt")
        .arg("-e")
        .arg(&file)
        .output()
        .unwrap();
    assert_plaintexts(&out, &names);
}

/// Runs `decrypt -s` of one message with the given key files.
fn decrypt_one(env: &Env, name: &str, keys: &[&str]) -> Output {
    let mut c = env.cmd();
    c.arg("decrypt");
    for k in keys {
        c.arg("--gpg-keyring").arg(keyfile(k));
    }
    c.args(["-s", &token(&message(name))]).output().unwrap()
}

#[test]
fn regression_hidden_recipients_through_gpg_agent() {
    let env = Env::new();
    // Several keys of the same algorithm, so the right one has to be found among them.
    let home = interop_home(
        &env,
        "gnupg",
        &["rsa3072", "rsa2048", "nistp256", "cv25519"],
    );
    let names = ["g2-hidden", "g2-hidden-rsa", "g1-hidden"];
    let file = eyaml_of(&env, "hidden.eyaml", &names);
    let out = env
        .cmd()
        .env("GNUPGHOME", &home)
        .args(["decrypt", "-e"])
        .arg(&file)
        .output()
        .unwrap();
    assert_plaintexts(&out, &names);
    // The same values with key files (worked before; must keep working).
    let out = env
        .cmd()
        .args(["decrypt", "--gpg-keyring"])
        .arg(keyfile("rsa3072"))
        .arg("--gpg-keyring")
        .arg(keyfile("rsa2048"))
        .arg("--gpg-keyring")
        .arg(keyfile("cv25519"))
        .arg("-e")
        .arg(&file)
        .output()
        .unwrap();
    assert_plaintexts(&out, &names);
}

#[test]
fn regression_legacy_ciphers_refused() {
    let env = Env::new();
    let names = [
        "g2-cast5",
        "g2-3des",
        "g2-idea",
        "g2-blowfish",
        "g1-cast5",
        "g1-3des",
        "g1-idea",
        "g1-blowfish",
        "rnp-cast5",
    ];
    let file = eyaml_of(&env, "legacy.eyaml", &names);
    let out = env
        .cmd()
        .args(["decrypt", "--gpg-keyring"])
        .arg(keyfile("cv25519"))
        .arg("--gpg-keyring")
        .arg(keyfile("rsa2048"))
        .arg("-e")
        .arg(&file)
        .output()
        .unwrap();
    assert_plaintexts(&out, &names);
    let err = stderr(&out);
    // One warning per algorithm and run, naming it and the command that upgrades.
    for algo in ["CAST5", "3DES", "IDEA", "Blowfish"] {
        let line = format!("legacy cipher {algo};");
        assert_eq!(err.matches(&line).count(), 1, "{algo}:\n{err}");
    }
    assert_eq!(err.matches("recrypt --all").count(), 4, "{err}");
    // `-q` silences the warning, not the value.
    let out = env
        .cmd()
        .args(["decrypt", "-q", "--gpg-keyring"])
        .arg(keyfile("cv25519"))
        .args(["-s", &token(&message("g2-cast5"))])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), "g2-cast5\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn regression_blowfish_no_secret_key() {
    let env = Env::new();
    for (name, key) in [("g2-blowfish", "cv25519"), ("g1-blowfish", "rsa2048")] {
        let out = decrypt_one(&env, name, &[key]);
        assert_eq!(stdout(ok(&out)), plaintext(name), "{name}");
        assert!(!stderr(&out).contains("No secret key"), "{}", stderr(&out));
    }
    // A tampered Blowfish message is refused by its MDC, never returned.
    let mut bytes = message("g1-blowfish");
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    let out = env
        .cmd()
        .arg("decrypt")
        .arg("--gpg-keyring")
        .arg(keyfile("rsa2048"))
        .args(["-s", &token(&bytes)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

/// Brainpool curves are in the OpenSSL backend (in process there), not in the pure-Rust one.
const BRAINPOOL_IN_PROCESS: bool = cfg!(feature = "crypto-openssl");

#[test]
fn regression_elgamal_brainpool_not_supported_in_process() {
    let env = Env::new();
    for (name, key, algo) in [
        ("g2-elg", "elg", "elg2048"),
        ("g1-elg", "elg", "elg2048"),
        ("g2-brainpool", "brainpool", "brainpoolP256r1"),
    ] {
        let out = decrypt_one(&env, name, &[key]);
        if algo.starts_with("brainpool") && BRAINPOOL_IN_PROCESS {
            assert_eq!(stdout(ok(&out)), plaintext(name), "{name}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        assert!(
            err.contains("algorithm not supported in process") && err.contains(algo),
            "{name}: {err}"
        );
        assert!(!err.contains("No secret key"), "{err}");
    }
    // Encrypting to them goes through gpg, one message for every recipient, said under -v.
    let out = env
        .cmd()
        .args(["encrypt", "-v", "-o", "string"])
        .args([
            "--gpg-recipients",
            "elg@interop.example,brainpool@interop.example,cv25519@interop.example",
        ])
        .arg("--gpg-keyring")
        .arg(pubfile("elg"))
        .arg("--gpg-keyring")
        .arg(pubfile("brainpool"))
        .arg("--gpg-keyring")
        .arg(pubfile("cv25519"))
        .args(["-s", "to-old-keys"])
        .output()
        .unwrap();
    let err = stderr(ok(&out));
    assert!(
        err.contains("encrypting through gpg")
            && err.contains("elg2048")
            && err.contains("brainpoolP256r1") != BRAINPOOL_IN_PROCESS
            && err.contains("algorithm not supported in process"),
        "{err}"
    );
    assert!(!err.contains("no usable encryption subkey"), "{err}");
    let value = stdout(&out);
    let payload = &enc_payloads(&value)[0];
    assert_eq!(recipient_ids(payload).len(), 3, "{value}");
    // Each recipient reads it: ElGamal and brainpool through the agent, cv25519 in process.
    let home = interop_home(&env, "gnupg", &["elg", "brainpool"]);
    for hidden_key in ["elg", "brainpool"] {
        let only = env.join(hidden_key);
        std::fs::create_dir_all(&only).unwrap();
        set_mode(&only, 0o700);
        ok(&gpg(&only)
            .arg("--import")
            .arg(keyfile(hidden_key))
            .output()
            .unwrap());
        let out = env
            .cmd()
            .env("GNUPGHOME", &only)
            .args(["decrypt", "-s", value.trim()])
            .output()
            .unwrap();
        assert_eq!(stdout(ok(&out)), "to-old-keys", "{hidden_key}");
    }
    let out = env
        .cmd()
        .args(["decrypt", "--gpg-keyring"])
        .arg(keyfile("cv25519"))
        .args(["-s", value.trim()])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), "to-old-keys");
    // gpg itself reads it.
    let mut child = gpg(&home)
        .arg("--decrypt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&b64decode(payload))
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(stdout(ok(&out)), "to-old-keys");
}

#[test]
fn regression_brainpool_agent_fifth_value() {
    // The agent's keys are exported for in-process use after four values; a brainpool key
    // was exported too and every later value failed ("session key does not check out").
    let env = Env::new();
    let home = interop_home(&env, "gnupg", &["brainpool", "elg"]);
    let mut body = String::new();
    for i in 0..9 {
        body += &format!("b{i}: {}\n", token(&message("g2-brainpool")));
        body += &format!("e{i}: {}\n", token(&message("g2-elg")));
    }
    let file = env.write("many.eyaml", body);
    let out = env
        .cmd()
        .env("GNUPGHOME", &home)
        .args(["decrypt", "-e"])
        .arg(&file)
        .output()
        .unwrap();
    let text = stdout(ok(&out));
    assert_eq!(
        text.matches("DEC::GPG[g2-brainpool\n]!").count(),
        9,
        "{text}"
    );
    assert_eq!(text.matches("DEC::GPG[g2-elg\n]!").count(), 9, "{text}");
}

#[test]
fn regression_aead_message_names_its_mode() {
    let env = Env::new();
    for (name, mode) in [("rnp-eax", "AEAD EAX"), ("rnp-ocb", "AEAD OCB")] {
        let out = decrypt_one(&env, name, &["cv25519"]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(
            err.contains(mode) && err.contains("tag 20"),
            "{name}: {err}"
        );
    }
    let err = stderr(&decrypt_one(&env, "rnp-eax", &["cv25519"]));
    assert!(!err.contains("OCB"), "{err}");
}

#[test]
fn regression_symmetric_only_message() {
    let env = Env::new();
    let out = decrypt_one(&env, "g2-symmetric", &["cv25519"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("symmetric-only (password) message"), "{err}");
    assert!(!err.contains("anonymous"), "{err}");
}

#[test]
fn regression_gnupg14_secring_never_migrated() {
    let env = Env::new();
    let value = token(&message("g1-rsa2048"));
    // Never touched by gpg 2: migrated on first use, as gpg does, and read at once.
    let home = env.join("g14");
    copy_dir(&interop().join("gpg1-home"), &home);
    set_mode(&home, 0o700);
    let out = env
        .cmd()
        .env("GNUPGHOME", &home)
        .args(["decrypt", "-s", &value])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), plaintext("g1-rsa2048"));
    kill_agent(&home);
    // Marked as migrated, yet the agent has none of its keys: say what to run.
    let home = env.join("g14b");
    copy_dir(&interop().join("gpg1-home"), &home);
    set_mode(&home, 0o700);
    std::fs::write(home.join(".gpg-v21-migrated"), "").unwrap();
    let out = env
        .cmd()
        .env("GNUPGHOME", &home)
        .args(["decrypt", "-s", &value])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let cmd = format!(
        "gpg --homedir {} --import {}",
        home.display(),
        home.join("secring.gpg").display()
    );
    assert!(err.contains("secring.gpg") && err.contains(&cmd), "{err}");
    assert!(!err.contains("secret keys available: none"), "{err}");
}

/// The key ids of the PKESKs of a binary message.
fn pkesk_ids_of(bytes: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    pkesk_ids(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

#[test]
fn several_encryption_subkeys_newest_valid_is_chosen() {
    let env = Env::new();
    let subs: Vec<String> = std::fs::read_to_string(interop().join("keys/multi.subkeys"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    // subs: oldest valid, expired, newest valid, revoked (the newest of all).
    assert_eq!(pkesk_ids_of(&message("g2-multi")), vec![subs[2].clone()]);
    let out = env
        .cmd()
        .args([
            "encrypt",
            "-o",
            "string",
            "--gpg-recipients",
            "multi@interop.example",
        ])
        .arg("--gpg-keyring")
        .arg(pubfile("multi"))
        .args(["-s", "x"])
        .output()
        .unwrap();
    let value = stdout(ok(&out));
    assert_eq!(pkesk_ids(&enc_payloads(&value)[0]), vec![subs[2].clone()]);
    // Messages to the old, expired and revoked subkeys stay readable.
    let names = [
        "g2-multi-oldsub",
        "g2-multi-expiredsub",
        "g2-multi-revokedsub",
    ];
    let file = eyaml_of(&env, "multi.eyaml", &names);
    let out = env
        .cmd()
        .args(["decrypt", "--gpg-keyring"])
        .arg(keyfile("multi"))
        .arg("-e")
        .arg(&file)
        .output()
        .unwrap();
    assert_plaintexts(&out, &names);
}

#[test]
fn sequoia_seipd_v2_and_pkesk_v6() {
    use openpgp::parse::Parse;
    use openpgp::policy::StandardPolicy;
    use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message, Recipient};
    use openpgp::types::Features;
    use sequoia_openpgp as openpgp;
    use std::io::Write as _;
    let env = Env::new();
    let cert = openpgp::Cert::from_file(pubfile("cv25519")).unwrap();
    let policy = StandardPolicy::new();
    let mut sink = Vec::new();
    {
        let recipients = cert
            .keys()
            .with_policy(&policy, None)
            .for_storage_encryption()
            .map(|ka| {
                Recipient::new(
                    Features::empty().set_seipdv2(),
                    ka.key().key_handle(),
                    ka.key(),
                )
            });
        let m = Message::new(&mut sink);
        let m = Encryptor::for_recipients(m, recipients).build().unwrap();
        let mut w = LiteralWriter::new(m).build().unwrap();
        w.write_all(b"seipd-v2\n").unwrap();
        w.finalize().unwrap();
    }
    // PKESK v6 (tag 1, version 6) and SEIPD v2.
    assert_eq!(sink[0] & 0x3f, 1);
    let out = env
        .cmd()
        .args(["decrypt", "--gpg-keyring"])
        .arg(keyfile("cv25519"))
        .args(["-s", &token(&sink)])
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), "seipd-v2\n");
}

/// Runs a tool with `input` on stdin.
fn pipe(mut c: Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn gpg1(home: &Path) -> Command {
    let mut c = Command::new("gpg1");
    c.arg("--homedir").arg(home).args([
        "--batch",
        "--quiet",
        "--no-tty",
        "--no-permission-warning",
    ]);
    c
}

fn rnp(home: &Path, cmd: &str) -> Command {
    let mut c = Command::new(cmd);
    c.arg("--homedir").arg(home);
    c
}

#[test]
fn live_gpg1_rnp_sq_write_and_read() {
    if !require(&["gpg1", "rnp", "rnpkeys", "sq"]) {
        return;
    }
    let env = Env::new();
    let g1 = env.join("g1");
    std::fs::create_dir_all(&g1).unwrap();
    set_mode(&g1, 0o700);
    ok(&gpg1(&g1)
        .arg("--import")
        .arg(keyfile("rsa2048"))
        .output()
        .unwrap());
    let r = env.join("rnp");
    std::fs::create_dir_all(&r).unwrap();
    set_mode(&r, 0o700);
    for k in ["rsa2048", "cv25519"] {
        ok(&rnp(&r, "rnpkeys")
            .arg("--import")
            .arg(keyfile(k))
            .output()
            .unwrap());
    }
    // They write, we read.
    let mut written = Vec::new();
    let mut c = gpg1(&g1);
    c.args([
        "--trust-model",
        "always",
        "-e",
        "-r",
        "rsa2048@interop.example",
        "--cipher-algo",
        "CAST5",
    ]);
    written.push((
        "gpg1 CAST5",
        ok(&pipe(c, b"live-gpg1\n")).stdout.clone(),
        "live-gpg1\n",
    ));
    let mut c = rnp(&r, "rnp");
    c.args(["--encrypt", "-r", "cv25519@interop.example", "--output=-"]);
    written.push((
        "rnp",
        ok(&pipe(c, b"live-rnp\n")).stdout.clone(),
        "live-rnp\n",
    ));
    let mut c = Command::new("sq");
    c.args(["encrypt", "--binary", "--recipient-cert"])
        .arg(pubfile("cv25519"));
    written.push(("sq", ok(&pipe(c, b"live-sq\n")).stdout.clone(), "live-sq\n"));
    for (who, bytes, want) in &written {
        let out = env
            .cmd()
            .args(["decrypt", "--gpg-keyring"])
            .arg(keyfile("rsa2048"))
            .arg("--gpg-keyring")
            .arg(keyfile("cv25519"))
            .args(["-s", &token(bytes)])
            .output()
            .unwrap();
        assert_eq!(stdout(ok(&out)), *want, "{who}");
    }
    // We write (AES-256, never a legacy cipher), they read.
    let out = env
        .cmd()
        .args(["encrypt", "-o", "string"])
        .args([
            "--gpg-recipients",
            "rsa2048@interop.example,cv25519@interop.example",
        ])
        .arg("--gpg-keyring")
        .arg(pubfile("rsa2048"))
        .arg("--gpg-keyring")
        .arg(pubfile("cv25519"))
        .args(["-s", "from-us"])
        .output()
        .unwrap();
    let bytes = b64decode(&enc_payloads(&stdout(ok(&out)))[0]);
    let mut c = gpg1(&g1);
    c.args(["-v", "--decrypt"]);
    let read = pipe(c, &bytes);
    assert_eq!(stdout(ok(&read)), "from-us");
    assert!(
        stderr(&read).contains("AES256 encrypted data"),
        "{}",
        stderr(&read)
    );
    let mut c = rnp(&r, "rnp");
    c.args(["--decrypt", "--output=-"]);
    assert_eq!(stdout(ok(&pipe(c, &bytes))), "from-us");
    let home = interop_home(&env, "gnupg", &["cv25519"]);
    let mut c = gpg(&home);
    c.arg("--decrypt");
    assert_eq!(stdout(ok(&pipe(c, &bytes))), "from-us");
}

#[test]
fn legacy_values_are_upgraded_by_recrypt_all() {
    let env = Env::new();
    env.write(
        "data/hiera-eyaml-gpg.recipients",
        "cv25519@interop.example\n",
    );
    let names = ["g2-cast5", "g2-blowfish", "g2-idea", "g2-3des"];
    let body: String = names
        .iter()
        .map(|n| format!("k_{}: {}\n", n.replace('-', "_"), token(&message(n))))
        .collect();
    let file = env.write("data/legacy.eyaml", body);
    let run = |args: &[&str]| {
        env.cmd()
            .arg(args[0])
            .arg("--gpg-keyring")
            .arg(keyfile("cv25519"))
            .args(&args[1..])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = run(&["recrypt", "--all"]);
    ok(&out);
    let out = run(&["decrypt", "-e"]);
    assert_plaintexts(&out, &names);
    // AES-256 now: no value warns any more.
    assert!(!stderr(&out).contains("legacy cipher"), "{}", stderr(&out));
}
