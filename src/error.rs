//! The library's error type: one enum, variants carry the path and line where known, and no
//! variant ever holds a secret.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// A library result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library. `Clone`, so that one failure can be reported
/// for every value it affects.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A path names a directory where a file was expected.
    #[error("{}: is a directory", path.display())]
    IsADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A path names something other than a regular file (a FIFO, a device, a socket, a
    /// symbolic link loop) where a file was expected.
    #[error("{}: is {kind}, not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// A file larger than any file eyaml-gpg reads (see `eyaml::MAX_FILE_SIZE`).
    #[error(
        "{}: {size} bytes, larger than the {limit} bytes eyaml-gpg reads from one file",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Input text is not UTF-8.
    #[error("{}: not valid UTF-8 text (byte offset {offset})", path.display())]
    NotUtf8 {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// An error that belongs to a place in a file.
    #[error("{}:{line}:{column}: {source}", path.display())]
    At {
        /// The file (`-` for standard input, `<string>` for `-s`).
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What went wrong there.
        #[source]
        source: Box<Error>,
    },
    /// An error that belongs to a file as a whole (no position).
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong with it.
        #[source]
        source: Box<Error>,
    },
    /// The service socket cannot be set up (unsafe directory, in use, not a socket).
    #[error("{}: {message}", path.display())]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file changed on disk between being read and being rewritten (checked again right
    /// before the rename): it was left as is.
    #[error(
        "{}: changed on disk after it was read (a concurrent edit or recrypt?), so it was not \
         overwritten; run the command again",
        .0.display()
    )]
    ChangedOnDisk(PathBuf),
    /// The payload of an `ENC[…]` value is not valid base64.
    #[error("invalid base64 in ENC value")]
    Base64,
    /// The payload is not an OpenPGP message.
    #[error("not an OpenPGP message ({0})")]
    NotOpenPgp(String),
    /// The OpenPGP message is truncated or malformed.
    #[error("truncated or malformed OpenPGP message ({0})")]
    Malformed(String),
    /// The OpenPGP message has no encryption layer.
    #[error("the OpenPGP message is not encrypted; refusing to treat it as a secret")]
    NotEncrypted,
    /// The message is encrypted without integrity protection (SED, no MDC).
    #[error("the OpenPGP message has no integrity protection (no MDC); refusing to decrypt it")]
    NoIntegrity,
    /// A tag-20 AEAD message (GnuPG 2.4 OCB, or EAX from rnp and old drafts), which Sequoia
    /// cannot read.
    #[error(
        "the value is an AEAD {} message (packet tag 20, {}), which cannot be read in process; \
         re-encrypt it after turning off AEAD in the recipient key's preferences \
         (gpg --edit-key KEY, then `setpref` without AEAD, or `showpref` to check)",
        .0,
        aead_writer(*.0)
    )]
    AeadMessage(crate::crypto::AeadMode),
    /// None of the secret keys at hand can decrypt the value.
    #[error(
        "No secret key: the value is encrypted to {}; secret keys available: {}",
        list_or(recipients, "no key (anonymous recipients)"),
        list_or(available, "none")
    )]
    NoSecretKey {
        /// The keys the value is encrypted to (key id and user id where known).
        recipients: Vec<String>,
        /// The secret keys we hold.
        available: Vec<String>,
    },
    /// A message encrypted to a password only (SKESK, no PKESK): eyaml values are
    /// encrypted to keys.
    #[error(
        "the value is a symmetric-only (password) message, encrypted to no key; eyaml-gpg \
         decrypts with keys only (gpg --decrypt reads it with the password)"
    )]
    SymmetricOnly,
    /// A key whose algorithm the in-process OpenPGP backend lacks (ElGamal, brainpool).
    #[error("algorithm not supported in process: {key} is {algorithm}; {hint}")]
    UnsupportedAlgorithm {
        /// The key (key id and user id).
        key: String,
        /// Its algorithm (`elg2048`, `brainpoolP256r1`).
        algorithm: String,
        /// What works instead.
        hint: String,
    },
    /// A GnuPG 1.4 home whose `secring.gpg` never reached gpg-agent.
    #[error(
        "No secret key: the GnuPG home {} keeps its secret keys in secring.gpg, a GnuPG 1.4 \
         keyring that gpg-agent does not read and that was never migrated; run `gpg --homedir {} \
         --import {}`, then try again",
        home.display(),
        home.display(),
        home.join("secring.gpg").display()
    )]
    UnmigratedSecring {
        /// The GnuPG home.
        home: PathBuf,
    },
    /// Decryption failed for another reason.
    #[error("decryption failed: {0}")]
    DecryptionFailed(String),
    /// A `DEC` value ends at the first `]!`, and a later `]!` ends a line: the secret was
    /// meant to go on (Ruby silently truncates it).
    #[error(
        "`]!` appears again at line {line} after this DEC value ends: a value ends at the first `]!`, \
         so a secret cannot contain `]!` (encrypt it with `eyaml-gpg encrypt -f FILE` instead)"
    )]
    TruncatedDec {
        /// The 1-based line of the later `]!`.
        line: usize,
    },
    /// A decrypted value is not UTF-8 text.
    #[error("the decrypted value is not UTF-8 text")]
    PlaintextNotUtf8,
    /// An `ENC[SCHEME,…]` with a scheme we do not know.
    #[error("unknown encryption scheme {0:?} (this tool handles GPG and PKCS7)")]
    UnknownScheme(String),
    /// A scheme hiera-eyaml knows that this tool does not implement.
    #[error("the {0} encryption method is not supported yet (this tool handles GPG)")]
    UnsupportedScheme(String),
    /// A PKCS7 value is not a PKCS#7 EnvelopedData this tool can read.
    #[error("not a valid PKCS7 value: {0}")]
    Pkcs7Malformed(String),
    /// No recipient of a PKCS7 value is the private key's.
    #[error(
        "wrong PKCS7 private key: {key} decrypts none of the value's recipients ({recipients})"
    )]
    Pkcs7WrongKey {
        /// Where the private key came from.
        key: String,
        /// The recipients the value names (issuer and serial number).
        recipients: String,
    },
    /// A PKCS7 value met where GPG recipients are compared (recrypt, check's stale rule).
    #[error("a PKCS7 value has no GPG recipients to compare (recrypt -d gpg migrates it to GPG)")]
    NotGpgRecipients,
    /// A PKCS7 key is missing or unreadable, or cannot be made.
    #[error("{0}")]
    Pkcs7Key(String),
    /// A recipient string matches no key.
    #[error("No key found on keyring for {0}")]
    NoKey(String),
    /// A recipient string matches keys of more than one certificate.
    #[error("recipient {recipient:?} is ambiguous: it matches {}; name one by fingerprint", candidates.join(", "))]
    AmbiguousRecipient {
        /// The recipient string.
        recipient: String,
        /// The matching certificates.
        candidates: Vec<String>,
    },
    /// A matching key has no usable encryption subkey.
    #[error("key {key} for recipient {recipient:?} has no usable encryption subkey (expired, revoked or not encryption-capable)")]
    NoEncryptionSubkey {
        /// The recipient string.
        recipient: String,
        /// The certificate.
        key: String,
    },
    /// No recipients anywhere.
    #[error("No recipients provided, don't know who to encrypt to")]
    NoRecipients,
    /// No recipients anywhere, with where they were looked for and how to set them (Ruby's
    /// message, then the explanation).
    #[error("No recipients provided, don't know who to encrypt to: {0}")]
    NoRecipientsExplained(String),
    /// A recipient key is not valid in the GnuPG trust database.
    #[error(
        "Key {short_id} ({email}) not trusted (if key trust is established by another means then \
         specify always-trust): pass --gpg-always-trust, or certify the key in GnuPG with \
         `gpg --quick-lsign-key {fingerprint}`"
    )]
    Untrusted {
        /// Low 32 bits of the primary key id, 8 hex digits.
        short_id: String,
        /// The key's e-mail address (may be empty).
        email: String,
        /// The primary key's fingerprint, for the `gpg --quick-lsign-key` hint.
        fingerprint: String,
    },
    /// A `--gpg-keyring` path does not exist.
    #[error("{}: keyring does not exist", .0.display())]
    MissingKeyring(PathBuf),
    /// A key file could not be used.
    #[error("{}: {message}", path.display())]
    Keyring {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A passphrase was needed and none could be asked for.
    #[error(
        "the secret key {0} is protected by a passphrase and there is no terminal to ask for it"
    )]
    NoTerminal(String),
    /// The passphrase entered was wrong.
    #[error("bad passphrase for secret key {0}")]
    BadPassphrase(String),
    /// The GnuPG home directory does not exist.
    #[error("Configured GPG home directory {} doesn't exist, check gpg_gnupghome configuration value is correct", .0.display())]
    NoGnupgHome(PathBuf),
    /// The GnuPG home setting is an empty string.
    #[error(
        "No GPG home directory configured, check gpg_gnupghome configuration value is correct"
    )]
    NoGnupgHomeConfigured,
    /// gpg-agent refused a request or answered in a way we cannot use.
    #[error("gpg-agent: {0}")]
    Agent(String),
    /// gpg-agent cannot be reached: it does not start, its socket refuses connections, or the
    /// connection was lost (the message says which and where).
    #[error("gpg-agent: {0}")]
    AgentUnreachable(String),
    /// gpg-agent has no pinentry to ask for a passphrase with.
    #[error(
        "gpg-agent: no pinentry could ask for the passphrase of {key} ({reason}); set \
         GPG_TTY=$(tty) or check pinentry-program in gpg-agent.conf"
    )]
    AgentNoPinentry {
        /// The secret key that needed the passphrase.
        key: String,
        /// The agent's own words.
        reason: String,
    },
    /// gpg-agent does not hold the secret key a message needs.
    #[error("gpg-agent: does not hold {0}")]
    AgentMissingKey(String),
    /// The user cancelled a passphrase prompt.
    #[error("pinentry cancelled: the passphrase prompt for {0} was dismissed")]
    Cancelled(String),
    /// Running `gpg` or `gpgconf` failed for another reason.
    #[error("{0}")]
    Gpg(String),
    /// `gpg` or `gpgconf` cannot be started (not installed, not executable).
    #[error("cannot run {command}: {source}")]
    GpgNotRunnable {
        /// The command (`gpg`, `gpgconf --list-dirs`, …).
        command: String,
        /// Why it could not be started.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// `gpg` or `gpgconf` ran and failed; `message` is the last line of its error output.
    #[error("{command} failed: {message}")]
    GpgFailed {
        /// The command (`gpg --list-keys`, …).
        command: String,
        /// Its last error line, or its exit status.
        message: String,
    },
    /// GnuPG's key validity could not be read, and encrypting to keys of the GnuPG home needs
    /// it.
    #[error(
        "{cause} (GnuPG's key validity is needed to encrypt to keys of the GnuPG home {}; \
         --gpg-always-trust skips the check)",
        home.display()
    )]
    GpgValidity {
        /// Why it could not be read.
        cause: Box<Error>,
        /// The GnuPG home.
        home: PathBuf,
    },
    /// A tag-20 AEAD message that `gpg --decrypt` could not read either.
    #[error(
        "{}; `gpg --decrypt` could not read it either ({reason})",
        Error::AeadMessage(*mode)
    )]
    AeadUnreadable {
        /// The AEAD mode of the message.
        mode: crate::crypto::AeadMode,
        /// gpg's last error line.
        reason: String,
    },
    /// A YAML document could not be read.
    #[error("{}:{line}:{column}: invalid YAML: {message}", path.display())]
    Yaml {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// Two edit-mode values carry the same `DEC(n)` id (the Ruby tool's message).
    #[error("A duplicate DEC(ID) was found so I don't know how to proceed. This is probably because you copy and pasted a value - if you do this please delete the ID and parentheses")]
    DuplicateDecId,
    /// A `DEC(n)` id names no value that the edit session showed decrypted.
    #[error("DEC({0}) does not name a value of this edit session (keep the ids eyaml-gpg edit wrote); to add a new value, write it without an id: DEC::GPG[...]!")]
    UnknownDecId(u64),
    /// An `ENC[…]` value in the edited text that the file did not hold and that cannot be
    /// decrypted (a hand-made or damaged value).
    #[error(
        "this ENC value is not in the file and cannot be read ({why}); undo the change to it, \
         or delete it"
    )]
    EditUnreadableEnc {
        /// Why it cannot be read.
        why: String,
    },
    /// A merge conflict marker left in the edited text.
    #[error(
        "a merge conflict marker is still here: keep the right version of the conflict and \
         delete the marker lines"
    )]
    EditConflictMarker,
    /// A `DEC(n)` id used twice in the edited text (reported at the second use).
    #[error("DEC({id}) is used here and at line {first_line}")]
    DecIdReused {
        /// The id.
        id: u64,
        /// The 1-based line of the first use.
        first_line: usize,
    },
    /// The file changed on disk while its edit was open; the edit was saved elsewhere.
    #[error(
        "{} {what} while the editor was open, so it was not overwritten; your edit is saved \
         (encrypted) as {}: merge the two, e.g. compare `eyaml-gpg decrypt -e` of both",
        path.display(),
        kept.display()
    )]
    EditConflict {
        /// The edited file.
        path: PathBuf,
        /// What happened to it (`changed on disk`, `was removed`, …).
        what: &'static str,
        /// Where the edit's result was saved.
        kept: PathBuf,
    },
    /// The edited file could not be written; the edit was saved elsewhere.
    #[error("{cause}; the file was not changed, your edit is saved (encrypted) as {}", kept.display())]
    EditNotWritten {
        /// Why the file could not be written.
        cause: Box<Error>,
        /// Where the edit's result was saved.
        kept: PathBuf,
    },
    /// An edit's result could be saved nowhere (the last failure, if any place was tried).
    #[error("{}", match .0 { Some(e) => format!("{e}; the edit could not be saved anywhere"), None => "no place to save the edit".to_string() })]
    EditLost(Option<Box<Error>>),
    /// The edited text is empty.
    #[error("Edited file is blank")]
    EditBlank,
    /// Decrypting a value failed during a lookup (worded as Puppet's `eyaml_lookup_key` does;
    /// `data` is the value as written, ciphertext only).
    #[error(
        "hiera-eyaml backend error decrypting {data} when looking up {key} in {}. Error was {source}{}",
        path.display(),
        // After Puppet's own wording, which scripts may match.
        line.map(|l| format!(" (line {l})")).unwrap_or_default()
    )]
    LookupDecrypt {
        /// The key looked up.
        key: String,
        /// The data file.
        path: PathBuf,
        /// The 1-based line of the value in the file, where found.
        line: Option<usize>,
        /// The string that was being decrypted, as written in the file.
        data: String,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
    /// A data file whose top level is not a hash.
    #[error("{}: file does not contain a valid yaml hash", path.display())]
    NotAHash {
        /// The file.
        path: PathBuf,
    },
    /// A lookup that cannot be done for another reason (interpolation, hierarchy settings,
    /// facts).
    #[error("{0}")]
    Lookup(String),
    /// A dotted lookup key that is not well formed (an unterminated quote, an empty segment).
    #[error("Syntax error in string: {key}")]
    LookupKeySyntax {
        /// The key as given.
        key: String,
    },
    /// A dotted key's segment reaches into a value that has no such sub-key.
    #[error(
        "Data Provider type mismatch: Got {found} when {expected} was expected to access value \
         using '{segment}' from key '{key}'"
    )]
    LookupTypeMismatch {
        /// The type of the value reached (`String`, `Array`, …).
        found: String,
        /// The type the segment needs (`Hash`, or `Array` for an index).
        expected: String,
        /// The segment.
        segment: String,
        /// The whole key.
        key: String,
    },
    /// A value that a merge cannot take (`unique` of a hash, `hash` of a string).
    #[error("The {which} element of the merge has wrong type, expects {expected}, got {found}")]
    MergeTypeMismatch {
        /// Which of the merged values (`first`, `second`).
        which: String,
        /// What the merge takes.
        expected: &'static str,
        /// The type it got.
        found: String,
    },
    /// A merge strategy name Puppet does not know.
    #[error("Unknown merge strategy: '{0}'")]
    UnknownMerge(String),
    /// A path named on the command line cannot be used.
    #[error("{}: {source}", path.display())]
    PathArgument {
        /// The path as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The `check` configuration file cannot be used.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// git cannot be started (`check --staged`, `recrypt --staged`).
    #[error("cannot run git: {0}")]
    GitNotRunnable(Arc<std::io::Error>),
    /// A git command failed (not a repository, say); `message` is its own.
    #[error("git {command}: {message}")]
    GitFailed {
        /// The command and its arguments, without `git`.
        command: String,
        /// Its error output or exit status.
        message: String,
    },
    /// A git command's answer is not what it documents (a damaged repository or a git we do not
    /// understand).
    #[error("git {command}: {message}")]
    GitMalformed {
        /// The command (`ls-files`, `cat-file`).
        command: &'static str,
        /// What was wrong with the answer.
        message: String,
    },
    /// A path that should be staged is not in the git index.
    #[error("{0}: not in the index")]
    GitNotInIndex(String),
    /// A glob pattern is not valid.
    #[error("invalid glob {pattern:?}: {message}")]
    Glob {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// An OpenPGP operation failed for a reason not covered above.
    #[error("OpenPGP: {0}")]
    OpenPgp(String),
    /// A value decrypts to more plaintext than the limit (a decompression bomb, or a value
    /// that is no secret); reading stopped at the limit.
    #[error(
        "the value decrypts to more than {limit} bytes (a compression bomb?); reading stopped \
         there (raise the limit with --max-value-size or EYAML_GPG_MAX_VALUE_SIZE)"
    )]
    ValueTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A `DEC::…[` marker with no closing `]!`: its text would be written as plaintext.
    #[error(
        "unterminated DEC marker: `DEC::{scheme}[` has no closing `]!`, so its text would be \
         written unencrypted; close it with `]!` or remove it"
    )]
    UnterminatedDec {
        /// The scheme as written.
        scheme: String,
    },
    /// A key named on the command line matches no certificate.
    #[error("no certificate matches {0:?} (import it into the GnuPG home, or name its key file with --gpg-keyring)")]
    UnknownKey(String),
    /// A key named on the command line matches more than one certificate.
    #[error("{key:?} matches {} certificates: {}; name one by fingerprint", candidates.len(), candidates.join(", "))]
    AmbiguousKey {
        /// The key as given.
        key: String,
        /// The matching certificates.
        candidates: Vec<String>,
    },
    /// A key cannot be made a recipient: it failed the checks of `keys list`.
    #[error("{key}: cannot be a recipient: {}", problems.join("; "))]
    UnusableKey {
        /// The certificate.
        key: String,
        /// What is wrong with it.
        problems: Vec<String>,
    },
    /// A recipients file that cannot be edited in place.
    #[error("{}: cannot edit this recipients file: {reason}", path.display())]
    RecipientsNotEditable {
        /// The file.
        path: PathBuf,
        /// Why (a symbolic link, not writable).
        reason: String,
    },
    /// Removing a key would leave a recipients file with no recipient.
    #[error("{}: removing {key} would leave no recipient (add another key first)", path.display())]
    LastRecipient {
        /// The file.
        path: PathBuf,
        /// The key removed.
        key: String,
    },
    /// A key to remove or replace is not a recipient in any file considered.
    #[error(
        "{key} is not a recipient in {}",
        list_or(files, "any recipients file")
    )]
    NotARecipient {
        /// The key as given.
        key: String,
        /// The recipients files looked at.
        files: Vec<String>,
    },
    /// A directory has no recipients file to edit, and none governs it from above.
    #[error("{}: no hiera-eyaml-gpg.recipients here or above", path.display())]
    NoRecipientsFile {
        /// The directory.
        path: PathBuf,
    },
    /// History was asked of a directory outside any git repository.
    #[error("{}: not in a git repository (exposure reads the history from git)", path.display())]
    NotAGitRepository {
        /// The directory.
        path: PathBuf,
    },
    /// `keys ack` without a lock file configured.
    #[error("no recipients_lock set in {} (add `recipients_lock: .eyaml-gpg-recipients.lock`)", path.display())]
    NoRecipientsLock {
        /// The check configuration file (or where it would be).
        path: PathBuf,
    },
}

fn aead_writer(mode: crate::crypto::AeadMode) -> &'static str {
    match mode {
        crate::crypto::AeadMode::Ocb => "as GnuPG 2.4 writes",
        _ => "as rnp and early OpenPGP drafts write",
    }
}

fn list_or(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_string()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// Wraps the error with a file position.
    pub fn at(self, path: impl Into<PathBuf>, line: usize, column: usize) -> Error {
        Error::At {
            path: path.into(),
            line,
            column,
            source: Box::new(self),
        }
    }

    /// Wraps the error with the file it belongs to.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Error {
        Error::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// Whether the error is about the environment (a missing GnuPG home or keyring) rather
    /// than the input or the operation: the binary exits with status 2 for these.
    pub fn is_environment(&self) -> bool {
        match self {
            Error::At { source, .. }
            | Error::InFile { source, .. }
            | Error::LookupDecrypt { source, .. } => source.is_environment(),
            Error::NoGnupgHome(_)
            | Error::NoGnupgHomeConfigured
            | Error::MissingKeyring(_)
            | Error::Keyring { .. }
            | Error::GitNotRunnable(_)
            | Error::GitFailed { .. }
            | Error::GitMalformed { .. }
            | Error::GitNotInIndex(_)
            | Error::PathArgument { .. }
            | Error::NotAGitRepository { .. }
            | Error::UnknownKey(_)
            | Error::AmbiguousKey { .. }
            | Error::NoRecipientsLock { .. }
            | Error::Pkcs7Key(_) => true,
            _ => false,
        }
    }

    /// The innermost error, past any position wrappers.
    pub fn root(&self) -> &Error {
        match self {
            Error::At { source, .. } | Error::InFile { source, .. } => source.root(),
            e => e,
        }
    }
}

/// Several errors reported together (every bad value of a file, say); never empty when
/// returned as an error.
#[derive(Clone, Debug)]
pub struct Errors(Vec<Error>);

impl Errors {
    /// `Ok` when `errors` is empty, else all of them as one error.
    pub fn check(errors: Vec<Error>) -> std::result::Result<(), Errors> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Errors(errors))
        }
    }

    /// The errors, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, Error> {
        self.0.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any of them is about the environment (see [`Error::is_environment`]).
    pub fn is_environment(&self) -> bool {
        self.0.iter().any(Error::is_environment)
    }
}

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}

impl From<Error> for Errors {
    fn from(e: Error) -> Self {
        Errors(vec![e])
    }
}

impl From<Vec<Error>> for Errors {
    fn from(v: Vec<Error>) -> Self {
        Errors(v)
    }
}

impl IntoIterator for Errors {
    type Item = Error;
    type IntoIter = std::vec::IntoIter<Error>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Errors {
    type Item = &'a Error;
    type IntoIter = std::slice::Iter<'a, Error>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    /// The specific variants print exactly the text their free-text ancestors printed (tests,
    /// snapshots and users' scripts match on it).
    #[test]
    fn specific_variants_keep_the_free_text_wording() {
        let cases = [
            (
                Error::AgentNoPinentry {
                    key: "K".into(),
                    reason: "R".into(),
                },
                "gpg-agent: no pinentry could ask for the passphrase of K (R); set GPG_TTY=$(tty) \
                 or check pinentry-program in gpg-agent.conf",
            ),
            (
                Error::AgentMissingKey("the secret key K".into()),
                "gpg-agent: does not hold the secret key K",
            ),
            (
                Error::AgentUnreachable("connection lost: E".into()),
                "gpg-agent: connection lost: E",
            ),
            (
                Error::EditUnreadableEnc { why: "W".into() },
                "this ENC value is not in the file and cannot be read (W); undo the change to \
                 it, or delete it",
            ),
            (
                Error::EditConflictMarker,
                "a merge conflict marker is still here: keep the right version of the conflict \
                 and delete the marker lines",
            ),
            (
                Error::DecIdReused {
                    id: 3,
                    first_line: 7,
                },
                "DEC(3) is used here and at line 7",
            ),
            (
                Error::LookupKeySyntax { key: "a.'b".into() },
                "Syntax error in string: a.'b",
            ),
            (
                Error::LookupTypeMismatch {
                    found: "String".into(),
                    expected: "Hash".into(),
                    segment: "b".into(),
                    key: "a.b".into(),
                },
                "Data Provider type mismatch: Got String when Hash was expected to access value \
                 using 'b' from key 'a.b'",
            ),
            (
                Error::MergeTypeMismatch {
                    which: "first".into(),
                    expected: "a Hash value",
                    found: "String".into(),
                },
                "The first element of the merge has wrong type, expects a Hash value, got String",
            ),
            (
                Error::UnknownMerge("x".into()),
                "Unknown merge strategy: 'x'",
            ),
            (
                Error::GitFailed {
                    command: "ls-files -s".into(),
                    message: "fatal: not a git repository".into(),
                },
                "git ls-files -s: fatal: not a git repository",
            ),
            (
                Error::GitMalformed {
                    command: "cat-file",
                    message: "short output for aa".into(),
                },
                "git cat-file: short output for aa",
            ),
            (
                Error::GitNotInIndex("a.eyaml".into()),
                "a.eyaml: not in the index",
            ),
            (
                Error::GpgFailed {
                    command: "gpg --list-keys".into(),
                    message: "gpg: oops".into(),
                },
                "gpg --list-keys failed: gpg: oops",
            ),
            (
                Error::GpgValidity {
                    cause: Box::new(Error::Gpg("C".into())),
                    home: "/h".into(),
                },
                "C (GnuPG's key validity is needed to encrypt to keys of the GnuPG home /h; \
                 --gpg-always-trust skips the check)",
            ),
            (
                Error::AeadUnreadable {
                    mode: crate::crypto::AeadMode::Ocb,
                    reason: "R".into(),
                },
                &format!(
                    "{}; `gpg --decrypt` could not read it either (R)",
                    Error::AeadMessage(crate::crypto::AeadMode::Ocb)
                ),
            ),
            (
                Error::GitNotRunnable(std::sync::Arc::new(std::io::Error::from(
                    std::io::ErrorKind::NotFound,
                ))),
                "cannot run git: entity not found",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    /// git problems stop a run as environment errors (exit 2), whichever part failed; the
    /// agent's stay operation failures (exit 1), as the free-text variants were.
    #[test]
    fn split_variants_keep_their_exit_class() {
        let git = [
            Error::GitNotInIndex("a".into()),
            Error::GitFailed {
                command: "ls-files".into(),
                message: "m".into(),
            },
            Error::GitMalformed {
                command: "cat-file",
                message: "m".into(),
            },
        ];
        assert!(git.iter().all(Error::is_environment));
        let agent = [
            Error::AgentUnreachable("m".into()),
            Error::AgentMissingKey("k".into()),
            Error::Agent("m".into()),
        ];
        assert!(!agent.iter().any(Error::is_environment));
    }
}
