//! Reading `events.jsonl` back as typed records (used by the session report).
//!
//! Fuzzed with proptest (arbitrary bytes, mutated real lines, files cut anywhere): no panic,
//! one item per non-blank line, bad lines numbered. Long campaign:
//! `PROPTEST_CASES=100000 cargo test -p telemetry --release --lib fuzz`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::event::SCHEMA_VERSION;
use crate::{EventRecord, LineError, TelemetryError};

/// Iterates over the records of an events stream, one `Result` per non-blank line: a bad line
/// yields a [`LineError`] with its line number and the reader goes on with the next line. A
/// read error ends the iteration after reporting it.
#[derive(Debug)]
pub struct EventReader<R> {
    input: R,
    line: u64,
    buf: Vec<u8>,
    done: bool,
}

impl<R: BufRead> EventReader<R> {
    /// Reads records from `input`.
    pub fn new(input: R) -> Self {
        EventReader { input, line: 0, buf: Vec::new(), done: false }
    }
}

impl<R: BufRead> Iterator for EventReader<R> {
    type Item = Result<EventRecord, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            self.line += 1;
            let line = self.line;
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    if self.buf.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    return Some(parse_line(line, &self.buf));
                }
                Err(source) => {
                    self.done = true;
                    return Some(Err(LineError::Io { line, source }));
                }
            }
        }
        None
    }
}

fn parse_line(line: u64, bytes: &[u8]) -> Result<EventRecord, LineError> {
    let record: EventRecord =
        serde_json::from_slice(bytes).map_err(|source| LineError::Parse { line, source })?;
    if record.schema > SCHEMA_VERSION {
        return Err(LineError::UnsupportedSchema { line, schema: record.schema, supported: SCHEMA_VERSION });
    }
    Ok(record)
}

/// Everything read from one events file: the good records in file order and the bad lines.
#[derive(Debug, Default)]
pub struct EventLog {
    /// Records that parsed, in file order.
    pub records: Vec<EventRecord>,
    /// Lines that did not, with their line numbers.
    pub errors: Vec<LineError>,
}

/// Reads a whole `events.jsonl`. Fails only when the file cannot be opened; bad lines are
/// collected in [`EventLog::errors`].
pub fn read_events(path: &Path) -> Result<EventLog, TelemetryError> {
    let file = File::open(path).map_err(|source| TelemetryError::Io {
        action: "open events file",
        path: path.to_path_buf(),
        source,
    })?;
    let mut log = EventLog::default();
    for item in EventReader::new(BufReader::new(file)) {
        match item {
            Ok(record) => log.records.push(record),
            Err(error) => log.errors.push(error),
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    const GOOD: &str = r#"{"ts":"2024-01-02T03:04:05.678Z","event_type":"LOOP_LAG","payload":{"lag_ms":3,"threshold_ms":2},"schema":1,"run_id":"r"}"#;

    #[track_caller]
    fn check(bad_line: &str, expected_fragment: &str) {
        let input = format!("{GOOD}\n{bad_line}\n\n{GOOD}\n");
        let items: Vec<_> = EventReader::new(input.as_bytes()).collect();
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(items[0].is_ok() && items[2].is_ok(), "good lines around a bad one still read: {items:?}");
        let err = items[1].as_ref().unwrap_err();
        assert_eq!(err.line(), 2);
        let text = err.to_string();
        assert!(text.starts_with("line 2: ") && text.contains(expected_fragment), "{text}");
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_reading_goes_on() {
        check("{not json", "key must be a string");
        check(&GOOD.replace("LOOP_LAG", "NO_SUCH_EVENT"), "unknown variant `NO_SUCH_EVENT`");
        check(&GOOD.replace("\"lag_ms\":3", "\"lag_ms\":\"x\""), "invalid type");
        check(&GOOD.replace("2024-01-02T03:04:05.678Z", "yesterday"), "not RFC 3339");
        check(&GOOD.replace("\"schema\":1", "\"schema\":99"), "schema 99 is newer");
        check(&GOOD[..40], "while parsing a string"); // cut off mid-line by a crash
        check("\u{fffd}\u{fffd}", "expected value");
    }

    #[test]
    fn parses_fields_of_the_envelope() {
        let record = EventReader::new(GOOD.as_bytes()).next().unwrap().unwrap();
        assert_eq!(record.ts.to_rfc3339(), "2024-01-02T03:04:05.678Z");
        assert_eq!(record.event, Event::LoopLag { lag_ms: 3, threshold_ms: 2 });
        assert_eq!((record.schema, record.run_id.as_str()), (1, "r"));
    }

    #[test]
    fn invalid_utf8_is_a_line_error_not_the_end() {
        let mut input = b"\xff\xfe\n".to_vec();
        input.extend_from_slice(GOOD.as_bytes());
        let items: Vec<_> = EventReader::new(input.as_slice()).collect();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap_err().line(), 1);
        assert!(items[1].is_ok());
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.jsonl");
        let err = read_events(&path).unwrap_err().to_string();
        assert!(err.contains("nope.jsonl") && err.contains("open events file"), "{err}");
    }
}

#[cfg(test)]
#[path = "reader_fuzz.rs"]
mod fuzz;
