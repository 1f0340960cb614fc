//! One module per subcommand; each maps arguments to library calls and results to output.

pub mod check;
pub mod createkeys;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod exposure;
pub mod generate;
pub mod keys;
pub mod lookup;
pub mod merge;
pub mod recrypt;
pub mod serve;
pub mod textconv;
pub mod version;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::eyaml;
use eyaml_gpg::keys::KeySources;
use eyaml_gpg::keys::LazyKeys;
use eyaml_gpg::scheme::EncryptionKey;
use eyaml_gpg::scheme::Scheme;
use eyaml_gpg::Keystore;

use crate::cli::Sources;
use crate::common::config::Settings;
use crate::common::ui::Ui;
use crate::common::usage;

/// What every subcommand gets.
pub struct Context {
    /// Effective settings.
    pub settings: Settings,
    /// Messages.
    pub ui: Ui,
    /// Set when the key store was loaded with no GnuPG home at all (for the error hint).
    pub no_gnupg_home: std::sync::atomic::AtomicBool,
}

impl Context {
    /// Loads the key store from every configured key source.
    pub fn keystore(&self) -> Result<Keystore> {
        let mut store = self.key_sources().load_logged(&mut |m| {
            if m.starts_with("no GnuPG home") {
                self.no_gnupg_home
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            self.ui.debug(m)
        })?;
        if let Some(n) = self.settings.max_value_size {
            store.set_max_value_size(n);
        }
        let ui = self.ui;
        store.set_notice(Box::new(move |n| match n {
            eyaml_gpg::keys::Notice::LegacyCipher(_) => ui.warn(&n.to_string()),
            _ => ui.debug(&n.to_string()),
        }));
        Ok(store)
    }

    /// The run's OpenPGP key sources (flags, environment and configuration).
    pub fn key_sources(&self) -> KeySources {
        let s = &self.settings;
        let (flag, config) = match s.gnupghome_from_flag {
            true => (s.gnupghome_option.clone(), None),
            false => (None, s.gnupghome_option.clone()),
        };
        KeySources {
            keyrings: s.keyrings.clone(),
            gnupg_home: flag,
            configured_gnupg_home: config,
            always_trust: s.always_trust,
        }
    }

    /// A hint for an error about missing keys when there was no GnuPG home at all, so the
    /// reason is not only visible under `-v`.
    pub fn no_home_hint(&self, e: &anyhow::Error) -> Option<String> {
        if !self
            .no_gnupg_home
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        let about_keys = |e: &eyaml_gpg::Error| {
            matches!(
                e.root(),
                eyaml_gpg::Error::NoSecretKey { .. } | eyaml_gpg::Error::NoKey(_)
            )
        };
        let hit = e.chain().any(|c| {
            c.downcast_ref::<eyaml_gpg::Error>().is_some_and(about_keys)
                || c.downcast_ref::<eyaml_gpg::Errors>()
                    .is_some_and(|es| es.iter().any(about_keys))
        });
        hit.then(|| {
            "no GnuPG home was found (GNUPGHOME or ~/.gnupg does not exist): name one with \
             --gpg-gnupghome DIR, or key files with --gpg-keyring PATH"
                .to_string()
        })
    }

    /// The PKCS7 keys of the run, read only when a PKCS7 value is met.
    pub fn pkcs7_keys(&self) -> LazyKeys {
        LazyKeys::new(self.settings.pkcs7.clone())
    }

    /// The `-n` scheme for values without one, for commands that write or must read every
    /// value: an unknown or unimplemented method is a usage error.
    pub fn method(&self) -> Result<Scheme> {
        match self.scheme_less()? {
            s if s.is_implemented() => Ok(s),
            s => usage(format!(
                "the {} encryption method is not supported yet (use -n gpg)",
                s.method()
            )),
        }
    }

    /// The `-n` scheme for values without one, for commands that take each value as it
    /// comes: only an unknown method is a usage error.
    pub fn scheme_less(&self) -> Result<Scheme> {
        match Scheme::from_method(&self.settings.method) {
            Some(s) => Ok(s),
            None => usage(format!(
                "unknown encryption method {:?} (this tool handles gpg and pkcs7)",
                self.settings.method
            )),
        }
    }

    /// The recipients for a value written near `dir` (option list, option file, or the
    /// nearest recipients file), resolved to keys.
    pub fn recipients(&self, store: &Keystore, dir: Option<&Path>) -> Result<Vec<EncryptionKey>> {
        let r = eyaml_gpg::keys::resolve_recipients(
            &self.settings.recipients,
            self.settings.recipients_file.as_deref(),
            dir,
        )
        .map_err(|e| match e {
            eyaml_gpg::Error::NoRecipients => {
                eyaml_gpg::Error::NoRecipientsExplained(self.no_recipients_hint(dir))
            }
            e => e,
        })?;
        match r.file() {
            Some(f) => self.ui.debug(&format!(
                "recipients from {}: {}",
                f.display(),
                r.names.join(", ")
            )),
            None => self.ui.debug(&format!(
                "recipients from --gpg-recipients: {}",
                r.names.join(", ")
            )),
        }
        let keys = eyaml::resolve_all(store, &r.names)?;
        for k in &keys {
            self.ui.trace(&format!(
                "{} -> subkey {} of {}",
                k.recipient, k.subkey_id, k.cert
            ));
        }
        Ok(keys)
    }
}

impl Context {
    /// Where recipients were looked for and how to set them, for "No recipients provided".
    fn no_recipients_hint(&self, dir: Option<&Path>) -> String {
        let s = &self.settings;
        let looked = if !s.recipients.is_empty() {
            "--gpg-recipients (or gpg_recipients in a config file) names nobody".to_string()
        } else if let Some(f) = &s.recipients_file {
            format!("{} lists no recipients", f.display())
        } else {
            let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| ".".into());
            match eyaml_gpg::keys::find_recipients_file(&dir) {
                Some(f) => format!("{} lists no recipients", f.display()),
                None => format!(
                    "no hiera-eyaml-gpg.recipients in {} or any directory above it",
                    std::fs::canonicalize(&dir).unwrap_or(dir).display()
                ),
            }
        };
        format!(
            "{looked}; set recipients with --gpg-recipients LIST, --gpg-recipients-file FILE \
             (config keys gpg_recipients, gpg_recipients_file) or a hiera-eyaml-gpg.recipients file \
             next to the data"
        )
    }
}

/// The one source a command reads.
pub enum Source<'a> {
    /// `-p`.
    Password,
    /// `-s`.
    String(&'a str),
    /// `-f`.
    File(&'a Path),
    /// `--stdin`.
    Stdin,
    /// `-e`.
    Eyaml(&'a Path),
}

/// Picks exactly one source, with eyaml's messages.
pub fn one_source<'a>(password: bool, s: &'a Sources) -> Result<Source<'a>> {
    let mut found: Vec<(&str, Source<'a>)> = Vec::new();
    if password {
        found.push(("password", Source::Password));
    }
    if let Some(x) = &s.string {
        found.push(("string", Source::String(x)));
    }
    if let Some(x) = &s.file {
        found.push(("file", Source::File(x)));
    }
    if s.stdin {
        found.push(("stdin", Source::Stdin));
    }
    if let Some(x) = &s.eyaml {
        found.push(("eyaml", Source::Eyaml(x)));
    }
    match found.len() {
        0 => usage("You must specify a source"),
        1 => Ok(found.pop().expect("one").1),
        _ => usage(format!(
            "You can only specify one of ({})",
            found.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Writes a command's output to standard output and ends it with success; with `newline`,
/// adds a final newline if missing (Ruby's `puts`). A closed pipe is not an error.
pub fn emit(bytes: &[u8], newline: bool) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let r = out
        .write_all(bytes)
        .and_then(|_| {
            if newline && !bytes.ends_with(b"\n") {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|_| out.flush());
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        r => r.map(|()| ExitCode::SUCCESS).map_err(Into::into),
    }
}
