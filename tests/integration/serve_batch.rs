//! The Puppet module decrypts a data file's tokens in one batch (one request in socket mode,
//! one process in binary mode) and keeps per-key failures: a value that cannot be decrypted
//! fails only its own key; the service stopped and restarted between lookups; a file too
//! large for one request goes in several. Driven by real Puppet (tests/puppet/pal.rb).

use std::path::{Path, PathBuf};

use crate::harness::*;
use crate::serve::{environment, have_puppet, lookups, pal, Server};
use serde_json::{json, Value};

/// `lines` (`key: DEC::GPG[…]!` YAML) encrypted to `who`'s key by eyaml-gpg.
fn encrypted(env: &Env, name: &str, lines: &str, who: &str) -> String {
    let plain = env.write(&format!("plain/{name}.yaml"), lines);
    let out = env.run(&[
        "encrypt",
        "-e",
        plain.to_str().unwrap(),
        "--gpg-keyring",
        key(&format!("{who}.pub.asc")).to_str().unwrap(),
        "--gpg-recipients",
        &format!("{who}@example.com"),
    ]);
    ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// A data dir with `mixed.yaml` (Bob's values around one value for Alice only) and
/// `other.yaml` (Bob's).
fn mixed_data(env: &Env) -> PathBuf {
    let mixed = [
        encrypted(
            env,
            "a",
            "good::one: DEC::GPG[first]!\ngood::two: DEC::GPG[second]!\n",
            "bob",
        ),
        encrypted(env, "b", "bad::one: DEC::GPG[for alice]!\n", "alice"),
        encrypted(
            env,
            "c",
            "good::list:\n  - DEC::GPG[third]!\n  - plain\ngood::three: DEC::GPG[fourth]!\n",
            "bob",
        ),
    ]
    .concat();
    assert_eq!(mixed.matches("ENC[GPG,").count(), 5, "{mixed}");
    env.write("data/mixed.yaml", mixed);
    let other = encrypted(env, "o", "other::one: DEC::GPG[elsewhere]!\n", "bob");
    env.write("data/other.yaml", other);
    env.join("data")
}

fn value(r: &Value) -> &Value {
    r.get("value").unwrap_or_else(|| panic!("not a value: {r}"))
}

/// The error of a failed lookup, checked to name the key and the data file and to hold no
/// ciphertext.
fn lookup_error<'a>(r: &'a Value, key: &str, file: &str) -> &'a str {
    let err = r["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}: not an error: {r}"));
    assert!(err.contains(key) && err.contains(file), "{err}");
    assert!(!err.contains("ENC[") && !err.contains("hF4D"), "{err}");
    err
}

#[test]
fn one_bad_value_fails_only_its_key_and_the_file_is_decrypted_once() {
    if !have_puppet() {
        return;
    }
    let env = Env::new();
    let data = mixed_data(&env);
    let paths = ["mixed.yaml", "other.yaml"];
    let server = Server::start(&env, &["bob.sec.asc"], &[]);
    let socket_env = environment(
        &env,
        "sock",
        &data,
        &paths,
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket}),
    );
    // Binary mode through a wrapper that counts the processes Puppet starts.
    let runs = env.join("runs.log");
    let wrapper = env.write_script(
        "bin/eyaml-gpg-counted",
        &format!(
            "#!/bin/sh\necho run >> '{}'\nexec '{}' \"$@\"\n",
            runs.display(),
            env!("CARGO_BIN_EXE_eyaml-gpg")
        ),
    );
    let binary_env = environment(
        &env,
        "bin",
        &data,
        &paths,
        "eyaml_gpg::lookup_key",
        json!({"binary": wrapper, "gpg_keyring": key("bob.sec.asc")}),
    );
    let restart = json!([
        env!("CARGO_BIN_EXE_eyaml-gpg"),
        "serve",
        "--socket",
        server.socket,
        "--gpg-keyring",
        key("bob.sec.asc")
    ]);
    let results = pal(
        &env,
        json!([
            {"envdir": socket_env, "steps": [
                {"lookup": "good::one"},
                // Stopped after the first lookup of mixed.yaml: its other values were
                // decrypted with it and still resolve.
                {"kill": server.child.id(), "socket": server.socket},
                {"lookup": "good::two"},
                {"lookup": "good::list"},
                {"lookup": "bad::one"},
                {"spawn": restart, "socket": server.socket},
                {"lookup": "bad::one"},
                {"lookup": "good::three"},
                {"lookup": "other::one"},
            ]},
            {"envdir": binary_env, "steps": lookups(&[
                "good::one", "good::two", "bad::one", "good::list", "good::three", "bad::one",
            ])},
        ]),
    );
    let sock = &results[0];
    assert_eq!(value(&sock[0]), "first");
    assert_eq!(value(&sock[1]), "second");
    assert_eq!(value(&sock[2]), &json!(["third", "plain"]));
    let down = lookup_error(&sock[3], "bad::one", "mixed.yaml");
    assert!(down.contains("not reachable"), "{down}");
    let refused = lookup_error(&sock[4], "bad::one", "mixed.yaml");
    assert!(refused.contains("No secret key"), "{refused}");
    assert_eq!(value(&sock[5]), "fourth");
    assert_eq!(
        value(&sock[6]),
        "elsewhere",
        "no reconnect after the restart"
    );

    let bin = &results[1];
    assert_eq!(value(&bin[0]), "first");
    assert_eq!(value(&bin[1]), "second");
    let refused = lookup_error(&bin[2], "bad::one", "mixed.yaml");
    assert!(refused.contains("No secret key"), "{refused}");
    assert_eq!(value(&bin[3]), &json!(["third", "plain"]));
    assert_eq!(value(&bin[4]), "fourth");
    lookup_error(&bin[5], "bad::one", "mixed.yaml");
    // One process for the file, then one per lookup of the value that failed.
    let count = std::fs::read_to_string(&runs).unwrap().lines().count();
    assert_eq!(count, 3, "eyaml-gpg processes for 6 lookups of one file");
}

#[test]
fn a_file_larger_than_one_request_is_sent_in_several() {
    if !have_puppet() {
        return;
    }
    let env = Env::new();
    let n = 30;
    let lines: String = (0..n)
        .map(|i| format!("many::k{i}: DEC::GPG[value {i}]!\n"))
        .collect();
    let text = encrypted(&env, "many", &lines, "bob");
    let request_bytes: usize = text
        .match_indices("ENC[GPG,")
        .map(|(at, _)| text[at..].find(']').unwrap() + 4)
        .sum();
    let limit = 2048;
    assert!(request_bytes > 2 * limit, "{request_bytes} bytes of tokens");
    env.write("data/many.yaml", text);
    let server = Server::start(&env, &["bob.sec.asc"], &["--max-request", "2048"]);
    let envdir = environment(
        &env,
        "sock",
        Path::new(&env.join("data")),
        &["many.yaml"],
        "eyaml_gpg::lookup_key",
        json!({"socket": server.socket}),
    );
    let keys: Vec<String> = (0..n).rev().map(|i| format!("many::k{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let results = pal(&env, json!([{"envdir": envdir, "steps": lookups(&keys)}]));
    for (r, k) in results[0].iter().zip(&keys) {
        let i = k.trim_start_matches("many::k");
        assert_eq!(value(r), &format!("value {i}"), "{k}");
    }
}
