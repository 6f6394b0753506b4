//! Fuzzing of the OHLCV readers (issue 12) with proptest: arbitrary text and mutated real
//! files (the OHLCV fixtures read in place from `../shared/fixtures/ohlcv/` or
//! `$OHLCV_FIXTURES_DIR`, a Binance kline dump, a headed CSV, a dated CSV, the documented
//! klines JSON) go through the CSV and JSON parsers and through [`load_ohlcv`] from a real
//! file. None may panic; a failure names the file and a line inside it; a success is a list of
//! consistent candles with increasing times that the replay driver accepts or refuses by name.
//!
//! Cases per property: proptest's default (256) or `PROPTEST_CASES`; a long campaign is
//! `PROPTEST_CASES=100000 cargo test -p exchange-sim --release --lib fuzz`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use fuzz_input::{edits, Dictionary, Edit};
use proptest::prelude::*;
use trading_core::Timestamp;

use super::{load_ohlcv, parse_csv, parse_json, ReplayPath, RowResult, Rows};
use crate::SimError;
use trading_core::Candle;

// ---------------------------------------------------------------------------------------------
// Inputs

/// Real layouts, always available (not copied from the GPL fixtures: written for this test).
const BUILT_IN: &[&str] = &[
    "timestamp_ms,date_utc,open,high,low,close,volume\n\
     1515560100000,2018-01-10T04:55:00Z,5.33e-05,5.33e-05,5.288e-05,5.29e-05,431401.97\n\
     1515560400000,2018-01-10T05:00:00Z,5.29e-05,5.294e-05,5.269e-05,5.27e-05,311565.65\n\
     1515560700000,2018-01-10T05:05:00Z,5.268e-05,5.269e-05,5.248e-05,5.252e-05,662008.99\n",
    "1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.2,1637971259999,1.03,79,19523.0,0.55,0\n\
     1637971260000,0.00002854,0.00002860,0.00002854,0.00002859,89196.6,1637971319999,2.54,98,59004.2,1.68,0\n\
     1637971320000,0.00002859,0.00002860,0.00002858,0.00002858,1000.0,1637971379999,0.1,3,500.0,0.01,0\n",
    ",Open,High,Low,Close,Volume\n2012-01-31,4.58,7.38,3.8,5.55,2012.25\n2012-02-29,5.55,6.5,3.8,4.99,4761.6\n",
    "[[1515560100000, 0.0984, 0.0994766, 0.09828605, 0.0994766, 1820.54], \
     [1515560400000, \"0.09947\", 0.0997238, 0.099, 0.09969, 2527.92]]",
];

/// The OHLCV fixture folder: `$OHLCV_FIXTURES_DIR`, else `../shared/fixtures/ohlcv` relative to
/// the repository root; `None` (said on stderr) when absent.
fn fixture_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("OHLCV_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/ohlcv"));
    if dir.is_dir() {
        return Some(dir);
    }
    let _ = writeln!(
        std::io::stderr(),
        "NOTICE: OHLCV fixture folder {} is absent: fuzzing mutates built-in samples only \
         (set OHLCV_FIXTURES_DIR)",
        dir.display()
    );
    None
}

/// Seeds: the built-in samples, the documented klines JSON, and the head (40 lines) of every
/// fixture file when the folder is there. Read once per test binary.
fn seeds() -> &'static [String] {
    static SEEDS: OnceLock<Vec<String>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut out: Vec<String> = BUILT_IN.iter().map(|s| (*s).to_owned()).collect();
        let klines = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/klines.json");
        out.push(std::fs::read_to_string(klines).unwrap());
        if let Some(dir) = fixture_dir() {
            let mut files: Vec<PathBuf> =
                std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                let head = if text.trim_start().starts_with('[') {
                    // JSON: the first 40 rows, closed again.
                    let rows: Vec<Vec<serde_json::Value>> = serde_json::from_str(&text).unwrap();
                    serde_json::to_string(&rows[..rows.len().min(40)]).unwrap()
                } else {
                    text.lines().take(40).collect::<Vec<_>>().join("\n")
                };
                out.push(head);
            }
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Mutations

/// Replacements for a number or a cell: huge, negative, zero, NaN-like, exponent forms, other
/// notations and dates out of range.
const WEIRD: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1e400",
    "-1e400",
    "1E+30",
    "1e-30",
    "9e28",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "79228162514264337593543950336",
    "0.00000000000000000000000000000000000001",
    "99999999999999999999",
    "-9223372036854775808",
    "9223372036854775807",
    "100000000000000",
    "",
    "\"\"",
    "\"1.5\"",
    "1,5",
    "١٢٣",
    "1_000",
    "0x10",
    "+5",
    ".5",
    "5.",
    "1e",
    "--1",
    "2024-13-45",
    "2024-02-30 25:61:61",
    "+275760-09-13T00:00:00Z",
    "0000-01-01",
    "null",
    "true",
    "[]",
    "{}",
];

/// Non-ASCII and hostile cell and header contents.
const TEXTS: &[&str] =
    &["ÖPEN", "🚀", "\u{fffd}", "\u{202e}", "ｏｐｅｎ", "\0", "\r", "\"", "open,open", "Close"];

/// The mutator's vocabulary: OHLCV's own hostile numbers, dates and cells (no JSON keys: the
/// OHLCV JSON layout is arrays).
const DICT: Dictionary = Dictionary { values: WEIRD, keys: &[], texts: TEXTS };

/// A seed file with `edits` applied (the shared mutator of `fuzz-input`).
fn apply(input: &str, edits: &[Edit]) -> Vec<u8> {
    fuzz_input::apply(input.as_bytes(), edits, &DICT)
}

// ---------------------------------------------------------------------------------------------
// What the readers must do with any input

/// Candles read must be consistent, and the replay driver takes them or says why not.
fn check_candles(candles: &[Candle]) {
    assert!(candles.iter().all(Candle::is_consistent));
    if let Ok(path) = ReplayPath::new(candles, Timestamp::from_millis(0), 3_600_000) {
        for t in [i64::MIN, -1, 0, 1, 59_999, 3_600_000, i64::MAX] {
            assert!(path.price_at(t).is_finite() && path.volume_rate_at(t).is_finite());
        }
    } else if let Err((n, reason)) = ReplayPath::new(candles, Timestamp::from_millis(0), 3_600_000) {
        assert!((1..=candles.len()).contains(&n) && !reason.is_empty(), "{n}: {reason}");
    }
}

/// An in-memory parse: an error names a line of the text (or, for JSON, a row) and says what.
fn check_parse(text: &str, result: RowResult<Rows>) {
    let lines = text.lines().count().max(1);
    match result {
        Ok(rows) => {
            assert!(rows.iter().all(|(line, _)| (1..=lines).contains(line)), "{rows:?}");
            check_candles(&rows.into_iter().map(|(_, c)| c).collect::<Vec<_>>());
        }
        Err((line, reason)) => {
            assert!((1..=lines + 1).contains(&line), "line {line} of {lines}: {reason}");
            assert!(!reason.trim().is_empty());
        }
    }
}

/// A file read: the error is a `ReplayParse` naming this file and a line inside it.
fn check_file(bytes: &[u8]) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    let lines = bytes.split(|c| *c == b'\n').count().max(1);
    match load_ohlcv(f.path()) {
        Ok(candles) => {
            assert!(!candles.is_empty());
            assert!(candles.windows(2).all(|w| w[0].open_time < w[1].open_time), "times increase");
            check_candles(&candles);
        }
        Err(SimError::ReplayParse { path, line, reason }) => {
            assert_eq!(path, f.path());
            assert!((1..=lines).contains(&line), "line {line} of {lines}: {reason}");
            assert!(!reason.trim().is_empty());
        }
        Err(other) => panic!("bad content must be a ReplayParse naming file and line, got {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    /// Any text through both parsers.
    #[test]
    fn fuzz_ohlcv_arbitrary_text(text in any::<String>()) {
        check_parse(&text, parse_csv(&text));
        check_parse(&text, parse_json(&text));
    }

    /// Text built from the characters of CSV and JSON OHLCV files, behind a real header or
    /// none.
    #[test]
    fn fuzz_ohlcv_csv_and_json_alphabet(
        header in prop::sample::select(vec!["", "timestamp,open,high,low,close,volume\n", "date,open,high,low,close,volume\n"]),
        body in "[0-9,.:eE+\\-\\[\\]\" \nTZ]{0,300}",
    ) {
        let text = format!("{header}{body}");
        check_parse(&text, parse_csv(&text));
        check_parse(&text, parse_json(&text));
    }

    /// Real files with 1-6 edits (byte flips, deletions, insertions, truncation, duplicated
    /// ranges and lines, swapped lines, weird numbers and cells, deep nesting, non-UTF-8
    /// bytes), written to a file and read with `load_ohlcv`.
    #[test]
    fn fuzz_ohlcv_mutated_files(pick in any::<usize>(), edits in edits()) {
        let seeds = seeds();
        check_file(&apply(&seeds[pick % seeds.len()], &edits));
    }
}

/// The seeds read as they are and the mutator changes them (a harness that never changes its
/// input proves nothing).
#[test]
fn fuzz_ohlcv_seeds_read_and_mutator_changes_them() {
    for seed in seeds() {
        let f = {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            f.write_all(seed.as_bytes()).unwrap();
            f
        };
        assert!(load_ohlcv(f.path()).is_ok(), "{seed}");
    }
    let row = "60000,1,2,0.5,1.5,10";
    assert_eq!(apply(row, &[Edit::Number(1, 3)]), b"60000,1e400,2,0.5,1.5,10");
    assert_eq!(apply(row, &[Edit::Cell(0, 1)]), "🚀,1,2,0.5,1.5,10".as_bytes());
}
