//! Weight-aware rate limiting: a `governor` GCRA limiter smooths the flow, and a fixed-window
//! counter aligned to the venue's own windows (Binance counts weight per calendar minute of
//! server time) guarantees that no request is sent when the window has no room left. The
//! counter is corrected from the venue's used-weight header, and 429/418 answers pause the
//! whole venue for exactly the announced `Retry-After`.
//!
//! Rate limits are about real elapsed time on the venue's side, so waits here use tokio's
//! monotonic clock; window boundaries come from the server time the caller passes in.

use std::num::NonZeroU32;
use std::time::Duration;

use exchange::{ExchangeError, RateBudget};
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use parking_lot::Mutex;
use tokio::time::Instant;
use trading_core::Timestamp;

/// Requests of one kind share one budget: the request weight, or the order count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Request weight only.
    Weight,
    /// Request weight and one order (order placement).
    WeightAndOrder,
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
        // real time has passed (a clock that does not move must not block forever).
        if id != state.id || state.opened.elapsed() >= self.len {
            *state = WindowState { id, opened: Instant::now(), used: 0 };
        }
    }

    /// Takes `n` units, or returns how long to wait for the next window.
    fn try_take(&self, n: u32, server_ms: i64) -> Result<(), Duration> {
        let mut s = self.state.lock();
        self.roll(&mut s, server_ms);
        if s.used.saturating_add(n) <= self.cap {
            s.used += n;
            return Ok(());
        }
        let to_boundary = (s.id.saturating_add(1)).saturating_mul(self.len_ms).saturating_sub(server_ms);
        let by_server = Duration::from_millis(u64::try_from(to_boundary).unwrap_or(0));
        let by_real = self.len.saturating_sub(s.opened.elapsed());
        // A few ms past the boundary so the venue has rolled its window too.
        Err(by_server.min(by_real) + Duration::from_millis(5))
    }

    /// The venue says `used` units are spent in the current window: believe it when it is
    /// more than we counted (another process on the same IP, or requests we do not see).
    fn observe(&self, used: u32, server_ms: i64) {
        let mut s = self.state.lock();
        self.roll(&mut s, server_ms);
        s.used = s.used.max(used);
    }

    fn used(&self, server_ms: i64) -> u32 {
        let mut s = self.state.lock();
        self.roll(&mut s, server_ms);
        s.used
    }
}

/// governor's clock on tokio's monotonic time, so that limiter waits and tokio sleeps agree
/// (and tests with paused time are deterministic).
#[derive(Debug, Clone, Copy, Default)]
struct TokioClock;

impl governor::clock::Clock for TokioClock {
    type Instant = std::time::Instant;
    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

type Gcra = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Waits (on tokio time) until `n` cells are available and takes them.
async fn take_cells(gcra: &Gcra, n: NonZeroU32) -> Result<(), ()> {
    loop {
        match gcra.check_n(n) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await,
            Err(_) => return Err(()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Pause {
    RateLimited { until: Instant },
    Banned { until: Instant, until_ts: Timestamp },
}

/// The limiter of one venue. Shared by every request of a client.
#[derive(Debug)]
pub(crate) struct Limiter {
    gcra: Gcra,
    weight: FixedWindow,
    orders: Option<(Gcra, FixedWindow)>,
    pause: Mutex<Option<Pause>>,
}

fn gcra(cap: NonZeroU32, window: Duration) -> Gcra {
    // Replenish evenly over the window; the burst is the whole window's budget, and the fixed
    // window counter keeps the sum per venue window within the cap.
    let quota =
        Quota::with_period(window / cap.get()).unwrap_or_else(|| Quota::per_second(cap)).allow_burst(cap);
    RateLimiter::direct_with_clock(quota, TokioClock)
}

impl Limiter {
    pub(crate) fn new(budget: &RateBudget) -> Self {
        let orders = budget
            .orders_per_window
            .map(|cap| (gcra(cap, budget.order_window), FixedWindow::new(cap.get(), budget.order_window)));
        Limiter {
            gcra: gcra(budget.weight_per_window, budget.window),
            weight: FixedWindow::new(budget.weight_per_window.get(), budget.window),
            orders,
            pause: Mutex::new(None),
        }
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

    /// Pauses every request for `retry_after` (a 429); `banned_until` marks a 418 ban.
    pub(crate) fn pause_for(&self, retry_after: Duration, banned_until: Option<Timestamp>) {
        let until = Instant::now() + retry_after;
        let next = match banned_until {
            Some(until_ts) => Pause::Banned { until, until_ts },
            None => Pause::RateLimited { until },
        };
        let mut pause = self.pause.lock();
        let keep_existing = match *pause {
            Some(Pause::RateLimited { until: u } | Pause::Banned { until: u, .. }) => u >= until,
            None => false,
        };
        if !keep_existing {
            *pause = Some(next);
        }
    }

    /// Waits until `weight` (and one order, for placements) fits the budget, then reserves it.
    /// Fails without waiting while the venue is paused, and for a weight no window can hold.
    pub(crate) async fn acquire(
        &self,
        weight: u32,
        budget: Budget,
        server_now: impl Fn() -> i64,
    ) -> Result<(), ExchangeError> {
        if let Some(err) = self.paused() {
            return Err(err);
        }
        let n = NonZeroU32::new(weight).unwrap_or(NonZeroU32::MIN);
        if weight > self.weight.cap {
            return Err(ExchangeError::InvalidRequest(format!(
                "request weight {weight} exceeds the venue's whole budget of {} per window",
                self.weight.cap
            )));
        }
        if take_cells(&self.gcra, n).await.is_err() {
            return Err(ExchangeError::InvalidRequest(format!(
                "request weight {weight} exceeds the limiter capacity"
            )));
        }
        while let Err(wait) = self.weight.try_take(weight, server_now()) {
            tracing::debug!(?wait, weight, "weight window full, waiting for the next one");
            tokio::time::sleep(wait).await;
        }
        if let (Budget::WeightAndOrder, Some((gcra, window))) = (budget, &self.orders) {
            // One order: a single cell always fits a non-zero capacity.
            let _ = take_cells(gcra, NonZeroU32::MIN).await;
            while let Err(wait) = window.try_take(1, server_now()) {
                tokio::time::sleep(wait).await;
            }
        }
        // A pause may have started while we waited.
        match self.paused() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Feeds the venue's used-weight header back into the counter.
    pub(crate) fn observe_used_weight(&self, used: u32, server_ms: i64) {
        self.weight.observe(used, server_ms);
    }

    /// Feeds the venue's order-count header back into the order counter.
    pub(crate) fn observe_order_count(&self, count: u32, server_ms: i64) {
        if let Some((_, window)) = &self.orders {
            window.observe(count, server_ms);
        }
    }

    /// Weight counted in the current window (for tests and diagnostics).
    pub(crate) fn used_weight(&self, server_ms: i64) -> u32 {
        self.weight.used(server_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(weight: u32, orders: Option<u32>) -> RateBudget {
        RateBudget {
            weight_per_window: NonZeroU32::new(weight).unwrap(),
            window: Duration::from_secs(60),
            orders_per_window: orders.and_then(NonZeroU32::new),
            order_window: Duration::from_secs(10),
        }
    }

    #[test]
    fn fixed_window_refuses_past_cap_and_rolls_with_server_time() {
        let w = FixedWindow::new(10, Duration::from_secs(60));
        assert_eq!(w.try_take(6, 60_000), Ok(()));
        assert_eq!(w.try_take(4, 61_000), Ok(()));
        let wait = w.try_take(1, 90_000).unwrap_err();
        assert!(wait >= Duration::from_secs(30) && wait < Duration::from_secs(31), "{wait:?}");
        assert_eq!(w.try_take(10, 120_000), Ok(()), "next minute of server time starts empty");
    }

    #[test]
    fn used_weight_header_corrects_upwards_only() {
        let w = FixedWindow::new(100, Duration::from_secs(60));
        w.try_take(10, 0).unwrap();
        w.observe(95, 1);
        assert_eq!(w.used(2), 95);
        w.observe(20, 3);
        assert_eq!(w.used(4), 95, "a lower report in the same window does not free budget");
        assert!(w.try_take(6, 5).is_err());
        assert_eq!(w.try_take(5, 5), Ok(()));
    }

    #[tokio::test]
    async fn acquire_refuses_impossible_weight_and_counts() {
        let l = Limiter::new(&budget(100, Some(2)));
        let err = l.acquire(101, Budget::Weight, || 0).await.unwrap_err();
        assert!(matches!(err, ExchangeError::InvalidRequest(_)), "{err:?}");
        l.acquire(40, Budget::WeightAndOrder, || 0).await.unwrap();
        l.acquire(40, Budget::Weight, || 0).await.unwrap();
        assert_eq!(l.used_weight(0), 80);
    }

    #[tokio::test(start_paused = true)]
    async fn pause_blocks_every_request_until_retry_after() {
        let l = Limiter::new(&budget(100, None));
        l.pause_for(Duration::from_secs(3), None);
        match l.acquire(1, Budget::Weight, || 0).await {
            Err(ExchangeError::RateLimited { retry_after }) => assert!(retry_after <= Duration::from_secs(3)),
            other => panic!("expected RateLimited, got {other:?}"),
        }
        tokio::time::advance(Duration::from_millis(2_900)).await;
        assert!(l.paused().is_some());
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(l.paused().is_none());
        l.acquire(1, Budget::Weight, || 0).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn ban_reports_its_end() {
        let l = Limiter::new(&budget(100, None));
        let until = Timestamp::from_millis(120_000);
        l.pause_for(Duration::from_secs(120), Some(until));
        assert!(matches!(l.paused(), Some(ExchangeError::Banned { until: u }) if u == until));
        // A shorter 429 pause does not shorten the ban.
        l.pause_for(Duration::from_secs(1), None);
        assert!(matches!(l.paused(), Some(ExchangeError::Banned { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn full_window_waits_for_the_next_one_instead_of_sending() {
        let l = Limiter::new(&budget(10, None));
        l.acquire(10, Budget::Weight, || 30_000).await.unwrap();
        let started = Instant::now();
        // Server time stays in the same minute: the limiter waits a window length of real time.
        l.acquire(5, Budget::Weight, || 30_000).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(30), "{:?}", started.elapsed());
    }
}
