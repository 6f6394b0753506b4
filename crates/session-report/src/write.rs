//! The IO edge: read `events.jsonl`, write `charts/*.svg` and `report.md` atomically.

use std::fmt;
use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use telemetry::{EventReader, SessionPaths, TelemetryError};

use crate::analysis::{money, Analyzer, BadLine, Severity};
use crate::charts::render_charts;
use crate::markdown::render_markdown;
use crate::ReportError;

/// The headline figures of a built report, for the final console line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// Where `report.md` was written.
    pub report: PathBuf,
    /// The chart files written.
    pub charts: Vec<PathBuf>,
    /// Closed trades.
    pub trades: u64,
    /// Realized PnL in the quote currency, fees included.
    pub pnl: Decimal,
    /// `MD_POLL_OVERRUN` events.
    pub overruns: u64,
    /// Events read back from `events.jsonl`.
    pub events_written: u64,
    /// Events the writer reported lost.
    pub events_dropped: u64,
    /// Lines of `events.jsonl` that could not be read.
    pub bad_lines: u64,
    /// Issues of severity CRITICAL.
    pub critical_issues: u64,
    /// Validation checks that did not pass (failed or without data).
    pub checks_not_passed: u64,
}

impl fmt::Display for ReportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "report {} | trades {} | PnL {} USDT | overruns {} | events written {} / dropped {}",
            self.report.display(),
            self.trades,
            money(self.pnl),
            self.overruns,
            self.events_written,
            self.events_dropped
        )?;
        if self.bad_lines > 0 {
            write!(f, " / unreadable {}", self.bad_lines)?;
        }
        write!(
            f,
            " | critical issues {} | checks not passed {}",
            self.critical_issues, self.checks_not_passed
        )
    }
}

/// Builds the report of the session in `session_dir` from its `events.jsonl` alone: writes
/// `report.md` and `charts/*.svg` there (replacing earlier ones) and returns the headline figures.
///
/// Fails only when the events file cannot be opened or an output cannot be written; unreadable
/// lines are listed in the report.
pub fn build(session_dir: &Path) -> Result<ReportSummary, ReportError> {
    let paths = SessionPaths::in_dir(session_dir);
    // Streamed: one record at a time into the analyzer, so memory does not grow with the log.
    let file = fs::File::open(&paths.events).map_err(|source| ReportError::Read {
        source: TelemetryError::Io { action: "open events file", path: paths.events.clone(), source },
    })?;
    let mut analyzer = Analyzer::new();
    let mut bad_lines = Vec::new();
    for item in EventReader::new(BufReader::new(file)) {
        match item {
            Ok(record) => analyzer.add(&record),
            Err(e) => bad_lines.push(BadLine { line: e.line(), message: e.to_string() }),
        }
    }
    let analysis = analyzer.finish(bad_lines);
    let charts = render_charts(&analysis)?;
    fs::create_dir_all(&paths.charts).map_err(|source| ReportError::Write {
        action: "create charts directory",
        path: paths.charts.clone(),
        source,
    })?;
    let mut chart_paths = Vec::new();
    for chart in &charts {
        let path = paths.charts.join(chart.file_name);
        write_atomically(&path, chart.svg.as_bytes())?;
        chart_paths.push(path);
    }
    let text = render_markdown(&analysis, &charts);
    write_atomically(&paths.report, text.as_bytes())?;
    Ok(ReportSummary {
        report: paths.report,
        charts: chart_paths,
        trades: analysis.trading.trades.len() as u64,
        pnl: analysis.trading.pnl,
        overruns: analysis.market_data.overruns.len() as u64,
        events_written: analysis.session.events_read,
        events_dropped: analysis.session.events_dropped,
        bad_lines: analysis.session.bad_lines.len() as u64,
        critical_issues: analysis.issues.iter().filter(|i| i.severity == Severity::Critical).count() as u64,
        checks_not_passed: analysis
            .checks
            .iter()
            .filter(|c| matches!(c.status, crate::CheckStatus::Fail | crate::CheckStatus::NoData))
            .count() as u64,
    })
}

/// Writes `bytes` to `path.tmp`, syncs it and renames it over `path`: readers see the old file
/// or the whole new one, never a part.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Write { action, path, source }
    };
    let mut file = fs::File::create(&tmp).map_err(io("create", &tmp))?;
    file.write_all(bytes).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("sync", &tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("report.md")]);
    }

    #[test]
    fn the_console_line_has_the_headline_figures() {
        let summary = ReportSummary {
            report: PathBuf::from("s/report.md"),
            charts: Vec::new(),
            trades: 12,
            pnl: Decimal::new(-12345, 3),
            overruns: 3,
            events_written: 900,
            events_dropped: 2,
            bad_lines: 1,
            critical_issues: 0,
            checks_not_passed: 4,
        };
        assert_eq!(
            summary.to_string(),
            "report s/report.md | trades 12 | PnL -12.35 USDT | overruns 3 | events written 900 / dropped 2 \
             / unreadable 1 | critical issues 0 | checks not passed 4"
        );
    }

    #[test]
    fn a_missing_events_file_is_a_read_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = build(dir.path()).unwrap_err();
        assert!(matches!(err, ReportError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("events.jsonl"), "{err}");
        assert!(!dir.path().join("report.md").exists());
    }

    #[test]
    fn an_unwritable_target_is_a_write_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("events.jsonl"), "").unwrap();
        fs::write(dir.path().join("charts"), "a file where the directory should be").unwrap();
        let err = build(dir.path()).unwrap_err();
        assert!(matches!(err, ReportError::Write { action: "create charts directory", .. }), "{err:?}");
    }
}
