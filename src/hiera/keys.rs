//! Per-level key options: a hierarchy level's `options` may name the keys its values are
//! encrypted for (`gpg_gnupghome`, `pkcs7_private_key`, `pkcs7_public_key`, as
//! `eyaml_lookup_key` reads them), and that level's values are then decrypted (and checked)
//! with those keys instead of the run's. [`LevelKeyLoader`] turns a level's options into key
//! material, once per distinct set of options.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::crypto::Backend;
use crate::error::{Error, Result};
use crate::keys::KeySources;
use crate::pgp::Keystore;
use crate::pkcs7::{KeySources as Pkcs7KeySources, LazyKeys};
use crate::scheme::KeyMaterial;

/// The level options that name keys.
pub const KEY_OPTIONS: [&str; 3] = ["gpg_gnupghome", "pkcs7_private_key", "pkcs7_public_key"];

/// The key options one level sets, interpolated for the node (empty: the run's keys apply).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LevelKeys(BTreeMap<&'static str, String>);

impl LevelKeys {
    /// Sets an option of [`KEY_OPTIONS`] (other names are ignored).
    pub fn set(&mut self, name: &str, value: String) {
        if let Some(known) = KEY_OPTIONS.iter().find(|k| **k == name) {
            self.0.insert(known, value);
        }
    }

    /// An option's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Whether the level names no keys of its own.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The options, as `name=value` for messages.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The keys of a level with key options: OpenPGP keys and PKCS7 keys.
pub struct LevelMaterial {
    /// The OpenPGP keys (the level's GnuPG home, plus the run's key files).
    pub gpg: Keystore,
    /// The PKCS7 keys, read when the level's first PKCS7 value is met.
    pub pkcs7: LazyKeys,
}

impl KeyMaterial for LevelMaterial {
    fn gpg(&self) -> &dyn Backend {
        &self.gpg
    }

    fn pkcs7(&self) -> Result<&LazyKeys> {
        Ok(&self.pkcs7)
    }
}

/// Builds the keys of levels with key options from the run's key sources. Key files or a
/// GnuPG home named for the run (`--gpg-keyring`, `gpg_keyring`, `--gpg-gnupghome`) are the keys
/// of every level, as a flag beats every configuration: an engineer's desk has its own keys,
/// not the server's home. Otherwise a level's `gpg_gnupghome` replaces the configured home
/// for that level's values. Loads each distinct set of options once, when a value needs it.
pub struct LevelKeyLoader {
    gpg: KeySources,
    pkcs7: Pkcs7KeySources,
    cache: Mutex<HashMap<LevelKeys, std::result::Result<Arc<LevelMaterial>, Error>>>,
}

impl LevelKeyLoader {
    /// A loader over the run's key sources.
    pub fn new(gpg: KeySources, pkcs7: Pkcs7KeySources) -> LevelKeyLoader {
        LevelKeyLoader {
            gpg,
            pkcs7,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The key sources a level with `options` reads.
    pub fn sources(&self, options: &LevelKeys) -> (KeySources, Pkcs7KeySources) {
        let mut gpg = self.gpg.clone();
        let explicit = gpg.gnupg_home.is_some() || !gpg.keyrings.is_empty();
        if let (Some(home), false) = (options.get("gpg_gnupghome"), explicit) {
            gpg.configured_gnupg_home = Some(PathBuf::from(home));
        }
        (gpg, self.pkcs7.clone())
    }

    /// The keys of a level with `options` (loaded on first use, then shared).
    pub fn load(&self, options: &LevelKeys) -> Result<Arc<LevelMaterial>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(options.clone())
            .or_insert_with(|| {
                let (gpg, pkcs7) = self.sources(options);
                let gpg = gpg.load().map_err(|e| {
                    Error::Lookup(format!(
                        "cannot load the keys of the level options {}: {e}",
                        options.describe()
                    ))
                })?;
                Ok(Arc::new(LevelMaterial {
                    gpg,
                    pkcs7: LazyKeys::new(pkcs7),
                }))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_levels_home_replaces_the_configured_one_unless_the_run_names_keys() {
        let mut o = LevelKeys::default();
        assert!(o.is_empty());
        o.set("gpg_gnupghome", "/srv/gpg".into());
        o.set("sensitive", "true".into());
        assert_eq!(o.describe(), "gpg_gnupghome=/srv/gpg");
        let run = KeySources {
            configured_gnupg_home: Some("/home/me/.gnupg".into()),
            ..KeySources::default()
        };
        let loader = LevelKeyLoader::new(run.clone(), Pkcs7KeySources::default());
        let (gpg, _) = loader.sources(&o);
        assert_eq!(gpg.configured_gnupg_home, Some(PathBuf::from("/srv/gpg")));
        let (gpg, _) = loader.sources(&LevelKeys::default());
        assert_eq!(gpg.configured_gnupg_home, Some("/home/me/.gnupg".into()));
        // Keys named for the run beat the level's home.
        let files = KeySources {
            keyrings: vec!["k.asc".into()],
            ..run
        };
        let loader = LevelKeyLoader::new(files, Pkcs7KeySources::default());
        let (gpg, _) = loader.sources(&o);
        assert_eq!(gpg.configured_gnupg_home, Some("/home/me/.gnupg".into()));
    }
}
