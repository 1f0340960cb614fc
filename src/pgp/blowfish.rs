//! Blowfish-encrypted messages (gpg 1.4 `--cipher-algo BLOWFISH`, old gpg.conf files), read
//! here because Sequoia 2.4's pure-Rust backend cannot: it zero-pads the 16-byte OpenPGP key
//! to 56 bytes before the key schedule, and Blowfish cycles a short key instead, so every
//! Blowfish message fails its quick check there ("No secret key" although the key is at hand).
//!
//! Only what GnuPG writes is read: an SEIPD v1 packet (CFB with a zero IV, the repeated-bytes
//! prefix, the MDC packet checked before any plaintext is returned), holding literal data,
//! possibly compressed, read with the same size cap as every other value.

use std::io::Read;

use blowfish::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use sequoia_openpgp as openpgp;

use openpgp::crypto::SessionKey;
use openpgp::packet::SEIP;
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::types::{DataFormat, HashAlgorithm};
use openpgp::Packet;
use zeroize::Zeroizing;

use crate::crypto::Plaintext;
use crate::error::{Error, Result};

const BLOCK: usize = 8;

/// Decrypts `message` (binary or armoured) with the Blowfish session key `sk`.
pub(super) fn decrypt(message: &[u8], sk: &SessionKey, cap: usize) -> Result<Plaintext> {
    let malformed = |e: &dyn std::fmt::Display| Error::Malformed(e.to_string());
    let ciphertext = seipd_body(message)?;
    let cipher: blowfish::Blowfish = KeyInit::new_from_slice(sk)
        .map_err(|_| Error::DecryptionFailed("bad Blowfish session key length".into()))?;
    let mut plain = Zeroizing::new(ciphertext.clone());
    let mut iv = [0u8; BLOCK];
    for (c, p) in ciphertext.chunks(BLOCK).zip(plain.chunks_mut(BLOCK)) {
        let mut ks = GenericArray::clone_from_slice(&iv);
        cipher.encrypt_block(&mut ks);
        for (b, k) in p.iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
        iv[..c.len()].copy_from_slice(c);
    }
    // Prefix (block + 2 repeated bytes), the packets, then the MDC packet: D3 14 + SHA-1.
    if plain.len() < BLOCK + 2 + 22 || plain[BLOCK - 2..BLOCK] != plain[BLOCK..BLOCK + 2] {
        return Err(Error::DecryptionFailed(
            "the Blowfish session key does not check out".into(),
        ));
    }
    let mdc_at = plain.len() - 20;
    if plain[mdc_at - 2..mdc_at] != [0xD3, 0x14] {
        return Err(Error::NoIntegrity);
    }
    let mut hash = HashAlgorithm::SHA1
        .context()
        .map_err(|e| malformed(&e))?
        .for_digest();
    hash.update(&plain[..mdc_at]);
    let digest = hash.into_digest().map_err(|e| malformed(&e))?;
    if digest[..] != plain[mdc_at..] {
        return Err(Error::DecryptionFailed(
            "the message was modified (MDC mismatch)".into(),
        ));
    }
    literal(&plain[BLOCK + 2..mdc_at - 2], cap)
}

/// The encrypted body of the message's SEIPD v1 packet.
fn seipd_body(message: &[u8]) -> Result<Vec<u8>> {
    let malformed = |e: anyhow::Error| Error::Malformed(e.to_string());
    let mut ppr = PacketParser::from_bytes(message).map_err(malformed)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        if let Packet::SEIP(SEIP::V1(_)) = &pp.packet {
            return Ok(pp.buffer_unread_content().map_err(malformed)?.to_vec());
        }
        ppr = pp.next().map_err(malformed)?.1;
    }
    Err(Error::NotEncrypted)
}

/// The literal data in decrypted packets (through compression), text mode applied.
fn literal(packets: &[u8], cap: usize) -> Result<Plaintext> {
    let malformed = |e: anyhow::Error| Error::Malformed(e.to_string());
    let mut ppr = PacketParser::from_bytes(packets).map_err(malformed)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        match &pp.packet {
            Packet::CompressedData(_) => {
                ppr = pp.recurse().map_err(malformed)?.1;
            }
            Packet::Literal(l) => {
                #[allow(deprecated)]
                let text = matches!(
                    l.format(),
                    DataFormat::Text | DataFormat::Unicode | DataFormat::Unknown(b'm')
                );
                let mut out = Zeroizing::new(Vec::new());
                (&mut pp)
                    .take(cap as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| Error::Malformed(e.to_string()))?;
                if out.len() > cap {
                    return Err(Error::ValueTooLarge { limit: cap });
                }
                if text {
                    super::text_to_native(&mut out);
                }
                return Ok(out);
            }
            _ => ppr = pp.next().map_err(malformed)?.1,
        }
    }
    Err(Error::Malformed("no literal data in the message".into()))
}
