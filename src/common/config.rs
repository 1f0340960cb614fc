//! Settings: flags over config files, as eyaml reads them. Files are merged in order
//! (`/etc/eyaml/config.yaml`, `~/.eyaml/config.yaml`, `./.eyaml/config.yaml`, `$EYAML_CONFIG`),
//! later files overriding earlier ones; keys are option names with `_`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::Value;

use super::UsageError;
use crate::cli::GlobalArgs;

/// Effective settings of a run.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// `-n`: the method for values without a scheme.
    pub method: String,
    /// `-v`.
    pub verbose: bool,
    /// `-t`.
    pub trace: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--gpg-gnupghome` or config `gpg_gnupghome` (environment handled by the key loader).
    pub gnupghome_option: Option<PathBuf>,
    /// Whether the option came from the command line (it beats the environment).
    pub gnupghome_from_flag: bool,
    /// `--gpg-always-trust`.
    pub always_trust: bool,
    /// `--gpg-recipients`, split later.
    pub recipients: Vec<String>,
    /// `--gpg-recipients-file`.
    pub recipients_file: Option<PathBuf>,
    /// `--gpg-keyring` values, then `EYAML_GPG_KEYRING`, then config `gpg_keyring`.
    pub keyrings: Vec<PathBuf>,
    /// Where the PKCS7 keys are (flags over config keys of the same names with `_`).
    pub pkcs7: eyaml_gpg::keys::Pkcs7KeySources,
    /// The config files that were read, in order.
    pub config_files: Vec<PathBuf>,
}

/// The config files eyaml reads, in order, that exist.
fn config_paths() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from("/etc/eyaml/config.yaml")];
    if let Some(home) = std::env::var_os("HOME") {
        out.push(Path::new(&home).join(".eyaml/config.yaml"));
    }
    out.push(PathBuf::from(".eyaml/config.yaml"));
    if let Some(p) = std::env::var_os("EYAML_CONFIG").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    out
}

fn load_file(path: &Path) -> Result<BTreeMap<String, Value>> {
    // A directory, FIFO or device is refused, saying what it is (never read: a FIFO blocks).
    let text = eyaml_gpg::eyaml::read_text(path).map_err(|e| match e {
        eyaml_gpg::Error::Io { source, .. } => UsageError(format!(
            "{}: cannot read config file: {source}",
            path.display()
        )),
        e => UsageError(format!("{e}: cannot use it as a config file")),
    })?;
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let value: Value = serde_saphyr::from_str(&text).map_err(|e| {
        // The parser's message may quote the offending line; only its first line (the
        // position and the reason) is shown, as `check` does for data files.
        let e = e.to_string();
        let first = e.lines().next().unwrap_or_default();
        UsageError(format!("{}: invalid config file: {first}", path.display()))
    })?;
    match value {
        Value::Object(map) => Ok(map
            .into_iter()
            .map(|(k, v)| (k.trim_start_matches(':').to_string(), v))
            .collect()),
        Value::Null => Ok(BTreeMap::new()),
        _ => Err(UsageError(format!(
            "{}: a config file must be a mapping of option names to values",
            path.display()
        ))
        .into()),
    }
}

fn as_bool(v: &Value, key: &str, path: &Path) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if matches!(s.to_ascii_lowercase().as_str(), "true" | "yes" | "on") => {
            Ok(true)
        }
        Value::String(s) if matches!(s.to_ascii_lowercase().as_str(), "false" | "no" | "off") => {
            Ok(false)
        }
        _ => Err(UsageError(format!("{}: {key} must be true or false", path.display())).into()),
    }
}

fn as_strings(v: &Value, key: &str, path: &Path) -> Result<Vec<String>> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(UsageError(format!(
                    "{}: {key} must be a string or a list of strings",
                    path.display()
                ))
                .into()),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(UsageError(format!(
            "{}: {key} must be a string or a list of strings",
            path.display()
        ))
        .into()),
    }
}

impl Settings {
    /// Merges config files and flags (flags win).
    pub fn load(flags: &GlobalArgs) -> Result<Settings> {
        let mut merged: BTreeMap<String, (Value, PathBuf)> = BTreeMap::new();
        let mut files = Vec::new();
        for path in config_paths() {
            if path.symlink_metadata().is_err() {
                if std::env::var_os("EYAML_CONFIG").is_some_and(|p| Path::new(&p) == path) {
                    return Err(UsageError(format!(
                        "{}: config file (from EYAML_CONFIG) does not exist",
                        path.display()
                    ))
                    .into());
                }
                continue;
            }
            for (k, v) in load_file(&path)? {
                merged.insert(k, (v, path.clone()));
            }
            files.push(path);
        }
        let mut s = Settings {
            method: "gpg".into(),
            config_files: files,
            ..Settings::default()
        };
        for (key, (v, path)) in &merged {
            match key.as_str() {
                "encrypt_method" => s.method = as_strings(v, key, path)?.concat(),
                "verbose" => s.verbose = as_bool(v, key, path)?,
                "trace" => s.trace = as_bool(v, key, path)?,
                "quiet" => s.quiet = as_bool(v, key, path)?,
                "gpg_gnupghome" => {
                    s.gnupghome_option = as_strings(v, key, path)?.pop().map(PathBuf::from)
                }
                "gpg_always_trust" => s.always_trust = as_bool(v, key, path)?,
                "gpg_recipients" => s.recipients = as_strings(v, key, path)?,
                "gpg_recipients_file" => {
                    s.recipients_file = as_strings(v, key, path)?.pop().map(PathBuf::from)
                }
                "gpg_keyring" => {
                    s.keyrings = as_strings(v, key, path)?
                        .into_iter()
                        .map(PathBuf::from)
                        .collect()
                }
                "pkcs7_private_key" => {
                    s.pkcs7.private_key = as_strings(v, key, path)?.pop().map(PathBuf::from)
                }
                "pkcs7_public_key" => {
                    s.pkcs7.public_key = as_strings(v, key, path)?.pop().map(PathBuf::from)
                }
                "pkcs7_private_key_env_var" => {
                    s.pkcs7.private_key_env_var = as_strings(v, key, path)?.pop()
                }
                "pkcs7_public_key_env_var" => {
                    s.pkcs7.public_key_env_var = as_strings(v, key, path)?.pop()
                }
                "pkcs7_b64_private_key_env_var" => {
                    s.pkcs7.b64_private_key_env_var = as_strings(v, key, path)?.pop()
                }
                "pkcs7_b64_public_key_env_var" => {
                    s.pkcs7.b64_public_key_env_var = as_strings(v, key, path)?.pop()
                }
                // Options of other plugins and subcommands are not ours to judge.
                _ => {}
            }
        }
        let mut keyrings: Vec<PathBuf> = flags.gpg_keyring.clone();
        if let Some(env) = std::env::var_os("EYAML_GPG_KEYRING") {
            keyrings.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
        }
        if !keyrings.is_empty() {
            s.keyrings = keyrings;
        }
        if let Some(m) = &flags.encrypt_method {
            s.method = m.clone();
        }
        s.verbose |= flags.verbose;
        s.trace |= flags.trace;
        s.quiet |= flags.quiet;
        if let Some(h) = &flags.gpg_gnupghome {
            s.gnupghome_option = Some(h.clone());
            s.gnupghome_from_flag = true;
        }
        s.always_trust |= flags.gpg_always_trust;
        if let Some(r) = &flags.gpg_recipients {
            s.recipients = vec![r.clone()];
        }
        if let Some(f) = &flags.gpg_recipients_file {
            s.recipients_file = Some(f.clone());
        }
        let p = &mut s.pkcs7;
        for (flag, slot) in [
            (&flags.pkcs7_private_key, &mut p.private_key),
            (&flags.pkcs7_public_key, &mut p.public_key),
        ] {
            if flag.is_some() {
                slot.clone_from(flag);
            }
        }
        for (flag, slot) in [
            (&flags.pkcs7_private_key_env_var, &mut p.private_key_env_var),
            (&flags.pkcs7_public_key_env_var, &mut p.public_key_env_var),
            (
                &flags.pkcs7_b64_private_key_env_var,
                &mut p.b64_private_key_env_var,
            ),
            (
                &flags.pkcs7_b64_public_key_env_var,
                &mut p.b64_public_key_env_var,
            ),
        ] {
            if flag.is_some() {
                slot.clone_from(flag);
            }
        }
        s.method = s.method.to_ascii_lowercase();
        Ok(s)
    }
}
