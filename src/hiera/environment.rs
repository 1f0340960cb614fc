//! Lookups in an environment's Hiera 5 hierarchy, as `puppet lookup --node N --facts F KEY`
//! answers for the environment layer: level paths interpolated from the node's scope,
//! `lookup_options` (merged across levels with a `hash` merge, keys or `^regex` patterns),
//! merge strategies nested as Puppet nests them (locations in a level, then levels, then the
//! data-provider stack), `%{…}` interpolation with the functions `alias`, `lookup`, `hiera`,
//! `scope` and `literal`, recursion detection, and `convert_to: Sensitive`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use regex::Regex;

use super::config::{Backend, Config, Level, Locations};
use super::keys::{LevelKeyLoader, LevelKeys, LevelMaterial, WithPkcs7, KEY_OPTIONS};
use super::scope::{parse_json, Scope};
use super::{flatten, split_key, sub_lookup, union};
use super::{DeepOptions, Merge};
use crate::error::{Error, Result};
use crate::lookup::{Decryptor, Document, Loader, Lookup};
use crate::value::{ruby_float, Map, Str, Value};

/// A merge strategy with its deep-merge options, as `merge` in `lookup_options` or
/// `puppet lookup --merge` gives it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeSpec {
    /// The strategy.
    pub strategy: Merge,
    /// Options of the `deep` strategy.
    pub deep: DeepOptions,
}

impl MergeSpec {
    /// Reads `merge` as written in `lookup_options`: a strategy name, or a hash with
    /// `strategy` and deep-merge options.
    pub fn from_value(v: &Value) -> Result<MergeSpec> {
        match v {
            Value::String(s) => Ok(MergeSpec {
                strategy: s.parse()?,
                deep: DeepOptions::default(),
            }),
            Value::Hash(h) => {
                let Some(strategy) = h.get_str("strategy").and_then(Value::as_str) else {
                    return Err(Error::Lookup(
                        "The hash given as 'merge' must contain the name of a strategy in string form for the key 'strategy'".into(),
                    ));
                };
                let flag = |k: &str| matches!(h.get_str(k), Some(Value::Boolean(true)));
                Ok(MergeSpec {
                    strategy: strategy.parse()?,
                    deep: DeepOptions {
                        knockout_prefix: h
                            .get_str("knockout_prefix")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        sort_merged_arrays: flag("sort_merged_arrays"),
                        merge_hash_arrays: flag("merge_hash_arrays"),
                    },
                })
            }
            other => Err(Error::Lookup(format!(
                "Unknown merge strategy: '{}'",
                other.key_text()
            ))),
        }
    }
}

/// What a lookup found.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The value.
    pub value: Value,
    /// `convert_to: Sensitive` applied: show it only as `Sensitive [value redacted]`.
    pub sensitive: bool,
}

/// How Puppet renders a Sensitive value.
pub const SENSITIVE_REDACTED: &str = "Sensitive [value redacted]";

impl Found {
    /// The value as `puppet lookup --render-as json` prints it (one line, no newline).
    pub fn to_json(&self) -> String {
        if self.sensitive {
            format!("\"{SENSITIVE_REDACTED}\"")
        } else {
            serde_json::to_string(&self.value).unwrap_or_default()
        }
    }
}

/// One location of a level, resolved for the node.
#[derive(Clone, Debug)]
pub struct Location {
    /// As declared (before interpolation).
    pub declared: String,
    /// The file.
    pub path: PathBuf,
    /// Whether it exists.
    pub exists: bool,
}

/// Lookup options compiled: exact keys, then `^…` patterns in order.
#[derive(Debug, Default)]
struct LookupOptions {
    keys: HashMap<String, Map>,
    patterns: Vec<(Regex, Map)>,
}

/// An environment's hierarchy for one node. `Sync`: one value can answer many keys.
pub struct Hiera {
    config: Config,
    scope: Scope,
    loader: Loader,
    json: Mutex<HashMap<PathBuf, Arc<Map>>>,
    locations: OnceLock<Vec<Vec<Location>>>,
    options: OnceLock<std::result::Result<Arc<LookupOptions>, String>>,
    level_keys: OnceLock<std::result::Result<Vec<LevelKeys>, Error>>,
    key_loader: Option<LevelKeyLoader>,
}

impl std::fmt::Debug for Hiera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hiera")
            .field("config", &self.config.path)
            .field("levels", &self.config.levels.len())
            .finish_non_exhaustive()
    }
}

impl Hiera {
    /// Reads `hiera.yaml` for a node with this scope.
    pub fn from_config(path: &Path, scope: Scope) -> Result<Hiera> {
        Ok(Hiera::new(Config::from_path(path)?, scope))
    }

    /// The hierarchy of a parsed configuration for a node with this scope.
    pub fn new(config: Config, scope: Scope) -> Hiera {
        Hiera {
            config,
            scope,
            loader: Loader::new(),
            json: Mutex::new(HashMap::new()),
            locations: OnceLock::new(),
            options: OnceLock::new(),
            level_keys: OnceLock::new(),
            key_loader: None,
        }
    }

    /// Honours the levels' key options ([`KEY_OPTIONS`]): a level that sets them has its
    /// values decrypted with the keys `loader` builds for them (its PKCS7 values only, when it
    /// names PKCS7 keys and no GnuPG home); other levels use the keys given to
    /// [`Hiera::lookup`]. Without a loader every level uses those.
    pub fn with_level_keys(mut self, loader: LevelKeyLoader) -> Hiera {
        self.key_loader = Some(loader);
        self
    }

    /// Every level's key options ([`KEY_OPTIONS`]), interpolated for the node as Puppet
    /// interpolates a level's `options` (empty for a level that sets none).
    pub fn level_keys(&self) -> Result<&[LevelKeys]> {
        self.level_keys
            .get_or_init(|| {
                self.config
                    .levels
                    .iter()
                    .map(|level| self.key_options(level))
                    .collect()
            })
            .as_ref()
            .map(Vec::as_slice)
            .map_err(Clone::clone)
    }

    /// The keys of level `index` when it names a GnuPG home and a loader is given (with the
    /// level's PKCS7 keys, if it names any). A level naming only PKCS7 keys keeps the run's
    /// OpenPGP keys; its PKCS7 keys come from [`LevelKeyLoader::pkcs7`].
    pub fn level_material(&self, index: usize) -> Result<Option<Arc<LevelMaterial>>> {
        let Some(loader) = &self.key_loader else {
            return Ok(None);
        };
        match self.level_keys()?.get(index) {
            Some(k) if k.names_gpg() => loader.load(k).map(Some),
            _ => Ok(None),
        }
    }

    fn key_options(&self, level: &Level) -> Result<LevelKeys> {
        let paths = Invocation {
            hiera: self,
            keys: &NoKeys,
            stack: RefCell::new(Vec::new()),
            explain: RefCell::new(None),
            depth: RefCell::new(0),
        };
        let mut out = LevelKeys::default();
        for name in KEY_OPTIONS {
            let Some(raw) = level.option(name) else {
                continue;
            };
            let value = match paths.interpolate_str(raw, false, &[]) {
                Ok(Value::String(s)) => s.to_string(),
                Ok(other) => to_s(&other),
                Err(e) => {
                    return Err(Error::Lookup(format!(
                        "hierarchy level '{}', option {name}: {e}",
                        level.name
                    ))
                    .at(&self.config.path, level.line, 1))
                }
            };
            out.set(name, value);
        }
        Ok(out)
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The node's scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Every level's locations for this node (interpolated once).
    pub fn locations(&self) -> Result<&[Vec<Location>]> {
        if let Some(l) = self.locations.get() {
            return Ok(l);
        }
        let mut all = Vec::new();
        for level in &self.config.levels {
            all.push(self.resolve(level)?);
        }
        Ok(self.locations.get_or_init(|| all))
    }

    /// The document of an eyaml or YAML location (cached).
    pub fn document(&self, path: &Path) -> Result<Arc<Document>> {
        self.loader.load(path)
    }

    /// Looks `key` up as `puppet lookup` does; `merge` (the command line's) wins over
    /// `lookup_options`. `explain` collects what was searched. `Ok(None)`: not found.
    pub fn lookup(
        &self,
        key: &str,
        merge: Option<&MergeSpec>,
        keys: &dyn Decryptor,
        explain: Option<&mut Vec<String>>,
    ) -> Result<Option<Found>> {
        let inv = Invocation {
            hiera: self,
            keys,
            stack: RefCell::new(Vec::new()),
            explain: RefCell::new(explain.is_some().then(Vec::new)),
            depth: RefCell::new(0),
        };
        let r = inv.lookup(key, merge);
        if let (Some(out), Some(lines)) = (explain, inv.explain.into_inner()) {
            out.extend(lines);
        }
        r
    }

    /// The lookup options that apply to `root` (exact key first, then the first matching
    /// pattern).
    fn options_for(&self, root: &str, inv: &Invocation<'_>) -> Result<Option<Map>> {
        let opts = match self.options.get() {
            Some(o) => o.clone(),
            None => {
                let o = self.compile_options(inv).map_err(|e| e.to_string());
                self.options.get_or_init(|| o).clone()
            }
        }
        .map_err(Error::Lookup)?;
        if let Some(m) = opts.keys.get(root) {
            return Ok(Some(m.clone()));
        }
        Ok(opts
            .patterns
            .iter()
            .find(|(re, _)| re.is_match(root))
            .map(|(_, m)| m.clone()))
    }

    fn compile_options(&self, inv: &Invocation<'_>) -> Result<Arc<LookupOptions>> {
        let meta = Invocation {
            hiera: self,
            keys: inv.keys,
            stack: RefCell::new(Vec::new()),
            explain: RefCell::new(None),
            depth: RefCell::new(0),
        };
        let hash = MergeSpec {
            strategy: Merge::Hash,
            deep: DeepOptions::default(),
        };
        let mut out = LookupOptions::default();
        let Some(found) = meta.provider_stack("lookup_options", &hash)? else {
            return Ok(Arc::new(out));
        };
        let Value::Hash(map) = found else {
            return Err(Error::Lookup(
                "value of lookup_options must be a hash".into(),
            ));
        };
        for (k, v) in map.into_entries() {
            let (Value::String(k), Value::Hash(v)) = (k, v) else {
                continue;
            };
            if k.starts_with('^') {
                let re = Regex::new(&k).map_err(|e| {
                    Error::Lookup(format!(
                        "lookup_options pattern '{}' is not valid: {e}",
                        &*k
                    ))
                })?;
                out.patterns.push((re, v));
            } else {
                out.keys.insert(k.to_string(), v);
            }
        }
        Ok(Arc::new(out))
    }

    fn resolve(&self, level: &Level) -> Result<Vec<Location>> {
        let at = |e: Error| {
            Error::Lookup(format!("hierarchy level '{}': {e}", level.name)).at(
                &self.config.path,
                level.line,
                1,
            )
        };
        let paths = Invocation {
            hiera: self,
            keys: &NoKeys,
            stack: RefCell::new(Vec::new()),
            explain: RefCell::new(None),
            depth: RefCell::new(0),
        };
        let text = |s: &str, locals: &[(&str, &Value)]| -> Result<String> {
            match paths.interpolate_str(s, false, locals)? {
                Value::String(s) => Ok(s.to_string()),
                other => Ok(to_s(&other)),
            }
        };
        let datadir = self
            .config
            .root()
            .join(text(&level.datadir, &[]).map_err(at)?);
        Ok(match &level.locations {
            Locations::Paths(ps) => ps
                .iter()
                .map(|p| {
                    let path = datadir.join(text(p, &[])?);
                    Ok(Location {
                        declared: p.clone(),
                        exists: path.exists(),
                        path,
                    })
                })
                .collect::<Result<_>>()
                .map_err(at)?,
            Locations::Globs(gs) => {
                let mut out = Vec::new();
                for g in gs {
                    let pattern = datadir.join(text(g, &[]).map_err(at)?);
                    for path in glob(&pattern).map_err(at)? {
                        out.push(Location {
                            declared: pattern.display().to_string(),
                            exists: true,
                            path,
                        });
                    }
                }
                out
            }
            Locations::Mapped {
                variable,
                key,
                template,
            } => {
                let vars = match paths.scope_lookup(variable, "mapped_path[0]").map_err(at)? {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a,
                    Some(v @ Value::String(_)) => vec![v],
                    Some(_) => Vec::new(),
                };
                let mut out = Vec::new();
                for var in &vars {
                    let path = datadir.join(text(template, &[(key, var)]).map_err(at)?);
                    out.push(Location {
                        declared: template.clone(),
                        exists: path.exists(),
                        path,
                    });
                }
                out
            }
        })
    }

    /// The data a location holds under `root`, before interpolation.
    fn read(
        &self,
        level: &Level,
        loc: &Location,
        root: &str,
        keys: &dyn Decryptor,
    ) -> Result<Option<Value>> {
        match level.backend {
            Backend::Eyaml => self
                .loader
                .load(&loc.path)?
                .lookup(root, &Lookup::new(keys)),
            Backend::YamlData => Ok(self.loader.load(&loc.path)?.raw(root).cloned()),
            Backend::JsonData => {
                let map = {
                    let cached = self
                        .json
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&loc.path)
                        .cloned();
                    match cached {
                        Some(m) => m,
                        None => {
                            let text = crate::fsutil::read_text(&loc.path)?;
                            let v = parse_json(&text).map_err(|e| {
                                Error::Lookup(format!("Unable to parse: {e}")).at(
                                    &loc.path,
                                    e.line(),
                                    e.column(),
                                )
                            })?;
                            let m = Arc::new(match v {
                                Value::Hash(m) => m,
                                _ => Map::new(),
                            });
                            self.json
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(loc.path.clone(), m.clone());
                            m
                        }
                    }
                };
                Ok(map.get_str(root).cloned())
            }
        }
    }
}

/// The keys of one level: its own when its options name keys, loaded when its first value
/// is decrypted (a level whose keys are never needed is never loaded), else the run's.
struct LevelDecryptor<'a> {
    hiera: &'a Hiera,
    index: usize,
    run: &'a dyn Decryptor,
}

impl Decryptor for LevelDecryptor<'_> {
    fn decrypt_value(&self, enc: &crate::token::EncToken) -> Result<crate::crypto::Plaintext> {
        let Some(loader) = &self.hiera.key_loader else {
            return self.run.decrypt_value(enc);
        };
        if let Some(m) = self.hiera.level_material(self.index)? {
            return m.decrypt_value(enc);
        }
        let pkcs7 = match self.hiera.level_keys()?.get(self.index) {
            Some(k) => loader.pkcs7(k),
            None => None,
        };
        match pkcs7 {
            Some(pkcs7) => WithPkcs7 {
                base: self.run,
                pkcs7: &pkcs7,
            }
            .decrypt_value(enc),
            None => self.run.decrypt_value(enc),
        }
    }
}

/// The key source of path interpolation, which never decrypts.
struct NoKeys;

impl Decryptor for NoKeys {
    fn decrypt_value(&self, _: &crate::token::EncToken) -> Result<crate::crypto::Plaintext> {
        Err(Error::Lookup("no decryption while resolving paths".into()))
    }
}

/// One lookup with its name stack (for recursion errors) and explanation.
struct Invocation<'a> {
    hiera: &'a Hiera,
    keys: &'a dyn Decryptor,
    stack: RefCell<Vec<String>>,
    explain: RefCell<Option<Vec<String>>>,
    depth: RefCell<usize>,
}

impl Invocation<'_> {
    fn note(&self, text: impl FnOnce() -> String) {
        if let Some(lines) = self.explain.borrow_mut().as_mut() {
            let depth = *self.depth.borrow();
            lines.push(format!("{}{}", "  ".repeat(depth), text()));
        }
    }

    fn nested<T>(&self, f: impl FnOnce() -> T) -> T {
        *self.depth.borrow_mut() += 1;
        let r = f();
        *self.depth.borrow_mut() -= 1;
        r
    }

    /// `Invocation#check`: a key already being looked up is a recursion.
    fn check<T>(&self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.stack.borrow().iter().any(|n| n == name) {
            return Err(Error::Lookup(format!(
                "Recursive lookup detected in [{}]",
                self.stack.borrow().join(", ")
            )));
        }
        self.stack.borrow_mut().push(name.to_string());
        let r = f();
        self.stack.borrow_mut().pop();
        r
    }

    /// `LookupAdapter#lookup`.
    fn lookup(&self, key: &str, merge: Option<&MergeSpec>) -> Result<Option<Found>> {
        if key == "lookup_options" || key.starts_with("lookup_options.") {
            return Ok(None);
        }
        let segments = split_key(key)
            .map_err(|_| Error::Lookup(format!("Syntax error in string in key: '{key}'")))?;
        let root = &segments[0];
        let options = self.hiera.options_for(root, self)?;
        let merge = match (merge, options.as_ref().and_then(|o| o.get_str("merge"))) {
            (Some(m), _) => m.clone(),
            (None, Some(m)) => {
                let spec = MergeSpec::from_value(m)?;
                self.note(|| {
                    format!(
                        "Using merge options from \"lookup_options\" hash: {}",
                        spec.strategy
                    )
                });
                spec
            }
            (None, None) => MergeSpec::default(),
        };
        self.note(|| format!("Searching for \"{key}\""));
        let found = self.nested(|| self.check(key, || self.provider_stack(root, &merge)))?;
        let Some(value) = found else {
            self.note(|| format!("No value found for \"{key}\""));
            return Ok(None);
        };
        let Some(value) = sub_lookup(key, &segments[1..], value)? else {
            return Ok(None);
        };
        let sensitive = match options.as_ref().and_then(|o| o.get_str("convert_to")) {
            None => false,
            Some(c) => {
                let ty = match c {
                    Value::Array(a) => a.first().and_then(Value::as_str),
                    other => other.as_str(),
                };
                if ty != Some("Sensitive") {
                    return Err(Error::Lookup(format!(
                        "The convert_to lookup_option for key '{key}': only Sensitive is supported, got {}",
                        c.key_text()
                    )));
                }
                self.note(|| "Applying convert_to lookup_option with arguments [Sensitive]".into());
                true
            }
        };
        Ok(Some(Found { value, sensitive }))
    }

    /// The data-provider stack (global, environment, module): only the environment layer
    /// answers here, so one found value goes through the strategy's `convert_value`.
    fn provider_stack(&self, root: &str, merge: &MergeSpec) -> Result<Option<Value>> {
        let env = self.levels(root, merge)?;
        Ok(env.map(|v| convert_value(merge.strategy, v)))
    }

    fn levels(&self, root: &str, merge: &MergeSpec) -> Result<Option<Value>> {
        let hiera = self.hiera;
        let all = hiera.locations()?;
        self.note(|| {
            format!(
                "Environment Data Provider, using configuration \"{}\", merge strategy {}",
                hiera.config.path.display(),
                merge.strategy
            )
        });
        self.nested(|| {
            reduce(merge, hiera.config.levels.len(), |i| {
                let level = &hiera.config.levels[i];
                self.note(|| format!("Hierarchy entry \"{}\"", level.name));
                self.nested(|| {
                    let locs = &all[i];
                    reduce(merge, locs.len(), |j| self.location(i, &locs[j], root))
                })
            })
        })
    }

    fn location(&self, index: usize, loc: &Location, root: &str) -> Result<Option<Value>> {
        let level = &self.hiera.config.levels[index];
        self.note(|| format!("Path \"{}\"", loc.path.display()));
        self.nested(|| {
            self.note(|| format!("Original path: \"{}\"", loc.declared));
            if !loc.exists {
                self.note(|| "Path not found".into());
                return Ok(None);
            }
            let keys = LevelDecryptor {
                hiera: self.hiera,
                index,
                run: self.keys,
            };
            let Some(raw) = self.hiera.read(level, loc, root, &keys)? else {
                self.note(|| format!("No such key: \"{root}\""));
                return Ok(None);
            };
            let v = self.interpolate(raw, true)?;
            self.note(|| {
                if v.contains_secret() {
                    format!("Found key: \"{root}\" (decrypted value not shown)")
                } else {
                    format!(
                        "Found key: \"{root}\" value: {}",
                        serde_json::to_string(&v).unwrap_or_default()
                    )
                }
            });
            Ok(Some(v))
        })
    }

    /// `Interpolation#interpolate` of a value: strings and hash keys.
    fn interpolate(&self, v: Value, methods: bool) -> Result<Value> {
        Ok(match v {
            Value::String(s) => {
                if s.contains("%{") {
                    let out = self.interpolate_str(&s, methods, &[])?;
                    match out {
                        Value::String(o) if s.is_secret() && !o.is_secret() => {
                            Value::String(Str::secret(o.to_string()))
                        }
                        other => other,
                    }
                } else {
                    Value::String(s)
                }
            }
            Value::Array(a) => Value::Array(
                a.into_iter()
                    .map(|x| self.interpolate(x, methods))
                    .collect::<Result<_>>()?,
            ),
            Value::Hash(m) => {
                let mut out = Map::new();
                for (k, x) in m.into_entries() {
                    out.insert(self.interpolate(k, methods)?, self.interpolate(x, methods)?);
                }
                Value::Hash(out)
            }
            other => other,
        })
    }

    /// `interpolate_string`: every `%{…}` replaced; an `alias` returns its value as it is.
    fn interpolate_str(
        &self,
        subject: &str,
        methods: bool,
        locals: &[(&str, &Value)],
    ) -> Result<Value> {
        static EXPR: OnceLock<Regex> = OnceLock::new();
        static METHOD: OnceLock<Regex> = OnceLock::new();
        let expr_re =
            EXPR.get_or_init(|| Regex::new(r"%\{([^}]*)\}").unwrap_or_else(|_| unreachable!()));
        let method_re = METHOD.get_or_init(|| {
            Regex::new(r#"^(\w+)\((?:"([^"]+)"|'([^']+)')\)$"#).unwrap_or_else(|_| unreachable!())
        });
        let mut out = String::new();
        let mut secret = false;
        let mut last = 0;
        for m in expr_re.captures_iter(subject) {
            let whole = m.get(0).map_or(0..0, |w| w.range());
            out.push_str(&subject[last..whole.start]);
            last = whole.end;
            let expr = m.get(1).map_or("", |e| e.as_str()).trim();
            if matches!(expr, "" | "::" | "\"\"" | "''" | "\"::\"" | "'::'") {
                continue;
            }
            let (method, key) = match method_re.captures(expr) {
                Some(c) => {
                    if !methods {
                        return Err(Error::Lookup(
                            "Interpolation using method syntax is not allowed in this context"
                                .into(),
                        ));
                    }
                    let name = c.get(1).map_or("", |x| x.as_str());
                    let key = c.get(2).or(c.get(3)).map_or("", |x| x.as_str());
                    (name, key)
                }
                None => ("scope", expr),
            };
            let value = match method {
                "literal" => Some(Value::from(key)),
                "alias" => {
                    if whole.len() != subject.len() {
                        return Err(Error::Lookup(
                            "'alias' interpolation is only permitted if the expression is equal to the entire string".into(),
                        ));
                    }
                    return self.global_lookup(key);
                }
                "lookup" | "hiera" => {
                    let v = self.global_lookup(key)?;
                    Some(self.check(key, || self.interpolate(v, methods))?)
                }
                "scope" => {
                    let v = match locals.iter().find(|(k, _)| *k == key) {
                        Some((_, v)) => Some((*v).clone()),
                        None => self.scope_lookup(key, subject)?,
                    };
                    match v {
                        None => None,
                        Some(v) => Some(
                            self.check(&format!("scope:{key}"), || self.interpolate(v, methods))?,
                        ),
                    }
                }
                other => {
                    return Err(Error::Lookup(format!(
                        "Unknown interpolation method '{other}'"
                    )))
                }
            };
            if let Some(v) = value {
                secret |= v.contains_secret();
                out.push_str(&to_s(&v));
            }
        }
        out.push_str(&subject[last..]);
        Ok(Value::String(if secret {
            Str::secret(out)
        } else {
            Str::from(out)
        }))
    }

    /// The `lookup`/`hiera`/`alias` functions: a full lookup, `''` when not found.
    fn global_lookup(&self, key: &str) -> Result<Value> {
        Ok(match self.lookup(key, None)? {
            None => Value::from(""),
            Some(Found {
                sensitive: true, ..
            }) => Value::from(SENSITIVE_REDACTED),
            Some(f) => f.value,
        })
    }

    /// The `scope` function: a top-scope variable, dotted keys digging into it.
    fn scope_lookup(&self, key: &str, subject: &str) -> Result<Option<Value>> {
        let segments = split_key(key)
            .map_err(|_| Error::Lookup(format!("Syntax error in string: {subject}")))?;
        let Some(v) = self.hiera.scope.variable(&segments[0]) else {
            self.note(|| {
                format!(
                    "Undefined variable '{}' (interpolated as an empty string)",
                    segments[0]
                )
            });
            return Ok(None);
        };
        sub_lookup(key, &segments[1..], v)
    }
}

/// `MergeStrategy#lookup` over `n` variants: none → not found; one → `merge_single`;
/// several → the first found converted, then merged with each later one.
fn reduce(
    merge: &MergeSpec,
    n: usize,
    mut variant: impl FnMut(usize) -> Result<Option<Value>>,
) -> Result<Option<Value>> {
    if merge.strategy == Merge::First {
        for i in 0..n {
            if let Some(v) = variant(i)? {
                return Ok(Some(v));
            }
        }
        return Ok(None);
    }
    if n == 1 {
        return Ok(variant(0)?.map(|v| match (merge.strategy, v) {
            (Merge::Unique, Value::Array(a)) => Value::Array(union(Vec::new(), a)),
            (_, v) => v,
        }));
    }
    let mut memo: Option<Value> = None;
    for i in 0..n {
        let Some(v) = variant(i)? else { continue };
        memo = Some(match memo {
            None => convert_value(merge.strategy, v),
            Some(m) => merge_two(merge, m, v)?,
        });
    }
    Ok(memo)
}

fn convert_value(merge: Merge, v: Value) -> Value {
    match merge {
        Merge::Unique => Value::Array(flatten(v)),
        _ => v,
    }
}

/// `MergeStrategy#merge(memo, value)` with the type checks Puppet makes.
fn merge_two(merge: &MergeSpec, memo: Value, value: Value) -> Result<Value> {
    crate::hiera::merge_two(merge.strategy, &merge.deep, memo, value)
}

/// Ruby's `to_s` of an interpolated value (`inspect` for arrays and hashes).
fn to_s(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Null => String::new(),
        other => inspect(other),
    }
}

/// Ruby 3.1's `inspect`.
fn inspect(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    '\u{1b}' => out.push_str("\\e"),
                    '#' => out.push('#'),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            // Ruby escapes `#{`, `#$` and `#@` so the text cannot be read as interpolation.
            out.replace("#{", "\\#{")
                .replace("#$", "\\#$")
                .replace("#@", "\\#@")
        }
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => ruby_float(*f),
        Value::Boolean(b) => b.to_string(),
        Value::Null => "nil".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(inspect).collect::<Vec<_>>().join(", ")),
        Value::Hash(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}=>{}", inspect(k), inspect(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Ruby's `Pathname.glob` for a pattern (`*`, `**`, `?`, `[…]`, `{a,b}`), files only, sorted.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>> {
    let text = pattern.to_string_lossy();
    let matcher = globset::GlobBuilder::new(&text)
        .literal_separator(true)
        .build()
        .map_err(|e| Error::Lookup(format!("invalid glob '{text}': {e}")))?
        .compile_matcher();
    // Walk from the deepest directory without glob characters.
    let mut base = PathBuf::new();
    for c in pattern.components() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[', '{']) {
            break;
        }
        base.push(c);
    }
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(&base)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_type().is_dir() && matcher.is_match(e.path()))
        .map(|e| e.into_path())
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_is_rubys() {
        let v = crate::yaml::load("{a: [1, 'x\"y', ~, true, 1.5], 'b#{c}': {}}").unwrap();
        assert_eq!(
            inspect(&v),
            r#"{"a"=>[1, "x\"y", nil, true, 1.5], "b\#{c}"=>{}}"#
        );
    }

    #[test]
    fn merge_specs_read_like_puppet() {
        let v =
            crate::yaml::load("{strategy: deep, knockout_prefix: '--', sort_merged_arrays: true}")
                .unwrap();
        let m = MergeSpec::from_value(&v).unwrap();
        assert_eq!(m.strategy, Merge::Deep);
        assert_eq!(m.deep.knockout_prefix.as_deref(), Some("--"));
        assert!(m.deep.sort_merged_arrays && !m.deep.merge_hash_arrays);
        assert!(MergeSpec::from_value(&Value::from("nope")).is_err());
    }
}
