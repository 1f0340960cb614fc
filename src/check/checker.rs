//! The checker: applies the rules to eyaml files and recipients files.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use super::lines::{char_col, Lines};
use super::secrets::{high_entropy, looks_like_data, pem_private, scalar_value, Scalar};
use super::{Config, Finding, Rule, Severity};
use crate::crypto::{EncryptionKey, KeyId, MessageInfo};
use crate::error::Error;
use crate::scheme::{KeyMaterial, Scheme, Structure};
use crate::stale::{self, ValueState};
use crate::token::{self, Kinds, Located, Token};

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
    pub(super) backend: &'a dyn KeyMaterial,
    pub(super) config: &'a Config,
    method: Scheme,
    now: SystemTime,
    /// The recipients lock, read when a recipients file is first checked.
    pub(super) lock: std::sync::OnceLock<Result<crate::lock::Lock, Error>>,
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
            lock: std::sync::OnceLock::new(),
        }
    }

    /// The method assumed for `ENC[payload]` values without a scheme (`-n`).
    pub fn with_method(mut self, method: Scheme) -> Self {
        self.method = method;
        self
    }

    pub(super) fn config(&self) -> &Config {
        self.config
    }

    /// The time expiry is judged at (tests).
    pub fn with_now(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }

    /// [`Checker::recipients`] on a file's bytes: a file that is not UTF-8 text (which
    /// `encrypt` refuses) is one finding, and its recipients are unknown.
    pub fn recipients_file(&self, path: &Path, bytes: &[u8], resolve: bool) -> RecipientsCheck {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.recipients(path, text, resolve),
            Err(e) => {
                let before = &bytes[..e.valid_up_to()];
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                RecipientsCheck {
                    path: Some(path.to_path_buf()),
                    findings: vec![Finding {
                        rule: Rule::UnknownRecipient,
                        severity: Rule::UnknownRecipient.severity(),
                        path: path.to_path_buf(),
                        line,
                        column: 1,
                        message: format!(
                            "the recipients file is not valid UTF-8 text (byte offset {}): \
                             encrypt and recrypt refuse it",
                            e.valid_up_to()
                        ),
                        key: None,
                    }],
                    ..RecipientsCheck::default()
                }
            }
        }
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
            let naming = crate::recipients::classify(&name).naming();
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
        out.findings.extend(self.policy_recipients(path, text));
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
        let structure =
            Scheme::of(e, self.method).and_then(|s| s.inspect(self.backend, e).map(|st| (s, st)));
        let info = match structure {
            Ok((scheme, structure)) => {
                if !self.config.schemes.contains(&scheme) {
                    let wanted: Vec<&str> = self.config.schemes.iter().map(|s| s.tag()).collect();
                    let to = self
                        .config
                        .schemes
                        .iter()
                        .next()
                        .map_or("gpg", |s| s.method());
                    out.push(
                        Rule::UnwantedScheme,
                        t.line,
                        t.column,
                        format!(
                            "a {scheme} value where only {} is wanted (schemes in {}); migrate \
                             it with `eyaml-gpg recrypt -d {to} FILE`",
                            wanted.join(" or "),
                            super::CONFIG_FILE
                        ),
                        key.clone(),
                    );
                }
                match structure {
                    Structure::Gpg(info) => info,
                    // A sound PKCS7 value has no GPG recipients to compare.
                    Structure::Pkcs7(_) => return,
                }
            }
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
        let refusal = match info.container {
            crate::crypto::Container::Unprotected => Some(Error::NoIntegrity.to_string()),
            _ if info.pkesks.is_empty() => Some(
                "the value is encrypted with a password only (no public-key recipient); no key \
                 can decrypt it"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(message) = refusal {
            out.push_with(
                Rule::BadEnc,
                Severity::Error,
                t.line,
                t.column,
                format!("the ENC value cannot be read: {message}"),
                key,
            );
            return;
        }
        self.policy_value(out, t, &info, key.clone());
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
        for (i, _) in token::dec_openings(text) {
            if covered.iter().any(|&(a, b)| a <= i && i < b) {
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
        for (i, payload) in token::spaced_encs(text) {
            if covered.iter().any(|&(a, b)| a <= i && i < b) || lines.in_comment(i) {
                continue;
            }
            let payload = &text[payload];
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

pub(super) struct FileFindings<'p> {
    pub(super) path: &'p Path,
    findings: Vec<Finding>,
}

impl FileFindings<'_> {
    pub(super) fn push(
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
}
