//! Entry points for the fuzz targets in `fuzz/` (one function per target) and, under
//! `cargo test`, the replay of their saved corpus and crash inputs as ordinary tests.
//!
//! Compiled only with the `fuzzing` feature (off by default) or in the library's own tests:
//! nothing here is public API. Each function takes arbitrary bytes, runs them through the
//! crate-internal code a real input reaches, and asserts properties of the result (a panic is
//! a finding), not just the absence of a crash.

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::crypto::KeyOrigin;
use crate::gnupg::agent::sexp::{self, Sexp};
use crate::gnupg::assuan;
use crate::gnupg::keybox;
use crate::pgp::Keystore;
use crate::scheme::Scheme;
use crate::token::{self, EncToken, Form, Kinds, Token};
use crate::{recipients, yaml};

/// One fuzz target: it takes any bytes and panics on a finding.
pub type Target = fn(&[u8]);

/// The fuzz targets, by the name of their directory under `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("scan", scan),
    ("recipients", recipients),
    ("config", config),
    ("yaml", yaml),
    ("keybox", keybox),
    ("assuan", assuan),
    ("decrypt", decrypt),
];

/// The plaintext limit of the decryption target: small, so that a compression bomb the fuzzer
/// builds costs milliseconds, yet above every plaintext of the seed corpus.
const FUZZ_MAX_VALUE_SIZE: usize = 1 << 20;

/// The token scanner, on every token kind: scanning then rendering gives back the input byte
/// for byte, tokens tile the text at the offsets, lines and columns they claim, and every
/// token renders back from its parts exactly as written.
pub fn scan(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for kinds in [Kinds::ENC, Kinds::DEC, Kinds::BOTH] {
        let tokens = token::scan(&text, kinds);
        let mut lines = token::LineCounter::new(&text);
        let mut at = 0;
        let mut plain_before = false;
        for t in &tokens {
            assert_eq!(t.offset, at, "tokens must tile the text");
            let line = 1 + text[..at].matches('\n').count();
            assert_eq!((t.line, t.column), lines.at(at));
            assert_eq!(t.line, line);
            let raw = t.token.raw();
            assert!(!raw.is_empty(), "empty token at {at}");
            at += raw.len();
            match &t.token {
                Token::Plain(p) => {
                    assert!(!plain_before, "two plain chunks in a row at {}", t.offset);
                    plain_before = true;
                    assert!(
                        token::leftover_dec(p).iter().all(|(i, _)| *i < p.len()),
                        "leftover marker outside its chunk"
                    );
                }
                Token::Enc(e) => {
                    plain_before = false;
                    assert!(kinds.enc);
                    let tag = e.scheme.as_deref().map(|s| format!("{s},"));
                    let inner = format!("ENC[{}{}]", tag.unwrap_or_default(), e.payload);
                    match &e.form {
                        Form::String => assert_eq!(raw, inner),
                        Form::Block { indentation } => {
                            assert_eq!(raw, format!(">\n{indentation}{inner}"))
                        }
                    }
                    assert!(e.base64().bytes().all(|b| !b.is_ascii_whitespace()));
                }
                Token::Dec(d) => {
                    plain_before = false;
                    assert!(kinds.dec);
                    assert_eq!(
                        raw,
                        token::render_dec(&d.scheme, d.id, &d.plaintext, &d.form),
                        "a DEC token must render back as written"
                    );
                }
            }
        }
        assert_eq!(at, text.len(), "tokens must cover the whole text");
        let rendered: String = tokens.iter().map(|t| t.token.raw()).collect();
        assert_eq!(rendered, text, "scan then render must be the identity");
        let path = Path::new("fuzz.eyaml");
        let _ = crate::eyaml::check_truncation(&tokens, path);
        let _ = crate::eyaml::check_leftover_markers(&tokens, path);
    }
    for (start, end) in token::dec_openings(&text) {
        assert!(start <= end && end <= text.len());
    }
    for (_, range) in token::spaced_encs(&text) {
        assert!(range.start <= range.end && range.end <= text.len());
    }
    if token::backend_is_encrypted(&text) {
        let _ = token::backend_pieces(&text);
    }
}

/// The recipients file parser: every recipient is the trimmed, comment-free text at the span
/// it claims, inside its line, in line order; [`recipients::parse`] agrees.
pub fn recipients(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines = recipients::parse_lines(&text);
    let mut last = 0;
    for l in &lines {
        assert!(l.number > last, "line numbers must increase");
        last = l.number;
        assert!(l.span.start <= l.recipient_span.start && l.recipient_span.end <= l.span.end);
        assert_eq!(text[l.recipient_span.clone()], l.recipient);
        assert!(!l.recipient.is_empty());
        assert_eq!(l.recipient.trim(), l.recipient);
        assert!(!l.recipient.starts_with('#'));
        assert!(!l.recipient.contains('\n'));
        let _ = recipients::classify(&l.recipient).naming();
    }
    let names: Vec<String> = lines.into_iter().map(|l| l.recipient).collect();
    assert_eq!(recipients::parse(&text), names);
}

/// The config loaders: `check`'s `.eyaml-check.yaml` (library) and the eyaml config file
/// parse (`serde-saphyr` into JSON values, as the binary's `common/config.rs` reads it). An
/// error names the file.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let name = Path::new("fuzz-config.yaml");
    if let Err(e) = crate::check::Config::from_yaml(text, name) {
        assert!(e.to_string().contains("fuzz-config.yaml"), "{e}");
    }
    let _ = serde_saphyr::from_str::<serde_json::Value>(text);
}

/// The YAML loader into our [`crate::Value`]: loading agrees with validation, errors point into the text, scalar spans lie on character boundaries of the
/// text, and every scalar found can be located.
pub fn yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = yaml::load(text);
    assert_eq!(yaml::validate(text).is_ok(), loaded.is_ok());
    match &loaded {
        Ok(value) => {
            let _ = value.to_json();
            let _ = yaml::to_string(value);
        }
        Err(e) => {
            // YAML breaks lines at LF, CR LF and a lone CR.
            let lines = 1 + text.replace("\r\n", "\n").matches(['\n', '\r']).count();
            assert!(e.line >= 1 && e.line <= lines + 1, "{e} in {lines} lines");
        }
    }
    if let Ok(scalars) = yaml::scalar_paths(text) {
        for s in scalars.iter().take(64) {
            assert!(s.range.start <= s.range.end && s.range.end <= text.len());
            assert!(text.is_char_boundary(s.range.start) && text.is_char_boundary(s.range.end));
            let path: Vec<&str> = s.path.iter().map(String::as_str).collect();
            let _ = yaml::locate(text, &path);
        }
    }
}

/// The keybox reader: keyblocks are slices of the input, in order and not overlapping, and
/// each loads as OpenPGP data or fails cleanly.
pub fn keybox(data: &[u8]) {
    let path = Path::new("pubring.kbx");
    match keybox::keyblocks(data, path) {
        Ok(blocks) => {
            let base = data.as_ptr() as usize;
            let mut last_end = 0;
            for b in &blocks {
                let start = b.as_ptr() as usize - base;
                assert!(start >= last_end && start + b.len() <= data.len());
                last_end = start + b.len();
                let mut store = Keystore::new();
                let _ = store.load_bytes(b, KeyOrigin::Keyring(path.to_path_buf()));
            }
        }
        Err(e) => assert!(e.to_string().contains("pubring.kbx"), "{e}"),
    }
}

/// The Assuan client and the S-expression parser. The input is what a gpg-agent sends, from
/// the greeting on, to a client that asks for a decryption and answers the inquiry; the reply
/// data stays within its cap. The same bytes are parsed as a canonical S-expression, which
/// must print back as the bytes it consumed.
pub fn assuan(data: &[u8]) {
    sexp_round_trip(data);
    let Ok((client, mut server)) = UnixStream::pair() else {
        return;
    };
    // The socket buffer holds the whole input: fuzz inputs are far smaller.
    let data = &data[..data.len().min(64 << 10)];
    if server.write_all(data).is_err() || server.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let socket = Path::new("/fuzz/S.gpg-agent");
    let Ok(mut conn) = assuan::Connection::over(client, socket, Duration::from_secs(5)) else {
        return;
    };
    let mut inquire = |_: &str| Some(Zeroizing::new(b"(7:enc-val(4:ecdh(1:s1:x)))".to_vec()));
    for command in ["SETKEY 0123456789ABCDEF", "PKDECRYPT", "EXPORT_KEY"] {
        match conn.transact(command, &mut inquire) {
            Ok(r) => {
                assert!(r.data.len() <= assuan::MAX_REPLY_DATA);
                sexp_round_trip(&r.data);
            }
            Err(assuan::Failure::Protocol(m)) => assert!(!m.contains('\n') || m.len() < 4096),
            Err(_) => return,
        }
    }
    let mut escaped = Vec::new();
    assuan::escape_into(data, &mut escaped);
    assert!(!escaped.contains(&b'\n') && !escaped.contains(&b'\r'));
    let mut back = Vec::new();
    assuan::unescape_into(&escaped, &mut back);
    assert_eq!(back, data, "escaping must round-trip");
}

fn sexp_round_trip(data: &[u8]) {
    let Some(s) = sexp::parse(data) else {
        return;
    };
    let mut printed = Vec::new();
    canonical(&s, &mut printed);
    assert!(
        data.starts_with(&printed),
        "an S-expression must print back as read"
    );
    let _ = s.value("value");
    let _ = s.list().and_then(|l| l.get(1)).map(|p| p.value("d"));
}

fn canonical(s: &Sexp, out: &mut Vec<u8>) {
    match s {
        Sexp::Atom(a) => {
            out.extend_from_slice(format!("{}:", a.len()).as_bytes());
            out.extend_from_slice(a);
        }
        Sexp::List(items) => {
            out.push(b'(');
            for i in items {
                canonical(i, out);
            }
            out.push(b')');
        }
    }
}

/// Value decryption through the library, with fixed test keys (the reference keys alice,
/// RSA-3072, and bob, cv25519): the input is a binary OpenPGP message in an `ENC[GPG,…]`
/// value. A plaintext never exceeds the limit, and what decrypts also passes the keyless
/// structure check that `check` runs.
pub fn decrypt(data: &[u8]) {
    static KEYS: OnceLock<Keystore> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let mut keys = Keystore::new();
        keys.set_max_value_size(FUZZ_MAX_VALUE_SIZE);
        for key in [
            &include_bytes!("../fixtures/reference/keys/alice.sec.asc")[..],
            &include_bytes!("../fixtures/reference/keys/bob.sec.asc")[..],
        ] {
            keys.load_bytes(key, KeyOrigin::Keyring("test key".into()))
                .expect("the reference test keys load");
        }
        keys
    });
    let payload = base64::engine::general_purpose::STANDARD.encode(data);
    let enc = EncToken {
        scheme: Some(token::GPG_TAG.into()),
        raw: token::render_enc(token::GPG_TAG, &payload, &Form::String),
        payload,
        form: Form::String,
    };
    if let Ok(plain) = crate::scheme::decrypt(keys, &enc, Scheme::Gpg) {
        assert!(plain.len() <= FUZZ_MAX_VALUE_SIZE);
        if let Err(e) = crate::pgp::inspect(data) {
            panic!("decrypts, but the structure check refuses it: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Runs every saved input of every target (the minimized corpus and the inputs of past
    /// findings) through the function the target calls.
    #[test]
    fn replay_fuzz_corpus_and_regressions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut total = 0;
        for (name, run) in TARGETS {
            let mut files: Vec<PathBuf> = Vec::new();
            for dir in ["corpus", "regressions"] {
                let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                files.extend(entries.map(|e| e.unwrap().path()));
            }
            files.sort();
            assert!(!files.is_empty(), "no saved inputs for fuzz target {name}");
            for f in &files {
                let data = std::fs::read(f).unwrap();
                let outcome = std::panic::catch_unwind(|| run(&data));
                assert!(
                    outcome.is_ok(),
                    "fuzz target {name} fails on {}",
                    f.display()
                );
            }
            total += files.len();
        }
        assert!(
            total < 2000,
            "keep the committed corpus small ({total} files)"
        );
    }
}
