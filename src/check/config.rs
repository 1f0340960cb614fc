//! What `check` looks for and lets pass: built-in defaults, `.eyaml-gpg-check.yaml`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::{Finding, Rule};
use crate::error::Error;
use crate::scheme::Scheme;

/// The configuration file looked for at or above the working directory.
pub const CONFIG_FILE: &str = ".eyaml-gpg-check.yaml";

/// The key patterns a plain value must not sit under (case-insensitive substrings of the key).
pub const DEFAULT_SECRET_KEYS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "private_key",
    "credential",
];

/// One allowlist entry: a finding matching every given field is silenced.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// A glob (`*`, `?`, `**`) on the path as `check` prints it (without a leading `./`).
    pub path: Option<String>,
    /// A rule id.
    pub rule: Option<String>,
    /// The YAML key (as printed in the finding, e.g. `profile::db::password_policy`).
    pub key: Option<String>,
    /// A 1-based line.
    pub line: Option<usize>,
}

impl Allow {
    fn matches(&self, f: &Finding) -> bool {
        let path = f.path.to_string_lossy();
        let path = path.strip_prefix("./").unwrap_or(&path);
        self.path
            .as_deref()
            .is_none_or(|g| crate::tree::glob(g).is_ok_and(|m| m.is_match(path)))
            && self.rule.as_deref().is_none_or(|r| r == f.rule.id())
            && self
                .key
                .as_deref()
                .is_none_or(|k| f.key.as_deref() == Some(k))
            && self.line.is_none_or(|l| l == f.line)
    }
}

/// The `.eyaml-gpg-check.yaml` file, as written.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    secret_keys: Option<Vec<String>>,
    extra_secret_keys: Option<Vec<String>>,
    high_entropy: Option<bool>,
    entropy_min_length: Option<usize>,
    skip: Option<Vec<String>>,
    expiry_warning_days: Option<u64>,
    allow: Option<Vec<Allow>>,
    schemes: Option<Vec<String>>,
    require: Option<Vec<Require>>,
    deny: Option<Vec<String>>,
    recipients_lock: Option<String>,
    server_keys: Option<Vec<String>>,
}

/// A `require` entry: values under `path` must be encrypted to each of `keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Require {
    /// A glob (`*`, `?`, `**`) on the path as `check` prints it (without a leading `./`).
    pub path: String,
    /// Primary fingerprints that must be recipients of every value there.
    pub keys: Vec<String>,
}

/// What `check` looks for and what it lets pass.
#[derive(Clone, Debug)]
pub struct Config {
    /// Lower-case substrings that make a key look secret.
    pub secret_keys: Vec<String>,
    /// Whether plain high-entropy strings are findings.
    pub high_entropy: bool,
    /// Shortest string the high-entropy test considers.
    pub entropy_min_length: usize,
    /// Rules not applied.
    pub skip: BTreeSet<Rule>,
    /// Keys expiring within this time are a `recipient-hygiene` warning.
    pub expiry_warning: Duration,
    /// Findings silenced by the configuration.
    pub allow: Vec<Allow>,
    /// The schemes values may use (`schemes`; default every scheme): a value of another one
    /// is an `unwanted-scheme` finding.
    pub schemes: BTreeSet<Scheme>,
    /// Keys that must be recipients of every value under a path (`required-recipient`).
    pub require: Vec<Require>,
    /// Fingerprints that must not be recipients anywhere (`denied-recipient`).
    pub deny: Vec<String>,
    /// The recipients lock, resolved against the configuration file's directory
    /// (`recipients-lock`).
    pub recipients_lock: Option<std::path::PathBuf>,
    /// `check --hiera`: the fingerprints of the Puppet servers' keys every value a node
    /// receives must be encrypted to (`server_keys`; `--server-key` on the command line wins).
    pub server_keys: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            secret_keys: DEFAULT_SECRET_KEYS.iter().map(|s| s.to_string()).collect(),
            high_entropy: true,
            entropy_min_length: 20,
            skip: BTreeSet::new(),
            expiry_warning: Duration::from_secs(30 * 86400),
            allow: Vec::new(),
            schemes: Scheme::ALL.into_iter().collect(),
            require: Vec::new(),
            deny: Vec::new(),
            recipients_lock: None,
            server_keys: Vec::new(),
        }
    }
}

impl Config {
    /// Reads a configuration file's text (YAML, see the README); `name` is used in errors.
    pub fn from_yaml(text: &str, name: &Path) -> Result<Config, Error> {
        let bad = |message: String| Error::Yaml {
            path: name.to_path_buf(),
            line: 0,
            column: 0,
            message,
        };
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line() as usize, l.column() as usize))
                    .unwrap_or((0, 0));
                Error::Yaml {
                    path: name.to_path_buf(),
                    line,
                    column,
                    message: e.without_snippet().to_string(),
                }
            })?
        };
        let mut c = Config::default();
        if let Some(k) = file.secret_keys {
            c.secret_keys = k.iter().map(|s| s.to_lowercase()).collect();
        }
        if let Some(k) = file.extra_secret_keys {
            c.secret_keys.extend(k.iter().map(|s| s.to_lowercase()));
        }
        c.secret_keys.retain(|s| !s.is_empty());
        if let Some(b) = file.high_entropy {
            c.high_entropy = b;
        }
        if let Some(n) = file.entropy_min_length {
            c.entropy_min_length = n.max(8);
        }
        for id in file.skip.unwrap_or_default() {
            c.skip.insert(
                Rule::from_id(&id).ok_or_else(|| bad(format!("skip: unknown rule {id:?}")))?,
            );
        }
        if let Some(d) = file.expiry_warning_days {
            c.expiry_warning = Duration::from_secs(d * 86400);
        }
        if let Some(schemes) = file.schemes {
            c.schemes = schemes
                .iter()
                .map(|m| {
                    Scheme::from_method(&m.to_ascii_lowercase())
                        .ok_or_else(|| bad(format!("schemes: unknown scheme {m:?} (gpg or pkcs7)")))
                })
                .collect::<Result<_, _>>()?;
        }
        for a in file.allow.unwrap_or_default() {
            if let Some(p) = &a.path {
                crate::tree::glob(p).map_err(|e| bad(format!("allow: {e}")))?;
            }
            if let Some(r) = &a.rule {
                if Rule::from_id(r).is_none() {
                    return Err(bad(format!("allow: unknown rule {r:?}")));
                }
            }
            c.allow.push(a);
        }
        let fingerprint = |f: &str, what: &str| match crate::recipients::classify(f) {
            crate::recipients::Query::Fingerprint(fp, _) => Ok(fp),
            _ => Err(bad(format!("{what}: {f:?} is not a fingerprint"))),
        };
        for mut r in file.require.unwrap_or_default() {
            crate::tree::glob(&r.path).map_err(|e| bad(format!("require: {e}")))?;
            r.keys = r
                .keys
                .iter()
                .map(|k| fingerprint(k, "require"))
                .collect::<Result<_, _>>()?;
            c.require.push(r);
        }
        for d in file.deny.unwrap_or_default() {
            c.deny.push(fingerprint(&d, "deny")?);
        }
        for k in file.server_keys.unwrap_or_default() {
            c.server_keys.push(fingerprint(&k, "server_keys")?);
        }
        if let Some(l) = file.recipients_lock {
            let base = name.parent().unwrap_or(Path::new(""));
            c.recipients_lock = Some(base.join(l));
        }
        Ok(c)
    }

    /// The configuration of a run: `explicit` (which must exist) if given, else the nearest
    /// [`CONFIG_FILE`] at or above `cwd`, else the defaults.
    pub fn discover(explicit: Option<&Path>, cwd: Option<&Path>) -> Result<Config, Error> {
        let path = match explicit {
            Some(p) if p.symlink_metadata().is_err() => {
                return Err(Error::Config {
                    path: p.to_path_buf(),
                    message: "config file does not exist".into(),
                })
            }
            Some(p) if !p.is_file() => {
                let what = match crate::fsutil::require_regular(p) {
                    Err(Error::NotRegularFile { kind, .. }) => kind,
                    Err(Error::IsADirectory { .. }) => "a directory",
                    _ => "something that cannot be read",
                };
                return Err(Error::Config {
                    path: p.to_path_buf(),
                    message: format!("config file is {what}, not a regular file"),
                });
            }
            Some(p) => Some(p.to_path_buf()),
            None => cwd.and_then(|d| {
                d.ancestors()
                    .map(|a| a.join(CONFIG_FILE))
                    .find(|f| f.is_file())
            }),
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Config {
            path: path.clone(),
            message: format!("cannot read config file: {e}"),
        })?;
        Config::from_yaml(&text, &path)
    }

    /// Whether `rule` is applied.
    pub fn applies(&self, rule: Rule) -> bool {
        !self.skip.contains(&rule)
    }

    /// Removes skipped and allowlisted findings.
    pub fn filter(&self, findings: &mut Vec<Finding>) {
        findings.retain(|f| self.applies(f.rule) && !self.allow.iter().any(|a| a.matches(f)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_file() {
        let c = Config::from_yaml(
            "secret_keys: [PIN]\nskip: [yaml]\nallow:\n  - {path: 'a/**', rule: bad-enc}\n",
            Path::new("c.yaml"),
        )
        .unwrap();
        assert_eq!(c.secret_keys, vec!["pin"]);
        assert!(!c.applies(Rule::Yaml));
        assert_eq!(c.allow.len(), 1);
        let e = Config::from_yaml("secret_key: [x]\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().starts_with("c.yaml:1:"), "{e}");
        assert!(Config::from_yaml("skip: [nope]\n", Path::new("c.yaml")).is_err());
        assert_eq!(c.schemes.len(), 2, "every scheme by default");
        let gpg_only = Config::from_yaml("schemes: [GPG]\n", Path::new("c.yaml")).unwrap();
        assert_eq!(gpg_only.schemes, BTreeSet::from([Scheme::Gpg]));
        let e = Config::from_yaml("schemes: [rsa]\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.to_string().contains("unknown scheme \"rsa\""), "{e}");
        assert!(Config::from_yaml("allow: [{path: 'a[b'}]\n", Path::new("c.yaml")).is_err());
    }

    #[test]
    fn discovered_at_or_above_the_working_directory() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        assert!(Config::discover(None, Some(&deep)).unwrap().high_entropy);
        std::fs::write(dir.path().join(CONFIG_FILE), "high_entropy: false\n").unwrap();
        assert!(!Config::discover(None, Some(&deep)).unwrap().high_entropy);
        let missing = dir.path().join("none.yaml");
        let e = Config::discover(Some(&missing), None).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("none.yaml: config file does not exist"),
            "{e}"
        );
    }
}
