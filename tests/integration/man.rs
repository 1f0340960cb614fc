//! Man pages in `man/` are generated from the clap definitions; this fails when they are stale
//! (regenerate with `cargo run -q -- generate man man/`).

use crate::harness::*;
use std::collections::BTreeMap;
use std::path::Path;

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn man_pages_are_up_to_date() {
    let env = Env::new();
    ok(&env.run(&["generate", "man", "out"]));
    let fresh = read_dir(&env.join("out"));
    let committed = read_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("man"));
    assert_eq!(
        fresh.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "man/ is stale: run `cargo run -q -- generate man man/`"
    );
    for (name, content) in &fresh {
        assert!(
            committed[name] == *content,
            "man/{name} is stale: run `cargo run -q -- generate man man/`"
        );
    }
    assert!(fresh.contains_key("eyaml-gpg-decrypt.1"));
}

#[test]
fn every_subcommand_help_has_an_example() {
    let env = Env::new();
    let out = env.run(&["--help"]);
    let help = stdout(ok(&out));
    let subs: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|s| s != "help")
        .collect();
    assert!(subs.len() >= 4, "{subs:?}");
    for sub in subs {
        let out = env.run(&[&sub, "--help"]);
        let text = stdout(ok(&out));
        assert!(
            text.contains("Example"),
            "`{sub} --help` has no example:\n{text}"
        );
        assert!(
            text.contains("eyaml-gpg "),
            "`{sub} --help` example shows no command:\n{text}"
        );
    }
}

#[test]
fn completions_are_generated() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.run(&["generate", "completions", shell]);
        let text = stdout(ok(&out));
        assert!(
            text.contains("decrypt") && text.contains("gpg-recipients"),
            "{shell}"
        );
    }
}
