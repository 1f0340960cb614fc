//! Keys of a GnuPG home: which home a run uses, the public keys in it (keybox, legacy keyring
//! or `gpg --export`), GnuPG's validity for the trust rule, the gpg-agent that holds the secret
//! keys ([`agent`]), and `gpg --decrypt` for messages that cannot be read in process.
//!
//! Only [`agent`] names Sequoia: everything else here is files, processes and text.

pub mod agent;
pub(crate) mod assuan;
pub mod keybox;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::crypto::{AeadMode, KeyOrigin, Plaintext};
use crate::error::{Error, Result};
use crate::pgp::Keystore;

/// Where the home setting came from, in precedence order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HomeSource {
    /// `--gpg-gnupghome`.
    Flag,
    /// `HIERA_EYAML_GPG_GNUPGHOME`.
    Environment,
    /// `gpg_gnupghome` in an eyaml config file.
    Config,
    /// `GNUPGHOME`.
    GnupgHome,
    /// `~/.gnupg`.
    Default,
}

impl HomeSource {
    /// Where the setting came from, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            HomeSource::Flag => "--gpg-gnupghome",
            HomeSource::Environment => "HIERA_EYAML_GPG_GNUPGHOME",
            HomeSource::Config => "config gpg_gnupghome",
            HomeSource::GnupgHome => "GNUPGHOME",
            HomeSource::Default => "default",
        }
    }

    /// Whether the user configured this home for eyaml (a missing one is then an error);
    /// `GNUPGHOME` and `~/.gnupg` are GnuPG's own defaults and are skipped when missing.
    pub fn is_explicit(self) -> bool {
        matches!(
            self,
            HomeSource::Flag | HomeSource::Environment | HomeSource::Config
        )
    }
}

/// The GnuPG home of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    /// The directory.
    pub path: PathBuf,
    /// Where the setting came from.
    pub source: HomeSource,
}

/// The inputs of home resolution, so that it can be tested without touching the process
/// environment.
#[derive(Clone, Debug, Default)]
pub struct HomeInputs {
    /// `--gpg-gnupghome`.
    pub flag: Option<PathBuf>,
    /// `HIERA_EYAML_GPG_GNUPGHOME`.
    pub environment: Option<OsString>,
    /// Config `gpg_gnupghome`.
    pub config: Option<PathBuf>,
    /// `GNUPGHOME`.
    pub gnupghome: Option<OsString>,
    /// `HOME`.
    pub home: Option<OsString>,
}

impl HomeInputs {
    /// The flag and config values given, the rest read from the process environment.
    pub fn from_env(flag: Option<PathBuf>, config: Option<PathBuf>) -> HomeInputs {
        HomeInputs {
            flag,
            environment: std::env::var_os("HIERA_EYAML_GPG_GNUPGHOME"),
            config,
            gnupghome: std::env::var_os("GNUPGHOME"),
            home: std::env::var_os("HOME"),
        }
    }
}

/// Picks the home: `--gpg-gnupghome` > `HIERA_EYAML_GPG_GNUPGHOME` > config `gpg_gnupghome` >
/// `GNUPGHOME` > `~/.gnupg` (the Ruby plugin lets the environment variable beat the flag; we
/// let the command line win). Empty environment variables count as unset; an empty flag or
/// config value is an error, as in Ruby. Returns `None` when the home is one of GnuPG's
/// defaults and does not exist (keys may then come from `--gpg-keyring` alone); an explicitly
/// configured home that does not exist is an error.
pub fn resolve_home(inputs: &HomeInputs) -> Result<Option<Home>> {
    let non_empty = |v: &Option<OsString>| v.clone().filter(|v| !v.is_empty()).map(PathBuf::from);
    let candidates = [
        (inputs.flag.clone(), HomeSource::Flag),
        (non_empty(&inputs.environment), HomeSource::Environment),
        (inputs.config.clone(), HomeSource::Config),
        (non_empty(&inputs.gnupghome), HomeSource::GnupgHome),
        (
            non_empty(&inputs.home).map(|h| h.join(".gnupg")),
            HomeSource::Default,
        ),
    ];
    let Some((path, source)) = candidates.into_iter().find_map(|(p, s)| p.map(|p| (p, s))) else {
        return Ok(None);
    };
    if path.as_os_str().is_empty() {
        return Err(Error::NoGnupgHomeConfigured);
    }
    if path.is_dir() {
        Ok(Some(Home { path, source }))
    } else if source.is_explicit() {
        Err(Error::NoGnupgHome(path))
    } else {
        Ok(None)
    }
}

/// Where the public keys of a home were read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublicKeySource {
    /// `pubring.kbx`.
    Keybox,
    /// `pubring.gpg` (GnuPG 1.4 and homes migrated from it).
    Keyring,
    /// `gpg --export` (homes that use keyboxd).
    Export,
    /// The home has no public keys.
    None,
}

impl PublicKeySource {
    /// Where the keys were read from, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            PublicKeySource::Keybox => "pubring.kbx",
            PublicKeySource::Keyring => "pubring.gpg",
            PublicKeySource::Export => "gpg --export (keyboxd)",
            PublicKeySource::None => "no keyring",
        }
    }
}

/// Loads the public keys of `home` into `store` with origin [`KeyOrigin::GnupgHome`] (so the
/// trust rule applies to them): `pubring.kbx`, else `pubring.gpg`, else `gpg --export` when
/// the home uses keyboxd. Keyblocks that cannot be parsed are skipped (GnuPG keeps some it
/// cannot use either); their number is returned as the third value.
pub fn load_public_keys(
    store: &mut Keystore,
    home: &Path,
) -> Result<(usize, PublicKeySource, usize)> {
    let origin = KeyOrigin::GnupgHome(home.to_path_buf());
    // An unreadable home would otherwise look like one without keys ("No key found").
    std::fs::read_dir(home).map_err(|e| Error::Keyring {
        path: home.to_path_buf(),
        message: format!("cannot read the GnuPG home: {e}"),
    })?;
    let kbx = home.join("pubring.kbx");
    let legacy = home.join("pubring.gpg");
    if keyring_file(&kbx)? {
        let data = std::fs::read(&kbx).map_err(|e| Error::io(&kbx, e))?;
        let (mut n, mut skipped) = (0, 0);
        for block in keybox::keyblocks(&data, &kbx)? {
            match store.load_bytes(block, origin.clone()) {
                Ok(k) => n += k,
                Err(_) => skipped += 1,
            }
        }
        return Ok((n, PublicKeySource::Keybox, skipped));
    }
    if keyring_file(&legacy)? {
        let data = std::fs::read(&legacy).map_err(|e| Error::io(&legacy, e))?;
        if data.is_empty() {
            return Ok((0, PublicKeySource::Keyring, 0));
        }
        let n = store
            .load_bytes(&data, origin)
            .map_err(|e| Error::Keyring {
                path: legacy.clone(),
                message: e.to_string(),
            })?;
        return Ok((n, PublicKeySource::Keyring, 0));
    }
    if uses_keyboxd(home) {
        let out = run(gpg(home).arg("--export"), "gpg --export")?;
        if out.is_empty() {
            return Ok((0, PublicKeySource::Export, 0));
        }
        let n = store.load_bytes(&out, origin)?;
        return Ok((n, PublicKeySource::Export, 0));
    }
    Ok((0, PublicKeySource::None, 0))
}

/// Whether a keyring file of a home is there: `false` when nothing has that name; an error
/// naming it when it is there but is not a readable regular file (a directory, a link to
/// `/dev/zero`, unreadable), which would otherwise pass for a home without keys.
fn keyring_file(path: &Path) -> Result<bool> {
    match path.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(Error::Keyring {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
        Ok(_) => {}
    }
    let why = match crate::fsutil::require_regular(path) {
        Ok(()) => match std::fs::File::open(path) {
            Ok(_) => return Ok(true),
            Err(e) => e.to_string(),
        },
        Err(Error::IsADirectory { .. }) => "is a directory, not a keyring".to_string(),
        Err(Error::NotRegularFile { kind, .. }) => format!("is {kind}, not a keyring"),
        Err(Error::Io { source, .. }) => source.to_string(),
        Err(e) => e.to_string(),
    };
    Err(Error::Keyring {
        path: path.to_path_buf(),
        message: why,
    })
}

/// Whether the home keeps its keys in keyboxd (`use-keyboxd` in `common.conf`, GnuPG 2.4.1+).
fn uses_keyboxd(home: &Path) -> bool {
    std::fs::read_to_string(home.join("common.conf")).is_ok_and(|text| {
        text.lines()
            .any(|l| l.split_whitespace().next() == Some("use-keyboxd"))
    })
}

/// Validity of every key of `home` as GnuPG computes it from its trust db:
/// `(primary fingerprint, validity is full or ultimate)`. One `gpg` run.
pub fn validity(home: &Path) -> Result<Vec<(String, bool)>> {
    // gpg exits 2 after a complete listing when it logged an error on the way, e.g. "public
    // key of ultimately trusted key X not found" (a key deleted from a home whose trust db
    // still names it); gpg itself still encrypts then, so a listing on stdout is used.
    let out = run_keeping_output(
        gpg(home).args(["--with-colons", "--fixed-list-mode", "--list-keys"]),
        "gpg --list-keys",
    )
    .map_err(|e| Error::GpgValidity {
        cause: Box::new(e),
        home: home.to_path_buf(),
    })?;
    Ok(parse_validity(&String::from_utf8_lossy(&out)))
}

/// Reads `pub` records and the `fpr` record that follows each (colon listing format).
fn parse_validity(listing: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut pending: Option<bool> = None;
    for line in listing.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first().copied() {
            Some("pub") => pending = Some(matches!(fields.get(1), Some(&"f") | Some(&"u"))),
            Some("fpr") => {
                if let (Some(valid), Some(fp)) = (pending.take(), fields.get(9)) {
                    out.push((fp.to_string(), valid));
                }
            }
            Some("sub") | Some("sec") | Some("ssb") => pending = None,
            _ => {}
        }
    }
    out
}

/// Decrypts a message with `gpg --decrypt` in `home` (for tag-20 AEAD messages, which cannot
/// be read in process). The error says what went wrong and how to avoid AEAD.
pub fn gpg_decrypt(home: &Path, message: &[u8], mode: AeadMode) -> Result<Plaintext> {
    let mut child = match gpg(home)
        .arg("--decrypt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::AeadMessage(mode)),
        Err(e) => {
            return Err(Error::GpgNotRunnable {
                command: "gpg".into(),
                source: Arc::new(e),
            })
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    let message = message.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&message);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Gpg(format!("gpg --decrypt: {e}")))?;
    let _ = writer.join();
    if out.status.success() {
        return Ok(Plaintext::new(out.stdout));
    }
    let reason = String::from_utf8_lossy(&out.stderr)
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string();
    Err(Error::AeadUnreadable { mode, reason })
}

/// Encrypts through `gpg` for recipients whose algorithm the in-process backend lacks
/// (ElGamal, brainpool), in a GnuPG home of its own that holds only the recipients'
/// certificates: the user's gpg.conf, keyring and trust db play no part (the trust rule was
/// applied when the recipients were resolved). One `gpg` run per message, for every
/// recipient; the home lives as long as the key store, certificates are imported once.
#[derive(Default)]
pub struct GpgEncryptor {
    home: std::sync::Mutex<Option<(tempfile::TempDir, std::collections::HashSet<Vec<u8>>)>>,
}

impl GpgEncryptor {
    /// Writes one message to `recipients` (gpg `--recipient` arguments: fingerprints, `!` for
    /// an exact subkey); `certs` are their armoured certificates.
    pub fn encrypt(
        &self,
        certs: &[Vec<u8>],
        recipients: &[String],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let mut guard = self.home.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("eyaml-gpg-encrypt")
                .tempdir()
                .map_err(|e| Error::io(std::env::temp_dir(), e))?;
            *guard = Some((dir, std::collections::HashSet::new()));
        }
        let (dir, imported) = guard.as_mut().expect("set above");
        let home = dir.path().to_path_buf();
        for cert in certs {
            if imported.contains(cert) {
                continue;
            }
            feed(gpg(&home).arg("--import"), cert, "gpg --import")?;
            imported.insert(cert.clone());
        }
        drop(guard);
        let mut cmd = gpg(&home);
        cmd.args([
            "--trust-model",
            "always",
            "--cipher-algo",
            "AES256",
            "--compress-algo",
            "none",
            "--encrypt",
        ]);
        for r in recipients {
            cmd.arg("--recipient").arg(r);
        }
        feed(&mut cmd, plaintext, "gpg --encrypt")
    }
}

/// Runs `cmd` with `input` on its standard input; its standard output, or an error with its
/// last stderr line.
fn feed(cmd: &mut Command, input: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::GpgNotRunnable {
            command: what.to_string(),
            source: Arc::new(e),
        })?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let out = std::thread::scope(|s| {
        s.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
    .map_err(|e| Error::Gpg(format!("{what}: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::GpgFailed {
            command: what.to_string(),
            message: stderr
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string(),
        });
    }
    Ok(out.stdout)
}

/// `gpg` on `home`, batch mode, no terminal interaction of its own (pinentry still works
/// through the agent).
fn gpg(home: &Path) -> Command {
    let mut c = Command::new("gpg");
    c.arg("--homedir")
        .arg(home)
        .args(["--batch", "--quiet", "--no-tty"])
        .stdin(Stdio::null());
    c
}

/// `gpgconf` on `home`.
fn gpgconf(home: &Path) -> Command {
    let mut c = Command::new("gpgconf");
    c.arg("--homedir").arg(home).stdin(Stdio::null());
    c
}

/// Runs a command, returning its standard output, or an error with its last stderr line.
fn run(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    run_inner(cmd, what, false)
}

/// As [`run`], but a non-zero exit with something on standard output returns that output.
fn run_keeping_output(cmd: &mut Command, what: &str) -> Result<Vec<u8>> {
    run_inner(cmd, what, true)
}

fn run_inner(cmd: &mut Command, what: &str, keep_output: bool) -> Result<Vec<u8>> {
    let out = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| Error::GpgNotRunnable {
            command: what.to_string(),
            source: Arc::new(e),
        })?;
    let usable = out.status.success() || (keep_output && !out.stdout.is_empty());
    if !usable {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        return Err(Error::GpgFailed {
            command: what.to_string(),
            message: last.to_string(),
        });
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(dir: &Path) -> HomeInputs {
        HomeInputs {
            flag: None,
            environment: None,
            config: None,
            gnupghome: None,
            home: Some(dir.as_os_str().to_owned()),
        }
    }

    #[test]
    fn precedence_flag_env_config_gnupghome_default() {
        let t = tempfile::tempdir().unwrap();
        let mk = |n: &str| {
            let p = t.path().join(n);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let (flag, env, config, gh) = (mk("flag"), mk("env"), mk("config"), mk("gh"));
        mk(".gnupg");
        let mut i = inputs(t.path());
        let pick = |i: &HomeInputs| resolve_home(i).unwrap().unwrap();
        assert_eq!(pick(&i).source, HomeSource::Default);
        i.gnupghome = Some(gh.clone().into());
        assert_eq!(pick(&i).path, gh);
        i.config = Some(config.clone());
        assert_eq!(pick(&i).path, config);
        i.environment = Some(env.clone().into());
        assert_eq!(pick(&i).path, env);
        i.flag = Some(flag.clone());
        assert_eq!(
            pick(&i),
            Home {
                path: flag,
                source: HomeSource::Flag
            }
        );
    }

    #[test]
    fn missing_explicit_home_is_an_error_missing_default_is_skipped() {
        let t = tempfile::tempdir().unwrap();
        let mut i = inputs(t.path());
        assert_eq!(resolve_home(&i).unwrap(), None);
        i.gnupghome = Some(t.path().join("nope").into());
        assert_eq!(resolve_home(&i).unwrap(), None);
        i.config = Some(t.path().join("missing"));
        let e = resolve_home(&i).unwrap_err().to_string();
        assert!(
            e.starts_with("Configured GPG home directory ")
                && e.ends_with(
                    "missing doesn't exist, check gpg_gnupghome configuration value is correct"
                ),
            "{e}"
        );
        i.flag = Some(PathBuf::new());
        assert!(matches!(
            resolve_home(&i),
            Err(Error::NoGnupgHomeConfigured)
        ));
        // An empty environment variable is unset, not an empty home.
        i.flag = None;
        i.config = None;
        i.environment = Some(OsString::new());
        assert_eq!(resolve_home(&i).unwrap(), None);
    }

    #[test]
    fn validity_from_colon_listing() {
        let listing = "tru::1:1795259500:0:3:1:5\n\
            pub:u:3072:1:21ADCF29FD14CC28:1795259426:::u:::scESC::::::23::0:\n\
            fpr:::::::::AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28:\n\
            uid:u::::1795259426::X::Alice Admin <alice@example.com>::::::::::0:\n\
            sub:u:3072:1:357D502CA066B359:1795259426::::::e::::::23:\n\
            fpr:::::::::00F3C6858CC1DF5D9DE298AA357D502CA066B359:\n\
            pub:-:255:22:CC3B1F4C1F2157D1:1795259427:::-:::scESC:::::ed25519:::0:\n\
            fpr:::::::::617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1:\n\
            pub:f:2048:1:5D15F4FAFD07824A:1795259427:::-:::scESC::::::23::0:\n\
            fpr:::::::::211945E86F4141A36AC356155D15F4FAFD07824A:\n";
        assert_eq!(
            parse_validity(listing),
            vec![
                ("AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28".to_string(), true),
                (
                    "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1".to_string(),
                    false
                ),
                ("211945E86F4141A36AC356155D15F4FAFD07824A".to_string(), true),
            ]
        );
    }
}
