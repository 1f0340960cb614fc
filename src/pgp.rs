//! The OpenPGP backend on Sequoia: a key store built from key sources (keyring files, and the
//! GnuPG home and gpg-agent through a secret-key provider), GnuPG-style recipient resolution,
//! encryption that GnuPG 2.2 reads (PKESK v3 + SEIPD v1) and decryption that refuses anything
//! that is not an integrity-protected encrypted message.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use sequoia_openpgp as openpgp;

use openpgp::cert::prelude::*;
use openpgp::crypto::mem::Protected;
use openpgp::crypto::mpi;
use openpgp::crypto::{Decryptor, Password, SessionKey};
use openpgp::packet::key::{PublicParts, SecretKeyMaterial, SecretParts, UnspecifiedRole};
use openpgp::packet::pkesk::PKESK3;
use openpgp::packet::{Key, Tag, PKESK, SKESK};
use openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::policy::{AsymmetricAlgorithm, StandardPolicy};
use openpgp::serialize::stream::{Encryptor, LiteralWriter, Message};
use openpgp::serialize::Serialize;
use openpgp::types::{Curve, KeyFlags, SymmetricAlgorithm};
use openpgp::{Fingerprint, KeyHandle, KeyID, Packet};
use zeroize::Zeroizing;

use crate::crypto::{
    AeadMode, Backend, CertDetails, CertInfo, CertStatus, Container, EncryptionKey, KeyId,
    KeyOrigin, MessageInfo, Pkesk, Plaintext,
};
use crate::error::{Error, Result};
use crate::recipients::{classify, Query};

mod contain;
mod direct;
mod ecdh;
mod framing;
mod rsa_key;
mod seipd;

/// Symmetric ciphers read for old data but never written.
#[allow(deprecated)]
const LEGACY_CIPHERS: [SymmetricAlgorithm; 4] = [
    SymmetricAlgorithm::IDEA,
    SymmetricAlgorithm::TripleDES,
    SymmetricAlgorithm::CAST5,
    SymmetricAlgorithm::Blowfish,
];

/// A public key as the backend hands it to secret-key providers.
pub(crate) type PublicKey = Key<PublicParts, UnspecifiedRole>;

/// Something that can decrypt session keys with secret keys we do not hold in process
/// (gpg-agent). Implementations describe failures (bad passphrase, cancelled, agent down)
/// through the returned error.
pub(crate) trait SecretKeyProvider: Send + Sync {
    /// A short name for messages ("gpg-agent").
    fn name(&self) -> &str;
    /// Whether the provider holds the secret part of `key`.
    fn has_key(&self, key: &PublicKey) -> bool;
    /// Key ids of every secret key the provider holds, for messages.
    fn key_ids(&self) -> Vec<KeyId>;
    /// A GnuPG 1.4 `secring.gpg` holding keys that the provider does not have (never
    /// migrated), to say what to run instead of "no secret key".
    fn unmigrated_secring(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Decrypts `pkesk` with the secret part of `key`, returning the session key.
    fn decrypt(
        &self,
        key: &PublicKey,
        pkesk: &PKESK,
        sym_algo: Option<SymmetricAlgorithm>,
    ) -> Result<(Option<SymmetricAlgorithm>, SessionKey)>;
}

/// Computes GnuPG validity on demand: `(primary fingerprint, at least full)` pairs. It runs at
/// most once per store, when a key from a GnuPG home is first needed for encryption, so runs
/// that only decrypt never ask `gpg` about trust.
pub(crate) type ValiditySource = Box<dyn Fn() -> Result<Vec<(String, bool)>> + Send + Sync>;

/// Decrypts a message the store cannot read in process (a tag-20 AEAD message), e.g. by
/// running `gpg --decrypt`.
pub(crate) type AeadFallback = Box<dyn Fn(&[u8], AeadMode) -> Result<Plaintext> + Send + Sync>;

/// Encrypts through `gpg` for recipients whose algorithm the backend lacks: the recipients'
/// certificates (armoured), gpg's recipient arguments (`SUBKEYFPR!` or a certificate's
/// fingerprint), the plaintext.
pub(crate) type GpgEncrypt =
    Box<dyn Fn(&[Vec<u8>], &[String], &[u8]) -> Result<Vec<u8>> + Send + Sync>;

/// Something the key store tells the user about, outside any error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    /// A value used a legacy symmetric cipher (CAST5, 3DES, IDEA, Blowfish): read, but
    /// `recrypt --all` should upgrade it. Given once per algorithm and run.
    LegacyCipher(String),
    /// Values were encrypted through `gpg` because a recipient's algorithm is not supported
    /// in process (the recipient, e.g. `ABCD… (elg2048)`). Given once per run.
    EncryptedThroughGpg(String),
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::LegacyCipher(algo) => write!(
                f,
                "a value is encrypted with the legacy cipher {algo}; it was decrypted, but run \
                 `eyaml-gpg recrypt --all` to upgrade such values to AES-256"
            ),
            Notice::EncryptedThroughGpg(keys) => write!(
                f,
                "encrypting through gpg: {keys}: algorithm not supported in process"
            ),
        }
    }
}

/// Where the key store's [`Notice`]s go.
pub type NoticeSink = Box<dyn Fn(&Notice) + Send + Sync>;

/// Asks for the passphrase of a protected secret key.
pub trait PassphrasePrompt: Send + Sync {
    /// Returns the passphrase for the key described by `description`.
    fn passphrase(&self, description: &str) -> Result<Zeroizing<String>>;
}

/// Asks on the controlling terminal (`/dev/tty`), never on standard input.
#[derive(Debug, Default)]
pub struct TerminalPrompt;

impl PassphrasePrompt for TerminalPrompt {
    fn passphrase(&self, description: &str) -> Result<Zeroizing<String>> {
        if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .is_err()
        {
            return Err(Error::NoTerminal(description.to_string()));
        }
        rpassword::prompt_password(format!("Passphrase for {description}: "))
            .map(Zeroizing::new)
            .map_err(|e| Error::io("/dev/tty", e))
    }
}

struct CertEntry {
    cert: Cert,
    origin: KeyOrigin,
}

struct SecretSlot {
    key: Key<SecretParts, UnspecifiedRole>,
    cert: usize,
    /// The unlocked key, once a passphrase was given (or the key was not protected).
    unlocked: OnceLock<Ready>,
}

/// An unlocked secret key, held the way it is cheapest to use for one value after another
/// (also a key exported from gpg-agent).
pub(crate) enum Ready {
    /// A Curve25519 ECDH key: the scalar itself (wiped on drop). Sequoia keeps secret key
    /// material encrypted in memory and re-derives the sealing key (a SHA-256 over a 4 KiB
    /// pre-key) on every use: more than the X25519 operation itself. The unlocked scalar is
    /// held the way gpg-agent holds a cached key, for the life of the key store.
    Cv25519(Cv25519Secret),
    /// An RSA key as the crypto library's own key object, built once: Sequoia rebuilds it
    /// from the MPIs on every use (and its OpenSSL backend without the CRT parameters, which
    /// makes each private-key operation about three times slower).
    Rsa(Box<rsa_key::RsaSecret>),
    /// Any other key: Sequoia's key pair, as is.
    Other(Key<SecretParts, UnspecifiedRole>),
}

impl Ready {
    /// Holds `key` (its secret unencrypted) for repeated use.
    pub(crate) fn new(key: Key<SecretParts, UnspecifiedRole>) -> Self {
        if let Some(fast) = Cv25519Secret::from_key(&key) {
            return Ready::Cv25519(fast);
        }
        match rsa_key::RsaSecret::from_key(&key) {
            Some(rsa) => Ready::Rsa(Box::new(rsa)),
            None => Ready::Other(key),
        }
    }

    /// Decrypts the session key of `pkesk`, if this key can.
    pub(crate) fn decrypt(
        &self,
        pkesk: &PKESK,
        sym_algo: Option<SymmetricAlgorithm>,
    ) -> Option<(Option<SymmetricAlgorithm>, SessionKey)> {
        match self {
            Ready::Cv25519(secret) => pkesk.decrypt(&mut Cv25519Decryptor(secret), sym_algo),
            Ready::Rsa(secret) => pkesk.decrypt(&mut rsa_key::RsaDecryptor(secret), sym_algo),
            Ready::Other(key) => {
                let mut pair = key.clone().into_keypair().ok()?;
                pkesk.decrypt(&mut pair, sym_algo)
            }
        }
    }
}

/// The secret half of a Curve25519 ECDH (cv25519) encryption key, unlocked.
pub(crate) struct Cv25519Secret {
    public: PublicKey,
    scalar: X25519Scalar,
    kek: ecdh::Kek,
}

/// The little-endian scalar, clamped at use; zeroized on drop.
#[cfg(not(feature = "crypto-openssl"))]
type X25519Scalar = Zeroizing<[u8; 32]>;
/// OpenSSL's key object (its X25519 is about twice as fast as x25519-dalek's); OpenSSL wipes
/// it when freed.
#[cfg(feature = "crypto-openssl")]
type X25519Scalar = openssl::pkey::PKey<openssl::pkey::Private>;

/// The X25519 key object for a little-endian scalar.
#[cfg(not(feature = "crypto-openssl"))]
fn x25519_scalar(bytes: &[u8; 32]) -> Option<X25519Scalar> {
    Some(Zeroizing::new(*bytes))
}

#[cfg(feature = "crypto-openssl")]
fn x25519_scalar(bytes: &[u8; 32]) -> Option<X25519Scalar> {
    openssl::pkey::PKey::private_key_from_raw_bytes(bytes, openssl::pkey::Id::X25519).ok()
}

/// X25519(scalar, point): the ECDH shared secret.
///
/// A point on the curve (every honest ephemeral key) is multiplied in its Edwards form, where
/// curve25519-dalek uses its AVX2 backend when the CPU has it: about 1.5 times as fast as the
/// Montgomery ladder, which has no vectorised form. The result is the same: the clamped
/// scalar is a multiple of the cofactor, and both points of a u-coordinate give the same
/// u-coordinate of the product. A point on the twist (no Edwards form) takes the ladder.
#[cfg(not(feature = "crypto-openssl"))]
fn x25519(scalar: &X25519Scalar, point: [u8; 32]) -> openpgp::Result<Protected> {
    use curve25519_dalek::montgomery::MontgomeryPoint;
    let u = MontgomeryPoint(point);
    let mut shared = match u.to_edwards(0) {
        Some(p) => {
            let mut product = p.mul_clamped(**scalar);
            let m = product.to_montgomery();
            zeroize::Zeroize::zeroize(&mut product);
            m
        }
        None => u.mul_clamped(**scalar),
    };
    let out = Protected::from(&shared.0[..]);
    zeroize::Zeroize::zeroize(&mut shared);
    Ok(out)
}

#[cfg(feature = "crypto-openssl")]
fn x25519(scalar: &X25519Scalar, point: [u8; 32]) -> openpgp::Result<Protected> {
    use openssl::pkey::{Id, PKey};
    let peer = PKey::public_key_from_raw_bytes(&point, Id::X25519)?;
    let mut deriver = openssl::derive::Deriver::new(scalar)?;
    deriver.set_peer(&peer)?;
    let mut shared = Protected::from(vec![0u8; 32]);
    let len = deriver.derive(&mut shared)?;
    if len != 32 {
        return Err(openpgp::Error::InvalidArgument("X25519 output size".into()).into());
    }
    Ok(shared)
}

impl Cv25519Secret {
    fn from_key(key: &Key<SecretParts, UnspecifiedRole>) -> Option<Self> {
        if !matches!(
            key.mpis(),
            mpi::PublicKey::ECDH {
                curve: Curve::Cv25519,
                ..
            }
        ) {
            return None;
        }
        let SecretKeyMaterial::Unencrypted(secret) = key.secret() else {
            return None;
        };
        let scalar = secret.map(|material| match material {
            mpi::SecretKeyMaterial::ECDH { scalar } => {
                // OpenPGP stores the scalar big-endian with leading zeros stripped; X25519
                // wants 32 little-endian bytes (as Sequoia's own backend does it).
                let mut padded = scalar.value_padded(32);
                padded.reverse();
                let bytes = Zeroizing::new(<[u8; 32]>::try_from(&padded[..]).ok()?);
                x25519_scalar(&bytes)
            }
            _ => None,
        })?;
        let public = key.clone().take_secret().0;
        Some(Cv25519Secret {
            kek: ecdh::Kek::new(&public)?,
            public,
            scalar,
        })
    }
}

/// Sequoia's decryption interface over a borrowed [`Cv25519Secret`].
struct Cv25519Decryptor<'a>(&'a Cv25519Secret);

impl Decryptor for Cv25519Decryptor<'_> {
    fn public(&self) -> &PublicKey {
        &self.0.public
    }

    fn decrypt(
        &mut self,
        ciphertext: &mpi::Ciphertext,
        _plaintext_len: Option<usize>,
    ) -> openpgp::Result<SessionKey> {
        let mpi::Ciphertext::ECDH { e, .. } = ciphertext else {
            return Err(openpgp::Error::InvalidArgument("not an ECDH ciphertext".into()).into());
        };
        let point: [u8; 32] = e.decode_point(&Curve::Cv25519)?.0.try_into()?;
        let shared = x25519(&self.0.scalar, point)?;
        self.0.kek.unwrap(&shared, ciphertext)
    }
}

/// Certificates and secret keys from every source, and the operations on them.
pub struct Keystore {
    policy: StandardPolicy<'static>,
    /// [`Keystore::policy`] plus the legacy symmetric ciphers: old data must stay readable,
    /// but nothing is ever encrypted with them (encryption always uses AES-256).
    decrypt_policy: StandardPolicy<'static>,
    notice: Option<NoticeSink>,
    /// Notices already given in this run.
    noticed: Mutex<std::collections::HashSet<Notice>>,
    gpg_encrypt: Option<GpgEncrypt>,
    /// The key that last decrypted a value with a hidden recipient: the values of one file
    /// are usually all for the same key, so it is tried first.
    hidden_hit: Mutex<Option<Fingerprint>>,
    certs: Vec<CertEntry>,
    by_fingerprint: HashMap<Fingerprint, usize>,
    /// Primary and subkey ids to certificate indices.
    by_key_id: HashMap<KeyID, Vec<usize>>,
    secrets: Vec<SecretSlot>,
    secret_by_id: HashMap<KeyID, Vec<usize>>,
    providers: Vec<Arc<dyn SecretKeyProvider>>,
    prompt: Arc<dyn PassphrasePrompt>,
    /// Serialises passphrase prompts so that parallel decryption asks once per key.
    prompt_lock: Mutex<()>,
    /// Validity from GnuPG trust dbs: primary fingerprint to "at least full".
    validity: HashMap<Fingerprint, bool>,
    always_trust: bool,
    validity_source: Option<ValiditySource>,
    /// What `validity_source` answered (its error as text: `Error` is not `Clone`).
    lazy_validity: OnceLock<Result<HashMap<Fingerprint, bool>>>,
    aead_fallback: Option<AeadFallback>,
    /// The most plaintext one value may decrypt to (a compressed message can expand a
    /// thousandfold: a decompression bomb must stop here, not at the allocator).
    max_value_size: usize,
}

impl Default for Keystore {
    fn default() -> Self {
        Keystore::new()
    }
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("certs", &self.certs.len())
            .field("secret_keys", &self.secrets.len())
            .field("providers", &self.providers.len())
            .finish()
    }
}

impl Keystore {
    /// An empty store.
    pub fn new() -> Self {
        let mut policy = StandardPolicy::new();
        // ElGamal (dsa2048+elg2048 from the GnuPG 1.4 era) is still in use by long-lived
        // teams and gpg encrypts to it; Sequoia's default refuses it since 2025.
        for a in [
            AsymmetricAlgorithm::ElGamal2048,
            AsymmetricAlgorithm::ElGamal3072,
            AsymmetricAlgorithm::ElGamal4096,
        ] {
            policy.accept_asymmetric_algo(a);
        }
        let mut decrypt_policy = policy.clone();
        for a in LEGACY_CIPHERS {
            decrypt_policy.accept_symmetric_algo(a);
        }
        Keystore {
            policy,
            decrypt_policy,
            notice: None,
            noticed: Mutex::new(std::collections::HashSet::new()),
            gpg_encrypt: None,
            hidden_hit: Mutex::new(None),
            certs: Vec::new(),
            by_fingerprint: HashMap::new(),
            by_key_id: HashMap::new(),
            secrets: Vec::new(),
            secret_by_id: HashMap::new(),
            providers: Vec::new(),
            prompt: Arc::new(TerminalPrompt),
            prompt_lock: Mutex::new(()),
            validity: HashMap::new(),
            always_trust: false,
            validity_source: None,
            lazy_validity: OnceLock::new(),
            aead_fallback: None,
            max_value_size: Keystore::DEFAULT_MAX_VALUE_SIZE,
        }
    }

    /// The default limit on one value's plaintext: 16 MiB, far above any real secret.
    pub const DEFAULT_MAX_VALUE_SIZE: usize = 16 << 20;

    /// Refuses to decrypt a value whose plaintext exceeds `bytes` (reading stops there).
    pub fn set_max_value_size(&mut self, bytes: usize) {
        self.max_value_size = bytes;
    }

    /// Sends [`Notice`]s (legacy ciphers, encryption through gpg) to `sink`.
    pub fn set_notice(&mut self, sink: NoticeSink) {
        self.notice = Some(sink);
    }

    /// Gives `notice` to the sink, once per run.
    fn notify(&self, notice: Notice) {
        let Some(sink) = &self.notice else { return };
        let first = self
            .noticed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(notice.clone());
        if first {
            sink(&notice);
        }
    }

    /// Uses `encrypt` for recipients whose algorithm is not supported in process.
    pub(crate) fn set_gpg_encrypt(&mut self, encrypt: GpgEncrypt) {
        self.gpg_encrypt = Some(encrypt);
    }

    /// Uses `prompt` for passphrases of protected keys held in process.
    pub fn set_prompt(&mut self, prompt: Arc<dyn PassphrasePrompt>) {
        self.prompt = prompt;
    }

    /// Skips the GnuPG validity check when encrypting (`--gpg-always-trust`).
    pub fn set_always_trust(&mut self, yes: bool) {
        self.always_trust = yes;
    }

    /// Records whether the certificate with primary fingerprint `fingerprint` (hex) is valid
    /// (at least full) in a GnuPG trust db.
    pub fn set_validity(&mut self, fingerprint: &str, valid: bool) {
        if let Ok(fp) = fingerprint.parse::<Fingerprint>() {
            self.validity.insert(fp, valid);
        }
    }

    /// Asks `source` for validities the first time a key from a GnuPG home is resolved for
    /// encryption (validities given with [`Keystore::set_validity`] take precedence).
    pub(crate) fn set_validity_source(&mut self, source: ValiditySource) {
        self.validity_source = Some(source);
    }

    /// Uses `fallback` for messages that cannot be read in process (tag-20 AEAD).
    pub(crate) fn set_aead_fallback(&mut self, fallback: AeadFallback) {
        self.aead_fallback = Some(fallback);
    }

    fn is_valid(&self, fp: &Fingerprint) -> Result<bool> {
        if let Some(v) = self.validity.get(fp) {
            return Ok(*v);
        }
        let Some(source) = &self.validity_source else {
            return Ok(false);
        };
        let lazy = self.lazy_validity.get_or_init(|| {
            source().map(|pairs| {
                pairs
                    .into_iter()
                    .filter_map(|(f, v)| f.parse::<Fingerprint>().ok().map(|f| (f, v)))
                    .collect()
            })
        });
        match lazy {
            Ok(map) => Ok(map.get(fp).copied().unwrap_or(false)),
            Err(e) => Err(e.clone()),
        }
    }

    /// Adds a secret-key provider such as gpg-agent.
    pub(crate) fn add_provider(&mut self, provider: Arc<dyn SecretKeyProvider>) {
        self.providers.push(provider);
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether the store holds no certificate.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Public keys (primary and subkeys) of every certificate, for providers that need to
    /// match keygrips.
    pub(crate) fn public_keys(&self) -> Vec<PublicKey> {
        self.certs
            .iter()
            .flat_map(|e| {
                e.cert
                    .keys()
                    .map(|ka| ka.key().clone().role_into_unspecified())
            })
            .collect()
    }

    /// Loads every certificate and secret key from a file or a directory (not recursive;
    /// files that hold no OpenPGP data are skipped in a directory, an error for a file).
    pub fn load_path(&mut self, path: &Path) -> Result<usize> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            let mut n = 0;
            for p in entries {
                let data = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
                if let Ok(k) = self.load_bytes(&data, KeyOrigin::Keyring(p.clone())) {
                    n += k;
                }
            }
            if n == 0 {
                return Err(Error::Keyring {
                    path: path.to_path_buf(),
                    message: "no OpenPGP key found in this directory".into(),
                });
            }
            Ok(n)
        } else {
            let data = crate::fsutil::read_bytes(path).map_err(|e| match e {
                Error::NotRegularFile { kind, .. } => Error::Keyring {
                    path: path.to_path_buf(),
                    message: format!("is {kind}, not a key file"),
                },
                e => e,
            })?;
            self.load_bytes(&data, KeyOrigin::Keyring(path.to_path_buf()))
                .map_err(|e| Error::Keyring {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })
        }
    }

    /// Loads certificates (and any secret keys) from binary or armoured OpenPGP data.
    pub fn load_bytes(&mut self, data: &[u8], origin: KeyOrigin) -> Result<usize> {
        let parser = CertParser::from_bytes(data).map_err(|e| Error::OpenPgp(e.to_string()))?;
        let mut n = 0;
        for cert in parser {
            let cert = cert.map_err(|e| Error::OpenPgp(format!("invalid key data: {e}")))?;
            self.add_cert(cert, origin.clone());
            n += 1;
        }
        if n == 0 {
            return Err(Error::OpenPgp("no OpenPGP key found".into()));
        }
        Ok(n)
    }

    fn add_cert(&mut self, cert: Cert, origin: KeyOrigin) {
        let fp = cert.fingerprint();
        let idx = match self.by_fingerprint.get(&fp) {
            Some(&i) => {
                let old = self.certs[i].cert.clone();
                let merged = old
                    .clone()
                    .merge_public_and_secret(cert.clone())
                    .unwrap_or(old);
                for ka in merged.keys() {
                    let ids = self.by_key_id.entry(ka.key().keyid()).or_default();
                    if !ids.contains(&i) {
                        ids.push(i);
                    }
                }
                self.certs[i].cert = merged;
                // A key named in a keyring file is trusted even if a GnuPG home has it too.
                if matches!(origin, KeyOrigin::Keyring(_)) {
                    self.certs[i].origin = origin;
                }
                i
            }
            None => {
                self.certs.push(CertEntry {
                    cert: cert.clone(),
                    origin,
                });
                let i = self.certs.len() - 1;
                self.by_fingerprint.insert(fp, i);
                for ka in cert.keys() {
                    self.by_key_id.entry(ka.key().keyid()).or_default().push(i);
                }
                i
            }
        };
        for ka in cert.keys().secret() {
            let id = ka.key().keyid();
            let known = self.secret_by_id.get(&id).is_some_and(|v| {
                v.iter()
                    .any(|&s| self.secrets[s].key.fingerprint() == ka.key().fingerprint())
            });
            if known {
                continue;
            }
            self.secrets.push(SecretSlot {
                key: ka.key().clone().role_into_unspecified(),
                cert: idx,
                unlocked: OnceLock::new(),
            });
            let s = self.secrets.len() - 1;
            self.secret_by_id.entry(id).or_default().push(s);
        }
    }

    fn cert_info(&self, idx: usize) -> CertInfo {
        let entry = &self.certs[idx];
        let cert = &entry.cert;
        let uid = cert
            .with_policy(&self.policy, None)
            .ok()
            .and_then(|vc| vc.primary_userid().ok().map(|u| u.userid().clone()))
            .or_else(|| cert.userids().next().map(|u| u.userid().clone()));
        let (user_id, email) = match uid {
            Some(u) => (
                Some(String::from_utf8_lossy(u.value()).into_owned()),
                u.email().ok().flatten().map(str::to_string),
            ),
            None => (None, None),
        };
        CertInfo {
            fingerprint: cert.fingerprint().to_hex(),
            key_id: key_id(&cert.keyid()),
            user_id,
            email,
            origin: entry.origin.clone(),
        }
    }

    /// Key ids of the decryption-capable secret keys held in process and by providers, without
    /// duplicates (what `serve` reports on `ping`).
    pub fn secret_key_ids(&self) -> Vec<KeyId> {
        let mut out: Vec<KeyId> = self
            .secrets
            .iter()
            .filter(|s| {
                s.key.has_secret() && is_encryption_capable(&self.certs[s.cert].cert, &s.key)
            })
            .map(|s| key_id(&s.key.keyid()))
            .collect();
        for p in &self.providers {
            out.extend(p.key_ids());
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|id| seen.insert(*id));
        out
    }

    /// Descriptions of the secret keys held in process and by providers.
    pub fn secret_key_descriptions(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .secrets
            .iter()
            .filter(|s| {
                s.key.has_secret() && is_encryption_capable(&self.certs[s.cert].cert, &s.key)
            })
            .map(|s| self.describe_key(&key_id(&s.key.keyid())))
            .collect();
        for p in &self.providers {
            for id in p.key_ids() {
                let d = format!("{} via {}", self.describe_key(&id), p.name());
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }

    /// `KEYID (user id)` for a key id, or the bare key id when the key is unknown.
    pub fn describe_key(&self, id: &KeyId) -> String {
        match self.describe(id) {
            Some(CertInfo {
                user_id: Some(uid), ..
            }) => format!("{id} ({uid})"),
            _ => id.to_string(),
        }
    }

    /// The certificates a query matches, each with the exact (sub)key it names when the
    /// recipient ended in `!`.
    fn matching_certs(&self, query: &Query) -> Vec<(usize, Option<Fingerprint>)> {
        let mut out: Vec<(usize, Option<Fingerprint>)> = Vec::new();
        for (i, e) in self.certs.iter().enumerate() {
            let key = |matches: &dyn Fn(&PublicKey) -> bool, exact: bool| {
                e.cert
                    .keys()
                    .map(|ka| ka.key().clone().role_into_unspecified())
                    .find(|k| matches(k))
                    .map(|k| exact.then(|| k.fingerprint()))
            };
            let user_id = |matches: &dyn Fn(&openpgp::packet::UserID) -> bool| {
                e.cert
                    .userids()
                    .any(|u| matches(u.userid()))
                    .then_some(None)
            };
            let email = |matches: &dyn Fn(&str) -> bool| {
                user_id(&|u| u.email().ok().flatten().is_some_and(matches))
            };
            let hit = match query {
                Query::Fingerprint(fp, exact) => key(&|k| k.fingerprint().to_hex() == *fp, *exact),
                Query::KeyId(id, exact) => {
                    key(&|k| k.keyid().to_hex().ends_with(id.as_str()), *exact)
                }
                Query::MailExact(m) => email(&|x| x.eq_ignore_ascii_case(m)),
                Query::MailSub(m) => {
                    let m = m.to_lowercase();
                    email(&|x| x.to_lowercase().contains(&m))
                }
                Query::Exact(s) => user_id(&|u| u.value() == s.as_bytes()),
                Query::Substring(s) => {
                    let needle = s.to_lowercase();
                    user_id(&|u| {
                        String::from_utf8_lossy(u.value())
                            .to_lowercase()
                            .contains(&needle)
                    })
                }
            };
            if let Some(exact) = hit {
                out.push((i, exact));
            }
        }
        out
    }

    /// The encryption subkey GnuPG would pick: the newest valid, alive, unrevoked
    /// encryption-capable key, or exactly `exact` when the recipient ended in `!`.
    fn pick_subkey(&self, idx: usize, exact: Option<&Fingerprint>) -> Option<PublicKey> {
        let cert = &self.certs[idx].cert;
        let vc = match cert.with_policy(&self.policy, None) {
            Ok(vc) => vc,
            Err(_) if !supported_in_process(cert.primary_key().key().role_as_unspecified()) => {
                return pick_subkey_unverified(cert, exact)
            }
            Err(_) => return None,
        };
        vc.alive().ok()?;
        if matches!(
            vc.revocation_status(),
            openpgp::types::RevocationStatus::Revoked(_)
        ) {
            return None;
        }
        // Keys the backend lacks (ElGamal, brainpool) count: they are encrypted to through gpg.
        vc.keys()
            .alive()
            .revoked(false)
            .key_flags(
                KeyFlags::empty()
                    .set_storage_encryption()
                    .set_transport_encryption(),
            )
            .filter(|ka| exact.is_none_or(|fp| ka.key().fingerprint() == *fp))
            .max_by_key(|ka| ka.key().creation_time())
            .map(|ka| ka.key().clone().role_into_unspecified())
    }

    fn cert_status(&self, idx: usize) -> CertStatus {
        let cert = &self.certs[idx].cert;
        let key_ids = cert.keys().map(|ka| key_id(&ka.key().keyid())).collect();
        let (expires, revoked) = match cert.with_policy(&self.policy, None) {
            Ok(vc) => {
                let cert_revoked = matches!(
                    vc.revocation_status(),
                    openpgp::types::RevocationStatus::Revoked(_)
                );
                let primary = vc.primary_key().key_expiration_time();
                let flags = KeyFlags::empty()
                    .set_storage_encryption()
                    .set_transport_encryption();
                let capable = vc.keys().key_flags(flags.clone()).count();
                let subkeys: Vec<_> = vc
                    .keys()
                    .key_flags(flags)
                    .filter(|ka| {
                        !matches!(
                            ka.revocation_status(),
                            openpgp::types::RevocationStatus::Revoked(_)
                        )
                    })
                    .map(|ka| ka.key_expiration_time())
                    .collect();
                // The latest subkey expiry (never, if any subkey never expires).
                let sub = if subkeys.iter().any(Option::is_none) {
                    None
                } else {
                    subkeys.iter().flatten().max().copied()
                };
                let expires = match (primary, sub) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                (expires, cert_revoked || (capable > 0 && subkeys.is_empty()))
            }
            // No valid self-signature at all: unusable, as if revoked.
            Err(_) => (None, true),
        };
        CertStatus {
            fingerprint: cert.fingerprint().to_hex(),
            key_ids,
            expires,
            revoked,
        }
    }

    /// Details of every certificate `recipient` matches (GnuPG matching, usable or not), for
    /// `keys list` and the recipient editing commands.
    pub(crate) fn recipient_details(&self, recipient: &str) -> Vec<CertDetails> {
        self.matching_certs(&classify(recipient))
            .into_iter()
            .map(|(i, _)| self.cert_details(i))
            .collect()
    }

    /// Details of the certificate owning key id `id` (primary or subkey).
    pub(crate) fn details_by_key_id(&self, id: &KeyId) -> Option<CertDetails> {
        self.find_cert_by_id(&to_sequoia_id(id))
            .map(|i| self.cert_details(i))
    }

    /// The public certificate with primary fingerprint `fingerprint`, ASCII-armoured.
    pub(crate) fn armored_public(&self, fingerprint: &str) -> Option<Vec<u8>> {
        use openpgp::serialize::SerializeInto;
        let fp: Fingerprint = fingerprint.parse().ok()?;
        let i = *self.by_fingerprint.get(&fp)?;
        self.certs[i]
            .cert
            .clone()
            .strip_secret_key_material()
            .armored()
            .to_vec()
            .ok()
    }

    /// GnuPG's validity for a certificate from a GnuPG home (`Some(at least full)`); `None`
    /// for a certificate from a key file, which is trusted because the user named it, or when
    /// `--gpg-always-trust` is set.
    pub(crate) fn gnupg_validity(&self, fingerprint: &str) -> Result<Option<bool>> {
        let Ok(fp) = fingerprint.parse::<Fingerprint>() else {
            return Ok(None);
        };
        match self.by_fingerprint.get(&fp).map(|&i| &self.certs[i].origin) {
            Some(KeyOrigin::GnupgHome(_)) if !self.always_trust => self.is_valid(&fp).map(Some),
            _ => Ok(None),
        }
    }

    fn cert_details(&self, idx: usize) -> CertDetails {
        let cert = &self.certs[idx].cert;
        let status = self.cert_status(idx);
        let info = self.cert_info(idx);
        let chosen = self.pick_subkey(idx, None);
        let mut unsupported = Vec::new();
        let mut weak = Vec::new();
        let encryption_keys: Vec<PublicKey> = cert
            .keys()
            .filter(|ka| {
                ka.self_signatures().any(|s| {
                    s.key_flags()
                        .is_some_and(|f| f.for_storage_encryption() || f.for_transport_encryption())
                })
            })
            .map(|ka| ka.key().clone().role_into_unspecified())
            .collect();
        for k in std::iter::once(cert.primary_key().key().clone().role_into_unspecified())
            .chain(encryption_keys.iter().cloned())
        {
            let name = algorithm_name(&k);
            // ElGamal and brainpool are used through gpg and gpg-agent.
            let supported = (k.pk_algo().is_supported() && curve_supported(&k))
                || matches!(k.mpis(), mpi::PublicKey::ElGamal { .. })
                || algorithm_name(&k).starts_with("brainpool");
            if !supported && !unsupported.contains(&name) {
                unsupported.push(format!("{name} (not supported by this tool)"));
            }
            if k.version() > 4 {
                let v = format!("{name} (v{} key: GnuPG 2.2 cannot use it)", k.version());
                if !unsupported.contains(&v) {
                    unsupported.push(v);
                }
            }
            let small = matches!(
                k.mpis(),
                openpgp::crypto::mpi::PublicKey::RSA { .. }
                    | openpgp::crypto::mpi::PublicKey::DSA { .. }
                    | openpgp::crypto::mpi::PublicKey::ElGamal { .. }
            ) && k.mpis().bits().is_some_and(|b| b < 2048);
            if small && !weak.contains(&name) {
                weak.push(name);
            }
        }
        fn sha1_only<'s>(sigs: impl Iterator<Item = &'s openpgp::packet::Signature>) -> bool {
            let algos: Vec<_> = sigs.map(|s| s.hash_algo()).collect();
            !algos.is_empty()
                && algos
                    .iter()
                    .all(|a| *a == openpgp::types::HashAlgorithm::SHA1)
        }
        let sha1 = cert.userids().any(|u| sha1_only(u.self_signatures()))
            || cert.keys().subkeys().any(|ka| {
                encryption_keys
                    .iter()
                    .any(|k| k.fingerprint() == ka.key().fingerprint())
                    && sha1_only(ka.self_signatures())
            });
        if sha1 {
            weak.push("SHA-1 binding signature".into());
        }
        CertDetails {
            fingerprint: info.fingerprint,
            user_id: info.user_id,
            encryption_algorithm: chosen.as_ref().map(algorithm_name),
            created: cert.primary_key().key().creation_time(),
            expires: status.expires,
            revoked: status.revoked,
            usable: chosen.is_some(),
            unsupported,
            weak,
            key_ids: status.key_ids,
            origin: info.origin,
        }
    }

    fn find_cert_by_id(&self, id: &KeyID) -> Option<usize> {
        self.by_key_id.get(id).and_then(|v| v.first().copied())
    }

    fn decrypt_inner(&self, message: &[u8]) -> Result<Plaintext> {
        if let Some(done) = direct::decrypt(self, message) {
            return done;
        }
        let info = self.inspect(message)?;
        if info.pkesks.is_empty() {
            // `inspect` made sure some session key packet is there: passwords only.
            return Err(Error::SymmetricOnly);
        }
        match info.container {
            Container::Aead(mode) => {
                return match &self.aead_fallback {
                    Some(fallback) => fallback(message, mode),
                    None => Err(Error::AeadMessage(mode)),
                }
            }
            Container::Unprotected => return Err(Error::NoIntegrity),
            Container::SeipdV1 | Container::SeipdV2 => {}
        }
        self.decrypt_message(message)
    }

    /// Decrypts a message whose structure was checked, through Sequoia's streaming decryptor.
    fn decrypt_message(&self, message: &[u8]) -> Result<Plaintext> {
        let unreadable = std::cell::RefCell::new(None);
        let helper = Helper {
            store: self,
            failure: None,
            decrypted: false,
            text_mode: false,
            sym_algo: None,
            unreadable: &unreadable,
        };
        let cap = self.max_value_size;
        // The structure was read first (cheap next to the decryption) so that an OCB message
        // never reaches the agent or a passphrase prompt, and refusals say precisely why.
        let decryptor = DecryptorBuilder::from_bytes(message)
            // Plaintext up to the cap is held back until its MDC checks out; anything larger
            // is refused below anyway.
            .map(|b| b.buffer_size(cap.saturating_add(1)))
            .and_then(|b| b.with_policy(&self.decrypt_policy, None, helper));
        let mut decryptor = match decryptor {
            Ok(d) => d,
            Err(e) => {
                if let Some((algo, sk)) = unreadable.borrow_mut().take() {
                    self.notify(Notice::LegacyCipher(algo.to_string()));
                    return seipd::decrypt_message(message, algo, &sk, cap);
                }
                return Err(helper_error(e));
            }
        };
        let mut out = seipd::read_capped(&mut decryptor, cap)?;
        let helper = decryptor.helper_ref();
        if !helper.decrypted {
            return Err(Error::NotEncrypted);
        }
        if let Some(algo) = helper.sym_algo.filter(|a| LEGACY_CIPHERS.contains(a)) {
            self.notify(Notice::LegacyCipher(algo.to_string()));
        }
        if helper.text_mode {
            text_to_native(&mut out);
        }
        Ok(out)
    }

    fn last_hidden_hit(&self) -> Option<Fingerprint> {
        self.hidden_hit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_hidden_hit(&self, fp: Fingerprint) {
        *self.hidden_hit.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp);
    }

    /// One `gpg` run writes the message for every recipient when one of them (`foreign`)
    /// has an algorithm the backend lacks.
    fn encrypt_through_gpg(
        &self,
        keys: &[PublicKey],
        foreign: &[&PublicKey],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let names: Vec<String> = foreign
            .iter()
            .map(|k| {
                format!(
                    "{} ({})",
                    self.describe_key(&key_id(&k.keyid())),
                    algorithm_name(k)
                )
            })
            .collect();
        let Some(gpg) = &self.gpg_encrypt else {
            let k = foreign[0];
            return Err(Error::UnsupportedAlgorithm {
                key: self.describe_key(&key_id(&k.keyid())),
                algorithm: algorithm_name(k),
                hint: "encrypting to it needs gpg".into(),
            });
        };
        let mut certs = Vec::new();
        let mut targets = Vec::new();
        for k in keys {
            let i = self
                .find_cert_by_id(&k.keyid())
                .ok_or_else(|| Error::NoKey(k.fingerprint().to_hex()))?;
            let cert = &self.certs[i].cert;
            certs.push(
                self.armored_public(&cert.fingerprint().to_hex())
                    .ok_or_else(|| Error::NoKey(k.fingerprint().to_hex()))?,
            );
            // The subkey chosen here, exactly (`!`); for a certificate whose signatures
            // could not be checked here, the certificate: gpg picks by checked signatures.
            targets.push(match cert.with_policy(&self.policy, None) {
                Ok(_) => format!("{}!", k.fingerprint().to_hex()),
                Err(_) => cert.fingerprint().to_hex(),
            });
        }
        self.notify(Notice::EncryptedThroughGpg(names.join(", ")));
        gpg(&certs, &targets, plaintext)
    }

    fn no_secret_key(&self, pkesks: &[PKESK]) -> Error {
        if self.secrets.is_empty() {
            if let Some(secring) = self.providers.iter().find_map(|p| p.unmigrated_secring()) {
                if let Some(home) = secring.parent() {
                    return Error::UnmigratedSecring {
                        home: home.to_path_buf(),
                    };
                }
            }
        }
        let recipients = pkesks
            .iter()
            .map(|p| match p.recipient() {
                Some(h) => self.describe_key(&key_id(&KeyID::from(&h))),
                None => "an anonymous recipient".to_string(),
            })
            .collect();
        Error::NoSecretKey {
            recipients,
            available: self.secret_key_descriptions(),
        }
    }

    fn unlocked<'s>(&self, slot: &'s SecretSlot) -> Result<&'s Ready> {
        if let Some(k) = slot.unlocked.get() {
            return Ok(k);
        }
        if !slot.key.secret().is_encrypted() {
            return Ok(slot.unlocked.get_or_init(|| Ready::new(slot.key.clone())));
        }
        let _guard = self.prompt_lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = slot.unlocked.get() {
            return Ok(k);
        }
        let desc = self.describe_key(&key_id(&slot.key.keyid()));
        let pass = self.prompt.passphrase(&desc)?;
        let key = slot
            .key
            .clone()
            .decrypt_secret(&Password::from(pass.as_str()))
            .map_err(|_| Error::BadPassphrase(desc))?;
        Ok(slot.unlocked.get_or_init(|| Ready::new(key)))
    }
}

/// An error out of Sequoia's decryption that may be ours, raised in [`Helper`] (no key, a
/// refused passphrase, the agent): ours as it is, anything else as a malformed message.
fn helper_error(e: anyhow::Error) -> Error {
    match e.downcast::<Error>() {
        Ok(ours) => ours,
        Err(e) => Error::Malformed(e.to_string()),
    }
}

/// GnuPG on Unix drops every carriage return of text-mode literal data (its "convert to
/// native line ending"), so `l1\r\nl2\r\n` reads as `l1\nl2\n`.
fn text_to_native(out: &mut Zeroizing<Vec<u8>>) {
    out.retain(|&b| b != b'\r');
}

/// Whether the crypto backend can use `key` in process: not ElGamal, not a curve it lacks
/// (brainpool). gpg and gpg-agent can.
pub(crate) fn supported_in_process(key: &PublicKey) -> bool {
    !matches!(key.mpis(), mpi::PublicKey::ElGamal { .. }) && curve_supported(key)
}

/// [`Keystore::pick_subkey`] for a certificate whose self-signatures the backend cannot
/// check (a brainpool primary key), so that neither flags, expiry nor revocation can be read:
/// the newest subkey of an encryption algorithm, to name in messages. The message itself is
/// written by `gpg` to the certificate, so gpg picks the subkey by its checked signatures.
fn pick_subkey_unverified(cert: &Cert, exact: Option<&Fingerprint>) -> Option<PublicKey> {
    cert.keys()
        .subkeys()
        .filter(|ska| exact.is_none_or(|fp| ska.key().fingerprint() == *fp))
        .filter(|ska| ska.key().pk_algo().for_encryption())
        .map(|ska| ska.key().clone().role_into_unspecified())
        .max_by_key(|k| k.creation_time())
}

/// What decrypting a PKESK with `key` costs, roughly, so that hidden recipients try the
/// cheapest keys first: Curve25519, then the other curves, then RSA by size, ElGamal last.
fn decryption_cost(key: &PublicKey) -> u32 {
    let bits = key.mpis().bits().unwrap_or(4096) as u32;
    match key.mpis() {
        mpi::PublicKey::ECDH {
            curve: Curve::Cv25519,
            ..
        } => 0,
        mpi::PublicKey::ECDH { .. } => 1 + bits / 64,
        mpi::PublicKey::RSA { .. } => 100 + bits / 64,
        _ => 1000 + bits / 64,
    }
}

fn key_id(id: &KeyID) -> KeyId {
    let mut out = [0u8; 8];
    let bytes = id.as_bytes();
    if bytes.len() == 8 {
        out.copy_from_slice(bytes);
    }
    KeyId(out)
}

/// GnuPG's name for a key's algorithm and size: `rsa3072`, `cv25519`, `nistp256`.
fn algorithm_name(key: &PublicKey) -> String {
    use openpgp::crypto::mpi::PublicKey as M;
    use openpgp::types::Curve;
    let curve = |c: &Curve| match c {
        Curve::NistP256 => "nistp256".to_string(),
        Curve::NistP384 => "nistp384".into(),
        Curve::NistP521 => "nistp521".into(),
        Curve::BrainpoolP256 => "brainpoolP256r1".into(),
        Curve::BrainpoolP384 => "brainpoolP384r1".into(),
        Curve::BrainpoolP512 => "brainpoolP512r1".into(),
        Curve::Ed25519 => "ed25519".into(),
        Curve::Cv25519 => "cv25519".into(),
        c => format!("{c}"),
    };
    match key.mpis() {
        M::RSA { n, .. } => format!("rsa{}", n.bits()),
        M::DSA { p, .. } => format!("dsa{}", p.bits()),
        M::ElGamal { p, .. } => format!("elg{}", p.bits()),
        M::EdDSA { curve: c, .. } | M::ECDSA { curve: c, .. } | M::ECDH { curve: c, .. } => {
            curve(c)
        }
        _ => key.pk_algo().to_string().to_lowercase(),
    }
}

/// Whether the curve of an elliptic-curve key (if any) is one the crypto backend has.
fn curve_supported(key: &PublicKey) -> bool {
    use openpgp::crypto::mpi::PublicKey as M;
    match key.mpis() {
        M::EdDSA { curve, .. } | M::ECDSA { curve, .. } | M::ECDH { curve, .. } => {
            curve.is_supported()
        }
        _ => true,
    }
}

fn to_sequoia_id(id: &KeyId) -> KeyID {
    KeyID::from_bytes(&id.0)
}

fn is_encryption_capable(cert: &Cert, key: &Key<SecretParts, UnspecifiedRole>) -> bool {
    let policy = StandardPolicy::new();
    // Decryption never filters by expiry or revocation (old data must stay readable), only
    // by what the key is for; without a valid binding, assume it may be used.
    cert.keys()
        .with_policy(&policy, None)
        .find(|ka| ka.key().fingerprint() == key.fingerprint())
        .map(|ka| ka.for_storage_encryption() || ka.for_transport_encryption())
        .unwrap_or(true)
}

struct Helper<'a> {
    store: &'a Keystore,
    failure: Option<Error>,
    decrypted: bool,
    /// The symmetric algorithm of the session key that worked.
    sym_algo: Option<SymmetricAlgorithm>,
    /// A session key for a cipher Sequoia's backend cannot use (Blowfish, IDEA with
    /// OpenSSL), for [`seipd::decrypt_message`].
    unreadable: &'a std::cell::RefCell<Option<(SymmetricAlgorithm, SessionKey)>>,
    /// The literal data packet is text (`t`, `u`, or GnuPG's MIME `m`).
    text_mode: bool,
}

impl VerificationHelper for Helper<'_> {
    fn inspect(&mut self, pp: &PacketParser) -> openpgp::Result<()> {
        if let Packet::Literal(l) = &pp.packet {
            self.text_mode = seipd::is_text(l.format());
        }
        Ok(())
    }

    fn get_certs(&mut self, _ids: &[KeyHandle]) -> openpgp::Result<Vec<Cert>> {
        Ok(Vec::new())
    }

    fn check(&mut self, _structure: MessageStructure) -> openpgp::Result<()> {
        // Signatures inside values are not part of the eyaml format; they are ignored.
        Ok(())
    }
}

impl Helper<'_> {
    /// Hands a decrypted session key to Sequoia; remembers one of a cipher that Sequoia's
    /// backend cannot use (see [`seipd`]).
    fn offer(
        &mut self,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
        algo: Option<SymmetricAlgorithm>,
        sk: &SessionKey,
    ) -> bool {
        if decrypt(algo, sk) {
            self.decrypted = true;
            self.sym_algo = algo;
            return true;
        }
        match algo {
            Some(a) if a == SymmetricAlgorithm::Blowfish || !a.is_supported() => {
                *self.unreadable.borrow_mut() = Some((a, sk.clone()));
                true
            }
            _ => false,
        }
    }

    /// Public keys the store knows that a provider may hold for `pkesk`: the named key, or
    /// for a hidden recipient every encryption-capable key of the PKESK's algorithm, the
    /// cheapest first (as gpg's `try-all-secrets`).
    fn provider_candidates(&self, pkesk: &PKESK) -> Vec<PublicKey> {
        let store = self.store;
        let mut keys: Vec<PublicKey> = match pkesk.recipient() {
            Some(h) => {
                let id = KeyID::from(&h);
                store
                    .by_key_id
                    .get(&id)
                    .into_iter()
                    .flatten()
                    .flat_map(|&c| {
                        store.certs[c]
                            .cert
                            .keys()
                            .filter(|ka| ka.key().keyid() == id)
                            .map(|ka| ka.key().clone().role_into_unspecified())
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
            None => store
                .certs
                .iter()
                .flat_map(|e| {
                    // Keys for encryption under the policy (any expiry or revocation: old
                    // data), or every key of the algorithm when none has a valid binding.
                    let encrypting: Vec<Fingerprint> = e
                        .cert
                        .keys()
                        .with_policy(&store.policy, None)
                        .filter(|ka| ka.for_storage_encryption() || ka.for_transport_encryption())
                        .map(|ka| ka.key().fingerprint())
                        .collect();
                    e.cert
                        .keys()
                        .filter(|ka| ka.key().pk_algo() == pkesk.pk_algo())
                        .filter(|ka| {
                            encrypting.is_empty() || encrypting.contains(&ka.key().fingerprint())
                        })
                        .map(|ka| ka.key().clone().role_into_unspecified())
                        .collect::<Vec<_>>()
                })
                .collect(),
        };
        let hit = store.last_hidden_hit();
        keys.sort_by_key(|k| (Some(k.fingerprint()) != hit, decryption_cost(k)));
        keys
    }
}

impl DecryptionHelper for Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> openpgp::Result<Option<Cert>> {
        let store = self.store;
        // First the keys held in process (fast), then the providers (gpg-agent).
        for pkesk in pkesks {
            let mut candidates: Vec<usize> = match pkesk.recipient() {
                Some(h) => store
                    .secret_by_id
                    .get(&KeyID::from(&h))
                    .cloned()
                    .unwrap_or_default(),
                None => (0..store.secrets.len())
                    .filter(|&s| store.secrets[s].key.pk_algo() == pkesk.pk_algo())
                    .collect(),
            };
            let hidden = pkesk.recipient().is_none();
            let hit = store.last_hidden_hit();
            candidates.sort_by_key(|&s| {
                let key = store.secrets[s].key.parts_as_public();
                (Some(key.fingerprint()) != hit, decryption_cost(key))
            });
            for s in candidates {
                let slot = &store.secrets[s];
                let public = slot.key.parts_as_public();
                if !supported_in_process(public) {
                    if !hidden {
                        self.failure.get_or_insert(Error::UnsupportedAlgorithm {
                            key: store.describe_key(&key_id(&slot.key.keyid())),
                            algorithm: algorithm_name(public),
                            hint: "import the key into a GnuPG home (gpg --import KEYFILE) and \
                                   decrypt with --gpg-gnupghome DIR: gpg-agent can use it"
                                .into(),
                        });
                    }
                    continue;
                }
                let key = match store.unlocked(slot) {
                    Ok(k) => k,
                    Err(e) => {
                        self.failure.get_or_insert(e);
                        continue;
                    }
                };
                if let Some((algo, sk)) = key.decrypt(pkesk, sym_algo) {
                    if self.offer(decrypt, algo, &sk) {
                        if hidden {
                            store.set_hidden_hit(slot.key.fingerprint());
                        }
                        return Ok(None);
                    }
                }
            }
        }
        for pkesk in pkesks {
            let hidden = pkesk.recipient().is_none();
            for key in &self.provider_candidates(pkesk) {
                for p in &store.providers {
                    if !p.has_key(key) {
                        continue;
                    }
                    match p.decrypt(key, pkesk, sym_algo) {
                        Ok((algo, sk)) => {
                            if self.offer(decrypt, algo, &sk) {
                                if hidden {
                                    store.set_hidden_hit(key.fingerprint());
                                }
                                return Ok(None);
                            }
                        }
                        // Trying a key that is not the hidden recipient's fails as expected;
                        // only a failure of the agent itself is worth reporting then.
                        Err(Error::DecryptionFailed(_)) if hidden => {}
                        Err(e) => {
                            self.failure.get_or_insert(e);
                        }
                    }
                }
            }
        }
        let err = self
            .failure
            .take()
            .unwrap_or_else(|| store.no_secret_key(pkesks));
        Err(err.into())
    }
}

impl Backend for Keystore {
    fn resolve(&self, recipient: &str) -> Result<EncryptionKey> {
        let query = classify(recipient);
        let matches = self.matching_certs(&query);
        if matches.is_empty() {
            return Err(Error::NoKey(recipient.to_string()));
        }
        let usable: Vec<(usize, PublicKey)> = matches
            .iter()
            .filter_map(|(i, exact)| self.pick_subkey(*i, exact.as_ref()).map(|k| (*i, k)))
            .collect();
        let (idx, key) = match usable.len() {
            0 => {
                return Err(Error::NoEncryptionSubkey {
                    recipient: recipient.to_string(),
                    key: self.cert_info(matches[0].0).to_string(),
                })
            }
            1 => usable.into_iter().next().expect("one"),
            _ => {
                return Err(Error::AmbiguousRecipient {
                    recipient: recipient.to_string(),
                    candidates: usable
                        .iter()
                        .map(|(i, _)| self.cert_info(*i).to_string())
                        .collect(),
                })
            }
        };
        let cert = self.cert_info(idx);
        if let KeyOrigin::GnupgHome(_) = cert.origin {
            let fp = self.certs[idx].cert.fingerprint();
            if !self.always_trust && !self.is_valid(&fp)? {
                return Err(Error::Untrusted {
                    short_id: cert.key_id.short(),
                    email: cert.email.clone().unwrap_or_default(),
                    fingerprint: fp.to_hex(),
                });
            }
        }
        Ok(EncryptionKey {
            recipient: recipient.to_string(),
            subkey_fingerprint: key.fingerprint().to_hex(),
            subkey_id: key_id(&key.keyid()),
            cert,
        })
    }

    fn encrypt(&self, recipients: &[EncryptionKey], plaintext: &[u8]) -> Result<Vec<u8>> {
        if recipients.is_empty() {
            return Err(Error::NoRecipients);
        }
        let mut keys: Vec<PublicKey> = Vec::with_capacity(recipients.len());
        for r in recipients {
            let fp: Fingerprint = r
                .subkey_fingerprint
                .parse()
                .map_err(|e: anyhow::Error| Error::OpenPgp(e.to_string()))?;
            let key = self
                .by_key_id
                .get(&KeyID::from(&fp))
                .into_iter()
                .flatten()
                .find_map(|&c| {
                    self.certs[c]
                        .cert
                        .keys()
                        .find(|ka| ka.key().fingerprint() == fp)
                })
                .map(|ka| ka.key().clone().role_into_unspecified())
                .ok_or_else(|| Error::NoKey(r.recipient.clone()))?;
            keys.push(key);
        }
        let foreign: Vec<&PublicKey> = keys.iter().filter(|k| !supported_in_process(k)).collect();
        if !foreign.is_empty() {
            return self.encrypt_through_gpg(&keys, &foreign, plaintext);
        }
        // GnuPG 2.2 reads neither PKESK v6 nor SEIPD v2: PKESK v3 packets, then the session
        // key given to an encryptor without recipients, which writes SEIPD v1 (what GnuPG 2.2
        // writes), whatever the certificates advertise. The PKESKs are made here so that RSA
        // recipients go through the faster RSA code (src/pgp/rsa_key.rs).
        let sym = SymmetricAlgorithm::AES256;
        let mut sink = Vec::with_capacity(plaintext.len() + 256 * keys.len() + 64);
        let mut op = || -> openpgp::Result<()> {
            let session_key = SessionKey::new(sym.key_size()?)?;
            let mut message = Message::new(&mut sink);
            for key in &keys {
                let pkesk = match rsa_key::pkesk3(key, sym, &session_key) {
                    Some(pkesk) => pkesk?,
                    None => PKESK3::for_recipient(sym, &session_key, key)?,
                };
                Packet::PKESK(pkesk.into()).serialize(&mut message)?;
            }
            let message = Encryptor::with_session_key(message, sym, session_key)?.build()?;
            let mut w = LiteralWriter::new(message).build()?;
            w.write_all(plaintext)?;
            w.finalize()?;
            Ok(())
        };
        op().map_err(|e| Error::OpenPgp(format!("encryption failed: {e}")))?;
        Ok(sink)
    }

    fn decrypt(&self, message: &[u8]) -> Result<Plaintext> {
        contain::contained(|| self.decrypt_inner(message))
    }

    fn inspect(&self, message: &[u8]) -> Result<MessageInfo> {
        contain::contained(|| inspect(message))
    }

    fn describe(&self, id: &KeyId) -> Option<CertInfo> {
        self.find_cert_by_id(&to_sequoia_id(id))
            .map(|i| self.cert_info(i))
    }

    fn recipient_status(&self, recipient: &str) -> Vec<CertStatus> {
        self.matching_certs(&classify(recipient))
            .into_iter()
            .map(|(i, _)| self.cert_status(i))
            .collect()
    }
}

/// Reads the packet structure of a message without decrypting it, after checking its
/// framing (complete packets, nothing after the encrypted data).
pub fn inspect(message: &[u8]) -> Result<MessageInfo> {
    check_framing(message)?;
    let mut ppr = PacketParser::from_bytes(message).map_err(|e| {
        if starts_like_openpgp(message) {
            Error::Malformed(e.to_string())
        } else {
            Error::NotOpenPgp(e.to_string())
        }
    })?;
    let mut pkesks = Vec::new();
    let mut skesks = 0;
    let mut first = true;
    while let PacketParserResult::Some(mut pp) = ppr {
        let container = match &pp.packet {
            Packet::PKESK(p) => {
                pkesks.push(Pkesk {
                    key_id: p
                        .recipient()
                        .map(|h| key_id(&KeyID::from(&h)))
                        .filter(|k| *k != KeyId::WILDCARD),
                    version: p.version(),
                    algo: p.pk_algo().into(),
                });
                None
            }
            Packet::SKESK(_) => {
                skesks += 1;
                None
            }
            Packet::Marker(_) => None,
            Packet::SEIP(s) => Some(if s.version() == 1 {
                Container::SeipdV1
            } else {
                Container::SeipdV2
            }),
            p if p.tag() == Tag::AED => {
                // Version, symmetric algorithm, AEAD algorithm (RFC 4880bis §5.16).
                let mode = match pp
                    .buffer_unread_content()
                    .ok()
                    .and_then(|b| b.get(2).copied())
                {
                    Some(1) => AeadMode::Eax,
                    Some(2) => AeadMode::Ocb,
                    Some(n) => AeadMode::Other(n),
                    None => return Err(Error::Malformed("empty AEAD packet".into())),
                };
                Some(Container::Aead(mode))
            }
            p if p.tag() == Tag::SED => Some(Container::Unprotected),
            Packet::Unknown(u) if first => {
                return Err(Error::NotOpenPgp(format!("unexpected {} packet", u.tag())))
            }
            _ => return Err(Error::NotEncrypted),
        };
        if let Some(container) = container {
            if pkesks.is_empty() && skesks == 0 {
                return Err(Error::Malformed(
                    "encrypted data without any session key packet".into(),
                ));
            }
            return Ok(MessageInfo {
                pkesks,
                skesks,
                container,
            });
        }
        first = false;
        ppr = match pp.next() {
            Ok((_, next)) => next,
            Err(e) => return Err(Error::Malformed(e.to_string())),
        };
    }
    if first {
        Err(Error::NotOpenPgp("no OpenPGP packets".into()))
    } else {
        Err(Error::Malformed(
            "the message ends before its encrypted data".into(),
        ))
    }
}

/// Checks the framing of a binary or armoured message (see [`framing`]).
fn check_framing(message: &[u8]) -> Result<()> {
    let binary;
    let bytes = if message.starts_with(b"-----BEGIN PGP") {
        let mut reader = openpgp::armor::Reader::from_bytes(
            message,
            openpgp::armor::ReaderMode::Tolerant(Some(openpgp::armor::Kind::Message)),
        );
        let mut out = Vec::new();
        reader
            .read_to_end(&mut out)
            .map_err(|e| Error::Malformed(format!("damaged ASCII armour: {e}")))?;
        binary = out;
        &binary[..]
    } else {
        message
    };
    framing::check(bytes).map_err(|d| Error::Malformed(d.to_string()))
}

/// Whether data begins like an OpenPGP message (armour, or a packet header whose tag is one a
/// message starts with), so that a parse failure means "truncated" rather than "not OpenPGP".
fn starts_like_openpgp(data: &[u8]) -> bool {
    if data.starts_with(b"-----BEGIN PGP") {
        return true;
    }
    let Some(&b) = data.first() else { return false };
    if b & 0x80 == 0 {
        return false;
    }
    let tag = if b & 0x40 != 0 {
        b & 0x3f
    } else {
        (b >> 2) & 0x0f
    };
    matches!(tag, 1 | 3 | 8 | 9 | 10 | 11 | 18 | 20)
}

#[cfg(test)]
mod tests {
    //! Recipient-string classification (GnuPG's rules) and certificate status, on
    //! certificates generated here: valid, expired, revoked, and one with no encryption subkey.

    use std::time::{Duration, SystemTime};

    use openpgp::serialize::SerializeInto;

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 60 * 60);

    /// A certificate with a signing and an encryption subkey, valid for three years.
    fn valid(uid: &str) -> Cert {
        CertBuilder::general_purpose(Some(uid))
            .generate()
            .unwrap()
            .0
    }

    /// Created 30 days ago, expired after one day.
    fn expired(uid: &str) -> Cert {
        CertBuilder::general_purpose(Some(uid))
            .set_creation_time(SystemTime::now() - 30 * DAY)
            .set_validity_period(DAY)
            .generate()
            .unwrap()
            .0
    }

    /// Valid, then revoked with the revocation certificate made at generation.
    fn revoked(uid: &str) -> Cert {
        let (cert, revocation) = CertBuilder::general_purpose(Some(uid)).generate().unwrap();
        let (cert, _) = cert.insert_packets(revocation).unwrap();
        cert
    }

    /// A certification and signing key only: nothing to encrypt to.
    fn signing_only(uid: &str) -> Cert {
        CertBuilder::new()
            .add_userid(uid)
            .add_signing_subkey()
            .generate()
            .unwrap()
            .0
    }

    fn store(certs: &[&Cert]) -> Keystore {
        let mut ks = Keystore::new();
        for c in certs {
            let n = ks
                .load_bytes(&c.to_vec().unwrap(), KeyOrigin::Keyring("test".into()))
                .unwrap();
            assert_eq!(n, 1);
        }
        ks
    }

    fn encryption_subkey(c: &Cert) -> Fingerprint {
        c.keys()
            .subkeys()
            .with_policy(&StandardPolicy::new(), None)
            .for_storage_encryption()
            .next()
            .unwrap()
            .key()
            .fingerprint()
    }

    /// The fingerprint of the certificate a recipient string resolves to.
    /// Sequoia 2.4.2 panics on a cv25519 message cut inside its SEIPD prefix and MDC
    /// (issue 17, item 1). Framing refuses every cut; behind it, the panic itself is contained.
    #[test]
    fn sequoia_truncated_message_panic_is_contained() {
        let (cert, _) = CertBuilder::new()
            .add_userid("t")
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        let mut ks = Keystore::new();
        ks.load_bytes(
            &cert.as_tsk().to_vec().unwrap(),
            KeyOrigin::Keyring("test".into()),
        )
        .unwrap();
        ks.set_always_trust(true);
        let key = ks.resolve("t").unwrap();
        let message = ks.encrypt(&[key], b"secret").unwrap();
        assert_eq!(&*ks.decrypt(&message).unwrap(), b"secret");
        let mut contained_panics = 0;
        for cut in 1..message.len() {
            let part = &message[..cut];
            assert!(ks.decrypt(part).is_err(), "cut at {cut}");
            let behind = contain::contained(|| ks.decrypt_message(part));
            match behind {
                Err(Error::Malformed(m)) if m.contains("panic") => contained_panics += 1,
                Err(_) => {}
                Ok(_) => panic!("a cut message decrypted (cut at {cut})"),
            }
        }
        // When Sequoia fixes the bug this drops to 0: then the upstream report is resolved.
        eprintln!("contained Sequoia panics: {contained_panics}");
    }

    fn resolved(ks: &Keystore, recipient: &str) -> String {
        ks.resolve(recipient)
            .unwrap_or_else(|e| panic!("{recipient}: {e}"))
            .cert
            .fingerprint
    }

    #[test]
    fn fingerprints_in_every_spelling_name_the_certificate() {
        let alice = valid("Alice Admin <alice@example.com>");
        let bob = valid("Bob Builder <bob@example.com>");
        let ks = store(&[&alice, &bob]);
        let fp = alice.fingerprint().to_hex();
        let spaced: String = fp
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        for r in [
            fp.clone(),
            fp.to_lowercase(),
            format!("0x{fp}"),
            format!("0X{}", fp.to_lowercase()),
            spaced,
            format!("  {fp}  "),
        ] {
            assert_eq!(resolved(&ks, &r), fp, "{r:?}");
        }
        assert!(matches!(classify(&fp), Query::Fingerprint(_, false)));
        assert!(matches!(
            classify(&format!("{fp}!")),
            Query::Fingerprint(_, true)
        ));
    }

    #[test]
    fn key_ids_long_short_and_of_a_subkey() {
        let alice = valid("Alice Admin <alice@example.com>");
        let bob = valid("Bob Builder <bob@example.com>");
        let ks = store(&[&alice, &bob]);
        let fp = alice.fingerprint().to_hex();
        let long = alice.keyid().to_hex();
        assert_eq!(resolved(&ks, &long), fp);
        assert_eq!(resolved(&ks, &long[8..]), fp, "8-digit short id");
        assert_eq!(resolved(&ks, &format!("0x{}", &long[8..])), fp);
        assert!(matches!(classify(&long), Query::KeyId(_, false)));
        // A subkey's id names its certificate; with `!`, exactly that subkey is used.
        let sub = encryption_subkey(&alice);
        let sub_id = KeyID::from(&sub).to_hex();
        assert_eq!(resolved(&ks, &sub_id), fp);
        let exact = ks.resolve(&format!("{sub_id}!")).unwrap();
        assert_eq!(exact.subkey_fingerprint, sub.to_hex());
        assert!(matches!(
            classify(&format!("{sub_id}!")),
            Query::KeyId(_, true)
        ));
        // Twelve hex digits are neither an id nor a fingerprint: a user id substring.
        assert!(matches!(classify(&long[4..]), Query::Substring(_)));
        // Spaces are allowed in a fingerprint only.
        let spaced_id = format!("{} {}", &long[..8], &long[8..]);
        assert!(matches!(classify(&spaced_id), Query::Substring(_)));
    }

    #[test]
    fn mail_exact_mail_part_exact_uid_and_substring() {
        let alice = valid("Alice Admin <alice@example.com>");
        let bob = valid("Bob Builder <bob@example.org>");
        let ks = store(&[&alice, &bob]);
        let (a, b) = (alice.fingerprint().to_hex(), bob.fingerprint().to_hex());
        assert_eq!(resolved(&ks, "<alice@example.com>"), a);
        assert_eq!(resolved(&ks, "<ALICE@example.com>"), a, "e-mail case");
        assert!(matches!(
            ks.resolve("<alice@example>"),
            Err(Error::NoKey(_))
        ));
        assert_eq!(resolved(&ks, "@example.org"), b);
        assert!(matches!(
            ks.resolve("@example"),
            Err(Error::AmbiguousRecipient { .. })
        ));
        assert_eq!(resolved(&ks, "=Bob Builder <bob@example.org>"), b);
        assert!(matches!(ks.resolve("=Bob Builder"), Err(Error::NoKey(_))));
        assert_eq!(
            resolved(&ks, "bob builder"),
            b,
            "case-insensitive substring"
        );
        assert_eq!(resolved(&ks, "*alice admin"), a);
        assert_eq!(resolved(&ks, "alice@example.com"), a);
        assert!(matches!(classify("<x@y>"), Query::MailExact(m) if m == "x@y"));
        assert!(matches!(classify("@y"), Query::MailSub(m) if m == "y"));
        assert!(matches!(classify("=x y"), Query::Exact(m) if m == "x y"));
        assert!(matches!(classify("*x"), Query::Substring(m) if m == "x"));
        assert!(matches!(classify("Alice"), Query::Substring(m) if m == "Alice"));
    }

    #[test]
    fn status_of_a_valid_certificate() {
        let alice = valid("Alice Admin <alice@example.com>");
        let ks = store(&[&alice]);
        let st = ks.recipient_status("alice@example.com");
        assert_eq!(st.len(), 1);
        let st = &st[0];
        assert_eq!(st.fingerprint, alice.fingerprint().to_hex());
        assert!(!st.revoked);
        let expires = st.expires.expect("general_purpose expires in three years");
        assert!(expires > SystemTime::now() + 365 * DAY);
        // Primary, signing and encryption subkeys: every id a PKESK could name.
        assert_eq!(st.key_ids.len(), 3);
        let sub = key_id(&KeyID::from(&encryption_subkey(&alice)));
        assert!(st.key_ids.contains(&sub));
        assert!(ks.resolve("alice@example.com").is_ok());
    }

    #[test]
    fn status_of_an_expired_certificate() {
        let old = expired("Old Key <old@example.com>");
        let ks = store(&[&old]);
        let st = &ks.recipient_status("old@example.com")[0];
        assert!(!st.revoked);
        let expires = st.expires.expect("an expiry");
        assert!(expires < SystemTime::now(), "{expires:?}");
        assert!(matches!(
            ks.resolve("old@example.com"),
            Err(Error::NoEncryptionSubkey { .. })
        ));
    }

    #[test]
    fn status_of_a_revoked_certificate() {
        let gone = revoked("Gone Key <gone@example.com>");
        let ks = store(&[&gone]);
        let st = &ks.recipient_status("gone@example.com")[0];
        assert!(st.revoked);
        assert!(matches!(
            ks.resolve("gone@example.com"),
            Err(Error::NoEncryptionSubkey { .. })
        ));
    }

    #[test]
    fn status_of_a_certificate_without_encryption_subkey() {
        let sig = signing_only("Signer <signer@example.com>");
        let ks = store(&[&sig]);
        let st = &ks.recipient_status("signer@example.com")[0];
        // Nothing was revoked: the certificate is simply not for encryption.
        assert!(!st.revoked);
        assert_eq!(st.key_ids.len(), 2);
        assert!(matches!(
            ks.resolve("signer@example.com"),
            Err(Error::NoEncryptionSubkey { .. })
        ));
        // No match at all is a different error.
        assert!(ks.recipient_status("nobody@example.com").is_empty());
        assert!(matches!(
            ks.resolve("nobody@example.com"),
            Err(Error::NoKey(_))
        ));
    }

    #[test]
    fn a_revoked_encryption_subkey_alone_makes_the_certificate_unusable() {
        let alice = valid("Alice Admin <alice@example.com>");
        let sub = encryption_subkey(&alice);
        let mut signer = alice
            .primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .unwrap()
            .into_keypair()
            .unwrap();
        let subkey = alice
            .keys()
            .subkeys()
            .find(|k| k.key().fingerprint() == sub)
            .unwrap();
        let rev = SubkeyRevocationBuilder::new()
            .set_reason_for_revocation(openpgp::types::ReasonForRevocation::KeyRetired, b"")
            .unwrap()
            .build(&mut signer, &alice, subkey.key(), None)
            .unwrap();
        let (alice, _) = alice.insert_packets(rev).unwrap();
        let ks = store(&[&alice]);
        assert!(ks.recipient_status("alice@example.com")[0].revoked);
        assert!(matches!(
            ks.resolve("alice@example.com"),
            Err(Error::NoEncryptionSubkey { .. })
        ));
    }

    /// The Edwards-form X25519 gives what RFC 7748's ladder gives, on the curve, on its twist
    /// (half of all u-coordinates), for non-canonical encodings and for the special points.
    #[cfg(not(feature = "crypto-openssl"))]
    mod x25519_edwards {
        use proptest::prelude::*;

        fn ours(k: [u8; 32], u: [u8; 32]) -> [u8; 32] {
            let out = super::x25519(&super::x25519_scalar(&k).expect("scalar"), u).expect("x25519");
            out[..].try_into().expect("32 bytes")
        }

        proptest! {
            #[test]
            fn matches_the_ladder(k in any::<[u8; 32]>(), u in any::<[u8; 32]>()) {
                prop_assert_eq!(ours(k, u), x25519_dalek::x25519(k, u));
            }
        }

        #[test]
        fn special_points_match_the_ladder() {
            let k = [0x5a; 32];
            let mut p_minus_1 = [0xff; 32];
            p_minus_1[0] = 0xec;
            p_minus_1[31] = 0x7f;
            let mut p = p_minus_1;
            p[0] = 0xed;
            let mut one = [0; 32];
            one[0] = 1;
            let mut nine = [0; 32];
            nine[0] = 9;
            for u in [[0; 32], one, nine, p_minus_1, p, [0xff; 32]] {
                assert_eq!(ours(k, u), x25519_dalek::x25519(k, u), "u = {u:02x?}");
            }
            // A chain of exchanges, each output the next input, as the RFC's iterated test.
            let (mut a, mut b) = (nine, nine);
            for i in 0..200u8 {
                let mut k = a;
                k[1] ^= i;
                a = ours(k, a);
                b = x25519_dalek::x25519(k, b);
            }
            assert_eq!(a, b);
        }
    }
}
