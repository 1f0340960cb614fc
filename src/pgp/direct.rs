//! The common message read without Sequoia's streaming decryptor: PKESK v3 packets, then
//! one SEIPD v1 packet that ends the message, in binary (what we, GnuPG 2.2 and the Ruby
//! plugin's gpg write). For a value of a few dozen octets the streaming decryptor's
//! buffered readers, message grammar and second parse pass cost about as much CPU as the
//! X25519 operation itself.
//!
//! The session key is found by the same [`Helper`] as on the streaming path (keys in process
//! first, then gpg-agent; hidden recipients; one passphrase prompt), so key choice, prompts
//! and their errors are the same. Anything else (armour, SKESKs, AEAD, other packets,
//! unusual literal data, a modified message) answers `None`, and the caller reads the message
//! the streaming way, which also words every refusal.

use sequoia_openpgp as openpgp;

use openpgp::crypto::mpi::{self, MPI};
use openpgp::crypto::SessionKey;
use openpgp::packet::pkesk::PKESK3;
use openpgp::packet::PKESK;
use openpgp::parse::stream::DecryptionHelper;
use openpgp::policy::Policy;
use openpgp::types::{PublicKeyAlgorithm, SymmetricAlgorithm};
use openpgp::KeyID;

use super::{framing, seipd, Helper, Keystore, Notice, LEGACY_CIPHERS};
use crate::crypto::Plaintext;
use crate::error::{Error, Result};

/// Decrypts `message` if it has the common shape; `None` leaves it to the streaming path.
pub(super) fn decrypt(store: &Keystore, message: &[u8]) -> Option<Result<Plaintext>> {
    let (pkesks, body) = split(message)?;
    let unreadable = std::cell::RefCell::new(None);
    let mut helper = Helper {
        store,
        failure: None,
        decrypted: false,
        text_mode: false,
        sym_algo: None,
        unreadable: &unreadable,
    };
    let mut opened: Option<(
        SymmetricAlgorithm,
        std::result::Result<Plaintext, seipd::Refusal>,
    )> = None;
    let mut open = |algo: Option<SymmetricAlgorithm>, sk: &SessionKey| -> bool {
        let Some(algo) = algo else {
            return false;
        };
        if store.decrypt_policy.symmetric_algorithm(algo).is_err() {
            opened = Some((algo, Err(seipd::Refusal::Unsupported)));
            return true;
        }
        match seipd::decrypt(&body, algo, sk) {
            Err(seipd::Refusal::QuickCheck) => false,
            result => {
                opened = Some((algo, result));
                true
            }
        }
    };
    if let Err(e) = helper.decrypt(&pkesks, &[], None, &mut open) {
        // No key, a refused passphrase, the agent: what the streaming path would say too, and
        // asking again would prompt again.
        return Some(Err(super::helper_error(e)));
    }
    let (algo, Ok(packets)) = opened? else {
        return None;
    };
    match seipd::literal(&packets, store.max_value_size) {
        Ok(Some(plaintext)) => {
            if LEGACY_CIPHERS.contains(&algo) {
                store.notify(Notice::LegacyCipher(algo.to_string()));
            }
            Some(Ok(plaintext))
        }
        Err(e @ Error::ValueTooLarge { .. }) => Some(Err(e)),
        _ => None,
    }
}

/// The PKESKs and the SEIPD v1 body (version octet first) of a message of the common shape.
fn split(message: &[u8]) -> Option<(Vec<PKESK>, std::borrow::Cow<'_, [u8]>)> {
    let mut pkesks = Vec::new();
    let mut offset = 0;
    loop {
        let (tag, body, end) = framing::packet_at(message, offset)?;
        match tag {
            1 => pkesks.push(pkesk3(&body)?),
            18 if end == message.len() && !pkesks.is_empty() && body.first() == Some(&1) => {
                return Some((pkesks, body));
            }
            _ => return None,
        }
        offset = end;
    }
}

/// A PKESK v3 packet body for RSA, ElGamal or ECDH (the algorithms whose session keys GnuPG
/// 2.2 reads), parsed as Sequoia parses it.
fn pkesk3(body: &[u8]) -> Option<PKESK> {
    let (&3, rest) = body.split_first()? else {
        return None;
    };
    let recipient = KeyID::from_bytes(rest.get(..8)?);
    let algo = PublicKeyAlgorithm::from(*rest.get(8)?);
    let mut mpis = &rest[9..];
    #[allow(deprecated)]
    let ciphertext = match algo {
        PublicKeyAlgorithm::RSAEncryptSign | PublicKeyAlgorithm::RSAEncrypt => {
            mpi::Ciphertext::RSA {
                c: take_mpi(&mut mpis)?,
            }
        }
        PublicKeyAlgorithm::ElGamalEncrypt | PublicKeyAlgorithm::ElGamalEncryptSign => {
            let e = take_mpi(&mut mpis)?;
            let c = take_mpi(&mut mpis)?;
            mpi::Ciphertext::ElGamal { e, c }
        }
        PublicKeyAlgorithm::ECDH => {
            let e = take_mpi(&mut mpis)?;
            let (&len, rest) = mpis.split_first()?;
            let key = rest.get(..usize::from(len))?;
            mpis = &rest[usize::from(len)..];
            mpi::Ciphertext::ECDH { e, key: key.into() }
        }
        _ => return None,
    };
    if !mpis.is_empty() {
        return None;
    }
    PKESK3::new(Some(recipient), algo, ciphertext)
        .ok()
        .map(PKESK::from)
}

/// One MPI from the front of `data`, whose bit count must be exact (no leading zeros), as
/// every OpenPGP implementation writes it.
fn take_mpi(data: &mut &[u8]) -> Option<MPI> {
    let bits = usize::from(u16::from_be_bytes(data.get(..2)?.try_into().ok()?));
    let len = bits.div_ceil(8);
    let value = data.get(2..2 + len)?;
    let top = *value.first()?;
    if (len - 1) * 8 + (8 - top.leading_zeros() as usize) != bits {
        return None;
    }
    *data = &data[2 + len..];
    Some(MPI::new(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpis_must_have_exact_bit_counts() {
        let mut data: &[u8] = &[0, 9, 1, 0xff, 7];
        assert_eq!(take_mpi(&mut data).expect("mpi").value(), &[1, 0xff]);
        assert_eq!(data, &[7]);
        for bad in [
            &[0, 10, 1, 0xff][..],
            &[0, 9, 0, 0xff],
            &[0, 0],
            &[0, 9, 1],
            &[0],
        ] {
            let mut data = bad;
            assert!(take_mpi(&mut data).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn only_pkesks_then_one_seipd_v1_at_the_end_is_the_common_shape() {
        // An RSA PKESK v3 (key id 0102..08) with a 1-bit MPI.
        let pkesk = [0xc1, 13, 3, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 1, 1];
        let mut seipd = vec![0xd2, 42, 1];
        seipd.resize(44, 0);
        let mut m = pkesk.to_vec();
        m.extend(&seipd);
        let (pkesks, body) = split(&m).expect("common shape");
        assert_eq!(pkesks.len(), 1);
        assert_eq!(body.len(), 42);
        assert!(split(&seipd).is_none(), "no PKESK");
        let mut trailing = m.clone();
        trailing.push(0);
        assert!(split(&trailing).is_none(), "data after the SEIPD");
        let mut v2 = m.clone();
        v2[pkesk.len() + 2] = 2;
        assert!(split(&v2).is_none(), "SEIPD v2");
        let mut skesk = vec![0xc3, 4, 4, 9, 3, 0];
        skesk.extend(&m);
        assert!(split(&skesk).is_none(), "an SKESK");
        let mut x25519 = m.clone();
        x25519[11] = 25;
        assert!(split(&x25519).is_none(), "PKESK of another algorithm");
    }

    /// The common shape read here and the same message read by Sequoia's streaming
    /// decryptor give the same plaintext, for every literal format, compression and
    /// signature layout; a modified message is left to the streaming path, which refuses it.
    #[test]
    fn agrees_with_the_streaming_path() {
        use std::io::Write;

        use openpgp::cert::Cert;
        use openpgp::parse::Parse;
        use openpgp::policy::StandardPolicy;
        use openpgp::serialize::stream::{Compressor, Encryptor, LiteralWriter, Message, Signer};
        use openpgp::types::{CompressionAlgorithm, DataFormat};

        let bob = include_bytes!("../../fixtures/reference/keys/bob.sec.asc");
        let mut store = Keystore::new();
        store
            .load_bytes(bob, crate::crypto::KeyOrigin::Keyring("bob".into()))
            .expect("bob's key");
        let cert = Cert::from_bytes(&bob[..]).expect("cert");
        let policy = StandardPolicy::new();
        let seal = |format: DataFormat, compression: Option<CompressionAlgorithm>, signed: bool| {
            let mut sink = Vec::new();
            let recipients = cert
                .keys()
                .with_policy(&policy, None)
                .for_storage_encryption();
            let mut m = Encryptor::for_recipients(Message::new(&mut sink), recipients)
                .build()
                .expect("encryptor");
            if let Some(algo) = compression {
                m = Compressor::new(m).algo(algo).build().expect("compressor");
            }
            if signed {
                let signer = cert
                    .keys()
                    .secret()
                    .with_policy(&policy, None)
                    .for_signing()
                    .next()
                    .expect("signing key")
                    .key()
                    .clone()
                    .into_keypair()
                    .expect("keypair");
                m = Signer::new(m, signer)
                    .expect("signer")
                    .build()
                    .expect("signer");
            }
            let mut w = LiteralWriter::new(m)
                .format(format)
                .build()
                .expect("literal");
            w.write_all(b"line 1\r\nline 2\r\n\xff\x00").expect("write");
            w.finalize().expect("finalize");
            sink
        };
        #[allow(deprecated)]
        let formats = [
            DataFormat::Binary,
            DataFormat::Text,
            DataFormat::Unicode,
            DataFormat::Unknown(b'm'),
        ];
        let compressions = [
            None,
            Some(CompressionAlgorithm::Uncompressed),
            Some(CompressionAlgorithm::Zip),
            Some(CompressionAlgorithm::Zlib),
            Some(CompressionAlgorithm::BZip2),
        ];
        for format in formats {
            for compression in compressions {
                for signed in [false, true] {
                    let what = format!("{format:?} {compression:?} signed {signed}");
                    let message = seal(format, compression, signed);
                    let ours = decrypt(&store, &message)
                        .unwrap_or_else(|| panic!("{what}: not the common shape"))
                        .expect("decrypts");
                    let streaming = store.decrypt_message(&message).expect("decrypts");
                    assert_eq!(&ours[..], &streaming[..], "{what}");
                    let mut modified = message.clone();
                    let n = modified.len();
                    modified[n - 25] ^= 1;
                    assert!(decrypt(&store, &modified).is_none(), "{what}: modified");
                    assert!(
                        store.decrypt_message(&modified).is_err(),
                        "{what}: modified"
                    );
                }
            }
        }
    }
}
