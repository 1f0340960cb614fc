//! hiera-eyaml's built-in PKCS7 scheme: `ENC[PKCS7,<base64 DER>]` values are PKCS#7
//! EnvelopedData (version 0) with key-transport recipients named by issuer and serial number,
//! the content key wrapped with RSA PKCS#1 v1.5 and the content in AES-CBC. Keys are read as
//! eyaml finds them (PEM files or environment variables), and `createkeys` makes a key pair.
//!
//! The DER structures are written here by hand on `der` 0.8 (the `cms` crate of that
//! generation is a release candidate); RSA runs on `rsa` 0.10, or on OpenSSL with the
//! `crypto-openssl` feature.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use base64::Engine as _;
use cbc::cipher::{block_padding::Pkcs7, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use der::asn1::{Any, BitString, Int, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence, Tag};
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use x509_cert::name::Name;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::Time;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The scheme's tag in `ENC[PKCS7,…]`.
pub const PKCS7_TAG: &str = "PKCS7";
/// eyaml's default private key path (relative to the working directory).
pub const DEFAULT_PRIVATE_KEY: &str = "./keys/private_key.pkcs7.pem";
/// eyaml's default public key (certificate) path.
pub const DEFAULT_PUBLIC_KEY: &str = "./keys/public_key.pkcs7.pem";
/// The default RSA key size of `createkeys`.
pub const DEFAULT_KEYSIZE: usize = 2048;
/// The default certificate subject of `createkeys`: eyaml's default (`/`, empty) is refused by
/// Bouncy Castle 1.85 and later (Puppet Server), so ours names something.
pub const DEFAULT_SUBJECT: &str = "/CN=eyaml";

const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const OID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const OID_AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const OID_AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");

/// `ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY }` (RFC 2315).
#[derive(Sequence)]
struct ContentInfo {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: Any,
}

/// `EnvelopedData` (RFC 2315 §10.1). Recipient infos stay `Any` so that a recipient kind we
/// cannot use (a CMS key-agreement one, say) does not hide the ones we can.
#[derive(Sequence)]
struct EnvelopedData {
    version: u8,
    recipient_infos: SetOfVec<Any>,
    encrypted_content_info: EncryptedContentInfo,
}

#[derive(Sequence, Clone)]
struct KeyTransRecipientInfo {
    version: u8,
    rid: IssuerAndSerialNumber,
    key_encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_key: OctetString,
}

#[derive(Sequence, Clone)]
struct IssuerAndSerialNumber {
    issuer: Name,
    serial_number: Int,
}

#[derive(Sequence)]
struct EncryptedContentInfo {
    content_type: ObjectIdentifier,
    content_encryption_algorithm: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    encrypted_content: Option<OctetString>,
}

#[derive(Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: Int,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<x509_cert::ext::Extension>,
}

#[derive(Sequence)]
struct Validity {
    not_before: Time,
    not_after: Time,
}

#[derive(Sequence)]
struct Certificate {
    tbs_certificate: TbsCertificate,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// A certificate as read: lenient about version (eyaml 5 writes v1, serial 0) and about what
/// follows the subject key, which encryption does not need.
#[derive(Sequence)]
struct CertificateRead {
    tbs_certificate: TbsCertificateRead,
    signature_algorithm: Any,
    signature: Any,
}

#[derive(Sequence)]
struct TbsCertificateRead {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    serial_number: Int,
    signature: Any,
    issuer: Name,
    validity: Any,
    subject: Any,
    subject_public_key_info: Any,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    issuer_unique_id: Option<BitString>,
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT", optional = "true")]
    subject_unique_id: Option<BitString>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Any>,
}

#[derive(Sequence)]
struct BasicConstraints {
    ca: bool,
}

fn malformed(what: impl fmt::Display) -> Error {
    Error::Pkcs7Malformed(what.to_string())
}

/// Who a PKCS7 value is encrypted to: a certificate's issuer and serial number.
#[derive(Clone, PartialEq, Eq)]
pub struct RecipientId {
    issuer: Name,
    serial: Int,
}

impl fmt::Display for RecipientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let issuer = self.issuer.to_string();
        let issuer = if issuer.is_empty() {
            "(empty)".to_string()
        } else {
            issuer
        };
        write!(f, "issuer {issuer}, serial {}", serial_text(&self.serial))
    }
}

impl fmt::Debug for RecipientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecipientId({self})")
    }
}

fn serial_text(serial: &Int) -> String {
    let bytes = serial.as_bytes();
    if bytes.len() <= 8 && bytes.first().is_none_or(|b| b & 0x80 == 0) {
        let mut n: u64 = 0;
        for b in bytes {
            n = (n << 8) | u64::from(*b);
        }
        n.to_string()
    } else {
        bytes
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// An RSA private key that decrypts PKCS7 values. Its Debug shows where it came from only.
pub struct PrivateKey {
    key: rsa::PrivateKey,
    #[cfg(feature = "crypto-openssl")]
    ossl: openssl::rsa::Rsa<openssl::pkey::Private>,
    source: String,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.source)
    }
}

impl PrivateKey {
    /// Reads a PEM private key (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`, text around
    /// the block allowed); `source` names where it came from in messages.
    pub fn from_pem(pem: &str, source: &str) -> Result<PrivateKey> {
        let bad = |why: &str| Error::Pkcs7Key(format!("{source}: {why}"));
        let (label, der) = pem_block(pem, &["RSA PRIVATE KEY", "PRIVATE KEY"])
            .map_err(|found| bad(&not_a_key_reason(found, "private key")))?;
        let key = match label {
            "RSA PRIVATE KEY" => rsa::PrivateKey::from_pkcs1_der(&der)
                .map_err(|e| bad(&format!("not a PKCS#1 RSA private key ({e})")))?,
            _ => rsa::PrivateKey::from_pkcs8_der(&der)
                .map_err(|e| bad(&format!("not an RSA PKCS#8 private key ({e})")))?,
        };
        PrivateKey::from_rsa(key, source)
    }

    fn from_rsa(key: rsa::PrivateKey, source: &str) -> Result<PrivateKey> {
        #[cfg(feature = "crypto-openssl")]
        let ossl = {
            let der = key
                .to_pkcs1_der()
                .map_err(|e| Error::Pkcs7Key(format!("{source}: {e}")))?;
            openssl::rsa::Rsa::private_key_from_der(der.as_bytes())
                .map_err(|e| Error::Pkcs7Key(format!("{source}: {e}")))?
        };
        Ok(PrivateKey {
            key,
            #[cfg(feature = "crypto-openssl")]
            ossl,
            source: source.to_string(),
        })
    }

    /// Where the key came from (a path or an environment variable), for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The key as PKCS#1 PEM (`BEGIN RSA PRIVATE KEY`), as eyaml writes it.
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>> {
        self.key
            .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|e| Error::Pkcs7Key(format!("{}: {e}", self.source)))
    }

    /// The public half, as a recipient with the identity eyaml 5 gives a bare key.
    pub fn public(&self) -> PublicKey {
        PublicKey::bare(self.key.to_public_key(), self.source.clone())
    }

    /// RSA PKCS#1 v1.5 decryption of a wrapped content key. `None` when the padding is bad
    /// (OpenSSL) or yields nothing usable; `rsa` answers a synthetic key instead (implicit
    /// rejection), which the content-key length and CBC padding checks then catch.
    fn unwrap_key(&self, wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        #[cfg(feature = "crypto-openssl")]
        {
            let mut out = Zeroizing::new(vec![0u8; self.ossl.size() as usize]);
            let n = self
                .ossl
                .private_decrypt(wrapped, &mut out, openssl::rsa::Padding::PKCS1)
                .ok()?;
            out.truncate(n);
            Some(out)
        }
        #[cfg(not(feature = "crypto-openssl"))]
        {
            self.key.pkcs1v15_decrypt(wrapped).ok().map(Zeroizing::new)
        }
    }
}

/// Someone to encrypt PKCS7 values to: the RSA key and issuer+serial of a certificate, or a
/// bare RSA public key (named with an empty issuer and serial 0, as eyaml 5's certificates).
#[derive(Clone)]
pub struct PublicKey {
    key: rsa::PublicKey,
    id: RecipientId,
    source: String,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.source, self.id)
    }
}

impl PublicKey {
    fn bare(key: rsa::PublicKey, source: String) -> PublicKey {
        PublicKey {
            key,
            id: RecipientId {
                issuer: Name::default(),
                serial: Int::new(&[0]).expect("zero is an integer"),
            },
            source,
        }
    }

    /// Reads a PEM certificate (or a bare `PUBLIC KEY`/`RSA PUBLIC KEY`), text around the
    /// block allowed; `source` names where it came from in messages.
    pub fn from_pem(pem: &str, source: &str) -> Result<PublicKey> {
        let bad = |why: &str| Error::Pkcs7Key(format!("{source}: {why}"));
        let (label, der) = pem_block(pem, &["CERTIFICATE", "PUBLIC KEY", "RSA PUBLIC KEY"])
            .map_err(|found| bad(&not_a_key_reason(found, "certificate")))?;
        match label {
            "CERTIFICATE" => {
                let cert = CertificateRead::from_der(&der)
                    .map_err(|e| bad(&format!("not an X.509 certificate ({e})")))?;
                let tbs = cert.tbs_certificate;
                let spki = tbs
                    .subject_public_key_info
                    .to_der()
                    .map_err(|e| bad(&e.to_string()))?;
                let key = rsa::PublicKey::from_public_key_der(&spki)
                    .map_err(|e| bad(&format!("the certificate's key is not RSA ({e})")))?;
                Ok(PublicKey {
                    key,
                    id: RecipientId {
                        issuer: tbs.issuer,
                        serial: tbs.serial_number,
                    },
                    source: source.to_string(),
                })
            }
            "PUBLIC KEY" => rsa::PublicKey::from_public_key_der(&der)
                .map(|k| PublicKey::bare(k, source.to_string()))
                .map_err(|e| bad(&format!("not an RSA public key ({e})"))),
            _ => rsa::PublicKey::from_pkcs1_der(&der)
                .map(|k| PublicKey::bare(k, source.to_string()))
                .map_err(|e| bad(&format!("not a PKCS#1 RSA public key ({e})"))),
        }
    }

    /// The issuer and serial number values encrypted to this key carry.
    pub fn id(&self) -> &RecipientId {
        &self.id
    }

    fn wrap_key(&self, content_key: &[u8]) -> Result<Vec<u8>> {
        #[cfg(feature = "crypto-openssl")]
        {
            let der = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&self.key)
                .map_err(|e| Error::Pkcs7Key(format!("{}: {e}", self.source)))?;
            let rsa = openssl::rsa::Rsa::public_key_from_der_pkcs1(der.as_bytes())
                .map_err(|e| Error::Pkcs7Key(format!("{}: {e}", self.source)))?;
            let mut out = vec![0u8; rsa.size() as usize];
            let n = rsa
                .public_encrypt(content_key, &mut out, openssl::rsa::Padding::PKCS1)
                .map_err(|e| Error::Pkcs7Key(format!("{}: {e}", self.source)))?;
            out.truncate(n);
            Ok(out)
        }
        #[cfg(not(feature = "crypto-openssl"))]
        {
            self.key
                .pkcs1v15_encrypt(content_key)
                .map_err(|e| Error::Pkcs7Key(format!("{}: {e}", self.source)))
        }
    }
}

/// Explains a PEM input that holds none of the wanted blocks.
fn not_a_key_reason(found: Option<String>, wanted: &str) -> String {
    match found {
        Some(label) if label.contains("ENCRYPTED") => {
            format!("holds a passphrase-protected key ({label}); eyaml keys have none")
        }
        Some(label) if label == "CERTIFICATE" => {
            format!("holds a certificate, not a {wanted}")
        }
        Some(label) => format!("holds a PEM {label} block, not a {wanted}"),
        None => format!("no PEM {wanted} found (expected a -----BEGIN …----- block)"),
    }
}

/// Finds the first PEM block with one of `labels` in `text` (anything around it ignored) and
/// decodes its body leniently, as Ruby's `Base64.decode64` does. On failure returns the label
/// of a block that was found instead, if any.
fn pem_block<'l>(
    text: &str,
    labels: &[&'l str],
) -> std::result::Result<(&'l str, Zeroizing<Vec<u8>>), Option<String>> {
    let mut other = None;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + 11..];
        let Some(end_label) = after.find("-----") else {
            break;
        };
        let label = &after[..end_label];
        let body_start = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            break;
        };
        let body = &body_start[..body_end];
        if let Some(wanted) = labels.iter().find(|l| **l == label) {
            if body.contains("Proc-Type:") {
                return Err(Some(format!("ENCRYPTED {label}")));
            }
            return Ok((wanted, Zeroizing::new(lenient_base64(body))));
        }
        other.get_or_insert_with(|| label.to_string());
        rest = &body_start[body_end + end_marker.len()..];
    }
    Err(other)
}

/// Decodes base64 as Ruby's `Base64.decode64`: characters outside the alphabet are skipped
/// and decoding stops at padding.
pub fn lenient_base64(text: &str) -> Vec<u8> {
    let mut clean: String = text
        .chars()
        .take_while(|c| *c != '=')
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
        .collect();
    // A dangling single character carries no whole byte; Ruby drops it too.
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(clean.as_bytes())
        .unwrap_or_default()
}

/// What inspecting a PKCS7 value learns without a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The recipients it is encrypted to.
    pub recipients: Vec<RecipientId>,
    /// The content cipher, e.g. `AES-256-CBC`.
    pub cipher: &'static str,
}

struct Parsed {
    recipients: Vec<KeyTransRecipientInfo>,
    cipher: Cipher,
    iv: Box<[u8]>,
    content: Box<[u8]>,
}

#[derive(Clone, Copy)]
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
}

impl Cipher {
    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128 => 16,
            Cipher::Aes192 => 24,
            Cipher::Aes256 => 32,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cipher::Aes128 => "AES-128-CBC",
            Cipher::Aes192 => "AES-192-CBC",
            Cipher::Aes256 => "AES-256-CBC",
        }
    }

    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        macro_rules! run {
            ($c:ty) => {
                cbc::Decryptor::<$c>::new_from_slices(key, iv)
                    .ok()?
                    .decrypt_padded_vec::<Pkcs7>(data)
                    .ok()
            };
        }
        match self {
            Cipher::Aes128 => run!(aes::Aes128),
            Cipher::Aes192 => run!(aes::Aes192),
            Cipher::Aes256 => run!(aes::Aes256),
        }
        .map(Zeroizing::new)
    }
}

fn parse(der: &[u8]) -> Result<Parsed> {
    if der.is_empty() {
        return Err(malformed("the value is empty"));
    }
    let info = ContentInfo::from_der(der).map_err(|e| malformed(format!("not DER ({e})")))?;
    if info.content_type != OID_ENVELOPED_DATA {
        return Err(malformed(format!(
            "content type {} is not PKCS#7 enveloped data",
            info.content_type
        )));
    }
    let env: EnvelopedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("bad enveloped data ({e})")))?;
    if env.version > 2 {
        return Err(malformed(format!("enveloped data version {}", env.version)));
    }
    let recipients: Vec<KeyTransRecipientInfo> = env
        .recipient_infos
        .iter()
        .filter_map(|ri| ri.decode_as::<KeyTransRecipientInfo>().ok())
        .filter(|ri| ri.key_encryption_algorithm.oid == OID_RSA_ENCRYPTION)
        .collect();
    if recipients.is_empty() {
        return Err(malformed(
            "no RSA key-transport recipient named by issuer and serial number",
        ));
    }
    let eci = env.encrypted_content_info;
    let alg = eci.content_encryption_algorithm;
    let cipher = match alg.oid {
        o if o == OID_AES256_CBC => Cipher::Aes256,
        o if o == OID_AES192_CBC => Cipher::Aes192,
        o if o == OID_AES128_CBC => Cipher::Aes128,
        o => {
            return Err(malformed(format!(
                "content cipher {o} (eyaml writes AES-256-CBC)"
            )))
        }
    };
    let iv = alg
        .parameters
        .and_then(|p| p.decode_as::<OctetString>().ok())
        .map(|o| o.into_bytes())
        .filter(|iv| iv.len() == 16)
        .ok_or_else(|| malformed("the AES-CBC parameter is not a 16-byte IV"))?;
    let content = eci
        .encrypted_content
        .map(|o| o.into_bytes())
        .ok_or_else(|| malformed("no encrypted content"))?;
    if content.is_empty() || content.len() % 16 != 0 {
        return Err(malformed(
            "the encrypted content is not whole AES blocks (truncated?)",
        ));
    }
    Ok(Parsed {
        recipients,
        cipher,
        iv,
        content,
    })
}

/// Reads what a PKCS7 value says about itself (recipients, cipher) without decrypting it:
/// the structural check `check` applies.
pub fn inspect(der: &[u8]) -> Result<Envelope> {
    let p = parse(der)?;
    Ok(Envelope {
        recipients: p
            .recipients
            .into_iter()
            .map(|ri| RecipientId {
                issuer: ri.rid.issuer,
                serial: ri.rid.serial_number,
            })
            .collect(),
        cipher: p.cipher.name(),
    })
}

/// Decrypts a PKCS7 value (DER) with the private key alone, trying every recipient.
pub fn decrypt(key: &PrivateKey, der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let p = parse(der)?;
    for ri in &p.recipients {
        let Some(content_key) = key.unwrap_key(ri.encrypted_key.as_bytes()) else {
            continue;
        };
        if content_key.len() != p.cipher.key_len() {
            continue;
        }
        if let Some(plain) = p.cipher.decrypt(&content_key, &p.iv, &p.content) {
            return Ok(plain);
        }
    }
    let recipients = p
        .recipients
        .iter()
        .map(|ri| {
            RecipientId {
                issuer: ri.rid.issuer.clone(),
                serial: ri.rid.serial_number.clone(),
            }
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::Pkcs7WrongKey {
        key: key.source.clone(),
        recipients,
    })
}

/// Encrypts `plaintext` to `recipients` as eyaml does (AES-256-CBC, RSA PKCS#1 v1.5 key
/// transport); returns the DER.
pub fn encrypt(recipients: &[PublicKey], plaintext: &[u8]) -> Result<Vec<u8>> {
    let mut content_key = Zeroizing::new([0u8; 32]);
    let mut iv = [0u8; 16];
    getrandom::fill(content_key.as_mut()).map_err(|e| Error::Pkcs7Key(e.to_string()))?;
    getrandom::fill(&mut iv).map_err(|e| Error::Pkcs7Key(e.to_string()))?;
    let content = cbc::Encryptor::<aes::Aes256>::new_from_slices(content_key.as_ref(), &iv)
        .expect("AES-256 key and IV sizes")
        .encrypt_padded_vec::<Pkcs7>(plaintext);
    let der_err = |e: der::Error| malformed(e);
    let mut infos = SetOfVec::new();
    for r in recipients {
        let info = KeyTransRecipientInfo {
            version: 0,
            rid: IssuerAndSerialNumber {
                issuer: r.id.issuer.clone(),
                serial_number: r.id.serial.clone(),
            },
            key_encryption_algorithm: AlgorithmIdentifierOwned {
                oid: OID_RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            encrypted_key: OctetString::new(r.wrap_key(content_key.as_ref())?).map_err(der_err)?,
        };
        infos
            .insert(Any::encode_from(&info).map_err(der_err)?)
            .map_err(der_err)?;
    }
    let env = EnvelopedData {
        version: 0,
        recipient_infos: infos,
        encrypted_content_info: EncryptedContentInfo {
            content_type: OID_DATA,
            content_encryption_algorithm: AlgorithmIdentifierOwned {
                oid: OID_AES256_CBC,
                parameters: Some(Any::new(Tag::OctetString, iv.to_vec()).map_err(der_err)?),
            },
            encrypted_content: Some(OctetString::new(content).map_err(der_err)?),
        },
    };
    ContentInfo {
        content_type: OID_ENVELOPED_DATA,
        content: Any::encode_from(&env).map_err(der_err)?,
    }
    .to_der()
    .map_err(der_err)
}

/// Where eyaml finds the PKCS7 keys: a file, or PEM in an environment variable, or (eyaml 5)
/// base64 of PEM in one. A named variable that is set wins over the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySources {
    /// `pkcs7_private_key` (default [`DEFAULT_PRIVATE_KEY`]).
    pub private_key: Option<PathBuf>,
    /// `pkcs7_public_key` (default [`DEFAULT_PUBLIC_KEY`]).
    pub public_key: Option<PathBuf>,
    /// `pkcs7_private_key_env_var`.
    pub private_key_env_var: Option<String>,
    /// `pkcs7_public_key_env_var`.
    pub public_key_env_var: Option<String>,
    /// `pkcs7_b64_private_key_env_var`.
    pub b64_private_key_env_var: Option<String>,
    /// `pkcs7_b64_public_key_env_var`.
    pub b64_public_key_env_var: Option<String>,
}

impl KeySources {
    /// Reads the private key from the first source that has it.
    pub fn private_key(&self) -> Result<PrivateKey> {
        let (pem, source) = self.read(
            self.private_key_env_var.as_deref(),
            self.b64_private_key_env_var.as_deref(),
            self.private_key.as_deref(),
            DEFAULT_PRIVATE_KEY,
            "private key",
        )?;
        PrivateKey::from_pem(&pem, &source)
    }

    /// Reads the public key (certificate) from the first source that has it.
    pub fn public_key(&self) -> Result<PublicKey> {
        let (pem, source) = self.read(
            self.public_key_env_var.as_deref(),
            self.b64_public_key_env_var.as_deref(),
            self.public_key.as_deref(),
            DEFAULT_PUBLIC_KEY,
            "public key",
        )?;
        PublicKey::from_pem(&pem, &source)
    }

    fn read(
        &self,
        env: Option<&str>,
        b64_env: Option<&str>,
        path: Option<&Path>,
        default: &str,
        what: &str,
    ) -> Result<(Zeroizing<String>, String)> {
        if let Some(var) = env {
            if let Ok(v) = std::env::var(var) {
                return Ok((Zeroizing::new(v), format!("environment variable {var}")));
            }
        }
        if let Some(var) = b64_env {
            if let Ok(v) = std::env::var(var) {
                let pem = String::from_utf8(lenient_base64(&v)).map_err(|_| {
                    Error::Pkcs7Key(format!(
                        "environment variable {var}: not base64 of a PEM {what}"
                    ))
                })?;
                return Ok((Zeroizing::new(pem), format!("environment variable {var}")));
            }
        }
        let path = path.unwrap_or_else(|| Path::new(default));
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Zeroizing::new(text), path.display().to_string())),
            Err(e) => {
                let unset: Vec<String> = [env, b64_env]
                    .into_iter()
                    .flatten()
                    .map(|v| format!("environment variable {v} is not set, and "))
                    .collect();
                let why = if e.kind() == std::io::ErrorKind::NotFound {
                    "No such file or directory".to_string()
                } else {
                    e.to_string()
                };
                Err(Error::Pkcs7Key(format!(
                    "{}cannot read the PKCS7 {what} {}: {why} (see --pkcs7-{}-key)",
                    unset.concat(),
                    path.display(),
                    what.split(' ').next().unwrap_or(what),
                )))
            }
        }
    }
}

/// PKCS7 keys read once, on first use: a GPG-only run never touches `./keys`.
#[derive(Debug, Default)]
pub struct LazyKeys {
    sources: KeySources,
    private: OnceLock<std::result::Result<PrivateKey, String>>,
    public: OnceLock<std::result::Result<PublicKey, String>>,
}

impl LazyKeys {
    /// Keys from `sources`, read when first needed.
    pub fn new(sources: KeySources) -> LazyKeys {
        LazyKeys {
            sources,
            private: OnceLock::new(),
            public: OnceLock::new(),
        }
    }

    /// Keys already at hand (a library caller that read them itself).
    pub fn with(private: Option<PrivateKey>, public: Option<PublicKey>) -> LazyKeys {
        let keys = LazyKeys::default();
        if let Some(k) = private {
            let _ = keys.private.set(Ok(k));
        }
        if let Some(k) = public {
            let _ = keys.public.set(Ok(k));
        }
        keys
    }

    /// The sources keys are read from.
    pub fn sources(&self) -> &KeySources {
        &self.sources
    }

    /// The private key, read on first call.
    pub fn private_key(&self) -> Result<&PrivateKey> {
        self.private
            .get_or_init(|| self.sources.private_key().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Pkcs7Key(e.clone()))
    }

    /// The public key, read on first call.
    pub fn public_key(&self) -> Result<&PublicKey> {
        self.public
            .get_or_init(|| self.sources.public_key().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Pkcs7Key(e.clone()))
    }

    /// Decrypts a PKCS7 value. A malformed value is reported as such before any key is read.
    pub fn decrypt(&self, der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        parse(der)?;
        decrypt(self.private_key()?, der)
    }

    /// Encrypts a plaintext to the public key.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        encrypt(std::slice::from_ref(self.public_key()?), plaintext)
    }
}

/// Parses a certificate subject in OpenSSL's `/CN=a/O=b` form (as `--pkcs7-subject` takes it,
/// like eyaml) or RFC 4514's `CN=a,O=b`.
pub fn parse_subject(subject: &str) -> Result<Name> {
    let bad = |why: String| Error::Pkcs7Key(format!("certificate subject {subject:?}: {why}"));
    let rfc4514 = if let Some(rest) = subject.strip_prefix('/') {
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        // RFC 4514 lists the most specific name first; OpenSSL's form the least specific.
        parts.into_iter().rev().collect::<Vec<_>>().join(",")
    } else {
        subject.to_string()
    };
    if rfc4514.trim().is_empty() {
        return Err(bad(
            "is empty; Bouncy Castle 1.85+ (Puppet Server) refuses certificates with an empty \
             subject or issuer"
                .into(),
        ));
    }
    Name::from_str(&rfc4514).map_err(|e| bad(e.to_string()))
}

/// A new key pair as `createkeys` writes it.
pub struct NewKeys {
    /// The private key as PKCS#1 PEM.
    pub private_pem: Zeroizing<String>,
    /// The self-signed certificate as PEM.
    pub certificate_pem: String,
}

impl fmt::Debug for NewKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewKeys")
    }
}

/// Generates an RSA key of `bits` and a self-signed X.509 v3 certificate for it with
/// `subject` as subject and issuer, a random serial and 50 years of validity (as eyaml).
pub fn generate(bits: usize, subject: &Name) -> Result<NewKeys> {
    if !(1024..=16384).contains(&bits) {
        return Err(Error::Pkcs7Key(format!(
            "key size {bits}: use 1024 to 16384 bits (eyaml's default is 2048)"
        )));
    }
    let keygen_err = |e: rsa::Error| Error::Pkcs7Key(format!("key generation: {e}"));
    let der_err = |e: der::Error| Error::Pkcs7Key(format!("certificate: {e}"));
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits).map_err(keygen_err)?;
    let public = key.to_public_key();
    let spki = SubjectPublicKeyInfoOwned::from_der(
        public
            .to_public_key_der()
            .map_err(|e| Error::Pkcs7Key(e.to_string()))?
            .as_bytes(),
    )
    .map_err(der_err)?;
    let mut serial = [0u8; 8];
    getrandom::fill(&mut serial).map_err(|e| Error::Pkcs7Key(e.to_string()))?;
    // Positive and non-zero: distinct serials let one value name several eyaml keys apart.
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let now = std::time::SystemTime::now();
    let sig_alg = AlgorithmIdentifierOwned {
        oid: OID_SHA256_WITH_RSA,
        parameters: Some(Any::null()),
    };
    let tbs = TbsCertificate {
        version: 2,
        serial_number: Int::new(&serial).map_err(der_err)?,
        signature: sig_alg.clone(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: cert_time(now)?,
            not_after: cert_time(now + std::time::Duration::from_secs(50 * 365 * 24 * 3600))?,
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        extensions: vec![x509_cert::ext::Extension {
            extn_id: OID_BASIC_CONSTRAINTS,
            critical: true,
            extn_value: OctetString::new(BasicConstraints { ca: true }.to_der().map_err(der_err)?)
                .map_err(der_err)?,
        }],
    };
    let signature = key
        .pkcs1v15_sign::<rsa::sha2::Sha256>(&tbs.to_der().map_err(der_err)?)
        .map_err(keygen_err)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sig_alg,
        signature: BitString::from_bytes(&signature).map_err(der_err)?,
    };
    let der = cert.to_der().map_err(der_err)?;
    let certificate_pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
        .map_err(|e| Error::Pkcs7Key(format!("certificate: {e}")))?;
    let private_pem = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::Pkcs7Key(e.to_string()))?;
    Ok(NewKeys {
        private_pem,
        certificate_pem,
    })
}

/// `createkeys -n pkcs7`: generates keys and writes the private key (mode 0600) and the
/// certificate, creating their directories. Refuses to overwrite either file; on any error
/// nothing new is left behind.
pub fn create_key_files(private: &Path, public: &Path, bits: usize, subject: &str) -> Result<()> {
    for path in [private, public] {
        if path.exists() {
            return Err(Error::Pkcs7Key(format!(
                "{}: already exists; createkeys never overwrites keys (move it away first)",
                path.display()
            )));
        }
    }
    let keys = generate(bits, &parse_subject(subject)?)?;
    write_new(private, keys.private_pem.as_bytes(), 0o600)?;
    if let Err(e) = write_new(public, keys.certificate_pem.as_bytes(), 0o644) {
        let _ = std::fs::remove_file(private);
        return Err(e);
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    // create_new: a file that appeared meanwhile is not overwritten either.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let written = f.write_all(bytes).and_then(|()| f.sync_all());
    if let Err(e) = written {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(Error::io(path, e));
    }
    Ok(())
}

fn cert_time(t: std::time::SystemTime) -> Result<Time> {
    // RFC 5280: UTCTime through 2049, GeneralizedTime after.
    der::asn1::UtcTime::from_system_time(t)
        .map(Time::UtcTime)
        .or_else(|_| der::asn1::GeneralizedTime::from_system_time(t).map(Time::GeneralTime))
        .map_err(|e| Error::Pkcs7Key(format!("certificate validity: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (PrivateKey, PublicKey) {
        let new = generate(1024, &parse_subject("/CN=test").unwrap()).unwrap();
        let private = PrivateKey::from_pem(&new.private_pem, "test").unwrap();
        let public = PublicKey::from_pem(&new.certificate_pem, "test").unwrap();
        (private, public)
    }

    #[test]
    fn round_trip_and_wrong_key() {
        let (private, public) = keys();
        let der = encrypt(std::slice::from_ref(&public), b"secret").unwrap();
        assert_eq!(decrypt(&private, &der).unwrap().as_slice(), b"secret");
        let (other, _) = keys();
        let err = decrypt(&other, &der).unwrap_err().to_string();
        assert!(err.contains("CN=test"), "{err}");
        assert_eq!(inspect(&der).unwrap().recipients, vec![public.id().clone()]);
    }

    #[test]
    fn subjects() {
        assert_eq!(parse_subject("/O=x/CN=y").unwrap().to_string(), "CN=y,O=x");
        assert!(parse_subject("/").is_err());
    }

    #[test]
    fn lenient_base64_skips_junk() {
        assert_eq!(lenient_base64("aGVs\n bG8=junk"), b"hello");
    }

    #[test]
    fn truncated_and_not_der() {
        let (_, public) = keys();
        let der = encrypt(&[public], b"x").unwrap();
        assert!(matches!(
            parse(&der[..der.len() - 3]),
            Err(Error::Pkcs7Malformed(_))
        ));
        assert!(matches!(parse(b"hello"), Err(Error::Pkcs7Malformed(_))));
        let mut long = der.clone();
        long.push(0);
        assert!(matches!(parse(&long), Err(Error::Pkcs7Malformed(_))));
    }
}
