//! Recipient policy from the configuration: keys required under some paths, keys denied
//! everywhere, and the recipients lock (see [`crate::lock`]).

use std::collections::BTreeSet;
use std::path::Path;

use super::checker::FileFindings;
use super::{Checker, Finding, Rule};
use crate::crypto::{KeyId, MessageInfo};
use crate::lock::{self, Lock};
use crate::token::Located;

impl Checker<'_> {
    /// Every key id of the certificate `fingerprint`: its keys at hand, and its primary key id
    /// even when it is not at hand.
    fn key_ids(&self, fingerprint: &str) -> BTreeSet<KeyId> {
        let mut ids: BTreeSet<KeyId> = self
            .backend
            .gpg()
            .recipient_status(fingerprint)
            .into_iter()
            .flat_map(|s| s.key_ids)
            .collect();
        if let Some(id) = fingerprint
            .get(fingerprint.len().saturating_sub(16)..)
            .and_then(KeyId::from_hex)
        {
            ids.insert(id);
        }
        ids
    }

    fn label(&self, fingerprint: &str) -> String {
        fingerprint
            .get(fingerprint.len().saturating_sub(16)..)
            .and_then(KeyId::from_hex)
            .and_then(|id| self.backend.gpg().describe(&id))
            .map(|c| c.to_string())
            .unwrap_or_else(|| fingerprint.to_string())
    }

    /// `required-recipient` and `denied-recipient` for one value.
    pub(super) fn policy_value(
        &self,
        out: &mut FileFindings<'_>,
        t: &Located,
        info: &MessageInfo,
        key: Option<String>,
    ) {
        if self.config.require.is_empty() && self.config.deny.is_empty() {
            return;
        }
        let ids: BTreeSet<KeyId> = info.recipient_ids().into_iter().collect();
        let shown = out.path.to_string_lossy().into_owned();
        let shown = shown.strip_prefix("./").unwrap_or(&shown).to_string();
        for r in &self.config.require {
            if !crate::tree::glob(&r.path).is_ok_and(|g| g.is_match(&shown)) {
                continue;
            }
            for fp in &r.keys {
                if self.key_ids(fp).is_disjoint(&ids) {
                    out.push(
                        Rule::RequiredRecipient,
                        t.line,
                        t.column,
                        format!(
                            "the value is not encrypted to {}, required under `{}`: add it \
                             (eyaml-gpg keys add {fp} --to DIR --recrypt)",
                            self.label(fp),
                            r.path
                        ),
                        key.clone(),
                    );
                }
            }
        }
        for fp in &self.config.deny {
            if !self.key_ids(fp).is_disjoint(&ids) {
                out.push(
                    Rule::DeniedRecipient,
                    t.line,
                    t.column,
                    format!(
                        "the value is encrypted to denied key {}: remove it (eyaml-gpg keys rm \
                         {fp} --everywhere --recrypt) and rotate what it could read \
                         (eyaml-gpg exposure {fp})",
                        self.label(fp)
                    ),
                    key.clone(),
                );
            }
        }
    }

    /// `denied-recipient` and `recipients-lock` for one recipients file.
    pub(super) fn policy_recipients(&self, path: &Path, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        if self.config.deny.is_empty() && self.config.recipients_lock.is_none() {
            return out;
        }
        let finding = |rule: Rule, line: usize, message: String| Finding {
            rule,
            severity: rule.severity(),
            path: path.to_path_buf(),
            line,
            column: 1,
            message,
            key: None,
        };
        let ids = lock::identities(self.backend.gpg(), text);
        for (line, id) in &ids {
            if self.config.deny.contains(id) {
                out.push(finding(
                    Rule::DeniedRecipient,
                    *line,
                    format!(
                        "denied key {} is a recipient: remove it (eyaml-gpg keys rm {id} \
                         --everywhere --recrypt)",
                        self.label(id)
                    ),
                ));
            }
        }
        let Some(lock_path) = &self.config.recipients_lock else {
            return out;
        };
        let lock = match self.lock.get_or_init(|| Lock::read(lock_path)) {
            Ok(l) => l,
            Err(e) => {
                out.push(finding(
                    Rule::RecipientsLock,
                    1,
                    format!("the recipients lock cannot be read: {e}"),
                ));
                return out;
            }
        };
        let review = "review it, then run `eyaml-gpg keys ack`";
        let Some(locked) = lock.files.get(&lock.key(path)) else {
            out.push(finding(
                Rule::RecipientsLock,
                1,
                format!(
                    "this recipients file is not in the recipients lock {}: {review}",
                    lock_path.display()
                ),
            ));
            return out;
        };
        for (line, id) in &ids {
            if !locked.contains(id) {
                out.push(finding(
                    Rule::RecipientsLock,
                    *line,
                    format!(
                        "{} was added since the last review (not in the recipients lock): {review}",
                        self.label(id)
                    ),
                ));
            }
        }
        let now: BTreeSet<&String> = ids.iter().map(|(_, id)| id).collect();
        for gone in locked.iter().filter(|l| !now.contains(l)) {
            out.push(finding(
                Rule::RecipientsLock,
                1,
                format!(
                    "{} was removed since the last review (still in the recipients lock): {review}",
                    self.label(gone)
                ),
            ));
        }
        out
    }
}
