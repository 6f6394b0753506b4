//! `BOT_FAILPOINT`: a testing aid that stops the bot at a named point of its order flow, so a
//! crash-restart test can kill it exactly there (`crates/bot/tests/crash_restart.rs`).
//!
//! Not a setting for users: it is read by the binary from the environment only, is not among
//! the settings, and never appears in the config snapshot. Without it nothing is installed and
//! every point costs one branch.
//!
//! `BOT_FAILPOINT=<point>:<nth>[,<point>:<nth>...]`, where `<point>` is one of the router's
//! [`order_router::FailPoint`] names (`after_intent_persisted`, `after_create_sent`,
//! `before_fill_committed`, `before_settlement_committed`) or the bot's own `after_reconcile`
//! (start-up reconciliation done, nothing traded yet), and `<nth>` counts from 1. When the nth
//! pass of a point comes, the bot writes one marker line to stderr,
//! `BOT_FAILPOINT <point> #<nth> <detail>`, and then waits for a line on its stdin: a line lets
//! it go on (a test that wants to inspect the ledger and resume), end of input or an error
//! blocks it for good (the test kills it). The wait happens where the point is, the router's
//! state lock held, so nothing else of the order flow moves meanwhile.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use order_router::{FailPoint, FailpointHook};

use crate::SettingsError;

/// The environment variable the binary reads.
pub const FAILPOINT_ENV: &str = "BOT_FAILPOINT";

/// The bot's own point: start-up reconciliation has run, before the feed starts.
pub const AFTER_RECONCILE: &str = "after_reconcile";

/// Parsed `BOT_FAILPOINT`: which pass of which point stops the process, and the passes so far.
#[derive(Debug, Default)]
pub struct Failpoints {
    /// Point -> (the pass that stops, passes so far).
    targets: BTreeMap<&'static str, (u64, AtomicU64)>,
}

impl Failpoints {
    /// Parses `point:nth[,point:nth...]`.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] naming `BOT_FAILPOINT`, the value and the allowed points.
    pub fn parse(spec: &str) -> Result<Failpoints, SettingsError> {
        let names: Vec<&'static str> =
            FailPoint::ALL.iter().map(|p| p.as_str()).chain([AFTER_RECONCILE]).collect();
        let invalid = || SettingsError::Invalid {
            key: FAILPOINT_ENV.to_owned(),
            origin: "environment".to_owned(),
            value: spec.to_owned(),
            allowed: format!(
                "<point>:<nth>[,<point>:<nth>...] with nth >= 1 and point one of {}",
                names.join(", ")
            ),
        };
        let mut targets = BTreeMap::new();
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, nth) = item.split_once(':').ok_or_else(invalid)?;
            let name = names.iter().copied().find(|n| *n == name.trim()).ok_or_else(invalid)?;
            let nth: u64 = nth.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(invalid)?;
            targets.insert(name, (nth, AtomicU64::new(0)));
        }
        if targets.is_empty() {
            return Err(invalid());
        }
        Ok(Failpoints { targets })
    }

    /// Counts a pass of `point`; on the chosen pass writes the marker line (with `detail`) and
    /// waits on stdin (see the module docs).
    pub fn pass(&self, point: &str, detail: &str) {
        let Some((name, (nth, passes))) = self.targets.get_key_value(point) else { return };
        let nth = *nth;
        if passes.fetch_add(1, Ordering::SeqCst) + 1 != nth {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{FAILPOINT_ENV} {name} #{nth} {detail}");
        let _ = err.flush();
        drop(err);
        let mut line = String::new();
        match std::io::stdin().lock().read_line(&mut line) {
            Ok(n) if n > 0 => {}
            _ => loop {
                std::thread::park();
            },
        }
    }

    /// The hook for [`order_router::OrderRouter::with_failpoint_hook`].
    pub fn router_hook(self: &Arc<Self>) -> FailpointHook {
        let me = Arc::clone(self);
        Arc::new(move |point: FailPoint| me.pass(point.as_str(), ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_bad_ones_name_the_variable() {
        let fp = Failpoints::parse("after_create_sent:3, after_reconcile:1").unwrap();
        assert_eq!(fp.targets.get("after_create_sent").map(|t| t.0), Some(3));
        assert_eq!(fp.targets.get(AFTER_RECONCILE).map(|t| t.0), Some(1));
        for bad in ["", "after_create_sent", "after_create_sent:0", "nowhere:1", "after_create_sent:x"] {
            let e = Failpoints::parse(bad).unwrap_err().to_string();
            assert!(e.contains(FAILPOINT_ENV) && e.contains("before_fill_committed"), "{bad}: {e}");
        }
    }

    #[test]
    fn passes_before_the_chosen_one_go_on() {
        // Passes 1 and 2 of a point chosen at pass 3, and a point not chosen, return at once.
        let fp = Failpoints::parse("before_fill_committed:3").unwrap();
        fp.pass("before_fill_committed", "");
        fp.pass("before_fill_committed", "");
        fp.pass("after_create_sent", "");
        assert_eq!(fp.targets["before_fill_committed"].1.load(Ordering::SeqCst), 2);
        assert!(!fp.targets.contains_key("after_create_sent"));
    }
}
