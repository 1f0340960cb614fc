//! gpg-agent as a [`SecretKeyProvider`]: the secret keys of a GnuPG home stay in the agent,
//! which only turns a PKESK's ciphertext into the shared secret; padding, ECDH key derivation
//! and AES key unwrapping are finished here. sequoia-gpg-agent is not used: it pulls tokio and
//! the `capnp` compiler into the build.
//!
//! In bulk, keys on disk are exported once through the agent instead (`KEYWRAP_KEY` +
//! `EXPORT_KEY`, AES-unwrapped here) and used in process. For a passphrase-protected key the
//! agent re-derives the passphrase's S2K on every `PKDECRYPT`, even with the passphrase cached:
//! ~100-700 ms per value, minutes for a file of hundreds of values. For unprotected keys the
//! agent is a single queue (measured: rsa3072 through `PKDECRYPT` was no faster than one `gpg`
//! process per value), while Sequoia decrypts on every core. Two agent rules shape the policy:
//! an export always asks for the passphrase of a protected key (it ignores the agent's cache)
//! and does not cache what was typed; only a passphrase put in the cache by
//! `gpg-preset-passphrase` (or `GET_PASSPHRASE`) can be read back (`GET_PASSPHRASE --no-ask`),
//! one typed for an earlier decryption cannot. So:
//! - a protected key whose passphrase is not cached is exported at once (the one prompt the
//!   run needs anyway);
//! - a protected key whose passphrase was preset is exported at once without a prompt, the
//!   preset passphrase given to the export by loopback (one S2K for the run, where every
//!   `PKDECRYPT` costs one);
//! - any other key (unprotected, or passphrase cached by earlier use) goes through
//!   `PKDECRYPT` for its first `PKDECRYPTS_BEFORE_EXPORT` values, without a prompt, and is
//!   exported only when the run needs it for more; if that export fails (prompt dismissed, no
//!   pinentry), `PKDECRYPT` goes on;
//! - keys the agent cannot export (smartcards, ElGamal which Sequoia cannot use) always go
//!   through `PKDECRYPT`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sequoia_openpgp as openpgp;

use openpgp::crypto::mem::Protected;
use openpgp::crypto::{ecdh, mpi, Decryptor, SessionKey};
use openpgp::packet::key::{SecretParts, UnspecifiedRole};
use openpgp::packet::{Key, PKESK};
use openpgp::types::{PublicKeyAlgorithm, SymmetricAlgorithm};
use openpgp::{Fingerprint, KeyID};
use zeroize::Zeroizing;

use super::assuan::{self, Connection, Failure};
use super::{gpg, gpgconf, run};
use crate::crypto::{Backend, KeyId};
use crate::error::{Error, Result};
use crate::pgp::{Keystore, PublicKey, Ready, SecretKeyProvider};

/// How many values a key decrypts through `PKDECRYPT` before the run counts as bulk and the
/// key is exported (except a protected key whose passphrase is not cached: exported at once).
const PKDECRYPTS_BEFORE_EXPORT: usize = 4;

/// libgpg-error codes the agent answers with.
const GPG_ERR_BAD_PASSPHRASE: u32 = 11;
const GPG_ERR_NO_SECKEY: u32 = 17;
const GPG_ERR_NO_PIN_ENTRY: u32 = 85;
const GPG_ERR_PIN_ENTRY: u32 = 86;
const GPG_ERR_CANCELED: u32 = 99;
const GPG_ERR_FULLY_CANCELED: u32 = 198;

/// A secret key the agent holds.
#[derive(Clone, Debug)]
struct Held {
    keygrip: String,
    /// On a smartcard (or another token): never exportable.
    card: bool,
    /// Protected by a passphrase.
    protected: bool,
    /// The agent had the passphrase cached when the run started.
    cached: bool,
}

/// What the agent holds, learnt once per run.
struct State {
    socket: PathBuf,
    keys: HashMap<Fingerprint, Held>,
    /// Encryption-capable secret keys, for messages.
    ids: Vec<KeyId>,
}

/// Names of a key for `SETKEYDESC` and for messages.
#[derive(Clone)]
struct Names {
    /// `KEYID (user id)`.
    short: String,
    /// The pinentry text, worded as gpg words it.
    prompt: String,
}

/// A key exported from the agent for in-process use, or why it is not.
enum Export {
    /// Held as the key-file path holds an unlocked key.
    Key(Box<Ready>),
    /// The agent cannot export it: use `PKDECRYPT` for every value.
    Unavailable,
    /// Cancelled or wrong passphrase: asking again for every value would be a prompt storm.
    Failed(String, u32),
}

/// One key's export, done by the first worker that needs it.
type ExportCell = Arc<Mutex<Option<Arc<Export>>>>;

/// The gpg-agent of one GnuPG home.
pub struct Agent {
    home: PathBuf,
    names: HashMap<Fingerprint, Names>,
    state: OnceLock<Result<State>>,
    /// Idle connections; parallel decryption opens a few more and returns them here.
    pool: Mutex<Vec<Connection>>,
    exports: Mutex<HashMap<Fingerprint, ExportCell>>,
    /// `PKDECRYPT`s so far per key, to tell a bulk run.
    uses: Mutex<HashMap<Fingerprint, usize>>,
    /// Per keygrip of a protected key with a cached passphrase: whether that passphrase can be
    /// read back (preset), asked once per run.
    preset: Mutex<HashMap<String, bool>>,
    /// Keygrips the agent has used once in this run (see [`Agent::pkdecrypt`]).
    warmed: Mutex<std::collections::HashSet<String>>,
    /// Held while a key is used for the first time.
    first_use: Mutex<()>,
    options: Vec<String>,
    /// How long a reply that needs no person may take ([`reply_timeout`]).
    timeout: Duration,
}

/// How long a reply may take when the agent may be showing a pinentry (a protected key whose
/// passphrase is not cached): a person is typing, so minutes, but not forever (gpg-agent's
/// own `pinentry-timeout` is unlimited by default).
const PINENTRY_WAIT: Duration = Duration::from_secs(600);

/// The default for replies that need no person: generous for a loaded machine, short enough
/// that a hung agent is reported instead of hanging the command.
const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// `EYAML_GPG_AGENT_TIMEOUT` (seconds, fractions allowed) or 30 s: how long a connection, and
/// each reply that needs no pinentry, may take.
fn reply_timeout() -> Duration {
    std::env::var("EYAML_GPG_AGENT_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .unwrap_or(DEFAULT_REPLY_TIMEOUT)
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("home", &self.home).finish()
    }
}

impl Agent {
    /// The agent of `home`, describing keys with the certificates in `store` (load every key
    /// source first). Nothing is started or asked until a key is needed.
    pub fn new(home: &Path, store: &Keystore) -> Agent {
        let mut names = HashMap::new();
        for key in store.public_keys() {
            let id = key_id(&key.keyid());
            let info = store.describe(&id);
            let short = store.describe_key(&id);
            let uid = info
                .as_ref()
                .and_then(|i| i.user_id.clone())
                .unwrap_or_default();
            let main = info
                .as_ref()
                .filter(|i| i.key_id != id)
                .map(|i| format!(" (main key ID {})", i.key_id))
                .unwrap_or_default();
            let prompt = format!(
                "Please enter the passphrase to unlock the OpenPGP secret key:\n\"{uid}\"\n\
                 {}-bit {} key, ID {id},\ncreated {}{main}.\n",
                key.mpis().bits().unwrap_or(0),
                algo_name(key.pk_algo()),
                crate::datetime::date(key.creation_time()),
            );
            names.insert(key.fingerprint(), Names { short, prompt });
        }
        Agent {
            home: home.to_path_buf(),
            names,
            state: OnceLock::new(),
            pool: Mutex::new(Vec::new()),
            exports: Mutex::new(HashMap::new()),
            uses: Mutex::new(HashMap::new()),
            preset: Mutex::new(HashMap::new()),
            warmed: Mutex::new(std::collections::HashSet::new()),
            first_use: Mutex::new(()),
            options: tty_options(),
            timeout: reply_timeout(),
        }
    }

    fn state(&self) -> Result<&State> {
        self.state
            .get_or_init(|| {
                // Whatever stops discovery (gpgconf included) is reported as the agent's.
                self.discover().map_err(|e| match e {
                    e @ (Error::Agent(_) | Error::AgentUnreachable(_)) => e,
                    e => Error::Agent(e.to_string()),
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The home's GnuPG 1.4 `secring.gpg` when it holds keys (not an empty file).
    fn secring(&self) -> Option<PathBuf> {
        let path = self.home.join("secring.gpg");
        std::fs::metadata(&path)
            .is_ok_and(|m| m.is_file() && m.len() > 0)
            .then_some(path)
    }

    /// Finds (and starts) the agent, and learns which keys it holds.
    fn discover(&self) -> Result<State> {
        if self.secring().is_some() && !self.home.join(".gpg-v21-migrated").exists() {
            // gpg moves a GnuPG 1.4 home's secret keys into the agent the first time it runs
            // there (as any gpg command would); the agent's key list must come after that.
            let _ = run(
                gpg(&self.home).args(["--list-secret-keys"]),
                "gpg --list-secret-keys",
            );
        }
        let out = run(
            gpgconf(&self.home).args(["--list-dirs", "agent-socket"]),
            "gpgconf --list-dirs",
        )?;
        let socket = PathBuf::from(String::from_utf8_lossy(&out).trim());
        let mut conn = match self.open(&socket) {
            Ok(c) => c,
            // Something answers there but not as an agent should (hung, flooding): starting
            // another agent would meet the same socket.
            Err(e @ (Failure::Timeout { .. } | Failure::Protocol(_))) => {
                return Err(Error::AgentUnreachable(format!(
                    "gpg-agent at {} is not usable: {e}",
                    socket.display()
                )))
            }
            Err(_) => {
                // Not running yet: start it as gpg would.
                let launched = run(
                    gpgconf(&self.home).args(["--launch", "gpg-agent"]),
                    "gpgconf --launch gpg-agent",
                );
                match self.open(&socket) {
                    Ok(c) => c,
                    Err(e) => {
                        let why = match launched {
                            Err(l) => format!("{e}; {l}"),
                            Ok(_) => e.to_string(),
                        };
                        return Err(Error::AgentUnreachable(format!(
                            "cannot connect to gpg-agent at {} ({why}); check that gpg-agent \
                             is installed and can start for GnuPG home {}",
                            socket.display(),
                            self.home.display()
                        )));
                    }
                }
            }
        };
        let listing = conn
            .transact("KEYINFO --list", &mut |_| None)
            .map_err(|e| Error::Agent(format!("KEYINFO failed: {e}")))?;
        // KEYINFO <keygrip> <type> <serialno> <idstr> <cached> <protection> …
        // type D = on disk, T = on a token; protection P = passphrase, C = clear.
        let mut held: HashMap<String, Held> = HashMap::new();
        for (keyword, rest) in &listing.status {
            let f: Vec<&str> = rest.split(' ').collect();
            if keyword == "KEYINFO" && f.len() >= 6 {
                held.insert(
                    f[0].to_ascii_uppercase(),
                    Held {
                        keygrip: f[0].to_ascii_uppercase(),
                        card: f[1] == "T",
                        protected: f[5] == "P",
                        cached: f[4] == "1",
                    },
                );
            }
        }
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        // Keygrips of the home's keys: GnuPG computes them for every algorithm and curve.
        let out = run(
            gpg(&self.home).args([
                "--with-colons",
                "--with-keygrip",
                "--no-auto-check-trustdb",
                "--list-secret-keys",
            ]),
            "gpg --list-secret-keys",
        )?;
        let mut keys = HashMap::new();
        let mut ids = Vec::new();
        let mut current: Option<(bool, Option<Fingerprint>)> = None;
        for line in String::from_utf8_lossy(&out).lines() {
            let f: Vec<&str> = line.split(':').collect();
            match f[0] {
                "sec" | "ssb" => {
                    let encrypts = f.get(11).is_some_and(|c| c.contains('e'));
                    current = Some((encrypts, None));
                }
                "fpr" => {
                    if let Some((_, fp @ None)) = current.as_mut() {
                        *fp = f.get(9).and_then(|s| s.parse().ok());
                    }
                }
                "grp" => {
                    if let (Some((encrypts, Some(fp))), Some(grip)) = (current.take(), f.get(9)) {
                        if let Some(h) = held.get(&grip.to_ascii_uppercase()) {
                            if encrypts {
                                ids.push(key_id(&KeyID::from(&fp)));
                            }
                            keys.insert(fp, h.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(State { socket, keys, ids })
    }

    /// A new connection, told where pinentry should show up.
    fn open(&self, socket: &Path) -> std::result::Result<Connection, Failure> {
        let mut c = Connection::connect(socket, self.timeout)?;
        for o in &self.options {
            // An option the agent does not know (no display support) is not fatal.
            if let Err(Failure::Io(e)) = c.transact(o, &mut |_| None) {
                return Err(Failure::Io(e));
            }
        }
        Ok(c)
    }

    /// Runs `f` on a pooled connection (opening one if none is idle).
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> std::result::Result<T, Failure>,
    ) -> Result<std::result::Result<T, Failure>> {
        let state = self.state()?;
        let idle = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match idle {
            Some(c) => c,
            None => self.open(&state.socket).map_err(|e| {
                Error::AgentUnreachable(format!(
                    "cannot connect to gpg-agent at {}: {e}",
                    state.socket.display()
                ))
            })?,
        };
        let r = f(&mut conn);
        conn.set_timeout(self.timeout);
        // Only a connection that ended its last reply cleanly is reused (not one that failed
        // at the socket level, timed out or went out of step).
        if matches!(r, Ok(_) | Err(Failure::Agent { .. })) {
            self.pool
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        Ok(r)
    }

    fn names(&self, key: &PublicKey) -> Names {
        self.names
            .get(&key.fingerprint())
            .cloned()
            .unwrap_or_else(|| {
                let id = key_id(&key.keyid());
                Names {
                    short: id.to_string(),
                    prompt: format!(
                        "Please enter the passphrase to unlock the OpenPGP secret key:\nID {id}\n"
                    ),
                }
            })
    }

    /// Asks the agent to decrypt `ciphertext` with the key `held`: the raw result and
    /// whether the agent already removed the padding (smartcards do).
    fn pkdecrypt(
        &self,
        key: &PublicKey,
        held: &Held,
        ciphertext: &mpi::Ciphertext,
    ) -> Result<(Zeroizing<Vec<u8>>, bool)> {
        let names = self.names(key);
        let sexp = ciphertext_sexp(ciphertext)?;
        // gpg-agent 2.2 rewrites a key file in place the first time it uses the key, and a
        // parallel request reading the file meanwhile fails with an S-expression error. So the
        // first use of each key runs alone, and such an error is retried once.
        let warmed = self
            .warmed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&held.keygrip);
        let _alone = (!warmed).then(|| self.first_use.lock().unwrap_or_else(|p| p.into_inner()));
        let attempt = || {
            self.with_conn(|c| {
                c.transact(&format!("SETKEY {}", held.keygrip), &mut |_| None)?;
                c.transact(&keydesc_line(&names.prompt), &mut |_| None)?;
                if held.protected && !held.cached {
                    c.set_timeout(PINENTRY_WAIT);
                }
                c.transact("PKDECRYPT", &mut |kw| {
                    (kw == "CIPHERTEXT").then(|| Zeroizing::new(sexp.clone()))
                })
            })
        };
        let r = match attempt()? {
            Err(Failure::Agent { code, .. }) if is_sexp_error(code) => attempt()?,
            r => r,
        };
        let response = r.map_err(|e| agent_error(e, "PKDECRYPT", &names.short))?;
        self.warmed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(held.keygrip.clone());
        let unpadded = response
            .status
            .iter()
            .any(|(k, v)| k == "PADDING" && v.trim() == "0");
        let value = sexp::parse(&response.data)
            .and_then(|s| s.value("value").map(|v| Zeroizing::new(v.to_vec())))
            .ok_or_else(|| Error::Agent("PKDECRYPT: unexpected answer from gpg-agent".into()))?;
        Ok((value, unpadded))
    }

    /// The key exported for in-process use (once per key and run), or why not.
    fn export(&self, key: &PublicKey, held: &Held) -> Result<Arc<Export>> {
        let cell = self
            .exports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.fingerprint())
            .or_default()
            .clone();
        // Parallel workers wait here for the first one's prompt instead of prompting too.
        let mut slot = cell.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = slot.as_ref() {
            return Ok(e.clone());
        }
        let names = self.names(key);
        if held.protected && held.cached {
            if let Some(k) = self.export_preset(key, held, &names)? {
                let export = Arc::new(Export::Key(Box::new(Ready::new(k))));
                *slot = Some(export.clone());
                return Ok(export);
            }
        }
        let r = self.with_conn(|c| {
            let kek = c.transact("KEYWRAP_KEY --export", &mut |_| None)?;
            c.transact(&keydesc_line(&names.prompt), &mut |_| None)?;
            if held.protected && !held.cached {
                c.set_timeout(PINENTRY_WAIT);
            }
            let wrapped = c.transact(&format!("EXPORT_KEY {}", held.keygrip), &mut |_| None)?;
            Ok((kek.data, wrapped.data))
        })?;
        let export = match r {
            Ok((kek, wrapped)) => match unwrap_exported(key, &kek, &wrapped) {
                Some(k) => Export::Key(Box::new(Ready::new(k))),
                None => Export::Unavailable,
            },
            // `PKDECRYPT` still works without a prompt (unprotected key, cached passphrase).
            Err(Failure::Agent { .. }) if !held.protected || held.cached => Export::Unavailable,
            Err(Failure::Agent { code, text })
                if matches!(
                    code,
                    GPG_ERR_CANCELED
                        | GPG_ERR_FULLY_CANCELED
                        | GPG_ERR_BAD_PASSPHRASE
                        | GPG_ERR_NO_PIN_ENTRY
                        | GPG_ERR_PIN_ENTRY
                ) =>
            {
                Export::Failed(text, code)
            }
            Err(Failure::Io(e)) => {
                return Err(Error::AgentUnreachable(format!("connection lost: {e}")))
            }
            Err(e @ Failure::Timeout { .. }) => {
                return Err(Error::AgentUnreachable(format!("EXPORT_KEY: {e}")))
            }
            Err(_) => Export::Unavailable,
        };
        let export = Arc::new(export);
        *slot = Some(export.clone());
        Ok(export)
    }
}

impl Agent {
    /// The passphrase of `held` if it was put in the agent's cache by
    /// `gpg-preset-passphrase`: the agent hands those out (`GET_PASSPHRASE --no-ask`), not
    /// ones it cached after a prompt. No prompt either way.
    fn preset_passphrase(&self, held: &Held) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let r = self.with_conn(|c| {
            c.transact(
                &format!("GET_PASSPHRASE --data --no-ask {} X X X", held.keygrip),
                &mut |_| None,
            )
        })?;
        Ok(r.ok().map(|r| r.data).filter(|p| !p.is_empty()))
    }

    /// Whether the passphrase of `held` was preset (asked once per key and run).
    fn is_preset(&self, held: &Held) -> Result<bool> {
        // Held while asking, so that parallel workers ask once between them.
        let mut known = self.preset.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(preset) = known.get(&held.keygrip) {
            return Ok(*preset);
        }
        let preset = self.preset_passphrase(held)?.is_some();
        known.insert(held.keygrip.clone(), preset);
        Ok(preset)
    }

    /// Exports a protected key with its preset passphrase, given to the agent by loopback on
    /// a connection of its own (loopback mode would turn a later prompt on a pooled
    /// connection into an inquiry). `None` when that is not possible (not preset, loopback
    /// refused, the preset passphrase wrong): the caller falls back to the prompting export.
    fn export_preset(
        &self,
        key: &PublicKey,
        held: &Held,
        names: &Names,
    ) -> Result<Option<Key<SecretParts, UnspecifiedRole>>> {
        let Some(passphrase) = self.preset_passphrase(held)? else {
            return Ok(None);
        };
        let state = self.state()?;
        let Ok(mut c) = self.open(&state.socket) else {
            return Ok(None);
        };
        let mut given = false;
        let r = (|| {
            c.transact("OPTION pinentry-mode=loopback", &mut |_| None)?;
            let kek = c.transact("KEYWRAP_KEY --export", &mut |_| None)?;
            c.transact(&keydesc_line(&names.prompt), &mut |_| None)?;
            // Once only: the agent asks again after a wrong passphrase.
            let wrapped = c.transact(&format!("EXPORT_KEY {}", held.keygrip), &mut |kw| {
                (kw == "PASSPHRASE" && !std::mem::replace(&mut given, true))
                    .then(|| passphrase.clone())
            })?;
            Ok::<_, Failure>((kek.data, wrapped.data))
        })();
        Ok(r.ok()
            .and_then(|(kek, wrapped)| unwrap_exported(key, &kek, &wrapped)))
    }
}

impl SecretKeyProvider for Agent {
    fn name(&self) -> &str {
        "gpg-agent"
    }

    fn has_key(&self, key: &PublicKey) -> bool {
        match self.state() {
            Ok(s) => s.keys.contains_key(&key.fingerprint()),
            // Let `decrypt` report why the agent cannot be used rather than claim that no
            // secret key exists.
            Err(_) => self.names.contains_key(&key.fingerprint()),
        }
    }

    fn key_ids(&self) -> Vec<KeyId> {
        self.state().map(|s| s.ids.clone()).unwrap_or_default()
    }

    fn unmigrated_secring(&self) -> Option<PathBuf> {
        let state = self.state().ok()?;
        state.ids.is_empty().then(|| self.secring()).flatten()
    }

    fn decrypt(
        &self,
        key: &PublicKey,
        pkesk: &PKESK,
        sym_algo: Option<SymmetricAlgorithm>,
    ) -> Result<(Option<SymmetricAlgorithm>, SessionKey)> {
        let state = self.state()?;
        let held = state
            .keys
            .get(&key.fingerprint())
            .ok_or_else(|| Error::AgentMissingKey(self.names(key).short.to_string()))?;
        // A brainpool key exported for in-process use would fail from the first value
        // after `PKDECRYPTS_BEFORE_EXPORT` ("session key does not check out"): the backend
        // lacks the curve. Such keys stay in the agent.
        let exportable = !held.card
            && matches!(
                key.mpis(),
                mpi::PublicKey::RSA { .. } | mpi::PublicKey::ECDH { .. }
            )
            && crate::pgp::supported_in_process(key);
        // A protected key without a cached passphrase needs its one prompt anyway, and one
        // with a preset passphrase needs none: export it at once. Otherwise `PKDECRYPT` is
        // prompt-free (an export of a key whose passphrase was cached by a prompt prompts
        // again: the agent never uses its cache for exports), so the key stays in the agent
        // unless the run turns out to need it for many values.
        let export = exportable
            && ((held.protected && (!held.cached || self.is_preset(held)?)) || {
                let mut uses = self.uses.lock().unwrap_or_else(|p| p.into_inner());
                let n = uses.entry(key.fingerprint()).or_default();
                *n += 1;
                *n > PKDECRYPTS_BEFORE_EXPORT
            });
        if export {
            match &*self.export(key, held)? {
                Export::Key(secret) => {
                    return secret.decrypt(pkesk, sym_algo).ok_or_else(|| {
                        Error::DecryptionFailed(format!(
                            "the session key for {} does not check out",
                            self.names(key).short
                        ))
                    });
                }
                Export::Failed(text, code) => {
                    return Err(agent_error(
                        Failure::Agent {
                            code: *code,
                            text: text.clone(),
                        },
                        "EXPORT_KEY",
                        &self.names(key).short,
                    ))
                }
                Export::Unavailable => {}
            }
        }
        let mut decryptor = AgentDecryptor {
            agent: self,
            key,
            held,
            failure: None,
        };
        match pkesk.decrypt(&mut decryptor, sym_algo) {
            Some(r) => Ok(r),
            None => Err(decryptor.failure.take().unwrap_or_else(|| {
                Error::DecryptionFailed(format!(
                    "the session key gpg-agent gave for {} does not check out",
                    self.names(key).short
                ))
            })),
        }
    }
}

/// Sequoia's view of one agent key: it calls [`Decryptor::decrypt`] with the PKESK's
/// ciphertext and parses and checks the session key itself.
struct AgentDecryptor<'a> {
    agent: &'a Agent,
    key: &'a PublicKey,
    held: &'a Held,
    /// Our error, kept because `PKESK::decrypt` only returns an `Option`.
    failure: Option<Error>,
}

impl Decryptor for AgentDecryptor<'_> {
    fn public(&self) -> &PublicKey {
        self.key
    }

    fn decrypt(
        &mut self,
        ciphertext: &mpi::Ciphertext,
        _plaintext_len: Option<usize>,
    ) -> openpgp::Result<SessionKey> {
        let r = self.finish(ciphertext);
        r.map_err(|e| {
            let msg = e.to_string();
            self.failure = Some(e);
            anyhow::anyhow!(msg)
        })
    }
}

impl AgentDecryptor<'_> {
    fn finish(&mut self, ciphertext: &mpi::Ciphertext) -> Result<SessionKey> {
        let (value, unpadded) = self.agent.pkdecrypt(self.key, self.held, ciphertext)?;
        let bad = |what: &str| Error::DecryptionFailed(format!("gpg-agent: {what}"));
        match ciphertext {
            mpi::Ciphertext::RSA { .. } | mpi::Ciphertext::ElGamal { .. } => {
                if unpadded {
                    return Ok(SessionKey::from(value.to_vec()));
                }
                pkcs1_unpad(&value)
                    .map(|sk| SessionKey::from(sk.to_vec()))
                    .ok_or_else(|| bad("bad PKCS#1 padding in the decrypted session key"))
            }
            mpi::Ciphertext::ECDH { .. } => {
                let shared = shared_x(&value).ok_or_else(|| bad("unexpected ECDH point"))?;
                ecdh::decrypt_unwrap(self.key, &Protected::from(shared), ciphertext, None)
                    .map_err(|e| bad(&format!("ECDH key unwrap failed: {e}")))
            }
            _ => Err(bad("unsupported algorithm")),
        }
    }
}

/// Whether a libgpg-error code is one of libgcrypt's S-expression parse errors
/// (`GPG_ERR_SEXP_INV_LEN_SPEC` 201 to `GPG_ERR_SEXP_BAD_OCT_CHAR` 213).
fn is_sexp_error(code: u32) -> bool {
    (201..=213).contains(&code)
}

/// The ciphertext as the agent wants it: `(enc-val(<algo>(<name><value>)…))`, as gpg builds it.
fn ciphertext_sexp(ciphertext: &mpi::Ciphertext) -> Result<Vec<u8>> {
    let mut out = b"(7:enc-val".to_vec();
    match ciphertext {
        mpi::Ciphertext::RSA { c } => {
            out.extend_from_slice(b"(3:rsa");
            sexp::param(&mut out, "a", &mpi_std(c.value()));
        }
        mpi::Ciphertext::ElGamal { e, c } => {
            out.extend_from_slice(b"(3:elg");
            sexp::param(&mut out, "a", &mpi_std(e.value()));
            sexp::param(&mut out, "b", &mpi_std(c.value()));
        }
        mpi::Ciphertext::ECDH { e, key } => {
            // `s` is the wrapped key with its length byte; the agent only uses `e`.
            let mut s = vec![key.len() as u8];
            s.extend_from_slice(key);
            out.extend_from_slice(b"(4:ecdh");
            sexp::param(&mut out, "s", &s);
            sexp::param(&mut out, "e", &mpi_std(e.value()));
        }
        _ => {
            return Err(Error::Agent(
                "this kind of encrypted session key cannot be sent to gpg-agent".into(),
            ))
        }
    }
    out.extend_from_slice(b"))");
    Ok(out)
}

/// libgcrypt's "standard" MPI format: two's complement, so a leading zero byte when the high
/// bit is set.
fn mpi_std(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() + 1);
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        out.push(0);
    }
    out.extend_from_slice(v);
    out
}

/// Removes PKCS#1 v1.5 encryption padding (`00 02 <non-zero bytes> 00 <data>`; the agent
/// strips the leading zero).
fn pkcs1_unpad(v: &[u8]) -> Option<&[u8]> {
    let v = v.strip_prefix(&[0]).unwrap_or(v);
    let v = v.strip_prefix(&[2])?;
    let zero = v.iter().position(|b| *b == 0)?;
    (zero >= 8).then(|| &v[zero + 1..])
}

/// The x coordinate of the shared point the agent returns: `40 || x` for Curve25519,
/// `04 || x || y` for the NIST and brainpool curves, or a bare x.
fn shared_x(point: &[u8]) -> Option<Vec<u8>> {
    match point.first()? {
        0x40 if !point.len().is_multiple_of(2) => Some(point[1..].to_vec()),
        0x04 if !point.len().is_multiple_of(2) => {
            Some(point[1..1 + (point.len() - 1) / 2].to_vec())
        }
        _ if point.len().is_multiple_of(2) => Some(point.to_vec()),
        _ => None,
    }
}

/// Unwraps a key exported by `EXPORT_KEY` (AES key wrap with the agent's key-wrapping key) and
/// turns its `(private-key …)` S-expression into a Sequoia secret key. `None` when the
/// algorithm is not one we use in process or the data does not match the public key.
fn unwrap_exported(
    key: &PublicKey,
    kek: &[u8],
    wrapped: &[u8],
) -> Option<Key<SecretParts, UnspecifiedRole>> {
    let algo = match kek.len() {
        16 => SymmetricAlgorithm::AES128,
        24 => SymmetricAlgorithm::AES192,
        32 => SymmetricAlgorithm::AES256,
        _ => return None,
    };
    let plain = ecdh::aes_key_unwrap(algo, &Protected::from(kek), wrapped).ok()?;
    let s = sexp::parse(&plain)?;
    let params = s.list()?.get(1)?;
    let get = |name: &str| params.value(name).map(mpi::ProtectedMPI::from);
    let secret = match key.mpis() {
        mpi::PublicKey::RSA { .. } => mpi::SecretKeyMaterial::RSA {
            d: get("d")?,
            p: get("p")?,
            q: get("q")?,
            u: get("u")?,
        },
        mpi::PublicKey::ECDH { .. } => mpi::SecretKeyMaterial::ECDH { scalar: get("d")? },
        _ => return None,
    };
    let (secret_key, _) = key.clone().parts_into_public().add_secret(secret.into());
    Some(secret_key)
}

/// `OPTION` lines that let pinentry find the user's terminal or display.
fn tty_options() -> Vec<String> {
    use std::io::IsTerminal;
    let mut out = Vec::new();
    let tty = std::env::var("GPG_TTY")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            std::io::stdin()
                .is_terminal()
                .then(|| std::fs::read_link("/proc/self/fd/0").ok())
                .flatten()
                .map(|p| p.display().to_string())
        });
    if let Some(t) = tty {
        out.push(format!("OPTION ttyname={t}"));
    }
    for (var, opt) in [("TERM", "ttytype"), ("DISPLAY", "display")] {
        if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
            out.push(format!("OPTION {opt}={v}"));
        }
    }
    out
}

/// `SETKEYDESC <text>`, the text shortened if needed to fit an Assuan line (a long user id).
fn keydesc_line(prompt: &str) -> String {
    let mut text = prompt;
    loop {
        let line = format!("SETKEYDESC {}", assuan::percent_plus_escape(text));
        if line.len() < 1000 {
            return line;
        }
        let mut cut = text.len() - 1;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text = &text[..cut];
    }
}

fn agent_error(e: Failure, what: &str, key: &str) -> Error {
    match e {
        Failure::Agent { code, .. }
            if code == GPG_ERR_CANCELED || code == GPG_ERR_FULLY_CANCELED =>
        {
            Error::Cancelled(key.to_string())
        }
        Failure::Agent { code, .. } if code == GPG_ERR_BAD_PASSPHRASE => {
            Error::BadPassphrase(key.to_string())
        }
        Failure::Agent { code, text }
            if code == GPG_ERR_NO_PIN_ENTRY || code == GPG_ERR_PIN_ENTRY =>
        {
            Error::AgentNoPinentry {
                key: key.to_string(),
                reason: text,
            }
        }
        Failure::Agent { code, .. } if code == GPG_ERR_NO_SECKEY => {
            Error::AgentMissingKey(format!("the secret key {key}"))
        }
        Failure::Io(e) => Error::AgentUnreachable(format!("connection lost during {what}: {e}")),
        e @ Failure::Timeout { .. } => Error::AgentUnreachable(format!("{what}: {e}")),
        e => Error::Agent(format!("{what} failed for {key}: {e}")),
    }
}

fn algo_name(algo: PublicKeyAlgorithm) -> &'static str {
    // By number: the enum's names for the old algorithms are deprecated.
    match u8::from(algo) {
        1..=3 => "RSA",
        16 | 20 => "ELG",
        17 => "DSA",
        18 => "ECDH",
        19 => "ECDSA",
        22 => "EDDSA",
        _ => "?",
    }
}

fn key_id(id: &KeyID) -> KeyId {
    let mut out = [0u8; 8];
    if let Ok(b) = <[u8; 8]>::try_from(id.as_bytes()) {
        out = b;
    }
    KeyId(out)
}

/// Canonical S-expressions, as far as the agent's answers need them.
pub(crate) mod sexp {
    use zeroize::Zeroizing;

    /// An atom or a list.
    pub enum Sexp {
        Atom(Zeroizing<Vec<u8>>),
        List(Vec<Sexp>),
    }

    impl Sexp {
        pub fn list(&self) -> Option<&[Sexp]> {
            match self {
                Sexp::List(l) => Some(l),
                Sexp::Atom(_) => None,
            }
        }

        fn atom(&self) -> Option<&[u8]> {
            match self {
                Sexp::Atom(a) => Some(a),
                Sexp::List(_) => None,
            }
        }

        /// The second element of the sub-list of this list (or of this list itself) that
        /// starts with the atom `name`: `value` in `(… (name value) …)`.
        pub fn value(&self, name: &str) -> Option<&[u8]> {
            let items = self.list()?;
            if items.first()?.atom() == Some(name.as_bytes()) {
                return items.get(1)?.atom();
            }
            items.iter().find_map(|i| {
                let l = i.list()?;
                (l.first()?.atom() == Some(name.as_bytes()))
                    .then(|| l.get(1)?.atom())
                    .flatten()
            })
        }
    }

    /// Parses one canonical S-expression; bytes after it (key-wrap padding) are ignored.
    pub fn parse(data: &[u8]) -> Option<Sexp> {
        let mut pos = 0;
        let s = parse_at(data, &mut pos, 0)?;
        matches!(s, Sexp::List(_)).then_some(s)
    }

    fn parse_at(data: &[u8], pos: &mut usize, depth: usize) -> Option<Sexp> {
        if depth > 16 {
            return None;
        }
        match *data.get(*pos)? {
            b'(' => {
                *pos += 1;
                let mut items = Vec::new();
                while *data.get(*pos)? != b')' {
                    items.push(parse_at(data, pos, depth + 1)?);
                }
                *pos += 1;
                Some(Sexp::List(items))
            }
            b'0'..=b'9' => {
                let colon = *pos + data[*pos..].iter().position(|b| *b == b':')?;
                let digits = &data[*pos..colon];
                // Canonical form: no leading zero (`03:` is not `3:`).
                if digits.len() > 1 && digits[0] == b'0' {
                    return None;
                }
                let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
                let start = colon + 1;
                let end = start.checked_add(len)?;
                let atom = data.get(start..end)?;
                *pos = end;
                Some(Sexp::Atom(Zeroizing::new(atom.to_vec())))
            }
            _ => None,
        }
    }

    /// Appends `(<name><value>)` in canonical form.
    pub fn param(out: &mut Vec<u8>, name: &str, value: &[u8]) {
        out.extend_from_slice(format!("({}:{name}{}:", name.len(), value.len()).as_bytes());
        out.extend_from_slice(value);
        out.push(b')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs1_padding() {
        let mut v = vec![2u8];
        v.extend([7u8; 10]);
        v.push(0);
        v.extend([9, 1, 2, 3]);
        assert_eq!(pkcs1_unpad(&v), Some(&[9u8, 1, 2, 3][..]));
        assert_eq!(pkcs1_unpad(&[2, 1, 0, 5]), None, "padding too short");
        assert_eq!(pkcs1_unpad(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 5]), None);
    }

    #[test]
    fn shared_point_forms() {
        let mut cv = vec![0x40];
        cv.extend([1u8; 32]);
        assert_eq!(shared_x(&cv).unwrap(), vec![1u8; 32]);
        let mut nist = vec![0x04];
        nist.extend([2u8; 32]);
        nist.extend([3u8; 32]);
        assert_eq!(shared_x(&nist).unwrap(), vec![2u8; 32]);
        assert!(shared_x(&[0x05, 1, 2]).is_none());
    }

    #[test]
    fn sexp_values_and_trailing_padding() {
        let s = sexp::parse(b"(5:value3:abc)\0\0").unwrap();
        assert_eq!(s.value("value"), Some(&b"abc"[..]));
        let k = sexp::parse(b"(11:private-key(3:rsa(1:n2:NN)(1:d1:D)))").unwrap();
        assert_eq!(k.list().unwrap()[1].value("d"), Some(&b"D"[..]));
        assert!(sexp::parse(b"(5:value9:abc)").is_none());
        assert!(sexp::parse(b"(0:)").is_some());
    }

    /// Found by the `assuan` fuzz target: `(11:private-key03:rsa…)` parsed, a length with a
    /// leading zero read as 3, so two different byte strings meant the same S-expression.
    #[test]
    fn regression_sexp_length_with_leading_zero() {
        assert!(sexp::parse(b"(11:private-key03:rsa(1:n2:NN))").is_none());
        assert!(sexp::parse(b"(11:private-key3:rsa(1:n2:NN))").is_some());
        assert!(sexp::parse(b"(00:)").is_none());
    }

    #[test]
    fn long_key_descriptions_fit_one_line() {
        let long = format!("\"{}\"\n", "x%".repeat(600));
        let line = keydesc_line(&long);
        assert!(line.len() < 1000 && line.starts_with("SETKEYDESC %22x%25x%25"));
        assert_eq!(keydesc_line("a b"), "SETKEYDESC a+b");
    }

    #[test]
    fn std_mpi() {
        assert_eq!(mpi_std(&[0x80, 1]), vec![0, 0x80, 1]);
        assert_eq!(mpi_std(&[0x40, 1]), vec![0x40, 1]);
    }
}
