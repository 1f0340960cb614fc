//! The decryption service behind `eyaml-gpg serve`: newline-delimited JSON requests on a Unix
//! socket (protocol version [`PROTOCOL_VERSION`], documented in the README), answered with the
//! keys loaded once (OpenPGP and PKCS7, see [`Keys`]), a thread per client, peers checked by
//! `SO_PEERCRED`, and the keys swapped in place on reload.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::sys::stat::{umask, Mode};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::crypto::Backend;
use crate::error::{Error, Result};
use crate::eyaml;
use crate::pgp::Keystore;
use crate::pkcs7::{KeySources as Pkcs7KeySources, LazyKeys};
use crate::scheme::{self, KeyMaterial, Scheme};
use crate::token::{self, EncToken, Form, Kinds, Token};

/// The protocol version this service speaks (`"v"` in requests and replies).
pub const PROTOCOL_VERSION: u64 = 1;

/// The keys a service holds: the OpenPGP key store for `GPG` values and the PKCS7 key pair
/// for `PKCS7` values, from the same sources as every subcommand.
pub struct Keys {
    /// The OpenPGP keys.
    pub gpg: Keystore,
    /// The PKCS7 keys.
    pub pkcs7: LazyKeys,
}

impl Keys {
    /// The service's keys, all read now (on start and on reload, never per request). A
    /// configured PKCS7 private key (a path or an environment variable) must be readable, as
    /// a GPG key file must; with none configured, eyaml's default path is tried and, when
    /// absent, a PKCS7 value gets that error (a GPG-only service needs no PKCS7 key).
    pub fn load(gpg: Keystore, pkcs7: Pkcs7KeySources) -> Result<Keys> {
        let configured = pkcs7 != Pkcs7KeySources::default();
        let pkcs7 = LazyKeys::new(pkcs7);
        match pkcs7.private_key() {
            Err(e) if configured => return Err(e),
            _ => {}
        }
        // Only `ping` reads the certificate; a missing one is not an error.
        let _ = pkcs7.public_key();
        Ok(Keys { gpg, pkcs7 })
    }

    /// The keys, as a line for the log (no secret in it).
    pub fn summary(&self) -> String {
        let gpg = self.gpg.secret_key_descriptions();
        let pkcs7 = match pkcs7_report(&self.pkcs7) {
            Some(r) => format!("; PKCS7 private key {}", r.private_key),
            None => String::new(),
        };
        format!("{} secret key(s): {}{pkcs7}", gpg.len(), gpg.join(", "))
    }
}

impl KeyMaterial for Keys {
    fn gpg(&self) -> &dyn Backend {
        &self.gpg
    }

    fn pkcs7(&self) -> Result<&LazyKeys> {
        Ok(&self.pkcs7)
    }
}

/// The PKCS7 key a service holds, as `ping` reports it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Pkcs7Report {
    /// Where the private key was read from (a path or an environment variable).
    pub private_key: String,
    /// The certificate's issuer and serial number (what PKCS7 values name as recipient), when
    /// the public key is readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The PKCS7 key of `keys`, if it could be read.
pub fn pkcs7_report(keys: &LazyKeys) -> Option<Pkcs7Report> {
    let private = keys.private_key().ok()?;
    Some(Pkcs7Report {
        private_key: private.source().to_string(),
        certificate: keys.public_key().ok().map(|p| p.id().to_string()),
    })
}

/// Limits and access rules of a running service.
#[derive(Clone, Debug)]
pub struct Options {
    /// Largest request line, in bytes (the newline excluded).
    pub max_request: usize,
    /// Largest reply line, in bytes; a bigger reply is replaced by a `reply_too_large` error.
    pub max_reply: usize,
    /// Most clients connected at once; more are answered `busy` and closed.
    pub max_clients: usize,
    /// Peer user ids allowed to connect.
    pub allow_uids: Vec<u32>,
    /// Peer (primary) group ids allowed to connect.
    pub allow_gids: Vec<u32>,
    /// The method of scheme-less `ENC[…]` values.
    pub method: Scheme,
}

/// An error reply: a stable `code` for programs, a `message` for people, and for a value
/// that no held key can decrypt, the keys it is encrypted to and the keys the service holds.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// `malformed`, `unsupported_version`, `unknown_op`, `request_too_large`,
    /// `reply_too_large`, `forbidden`, `busy`, `keys` (`--once` could not load its keys),
    /// `not_a_token`, `no_secret_key`, `decrypt_failed`.
    pub code: &'static str,
    /// What went wrong (never a plaintext).
    pub message: String,
    /// Keys the value is encrypted to (for `no_secret_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipients: Option<Vec<String>>,
    /// Secret keys the service holds (for `no_secret_key`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<Vec<String>>,
}

impl ErrorReply {
    /// An error with a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ErrorReply {
            code,
            message: message.into(),
            recipients: None,
            available: None,
        }
    }

    fn from_error(e: &Error) -> Self {
        match e.root() {
            Error::NoSecretKey {
                recipients,
                available,
            } => ErrorReply {
                code: "no_secret_key",
                message: e.to_string(),
                recipients: Some(recipients.clone()),
                available: Some(available.clone()),
            },
            Error::Pkcs7WrongKey { key, recipients } => ErrorReply {
                code: "no_secret_key",
                message: e.to_string(),
                recipients: Some(recipients.split("; ").map(str::to_string).collect()),
                available: Some(vec![format!("PKCS7 private key {key}")]),
            },
            _ => ErrorReply::new("decrypt_failed", e.to_string()),
        }
    }
}

/// A secret key the service holds, as `ping` lists it.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    /// The key id of the decryption (sub)key.
    pub key_id: String,
    /// The fingerprint of its certificate, when the certificate is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The certificate's primary user id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The secret keys of a store, as `ping` reports them.
pub fn key_report(keys: &Keystore) -> Vec<KeyReport> {
    keys.secret_key_ids()
        .into_iter()
        .map(|id| {
            let info = keys.describe(&id);
            KeyReport {
                key_id: id.to_string(),
                fingerprint: info.as_ref().map(|i| i.fingerprint.clone()),
                user_id: info.and_then(|i| i.user_id),
            }
        })
        .collect()
}

#[derive(Serialize)]
struct PingReply<'a> {
    v: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    ok: bool,
    version: &'static str,
    keys: Vec<KeyReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pkcs7: Option<Pkcs7Report>,
}

#[derive(Serialize)]
struct DecryptReply<'a> {
    v: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    ok: bool,
    results: Vec<ValueResult<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ValueResult<'a> {
    Plain { ok: bool, plaintext: &'a str },
    Failed { ok: bool, error: ErrorReply },
}

#[derive(Serialize)]
struct FailReply<'a> {
    v: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    ok: bool,
    error: ErrorReply,
}

/// A serialised reply line (with its newline); zeroed when dropped, since it may hold
/// plaintexts.
pub type ReplyLine = Zeroizing<Vec<u8>>;

fn line<T: Serialize>(value: &T) -> ReplyLine {
    let mut out = Zeroizing::new(Vec::with_capacity(256));
    serde_json::to_writer(&mut *out, value).expect("replies serialise");
    out.push(b'\n');
    out
}

/// An error reply line for a request that could not be answered at all.
pub fn error_line(id: Option<&Value>, error: ErrorReply) -> ReplyLine {
    line(&FailReply {
        v: PROTOCOL_VERSION,
        id,
        ok: false,
        error,
    })
}

/// Parses one value sent for decryption: exactly one `ENC[SCHEME,payload]` token, the
/// payload's whitespace ignored (block values arrive with their line breaks).
pub fn parse_token(value: &str) -> Option<EncToken> {
    let text = value.trim();
    if let [t] = token::scan(text, Kinds::ENC).as_slice() {
        if let Token::Enc(e) = &t.token {
            if e.raw == text {
                return Some(e.clone());
            }
        }
    }
    // The scanner takes whitespace only in block payloads that follow `>`; accept the bare
    // token with a wrapped or folded payload too (YAML folds a `>` block's lines with spaces).
    let inner = text.strip_prefix("ENC[")?.strip_suffix(']')?;
    let (scheme, payload) = match inner.split_once(',') {
        Some((s, p)) if s.chars().all(|c| c.is_alphanumeric() || c == '_') => {
            (Some(s.to_string()), p)
        }
        _ => (None, inner),
    };
    let ok = !payload.is_empty()
        && payload
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c) || c.is_whitespace());
    ok.then(|| EncToken {
        scheme,
        payload: payload.to_string(),
        form: Form::String,
        raw: text.to_string(),
    })
}

/// Answers one request line with the keys at hand. Never fails: a bad request gets an error
/// reply. A reply larger than `max_reply` becomes a `reply_too_large` error.
pub fn handle_request(keys: &Keys, request: &[u8], method: Scheme, max_reply: usize) -> ReplyLine {
    let parsed: Value = match serde_json::from_slice(request) {
        Ok(v) => v,
        Err(e) => return error_line(None, ErrorReply::new("malformed", format!("not JSON: {e}"))),
    };
    let Some(obj) = parsed.as_object() else {
        return error_line(
            None,
            ErrorReply::new("malformed", "a request is a JSON object"),
        );
    };
    let id = obj.get("id");
    match obj.get("v").and_then(Value::as_u64) {
        Some(PROTOCOL_VERSION) => {}
        Some(v) => {
            return error_line(
                id,
                ErrorReply::new(
                    "unsupported_version",
                    format!("protocol version {v} is not supported (this service speaks {PROTOCOL_VERSION})"),
                ),
            )
        }
        None => {
            return error_line(
                id,
                ErrorReply::new("malformed", "missing protocol version \"v\""),
            )
        }
    }
    let reply = match obj.get("op").and_then(Value::as_str) {
        Some("ping") => line(&PingReply {
            v: PROTOCOL_VERSION,
            id,
            ok: true,
            version: env!("CARGO_PKG_VERSION"),
            keys: key_report(&keys.gpg),
            pkcs7: pkcs7_report(&keys.pkcs7),
        }),
        Some("decrypt") => {
            let Some(values) = obj.get("values").and_then(Value::as_array) else {
                return error_line(
                    id,
                    ErrorReply::new("malformed", "decrypt needs \"values\", an array of strings"),
                );
            };
            let Some(values) = values.iter().map(Value::as_str).collect::<Option<Vec<_>>>() else {
                return error_line(
                    id,
                    ErrorReply::new("malformed", "every entry of \"values\" must be a string"),
                );
            };
            decrypt_reply(keys, id, &values, method)
        }
        Some(op) => {
            return error_line(
                id,
                ErrorReply::new("unknown_op", format!("unknown op {op:?} (ping, decrypt)")),
            )
        }
        None => return error_line(id, ErrorReply::new("malformed", "missing \"op\"")),
    };
    if reply.len() > max_reply {
        return error_line(
            id,
            ErrorReply::new(
                "reply_too_large",
                format!(
                    "the reply would be {} bytes, more than the limit of {max_reply}; send fewer values per request",
                    reply.len()
                ),
            ),
        );
    }
    reply
}

fn decrypt_reply(keys: &Keys, id: Option<&Value>, values: &[&str], method: Scheme) -> ReplyLine {
    let decrypted: Vec<std::result::Result<Zeroizing<String>, ErrorReply>> = values
        .par_iter()
        .map(|v| {
            let Some(tok) = parse_token(v) else {
                return Err(ErrorReply::new(
                    "not_a_token",
                    "not an ENC[…] value (one ENC[SCHEME,base64] token expected)",
                ));
            };
            let plain =
                scheme::decrypt(keys, &tok, method).map_err(|e| ErrorReply::from_error(&e))?;
            let text = String::from_utf8(plain.to_vec())
                .map_err(|_| ErrorReply::from_error(&Error::PlaintextNotUtf8))?;
            Ok(Zeroizing::new(text))
        })
        .collect();
    let results = decrypted
        .iter()
        .map(|r| match r {
            Ok(p) => ValueResult::Plain {
                ok: true,
                plaintext: p.as_str(),
            },
            Err(e) => ValueResult::Failed {
                ok: false,
                error: e.clone(),
            },
        })
        .collect();
    line(&DecryptReply {
        v: PROTOCOL_VERSION,
        id,
        ok: true,
        results,
    })
}

/// The socket file a service creates: refuses a world-writable directory, replaces a stale
/// socket left by a crashed service, refuses a live one or any other file, and binds with
/// `mode` from the start (no window with looser permissions).
pub fn bind(path: &Path, mode: u32) -> Result<UnixListener> {
    let err = |message: String| Error::Socket {
        path: path.to_path_buf(),
        message,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let meta = std::fs::metadata(&dir).map_err(|e| Error::io(&dir, e))?;
    if meta.permissions().mode() & 0o002 != 0 {
        return Err(err(format!(
            "the directory {} is world-writable; put the socket in a directory only the service can write (e.g. /run/eyaml-gpg)",
            dir.display()
        )));
    }
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(err("exists and is not a socket; not replacing it".into()));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(err("another service is listening on this socket".into()));
        }
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
    }
    let old = umask(Mode::from_bits_truncate(!mode & 0o777));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound.map_err(|e| Error::io(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(path, e))?;
    Ok(listener)
}

/// How the owner of a running service asks it to reload or stop: set a flag, then write a
/// byte to the other end of `wake`.
pub struct Control {
    /// Reload the keys.
    pub reload: Arc<AtomicBool>,
    /// Stop serving.
    pub stop: Arc<AtomicBool>,
    /// Readable when a flag was set.
    pub wake: UnixStream,
}

/// Where the service reports what it does (never a plaintext).
pub type Log = dyn Fn(&str) + Send + Sync;

struct Shared {
    keys: RwLock<Arc<Keys>>,
    options: Options,
    clients: AtomicUsize,
    streams: Mutex<HashMap<u64, UnixStream>>,
    /// Set before the streams are shut down at stop: a client registering its stream after
    /// that sees it under the same lock and leaves, instead of reading forever.
    stopping: AtomicBool,
    log: Box<Log>,
}

/// Serves `listener` until [`Control::stop`] is set. Each client gets a thread; the keys
/// from `reload` replace the current ones when [`Control::reload`] is set (a failed reload
/// keeps the old keys). On stop, clients finish the request in hand and are disconnected.
pub fn run<F, E>(
    listener: &UnixListener,
    keys: Keys,
    reload: F,
    options: Options,
    control: &Control,
    log: Box<Log>,
) -> Result<()>
where
    F: Fn() -> std::result::Result<Keys, E>,
    E: std::fmt::Display,
{
    let shared = Arc::new(Shared {
        keys: RwLock::new(Arc::new(keys)),
        options,
        clients: AtomicUsize::new(0),
        streams: Mutex::new(HashMap::new()),
        stopping: AtomicBool::new(false),
        log,
    });
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("<socket>", e))?;
    control
        .wake
        .set_nonblocking(true)
        .map_err(|e| Error::io("<wake>", e))?;
    let mut threads = Vec::new();
    let mut next_id: u64 = 0;
    loop {
        let (listen_ready, wake_ready) = {
            let mut fds = [
                PollFd::new(listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(control.wake.as_fd(), PollFlags::POLLIN),
            ];
            match nix::poll::poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::io("<socket>", e.into())),
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if wake_ready {
            let mut buf = [0u8; 64];
            while matches!((&control.wake).read(&mut buf), Ok(n) if n > 0) {}
        }
        if control.stop.swap(false, Ordering::SeqCst) {
            break;
        }
        if control.reload.swap(false, Ordering::SeqCst) {
            match reload() {
                Ok(k) => {
                    let summary = k.summary();
                    *shared.keys.write().expect("keys lock") = Arc::new(k);
                    (shared.log)(&format!("keys reloaded: {summary}"));
                }
                Err(e) => (shared.log)(&format!("reload failed, keeping the old keys: {e}")),
            }
        }
        if !listen_ready {
            continue;
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                (shared.log)(&format!("accept failed: {e}"));
                continue;
            }
        };
        threads.retain(|t: &std::thread::JoinHandle<()>| !t.is_finished());
        next_id += 1;
        let conn = next_id;
        let shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("client-{conn}"))
            .spawn(move || client(stream, conn, &shared));
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => eprintln!("cannot start a client thread: {e}"),
        }
    }
    {
        let mut streams = shared.streams.lock().expect("streams lock");
        shared.stopping.store(true, Ordering::SeqCst);
        for (_, s) in streams.drain() {
            let _ = s.shutdown(std::net::Shutdown::Read);
        }
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Whether a peer may talk to the service.
pub fn peer_allowed(options: &Options, uid: u32, gid: u32) -> bool {
    options.allow_uids.contains(&uid) || options.allow_gids.contains(&gid)
}

fn client(mut stream: UnixStream, conn: u64, shared: &Shared) {
    let _ = stream.set_nonblocking(false);
    let cred = match getsockopt(&stream, PeerCredentials) {
        Ok(c) => c,
        Err(e) => {
            (shared.log)(&format!("client {conn}: cannot read peer credentials: {e}"));
            return;
        }
    };
    if !peer_allowed(&shared.options, cred.uid(), cred.gid()) {
        (shared.log)(&format!(
            "refused client {conn}: uid {} gid {} pid {} is not allowed (--allow-uid, --allow-group)",
            cred.uid(),
            cred.gid(),
            cred.pid()
        ));
        let _ = stream.write_all(&error_line(
            None,
            ErrorReply::new(
                "forbidden",
                format!("uid {} may not use this service", cred.uid()),
            ),
        ));
        return;
    }
    let clients = shared.clients.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = Guard(&shared.clients);
    if clients > shared.options.max_clients {
        (shared.log)(&format!(
            "refused client {conn}: {} clients already connected (--max-clients)",
            shared.options.max_clients
        ));
        let _ = stream.write_all(&error_line(
            None,
            ErrorReply::new("busy", "too many clients; try again"),
        ));
        return;
    }
    if let Ok(s) = stream.try_clone() {
        let mut streams = shared.streams.lock().expect("streams lock");
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        streams.insert(conn, s);
    }
    serve_client(&stream, shared);
    shared.streams.lock().expect("streams lock").remove(&conn);
}

struct Guard<'a>(&'a AtomicUsize);

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_client(stream: &UnixStream, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let max = shared.options.max_request;
    loop {
        let mut buf = Vec::new();
        match (&mut reader)
            .take(max as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let complete = buf.last() == Some(&b'\n');
        if complete {
            buf.pop();
        }
        if buf.len() > max {
            // The rest of the line cannot be told from the next request: answer and hang up.
            let _ = writer.write_all(&error_line(
                None,
                ErrorReply::new(
                    "request_too_large",
                    format!("requests are limited to {max} bytes"),
                ),
            ));
            return;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            if complete {
                continue;
            }
            return;
        }
        let keys = Arc::clone(&shared.keys.read().expect("keys lock"));
        let reply = handle_request(&keys, &buf, shared.options.method, shared.options.max_reply);
        if writer.write_all(&reply).is_err() || !complete {
            return;
        }
    }
}

/// One value `check_tree` could not decrypt.
#[derive(Debug)]
pub struct Unreadable {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the value.
    pub line: usize,
    /// Why (never a plaintext).
    pub error: Error,
}

/// What `check_tree` found.
#[derive(Debug, Default)]
pub struct TreeReport {
    /// Files read.
    pub files: usize,
    /// Values decrypted.
    pub decrypted: usize,
    /// Values or files that failed.
    pub failures: Vec<Unreadable>,
}

/// Decrypts every `ENC[…]` value of every `*.eyaml` and `*.yaml` file under `dirs` (hidden
/// entries skipped) once, discarding the plaintexts: proof that the keys at hand can read a
/// tree, before a key rotation goes live.
pub fn check_tree(keys: &dyn KeyMaterial, dirs: &[PathBuf], method: Scheme) -> TreeReport {
    let mut report = TreeReport::default();
    for dir in dirs {
        let walk = walkdir::WalkDir::new(dir)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().unwrap_or(dir).to_path_buf();
                    report.failures.push(Unreadable {
                        error: Error::io(&path, e.into()),
                        path,
                        line: 0,
                    });
                    continue;
                }
            };
            let path = entry.path();
            let wanted = path
                .extension()
                .is_some_and(|x| x == "eyaml" || x == "yaml");
            if !entry.file_type().is_file() || !wanted {
                continue;
            }
            report.files += 1;
            let text = match crate::fsutil::read_text(path) {
                Ok(t) => t,
                Err(error) => {
                    report.failures.push(Unreadable {
                        path: path.to_path_buf(),
                        line: 0,
                        error,
                    });
                    continue;
                }
            };
            let tokens = token::scan(&text, Kinds::ENC);
            for (i, result) in eyaml::decrypt_all(keys, &tokens, method, path) {
                match result {
                    Ok(_) => report.decrypted += 1,
                    Err(error) => report.failures.push(Unreadable {
                        path: path.to_path_buf(),
                        line: tokens[i].line,
                        error,
                    }),
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(uids: &[u32], gids: &[u32]) -> Options {
        Options {
            max_request: 1024,
            max_reply: 1024,
            max_clients: 4,
            allow_uids: uids.to_vec(),
            allow_gids: gids.to_vec(),
            method: Scheme::Gpg,
        }
    }

    #[test]
    fn peers_are_allowed_by_uid_or_primary_group() {
        assert!(peer_allowed(&opts(&[1000], &[]), 1000, 5));
        assert!(peer_allowed(&opts(&[1000], &[52]), 33, 52));
        assert!(!peer_allowed(&opts(&[1000], &[52]), 33, 5));
        assert!(!peer_allowed(&opts(&[], &[]), 0, 0));
    }

    #[test]
    fn tokens_parse_in_string_and_wrapped_form() {
        let t = parse_token("ENC[GPG,aGVsbG8=]").unwrap();
        assert_eq!(t.scheme.as_deref(), Some("GPG"));
        assert_eq!(t.base64(), "aGVsbG8=");
        let t = parse_token("ENC[GPG,aGVs\n    bG8=]\n").unwrap();
        assert_eq!(t.base64(), "aGVsbG8=");
        let t = parse_token("ENC[GPG,aGVs bG8=]\n").unwrap();
        assert_eq!(t.base64(), "aGVsbG8=");
        let t = parse_token("ENC[aGVsbG8=]").unwrap();
        assert_eq!(t.scheme, None);
        for bad in [
            "",
            "hello",
            "ENC[GPG,]",
            "x ENC[GPG,aGVsbG8=]",
            "ENC[GPG,a!b]",
        ] {
            assert!(parse_token(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn bad_requests_get_error_replies() {
        let keys = Keys {
            gpg: Keystore::new(),
            pkcs7: LazyKeys::default(),
        };
        let m = Scheme::Gpg;
        let code = |req: &str| {
            let r = handle_request(&keys, req.as_bytes(), m, 1 << 20);
            let v: Value = serde_json::from_slice(&r).unwrap();
            assert_eq!(v["ok"], false, "{v}");
            v["error"]["code"].as_str().unwrap().to_string()
        };
        assert_eq!(code("{"), "malformed");
        assert_eq!(code("[1]"), "malformed");
        assert_eq!(code(r#"{"op":"ping"}"#), "malformed");
        assert_eq!(code(r#"{"v":2,"op":"ping"}"#), "unsupported_version");
        assert_eq!(code(r#"{"v":1,"op":"dance"}"#), "unknown_op");
        assert_eq!(code(r#"{"v":1,"op":"decrypt"}"#), "malformed");
        assert_eq!(code(r#"{"v":1,"op":"decrypt","values":[1]}"#), "malformed");
    }
}
