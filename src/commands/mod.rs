//! One module per subcommand; each maps arguments to library calls and results to output.

pub mod check;
pub mod createkeys;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod generate;
pub mod lookup;
pub mod merge;
pub mod recrypt;
pub mod serve;
pub mod textconv;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use eyaml_gpg::keys::KeySources;
use eyaml_gpg::keys::LazyKeys;
use eyaml_gpg::scheme::EncryptionKey;
use eyaml_gpg::scheme::Scheme;
use eyaml_gpg::Keystore;
use eyaml_gpg::{eyaml, keys};

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
}

impl Context {
    /// Loads the key store from every configured key source.
    pub fn keystore(&self) -> Result<Keystore> {
        Ok(self.key_sources().load_logged(&mut |m| self.ui.debug(m))?)
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
        let r = keys::resolve_recipients(
            &self.settings.recipients,
            self.settings.recipients_file.as_deref(),
            dir,
        )?;
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
