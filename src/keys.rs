//! Where a run's keys come from: `--gpg-keyring` files and directories, then the GnuPG home
//! (its public keys, its trust db for the trust rule, its gpg-agent for secret keys, `gpg` for
//! tag-20 AEAD messages, encryption to ElGamal and brainpool keys). [`KeySources::load`] wires them into one
//! [`Keystore`], so a lookup backend gets the command line's keys.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gnupg::{self, agent::Agent, HomeInputs};
use crate::pgp::Keystore;

/// What the key store tells the user outside errors (legacy ciphers, encryption through gpg).
pub use crate::pgp::{Notice, NoticeSink};
/// Asking for the passphrase of a protected secret key.
pub use crate::pgp::{PassphrasePrompt, TerminalPrompt};
pub use crate::pkcs7::KeySources as Pkcs7KeySources;
/// PKCS7 key files: where `eyaml` keeps them by default, loading them on first use, creating them.
pub use crate::pkcs7::{create_key_files, LazyKeys, DEFAULT_KEYSIZE, DEFAULT_SUBJECT};
pub use crate::pkcs7::{DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY};
/// The nearest `hiera-eyaml-gpg.recipients` at or above a directory (for messages).
pub use crate::recipients::find_file as find_recipients_file;
/// The name of the file that lists a directory tree's recipients.
pub use crate::recipients::RECIPIENTS_FILE;
/// Recipients files: the directory that governs a target and the recipients it resolves to.
pub use crate::recipients::{resolve as resolve_recipients, target_dir, Recipients, Source};

/// The key sources of a run. `HIERA_EYAML_GPG_GNUPGHOME`, `GNUPGHOME` and `HOME` are read
/// from the environment by [`KeySources::load`].
#[derive(Clone, Debug, Default)]
pub struct KeySources {
    /// Key files or directories of key files (`--gpg-keyring`); each must exist.
    pub keyrings: Vec<PathBuf>,
    /// A GnuPG home named on the command line (`--gpg-gnupghome`): beats every other setting.
    pub gnupg_home: Option<PathBuf>,
    /// A GnuPG home from a config file (`gpg_gnupghome`): `HIERA_EYAML_GPG_GNUPGHOME` beats it.
    pub configured_gnupg_home: Option<PathBuf>,
    /// Encrypt to keys the GnuPG trust db does not hold valid (`--gpg-always-trust`).
    pub always_trust: bool,
}

impl KeySources {
    /// Loads every source into one key store.
    pub fn load(&self) -> Result<Keystore> {
        self.load_logged(&mut |_| {})
    }

    /// Loads every source, telling `log` what was found where (no secret in these lines).
    pub fn load_logged(&self, log: &mut dyn FnMut(&str)) -> Result<Keystore> {
        let mut store = Keystore::new();
        store.set_always_trust(self.always_trust);
        let gpg = gnupg::GpgEncryptor::default();
        store.set_gpg_encrypt(Box::new(move |certs, subkeys, plaintext| {
            gpg.encrypt(certs, subkeys, plaintext)
        }));
        for path in &self.keyrings {
            if !path.exists() {
                return Err(Error::MissingKeyring(path.clone()));
            }
            let n = store.load_path(path)?;
            log(&format!("loaded {n} key(s) from {}", path.display()));
        }
        let inputs =
            HomeInputs::from_env(self.gnupg_home.clone(), self.configured_gnupg_home.clone());
        let Some(home) = gnupg::resolve_home(&inputs)? else {
            log("no GnuPG home (GNUPGHOME or ~/.gnupg does not exist)");
            return Ok(store);
        };
        let (n, source, skipped) = gnupg::load_public_keys(&mut store, &home.path)?;
        log(&format!(
            "GnuPG home {} ({}): {n} key(s) from {}{}",
            home.path.display(),
            home.source.describe(),
            source.describe(),
            if skipped > 0 {
                format!(", {skipped} unreadable keyblock(s) skipped")
            } else {
                String::new()
            }
        ));
        let path = home.path.clone();
        store.set_validity_source(Box::new(move || gnupg::validity(&path)));
        let path = home.path.clone();
        store.set_aead_fallback(Box::new(move |m, mode| gnupg::gpg_decrypt(&path, m, mode)));
        let agent = Agent::new(&home.path, &store);
        store.add_provider(Arc::new(agent));
        Ok(store)
    }
}
