//! `bot preflight`: before real money, check what can be checked without trading: settings,
//! keys and permissions, clock skew against the venue, the watchlist against the market list,
//! the feed's feasibility for this watchlist, and one validated test order. Nothing is placed.

use std::fmt;
use std::sync::Arc;

use exchange::ExchangeError;
use md_feed::Feed;
use rust_decimal::Decimal;
use telemetry::{Event, EventSink};
use trading_core::{ClientOrderId, OrderRequest, Side, Symbol};

use crate::error::BotError;
use crate::settings::{LoadedSettings, VenueKind};
use crate::venue::{connect, VenueCredentials};

/// The verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Fine.
    Pass,
    /// Worth a look; does not stop trading.
    Warn,
    /// Must be fixed before trading.
    Fail,
}

impl fmt::Display for CheckStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        })
    }
}

/// One row of the preflight table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The verdict.
    pub status: CheckStatus,
    /// What was found, in words.
    pub detail: String,
}

/// The whole preflight.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Preflight {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.status != CheckStatus::Fail)
    }

    fn push(&mut self, name: &'static str, status: CheckStatus, detail: impl Into<String>) {
        self.checks.push(Check { name, status, detail: detail.into() });
    }

    /// The table as text: `| check | result | detail |`.
    pub fn table(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(5).max(5);
        let mut out = format!("{:<width$}  result  detail\n", "check");
        for c in &self.checks {
            out.push_str(&format!("{:<width$}  {:<6}  {}\n", c.name, c.status.to_string(), c.detail));
        }
        out.push_str(if self.passed() { "preflight passed\n" } else { "preflight FAILED\n" });
        out
    }
}

/// A sink for the feed's start-up events during the preflight (nothing is recorded).
#[derive(Debug)]
struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: Event) {}
}

/// Runs the preflight on a real-time runtime.
///
/// # Errors
/// [`BotError::Session`] when the runtime cannot start; every venue problem is a failed check.
pub fn run(loaded: &LoadedSettings, credentials: &VenueCredentials) -> Result<Preflight, BotError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BotError::Session(format!("cannot start the runtime: {e}")))?;
    Ok(runtime.block_on(run_async(loaded, credentials)))
}

/// The preflight on the caller's runtime.
pub async fn run_async(loaded: &LoadedSettings, credentials: &VenueCredentials) -> Preflight {
    let s = &loaded.settings;
    let mut p = Preflight::default();
    p.push(
        "settings",
        CheckStatus::Pass,
        format!(
            "venue {}, order flow {}, {} USDT per position, at most {} positions",
            s.venue.as_str(),
            if s.order_flow() { "ON" } else { "off (decide only)" },
            s.position_size_usdt,
            s.max_concurrent_positions
        ),
    );
    // Missing keys for a real venue already failed the settings (exit code 2).
    p.push("credentials", CheckStatus::Pass, credentials.describe());
    let venue = match connect(s, credentials).await {
        Ok(v) => v,
        Err(e) => {
            p.push("venue", CheckStatus::Fail, e.to_string());
            return p;
        }
    };
    let exchange = venue.exchange.clone();

    // Clock skew: a signed request outside recvWindow is refused.
    let before = venue.clock.now();
    match exchange.server_time().await {
        Ok(server) => {
            let after = venue.clock.now();
            let mid = before.as_millis() + after.millis_since(before) / 2;
            let skew = server.as_millis() - mid;
            let status = if skew.abs() < 1_000 { CheckStatus::Pass } else { CheckStatus::Fail };
            p.push("clock skew", status, format!("venue clock {skew:+} ms from ours (limit ±1000 ms)"));
        }
        Err(e) => p.push("clock skew", CheckStatus::Fail, format!("server time: {e}")),
    }

    // Keys and permissions: the account answers.
    match exchange.fetch_balances().await {
        Ok(balances) => {
            let usdt = balances.iter().find(|b| b.asset == "USDT").map_or(Decimal::ZERO, |b| b.free);
            let budget = s.budget_usdt();
            let status = if usdt >= budget { CheckStatus::Pass } else { CheckStatus::Warn };
            p.push("account", status, format!("{usdt} USDT free; the budget needs {budget}"));
        }
        Err(e @ ExchangeError::Auth(_)) => p.push("account", CheckStatus::Fail, format!("keys refused: {e}")),
        Err(e) => p.push("account", CheckStatus::Fail, e.to_string()),
    }

    // The market list and the watchlist.
    let list = match exchange.load_markets().await {
        Ok(list) => list,
        Err(e) => {
            p.push("markets", CheckStatus::Fail, e.to_string());
            return p;
        }
    };
    let trading = list.markets.iter().filter(|m| m.is_trading()).count();
    p.push(
        "markets",
        if list.skipped.is_empty() { CheckStatus::Pass } else { CheckStatus::Warn },
        format!(
            "{} markets, {trading} trading, {} listings skipped{}",
            list.markets.len(),
            list.skipped.len(),
            list.skipped
                .first()
                .map_or_else(String::new, |e| format!(" (e.g. {}: {})", e.venue_name, e.reason))
        ),
    );
    let mut watch: Vec<Symbol> = Vec::new();
    if s.watchlist.is_empty() {
        watch = list
            .markets
            .iter()
            .filter(|m| m.is_trading() && m.symbol.quote() == "USDT")
            .map(|m| m.symbol.clone())
            .collect();
        p.push(
            "watchlist",
            if watch.is_empty() { CheckStatus::Fail } else { CheckStatus::Pass },
            format!("all {} trading USDT markets", watch.len()),
        );
    } else {
        let mut unknown = Vec::new();
        let mut halted = Vec::new();
        for name in &s.watchlist {
            let Ok(symbol) = name.parse::<Symbol>() else { continue };
            match list.markets.iter().find(|m| m.symbol == symbol) {
                None => unknown.push(symbol.to_string()),
                Some(m) if !m.is_trading() => halted.push(symbol.to_string()),
                Some(_) => watch.push(symbol),
            }
        }
        let status = if !unknown.is_empty() || watch.is_empty() {
            CheckStatus::Fail
        } else if halted.is_empty() {
            CheckStatus::Pass
        } else {
            CheckStatus::Warn
        };
        p.push(
            "watchlist",
            status,
            format!(
                "{} tradable; unknown: [{}]; halted: [{}]",
                watch.len(),
                unknown.join(", "),
                halted.join(", ")
            ),
        );
    }

    // The feed's feasibility for this watchlist (one probe request).
    match crate::session::feed_config(s) {
        Ok(config) => {
            match Feed::new(exchange.clone(), config, watch.clone(), venue.clock.clone(), Arc::new(Discard)) {
                Ok(mut feed) => match feed.start().await {
                    Ok(f) => p.push(
                        "feed feasibility",
                        if f.feasible { CheckStatus::Pass } else { CheckStatus::Fail },
                        format!(
                            "{} symbols, target {} ms, achievable {} ms, {} weight/cycle{}",
                            f.symbols,
                            f.target.as_millis(),
                            f.achievable.as_millis(),
                            f.weight_per_cycle,
                            if f.feasible { String::new() } else { format!("; {}", f.advice) }
                        ),
                    ),
                    Err(e) => p.push("feed feasibility", CheckStatus::Fail, e.to_string()),
                },
                Err(e) => p.push("feed feasibility", CheckStatus::Fail, e.to_string()),
            }
        }
        Err(e) => p.push("feed feasibility", CheckStatus::Fail, e.to_string()),
    }

    // One validated test order: a limit buy far below the market, validated, never placed.
    let probe = watch.iter().find_map(|sym| list.markets.iter().find(|m| &m.symbol == sym && m.is_trading()));
    match probe {
        None => p.push("test order", CheckStatus::Fail, "no tradable market to validate an order on"),
        Some(rules) => match exchange.fetch_ticker(&rules.symbol).await {
            Ok(quote) => match quote.bid.filter(|b| *b > Decimal::ZERO) {
                Some(bid) => match rules.buy_order_for_budget(s.position_size_usdt, bid * Decimal::new(9, 1))
                {
                    Ok((price, qty)) => {
                        let Ok(cid) = ClientOrderId::new("preflight-test") else {
                            p.push("test order", CheckStatus::Fail, "cannot build a client order id");
                            return p;
                        };
                        let request = OrderRequest::limit(
                            rules.symbol.clone(),
                            Side::Buy,
                            qty,
                            price,
                            trading_core::TimeInForce::Gtc,
                            cid,
                        );
                        match exchange.test_order(&request).await {
                            Ok(()) => p.push(
                                "test order",
                                CheckStatus::Pass,
                                format!(
                                    "BUY {qty} {} at {price} validated by the venue, not placed",
                                    rules.symbol
                                ),
                            ),
                            Err(e) => p.push("test order", CheckStatus::Fail, e.to_string()),
                        }
                    }
                    Err(e) => p.push("test order", CheckStatus::Fail, format!("{}: {e}", rules.symbol)),
                },
                None => p.push("test order", CheckStatus::Fail, format!("{} has no bid", rules.symbol)),
            },
            Err(e) => p.push("test order", CheckStatus::Fail, e.to_string()),
        },
    }
    if s.venue == VenueKind::SimHttp {
        if let Some(server) = venue.server {
            server.shutdown().await;
        }
    }
    p
}
