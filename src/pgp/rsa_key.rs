//! Unlocked RSA decryption keys held as the crypto library's own key object, built once per
//! key instead of once per value. With OpenSSL the key carries its CRT parameters (Sequoia's
//! OpenSSL backend hands OpenSSL only n, e and d, so every operation runs without the Chinese
//! remainder theorem, about three times slower); with the pure-Rust backend the `rsa` crate's
//! key is validated and precomputed once.

use sequoia_openpgp as openpgp;

use openpgp::crypto::{mpi, Decryptor, SessionKey};
use openpgp::packet::key::{SecretKeyMaterial, SecretParts, UnspecifiedRole};
use openpgp::packet::Key;

use super::PublicKey;

#[cfg(feature = "crypto-openssl")]
type Inner = openssl::rsa::Rsa<openssl::pkey::Private>;
#[cfg(all(not(feature = "crypto-openssl"), feature = "crypto-rust"))]
type Inner = rsa09::RsaPrivateKey;
/// No backend of ours to hold the key in: Sequoia's key pair is used as is.
#[cfg(not(any(feature = "crypto-openssl", feature = "crypto-rust")))]
type Inner = std::convert::Infallible;

/// The secret half of an RSA encryption key, unlocked (the library wipes it on drop).
pub(crate) struct RsaSecret {
    public: PublicKey,
    key: Inner,
}

impl RsaSecret {
    /// The key object for an unencrypted RSA secret key; `None` for any other key.
    pub(super) fn from_key(key: &Key<SecretParts, UnspecifiedRole>) -> Option<Self> {
        let mpi::PublicKey::RSA { e, n } = key.mpis() else {
            return None;
        };
        let SecretKeyMaterial::Unencrypted(secret) = key.secret() else {
            return None;
        };
        let inner = secret.map(|material| match material {
            mpi::SecretKeyMaterial::RSA { d, p, q, .. } => {
                build(n.value(), e.value(), d.value(), p.value(), q.value())
            }
            _ => None,
        })?;
        Some(RsaSecret {
            public: key.clone().take_secret().0,
            key: inner,
        })
    }
}

/// OpenSSL's key from the OpenPGP components, with the CRT parameters OpenPGP does not store
/// (d mod p-1, d mod q-1, q⁻¹ mod p) computed here. Every intermediate is a secure BIGNUM, so
/// OpenSSL wipes it when freed; the key object wipes its own on drop.
#[cfg(feature = "crypto-openssl")]
fn build(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Option<Inner> {
    use openssl::bn::{BigNum, BigNumContext};
    let secret = |bytes: &[u8]| -> Option<BigNum> {
        let mut bn = BigNum::new_secure().ok()?;
        bn.copy_from_slice(bytes).ok()?;
        Some(bn)
    };
    let mut ctx = BigNumContext::new_secure().ok()?;
    let (d, p, q) = (secret(d)?, secret(p)?, secret(q)?);
    let n = BigNum::from_slice(n).ok()?;
    let one = BigNum::from_u32(1).ok()?;
    // A key whose primes do not make its modulus would decrypt to garbage: refuse it here
    // (Sequoia's key pair then reports the failure as before).
    let mut product = BigNum::new_secure().ok()?;
    product.checked_mul(&p, &q, &mut ctx).ok()?;
    if product != n {
        return None;
    }
    let mut p1 = BigNum::new_secure().ok()?;
    p1.checked_sub(&p, &one).ok()?;
    let mut q1 = BigNum::new_secure().ok()?;
    q1.checked_sub(&q, &one).ok()?;
    let mut dmp1 = BigNum::new_secure().ok()?;
    dmp1.checked_rem(&d, &p1, &mut ctx).ok()?;
    let mut dmq1 = BigNum::new_secure().ok()?;
    dmq1.checked_rem(&d, &q1, &mut ctx).ok()?;
    let mut iqmp = BigNum::new_secure().ok()?;
    iqmp.mod_inverse(&q, &p, &mut ctx).ok()?;
    let e = BigNum::from_slice(e).ok()?;
    openssl::rsa::Rsa::from_private_components(n, e, d, p, q, dmp1, dmq1, iqmp).ok()
}

/// The `rsa` crate's key (the one Sequoia's pure-Rust backend builds per value), validated
/// and with its CRT values precomputed once.
#[cfg(all(not(feature = "crypto-openssl"), feature = "crypto-rust"))]
fn build(n: &[u8], e: &[u8], d: &[u8], p: &[u8], q: &[u8]) -> Option<Inner> {
    use rsa09::BigUint;
    rsa09::RsaPrivateKey::from_components(
        BigUint::from_bytes_be(n),
        BigUint::from_bytes_be(e),
        BigUint::from_bytes_be(d),
        vec![BigUint::from_bytes_be(p), BigUint::from_bytes_be(q)],
    )
    .ok()
}

#[cfg(not(any(feature = "crypto-openssl", feature = "crypto-rust")))]
fn build(_n: &[u8], _e: &[u8], _d: &[u8], _p: &[u8], _q: &[u8]) -> Option<Inner> {
    None
}

/// Sequoia's decryption interface over a borrowed [`RsaSecret`]: PKCS#1 v1.5, whose result
/// (algorithm, session key, checksum) Sequoia's PKESK code then checks.
pub(super) struct RsaDecryptor<'a>(pub(super) &'a RsaSecret);

impl Decryptor for RsaDecryptor<'_> {
    fn public(&self) -> &PublicKey {
        &self.0.public
    }

    fn decrypt(
        &mut self,
        ciphertext: &mpi::Ciphertext,
        _plaintext_len: Option<usize>,
    ) -> openpgp::Result<SessionKey> {
        let mpi::Ciphertext::RSA { c } = ciphertext else {
            return Err(openpgp::Error::InvalidArgument("not an RSA ciphertext".into()).into());
        };
        decrypt(&self.0.key, c.value())
    }
}

#[cfg(feature = "crypto-openssl")]
fn decrypt(key: &Inner, c: &[u8]) -> openpgp::Result<SessionKey> {
    let size = key.size() as usize;
    if c.len() > size {
        return Err(openpgp::Error::InvalidArgument("RSA ciphertext too long".into()).into());
    }
    // The MPI drops leading zero bytes; OpenSSL wants the modulus' length.
    let mut padded = vec![0u8; size];
    padded[size - c.len()..].copy_from_slice(c);
    let mut out = zeroize::Zeroizing::new(vec![0u8; size]);
    let len = key.private_decrypt(&padded, &mut out, openssl::rsa::Padding::PKCS1)?;
    Ok(SessionKey::from(&out[..len]))
}

#[cfg(all(not(feature = "crypto-openssl"), feature = "crypto-rust"))]
fn decrypt(key: &Inner, c: &[u8]) -> openpgp::Result<SessionKey> {
    let out = zeroize::Zeroizing::new(key.decrypt(rsa09::Pkcs1v15Encrypt, c)?);
    Ok(SessionKey::from(&out[..]))
}

#[cfg(not(any(feature = "crypto-openssl", feature = "crypto-rust")))]
fn decrypt(key: &Inner, _c: &[u8]) -> openpgp::Result<SessionKey> {
    match *key {}
}

/// A PKESK v3 packet that gives `session_key` (for `sym`) to the RSA key `key`, the RSA
/// operation done by the `rsa` 0.10 crate: its public-key operation is about three times as
/// fast as that of the `rsa` 0.9 Sequoia's pure-Rust backend uses, which made encrypting to
/// several RSA recipients cost milliseconds per value. `None` for any other key, or a key
/// that crate refuses (e.g. a modulus above 4096 bits): Sequoia then encrypts as before.
#[cfg(all(not(feature = "crypto-openssl"), feature = "crypto-rust"))]
pub(super) fn pkesk3(
    key: &PublicKey,
    sym: openpgp::types::SymmetricAlgorithm,
    session_key: &SessionKey,
) -> Option<openpgp::Result<openpgp::packet::pkesk::PKESK3>> {
    use rsa::BoxedUint;
    let mpi::PublicKey::RSA { e, n } = key.mpis() else {
        return None;
    };
    let public = rsa::PublicKey::new(
        BoxedUint::from_be_slice_vartime(n.value()),
        BoxedUint::from_be_slice_vartime(e.value()),
    )
    .ok()?;
    // RFC 4880 section 5.1: algorithm, key, two-octet checksum (sum of the key octets).
    let checksum = session_key
        .iter()
        .fold(0u16, |sum, &b| sum.wrapping_add(u16::from(b)));
    let mut plain = zeroize::Zeroizing::new(Vec::with_capacity(session_key.len() + 3));
    plain.push(sym.into());
    plain.extend_from_slice(session_key);
    plain.extend_from_slice(&checksum.to_be_bytes());
    Some(match public.pkcs1v15_encrypt(&plain) {
        Ok(c) => openpgp::packet::pkesk::PKESK3::new(
            Some(key.keyid()),
            key.pk_algo(),
            mpi::Ciphertext::RSA {
                c: mpi::MPI::new(&c),
            },
        ),
        Err(e) => Err(openpgp::Error::InvalidOperation(format!("RSA encryption: {e}")).into()),
    })
}

/// With OpenSSL, Sequoia's own RSA encryption is as fast as the operation gets.
#[cfg(not(all(not(feature = "crypto-openssl"), feature = "crypto-rust")))]
pub(super) fn pkesk3(
    _key: &PublicKey,
    _sym: openpgp::types::SymmetricAlgorithm,
    _session_key: &SessionKey,
) -> Option<openpgp::Result<openpgp::packet::pkesk::PKESK3>> {
    None
}
