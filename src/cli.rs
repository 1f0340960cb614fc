//! The command line, clap definitions only: the same structs feed the parser, the man pages
//! and the shell completions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// eyaml-gpg: hiera-eyaml with GPG, fast and in one binary
#[derive(Parser, Debug)]
#[command(
    name = "eyaml-gpg",
    version,
    about = "Encrypt, decrypt and edit hiera-eyaml GPG secrets (a drop-in for `eyaml -n gpg`)",
    after_help = "Examples:\n  eyaml-gpg decrypt -e hieradata/common.eyaml\n  eyaml-gpg encrypt -s 'hunter2' --gpg-recipients-file hieradata/hiera-eyaml-gpg.recipients",
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options shared by every subcommand
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every subcommand (they may come before or after the subcommand).
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Encryption method for values without a scheme and for new values: `gpg` (default) or `pkcs7`
    #[arg(short = 'n', long, global = true, value_name = "METHOD")]
    pub encrypt_method: Option<String>,

    /// Show which files, keys and recipients are used
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Show even more detail than --verbose
    #[arg(short, long, global = true)]
    pub trace: bool,

    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// GnuPG home holding public keys (and reaching gpg-agent for secret keys)
    #[arg(long, global = true, value_name = "DIR")]
    pub gpg_gnupghome: Option<PathBuf>,

    /// Encrypt to keys whose validity in the GnuPG trust db is below full
    #[arg(long, global = true)]
    pub gpg_always_trust: bool,

    /// Recipients to encrypt to, comma-separated (beats any recipients file)
    #[arg(long, global = true, value_name = "LIST")]
    pub gpg_recipients: Option<String>,

    /// File listing recipients (beats the hiera-eyaml-gpg.recipients search)
    #[arg(long, global = true, value_name = "FILE")]
    pub gpg_recipients_file: Option<PathBuf>,

    /// OpenPGP key file or directory of key files, armoured or binary (repeatable; also
    /// EYAML_GPG_KEYRING, a `:`-separated list)
    #[arg(long, global = true, value_name = "PATH")]
    pub gpg_keyring: Vec<PathBuf>,

    /// PKCS7 private key, PEM (default ./keys/private_key.pkcs7.pem); read only for PKCS7 values
    #[arg(long, global = true, value_name = "FILE")]
    pub pkcs7_private_key: Option<PathBuf>,

    /// PKCS7 public key: the certificate, PEM (default ./keys/public_key.pkcs7.pem)
    #[arg(long, global = true, value_name = "FILE")]
    pub pkcs7_public_key: Option<PathBuf>,

    /// Environment variable holding the PKCS7 private key as PEM (beats the file when set)
    #[arg(long, global = true, value_name = "VAR")]
    pub pkcs7_private_key_env_var: Option<String>,

    /// Environment variable holding the PKCS7 public key as PEM (beats the file when set)
    #[arg(long, global = true, value_name = "VAR")]
    pub pkcs7_public_key_env_var: Option<String>,

    /// Environment variable holding the PKCS7 private key as base64 of PEM (eyaml 5)
    #[arg(long, global = true, value_name = "VAR")]
    pub pkcs7_b64_private_key_env_var: Option<String>,

    /// Environment variable holding the PKCS7 public key as base64 of PEM (eyaml 5)
    #[arg(long, global = true, value_name = "VAR")]
    pub pkcs7_b64_public_key_env_var: Option<String>,

    /// Largest plaintext one value may decrypt to, in bytes or with a K, M or G suffix
    /// (default 16M; also config key max_value_size); a larger value is refused, so a
    /// compression bomb stops there
    #[arg(long, global = true, value_name = "SIZE", env = "EYAML_GPG_MAX_VALUE_SIZE", value_parser = parse_size)]
    pub max_value_size: Option<usize>,
}

/// A size in bytes: digits, optionally followed by `K`, `M` or `G` (powers of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a size such as 16M, 512K or 1048576"))
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Encrypt a string, a file, standard input, a password or the DEC values of an eyaml file
    #[command(
        after_help = "Examples:\n  eyaml-gpg encrypt -s 'hunter2' -l profile::db::password --gpg-recipients bob@example.com\n  eyaml-gpg encrypt -e hieradata/common.eyaml > common.eyaml.new"
    )]
    Encrypt(EncryptArgs),

    /// Decrypt a string, a file, standard input or every value of an eyaml file
    #[command(
        after_help = "Examples:\n  eyaml-gpg decrypt -e hieradata/common.eyaml\n  eyaml-gpg decrypt --stdin < value.txt"
    )]
    Decrypt(DecryptArgs),

    /// Check eyaml files for plaintext secrets, edit leftovers and stale recipients (public keys only)
    #[command(
        after_help = "Exit status: 0 clean, 1 findings at or above --fail-on, 2 usage or environment error.\n\nExamples:\n  eyaml-gpg check --gpg-keyring keys/ hieradata/\n  eyaml-gpg check --staged --format github\n  eyaml-gpg check --glob '*.yaml' --fail-on warning --format json ."
    )]
    Check(CheckArgs),

    /// Print an eyaml file with the values the keys at hand can decrypt as DEC::GPG[…]! (for `git diff`)
    #[command(
        after_help = "Never fails a diff: values that cannot be decrypted stay ENC[…]. Set it up with\n  echo '*.eyaml diff=eyaml' >> .gitattributes\n  git config diff.eyaml.textconv 'eyaml-gpg textconv'\n\nExample:\n  eyaml-gpg textconv hieradata/common.eyaml"
    )]
    Textconv(TextconvArgs),
    /// Edit an eyaml file: its values decrypted in an editor, what changed encrypted again
    #[command(
        after_help = "Examples:\n  eyaml-gpg edit hieradata/common.eyaml\n  EDITOR='code --wait' eyaml-gpg edit --no-preamble hieradata/nodes/web1.eyaml"
    )]
    Edit(EditArgs),
    /// Look a key up in data files as Puppet's Hiera does, decrypting only what it returns
    #[command(
        after_help = "Files are searched in the order given (highest priority first), as the paths of a Hiera 5 \
                      hierarchy level with `lookup_key: eyaml_lookup_key`. A dotted key digs into hashes and \
                      arrays (`profile::db.users.0.password`; quote a segment that holds a dot).\n\n\
                      Examples:\n  eyaml-gpg lookup profile::base::root_password hieradata/nodes/web1.eyaml hieradata/common.eyaml\n  \
                      eyaml-gpg lookup profile::base::database.users.0.password --format json hieradata/common.eyaml\n  \
                      eyaml-gpg lookup profile::base::packages --merge unique hieradata/*.eyaml"
    )]
    Lookup(LookupArgs),
    /// Re-encrypt the values of files or whole trees whose recipients changed
    #[command(
        after_help = "Examples:\n  eyaml-gpg recrypt --dry-run hieradata/\n  eyaml-gpg recrypt --gpg-keyring ~/keys/me.sec.asc hieradata/\n  eyaml-gpg recrypt --all hieradata/common.eyaml\n\nExit status: 0 done (--dry-run: nothing stale), 1 a value or file failed (--dry-run: something is stale or could not be inspected), 2 usage error"
    )]
    Recrypt(RecryptArgs),

    /// Create a PKCS7 key pair (-n pkcs7): an RSA private key and a self-signed certificate
    #[command(
        after_help = "Writes --pkcs7-private-key (mode 0600) and --pkcs7-public-key, creating ./keys; existing keys are never overwritten. \
                      For GPG, create a key with gpg instead (see the README's GnuPG batch recipe).\n\n\
                      Example:\n  eyaml-gpg createkeys -n pkcs7 --pkcs7-subject /CN=puppet-secrets"
    )]
    Createkeys(CreatekeysArgs),

    /// Serve decryption to Puppet servers on a Unix socket (newline-delimited JSON)
    #[command(
        after_help = "Signals: SIGHUP reloads the keys, SIGTERM and SIGINT stop and remove the socket. Under systemd \
                      socket activation (LISTEN_FDS) the inherited socket is served and --socket is not needed.\n\n\
                      Exit status: 0 stopped (--check: every value decrypted; --once: a reply was written), \
                      1 --check found values it cannot decrypt, 2 usage or environment error.\n\n\
                      As a service on a Puppet server (runs until stopped):\n  \
                      eyaml-gpg serve --socket /run/eyaml-gpg/eyaml-gpg.sock --allow-group puppet \\\n      --gpg-gnupghome /etc/puppetlabs/eyaml-gpg\n\n\
                      Examples:\n  eyaml-gpg serve --check hieradata/\n  \
                      eyaml-gpg serve --once request.json"
    )]
    Serve(ServeArgs),

    /// Merge three versions of an eyaml file value by value (a git merge driver)
    #[command(
        after_help = "Writes the result into OURS. Exit status: 0 clean, 1 conflicts remain (between markers, \
                      each side's value encrypted), 2 usage error. Set it up for the current repository with\n  \
                      eyaml-gpg merge --install\nwhich writes\n  echo '*.eyaml merge=eyaml' >> .gitattributes\n  \
                      git config merge.eyaml.driver 'eyaml-gpg merge %O %A %B %P'\n\n\
                      Example:\n  eyaml-gpg merge common.base common.ours common.theirs hieradata/common.eyaml"
    )]
    Merge(MergeArgs),

    /// List, inspect and edit the recipients of a tree: who can and who should read what
    #[command(
        after_help = "Examples:\n  eyaml-gpg keys list hieradata/\n  eyaml-gpg keys who --values hieradata/\n  \
                      eyaml-gpg --gpg-keyring alice.asc keys add alice@example.com --to hieradata --store keys/"
    )]
    Keys(KeysArgs),

    /// List every value a key could read at some point of the git history, and which to rotate
    #[command(
        after_help = "Reads git objects only (nothing is checked out) and the values' recipient key ids (no secret \
                      key needed); with secret keys at hand, plaintexts are compared to tell exposed from rotated.\n\n\
                      Exit status: 0 nothing exposed, 1 a value is exposed, 2 usage or environment error \
                      (not a git repository, unknown key).\n\n\
                      Examples:\n  eyaml-gpg exposure bob@example.com hieradata/\n  \
                      eyaml-gpg exposure --since HEAD --format json 617F82D7FF1EB530C153BA87CC3B1F4C1F2157D1"
    )]
    Exposure(ExposureArgs),

    /// Print the version
    #[command(after_help = "Example:\n  eyaml-gpg version")]
    Version,

    /// Write man pages or shell completions
    #[command(
        after_help = "Examples:\n  eyaml-gpg generate man man/\n  eyaml-gpg generate completions bash > ~/.local/share/bash-completion/completions/eyaml-gpg"
    )]
    Generate(GenerateArgs),
}

/// `createkeys` options.
#[derive(Args, Debug)]
pub struct CreatekeysArgs {
    /// RSA key size in bits
    #[arg(long, default_value_t = eyaml_gpg::keys::DEFAULT_KEYSIZE, value_name = "BITS")]
    pub pkcs7_keysize: usize,

    /// Certificate subject and issuer, OpenSSL form (must not be empty: Bouncy Castle 1.85+,
    /// on Puppet Server, refuses an empty issuer)
    #[arg(long, default_value = eyaml_gpg::keys::DEFAULT_SUBJECT, value_name = "SUBJECT")]
    pub pkcs7_subject: String,
}

/// Where a plaintext or an eyaml text comes from. `Debug` hides the `-s` string (a secret
/// for `encrypt`).
#[derive(Args, Clone, Default)]
pub struct Sources {
    /// Source input is a string provided as an argument
    #[arg(short, long, value_name = "STRING")]
    pub string: Option<String>,

    /// Source input is a regular file
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// Source input is taken from stdin
    #[arg(long)]
    pub stdin: bool,

    /// Source input is an eyaml file
    #[arg(short, long, value_name = "FILE")]
    pub eyaml: Option<PathBuf>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("string", &self.string.as_ref().map(|_| "<redacted>"))
            .field("file", &self.file)
            .field("stdin", &self.stdin)
            .field("eyaml", &self.eyaml)
            .finish()
    }
}

/// `encrypt` options.
#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// Source input is a password entered on the terminal
    #[arg(short, long)]
    pub password: bool,

    /// Sources
    #[command(flatten)]
    pub source: Sources,

    /// Output format of final result
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Examples)]
    pub output: OutputFormat,

    /// Apply a label to the encrypted result
    #[arg(short, long, value_name = "LABEL")]
    pub label: Option<String>,
}

/// `encrypt -o` formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Both the string and the block form
    Examples,
    /// `>` block form, cut in 60-character lines
    Block,
    /// One line
    String,
}

/// `decrypt` options.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// Sources
    #[command(flatten)]
    pub source: Sources,
}

/// `edit` options.
#[derive(Args, Debug)]
pub struct EditArgs {
    /// Leave out the `# | ` help text at the top of the edit text
    #[arg(long)]
    pub no_preamble: bool,

    /// Show values as ENC[...] instead of decrypting them (new DEC::GPG[...]! values are still
    /// encrypted; no secret key needed)
    #[arg(short = 'd', long)]
    pub no_decrypt: bool,

    /// The eyaml file; one that does not exist yet is created when the edited text differs from
    /// the new-file template (nothing is written when nothing changed)
    pub file: PathBuf,
}

/// `lookup` options.
#[derive(Args, Debug)]
pub struct LookupArgs {
    /// The key to look up
    pub key: String,

    /// Data files, highest priority first (not with --hiera)
    #[arg(
        value_name = "FILE",
        required_unless_present = "hiera",
        conflicts_with = "hiera"
    )]
    pub files: Vec<PathBuf>,

    /// Look up in the Hiera 5 hierarchy of this hiera.yaml, as `puppet lookup` does
    #[arg(long, value_name = "HIERA_YAML")]
    pub hiera: Option<PathBuf>,

    /// The node's certname (with --hiera; facts come from --facts)
    #[arg(long, value_name = "CERTNAME", requires = "hiera")]
    pub node: Option<String>,

    /// The node's facts, YAML or JSON as `puppet facts` writes them (with --hiera)
    #[arg(long, value_name = "FILE", requires = "hiera")]
    pub facts: Option<PathBuf>,

    /// The environment's name, for `%{environment}` (with --hiera)
    #[arg(
        long,
        value_name = "NAME",
        default_value = "production",
        requires = "hiera"
    )]
    pub environment: String,

    /// How values found in several files combine (Hiera's merge strategies); with --hiera it
    /// wins over `lookup_options`
    #[arg(long, value_enum)]
    pub merge: Option<MergeArg>,

    /// Prefix that knocks out array elements and values in a deep merge
    #[arg(long, value_name = "PREFIX", requires = "merge")]
    pub knock_out_prefix: Option<String>,

    /// Sort arrays merged by a deep merge
    #[arg(long, requires = "merge")]
    pub sort_merged_arrays: bool,

    /// Merge arrays of hashes element by element in a deep merge
    #[arg(long, requires = "merge")]
    pub merge_hash_arrays: bool,

    /// Print the levels, paths and merges searched instead of the value (with --hiera)
    #[arg(long, requires = "hiera")]
    pub explain: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = LookupFormat::Yaml)]
    pub format: LookupFormat,
}

/// `lookup --merge` strategies.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeArg {
    /// The value of the first file that has the key
    First,
    /// Arrays and scalars of every file, flattened, without duplicates
    Unique,
    /// Hashes of every file, top-level keys of earlier files winning
    Hash,
    /// Hashes merged recursively, arrays united
    Deep,
}

/// `lookup --format` choices.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFormat {
    /// YAML as `puppet lookup` prints it
    Yaml,
    /// JSON on one line
    Json,
}

/// `recrypt` options.
#[derive(Args, Debug)]
pub struct RecryptArgs {
    /// Files and directories (directories are searched for *.eyaml, skipping hidden ones)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// The scheme every value ends in: gpg migrates PKCS7 values to the GPG recipients of
    /// their directory, pkcs7 migrates GPG values to the PKCS7 public key
    #[arg(short = 'd', long, value_name = "METHOD", default_value = "gpg")]
    pub change_encryption: String,

    /// Re-encrypt every value, not only those whose recipients changed
    #[arg(long)]
    pub all: bool,

    /// Report which values would change and why; write nothing (needs no secret key)
    #[arg(long)]
    pub dry_run: bool,

    /// Write the files whose values all succeeded even when others fail
    #[arg(long)]
    pub keep_going: bool,

    /// Extension of the files searched in directories
    #[arg(long, value_name = "EXT", default_value = "eyaml")]
    pub extension: String,

    /// Report format on standard output
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// `recrypt --format` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    /// For people
    Text,
    /// One JSON document (schema in the README)
    Json,
}

/// `generate` options.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// What to generate
    #[command(subcommand)]
    pub what: Generate,
}

/// What `generate` writes.
#[derive(Subcommand, Debug)]
pub enum Generate {
    /// Man pages, one per subcommand, into a directory
    Man {
        /// Output directory
        dir: PathBuf,
    },
    /// A shell completion script, on standard output
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// `check` options.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Files or directories to check (directories are walked for `*.eyaml`)
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Also check files matching this glob when walking (`*.yaml`, `hieradata/**/*.yaml`;
    /// repeatable)
    #[arg(long, value_name = "PATTERN")]
    pub glob: Vec<String>,

    /// Output format
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,

    /// Exit 1 when a finding has this severity or a higher one
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Check what is staged in the git index instead of the work tree (for pre-commit hooks)
    #[arg(long)]
    pub staged: bool,

    /// Warn about recipient keys expiring within DAYS days [default: 30]
    #[arg(long, value_name = "DAYS")]
    pub expiry_warning: Option<u64>,

    /// Check configuration (default: the nearest .eyaml-gpg-check.yaml at or above the current
    /// directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Do not apply this rule (a rule id such as `recipient-hygiene`; repeatable)
    #[arg(long, value_name = "RULE")]
    pub skip: Vec<String>,

    /// Check a Hiera 5 environment node by node instead of files: every key resolves and every
    /// encrypted value a node receives is encrypted to its server's key (needs --facts-dir)
    #[arg(long, value_name = "HIERA_YAML", requires = "facts_dir", conflicts_with_all = ["paths", "glob", "staged"])]
    pub hiera: Option<PathBuf>,

    /// With --hiera: the nodes, one facts file each (`*.yaml`, `*.yml` or `*.json`)
    #[arg(long, value_name = "DIR", requires = "hiera")]
    pub facts_dir: Option<PathBuf>,

    /// With --hiera: the servers' key (fingerprint or key id; repeatable). Default: any key of
    /// the level's `gpg_gnupghome`, or of the keys given to check
    #[arg(long, value_name = "FINGERPRINT", requires = "hiera")]
    pub server_key: Vec<String>,

    /// With --hiera: the environment's name, for `%{environment}`
    #[arg(
        long,
        value_name = "NAME",
        default_value = "production",
        requires = "hiera"
    )]
    pub environment: String,
}

/// `check --format` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    /// `file:line:col: severity[rule]: message`
    Human,
    /// One JSON document (schema in the README)
    Json,
    /// GitHub Actions workflow annotations
    Github,
}

/// `check --fail-on` values.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Any finding fails
    Warning,
    /// Errors fail, warnings do not
    Error,
    /// Never fail on findings
    Never,
}

/// `textconv` options.
#[derive(Args, Debug)]
pub struct TextconvArgs {
    /// The file git hands over
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The socket to create (its directory must not be world-writable); not needed under
    /// systemd socket activation
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Permissions of the socket file, octal
    #[arg(long, value_name = "MODE", default_value = "0660", value_parser = parse_mode)]
    pub socket_mode: u32,

    /// A user (name or uid) allowed to connect (repeatable; default: the service's own uid)
    #[arg(long, value_name = "USER")]
    pub allow_uid: Vec<String>,

    /// A group (name or gid) whose members, by primary group, may connect (repeatable)
    #[arg(long, value_name = "GROUP")]
    pub allow_group: Vec<String>,

    /// Most clients connected at once
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_clients: usize,

    /// Largest request line in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 4 << 20)]
    pub max_request: usize,

    /// Largest reply line in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_reply: usize,

    /// Decrypt every value under these directories once, report what cannot be read, and exit
    #[arg(long, value_name = "DIR", conflicts_with_all = ["socket", "once"])]
    pub check: Vec<PathBuf>,

    /// Answer the one request in FILE on standard output and exit (the Puppet module's binary
    /// mode)
    #[arg(long, value_name = "FILE", conflicts_with = "socket")]
    pub once: Option<PathBuf>,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    match u32::from_str_radix(s, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!("{s:?} is not an octal file mode such as 0660")),
    }
}

/// `merge` options.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The common ancestor (git's %O)
    #[arg(value_name = "BASE", required_unless_present = "install")]
    pub base: Option<PathBuf>,

    /// The current branch's version, replaced by the result (git's %A)
    #[arg(value_name = "OURS", required_unless_present = "install")]
    pub ours: Option<PathBuf>,

    /// The other branch's version (git's %B)
    #[arg(value_name = "THEIRS", required_unless_present = "install")]
    pub theirs: Option<PathBuf>,

    /// The file's path in the work tree (git's %P): its recipients are the merged values'
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Length of the conflict markers (git's %L)
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub marker_size: usize,

    /// Configure this driver for *.eyaml files in the current git repository and exit
    #[arg(long, conflicts_with_all = ["base", "ours", "theirs", "path"])]
    pub install: bool,
}

/// `keys` subcommands.
#[derive(Args, Debug)]
pub struct KeysArgs {
    /// What to do
    #[command(subcommand)]
    pub what: KeysCommand,
}

/// What `keys` does.
#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List every recipient line with the certificate it names and its problems
    #[command(
        after_help = "Exit status: 0 no error, 1 a recipient has an error (not found, ambiguous, expired, revoked, \
                      unusable or untrusted key), 2 usage error.\n\nExample:\n  eyaml-gpg keys list hieradata/"
    )]
    List(KeysListArgs),
    /// Show who can decrypt each file (and value), who should, and the difference (public keys only)
    #[command(
        after_help = "Exit status: 0 every value matches its recipients file, 1 a difference, 2 usage error.\n\n\
                      Example:\n  eyaml-gpg keys who --values hieradata/"
    )]
    Who(KeysWhoArgs),
    /// Add a key to the recipients files of directories
    #[command(
        after_help = "A directory without a recipients file gets one holding the list it inherited plus the key.\n\n\
                      Example:\n  eyaml-gpg --gpg-keyring alice.asc keys add alice@example.com --to hieradata/nodes --store keys/"
    )]
    Add(KeysAddArgs),
    /// Remove a key from recipients files
    #[command(
        after_help = "Removing the last recipient of a file is refused (so alice is added first here).\n\n\
                      Example:\n  \
                      eyaml-gpg --gpg-keyring alice.asc keys add alice@example.com --to hieradata && \
                      eyaml-gpg --gpg-keyring alice.asc keys rm bob@example.com --everywhere --recrypt"
    )]
    Rm(KeysRmArgs),
    /// Replace a key by another in every recipients file under the paths
    #[command(
        after_help = "Example:\n  eyaml-gpg --gpg-keyring alice.asc keys replace bob@example.com alice@example.com hieradata/ --recrypt"
    )]
    Replace(KeysReplaceArgs),
    /// Record the keys each recipients file names now in the recipients lock (after review)
    #[command(
        after_help = "The lock is the file named by `recipients_lock:` in .eyaml-gpg-check.yaml; `check` reports \
                      recipients files that differ from it.\n\nExample:\n  eyaml-gpg keys ack hieradata/"
    )]
    Ack(KeysAckArgs),
}

/// `keys ack` options.
#[derive(Args, Debug)]
pub struct KeysAckArgs {
    /// Files or directories whose recipients files are recorded
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Check configuration naming the lock (default: the nearest .eyaml-gpg-check.yaml at or
    /// above the current directory)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `keys list` options.
#[derive(Args, Debug)]
pub struct KeysListArgs {
    /// Files or directories (recipients files in them and above the eyaml files found)
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Warn about keys expiring within DAYS days
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub expiry_warning: u64,

    /// Output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// `keys who` options.
#[derive(Args, Debug)]
pub struct KeysWhoArgs {
    /// Files or directories (directories are searched for *.eyaml)
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// Show every value, not only each file
    #[arg(long)]
    pub values: bool,

    /// Output format
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// What every recipients edit may do after writing.
#[derive(Args, Debug)]
pub struct KeysEditArgs {
    /// Also write the certificate, armoured, as DIR/FINGERPRINT.asc (a keyring kept in the repository)
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// Re-encrypt the values now stale (needs a secret key able to read them); without it, say what is stale
    #[arg(long)]
    pub recrypt: bool,
}

/// `keys add` options.
#[derive(Args, Debug)]
pub struct KeysAddArgs {
    /// The key: fingerprint, key id, e-mail or name (GnuPG matching; must name one certificate)
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Directories whose recipients file gets the key
    #[arg(long, value_name = "DIR", required = true, num_args = 1..)]
    pub to: Vec<PathBuf>,

    /// After writing
    #[command(flatten)]
    pub edit: KeysEditArgs,
}

/// `keys rm` options.
#[derive(Args, Debug)]
pub struct KeysRmArgs {
    /// The key: fingerprint, key id, e-mail or name (a fingerprint also works for a key no longer at hand)
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Directories whose recipients file loses the key
    #[arg(long, value_name = "DIR", num_args = 1.., required_unless_present = "everywhere", conflicts_with = "everywhere")]
    pub from: Vec<PathBuf>,

    /// Every recipients file below the current directory
    #[arg(long)]
    pub everywhere: bool,

    /// After writing
    #[command(flatten)]
    pub edit: KeysEditArgs,
}

/// `keys replace` options.
#[derive(Args, Debug)]
pub struct KeysReplaceArgs {
    /// The key to replace
    #[arg(value_name = "OLD")]
    pub old: String,

    /// The key that takes its place (checked as `keys add` checks it)
    #[arg(value_name = "NEW")]
    pub new: String,

    /// Files or directories whose recipients files are edited
    #[arg(value_name = "PATH", default_value = ".")]
    pub paths: Vec<PathBuf>,

    /// After writing
    #[command(flatten)]
    pub edit: KeysEditArgs,
}

/// `exposure` options.
#[derive(Args, Debug)]
pub struct ExposureArgs {
    /// The key: fingerprint, key id, e-mail or name (its public key must be at hand)
    #[arg(value_name = "KEY")]
    pub key: String,

    /// Files or directories of the repository (default: the current directory)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Only the history after this revision (its state is the starting point)
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,

    /// Extension of the eyaml files
    #[arg(long, value_name = "EXT", default_value = "eyaml")]
    pub extension: String,

    /// Output format (json: an array of {file, key, status, gained, lost, line})
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}
