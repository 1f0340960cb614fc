//! SEIPD v1 (what GnuPG 2.2 writes: CFB with a zero IV, the repeated-bytes prefix, the MDC)
//! decrypted in our own code, for every OpenPGP block cipher, and the literal data inside.
//!
//! Two callers need it. The common message (`src/pgp/direct.rs`) is read here without
//! Sequoia's streaming decryptor, whose buffers cost more than the decryption of a small value.
//! And two ciphers Sequoia's backends cannot read come here from the streaming path: Blowfish
//! in the pure-Rust backend (Sequoia 2.4 zero-pads the 16-byte OpenPGP key to 56 bytes before
//! the key schedule, where Blowfish cycles a short key, so every message fails its quick check)
//! and IDEA in the OpenSSL backend (OpenSSL 3 keeps it in its legacy provider, not loaded).
//!
//! Nothing is returned before the MDC checks out; every buffer that held plaintext or
//! keystream is wiped.

use std::io::Read;

use sequoia_openpgp as openpgp;

use openpgp::crypto::SessionKey;
use openpgp::packet::SEIP;
use openpgp::parse::{PacketParser, PacketParserResult, Parse};
use openpgp::types::{DataFormat, HashAlgorithm, SymmetricAlgorithm};
use openpgp::Packet;
use zeroize::{Zeroize, Zeroizing};

use super::framing;
use crate::crypto::Plaintext;
use crate::error::{Error, Result};

/// Why an SEIPD v1 body did not decrypt.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No block cipher here for the algorithm, or a key of the wrong size.
    Unsupported,
    /// Not version 1, or too short for a prefix and an MDC.
    Malformed,
    /// The prefix's repeated octets differ: the wrong session key (OpenPGP's quick check).
    QuickCheck,
    /// No MDC packet where it must be.
    NoMdc,
    /// The MDC does not match: the ciphertext was modified.
    Modified,
}

/// One block encryption, in place (CFB decryption only ever encrypts).
type EncryptBlock = Box<dyn Fn(&mut [u8])>;

/// The block size and the block encryption of `algo` keyed with `key`.
fn cipher(algo: SymmetricAlgorithm, key: &[u8]) -> Option<(usize, EncryptBlock)> {
    use blowfish::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
    /// A cipher of the `cipher` 0.4 generation (the crates Sequoia's backend uses).
    fn rc<C: BlockEncrypt + KeyInit + 'static>(key: &[u8]) -> Option<EncryptBlock> {
        let c = C::new_from_slice(key).ok()?;
        Some(Box::new(move |b: &mut [u8]| {
            c.encrypt_block(GenericArray::from_mut_slice(b))
        }))
    }
    /// AES through the `aes` 0.9 build that the ECDH unwrapping uses.
    fn aes<C>(key: &[u8]) -> Option<EncryptBlock>
    where
        C: aes::cipher::BlockCipherEncrypt
            + aes::cipher::KeyInit
            + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
            + 'static,
    {
        let c = C::new_from_slice(key).ok()?;
        Some(Box::new(move |b: &mut [u8]| {
            if let Ok(block) = <&mut aes::Block>::try_from(b) {
                c.encrypt_block(block)
            }
        }))
    }
    #[allow(deprecated)]
    let (size, f) = match algo {
        SymmetricAlgorithm::AES128 => (16, aes::<aes::Aes128>(key)),
        SymmetricAlgorithm::AES192 => (16, aes::<aes::Aes192>(key)),
        SymmetricAlgorithm::AES256 => (16, aes::<aes::Aes256>(key)),
        SymmetricAlgorithm::Twofish => (16, rc::<twofish::Twofish>(key)),
        SymmetricAlgorithm::Camellia128 => (16, rc::<camellia::Camellia128>(key)),
        SymmetricAlgorithm::Camellia192 => (16, rc::<camellia::Camellia192>(key)),
        SymmetricAlgorithm::Camellia256 => (16, rc::<camellia::Camellia256>(key)),
        SymmetricAlgorithm::IDEA => (8, rc::<idea::Idea>(key)),
        SymmetricAlgorithm::TripleDES => (8, rc::<des::TdesEde3>(key)),
        SymmetricAlgorithm::CAST5 => (8, rc::<cast5::Cast5>(key)),
        SymmetricAlgorithm::Blowfish => (8, rc::<blowfish::Blowfish>(key)),
        _ => return None,
    };
    // Every algorithm here has exactly one key size in OpenPGP.
    if algo.key_size().ok()? != key.len() {
        return None;
    }
    Some((size, f?))
}

/// Decrypts an SEIPD v1 packet body (version octet first) with `algo` and `key`: the packets
/// inside (between the prefix and the MDC packet), after the MDC checked out.
pub(super) fn decrypt(
    body: &[u8],
    algo: SymmetricAlgorithm,
    key: &[u8],
) -> std::result::Result<Plaintext, Refusal> {
    let (block, encrypt) = cipher(algo, key).ok_or(Refusal::Unsupported)?;
    let Some((&1, ciphertext)) = body.split_first() else {
        return Err(Refusal::Malformed);
    };
    if ciphertext.len() < block + 2 + 22 {
        return Err(Refusal::Malformed);
    }
    let mut plain = Zeroizing::new(ciphertext.to_vec());
    let mut ks = [0u8; 16];
    let ks = &mut ks[..block];
    // The quick check first: a wrong key (one of several recipients' keys tried) stops after
    // two blocks.
    let blocks = ciphertext.len().div_ceil(block);
    for i in 0..blocks {
        if i == 0 {
            ks.fill(0);
        } else {
            ks.copy_from_slice(&ciphertext[(i - 1) * block..i * block]);
        }
        encrypt(ks);
        let end = ((i + 1) * block).min(plain.len());
        for (b, k) in plain[i * block..end].iter_mut().zip(ks.iter()) {
            *b ^= k;
        }
        if i == 1 && plain[block - 2..block] != plain[block..block + 2] {
            ks.zeroize();
            return Err(Refusal::QuickCheck);
        }
    }
    ks.zeroize();
    let mdc_at = plain.len() - 20;
    if plain[mdc_at - 2..mdc_at] != [0xD3, 0x14] {
        return Err(Refusal::NoMdc);
    }
    let mut hash = HashAlgorithm::SHA1
        .context()
        .map_err(|_| Refusal::Unsupported)?
        .for_digest();
    hash.update(&plain[..mdc_at]);
    let digest = hash.into_digest().map_err(|_| Refusal::Unsupported)?;
    let differ = digest
        .iter()
        .zip(&plain[mdc_at..])
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differ != 0 {
        return Err(Refusal::Modified);
    }
    let packets = &plain[block + 2..mdc_at - 2];
    Ok(Zeroizing::new(packets.to_vec()))
}

/// The literal data in decrypted packets, text mode applied: one literal data packet, alone,
/// or signed (one-pass signatures before it and their signatures after it, or signatures
/// before it; signatures inside values are not part of the eyaml format and are ignored), or
/// that inside one compressed data packet. `Ok(None)` for any other structure: the caller
/// leaves it to Sequoia's message grammar.
pub(super) fn literal(packets: &[u8], cap: usize) -> Result<Option<Plaintext>> {
    let mut shape = Shape::default();
    let mut found = None;
    let mut offset = 0;
    while offset < packets.len() {
        let Some((tag, body, end)) = framing::packet_at(packets, offset) else {
            return Ok(None);
        };
        if tag == 8 && offset == 0 && end == packets.len() {
            return compressed(packets, cap);
        }
        if !shape.next(tag) {
            return Ok(None);
        }
        if tag == 11 {
            found = literal_body(&body, cap)?;
            // A joined copy of a partial-length literal held plaintext.
            if let std::borrow::Cow::Owned(mut copy) = body {
                copy.zeroize();
            }
        }
        offset = end;
    }
    Ok(found.filter(|_| shape.complete()))
}

/// The packet sequences of a (possibly signed) literal message, as Sequoia's grammar has them.
#[derive(Default)]
struct Shape {
    one_pass: usize,
    signatures_before: usize,
    literal: bool,
    signatures_after: usize,
}

impl Shape {
    /// Takes the next packet's tag; `false` if the sequence is not a literal message.
    fn next(&mut self, tag: u8) -> bool {
        match (tag, self.literal) {
            (4, false) if self.signatures_before == 0 => self.one_pass += 1,
            (2, false) if self.one_pass == 0 => self.signatures_before += 1,
            (11, false) => self.literal = true,
            (2, true) if self.signatures_after < self.one_pass => self.signatures_after += 1,
            _ => return false,
        }
        true
    }

    /// Whether the sequence ended as a literal message.
    fn complete(&self) -> bool {
        self.literal && self.signatures_after == self.one_pass
    }
}

/// A literal data packet's body: format, file name, date, then the data.
fn literal_body(body: &[u8], cap: usize) -> Result<Option<Plaintext>> {
    let Some((&format, rest)) = body.split_first() else {
        return Ok(None);
    };
    let Some((&name_len, rest)) = rest.split_first() else {
        return Ok(None);
    };
    let Some(data) = rest.get(usize::from(name_len) + 4..) else {
        return Ok(None);
    };
    if data.len() > cap {
        return Err(Error::ValueTooLarge { limit: cap });
    }
    let mut out = Zeroizing::new(data.to_vec());
    if is_text(DataFormat::from(format)) {
        super::text_to_native(&mut out);
    }
    Ok(Some(out))
}

/// Text (`t`, `u`, or GnuPG's MIME `m`): GnuPG converts its line endings on output.
#[allow(deprecated)]
pub(super) fn is_text(format: DataFormat) -> bool {
    matches!(
        format,
        DataFormat::Text | DataFormat::Unicode | DataFormat::Unknown(b'm')
    )
}

/// The literal data inside a compressed data packet (zip, zlib, bzip2), through Sequoia's
/// decompressors and read up to `cap` (a decompression bomb stops there).
fn compressed(packets: &[u8], cap: usize) -> Result<Option<Plaintext>> {
    let malformed = |e: anyhow::Error| Error::Malformed(e.to_string());
    let mut ppr = PacketParser::from_bytes(packets).map_err(malformed)?;
    let mut shape = Shape::default();
    let mut found = None;
    while let PacketParserResult::Some(mut pp) = ppr {
        let tag = u8::from(pp.packet.tag());
        match pp.recursion_depth() {
            0 if tag == 8 => {
                ppr = pp.recurse().map_err(malformed)?.1;
                continue;
            }
            1 if shape.next(tag) => {}
            _ => return Ok(None),
        }
        if let Packet::Literal(l) = &pp.packet {
            let text = is_text(l.format());
            let mut out = read_capped(&mut pp, cap)?;
            if text {
                super::text_to_native(&mut out);
            }
            found = Some(out);
        }
        ppr = pp.next().map_err(malformed)?.1;
    }
    Ok(found.filter(|_| shape.complete()))
}

/// All of `reader`, refused once it holds more than `cap` octets (a decompression bomb stops
/// there, not at the allocator).
pub(super) fn read_capped(reader: impl Read, cap: usize) -> Result<Plaintext> {
    let mut out = Zeroizing::new(Vec::new());
    reader
        .take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Malformed(e.to_string()))?;
    if out.len() > cap {
        return Err(Error::ValueTooLarge { limit: cap });
    }
    Ok(out)
}

/// Decrypts a whole message (binary or armoured) whose session key Sequoia's backend cannot
/// use (see the module documentation).
pub(super) fn decrypt_message(
    message: &[u8],
    algo: SymmetricAlgorithm,
    sk: &SessionKey,
    cap: usize,
) -> Result<Plaintext> {
    let body = seipd_body(message)?;
    let packets = decrypt(&body, algo, sk).map_err(|r| match r {
        Refusal::Unsupported => Error::DecryptionFailed(format!("{algo} is not supported")),
        Refusal::Malformed => Error::Malformed("the encrypted data packet is too short".into()),
        Refusal::QuickCheck => {
            Error::DecryptionFailed(format!("the {algo} session key does not check out"))
        }
        Refusal::NoMdc => Error::NoIntegrity,
        Refusal::Modified => {
            Error::DecryptionFailed("the message was modified (MDC mismatch)".into())
        }
    })?;
    literal(&packets, cap)?
        .ok_or_else(|| Error::Malformed("no literal data in the encrypted data".into()))
}

/// The body (version octet first) of the message's SEIPD v1 packet.
fn seipd_body(message: &[u8]) -> Result<Vec<u8>> {
    let malformed = |e: anyhow::Error| Error::Malformed(e.to_string());
    let mut ppr = PacketParser::from_bytes(message).map_err(malformed)?;
    while let PacketParserResult::Some(mut pp) = ppr {
        if let Packet::SEIP(SEIP::V1(_)) = &pp.packet {
            let mut body = vec![1u8];
            body.extend_from_slice(pp.buffer_unread_content().map_err(malformed)?);
            return Ok(body);
        }
        ppr = pp.next().map_err(malformed)?.1;
    }
    Err(Error::NotEncrypted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encrypts `packets` as an SEIPD v1 body the way GnuPG does (CFB, zero IV, prefix, MDC).
    fn seal(algo: SymmetricAlgorithm, key: &[u8], packets: &[u8]) -> Vec<u8> {
        let (block, encrypt) = cipher(algo, key).expect("cipher");
        let mut plain: Vec<u8> = (0..block as u8).map(|i| i.wrapping_mul(37)).collect();
        plain.extend_from_within(block - 2..block);
        plain.extend_from_slice(packets);
        plain.extend_from_slice(&[0xD3, 0x14]);
        let mut hash = HashAlgorithm::SHA1.context().unwrap().for_digest();
        hash.update(&plain);
        plain.extend_from_slice(&hash.into_digest().unwrap());
        let mut out = Vec::with_capacity(plain.len());
        let mut iv = vec![0u8; block];
        for p in plain.chunks(block) {
            encrypt(&mut iv);
            let c: Vec<u8> = p.iter().zip(&iv).map(|(a, b)| a ^ b).collect();
            iv[..c.len()].copy_from_slice(&c);
            out.extend_from_slice(&c);
        }
        let mut body = vec![1u8];
        body.extend(out);
        body
    }

    /// A literal data packet (new format, one-octet length).
    fn literal_packet(format: u8, data: &[u8]) -> Vec<u8> {
        let mut body = vec![format, 1, b'f', 0, 0, 0, 0];
        body.extend_from_slice(data);
        let mut p = vec![0xc0 | 11, body.len() as u8];
        p.extend(body);
        p
    }

    #[test]
    fn every_cipher_round_trips_and_wrong_keys_fail_the_quick_check() {
        #[allow(deprecated)]
        for algo in [
            SymmetricAlgorithm::AES128,
            SymmetricAlgorithm::AES192,
            SymmetricAlgorithm::AES256,
            SymmetricAlgorithm::Twofish,
            SymmetricAlgorithm::Camellia128,
            SymmetricAlgorithm::Camellia256,
            SymmetricAlgorithm::IDEA,
            SymmetricAlgorithm::TripleDES,
            SymmetricAlgorithm::CAST5,
            SymmetricAlgorithm::Blowfish,
        ] {
            let key: Vec<u8> = (0..algo.key_size().unwrap() as u8).collect();
            let packets = literal_packet(b'b', b"a secret of some length, 40 octets long");
            let body = seal(algo, &key, &packets);
            let out = decrypt(&body, algo, &key).expect("decrypts");
            assert_eq!(&out[..], &packets[..], "{algo}");
            let mut wrong = key.clone();
            wrong[0] ^= 2; // not bit 0: DES ignores its parity bits
            assert_eq!(
                decrypt(&body, algo, &wrong),
                Err(Refusal::QuickCheck),
                "{algo}"
            );
            // One changed octet of the third block: it and the next block decrypt to
            // something else, all inside the literal data.
            let mut modified = body.clone();
            let block = cipher(algo, &key).unwrap().0;
            modified[1 + 2 * block + 1] ^= 4;
            assert_eq!(
                decrypt(&modified, algo, &key),
                Err(Refusal::Modified),
                "{algo}"
            );
        }
    }

    #[test]
    fn short_bodies_other_versions_and_key_sizes_are_refused() {
        let key = [7u8; 32];
        let body = seal(SymmetricAlgorithm::AES256, &key, b"");
        assert_eq!(
            decrypt(&body, SymmetricAlgorithm::AES128, &key),
            Err(Refusal::Unsupported)
        );
        let mut v2 = body.clone();
        v2[0] = 2;
        assert_eq!(
            decrypt(&v2, SymmetricAlgorithm::AES256, &key),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            decrypt(&body[..30], SymmetricAlgorithm::AES256, &key),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            decrypt(&[], SymmetricAlgorithm::AES256, &key),
            Err(Refusal::Malformed)
        );
    }

    #[test]
    fn literal_data_is_found_among_signatures_and_text_is_converted() {
        let text = literal_packet(b't', b"l1\r\nl2\r\n");
        assert_eq!(&literal(&text, 100).unwrap().unwrap()[..], b"l1\nl2\n");
        let mut signed = vec![0xc4, 2, 3, 0];
        signed.extend(literal_packet(b'b', b"x\r\n"));
        signed.extend([0xc2, 1, 4]);
        assert_eq!(&literal(&signed, 100).unwrap().unwrap()[..], b"x\r\n");
        let mut old_style = vec![0xc2, 1, 4];
        old_style.extend(literal_packet(b'b', b"y"));
        assert_eq!(&literal(&old_style, 100).unwrap().unwrap()[..], b"y");
        // A one-pass signature without its signature, a signature before and after, two
        // literal packets, or a marker packet are left to Sequoia's grammar.
        let mut unpaired = vec![0xc4, 2, 3, 0];
        unpaired.extend(literal_packet(b'b', b"x"));
        assert_eq!(literal(&unpaired, 100).unwrap(), None);
        let mut both = old_style.clone();
        both.extend([0xc2, 1, 4]);
        assert_eq!(literal(&both, 100).unwrap(), None);
        let mut two = literal_packet(b'b', b"1");
        two.extend(literal_packet(b'b', b"2"));
        assert_eq!(literal(&two, 100).unwrap(), None);
        assert_eq!(literal(&[0xca, 3, b'P', b'G', b'P'], 100).unwrap(), None);
        assert_eq!(literal(b"", 100).unwrap(), None);
        assert!(matches!(
            literal(&literal_packet(b'b', &[0; 101]), 100),
            Err(Error::ValueTooLarge { limit: 100 })
        ));
    }
}
