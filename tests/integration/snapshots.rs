//! Snapshot tests of what the binary prints (trycmd): `tests/cmd/**/*.toml`, one command each,
//! with its expected `.stdout`/`.stderr` next to it and, where files are involved, an `.in/`
//! folder as working directory. Covers usage errors, environment errors, every `--help`, and
//! `check` output on a small tree. Regenerate the expected files with
//! `TRYCMD=overwrite cargo test --test integration snapshots` and review the diff.

use std::path::Path;

use crate::harness::{Env, BIN};

/// The case files, relative to the package root.
const CASES: &str = "tests/cmd/**/*.toml";

#[test]
fn cli_snapshots() {
    // The same isolation as every other test: a temp HOME, a GnuPG home that does not exist,
    // and no inherited variable (each case sets `env.inherit = false`, checked below). A case
    // that needs a variable of its own must not use one of these names: they win.
    let env = Env::new();
    trycmd::TestCases::new()
        .register_bin("eyaml-gpg", Path::new(BIN))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.path().display().to_string())
        .env("GNUPGHOME", env.join("no-gnupg-home").display().to_string())
        .env("XDG_RUNTIME_DIR", env.join("run").display().to_string())
        .env("TMPDIR", env.join("tmp").display().to_string())
        .env("LC_ALL", "C.UTF-8")
        .case(CASES)
        .run();
}

/// Every case starts from an empty environment, so no user setting (`GNUPGHOME`,
/// `EYAML_GPG_KEYRING`, `COLUMNS` …) can change a snapshot.
#[test]
fn every_snapshot_case_starts_from_an_empty_environment() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["help", "usage", "environment", "check"] {
        for e in std::fs::read_dir(root.join("tests/cmd").join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&p).unwrap();
                assert!(
                    text.contains("[env]\ninherit = false\n"),
                    "{}: add `[env] inherit = false`",
                    p.display()
                );
                n += 1;
            }
        }
    }
    assert!(n >= 30, "only {n} cases");
}
