//! `eyaml-gpg merge` as a git merge driver: real `git merge`, `rebase` and `cherry-pick` in temp
//! repositories set up with `eyaml-gpg merge --install` (the README's two lines), keys handed to
//! the driver through `EYAML_GPG_KEYRING`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::harness::{key, ok, stderr, stdout, Env};

/// Bob decrypts; every public key resolves.
const BOB: &[&str] = &["bob.sec.asc", "alice.pub.asc", "puppetmaster.pub.asc"];
/// Public keys only: a CI merge bot.
const PUBLIC: &[&str] = &["bob.pub.asc", "alice.pub.asc", "puppetmaster.pub.asc"];
/// Only the puppet master's secret key.
const PUPPETMASTER: &[&str] = &["puppetmaster.sec.asc"];

fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether git is installed (tests skip without it, but never in CI).
fn have_git() -> bool {
    let found = Command::new("git").arg("--version").output().is_ok();
    assert!(found || !in_ci(), "git is required when CI=true");
    found
}

struct Repo {
    env: Env,
}

impl Repo {
    /// A repository on `main` with a recipients file for bob and the driver installed by
    /// `eyaml-gpg merge --install`.
    fn new() -> Repo {
        let r = Repo { env: Env::new() };
        std::fs::create_dir_all(r.dir()).unwrap();
        r.git(BOB, &["init", "-q", "-b", "main"]);
        r.write("hiera-eyaml-gpg.recipients", "bob@example.com\n");
        let out = r.bin(BOB, &["merge", "--install"]);
        ok(&out);
        assert_eq!(r.read(".gitattributes"), "*.eyaml merge=eyaml\n");
        let driver = r.git(BOB, &["config", "merge.eyaml.driver"]);
        assert_eq!(
            stdout(&driver).trim(),
            "eyaml-gpg merge --marker-size %L %O %A %B %P"
        );
        // Installing twice adds nothing.
        ok(&r.bin(BOB, &["merge", "--install"]));
        assert_eq!(r.read(".gitattributes"), "*.eyaml merge=eyaml\n");
        r
    }

    fn dir(&self) -> PathBuf {
        self.env.join("repo")
    }

    fn environment(&self, c: &mut Command, keys: &[&str]) {
        let bin_dir = Path::new(env!("CARGO_BIN_EXE_eyaml-gpg")).parent().unwrap();
        let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let keyring = std::env::join_paths(keys.iter().map(|k| key(k))).unwrap();
        c.current_dir(self.dir())
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.env.path())
            .env("GNUPGHOME", self.env.join("no-gnupg-home"))
            .env("EYAML_GPG_KEYRING", keyring)
            .env("LC_ALL", "C.UTF-8")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_EDITOR", "true")
            .env("TMPDIR", self.env.join("tmp"))
            .stdin(Stdio::null());
        std::fs::create_dir_all(self.env.join("tmp")).unwrap();
    }

    fn git(&self, keys: &[&str], args: &[&str]) -> Output {
        let mut c = Command::new("git");
        self.environment(&mut c, keys);
        c.args(args).output().unwrap()
    }

    fn git_ok(&self, args: &[&str]) -> Output {
        let out = self.git(BOB, args);
        ok(&out);
        out
    }

    fn bin(&self, keys: &[&str], args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_eyaml-gpg"));
        self.environment(&mut c, keys);
        c.args(args).output().unwrap()
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        std::fs::write(self.dir().join(rel), content).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir().join(rel)).unwrap()
    }

    /// Encrypts every `DEC::GPG[…]!` of `text` to `recipients` (outside the repository).
    fn encrypt(&self, text: &str, recipients: &str) -> String {
        let src = self.env.write("src.eyaml", text);
        let out = self.bin(
            BOB,
            &[
                "encrypt",
                "--gpg-recipients",
                recipients,
                "-e",
                src.to_str().unwrap(),
            ],
        );
        ok(&out);
        std::fs::remove_file(src).unwrap();
        stdout(&out)
    }

    fn commit_all(&self, msg: &str) {
        self.git_ok(&["add", "-A"]);
        self.git_ok(&["commit", "-q", "-m", msg]);
    }

    /// `decrypt -e` of a work tree file with `keys`.
    fn decrypt(&self, keys: &[&str], rel: &str) -> String {
        let out = self.bin(keys, &["decrypt", "-e", rel]);
        stdout(ok(&out))
    }

    /// Fails if any of `secrets` is in any file of the work tree or `.git`, or in any git
    /// object (objects are compressed, so they are read through git).
    fn assert_no_plaintext(&self, secrets: &[&str]) {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), out);
                } else {
                    out.push(e.path());
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.dir(), &mut files);
        walk(&self.env.join("tmp"), &mut files);
        let objects = self.git_ok(&["cat-file", "--batch-all-objects", "--batch"]);
        for s in secrets {
            for f in &files {
                let bytes = std::fs::read(f).unwrap();
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "{s} found in {}",
                    f.display()
                );
            }
            assert!(
                !objects.stdout.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} found in a git object"
            );
        }
    }
}

/// The text of top-level key `k`'s value as written (through the end of a block).
fn value(text: &str, k: &str) -> String {
    let start = text
        .split_inclusive('\n')
        .scan(0, |off, l| {
            let here = *off;
            *off += l.len();
            Some((here, l))
        })
        .find(|(_, l)| l.starts_with(&format!("{k}:")))
        .map(|(o, _)| o + k.len() + 1)
        .unwrap_or_else(|| panic!("no key {k}"));
    let rest = &text[start..];
    let mut end = 0;
    for (i, l) in rest.split_inclusive('\n').enumerate() {
        if i > 0 && !l.starts_with(' ') {
            break;
        }
        end += l.len();
    }
    rest[..end].trim().to_string()
}

const BASE: &str = "---\n# shared settings\nalpha: DEC::GPG[alpha-base-5e1]!\nbravo: DEC::GPG[bravo-base-5e2]!\ncharlie: DEC::GPG[charlie-base-5e3]!\ndelta: >\n    DEC::GPG[delta-base-5e4]!\nplain: 1\n";

/// The value of `k` in `text` replaced by `new` (an edit-mode or ENC text).
fn replace_value(text: &str, k: &str, new: &str) -> String {
    let old = value(text, k);
    text.replacen(&old, new, 1)
}

/// A fresh `ENC[…]` for `plaintext` to bob.
fn enc(repo: &Repo, plaintext: &str) -> String {
    repo.encrypt(&format!("DEC::GPG[{plaintext}]!"), "bob@example.com")
        .trim()
        .to_string()
}

#[test]
fn recrypt_against_edit_comes_out_readable_by_the_new_recipient() {
    if !have_git() {
        return;
    }
    for how in ["merge", "rebase", "cherry-pick"] {
        let repo = Repo::new();
        repo.write(
            "common.eyaml",
            repo.encrypt(BASE, "bob@example.com").as_bytes(),
        );
        repo.commit_all("base");
        repo.git_ok(&["checkout", "-q", "-b", "edit"]);
        let text = repo.read("common.eyaml");
        let mut edited = replace_value(&text, "charlie", &enc(&repo, "charlie-new-7a1"));
        edited.push_str(&format!("echo: {}\n", enc(&repo, "echo-new-7a2")));
        repo.write("common.eyaml", edited);
        repo.commit_all("edit charlie, add echo");

        repo.git_ok(&["checkout", "-q", "main"]);
        repo.git_ok(&["checkout", "-q", "-b", "recrypt"]);
        repo.write(
            "hiera-eyaml-gpg.recipients",
            "bob@example.com\npuppetmaster\n",
        );
        ok(&repo.bin(BOB, &["recrypt", "common.eyaml"]));
        repo.commit_all("add the puppet master");
        let recrypted = repo.read("common.eyaml");

        let out = match how {
            "merge" => repo.git(BOB, &["merge", "-q", "--no-edit", "edit"]),
            "rebase" => {
                repo.git_ok(&["checkout", "-q", "edit"]);
                repo.git(BOB, &["rebase", "-q", "recrypt"])
            }
            _ => repo.git(BOB, &["cherry-pick", "edit"]),
        };
        assert!(
            out.status.success(),
            "{how}: {}\n{}",
            stdout(&out),
            stderr(&out)
        );
        let merged = repo.read("common.eyaml");
        assert!(!merged.contains("<<<<<<<"), "{how}: {merged}");
        let dec = repo.decrypt(PUPPETMASTER, "common.eyaml");
        for want in [
            "alpha: DEC::GPG[alpha-base-5e1]!",
            "charlie: DEC::GPG[charlie-new-7a1]!",
            "delta: >\n    DEC::GPG[delta-base-5e4]!",
            "echo: DEC::GPG[echo-new-7a2]!",
        ] {
            assert!(dec.contains(want), "{how}: {want} missing in\n{dec}");
        }
        assert!(repo
            .decrypt(&["bob.sec.asc"], "common.eyaml")
            .contains("charlie-new-7a1"));
        for k in ["alpha", "bravo", "delta"] {
            assert_eq!(value(&merged, k), value(&recrypted, k), "{how}: {k}");
        }
        assert_eq!(value(&merged, "plain"), "1");
        repo.assert_no_plaintext(&["charlie-new-7a1", "echo-new-7a2", "alpha-base-5e1"]);
    }
}

/// Two sides edit adjacent values; `block` puts them in `>` block form.
fn adjacent_edits(block: bool) {
    let repo = Repo::new();
    let base = if block {
        "---\nx: >\n    DEC::GPG[x-base]!\ny: >\n    DEC::GPG[y-base]!\n"
    } else {
        "---\nx: DEC::GPG[x-base]!\ny: DEC::GPG[y-base]!\n"
    };
    let base = repo.encrypt(base, "bob@example.com");
    repo.write("c.eyaml", &base);
    repo.commit_all("base");
    let new = |p: &str| {
        let e = enc(&repo, p);
        if block {
            let t = repo.encrypt(&format!("k: >\n    DEC::GPG[{p}]!\n"), "bob@example.com");
            value(&t, "k")
        } else {
            e
        }
    };
    repo.git_ok(&["checkout", "-q", "-b", "theirs"]);
    let y_new = new("y-theirs");
    repo.write("c.eyaml", replace_value(&base, "y", &y_new));
    repo.commit_all("y");
    repo.git_ok(&["checkout", "-q", "main"]);
    let x_new = new("x-ours");
    repo.write("c.eyaml", replace_value(&base, "x", &x_new));
    repo.commit_all("x");

    if !block {
        // Plain git (its text merge forced for the file) conflicts on adjacent lines. (Block
        // values have their `key: >` line between them, so plain git merges those too.)
        repo.write(".git/info/attributes", "*.eyaml merge=text\n");
        let plain = repo.git(PUBLIC, &["merge", "-q", "--no-edit", "theirs"]);
        assert!(!plain.status.success(), "plain git merged cleanly");
        assert!(stdout(&plain).contains("CONFLICT"), "{}", stdout(&plain));
        repo.git_ok(&["merge", "--abort"]);
        std::fs::remove_file(repo.dir().join(".git/info/attributes")).unwrap();
    }

    let out = repo.git(PUBLIC, &["merge", "-q", "--no-edit", "theirs"]);
    ok(&out);
    let merged = repo.read("c.eyaml");
    assert_eq!(value(&merged, "x"), x_new.trim());
    assert_eq!(value(&merged, "y"), y_new.trim());
    assert_eq!(
        merged,
        replace_value(&replace_value(&base, "x", &x_new), "y", &y_new)
    );
}

#[test]
fn adjacent_values_merge_cleanly_without_a_secret_key() {
    if have_git() {
        adjacent_edits(false);
    }
}

#[test]
fn adjacent_block_values_merge_cleanly_without_a_secret_key() {
    if have_git() {
        adjacent_edits(true);
    }
}

/// A scripted editor: applies `$EYAML_SED` to the file.
const EDITOR: &str = "#!/bin/sh\nfor f in \"$@\"; do :; done\n[ -n \"$EYAML_SED\" ] && sed -i \"$EYAML_SED\" \"$f\"\nexit 0\n";

#[test]
fn the_same_value_changed_twice_conflicts_without_plaintext_and_edit_resolves_it() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    let base = repo.encrypt(BASE, "bob@example.com");
    repo.write("common.eyaml", &base);
    repo.commit_all("base");
    repo.git_ok(&["checkout", "-q", "-b", "theirs"]);
    repo.write(
        "common.eyaml",
        replace_value(&base, "bravo", &enc(&repo, "bravo-theirs-9c2")),
    );
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    repo.write(
        "common.eyaml",
        replace_value(&base, "bravo", &enc(&repo, "bravo-ours-9c1")),
    );
    repo.commit_all("ours");

    let out = repo.git(BOB, &["merge", "--no-edit", "theirs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("CONFLICT (content)"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("bravo: changed on both sides to different values"),
        "{}",
        stderr(&out)
    );
    let conflicted = repo.read("common.eyaml");
    let lines: Vec<&str> = conflicted.lines().collect();
    let at = lines.iter().position(|l| *l == "<<<<<<< ours").unwrap();
    assert!(lines[at + 1].starts_with("bravo: ENC[GPG,"));
    assert_eq!(lines[at + 2], "=======");
    assert!(lines[at + 3].starts_with("bravo: ENC[GPG,"));
    assert_eq!(lines[at + 4], ">>>>>>> theirs");
    assert_eq!(conflicted.matches("<<<<<<<").count(), 1);
    repo.assert_no_plaintext(&["bravo-theirs-9c2", "bravo-ours-9c1", "bravo-base-5e2"]);

    // decrypt -e shows both sides inside the markers.
    let dec = repo.decrypt(BOB, "common.eyaml");
    assert!(
        dec.contains("<<<<<<< ours\nbravo: DEC::GPG[bravo-ours-9c1]!\n=======\nbravo: DEC::GPG[bravo-theirs-9c2]!\n>>>>>>> theirs\n"),
        "{dec}"
    );

    // edit: markers left in are refused with their lines, the file untouched.
    let ed = repo.env.write("ed.sh", EDITOR);
    std::fs::set_permissions(&ed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let edit = |sed: &str| {
        let mut c = Command::new("setsid");
        c.arg(env!("CARGO_BIN_EXE_eyaml-gpg"));
        repo.environment(&mut c, BOB);
        c.env("EDITOR", &ed)
            .env("EYAML_SED", sed)
            .args(["edit", "common.eyaml"])
            .output()
            .unwrap()
    };
    let out = edit("s/bravo-theirs-9c2/bravo-final/");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let marker_line = |m: &str| 11 + lines.iter().position(|l| l.starts_with(m)).unwrap() + 1;
    for m in ["<<<<<<<", "=======", ">>>>>>>"] {
        assert!(
            err.contains(&format!(
                "common.eyaml (edit text):{}:1: a merge conflict marker",
                marker_line(m)
            )),
            "{m}: {err}"
        );
    }
    assert_eq!(repo.read("common.eyaml"), conflicted);

    // Keeping their side: the markers and our version deleted.
    ok(&edit("/^<<<<<<< ours$/,/^=======$/d;/^>>>>>>> theirs$/d"));
    let resolved = repo.read("common.eyaml");
    assert!(!resolved.contains("<<<<<<<") && !resolved.contains("======="));
    let dec = repo.decrypt(BOB, "common.eyaml");
    assert!(dec.contains("bravo: DEC::GPG[bravo-theirs-9c2]!"), "{dec}");
    for k in ["alpha", "charlie", "delta"] {
        assert_eq!(value(&resolved, k), value(&base, k), "{k} kept its bytes");
    }
    repo.commit_all("resolved");
    repo.assert_no_plaintext(&["bravo-theirs-9c2", "bravo-ours-9c1"]);
}

#[test]
fn a_key_deleted_on_one_side_and_edited_on_the_other_conflicts() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    let base = repo.encrypt(BASE, "bob@example.com");
    repo.write("common.eyaml", &base);
    repo.commit_all("base");
    repo.git_ok(&["checkout", "-q", "-b", "theirs"]);
    let new = enc(&repo, "charlie-theirs");
    repo.write("common.eyaml", replace_value(&base, "charlie", &new));
    repo.commit_all("edit charlie");
    repo.git_ok(&["checkout", "-q", "main"]);
    let without = base.replacen(&format!("charlie: {}\n", value(&base, "charlie")), "", 1);
    assert_ne!(without, base);
    repo.write("common.eyaml", &without);
    repo.commit_all("delete charlie");

    let out = repo.git(BOB, &["merge", "--no-edit", "theirs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("charlie: deleted on one side, changed on the other"),
        "{}",
        stderr(&out)
    );
    let merged = repo.read("common.eyaml");
    assert!(
        merged.contains(&format!(
            "<<<<<<< ours\n=======\ncharlie: {}\n>>>>>>> theirs\n",
            new.trim()
        )),
        "{merged}"
    );
}

#[test]
fn crlf_files_merge_and_conflict_with_crlf_lines() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    let base = repo
        .encrypt(
            "---\nx: DEC::GPG[x]!\ny: DEC::GPG[y]!\nz: DEC::GPG[z]!\n",
            "bob@example.com",
        )
        .replace('\n', "\r\n");
    repo.write("c.eyaml", &base);
    repo.commit_all("base");
    let set = |text: &str, k: &str, p: &str| replace_value(text, k, &enc(&repo, p));
    repo.git_ok(&["checkout", "-q", "-b", "theirs"]);
    let theirs = set(&set(&base, "y", "y-theirs"), "z", "z-theirs");
    repo.write("c.eyaml", &theirs);
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    let ours = set(&set(&base, "x", "x-ours"), "z", "z-ours");
    repo.write("c.eyaml", &ours);
    repo.commit_all("ours");
    let out = repo.git(PUBLIC, &["merge", "--no-edit", "theirs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let merged = repo.read("c.eyaml");
    assert!(
        !merged.replace("\r\n", "").contains('\n'),
        "every line ends in CRLF"
    );
    assert!(merged.contains(&format!("x: {}\r\n", value(&ours, "x"))));
    assert!(merged.contains(&format!("y: {}\r\n", value(&theirs, "y"))));
    assert!(merged.contains(&format!(
        "<<<<<<< ours\r\nz: {}\r\n=======\r\nz: {}\r\n>>>>>>> theirs\r\n",
        value(&ours, "z"),
        value(&theirs, "z")
    )));
}

#[test]
fn a_file_added_on_both_sides_is_merged_by_plaintext() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    repo.write("other.txt", "x\n");
    repo.commit_all("base");
    repo.git_ok(&["checkout", "-q", "-b", "theirs"]);
    let theirs = repo.encrypt(
        "---\nsame: DEC::GPG[same-plain]!\ndiffer: DEC::GPG[theirs-plain]!\n",
        "bob@example.com",
    );
    repo.write("new.eyaml", &theirs);
    repo.commit_all("theirs");
    repo.git_ok(&["checkout", "-q", "main"]);
    let ours = repo.encrypt(
        "---\nsame: DEC::GPG[same-plain]!\ndiffer: DEC::GPG[ours-plain]!\n",
        "bob@example.com",
    );
    repo.write("new.eyaml", &ours);
    repo.commit_all("ours");
    assert_ne!(value(&ours, "same"), value(&theirs, "same"));

    // Without a secret key the different ciphertexts of `same` conflict too.
    let out = repo.git(PUBLIC, &["merge", "--no-edit", "theirs"]);
    assert_eq!(out.status.code(), Some(1));
    let merged = repo.read("new.eyaml");
    assert_eq!(merged.matches("<<<<<<< ours").count(), 1);
    assert_eq!(merged.matches("same: ENC[GPG,").count(), 2, "{merged}");
    repo.git_ok(&["merge", "--abort"]);

    // With a key, equal plaintexts are clean: only `differ` conflicts.
    let out = repo.git(BOB, &["merge", "--no-edit", "theirs"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("differ: added on both sides with different values"),
        "{}",
        stderr(&out)
    );
    let merged = repo.read("new.eyaml");
    assert_eq!(merged.matches("<<<<<<< ours").count(), 1);
    assert!(merged.contains(&format!(
        "---\nsame: {}\n<<<<<<< ours\ndiffer: ",
        value(&ours, "same")
    )));
}

/// The driver run directly on files, as git runs it.
fn driver(
    repo: &Repo,
    keys: &[&str],
    base: &str,
    ours: &str,
    theirs: &str,
    extra: &[&str],
) -> (Output, String) {
    repo.write("b.eyaml", base);
    repo.write("o.eyaml", ours);
    repo.write("t.eyaml", theirs);
    let mut args = vec!["merge"];
    args.extend(extra);
    args.extend(["b.eyaml", "o.eyaml", "t.eyaml", "common.eyaml"]);
    let out = repo.bin(keys, &args);
    (out, repo.read("o.eyaml"))
}

#[test]
fn bad_input_falls_back_to_a_conflict_with_a_reason() {
    if !have_git() {
        return;
    }
    let repo = Repo::new();
    let base = repo.encrypt("---\na: DEC::GPG[a]!\nb: DEC::GPG[b]!\n", "bob@example.com");
    let a2 = enc(&repo, "a2");
    let ours = replace_value(&base, "a", &a2);

    // A side that is not YAML: its lines merge as git would, the reason on stderr.
    let broken = format!(
        "{}c: [unclosed\n",
        replace_value(&base, "b", &enc(&repo, "b3"))
    );
    let (out, merged) = driver(&repo, BOB, &base, &ours, &broken, &[]);
    assert!(
        stderr(&out).contains("theirs is not valid YAML"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.contains("not valid YAML"))
            .count(),
        1
    );
    assert!(out.status.code() == Some(1) || out.status.code() == Some(0));
    for v in [value(&ours, "a"), value(&broken, "b")] {
        assert!(merged.contains(&v), "a side was lost:\n{merged}");
    }

    // A value that no longer parses, changed on both sides: a conflict for that value only.
    let garbage = replace_value(&base, "a", "ENC[GPG,bm90IG9wZW5wZ3A=]");
    let (out, merged) = driver(&repo, BOB, &base, &ours, &garbage, &["--marker-size", "9"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("common.eyaml: a: changed on both sides (cannot compare the plaintexts"),
        "{err}"
    );
    assert!(merged.contains("<<<<<<<<< ours\na: ENC[GPG,"), "{merged}");
    assert!(
        merged.contains("a: ENC[GPG,bm90IG9wZW5wZ3A=]\n>>>>>>>>> theirs\n"),
        "{merged}"
    );
    assert_eq!(
        value(&merged.replace("<<<<<<<<< ours\na", "A"), "b"),
        value(&base, "b")
    );

    // A key that cannot decrypt one side: the same fallback.
    let alice = repo.encrypt("DEC::GPG[a3]!", "alice@example.com");
    let theirs = replace_value(&base, "a", alice.trim());
    let (out, merged) = driver(&repo, BOB, &base, &ours, &theirs, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("a: changed on both sides (cannot compare"),
        "{}",
        stderr(&out)
    );
    assert_eq!(merged.matches("<<<<<<< ours").count(), 1);

    // Bytes that are not text merge as lines.
    let (out, merged) = driver(&repo, BOB, "\u{1}\n", "\u{1}\nx\n", "\u{1}\n", &[]);
    ok(&out);
    assert_eq!(merged, "\u{1}\nx\n");
    std::fs::write(repo.dir().join("t.eyaml"), b"\xff\n").unwrap();
    let out = repo.bin(BOB, &["merge", "b.eyaml", "o.eyaml", "t.eyaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not UTF-8"), "{}", stderr(&out));

    // A missing side: an error, OURS untouched.
    repo.write("o.eyaml", "keep\n");
    let out = repo.bin(BOB, &["merge", "missing.eyaml", "o.eyaml", "t.eyaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.eyaml"), "{}", stderr(&out));
    assert_eq!(repo.read("o.eyaml"), "keep\n");
}
