//! Fuzzing of the events reader (issue 12) with proptest: arbitrary bytes and mutated real
//! `events.jsonl` lines (one line per sample event of every variant, [`crate::sample_events`])
//! go through [`EventReader`] and [`read_events`]. Nothing may panic; every non-blank line
//! yields exactly one item; a bad line is an error carrying its own 1-based line number and
//! the good lines around it are read unchanged (nothing lost).
//!
//! Cases per property: proptest's default (256) or `PROPTEST_CASES`; a long campaign is
//! `PROPTEST_CASES=100000 cargo test -p telemetry --release --lib fuzz`.

use std::io::Write;

use fuzz_input::{edits, Dictionary, Edit};
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
// Mutations of a real line (the shared mutator of `fuzz-input`)

/// The mutator's vocabulary: hostile JSON values and strings, and the envelope's and common
/// payloads' keys.
const DICT: Dictionary = Dictionary::json(KEYS);

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

/// A real line with `edits` applied.
fn apply(input: &str, edits: &[Edit]) -> String {
    fuzz_input::apply_str(input, edits, &DICT)
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
    fn fuzz_events_mutated_line(pick in any::<usize>(), edits in edits()) {
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
