//! A hierarchy level's PKCS7 key options in `check --hiera`: the same option set lookups
//! honour (`hiera::keys`), including the `…_env_var` forms (PEM in an environment variable),
//! read when a value of the level is first checked.

use std::process::Output;

use crate::harness::*;

/// A PKCS7 key pair created by the binary in `dir` (`private.pem`, `public.pem`), and a value
/// encrypted to it.
fn key_pair_and_value(env: &Env, dir: &str, plaintext: &str) -> String {
    let with_keys = |args: &[&str]| {
        env.cmd()
            .args([
                "--pkcs7-private-key",
                &format!("{dir}/private.pem"),
                "--pkcs7-public-key",
                &format!("{dir}/public.pem"),
            ])
            .args(args)
            .output()
            .unwrap()
    };
    ok(&with_keys(&[
        "createkeys",
        "-n",
        "pkcs7",
        "--pkcs7-keysize",
        "1024",
    ]));
    let out = with_keys(&["encrypt", "-n", "pkcs7", "-o", "string", "-s", plaintext]);
    stdout(ok(&out)).trim().to_string()
}

/// The environment: a `secrets` level whose PKCS7 keys come from `LEVEL_P7_PRIV` /
/// `LEVEL_P7_PUB`, and a `common` level read with the run's keys (`run-keys/`, not `./keys`,
/// so a level variable that is unset finds no default key file either).
fn environment(env: &Env) -> (String, String) {
    let level_value = key_pair_and_value(env, "level-keys", "level-secret");
    let run_value = key_pair_and_value(env, "run-keys", "run-secret");
    env.write(
        "env/hiera.yaml",
        "version: 5\n\
         defaults:\n  datadir: data\n  lookup_key: eyaml_lookup_key\n\
         hierarchy:\n\
         \x20 - name: secrets\n    path: secrets.eyaml\n    options:\n      pkcs7_private_key_env_var: LEVEL_P7_PRIV\n      pkcs7_public_key_env_var: LEVEL_P7_PUB\n\
         \x20 - name: common\n    path: common.eyaml\n",
    );
    env.write(
        "env/data/secrets.eyaml",
        format!("app::secret: {level_value}\n"),
    );
    env.write(
        "env/data/common.eyaml",
        format!("app::common: {run_value}\n"),
    );
    env.write(
        "facts/web1.yaml",
        "clientcert: web1.example.com\nhostname: web1\ndomain: example.com\nfqdn: web1.example.com\n",
    );
    (level_value, run_value)
}

/// The binary with the run's PKCS7 keys and, for each `(name, file)`, `$name` holding the
/// file's text (a PEM key).
fn run(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = env.cmd();
    for (name, file) in vars {
        c.env(name, std::fs::read_to_string(env.join(file)).unwrap());
    }
    c.args([
        "--pkcs7-private-key",
        "run-keys/private.pem",
        "--pkcs7-public-key",
        "run-keys/public.pem",
    ])
    .args(args)
    .output()
    .unwrap()
}

const GATE: &[&str] = &["check", "--hiera", "env/hiera.yaml", "--facts-dir", "facts"];

/// The level's key pair in its variables (what a lookup needs).
const LEVEL_VARS: &[(&str, &str)] = &[
    ("LEVEL_P7_PRIV", "level-keys/private.pem"),
    ("LEVEL_P7_PUB", "level-keys/public.pem"),
];

/// The level's certificate alone (what the gate needs: it decrypts nothing).
const LEVEL_CERT: &[(&str, &str)] = &[("LEVEL_P7_PUB", "level-keys/public.pem")];

#[test]
fn check_hiera_reads_a_levels_pkcs7_keys_from_its_env_var_options_as_lookups_do() {
    let env = Env::new();
    let (_, run_value) = environment(&env);

    // The level's certificate from its variable: its value passes, the run's keys check the
    // other level; no private key is needed.
    let out = run(&env, LEVEL_CERT, GATE);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // Lookups read the same level with the same keys.
    let lookup = |key: &str| {
        run(
            &env,
            LEVEL_VARS,
            &[
                "lookup",
                key,
                "--hiera",
                "env/hiera.yaml",
                "--facts",
                "facts/web1.yaml",
                "--format",
                "json",
            ],
        )
    };
    assert_eq!(
        stdout(ok(&lookup("app::secret"))).trim(),
        "\"level-secret\""
    );
    assert_eq!(stdout(ok(&lookup("app::common"))).trim(), "\"run-secret\"");

    // A value of the level encrypted to the run's key: its server (the level's key) cannot
    // decrypt it.
    env.write(
        "env/data/secrets.eyaml",
        format!("app::secret: {run_value}\n"),
    );
    let out = run(&env, LEVEL_CERT, GATE);
    the_level_finding(&out);
}

#[test]
fn check_hiera_names_the_level_and_option_when_a_levels_pkcs7_variable_is_unset() {
    let env = Env::new();
    environment(&env);
    // LEVEL_P7_PUB unset, and no ./keys to fall back on: a finding naming the level, the
    // option and the variable; the run's keys still serve the other level.
    let out = run(&env, &LEVEL_VARS[..1], GATE);
    assert!(!stdout(&out).contains("hiera-lookup"), "{}", stdout(&out));
    let line = the_level_finding(&out);
    assert!(
        line.contains("environment variable LEVEL_P7_PUB is not set"),
        "{line}"
    );
    let text = stdout(&out);
    assert!(!text.contains("BEGIN"), "no key material printed: {text}");
}

/// The one `server-cannot-decrypt` finding of a failed check, at the level's value, naming
/// the level and its option.
fn the_level_finding(out: &std::process::Output) -> String {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(out));
    let line = text
        .lines()
        .find(|l| l.contains("server-cannot-decrypt"))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    assert!(line.starts_with("env/data/secrets.eyaml:1:"), "{line}");
    assert!(line.contains("level 'secrets'"), "{line}");
    assert!(
        line.contains("pkcs7_public_key_env_var=LEVEL_P7_PUB"),
        "{line}"
    );
    assert_eq!(text.matches("server-cannot-decrypt").count(), 1, "{text}");
    line
}
