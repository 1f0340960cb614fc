//! The one test harness: every test gets an [`Env`], a temp directory used as `HOME`, working
//! directory, `XDG_RUNTIME_DIR`/`TMPDIR` parent and `EYAML_CONFIG` location, with `GNUPGHOME`
//! pointing at a home that does not exist, so no test touches the user's keyring or config.
//! Commands built here start from an empty environment; a test adds what it exercises.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_eyaml-gpg");

/// The three reference public key files.
pub const PUBLIC_KEYS: [&str; 3] = ["alice.pub.asc", "bob.pub.asc", "puppetmaster.pub.asc"];

/// The three reference secret key files.
pub const SECRET_KEYS: [&str; 3] = ["alice.sec.asc", "bob.sec.asc", "puppetmaster.sec.asc"];

/// Key id of Alice's encryption subkey (rsa3072).
pub const ALICE_SUB: &str = "357D502CA066B359";
/// Key id of Bob's encryption subkey (cv25519).
pub const BOB_SUB: &str = "E741DB31073DB129";
/// Key id of puppetmaster's encryption subkey.
pub const PM_SUB: &str = "24ECE6A9E03148AF";

/// The encrypted files of the reference tree (below `fixtures/reference/hieradata`).
pub const REFERENCE_FILES: [&str; 5] = [
    "development/app1/app1.eyaml",
    "development/app2/app2.eyaml",
    "production/dc1/base.eyaml",
    "production/plain-only.eyaml",
    "production/role.eyaml",
];

/// The scripted editor (like the Ruby reference's test editor). Its last argument is the file;
/// each variable set asks for one action, in this order.
pub const EDITOR_SCRIPT: &str = r#"#!/bin/sh
for f in "$@"; do :; done
echo "editor called with: $*" >> "${EYAML_LOG:-/dev/null}"
n=$(cat "$EYAML_COUNT" 2>/dev/null || echo 0); n=$((n+1))
[ -n "$EYAML_COUNT" ] && echo $n > "$EYAML_COUNT"
[ -n "$EYAML_STAT" ] && stat -c '%a' "$(dirname "$f")" "$f" >> "$EYAML_STAT"
[ -n "$EYAML_CAPTURE" ] && cp "$f" "$EYAML_CAPTURE"
[ -n "$EYAML_REPLACE" ] && cp "$EYAML_REPLACE" "$f"
[ -n "$EYAML_SED" ] && sed -i "$EYAML_SED" "$f"
[ -n "$EYAML_SED_2" ] && [ "$n" = 2 ] && sed -i "$EYAML_SED_2" "$f"
[ -n "$EYAML_APPEND" ] && printf '%s' "$EYAML_APPEND" >> "$f"
[ -n "$EYAML_PPID" ] && echo $PPID > "$EYAML_PPID"
[ -n "$EYAML_MOVE" ] && mv "$f" "$f.moved"
[ -n "$EYAML_TOUCH" ] && printf '# changed elsewhere\n' >> "$EYAML_TOUCH"
[ -n "$EYAML_RMDIR" ] && rm -rf "$EYAML_RMDIR"
if [ -n "$EYAML_READY" ]; then echo $$ > "$EYAML_READY.tmp"; mv "$EYAML_READY.tmp" "$EYAML_READY"; exec sleep 20; fi
exit ${EYAML_EDITOR_RC:-0}
"#;

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// `fixtures/reference/`.
pub fn reference() -> PathBuf {
    fixtures().join("reference")
}

/// A key file of the reference set: `key("bob.sec.asc")`.
pub fn key(name: &str) -> PathBuf {
    reference().join("keys").join(name)
}

/// A file of the reference hieradata tree: `hieradata("production/role.eyaml")`.
pub fn hieradata(f: &str) -> PathBuf {
    reference().join("hieradata").join(f)
}

/// What Ruby eyaml gave for a reference file: `golden("production/role.eyaml", "decrypted")`.
pub fn golden(f: &str, ext: &str) -> Vec<u8> {
    let path = reference().join("golden").join(format!("{f}.{ext}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// [`golden`] as text.
pub fn golden_text(f: &str, ext: &str) -> String {
    String::from_utf8(golden(f, ext)).expect("golden files are UTF-8")
}

/// `--gpg-keyring FILE` for each reference key file.
pub fn keyring(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| ["--gpg-keyring".to_string(), key(n).display().to_string()])
        .collect()
}

/// An isolated environment for one test.
pub struct Env {
    /// The temp directory (HOME, working directory).
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A fresh temp home with empty `run/` (`XDG_RUNTIME_DIR`) and `tmp/` (`TMPDIR`)
    /// directories and an empty config file (`EYAML_CONFIG`) in the hidden `.config/`.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("eyaml-gpg-test")
            .tempdir()
            .expect("temp dir");
        let env = Env { dir };
        for d in ["run", "tmp"] {
            std::fs::create_dir_all(env.join(d)).unwrap();
        }
        env.write(".config/eyaml/config.yaml", "");
        env
    }

    /// The temp directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the temp directory.
    pub fn join(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Writes a file (creating parent directories).
    pub fn write(&self, p: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Writes an executable script (mode 0755).
    pub fn write_script(&self, p: &str, content: &str) -> PathBuf {
        let path = self.write(p, content);
        set_mode(&path, 0o755);
        path
    }

    /// Copies a directory tree from the fixtures into the temp directory, writable.
    pub fn copy_tree(&self, from: &Path, to: &str) -> PathBuf {
        let dest = self.join(to);
        copy_dir(from, &dest);
        dest
    }

    /// The scripted editor ([`EDITOR_SCRIPT`]), written on first use as `ed.sh`.
    pub fn editor(&self) -> PathBuf {
        let path = self.join("ed.sh");
        if !path.exists() {
            self.write_script("ed.sh", EDITOR_SCRIPT);
        }
        path
    }

    /// `program` in the temp directory with an environment holding only `PATH` and what
    /// points into the temp directory: `HOME`, `GNUPGHOME` (a home that does not exist),
    /// `EYAML_CONFIG`, `XDG_RUNTIME_DIR`, `TMPDIR`, and `LC_ALL=C.UTF-8`.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("GNUPGHOME", self.join("no-gnupg-home"))
            .env("EYAML_CONFIG", self.join(".config/eyaml/config.yaml"))
            .env("XDG_RUNTIME_DIR", self.join("run"))
            .env("TMPDIR", self.join("tmp"))
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    /// The binary, in the isolated environment of [`Env::command`].
    pub fn cmd(&self) -> Command {
        self.command(BIN)
    }

    /// The binary in its own session (`setsid`): no controlling terminal, so no prompt can
    /// wait on the terminal the tests run in.
    pub fn session_cmd(&self) -> Command {
        let mut c = self.command("setsid");
        c.arg(BIN);
        c
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run eyaml-gpg")
    }

    /// Runs the binary with `--gpg-keyring` for each reference key file in `keys`, then `args`.
    pub fn run_keys(&self, keys: &[&str], args: &[&str]) -> Output {
        self.cmd()
            .args(keyring(keys))
            .args(args)
            .output()
            .expect("run eyaml-gpg")
    }

    /// Makes a GnuPG home in the temp directory with the given key files imported and,
    /// with `ownertrust`, the reference ownertrust (all ultimate). Returns its path.
    pub fn gnupg_home(&self, name: &str, keys: &[&str], ownertrust: bool) -> PathBuf {
        let home = self.join(name);
        std::fs::create_dir_all(&home).unwrap();
        set_mode(&home, 0o700);
        for k in keys {
            let out = gpg(&home)
                .args(["--batch", "--import"])
                .arg(key(k))
                .output()
                .expect("gpg");
            assert!(
                out.status.success(),
                "gpg --import {k}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if ownertrust {
            let out = gpg(&home)
                .arg("--import-ownertrust")
                .arg(key("ownertrust.txt"))
                .output()
                .expect("gpg");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        home
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop any agent a test started in a home below the temp directory.
        if let Ok(entries) = std::fs::read_dir(self.path()) {
            for e in entries.flatten() {
                if ["pubring.kbx", "pubring.gpg", "private-keys-v1.d"]
                    .iter()
                    .any(|f| e.path().join(f).exists())
                {
                    kill_agent(&e.path());
                }
            }
        }
    }
}

/// `gpg` on a given home, batch mode, quiet.
pub fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.arg("--homedir")
        .arg(home)
        .args(["--batch", "--quiet", "--no-tty"])
        .stdin(Stdio::null());
    c
}

/// Stops the gpg-agent of a home, if one runs.
pub fn kill_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Sets a file's permission bits.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Copies a directory recursively, making everything writable.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
            set_mode(&dest, 0o644);
        }
    }
}

/// Stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing stderr otherwise.
pub fn ok(o: &Output) -> &Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr:\n{}",
        o.status.code(),
        stderr(o)
    );
    o
}

/// Extracts the base64 payloads of every `ENC[GPG,…]` token in `text` (whitespace removed).
pub fn enc_payloads(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("ENC[GPG,") {
        let after = &rest[i + 8..];
        let end = after.find(']').expect("closing bracket");
        out.push(
            after[..end]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect(),
        );
        rest = &after[end..];
    }
    out
}

/// Decodes base64 (test helper; panics on bad input).
pub fn b64decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

/// The key ids of the PKESK packets at the start of the OpenPGP message in a base64 payload,
/// in packet order. Read by hand from the packet headers (RFC 4880 §4.2), independent of the
/// OpenPGP library under test; every PKESK must be version 3 (what GnuPG 2.2 reads).
pub fn pkesk_ids(payload: &str) -> Vec<String> {
    let message = b64decode(payload);
    let mut ids = Vec::new();
    let mut i = 0;
    while i < message.len() {
        let ctb = message[i];
        assert!(ctb & 0x80 != 0, "packet header");
        let (tag, len, hdr) = if ctb & 0x40 != 0 {
            let tag = ctb & 0x3f;
            let l0 = message[i + 1] as usize;
            if l0 < 192 {
                (tag, l0, 2)
            } else if l0 < 224 {
                (tag, ((l0 - 192) << 8) + message[i + 2] as usize + 192, 3)
            } else {
                assert_eq!(l0, 255, "no partial lengths before the data packet");
                let l = u32::from_be_bytes(message[i + 2..i + 6].try_into().unwrap()) as usize;
                (tag, l, 6)
            }
        } else {
            let tag = (ctb >> 2) & 0x0f;
            match ctb & 3 {
                0 => (tag, message[i + 1] as usize, 2),
                1 => (
                    tag,
                    u16::from_be_bytes([message[i + 1], message[i + 2]]) as usize,
                    3,
                ),
                2 => (
                    tag,
                    u32::from_be_bytes(message[i + 1..i + 5].try_into().unwrap()) as usize,
                    5,
                ),
                _ => break,
            }
        };
        if tag != 1 {
            break;
        }
        let body = &message[i + hdr..i + hdr + len];
        assert_eq!(body[0], 3, "PKESK v3");
        ids.push(body[1..9].iter().map(|b| format!("{b:02X}")).collect());
        i += hdr + len;
    }
    ids
}

/// The recipients' key ids of a base64 payload, as a set (see [`pkesk_ids`]).
pub fn recipient_ids(payload: &str) -> BTreeSet<String> {
    pkesk_ids(payload).into_iter().collect()
}

/// A set of key ids, to compare with [`recipient_ids`].
pub fn ids(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Whether every tool in `tools` can be started. A test that needs a missing one skips
/// (returns early on `false`), except under `CI=true`, where a missing tool fails the test.
pub fn require(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            Command::new(t)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true and this test needs {missing:?}"
    );
    eprintln!("skipping: {missing:?} not installed");
    false
}
