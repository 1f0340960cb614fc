//! Per-level key options of an `eyaml_lookup_key` level: a level whose options name PKCS7
//! keys (`pkcs7_private_key`, `pkcs7_public_key`, the `…_env_var` forms) decrypts its PKCS7
//! values with them, as Puppet hands a level's options to eyaml before decrypting; the run's
//! keys serve every other value and every level without such options.

use std::sync::{Arc, Mutex};

use super::config::Level;
use crate::crypto::Plaintext;
use crate::error::Result;
use crate::lookup::Decryptor;
use crate::pkcs7::{KeySources, LazyKeys};
use crate::scheme::Scheme;
use crate::token::EncToken;

/// The PKCS7 key sources a level's options name, if it names any. Paths are taken as written:
/// Puppet passes them to eyaml untouched, which opens a relative one from the process's
/// working directory (not from `hiera.yaml` or the data directory), and so do we.
pub fn pkcs7_sources(level: &Level) -> Option<KeySources> {
    let text = |name: &str| level.option(name).map(str::to_string);
    let s = KeySources {
        private_key: text("pkcs7_private_key").map(Into::into),
        public_key: text("pkcs7_public_key").map(Into::into),
        private_key_env_var: text("pkcs7_private_key_env_var"),
        public_key_env_var: text("pkcs7_public_key_env_var"),
        b64_private_key_env_var: text("pkcs7_b64_private_key_env_var"),
        b64_public_key_env_var: text("pkcs7_b64_public_key_env_var"),
    };
    (s != KeySources::default()).then_some(s)
}

/// The PKCS7 keys of the levels that name their own, read once per distinct set of sources.
#[derive(Debug, Default)]
pub(crate) struct Pkcs7LevelKeys {
    read: Mutex<Vec<(KeySources, Arc<LazyKeys>)>>,
}

impl Pkcs7LevelKeys {
    /// The level's own PKCS7 keys, if its options name any.
    pub(crate) fn pkcs7(&self, level: &Level) -> Option<Arc<LazyKeys>> {
        let sources = pkcs7_sources(level)?;
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, keys)) = read.iter().find(|(s, _)| *s == sources) {
            return Some(keys.clone());
        }
        let keys = Arc::new(LazyKeys::new(sources.clone()));
        read.push((sources, keys.clone()));
        Some(keys)
    }
}

/// A level's decryptor: its PKCS7 values with the level's keys, the rest with the run's.
pub(crate) struct WithPkcs7<'a> {
    /// The run's keys.
    pub base: &'a dyn Decryptor,
    /// The level's PKCS7 keys.
    pub pkcs7: &'a LazyKeys,
}

impl Decryptor for WithPkcs7<'_> {
    fn decrypt_value(&self, enc: &EncToken) -> Result<Plaintext> {
        // A scheme-less value is read as the run's keys read it.
        match enc.scheme.as_deref().map(Scheme::from_tag) {
            Some(Ok(Scheme::Pkcs7)) => {
                let der = Scheme::Pkcs7.backend()?.decode(&enc.base64())?;
                self.pkcs7.decrypt(&der)
            }
            _ => self.base.decrypt_value(enc),
        }
    }
}
