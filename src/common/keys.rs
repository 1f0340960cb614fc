//! Builds the key store of a run from every key source: `--gpg-keyring` files and
//! directories (and `EYAML_GPG_KEYRING`, config `gpg_keyring`).

use anyhow::Result;
use eyaml_gpg::pgp::Keystore;

use super::config::Settings;
use super::ui::Ui;
use super::UsageError;

/// Loads every configured key source.
pub fn keystore(settings: &Settings, ui: &Ui) -> Result<Keystore> {
    let mut store = Keystore::new();
    store.set_always_trust(settings.always_trust);
    for path in &settings.keyrings {
        if !path.exists() {
            return Err(UsageError(format!("{}: keyring does not exist", path.display())).into());
        }
        let n = store.load_path(path)?;
        ui.debug(&format!("loaded {n} key(s) from {}", path.display()));
    }
    Ok(store)
}
