//! A reader for GnuPG's keybox framing (`pubring.kbx`): it only cuts the file into blobs and
//! hands back the OpenPGP keyblocks inside, which are ordinary OpenPGP data.
//!
//! We read the framing ourselves because sequoia-ipc's keybox parser runs the Cap'n Proto
//! compiler (`capnp`) in its build script, which breaks `cargo install` on a machine without it;
//! the framing is small and stable (GnuPG's `kbx/keybox-blob.c` documents it).

use std::path::Path;

use crate::error::{Error, Result};

/// Blob type of the first blob (file header).
const BLOB_HEADER: u8 = 1;
/// The magic of the header blob, at offset 8.
const MAGIC: &[u8] = b"KBXf";
/// Blob type of a blob that carries one OpenPGP keyblock.
const BLOB_OPENPGP: u8 = 2;

/// The OpenPGP keyblocks of a keybox, in file order. Empty blobs (type 0, left by deleted
/// keys), X.509 blobs and unknown types are skipped.
///
/// Layout of every blob: a 4-byte big-endian length (of the whole blob, including these 4
/// bytes), a type byte, a version byte, 2 bytes of flags; for type 2, then a 4-byte offset
/// (from the start of the blob) and a 4-byte length of the keyblock. The header blob (type 1)
/// has the magic `KBXf` after the flags.
pub fn keyblocks<'a>(data: &'a [u8], path: &Path) -> Result<Vec<&'a [u8]>> {
    let bad = |offset: usize, what: &str| Error::Keyring {
        path: path.to_path_buf(),
        message: format!("not a valid keybox (at byte {offset}: {what})"),
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut first = true;
    while pos < data.len() {
        let len = be32(data, pos).ok_or_else(|| bad(pos, "truncated blob length"))? as usize;
        if len < 5 || pos.checked_add(len).is_none_or(|end| end > data.len()) {
            return Err(bad(pos, "blob length out of range"));
        }
        let blob = &data[pos..pos + len];
        let kind = blob[4];
        if first && (kind != BLOB_HEADER || blob.get(8..12) != Some(MAGIC)) {
            return Err(bad(pos, "no keybox header blob"));
        }
        first = false;
        if kind == BLOB_OPENPGP {
            let offset = be32(blob, 8).ok_or_else(|| bad(pos, "truncated OpenPGP blob"))? as usize;
            let size = be32(blob, 12).ok_or_else(|| bad(pos, "truncated OpenPGP blob"))? as usize;
            let block = offset
                .checked_add(size)
                .filter(|end| *end <= blob.len())
                .map(|end| &blob[offset..end])
                .ok_or_else(|| bad(pos, "keyblock outside its blob"))?;
            out.push(block);
        }
        pos += len;
    }
    Ok(out)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        let header = 16u32;
        let total = header + payload.len() as u32;
        b.extend_from_slice(&total.to_be_bytes());
        b.extend_from_slice(&[kind, 1, 0, 0]);
        b.extend_from_slice(&header.to_be_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    /// A header blob as GnuPG writes it (32 bytes).
    fn header() -> Vec<u8> {
        let mut b = 32u32.to_be_bytes().to_vec();
        b.extend_from_slice(&[BLOB_HEADER, 1, 0, 0]);
        b.extend_from_slice(MAGIC);
        b.resize(32, 0);
        b
    }

    #[test]
    fn cuts_blobs_and_skips_deleted_ones() {
        let mut data = header();
        data.extend(blob(BLOB_OPENPGP, b"first"));
        data.extend(blob(0, b"deleted"));
        data.extend(blob(BLOB_OPENPGP, b"second"));
        let blocks = keyblocks(&data, Path::new("k")).unwrap();
        assert_eq!(blocks, vec![&b"first"[..], &b"second"[..]]);
    }

    #[test]
    fn rejects_truncated_and_headerless_files() {
        let mut data = header();
        data.extend(blob(BLOB_OPENPGP, b"keyblock"));
        data.truncate(data.len() - 1);
        let e = keyblocks(&data, Path::new("k")).unwrap_err().to_string();
        assert!(e.contains("not a valid keybox"), "{e}");
        let e = keyblocks(&blob(BLOB_OPENPGP, b"x"), Path::new("k"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no keybox header"), "{e}");
        let mut magic = header();
        magic[8] = b'X';
        let e = keyblocks(&magic, Path::new("k")).unwrap_err().to_string();
        assert!(e.contains("no keybox header"), "{e}");
        assert!(keyblocks(&[], Path::new("k")).unwrap().is_empty());
    }
}
