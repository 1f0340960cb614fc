//! A team's first day coming from Ruby eyaml (issue 18): binary secrets, eyaml's config keys,
//! duplicate recipients, `-v -q`, `version`, messages that say what to do, and the man pages.
//! Ruby's behaviour is recorded in `fixtures/firstday/` (eyaml 3.3 and Puppet 7 run here:
//! `record.rb`, `record-config.sh`); the live tests re-run them when installed.

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn firstday() -> PathBuf {
    fixtures().join("firstday")
}

/// The binary fixture copied into the test's directory: `./keys` (PKCS7, as eyaml's defaults
/// expect) and `env/production` (data and hiera.yaml).
fn binary_env() -> Env {
    let env = Env::new();
    env.copy_tree(&firstday().join("keys"), "keys");
    env.copy_tree(&firstday().join("env"), "env");
    env
}

const DATA: &str = "env/production/data/common.eyaml";

/// The file's bytes as Ruby eyaml 3.3 `decrypt -e` printed them.
fn ruby_decrypted() -> Vec<u8> {
    std::fs::read(firstday().join("ruby-decrypt-e.out")).unwrap()
}

/// Puppet's recorded answers: key -> (bytes of the returned string, yaml, json, s renders).
fn puppet_answers() -> Vec<(String, Vec<u8>, Vec<String>)> {
    std::fs::read_to_string(firstday().join("puppet-lookup.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                b64decode(f[1]),
                f[2..].iter().map(|s| s.to_string()).collect(),
            )
        })
        .collect()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn binary_values_decrypt_to_their_bytes_as_ruby_eyaml_prints_them() {
    let env = binary_env();
    let out = env.run(&["decrypt", "-e", DATA]);
    assert_eq!(out.stdout, ruby_decrypted(), "{}", stderr(&out));
    assert!(out.status.success());
    assert!(
        stderr(&out).contains(&format!("{DATA}:3: this value is binary (not UTF-8 text)")),
        "{}",
        stderr(&out)
    );
    // textconv: the same bytes for git diff, no warning.
    let out = env.run(&["textconv", DATA]);
    assert_eq!(ok(&out).stdout, ruby_decrypted());
    // decrypt -f substitutes the bytes (Ruby 3.3 fails here: "invalid byte sequence in UTF-8").
    let out = env.run(&["decrypt", "-f", DATA]);
    let bytes = &ok(&out).stdout;
    let want = b"secret: bin\0\xff\xfe\x80text\n\nblock: bin\0\xff\xfe\x80text\n\nplain";
    assert!(bytes.windows(want.len()).any(|w| w == want), "{bytes:?}");
    // decrypt -s: the value's bytes exactly.
    let text = std::fs::read_to_string(env.join(DATA)).unwrap();
    let enc = text
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap();
    let out = env.run(&["decrypt", "-s", enc]);
    assert_eq!(
        ok(&out).stdout,
        std::fs::read(firstday().join("bin.dat")).unwrap()
    );
}

#[test]
fn ruby_eyaml_still_prints_the_recorded_bytes() {
    if !require(&["eyaml"]) {
        return;
    }
    let env = binary_env();
    // Ruby eyaml fails on an empty config file: none at all.
    let out = env
        .command("eyaml")
        .env_remove("EYAML_CONFIG")
        .args(["decrypt", "-e", DATA])
        .output()
        .unwrap();
    assert_eq!(out.stdout, ruby_decrypted(), "{}", stderr(&out));
}

#[test]
fn edit_keeps_a_binary_value_byte_for_byte_and_says_why() {
    let env = binary_env();
    let before = std::fs::read_to_string(env.join(DATA)).unwrap();
    let out = env
        .cmd()
        .env("EDITOR", env.editor())
        .env("EYAML_SED", "s/^plain: hello$/plain: changed/")
        .args(["edit", DATA])
        .output()
        .unwrap();
    ok(&out);
    assert!(
        stderr(&out).contains("2 values are shown as ENC[...] and kept unchanged: the decrypted value is binary (not UTF-8 text), which cannot be edited as text"),
        "{}",
        stderr(&out)
    );
    let after = std::fs::read_to_string(env.join(DATA)).unwrap();
    assert_eq!(after, before.replace("plain: hello", "plain: changed"));
}

#[test]
fn lookup_returns_what_puppet_returns_in_a_documented_encoding() {
    let env = binary_env();
    let answers = puppet_answers();
    for (key, bytes, renders) in &answers {
        let want_json = match std::str::from_utf8(bytes) {
            Ok(s) => serde_json::to_string(s).unwrap(),
            Err(_) => {
                // Puppet itself cannot render it: we use Puppet's rich-data form.
                assert!(renders[1].starts_with("json=!"), "{renders:?}");
                format!(r#"{{"__ptype":"Binary","__pvalue":"{}"}}"#, b64(bytes))
            }
        };
        let out = env.run(&["lookup", key, "--format", "json", DATA]);
        assert_eq!(stdout(ok(&out)).trim_end(), want_json, "{key}");
        let out = env.run(&[
            "lookup",
            key,
            "--hiera",
            "env/production/hiera.yaml",
            "--format",
            "json",
        ]);
        assert_eq!(stdout(ok(&out)).trim_end(), want_json, "{key} --hiera");
        let out = env.run(&["lookup", key, DATA]);
        let yaml = stdout(ok(&out));
        if std::str::from_utf8(bytes).is_err() {
            assert_eq!(yaml, format!("--- !binary {}\n", b64(bytes)), "{key}");
        } else {
            assert_eq!(yaml, "--- hello\n");
        }
    }
    assert_eq!(answers.len(), 3);
}

#[test]
fn puppet_still_returns_the_recorded_answers() {
    if !require(&["puppet", "ruby"]) {
        return;
    }
    let env = Env::new();
    let out = Command::new("ruby")
        .current_dir(firstday())
        .arg(firstday().join("record.rb"))
        .arg(env.join("puppet"))
        .env("HOME", env.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        std::fs::read_to_string(firstday().join("puppet-lookup.txt")).unwrap()
    );
}

// --- config keys --------------------------------------------------------------------------

fn encrypt_with_config(env: &Env, config: &str, extra: &[&str]) -> std::process::Output {
    let cfg = env.write("c.yaml", format!("---\n{config}\n"));
    env.cmd()
        .env("EYAML_CONFIG", cfg)
        .args(keyring(&["bob.pub.asc"]))
        .args(["--gpg-recipients", "bob@example.com"])
        .args(["encrypt", "-s", "x"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn config_keys_set_subcommand_options_as_ruby_eyaml_reads_them() {
    let env = Env::new();
    let recorded = std::fs::read_to_string(firstday().join("ruby-config.txt")).unwrap();
    let mut seen = 0;
    for line in recorded.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let (config, first) = (f[0].replace("\\n", "\n"), f[1]);
        if config.contains("block") {
            continue;
        }
        seen += 1;
        let out = encrypt_with_config(&env, &config, &[]);
        let text = stdout(ok(&out));
        let ours = text.lines().next().unwrap().replace(
            &text
                .split("ENC[GPG,")
                .nth(1)
                .map(|r| format!("ENC[GPG,{}", &r[..=r.find(']').unwrap()]))
                .unwrap(),
            "CIPHERTEXT",
        );
        assert_eq!(ours, first, "config {config:?}");
        let ruby_lines: usize = f[2].parse().unwrap();
        assert_eq!(text.lines().count() == 1, ruby_lines == 1, "{config:?}");
        // -q wins over a verbose config, as in eyaml: nothing on stderr.
        if config.contains("quiet") {
            assert_eq!(stderr(&out), "", "{config:?}");
        }
    }
    assert_eq!(seen, 5);
    // Unknown and symbol keys: said only under -v.
    let out = encrypt_with_config(&env, "no_such_option: 1\n:output: string", &[]);
    assert_eq!(stderr(ok(&out)), "");
    let out = encrypt_with_config(&env, "no_such_option: 1\n:output: string", &["-v"]);
    let err = stderr(ok(&out));
    assert!(
        err.contains("config key no_such_option ignored: no option of that name"),
        "{err}"
    );
    assert!(
        err.contains(
            "config key :output ignored, as eyaml 3.x ignores symbol keys (write `output:`)"
        ),
        "{err}"
    );
    // A flag beats the config key.
    let out = encrypt_with_config(&env, "output: string", &["-o", "block"]);
    assert!(
        stdout(ok(&out)).starts_with("  ENC[GPG,"),
        "{}",
        stdout(&out)
    );
    // A bad value is refused and the config file named.
    let out = encrypt_with_config(&env, "output: bogus", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("'bogus'"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("option defaults were read from"),
        "{}",
        stderr(&out)
    );
    let out = encrypt_with_config(&env, "label: {a: b}", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("c.yaml: label must be"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_booleans_reach_edit_and_sources_reach_decrypt() {
    let env = Env::new();
    let enc = stdout(ok(&encrypt_with_config(&env, "output: string", &[]))).to_string();
    env.write("t.eyaml", format!("a: {enc}\n"));
    let capture = env.join("captured");
    let cfg = env.write("c.yaml", "no_preamble: true\n");
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &cfg)
        .env("EDITOR", env.editor())
        .env("EYAML_CAPTURE", &capture)
        .args(keyring(&["bob.sec.asc"]))
        .args(["edit", "t.eyaml"])
        .output()
        .unwrap();
    ok(&out);
    let shown = std::fs::read_to_string(&capture).unwrap();
    assert_eq!(shown, "a: DEC(1)::GPG[x]!\n");
    // `eyaml: FILE` as a decrypt source.
    let cfg = env.write("c.yaml", "eyaml: t.eyaml\n");
    let out = env
        .cmd()
        .env("EYAML_CONFIG", &cfg)
        .args(keyring(&["bob.sec.asc"]))
        .arg("decrypt")
        .output()
        .unwrap();
    assert_eq!(stdout(ok(&out)), "a: DEC::GPG[x]!\n");
}

#[test]
fn verbose_and_quiet_together_are_quiet() {
    let env = Env::new();
    let out = env.run_keys(
        &["bob.pub.asc"],
        &[
            "-v",
            "-q",
            "encrypt",
            "-s",
            "x",
            "--gpg-recipients",
            "bob@example.com",
        ],
    );
    assert_eq!(stderr(ok(&out)), "");
    let out = env.run_keys(
        &["bob.pub.asc"],
        &[
            "-v",
            "encrypt",
            "-s",
            "x",
            "--gpg-recipients",
            "bob@example.com",
        ],
    );
    assert!(
        stderr(ok(&out)).contains("recipients from"),
        "{}",
        stderr(&out)
    );
}

// --- recipients named twice ---------------------------------------------------------------

#[test]
fn a_key_named_twice_gets_one_pkesk() {
    let env = Env::new();
    let bob = "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1";
    let list = format!("bob@example.com,{bob}, bob@example.com,{BOB_SUB}");
    let out = env.run_keys(
        &["bob.pub.asc", "alice.pub.asc"],
        &[
            "encrypt",
            "-s",
            "x",
            "-o",
            "string",
            "--gpg-recipients",
            &list,
        ],
    );
    let p = &enc_payloads(&stdout(ok(&out)))[0];
    assert_eq!(pkesk_ids(p), vec![BOB_SUB.to_string()]);
    // The same in a recipients file, next to Alice.
    env.write(
        "d/hiera-eyaml-gpg.recipients",
        format!("bob@example.com\nalice@example.com\n{bob}\n"),
    );
    env.write("d/t.eyaml", "a: DEC::GPG[x]!\n");
    let out = env.run_keys(
        &["bob.pub.asc", "alice.pub.asc"],
        &["encrypt", "-e", "d/t.eyaml"],
    );
    let p = &enc_payloads(&stdout(ok(&out)))[0];
    assert_eq!(ids(&["E741DB31073DB129", ALICE_SUB]), recipient_ids(p));
    assert_eq!(pkesk_ids(p).len(), 2);
}

// --- version ------------------------------------------------------------------------------

#[test]
fn version_prints_ours_and_the_lines_eyaml_prints() {
    let env = Env::new();
    let out = env.run(&["version"]);
    assert_eq!(
        stdout(ok(&out)),
        format!("eyaml-gpg {}\n", env!("CARGO_PKG_VERSION"))
    );
    // The recorded `eyaml version` of hiera-eyaml 3.3 + hiera-eyaml-gpg 0.7.4, without colours.
    let behaviour = std::fs::read_to_string(reference().join("BEHAVIOUR.md")).unwrap();
    let section = behaviour.split("### version\n").nth(1).unwrap();
    let ruby: Vec<String> = section
        .lines()
        .filter(|l| l.contains("(core)") || l.contains("(gem)"))
        .take(2)
        .map(|l| l.replace("^[[0m", ""))
        .collect();
    assert_eq!(ruby.len(), 2);
    assert_eq!(stderr(&out).lines().collect::<Vec<_>>(), ruby);
    let out = env.run(&["-q", "version"]);
    assert_eq!(stderr(ok(&out)), "");
}

// --- messages -----------------------------------------------------------------------------

#[test]
fn no_recipients_says_where_it_looked_and_which_flags_set_them() {
    let env = Env::new();
    std::fs::create_dir_all(env.join("data")).unwrap();
    env.write("data/t.eyaml", "a: DEC::GPG[x]!\n");
    let out = env.run_keys(&["bob.pub.asc"], &["encrypt", "-e", "data/t.eyaml"]);
    assert_eq!(out.status.code(), Some(1));
    let real = env.join("data").canonicalize().unwrap();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "No recipients provided, don't know who to encrypt to: no hiera-eyaml-gpg.recipients in {} or any directory above it; set recipients with --gpg-recipients LIST, --gpg-recipients-file FILE",
            real.display()
        )),
        "{err}"
    );
    env.write("data/hiera-eyaml-gpg.recipients", "# nobody yet\n");
    let out = env.run_keys(&["bob.pub.asc"], &["encrypt", "-e", "data/t.eyaml"]);
    assert!(
        stderr(&out).contains("data/hiera-eyaml-gpg.recipients lists no recipients"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn untrusted_key_names_the_flag_and_the_gnupg_command_that_fixes_it() {
    if !require(&["gpg"]) {
        return;
    }
    let env = Env::new();
    let home = env.gnupg_home("g", &["alice.pub.asc", "bob.sec.asc"], false);
    let home_arg = format!("--gpg-gnupghome={}", home.display());
    let args = [
        home_arg.as_str(),
        "encrypt",
        "-s",
        "x",
        "--gpg-recipients",
        "alice@example.com",
    ];
    let out = env.run(&args);
    assert_eq!(out.status.code(), Some(1));
    let fpr = "AA05D4CDBA88FD4B96D99CEF21ADCF29FD14CC28";
    let err = stderr(&out);
    assert!(err.contains("Key FD14CC28 (alice@example.com) not trusted (if key trust is established by another means then specify always-trust): pass --gpg-always-trust"), "{err}");
    let hint = format!("`gpg --quick-lsign-key {fpr}`");
    assert!(err.contains(&hint), "{err}");
    // The command given works: certified with the user's own key (ultimately trusted, as
    // GnuPG makes the keys it generates), the same run succeeds.
    let own = env.write("own.txt", "617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1:6:\n");
    ok(&gpg(&home)
        .arg("--import-ownertrust")
        .arg(own)
        .output()
        .unwrap());
    ok(&gpg(&home)
        .args(["--quick-lsign-key", fpr])
        .output()
        .unwrap());
    ok(&env.run(&args));
    kill_agent(&home);
}

#[test]
fn recrypt_says_trust_and_its_dry_run_warns() {
    if !require(&["gpg"]) {
        return;
    }
    let env = Env::new();
    let root = env.copy_tree(&reference().join("hieradata"), "hieradata");
    let home = env.gnupg_home(
        "ci-home",
        &["alice.pub.asc", "bob.pub.asc", "puppetmaster.pub.asc"],
        false,
    );
    std::fs::write(
        root.join("development/hiera-eyaml-gpg.recipients"),
        "bob@example.com\nalice@example.com\n",
    )
    .unwrap();
    let home_arg = format!("--gpg-gnupghome={}", home.display());
    let o = env.run(&[&home_arg, "recrypt", "--dry-run", "hieradata/development"]);
    assert!(
        stderr(&o).contains("warning: recipient \"alice@example.com\": Key FD14CC28 (alice@example.com) not trusted"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("recrypt without --dry-run will refuse it"),
        "{}",
        stderr(&o)
    );
    let secret = format!("--gpg-keyring={}", key("bob.sec.asc").display());
    let o = env.run(&[&home_arg, &secret, "recrypt", "hieradata/development"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("not trusted (see above)"), "{err}");
    assert!(!err.contains("could not be inspected"), "{err}");
    kill_agent(&home);
}

#[test]
fn no_gnupg_home_is_said_in_the_error() {
    let env = Env::new();
    let file = hieradata("development/app1/app1.eyaml");
    let out = env.run(&["decrypt", "-e", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no GnuPG home was found (GNUPGHOME or ~/.gnupg does not exist): name one with --gpg-gnupghome DIR, or key files with --gpg-keyring PATH"),
        "{}",
        stderr(&out)
    );
    // With a usable keyring there is no error, and so no hint.
    let out = env.run_keys(&["bob.sec.asc"], &["decrypt", "-e", file.to_str().unwrap()]);
    assert!(!stderr(ok(&out)).contains("GnuPG home"), "{}", stderr(&out));
}

#[test]
fn no_pinentry_is_said_once_per_key() {
    if !require(&["gpg", "gpg-agent"]) {
        return;
    }
    let env = Env::new();
    let home = env.join("h");
    std::fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    // A pinentry that cannot start: the agent answers "No pinentry" for every request.
    std::fs::write(
        home.join("gpg-agent.conf"),
        "pinentry-program /nonexistent/pinentry\n",
    )
    .unwrap();
    ok(&gpg(&home)
        .arg("--import")
        .arg(key("bob.sec.asc"))
        .output()
        .unwrap());
    ok(&gpg(&home)
        .args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "pw",
            "--passwd",
        ])
        .arg("617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1")
        .output()
        .unwrap());
    kill_agent(&home);
    let file = hieradata("development/app1/app1.eyaml");
    let out = env
        .session_cmd()
        .arg(format!("--gpg-gnupghome={}", home.display()))
        .args(["decrypt", "-e", file.to_str().unwrap()])
        .output()
        .unwrap();
    kill_agent(&home);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("pinentry")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("set GPG_TTY=$(tty)"), "{err}");
    assert!(lines[0].ends_with("(4 values)"), "{err}");
}

#[test]
fn a_check_config_silences_recipient_hygiene_in_the_hook() {
    if !require(&["git"]) {
        return;
    }
    let env = Env::new();
    let git = |args: &[&str]| {
        ok(&env
            .command("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap())
        .stdout
        .clone()
    };
    git(&["init", "-q", "repo"]);
    let repo = env.join("repo");
    std::fs::create_dir_all(repo.join("hieradata")).unwrap();
    std::fs::write(
        repo.join("hieradata/hiera-eyaml-gpg.recipients"),
        "bob@example.com\n",
    )
    .unwrap();
    std::fs::copy(
        hieradata("development/app1/app1.eyaml"),
        repo.join("hieradata/app1.eyaml"),
    )
    .unwrap();
    let in_repo = |args: &[&str]| {
        env.cmd()
            .current_dir(&repo)
            .args(keyring(&PUBLIC_KEYS))
            .args(args)
            .output()
            .unwrap()
    };
    let g = |args: &[&str]| {
        ok(&env
            .command("git")
            .current_dir(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap());
    };
    g(&["add", "."]);
    let out = in_repo(&["check", "--staged"]);
    assert!(
        stdout(&out).contains("recipient-hygiene"),
        "{}",
        stdout(&out)
    );
    std::fs::write(
        repo.join(".eyaml-gpg-check.yaml"),
        "allow:\n  - path: hieradata/hiera-eyaml-gpg.recipients\n    rule: recipient-hygiene\n",
    )
    .unwrap();
    let out = in_repo(&["check", "--staged"]);
    assert!(
        !stdout(&out).contains("recipient-hygiene"),
        "{}",
        stdout(&out)
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

// --- documentation ------------------------------------------------------------------------

fn man(page: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(page)).unwrap()
}

#[test]
fn man_pages_name_subcommands_as_typed_and_document_the_environment() {
    let edit = man("eyaml-gpg-edit.1");
    let synopsis = edit.split(".SH SYNOPSIS\n").nth(1).unwrap();
    assert!(
        synopsis.starts_with("\\fBeyaml\\-gpg edit\\fR "),
        "{synopsis}"
    );
    // Subcommand pages list the global options they accept.
    assert!(edit.contains("\\fB\\-\\-gpg\\-gnupghome\\fR"), "{edit}");
    assert!(edit.contains("eyaml\\-gpg(1)"));
    let root = man("eyaml-gpg.1");
    for dir in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("man")).unwrap() {
        let page = std::fs::read_to_string(dir.unwrap().path()).unwrap();
        assert!(
            !page.contains("eyaml\\-gpg\\-help"),
            "no help page to refer to"
        );
        // No hyphenation, so file names such as hiera-eyaml-gpg.recipients never break.
        assert!(page.contains("\n.nh\n"));
    }
    for section in [
        ".SH \"CONFIGURATION FILES\"",
        ".SH \"ENVIRONMENT\"",
        ".SH \"RECIPIENTS\"",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(root.contains(section), "{section}");
    }
    let environment = root
        .split(".SH \"ENVIRONMENT\"")
        .nth(1)
        .unwrap()
        .split(".SH")
        .next()
        .unwrap();
    for var in [
        "EYAML_CONFIG",
        "HIERA_EYAML_GPG_GNUPGHOME",
        "GNUPGHOME",
        "EYAML_GPG_KEYRING",
        "EDITOR",
        "VISUAL",
    ] {
        assert!(environment.contains(var), "{var}");
    }
}

#[test]
fn help_examples_do_not_wrap_inside_an_argument() {
    let env = Env::new();
    let subs = [
        "",
        "encrypt",
        "decrypt",
        "check",
        "textconv",
        "edit",
        "lookup",
        "recrypt",
        "createkeys",
        "serve",
        "merge",
        "version",
        "generate",
    ];
    for sub in subs {
        let args: Vec<&str> = [sub, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let out = env.run(&args);
        let help = stdout(ok(&out));
        let mut in_examples = false;
        let mut prev = "";
        for line in help.lines() {
            if line.starts_with("Example") || line.starts_with("As a service") {
                in_examples = true;
                continue;
            }
            if line.is_empty() {
                in_examples = false;
                continue;
            }
            // Each example line is a whole command (or the continuation of one ending in `\`);
            // a wrapped one continues with an argument.
            let continued = prev.ends_with('\\') && line.starts_with("      ");
            prev = line;
            if in_examples && !continued {
                assert!(
                    ["  eyaml-gpg ", "  EDITOR="]
                        .iter()
                        .any(|p| line.starts_with(p)),
                    "{sub} --help: an example wrapped: {line:?}\n{help}"
                );
            }
        }
    }
}
