//! `eyaml-gpg lookup` and the lookup library against what Puppet returned for the reference
//! tree (`fixtures/reference/puppet-lookup.md`), plus laziness, caching and merges.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::harness::{key, keyring, reference, stderr, stdout, Env, SECRET_KEYS};
use eyaml_gpg::eyaml::{EncToken, Form};
use eyaml_gpg::hiera::{Hierarchy, Merge};
use eyaml_gpg::lookup::{Decryptor, Document, Loader, Lookup};
use eyaml_gpg::scheme::Scheme;
use eyaml_gpg::scheme::{Backend, Plaintext};
use eyaml_gpg::value::Value;
use eyaml_gpg::Keystore;

/// The hierarchy Puppet was configured with, in order.
const HIERARCHY: [&str; 5] = [
    "hieradata/production/dc1/base.eyaml",
    "hieradata/production/role.eyaml",
    "hieradata/development/app1/app1.eyaml",
    "hieradata/development/app2/app2.eyaml",
    "hieradata/production/plain-only.eyaml",
];

/// One `## \`puppet lookup KEY [--render-as json]\`` section: the key, whether Puppet
/// rendered JSON, and the text Puppet printed.
struct Case {
    key: String,
    json: bool,
    printed: String,
}

fn puppet_cases() -> Vec<Case> {
    let md = std::fs::read_to_string(reference().join("puppet-lookup.md")).unwrap();
    let mut cases = Vec::new();
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        let Some(cmd) = line
            .strip_prefix("## `puppet lookup ")
            .and_then(|l| l.strip_suffix('`'))
        else {
            continue;
        };
        let (key, json) = match cmd.strip_suffix(" --render-as json") {
            Some(k) => (k.to_string(), true),
            None => (cmd.to_string(), false),
        };
        assert_eq!(lines.next(), Some("```"), "{key}");
        let mut printed = String::new();
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            printed.push_str(l);
            printed.push('\n');
        }
        cases.push(Case { key, json, printed });
    }
    cases
}

fn lookup(env: &Env, key: &str, extra: &[&str], keys: &[&str]) -> std::process::Output {
    env.cmd()
        .arg("lookup")
        .arg(key)
        .args(HIERARCHY)
        .args(extra)
        .args(keyring(keys))
        .output()
        .unwrap()
}

#[test]
fn every_reference_key_gives_what_puppet_gave() {
    let env = Env::new();
    env.copy_tree(&reference().join("hieradata"), "hieradata");
    let cases = puppet_cases();
    assert!(cases.len() >= 13, "only {} cases parsed", cases.len());
    for case in &cases {
        let out = lookup(&env, &case.key, &["--format", "json"], &SECRET_KEYS);
        assert!(out.status.success(), "{}: {}", case.key, stderr(&out));
        let ours: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let expected = if case.json {
            serde_json::from_str(&case.printed).unwrap()
        } else {
            eyaml_gpg::value::load_yaml(&case.printed)
                .unwrap()
                .to_json()
        };
        assert_eq!(ours, expected, "{}", case.key);
        if !case.json {
            // The YAML rendering is Puppet's, byte for byte.
            let out = lookup(&env, &case.key, &[], &SECRET_KEYS);
            assert_eq!(stdout(&out), case.printed, "{}", case.key);
        }
    }
    let keys: Vec<&str> = cases.iter().map(|c| c.key.as_str()).collect();
    for wanted in [
        "profile::base::empty_secret",
        "profile::base::multiline_string",
        "profile::base::unicode_secret",
        "profile::base::database",
        "profile::base::secret_list",
        "role::webserver::deploy_ssh_key",
        "app1::tab_and_spaces",
    ] {
        assert!(
            keys.contains(&wanted),
            "{wanted} missing from puppet-lookup.md"
        );
    }
}

#[test]
fn wrong_key_fails_like_puppet() {
    let md = std::fs::read_to_string(reference().join("puppet-lookup.md")).unwrap();
    let line = md
        .lines()
        .find(|l| l.contains("Error: Could not run: Lookup of key"))
        .unwrap();
    let start = line.find("Lookup of key").unwrap();
    let end = line.find("Error was No secret key").unwrap() + "Error was No secret key".len();
    let puppet = &line[start..end];

    let env = Env::new();
    env.copy_tree(&reference().join("hieradata"), "hieradata");
    let out = lookup(&env, "app1::db_password", &[], &["puppetmaster.sec.asc"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains(puppet),
        "expected Puppet's message\n  {puppet}\ngot\n  {}",
        stderr(&out)
    );
    // And what the same keys can read is returned.
    let out = lookup(
        &env,
        "role::webserver::admin_password",
        &[],
        &["puppetmaster.sec.asc"],
    );
    assert_eq!(
        stdout(&out),
        "--- correct horse battery staple\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_key_exits_1_with_a_clear_message() {
    let env = Env::new();
    env.copy_tree(&reference().join("hieradata"), "hieradata");
    let out = lookup(&env, "no::such::key", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("did not find a value for the name 'no::such::key'"),
        "{err}"
    );
    assert!(err.contains("hieradata/production/role.eyaml"), "{err}");
    // A dotted key whose root exists but whose sub-key does not is not found either.
    let out = lookup(&env, "profile::base::database.nope", &[], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn dotted_keys_and_merges_through_the_binary() {
    let env = Env::new();
    env.copy_tree(&reference().join("hieradata"), "hieradata");
    let out = lookup(
        &env,
        "profile::base::database.users.1.password",
        &["--format", "json"],
        &["bob.sec.asc"],
    );
    assert_eq!(stdout(&out), "\"ro-db-pass-2\"\n", "{}", stderr(&out));
    // As in Puppet, the root key's whole value is decrypted before the sub-key digs in: a
    // plain sub-value of a hash holding secrets still needs a key.
    let out = lookup(&env, "profile::base::database.host", &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "when looking up profile::base::database in hieradata/production/dc1/base.eyaml"
        ),
        "{}",
        stderr(&out)
    );

    env.write("hi.yaml", "list: [a, b]\nh: {x: 1, n: {p: 1}}\n");
    env.write("lo.yaml", "list: [b, c]\nh: {y: 2, n: {q: 2}, x: 0}\n");
    let run = |key: &str, merge: &str| {
        let out = env.run(&[
            "lookup", key, "hi.yaml", "lo.yaml", "--merge", merge, "--format", "json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(run("list", "first"), "[\"a\",\"b\"]\n");
    assert_eq!(run("list", "unique"), "[\"a\",\"b\",\"c\"]\n");
    assert_eq!(run("h", "hash"), "{\"y\":2,\"n\":{\"p\":1},\"x\":1}\n");
    assert_eq!(
        run("h", "deep"),
        "{\"y\":2,\"n\":{\"q\":2,\"p\":1},\"x\":1}\n"
    );
    let out = env.run(&["lookup", "list", "hi.yaml", "lo.yaml", "--merge", "hash"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expects a Hash value, got Array"),
        "{}",
        stderr(&out)
    );

    env.write("bad.yaml", "a: 1\n  b: 2\n");
    let out = env.run(&["lookup", "a", "bad.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("bad.yaml:2:"), "{}", stderr(&out));
    env.write("date.yaml", "a: 2024-01-31\n");
    let out = env.run(&["lookup", "a", "date.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("date.yaml:1:4"), "{}", stderr(&out));
}

/// Counts decryptions on their way to a real key store.
struct Counting {
    inner: Keystore,
    calls: AtomicUsize,
}

impl Decryptor for Counting {
    fn decrypt_value(&self, enc: &EncToken) -> eyaml_gpg::Result<Plaintext> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.decrypt_value(enc)
    }
}

fn bob_store(secret: bool) -> Keystore {
    let mut store = Keystore::new();
    let name = if secret { "bob.sec.asc" } else { "bob.pub.asc" };
    store.load_path(&key(name)).unwrap();
    store
}

/// A document of `n` encrypted values `key{i}: ENC[…]` of `secret-{i}`.
fn encrypted_file(n: usize) -> String {
    let store = bob_store(false);
    let bob = store.resolve("bob@example.com").unwrap();
    let mut text = String::from("---\n");
    for i in 0..n {
        let enc = Scheme::Gpg
            .encrypt(
                &store,
                std::slice::from_ref(&bob),
                format!("secret-{i}").as_bytes(),
                &Form::String,
            )
            .unwrap();
        text.push_str(&format!("key{i}: {enc}\n"));
    }
    text
}

#[test]
fn one_lookup_decrypts_one_value_and_caches_it() {
    let doc = Document::parse(&encrypted_file(1000), "big.eyaml").unwrap();
    let counting = Counting {
        inner: bob_store(true),
        calls: AtomicUsize::new(0),
    };
    let with = Lookup::new(&counting);
    let v = doc.lookup("key500", &with).unwrap().unwrap();
    assert_eq!(v.as_str(), Some("secret-500"));
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    let again = doc.lookup("key500", &with).unwrap().unwrap();
    assert_eq!(again, v);
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    assert_eq!(doc.cached(), 1);
    // Neither the document nor the value prints the plaintext.
    assert!(!format!("{doc:?}").contains("secret-500"));
    assert!(!format!("{v:?}").contains("secret-500"));
    assert_eq!(serde_json::to_string(&v).unwrap(), "\"secret-500\"");
}

#[test]
fn first_found_does_not_decrypt_lower_files() {
    let text = encrypted_file(3);
    let high = Arc::new(Document::parse(&text, "high.eyaml").unwrap());
    let low = Arc::new(Document::parse(&text, "low.eyaml").unwrap());
    let counting = Counting {
        inner: bob_store(true),
        calls: AtomicUsize::new(0),
    };
    let h = Hierarchy::new(vec![high.clone(), low.clone()]);
    let v = h
        .lookup("key1", Merge::First, &Lookup::new(&counting))
        .unwrap();
    assert_eq!(v, Some(Value::from("secret-1")));
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    assert_eq!(low.cached(), 0);
    let v = h
        .lookup("key2", Merge::Unique, &Lookup::new(&counting))
        .unwrap();
    assert_eq!(v, Some(Value::Array(vec![Value::from("secret-2")])));
    assert_eq!(counting.calls.load(Ordering::SeqCst), 3);
}

#[test]
fn loader_reuses_documents_until_the_file_changes() {
    let env = Env::new();
    let path = env.write("data.yaml", "a: 1\n");
    let loader = Loader::new();
    let one = loader.load(&path).unwrap();
    let two = loader.load(&path).unwrap();
    assert!(Arc::ptr_eq(&one, &two));
    std::fs::write(&path, "a: 22\n").unwrap();
    let three = loader.load(&path).unwrap();
    assert!(!Arc::ptr_eq(&one, &three));
    assert_eq!(three.raw("a"), Some(&Value::Integer(22)));
    assert!(loader.load(Path::new("/nonexistent/x.yaml")).is_err());
}
