//! A light line reader for YAML text: comments, keys, one-line values and block scalars,
//! robust to files that do not parse.

use super::{Finding, Rule};

/// The 1-based character column of a byte offset in a line.
pub(super) fn char_col(line: &str, byte: usize) -> usize {
    line[..byte.min(line.len())].chars().count() + 1
}

/// One line of the text with what a light YAML reading says about it.
pub(super) struct Line<'t> {
    pub(super) start: usize,
    pub(super) text: &'t str,
    /// A whole-line comment.
    pub(super) comment_line: bool,
    /// Byte offset in the line where a trailing comment starts.
    pub(super) comment_at: Option<usize>,
    /// Inside a `|`/`>` block scalar or a multi-line quoted scalar.
    pub(super) block_content: bool,
    /// The line owning this block content.
    pub(super) owner: Option<usize>,
    /// The block indicator style of this line's value (`|` or `>`), when it opens a block.
    pub(super) opens: Option<char>,
    /// The mapping key on this line.
    pub(super) key: Option<String>,
    /// Byte span of the key in the line.
    pub(super) key_span: Option<(usize, usize)>,
    /// Byte span of the value (after `key: ` or `- `), comment excluded.
    pub(super) value: Option<(usize, usize)>,
}

/// A line-based reading of a YAML text: enough to tell comments, keys, one-line values and
/// block scalars apart, robust to files that do not parse.
pub(super) struct Lines<'t> {
    pub(super) lines: Vec<Line<'t>>,
}

impl<'t> Lines<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        let mut lines: Vec<Line<'t>> = Vec::new();
        let mut start = 0;
        // (owner line, owner indentation, style, quote char for multi-line quoted scalars)
        let mut block: Option<(usize, usize, char)> = None;
        for raw in text.split_inclusive('\n') {
            let content = raw.trim_end_matches(['\n', '\r']);
            let idx = lines.len();
            let indent = content.len() - content.trim_start_matches([' ', '\t']).len();
            let blank = content.trim().is_empty();
            let mut line = Line {
                start,
                text: content,
                comment_line: false,
                comment_at: None,
                block_content: false,
                owner: None,
                opens: None,
                key: None,
                key_span: None,
                value: None,
            };
            start += raw.len();
            if let Some((owner, owner_indent, style)) = block {
                let inside = match style {
                    '"' | '\'' => true,
                    _ => blank || indent > owner_indent,
                };
                if inside {
                    line.block_content = true;
                    line.owner = Some(owner);
                    if (style == '"' || style == '\'') && closes_quote(content, style) {
                        block = None;
                    }
                    lines.push(line);
                    continue;
                }
                block = None;
            }
            let body = &content[indent..];
            if blank {
                lines.push(line);
                continue;
            }
            if body.starts_with('#') {
                line.comment_line = true;
                line.comment_at = Some(indent);
                lines.push(line);
                continue;
            }
            // Sequence markers, then a key.
            let mut pos = indent;
            let mut node_indent = indent;
            while content[pos..].starts_with("- ") || &content[pos..] == "-" {
                pos += 1;
                while content[pos..].starts_with([' ', '\t']) {
                    pos += 1;
                }
                node_indent = pos;
            }
            if let Some((kend, key)) = mapping_key(&content[pos..]) {
                line.key_span = Some((pos, pos + kend));
                line.key = Some(key);
                pos += kend + 1;
                while content[pos..].starts_with([' ', '\t']) {
                    pos += 1;
                }
            } else {
                // A bare sequence item or a continuation line: its parent is the dash.
                node_indent = if node_indent > indent {
                    indent
                } else {
                    node_indent
                };
            }
            let (vend, comment) = value_end(content, pos);
            line.comment_at = comment;
            if vend > pos {
                line.value = Some((pos, vend));
                let v = content[pos..vend].trim();
                let v = strip_properties(v);
                if (v.starts_with('|') || v.starts_with('>'))
                    && v[1..]
                        .chars()
                        .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
                {
                    let style = v.chars().next().unwrap_or('|');
                    line.opens = Some(style);
                    let parent = if line.key.is_some() {
                        node_indent
                    } else {
                        indent
                    };
                    block = Some((idx, parent, style));
                } else if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
                    if !closes_quote(&v[1..], q) {
                        block = Some((idx, indent, q));
                    }
                }
            }
            lines.push(line);
        }
        Lines { lines }
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        match self.lines.binary_search_by(|l| l.start.cmp(&offset)) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        }
    }

    pub(super) fn position(&self, offset: usize) -> (usize, usize) {
        let i = self.line_of(offset);
        let l = &self.lines[i];
        (i + 1, char_col(l.text, offset - l.start))
    }

    pub(super) fn in_comment(&self, offset: usize) -> bool {
        let l = &self.lines[self.line_of(offset)];
        !l.block_content && l.comment_at.is_some_and(|c| offset - l.start >= c)
    }

    pub(super) fn in_literal_block(&self, offset: usize) -> bool {
        let l = &self.lines[self.line_of(offset)];
        l.block_content && l.owner.is_some_and(|o| self.lines[o].opens == Some('|'))
    }

    pub(super) fn is_mapping_key(&self, offset: usize) -> bool {
        let l = &self.lines[self.line_of(offset)];
        !l.block_content
            && l.key_span
                .is_some_and(|(a, b)| a <= offset - l.start && offset - l.start < b)
    }

    /// The key of the line holding `offset`, or of the block's owner.
    pub(super) fn key_at(&self, offset: usize) -> Option<String> {
        let l = &self.lines[self.line_of(offset)];
        match l.owner {
            Some(o) if l.block_content => self.lines[o].key.clone(),
            _ => l.key.clone(),
        }
    }

    /// Byte spans (in the text) of the non-blank content lines of the block opened at `i`.
    pub(super) fn block_of(&self, i: usize) -> Vec<(usize, usize)> {
        self.lines[i + 1..]
            .iter()
            .take_while(|l| l.block_content && l.owner == Some(i))
            .filter(|l| !l.text.trim().is_empty())
            .map(|l| (l.start, l.start + l.text.len()))
            .collect()
    }

    /// Whether an inline `# eyaml-gpg: allow [rule,…]` comment on the finding's line (or on
    /// the line owning its block) silences it.
    pub(super) fn allowed(&self, f: &Finding) -> bool {
        let Some(mut l) = self.lines.get(f.line.wrapping_sub(1)) else {
            return false;
        };
        if l.block_content {
            match l.owner {
                Some(o) => l = &self.lines[o],
                None => return false,
            }
        }
        let Some(c) = l.comment_at else { return false };
        let comment = &l.text[c..];
        let Some(i) = comment.find("eyaml-gpg: allow") else {
            return false;
        };
        let rest = comment[i + 16..].trim();
        let rules: Vec<&str> = rest
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .take_while(|s| Rule::from_id(s).is_some())
            .collect();
        rules.is_empty() || rules.contains(&f.rule.id())
    }
}

pub(super) fn strip_properties(mut v: &str) -> &str {
    while let Some(rest) = v.strip_prefix('&').or_else(|| v.strip_prefix('!')) {
        match rest.find([' ', '\t']) {
            Some(i) => v = rest[i..].trim_start(),
            None => return "",
        }
    }
    v
}

/// Whether a quoted scalar started before `s` ends in `s`.
pub(super) fn closes_quote(s: &str, q: char) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if q == '"' && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q as u8 {
            if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return true;
        }
        i += 1;
    }
    false
}

/// The mapping key at the start of `s`: (byte offset of its `:`, key text).
pub(super) fn mapping_key(s: &str) -> Option<(usize, String)> {
    let b = s.as_bytes();
    let first = *b.first()?;
    if matches!(
        first,
        b'{' | b'[' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'#' | b'?'
    ) {
        return None;
    }
    if first == b'"' || first == b'\'' {
        let q = first as char;
        let mut i = 1;
        while i < b.len() {
            if q == '"' && b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == first {
                if q == '\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                break;
            }
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let key = s[1..i].to_string();
        let mut j = i + 1;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        return (b.get(j) == Some(&b':')
            && matches!(b.get(j + 1), None | Some(b' ') | Some(b'\t')))
        .then_some((j, key));
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b':' if matches!(b.get(i + 1), None | Some(b' ') | Some(b'\t')) => {
                return Some((i, s[..i].trim_end().to_string()));
            }
            b'#' if i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t') => return None,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Where the value starting at `pos` ends (before a trailing comment), and where that comment
/// starts.
pub(super) fn value_end(line: &str, pos: usize) -> (usize, Option<usize>) {
    let b = line.as_bytes();
    let mut i = pos;
    // A quoted value ends at its closing quote; a comment may follow.
    if let Some(&q) = b.get(pos).filter(|&&c| c == b'"' || c == b'\'') {
        i += 1;
        while i < b.len() {
            if q == b'"' && b[i] == b'\\' {
                i += 2;
                continue;
            }
            if b[i] == q {
                if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            i += 1;
        }
        i = i.min(b.len());
    }
    while i < b.len() {
        if b[i] == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
            let end = line[pos..i].trim_end().len() + pos;
            return (end, Some(i));
        }
        i += 1;
    }
    (line.trim_end().len().max(pos), None)
}
