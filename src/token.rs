//! The hiera-eyaml token model: raw text scanned into plain chunks, `ENC[…]` values and
//! edit-mode `DEC::…[…]!` values, and rendered back. Text between tokens is kept verbatim, so
//! scanning and rendering an unchanged document gives back the input byte for byte.

use std::fmt;

use zeroize::Zeroize as _;

/// Width of the lines a block-form `ENC[…]` token is cut into (the Ruby tool's choice).
pub const BLOCK_WIDTH: usize = 60;

/// The canonical tag of the GPG scheme.
pub const GPG_TAG: &str = "GPG";

/// How a value is laid out in the YAML text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Form {
    /// On one line, where it stands: `key: ENC[GPG,…]`.
    String,
    /// A `>` folded block: `>`, a newline, then the token at `indentation`.
    Block {
        /// The whitespace between the newline after `>` and the token.
        indentation: String,
    },
}

/// Which kinds of token a scan recognises.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Kinds {
    /// `ENC[…]` values (encrypted text).
    pub enc: bool,
    /// `DEC::…[…]!` values (edit-mode text).
    pub dec: bool,
}

impl Kinds {
    /// Encrypted text, as `decrypt` and lookups read it.
    pub const ENC: Kinds = Kinds {
        enc: true,
        dec: false,
    };
    /// Edit-mode text, as `encrypt -e` and the end of an edit session read it.
    pub const DEC: Kinds = Kinds {
        enc: false,
        dec: true,
    };
    /// Both, as `check` reads a file.
    pub const BOTH: Kinds = Kinds {
        enc: true,
        dec: true,
    };
}

/// An `ENC[SCHEME,payload]` value as found in the text.
#[derive(Clone, PartialEq, Eq)]
pub struct EncToken {
    /// The scheme as written (`GPG`, `gpg`, `PKCS7`), `None` for `ENC[payload]`.
    pub scheme: Option<String>,
    /// The payload as written (block payloads keep their line breaks and indentation).
    pub payload: String,
    /// String or block form.
    pub form: Form,
    /// The exact source text of the token.
    pub raw: String,
}

impl EncToken {
    /// The payload with whitespace removed, ready for base64 decoding.
    pub fn base64(&self) -> String {
        self.payload
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect()
    }
}

impl fmt::Debug for EncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncToken")
            .field("scheme", &self.scheme)
            .field("form", &self.form)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// A `DEC(n)::SCHEME[plaintext]!` edit-mode value. Its plaintext is a secret: `Debug` hides
/// it, and it is zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct DecToken {
    /// The `n` of `DEC(n)`, if given.
    pub id: Option<u64>,
    /// The scheme as written.
    pub scheme: String,
    /// The text between `[` and `]!`.
    pub plaintext: String,
    /// String or block form.
    pub form: Form,
    /// The exact source text of the token.
    pub raw: String,
}

// The plaintext (also inside `raw`) is wiped when the token goes away.
impl Drop for DecToken {
    fn drop(&mut self) {
        self.plaintext.zeroize();
        self.raw.zeroize();
    }
}

impl fmt::Debug for DecToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecToken")
            .field("id", &self.id)
            .field("scheme", &self.scheme)
            .field("form", &self.form)
            .field("plaintext", &"<redacted>")
            .finish()
    }
}

/// One piece of a scanned document.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Token {
    /// Text that is not a value, kept verbatim.
    Plain(String),
    /// An encrypted value.
    Enc(EncToken),
    /// An edit-mode plaintext value.
    Dec(DecToken),
}

impl Token {
    /// The exact source text of the token.
    pub fn raw(&self) -> &str {
        match self {
            Token::Plain(s) => s,
            Token::Enc(e) => &e.raw,
            Token::Dec(d) => &d.raw,
        }
    }
}

/// A token with where it starts in the source.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Located {
    /// The token.
    pub token: Token,
    /// Byte offset of its first byte.
    pub offset: usize,
    /// 1-based line of its first byte.
    pub line: usize,
    /// 1-based column (in characters) of its first byte.
    pub column: usize,
}

/// Scans `text` into tokens of the given kinds, exactly as hiera-eyaml's parser does: at each
/// position the leftmost match of any token kind wins, and everything between matches becomes
/// one plain chunk (so `DEC(n)` ids are indices into this list, plain chunks included).
///
/// Deliberate difference: an empty `DEC::GPG[]!` is an empty value (Ruby's regex needs one
/// character and swallows text up to the next `]!`).
pub fn scan(text: &str, kinds: Kinds) -> Vec<Located> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut plain_start = 0;
    let mut lines = LineCounter::new(text);
    let mut closes = CloseFinder::default();
    while pos < bytes.len() {
        let b = bytes[pos];
        let found = match b {
            b'E' if kinds.enc => match_enc(text, pos, None),
            b'D' if kinds.dec => match_dec(text, pos, None, &mut closes),
            b'>' => {
                let mut m = None;
                if let Some(after) = block_prefix(bytes, pos) {
                    let indentation = &text[pos + 2..after];
                    if kinds.enc && bytes[after] == b'E' {
                        m = match_enc(text, after, Some(indentation));
                    }
                    if m.is_none() && kinds.dec && bytes[after] == b'D' {
                        m = match_dec(text, after, Some(indentation), &mut closes);
                    }
                }
                m
            }
            _ => None,
        };
        match found {
            Some((end, token)) => {
                if plain_start < pos {
                    let (line, column) = lines.at(plain_start);
                    out.push(Located {
                        token: Token::Plain(text[plain_start..pos].to_string()),
                        offset: plain_start,
                        line,
                        column,
                    });
                }
                let (line, column) = lines.at(pos);
                out.push(Located {
                    token,
                    offset: pos,
                    line,
                    column,
                });
                pos = end;
                plain_start = end;
            }
            None => pos += utf8_len(b),
        }
    }
    if plain_start < bytes.len() {
        let (line, column) = lines.at(plain_start);
        out.push(Located {
            token: Token::Plain(text[plain_start..].to_string()),
            offset: plain_start,
            line,
            column,
        });
    }
    out
}

/// Concatenates the source text of the tokens (the round-trip the tests pin).
#[cfg(test)]
pub fn render(tokens: &[Located]) -> String {
    tokens.iter().map(|t| t.token.raw()).collect()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Ruby's `\s`: space, tab, CR, LF, FF, VT.
fn is_ruby_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c | 0x0b)
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

/// For `>\n(\s*)` at `pos`, the offset just after the indentation.
fn block_prefix(bytes: &[u8], pos: usize) -> Option<usize> {
    if bytes.get(pos + 1) != Some(&b'\n') {
        return None;
    }
    let mut i = pos + 2;
    while i < bytes.len() && is_ruby_space(bytes[i]) {
        i += 1;
    }
    (i < bytes.len()).then_some(i)
}

/// `ENC\[(\w+,)?([base64]+?)\]` (block form: whitespace allowed in the payload) at `pos`.
fn match_enc(text: &str, pos: usize, block: Option<&str>) -> Option<(usize, Token)> {
    let bytes = text.as_bytes();
    if !bytes[pos..].starts_with(b"ENC[") {
        return None;
    }
    let mut i = pos + 4;
    let mut scheme = None;
    let word_end = (i..bytes.len())
        .find(|&j| !is_word(bytes[j]))
        .unwrap_or(bytes.len());
    if word_end > i && bytes.get(word_end) == Some(&b',') {
        scheme = Some(text[i..word_end].to_string());
        i = word_end + 1;
    }
    let payload_start = i;
    while i < bytes.len() && (is_base64(bytes[i]) || (block.is_some() && is_ruby_space(bytes[i]))) {
        i += 1;
    }
    if i == payload_start || bytes.get(i) != Some(&b']') {
        return None;
    }
    let (start, form) = token_start(pos, block);
    Some((
        i + 1,
        Token::Enc(EncToken {
            scheme,
            payload: text[payload_start..i].to_string(),
            form,
            raw: text[start..=i].to_string(),
        }),
    ))
}

/// Finds the next `]!` at or after an offset, remembering the last answer: the scan asks at
/// increasing offsets, so each byte is searched at most once and a text full of unterminated
/// `DEC::GPG[` markers scans in linear time (searching afresh for each was quadratic).
#[derive(Default)]
struct CloseFinder {
    /// (searched from, first `]!` at or after it).
    last: Option<(usize, Option<usize>)>,
}

impl CloseFinder {
    fn find(&mut self, bytes: &[u8], from: usize) -> Option<usize> {
        if let Some((start, found)) = self.last {
            if start <= from && found.is_none_or(|f| f >= from) {
                return found;
            }
        }
        let found = find(&bytes[from..], b"]!").map(|i| i + from);
        self.last = Some((from, found));
        found
    }
}

/// The head of a DEC marker, `DEC(\(\d+\))?::(\w+)\[`, at `pos`: (the id's digits, scheme,
/// offset of the content).
fn dec_head(text: &str, pos: usize) -> Option<(Option<&str>, &str, usize)> {
    let bytes = text.as_bytes();
    if !bytes[pos..].starts_with(b"DEC") {
        return None;
    }
    let mut i = pos + 3;
    let mut id = None;
    if bytes.get(i) == Some(&b'(') {
        let digits_end = (i + 1..bytes.len())
            .find(|&j| !bytes[j].is_ascii_digit())
            .unwrap_or(bytes.len());
        if digits_end == i + 1 || bytes.get(digits_end) != Some(&b')') {
            return None;
        }
        id = Some(&text[i + 1..digits_end]);
        i = digits_end + 1;
    }
    if !bytes[i..].starts_with(b"::") {
        return None;
    }
    i += 2;
    let scheme_start = i;
    while i < bytes.len() && is_word(bytes[i]) {
        i += 1;
    }
    if i == scheme_start || bytes.get(i) != Some(&b'[') {
        return None;
    }
    Some((id, &text[scheme_start..i], i + 1))
}

/// `DEC(\(\d+\))?::(\w+)\[(.*?)\]!` (any character, newlines included) at `pos`.
fn match_dec(
    text: &str,
    pos: usize,
    block: Option<&str>,
    closes: &mut CloseFinder,
) -> Option<(usize, Token)> {
    let (digits, scheme, content_start) = dec_head(text, pos)?;
    // An id too large for u64 is no id Ruby could have written: keep it unmatched.
    let id = match digits {
        Some(d) => Some(d.parse::<u64>().ok()?),
        None => None,
    };
    let scheme = scheme.to_string();
    let close = closes.find(text.as_bytes(), content_start)?;
    let (start, form) = token_start(pos, block);
    Some((
        close + 2,
        Token::Dec(DecToken {
            id,
            scheme,
            plaintext: text[content_start..close].to_string(),
            form,
            raw: text[start..close + 2].to_string(),
        }),
    ))
}

/// Where a token whose keyword is at `pos` starts, and its form: a block token starts at the
/// `>` before its newline and indentation.
fn token_start(pos: usize, block: Option<&str>) -> (usize, Form) {
    match block {
        Some(indentation) => (
            pos - indentation.len() - 2,
            Form::Block {
                indentation: indentation.to_string(),
            },
        ),
        None => (pos, Form::String),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Renders an encrypted value the way hiera-eyaml does: string form on one line; block form
/// `>`, a newline, then `ENC[TAG,payload]` cut into 60-character lines, each prefixed by the
/// block's indentation.
pub fn render_enc(tag: &str, base64: &str, form: &Form) -> String {
    let token = format!("ENC[{tag},{base64}]");
    match form {
        Form::String => token,
        Form::Block { indentation } => {
            let mut out = String::with_capacity(
                token.len() + token.len() / BLOCK_WIDTH * (indentation.len() + 1) + 4,
            );
            out.push_str(">\n");
            for (n, chunk) in token.as_bytes().chunks(BLOCK_WIDTH).enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                out.push_str(indentation);
                // The token is ASCII (tag and base64), so byte chunks are char boundaries.
                out.push_str(std::str::from_utf8(chunk).expect("ASCII token"));
            }
            out
        }
    }
}

/// Renders an edit-mode value: `DEC(id)::TAG[plaintext]!`, block form prefixed by `>`, a newline
/// and the indentation.
pub fn render_dec(tag: &str, id: Option<u64>, plaintext: &str, form: &Form) -> String {
    let id = id.map(|n| format!("({n})")).unwrap_or_default();
    match form {
        Form::String => format!("DEC{id}::{tag}[{plaintext}]!"),
        Form::Block { indentation } => format!(">\n{indentation}DEC{id}::{tag}[{plaintext}]!"),
    }
}

/// Every DEC marker head (`DEC::GPG[`, `DEC(3)::GPG[`) in a plain chunk: in text scanned
/// with [`Kinds::DEC`] these are markers that no `]!` closes (or whose id no `u64` holds),
/// whose text would be written through as plaintext. Offsets are relative to `plain`; each
/// comes with its scheme.
pub fn leftover_dec(plain: &str) -> Vec<(usize, &str)> {
    plain
        .match_indices("DEC")
        .filter_map(|(i, _)| dec_head(plain, i).map(|(_, scheme, _)| (i, scheme)))
        .collect()
}

/// Maps byte offsets to 1-based line and column numbers.
pub struct LineCounter<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    /// The last answer (offset, line, column): offsets asked in increasing order on one line
    /// count characters only from there, so a long line with many tokens stays linear.
    last: Option<(usize, usize, usize)>,
}

impl std::fmt::Debug for LineCounter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The text may be edit-mode text full of plaintexts: only its size is shown.
        f.debug_struct("LineCounter")
            .field("bytes", &self.text.len())
            .field("lines", &self.line_starts.len())
            .finish()
    }
}

impl<'a> LineCounter<'a> {
    /// Indexes the line starts of `text`.
    pub fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineCounter {
            text,
            line_starts,
            last: None,
        }
    }

    /// The 1-based (line, column) of byte `offset`; the column counts characters.
    pub fn at(&mut self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset);
        let start = self.line_starts[line - 1];
        let column = match self.last {
            Some((o, l, c)) if l == line && o <= offset => c + self.text[o..offset].chars().count(),
            _ => self.text[start..offset].chars().count() + 1,
        };
        self.last = Some((offset, line, column));
        (line, column)
    }
}

// Puppet's lookup backend (`eyaml_lookup_key`) reads strings with its own, looser grammar.

/// Puppet's lookup backend rule, Ruby's `/.*ENC\[.*?\]/`: some line holds `ENC[` with a `]` after it.
pub fn backend_is_encrypted(s: &str) -> bool {
    s.split('\n').any(|line| {
        line.find("ENC[")
            .is_some_and(|i| line[i + 4..].contains(']'))
    })
}

/// A piece of a string as hiera-eyaml's backend parser cuts it.
pub enum BackendPiece<'a> {
    /// Text between tokens.
    Plain(&'a str),
    /// A token (payload with spaces and newlines removed).
    Enc(EncToken),
}

/// hiera-eyaml's backend parser: tokens `ENC\[(\w+,)?([a-zA-Z0-9+/ =\n]+?)\]`, leftmost first,
/// the text between them kept.
pub fn backend_pieces(s: &str) -> Vec<BackendPiece<'_>> {
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut search = 0;
    while let Some(found) = s[search..].find("ENC[") {
        let at = search + found;
        match backend_token_at(s, at) {
            Some((len, token)) => {
                if plain_from < at {
                    out.push(BackendPiece::Plain(&s[plain_from..at]));
                }
                out.push(BackendPiece::Enc(token));
                plain_from = at + len;
                search = plain_from;
            }
            None => search = at + 4,
        }
    }
    if plain_from < s.len() {
        out.push(BackendPiece::Plain(&s[plain_from..]));
    }
    out
}

/// The token starting at `at` (where `ENC[` is), and its length.
fn backend_token_at(s: &str, at: usize) -> Option<(usize, EncToken)> {
    let b = s.as_bytes();
    let start = at + 4;
    let payload_char =
        |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b' ' | b'=' | b'\n');
    let payload_end = |from: usize| -> Option<usize> {
        let mut i = from;
        while i < b.len() && payload_char(b[i]) {
            i += 1;
        }
        (i > from && b.get(i) == Some(&b']')).then_some(i)
    };
    let word_end = {
        let mut i = start;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        i
    };
    let with_scheme = (word_end > start && b.get(word_end) == Some(&b','))
        .then(|| {
            payload_end(word_end + 1).map(|end| (Some(&s[start..word_end]), word_end + 1, end))
        })
        .flatten();
    let (scheme, from, end) =
        with_scheme.or_else(|| payload_end(start).map(|end| (None, start, end)))?;
    let payload: String = s[from..end]
        .chars()
        .filter(|c| *c != ' ' && *c != '\n')
        .collect();
    let raw = &s[at..=end];
    Some((
        end + 1 - at,
        EncToken {
            scheme: scheme.map(str::to_string),
            payload,
            form: Form::String,
            raw: raw.to_string(),
        },
    ))
}

// Near misses: text that looks like a token but is not one, for `check`.

/// Every `DEC::SCHEME[` or `DEC(n)::SCHEME[` opening (byte offset and end of the opening);
/// those not inside a scanned [`Token::Dec`] are edit markers with no closing `]!`.
pub fn dec_openings(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("DEC").map(|i| i + from) {
        from = i + 3;
        let mut j = i + 3;
        if bytes.get(j) == Some(&b'(') {
            j += 1;
            let digits = j;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j == digits || bytes.get(j) != Some(&b')') {
                continue;
            }
            j += 1;
        }
        if !text[j..].starts_with("::") {
            continue;
        }
        j += 2;
        let scheme = j;
        while j < bytes.len() && is_word(bytes[j]) {
            j += 1;
        }
        if j == scheme || bytes.get(j) != Some(&b'[') {
            continue;
        }
        out.push((i, j));
        from = j;
    }
    out
}

/// Every `ENC[(SCHEME,)PAYLOAD]` whose payload holds spaces or line breaks: not a value to
/// eyaml outside a bare `>` block. Gives the offset of `ENC[` and the payload's byte range.
pub fn spaced_encs(text: &str) -> Vec<(usize, std::ops::Range<usize>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("ENC[").map(|i| i + from) {
        from = i + 4;
        let mut j = i + 4;
        while j < bytes.len() && is_word(bytes[j]) {
            j += 1;
        }
        if j < bytes.len() && bytes[j] == b',' {
            j += 1;
        } else {
            j = i + 4;
        }
        let start = j;
        while j < bytes.len() && (is_base64(bytes[j]) || bytes[j].is_ascii_whitespace()) {
            j += 1;
        }
        if j >= bytes.len() || bytes[j] != b']' || j == start {
            continue;
        }
        if !text[start..j].bytes().any(|b| b.is_ascii_whitespace()) {
            continue;
        }
        out.push((i, start..j));
        from = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds(text: &str, k: Kinds) -> Vec<Token> {
        scan(text, k).into_iter().map(|l| l.token).collect()
    }

    #[test]
    fn string_and_block_enc() {
        let text = "---\na: ENC[GPG,abc=]\nb: >\n    ENC[GPG,ab\n    cd]\nc: plain\n";
        let toks = scan(text, Kinds::ENC);
        assert_eq!(toks.len(), 5);
        match &toks[1].token {
            Token::Enc(e) => {
                assert_eq!(e.scheme.as_deref(), Some("GPG"));
                assert_eq!(e.base64(), "abc=");
                assert_eq!(e.form, Form::String);
            }
            t => panic!("{t:?}"),
        }
        assert_eq!((toks[1].line, toks[1].column), (2, 4));
        match &toks[3].token {
            Token::Enc(e) => {
                assert_eq!(e.base64(), "abcd");
                assert_eq!(
                    e.form,
                    Form::Block {
                        indentation: "    ".into()
                    }
                );
                assert_eq!(e.raw, ">\n    ENC[GPG,ab\n    cd]");
            }
            t => panic!("{t:?}"),
        }
        assert_eq!(render(&toks), text);
    }

    #[test]
    fn enc_without_scheme_and_not_tokens() {
        let toks = kinds(
            "x: ENC[abc] ENC[] ENC[GPG,] ENC[a-b] ENC[a,b,c]",
            Kinds::ENC,
        );
        assert_eq!(toks.len(), 3);
        assert!(matches!(&toks[1], Token::Enc(e) if e.scheme.is_none() && e.payload == "abc"));
    }

    #[test]
    fn string_enc_does_not_cross_lines() {
        let toks = kinds("a: ENC[GPG,ab\ncd]", Kinds::ENC);
        assert_eq!(toks.len(), 1);
    }

    #[test]
    fn dec_forms() {
        let text = "a: DEC(1)::GPG[x]!\nb: >\n  DEC::gpg[multi\nline]!\nc: DEC::GPG[]!\nd: DEC(9)x::GPG[n]!";
        let toks = kinds(text, Kinds::DEC);
        let decs: Vec<_> = toks
            .iter()
            .filter_map(|t| match t {
                Token::Dec(d) => Some(d.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(decs.len(), 3);
        assert_eq!(decs[0].id, Some(1));
        assert_eq!(decs[0].plaintext, "x");
        assert_eq!(decs[1].plaintext, "multi\nline");
        assert_eq!(decs[1].scheme, "gpg");
        assert_eq!(
            decs[1].form,
            Form::Block {
                indentation: "  ".into()
            }
        );
        assert_eq!(
            decs[2].plaintext, "",
            "an empty secret is a value, not a reason to swallow text"
        );
    }

    #[test]
    fn plain_chunks_count_in_indices() {
        let toks = kinds("a: DEC::GPG[x]!DEC::GPG[y]!\n", Kinds::DEC);
        assert_eq!(toks.len(), 4);
        assert!(matches!(toks[0], Token::Plain(_)));
        assert!(matches!(toks[1], Token::Dec(_)));
        assert!(matches!(toks[2], Token::Dec(_)));
    }

    #[test]
    fn render_block_like_ruby() {
        let b64 = "A".repeat(100);
        let out = render_enc(
            "GPG",
            &b64,
            &Form::Block {
                indentation: "  ".into(),
            },
        );
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines[0], ">");
        assert_eq!(lines[1].len(), 62);
        assert!(lines[1].starts_with("  ENC[GPG,"));
        assert_eq!(lines.last().unwrap().len(), 2 + (109 - 60));
        assert_eq!(render_enc("GPG", "QQ==", &Form::String), "ENC[GPG,QQ==]");
    }

    #[test]
    fn debug_hides_plaintext() {
        let toks = kinds("DEC::GPG[hunter2]!", Kinds::DEC);
        assert!(!format!("{toks:?}").contains("hunter2"));
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[ -~\t\r\n]{0,12}",
            "[a-zA-Z0-9+/=]{1,30}".prop_map(|p| format!("ENC[GPG,{p}]")),
            "[a-zA-Z0-9+/=\n ]{1,30}".prop_map(|p| format!(">\n  ENC[GPG,{p}]")),
            "[a-z]{0,3}".prop_map(|p| format!("ENC[{p}")),
            "[ -~\r\n\t]{0,20}".prop_map(|p| format!("DEC::GPG[{p}]!")),
            ("[0-9]{1,3}", "[ -~\n]{0,20}")
                .prop_map(|(n, p)| format!(">\r\n\tDEC({n})::gpg[{p}]!")),
            Just("\r\n".to_string()),
            Just("é✓\t".to_string()),
            Just(">\n".to_string()),
            Just("DEC::GPG[".to_string()),
            Just("DEC(7)::GPG[".to_string()),
            Just("]!".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn scan_then_render_is_identity(pieces in proptest::collection::vec(piece(), 0..12)) {
            let text: String = pieces.concat();
            for k in [Kinds::ENC, Kinds::DEC, Kinds::BOTH] {
                let toks = scan(&text, k);
                prop_assert_eq!(render(&toks), text.clone());
                for w in toks.windows(2) {
                    let both_plain = matches!(w[0].token, Token::Plain(_)) && matches!(w[1].token, Token::Plain(_));
                    prop_assert!(!both_plain);
                }
                // Positions agree with counting from the start (the counter is incremental).
                for t in &toks {
                    let before = &text[..t.offset];
                    let line = before.matches('\n').count() + 1;
                    let start = before.rfind('\n').map_or(0, |i| i + 1);
                    prop_assert_eq!((t.line, t.column), (line, text[start..t.offset].chars().count() + 1));
                }
                // A DEC value ends at the first `]!` after its `[` (the cached search agrees
                // with a fresh one).
                for t in &toks {
                    if let Token::Dec(d) = &t.token {
                        prop_assert!(!d.plaintext.contains("]!"));
                    }
                }
            }
        }

        #[test]
        fn rendered_enc_scans_back(b64 in "[a-zA-Z0-9+/]{1,400}", indent in "[ ]{0,8}", block in any::<bool>()) {
            let form = if block { Form::Block { indentation: indent } } else { Form::String };
            let text = format!("k: {}\n", render_enc("GPG", &b64, &form));
            let toks = scan(&text, Kinds::ENC);
            let enc = toks.iter().find_map(|t| match &t.token { Token::Enc(e) => Some(e.clone()), _ => None }).unwrap();
            prop_assert_eq!(enc.base64(), b64);
            prop_assert_eq!(enc.form, form);
        }
    }
}
