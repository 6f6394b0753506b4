//! Fuzzing of the events reader (issue 12) with proptest: arbitrary bytes and mutated real
//! `events.jsonl` lines (one line per sample event of every variant, [`crate::sample_events`])
//! go through [`EventReader`] and [`read_events`]. Nothing may panic; every non-blank line
//! yields exactly one item; a bad line is an error carrying its own 1-based line number and
//! the good lines around it are read unchanged (nothing lost).
//!
//! Cases per property: proptest's default (256) or `PROPTEST_CASES`; a long campaign is
//! `PROPTEST_CASES=100000 cargo test -p telemetry --release --lib fuzz`.

use std::io::Write;

use proptest::prelude::*;
use trading_core::Timestamp;

use super::{read_events, EventReader};
use crate::{sample_events, EventRecord, RunId, SCHEMA_VERSION};

// ---------------------------------------------------------------------------------------------
// Inputs

/// One `events.jsonl` line per sample event, as the writer writes them.
fn real_lines() -> Vec<String> {
    sample_events()
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let record = EventRecord {
                ts: Timestamp::from_millis(1_700_000_000_000 + i as i64),
                event,
                schema: SCHEMA_VERSION,
                run_id: RunId::new("session_20231114_221320"),
            };
            serde_json::to_string(&record).unwrap()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Mutations of a real line

/// Replacements for a number or a value: huge, negative, zero, NaN-like, exponent forms,
/// wrong types.
const WEIRD: &[&str] = &[
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

/// Keys of the envelope and of common payloads, inserted again (duplicate keys) with a weird
/// value.
const KEYS: &[&str] = &[
    "ts",
    "event_type",
    "payload",
    "schema",
    "run_id",
    "lag_ms",
    "threshold_ms",
    "qty",
    "reason",
    "symbol",
    "symbols",
    "status",
    "serverTime",
    "bidPrice",
    "askPrice",
    "lastPrice",
    "quoteVolume",
    "closeTime",
    "orderId",
    "clientOrderId",
    "origClientOrderId",
    "price",
    "origQty",
    "executedQty",
    "cummulativeQuoteQty",
    "type",
    "side",
    "time",
    "updateTime",
    "transactTime",
    "balances",
    "asset",
    "free",
    "locked",
    "id",
    "qty",
    "commission",
    "commissionAsset",
    "isBuyer",
    "filters",
    "baseAsset",
    "quoteAsset",
    "code",
    "msg",
];

/// Non-ASCII and hostile string contents (symbols, assets, ids, messages).
const STRINGS: &[&str] = &[
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

/// One edit of an input; positions are taken modulo what the input offers.
#[derive(Debug, Clone)]
enum Edit {
    /// XOR one byte.
    Flip(usize, u8),
    /// Delete up to `len` bytes.
    Delete(usize, usize),
    /// Insert bytes.
    Insert(usize, Vec<u8>),
    /// Cut the input off.
    Truncate(usize),
    /// Insert a copy of a byte range right after it (duplicate keys, elements, rows).
    Duplicate(usize, usize),
    /// Replace the n-th number with a [`WEIRD`] value.
    Number(usize, usize),
    /// Insert `"KEY": WEIRD` at the start of the n-th object.
    Key(usize, usize, usize),
    /// Replace the n-th number with nested arrays and objects of the given depth.
    Nest(usize, usize),
    /// Replace the contents of the n-th string with one of [`STRINGS`].
    Text(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
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
    ]
}

/// Byte spans of the numbers in `b` (digits with sign, point and exponent).
fn numbers(b: &[u8]) -> Vec<(usize, usize)> {
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

/// Byte spans of the contents of the JSON strings in `b` (between the quotes).
fn strings(b: &[u8]) -> Vec<(usize, usize)> {
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

fn nested(depth: usize) -> String {
    let open: String = (0..depth).map(|i| if i % 2 == 0 { "[" } else { "{\"a\":" }).collect();
    let close: String = (0..depth).rev().map(|i| if i % 2 == 0 { "]" } else { "}" }).collect();
    format!("{open}1{close}")
}

fn apply(input: &str, edits: &[Edit]) -> String {
    let mut b = input.as_bytes().to_vec();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Flip(p, x) if !b.is_empty() => {
                let i = p % b.len();
                b[i] ^= x;
            }
            Edit::Flip(..) => {}
            Edit::Delete(p, n) => {
                let i = at(*p, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Insert(p, bytes) => {
                let i = at(*p, b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Edit::Truncate(p) => b.truncate(at(*p, b.len())),
            Edit::Duplicate(p, n) => {
                let i = at(*p, b.len());
                let end = (i + n).min(b.len());
                let copy = b[i..end].to_vec();
                b.splice(end..end, copy);
            }
            Edit::Number(p, w) => {
                let spans = numbers(&b);
                if let Some(&(s, e)) = spans.get(p % spans.len().max(1)) {
                    b.splice(s..e, WEIRD[w % WEIRD.len()].bytes());
                }
            }
            Edit::Key(p, k, w) => {
                let objects: Vec<usize> = (0..b.len()).filter(|&i| b[i] == b'{').collect();
                if let Some(&o) = objects.get(p % objects.len().max(1)) {
                    let empty = b[o + 1..].iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'}');
                    let sep = if empty { "" } else { "," };
                    let ins = format!("\"{}\":{}{sep}", KEYS[k % KEYS.len()], WEIRD[w % WEIRD.len()]);
                    b.splice(o + 1..o + 1, ins.bytes());
                }
            }
            Edit::Nest(p, d) => {
                let spans = numbers(&b);
                if let Some(&(s, e)) = spans.get(p % spans.len().max(1)) {
                    b.splice(s..e, nested(*d).bytes());
                }
            }
            Edit::Text(p, t) => {
                let spans = strings(&b);
                if let Some(&(s, e)) = spans.get(p % spans.len().max(1)) {
                    b.splice(s..e, STRINGS[t % STRINGS.len()].bytes());
                }
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

// ---------------------------------------------------------------------------------------------
// What the reader must do with any input

/// Reads `bytes` and checks that every non-blank line gave exactly one item, errors carrying
/// their own line number. Returns the items by line number.
fn read_all(bytes: &[u8]) -> Vec<(u64, Result<EventRecord, String>)> {
    let expected: Vec<u64> = bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(i, _)| i as u64 + 1)
        .collect();
    let items: Vec<_> = EventReader::new(bytes).collect();
    assert_eq!(items.len(), expected.len(), "one item per non-blank line");
    items
        .into_iter()
        .zip(expected)
        .map(|(item, line)| match item {
            Ok(record) => (line, Ok(record)),
            Err(e) => {
                assert_eq!(e.line(), line, "{e}");
                let text = e.to_string();
                assert!(text.starts_with(&format!("line {line}: ")) && text.len() > 10, "{text}");
                (line, Err(text))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    /// Any bytes: no panic, one item per non-blank line, errors numbered by their line.
    #[test]
    fn fuzz_events_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        read_all(&bytes);
    }

    /// Text of JSON's characters split into lines.
    #[test]
    fn fuzz_events_json_alphabet(text in "[\\[\\]{}\":,0-9a-z_.\\- \n]{0,300}") {
        read_all(text.as_bytes());
    }

    /// A real file with one line mutated (1-6 edits: byte flips, deletions, insertions,
    /// truncation, duplicated ranges, weird numbers, duplicate keys, deep nesting, non-ASCII
    /// strings): every other line reads back unchanged, the mutated one is read or reported
    /// with its line number. Read from a real file with `read_events`.
    #[test]
    fn fuzz_events_mutated_line(pick in any::<usize>(), edits in proptest::collection::vec(edit(), 1..6)) {
        let lines = real_lines();
        let j = pick % lines.len();
        // One line stays one line: a newline the edits bring in becomes a space.
        let mutated = apply(&lines[j], &edits).replace('\n', " ");
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            text.push_str(if i == j { &mutated } else { l });
            text.push('\n');
        }
        let items = read_all(text.as_bytes());
        for (line, item) in &items {
            let i = usize::try_from(*line).unwrap() - 1;
            if i != j {
                let original: EventRecord = serde_json::from_str(&lines[i]).unwrap();
                prop_assert_eq!(item.as_ref().ok(), Some(&original), "line {} lost", line);
            }
        }
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let log = read_events(f.path()).unwrap();
        prop_assert_eq!(log.records.len() + log.errors.len(), items.len());
        prop_assert!(log.errors.iter().all(|e| e.line() == j as u64 + 1));
    }

    /// A file cut off anywhere (a crash mid-write): every complete line reads back, the cut
    /// line is read or reported with its number.
    #[test]
    fn fuzz_events_cut_anywhere(cut in any::<usize>()) {
        let text: String = real_lines().iter().map(|l| format!("{l}\n")).collect();
        let cut = cut % (text.len() + 1);
        let bytes = &text.as_bytes()[..cut];
        let complete = bytes.iter().filter(|b| **b == b'\n').count();
        let items = read_all(bytes);
        prop_assert!(items.iter().take(complete).all(|(_, item)| item.is_ok()));
    }
}

/// The mutator changes lines and every sample line reads back as written (a harness that never
/// changes its input, or whose inputs never parse, proves nothing).
#[test]
fn fuzz_events_seeds_read_and_mutator_changes_them() {
    let lines = real_lines();
    assert!(lines.len() > 10);
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert!(read_all(text.as_bytes()).iter().all(|(_, item)| item.is_ok()));
    let base = r#"{"ts":"x","schema":1}"#;
    assert_eq!(apply(base, &[Edit::Number(0, 4)]), r#"{"ts":"x","schema":1e400}"#);
    assert_eq!(apply(base, &[Edit::Key(0, 3, 25)]), r#"{"schema":true,"ts":"x","schema":1}"#);
}
