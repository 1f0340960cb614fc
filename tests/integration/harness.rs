//! Test harness: every test gets its own temp directory used as `HOME`, `GNUPGHOME` parent
//! and working directory, so no test touches the user's keyring or config.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

/// An isolated environment for one test.
pub struct Env {
    /// The temp directory (HOME, working directory).
    pub dir: tempfile::TempDir,
}

impl Env {
    /// A fresh temp home.
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("eyaml-gpg-test")
            .tempdir()
            .expect("temp dir");
        Env { dir }
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

    /// Copies a directory tree from the fixtures into the temp directory, writable.
    pub fn copy_tree(&self, from: &Path, to: &str) -> PathBuf {
        let dest = self.join(to);
        copy_dir(from, &dest);
        dest
    }

    /// The binary, with a clean environment pointing into the temp directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eyaml-gpg"));
        c.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path())
            .env("GNUPGHOME", self.join("no-gnupg-home"))
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run eyaml-gpg")
    }

    /// Makes a GnuPG home in the temp directory with the given key files imported and,
    /// with `ownertrust`, the reference ownertrust (all ultimate). Returns its path.
    pub fn gnupg_home(&self, name: &str, keys: &[&str], ownertrust: bool) -> PathBuf {
        let home = self.join(name);
        std::fs::create_dir_all(&home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
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
                if e.path().join("pubring.kbx").exists()
                    || e.path().join("private-keys-v1.d").exists()
                {
                    let _ = Command::new("gpgconf")
                        .arg("--homedir")
                        .arg(e.path())
                        .args(["--kill", "gpg-agent"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
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
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
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
