//! Builds the key store of a run from every key source: `--gpg-keyring` files and
//! directories (and `EYAML_GPG_KEYRING`, config `gpg_keyring`), then the GnuPG home (its
//! public keys, its trust db for the trust rule, its gpg-agent for secret keys).

use std::sync::Arc;

use anyhow::Result;
use eyaml_gpg::gnupg::{self, agent::Agent, HomeInputs};
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
    let (flag, config) = match settings.gnupghome_from_flag {
        true => (settings.gnupghome_option.clone(), None),
        false => (None, settings.gnupghome_option.clone()),
    };
    let Some(home) = gnupg::resolve_home(&HomeInputs::from_env(flag, config))? else {
        ui.debug("no GnuPG home (GNUPGHOME or ~/.gnupg does not exist)");
        return Ok(store);
    };
    let (n, source, skipped) = gnupg::load_public_keys(&mut store, &home.path)?;
    ui.debug(&format!(
        "GnuPG home {} ({}): {n} key(s) from {}{}",
        home.path.display(),
        home.source.describe(),
        source.describe(),
        if skipped > 0 {
            format!(", {skipped} unreadable keyblock(s) skipped")
        } else {
            String::new()
        }
    ));
    let path = home.path.clone();
    store.set_validity_source(Box::new(move || gnupg::validity(&path)));
    let path = home.path.clone();
    store.set_ocb_fallback(Box::new(move |m| gnupg::gpg_decrypt(&path, m)));
    let agent = Agent::new(&home.path, &store);
    store.add_provider(Arc::new(agent));
    Ok(store)
}
