//! A Hiera 5 `hiera.yaml` as Puppet's `HieraConfigV5` reads it: `version: 5`, `defaults`,
//! and the `hierarchy` levels with their backend, locations, data directory and options.
//! Everything Puppet would refuse (or that this tool cannot read) is an error naming the file
//! and the line.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::value::{Map, Value};
use crate::yaml;

/// How a level reads its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `data_hash: yaml_data`: plain YAML, ciphertexts returned as written.
    YamlData,
    /// `data_hash: json_data`: JSON.
    JsonData,
    /// `lookup_key: eyaml_lookup_key` (or the server module's `eyaml_gpg::lookup_key`): YAML
    /// whose `ENC[…]` values are decrypted when looked up.
    Eyaml,
}

/// Where a level's data lives, as declared (interpolated per node when looked up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locations {
    /// `path` or `paths`, relative to the level's data directory.
    Paths(Vec<String>),
    /// `glob` or `globs`.
    Globs(Vec<String>),
    /// `mapped_paths: [VARIABLE, KEY, TEMPLATE]`.
    Mapped {
        /// The scope variable holding a string or an array of strings.
        variable: String,
        /// The name each element takes in the template.
        key: String,
        /// The path template.
        template: String,
    },
}

/// One hierarchy level.
#[derive(Clone, Debug)]
pub struct Level {
    /// The level's `name`.
    pub name: String,
    /// How it reads data.
    pub backend: Backend,
    /// The backend function's name as written (`eyaml_lookup_key`, `yaml_data`…).
    pub function: String,
    /// Its locations.
    pub locations: Locations,
    /// Its data directory as declared (relative to the directory of `hiera.yaml`).
    pub datadir: String,
    /// Its options (the level's own, else the defaults'), not yet interpolated.
    pub options: Map,
    /// The line of the level in `hiera.yaml`.
    pub line: usize,
}

impl Level {
    /// An option's text, such as `gpg_gnupghome`.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.get_str(name).and_then(Value::as_str)
    }
}

/// A parsed `hiera.yaml`.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file.
    pub path: PathBuf,
    /// The levels, highest priority first.
    pub levels: Vec<Level>,
}

const TOP_KEYS: &[&str] = &["version", "defaults", "hierarchy"];
const DEFAULT_KEYS: &[&str] = &["datadir", "data_hash", "lookup_key", "data_dig", "options"];
const LEVEL_KEYS: &[&str] = &[
    "name",
    "options",
    "data_hash",
    "lookup_key",
    "data_dig",
    "hiera3_backend",
    "path",
    "paths",
    "glob",
    "globs",
    "uri",
    "uris",
    "mapped_paths",
    "datadir",
];
const FUNCTION_KEYS: &[&str] = &["data_hash", "lookup_key", "data_dig", "hiera3_backend"];
const LOCATION_KEYS: &[&str] = &[
    "path",
    "paths",
    "glob",
    "globs",
    "uri",
    "uris",
    "mapped_paths",
];

impl Config {
    /// Reads and checks `hiera.yaml`.
    pub fn from_path(path: &Path) -> Result<Config> {
        let text = crate::fsutil::read_text(path)?;
        Config::parse(&text, path)
    }

    /// Parses the text of a `hiera.yaml`; `path` names it in messages and anchors `datadir`.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let at = |keys: &[&str], message: String| -> Error {
            let (line, column) = yaml::locate(text, keys).unwrap_or((1, 1));
            Error::Lookup(message).at(path, line, column)
        };
        let value = yaml::load(text).map_err(|e| Error::Yaml {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?;
        let Value::Hash(top) = value else {
            return Err(at(&[], "hiera.yaml must be a hash".into()));
        };
        match top.get_str("version") {
            Some(Value::Integer(5)) => {}
            Some(Value::Integer(v @ (3 | 4))) => {
                return Err(at(
                    &["version"],
                    format!("hiera.yaml version {v} is not supported: only version 5"),
                ))
            }
            Some(other) => {
                return Err(at(
                    &["version"],
                    format!(
                        "This runtime does not support hiera.yaml version {}: only version 5",
                        other.key_text()
                    ),
                ))
            }
            // Puppet reads a file without `version` as Hiera 3.
            None => {
                return Err(at(
                    &[],
                    "hiera.yaml has no 'version' (read as version 3, which is not supported: \
                     only version 5)"
                        .into(),
                ))
            }
        }
        unknown_keys(&top, TOP_KEYS, &[], &at)?;
        let empty = Map::new();
        let defaults = match top.get_str("defaults") {
            None => &empty,
            Some(Value::Hash(d)) => d,
            Some(_) => return Err(at(&["defaults"], "'defaults' must be a hash".into())),
        };
        unknown_keys(defaults, DEFAULT_KEYS, &["defaults"], &at)?;
        let default_functions: Vec<&str> = FUNCTION_KEYS
            .iter()
            .copied()
            .filter(|k| defaults.get_str(k).is_some())
            .collect();
        if default_functions.len() > 1 {
            return Err(at(
                &["defaults"],
                "Only one of data_hash, lookup_key, data_dig, hiera3_backend can be defined in defaults"
                    .into(),
            ));
        }
        let default_datadir = match defaults.get_str("datadir") {
            None => "data".to_string(),
            Some(v) => string(v, &["defaults", "datadir"], &at)?,
        };
        let default_options = options(defaults, &["defaults"], &at)?;
        let hierarchy = match top.get_str("hierarchy") {
            // Puppet's default hierarchy.
            None => {
                let mut h = Map::new();
                h.insert("name".into(), "Common".into());
                h.insert("path".into(), "common.yaml".into());
                vec![Value::Hash(h)]
            }
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(at(&["hierarchy"], "'hierarchy' must be an array".into())),
        };
        let mut levels: Vec<Level> = Vec::new();
        for (i, entry) in hierarchy.iter().enumerate() {
            let index = i.to_string();
            let here = ["hierarchy", index.as_str()];
            let Value::Hash(he) = entry else {
                return Err(at(&here, "a hierarchy level must be a hash".into()));
            };
            unknown_keys(he, LEVEL_KEYS, &here, &at)?;
            let name = match he.get_str("name") {
                Some(v) => string(v, &["hierarchy", &index, "name"], &at)?,
                None => return Err(at(&here, "a hierarchy level has no 'name'".into())),
            };
            if levels.iter().any(|l| l.name == name) {
                return Err(at(
                    &["hierarchy", &index, "name"],
                    format!("Hierarchy name '{name}' defined more than once."),
                ));
            }
            let own: Vec<&str> = FUNCTION_KEYS
                .iter()
                .copied()
                .filter(|k| he.get_str(k).is_some())
                .collect();
            let (kind, function) = match own.as_slice() {
                [k] => (*k, string(he.get_str(k).unwrap_or(&Value::Null), &["hierarchy", &index, k], &at)?),
                [] => match default_functions.first() {
                    Some(k) => (*k, string(defaults.get_str(k).unwrap_or(&Value::Null), &["defaults", k], &at)?),
                    None => {
                        return Err(at(
                            &here,
                            format!(
                                "One of data_hash, lookup_key, data_dig, hiera3_backend must be defined in hierarchy '{name}'"
                            ),
                        ))
                    }
                },
                _ => {
                    return Err(at(
                        &here,
                        format!(
                            "Only one of data_hash, lookup_key, data_dig, hiera3_backend can be defined in hierarchy '{name}'"
                        ),
                    ))
                }
            };
            let backend = match (kind, function.as_str()) {
                ("data_hash", "yaml_data") => Backend::YamlData,
                ("data_hash", "json_data") => Backend::JsonData,
                ("lookup_key", "eyaml_lookup_key" | "eyaml_gpg::lookup_key") => Backend::Eyaml,
                _ => {
                    let key = if own.is_empty() {
                        vec!["defaults", kind]
                    } else {
                        vec!["hierarchy", &index, kind]
                    };
                    return Err(at(
                        &key,
                        format!(
                            "hierarchy level '{name}': backend '{kind}: {function}' is not supported \
                             (supported: data_hash: yaml_data, data_hash: json_data, \
                             lookup_key: eyaml_lookup_key, lookup_key: eyaml_gpg::lookup_key)"
                        ),
                    ));
                }
            };
            let declared: Vec<&str> = LOCATION_KEYS
                .iter()
                .copied()
                .filter(|k| he.get_str(k).is_some())
                .collect();
            let locations = match declared.as_slice() {
                [] => {
                    return Err(at(
                        &here,
                        format!(
                            "hierarchy level '{name}' declares none of path, paths, glob, globs, mapped_paths"
                        ),
                    ))
                }
                [k] => {
                    let where_ = ["hierarchy", index.as_str(), k];
                    let v = he.get_str(k).unwrap_or(&Value::Null);
                    match *k {
                        "path" => Locations::Paths(vec![string(v, &where_, &at)?]),
                        "paths" => Locations::Paths(strings(v, 1, &where_, &at)?),
                        "glob" => Locations::Globs(vec![string(v, &where_, &at)?]),
                        "globs" => Locations::Globs(strings(v, 1, &where_, &at)?),
                        "mapped_paths" => {
                            let mut s = strings(v, 3, &where_, &at)?;
                            if s.len() != 3 {
                                return Err(at(
                                    &where_,
                                    "'mapped_paths' must hold exactly three strings".into(),
                                ));
                            }
                            let template = s.pop().unwrap_or_default();
                            let key = s.pop().unwrap_or_default();
                            let variable = s.pop().unwrap_or_default();
                            Locations::Mapped {
                                variable,
                                key,
                                template,
                            }
                        }
                        _ => {
                            return Err(at(
                                &where_,
                                format!("hierarchy level '{name}': '{k}' locations are not supported"),
                            ))
                        }
                    }
                }
                _ => {
                    return Err(at(
                        &here,
                        format!(
                            "Only one of path, paths, glob, globs, uri, uris, mapped_paths can be defined in hierarchy '{name}'"
                        ),
                    ))
                }
            };
            let datadir = match he.get_str("datadir") {
                Some(v) => string(v, &["hierarchy", &index, "datadir"], &at)?,
                None => default_datadir.clone(),
            };
            let options = if he.get_str("options").is_some() {
                self::options(he, &here, &at)?
            } else {
                default_options.clone()
            };
            let (line, _) = yaml::locate(text, &here).unwrap_or((1, 1));
            levels.push(Level {
                name,
                backend,
                function,
                locations,
                datadir,
                options,
                line,
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            levels,
        })
    }

    /// The directory `datadir` is relative to.
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

type At<'a> = dyn Fn(&[&str], String) -> Error + 'a;

fn unknown_keys(map: &Map, allowed: &[&str], here: &[&str], at: &At<'_>) -> Result<()> {
    for k in map.keys() {
        let text = k.key_text();
        if !allowed.contains(&text.as_str()) {
            let mut p = here.to_vec();
            p.push(&text);
            return Err(at(
                &p,
                format!(
                    "unrecognized key '{text}' (allowed here: {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

fn string(v: &Value, here: &[&str], at: &At<'_>) -> Result<String> {
    match v {
        Value::String(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(at(
            here,
            format!(
                "'{}' must be a non-empty string",
                here.last().unwrap_or(&"")
            ),
        )),
    }
}

fn strings(v: &Value, min: usize, here: &[&str], at: &At<'_>) -> Result<Vec<String>> {
    let name = here.last().unwrap_or(&"");
    let Value::Array(a) = v else {
        return Err(at(here, format!("'{name}' must be an array of strings")));
    };
    if a.len() < min {
        return Err(at(here, format!("'{name}' must not be empty")));
    }
    a.iter().map(|x| string(x, here, at)).collect()
}

fn options(map: &Map, here: &[&str], at: &At<'_>) -> Result<Map> {
    let mut p = here.to_vec();
    p.push("options");
    match map.get_str("options") {
        None => Ok(Map::new()),
        Some(Value::Hash(o)) => {
            for k in ["path", "uri"] {
                if o.get_str(k).is_some() {
                    return Err(at(&p, format!("Option key '{k}' is reserved by Puppet")));
                }
            }
            Ok(o.clone())
        }
        Some(_) => Err(at(&p, "'options' must be a hash".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, Path::new("hiera.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_configs_name_the_line() {
        assert_eq!(
            err("---\nversion: 4\n"),
            "hiera.yaml:2:10: hiera.yaml version 4 is not supported: only version 5"
        );
        let e = err("version: 5\nhierarchy:\n  - name: a\n    path: x\n    pth: y\n    data_hash: yaml_data\n");
        assert!(
            e.starts_with("hiera.yaml:5:10: unrecognized key 'pth'"),
            "{e}"
        );
        let e = err("version: 5\ndefaults:\n  data_hash: yaml_data\nhierarchy:\n  - name: a\n  - name: b\n    path: x\n");
        assert!(
            e.starts_with("hiera.yaml:5:5: hierarchy level 'a' declares none"),
            "{e}"
        );
        let e =
            err("version: 5\nhierarchy:\n  - name: v\n    lookup_key: vault_lookup\n    path: x\n");
        assert!(e.contains("hiera.yaml:4:17: hierarchy level 'v': backend 'lookup_key: vault_lookup' is not supported"), "{e}");
    }

    #[test]
    fn levels_take_defaults() {
        let c = Config::parse(
            "version: 5\ndefaults:\n  datadir: d\n  lookup_key: eyaml_lookup_key\n  options: {gpg_gnupghome: /x}\nhierarchy:\n  - name: a\n    paths: [p, q]\n  - name: b\n    data_hash: json_data\n    glob: '*.json'\n    datadir: j\n",
            Path::new("/e/hiera.yaml"),
        )
        .unwrap();
        assert_eq!(c.levels[0].backend, Backend::Eyaml);
        assert_eq!(c.levels[0].option("gpg_gnupghome"), Some("/x"));
        assert_eq!(c.levels[0].datadir, "d");
        assert_eq!(c.levels[1].backend, Backend::JsonData);
        assert_eq!(c.levels[1].datadir, "j");
        assert_eq!(c.levels[1].line, 9);
    }
}
