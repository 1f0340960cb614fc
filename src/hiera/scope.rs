//! The node a lookup is made for, as `puppet lookup --node N --facts F` sets up its top scope:
//! the facts (also as top-scope variables), `$facts`, `$trusted` derived from the `clientcert`
//! fact (`authenticated: local`, no extensions), `$server_facts` (empty) and `$environment`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::value::{Map, Value};
use crate::yaml;

/// A node's scope.
#[derive(Clone, Debug)]
pub struct Scope {
    facts: Map,
    trusted: Value,
    environment: String,
}

impl Scope {
    /// The scope of a node with these facts in `environment`. As `puppet lookup --node` does
    /// without a CA, `trusted.certname` is the `clientcert` fact (null without one) and
    /// `trusted.hostname`/`trusted.domain` are its parts before and after the first dot.
    pub fn new(facts: Map, environment: &str) -> Scope {
        let certname = facts.get_str("clientcert").and_then(Value::as_str);
        let (hostname, domain) = match certname {
            Some(c) => match c.split_once('.') {
                Some((h, d)) => (Value::from(h), Value::from(d)),
                None => (Value::from(c), Value::Null),
            },
            None => (Value::Null, Value::Null),
        };
        let mut trusted = Map::new();
        trusted.insert("authenticated".into(), "local".into());
        trusted.insert(
            "certname".into(),
            certname.map(Value::from).unwrap_or(Value::Null),
        );
        trusted.insert("extensions".into(), Value::Hash(Map::new()));
        trusted.insert("hostname".into(), hostname);
        trusted.insert("domain".into(), domain);
        trusted.insert("external".into(), Value::Hash(Map::new()));
        Scope {
            facts,
            trusted: Value::Hash(trusted),
            environment: environment.to_string(),
        }
    }

    /// The facts.
    pub fn facts(&self) -> &Map {
        &self.facts
    }

    /// The environment's name.
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// A top-scope variable (`facts`, `trusted`, `server_facts`, `environment` or a fact;
    /// a leading `::` is ignored). `None`: not defined.
    pub fn variable(&self, name: &str) -> Option<Value> {
        let name = name.strip_prefix("::").unwrap_or(name);
        match name {
            "facts" => Some(Value::Hash(self.facts.clone())),
            "trusted" => Some(self.trusted.clone()),
            "server_facts" => Some(Value::Hash(Map::new())),
            "environment" => Some(Value::from(self.environment.as_str())),
            _ => self.facts.get_str(name).cloned(),
        }
    }
}

/// Facts `puppet lookup --facts` wants all or none of.
const TRUSTED_FACTS: [&str; 4] = ["hostname", "domain", "fqdn", "clientcert"];

/// Reads a facts file as `puppet lookup --facts` does: `.json` as JSON, `.yaml`/`.yml` as YAML,
/// anything else JSON if it parses, else YAML. The top level must be a hash that has all or
/// none of `hostname`, `domain`, `fqdn` and `clientcert`.
pub fn load_facts(path: &Path) -> Result<Map> {
    let text = crate::fsutil::read_text(path)?;
    let name = path.to_string_lossy();
    let json = || -> Result<Value> {
        parse_json(&text).map_err(|e| {
            Error::Lookup(format!("not valid JSON: {e}")).at(path, e.line(), e.column())
        })
    };
    let yaml = || -> Result<Value> {
        yaml::load(&text).map_err(|e| Error::Yaml {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            message: e.message,
        })
    };
    let value = if name.ends_with(".json") {
        json()?
    } else if name.ends_with(".yaml") || name.ends_with(".yml") {
        yaml()?
    } else {
        json().or_else(|_| yaml())?
    };
    match value {
        Value::Hash(m) => {
            let given = TRUSTED_FACTS.iter().filter(|k| m.get_str(k).is_some()).count();
            if given != 0 && given != TRUSTED_FACTS.len() {
                return Err(Error::Lookup(format!(
                    "When overriding any of the {} facts with {} given via the --facts flag, they must all be overridden.",
                    TRUSTED_FACTS.join(","),
                    path.display()
                ))
                .at(path, 1, 1));
            }
            Ok(m)
        }
        _ => Err(Error::Lookup(format!(
            "Incorrectly formatted data in {} given via the --facts flag (only accepts yaml and json files)",
            path.display()
        ))
        .at(path, 1, 1)),
    }
}

/// Parses JSON into our value, keys in file order (as Ruby's JSON keeps them).
pub(crate) fn parse_json(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str::<Json>(text).map(|j| j.0)
}

struct Json(Value);

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> std::result::Result<Value, E> {
        Ok(Value::Boolean(b))
    }
    fn visit_i64<E>(self, i: i64) -> std::result::Result<Value, E> {
        Ok(Value::Integer(i))
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> std::result::Result<Value, E> {
        Ok(i64::try_from(u)
            .map(Value::Integer)
            .unwrap_or(Value::Float(u as f64)))
    }
    fn visit_f64<E>(self, f: f64) -> std::result::Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> std::result::Result<Value, E> {
        Ok(Value::from(s))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Json(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, Json(v))) = map.next_entry::<String, Json>()? {
            out.insert(Value::from(k), v);
        }
        Ok(Value::Hash(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_comes_from_clientcert() {
        let mut f = Map::new();
        f.insert("clientcert".into(), "web1.example.com".into());
        let s = Scope::new(f, "production");
        let t = serde_json::to_string(&s.variable("trusted").unwrap()).unwrap();
        assert_eq!(
            t,
            r#"{"authenticated":"local","certname":"web1.example.com","extensions":{},"hostname":"web1","domain":"example.com","external":{}}"#
        );
        assert_eq!(s.variable("::environment"), Some("production".into()));
        assert_eq!(s.variable("nope"), None);
    }
}
