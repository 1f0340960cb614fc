//! Per-level key options: a hierarchy level's `options` may name the keys its values are
//! encrypted for, as `eyaml_lookup_key` hands a level's options to eyaml: the GPG plugin's
//! `gpg_gnupghome`, and PKCS7's `pkcs7_private_key`, `pkcs7_public_key` and their `…_env_var`
//! forms. That level's values are then decrypted (by lookups) and checked (by `check --hiera`)
//! with those keys instead of the run's. This module is the one definition of which options
//! name keys ([`KEY_OPTIONS`]) and how they become key sources ([`LevelKeys::pkcs7_sources`],
//! [`LevelKeyLoader::sources`]); [`LevelKeyLoader`] turns a level's options into key material,
//! once per distinct set of options.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::crypto::{Backend, Plaintext};
use crate::error::{Error, Result};
use crate::keys::KeySources;
use crate::lookup::Decryptor;
use crate::pgp::Keystore;
use crate::pkcs7::{KeySources as Pkcs7KeySources, LazyKeys};
use crate::scheme::{KeyMaterial, Scheme};
use crate::token::EncToken;

/// The level option naming a GnuPG home (the GPG plugin's).
pub const GPG_GNUPGHOME: &str = "gpg_gnupghome";

/// The level options naming PKCS7 keys: files, PEM in an environment variable, or base64 of
/// PEM in one (eyaml 5), read as [`Pkcs7KeySources`] reads them.
pub const PKCS7_OPTIONS: [&str; 6] = [
    "pkcs7_private_key",
    "pkcs7_public_key",
    "pkcs7_private_key_env_var",
    "pkcs7_public_key_env_var",
    "pkcs7_b64_private_key_env_var",
    "pkcs7_b64_public_key_env_var",
];

/// The level options that name keys: [`GPG_GNUPGHOME`] and the [`PKCS7_OPTIONS`].
pub const KEY_OPTIONS: [&str; 7] = [
    GPG_GNUPGHOME,
    PKCS7_OPTIONS[0],
    PKCS7_OPTIONS[1],
    PKCS7_OPTIONS[2],
    PKCS7_OPTIONS[3],
    PKCS7_OPTIONS[4],
    PKCS7_OPTIONS[5],
];

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

    /// Whether the level names a GnuPG home of its own.
    pub fn names_gpg(&self) -> bool {
        self.0.contains_key(GPG_GNUPGHOME)
    }

    /// The PKCS7 key sources the level's options name, if it names any. They replace the
    /// run's whole, as eyaml reads only the options Puppet hands it (an option the level does
    /// not set has eyaml's default). Paths are taken as written: Puppet passes them to eyaml
    /// untouched, which opens a relative one from the process's working directory (not from
    /// `hiera.yaml` or the data directory), and so do we. Environment variables are read when
    /// the keys are first needed.
    pub fn pkcs7_sources(&self) -> Option<Pkcs7KeySources> {
        let text = |name: &str| self.get(name).map(str::to_string);
        let s = Pkcs7KeySources {
            private_key: text("pkcs7_private_key").map(Into::into),
            public_key: text("pkcs7_public_key").map(Into::into),
            private_key_env_var: text("pkcs7_private_key_env_var"),
            public_key_env_var: text("pkcs7_public_key_env_var"),
            b64_private_key_env_var: text("pkcs7_b64_private_key_env_var"),
            b64_public_key_env_var: text("pkcs7_b64_public_key_env_var"),
        };
        (s != Pkcs7KeySources::default()).then_some(s)
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

/// The keys of a level with key options: OpenPGP keys and PKCS7 keys (the level's own, or the
/// run's for a scheme the level names no keys of).
pub struct LevelMaterial {
    /// The OpenPGP keys (the level's GnuPG home, plus the run's key files).
    pub gpg: Keystore,
    /// The PKCS7 keys, read when the level's first PKCS7 value is met (or checked).
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
/// for that level's values. A level's PKCS7 options replace the run's PKCS7 key sources for
/// that level's values. Loads each distinct set of options once, when a value needs it.
pub struct LevelKeyLoader {
    gpg: KeySources,
    pkcs7: Pkcs7KeySources,
    cache: Mutex<HashMap<LevelKeys, std::result::Result<Arc<LevelMaterial>, Error>>>,
    pkcs7_only: Pkcs7LevelKeys,
}

impl LevelKeyLoader {
    /// A loader over the run's key sources.
    pub fn new(gpg: KeySources, pkcs7: Pkcs7KeySources) -> LevelKeyLoader {
        LevelKeyLoader {
            gpg,
            pkcs7,
            cache: Mutex::new(HashMap::new()),
            pkcs7_only: Pkcs7LevelKeys::default(),
        }
    }

    /// The PKCS7 keys a level with `options` names, if it names any, without loading any
    /// OpenPGP key (for a level that names no GnuPG home: its other values keep the run's
    /// keys). Read on first use, once per distinct set of sources.
    pub fn pkcs7(&self, options: &LevelKeys) -> Option<Arc<LazyKeys>> {
        self.pkcs7_only.pkcs7(options)
    }

    /// The key sources a level with `options` reads.
    pub fn sources(&self, options: &LevelKeys) -> (KeySources, Pkcs7KeySources) {
        let mut gpg = self.gpg.clone();
        let explicit = gpg.gnupg_home.is_some() || !gpg.keyrings.is_empty();
        if let (Some(home), false) = (options.get(GPG_GNUPGHOME), explicit) {
            gpg.configured_gnupg_home = Some(PathBuf::from(home));
        }
        let pkcs7 = options
            .pkcs7_sources()
            .unwrap_or_else(|| self.pkcs7.clone());
        (gpg, pkcs7)
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

/// The PKCS7 keys of the levels that name their own and no GnuPG home, read once per
/// distinct set of sources.
#[derive(Debug, Default)]
struct Pkcs7LevelKeys {
    read: Mutex<Vec<(Pkcs7KeySources, Arc<LazyKeys>)>>,
}

impl Pkcs7LevelKeys {
    /// The level's own PKCS7 keys, if its options name any.
    fn pkcs7(&self, options: &LevelKeys) -> Option<Arc<LazyKeys>> {
        let sources = options.pkcs7_sources()?;
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

    #[test]
    fn a_levels_pkcs7_options_replace_the_runs_pkcs7_sources() {
        let run = Pkcs7KeySources {
            private_key: Some("run/private.pem".into()),
            public_key: Some("run/public.pem".into()),
            ..Pkcs7KeySources::default()
        };
        let loader = LevelKeyLoader::new(KeySources::default(), run.clone());
        let mut o = LevelKeys::default();
        o.set("gpg_gnupghome", "/srv/gpg".into());
        assert_eq!(o.pkcs7_sources(), None);
        assert_eq!(
            loader.sources(&o).1,
            run,
            "no PKCS7 option: the run's sources"
        );
        let mut o = LevelKeys::default();
        for name in PKCS7_OPTIONS {
            o.set(name, format!("V_{name}"));
        }
        assert!(!o.names_gpg());
        let level = Pkcs7KeySources {
            private_key: Some("V_pkcs7_private_key".into()),
            public_key: Some("V_pkcs7_public_key".into()),
            private_key_env_var: Some("V_pkcs7_private_key_env_var".into()),
            public_key_env_var: Some("V_pkcs7_public_key_env_var".into()),
            b64_private_key_env_var: Some("V_pkcs7_b64_private_key_env_var".into()),
            b64_public_key_env_var: Some("V_pkcs7_b64_public_key_env_var".into()),
        };
        assert_eq!(o.pkcs7_sources().as_ref(), Some(&level));
        assert_eq!(loader.sources(&o).1, level);
        // One option alone replaces the run's sources whole (eyaml's defaults for the rest).
        let mut o = LevelKeys::default();
        o.set("pkcs7_public_key_env_var", "P7_PUB".into());
        let only = Pkcs7KeySources {
            public_key_env_var: Some("P7_PUB".into()),
            ..Pkcs7KeySources::default()
        };
        assert_eq!(loader.sources(&o).1, only);
        assert_eq!(o.describe(), "pkcs7_public_key_env_var=P7_PUB");
    }
}
