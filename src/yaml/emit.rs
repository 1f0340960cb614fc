//! A small YAML writer for [`Value`], laid out as Ruby's `to_yaml` (Psych over libyaml) lays
//! out what `puppet lookup` prints: `--- scalar` or `---` and a block collection, sequences
//! not indented under their key, multi-line strings as `|` literal blocks, quoting only where
//! the text would read back as something else. Not reproduced: libyaml's folding of lines
//! longer than 80 columns.

use std::fmt::Write as _;

use super::scan;
use crate::value::{ruby_float, Value};

/// The document Ruby's `value.to_yaml` would print (ending with a newline).
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Hash(m) if !m.is_empty() => {
            out.push_str("---\n");
            block(value, 0, &mut out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push_str("---\n");
            block(value, 0, &mut out);
        }
        Value::Null => out.push_str("---\n"),
        other => {
            out.push_str("--- ");
            out.push_str(&scalar(other, 2));
            out.push('\n');
        }
    }
    out
}

/// A non-empty collection at `indent`, one entry per line.
fn block(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Hash(m) => {
            for (k, v) in m.iter() {
                let key = match k {
                    Value::String(s) => string(s, indent + 2),
                    other => string(&other.key_text(), indent + 2),
                };
                let _ = write!(out, "{pad}{key}:");
                match v {
                    Value::Hash(h) if !h.is_empty() => {
                        out.push('\n');
                        block(v, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push('\n');
                        block(v, indent, out);
                    }
                    Value::Null => out.push('\n'),
                    _ => {
                        let _ = writeln!(out, " {}", scalar(v, indent + 2));
                    }
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                match v {
                    Value::Hash(h) if !h.is_empty() => nested_item(v, indent, out),
                    Value::Array(a) if !a.is_empty() => nested_item(v, indent, out),
                    Value::Null => {
                        let _ = writeln!(out, "{pad}-");
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", scalar(v, indent + 2));
                    }
                }
            }
        }
        _ => {}
    }
}

/// A collection inside a sequence: its first line shares the `- ` line.
fn nested_item(v: &Value, indent: usize, out: &mut String) {
    let mut inner = String::new();
    block(v, indent + 2, &mut inner);
    let _ = write!(out, "{}- {}", " ".repeat(indent), &inner[indent + 2..]);
}

/// A scalar (or empty collection) as it stands after `key: ` or `- `; a literal block's lines
/// are indented by `indent`.
fn scalar(v: &Value, indent: usize) -> String {
    match v {
        // Psych's tag for a string that is not text (plain base64 is a valid scalar).
        Value::String(s) if s.is_binary() => {
            format!("!binary {}", s.binary_base64().unwrap_or_default())
        }
        Value::String(s) => string(s, indent),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Value::Float(f) => ruby_float(*f),
        Value::Boolean(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Array(_) => "[]".into(),
        Value::Hash(_) => "{}".into(),
    }
}

#[derive(PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// A string in the style Psych asks for and libyaml allows.
fn string(s: &str, indent: usize) -> String {
    let special = s.chars().any(|c| c != '\n' && !printable(c));
    let multi_line = s.trim_end_matches('\n').contains('\n') || s.matches('\n').count() > 1;
    let wanted = if multi_line {
        Style::Literal
    } else if s.contains('\n') {
        Style::Double
    } else if s == "<<" {
        Style::Single
    } else if matches!(s, "y" | "Y" | "n" | "N") || starts_with_non_word(s) {
        Style::Double
    } else if !matches!(scan::tokenize(s), Ok(Value::String(_))) || octal_lookalike(s) {
        Style::Single
    } else {
        Style::Plain
    };
    let style = match wanted {
        _ if special => Style::Double,
        Style::Literal if s.contains(" \n") || s.ends_with(' ') || s.starts_with('\n') => {
            Style::Double
        }
        Style::Plain if !plain_allowed(s) => Style::Single,
        other => other,
    };
    match style {
        Style::Plain => s.to_string(),
        Style::Single => format!("'{}'", s.replace('\'', "''")),
        Style::Double => double(s),
        Style::Literal => literal(s, indent),
    }
}

/// Psych's `/^[^[:word:]][^"]*$/`: a first character that is not a word character, and no
/// double quote after it.
fn starts_with_non_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| !(c.is_alphanumeric() || c == '_'))
        && !chars.as_str().contains('"')
}

/// Psych's `/\A0[0-7]*[89]/`: text that an older reader could take for a bad octal number.
fn octal_lookalike(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('0') else {
        return false;
    };
    let rest = rest.trim_start_matches(|c: char| ('0'..='7').contains(&c));
    rest.starts_with(['8', '9'])
}

/// libyaml's printable set (it takes 4-byte UTF-8 characters for non-printable).
fn printable(c: char) -> bool {
    matches!(c, '\n' | '\x20'..='\x7e' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && c != '\u{feff}'
}

/// libyaml's test for a plain scalar in block context.
fn plain_allowed(s: &str) -> bool {
    if s.is_empty() || s.starts_with(' ') || s.ends_with(' ') {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let blank_after = |i: usize| chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '\t');
    if "#,[]{}&*!|>'\"%@`".contains(chars[0]) {
        return false;
    }
    if matches!(chars[0], '?' | ':' | '-') && blank_after(0) {
        return false;
    }
    for i in 1..chars.len() {
        match chars[i] {
            ':' if blank_after(i) => return false,
            '#' if chars[i - 1] == ' ' || chars[i - 1] == '\t' => return false,
            _ => {}
        }
    }
    true
}

/// A double-quoted scalar with libyaml's escapes.
fn double(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// A `|` literal block: chomping `-` without a final newline, `+` with more than one.
fn literal(s: &str, indent: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let mut out = String::from("|");
    if s.starts_with(' ') {
        out.push('2');
    }
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let pad = " ".repeat(indent);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(yaml: &str) {
        let v = crate::yaml::load(yaml).unwrap();
        let text = to_string(&v);
        let back = crate::yaml::load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, v, "{text}");
    }

    #[test]
    fn emits_like_psych() {
        assert_eq!(
            to_string(&Value::from("R00t!pa$$w0rd#dc1")),
            "--- R00t!pa$$w0rd#dc1\n"
        );
        assert_eq!(to_string(&Value::from("")), "--- ''\n");
        assert_eq!(to_string(&Value::from("a\nb")), "--- |-\n  a\n  b\n");
        assert_eq!(
            to_string(&Value::from("0123456789abcdef")),
            "--- '0123456789abcdef'\n"
        );
        assert_eq!(to_string(&Value::from("yes")), "--- 'yes'\n");
        assert_eq!(
            to_string(&Value::from("k\u{1F511}")),
            "--- \"k\\U0001F511\"\n"
        );
        assert_eq!(to_string(&Value::Boolean(true)), "--- true\n");
    }

    #[test]
    fn emitted_text_reads_back() {
        for y in [
            "a: 1\nb: [x, {c: 'yes', d: ~}, [1, 2]]\ne: {f: {g: '0755'}}\n",
            "- '1:30'\n- \"tab\\there\"\n- \" lead\"\n- 'x: y'\n- '# c'\n- '- d'\n- ''\n- []\n- {}\n",
            "k: \"line\\nline\\n\"\nl: \"two\\n\\n\"\nm: \"sp \\nx\"\nn: \"\\nlead\"\n",
            "'1': a\n'true': b\nq: \"it's \\\"q\\\"\"\nf: 1.5\ng: 2024-01-01x\n",
        ] {
            round_trip(y);
        }
    }
}
