//! Crash-restart: the real `bot` binary trades over HTTP against the simulator's server (run in
//! this test process, real time, real sockets), is killed with SIGKILL at seeded points, many
//! per run, and restarted on the same ledger and the same venue. After every start-up
//! reconciliation the bot's ledger must equal the venue: orders, positions and budget, and no
//! intent executed twice. A final session ends with an orderly shutdown.
//!
//! Kill points: (a) a random time after the start; (b) exact points of the order flow, reached
//! through the bot's `BOT_FAILPOINT` testing aid (`crates/bot/src/failpoint.rs`): after the
//! intent row is committed and before its request leaves, after the create-order answer and
//! before it is recorded, before a newly learned fill is committed, before a settlement (fees,
//! fill rows, position) is committed. Every start stops once at `after_reconcile`: the test
//! compares the ledger with the venue there, then lets the bot go on.
//!
//! `CRASH_KILLS` (default 8) and `CRASH_SEED` (default 12) choose the loop; the long variant is
//! `CRASH_KILLS=50 cargo test -p bot --test crash_restart --locked -- --nocapture`, which prints
//! its figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]
// test code
// The harness drives a real process over real time: its waits are bounded by the wall clock
// (limits, never assertions on speed).
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use exchange::Exchange;
use exchange_sim::{SimConfig, SimExchange, SimServer, DEFAULT_API_KEY, DEFAULT_API_SECRET};
use order_router::{Durability, FailPoint, Ledger, OrderState};
use rust_decimal::Decimal;
use telemetry::{read_events, Event};
use trading_core::{MarketRules, Side, Symbol};

/// The simulated account's quote balance at the start.
const START_USDT: i64 = 10_000;
/// The bot's budget (`BUDGET_USDT`), less than the account: the venue's quote balance must stay
/// `START_USDT - BUDGET_USDT` above what the bot's budget has not spent.
const BUDGET_USDT: i64 = 1_000;
/// The client order id prefix of the router (`RouterConfig::new`).
const PREFIX: &str = "dr-";
/// How long a start may take up to its `after_reconcile` stop (an unknown outcome is resolved
/// only after the venue's 15 s acceptance window).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a round waits for its exact kill point before it kills anyway.
const POINT_LIMIT: Duration = Duration::from_secs(25);

/// A seeded generator (splitmix64): the same seed gives the same kill plan.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Where a round kills the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kill {
    /// After a random time (milliseconds after the start-up reconciliation).
    Random(u64),
    /// At the nth pass of an exact point.
    At(FailPoint, u64),
}

/// A running bot: its stdin (a line resumes it at a stop), its stderr lines.
struct Bot {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: Vec<String>,
}

impl Bot {
    /// Waits for the marker of `point`; `None` when the limit passed or the bot ended first.
    fn wait_for(&mut self, point: &str, limit: Duration) -> Option<String> {
        let marker = format!("BOT_FAILPOINT {point} ");
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.starts_with(&marker);
                    self.stderr.push(line.clone());
                    if hit {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn resume(&mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// SIGKILL (`Child::kill` on Unix), then reap.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

struct Harness {
    root: PathBuf,
    ledger: PathBuf,
    base_url: String,
    sim: SimExchange,
    rules: BTreeMap<Symbol, MarketRules>,
}

impl Harness {
    fn spawn(&self, round: usize, failpoints: &str) -> Bot {
        let session_dir = self.root.join("sessions").join(format!("round-{round:03}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_bot"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs([
                ("VENUE", "binance"),
                ("BASE_URL", self.base_url.as_str()),
                ("BINANCE_API_KEY", DEFAULT_API_KEY),
                ("BINANCE_API_SECRET", DEFAULT_API_SECRET),
                ("STATE_DB", self.ledger.to_str().unwrap()),
                ("SESSION_DIR", session_dir.to_str().unwrap()),
                ("ORDER_FLOW_ENABLED", "true"),
                ("SESSION_DURATION_MIN", "0"),
                ("BUDGET_USDT", &BUDGET_USDT.to_string()),
                ("POSITION_SIZE_USDT", "40"),
                ("MAX_CONCURRENT_POSITIONS", "10"),
                ("ORDER_DEADLINE_S", "10"),
                ("DROP_TRIGGER_VALUE", "0.998"),
                ("DROP_TRIGGER_LOOKBACK_MIN", "1"),
                ("GUARD_FALLING_KNIFE_MAX_DROP_PCT", "50"),
                ("GUARD_COOLDOWN_S", "0"),
                ("TAKE_PROFIT_PCT", "0.1"),
                ("STOP_LOSS_PCT", "0.3"),
                ("MD_POLL_MS", "1000"),
                ("MD_HOT_MS", "1000"),
                ("MD_WARM_MS", "1000"),
                ("BOT_FAILPOINT", failpoints),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Bot { child, stdin, lines, stderr: Vec::new() }
    }

    /// Compares the ledger with the venue; returns every difference, in words. Call while the
    /// bot stands still (stopped at `after_reconcile`, or ended).
    fn check(&self, after_end: bool) -> Vec<String> {
        let mut bad = Vec::new();
        let ledger = Ledger::open(&self.ledger, Durability::Full).unwrap();
        let Some(state) = ledger.load().unwrap() else { return vec!["the ledger has no state".into()] };
        drop(ledger);
        let orders = self.sim.orders();
        let balances = self.sim.balances();

        // No intent executed twice; every order on the venue is the ledger's.
        let mut per_cid: BTreeMap<&str, usize> = BTreeMap::new();
        for o in orders.iter().filter(|o| o.client_order_id.as_str().starts_with(PREFIX)) {
            *per_cid.entry(o.client_order_id.as_str()).or_default() += 1;
        }
        for (cid, n) in &per_cid {
            if *n > 1 {
                bad.push(format!("{cid}: {n} orders on the venue for one intent"));
            }
        }
        for o in orders.iter().filter(|o| o.client_order_id.as_str().starts_with(PREFIX)) {
            let cid = &o.client_order_id;
            let Some(rec) = state.orders.get(cid) else {
                bad.push(format!("{cid}: on the venue ({}), unknown to the ledger", o.status));
                continue;
            };
            if rec.order_id.as_ref() != Some(&o.id) {
                bad.push(format!("{cid}: ledger order id {:?}, venue {}", rec.order_id, o.id));
            }
            if (rec.filled_quantity, rec.cumulative_quote) != (o.filled_quantity, o.cumulative_quote) {
                bad.push(format!(
                    "{cid}: ledger filled {} for {}, venue {} for {}",
                    rec.filled_quantity, rec.cumulative_quote, o.filled_quantity, o.cumulative_quote
                ));
            }
            if o.status.is_terminal() != rec.state.is_terminal() || (o.status.is_terminal() && !rec.settled) {
                bad.push(format!(
                    "{cid}: venue {}, ledger {} (settled {})",
                    o.status, rec.state, rec.settled
                ));
            }
        }
        for (cid, rec) in &state.orders {
            let on_venue = per_cid.contains_key(cid.as_str());
            match rec.state {
                OrderState::Absent | OrderState::Rejected | OrderState::NotSent if on_venue => {
                    bad.push(format!("{cid}: ledger {}, but the venue has it", rec.state))
                }
                OrderState::Submitted | OrderState::OutcomeUnknown => {
                    bad.push(format!("{cid}: still {} after reconciliation", rec.state))
                }
                _ if !on_venue && !matches!(rec.state, OrderState::Absent | OrderState::Rejected) => {
                    bad.push(format!("{cid}: ledger {}, the venue never saw it", rec.state))
                }
                _ => {}
            }
            if after_end && rec.is_active() {
                bad.push(format!("{cid}: still active after a clean end ({})", rec.state));
            }
        }

        // Reservations belong to buys still in flight; locked quantities to sells in flight.
        for (intent, amount) in state.budget.reservations() {
            let live = state.orders.values().any(|r| &r.intent.id == intent && r.is_active());
            if !live || *amount < Decimal::ZERO {
                bad.push(format!("reservation {amount} of {intent} has no order in flight"));
            }
        }
        if let Err(e) = state.budget.check() {
            bad.push(format!("budget invariant: {e}"));
        }

        // The quote balance: what the budget has not spent, plus what lies outside the budget.
        let held =
            |asset: &str| balances.iter().filter(|b| b.asset == asset).map(|b| b.total()).sum::<Decimal>();
        let selling_with_fills = state
            .orders
            .values()
            .any(|r| r.is_active() && r.intent.side == Side::Sell && !r.filled_quantity.is_zero());
        let expected_usdt =
            Decimal::from(START_USDT - BUDGET_USDT) + state.budget.total() - state.budget.committed();
        if !selling_with_fills && held("USDT") != expected_usdt {
            bad.push(format!(
                "venue holds {} USDT, the budget says {expected_usdt} (total {} - committed {} + {} outside)",
                held("USDT"),
                state.budget.total(),
                state.budget.committed(),
                START_USDT - BUDGET_USDT
            ));
        }

        // Base assets: the ledger's orders account for every unit on the venue; a position is
        // what the account holds less the dust written off (below one step per closed sell) and
        // less what buys still in flight received (a position opens when its buy has ended; the
        // base fee of an unsettled fill is known only then, at most 1 %).
        #[derive(Default)]
        struct Net {
            quantity: Decimal,
            sells: u32,
            buying: Decimal,
        }
        let mut net: BTreeMap<Symbol, Net> = BTreeMap::new();
        for rec in state.orders.values() {
            let e = net.entry(rec.intent.symbol.clone()).or_default();
            match rec.intent.side {
                Side::Buy => {
                    e.quantity += rec.filled_quantity - rec.fee_base;
                    if !rec.settled {
                        e.buying += rec.filled_quantity;
                    }
                }
                Side::Sell => {
                    e.quantity -= rec.filled_quantity;
                    e.sells += u32::from(rec.settled && !rec.filled_quantity.is_zero());
                }
            }
        }
        for (symbol, n) in &net {
            let venue = held(symbol.base());
            let unknown_fees = n.quantity - venue;
            if unknown_fees < Decimal::ZERO || unknown_fees > n.buying / Decimal::from(100) {
                bad.push(format!(
                    "{symbol}: the venue holds {venue}, the ledger's orders {} ({} bought in flight)",
                    n.quantity, n.buying
                ));
            }
            let position = state.positions.get(symbol).map_or(Decimal::ZERO, |p| p.quantity);
            let unit = self.rules.get(symbol).map_or(Decimal::ZERO, |r| r.min_qty.max(r.step_size));
            let dust = venue - position;
            if dust < Decimal::ZERO || dust > unit * Decimal::from(n.sells) + n.buying {
                bad.push(format!(
                    "{symbol}: position {position}, the venue holds {venue} ({} sells, {} bought in flight)",
                    n.sells, n.buying
                ));
            }
            let locked: Decimal = state
                .orders
                .values()
                .filter(|r| r.is_active() && r.intent.side == Side::Sell && &r.intent.symbol == symbol)
                .map(|r| r.plan.quantity)
                .sum();
            let pos_locked = state.positions.get(symbol).map_or(Decimal::ZERO, |p| p.locked);
            if locked != pos_locked {
                bad.push(format!("{symbol}: {pos_locked} locked, sells in flight {locked}"));
            }
        }
        bad
    }
}

/// What the loop did, for the report.
#[derive(Debug, Default)]
struct Figures {
    kills: BTreeMap<String, u32>,
    points_not_reached: u32,
    restarts: u32,
    reconciled: BTreeMap<String, u32>,
    mismatches: Vec<String>,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The RECONCILED findings and the shutdown events of every session under `root`.
fn session_events(root: &Path) -> Vec<(PathBuf, Vec<Event>)> {
    let mut out = Vec::new();
    let mut rounds: Vec<PathBuf> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    rounds.sort();
    for round in rounds {
        for session in std::fs::read_dir(&round).unwrap() {
            let events = session.unwrap().path().join("events.jsonl");
            if let Ok(log) = read_events(&events) {
                out.push((round.clone(), log.records.into_iter().map(|r| r.event).collect()));
            }
        }
    }
    out
}

#[test]
fn sigkill_at_seeded_points_then_restart_loses_and_repeats_nothing() {
    let kills = env_u64("CRASH_KILLS", 8);
    let mut rng = Rng(env_u64("CRASH_SEED", 12));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let server = runtime
        .block_on(SimServer::start(SimConfig {
            symbols: 300,
            seed: 12,
            initial_balances: BTreeMap::from([("USDT".to_owned(), Decimal::from(START_USDT))]),
            ..SimConfig::default()
        }))
        .unwrap();
    let sim = server.sim().clone();
    let rules = runtime
        .block_on(sim.load_markets())
        .unwrap()
        .markets
        .into_iter()
        .map(|m| (m.symbol.clone(), m))
        .collect();
    let root = tempfile::tempdir().unwrap();
    let h = Harness {
        root: root.path().to_path_buf(),
        ledger: root.path().join("state").join("ledger.sqlite"),
        base_url: server.base_url(),
        sim,
        rules,
    };

    // The plan: random times and exact points in turn; every exact point once first (in a
    // seeded order), then seeded points and passes.
    let mut plan: Vec<Kill> = Vec::new();
    let mut exact: Vec<FailPoint> = FailPoint::ALL.to_vec();
    for i in (1..exact.len()).rev() {
        exact.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for k in 0..kills {
        let random = Kill::Random(500 + rng.below(5_000));
        let kind = if k % 2 == 0 {
            random
        } else if let Some(p) = exact.pop() {
            Kill::At(p, 1 + rng.below(3))
        } else {
            Kill::At(FailPoint::ALL[rng.below(4) as usize], 1 + rng.below(3))
        };
        plan.push(kind);
    }

    let mut fig = Figures::default();
    let started = Instant::now();
    for (round, kill) in plan.iter().enumerate() {
        let spec = match kill {
            Kill::Random(_) => "after_reconcile:1".to_owned(),
            Kill::At(p, n) => format!("after_reconcile:1,{p}:{n}"),
        };
        let mut bot = h.spawn(round, &spec);
        let Some(marker) = bot.wait_for("after_reconcile", START_LIMIT) else {
            panic!("round {round}: no start-up reconciliation within {START_LIMIT:?}: {:#?}", bot.stderr);
        };
        if round > 0 {
            fig.restarts += 1;
        }
        if !marker.ends_with("blocked=None") {
            fig.mismatches.push(format!("round {round}: reconciliation blocks trading: {marker}"));
        }
        fig.mismatches.extend(h.check(false).into_iter().map(|m| format!("round {round} ({kill:?}): {m}")));
        bot.resume();
        let label = match kill {
            Kill::Random(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                "random".to_owned()
            }
            Kill::At(p, _) => {
                if bot.wait_for(p.as_str(), POINT_LIMIT).is_some() {
                    p.as_str().to_owned()
                } else {
                    fig.points_not_reached += 1;
                    format!("random ({p} not reached)")
                }
            }
        };
        *fig.kills.entry(label).or_default() += 1;
        bot.kill();
    }

    // The final session: reconcile, check, trade a little, then an orderly stop (SIGTERM).
    let last = plan.len();
    let mut bot = h.spawn(last, "after_reconcile:1");
    let marker = bot.wait_for("after_reconcile", START_LIMIT).expect("the final start reconciles");
    fig.restarts += 1;
    if !marker.ends_with("blocked=None") {
        fig.mismatches.push(format!("final: reconciliation blocks trading: {marker}"));
    }
    fig.mismatches.extend(h.check(false).into_iter().map(|m| format!("final start: {m}")));
    bot.resume();
    std::thread::sleep(Duration::from_secs(3));
    let term = Command::new("kill").arg("-TERM").arg(bot.child.id().to_string()).status().unwrap();
    assert!(term.success());
    let until = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = bot.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "the final session did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    fig.mismatches.extend(h.check(true).into_iter().map(|m| format!("after the clean end: {m}")));

    // Findings of every start, and the final session's shutdown.
    let sessions = session_events(&h.root.join("sessions"));
    for (_, events) in &sessions {
        for e in events {
            if let Event::Reconciled { kind, .. } = e {
                *fig.reconciled.entry(kind.clone()).or_default() += 1;
            }
        }
    }
    let state = Ledger::open(&h.ledger, Durability::Full).unwrap().load().unwrap().unwrap();
    let venue_orders =
        h.sim.orders().iter().filter(|o| o.client_order_id.as_str().starts_with(PREFIX)).count();
    eprintln!(
        "crash-restart: {} kills {:?} ({} exact points not reached), {} restarts, {} intents in the ledger, \
         {} orders on the venue, {} positions open, reconciliation findings {:?}, {} mismatches, {:.1} s",
        plan.len(),
        fig.kills,
        fig.points_not_reached,
        fig.restarts,
        state.orders.len(),
        venue_orders,
        state.positions.len(),
        fig.reconciled,
        fig.mismatches.len(),
        started.elapsed().as_secs_f64(),
    );
    assert!(fig.mismatches.is_empty(), "{:#?}", fig.mismatches);

    // A clean, orderly end: every shutdown phase completed, exit code of a SIGTERM stop.
    let (_, final_events) = sessions.last().expect("the final session's events");
    let phases: Vec<(&str, &str)> = final_events
        .iter()
        .filter_map(|e| match e {
            Event::ShutdownPhase { phase, outcome, .. } => Some((phase.as_str(), outcome.as_str())),
            _ => None,
        })
        .collect();
    assert!(!phases.is_empty() && phases.iter().all(|(_, o)| *o == "completed"), "{phases:?}");
    assert!(
        matches!(final_events.last(), Some(Event::SessionEnded { reason, .. }) if reason == "sigterm"),
        "{:?}",
        final_events.last()
    );
    assert_eq!(status.code(), Some(143), "{:#?}", bot.stderr);
    // The loop traded: orders were sent and filled across the kills.
    assert!(venue_orders > 0 && state.orders.values().any(|r| !r.filled_quantity.is_zero()));

    // The checks can fail: an order with the router's prefix that the ledger never wrote (what
    // a resubmission after a crash would leave) is seen, and so is the money it moved.
    let symbol = h.rules.keys().next().unwrap().clone();
    let rules = &h.rules[&symbol];
    let ask = runtime.block_on(h.sim.fetch_ticker(&symbol)).unwrap().ask.unwrap();
    let quantity = ((Decimal::from(50) / ask / rules.step_size).ceil() * rules.step_size).max(rules.min_qty);
    let planted = trading_core::OrderRequest::market(
        symbol.clone(),
        Side::Buy,
        quantity,
        trading_core::ClientOrderId::new(format!("{PREFIX}planted-1")).unwrap(),
    );
    runtime.block_on(h.sim.create_order(&planted)).unwrap();
    let found = h.check(true);
    assert!(found.iter().any(|m| m.contains("planted-1: on the venue")), "{found:#?}");
    assert!(found.iter().any(|m| m.contains("USDT")), "{found:#?}");
    runtime.block_on(server.shutdown());
}
