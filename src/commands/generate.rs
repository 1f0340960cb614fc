//! `generate`: man pages (one per subcommand) and shell completions, from the clap definitions.
//! The pages of the subcommands carry the global options (propagated by clap) and a SYNOPSIS
//! as it is typed (`eyaml-gpg edit`); `eyaml-gpg(1)` adds the sections no flag describes:
//! config files, environment, recipients discovery and exit status.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::CommandFactory;

use crate::cli::{Cli, Generate, GenerateArgs};

/// Runs `generate`.
pub fn run(args: &GenerateArgs) -> Result<ExitCode> {
    match &args.what {
        Generate::Man { dir } => write_man_pages(dir).map(|()| ExitCode::SUCCESS),
        Generate::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "eyaml-gpg", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Sections of `eyaml-gpg(1)`: (title, paragraphs). A paragraph whose lines start with two
/// spaces is shown as written (an example), others are filled.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "CONFIGURATION FILES",
        &[
            "As eyaml reads them, merged in order, later files winning: /etc/eyaml/config.yaml, ~/.eyaml/config.yaml, ./.eyaml/config.yaml, then the file named by EYAML_CONFIG. Flags on the command line win over every file.",
            "Keys are option names with _ instead of -: every option of every subcommand has one (output, label, no_preamble, no_decrypt, string, file, stdin, eyaml, password, change_encryption, dry_run, format…), as do the global ones (encrypt_method, verbose, trace, quiet, gpg_gnupghome, gpg_always_trust, gpg_recipients, gpg_recipients_file, gpg_keyring and the pkcs7_* keys). A key sets the default of the option of that name of whichever subcommand runs, as in eyaml.",
            "A key no option reads is ignored and named under -v. Symbol keys (:output:) are ignored, as eyaml 3.x ignores them. A file that cannot be read or parsed is an error (exit 2).",
            "  ---\n  gpg_gnupghome: /etc/puppetlabs/eyaml-gpg\n  output: string\n  no_preamble: true",
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            "EYAML_CONFIG: one more config file, read last (a name that does not exist is an error; empty means unset).",
            "HIERA_EYAML_GPG_GNUPGHOME: the GnuPG home unless --gpg-gnupghome is given (it beats the gpg_gnupghome key). GNUPGHOME: the GnuPG home when none of those is set (default ~/.gnupg).",
            "EYAML_GPG_KEYRING: key files or directories, separated by :, as with --gpg-keyring (the flag wins, then this, then the gpg_keyring key).",
            "VISUAL, then EDITOR: the editor of eyaml-gpg edit (else sensible-editor, editor, vim or vi).",
            "GPG_TTY: the terminal gpg-agent's pinentry asks on; set it with GPG_TTY=$(tty).",
            "NO_COLOR: no colours in messages (they are coloured only on a terminal anyway).",
        ],
    ),
    (
        "RECIPIENTS",
        &[
            "New values are encrypted to --gpg-recipients (a comma-separated list), else to the lines of --gpg-recipients-file, else to the lines of the nearest hiera-eyaml-gpg.recipients found walking up from the directory of the file written (for -s, -f, --stdin and -p: from the current directory).",
            "A recipient is matched as GnuPG matches it (fingerprint, key id, <email>, @part, =user id, or a substring of a user id). A key named twice (by e-mail and by fingerprint) is encrypted to once. Keys of the GnuPG home must be valid in its trust database unless --gpg-always-trust is given.",
        ],
    ),
    (
        "EXIT STATUS",
        &[
            "0: success.",
            "1: the operation failed (a value that cannot be decrypted, an unknown recipient, unreadable input); for check, findings at or above --fail-on; for recrypt --dry-run, something is stale.",
            "2: usage or environment error (bad flags, no or several sources, an unsupported method, a missing keyring or GnuPG home, a broken config file).",
        ],
    ),
];

/// Escapes text for roff: backslashes, hyphens (so they are not hyphenation points or
/// minus signs), and a leading dot or quote.
fn roff_escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    match s.chars().next() {
        Some('.' | '\'') => format!("\\&{s}"),
        _ => s,
    }
}

fn sections_roff() -> String {
    let mut out = String::new();
    for (title, paragraphs) in SECTIONS {
        out.push_str(&format!(".SH \"{title}\"\n"));
        for p in *paragraphs {
            if p.starts_with("  ") {
                out.push_str(".PP\n.nf\n");
                for line in p.lines() {
                    out.push_str(&roff_escape(line));
                    out.push('\n');
                }
                out.push_str(".fi\n");
            } else {
                out.push_str(".PP\n");
                out.push_str(&roff_escape(p));
                out.push('\n');
            }
        }
    }
    out
}

/// Turns hyphenation off (file names such as hiera-eyaml-gpg.recipients must not break) and
/// fills without justification, right after the title.
fn no_hyphenation(page: String) -> String {
    match page.find("\n.SH") {
        Some(i) => format!("{}\n.nh\n.ad l{}", &page[..i], &page[i..]),
        None => page,
    }
}

fn write_man_pages(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Built first, so subcommands carry the global options and their `eyaml-gpg SUB` bin name;
    // no `help` subcommand, which has no page.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = vec![("eyaml-gpg".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        let name = format!("eyaml-gpg-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().display_name(name)));
    }
    for (name, page) in pages {
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .source(format!("eyaml-gpg {}", env!("CARGO_PKG_VERSION")))
            .render(&mut buf)?;
        let mut text = no_hyphenation(String::from_utf8(buf)?);
        if name == "eyaml-gpg" {
            text.push_str(&sections_roff());
        } else {
            text.push_str(".SH \"SEE ALSO\"\n.PP\neyaml\\-gpg(1): configuration files, environment, recipients, exit status\n");
        }
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
