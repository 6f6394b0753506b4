//! The storm suite (issue "faults, restarts and bad input"): accelerated sessions on the
//! in-process simulator under the `storm` fault profile (timeouts 5 %, 5xx 2 %, 429 1 %,
//! malformed bodies 1 %, delisted symbols, orders invisible for 3 s after acceptance, partial
//! fills then cancels, a delisting mid-session), checked from the session directory ALONE: its
//! `events.jsonl` and the order router's SQLite ledger. [`check_session`] works on any session
//! directory of the simulated venue.
//!
//! In CI a few simulated hours run per seed; the full day is one command away:
//! `STORM_HOURS=24 cargo test -p bot --release --test storm -- --nocapture` (and
//! `STORM_SEEDS=1,2,3` for other seeds). The figures of each run are printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use bot::{LoadedSettings, SessionOptions, Settings, SettingsSources, VenueCredentials};
use order_router::{Durability, Ledger};
use rust_decimal::Decimal;
use telemetry::{read_events, Event, ExitReason};

/// What a storm session did, counted from its directory.
#[derive(Debug, Default)]
struct Figures {
    events: usize,
    intents: usize,
    orders_submitted: usize,
    orders_filled: usize,
    outcome_unknown: usize,
    order_failed: usize,
    partial_then_canceled: usize,
    positions_opened: usize,
    positions_closed: usize,
    delisted_write_offs: usize,
    symbols_skipped: usize,
    symbols_degraded: usize,
    reconciled_findings: usize,
    budget_events_checked: usize,
    assets_checked: usize,
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "events {}, intents {}, orders submitted {} / filled {}, outcome unknown {}, failed {}, \
             partial then canceled {}, positions opened {} / closed {} (delisted write-offs {}), \
             symbols skipped {}, degraded {}, reconciliation findings {}, budget events checked {}, \
             assets checked {}",
            self.events,
            self.intents,
            self.orders_submitted,
            self.orders_filled,
            self.outcome_unknown,
            self.order_failed,
            self.partial_then_canceled,
            self.positions_opened,
            self.positions_closed,
            self.delisted_write_offs,
            self.symbols_skipped,
            self.symbols_degraded,
            self.reconciled_findings,
            self.budget_events_checked,
            self.assets_checked
        )
    }
}

/// Checks a finished session directory (`events.jsonl` + `ledger.sqlite`) against the storm
/// suite's guarantees; returns the figures, or every violation found.
fn check_session(dir: &Path) -> Result<Figures, Vec<String>> {
    let mut bad: Vec<String> = Vec::new();
    let mut fig = Figures::default();
    let log = match read_events(&dir.join("events.jsonl")) {
        Ok(log) => log,
        Err(e) => return Err(vec![format!("events.jsonl unreadable: {e}")]),
    };
    for e in &log.errors {
        bad.push(format!("unparsable event line: {e}"));
    }
    let events: Vec<&Event> = log.records.iter().map(|r| &r.event).collect();
    fig.events = events.len();

    // Telemetry written == emitted: no loss reported anywhere, and the closing check's count
    // of written events is the number of lines before it.
    let mut reconciled_at = None;
    for (i, e) in events.iter().enumerate() {
        match e {
            Event::TelemetryDropped { count } => bad.push(format!("TELEMETRY_DROPPED {count}")),
            Event::LogDropped { file, count } => bad.push(format!("LOG_DROPPED {file} {count}")),
            Event::SessionReconciled { .. } => reconciled_at = Some(i),
            _ => {}
        }
    }
    let Some(rec_i) = reconciled_at else {
        bad.push("no SESSION_RECONCILED".into());
        return Err(bad);
    };
    let Event::SessionReconciled {
        assets,
        quote_venue,
        free,
        reserved,
        committed,
        total,
        active_orders,
        events_written,
        events_dropped,
        venue_error,
        ..
    } = events[rec_i]
    else {
        unreachable!()
    };
    if *events_dropped != 0 || *events_written != rec_i as u64 {
        bad.push(format!(
            "telemetry: {events_written} written + {events_dropped} dropped before SESSION_RECONCILED, \
             {rec_i} lines in the file"
        ));
    }
    match events.last() {
        Some(Event::SessionEnded { events_dropped: 0, .. }) => {}
        other => bad.push(format!("the last event is not a loss-free SESSION_ENDED: {other:?}")),
    }

    // 0 panics, no unexpected errors.
    for e in &events {
        match e {
            Event::TaskPanicked { task, message, .. } => bad.push(format!("panic in {task}: {message}")),
            Event::TaskFailed { task, error, .. } => bad.push(format!("task {task} failed: {error}")),
            Event::TaskEnded { task, how, detail } if how != "returned" => {
                bad.push(format!("task {task} ended {how}: {detail:?}"))
            }
            Event::ShutdownPhase { phase, outcome, detail, .. } if outcome != "completed" => {
                bad.push(format!("shutdown phase {phase}: {outcome} {detail:?}"))
            }
            Event::Reconciled { blocks_trading: true, detail, .. } => {
                bad.push(format!("reconciliation blocks trading: {detail}"))
            }
            _ => {}
        }
    }

    // 0 duplicate orders for one intent; every reservation released; the budget invariant
    // at every event that carries the budget's figures.
    let mut submitted: BTreeMap<String, usize> = BTreeMap::new();
    let mut created: BTreeMap<String, usize> = BTreeMap::new();
    let mut reserved_ids: BTreeSet<String> = BTreeSet::new();
    let mut released_ids: BTreeSet<String> = BTreeSet::new();
    let mut closes_by_base: BTreeMap<String, usize> = BTreeMap::new();
    let mut delisted_qty: BTreeMap<String, Decimal> = BTreeMap::new();
    for e in &events {
        let budget = match e {
            Event::IntentCreated { intent_id, .. } => {
                *created.entry(intent_id.clone()).or_default() += 1;
                None
            }
            Event::OrderSubmitted { client_order_id, .. } => {
                *submitted.entry(client_order_id.to_string()).or_default() += 1;
                None
            }
            Event::OrderFilled { .. } => {
                fig.orders_filled += 1;
                None
            }
            Event::OrderOutcomeUnknown { .. } => {
                fig.outcome_unknown += 1;
                None
            }
            Event::OrderFailed { .. } => {
                fig.order_failed += 1;
                None
            }
            Event::OrderCanceled { filled_quantity, .. } => {
                if *filled_quantity > Decimal::ZERO {
                    fig.partial_then_canceled += 1;
                }
                None
            }
            Event::PositionOpened { .. } => {
                fig.positions_opened += 1;
                None
            }
            Event::PositionClosed { symbol, quantity, reason, .. } => {
                fig.positions_closed += 1;
                *closes_by_base.entry(symbol.base().to_owned()).or_default() += 1;
                if *reason == ExitReason::Delisted {
                    fig.delisted_write_offs += 1;
                    *delisted_qty.entry(symbol.base().to_owned()).or_default() += *quantity;
                }
                None
            }
            Event::SymbolSkipped { .. } => {
                fig.symbols_skipped += 1;
                None
            }
            Event::SymbolDegraded { .. } => {
                fig.symbols_degraded += 1;
                None
            }
            Event::Reconciled { .. } => {
                fig.reconciled_findings += 1;
                None
            }
            Event::BudgetReserved { intent_id, free, reserved, committed, total, .. } => {
                reserved_ids.insert(intent_id.clone());
                Some((free, reserved, committed, total))
            }
            Event::BudgetCommitted { free, reserved, committed, total, .. } => {
                Some((free, reserved, committed, total))
            }
            Event::BudgetReleased { intent_id, free, reserved, committed, total, .. } => {
                released_ids.insert(intent_id.clone());
                Some((free, reserved, committed, total))
            }
            _ => None,
        };
        if let Some((free, reserved, committed, total)) = budget {
            fig.budget_events_checked += 1;
            match total {
                Some(total) if *free + *reserved + *committed == *total => {}
                _ => bad.push(format!(
                    "budget invariant broken at {}: {free} + {reserved} + {committed} != {total:?}",
                    e.event_type()
                )),
            }
            if *free < Decimal::ZERO || *reserved < Decimal::ZERO || *committed < Decimal::ZERO {
                bad.push(format!(
                    "negative budget figure at {}: {free} {reserved} {committed}",
                    e.event_type()
                ));
            }
        }
    }
    fig.intents = created.len();
    fig.orders_submitted = submitted.len();
    for (id, n) in created.iter().filter(|(_, n)| **n > 1) {
        bad.push(format!("intent {id} created {n} times"));
    }
    for (cid, n) in submitted.iter().filter(|(_, n)| **n > 1) {
        bad.push(format!("client order id {cid} submitted {n} times"));
    }
    for id in reserved_ids.difference(&released_ids) {
        bad.push(format!("reservation of intent {id} never released"));
    }

    // The ledger alone: every intent terminal and settled, no reservation left, the budget
    // invariant, and the same budget and positions as the closing check.
    let ledger = match Ledger::open(&dir.join("ledger.sqlite"), Durability::ProcessCrashSafe) {
        Ok(l) => l,
        Err(e) => {
            bad.push(format!("ledger unreadable: {e}"));
            return Err(bad);
        }
    };
    let state = match ledger.load() {
        Ok(Some(s)) => s,
        other => {
            bad.push(format!("ledger has no state: {other:?}"));
            return Err(bad);
        }
    };
    for o in state.orders.values() {
        if !o.state.is_terminal() || !o.settled {
            bad.push(format!(
                "intent {} ({}) ends {} settled={} in the ledger",
                o.intent.id, o.client_order_id, o.state, o.settled
            ));
        }
    }
    if *active_orders != 0 {
        bad.push(format!("{active_orders} orders still active at the closing check"));
    }
    if !state.budget.reservations().is_empty() {
        bad.push(format!("ledger reservations left: {:?}", state.budget.reservations()));
    }
    if let Err(e) = state.budget.check() {
        bad.push(format!("ledger budget: {e}"));
    }
    let ledger_budget =
        (state.budget.free(), state.budget.reserved(), state.budget.committed(), state.budget.total());
    if ledger_budget != (*free, *reserved, *committed, *total) {
        bad.push(format!(
            "ledger budget {ledger_budget:?} != closing check ({free}, {reserved}, {committed}, {total})"
        ));
    }
    let committed_cost: Decimal = state.positions.values().map(|p| p.cost).sum();
    if committed_cost != state.budget.committed() {
        bad.push(format!("positions cost {committed_cost} != committed {}", state.budget.committed()));
    }

    // Positions equal the venue's balances: per base asset, the account holds the ledger's
    // position, plus what delisted write-offs left there, plus dust below the market's
    // smallest sellable quantity from each position closed.
    if let Some(e) = venue_error {
        bad.push(format!("the closing check could not read the venue: {e}"));
    }
    for a in assets {
        fig.assets_checked += 1;
        let ledger_qty: Decimal =
            state.positions.iter().filter(|(s, _)| s.base() == a.asset).map(|(_, p)| p.quantity).sum();
        if ledger_qty != a.ledger {
            bad.push(format!("{}: ledger file {ledger_qty} != closing check {}", a.asset, a.ledger));
        }
        let stranded = delisted_qty.get(&a.asset).copied().unwrap_or(Decimal::ZERO);
        let dust = a.venue - a.ledger - stranded;
        let closes = closes_by_base.get(&a.asset).copied().unwrap_or(0);
        let dust_limit = a.unsellable_below * Decimal::from(closes);
        if dust < Decimal::ZERO || (dust > Decimal::ZERO && dust >= dust_limit) {
            bad.push(format!(
                "{}: venue {} != ledger {} + delisted {stranded} (+ dust below {dust_limit})",
                a.asset, a.venue, a.ledger
            ));
        }
    }
    // The quote asset: what the account spent equals what the budget spent.
    if let Some(start) = config_decimal(dir, "sim_start_usdt") {
        let first_total = events.iter().find_map(|e| match e {
            Event::BudgetReserved { free, reserved, committed, .. } => Some(*free + *reserved + *committed),
            _ => None,
        });
        if let Some(first_total) = first_total {
            let venue_spent = start - *quote_venue;
            let budget_spent = first_total - (*free + *reserved);
            if venue_spent != budget_spent {
                bad.push(format!(
                    "quote: the account spent {venue_spent}, the budget {budget_spent} (start {start}, \
                     budget {first_total})"
                ));
            }
        }
    }
    if bad.is_empty() {
        Ok(fig)
    } else {
        Err(bad)
    }
}

/// A decimal setting from the session's `config.toml` (`key = "1.5"  # ...` or `key = 1.5`).
fn config_decimal(dir: &Path, key: &str) -> Option<Decimal> {
    let text = std::fs::read_to_string(dir.join("config.toml")).ok()?;
    let line = text.lines().find(|l| l.split('=').next().is_some_and(|k| k.trim() == key))?;
    let value = line.split_once('=')?.1.split('#').next()?.trim().trim_matches('"');
    value.parse().ok()
}

fn settings(dir: &Path, pairs: &[(&str, String)]) -> LoadedSettings {
    let mut flags: Vec<(String, String)> = vec![("SESSION_DIR".into(), dir.display().to_string())];
    flags.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Settings::load(&SettingsSources { flags, ..SettingsSources::default() }).unwrap()
}

/// Runs one storm session of `hours` simulated hours with `seed` and checks its directory.
#[allow(clippy::print_stdout)] // the figures of each run are the suite's output (`--nocapture`)
fn storm_session(root: &Path, seed: u64, hours: u64, symbols: u32) -> Figures {
    let loaded = settings(
        &root.join(format!("seed{seed}")),
        &[
            ("SIM_FAULTS", "storm".into()),
            ("SIM_SEED", seed.to_string()),
            ("SIM_SYMBOLS", symbols.to_string()),
            ("SESSION_DURATION_MIN", (hours * 60).to_string()),
        ],
    );
    let out = bot::run_session(&loaded, &VenueCredentials::default(), &SessionOptions::default()).unwrap();
    match check_session(&out.dir) {
        Ok(fig) => {
            println!("storm seed {seed}, {hours} h, {symbols} symbols: {fig}; exit code {}", out.exit_code);
            assert_eq!(out.exit_code, 0, "{out:#?}");
            fig
        }
        Err(problems) => panic!(
            "storm seed {seed}, {hours} h: {} problems in {}:\n{}",
            problems.len(),
            out.dir.display(),
            problems.join("\n")
        ),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn storm_sessions_lose_nothing_and_end_reconciled_with_the_venue() {
    // STORM_DIR keeps the sessions (for a look at a failure); a temporary directory otherwise.
    let tmp = tempfile::tempdir().unwrap();
    let root = std::env::var("STORM_DIR").map_or_else(|_| tmp.path().to_path_buf(), std::path::PathBuf::from);
    let hours = env_or("STORM_HOURS", 3u64);
    let symbols = env_or("STORM_SYMBOLS", 60u32);
    let seeds: Vec<u64> = std::env::var("STORM_SEEDS")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![11]);
    let mut order_faults = 0;
    for seed in seeds {
        let fig = storm_session(&root, seed, hours, symbols);
        assert!(fig.orders_submitted > 0 && fig.orders_filled > 0, "{fig}");
        order_faults += fig.outcome_unknown + fig.order_failed;
    }
    // The storm did reach the order path: some outcomes were unknown or failed.
    assert!(order_faults > 0, "no order fault was seen");
}

#[test]
fn the_checker_finds_a_broken_ledger_and_lost_events() {
    // The checker itself must be able to fail: a clean short session passes, then a ledger row
    // left active and a truncated events file are each reported.
    let root = tempfile::tempdir().unwrap();
    let loaded = settings(
        &root.path().join("c"),
        &[
            ("SIM_FAULTS", "storm".into()),
            ("SIM_SYMBOLS", "30".into()),
            ("SESSION_DURATION_MIN", "60".into()),
        ],
    );
    let out = bot::run_session(&loaded, &VenueCredentials::default(), &SessionOptions::default()).unwrap();
    check_session(&out.dir).unwrap_or_else(|p| panic!("{p:#?}"));

    // An events file without its end.
    let events = std::fs::read_to_string(out.dir.join("events.jsonl")).unwrap();
    let lines: Vec<&str> = events.lines().collect();
    let cut = lines[..lines.len() - 3].join("\n") + "\n";
    let copy = root.path().join("cut");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::write(copy.join("events.jsonl"), cut).unwrap();
    std::fs::copy(out.dir.join("ledger.sqlite"), copy.join("ledger.sqlite")).unwrap();
    let problems = check_session(&copy).unwrap_err();
    assert!(
        problems.iter().any(|p| p.contains("SESSION_RECONCILED") || p.contains("SESSION_ENDED")),
        "{problems:?}"
    );

    // A lost event: one budget line removed before the closing check.
    let i = lines.iter().position(|l| l.contains("BUDGET_RELEASED")).unwrap();
    let mut dropped: Vec<&str> = lines.clone();
    dropped.remove(i);
    std::fs::write(copy.join("events.jsonl"), dropped.join("\n") + "\n").unwrap();
    let problems = check_session(&copy).unwrap_err();
    assert!(problems.iter().any(|p| p.contains("written")), "{problems:?}");
}
