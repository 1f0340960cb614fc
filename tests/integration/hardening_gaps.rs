//! The bad-input suite's inputs that are too big to commit or need a live peer (issue 17): a
//! 100 MB file, a 10 MB value and 100 000 values (generated into the temp dir at test time),
//! corrupt keyboxes, and fake gpg-agents that answer garbage or hang, each through every
//! subcommand that reads them. Whatever the input: no panic, exit 0 (where the command can
//! do its work), 1 or 2, a message naming the file, the target unchanged unless the command
//! succeeded at changing it, and nothing left in the temp directory.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::harness::*;

/// Bob's primary key fingerprint (his subkey is cv25519).
const BOB_FPR: &str = "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1";

/// The subcommands that read an eyaml file, as arguments on `file` (relative to the temp
/// dir, the working directory).
fn commands(file: &str) -> Vec<Vec<String>> {
    let all: [&[&str]; 8] = [
        &["decrypt", "-e", file],
        &["textconv", file],
        &["lookup", "a", file],
        &["check", "--skip", "stale-recipients", file],
        &["recrypt", "--all", file],
        &["edit", file],
        &["encrypt", "-e", file],
        &["merge", file, file, file],
    ];
    all.iter()
        .map(|a| a.iter().map(|s| s.to_string()).collect())
        .collect()
}

/// Every file below `dir` with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir(dir) {
        out.insert(e.clone(), std::fs::read(&e).unwrap_or_default());
    }
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The suite's assertions on one run of `args`, whose target is `data/<name>`: the problems.
/// `writes` says whether the command may change the data directory when it succeeds.
fn judge(
    env: &Env,
    o: &Output,
    args: &[String],
    name: &str,
    before: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let what = args.join(" ");
    let all = format!("{}{}", stdout(o), stderr(o));
    let mut problems = Vec::new();
    let code = o.status.code();
    if !matches!(code, Some(0..=2)) {
        problems.push(format!(
            "{what}: exit {code:?} ({:?})\n{}",
            o.status,
            tail(&all)
        ));
    }
    if all.contains("panicked") {
        problems.push(format!("{what}: panicked\n{}", tail(&all)));
    }
    if code != Some(0) && !all.contains(name) {
        problems.push(format!(
            "{what}: the error does not name {name}\n{}",
            tail(&all)
        ));
    }
    let writes = matches!(args[0].as_str(), "recrypt" | "edit");
    if !(writes && code == Some(0)) && snapshot(&env.join("data")) != *before {
        problems.push(format!("{what}: the data directory changed"));
    }
    let left = walkdir(&env.join("tmp"));
    if !left.is_empty() {
        problems.push(format!("{what}: left {left:?} in TMPDIR"));
    }
    problems
}

/// The end of a long output (the start of a 100 MB one is no help).
fn tail(s: &str) -> &str {
    let mut from = s.len().saturating_sub(2000);
    while !s.is_char_boundary(from) {
        from += 1;
    }
    &s[from..]
}

/// An environment with Bob's recipients file and `data/<name>` holding `content`.
fn bob_env(name: &str, content: &[u8]) -> Env {
    let env = Env::new();
    env.write("data/hiera-eyaml-gpg.recipients", format!("{BOB_FPR}\n"));
    env.write(&format!("data/{name}"), content);
    env
}

/// Runs `args` with Bob's secret key and the scripted editor (which changes nothing).
fn run_bob(env: &Env, args: &[String]) -> Output {
    env.cmd()
        .args(keyring(&["bob.sec.asc"]))
        .args(args)
        .env("EDITOR", env.editor())
        .output()
        .expect("run eyaml-gpg")
}

/// One value encrypted to Bob, in string form (made by the binary under test).
fn bob_value(env: &Env, plaintext: &[u8]) -> String {
    let src = env.write("plain.bin", plaintext);
    let o = env
        .cmd()
        .args(keyring(&["bob.pub.asc"]))
        .args(["encrypt", "--gpg-recipients", BOB_FPR, "-o", "string", "-f"])
        .arg(&src)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&src);
    let token = stdout(ok(&o)).trim().to_string();
    assert!(token.starts_with("ENC[GPG,"), "{token}");
    token
}

/// Every subcommand on `data/<name>`; fails with every problem found.
fn through_every_subcommand(env: &Env, name: &str) -> Vec<(Vec<String>, Output)> {
    let mut problems = Vec::new();
    let mut outputs = Vec::new();
    for args in commands(&format!("data/{name}")) {
        let before = snapshot(&env.join("data"));
        let o = run_bob(env, &args);
        problems.extend(judge(env, &o, &args, name, &before));
        outputs.push((args, o));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    outputs
}

fn of<'a>(outputs: &'a [(Vec<String>, Output)], sub: &str) -> &'a Output {
    &outputs.iter().find(|(a, _)| a[0] == sub).unwrap().1
}

/// A 100 MB file (one value, then 100 MB of comments): over the 64 MiB that eyaml-gpg reads
/// from one file, so every command refuses it before reading, naming the file and the limit
/// (a debug build needed minutes to read it through eight commands; no Hiera file is that big).
#[test]
fn a_100_mb_file_through_every_subcommand() {
    let probe = Env::new();
    let value = bob_value(&probe, b"small secret");
    let mut text = format!("a: {value}\n").into_bytes();
    let line = b"# filler filler filler filler filler filler filler filler filler filler\n";
    while text.len() < 100_000_000 {
        text.extend_from_slice(line);
    }
    let env = bob_env("big.eyaml", &text);
    for (args, o) in through_every_subcommand(&env, "big.eyaml") {
        assert!(
            matches!(o.status.code(), Some(1 | 2)),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains(&format!(
                "big.eyaml: {} bytes, larger than the 67108864 bytes eyaml-gpg reads from one file",
                text.len()
            )),
            "{args:?}: {}",
            tail(&stderr(&o))
        );
    }
}

/// A value whose plaintext is 10 MB (under the 16 MiB default cap; compressible, so the file
/// stays small and the test fast): every command handles it; under a smaller cap every
/// reading command refuses it naming the file. (A 13 MB base64 payload is the 100 MB case's
/// kind of input: scanning it takes seconds in a debug build.)
#[test]
fn a_10_mb_value_through_every_subcommand() {
    let probe = Env::new();
    let plain = b"0123456789abcdef".repeat(10 << 16);
    let value = bob_value(&probe, &plain);
    let text = format!("a: {value}\nb: plain\n");
    let env = bob_env("v.eyaml", text.as_bytes());
    let outputs = through_every_subcommand(&env, "v.eyaml");
    let o = of(&outputs, "lookup");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    let printed = stdout(o);
    assert!(
        printed.starts_with("--- ")
            && printed.contains(&String::from_utf8_lossy(&plain[..4096]).into_owned())
    );
    assert!(o.stdout.len() >= plain.len());
    let o = of(&outputs, "decrypt");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    assert_eq!(
        o.stdout.len(),
        text.len() - value.len() + plain.len() + "DEC::GPG[]!".len()
    );
    // Under a 1 MiB cap: refused, naming where.
    env.write(".config/eyaml/config.yaml", "max_value_size: 1M\n");
    for args in [
        &["decrypt", "-e", "data/v.eyaml"][..],
        &["lookup", "a", "data/v.eyaml"],
    ] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let before = snapshot(&env.join("data"));
        let o = run_bob(&env, &args);
        let problems = judge(&env, &o, &args, "v.eyaml", &before);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).contains("more than 1048576 bytes"),
            "{}",
            stderr(&o)
        );
    }
}

/// 100 000 values (a 22 MB file): the commands whose work does not grow with the number of
/// values read them all and answer (lookup decrypts only what it is asked for; encrypt -e
/// and merge scan every token). The commands that decrypt or lint every value take tens of
/// seconds in a debug build: their cost per value is `benches/`' business, not a test's.
#[test]
fn a_100k_value_file_through_the_scanning_subcommands() {
    let probe = Env::new();
    let value = bob_value(&probe, b"s");
    let mut text = String::with_capacity(100_000 * (value.len() + 16));
    for i in 0..100_000 {
        text.push_str(&format!("k{i}: {value}\n"));
    }
    text.push_str("a: last\n");
    let env = bob_env("many.eyaml", text.as_bytes());
    let mut problems = Vec::new();
    for args in commands("data/many.eyaml") {
        if !matches!(args[0].as_str(), "lookup" | "encrypt" | "merge") {
            continue;
        }
        let before = snapshot(&env.join("data"));
        let o = run_bob(&env, &args);
        problems.extend(judge(&env, &o, &args, "many.eyaml", &before));
        if o.status.code() != Some(0) {
            problems.push(format!(
                "{args:?}: exit {:?}\n{}",
                o.status.code(),
                tail(&stderr(&o))
            ));
        }
        if args[0] == "lookup" && stdout(&o) != "--- last\n" {
            problems.push(format!("lookup: {}", stdout(&o)));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A GnuPG home holding Bob's public key whose `pubring.kbx` is then damaged by `damage`.
fn home_with_kbx(env: &Env, damage: &dyn Fn(&mut Vec<u8>)) -> PathBuf {
    let home = env.gnupg_home("gnupg", &["bob.pub.asc"], true);
    kill_agent(&home);
    let kbx = home.join("pubring.kbx");
    let mut data = std::fs::read(&kbx).unwrap();
    damage(&mut data);
    std::fs::write(&kbx, &data).unwrap();
    home
}

/// Corrupt keyboxes (truncated, wrong magic, no header, a blob length far past the end) in the GnuPG
/// home, through every subcommand that reads the home's keys: exit 2 naming the keyring,
/// the target untouched.
#[test]
fn corrupt_keyboxes_through_every_subcommand() {
    if !require(&["gpg", "gpgconf"]) {
        return;
    }
    type Damage<'a> = (&'a str, &'a dyn Fn(&mut Vec<u8>));
    let damages: [Damage; 4] = [
        ("truncated", &|d| d.truncate(d.len() - 7)),
        ("wrong magic", &|d| d[8..12].copy_from_slice(b"KBXg")),
        ("no header blob", &|d| d[4] = 2),
        ("huge blob length", &|d| {
            let second = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
            d[second..second + 4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        }),
    ];
    let value = bob_value(&Env::new(), b"kept");
    let text = format!("a: {value}\nb: DEC::GPG[new]!\n");
    let mut problems = Vec::new();
    for (damage, f) in damages {
        let env = bob_env("t.eyaml", text.as_bytes());
        let home = home_with_kbx(&env, f);
        let mut runs = commands("data/t.eyaml");
        runs.push(["keys", "list", "data"].map(String::from).to_vec());
        for args in runs {
            let before = snapshot(&env.join("data"));
            let o = env
                .cmd()
                .env("GNUPGHOME", &home)
                .env("EDITOR", env.editor())
                .args(&args)
                .output()
                .unwrap();
            let what = format!("{damage}: {}", args.join(" "));
            // The broken file is the keyring: that is the one to name.
            for p in judge(&env, &o, &args, "pubring.kbx", &before) {
                problems.push(format!("{damage}: {p}"));
            }
            // Merging needs no key; textconv feeds `git diff`, which must never fail: it shows
            // the value encrypted. Every other command reads the keyring and stops.
            if args[0] == "textconv" {
                if o.status.code() != Some(0) || !stdout(&o).contains("ENC[GPG,") {
                    problems.push(format!(
                        "{what}: exit {:?}\n{}",
                        o.status.code(),
                        stderr(&o)
                    ));
                }
            } else if args[0] != "merge" {
                let err = stderr(&o);
                if o.status.code() != Some(2) || !err.contains("pubring.kbx: not a valid keybox") {
                    problems.push(format!(
                        "{what}: exit {:?}\n{}",
                        o.status.code(),
                        tail(&err)
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// How a fake gpg-agent misbehaves.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Greets with garbage.
    GarbageGreeting,
    /// Greets properly, then answers every command with garbage lines.
    GarbageReplies,
    /// Accepts connections and never writes.
    Hangs,
    /// Greets properly, then never answers.
    HangsAfterGreeting,
}

/// Serves the agent socket of `home` from a thread of this test, misbehaving as told.
fn fake_agent(home: &Path, how: Misbehaviour) -> PathBuf {
    let out = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--list-dirs", "agent-socket"])
        .output()
        .unwrap();
    let socket = PathBuf::from(stdout(&out).trim());
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            let Ok(mut s) = s else { return };
            match how {
                Misbehaviour::Hangs => held.push(s),
                Misbehaviour::HangsAfterGreeting => {
                    let _ = s.write_all(b"OK Pleased to meet you\n");
                    held.push(s);
                }
                Misbehaviour::GarbageGreeting => {
                    let _ = s.write_all(b"\x00\xff\xfeHELO garbage\nD %ZZ\n");
                }
                Misbehaviour::GarbageReplies => {
                    std::thread::spawn(move || {
                        let _ = s.write_all(b"OK Pleased to meet you\n");
                        let mut lines = BufReader::new(s.try_clone().unwrap()).lines();
                        while let Some(Ok(_)) = lines.next() {
                            let junk = b"S KEYINFO\nD %%%\nINQUIRE\n\x01\x02 nonsense \xff\nOK\n";
                            if s.write_all(junk).is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    });
    socket
}

/// A gpg-agent that answers garbage or hangs, through every subcommand that asks it for a
/// decryption: a bounded run (`EYAML_GPG_AGENT_TIMEOUT` small), no panic, exit 1 or 2 naming
/// the socket or the file (`textconv` and `edit` show the value encrypted and go on), the
/// target untouched.
#[test]
fn fake_gpg_agents_through_every_subcommand() {
    if !require(&["gpg", "gpgconf"]) {
        return;
    }
    let value = bob_value(&Env::new(), b"kept");
    let text = format!("a: {value}\n");
    let mut problems = Vec::new();
    for how in [
        Misbehaviour::GarbageGreeting,
        Misbehaviour::GarbageReplies,
        Misbehaviour::Hangs,
        Misbehaviour::HangsAfterGreeting,
    ] {
        let env = bob_env("t.eyaml", text.as_bytes());
        let home = env.gnupg_home("gnupg", &["bob.pub.asc"], true);
        kill_agent(&home);
        let socket = fake_agent(&home, how);
        for args in commands("data/t.eyaml") {
            if matches!(args[0].as_str(), "check" | "encrypt" | "merge") {
                continue;
            }
            let before = snapshot(&env.join("data"));
            let o = env
                .cmd()
                .env("GNUPGHOME", &home)
                .env("EYAML_GPG_AGENT_TIMEOUT", "0.3")
                .env("EDITOR", env.editor())
                .args(&args)
                .output()
                .unwrap();
            let what = format!("{how:?}: {}", args.join(" "));
            for p in judge(&env, &o, &args, "t.eyaml", &before) {
                problems.push(format!("{how:?}: {p}"));
            }
            let err = stderr(&o);
            let lenient = matches!(args[0].as_str(), "textconv" | "edit");
            if !lenient && o.status.code() == Some(0) {
                problems.push(format!("{what}: exit 0"));
            }
            if !err.contains(&socket.display().to_string()) && args[0] != "textconv" {
                problems.push(format!("{what}: the socket is not named\n{err}"));
            }
        }
        let _ = std::fs::remove_file(&socket);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
