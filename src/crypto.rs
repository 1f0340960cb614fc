//! The OpenPGP operations the rest of the crate needs, behind one small trait, so that only the
//! backend module names Sequoia. Types here are plain data: key ids, key descriptions and what
//! a message says about itself.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;

/// A 64-bit OpenPGP key id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The all-zero id of an anonymous (wildcard) recipient.
    pub const WILDCARD: KeyId = KeyId([0; 8]);

    /// The low 32 bits as 8 hex digits, as GnuPG and hiera-eyaml-gpg print it in messages.
    pub fn short(&self) -> String {
        self.to_string()[8..].to_string()
    }

    /// Parses 16 hex digits.
    pub fn from_hex(hex: &str) -> Option<KeyId> {
        if hex.len() != 16 {
            return None;
        }
        let mut out = [0u8; 8];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(KeyId(out))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Where a certificate came from; decides whether the GnuPG trust rule applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// A `--gpg-keyring` file or directory: trusted, since the user named it.
    Keyring(std::path::PathBuf),
    /// A GnuPG home: encryption needs validity of at least full in its trust db.
    GnupgHome(std::path::PathBuf),
}

/// A certificate as this crate shows it to people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// Primary key id.
    pub key_id: KeyId,
    /// The primary user id (or the first), if any.
    pub user_id: Option<String>,
    /// The e-mail address of that user id, if any.
    pub email: Option<String>,
    /// Where it came from.
    pub origin: KeyOrigin,
}

impl fmt::Display for CertInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user_id {
            Some(uid) => write!(f, "{} ({uid})", self.fingerprint),
            None => write!(f, "{}", self.fingerprint),
        }
    }
}

/// An encryption (sub)key chosen for a recipient string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptionKey {
    /// The recipient string it was resolved from.
    pub recipient: String,
    /// The certificate it belongs to.
    pub cert: CertInfo,
    /// The subkey's fingerprint, upper-case hex.
    pub subkey_fingerprint: String,
    /// The subkey's key id (what a PKESK packet names).
    pub subkey_id: KeyId,
}

/// One public-key encrypted session key packet of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkesk {
    /// The recipient key id, `None` for a wildcard (hidden) recipient.
    pub key_id: Option<KeyId>,
    /// The packet version (3 for GnuPG 2.2, 6 for RFC 9580 messages).
    pub version: u8,
    /// The public-key algorithm number.
    pub algo: u8,
}

/// The encryption container of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// SEIPD version 1 (with MDC): what GnuPG 2.2 and we write.
    SeipdV1,
    /// SEIPD version 2 (RFC 9580 AEAD).
    SeipdV2,
    /// The AEAD packet of the OpenPGP drafts (tag 20), unreadable in process: GnuPG 2.4
    /// writes it with OCB, rnp and old drafts also with EAX.
    Aead(AeadMode),
    /// Symmetrically encrypted data without integrity protection (tag 9).
    Unprotected,
}

/// The AEAD mode of a tag-20 packet (its third body byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadMode {
    /// EAX (1).
    Eax,
    /// OCB (2), what GnuPG 2.4 writes.
    Ocb,
    /// Any other number (GCM is 3).
    Other(u8),
}

impl std::fmt::Display for AeadMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AeadMode::Eax => f.write_str("EAX"),
            AeadMode::Ocb => f.write_str("OCB"),
            AeadMode::Other(3) => f.write_str("GCM"),
            AeadMode::Other(n) => write!(f, "AEAD mode {n}"),
        }
    }
}

/// What an OpenPGP message says about itself, read without any secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageInfo {
    /// The PKESK packets, in order.
    pub pkesks: Vec<Pkesk>,
    /// Number of password-encrypted session key packets.
    pub skesks: usize,
    /// The encryption container.
    pub container: Container,
}

impl MessageInfo {
    /// The recipient key ids (wildcards left out).
    pub fn recipient_ids(&self) -> Vec<KeyId> {
        self.pkesks.iter().filter_map(|p| p.key_id).collect()
    }

    /// Whether any recipient is hidden.
    pub fn has_wildcard(&self) -> bool {
        self.pkesks.iter().any(|p| p.key_id.is_none())
    }
}

/// Lifetime facts of a certificate, for hygiene reports (read from public keys only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertStatus {
    /// Primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// Key ids of the primary key and every subkey (what PKESK packets may name).
    pub key_ids: Vec<KeyId>,
    /// When the certificate stops being usable for encryption: the earlier of the primary
    /// key's expiry and the latest expiry of its encryption subkeys; `None` for never.
    pub expires: Option<std::time::SystemTime>,
    /// Whether the certificate (or every encryption subkey) is revoked.
    pub revoked: bool,
}

/// A decrypted value; zeroed when dropped.
pub type Plaintext = Zeroizing<Vec<u8>>;

/// The OpenPGP operations eyaml-gpg performs.
pub trait Backend: Send + Sync {
    /// Resolves a recipient string the way GnuPG does, to one encryption key.
    fn resolve(&self, recipient: &str) -> Result<EncryptionKey>;

    /// Encrypts `plaintext` to all `recipients` as one binary message (PKESK v3 + SEIPD v1).
    fn encrypt(&self, recipients: &[EncryptionKey], plaintext: &[u8]) -> Result<Vec<u8>>;

    /// Decrypts one binary or ASCII-armoured message.
    fn decrypt(&self, message: &[u8]) -> Result<Plaintext>;

    /// Reads a message's structure without decrypting it.
    fn inspect(&self, message: &[u8]) -> Result<MessageInfo>;

    /// Describes the certificate owning key id `id` (primary or subkey), if known.
    fn describe(&self, id: &KeyId) -> Option<CertInfo>;

    /// Expiry and revocation of every certificate `recipient` matches (GnuPG matching, usable
    /// or not). The default knows nothing.
    fn recipient_status(&self, recipient: &str) -> Vec<CertStatus> {
        let _ = recipient;
        Vec::new()
    }
}

/// Everything `keys list` shows about a certificate, read from public keys only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertDetails {
    /// Primary key fingerprint, upper-case hex.
    pub fingerprint: String,
    /// The primary user id (or the first), if any.
    pub user_id: Option<String>,
    /// The encryption subkey GnuPG would use: algorithm and size (`rsa3072`, `cv25519`), or
    /// `None` when there is no usable one.
    pub encryption_algorithm: Option<String>,
    /// When the primary key was created.
    pub created: std::time::SystemTime,
    /// When it stops being usable for encryption (see [`CertStatus::expires`]).
    pub expires: Option<std::time::SystemTime>,
    /// Whether the certificate (or every encryption subkey) is revoked.
    pub revoked: bool,
    /// Whether an encryption subkey is usable now (valid binding, alive, not revoked).
    pub usable: bool,
    /// Algorithms GnuPG 2.2 or this tool cannot encrypt to (`brainpoolP256r1`, `x25519 (v6)`).
    pub unsupported: Vec<String>,
    /// Weaknesses: `rsa1024`, `SHA-1 binding signature`.
    pub weak: Vec<String>,
    /// Key ids of the primary key and every subkey (what PKESK packets may name).
    pub key_ids: Vec<KeyId>,
    /// Where it came from.
    pub origin: KeyOrigin,
}
