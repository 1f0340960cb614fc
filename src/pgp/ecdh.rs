//! The RFC 6637 session-key unwrapping of an ECDH key (KDF, then AES key unwrap, RFC 3394),
//! with the KDF parameters computed once per key. Sequoia's `ecdh::decrypt_unwrap` rebuilds
//! them for every value and wipes 4 KiB of stack after each of the 30 AES block operations of
//! one unwrap, which cost more than the unwrapping itself; here the AES key schedule is wiped
//! on drop, every buffer that held key material is zeroized and the stack is wiped once.

use aes::cipher::{BlockCipherDecrypt, KeyInit};
use sequoia_openpgp as openpgp;
use zeroize::{Zeroize, Zeroizing};

use openpgp::crypto::mem::Protected;
use openpgp::crypto::{mpi, SessionKey};
use openpgp::types::{HashAlgorithm, PublicKeyAlgorithm, SymmetricAlgorithm};

use super::PublicKey;

/// RFC 3394's initial value, which a correctly unwrapped key reproduces.
const KEY_WRAP_IV: u64 = 0xa6a6_a6a6_a6a6_a6a6;

/// What unwrapping needs from an ECDH public key.
pub(super) struct Kek {
    hash: HashAlgorithm,
    sym: SymmetricAlgorithm,
    /// RFC 6637's `Param`: curve OID, algorithm, KDF parameters, "Anonymous Sender    ",
    /// the key's fingerprint.
    param: Vec<u8>,
}

impl Kek {
    /// The parameters of an ECDH key wrapped with AES; `None` for any other key.
    pub(super) fn new(key: &PublicKey) -> Option<Kek> {
        let mpi::PublicKey::ECDH {
            curve, hash, sym, ..
        } = key.mpis()
        else {
            return None;
        };
        if !matches!(
            sym,
            SymmetricAlgorithm::AES128 | SymmetricAlgorithm::AES192 | SymmetricAlgorithm::AES256
        ) {
            return None;
        }
        let fp = key.fingerprint();
        let oid = curve.oid();
        let mut param = Vec::with_capacity(1 + oid.len() + 1 + 4 + 20 + fp.as_bytes().len());
        param.push(u8::try_from(oid.len()).ok()?);
        param.extend_from_slice(oid);
        param.push(PublicKeyAlgorithm::ECDH.into());
        param.extend_from_slice(&[3, 1, (*hash).into(), (*sym).into()]);
        param.extend_from_slice(b"Anonymous Sender    ");
        param.extend_from_slice(fp.as_bytes());
        Some(Kek {
            hash: *hash,
            sym: *sym,
            param,
        })
    }

    /// The session key (algorithm, key, checksum: Sequoia's PKESK code checks them) wrapped
    /// in `ciphertext` for the ECDH shared secret `shared`.
    pub(super) fn unwrap(
        &self,
        shared: &Protected,
        ciphertext: &mpi::Ciphertext,
    ) -> openpgp::Result<SessionKey> {
        let mpi::Ciphertext::ECDH { key: wrapped, .. } = ciphertext else {
            return Err(openpgp::Error::InvalidArgument("not an ECDH ciphertext".into()).into());
        };
        let result = self.unwrap_inner(shared, wrapped);
        wipe_stack();
        result
    }

    #[inline(never)]
    fn unwrap_inner(&self, shared: &Protected, wrapped: &[u8]) -> openpgp::Result<SessionKey> {
        let bad = |why: &str| openpgp::Error::InvalidArgument(why.into());
        // Z = KDF(S, key size, Param), RFC 6637 section 7: one hash block.
        let size = self.sym.key_size()?;
        let mut hash = self.hash.context()?.for_digest();
        if size > hash.digest_size() {
            return Err(bad("hash digest too short").into());
        }
        hash.update(&[0, 0, 0, 1]);
        hash.update(shared);
        hash.update(&self.param);
        let mut z = Zeroizing::new(vec![0u8; size]);
        hash.digest(&mut z)?;

        if !wrapped.len().is_multiple_of(8) || wrapped.len() < 24 {
            return Err(bad("wrapped key length").into());
        }
        let n = wrapped.len() / 8 - 1;
        let mut a = u64::from_be_bytes(wrapped[..8].try_into()?);
        let mut r = Zeroizing::new(wrapped[8..].to_vec());
        let mut block = aes::Block::default();
        let round = |r: &mut [u8],
                     a: &mut u64,
                     block: &mut aes::Block,
                     decrypt: &dyn Fn(&mut aes::Block)| {
            for j in (0..6u64).rev() {
                for i in (0..n).rev() {
                    let t = (n as u64) * j + i as u64 + 1;
                    block[..8].copy_from_slice(&(*a ^ t).to_be_bytes());
                    block[8..].copy_from_slice(&r[8 * i..8 * i + 8]);
                    decrypt(block);
                    *a = u64::from_be_bytes(block[..8].try_into().expect("8 bytes"));
                    r[8 * i..8 * i + 8].copy_from_slice(&block[8..]);
                }
            }
        };
        match size {
            16 => {
                let c = aes::Aes128::new_from_slice(&z).map_err(|_| bad("key size"))?;
                round(&mut r, &mut a, &mut block, &|b| c.decrypt_block(b));
            }
            24 => {
                let c = aes::Aes192::new_from_slice(&z).map_err(|_| bad("key size"))?;
                round(&mut r, &mut a, &mut block, &|b| c.decrypt_block(b));
            }
            _ => {
                let c = aes::Aes256::new_from_slice(&z).map_err(|_| bad("key size"))?;
                round(&mut r, &mut a, &mut block, &|b| c.decrypt_block(b));
            }
        }
        block.zeroize();
        if a != KEY_WRAP_IV {
            return Err(bad("bad key").into());
        }
        // PKCS#5 padding (RFC 6637 section 8).
        let pad = usize::from(*r.last().ok_or_else(|| bad("empty key"))?);
        if pad == 0 || pad > r.len() || r[r.len() - pad..].iter().any(|&b| usize::from(b) != pad) {
            return Err(bad("bad padding").into());
        }
        Ok(SessionKey::from(&r[..r.len() - pad]))
    }
}

/// Overwrites the stack below the caller's frame, where the unwrapping left copies of key
/// material in spilled registers and temporaries (what Sequoia's `zero_stack` does, once).
#[inline(never)]
fn wipe_stack() {
    let mut area = [0xffu8; 4096];
    area.zeroize();
    std::hint::black_box(&area);
}
