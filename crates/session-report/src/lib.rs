//! `session-report`: explains one bot session from its `events.jsonl` alone.
//!
//! [`build`] reads a session directory's events with telemetry's typed reader (bad lines are
//! listed in the report with their line numbers, never fatal), computes an [`Analysis`] (pure:
//! [`analyze`]), and writes `report.md` ([`render_markdown`]) plus SVG charts in `charts/`
//! ([`render_charts`]). Every file is written to a temporary name and renamed, so a report is
//! never half-written. The returned [`ReportSummary`] holds the headline figures for the final
//! console line.
//!
//! The report's sections: summary; critical issues found by rules, each with severity, count,
//! first/last time and a sample; market-data performance (configured versus measured cycle,
//! overrun distribution, slowest symbols, skip list, degraded); the decision funnel; why few or
//! no trades happened (deepest drop per symbol against the threshold, nearby thresholds);
//! trading results; configuration; recommendations computed from the measurements; and the
//! post-fix validation steps as a pass/fail table. `docs/session-report.md` describes each.
//!
//! ```no_run
//! let summary = session_report::build(std::path::Path::new("sessions/session_20250101_000000"))?;
//! eprintln!("{summary}");
//! # Ok::<(), session_report::ReportError>(())
//! ```

mod analysis;
mod charts;
mod error;
mod markdown;
mod write;

pub use analysis::{
    analyze, estimated_cycle_p95, exit_reason_name, money, pct_below, skip_limit, supported_poll_ms,
    trigger_for, Analysis, Analyzer, BadLine, Check, CheckStatus, Configuration, Degraded, Feasibility,
    Funnel, FunnelSource, HealthSummary, Issue, MarketData, NoTradeExplanation, Overrun, OverrunBucket,
    Percentiles, Recommendation, SessionInfo, Severity, Skipped, SlowSymbol, Trade, TradeGroup, Trading,
    WhatIf, CYCLE_TOLERANCE_MS, FEW_TRADES,
};
pub use charts::{render_charts, Chart};
pub use error::ReportError;
pub use markdown::render_markdown;
pub use write::{build, ReportSummary};
