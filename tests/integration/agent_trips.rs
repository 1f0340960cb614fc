//! Round trips to a real gpg-agent, counted: a proxy socket sits between the binary (and the
//! `gpg` it runs) and the agent of an isolated GnuPG home and logs every Assuan command. In
//! bulk, a key held by the agent is exported once and used in process, so decrypting many
//! values must cost the same agent commands as decrypting a few (not one `PKDECRYPT` per
//! value), with one pinentry prompt for a protected key whose passphrase is not cached and
//! none when it is (preset) or when the key has no passphrase.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::gnupg::{bob_file, home_str, prompts, protected_home, BOB_KEYGRIP, PASSPHRASE};
use crate::harness::*;

/// A counting proxy in place of the agent's socket; the real socket is renamed next to it.
struct Proxy {
    socket: PathBuf,
    real: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Starts the agent of `home` and puts the proxy where clients look for it. The agent
    /// watches its socket for deletion, not for renaming, so it keeps serving at the new name.
    fn install(env: &Env, home: &Path) -> Proxy {
        let out = env
            .command("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(["--list-dirs", "agent-socket"])
            .output()
            .unwrap();
        let socket = PathBuf::from(stdout(ok(&out)).trim());
        ok(&env
            .command("gpgconf")
            .arg("--homedir")
            .arg(home)
            .args(["--launch", "gpg-agent"])
            .output()
            .unwrap());
        let real = socket.with_file_name("S.gpg-agent.counted");
        std::fs::rename(&socket, &real).unwrap();
        let listener = UnixListener::bind(&socket).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s, r) = (log.clone(), stop.clone(), real.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let (Ok(client), Ok(agent)) = (client, UnixStream::connect(&r)) else {
                    continue;
                };
                forward(client, agent, l.clone());
            }
        });
        Proxy {
            socket,
            real,
            log,
            stop,
        }
    }

    /// The commands logged since the last call, by name and count (`GETINFO`, which the
    /// agent's own socket check sends, and `BYE`, which a client may send as it exits, are
    /// left out).
    fn take(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for c in self.log.lock().unwrap().drain(..) {
            if c != "GETINFO" && c != "BYE" {
                *counts.entry(c).or_default() += 1;
            }
        }
        counts
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.socket);
        let _ = std::fs::remove_file(&self.socket);
        // `gpgconf --kill` would look for the proxy: stop the agent at its real socket.
        if let Ok(mut agent) = UnixStream::connect(&self.real) {
            let mut reader = BufReader::new(agent.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = agent.write_all(b"KILLAGENT\n");
            let _ = reader.read_line(&mut line);
        }
    }
}

/// Copies the agent's replies back as they come, and the client's lines to the agent, logging
/// the name of every command (not the `D`/`END`/`CAN` lines that answer an inquiry).
fn forward(client: UnixStream, agent: UnixStream, log: Arc<Mutex<Vec<String>>>) {
    let (mut from_agent, mut to_client) = (agent.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from_agent, &mut to_client);
        let _ = to_client.shutdown(std::net::Shutdown::Write);
    });
    std::thread::spawn(move || {
        let mut to_agent = agent;
        let mut reader = BufReader::new(client);
        let mut line = Vec::new();
        while let Ok(n) = reader.by_ref().read_until(b'\n', &mut line) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let name = text.split_whitespace().next().unwrap_or("").to_string();
            if !["D", "END", "CAN", ""].contains(&name.as_str()) && !name.starts_with('#') {
                log.lock().unwrap().push(name);
            }
            if to_agent.write_all(&line).is_err() {
                break;
            }
            line.clear();
        }
        let _ = to_agent.shutdown(std::net::Shutdown::Write);
    });
}

/// Decrypts `n` values encrypted to Bob through the agent of `home`: the commands it took.
fn decrypt_counted(env: &Env, home: &Path, proxy: &Proxy, n: usize) -> BTreeMap<String, usize> {
    let file = bob_file(env, n);
    proxy.take();
    let o = env.run(&[&home_str(home), "decrypt", "-e", file.to_str().unwrap()]);
    let out = stdout(ok(&o));
    for i in [0, n / 2, n - 1] {
        assert!(
            out.contains(&format!("key{i}: DEC::GPG[value number {i}]!")),
            "value {i} of {n}"
        );
    }
    proxy.take()
}

fn count(commands: &BTreeMap<String, usize>, name: &str) -> usize {
    commands.get(name).copied().unwrap_or(0)
}

/// Few values and many values cost the same commands, the key is exported once per run and
/// never asked to decrypt a value.
fn assert_constant(few: &BTreeMap<String, usize>, many: &BTreeMap<String, usize>) {
    assert_eq!(few, many, "agent commands for 6 values vs 60 values");
    assert_eq!(count(many, "EXPORT_KEY"), 1, "{many:?}");
    assert_eq!(count(many, "PKDECRYPT"), 0, "{many:?}");
}

#[test]
fn protected_key_costs_constant_agent_commands_and_one_prompt_per_run() {
    if !require(&["gpg", "gpgconf", "gpg-agent"]) {
        return;
    }
    let env = Env::new();
    let home = protected_home(&env, "trips", &["bob.sec.asc"]);
    let proxy = Proxy::install(&env, &home);
    let few = decrypt_counted(&env, &home, &proxy, 6);
    assert_eq!(prompts(&home), 1);
    let many = decrypt_counted(&env, &home, &proxy, 60);
    assert_eq!(prompts(&home), 2, "one prompt per run, not per value");
    assert_constant(&few, &many);
}

#[test]
fn preset_passphrase_costs_constant_agent_commands_and_no_prompt() {
    if !require(&["gpg", "gpgconf", "gpg-agent"]) {
        return;
    }
    let env = Env::new();
    let home = protected_home(&env, "preset-trips", &["bob.sec.asc"]);
    let proxy = Proxy::install(&env, &home);
    ok(&env
        .command("/usr/lib/gnupg/gpg-preset-passphrase")
        .env("GNUPGHOME", &home)
        .args(["--preset", "-P", PASSPHRASE, BOB_KEYGRIP])
        .output()
        .unwrap());
    let few = decrypt_counted(&env, &home, &proxy, 6);
    let many = decrypt_counted(&env, &home, &proxy, 60);
    assert_eq!(prompts(&home), 0, "the preset passphrase is used");
    assert_constant(&few, &many);
}

#[test]
fn unprotected_key_costs_constant_agent_commands_in_bulk() {
    if !require(&["gpg", "gpgconf", "gpg-agent"]) {
        return;
    }
    let env = Env::new();
    let home = protected_home(&env, "clear-trips", &[]);
    ok(&gpg(&home)
        .arg("--import")
        .arg(key("bob.sec.asc"))
        .output()
        .unwrap());
    let proxy = Proxy::install(&env, &home);
    let few = decrypt_counted(&env, &home, &proxy, 6);
    let many = decrypt_counted(&env, &home, &proxy, 60);
    assert_eq!(prompts(&home), 0);
    assert_eq!(few, many, "agent commands for 6 values vs 60 values");
    assert_eq!(count(&many, "EXPORT_KEY"), 1, "{many:?}");
    assert!(count(&many, "PKDECRYPT") <= 4, "{many:?}");
}
