//! Inspection without secrets: which keys each `ENC[GPG,…]` value is encrypted to (from its
//! PKESK packets) compared with the encryption keys its recipients file asks for. A value is
//! stale when the two sets differ. `recrypt` and `check` are built on this. For a scheme
//! migration (`recrypt -d`), a value of the other scheme is to be migrated, and a PKCS7 value is
//! compared with the PKCS7 certificate instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::crypto::{Backend, EncryptionKey, KeyId, MessageInfo};
use crate::error::Error;
use crate::eyaml::resolve_all;
use crate::recipients::{self, Recipients};
use crate::scheme::{self, KeyMaterial, Pkcs7RecipientId, Scheme, Structure};
use crate::token::{self, EncToken, Kinds, Located, Token};

/// What inspection found for one value.
#[derive(Debug)]
pub enum ValueState {
    /// Encrypted to exactly the desired keys.
    Current,
    /// Encrypted to a different set of keys.
    Stale {
        /// Desired keys the value is not encrypted to.
        added: Vec<EncryptionKey>,
        /// Key ids the value is encrypted to that are no longer desired.
        removed: Vec<KeyId>,
    },
    /// At least one recipient is hidden (wildcard key id): the sets cannot be compared.
    Wildcard {
        /// The key ids that are named.
        named: Vec<KeyId>,
    },
    /// Of another scheme than the one values are to end in (`recrypt -d`): re-encrypted in
    /// that scheme.
    Migrate {
        /// The value's scheme.
        from: Scheme,
    },
    /// A PKCS7 value (PKCS7 being the target scheme) not encrypted to exactly the PKCS7
    /// certificate.
    OtherCertificate {
        /// The recipients the value names.
        named: Vec<Pkcs7RecipientId>,
    },
    /// The payload could not be read (bad base64, not OpenPGP, not encrypted, unknown scheme).
    Unreadable(Error),
}

impl ValueState {
    /// Whether the value needs re-encryption.
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            ValueState::Stale { .. }
                | ValueState::Migrate { .. }
                | ValueState::OtherCertificate { .. }
        )
    }
}

/// Reads a value's message structure (no secret key involved).
pub fn message_info(
    keys: &dyn KeyMaterial,
    enc: &EncToken,
    method: Scheme,
) -> Result<MessageInfo, Error> {
    match scheme::inspect(keys, enc, method)? {
        Structure::Gpg(info) => Ok(info),
        Structure::Pkcs7(_) => Err(Error::NotGpgRecipients),
    }
}

/// Compares a message's recipients with the desired encryption keys.
pub fn compare(info: &MessageInfo, desired: &[EncryptionKey]) -> ValueState {
    let have: BTreeSet<KeyId> = info.recipient_ids().into_iter().collect();
    if info.has_wildcard() {
        return ValueState::Wildcard {
            named: have.into_iter().collect(),
        };
    }
    let want: BTreeSet<KeyId> = desired.iter().map(|k| k.subkey_id).collect();
    if have == want {
        return ValueState::Current;
    }
    let mut seen = BTreeSet::new();
    let added = desired
        .iter()
        .filter(|k| !have.contains(&k.subkey_id) && seen.insert(k.subkey_id))
        .cloned()
        .collect();
    let removed = have.difference(&want).copied().collect();
    ValueState::Stale { added, removed }
}

/// Inspects one value against the desired keys.
pub fn inspect_value(
    keys: &dyn KeyMaterial,
    enc: &EncToken,
    method: Scheme,
    desired: &[EncryptionKey],
) -> ValueState {
    match message_info(keys, enc, method) {
        Ok(info) => compare(&info, desired),
        Err(e) => ValueState::Unreadable(e),
    }
}

/// Inspects one value for a run whose values are to end in `target`: a value of another scheme
/// is to be migrated (when its structure is sound), a GPG value is compared with `desired`, a
/// PKCS7 value with the PKCS7 certificate (read from `keys`; no private key involved).
pub fn inspect_for(
    keys: &dyn KeyMaterial,
    enc: &EncToken,
    method: Scheme,
    target: Scheme,
    desired: &[EncryptionKey],
) -> ValueState {
    let scheme = match Scheme::of(enc, method) {
        Ok(s) => s,
        Err(e) => return ValueState::Unreadable(e),
    };
    let structure = match scheme.inspect(keys, enc) {
        Ok(s) => s,
        Err(e) => return ValueState::Unreadable(e),
    };
    if scheme != target {
        return ValueState::Migrate { from: scheme };
    }
    match structure {
        Structure::Gpg(info) => compare(&info, desired),
        Structure::Pkcs7(envelope) => match keys.pkcs7().and_then(|k| k.public_key()) {
            Ok(public) if envelope.recipients[..] == [public.id().clone()] => ValueState::Current,
            Ok(_) => ValueState::OtherCertificate {
                named: envelope.recipients,
            },
            Err(e) => ValueState::Unreadable(e),
        },
    }
}

/// Where recipients come from when no recipients file is searched: `--gpg-recipients` and
/// `--gpg-recipients-file`. Empty means "the nearest `hiera-eyaml-gpg.recipients`".
#[derive(Clone, Debug, Default)]
pub struct RecipientOverride {
    /// `--gpg-recipients` values (each may be a comma list).
    pub names: Vec<String>,
    /// `--gpg-recipients-file`.
    pub file: Option<PathBuf>,
}

/// The keys a file's values should be encrypted to, and where that list came from.
#[derive(Clone, Debug)]
pub struct Desired {
    /// The recipient list and its source.
    pub recipients: Recipients,
    /// The resolved encryption keys, in list order, without duplicates.
    pub keys: Vec<EncryptionKey>,
}

/// Resolves the desired keys for the values of `file`: the override if given, else the
/// nearest recipients file above the file's real directory. A key named twice (e.g. by
/// e-mail and by fingerprint) counts once.
pub fn desired_for(
    backend: &dyn Backend,
    over: &RecipientOverride,
    file: &Path,
) -> Result<Desired, Error> {
    let dir = recipients::target_dir(file);
    let recipients = recipients::resolve(&over.names, over.file.as_deref(), Some(&dir))?;
    let keys = resolve_all(backend, &recipients.names).map_err(|e| match recipients.file() {
        Some(f) => e.in_file(f),
        None => e,
    })?;
    Ok(Desired { recipients, keys })
}

/// One value of a file and what inspection found.
#[derive(Debug)]
pub struct ValueReport {
    /// Index of the token in the file's token list (the `n` of `DEC(n)` in edit mode).
    pub index: usize,
    /// 1-based line of the value (of the `>` for a block).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The text before the value on its line, trimmed, without a trailing `:`: usually
    /// the YAML key (`-` for a list item).
    pub label: String,
    /// The value's state.
    pub state: ValueState,
}

/// The label of the token starting at `offset`: the rest of its line before it.
pub(crate) fn label_at(text: &str, offset: usize) -> String {
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = text[start..offset].trim();
    before
        .strip_suffix(':')
        .unwrap_or(before)
        .trim_end()
        .to_string()
}

/// Inspects every `ENC[…]` value of a scanned text for values to end in `target`, GPG ones
/// against the desired keys (in parallel; see [`inspect_for`]).
pub fn inspect_tokens(
    keys: &dyn KeyMaterial,
    text: &str,
    tokens: &[Located],
    method: Scheme,
    target: Scheme,
    desired: &[EncryptionKey],
) -> Vec<ValueReport> {
    tokens
        .par_iter()
        .enumerate()
        .filter_map(|(index, t)| match &t.token {
            Token::Enc(e) => Some(ValueReport {
                index,
                line: t.line,
                column: t.column,
                label: label_at(text, t.offset),
                state: inspect_for(keys, e, method, target, desired),
            }),
            _ => None,
        })
        .collect()
}

/// A file read and inspected: its text and tokens (kept, so a later rewrite works on exactly
/// what was inspected), its desired keys and every value's state.
#[derive(Debug)]
pub struct FileInspection {
    /// The file as named.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Its tokens (`ENC` kind only).
    pub tokens: Vec<Located>,
    /// The desired GPG keys; `None` when the file has no encrypted value or values are to end
    /// in another scheme (nothing is resolved).
    pub desired: Option<Desired>,
    /// Every `ENC[…]` value, in file order.
    pub values: Vec<ValueReport>,
}

impl FileInspection {
    /// How many values are in each state: (current, stale, wildcard, unreadable).
    pub fn counts(&self) -> StateCounts {
        let mut c = StateCounts::default();
        for v in &self.values {
            match v.state {
                ValueState::Current => c.current += 1,
                ValueState::Stale { .. } | ValueState::OtherCertificate { .. } => c.stale += 1,
                ValueState::Migrate { .. } => c.migrate += 1,
                ValueState::Wildcard { .. } => c.wildcard += 1,
                ValueState::Unreadable(_) => c.unreadable += 1,
            }
        }
        c
    }
}

/// Numbers of values per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Encrypted to exactly the desired keys.
    pub current: usize,
    /// Encrypted to other keys.
    pub stale: usize,
    /// Of another scheme, to be migrated.
    pub migrate: usize,
    /// Hidden recipients.
    pub wildcard: usize,
    /// Not readable.
    pub unreadable: usize,
}

impl std::ops::AddAssign for StateCounts {
    fn add_assign(&mut self, o: StateCounts) {
        self.current += o.current;
        self.stale += o.stale;
        self.migrate += o.migrate;
        self.wildcard += o.wildcard;
        self.unreadable += o.unreadable;
    }
}

/// Reads `path` and inspects every value for values to end in `target` (GPG ones against the
/// file's desired keys, resolved only when `target` is GPG). Needs public keys only. Errors
/// (unreadable file, not UTF-8, no recipients, a recipient with no key) name the file.
pub fn inspect_file(
    keys: &dyn KeyMaterial,
    path: &Path,
    method: Scheme,
    target: Scheme,
    over: &RecipientOverride,
) -> Result<FileInspection, Error> {
    let text = crate::fsutil::read_text(path)?;
    let tokens = token::scan(&text, Kinds::ENC);
    let has_values = tokens.iter().any(|t| matches!(t.token, Token::Enc(_)));
    let desired = if has_values && target == Scheme::Gpg {
        Some(desired_for(keys.gpg(), over, path).map_err(|e| e.in_file(path))?)
    } else {
        None
    };
    let values = if has_values {
        let want = desired.as_ref().map_or(&[][..], |d| &d.keys[..]);
        inspect_tokens(keys, &text, &tokens, method, target, want)
    } else {
        Vec::new()
    };
    Ok(FileInspection {
        path: path.to_path_buf(),
        text,
        tokens,
        desired,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{CertInfo, Container, KeyOrigin, Pkesk};

    fn key(id: u8) -> EncryptionKey {
        EncryptionKey {
            recipient: format!("r{id}"),
            cert: CertInfo {
                fingerprint: format!("{id:040X}"),
                key_id: KeyId([id; 8]),
                user_id: None,
                email: None,
                origin: KeyOrigin::Keyring("k".into()),
            },
            subkey_fingerprint: format!("{id:040X}"),
            subkey_id: KeyId([id; 8]),
        }
    }

    fn msg(ids: &[Option<u8>]) -> MessageInfo {
        MessageInfo {
            pkesks: ids
                .iter()
                .map(|i| Pkesk {
                    key_id: i.map(|i| KeyId([i; 8])),
                    version: 3,
                    algo: 1,
                })
                .collect(),
            skesks: 0,
            container: Container::SeipdV1,
        }
    }

    #[test]
    fn current_stale_wildcard() {
        assert!(matches!(
            compare(&msg(&[Some(1), Some(2)]), &[key(2), key(1)]),
            ValueState::Current
        ));
        match compare(&msg(&[Some(1), Some(3)]), &[key(1), key(2)]) {
            ValueState::Stale { added, removed } => {
                assert_eq!(added.len(), 1);
                assert_eq!(added[0].subkey_id, KeyId([2; 8]));
                assert_eq!(removed, vec![KeyId([3; 8])]);
            }
            s => panic!("{s:?}"),
        }
        assert!(matches!(
            compare(&msg(&[None, Some(1)]), &[key(1)]),
            ValueState::Wildcard { .. }
        ));
    }
}
