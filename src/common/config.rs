//! Settings: flags over config files, as eyaml reads them. Files are merged in order
//! (`/etc/eyaml/config.yaml`, `~/.eyaml/config.yaml`, `./.eyaml/config.yaml`, `$EYAML_CONFIG`),
//! later files overriding earlier ones; keys are option names with `_`. As in eyaml, a key
//! sets the default of the option of that name of whichever subcommand runs (`output`,
//! `label`, `no_preamble`…); the global and plugin options become [`Settings`]. A key no
//! subcommand knows is ignored, and said under `-v`.

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
    /// `--max-value-size`, `EYAML_GPG_MAX_VALUE_SIZE` or config `max_value_size`.
    pub max_value_size: Option<usize>,
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
        Value::Object(map) => Ok(map.into_iter().collect()),
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

/// The merged config files: each key's value and the file it came from.
#[derive(Debug, Default)]
pub struct ConfigFiles {
    values: BTreeMap<String, (Value, PathBuf)>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// Keys that are no option of a subcommand but still eyaml's: read by [`Settings`], or
/// meaningless in a file (`version`, `help`).
const SETTINGS_KEYS: &[&str] = &["version", "help"];

impl ConfigFiles {
    /// Reads and merges every config file that exists (a missing `$EYAML_CONFIG` is an error).
    pub fn read() -> Result<ConfigFiles> {
        let mut out = ConfigFiles::default();
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
                out.values.insert(k, (v, path.clone()));
            }
            out.files.push(path);
        }
        Ok(out)
    }

    /// Sets, on every subcommand, the default of each option named by a key (flags still
    /// win, as in eyaml where the config value is the option's default). Global options are
    /// left to [`Settings::load`], which also weighs the environment. Returns the command and
    /// a note for every key nothing reads (for `-v`).
    pub fn apply_defaults(&self, mut cmd: clap::Command) -> Result<(clap::Command, Vec<String>)> {
        let globals: Vec<String> = cmd
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        let mut used: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        let subs: Vec<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        for sub in subs {
            let mut err = None;
            cmd = cmd.mut_subcommand(&sub, |mut sc| {
                let ids: Vec<String> = sc
                    .get_arguments()
                    .filter(|a| !a.is_positional() && !globals.contains(&a.get_id().to_string()))
                    .map(|a| a.get_id().to_string())
                    .collect();
                for id in ids {
                    let Some((key, (v, path))) = self.values.get_key_value(id.as_str()) else {
                        continue;
                    };
                    used.insert(key.as_str());
                    match default_strings(v) {
                        // `~`: as if the key were absent.
                        Some(vals) if vals.is_empty() => {}
                        Some(vals) => sc = sc.mut_arg(&id, |a| a.default_values(vals)),
                        None => {
                            err.get_or_insert_with(|| {
                                UsageError(format!(
                                    "{}: {id} must be a string, a number, true or false, or a list of them",
                                    path.display()
                                ))
                            });
                        }
                    }
                }
                sc
            });
            if let Some(e) = err {
                return Err(e.into());
            }
        }
        let mut notes = Vec::new();
        for (key, (_, path)) in &self.values {
            if used.contains(key.as_str())
                || globals.contains(key)
                || SETTINGS_KEYS.contains(&key.as_str())
            {
                continue;
            }
            notes.push(match key.strip_prefix(':') {
                // Ruby's YAML reads `:key:` as a symbol, and eyaml 3.x only looks up strings.
                Some(name) => format!(
                    "{}: config key {key} ignored, as eyaml 3.x ignores symbol keys (write `{name}:`)",
                    path.display()
                ),
                None => format!(
                    "{}: config key {key} ignored: no option of that name",
                    path.display()
                ),
            });
        }
        Ok((cmd, notes))
    }
}

/// A config value as clap default strings; `None` for a mapping (no option takes one).
fn default_strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Bool(b) => Some(vec![b.to_string()]),
        Value::String(s) => Some(vec![s.clone()]),
        Value::Number(n) => Some(vec![n.to_string()]),
        Value::Null => Some(Vec::new()),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Array(_) | Value::Object(_) => None,
                x => default_strings(x).map(|mut v| v.pop().unwrap_or_default()),
            })
            .collect(),
        Value::Object(_) => None,
    }
}

impl Settings {
    /// Merges config files and flags (flags win).
    pub fn load(flags: &GlobalArgs, config: &ConfigFiles) -> Result<Settings> {
        let merged = &config.values;
        let files = config.files.clone();
        let mut s = Settings {
            method: "gpg".into(),
            config_files: files,
            ..Settings::default()
        };
        for (key, (v, path)) in merged {
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
                "max_value_size" => {
                    let text = match v {
                        Value::Number(n) => n.to_string(),
                        other => as_strings(other, key, path)?.concat(),
                    };
                    s.max_value_size = Some(
                        crate::cli::parse_size(&text)
                            .map_err(|e| UsageError(format!("{}: {key}: {e}", path.display())))?,
                    );
                }
                // Subcommand options are defaults of the subcommands' flags.
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
        if flags.max_value_size.is_some() {
            s.max_value_size = flags.max_value_size;
        }
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
