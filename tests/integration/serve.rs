//! `eyaml-gpg serve`: the protocol on a real socket (errors, limits, peers, concurrency,
//! signals), `--check`, `--once`, and the Puppet module `contrib/puppet/eyaml_gpg` driven by
//! real Puppet (tests/puppet/pal.rb) in socket and binary mode, compared with what Puppet's
//! own `eyaml_lookup_key` returns.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::*;
use serde_json::{json, Value};

const ALL_KEYS: [&str; 3] = ["alice.sec.asc", "bob.sec.asc", "puppetmaster.sec.asc"];

/// A running `eyaml-gpg serve`, stopped when dropped.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) socket: PathBuf,
}

impl Server {
    pub(crate) fn start(env: &Env, keys: &[&str], extra: &[&str]) -> Server {
        let run = env.join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        let socket = run.join("eyaml-gpg.sock");
        let mut cmd = env.cmd();
        cmd.arg("serve").arg("--socket").arg(&socket);
        for k in keys {
            cmd.arg("--gpg-keyring").arg(key(k));
        }
        cmd.args(extra).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("start eyaml-gpg serve");
        let mut server = Server { child, socket };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        for _ in 0..3000 {
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("serve exited with {status}: {err}");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("serve did not start listening");
    }

    fn connect(&self) -> Conn {
        Conn::new(&self.socket)
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client connection.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn new(path: &Path) -> Conn {
        let s = UnixStream::connect(path).expect("connect");
        Conn {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
        }
    }

    fn send_raw(&mut self, line: &[u8]) -> Option<Value> {
        // A refused peer is answered and closed at once: the write may fail, the reply is
        // still there to read.
        let _ = self.writer.write_all(line);
        let mut reply = String::new();
        match self.reader.read_line(&mut reply) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(serde_json::from_str(&reply).expect("reply is JSON")),
        }
    }

    fn send(&mut self, req: &Value) -> Value {
        self.send_raw(format!("{req}\n").as_bytes())
            .expect("a reply")
    }

    fn eof(&mut self) -> bool {
        let mut rest = String::new();
        matches!(self.reader.read_line(&mut rest), Ok(0) | Err(_))
    }
}

fn decrypt_req(values: &[&str]) -> Value {
    json!({"v": 1, "op": "decrypt", "values": values})
}

/// The `ENC[…]` tokens of a reference file, as written.
fn tokens_of(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(reference().join("hieradata").join(rel)).unwrap();
    enc_payloads(&text)
        .into_iter()
        .map(|p| format!("ENC[GPG,{p}]"))
        .collect()
}

/// The token of `key` in a reference file (string form on the key's line).
fn token_of(rel: &str, key: &str) -> String {
    let text = std::fs::read_to_string(reference().join("hieradata").join(rel)).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap();
    let start = line.find("ENC[").unwrap();
    line[start..].trim().to_string()
}

#[test]
fn ping_reports_version_and_secret_keys() {
    let env = Env::new();
    let server = Server::start(&env, &["bob.sec.asc"], &[]);
    let reply = server
        .connect()
        .send(&json!({"v": 1, "op": "ping", "id": 7}));
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["id"], 7);
    assert_eq!(reply["version"], env!("CARGO_PKG_VERSION"));
    let keys = reply["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    let fprs = std::fs::read_to_string(key("public-keys.txt")).unwrap();
    for k in keys {
        let fpr = k["fingerprint"].as_str().unwrap();
        assert_eq!(fpr.len(), 40);
        assert!(fprs.contains(fpr), "{fpr} not a reference key");
        assert!(k["user_id"].as_str().unwrap().contains("bob"), "{k}");
    }
}

#[test]
fn a_batch_gives_plaintexts_and_per_value_errors() {
    let env = Env::new();
    let server = Server::start(&env, &["puppetmaster.sec.asc"], &[]);
    let bob_only = token_of("development/app1/app1.eyaml", "app1::db_password");
    let mut c = server.connect();
    let reply = c.send(&decrypt_req(&[&bob_only, "not a token"]));
    assert_eq!(reply["ok"], true, "{reply}");
    let r = reply["results"].as_array().unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["ok"], false);
    assert_eq!(r[0]["error"]["code"], "no_secret_key");
    assert!(!r[0]["error"]["recipients"].as_array().unwrap().is_empty());
    let available = r[0]["error"]["available"].as_array().unwrap();
    assert!(available[0].as_str().unwrap().contains("puppetmaster"));
    assert_eq!(r[1]["error"]["code"], "not_a_token");
    // The same token with every key; block-form tokens keep their line breaks.
    let env2 = Env::new();
    let all = Server::start(&env2, &ALL_KEYS, &[]);
    let mut values = tokens_of("development/app1/app1.eyaml");
    values.push(format!(
        "ENC[GPG,{}\n    {}]",
        &bob_only[8..40],
        &bob_only[40..bob_only.len() - 1]
    ));
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    let reply = all.connect().send(&decrypt_req(&refs));
    let r = reply["results"].as_array().unwrap();
    assert!(r.iter().all(|x| x["ok"] == true), "{reply}");
    assert!(r.iter().any(|x| x["plaintext"] == "dev-db-pass"));
    assert_eq!(r.last().unwrap()["plaintext"], "dev-db-pass");
}

#[test]
fn malformed_requests_get_error_replies_and_the_connection_survives() {
    let env = Env::new();
    let server = Server::start(&env, &["bob.sec.asc"], &[]);
    let mut c = server.connect();
    let code = |v: Value| v["error"]["code"].as_str().unwrap().to_string();
    assert_eq!(code(c.send_raw(b"{\"v\":1,\n").unwrap()), "malformed");
    assert_eq!(code(c.send_raw(b"\xff\xfe\n").unwrap()), "malformed");
    assert_eq!(code(c.send(&json!({"v": 1, "op": "dance"}))), "unknown_op");
    assert_eq!(
        code(c.send(&json!({"v": 9, "op": "ping"}))),
        "unsupported_version"
    );
    assert_eq!(
        code(c.send(&json!({"v": 1, "op": "decrypt", "values": "x"}))),
        "malformed"
    );
    assert_eq!(c.send(&json!({"v": 1, "op": "ping"}))["ok"], true);
}

#[test]
fn an_oversized_request_is_refused_and_the_connection_closed() {
    let env = Env::new();
    let server = Server::start(&env, &["bob.sec.asc"], &["--max-request", "200"]);
    let mut c = server.connect();
    let big = format!("{}\n", decrypt_req(&[&"A".repeat(500)]));
    let reply = c.send_raw(big.as_bytes()).unwrap();
    assert_eq!(reply["error"]["code"], "request_too_large", "{reply}");
    assert!(c.eof());
    // A reply over --max-reply is an error, not a cut line.
    let env = Env::new();
    let server = Server::start(&env, &ALL_KEYS, &["--max-reply", "60"]);
    let t = token_of("development/app1/app1.eyaml", "app1::db_password");
    let reply = server.connect().send(&decrypt_req(&[&t, &t, &t]));
    assert_eq!(reply["error"]["code"], "reply_too_large", "{reply}");
}

#[test]
fn a_peer_not_allowed_is_refused() {
    let env = Env::new();
    let server = Server::start(&env, &["bob.sec.asc"], &["--allow-uid", "4242"]);
    let reply = server.connect().send(&json!({"v": 1, "op": "ping"}));
    assert_eq!(reply["error"]["code"], "forbidden", "{reply}");
}

/// As root, a client of another uid (setpriv) is refused by default and served once allowed.
#[test]
fn another_uid_is_refused_unless_allowed() {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    if !(root && setpriv) {
        eprintln!("skipped: needs root and setpriv (the allow list is covered by a_peer_not_allowed_is_refused)");
        return;
    }
    for (extra, want) in [(&[][..], "forbidden"), (&["--allow-uid", "65534"][..], "")] {
        let env = Env::new();
        std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut args = vec!["--socket-mode", "0666"];
        args.extend_from_slice(extra);
        let server = Server::start(&env, &["bob.sec.asc"], &args);
        std::fs::set_permissions(env.join("run"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "ruby", "-rsocket", "-e"])
            .arg("s = UNIXSocket.new(ARGV[0]); begin; s.write(%Q({\"v\":1,\"op\":\"ping\"}\\n)); rescue Errno::EPIPE; end; print s.gets")
            .arg(&server.socket)
            .output()
            .unwrap();
        let reply: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("no reply: {}", stderr(&out)));
        if want.is_empty() {
            assert_eq!(reply["ok"], true, "{reply}");
        } else {
            assert_eq!(reply["error"]["code"], want, "{reply}");
        }
    }
}

#[test]
fn concurrent_clients_are_all_served() {
    let env = Env::new();
    let server = Server::start(&env, &ALL_KEYS, &[]);
    let t = token_of("development/app1/app1.eyaml", "app1::db_password");
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                let mut c = server.connect();
                for _ in 0..25 {
                    let r = c.send(&decrypt_req(&[&t, &t]));
                    assert_eq!(r["results"][1]["plaintext"], "dev-db-pass", "{r}");
                }
            });
        }
    });
}

#[test]
fn sighup_reloads_the_keys_without_dropping_connections() {
    let env = Env::new();
    let dir = env.join("keys");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(key("puppetmaster.sec.asc"), dir.join("pm.asc")).unwrap();
    let server = Server::start(&env, &[], &["--gpg-keyring", dir.to_str().unwrap()]);
    let t = token_of("development/app1/app1.eyaml", "app1::db_password");
    let mut c = server.connect();
    assert_eq!(c.send(&decrypt_req(&[&t]))["results"][0]["ok"], false);
    std::fs::copy(key("bob.sec.asc"), dir.join("bob.asc")).unwrap();
    server.signal("HUP");
    let mut reloaded = false;
    for _ in 0..1000 {
        let keys = c.send(&json!({"v": 1, "op": "ping"}))["keys"].clone();
        if keys.as_array().unwrap().len() > 1 {
            reloaded = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(reloaded, "keys not reloaded");
    assert_eq!(
        c.send(&decrypt_req(&[&t]))["results"][0]["plaintext"],
        "dev-db-pass"
    );
}

#[test]
fn sigterm_stops_and_removes_the_socket() {
    for sig in ["TERM", "INT"] {
        let env = Env::new();
        let mut server = Server::start(&env, &["bob.sec.asc"], &[]);
        let mut idle = server.connect();
        server.signal(sig);
        let status = server.child.wait().unwrap();
        assert!(status.success(), "{status}");
        assert!(!server.socket.exists());
        assert!(idle.eof());
    }
}

#[test]
fn the_socket_is_created_safely() {
    let env = Env::new();
    let server = Server::start(&env, &["bob.sec.asc"], &[]);
    let mode = std::fs::metadata(&server.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
    // A live socket is not taken over.
    let out = env.run(&["serve", "--socket", server.socket.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("another service is listening"));
    drop(server);
    // A stale socket (service killed) is replaced; --socket-mode is honoured.
    let server = Server::start(&env, &["bob.sec.asc"], &["--socket-mode", "0600"]);
    let mode = std::fs::metadata(&server.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A world-writable directory and a non-socket file are refused.
    let open = env.join("open");
    std::fs::create_dir_all(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = env.run(&["serve", "--socket", open.join("s").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("world-writable"), "{}", stderr(&out));
    let file = env.write("run/file", "x");
    let out = env.run(&["serve", "--socket", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a socket"), "{}", stderr(&out));
}

#[test]
fn check_decrypts_a_tree_and_reports_what_it_cannot() {
    let env = Env::new();
    let tree = env.copy_tree(&reference().join("hieradata"), "data");
    let mut args = vec!["serve", "--check", tree.to_str().unwrap()];
    let keys: Vec<String> = ALL_KEYS
        .iter()
        .map(|k| key(k).display().to_string())
        .collect();
    for k in &keys {
        args.extend(["--gpg-keyring", k]);
    }
    let out = env.run(&args);
    ok(&out);
    assert!(stderr(&out).contains("0 failure(s)"), "{}", stderr(&out));
    let out = env.run(&[
        "serve",
        "--check",
        tree.to_str().unwrap(),
        "--gpg-keyring",
        &keys[2],
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("app1.eyaml:"), "{err}");
    assert!(err.contains("No secret key"), "{err}");
    assert!(!err.contains("dev-db-pass"));
}

#[test]
fn once_answers_one_request_from_a_file() {
    let env = Env::new();
    let t = token_of("development/app1/app1.eyaml", "app1::db_password");
    let req = env.write("req.json", decrypt_req(&[&t]).to_string());
    let out = env.run(&[
        "serve",
        "--once",
        req.to_str().unwrap(),
        "--gpg-keyring",
        key("bob.sec.asc").to_str().unwrap(),
    ]);
    ok(&out);
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["results"][0]["plaintext"], "dev-db-pass");
}

// ---------------------------------------------------------------- Puppet

/// Whether Puppet is here; under CI it must be.
pub(crate) fn have_puppet() -> bool {
    let found = Command::new("ruby")
        .args(["-e", "require 'puppet_pal'"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found && std::env::var("CI").as_deref() == Ok("true") {
        panic!("Puppet is not installed (CI installs it through .ci/run)");
    }
    if !found {
        eprintln!("skipped: Puppet is not installed");
    }
    found
}

fn module_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/puppet")
}

/// Writes a Hiera 5 environment: one level with `function` over `paths` in `datadir`.
pub(crate) fn environment(
    env: &Env,
    name: &str,
    datadir: &Path,
    paths: &[&str],
    function: &str,
    options: Value,
) -> PathBuf {
    let dir = env.join(&format!("envs/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let hiera = json!({
        "version": 5,
        "defaults": {"datadir": datadir},
        "hierarchy": [{"name": "level", "lookup_key": function, "paths": paths, "options": options}],
    });
    // JSON is YAML.
    std::fs::write(dir.join("hiera.yaml"), hiera.to_string()).unwrap();
    dir
}

/// Runs the Pal harness over `sessions`; one result array per session.
pub(crate) fn pal(env: &Env, sessions: Value) -> Vec<Vec<Value>> {
    let plan = json!({
        "vardir": env.join("puppet-var"),
        "modulepath": module_path(),
        "sessions": sessions,
    });
    let file = env.write("plan.json", plan.to_string());
    let out = Command::new("ruby")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/puppet/pal.rb"))
        .arg(file)
        .env("HOME", env.path())
        .env("PATH", path_with_binary())
        .env("GNUPGHOME", env.join("no-gnupg-home"))
        .output()
        .unwrap();
    assert!(out.status.success(), "pal.rb failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
}

/// PATH with the binary under test first (binary mode runs `eyaml-gpg`).
fn path_with_binary() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_eyaml-gpg")).parent().unwrap();
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

pub(crate) fn lookups(keys: &[&str]) -> Value {
    Value::Array(keys.iter().map(|k| json!({"lookup": k})).collect())
}

/// The reference tree's hierarchy, as Puppet was configured when the answers were recorded.
const REFERENCE_PATHS: [&str; 5] = [
    "production/dc1/base.eyaml",
    "production/role.eyaml",
    "development/app1/app1.eyaml",
    "development/app2/app2.eyaml",
    "production/plain-only.eyaml",
];

/// `(key, json?, expected text)` for each recorded `puppet lookup` of the reference tree.
fn recorded() -> Vec<(String, bool, String)> {
    let md = std::fs::read_to_string(reference().join("puppet-lookup.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = md.lines();
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix("## `puppet lookup ") else {
            continue;
        };
        let cmd = rest.trim_end_matches('`');
        let json = cmd.contains("--render-as json");
        let key = cmd.split_whitespace().next().unwrap().to_string();
        assert_eq!(lines.next(), Some("```"));
        let mut text = String::new();
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        out.push((key, json, text));
    }
    assert!(out.len() >= 12, "puppet-lookup.md has {} cases", out.len());
    out
}

#[test]
fn the_module_returns_what_puppet_returned_for_the_reference_tree() {
    if !have_puppet() {
        return;
    }
    let env = Env::new();
    let server = Server::start(&env, &ALL_KEYS, &[]);
    let data = env.copy_tree(&reference().join("hieradata"), "data");
    let keyring: Vec<PathBuf> = ALL_KEYS.iter().map(|k| key(k)).collect();
    let socket_env = environment(
        &env,
        "sock",
        &data,
        &REFERENCE_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket}),
    );
    let binary_env = environment(
        &env,
        "bin",
        &data,
        &REFERENCE_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"gpg_keyring": keyring}),
    );
    // Wrong key: only the puppetmaster key (app1 is Bob-only), both modes.
    let env2 = Env::new();
    let pm = Server::start(&env2, &["puppetmaster.sec.asc"], &[]);
    let wrong_socket = environment(
        &env,
        "wsock",
        &data,
        &REFERENCE_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"socket": pm.socket}),
    );
    let wrong_binary = environment(
        &env,
        "wbin",
        &data,
        &REFERENCE_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"gpg_keyring": key("puppetmaster.sec.asc")}),
    );
    let cases = recorded();
    let keys: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    let wrong =
        json!([{"lookup": "app1::db_password"}, {"lookup": "profile::base::root_password"}]);
    let results = pal(
        &env,
        json!([
            {"envdir": socket_env, "steps": lookups(&keys)},
            {"envdir": binary_env, "steps": lookups(&keys)},
            {"envdir": wrong_socket, "steps": wrong},
            {"envdir": wrong_binary, "steps": wrong},
        ]),
    );
    for (mode, got) in ["socket", "binary"].iter().zip(&results[..2]) {
        for ((key, json, want), r) in cases.iter().zip(got) {
            let rendered = if *json { &r["json"] } else { &r["yaml"] };
            let rendered = rendered
                .as_str()
                .unwrap_or_else(|| panic!("{mode} {key}: {r}"));
            assert_eq!(
                rendered.trim_end(),
                want.trim_end(),
                "{mode}: {key} differs from what Puppet returned"
            );
        }
    }
    for (mode, got) in ["socket", "binary"].iter().zip(&results[2..]) {
        let err = got[0]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{mode}: {}", got[0]));
        assert!(err.contains("app1::db_password"), "{mode}: {err}");
        assert!(err.contains("development/app1/app1.eyaml"), "{mode}: {err}");
        assert!(err.contains("No secret key"), "{mode}: {err}");
        assert!(
            !err.contains("ENC[") && !err.contains("hF4D"),
            "{mode}: ciphertext in {err}"
        );
        assert_eq!(got[1]["value"], "R00t!pa$$w0rd#dc1", "{mode}: {}", got[1]);
    }
}

/// The template tree encrypted with GPG to `recipient` by eyaml-gpg (foreign.yaml to
/// `foreign`), into `dest`.
fn gpg_tree(env: &Env, dest: &str, recipient: &str, foreign: &str) -> PathBuf {
    let template = fixtures().join("serve/tree");
    let out_dir = env.join(dest);
    for rel in ["common.yaml", "nodes/web1.yaml", "foreign.yaml"] {
        let to = if rel == "foreign.yaml" {
            foreign
        } else {
            recipient
        };
        let out = env.run(&[
            "encrypt",
            "-e",
            template.join(rel).to_str().unwrap(),
            "--gpg-keyring",
            key(&format!("{to}.pub.asc")).to_str().unwrap(),
            "--gpg-recipients",
            &format!("{to}@example.com"),
        ]);
        ok(&out);
        let path = out_dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &out.stdout).unwrap();
    }
    out_dir
}

/// The same tree encrypted with PKCS7 by Ruby eyaml (foreign.yaml to a second key pair).
/// Returns the tree and the key options of the first pair.
fn pkcs7_tree(env: &Env, dest: &str) -> (PathBuf, Value) {
    let template = fixtures().join("serve/tree");
    let out_dir = env.join(dest);
    let mut options = Vec::new();
    for pair in ["pk-server", "pk-foreign"] {
        let dir = env.join(pair);
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("eyaml")
            .arg("createkeys")
            .current_dir(&dir)
            .env("HOME", env.path())
            .output()
            .expect("Ruby eyaml");
        ok(&out);
        options.push((
            dir.join("keys/private_key.pkcs7.pem"),
            dir.join("keys/public_key.pkcs7.pem"),
        ));
    }
    for rel in ["common.yaml", "nodes/web1.yaml", "foreign.yaml"] {
        let (private, public) = &options[usize::from(rel == "foreign.yaml")];
        let text = std::fs::read_to_string(template.join(rel)).unwrap();
        let src = env.write(
            &format!("pkcs7-src/{rel}"),
            text.replace("DEC::GPG[", "DEC::PKCS7["),
        );
        let out = Command::new("eyaml")
            .args(["encrypt", "-e"])
            .arg(&src)
            .arg("--pkcs7-private-key")
            .arg(private)
            .arg("--pkcs7-public-key")
            .arg(public)
            .env("HOME", env.path())
            .output()
            .expect("Ruby eyaml");
        ok(&out);
        let path = out_dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &out.stdout).unwrap();
    }
    let (private, public) = &options[0];
    (
        out_dir,
        json!({"pkcs7_private_key": private, "pkcs7_public_key": public}),
    )
}

const TWIN_PATHS: [&str; 4] = [
    "nodes/web1.yaml",
    "nodes/missing.yaml",
    "common.yaml",
    "foreign.yaml",
];

/// Every lookup of the twin trees: key and merge strategy.
fn twin_lookups() -> Value {
    let mut steps = Vec::new();
    for k in [
        "plain::name",
        "plain::list",
        "plain::number",
        "plain::interpolated",
        "secret::string",
        "secret::block",
        "secret::multiline",
        "secret::trailing",
        "secret::unicode",
        "secret::interpolated",
        "secret::mixed",
        "secret::nested",
        "nope::nope",
    ] {
        steps.push(json!({"lookup": k}));
    }
    for merge in ["first", "unique", "hash", "deep"] {
        steps.push(json!({"lookup": "merged::hash", "merge": merge}));
        steps.push(json!({"lookup": "merged::array", "merge": merge}));
    }
    steps.push(json!({"lookup": "secret::foreign"}));
    Value::Array(steps)
}

/// The value part of a result (renderings left out: Sensitive has none).
fn outcome(r: &Value) -> Value {
    match r.get("value") {
        Some(v) => json!({"value": v}),
        None => r.clone(),
    }
}

#[test]
fn the_module_equals_puppets_eyaml_lookup_key_on_the_same_data() {
    if !have_puppet() {
        return;
    }
    let env = Env::new();
    let gpg = gpg_tree(&env, "gpg", "bob", "alice");
    let (pkcs7, pkcs7_options) = pkcs7_tree(&env, "pkcs7");
    let server = Server::start(&env, &["bob.sec.asc"], &[]);
    let puppet_env = environment(
        &env,
        "puppet",
        &pkcs7,
        &TWIN_PATHS,
        "eyaml_lookup_key",
        pkcs7_options.clone(),
    );
    let socket_env = environment(
        &env,
        "sock",
        &gpg,
        &TWIN_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket}),
    );
    let binary_env = environment(
        &env,
        "bin",
        &gpg,
        &TWIN_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"gpg_keyring": key("bob.sec.asc")}),
    );
    let sensitive_env = environment(
        &env,
        "sens",
        &gpg,
        &TWIN_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket, "sensitive": true}),
    );
    let confined_env = environment(
        &env,
        "conf",
        &gpg,
        &TWIN_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket, "confine_to_keys": ["^secret::"]}),
    );
    // Invalid YAML: Puppet's function and ours over the same broken file.
    let broken = env.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(
        fixtures().join("serve/invalid.yaml"),
        broken.join("common.yaml"),
    )
    .unwrap();
    let broken_puppet = environment(
        &env,
        "bpuppet",
        &broken,
        &["common.yaml"],
        "eyaml_lookup_key",
        json!({}),
    );
    let broken_ours = environment(
        &env,
        "bours",
        &broken,
        &["common.yaml"],
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket}),
    );
    // PKCS7 through the module: one service holding Bob's GPG key and the PKCS7 pair, and
    // binary mode with the PKCS7 key options eyaml users write.
    let mut p7_args = Vec::new();
    for (flag, key) in [
        ("--pkcs7-private-key", "pkcs7_private_key"),
        ("--pkcs7-public-key", "pkcs7_public_key"),
    ] {
        p7_args.push(flag.to_string());
        p7_args.push(pkcs7_options[key].as_str().unwrap().to_string());
    }
    let p7_args: Vec<&str> = p7_args.iter().map(String::as_str).collect();
    let env3 = Env::new();
    let both = Server::start(&env3, &["bob.sec.asc"], &p7_args);
    let p7_socket = environment(
        &env,
        "p7sock",
        &pkcs7,
        &TWIN_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"socket": both.socket}),
    );
    let p7_binary = environment(
        &env,
        "p7bin",
        &pkcs7,
        &TWIN_PATHS,
        "eyaml_gpg::lookup_key",
        pkcs7_options.clone(),
    );
    let bin = env!("CARGO_BIN_EXE_eyaml-gpg");
    let restart = json!([
        bin,
        "serve",
        "--socket",
        server.socket,
        "--gpg-keyring",
        key("bob.sec.asc")
    ]);
    let steps = twin_lookups();
    let results = pal(
        &env,
        json!([
            {"envdir": puppet_env, "steps": steps},
            {"envdir": socket_env, "steps": steps},
            {"envdir": binary_env, "steps": steps},
            {"envdir": sensitive_env, "steps": lookups(&["secret::string", "plain::name", "secret::nested"])},
            {"envdir": confined_env, "steps": lookups(&["secret::string", "plain::name"])},
            {"envdir": broken_puppet, "steps": lookups(&["key"])},
            {"envdir": broken_ours, "steps": lookups(&["key"])},
            {"envdir": socket_env, "steps": [
                {"lookup": "secret::string"},
                {"kill": server.child.id(), "socket": server.socket},
                {"lookup": "secret::block"},
                {"spawn": restart, "socket": server.socket},
                {"lookup": "secret::unicode"},
            ]},
            {"envdir": p7_socket, "steps": steps},
            {"envdir": p7_binary, "steps": steps},
        ]),
    );
    let theirs = &results[0];
    let names: Vec<String> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let modes = ["socket", "binary", "PKCS7 socket", "PKCS7 binary"];
    let ours_all = [&results[1], &results[2], &results[8], &results[9]];
    for (mode, ours) in modes.iter().zip(ours_all) {
        for ((name, t), o) in names.iter().zip(theirs).zip(ours) {
            if name.contains("secret::foreign") {
                assert!(
                    t.get("error").is_some(),
                    "Puppet decrypted a foreign value: {t}"
                );
                let err = o["error"].as_str().unwrap_or_else(|| panic!("{mode}: {o}"));
                assert!(
                    err.contains("secret::foreign") && err.contains("foreign.yaml"),
                    "{mode}: {err}"
                );
                assert!(!err.contains("ENC["), "{mode}: ciphertext in {err}");
                continue;
            }
            assert_eq!(outcome(o), outcome(t), "{mode}: {name}");
        }
    }
    // A sanity check that the comparison compares something.
    assert_eq!(theirs[8]["value"], "Grüße aus Köln — パスワード 🔑");
    assert_eq!(theirs[9]["value"], "user-web-x");
    let sens = &results[3];
    assert_eq!(sens[0], json!({"sensitive": "node-secret"}));
    assert_eq!(sens[1]["value"], "web");
    assert_eq!(
        sens[2]["value"]["users"][0]["password"],
        json!({"__sensitive__": "app-pass"})
    );
    assert_eq!(sens[2]["value"]["host"], "db.example.com");
    let conf = &results[4];
    assert_eq!(conf[0]["value"], "node-secret");
    assert!(
        conf[1]["error"]
            .as_str()
            .unwrap()
            .contains("did not find a value"),
        "{}",
        conf[1]
    );
    assert!(results[5][0]["error"]
        .as_str()
        .unwrap()
        .contains("Unable to parse"));
    assert_eq!(results[6], results[5], "invalid YAML");
    let stopped = &results[7];
    assert_eq!(stopped[0]["value"], "node-secret");
    let err = stopped[1]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{}", stopped[1]));
    assert!(
        err.contains("secret::block")
            && err.contains("common.yaml")
            && err.contains("not reachable"),
        "{err}"
    );
    assert_eq!(
        stopped[2]["value"], "Grüße aus Köln — パスワード 🔑",
        "no reconnect"
    );
}

/// `recrypt -d` on the twin trees, read by real Puppet: the GPG tree migrated to PKCS7 (with
/// the Ruby-made key pair) answers through Puppet's own `eyaml_lookup_key` exactly as the
/// Ruby-written PKCS7 tree does, and the PKCS7 tree migrated to GPG answers through the
/// module as Puppet answered on the PKCS7 tree. `foreign.yaml` (another key) is not migrated.
#[test]
fn puppet_reads_trees_migrated_both_ways() {
    if !have_puppet() {
        return;
    }
    let env = Env::new();
    let gpg = gpg_tree(&env, "gpg", "bob", "alice");
    let (pkcs7, pkcs7_options) = pkcs7_tree(&env, "pkcs7");
    let private = pkcs7_options["pkcs7_private_key"]
        .as_str()
        .unwrap()
        .to_string();
    let public = pkcs7_options["pkcs7_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (private, public) = (private.as_str(), public.as_str());
    let recrypt = |to: &str, tree: &Path, scheme: &str| {
        let out = env
            .cmd()
            .args(keyring(&["bob.sec.asc"]))
            .args(["--pkcs7-private-key", private, "--pkcs7-public-key", public])
            .args(["--gpg-recipients", "bob@example.com", "--gpg-always-trust"])
            .args(["recrypt", "-d", to, "--extension", "yaml"])
            .arg(tree.join("common.yaml"))
            .arg(tree.join("nodes"))
            .output()
            .unwrap();
        ok(&out);
        for rel in ["common.yaml", "nodes/web1.yaml"] {
            let text = std::fs::read_to_string(tree.join(rel)).unwrap();
            assert!(!text.contains(&format!("ENC[{scheme},")), "{rel}: {text}");
        }
    };
    let to_pkcs7 = env.join("to-pkcs7");
    copy_dir(&gpg, &to_pkcs7);
    recrypt("pkcs7", &to_pkcs7, "GPG");
    std::fs::copy(pkcs7.join("foreign.yaml"), to_pkcs7.join("foreign.yaml")).unwrap();
    let to_gpg = env.join("to-gpg");
    copy_dir(&pkcs7, &to_gpg);
    recrypt("gpg", &to_gpg, "PKCS7");
    std::fs::copy(gpg.join("foreign.yaml"), to_gpg.join("foreign.yaml")).unwrap();

    let envs = [
        environment(
            &env,
            "p7",
            &pkcs7,
            &TWIN_PATHS,
            "eyaml_lookup_key",
            pkcs7_options.clone(),
        ),
        environment(
            &env,
            "mig7",
            &to_pkcs7,
            &TWIN_PATHS,
            "eyaml_lookup_key",
            pkcs7_options,
        ),
        environment(
            &env,
            "miggpg",
            &to_gpg,
            &TWIN_PATHS,
            "eyaml_gpg::lookup_key",
            json!({"gpg_keyring": key("bob.sec.asc")}),
        ),
    ];
    let steps = twin_lookups();
    let sessions: Vec<Value> = envs
        .iter()
        .map(|e| json!({"envdir": e, "steps": steps}))
        .collect();
    let results = pal(&env, Value::Array(sessions));
    let theirs = &results[0];
    assert_eq!(theirs[8]["value"], "Grüße aus Köln — パスワード 🔑");
    assert_eq!(outcome(&results[1][0]), outcome(&theirs[0]));
    let names: Vec<String> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (mode, ours) in ["migrated to PKCS7", "migrated to GPG"]
        .iter()
        .zip(&results[1..])
    {
        for ((name, t), o) in names.iter().zip(theirs).zip(ours) {
            if name.contains("secret::foreign") {
                assert!(
                    t.get("error").is_some() && o.get("error").is_some(),
                    "{mode}: {o}"
                );
                continue;
            }
            assert_eq!(outcome(o), outcome(t), "{mode}: {name}");
        }
    }

    // The reference tree (written by the Ruby GPG plugin) migrated to PKCS7: Puppet's own
    // eyaml_lookup_key answers what Puppet answered with the Ruby GPG plugin. Migrated back to
    // GPG (each file to its recipients file's keys), the module answers the same.
    let data = env.copy_tree(&reference().join("hieradata"), "reference");
    let all_keys = keyring(&ALL_KEYS);
    let run = |to: &str| {
        let out = env
            .cmd()
            .args(&all_keys)
            .args(["--pkcs7-private-key", private, "--pkcs7-public-key", public])
            .args(["recrypt", "-d", to])
            .arg(&data)
            .output()
            .unwrap();
        ok(&out);
    };
    run("pkcs7");
    let p7_env = environment(
        &env,
        "ref7",
        &data,
        &REFERENCE_PATHS,
        "eyaml_lookup_key",
        json!({"pkcs7_private_key": private, "pkcs7_public_key": public}),
    );
    let cases = recorded();
    let keys: Vec<&str> = cases.iter().map(|c| c.0.as_str()).collect();
    let as_pkcs7 = pal(&env, json!([{"envdir": p7_env, "steps": lookups(&keys)}]));
    run("gpg");
    let keyring_paths: Vec<PathBuf> = ALL_KEYS.iter().map(|k| key(k)).collect();
    let gpg_env = environment(
        &env,
        "refgpg",
        &data,
        &REFERENCE_PATHS,
        "eyaml_gpg::lookup_key",
        json!({"gpg_keyring": keyring_paths}),
    );
    let as_gpg = pal(&env, json!([{"envdir": gpg_env, "steps": lookups(&keys)}]));
    for (mode, got) in [
        ("PKCS7, Puppet", &as_pkcs7[0]),
        ("back to GPG, module", &as_gpg[0]),
    ] {
        for ((key, json, want), r) in cases.iter().zip(got) {
            let rendered = if *json { &r["json"] } else { &r["yaml"] };
            let rendered = rendered
                .as_str()
                .unwrap_or_else(|| panic!("{mode} {key}: {r}"));
            assert_eq!(rendered.trim_end(), want.trim_end(), "{mode}: {key}");
        }
    }
}

// ---------------------------------------------------------------- PKCS7, socket activation

/// A PKCS7 key pair made by `createkeys` in `dir` (relative to the env), and a value
/// encrypted to it: `(private, public, ENC[PKCS7,…])`.
fn pkcs7_pair(env: &Env, dir: &str, plaintext: &str) -> (PathBuf, PathBuf, String) {
    let private = env.join(&format!("{dir}/private.pem"));
    let public = env.join(&format!("{dir}/public.pem"));
    let (p, q) = (private.to_str().unwrap(), public.to_str().unwrap());
    ok(&env.run(&[
        "createkeys",
        "-n",
        "pkcs7",
        "--pkcs7-keysize",
        "1024",
        "--pkcs7-private-key",
        p,
        "--pkcs7-public-key",
        q,
    ]));
    let value = stdout(ok(&env.run(&[
        "encrypt",
        "-n",
        "pkcs7",
        "-o",
        "string",
        "--pkcs7-public-key",
        q,
        "-s",
        plaintext,
    ])));
    (private, public, value.trim().to_string())
}

#[test]
fn pkcs7_values_are_served_with_the_keys_of_every_subcommand() {
    let env = Env::new();
    let (private, public, p7) = pkcs7_pair(&env, "p7", "pkcs7 secret");
    let (_, _, foreign) = pkcs7_pair(&env, "other", "not ours");
    let scheme_less = p7.replacen("ENC[PKCS7,", "ENC[", 1);
    let gpg = token_of("development/app1/app1.eyaml", "app1::db_password");
    let (p, q) = (private.to_str().unwrap(), public.to_str().unwrap());
    let flags = [
        "--pkcs7-private-key",
        p,
        "--pkcs7-public-key",
        q,
        "-n",
        "pkcs7",
    ];
    let server = Server::start(&env, &["bob.sec.asc"], &flags);
    let mut c = server.connect();
    let ping = c.send(&json!({"v": 1, "op": "ping"}));
    assert_eq!(ping["pkcs7"]["private_key"], p, "{ping}");
    assert!(
        ping["pkcs7"]["certificate"]
            .as_str()
            .unwrap()
            .contains("serial"),
        "{ping}"
    );
    let r = c.send(&decrypt_req(&[&p7, &scheme_less, &gpg, &foreign]));
    assert_eq!(r["results"][0]["plaintext"], "pkcs7 secret", "{r}");
    assert_eq!(
        r["results"][1]["plaintext"], "pkcs7 secret",
        "-n pkcs7: {r}"
    );
    assert_eq!(r["results"][2]["plaintext"], "dev-db-pass", "{r}");
    let err = &r["results"][3]["error"];
    assert_eq!(err["code"], "no_secret_key", "{r}");
    assert!(err["recipients"][0].as_str().unwrap().contains("serial"));
    assert!(err["available"][0].as_str().unwrap().contains(p));
    assert!(!r.to_string().contains("not ours"));
    drop(c);
    drop(server);

    // Without -n the scheme-less value is GPG (this tool's default), so it fails as GPG.
    let server = Server::start(&env, &[], &flags[..4]);
    let r = server.connect().send(&decrypt_req(&[&scheme_less, &p7]));
    assert_eq!(r["results"][0]["ok"], false, "{r}");
    assert_eq!(r["results"][1]["plaintext"], "pkcs7 secret", "{r}");
    drop(server);

    // --once (the module's binary mode) and --check read the same keys.
    let req = env.write("req.json", decrypt_req(&[&p7]).to_string());
    let mut once = vec!["serve", "--once", req.to_str().unwrap()];
    once.extend(&flags[..4]);
    let reply: Value = serde_json::from_slice(&ok(&env.run(&once)).stdout).unwrap();
    assert_eq!(reply["results"][0]["plaintext"], "pkcs7 secret");
    env.write("tree/good.eyaml", format!("a: {p7}\n"));
    let mut check = vec!["serve", "--check", "tree"];
    check.extend(&flags[..4]);
    ok(&env.run(&check));
    env.write("tree/bad.eyaml", format!("b: x\nc: {foreign}\n"));
    let out = env.run(&check);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("wrong PKCS7 private key"),
        "{}",
        stderr(&out)
    );

    // A configured key that cannot be read stops the start (exit 2), naming the file.
    let missing = env.join("nope/private.pem");
    let out = env.run(&[
        "serve",
        "--socket",
        env.join("run/x.sock").to_str().unwrap(),
        "--pkcs7-private-key",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nope/private.pem"),
        "{}",
        stderr(&out)
    );
    assert!(!env.join("run/x.sock").exists());
}

#[test]
fn socket_activation_serves_the_socket_systemd_passes() {
    if !require(&["systemd-socket-activate"]) {
        return;
    }
    let env = Env::new();
    let run = env.join("run");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = run.join("activated.sock");
    // As the contrib .socket unit does: the service manager owns the listening socket and
    // starts the service (with LISTEN_FDS=1, LISTEN_PID) on the first connection.
    let mut child = env
        .command("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg("--")
        .arg(BIN)
        .args(["serve", "--gpg-keyring"])
        .arg(key("bob.sec.asc"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate");
    // The socket file appears at bind, before listen: wait until it takes a connection (the
    // first one starts the service, which reads it to its end).
    let mut tries = 0;
    while UnixStream::connect(&socket).is_err() {
        tries += 1;
        assert!(tries < 3000, "no socket");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let t = token_of("development/app1/app1.eyaml", "app1::db_password");
    let mut c = Conn::new(&socket);
    let r = c.send(&decrypt_req(&[&t]));
    assert_eq!(r["results"][0]["plaintext"], "dev-db-pass", "{r}");
    let r = Conn::new(&socket).send(&json!({"v": 1, "op": "ping"}));
    assert_eq!(r["ok"], true, "{r}");
    // systemd-socket-activate execs the service in its own process: SIGTERM stops it, and
    // the socket it did not create stays (systemd removes it).
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status}: {err}");
    assert!(
        err.contains("socket passed by the service manager"),
        "{err}"
    );
    assert!(socket.exists(), "serve removed a socket it does not own");

    // Neither --socket nor an inherited socket: a usage error.
    let out = env.run(&[
        "serve",
        "--gpg-keyring",
        key("bob.sec.asc").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--socket is required"),
        "{}",
        stderr(&out)
    );
}
