//! Weight-aware rate limiting: fixed-window counters aligned to the venue's own windows
//! (Binance counts weight per calendar minute of server time; MEXC counts each endpoint apart
//! per 10 s), so no request is sent when its window has no room left.
//!
//! - **Order traffic first.** A share of every weight window is reserved for order traffic
//!   (placement, cancel, query): market data and account reads cannot use it, so a buy
//!   decided now is not queued behind a minute of polling. An order request waits for budget
//!   at most [`OrderBudget::max_wait`]; past that it fails with `RateLimited` instead of
//!   leaving late with a fresh timestamp.
//! - **Order count apart.** The venue's new-order count limit (Binance `-1015`, per account,
//!   10 s) pauses new orders only, for the order window: market data, cancels and queries go on.
//! - **Pauses.** A 429/418 (and a 403 from the venue's web application firewall) pauses the
//!   whole venue until its `Retry-After` has passed.
//! - **Used-weight headers** correct the counter upwards, but only for the window the request
//!   was sent in: an answer that arrives after the boundary says nothing about the new window.
//!
//! Time: window boundaries come from the server time the caller passes in; waits and pauses
//! use `tokio::time` (never `std::time::Instant`), so the limiter runs unchanged under tokio's
//! paused time.

use std::collections::BTreeMap;
use std::time::Duration;

use exchange::{ExchangeError, RateBudget};
use parking_lot::Mutex;
use tokio::time::Instant;
use trading_core::Timestamp;

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Market data and account reads: the weight window minus the order reserve; waits as
    /// long as needed.
    Weight,
    /// Cancels and order queries: the whole weight window, a bounded wait, never the order
    /// count.
    OrderTraffic,
    /// Order placement: the whole weight window and one order of the order count, a bounded
    /// wait; paused by the venue's order-count answer (`-1015`).
    WeightAndOrder,
}

/// How request weight is counted on the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One weight window for every endpoint (Binance: per IP, per minute).
    Venue,
    /// Each endpoint has its own independent window (MEXC: 500 per 10 s per endpoint).
    PerEndpoint,
}

/// How order traffic is protected from market-data traffic (part of the client's config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBudget {
    /// Percent (0..=90) of each weight window that only order traffic may use.
    pub reserved_percent: u8,
    /// Longest an order request (placement, cancel, query) waits for budget; beyond it the
    /// call fails with `RateLimited` rather than sending a stale order.
    pub max_wait: Duration,
}

impl Default for OrderBudget {
    /// 10 % of the weight reserved; an order waits at most 2 s for budget.
    fn default() -> Self {
        OrderBudget { reserved_percent: 10, max_wait: Duration::from_secs(2) }
    }
}

#[derive(Debug)]
struct WindowState {
    id: i64,
    opened: Instant,
    used: u32,
}

/// A fixed window counter (`cap` units per `len`), aligned to server-time multiples of `len`.
#[derive(Debug)]
struct FixedWindow {
    len: Duration,
    len_ms: i64,
    cap: u32,
    state: Mutex<WindowState>,
}

impl FixedWindow {
    fn new(cap: u32, len: Duration) -> Self {
        let len_ms = i64::try_from(len.as_millis()).unwrap_or(i64::MAX).max(1);
        FixedWindow {
            len,
            len_ms,
            cap,
            state: Mutex::new(WindowState { id: i64::MIN, opened: Instant::now(), used: 0 }),
        }
    }

    fn roll(&self, state: &mut WindowState, server_ms: i64) {
        let id = server_ms.div_euclid(self.len_ms);
        // A window is over when the server clock says so, or when a whole window length of
        // (tokio) time has passed (a clock that does not move must not block forever).
        if id > state.id || state.opened.elapsed() >= self.len {
            *state = WindowState { id: id.max(state.id), opened: Instant::now(), used: 0 };
        }
    }

    /// Takes `n` units if the window's use stays within `limit` (at most `cap`), or returns
    /// how long to wait for the next window.
    fn try_take(&self, n: u32, limit: u32, server_ms: i64) -> Result<(), Duration> {
        let mut s = self.state.lock();
        self.roll(&mut s, server_ms);
        if s.used.saturating_add(n) <= limit.min(self.cap) {
            s.used += n;
            return Ok(());
        }
        let to_boundary = (s.id.saturating_add(1)).saturating_mul(self.len_ms).saturating_sub(server_ms);
        let by_server = Duration::from_millis(u64::try_from(to_boundary).unwrap_or(0));
        let by_real = self.len.saturating_sub(s.opened.elapsed());
        // A few ms past the boundary so the venue has rolled its window too.
        Err(by_server.min(by_real) + Duration::from_millis(5))
    }

    /// The venue says `used` units were spent in the window of the request sent at
    /// `sent_ms`: believe it when it is more than we counted, and only while that window is
    /// still the current one (a late answer does not charge the next window).
    fn observe(&self, used: u32, sent_ms: i64, server_ms: i64) {
        let mut s = self.state.lock();
        self.roll(&mut s, server_ms);
        if sent_ms.div_euclid(self.len_ms) == s.id {
            s.used = s.used.max(used);
        }
    }

    fn used(&self, server_ms: i64) -> u32 {
        let mut s = self.state.lock();
        self.roll(&mut s, server_ms);
        s.used
    }
}

#[derive(Debug, Clone, Copy)]
enum Pause {
    RateLimited { until: Instant },
    Banned { until: Instant, until_ts: Timestamp },
}

impl Pause {
    fn until(self) -> Instant {
        match self {
            Pause::RateLimited { until } | Pause::Banned { until, .. } => until,
        }
    }
}

/// The limiter of one venue. Shared by every request of a client.
#[derive(Debug)]
pub(crate) struct Limiter {
    scope: Scope,
    cap: u32,
    window: Duration,
    /// Weight only order traffic may use.
    reserve: u32,
    max_order_wait: Duration,
    weight: FixedWindow,
    per_endpoint: Mutex<BTreeMap<&'static str, std::sync::Arc<FixedWindow>>>,
    orders: Option<FixedWindow>,
    order_window: Duration,
    pause: Mutex<Option<Pause>>,
    order_pause: Mutex<Option<Instant>>,
}

impl Limiter {
    pub(crate) fn new(budget: &RateBudget, scope: Scope, order_budget: OrderBudget) -> Self {
        let cap = budget.weight_per_window.get();
        let percent = u32::from(order_budget.reserved_percent.min(90));
        let reserve = cap.saturating_mul(percent) / 100;
        Limiter {
            scope,
            cap,
            window: budget.window,
            reserve,
            max_order_wait: order_budget.max_wait,
            weight: FixedWindow::new(cap, budget.window),
            per_endpoint: Mutex::new(BTreeMap::new()),
            orders: budget.orders_per_window.map(|n| FixedWindow::new(n.get(), budget.order_window)),
            order_window: budget.order_window,
            pause: Mutex::new(None),
            order_pause: Mutex::new(None),
        }
    }

    fn window_for(&self, endpoint: &'static str) -> std::sync::Arc<FixedWindow> {
        let mut map = self.per_endpoint.lock();
        map.entry(endpoint)
            .or_insert_with(|| std::sync::Arc::new(FixedWindow::new(self.cap, self.window)))
            .clone()
    }

    /// The error to return while the venue is paused, if it is.
    pub(crate) fn paused(&self) -> Option<ExchangeError> {
        let mut pause = self.pause.lock();
        let now = Instant::now();
        match *pause {
            Some(Pause::RateLimited { until }) if until > now => {
                Some(ExchangeError::RateLimited { retry_after: until - now })
            }
            Some(Pause::Banned { until, until_ts }) if until > now => {
                Some(ExchangeError::Banned { until: until_ts })
            }
            Some(_) => {
                *pause = None;
                None
            }
            None => None,
        }
    }

    /// The error to return while new orders are paused (order-count limit), if they are.
    fn orders_paused(&self) -> Option<ExchangeError> {
        let mut pause = self.order_pause.lock();
        let now = Instant::now();
        match *pause {
            Some(until) if until > now => Some(ExchangeError::RateLimited { retry_after: until - now }),
            Some(_) => {
                *pause = None;
                None
            }
            None => None,
        }
    }

    /// Pauses every request for `retry_after` (a 429, a WAF 403); `banned_until` marks a 418 ban.
    pub(crate) fn pause_for(&self, retry_after: Duration, banned_until: Option<Timestamp>) {
        let until = Instant::now() + retry_after;
        let next = match banned_until {
            Some(until_ts) => Pause::Banned { until, until_ts },
            None => Pause::RateLimited { until },
        };
        let mut pause = self.pause.lock();
        if !pause.is_some_and(|p| p.until() >= until) {
            *pause = Some(next);
        }
    }

    /// Pauses new orders only (the venue's order-count limit, `-1015`) for `retry_after`, or
    /// the order window when the venue did not say.
    pub(crate) fn pause_orders(&self, retry_after: Option<Duration>) {
        let until = Instant::now() + retry_after.unwrap_or(self.order_window);
        let mut pause = self.order_pause.lock();
        if !pause.is_some_and(|u| u >= until) {
            *pause = Some(until);
        }
    }

    /// The length of the venue's order window.
    pub(crate) fn order_window(&self) -> Duration {
        self.order_window
    }

    /// Waits until `weight` (and one order, for placements) fits the budget, then reserves it.
    /// Fails without waiting while the venue (or, for placements, new orders) is paused, for a
    /// weight no window can hold, and for order traffic that would wait longer than
    /// [`OrderBudget::max_wait`].
    pub(crate) async fn acquire(
        &self,
        weight: u32,
        budget: Budget,
        endpoint: &'static str,
        server_now: impl Fn() -> i64,
    ) -> Result<(), ExchangeError> {
        if let Some(err) = self.paused() {
            return Err(err);
        }
        if budget == Budget::WeightAndOrder {
            if let Some(err) = self.orders_paused() {
                return Err(err);
            }
        }
        let limit = match budget {
            Budget::Weight => self.cap - self.reserve,
            Budget::OrderTraffic | Budget::WeightAndOrder => self.cap,
        };
        if weight > limit {
            return Err(ExchangeError::InvalidRequest(format!(
                "request weight {weight} exceeds the venue's budget of {limit} per window for this traffic"
            )));
        }
        let per_endpoint;
        let window = match self.scope {
            Scope::Venue => &self.weight,
            Scope::PerEndpoint => {
                per_endpoint = self.window_for(endpoint);
                &*per_endpoint
            }
        };
        let bounded = budget != Budget::Weight;
        let started = Instant::now();
        let wait_for = |wait: Duration| -> Result<Duration, ExchangeError> {
            if bounded && started.elapsed() + wait > self.max_order_wait {
                return Err(ExchangeError::RateLimited { retry_after: wait });
            }
            Ok(wait)
        };
        while let Err(wait) = window.try_take(weight, limit, server_now()) {
            let wait = wait_for(wait)?;
            tracing::debug!(?wait, weight, endpoint, "weight window full, waiting for the next one");
            tokio::time::sleep(wait).await;
        }
        if let (Budget::WeightAndOrder, Some(orders)) = (budget, &self.orders) {
            while let Err(wait) = orders.try_take(1, u32::MAX, server_now()) {
                let wait = wait_for(wait)?;
                tokio::time::sleep(wait).await;
            }
        }
        // A pause may have started while we waited.
        match self.paused() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Feeds the venue's used-weight header back into the counter; `sent_ms` is the server
    /// time the request was sent at (the window the count belongs to).
    pub(crate) fn observe_used_weight(&self, used: u32, sent_ms: i64, server_ms: i64) {
        if self.scope == Scope::Venue {
            self.weight.observe(used, sent_ms, server_ms);
        }
    }

    /// Feeds the venue's order-count header back into the order counter.
    pub(crate) fn observe_order_count(&self, count: u32, sent_ms: i64, server_ms: i64) {
        if let Some(window) = &self.orders {
            window.observe(count, sent_ms, server_ms);
        }
    }

    /// Weight counted in the current window (for tests and diagnostics); per-endpoint venues
    /// report the busiest endpoint.
    pub(crate) fn used_weight(&self, server_ms: i64) -> u32 {
        match self.scope {
            Scope::Venue => self.weight.used(server_ms),
            Scope::PerEndpoint => {
                self.per_endpoint.lock().values().map(|w| w.used(server_ms)).max().unwrap_or(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn budget(weight: u32, orders: Option<u32>) -> RateBudget {
        RateBudget {
            weight_per_window: NonZeroU32::new(weight).unwrap(),
            window: Duration::from_secs(60),
            orders_per_window: orders.and_then(NonZeroU32::new),
            order_window: Duration::from_secs(10),
        }
    }

    fn limiter(weight: u32, orders: Option<u32>) -> Limiter {
        Limiter::new(&budget(weight, orders), Scope::Venue, OrderBudget::default())
    }

    const EP: &str = "/api/v3/ticker/bookTicker";
    const ORDER: &str = "/api/v3/order";

    #[test]
    fn fixed_window_refuses_past_cap_and_rolls_with_server_time() {
        let w = FixedWindow::new(10, Duration::from_secs(60));
        assert_eq!(w.try_take(6, 10, 60_000), Ok(()));
        assert_eq!(w.try_take(4, 10, 61_000), Ok(()));
        let wait = w.try_take(1, 10, 90_000).unwrap_err();
        assert!(wait >= Duration::from_secs(30) && wait < Duration::from_secs(31), "{wait:?}");
        assert_eq!(w.try_take(10, 10, 120_000), Ok(()), "next minute of server time starts empty");
    }

    #[test]
    fn used_weight_header_corrects_upwards_only() {
        let w = FixedWindow::new(100, Duration::from_secs(60));
        w.try_take(10, 100, 0).unwrap();
        w.observe(95, 1, 1);
        assert_eq!(w.used(2), 95);
        w.observe(20, 3, 3);
        assert_eq!(w.used(4), 95, "a lower report in the same window does not free budget");
        assert!(w.try_take(6, 100, 5).is_err());
        assert_eq!(w.try_take(5, 100, 5), Ok(()));
    }

    /// Issue 9 item 7: an answer sent in minute 0 that arrives in minute 1 says nothing about
    /// minute 1 (the old code charged the new minute with the old count).
    #[test]
    fn used_weight_of_a_late_answer_belongs_to_the_window_it_was_sent_in() {
        let w = FixedWindow::new(6000, Duration::from_secs(60));
        w.try_take(10, 6000, 59_900).unwrap();
        // Sent at 59.9 s, answered at 60.1 s with the old minute's total.
        w.observe(5990, 59_900, 60_100);
        assert_eq!(w.used(60_200), 0, "the new minute starts empty");
        assert_eq!(w.try_take(100, 6000, 60_200), Ok(()));
        // An answer sent in the current window still counts.
        w.observe(500, 60_300, 60_400);
        assert_eq!(w.used(60_500), 500);
    }

    #[tokio::test]
    async fn acquire_refuses_impossible_weight_and_counts() {
        let l = limiter(100, Some(2));
        let err = l.acquire(101, Budget::Weight, EP, || 0).await.unwrap_err();
        assert!(matches!(err, ExchangeError::InvalidRequest(_)), "{err:?}");
        l.acquire(40, Budget::WeightAndOrder, ORDER, || 0).await.unwrap();
        l.acquire(40, Budget::Weight, EP, || 0).await.unwrap();
        assert_eq!(l.used_weight(0), 80);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_blocks_every_request_until_retry_after() {
        let l = limiter(100, None);
        l.pause_for(Duration::from_secs(3), None);
        match l.acquire(1, Budget::Weight, EP, || 0).await {
            Err(ExchangeError::RateLimited { retry_after }) => assert!(retry_after <= Duration::from_secs(3)),
            other => panic!("expected RateLimited, got {other:?}"),
        }
        tokio::time::advance(Duration::from_millis(2_900)).await;
        assert!(l.paused().is_some());
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(l.paused().is_none());
        l.acquire(1, Budget::Weight, EP, || 0).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn ban_reports_its_end() {
        let l = limiter(100, None);
        let until = Timestamp::from_millis(120_000);
        l.pause_for(Duration::from_secs(120), Some(until));
        assert!(matches!(l.paused(), Some(ExchangeError::Banned { until: u }) if u == until));
        // A shorter 429 pause does not shorten the ban.
        l.pause_for(Duration::from_secs(1), None);
        assert!(matches!(l.paused(), Some(ExchangeError::Banned { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn full_window_makes_market_data_wait_for_the_next_one() {
        let l = limiter(10, None);
        l.acquire(9, Budget::Weight, EP, || 30_000).await.unwrap();
        let started = Instant::now();
        // Server time stays in the same minute: the limiter waits a window length of tokio time.
        l.acquire(5, Budget::Weight, EP, || 30_000).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(30), "{:?}", started.elapsed());
    }

    /// Issue 9 item 4: market data cannot use the order reserve; an order goes at once after
    /// polling used the minute, and when even the reserve is gone it fails fast with
    /// RateLimited instead of leaving a minute late (the old limiter slept until the window).
    #[tokio::test(start_paused = true)]
    async fn orders_have_reserved_headroom_and_a_bounded_wait() {
        let l = limiter(100, Some(50));
        // Polling takes all it may: 90 of 100.
        l.acquire(90, Budget::Weight, EP, || 1_000).await.unwrap();
        let poll = tokio::time::timeout(Duration::from_secs(1), l.acquire(4, Budget::Weight, EP, || 1_000));
        assert!(poll.await.is_err(), "market data waits for the next window");
        let started = Instant::now();
        l.acquire(1, Budget::WeightAndOrder, ORDER, || 1_000).await.unwrap();
        l.acquire(4, Budget::OrderTraffic, ORDER, || 1_000).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO, "order traffic did not wait");
        l.acquire(5, Budget::OrderTraffic, ORDER, || 1_000).await.unwrap();
        // The reserve is spent too: the next order would wait ~59 s; it fails at once instead.
        match l.acquire(1, Budget::WeightAndOrder, ORDER, || 1_000).await {
            Err(ExchangeError::RateLimited { retry_after }) => {
                assert!(retry_after > Duration::from_secs(50), "{retry_after:?}")
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        assert_eq!(started.elapsed(), Duration::ZERO, "no sleeping for a stale order");
    }

    /// Issue 9 items 4 and 5: the order-count pause (-1015) stops new orders only, for the
    /// order window; market data, cancels and queries go on.
    #[tokio::test(start_paused = true)]
    async fn order_count_pause_stops_new_orders_only() {
        let l = limiter(100, Some(2));
        l.pause_orders(None);
        assert!(matches!(
            l.acquire(1, Budget::WeightAndOrder, ORDER, || 0).await,
            Err(ExchangeError::RateLimited { retry_after }) if retry_after <= Duration::from_secs(10)
        ));
        l.acquire(1, Budget::Weight, EP, || 0).await.unwrap();
        l.acquire(1, Budget::OrderTraffic, ORDER, || 0).await.unwrap();
        tokio::time::advance(Duration::from_secs(10)).await;
        l.acquire(1, Budget::WeightAndOrder, ORDER, || 10_000).await.unwrap();
        // Cancels never count against the order-count limit.
        l.acquire(1, Budget::WeightAndOrder, ORDER, || 10_000).await.unwrap();
        for _ in 0..5 {
            l.acquire(1, Budget::OrderTraffic, ORDER, || 10_000).await.unwrap();
        }
    }

    /// Issue 9 item 10: on a per-endpoint venue (MEXC) polling one endpoint to its limit does
    /// not throttle orders or other endpoints.
    #[tokio::test(start_paused = true)]
    async fn per_endpoint_windows_are_independent() {
        let b = RateBudget { window: Duration::from_secs(10), ..budget(10, None) };
        let l = Limiter::new(
            &b,
            Scope::PerEndpoint,
            OrderBudget { reserved_percent: 0, ..OrderBudget::default() },
        );
        for _ in 0..10 {
            l.acquire(1, Budget::Weight, EP, || 0).await.unwrap();
        }
        let started = Instant::now();
        l.acquire(1, Budget::WeightAndOrder, ORDER, || 0).await.unwrap();
        l.acquire(5, Budget::Weight, "/api/v3/ticker/24hr", || 0).await.unwrap();
        assert_eq!(started.elapsed(), Duration::ZERO);
        let poll = tokio::time::timeout(Duration::from_secs(1), l.acquire(1, Budget::Weight, EP, || 0));
        assert!(poll.await.is_err(), "the polled endpoint itself is full");
    }
}
