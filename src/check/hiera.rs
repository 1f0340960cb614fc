//! `check --hiera`: the CI gate for a Hiera 5 environment. For every node (a facts file) the
//! hierarchy is resolved, every key its data files hold is looked up, and every encrypted
//! value the node can receive (from an eyaml level) must be encrypted to a key of that node's
//! server: the keys the level's options name (`gpg_gnupghome`, the PKCS7 options that
//! lookups honour, see [`crate::hiera::keys`]) or else the run's, narrowed to `server_keys`
//! when given. Public keys only: nothing is decrypted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lines::Lines;
use super::{Finding, Rule};
use crate::crypto::{KeyId, Plaintext};
use crate::error::{Error, Result};
use crate::hiera::config::{Backend, Config};
use crate::hiera::keys::{LevelKeyLoader, LevelMaterial};
use crate::hiera::scope::{load_facts, Scope};
use crate::hiera::Hiera;
use crate::lookup::Decryptor;
use crate::pgp::Keystore;
use crate::pkcs7::LazyKeys;
use crate::scheme::{self, Scheme, Structure};
use crate::token::{self, EncToken, Kinds, Token};
use crate::value::Value;

/// What the gate checks against.
pub struct HieraGate<'a> {
    /// The environment's `hiera.yaml`.
    pub config: &'a Path,
    /// `%{environment}`.
    pub environment: &'a str,
    /// Builds the keys of levels with key options (their `gpg_gnupghome` and PKCS7 options).
    pub loader: &'a LevelKeyLoader,
    /// The run's OpenPGP keys, for levels without key options.
    pub gpg: &'a Keystore,
    /// The run's PKCS7 keys (the certificate is compared), for levels without key options.
    pub pkcs7: &'a LazyKeys,
    /// Fingerprints or key ids of the servers' keys; empty: any key the level's keys hold.
    pub server_keys: &'a [String],
    /// Scheme of `ENC[…]` values without one.
    pub method: Scheme,
}

/// The recipients of one encrypted value, read once per file.
struct EncValue {
    line: usize,
    column: usize,
    key: Option<String>,
    scheme: Scheme,
    /// OpenPGP key ids, or PKCS7 issuer and serial texts.
    recipients: Vec<String>,
    ids: Vec<KeyId>,
}

/// Decryption refused: the gate looks values up without any secret key, so a value's
/// plaintext is empty for interpolation.
struct Placeholder;

impl Decryptor for Placeholder {
    fn decrypt_value(&self, _: &EncToken) -> Result<Plaintext> {
        Ok(Plaintext::new(Vec::new()))
    }
}

/// An error's text without the place it names (the finding gives that).
fn text(e: &Error) -> String {
    match e {
        Error::At { source, .. } => source.to_string(),
        e => e.to_string(),
    }
}

/// The place an error names, or `fallback`.
fn place(e: &Error, fallback: &Path) -> (PathBuf, usize, usize) {
    match e {
        Error::At {
            path, line, column, ..
        } => (path.clone(), *line, *column),
        Error::Yaml {
            path, line, column, ..
        } => (path.clone(), *line, *column),
        Error::InFile { path, source } => match place(source, path) {
            (p, 0, _) => (p, 1, 1),
            other => other,
        },
        _ => (fallback.to_path_buf(), 1, 1),
    }
}

fn finding(
    rule: Rule,
    (path, line, column): (PathBuf, usize, usize),
    message: String,
    key: Option<String>,
) -> Finding {
    Finding {
        column,
        key,
        line: line.max(1),
        message,
        path,
        rule,
        severity: rule.severity(),
    }
}

impl HieraGate<'_> {
    /// Checks every node of `facts` (one facts file each). Returns the number of data files
    /// read and the findings; an unreadable `hiera.yaml` is an error.
    pub fn run(&self, facts: &[PathBuf]) -> Result<(usize, Vec<Finding>)> {
        let config = Config::from_path(self.config)?;
        let mut files: HashMap<PathBuf, std::result::Result<Arc<Vec<EncValue>>, Error>> =
            HashMap::new();
        let mut out = Vec::new();
        for facts_file in facts {
            self.node(&config, facts_file, &mut files, &mut out);
        }
        Ok((files.len(), out))
    }

    fn node(
        &self,
        config: &Config,
        facts_file: &Path,
        files: &mut HashMap<PathBuf, std::result::Result<Arc<Vec<EncValue>>, Error>>,
        out: &mut Vec<Finding>,
    ) {
        let facts = match load_facts(facts_file) {
            Ok(f) => f,
            Err(e) => {
                out.push(finding(
                    Rule::HieraLookup,
                    place(&e, facts_file),
                    format!("facts file: {}", text(&e)),
                    None,
                ));
                return;
            }
        };
        let node = match facts.get_str("clientcert").and_then(Value::as_str) {
            Some(c) => c.to_string(),
            None => facts_file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let hiera = Hiera::new(config.clone(), Scope::new(facts, self.environment));
        let locations = match hiera.locations() {
            Ok(l) => l,
            Err(e) => {
                out.push(finding(
                    Rule::HieraLookup,
                    place(&e, self.config),
                    format!("node {node}: {}", text(&e)),
                    None,
                ));
                return;
            }
        };
        let level_keys = match hiera.level_keys() {
            Ok(k) => k,
            Err(e) => {
                out.push(finding(
                    Rule::HieraLookup,
                    place(&e, self.config),
                    format!("node {node}: {}", text(&e)),
                    None,
                ));
                return;
            }
        };
        // Each key with the first (highest-priority) file that holds it.
        let mut keys: BTreeMap<String, PathBuf> = BTreeMap::new();
        for (i, level) in config.levels.iter().enumerate() {
            let material: Option<Arc<LevelMaterial>> = if level_keys[i].is_empty() {
                None
            } else {
                match self.loader.load(&level_keys[i]) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        out.push(finding(
                            Rule::ServerCannotDecrypt,
                            (config.path.clone(), level.line, 1),
                            format!("node {node}, level '{}': {e}", level.name),
                            None,
                        ));
                        continue;
                    }
                }
            };
            let (gpg, pkcs7) = match &material {
                Some(m) => (&m.gpg, &m.pkcs7),
                None => (self.gpg, self.pkcs7),
            };
            for loc in locations[i].iter().filter(|l| l.exists) {
                if let Ok(doc) = hiera.document(&loc.path) {
                    for k in doc.keys() {
                        keys.entry(k.to_string())
                            .or_insert_with(|| loc.path.clone());
                    }
                }
                if level.backend != Backend::Eyaml {
                    continue;
                }
                let values = files
                    .entry(loc.path.clone())
                    .or_insert_with(|| self.read(&loc.path).map(Arc::new));
                let values = match values {
                    Ok(v) => Arc::clone(v),
                    // The lookups below report an unreadable or invalid file.
                    Err(_) => continue,
                };
                let keys_of = || match &material {
                    Some(_) => format!("the keys of {}", level_keys[i].describe()),
                    None => "the keys given to check".to_string(),
                };
                for v in values.iter() {
                    if v.scheme == Scheme::Pkcs7 {
                        if let Err(e) = pkcs7.public_key() {
                            out.push(finding(
                                Rule::ServerCannotDecrypt,
                                (loc.path.clone(), v.line, v.column),
                                format!(
                                    "node {node} (level '{}') receives this PKCS7 value, but the PKCS7 certificate of {} cannot be read: {e}",
                                    level.name,
                                    keys_of(),
                                ),
                                v.key.clone(),
                            ));
                            continue;
                        }
                    }
                    if !self.decryptable(v, gpg, pkcs7) {
                        let wanted = match self.server_keys.is_empty() {
                            false => self.server_keys.join(", "),
                            true => keys_of(),
                        };
                        out.push(finding(
                            Rule::ServerCannotDecrypt,
                            (loc.path.clone(), v.line, v.column),
                            format!(
                                "node {node} (level '{}') receives this {} value, but its server cannot decrypt it: encrypted to {}, not to {wanted}; re-encrypt it to the server's key (recrypt)",
                                level.name,
                                v.scheme,
                                if v.recipients.is_empty() { "no readable recipient".to_string() } else { v.recipients.join(", ") },
                            ),
                            v.key.clone(),
                        ));
                    }
                }
            }
        }
        keys.remove("lookup_options");
        for (key, file) in &keys {
            if let Err(e) = hiera.lookup(key, None, &Placeholder, None) {
                let at = match place(&e, file) {
                    (p, 1, 1) if p == *file => {
                        let (line, column) = crate::fsutil::read_text(file)
                            .ok()
                            .and_then(|t| crate::yaml::locate(&t, &[key.as_str()]))
                            .unwrap_or((1, 1));
                        (p, line, column)
                    }
                    other => other,
                };
                out.push(finding(
                    Rule::HieraLookup,
                    at,
                    format!("node {node}: the lookup of '{key}' fails: {}", text(&e)),
                    Some(key.clone()),
                ));
            }
        }
    }

    /// The encrypted values of a data file with their recipients.
    fn read(&self, path: &Path) -> Result<Vec<EncValue>> {
        let text = crate::fsutil::read_text(path)?;
        let lines = Lines::new(&text);
        let mut out = Vec::new();
        for t in token::scan(&text, Kinds::ENC) {
            let Token::Enc(e) = &t.token else { continue };
            if lines.in_comment(t.offset) {
                continue;
            }
            let (scheme, recipients, ids) = match scheme::inspect(self.gpg, e, self.method) {
                Ok(Structure::Gpg(info)) => {
                    let ids = info.recipient_ids();
                    (Scheme::Gpg, ids.iter().map(KeyId::to_string).collect(), ids)
                }
                Ok(Structure::Pkcs7(env)) => (
                    Scheme::Pkcs7,
                    env.recipients.iter().map(ToString::to_string).collect(),
                    Vec::new(),
                ),
                // check's bad-enc rule reports values that cannot be read.
                Err(_) => (
                    Scheme::of(e, self.method).unwrap_or(self.method),
                    Vec::new(),
                    Vec::new(),
                ),
            };
            out.push(EncValue {
                line: t.line,
                column: t.column,
                key: lines.key_at(t.offset),
                scheme,
                recipients,
                ids,
            });
        }
        Ok(out)
    }

    /// Whether a value is encrypted to a server key: an OpenPGP recipient that is a key of a
    /// certificate the level's keys hold (and, with `server_keys`, one of those), or for PKCS7
    /// the level's certificate.
    fn decryptable(&self, v: &EncValue, gpg: &Keystore, pkcs7: &LazyKeys) -> bool {
        use crate::crypto::Backend as _;
        let named = |fingerprint: &str, key_id: &str| {
            self.server_keys.is_empty()
                || self.server_keys.iter().any(|s| {
                    let s: String = s
                        .trim_start_matches("0x")
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect::<String>()
                        .to_uppercase();
                    s == fingerprint || s == key_id || fingerprint.ends_with(&s)
                })
        };
        match v.scheme {
            Scheme::Gpg => v.ids.iter().any(|id| match gpg.describe(id) {
                Some(cert) => {
                    named(&cert.fingerprint, &id.to_string())
                        || named(&cert.fingerprint, &cert.key_id.to_string())
                }
                None => !self.server_keys.is_empty() && named("", &id.to_string()),
            }),
            _ => match pkcs7.public_key() {
                Ok(cert) => v.recipients.contains(&cert.id().to_string()),
                Err(_) => false,
            },
        }
    }
}
