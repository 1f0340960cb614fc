//! hiera-eyaml encryption schemes: the tag of an `ENC[TAG,…]` / `DEC::TAG[…]!` value picks the
//! [`Scheme`], and every decryption, encryption and inspection of a value goes through it.
//! Each scheme is one submodule implementing [`SchemeBackend`]; key material reaches it through
//! [`KeyMaterial`], which holds the keys of every scheme.

mod gpg;
mod pkcs7;

use std::fmt;

use crate::error::{Error, Result};
use crate::token::{self, EncToken, Form};

/// The key and message types every scheme backend speaks.
pub use crate::crypto::{Backend, EncryptionKey, KeyId, Plaintext};
/// What a scheme reads from a message and a certificate without decrypting.
pub use crate::crypto::{CertInfo, CertStatus, Container, KeyOrigin, MessageInfo, Pkesk};
/// The PKCS7 scheme's key and envelope types.
pub use crate::pkcs7::{Envelope, RecipientId as Pkcs7RecipientId};
pub use crate::pkcs7::{PrivateKey as Pkcs7PrivateKey, PublicKey as Pkcs7PublicKey};

/// An encryption scheme of hiera-eyaml.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `ENC[GPG,…]`: an OpenPGP message (the hiera-eyaml-gpg plugin).
    #[default]
    Gpg,
    /// `ENC[PKCS7,…]`: a PKCS#7 envelope (hiera-eyaml's built-in default).
    Pkcs7,
}

impl Scheme {
    /// Every scheme hiera-eyaml knows, in `-n` order.
    pub const ALL: [Scheme; 2] = [Scheme::Gpg, Scheme::Pkcs7];

    /// The canonical tag written in new values (`GPG`, `PKCS7`).
    pub fn tag(self) -> &'static str {
        match self {
            Scheme::Gpg => token::GPG_TAG,
            Scheme::Pkcs7 => crate::pkcs7::PKCS7_TAG,
        }
    }

    /// The method name of `-n` and `encrypt_method` (`gpg`, `pkcs7`).
    pub fn method(self) -> &'static str {
        match self {
            Scheme::Gpg => "gpg",
            Scheme::Pkcs7 => "pkcs7",
        }
    }

    /// The scheme a value's tag names, in any case (`GPG`, `gpg`, `Pkcs7`).
    pub fn from_tag(tag: &str) -> Result<Scheme> {
        Scheme::ALL
            .into_iter()
            .find(|s| s.tag().eq_ignore_ascii_case(tag))
            .ok_or_else(|| Error::UnknownScheme(tag.to_string()))
    }

    /// The scheme an `-n` method names (lower case, as the settings hold it), if any.
    pub fn from_method(method: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.method() == method)
    }

    /// The scheme of `enc`: its tag, or `default` (`-n`) for a scheme-less `ENC[payload]`.
    pub fn of(enc: &EncToken, default: Scheme) -> Result<Scheme> {
        match &enc.scheme {
            Some(tag) => Scheme::from_tag(tag),
            None => Ok(default),
        }
    }

    /// Whether this tool can read and write values of the scheme.
    pub fn is_implemented(self) -> bool {
        self.backend().is_ok()
    }

    /// The implementation of the scheme.
    pub fn backend(self) -> Result<&'static dyn SchemeBackend> {
        match self {
            Scheme::Gpg => Ok(&gpg::Gpg),
            Scheme::Pkcs7 => Ok(&pkcs7::Pkcs7),
        }
    }

    /// Decodes and decrypts a value's payload.
    pub fn decrypt(self, keys: &dyn KeyMaterial, enc: &EncToken) -> Result<Plaintext> {
        let backend = self.backend()?;
        backend.decrypt(keys, &backend.decode(&enc.base64())?)
    }

    /// Encrypts `plaintext` to `recipients` and renders the value with the canonical tag in
    /// `form`.
    pub fn encrypt(
        self,
        keys: &dyn KeyMaterial,
        recipients: &[EncryptionKey],
        plaintext: &[u8],
        form: &Form,
    ) -> Result<String> {
        let backend = self.backend()?;
        let message = backend.encrypt(keys, recipients, plaintext)?;
        Ok(token::render_enc(
            self.tag(),
            &backend.encode(&message),
            form,
        ))
    }

    /// Encrypts `plaintext` to `recipients`: the payload of a new value, base64 without line
    /// breaks.
    pub fn encrypt_payload(
        self,
        keys: &dyn KeyMaterial,
        recipients: &[EncryptionKey],
        plaintext: &[u8],
    ) -> Result<String> {
        let backend = self.backend()?;
        Ok(backend.encode(&backend.encrypt(keys, recipients, plaintext)?))
    }

    /// Reads a value's structure without decrypting it (no secret key involved).
    pub fn inspect(self, keys: &dyn KeyMaterial, enc: &EncToken) -> Result<Structure> {
        let backend = self.backend()?;
        backend.inspect(keys, &backend.decode(&enc.base64())?)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// Decrypts `enc` with the scheme its tag names (`default` when it has none).
pub fn decrypt(keys: &dyn KeyMaterial, enc: &EncToken, default: Scheme) -> Result<Plaintext> {
    Scheme::of(enc, default)?.decrypt(keys, enc)
}

/// Reads the structure of `enc` with the scheme its tag names (`default` when it has none).
pub fn inspect(keys: &dyn KeyMaterial, enc: &EncToken, default: Scheme) -> Result<Structure> {
    Scheme::of(enc, default)?.inspect(keys, enc)
}

/// What a value's payload says about itself, read without a secret key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Structure {
    /// An OpenPGP message.
    Gpg(MessageInfo),
    /// A PKCS#7 envelope.
    Pkcs7(crate::pkcs7::Envelope),
}

/// The key material of every scheme. Any OpenPGP [`Backend`] (such as the
/// [`Keystore`](crate::pgp::Keystore)) is key material holding only OpenPGP keys.
pub trait KeyMaterial: Send + Sync {
    /// The OpenPGP keys, for `GPG` values.
    fn gpg(&self) -> &dyn Backend;

    /// The PKCS7 keys, for `PKCS7` values; none by default.
    fn pkcs7(&self) -> Result<&crate::pkcs7::LazyKeys> {
        Err(Error::Pkcs7Key(
            "no PKCS7 keys are configured for this operation".into(),
        ))
    }
}

/// OpenPGP keys and PKCS7 keys together: the key material of a run that meets both schemes.
pub struct Material<'a> {
    /// The OpenPGP keys.
    pub gpg: &'a dyn Backend,
    /// The PKCS7 keys, read when a PKCS7 value is first met.
    pub pkcs7: &'a crate::pkcs7::LazyKeys,
}

impl KeyMaterial for Material<'_> {
    fn gpg(&self) -> &dyn Backend {
        self.gpg
    }

    fn pkcs7(&self) -> Result<&crate::pkcs7::LazyKeys> {
        Ok(self.pkcs7)
    }
}

impl<B: Backend> KeyMaterial for B {
    fn gpg(&self) -> &dyn Backend {
        self
    }
}

/// One scheme's operations on a value's payload.
pub trait SchemeBackend: Send + Sync {
    /// Decodes the base64 payload (whitespace already removed).
    fn decode(&self, base64: &str) -> Result<Vec<u8>>;

    /// Encodes a message as a payload.
    fn encode(&self, message: &[u8]) -> String;

    /// Decrypts a decoded payload with the keys at hand.
    fn decrypt(&self, keys: &dyn KeyMaterial, message: &[u8]) -> Result<Plaintext>;

    /// Encrypts `plaintext` to `recipients` (resolved OpenPGP keys; a scheme with its own
    /// recipient keys takes them from `keys`).
    fn encrypt(
        &self,
        keys: &dyn KeyMaterial,
        recipients: &[EncryptionKey],
        plaintext: &[u8],
    ) -> Result<Vec<u8>>;

    /// Reads a decoded payload's structure without decrypting it.
    fn inspect(&self, keys: &dyn KeyMaterial, message: &[u8]) -> Result<Structure>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_in_any_case_and_methods_in_lower_case() {
        assert_eq!(Scheme::from_tag("gpg").unwrap(), Scheme::Gpg);
        assert_eq!(Scheme::from_tag("Pkcs7").unwrap(), Scheme::Pkcs7);
        assert!(matches!(Scheme::from_tag("RSA"), Err(Error::UnknownScheme(t)) if t == "RSA"));
        assert_eq!(Scheme::from_method("gpg"), Some(Scheme::Gpg));
        assert_eq!(Scheme::from_method("GPG"), None);
    }

    #[test]
    fn both_schemes_are_implemented() {
        assert!(Scheme::Gpg.is_implemented());
        assert!(Scheme::Pkcs7.is_implemented());
    }
}
