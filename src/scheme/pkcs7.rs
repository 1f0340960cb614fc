//! The `PKCS7` scheme (hiera-eyaml's built-in default): the payload is a PKCS#7 EnvelopedData
//! in base64, decrypted with the PKCS7 private key of the key material (read on first use) and
//! encrypted to its certificate; OpenPGP recipients play no part.

use base64::Engine as _;

use super::{KeyMaterial, SchemeBackend, Structure};
use crate::crypto::{EncryptionKey, Plaintext};
use crate::error::Result;
use crate::pkcs7;

/// The PKCS7 scheme.
pub(super) struct Pkcs7;

impl SchemeBackend for Pkcs7 {
    fn decode(&self, base64: &str) -> Result<Vec<u8>> {
        // eyaml decodes with Ruby's lenient `Base64.decode64`; the DER parser rejects junk.
        Ok(pkcs7::lenient_base64(base64))
    }

    fn encode(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(message)
    }

    fn decrypt(&self, keys: &dyn KeyMaterial, message: &[u8]) -> Result<Plaintext> {
        keys.pkcs7()?.decrypt(message)
    }

    fn encrypt(
        &self,
        keys: &dyn KeyMaterial,
        _recipients: &[EncryptionKey],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        keys.pkcs7()?.encrypt(plaintext)
    }

    fn inspect(&self, _keys: &dyn KeyMaterial, message: &[u8]) -> Result<Structure> {
        pkcs7::inspect(message).map(Structure::Pkcs7)
    }
}
