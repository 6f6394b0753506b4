//! Request weights (Binance's documented values) and the per-minute weight budget with its
//! 429-then-418 escalation.
//!
//! The budget runs on the venue's [`trading_core::Clock`], the same time base as the market:
//! with the default system clock a client told to wait `Retry-After` seconds waits real seconds;
//! with a manual clock (a session replayed as fast as the consumer pulls) the budget is measured
//! in simulated minutes, so a 24 h replay sees the same throttling a real 24 h session would.

use std::time::Duration;

use trading_core::Timestamp;

use crate::Endpoint;

/// Weight of a request to `endpoint`. `symbols` is how many symbols it names: `Some(1)` for a
/// `symbol=` parameter, `Some(n)` for `symbols=[..]`, `None` for all.
pub(crate) fn weight(endpoint: Endpoint, symbols: Option<usize>) -> u32 {
    match endpoint {
        Endpoint::Any | Endpoint::Ping | Endpoint::Time => 1,
        Endpoint::ExchangeInfo => 20,
        Endpoint::TickerPrice | Endpoint::BookTicker => match symbols {
            Some(1) => 2,
            _ => 4,
        },
        Endpoint::Ticker24h => match symbols {
            Some(0..=20) => 2,
            Some(21..=100) => 40,
            _ => 80,
        },
        Endpoint::Klines => 2,
        // Binance: POST /api/v3/order/test weighs 1 (20 with computeCommissionRates, which
        // the simulator does not offer).
        Endpoint::CreateOrder | Endpoint::TestOrder | Endpoint::CancelOrder => 1,
        Endpoint::QueryOrder => 4,
        Endpoint::OpenOrders => match symbols {
            Some(_) => 6,
            None => 80,
        },
        Endpoint::Account => 20,
        // Binance: GET /api/v3/myTrades, weight 20.
        Endpoint::MyTrades => 20,
    }
}

/// Requests refused with 429 in one window before the client is banned (418).
const ABUSE_BEFORE_BAN: u32 = 10;
/// Length of a ban.
const BAN: Duration = Duration::from_secs(120);
const WINDOW: Duration = Duration::from_secs(60);

/// Outcome of charging a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Within budget; the weight used in the window so far.
    Ok(u32),
    /// Over budget: 429, wait this long.
    Limited(Duration),
    /// Banned: 418, wait this long.
    Banned(Duration),
}

/// A fixed one-minute window aligned to the calendar minute of the venue's clock: Binance counts
/// `X-MBX-USED-WEIGHT-1M` per minute of its server time (`hh:mm:00` to `hh:mm:59.999`), so a
/// client that paces by calendar minutes agrees with the venue about when the budget resets.
#[derive(Debug, Clone)]
pub(crate) struct WeightWindow {
    limit: u32,
    window_start: Option<Timestamp>,
    used: u32,
    refused: u32,
    banned_until: Option<Timestamp>,
}

impl WeightWindow {
    pub(crate) fn new(limit: u32) -> Self {
        WeightWindow { limit, window_start: None, used: 0, refused: 0, banned_until: None }
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit
    }

    /// Weight used in the current window.
    pub(crate) fn used(&self, now: Timestamp) -> u32 {
        match self.window_start {
            Some(s) if s == minute_of(now) => self.used,
            _ => 0,
        }
    }

    /// Charges `w` at `now`.
    pub(crate) fn charge(&mut self, now: Timestamp, w: u32) -> Charge {
        if let Some(until) = self.banned_until {
            if now < until {
                return Charge::Banned(until.saturating_since(now));
            }
            self.banned_until = None;
        }
        let minute = minute_of(now);
        let start = match self.window_start {
            Some(s) if s == minute => s,
            _ => {
                self.window_start = Some(minute);
                self.used = 0;
                self.refused = 0;
                minute
            }
        };
        self.used = self.used.saturating_add(w);
        if self.used <= self.limit {
            return Charge::Ok(self.used);
        }
        self.refused += 1;
        if self.refused > ABUSE_BEFORE_BAN {
            self.banned_until = Some(now + BAN);
            return Charge::Banned(BAN);
        }
        let left = WINDOW.saturating_sub(now.saturating_since(start));
        Charge::Limited(Duration::from_secs(left.as_secs_f64().ceil().max(1.0) as u64))
    }
}

/// The start of the calendar minute `now` falls in.
fn minute_of(now: Timestamp) -> Timestamp {
    let window_ms = i64::try_from(WINDOW.as_millis()).unwrap_or(60_000);
    Timestamp::from_millis(now.as_millis().div_euclid(window_ms) * window_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_resets_at_the_calendar_minute_not_a_minute_after_the_first_request() {
        let mut w = WeightWindow::new(100);
        // First request at hh:mm:50; the window still ends at hh:(mm+1):00.
        let first = Timestamp::from_millis(1_700_000_040_000 + 50_000);
        assert!(matches!(w.charge(first, 90), Charge::Ok(90)));
        match w.charge(first + Duration::from_secs(5), 20) {
            Charge::Limited(retry) => assert_eq!(retry, Duration::from_secs(5), "until the minute ends"),
            other => panic!("{other:?}"),
        }
        let next_minute = Timestamp::from_millis(1_700_000_100_000);
        assert_eq!(w.used(next_minute), 0);
        assert!(matches!(w.charge(next_minute, 20), Charge::Ok(20)));
    }

    #[track_caller]
    fn check(endpoint: Endpoint, symbols: Option<usize>, expected: u32) {
        assert_eq!(weight(endpoint, symbols), expected, "{endpoint:?} {symbols:?}");
    }

    #[test]
    fn documented_weights() {
        check(Endpoint::BookTicker, Some(1), 2);
        check(Endpoint::BookTicker, None, 4);
        check(Endpoint::BookTicker, Some(5), 4);
        check(Endpoint::TickerPrice, Some(1), 2);
        check(Endpoint::Ticker24h, Some(1), 2);
        check(Endpoint::Ticker24h, Some(20), 2);
        check(Endpoint::Ticker24h, Some(21), 40);
        check(Endpoint::Ticker24h, Some(101), 80);
        check(Endpoint::Ticker24h, None, 80);
        check(Endpoint::ExchangeInfo, None, 20);
        check(Endpoint::OpenOrders, Some(1), 6);
        check(Endpoint::OpenOrders, None, 80);
        check(Endpoint::QueryOrder, Some(1), 4);
        check(Endpoint::Account, None, 20);
        check(Endpoint::MyTrades, Some(1), 20);
    }

    #[test]
    fn over_budget_is_429_then_418_and_the_window_resets() {
        let t0 = Timestamp::from_millis(1_699_999_980_000); // the start of a calendar minute
        let mut w = WeightWindow::new(10);
        assert_eq!(w.charge(t0, 6), Charge::Ok(6));
        assert_eq!(w.charge(t0, 4), Charge::Ok(10));
        assert_eq!(w.charge(t0 + Duration::from_secs(20), 1), Charge::Limited(Duration::from_secs(40)));
        for _ in 0..ABUSE_BEFORE_BAN - 1 {
            assert!(matches!(w.charge(t0 + Duration::from_secs(20), 1), Charge::Limited(_)));
        }
        assert_eq!(w.charge(t0 + Duration::from_secs(20), 1), Charge::Banned(BAN));
        assert!(matches!(w.charge(t0 + Duration::from_secs(100), 1), Charge::Banned(_)));
        assert_eq!(w.charge(t0 + Duration::from_secs(200), 1), Charge::Ok(1));
        assert_eq!(w.used(t0 + Duration::from_secs(200)), 1);
    }
}
