//! What a check reports: rules, their severities and findings.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

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
    /// A value of a scheme the configuration does not want (`schemes`, e.g. PKCS7 values
    /// left after a migration to GPG).
    UnwantedScheme,
    /// A value under a `require` path not encrypted to a required key.
    RequiredRecipient,
    /// A `deny` key named by a recipients file or able to decrypt a value.
    DeniedRecipient,
    /// A recipients file whose resolved keys differ from the recipients lock.
    RecipientsLock,
    /// A temp file an interrupted eyaml-gpg run (killed while writing) left next to a file.
    LeftoverTempFile,
    /// `check --hiera`: a node's hierarchy, facts file or a key's lookup fails.
    HieraLookup,
    /// `check --hiera`: a value a node receives is not encrypted to its server's key.
    ServerCannotDecrypt,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; 17] = [
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
        Rule::UnwantedScheme,
        Rule::RequiredRecipient,
        Rule::DeniedRecipient,
        Rule::RecipientsLock,
        Rule::LeftoverTempFile,
        Rule::HieraLookup,
        Rule::ServerCannotDecrypt,
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
            Rule::UnwantedScheme => "unwanted-scheme",
            Rule::RequiredRecipient => "required-recipient",
            Rule::DeniedRecipient => "denied-recipient",
            Rule::RecipientsLock => "recipients-lock",
            Rule::LeftoverTempFile => "leftover-temp-file",
            Rule::HieraLookup => "hiera-lookup",
            Rule::ServerCannotDecrypt => "server-cannot-decrypt",
        }
    }

    /// The rule with id `id`.
    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.id() == id)
    }

    /// The severity of the rule's findings (a value of a scheme this tool cannot read is only a warning of `bad-enc`).
    pub fn severity(&self) -> Severity {
        match self {
            Rule::RecipientHygiene | Rule::LeftoverTempFile => Severity::Warning,
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    // Fields in the JSON report's (alphabetical) key order.
    /// 1-based column, in characters.
    pub column: usize,
    /// The YAML key the finding is about, when known (for allowlists).
    pub key: Option<String>,
    /// 1-based line.
    pub line: usize,
    /// What is wrong and what to do.
    pub message: String,
    /// The file, as the caller named it.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// The rule.
    pub rule: Rule,
    /// Its severity.
    pub severity: Severity,
}

fn lossy<S: Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&p.to_string_lossy())
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
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
