//! End-to-end tests of the report: synthetic but realistic sessions are written through the real
//! telemetry writer into a temporary session directory, then `session_report::build` reads them
//! back and writes `report.md` and the charts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use telemetry::{DeepestDrop, Event, EventSink, ExitReason, RunId, Telemetry, WriterConfig};
use trading_core::{ClientOrderId, ManualClock, OrderId, OrderStatus, OrderType, Side, Symbol, Timestamp};

/// 2025-10-26T18:06:21Z, the predecessor's analysed session.
const EPOCH_MS: i64 = 1_761_501_981_000;

/// A small deterministic generator (xorshift64*), so the tests need no RNG crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What kind of session to generate.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Per-symbol polling that cannot meet its 1.5 s target, trades, an order failure, a late
    /// heartbeat, a degraded symbol: the predecessor's session, but with trades.
    Trading,
    /// Bulk polling that meets its target, a calm market: no drop reaches the trigger, 0 trades.
    Quiet,
}

/// What the generator wrote, to check the report's figures against.
#[derive(Default, Debug)]
struct Expected {
    trades: u64,
    pnl: Decimal,
    overruns: u64,
    fees: Decimal,
}

fn sym(i: u64) -> Symbol {
    const NAMES: [&str; 12] =
        ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "AVAX", "LINK", "DOT", "LTC", "ATOM", "NEAR"];
    format!("{}/USDT", NAMES[(i as usize) % NAMES.len()]).parse().unwrap()
}

fn coid(n: u64) -> ClientOrderId {
    ClientOrderId::new(format!("C01_{n:06}")).unwrap()
}

fn config(kind: Kind) -> String {
    let (poll, batch, flow) = match kind {
        Kind::Trading => (1500, 13, true),
        Kind::Quiet => (2000, 0, true),
    };
    format!(
        "# effective configuration\n\
         [feed]\nMD_POLL_MS = {poll} # default\nMD_BATCH_SIZE = {batch}\nMD_BATCH_INTERVAL_MS = 150\n\
         [signals]\nDROP_TRIGGER_VALUE = \"0.985\"\nDROP_TRIGGER_MODE = 4\nDROP_TRIGGER_LOOKBACK_MIN = 5\n\
         [orders]\nPOSITION_SIZE_USDT = \"25\"\nMAX_CONCURRENT_POSITIONS = 3\nGLOBAL_TRADING = true\n\
         ORDER_FLOW_ENABLED = {flow}\n[supervisor]\nHEARTBEAT_TIMEOUT_S = 300\nHEARTBEAT_MODE = \"warn\"\n\
         [venue]\nAPI_KEY = \"<redacted>\"\n"
    )
}

struct Gen {
    clock: ManualClock,
    telemetry: Telemetry,
    rng: Rng,
    expected: Expected,
    next_order: u64,
}

impl Gen {
    fn emit(&self, event: Event) {
        self.telemetry.emit(event);
    }

    fn advance(&self, ms: u64) {
        self.clock.advance(Duration::from_millis(ms));
    }

    fn order(&mut self, symbol: &Symbol, side: Side, price: Decimal, qty: Decimal) -> ClientOrderId {
        self.next_order += 1;
        let id = coid(self.next_order);
        self.emit(Event::OrderSubmitted {
            client_order_id: id.clone(),
            symbol: symbol.clone(),
            side,
            order_type: OrderType::Limit,
            price: Some(price),
            quantity: qty,
        });
        id
    }

    fn fill(&mut self, id: ClientOrderId, symbol: &Symbol, side: Side, price: Decimal, qty: Decimal) {
        let fee = (price * qty * dec!(0.001)).round_dp(8);
        self.expected.fees += fee;
        self.emit(Event::OrderUpdate {
            client_order_id: id.clone(),
            order_id: Some(OrderId(format!("{}", 9000 + self.next_order))),
            symbol: symbol.clone(),
            status: OrderStatus::Filled,
            filled_quantity: qty,
        });
        self.emit(Event::OrderFilled {
            client_order_id: id,
            order_id: Some(OrderId(format!("{}", 9000 + self.next_order))),
            symbol: symbol.clone(),
            side,
            quantity: qty,
            avg_price: price,
            fee_quote: fee,
            fee,
            fee_asset: "USDT".to_owned(),
        });
    }
}

struct Open {
    symbol: Symbol,
    entry: Decimal,
    qty: Decimal,
    opened_ms: i64,
    close_after_ms: i64,
    intent: String,
}

/// Writes a session of `minutes` simulated minutes into `dir/events.jsonl`.
async fn generate(dir: &Path, kind: Kind, minutes: u64, seed: u64) -> Expected {
    let clock = ManualClock::new(Timestamp::from_millis(EPOCH_MS));
    let telemetry = Telemetry::start(
        dir.join("events.jsonl"),
        RunId::new("d588d1dc"),
        Arc::new(clock.clone()),
        WriterConfig::default(),
    )
    .unwrap();
    let mut g = Gen { clock, telemetry, rng: Rng(seed | 1), expected: Expected::default(), next_order: 0 };
    let symbols: u64 = 12;
    let (target, mode) = match kind {
        Kind::Trading => (1500u64, "per_symbol"),
        Kind::Quiet => (2000u64, "bulk"),
    };
    g.emit(Event::SessionStarted {
        run_id: RunId::new("d588d1dc"),
        session: "session_20251026_180621".to_owned(),
        version: "0.1.0".to_owned(),
        config_snapshot: config(kind),
    });
    g.emit(Event::FeedFeasibility {
        feasible: kind == Kind::Quiet,
        mode: mode.to_owned(),
        symbols: symbols as u32,
        target_ms: target,
        achievable_ms: if kind == Kind::Quiet { 400 } else { 2600 },
        weight_per_cycle: if kind == Kind::Quiet { 4 } else { 24 },
        weight_budget_per_min: 6000,
        probe_latency_ms: 85,
        advice: if kind == Kind::Quiet {
            String::new()
        } else {
            "per-symbol polling of 12 symbols needs 2600 ms; use the bulk endpoint or MD_POLL_MS >= 2600"
                .to_owned()
        },
    });
    if kind == Kind::Trading {
        g.emit(Event::SymbolSkipped {
            symbol: "XPL/USDT".parse().unwrap(),
            reason: "-1121 Invalid symbol".to_owned(),
        });
    }
    let end_ms = minutes * 60_000;
    let mut t = 0u64;
    let mut next_health = 60_000u64;
    let mut next_funnel = 30 * 60_000u64;
    let mut open: Vec<Open> = Vec::new();
    let mut intents = 0u64;
    let (mut evaluated, mut not_triggered, mut already_fired, mut fired) = (0u64, 0u64, 0u64, 0u64);
    let mut blocked: std::collections::BTreeMap<String, u64> = Default::default();
    let mut deepest: Vec<(Decimal, i64)> = vec![(Decimal::ONE, 0); symbols as usize];
    let mut late_done = false;
    let mut degraded_done = false;
    while t < end_ms {
        // One market-data cycle.
        let cycle = match kind {
            Kind::Quiet => target - 300 + g.rng.below(200),
            Kind::Trading => {
                let r = g.rng.below(100);
                if r < 60 {
                    target - 200 + g.rng.below(150)
                } else if r < 97 {
                    target + 100 + g.rng.below(3500)
                } else {
                    target * 5 + g.rng.below(12_000)
                }
            }
        };
        let step = cycle.max(target);
        g.advance(step);
        t += step;
        if cycle > target {
            g.expected.overruns += 1;
            let slow = sym(g.rng.below(symbols));
            let slowest_ms = cycle / 3 + g.rng.below(200);
            g.emit(Event::MdPollOverrun {
                cycle_ms: cycle,
                target_ms: target,
                symbols: symbols as u32,
                requests: symbols as u32,
                slowest_symbol: Some(slow),
                slowest_ms: Some(slowest_ms),
                weight: 24,
            });
        }
        // Ticks of every symbol; a drop now and then.
        for i in 0..symbols {
            evaluated += 1;
            let depth_bp = match kind {
                Kind::Quiet => g.rng.below(40 + 6 * i),
                Kind::Trading => g.rng.below(120) + if g.rng.below(1500) == 0 { 200 } else { 0 },
            };
            let ratio = Decimal::ONE - Decimal::new(depth_bp as i64, 4);
            if ratio < deepest[i as usize].0 {
                deepest[i as usize] = (ratio, EPOCH_MS + t as i64);
            }
            if ratio > dec!(0.985) {
                not_triggered += 1;
                continue;
            }
            let symbol = sym(i);
            let reference = dec!(100) + Decimal::from(i);
            let price = (reference * ratio).round_dp(4);
            if open.iter().any(|o| o.symbol == symbol) {
                already_fired += 1;
                continue;
            }
            if g.rng.below(3) == 0 {
                *blocked.entry("spread".to_owned()).or_default() += 1;
                g.emit(Event::GuardBlocked {
                    symbol,
                    guard: "spread".to_owned(),
                    value: Some(dec!(0.61)),
                    threshold: dec!(0.5),
                });
                continue;
            }
            fired += 1;
            g.emit(Event::DropDetected {
                symbol: symbol.clone(),
                price,
                reference,
                ratio,
                trigger: dec!(0.985),
                mode: "anchor_reset".to_owned(),
                lookback_min: 5,
            });
            intents += 1;
            let intent = format!("I{intents:05}");
            if open.len() >= 3 {
                g.emit(Event::IntentRejected {
                    intent_id: intent,
                    symbol,
                    side: Side::Buy,
                    reason: "max_concurrent_positions reached (3)".to_owned(),
                    budget_block: true,
                });
                continue;
            }
            let qty = (dec!(25) / price).round_dp(3);
            g.emit(Event::IntentCreated {
                intent_id: intent.clone(),
                symbol: symbol.clone(),
                side: Side::Buy,
                price,
                quantity: qty,
                notional: price * qty,
            });
            g.emit(Event::BudgetReserved {
                intent_id: intent.clone(),
                amount: dec!(25.03),
                free: dec!(974.97),
                reserved: dec!(25.03),
                committed: Decimal::ZERO,
                total: Some(dec!(1000)),
            });
            let id = g.order(&symbol, Side::Buy, price, qty);
            if intents == 2 {
                g.emit(Event::OrderFailed {
                    client_order_id: id,
                    symbol,
                    error: "Rejected: -2010 Account has insufficient balance".to_owned(),
                });
                continue;
            }
            if intents == 4 {
                g.emit(Event::OrderCanceled {
                    client_order_id: id,
                    order_id: Some(OrderId("77".to_owned())),
                    symbol,
                    requested_quantity: qty,
                    filled_quantity: Decimal::ZERO,
                    reason: "deadline".to_owned(),
                });
                continue;
            }
            g.fill(id, &symbol, Side::Buy, price, qty);
            g.emit(Event::PositionOpened {
                symbol: symbol.clone(),
                quantity: qty,
                entry_price: price,
                cost: (price * qty * dec!(1.001)).round_dp(8),
            });
            let hold = 60_000 * (3 + g.rng.below(40)) as i64;
            open.push(Open {
                symbol,
                entry: price,
                qty,
                opened_ms: t as i64,
                close_after_ms: t as i64 + hold,
                intent,
            });
        }
        // Exits.
        let mut k = 0;
        while k < open.len() {
            if open[k].close_after_ms > t as i64 {
                k += 1;
                continue;
            }
            let o = open.remove(k);
            let (reason, factor) = match g.rng.below(4) {
                0 => (ExitReason::StopLoss, dec!(0.98)),
                1 => (ExitReason::MaxHold, dec!(1.001)),
                _ => (ExitReason::TakeProfit, dec!(1.02)),
            };
            let exit = (o.entry * factor).round_dp(4);
            g.emit(Event::ExitSignal { symbol: o.symbol.clone(), reason, price: exit, entry_price: o.entry });
            g.emit(Event::IntentCreated {
                intent_id: format!("{}S", o.intent),
                symbol: o.symbol.clone(),
                side: Side::Sell,
                price: exit,
                quantity: o.qty,
                notional: exit * o.qty,
            });
            let id = g.order(&o.symbol, Side::Sell, exit, o.qty);
            g.fill(id, &o.symbol, Side::Sell, exit, o.qty);
            let pnl = ((exit - o.entry) * o.qty - (exit + o.entry) * o.qty * dec!(0.001)).round_dp(8);
            g.expected.trades += 1;
            g.expected.pnl += pnl;
            g.emit(Event::PositionClosed {
                symbol: o.symbol,
                quantity: o.qty,
                entry_price: o.entry,
                exit_price: exit,
                pnl,
                reason,
                held_ms: u64::try_from(t as i64 - o.opened_ms).unwrap_or(0),
                remaining: Decimal::ZERO,
            });
            g.emit(Event::BudgetReleased {
                intent_id: o.intent,
                amount: dec!(25.03),
                reason: "position closed".to_owned(),
                free: dec!(1000),
                reserved: Decimal::ZERO,
                committed: Decimal::ZERO,
                total: Some(dec!(1000)),
            });
        }
        if kind == Kind::Trading && !late_done && t > 20 * 60_000 {
            late_done = true;
            let now = EPOCH_MS + t as i64;
            g.emit(Event::HeartbeatLate {
                task: "md-poll".to_owned(),
                expected_interval_ms: 5000,
                silent_for_ms: 14_400,
                recent_beats: vec![
                    Timestamp::from_millis(now - 24_400),
                    Timestamp::from_millis(now - 19_400),
                    Timestamp::from_millis(now - 14_400),
                ],
                mode: "warn".to_owned(),
            });
            g.emit(Event::LoopLag { lag_ms: 260, threshold_ms: 100 });
        }
        if kind == Kind::Trading && !degraded_done && t > 40 * 60_000 {
            degraded_done = true;
            g.emit(Event::SymbolDegraded {
                symbol: sym(7),
                reason: "timeout after 2000 ms".to_owned(),
                consecutive_failures: 3,
                backoff_ms: 4000,
            });
            g.emit(Event::SymbolDegraded {
                symbol: sym(9),
                reason: "HTTP 503".to_owned(),
                consecutive_failures: 3,
                backoff_ms: 4000,
            });
            g.emit(Event::SymbolRecovered { symbol: sym(9), degraded_for_ms: 30_000 });
        }
        if t >= next_health {
            next_health += 60_000;
            // The quiet session's feed measures every cycle (MD_HEALTH with cycles); the trading
            // one is an older file without them (the report falls back to the overruns).
            let cycles = match kind {
                Kind::Quiet => (30, 310, 420, 480, 510),
                Kind::Trading => (0, 0, 0, 0, 0),
            };
            let (rate, p50, p99) = match kind {
                Kind::Quiet => (dec!(0.999), 40, 120),
                Kind::Trading => {
                    (Decimal::new(930 + g.rng.below(60) as i64, 3), 180, 2400 + g.rng.below(900))
                }
            };
            g.emit(Event::MdHealth {
                requests: 40 * symbols,
                success_rate: rate,
                latency_p50_ms: p50,
                latency_p95_ms: p99 / 2,
                latency_p99_ms: p99,
                stale_symbols: 0,
                skipped_symbols: u32::from(kind == Kind::Trading),
                degraded_symbols: 0,
                weight_used: 40 * 24,
                cycles: cycles.0,
                cycle_p50_ms: cycles.1,
                cycle_p95_ms: cycles.2,
                cycle_p99_ms: cycles.3,
                cycle_max_ms: cycles.4,
            });
        }
        if t >= next_funnel {
            next_funnel += 30 * 60_000;
            g.emit(funnel(false, evaluated, not_triggered, already_fired, fired, &blocked, &deepest));
        }
    }
    g.emit(funnel(true, evaluated, not_triggered, already_fired, fired, &blocked, &deepest));
    g.emit(Event::ShutdownStarted { reason: "duration reached".to_owned() });
    g.emit(Event::TaskEnded { task: "md-poll".to_owned(), how: "cancelled".to_owned(), detail: None });
    g.emit(Event::ShutdownPhase {
        phase: "flush_telemetry".to_owned(),
        outcome: "completed".to_owned(),
        elapsed_ms: 3,
        detail: None,
    });
    g.emit(Event::ShutdownCompleted { reason: "duration reached".to_owned(), exit_code: 0, elapsed_ms: 5 });
    g.emit(Event::SessionEnded {
        reason: "duration reached".to_owned(),
        duration_ms: t,
        orders_submitted: g.next_order,
        orders_filled: 0,
        positions_opened: 0,
        positions_closed: g.expected.trades,
        realized_pnl: g.expected.pnl,
        events_dropped: 0,
    });
    let summary = g.telemetry.shutdown().await;
    assert_eq!(summary.dropped, 0);
    g.expected
}

fn funnel(
    is_final: bool,
    evaluated: u64,
    not_triggered: u64,
    already_fired: u64,
    fired: u64,
    blocked: &std::collections::BTreeMap<String, u64>,
    deepest: &[(Decimal, i64)],
) -> Event {
    let mut list: Vec<DeepestDrop> = deepest
        .iter()
        .enumerate()
        .map(|(i, (ratio, at))| {
            let reference = dec!(100) + Decimal::from(i as u64);
            DeepestDrop {
                symbol: sym(i as u64),
                ratio: *ratio,
                price: (reference * ratio).round_dp(4),
                reference,
                at: Timestamp::from_millis(*at),
            }
        })
        .collect();
    list.sort_by_key(|d| d.ratio);
    Event::FunnelSnapshot {
        is_final,
        evaluated,
        not_triggered,
        already_fired,
        out_of_order: 0,
        no_price: 0,
        fired,
        blocked_by_guard: blocked.clone(),
        trigger: dec!(0.985),
        deepest: list,
    }
}

fn session_dir(root: &Path) -> PathBuf {
    let dir = root.join("session_20251026_180621");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// With `SESSION_REPORT_KEEP=<dir>` set, copies the generated session there for a look at the
/// report and charts (the temporary directory is removed at the end of the test).
fn keep(dir: &Path, name: &str) {
    let Some(target) = std::env::var_os("SESSION_REPORT_KEEP") else {
        return;
    };
    let target = PathBuf::from(target).join(name);
    for file in walk(dir) {
        let to = target.join(file.strip_prefix(dir).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test]
async fn a_trading_session_reports_its_trades_overruns_and_issues() {
    let root = tempfile::tempdir().unwrap();
    let dir = session_dir(root.path());
    let expected = generate(&dir, Kind::Trading, 120, 7).await;
    assert!(expected.trades >= 5, "the generator should trade: {expected:?}");

    let summary = session_report::build(&dir).unwrap();
    assert_eq!(summary.trades, expected.trades);
    assert_eq!(summary.pnl, expected.pnl);
    assert_eq!(summary.overruns, expected.overruns);
    assert_eq!((summary.events_dropped, summary.bad_lines), (0, 0));
    let lines = read(&dir.join("events.jsonl")).lines().count() as u64;
    assert_eq!(summary.events_written, lines);
    assert_eq!(summary.report, dir.join("report.md"));

    keep(&dir, "trading");
    let report = read(&summary.report);
    for section in [
        "## Summary",
        "## Critical issues",
        "## Market-data performance",
        "## Decision funnel",
        "## Trading results",
        "## Configuration",
        "## Recommendations",
        "## Post-fix validation",
    ] {
        assert!(report.contains(section), "missing {section}");
    }
    assert!(report.contains(&format!("| Closed trades | {} |", expected.trades)), "{report}");
    assert!(
        report.contains(&format!("| Fees paid | {} USDT |", session_report::money(expected.fees))),
        "{report}"
    );
    assert!(report.contains("HIGH: Order failed"), "{report}");
    assert!(report.contains("-2010 Account has insufficient balance"), "{report}");
    assert!(report.contains("recent beats: 2025-10-26T18:"), "beat history in the sample: {report}");
    let overrun_row = format!("| MD_POLL_OVERRUN count | 0 | {} | ❌ FAIL |", expected.overruns);
    assert!(report.contains(&overrun_row), "{report}");
    assert!(report.contains("The funnel adds up"), "{report}");
    assert!(report.contains("Set MD_POLL_MS to"), "{report}");
    assert!(!report.contains("## Why so few trades") && !report.contains("## Why no trades"), "{report}");
    // Secrets stay redacted as the snapshot had them; nothing is invented.
    assert!(report.contains("API_KEY = \"<redacted>\""));

    assert_eq!(summary.charts.len(), 5);
    for chart in &summary.charts {
        let svg = read(chart);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{}", chart.display());
        assert!(svg.contains("<text"), "{} has no text", chart.display());
        let name = chart.file_name().unwrap().to_str().unwrap();
        assert!(report.contains(&format!("(charts/{name})")), "report links {name}");
    }
    assert!(read(&dir.join("charts/cycle_time.svg")).contains("cycle duration (s)"));
    assert!(read(&dir.join("charts/equity.svg")).contains("cumulative realized PnL (USDT)"));
}

#[tokio::test]
async fn the_trading_report_matches_its_snapshot() {
    let root = tempfile::tempdir().unwrap();
    let dir = session_dir(root.path());
    generate(&dir, Kind::Trading, 120, 7).await;
    session_report::build(&dir).unwrap();
    insta::assert_snapshot!("trading_session_report", read(&dir.join("report.md")));
}

#[tokio::test]
async fn a_quiet_session_explains_why_nothing_traded() {
    let root = tempfile::tempdir().unwrap();
    let dir = session_dir(root.path());
    let expected = generate(&dir, Kind::Quiet, 60, 11).await;
    assert_eq!((expected.trades, expected.overruns), (0, 0));

    let summary = session_report::build(&dir).unwrap();
    assert_eq!((summary.trades, summary.pnl, summary.overruns), (0, Decimal::ZERO, 0));
    keep(&dir, "quiet");
    let report = read(&summary.report);
    assert!(report.contains("## Why no trades"), "{report}");
    assert!(report.contains("no price fell to the trigger 0.985"), "{report}");
    assert!(report.contains("| 0.985 (configured) | 1.50 % | 0 |"), "{report}");
    assert!(report.contains("| 0.990 | 1.00 % | 1 |"), "{report}");
    assert!(
        report.contains("DROP_TRIGGER_VALUE=0.995 (0.50 % drop) would have fired on at least 10 symbols"),
        "{report}"
    );
    assert!(report.contains("| MD_POLL_OVERRUN count | 0 | 0 | ✅ PASS |"), "{report}");
    assert!(report.contains("| Order flow exercised, no failure path crashed |"), "{report}");
    assert!(report.contains("0 orders, 0 failed, 0 unknown, 0 panics | ❌ FAIL |"), "{report}");
    insta::assert_snapshot!("quiet_session_report", report);
}

#[tokio::test]
async fn bad_lines_are_listed_with_their_numbers_and_the_report_is_still_built() {
    let root = tempfile::tempdir().unwrap();
    let dir = session_dir(root.path());
    generate(&dir, Kind::Quiet, 10, 3).await;
    let events = dir.join("events.jsonl");
    let mut text = read(&events);
    let good = text.lines().count();
    text.push_str("{\"ts\":\"2025-10-26T18:20:00.000Z\",\"event_type\":\"NO_SUCH\",\"payload\":{},\"schema\":1,\"run_id\":\"x\"}\n");
    text.push_str("{\"ts\":\"2025-10-26T18:2"); // cut off by a crash
    std::fs::write(&events, text).unwrap();

    let summary = session_report::build(&dir).unwrap();
    assert_eq!(summary.bad_lines, 2);
    assert_eq!(summary.events_written, good as u64);
    let report = read(&summary.report);
    assert!(report.contains(&format!("line {}: unknown variant `NO_SUCH`", good + 1)), "{report}");
    assert!(report.contains(&format!("- line {}: ", good + 2)), "{report}");
    assert!(report.contains("MEDIUM: Unreadable lines in events.jsonl"), "{report}");
}

#[tokio::test]
async fn rebuilding_gives_the_same_report_and_leaves_no_temporary_files() {
    let root = tempfile::tempdir().unwrap();
    let dir = session_dir(root.path());
    generate(&dir, Kind::Trading, 30, 5).await;
    session_report::build(&dir).unwrap();
    let first = read(&dir.join("report.md"));
    let first_chart = read(&dir.join("charts/funnel.svg"));
    session_report::build(&dir).unwrap();
    assert_eq!(read(&dir.join("report.md")), first);
    assert_eq!(read(&dir.join("charts/funnel.svg")), first_chart);
    let leftovers: Vec<_> =
        walk(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
