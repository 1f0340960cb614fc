//! Psych's implicit typing of plain scalars (`Psych::ScalarScanner#tokenize`, Psych 4.0 as
//! shipped with Ruby 3.1 and Puppet 7), written out by hand: the same tests in the same order,
//! so that `yes` is true, `0755` is 493, `1:30` is 5400 and `1e3` stays a string.

use crate::value::Value;

/// The Ruby object Psych makes of a plain scalar, as our [`Value`]; an error where Psych (in
/// Puppet's `safe_load`) raises.
pub(super) fn tokenize(s: &str) -> Result<Value, String> {
    if s.is_empty() {
        return Ok(Value::Null);
    }
    if looks_like_word(s) || s.contains('\n') {
        if s.chars().count() > 5 {
            return Ok(Value::from(s));
        }
        return Ok(if any_line_starts_outside(s, "ytonf~") {
            Value::from(s)
        } else if s == "~" || any_line(s, |l| l.eq_ignore_ascii_case("null")) {
            Value::Null
        } else if any_line(s, |l| {
            ["yes", "true", "on"]
                .iter()
                .any(|w| l.eq_ignore_ascii_case(w))
        }) {
            Value::Boolean(true)
        } else if any_line(s, |l| {
            ["no", "false", "off"]
                .iter()
                .any(|w| l.eq_ignore_ascii_case(w))
        }) {
            Value::Boolean(false)
        } else {
            Value::from(s)
        });
    }
    if is_time(s) {
        return Err(format!(
            "the unquoted timestamp {s} reads as a Ruby Time, which Puppet refuses to load \
             (Tried to load unspecified class: Time); quote it to make it a string"
        ));
    }
    if is_date(s) {
        return Err(format!(
            "the unquoted date {s} reads as a Ruby Date, which Puppet refuses to load \
             (Tried to load unspecified class: Date); quote it to make it a string"
        ));
    }
    let lower = s.to_ascii_lowercase();
    if lower == ".inf" || lower == "+.inf" {
        return Ok(Value::Float(f64::INFINITY));
    }
    if lower == "-.inf" {
        return Ok(Value::Float(f64::NEG_INFINITY));
    }
    if lower == ".nan" {
        return Ok(Value::Float(f64::NAN));
    }
    if let Some(rest) = s.strip_prefix(':') {
        if !rest.is_empty() {
            return Ok(Value::from(symbol(rest)));
        }
    }
    if let Some(parts) = sexagesimal(s, false) {
        let total = parts
            .iter()
            .enumerate()
            .map(|(e, p)| ruby_to_i(p).saturating_mul(60i64.pow((e as i32 - 2).unsigned_abs())))
            .fold(0i64, i64::saturating_add);
        return Ok(Value::Integer(total));
    }
    if let Some(parts) = sexagesimal(s, true) {
        let total: f64 = parts
            .iter()
            .enumerate()
            .map(|(e, p)| ruby_to_f(p) * 60f64.powi((e as i32 - 2).abs()))
            .sum();
        return Ok(Value::Float(total));
    }
    if is_float(s) {
        if matches!(s, "." | "+." | "-.") {
            return Ok(Value::from(s));
        }
        return ruby_float(&float_text(s))
            .map(Value::Float)
            .ok_or_else(|| format!("invalid value for Float(): {s:?}"));
    }
    if is_integer(s) {
        let clean: String = s.chars().filter(|c| *c != ',' && *c != '_').collect();
        return Ok(match ruby_integer(&clean) {
            Some(Ok(i)) => Value::Integer(i),
            // Ruby would make a Bignum; we keep the text rather than lose digits.
            Some(Err(())) => Value::from(s),
            None => return Err(format!("invalid value for Integer(): {clean:?}")),
        });
    }
    Ok(Value::from(s))
}

/// `^[^\d.:-]?[[:alpha:]_\s!@#$%\^&*(){}<>|/\\~;=]+` at the start of the text.
fn looks_like_word(s: &str) -> bool {
    fn word(c: char) -> bool {
        c.is_alphabetic() || c == '_' || is_space(c) || "!@#$%^&*(){}<>|/\\~;=".contains(c)
    }
    let mut chars = s.chars();
    let Some(c0) = chars.next() else { return false };
    if word(c0) {
        return true;
    }
    let optional_ok = !(c0.is_ascii_digit() || c0 == '.' || c0 == ':' || c0 == '-');
    optional_ok && chars.next().is_some_and(word)
}

/// Ruby's `\s`.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Ruby's `/^[^set]/i`: some line starts with a character (a newline counts) outside `set`.
fn any_line_starts_outside(s: &str, set: &str) -> bool {
    line_starts(s).any(|i| {
        s[i..]
            .chars()
            .next()
            .is_some_and(|c| !set.contains(c.to_ascii_lowercase()))
    })
}

/// Ruby's `/^…$/`: some line (text between newlines) satisfies `f`.
fn any_line(s: &str, f: impl Fn(&str) -> bool) -> bool {
    s.split('\n').any(f)
}

fn line_starts(s: &str) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(s.match_indices('\n').map(|(i, _)| i + 1))
}

/// A cursor over ASCII text for the hand-written patterns below.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn eat_if(&mut self, f: impl Fn(u8) -> bool) -> bool {
        if self.b.get(self.i).is_some_and(|c| f(*c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Between `min` and `max` matching bytes (greedy); how many.
    fn eat_n(&mut self, min: usize, max: usize, f: impl Fn(u8) -> bool) -> Option<usize> {
        let mut n = 0;
        while n < max && self.eat_if(&f) {
            n += 1;
        }
        (n >= min).then_some(n)
    }
    fn rest(&self) -> &[u8] {
        &self.b[self.i..]
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

fn digit(c: u8) -> bool {
    c.is_ascii_digit()
}

fn space(c: u8) -> bool {
    is_space(c as char)
}

/// Psych's `TIME`: `-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|\s+)\d{1,2}:\d\d:\d\d(?:\.\d*)?` and an
/// optional zone `\s*(?:Z|[-+]\d{1,2}:?(?:\d\d)?)`, whole text.
fn is_time(s: &str) -> bool {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    c.eat(b'-');
    let date = c.eat_n(4, 4, digit).is_some()
        && c.eat(b'-')
        && c.eat_n(1, 2, digit).is_some()
        && c.eat(b'-')
        && c.eat_n(1, 2, digit).is_some();
    if !date {
        return false;
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat_n(1, usize::MAX, space).is_some()) {
        return false;
    }
    let time = c.eat_n(1, 2, digit).is_some()
        && c.eat(b':')
        && c.eat_n(2, 2, digit).is_some()
        && c.eat(b':')
        && c.eat_n(2, 2, digit).is_some();
    if !time {
        return false;
    }
    if c.eat(b'.') {
        c.eat_n(0, usize::MAX, digit);
    }
    if c.done() {
        return true;
    }
    c.eat_n(0, usize::MAX, space);
    if c.eat(b'Z') {
        return c.done();
    }
    if !(c.eat(b'-') || c.eat(b'+')) {
        return false;
    }
    zone_rest(c.rest())
}

/// `\d{1,2}:?(?:\d\d)?$` with the regex engine's backtracking.
fn zone_rest(r: &[u8]) -> bool {
    (1..=2).any(|n| {
        if r.len() < n || !r[..n].iter().all(|c| c.is_ascii_digit()) {
            return false;
        }
        let after = &r[n..];
        let tails: &[&[u8]] = match after.first() {
            Some(b':') => &[&after[1..], after],
            _ => &[after],
        };
        tails
            .iter()
            .any(|t| t.is_empty() || (t.len() == 2 && t.iter().all(|c| c.is_ascii_digit())))
    })
}

/// `^\d{4}-(?:1[012]|0\d|\d)-(?:[12]\d|3[01]|0\d|\d)$`.
fn is_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts[..] else { return false };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    if y.len() != 4 || !all_digits(y) || !all_digits(m) || !all_digits(d) {
        return false;
    }
    let month = match m.len() {
        1 => true,
        2 => m.starts_with('0') || matches!(m, "10" | "11" | "12"),
        _ => false,
    };
    let day = match d.len() {
        1 => true,
        2 => matches!(d.as_bytes()[0], b'0' | b'1' | b'2') || matches!(d, "30" | "31"),
        _ => false,
    };
    month && day
}

/// The name of a `:symbol` (Psych: `:"quoted"` takes what lies between the quotes).
fn symbol(rest: &str) -> String {
    let mut chars = rest.chars();
    if let Some(q @ ('"' | '\'')) = chars.next() {
        let inner = &rest[1..];
        if let Some(end) = inner.rfind(q) {
            let name = &inner[..end];
            return name.strip_prefix(':').unwrap_or(name).to_string();
        }
    }
    rest.to_string()
}

/// `^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}$` (or, with `fraction`, followed by `\.[0-9_]*`):
/// the `:`-separated parts.
fn sexagesimal(s: &str, fraction: bool) -> Option<Vec<&str>> {
    let (body, frac) = if fraction {
        let (b, f) = s.rsplit_once('.')?;
        (b, Some(f))
    } else {
        (s, None)
    };
    if let Some(f) = frac {
        if !f.bytes().all(|c| c.is_ascii_digit() || c == b'_') {
            return None;
        }
    }
    let parts: Vec<&str> = body.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let head = parts[0].strip_prefix(['-', '+']).unwrap_or(parts[0]);
    let mut hb = head.bytes();
    if !hb.next().is_some_and(|c| c.is_ascii_digit())
        || !hb.all(|c| c.is_ascii_digit() || c == b'_')
    {
        return None;
    }
    for p in &parts[1..] {
        let ok = match p.as_bytes() {
            [d] => d.is_ascii_digit(),
            [a, b] => (b'0'..=b'5').contains(a) && b.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return None;
        }
    }
    // With a fraction it belongs to the last part: "1:30.5" -> ["1", "30.5"].
    Some(s.split(':').collect())
}

/// Ruby's `String#to_i`: leading sign and digits, single underscores between digits.
fn ruby_to_i(s: &str) -> i64 {
    let (neg, digits) = split_sign(s);
    let mut n: i64 = 0;
    let b = digits.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            d @ b'0'..=b'9' => n = n.saturating_mul(10).saturating_add((d - b'0') as i64),
            b'_' if i > 0 && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
            _ => break,
        }
        i += 1;
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Ruby's `String#to_f` on the digit, underscore and dot texts that reach it here.
fn ruby_to_f(s: &str) -> f64 {
    let (neg, body) = split_sign(s);
    let mut clean = String::new();
    let b = body.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'0'..=b'9' | b'.' => clean.push(c as char),
            b'_' if i > 0 && b.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
            _ => break,
        }
    }
    let clean = clean.trim_end_matches('.');
    let v: f64 = clean.parse().unwrap_or(0.0);
    if neg {
        -v
    } else {
        v
    }
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// Psych's `FLOAT`: `^[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?$`.
fn is_float(s: &str) -> bool {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let _ = c.eat(b'-') || c.eat(b'+');
    if c.eat_if(digit) {
        c.eat_n(0, usize::MAX, |x| digit(x) || x == b'_' || x == b',');
    }
    if !c.eat(b'.') {
        return false;
    }
    c.eat_n(0, usize::MAX, digit);
    if c.eat(b'e') || c.eat(b'E') {
        if !(c.eat(b'-') || c.eat(b'+')) {
            return false;
        }
        if c.eat_n(1, usize::MAX, digit).is_none() {
            return false;
        }
    }
    c.done()
}

/// `string.gsub(/[,_]|\.([Ee]|$)/, '\1')`.
fn float_text(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b',' | b'_' => {}
            b'.' if i + 1 == b.len() || matches!(b[i + 1], b'e' | b'E') => {}
            _ => out.push(c as char),
        }
    }
    out
}

/// Ruby's `Float()` on the cleaned text: a decimal with optional sign, fraction, exponent.
fn ruby_float(s: &str) -> Option<f64> {
    let mut c = Cur {
        b: s.as_bytes(),
        i: 0,
    };
    let _ = c.eat(b'-') || c.eat(b'+');
    let int = c.eat_n(0, usize::MAX, digit)?;
    let mut frac = 0;
    if c.eat(b'.') {
        frac = c.eat_n(1, usize::MAX, digit)?;
    }
    if int + frac == 0 {
        return None;
    }
    if c.eat(b'e') || c.eat(b'E') {
        let _ = c.eat(b'-') || c.eat(b'+');
        c.eat_n(1, usize::MAX, digit)?;
    }
    if !c.done() {
        return None;
    }
    s.parse().ok()
}

/// Psych 4.0's `INTEGER` (binary, octal, decimal, hexadecimal; `_` and `,` allowed).
fn is_integer(s: &str) -> bool {
    let (_, body) = split_sign(s);
    let all = |t: &str, f: fn(u8) -> bool| !t.is_empty() && t.bytes().all(f);
    if let Some(r) = body.strip_prefix("0b") {
        return all(r, |c| matches!(c, b'0' | b'1' | b'_' | b','));
    }
    if let Some(r) = body.strip_prefix("0x") {
        return all(r, |c| c.is_ascii_hexdigit() || c == b'_' || c == b',');
    }
    if let Some(r) = body.strip_prefix('0') {
        return r.is_empty() || all(r, |c| matches!(c, b'0'..=b'7' | b'_' | b','));
    }
    // [1-9](?:[0-9]|,[0-9]|_[0-9])*
    let b = body.as_bytes();
    if !b.first().is_some_and(|c| (b'1'..=b'9').contains(c)) {
        return false;
    }
    let mut i = 1;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            i += 1;
        } else if matches!(b[i], b',' | b'_') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

/// Ruby's `Integer()` on text without `_`/`,`: `None` where Ruby raises, `Some(Err)` when the
/// number does not fit 64 bits.
fn ruby_integer(s: &str) -> Option<Result<i64, ()>> {
    let (neg, body) = split_sign(s);
    let (radix, digits) = if let Some(r) = body.strip_prefix("0b") {
        (2, r)
    } else if let Some(r) = body.strip_prefix("0x") {
        (16, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok();
    let value = magnitude
        .map(|m| if neg { -m } else { m })
        .and_then(|v| i64::try_from(v).ok());
    Some(value.ok_or(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Value {
        tokenize(s).unwrap()
    }

    #[test]
    fn psych_scalars() {
        assert_eq!(t("yes"), Value::Boolean(true));
        assert_eq!(t("Off"), Value::Boolean(false));
        assert_eq!(t("y"), Value::from("y"));
        assert_eq!(t("~"), Value::Null);
        assert_eq!(t("0755"), Value::Integer(493));
        assert_eq!(t("1_000"), Value::Integer(1000));
        assert_eq!(t("1,000"), Value::Integer(1000));
        assert_eq!(t("1:30"), Value::Integer(5400));
        assert_eq!(t("1:30:00"), Value::Integer(5400));
        assert_eq!(t("1e3"), Value::from("1e3"));
        assert_eq!(t("1.5e+3"), Value::Float(1500.0));
        assert_eq!(t("0x1F"), Value::Integer(31));
        assert_eq!(t("0b101"), Value::Integer(5));
        assert_eq!(t(":sym"), Value::from("sym"));
        assert_eq!(t("089"), Value::from("089"));
        assert_eq!(t("1."), Value::Float(1.0));
        assert!(tokenize("2024-01-31").is_err());
        assert!(tokenize("2024-01-31 10:00:00 +0530").is_err());
        assert_eq!(t("2024-13-01"), Value::from("2024-13-01"));
    }
}
