//! Heuristics for plaintext secrets: private key blocks, generated-looking strings.

use super::lines::strip_properties;

/// The byte offset of a PEM private key header in a line.
pub(super) fn pem_private(line: &str) -> Option<usize> {
    let i = line.find("-----BEGIN ")?;
    let rest = &line[i + 11..];
    let end = rest.find("-----")?;
    let label = &rest[..end];
    (label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK")).then_some(i)
}

/// A plain scalar as far as the secret rules care.
pub(super) enum Scalar {
    /// A `|` or `>` block indicator: the value is on the following lines.
    Block,
    /// A one-line value (quotes removed).
    Text(String),
    /// Nothing to judge (alias, flow collection, unterminated quote).
    Skip,
}

pub(super) fn scalar_value(raw: &str) -> Scalar {
    let v = raw.trim();
    let stripped = strip_properties(v);
    if stripped.is_empty() && !v.is_empty() {
        return Scalar::Skip;
    }
    let v = stripped;
    if v.is_empty() || v.starts_with('*') || v.starts_with('{') || v.starts_with('[') {
        return Scalar::Skip;
    }
    if (v.starts_with('|') || v.starts_with('>'))
        && v[1..]
            .chars()
            .all(|c| c == '-' || c == '+' || c.is_ascii_digit())
    {
        return Scalar::Block;
    }
    if let Some(rest) = v.strip_prefix('"') {
        return match rest.strip_suffix('"') {
            Some(inner) => Scalar::Text(inner.to_string()),
            None => Scalar::Skip,
        };
    }
    if let Some(rest) = v.strip_prefix('\'') {
        return match rest.strip_suffix('\'') {
            Some(inner) => Scalar::Text(inner.replace("''", "'")),
            None => Scalar::Skip,
        };
    }
    Scalar::Text(v.to_string())
}

/// Whether a value under a secret-looking key is data worth flagging (not a boolean, null,
/// small number or a pure `%{…}` interpolation of another key).
pub(super) fn looks_like_data(v: &str) -> bool {
    let t = v.trim();
    if t.is_empty() {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "~" | "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n"
    ) {
        return false;
    }
    if t.len() < 6 && t.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    if t.starts_with("%{") && t.ends_with('}') && t.matches("%{").count() == 1 {
        return false;
    }
    true
}

/// Whether a one-word string looks randomly generated: long enough, made of base64/hex
/// characters with letters and digits mixed, and close to the highest entropy its length allows.
pub(super) fn high_entropy(v: &str, min_len: usize) -> bool {
    let n = v.chars().count();
    if n < min_len
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-'))
    {
        return false;
    }
    let digits = v.chars().filter(|c| c.is_ascii_digit()).count();
    let upper = v.chars().any(|c| c.is_ascii_uppercase());
    let lower = v.chars().any(|c| c.is_ascii_lowercase());
    if digits == 0 || !(upper || lower) {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in v.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let h: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum();
    // Hex strings are checksums, fingerprints and commit ids far more often than secrets;
    // under a secret-looking key the key rule catches them.
    if v.chars().all(|c| c.is_ascii_hexdigit()) || !(upper && lower) {
        return false;
    }
    // Words with a number at the end (`server01`, `Name2024`) are not random: a digit must
    // appear between letters, and the case must switch often, as in generated strings.
    let inner = v.trim_matches(|c: char| c.is_ascii_digit() || !c.is_ascii_alphanumeric());
    if !inner.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let letters: Vec<bool> = v
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.is_ascii_uppercase())
        .collect();
    let switches = letters.windows(2).filter(|w| w[0] != w[1]).count();
    switches * 5 >= letters.len() && h >= 0.85 * (n.min(64) as f64).log2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_catches_generated_strings() {
        // A simple generator: random base64 strings must nearly all be caught.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut caught = 0;
        for i in 0..200 {
            let n = 20 + i % 30;
            let s: String = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    alphabet[(x % 64) as usize] as char
                })
                .collect();
            caught += usize::from(high_entropy(&s, 20));
        }
        assert!(caught >= 180, "{caught}/200");
        for s in [
            "SomeLongIdentifierName2024",
            "profile_base_database_host_name",
            "eu-west-1-prod-cluster-2-Main",
            "0123456789abcdef0123456789abcdef01234567",
            "Authorised-use-only-2024",
        ] {
            assert!(!high_entropy(s, 20), "{s}");
        }
    }
}
