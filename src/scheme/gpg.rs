//! The `GPG` scheme (hiera-eyaml-gpg): the payload is a binary OpenPGP message in strict
//! base64, handled by the OpenPGP [`Backend`](crate::crypto::Backend) of the key material.

use base64::Engine as _;

use super::{KeyMaterial, SchemeBackend, Structure};
use crate::crypto::{EncryptionKey, Plaintext};
use crate::error::{Error, Result};

/// The GPG scheme.
pub(super) struct Gpg;

impl SchemeBackend for Gpg {
    fn decode(&self, base64: &str) -> Result<Vec<u8>> {
        base64::engine::general_purpose::STANDARD
            .decode(base64)
            .map_err(|_| Error::Base64)
    }

    fn encode(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(message)
    }

    fn decrypt(&self, keys: &dyn KeyMaterial, message: &[u8]) -> Result<Plaintext> {
        keys.gpg().decrypt(message)
    }

    fn encrypt(
        &self,
        keys: &dyn KeyMaterial,
        recipients: &[EncryptionKey],
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        keys.gpg().encrypt(recipients, plaintext)
    }

    fn inspect(&self, keys: &dyn KeyMaterial, message: &[u8]) -> Result<Structure> {
        keys.gpg().inspect(message).map(Structure::Gpg)
    }
}
