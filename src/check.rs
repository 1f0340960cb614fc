//! `check`: findings about eyaml files and recipients files for CI and pre-commit hooks, made
//! with public keys at most. Each finding names a rule, a severity and a place; no finding ever
//! quotes a value, so a report can be printed and stored anywhere.
//!
//! ```
//! use eyaml_gpg::check::{Checker, Config, Rule};
//! use eyaml_gpg::pgp::Keystore;
//! use std::path::Path;
//!
//! let keys = Keystore::new();
//! let config = Config::default();
//! let checker = Checker::new(&keys, &config);
//! let text = "app::db_password: DEC::GPG[leaked]!\n";
//! let findings = checker.file(Path::new("common.eyaml"), text, None);
//! assert_eq!(findings[0].rule, Rule::DecMarker);
//! assert!(!findings[0].message.contains("leaked"));
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::crypto::{EncryptionKey, KeyId, MessageInfo};
use crate::error::Error;
use crate::scheme::{KeyMaterial, Scheme};
use crate::stale::{self, ValueState};
use crate::token::{self, Kinds, Located, Token};

/// How bad a finding is; `--fail-on` compares against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth fixing, does not fail a check by default.
    Warning,
    /// Fails a check by default.
    Error,
}

impl Severity {
    /// `warning` or `error`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules `check` applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// A `DEC::…[…]!` edit marker: a plaintext secret in the file.
    DecMarker,
    /// Leftover `# | ` lines of the `eyaml edit` preamble.
    EditPreamble,
    /// An ENC value that cannot be read: bad base64, not OpenPGP, not encrypted, unknown
    /// scheme, or a form eyaml does not recognise.
    BadEnc,
    /// A value encrypted to other keys than its recipients file asks for.
    StaleRecipients,
    /// A recipient that matches no usable public key.
    UnknownRecipient,
    /// ENC values with no recipients file above them (or an empty recipients file).
    NoRecipients,
    /// A plaintext secret: a value under a secret-looking key, a PEM private key, a
    /// high-entropy string.
    PlaintextSecret,
    /// An ENC value that Puppet's `eyaml_lookup_key` returns still encrypted.
    PuppetWontDecrypt,
    /// The file does not parse as YAML.
    Yaml,
    /// Recipients named by name or e-mail, expired, revoked or soon-expiring keys.
    RecipientHygiene,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 10] = [
        Rule::DecMarker,
        Rule::EditPreamble,
        Rule::BadEnc,
        Rule::StaleRecipients,
        Rule::UnknownRecipient,
        Rule::NoRecipients,
        Rule::PlaintextSecret,
        Rule::PuppetWontDecrypt,
        Rule::Yaml,
        Rule::RecipientHygiene,
    ];

    /// The rule id as printed (`dec-marker`, …).
    pub fn id(&self) -> &'static str {
        match self {
            Rule::DecMarker => "dec-marker",
            Rule::EditPreamble => "edit-preamble",
            Rule::BadEnc => "bad-enc",
            Rule::StaleRecipients => "stale-recipients",
            Rule::UnknownRecipient => "unknown-recipient",
            Rule::NoRecipients => "no-recipients",
            Rule::PlaintextSecret => "plaintext-secret",
            Rule::PuppetWontDecrypt => "puppet-wont-decrypt",
            Rule::Yaml => "yaml",
            Rule::RecipientHygiene => "recipient-hygiene",
        }
    }

    /// The rule with id `id`.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The severity of the rule's findings (a PKCS7 value is only a warning of `bad-enc`).
    pub fn severity(&self) -> Severity {
        match self {
            Rule::RecipientHygiene => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One finding. The message never contains a value, only keys, positions and key ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// Its severity.
    pub severity: Severity,
    /// The file, as the caller named it.
    pub path: std::path::PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
    /// The YAML key the finding is about, when known (for allowlists).
    pub key: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}[{}]: {}",
            self.path.display(),
            self.line,
            self.column,
            self.severity,
            self.rule,
            self.message
        )
    }
}

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
        self.path.as_deref().is_none_or(|g| glob_match(g, path))
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
        for a in file.allow.unwrap_or_default() {
            if let Some(r) = &a.rule {
                if Rule::from_id(r).is_none() {
                    return Err(bad(format!("allow: unknown rule {r:?}")));
                }
            }
            c.allow.push(a);
        }
        Ok(c)
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

/// What a recipients file asks for, resolved against the public keys at hand.
#[derive(Clone, Debug, Default)]
pub struct RecipientsCheck {
    /// The keys values should be encrypted to; `None` when they cannot be known (a recipient
    /// is unknown, or no keys were loaded), so staleness is not judged.
    pub desired: Option<Vec<EncryptionKey>>,
    /// Key ids of expired or revoked recipients: a value may or may not still name them.
    pub ignored: BTreeSet<KeyId>,
    /// The recipients file's own findings.
    pub findings: Vec<Finding>,
    /// The recipients file (for messages), `None` for `--gpg-recipients`.
    pub path: Option<std::path::PathBuf>,
}

impl RecipientsCheck {
    /// Recipients given directly (`--gpg-recipients`), already resolved.
    pub fn from_keys(desired: Vec<EncryptionKey>) -> RecipientsCheck {
        RecipientsCheck {
            desired: Some(desired),
            ..RecipientsCheck::default()
        }
    }
}

/// Applies the rules with one key store and configuration.
pub struct Checker<'a> {
    backend: &'a dyn KeyMaterial,
    config: &'a Config,
    method: Scheme,
    now: SystemTime,
}

impl<'a> Checker<'a> {
    /// A checker using `backend` for public keys and message inspection (no secret key is
    /// ever used).
    pub fn new(backend: &'a dyn KeyMaterial, config: &'a Config) -> Self {
        Checker {
            backend,
            config,
            method: Scheme::Gpg,
            now: SystemTime::now(),
        }
    }

    /// The method assumed for `ENC[payload]` values without a scheme (`-n`).
    pub fn with_method(mut self, method: Scheme) -> Self {
        self.method = method;
        self
    }

    /// The time expiry is judged at (tests).
    pub fn with_now(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// Checks a recipients file: naming hygiene always; with `resolve`, which keys it means
    /// (unknown recipients, expired, revoked and expiring keys).
    pub fn recipients(&self, path: &Path, text: &str, resolve: bool) -> RecipientsCheck {
        let mut out = RecipientsCheck {
            path: Some(path.to_path_buf()),
            ..RecipientsCheck::default()
        };
        let mut desired = Vec::new();
        let mut complete = resolve;
        let mut any = false;
        let finding = |rule: Rule, line: usize, column: usize, message: String| Finding {
            rule,
            severity: rule.severity(),
            path: path.to_path_buf(),
            line,
            column,
            message,
            key: None,
        };
        for (i, raw) in text.lines().enumerate() {
            let Some(name) = crate::recipients::parse(raw).pop() else {
                continue;
            };
            any = true;
            let line = i + 1;
            let column = raw[..raw.find(name.as_str()).unwrap_or(0)].chars().count() + 1;
            let naming = naming_kind(&name);
            let resolved = resolve.then(|| self.backend.gpg().resolve(&name));
            if let Some(kind) = naming {
                let fpr = match &resolved {
                    Some(Ok(k)) => format!(" ({})", k.cert.fingerprint),
                    _ => String::new(),
                };
                out.findings.push(finding(
                    Rule::RecipientHygiene,
                    line,
                    column,
                    format!(
                        "recipient `{name}` is named by {kind}; name it by fingerprint{fpr} so \
                         that no other key can match it"
                    ),
                ));
            }
            match resolved {
                None => {}
                Some(Ok(k)) => {
                    let soon = self.now + self.config.expiry_warning;
                    let status = self.backend.gpg().recipient_status(&k.cert.fingerprint);
                    if let Some(exp) = status.iter().filter_map(|s| s.expires).min() {
                        if exp <= soon {
                            out.findings.push(finding(
                                Rule::RecipientHygiene,
                                line,
                                column,
                                format!(
                                    "{} expires on {} (within {} days): extend it or replace it",
                                    who(&name, &k.cert.fingerprint),
                                    crate::datetime::date(exp),
                                    self.config.expiry_warning.as_secs() / 86400
                                ),
                            ));
                        }
                    }
                    desired.push(k);
                }
                Some(Err(e)) => {
                    let dead: Vec<_> = self
                        .backend
                        .gpg()
                        .recipient_status(&name)
                        .into_iter()
                        .filter(|s| s.revoked || s.expires.is_some_and(|t| t <= self.now))
                        .collect();
                    if dead.is_empty() {
                        complete = false;
                        out.findings.push(finding(
                            Rule::UnknownRecipient,
                            line,
                            column,
                            format!("recipient `{name}` cannot be used: {e}"),
                        ));
                    } else {
                        for s in dead {
                            let what = if s.revoked {
                                "is revoked".to_string()
                            } else {
                                format!(
                                    "expired on {}",
                                    s.expires.map(crate::datetime::date).unwrap_or_default()
                                )
                            };
                            out.findings.push(finding(
                                Rule::RecipientHygiene,
                                line,
                                column,
                                format!(
                                    "{} {what}: new values cannot be encrypted to it; remove it \
                                     from the file or renew the key",
                                    who(&name, &s.fingerprint)
                                ),
                            ));
                            out.ignored.extend(s.key_ids);
                        }
                    }
                }
            }
        }
        if !any {
            out.findings.push(finding(
                Rule::NoRecipients,
                1,
                1,
                "the recipients file lists no recipient".into(),
            ));
            complete = false;
        }
        out.desired = complete.then_some(desired);
        out
    }

    /// Checks one eyaml file's text. `recipients` is what its nearest recipients file asks
    /// for (`None`: there is none).
    pub fn file(
        &self,
        path: &Path,
        text: &str,
        recipients: Option<&RecipientsCheck>,
    ) -> Vec<Finding> {
        let lines = Lines::new(text);
        let tokens = token::scan(text, Kinds::BOTH);
        let mut out = FileFindings {
            path,
            findings: Vec::new(),
        };
        if self.config.applies(Rule::Yaml) {
            if let Err(e) = crate::yaml::validate(text) {
                out.push(
                    Rule::Yaml,
                    e.line.max(1),
                    e.column.max(1),
                    format!("the file does not parse as YAML: {}", e.message),
                    None,
                );
            }
        }
        let mut covered: Vec<(usize, usize)> = Vec::new();
        let mut values = 0usize;
        let mut first_value: Option<(usize, usize)> = None;
        for t in &tokens {
            let span = (t.offset, t.offset + t.token.raw().len());
            match &t.token {
                Token::Plain(_) => continue,
                Token::Dec(d) => {
                    covered.push(span);
                    let id = d.id.map(|n| format!("({n})")).unwrap_or_default();
                    out.push(
                        Rule::DecMarker,
                        t.line,
                        t.column,
                        format!(
                            "a `DEC{id}::{}[…]!` edit marker holds a plaintext secret; encrypt it \
                             with `eyaml-gpg encrypt -e FILE` (or `eyaml-gpg edit`)",
                            d.scheme
                        ),
                        lines.key_at(t.offset),
                    );
                }
                Token::Enc(e) => {
                    covered.push(span);
                    if lines.in_comment(t.offset) {
                        continue;
                    }
                    values += 1;
                    first_value.get_or_insert((t.line, t.column));
                    let key = lines.key_at(t.offset);
                    if lines.is_mapping_key(t.offset) {
                        out.push(
                            Rule::PuppetWontDecrypt,
                            t.line,
                            t.column,
                            "an ENC value used as a mapping key: Puppet decrypts values only"
                                .into(),
                            key.clone(),
                        );
                    }
                    self.value(&mut out, t, e, key, recipients);
                }
            }
        }
        self.unterminated_dec(&mut out, text, &lines, &covered);
        self.unrecognised_enc(
            &mut out,
            text,
            &lines,
            &covered,
            &mut values,
            &mut first_value,
        );
        if values > 0 && recipients.is_none() {
            let (line, column) = first_value.unwrap_or((1, 1));
            out.push(
                Rule::NoRecipients,
                line,
                column,
                format!(
                    "{values} ENC value(s) but no {} in this directory or above: nobody knows \
                     whom new values are encrypted to",
                    crate::recipients::RECIPIENTS_FILE
                ),
                None,
            );
        }
        self.preamble(&mut out, &lines);
        self.plaintext(&mut out, text, &lines, &covered);
        let mut findings = out.findings;
        findings.retain(|f| self.config.applies(f.rule) && !lines.allowed(f));
        findings.sort_by_key(|a| (a.line, a.column, a.rule));
        findings.dedup_by(|a, b| a.line == b.line && a.column == b.column && a.rule == b.rule);
        findings
    }

    fn value(
        &self,
        out: &mut FileFindings<'_>,
        t: &Located,
        e: &token::EncToken,
        key: Option<String>,
        recipients: Option<&RecipientsCheck>,
    ) {
        let info = match stale::message_info(self.backend, e, self.method) {
            Ok(info) => info,
            Err(err) => {
                let unsupported = matches!(err, Error::UnsupportedScheme(_));
                out.push_with(
                    Rule::BadEnc,
                    if unsupported {
                        Severity::Warning
                    } else {
                        Severity::Error
                    },
                    t.line,
                    t.column,
                    if unsupported {
                        format!("{err}: this value is not checked")
                    } else {
                        format!("the ENC value cannot be read: {err}")
                    },
                    key,
                );
                return;
            }
        };
        let Some(rc) = recipients else { return };
        let Some(desired) = &rc.desired else { return };
        let info = MessageInfo {
            pkesks: info
                .pkesks
                .into_iter()
                .filter(|p| p.key_id.is_none_or(|k| !rc.ignored.contains(&k)))
                .collect(),
            ..info
        };
        if let ValueState::Stale { added, removed } = stale::compare(&info, desired) {
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!(
                    "not encrypted to {}",
                    added
                        .iter()
                        .map(|k| {
                            format!(
                                "{} ({})",
                                k.subkey_id,
                                k.cert.user_id.as_deref().unwrap_or(&k.recipient)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if !removed.is_empty() {
                parts.push(format!(
                    "still encrypted to {}",
                    removed
                        .iter()
                        .map(|id| match self.backend.gpg().describe(id) {
                            Some(c) => match c.user_id {
                                Some(u) => format!("{id} ({u})"),
                                None => id.to_string(),
                            },
                            None => id.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let from = rc
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "--gpg-recipients".into());
            out.push(
                Rule::StaleRecipients,
                t.line,
                t.column,
                format!(
                    "the value's recipients differ from {from}: {}; re-encrypt it \
                     (eyaml-gpg recrypt)",
                    parts.join("; ")
                ),
                key,
            );
        }
    }

    /// `DEC::SCHEME[` or `DEC(n)::SCHEME[` with no closing `]!`: a plaintext the scanner cannot
    /// see as a value (an edit cut short), still a secret in the file.
    fn unterminated_dec(
        &self,
        out: &mut FileFindings<'_>,
        text: &str,
        lines: &Lines<'_>,
        covered: &[(usize, usize)],
    ) {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(i) = text[from..].find("DEC").map(|i| i + from) {
            from = i + 3;
            if covered.iter().any(|&(a, b)| a <= i && i < b) {
                continue;
            }
            let mut j = i + 3;
            if bytes.get(j) == Some(&b'(') {
                j += 1;
                let digits = j;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                if j == digits || bytes.get(j) != Some(&b')') {
                    continue;
                }
                j += 1;
            }
            if !text[j..].starts_with("::") {
                continue;
            }
            j += 2;
            let scheme = j;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            if j == scheme || bytes.get(j) != Some(&b'[') {
                continue;
            }
            let (line, column) = lines.position(i);
            out.push(
                Rule::DecMarker,
                line,
                column,
                "an unterminated `DEC::…[` edit marker (no closing `]!`) holds a plaintext \
                 secret; finish or remove it, then encrypt with `eyaml-gpg encrypt -e FILE`"
                    .into(),
                lines.key_at(i),
            );
            from = j;
        }
    }

    /// `ENC[` text the scanner did not take as a value although it looks like one with line
    /// breaks or spaces in its payload: Puppet reads some such forms, eyaml reads none.
    fn unrecognised_enc(
        &self,
        out: &mut FileFindings<'_>,
        text: &str,
        lines: &Lines<'_>,
        covered: &[(usize, usize)],
        values: &mut usize,
        first_value: &mut Option<(usize, usize)>,
    ) {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(i) = text[from..].find("ENC[").map(|i| i + from) {
            from = i + 4;
            if covered.iter().any(|&(a, b)| a <= i && i < b) || lines.in_comment(i) {
                continue;
            }
            let mut j = i + 4;
            while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b',' {
                j += 1;
            } else {
                j = i + 4;
            }
            let start = j;
            while j < bytes.len()
                && (bytes[j].is_ascii_alphanumeric()
                    || matches!(bytes[j], b'+' | b'/' | b'=')
                    || bytes[j].is_ascii_whitespace())
            {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] != b']' || j == start {
                continue;
            }
            let payload = &text[start..j];
            if !payload.bytes().any(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let (line, column) = lines.position(i);
            *values += 1;
            first_value.get_or_insert((line, column));
            let key = lines.key_at(i);
            if lines.in_literal_block(i) && payload.contains('\n') {
                out.push(
                    Rule::PuppetWontDecrypt,
                    line,
                    column,
                    "an ENC value that wraps lines inside a `|` literal block: Puppet returns it \
                     still encrypted (write it on one line or in a `>` block)"
                        .into(),
                    key,
                );
            } else {
                out.push(
                    Rule::BadEnc,
                    line,
                    column,
                    "an ENC value with line breaks or spaces outside a bare `>` block: eyaml \
                     does not see it as a value, so it cannot be decrypted, edited or checked \
                     (write it on one line or in a `>` block)"
                        .into(),
                    key,
                );
            }
            from = j;
        }
    }

    fn preamble(&self, out: &mut FileFindings<'_>, lines: &Lines<'_>) {
        let mut run: Option<(usize, usize)> = None;
        let mut runs = Vec::new();
        for (i, l) in lines.lines.iter().enumerate() {
            let is = !l.block_content && (l.text == "# |" || l.text.starts_with("# | "));
            match (is, run) {
                (true, None) => run = Some((i, 1)),
                (true, Some((s, n))) => run = Some((s, n + 1)),
                (false, Some(r)) => {
                    runs.push(r);
                    run = None;
                }
                (false, None) => {}
            }
        }
        runs.extend(run);
        for (start, n) in runs {
            out.push(
                Rule::EditPreamble,
                start + 1,
                1,
                format!("{n} leftover line(s) of the `eyaml edit` preamble (`# | …`): delete them"),
                None,
            );
        }
    }

    fn plaintext(
        &self,
        out: &mut FileFindings<'_>,
        text: &str,
        lines: &Lines<'_>,
        covered: &[(usize, usize)],
    ) {
        let in_token = |off: usize| covered.iter().any(|&(a, b)| a <= off && off < b);
        for (i, l) in lines.lines.iter().enumerate() {
            // A PEM private key anywhere in plain text, comments included.
            if let Some(p) = pem_private(l.text) {
                if !in_token(l.start + p) {
                    let (line, column, key) = match l.owner {
                        Some(o) if l.block_content => {
                            let ol = &lines.lines[o];
                            (
                                o + 1,
                                char_col(ol.text, ol.value.map(|v| v.0).unwrap_or(0)),
                                ol.key.clone(),
                            )
                        }
                        _ => (i + 1, char_col(l.text, p), lines.key_at(l.start + p)),
                    };
                    out.push(
                        Rule::PlaintextSecret,
                        line,
                        column,
                        format!("a PEM private key block (line {}) in plain text", i + 1),
                        key,
                    );
                }
            }
            if l.block_content || l.comment_line {
                continue;
            }
            let Some((vstart, vend)) = l.value else {
                continue;
            };
            let raw = &l.text[vstart..vend];
            if in_token(l.start + vstart)
                || covered
                    .iter()
                    .any(|&(a, b)| a < l.start + vend && l.start + vstart < b)
            {
                continue;
            }
            let value = scalar_value(raw);
            let secret_key = l.key.as_deref().and_then(|k| {
                let lk = k.to_lowercase();
                self.config
                    .secret_keys
                    .iter()
                    .find(|p| lk.contains(p.as_str()))
                    .cloned()
            });
            let column = char_col(l.text, vstart);
            match value {
                Scalar::Block => {
                    let Some(pattern) = secret_key else { continue };
                    let content = lines.block_of(i);
                    if content.is_empty()
                        || content.iter().any(|&(a, b)| {
                            covered.iter().any(|&(x, y)| x < b && a < y)
                                || text[a..b].contains("ENC[")
                        })
                    {
                        continue;
                    }
                    out.push(
                        Rule::PlaintextSecret,
                        i + 1,
                        column,
                        format!(
                            "a plain block value under the secret-looking key `{}` (matches \
                             `{pattern}`): encrypt it",
                            l.key.as_deref().unwrap_or_default()
                        ),
                        l.key.clone(),
                    );
                }
                Scalar::Text(v) => {
                    if let Some(pattern) = secret_key {
                        if looks_like_data(&v) {
                            out.push(
                                Rule::PlaintextSecret,
                                i + 1,
                                column,
                                format!(
                                    "a plain value under the secret-looking key `{}` (matches \
                                     `{pattern}`): encrypt it",
                                    l.key.as_deref().unwrap_or_default()
                                ),
                                l.key.clone(),
                            );
                            continue;
                        }
                    }
                    if self.config.high_entropy && high_entropy(&v, self.config.entropy_min_length)
                    {
                        let under = l
                            .key
                            .as_deref()
                            .map(|k| format!(" under `{k}`"))
                            .unwrap_or_default();
                        out.push(
                            Rule::PlaintextSecret,
                            i + 1,
                            column,
                            format!(
                                "a plain value{under} looks like a generated secret (high \
                                 entropy): encrypt it, or allow it if it is not secret"
                            ),
                            l.key.clone(),
                        );
                    }
                }
                Scalar::Skip => {}
            }
        }
    }
}

struct FileFindings<'p> {
    path: &'p Path,
    findings: Vec<Finding>,
}

impl FileFindings<'_> {
    fn push(
        &mut self,
        rule: Rule,
        line: usize,
        column: usize,
        message: String,
        key: Option<String>,
    ) {
        self.push_with(rule, rule.severity(), line, column, message, key);
    }

    fn push_with(
        &mut self,
        rule: Rule,
        severity: Severity,
        line: usize,
        column: usize,
        message: String,
        key: Option<String>,
    ) {
        self.findings.push(Finding {
            rule,
            severity,
            path: self.path.to_path_buf(),
            line,
            column,
            message,
            key,
        });
    }
}

/// `key FPR of recipient `name`` (just the key when the recipient is its fingerprint).
fn who(name: &str, fingerprint: &str) -> String {
    let compact: String = name
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ' ' && *c != '!')
        .collect();
    if compact.eq_ignore_ascii_case(fingerprint) {
        format!("recipient key {fingerprint}")
    } else {
        format!("key {fingerprint} of recipient `{name}`")
    }
}

/// How a recipient string names its key when it is not a fingerprint.
fn naming_kind(name: &str) -> Option<&'static str> {
    let body = name.trim().trim_end_matches('!');
    let body = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))
        .unwrap_or(body);
    let hex: String = body.chars().filter(|c| *c != ' ').collect();
    let all_hex = !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    if all_hex && (hex.len() == 40 || hex.len() == 64) {
        None
    } else if all_hex && (hex.len() == 16 || hex.len() == 8) {
        Some("key id")
    } else if name.contains('@') {
        Some("e-mail address")
    } else {
        Some("name")
    }
}

fn char_col(line: &str, byte: usize) -> usize {
    line[..byte.min(line.len())].chars().count() + 1
}

/// The byte offset of a PEM private key header in a line.
fn pem_private(line: &str) -> Option<usize> {
    let i = line.find("-----BEGIN ")?;
    let rest = &line[i + 11..];
    let end = rest.find("-----")?;
    let label = &rest[..end];
    (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK")).then_some(i)
}

/// A plain scalar as far as the secret rules care.
enum Scalar {
    /// A `|` or `>` block indicator: the value is on the following lines.
    Block,
    /// A one-line value (quotes removed).
    Text(String),
    /// Nothing to judge (alias, flow collection, unterminated quote).
    Skip,
}

fn scalar_value(raw: &str) -> Scalar {
    let v = raw.trim();
    let stripped = strip_properties(v);
    if stripped.is_empty() && !v.is_empty() {
        return Scalar::Skip;
    }
    let v = stripped;
    if v.is_empty() || v.starts_with('*') || v.starts_with('{') || v.starts_with('[') {
        return Scalar::Skip;
    }
    if (v.starts_with('|') || v.starts_with('>'))
        && v[1..]
            .chars()
            .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
    {
        return Scalar::Block;
    }
    if let Some(rest) = v.strip_prefix('"') {
        return match rest.strip_suffix('"') {
            Some(inner) => Scalar::Text(inner.to_string()),
            None => Scalar::Skip,
        };
    }
    if let Some(rest) = v.strip_prefix('\'') {
        return match rest.strip_suffix('\'') {
            Some(inner) => Scalar::Text(inner.replace("''", "'")),
            None => Scalar::Skip,
        };
    }
    Scalar::Text(v.to_string())
}

/// Whether a value under a secret-looking key is data worth flagging (not a boolean, null,
/// small number or a pure `%{…}` interpolation of another key).
fn looks_like_data(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return false;
    }
    if t.len() < 6 && t.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    if t.starts_with("%{") && t.ends_with('}') && t.matches("%{").count() == 1 {
        return false;
    }
    true
}

/// Whether a one-word string looks randomly generated: long enough, made of base64/hex
/// characters with letters and digits mixed, and close to the highest entropy its length allows.
fn high_entropy(v: &str, min_len: usize) -> bool {
    let n = v.chars().count();
    if n < min_len
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'))
    {
        return false;
    }
    let digits = v.chars().filter(|c| c.is_ascii_digit()).count();
    let upper = v.chars().any(|c| c.is_ascii_uppercase());
    let lower = v.chars().any(|c| c.is_ascii_lowercase());
    if digits == 0 || !(upper || lower) {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in v.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let h: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    // Hex strings are checksums, fingerprints and commit ids far more often than secrets;
    // under a secret-looking key the key rule catches them.
    if v.chars().all(|c| c.is_ascii_hexdigit()) || !(upper && lower) {
        return false;
    }
    // Words with a number at the end (`server01`, `Name2024`) are not random: a digit must
    // appear between letters, and the case must switch often, as in generated strings.
    let inner = v.trim_matches(|c: char| c.is_ascii_digit() || !c.is_ascii_alphanumeric());
    if !inner.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let letters: Vec<bool> = v
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.is_ascii_uppercase())
        .collect();
    let switches = letters.windows(2).filter(|w| w[0] != w[1]).count();
    switches * 5 >= letters.len() && h >= 0.85 * (n.min(64) as f64).log2()
}

/// A glob match: `*` and `?` within one path segment, `**` across segments.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    glob(&p, &s)
}

fn glob(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') if p.get(1) == Some(&'*') => {
            let rest = if p.get(2) == Some(&'/') {
                &p[3..]
            } else {
                &p[2..]
            };
            (0..=s.len()).any(|i| (i == 0 || s[i - 1] == '/') && glob(rest, &s[i..]))
                || (p.get(2) != Some(&'/') && (0..=s.len()).any(|i| glob(rest, &s[i..])))
        }
        Some('*') => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != '/')
            .any(|i| glob(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && s[0] != '/' && glob(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

/// One line of the text with what a light YAML reading says about it.
struct Line<'t> {
    start: usize,
    text: &'t str,
    /// A whole-line comment.
    comment_line: bool,
    /// Byte offset in the line where a trailing comment starts.
    comment_at: Option<usize>,
    /// Inside a `|`/`>` block scalar or a multi-line quoted scalar.
    block_content: bool,
    /// The line owning this block content.
    owner: Option<usize>,
    /// The block indicator style of this line's value (`|` or `>`), when it opens a block.
    opens: Option<char>,
    /// The mapping key on this line.
    key: Option<String>,
    /// Byte span of the key in the line.
    key_span: Option<(usize, usize)>,
    /// Byte span of the value (after `key: ` or `- `), comment excluded.
    value: Option<(usize, usize)>,
}

/// A line-based reading of a YAML text: enough to tell comments, keys, one-line values and
/// block scalars apart, robust to files that do not parse.
struct Lines<'t> {
    lines: Vec<Line<'t>>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        let mut lines: Vec<Line<'t>> = Vec::new();
        let mut start = 0;
        // (owner line, owner indentation, style, quote char for multi-line quoted scalars)
        let mut block: Option<(usize, usize, char)> = None;
        for raw in text.split_inclusive('\n') {
            let content = raw.trim_end_matches(['\n', '\r']);
            let idx = lines.len();
            let indent = content.len() - content.trim_start_matches([' ', '\t']).len();
            let blank = content.trim().is_empty();
            let mut line = Line {
                start,
                text: content,
                comment_line: false,
                comment_at: None,
                block_content: false,
                owner: None,
                opens: None,
                key: None,
                key_span: None,
                value: None,
            };
            start += raw.len();
            if let Some((owner, owner_indent, style)) = block {
                let inside = match style {
                    '"' | '\'' => true,
                    _ => blank || indent > owner_indent,
                };
                if inside {
                    line.block_content = true;
                    line.owner = Some(owner);
                    if (style == '"' || style == '\'') && closes_quote(content, style) {
                        block = None;
                    }
                    lines.push(line);
                    continue;
                }
                block = None;
            }
            let body = &content[indent..];
            if blank {
                lines.push(line);
                continue;
            }
            if body.starts_with('#') {
                line.comment_line = true;
                line.comment_at = Some(indent);
                lines.push(line);
                continue;
            }
            // Sequence markers, then a key.
            let mut pos = indent;
            let mut node_indent = indent;
            while content[pos..].starts_with("- ") || &content[pos..] == "-" {
                pos += 1;
                while content[pos..].starts_with([' ', '\t']) {
                    pos += 1;
                }
                node_indent = pos;
            }
            if let Some((kend, key)) = mapping_key(&content[pos..]) {
                line.key_span = Some((pos, pos + kend));
                line.key = Some(key);
                pos += kend + 1;
                while content[pos..].starts_with([' ', '\t']) {
                    pos += 1;
                }
            } else {
                // A bare sequence item or a continuation line: its parent is the dash.
                node_indent = if node_indent > indent {
                    indent
                } else {
                    node_indent
                };
            }
            let (vend, comment) = value_end(content, pos);
            line.comment_at = comment;
            if vend > pos {
                line.value = Some((pos, vend));
                let v = content[pos..vend].trim();
                let v = strip_properties(v);
                if (v.starts_with('|') || v.starts_with('>'))
                    && v[1..]
                        .chars()
                        .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
                {
                    let style = v.chars().next().unwrap_or('|');
                    line.opens = Some(style);
                    let parent = if line.key.is_some() {
                        node_indent
                    } else {
                        indent
                    };
                    block = Some((idx, parent, style));
                } else if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
                    if !closes_quote(&v[1..], q) {
                        block = Some((idx, indent, q));
                    }
                }
            }
            lines.push(line);
        }
        Lines { lines }
    }

    fn line_of(&self, offset: usize) -> usize {
        match self.lines.binary_search_by(|l| l.start.cmp(&offset)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let i = self.line_of(offset);
        let l = &self.lines[i];
        (i + 1, char_col(l.text, offset - l.start))
    }

    fn in_comment(&self, offset: usize) -> bool {
        let l = &self.lines[self.line_of(offset)];
        !l.block_content && l.comment_at.is_some_and(|c| offset - l.start >= c)
    }

    fn in_literal_block(&self, offset: usize) -> bool {
        let l = &self.lines[self.line_of(offset)];
        l.block_content && l.owner.is_some_and(|o| self.lines[o].opens == Some('|'))
    }

    fn is_mapping_key(&self, offset: usize) -> bool {
        let l = &self.lines[self.line_of(offset)];
        !l.block_content
            && l.key_span
                .is_some_and(|(a, b)| a <= offset - l.start && offset - l.start < b)
    }

    /// The key of the line holding `offset`, or of the block's owner.
    fn key_at(&self, offset: usize) -> Option<String> {
        let l = &self.lines[self.line_of(offset)];
        match l.owner {
            Some(o) if l.block_content => self.lines[o].key.clone(),
            _ => l.key.clone(),
        }
    }

    /// Byte spans (in the text) of the non-blank content lines of the block opened at `i`.
    fn block_of(&self, i: usize) -> Vec<(usize, usize)> {
        self.lines[i + 1..]
            .iter()
            .take_while(|l| l.block_content && l.owner == Some(i))
            .filter(|l| !l.text.trim().is_empty())
            .map(|l| (l.start, l.start + l.text.len()))
            .collect()
    }

    /// Whether an inline `# eyaml-gpg: allow [rule,…]` comment on the finding's line (or on
    /// the line owning its block) silences it.
    fn allowed(&self, f: &Finding) -> bool {
        let Some(mut l) = self.lines.get(f.line.wrapping_sub(1)) else {
            return false;
        };
        if l.block_content {
            match l.owner {
                Some(o) => l = &self.lines[o],
                None => return false,
            }
        }
        let Some(c) = l.comment_at else { return false };
        let comment = &l.text[c..];
        let Some(i) = comment.find("eyaml-gpg: allow") else {
            return false;
        };
        let rest = comment[i + 16..].trim();
        let rules: Vec<&str> = rest
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .take_while(|s| Rule::from_id(s).is_some())
            .collect();
        rules.is_empty() || rules.contains(&f.rule.id())
    }
}

fn strip_properties(mut v: &str) -> &str {
    while let Some(rest) = v.strip_prefix('&').or_else(|| v.strip_prefix('!')) {
        match rest.find([' ', '\t']) {
            Some(i) => v = rest[i..].trim_start(),
            None => return "",
        }
    }
    v
}

/// Whether a quoted scalar started before `s` ends in `s`.
fn closes_quote(s: &str, q: char) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if q == '"' && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q as u8 {
            if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return true;
        }
        i += 1;
    }
    false
}

/// The mapping key at the start of `s`: (byte offset of its `:`, key text).
fn mapping_key(s: &str) -> Option<(usize, String)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if matches!(
        first,
        b'{' | b'[' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'#' | b'?'
    ) {
        return None;
    }
    if first == b'"' || first == b'\'' {
        let q = first as char;
        let mut i = 1;
        while i < b.len() {
            if q == '"' && b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == first {
                if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let key = s[1..i].to_string();
        let mut j = i + 1;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        return (b.get(j) == Some(&b':')
            && matches!(b.get(j + 1), None | Some(b' ') | Some(b'\t')))
        .then_some((j, key));
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b':' if matches!(b.get(i + 1), None | Some(b' ') | Some(b'\t')) => {
                return Some((i, s[..i].trim_end().to_string()));
            }
            b'#' if i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t') => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the value starting at `pos` ends (before a trailing comment), and where that comment
/// starts.
fn value_end(line: &str, pos: usize) -> (usize, Option<usize>) {
    let b = line.as_bytes();
    let mut i = pos;
    // A quoted value ends at its closing quote; a comment may follow.
    if let Some(&q) = b.get(pos).filter(|&&c| c == b'"' || c == b'\'') {
        i += 1;
        while i < b.len() {
            if q == b'"' && b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == q {
                if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            i += 1;
        }
        i = i.min(b.len());
    }
    while i < b.len() {
        if b[i] == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
            let end = line[pos..i].trim_end().len() + pos;
            return (end, Some(i));
        }
        i += 1;
    }
    (line.trim_end().len().max(pos), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgp::Keystore;

    fn run(text: &str) -> Vec<(String, usize, usize)> {
        let keys = Keystore::new();
        let config = Config::default();
        Checker::new(&keys, &config)
            .file(Path::new("t.eyaml"), text, None)
            .into_iter()
            .map(|f| (f.rule.id().to_string(), f.line, f.column))
            .collect()
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.eyaml", "a.eyaml"));
        assert!(!glob_match("*.eyaml", "d/a.eyaml"));
        assert!(glob_match("**/*.eyaml", "a.eyaml"));
        assert!(glob_match("**/*.eyaml", "x/y/a.eyaml"));
        assert!(glob_match("hieradata/**", "hieradata/a/b.yaml"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "a/c"));
    }

    #[test]
    fn secret_keys_and_look_alikes() {
        let text = "\
a::db_password: hunter2hunter2
a::password_length: 12
a::description: \"the password is rotated monthly\"
a::enabled_token: true
a::api_token: '%{lookup(\"x\")}'
# a::old_password: commented
a::token: ENC[GPG,hQ]
a::ok_password: s3cr3t # eyaml-gpg: allow
a::key: |
  -----BEGIN OPENSSH PRIVATE KEY-----
  b3BlbnNzaC1rZXktdjEAAAAA
  -----END OPENSSH PRIVATE KEY-----
a::pub: |
  -----BEGIN PGP PUBLIC KEY BLOCK-----
  mQINBF
  -----END PGP PUBLIC KEY BLOCK-----
a::build_id: Zq8xR2mT4vN7pL1cW9yB3kH6
a::sha: 0123456789abcdef0123456789abcdef01234567
a::host: server01-prod-eu-west-1a-node03.example.com
a::camel: SomeLongIdentifierName2024
a::words: eu-west-1-prod-cluster-2-Main
";
        let got = run(text);
        let ids: Vec<_> = got.iter().map(|(r, l, _)| (r.as_str(), *l)).collect();
        assert_eq!(
            ids,
            vec![
                ("plaintext-secret", 1),
                ("bad-enc", 7),
                ("no-recipients", 7),
                ("plaintext-secret", 9),
                ("plaintext-secret", 17),
            ],
            "{got:?}"
        );
    }

    #[test]
    fn comments_blocks_and_keys() {
        let l = Lines::new("a: 'x # y' # c\nb: |\n  # not a comment\n  z\nc: \"two\n  # in quote\n  lines\"\nd: 1\n");
        assert_eq!(l.lines[0].comment_at, Some(11));
        assert!(l.lines[2].block_content && l.lines[2].comment_at.is_none());
        assert!(l.lines[5].block_content);
        assert_eq!(l.lines[7].key.as_deref(), Some("d"));
        assert!(!l.lines[7].block_content);
    }

    #[test]
    fn puppet_forms() {
        let text = "\
a: |
  ENC[GPG,hQEMAabc
  defg]
b: >-
  ENC[GPG,hQEMAabc
  defg]
# c: ENC[GPG,not really
#  a value]
";
        let got = run(text);
        let ids: Vec<_> = got.iter().map(|(r, l, c)| (r.as_str(), *l, *c)).collect();
        assert_eq!(
            ids,
            vec![
                ("no-recipients", 2, 3),
                ("puppet-wont-decrypt", 2, 3),
                ("bad-enc", 5, 3)
            ]
        );
    }

    #[test]
    fn entropy_catches_generated_strings() {
        // A simple generator: random base64 strings must nearly all be caught.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut caught = 0;
        for i in 0..200 {
            let n = 20 + i % 30;
            let s: String = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % 64) as usize] as char
                })
                .collect();
            caught += usize::from(high_entropy(&s, 20));
        }
        assert!(caught >= 180, "{caught}/200");
        for s in [
            "SomeLongIdentifierName2024",
            "profile_base_database_host_name",
            "eu-west-1-prod-cluster-2-Main",
            "0123456789abcdef0123456789abcdef01234567",
            "Authorised-use-only-2024",
        ] {
            assert!(!high_entropy(s, 20), "{s}");
        }
    }

    #[test]
    fn inline_allow_by_rule() {
        let text = "\
a::password: x1 # eyaml-gpg: allow dec-marker
a::token: x2 # eyaml-gpg: allow plaintext-secret,dec-marker
a::secret: DEC::GPG[x3]! # eyaml-gpg: allow plaintext-secret
";
        let got: Vec<_> = run(text).into_iter().map(|(r, l, _)| (r, l)).collect();
        assert_eq!(
            got,
            vec![
                ("plaintext-secret".to_string(), 1),
                ("dec-marker".to_string(), 3)
            ]
        );
    }

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
    }

    /// A value that still names an expired recipient's key is current when the recipients
    /// file lists that (dead) recipient, stale when it no longer does.
    #[test]
    fn expired_recipients_keys_are_ignored() {
        use base64::Engine as _;
        let mut keys = Keystore::new();
        for k in [
            "fixtures/reference/keys/bob.pub.asc",
            "fixtures/check/keys/carol-expired.pub.asc",
        ] {
            keys.load_path(Path::new(k)).unwrap();
        }
        let app1 =
            std::fs::read_to_string("fixtures/reference/hieradata/development/app1/app1.eyaml")
                .unwrap();
        let b64 = app1
            .lines()
            .find_map(|l| l.strip_prefix("app1::db_password: ENC[GPG,"))
            .unwrap()
            .trim_end_matches(']');
        let msg = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        // Bob's PKESK (old-format header, one-byte length), copied with Carol's subkey id.
        assert_eq!(msg[0], 0x84);
        let len = 2 + msg[1] as usize;
        let mut fake = msg[..len].to_vec();
        fake[3..11].copy_from_slice(&KeyId::from_hex("4338663791079808").unwrap().0);
        fake.extend_from_slice(&msg);
        let text = format!(
            "v: ENC[GPG,{}]\n",
            base64::engine::general_purpose::STANDARD.encode(&fake)
        );
        let config = Config::default();
        let checker = Checker::new(&keys, &config);
        let bob = "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1";
        let carol = "3D11F605312D77E940D159A0CB0B98F1B6EFE028";
        let with_carol = checker.recipients(Path::new("r"), &format!("{bob}\n{carol}\n"), true);
        assert_eq!(with_carol.findings.len(), 1, "{:?}", with_carol.findings);
        assert!(with_carol.findings[0]
            .message
            .contains("expired on 2020-12-31"));
        let got = checker.file(Path::new("t.eyaml"), &text, Some(&with_carol));
        assert!(got.is_empty(), "{got:?}");
        let bob_only = checker.recipients(Path::new("r"), &format!("{bob}\n"), true);
        let got = checker.file(Path::new("t.eyaml"), &text, Some(&bob_only));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rule, Rule::StaleRecipients);
        assert!(
            got[0].message.contains(
                "still encrypted to 4338663791079808 (Carol Expired <carol@example.com>)"
            ),
            "{}",
            got[0].message
        );
    }

    #[test]
    fn unterminated_dec_marker() {
        let got = run("a: DEC::GPG[one]!\nb: DEC(3)::GPG[cut short\nc: DECIDE::x[\n");
        let ids: Vec<_> = got.iter().map(|(r, l, c)| (r.as_str(), *l, *c)).collect();
        assert_eq!(ids, vec![("dec-marker", 1, 4), ("dec-marker", 2, 4)]);
    }

    #[test]
    fn naming() {
        assert_eq!(
            naming_kind("AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28"),
            None
        );
        assert_eq!(
            naming_kind("0xAA05 D4CD BA88 FD4B 96D9  9CEF 21AD CF29 FD14 CC28"),
            None
        );
        assert_eq!(naming_kind("21ADCF29FD14CC28"), Some("key id"));
        assert_eq!(naming_kind("bob@example.com"), Some("e-mail address"));
        assert_eq!(naming_kind("puppetmaster"), Some("name"));
    }
}
