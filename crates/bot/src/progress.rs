//! The live status of a running session: an indicatif progress bar on a terminal, periodic log
//! lines otherwise (CI, a pipe, a service manager).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rust_decimal::Decimal;

/// What the status shows, gathered by the session each cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusSnapshot {
    /// Session time elapsed (simulated time on the in-process venue).
    pub elapsed: Duration,
    /// Market-data cycles completed.
    pub cycles: u64,
    /// Cycles longer than `MD_POLL_MS`.
    pub overruns: u64,
    /// Drops that fired.
    pub drops: u64,
    /// Positions open now.
    pub open_positions: u32,
    /// Realised PnL so far, quote currency.
    pub realized_pnl: Decimal,
}

impl StatusSnapshot {
    /// One human line: `elapsed 3h00m/24h00m cycles 7200 overruns 0 drops 41 open 2 pnl +1.23`.
    pub fn line(&self, total: Duration) -> String {
        format!(
            "{}/{} cycles {} overruns {} drops {} open {} pnl {:+}",
            hm(self.elapsed),
            hm(total),
            self.cycles,
            self.overruns,
            self.drops,
            self.open_positions,
            self.realized_pnl.round_dp(2)
        )
    }
}

fn hm(d: Duration) -> String {
    let m = d.as_secs() / 60;
    format!("{}h{:02}m", m / 60, m % 60)
}

/// The status display. On a terminal a bar (drawn at most ~10 times a second by indicatif);
/// elsewhere one log line per tenth of the session.
#[derive(Debug)]
pub struct Status {
    total: Duration,
    bar: Option<ProgressBar>,
    next_line_at: Duration,
}

impl Status {
    /// A status for a session of `total` length (zero = open-ended), drawn as a bar when
    /// `terminal` is true.
    pub fn new(total: Duration, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(total.as_secs().max(1)),
                ProgressDrawTarget::stderr_with_hz(10),
            );
            let style = ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Status { total, bar, next_line_at: Duration::ZERO }
    }

    /// Whether [`Status::update`] would show anything at `elapsed` (a bar always; a line only
    /// when the next one is due), so a caller builds a snapshot only then.
    pub fn wants(&self, elapsed: Duration) -> bool {
        self.bar.is_some() || elapsed >= self.next_line_at
    }

    /// Shows `snapshot`. Returns the log line when one is due (non-terminal mode), so the caller
    /// logs it through tracing; the bar needs no caller action.
    pub fn update(&mut self, snapshot: &StatusSnapshot) -> Option<String> {
        let line = snapshot.line(self.total);
        if let Some(bar) = &self.bar {
            bar.set_position(snapshot.elapsed.as_secs());
            bar.set_message(line);
            return None;
        }
        if snapshot.elapsed < self.next_line_at {
            return None;
        }
        let step = if self.total.is_zero() { Duration::from_secs(600) } else { self.total / 10 };
        self.next_line_at = snapshot.elapsed + step.max(Duration::from_secs(1));
        Some(line)
    }

    /// Ends the display (the bar is cleared; lines were logged as they came).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn without_a_terminal_a_line_comes_every_tenth_of_the_session() {
        let total = Duration::from_secs(24 * 3600);
        let mut status = Status::new(total, false);
        let mut lines = Vec::new();
        for minute in 0..=(24 * 60) {
            let snap = StatusSnapshot {
                elapsed: Duration::from_secs(minute * 60),
                cycles: minute * 40,
                realized_pnl: dec!(-1.234),
                ..StatusSnapshot::default()
            };
            lines.extend(status.update(&snap));
        }
        assert_eq!(lines.len(), 11, "{lines:#?}");
        assert_eq!(lines[0], "0h00m/24h00m cycles 0 overruns 0 drops 0 open 0 pnl -1.23");
        assert!(lines[10].starts_with("24h00m/24h00m cycles 57600"), "{}", lines[10]);
    }
}
