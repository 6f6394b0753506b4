//! `fuzz-input`: the one mutator behind the workspace's fuzz properties (test support only).
//!
//! Random text rarely gets past the first byte of a parser. Real inputs (recorded venue answers,
//! OHLCV files, `events.jsonl` lines, settings files) mutated by a few structured edits reach the
//! code behind it: a number replaced by a huge, negative or NaN-like form, a key repeated with a
//! value of the wrong type, a string turned into hostile Unicode, nesting deeper than the JSON
//! parser's limit, lines duplicated or swapped, the input cut off. Each crate keeps its own
//! properties (what its parser must do with any input) and its own [`Dictionary`] (the keys its
//! parser looks for); this crate owns how inputs are mutated.
//!
//! ```
//! use fuzz_input::{apply_str, Dictionary, Edit};
//!
//! let dict = Dictionary::json(&["price"]);
//! let out = apply_str(r#"{"price":"1.5"}"#, &[Edit::Number(0, 4)], &dict);
//! assert_eq!(out, r#"{"price":"1e400"}"#);
//! ```

use proptest::prelude::*;

/// Replacements for a number or a JSON value: huge, negative, zero, NaN-like, exponent forms,
/// values beyond `Decimal` and `i64`, numbers as strings, and values of the wrong type.
pub const JSON_VALUES: &[&str] = &[
    "0",
    "-0",
    "-1",
    "-0.00000001",
    "1e400",
    "-1e400",
    "1E+30",
    "1e-30",
    "NaN",
    "Infinity",
    "-Infinity",
    "99999999999999999999999999999999999999",
    "0.00000000000000000000000000000000000001",
    "79228162514264337593543950336",
    "-9223372036854775809",
    "9223372036854775807",
    "18446744073709551616",
    "\"\"",
    "\"NaN\"",
    "\"1e5\"",
    "\"-0.00000000\"",
    "\"79228162514264337593543950335.5\"",
    "\"0x10\"",
    "\" 1\"",
    "null",
    "true",
    "[]",
    "{}",
];

/// Non-ASCII and hostile string contents (symbols, assets, ids, messages), written as they
/// appear inside a JSON string (escapes included).
pub const HOSTILE_STRINGS: &[&str] = &[
    "币安人生USDT",
    "BTC\\u0000USDT",
    "ÄÖÜ",
    "🚀USDT",
    "\u{fffd}",
    "BTC\u{202e}USDT",
    "ＢＴＣＵＳＤＴ",
    "\\ud800",
    "",
    " ",
    "BTCUSDT\\\"",
];

/// What the value-level edits put in: a crate's own vocabulary of hostile values.
#[derive(Debug, Clone, Copy)]
pub struct Dictionary {
    /// Replacements for numbers ([`Edit::Number`]) and values of inserted keys ([`Edit::Key`]).
    pub values: &'static [&'static str],
    /// Keys the parser looks for, inserted again at the start of an object ([`Edit::Key`]):
    /// duplicate keys with a weird value.
    pub keys: &'static [&'static str],
    /// Replacements for the contents of strings ([`Edit::Text`]) and of comma-separated cells
    /// ([`Edit::Cell`]).
    pub texts: &'static [&'static str],
}

impl Dictionary {
    /// [`JSON_VALUES`] and [`HOSTILE_STRINGS`] with the parser's own `keys`.
    pub const fn json(keys: &'static [&'static str]) -> Self {
        Dictionary { values: JSON_VALUES, keys, texts: HOSTILE_STRINGS }
    }
}

/// One edit of an input. Positions and indices are taken modulo what the input offers, so any
/// edit applies to any input (an edit with nothing to act on leaves the input as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// XOR the byte at the position with the value.
    Flip(usize, u8),
    /// Delete up to `len` bytes at the position.
    Delete(usize, usize),
    /// Insert bytes at the position.
    Insert(usize, Vec<u8>),
    /// Cut the input off at the position.
    Truncate(usize),
    /// Insert a copy of a byte range right after it (duplicate keys, elements, rows).
    Duplicate(usize, usize),
    /// Replace the n-th number with the m-th of [`Dictionary::values`].
    Number(usize, usize),
    /// Insert `"KEY":VALUE` at the start of the n-th object (key and value by index).
    Key(usize, usize, usize),
    /// Replace the n-th number with arrays and objects nested to the given depth.
    Nest(usize, usize),
    /// Replace the contents of the n-th JSON string with one of [`Dictionary::texts`].
    Text(usize, usize),
    /// Replace the n-th comma-separated cell with one of [`Dictionary::texts`].
    Cell(usize, usize),
    /// Repeat the n-th line (a duplicated row or event).
    DupLine(usize),
    /// Swap two lines (rows out of order, a header that is not first).
    SwapLines(usize, usize),
}

/// Any one [`Edit`].
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(p, b)| Edit::Flip(p, b)),
        (any::<usize>(), 1..64usize).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(p, b)| Edit::Insert(p, b)),
        any::<usize>().prop_map(Edit::Truncate),
        (any::<usize>(), 1..200usize).prop_map(|(p, n)| Edit::Duplicate(p, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, w)| Edit::Number(p, w)),
        (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(p, k, w)| Edit::Key(p, k, w)),
        (any::<usize>(), 1..300usize).prop_map(|(p, d)| Edit::Nest(p, d)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, s)| Edit::Text(p, s)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, s)| Edit::Cell(p, s)),
        any::<usize>().prop_map(Edit::DupLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

/// One to five [`Edit`]s: the mutation of one input in a property.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..6)
}

/// Byte spans of the numbers in `b` (digits with a leading minus, point and exponent).
pub fn number_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
            let mut end = i;
            while end < b.len() && (b[end].is_ascii_digit() || b".eE+-".contains(&b[end])) {
                end += 1;
            }
            out.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte spans of the contents of the JSON strings in `b` (between the quotes; an unterminated
/// string runs to the end).
pub fn string_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let start = i + 1;
            let mut end = start;
            while end < b.len() && b[end] != b'"' {
                end += if b[end] == b'\\' { 2 } else { 1 };
            }
            let end = end.min(b.len());
            out.push((start, end));
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte spans of the cells of `b` (between commas and line ends).
pub fn cell_spans(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in b.iter().enumerate() {
        if *c == b',' || *c == b'\n' {
            out.push((start, i));
            start = i + 1;
        }
    }
    out.push((start, b.len()));
    out
}

/// `depth` levels of alternating arrays and objects around a number: deeper than serde_json's
/// recursion limit (128) from depth 129 on.
pub fn nested(depth: usize) -> String {
    let open: String = (0..depth).map(|i| if i % 2 == 0 { "[" } else { "{\"a\":" }).collect();
    let close: String = (0..depth).rev().map(|i| if i % 2 == 0 { "]" } else { "}" }).collect();
    format!("{open}1{close}")
}

/// Picks the `n`-th element modulo the length, or nothing from an empty slice.
fn pick<T: Copy>(items: &[T], n: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[n % items.len()])
}

/// Applies `edits` in order to `input` and returns the mutated bytes (which need not be UTF-8).
pub fn apply(input: &[u8], edits: &[Edit], dict: &Dictionary) -> Vec<u8> {
    let mut b = input.to_vec();
    for e in edits {
        // A position in 0..=len (inserting at the end is allowed).
        let at = |p: usize, len: usize| p % (len + 1);
        match e {
            Edit::Flip(p, x) => {
                if !b.is_empty() {
                    let i = p % b.len();
                    b[i] ^= x;
                }
            }
            Edit::Delete(p, n) => {
                let i = at(*p, b.len());
                let end = i.saturating_add(*n).min(b.len());
                b.drain(i..end);
            }
            Edit::Insert(p, bytes) => {
                let i = at(*p, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Edit::Truncate(p) => b.truncate(at(*p, b.len())),
            Edit::Duplicate(p, n) => {
                let i = at(*p, b.len());
                let end = i.saturating_add(*n).min(b.len());
                let copy = b[i..end].to_vec();
                b.splice(end..end, copy);
            }
            Edit::Number(p, w) => {
                if let (Some((s, e)), Some(value)) = (pick(&number_spans(&b), *p), pick(dict.values, *w)) {
                    b.splice(s..e, value.bytes());
                }
            }
            Edit::Key(p, k, w) => {
                let objects: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'{').collect();
                if let (Some(o), Some(key), Some(value)) =
                    (pick(&objects, *p), pick(dict.keys, *k), pick(dict.values, *w))
                {
                    let empty = b[o + 1..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'}');
                    let sep = if empty { "" } else { "," };
                    let ins = format!("\"{key}\":{value}{sep}");
                    b.splice(o + 1..o + 1, ins.bytes());
                }
            }
            Edit::Nest(p, d) => {
                if let Some((s, e)) = pick(&number_spans(&b), *p) {
                    b.splice(s..e, nested(*d).bytes());
                }
            }
            Edit::Text(p, t) => {
                if let (Some((s, e)), Some(text)) = (pick(&string_spans(&b), *p), pick(dict.texts, *t)) {
                    b.splice(s..e, text.bytes());
                }
            }
            Edit::Cell(p, t) => {
                if let (Some((s, e)), Some(text)) = (pick(&cell_spans(&b), *p), pick(dict.texts, *t)) {
                    b.splice(s..e, text.bytes());
                }
            }
            Edit::DupLine(p) => {
                let mut lines: Vec<Vec<u8>> = b.split(|c| *c == b'\n').map(<[u8]>::to_vec).collect();
                let i = p % lines.len();
                lines.insert(i, lines[i].clone());
                b = lines.join(&b'\n');
            }
            Edit::SwapLines(x, y) => {
                let mut lines: Vec<Vec<u8>> = b.split(|c| *c == b'\n').map(<[u8]>::to_vec).collect();
                let n = lines.len();
                lines.swap(x % n, y % n);
                b = lines.join(&b'\n');
            }
        }
    }
    b
}

/// [`apply`] on text, with bytes that are no longer UTF-8 replaced by U+FFFD (for parsers that
/// take `&str`).
pub fn apply_str(input: &str, edits: &[Edit], dict: &Dictionary) -> String {
    String::from_utf8_lossy(&apply(input.as_bytes(), edits, dict)).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const DICT: Dictionary = Dictionary::json(&["symbol", "price"]);
    const BASE: &str = r#"{"symbol":"BTCUSDT","price":"1.5","orderId":12}"#;

    #[test]
    fn value_edits_hit_the_nth_number_key_and_string() {
        let edit = |e: Edit| apply_str(BASE, &[e], &DICT);
        assert_eq!(edit(Edit::Number(0, 4)), r#"{"symbol":"BTCUSDT","price":"1e400","orderId":12}"#);
        assert_eq!(edit(Edit::Number(1, 24)), r#"{"symbol":"BTCUSDT","price":"1.5","orderId":null}"#);
        assert_eq!(
            edit(Edit::Key(0, 0, 25)),
            r#"{"symbol":true,"symbol":"BTCUSDT","price":"1.5","orderId":12}"#
        );
        assert_eq!(edit(Edit::Text(1, 0)), r#"{"symbol":"币安人生USDT","price":"1.5","orderId":12}"#);
        assert_eq!(edit(Edit::Nest(1, 3)), r#"{"symbol":"BTCUSDT","price":"1.5","orderId":[{"a":[1]}]}"#);
        assert_eq!(edit(Edit::Truncate(5)), r#"{"sym"#);
        assert_eq!(apply_str("{}", &[Edit::Key(0, 1, 2)], &DICT), r#"{"price":-1}"#);
    }

    #[test]
    fn line_and_cell_edits_work_on_rows() {
        let row = "60000,1,2,0.5,1.5,10";
        assert_eq!(apply_str(row, &[Edit::Cell(0, 3)], &DICT), "🚀USDT,1,2,0.5,1.5,10");
        assert_eq!(apply(b"a\nb", &[Edit::SwapLines(0, 1)], &DICT), b"b\na");
        assert_eq!(apply(b"a\nb", &[Edit::DupLine(1)], &DICT), b"a\nb\nb");
    }

    proptest! {
        /// Any edits on any input, including the empty input and an empty dictionary, return.
        #[test]
        fn any_edit_applies_to_any_input(input in proptest::collection::vec(any::<u8>(), 0..64), edits in edits()) {
            apply(&input, &edits, &DICT);
            apply(&input, &edits, &Dictionary { values: &[], keys: &[], texts: &[] });
        }
    }
}
