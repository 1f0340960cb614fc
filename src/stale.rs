//! Inspection without secrets: which keys each `ENC[GPG,…]` value is encrypted to (from its
//! PKESK packets) compared with the encryption keys its recipients file asks for. A value is
//! stale when the two sets differ. `recrypt` and `check` are built on this.

use std::collections::BTreeSet;

use crate::crypto::{Backend, EncryptionKey, KeyId, MessageInfo};
use crate::error::Error;
use crate::eyaml::{check_scheme, decode_payload, Method};
use crate::token::EncToken;

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
    /// The payload could not be read (bad base64, not OpenPGP, not encrypted, unknown scheme).
    Unreadable(Error),
}

impl ValueState {
    /// Whether the value needs re-encryption.
    pub fn is_stale(&self) -> bool {
        matches!(self, ValueState::Stale { .. })
    }
}

/// Reads a value's message structure (no secret key involved).
pub fn message_info(
    backend: &dyn Backend,
    enc: &EncToken,
    method: &Method,
) -> Result<MessageInfo, Error> {
    check_scheme(enc.scheme.as_deref().unwrap_or(&method.0))?;
    backend.inspect(&decode_payload(enc)?)
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
    backend: &dyn Backend,
    enc: &EncToken,
    method: &Method,
    desired: &[EncryptionKey],
) -> ValueState {
    match message_info(backend, enc, method) {
        Ok(info) => compare(&info, desired),
        Err(e) => ValueState::Unreadable(e),
    }
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
