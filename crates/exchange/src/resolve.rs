//! The one algorithm that resolves an order whose submission outcome is unknown: repeated
//! lookups by client order id until the venue's acceptance window has passed.

use std::time::Duration;

use trading_core::{ClientOrderId, Clock, OrderRef, Symbol, Timestamp};

use crate::{Exchange, ExchangeError, OrderResolution};

/// How [`resolve_by_lookup`] paces its lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvePolicy {
    /// The venue's acceptance window after the request's timestamp
    /// ([`crate::Capabilities::acceptance_window`]).
    pub acceptance_window: Duration,
    /// Pause between two lookups.
    pub poll_interval: Duration,
    /// How long past the acceptance window transient errors (timeouts, 5xx, rate limits) are
    /// retried before the error is returned and the outcome stays unknown.
    pub error_grace: Duration,
}

impl ResolvePolicy {
    /// A policy for a venue with this acceptance window: a lookup every second, transient
    /// errors retried for one more window.
    pub fn for_window(acceptance_window: Duration) -> Self {
        ResolvePolicy {
            acceptance_window,
            poll_interval: Duration::from_secs(1),
            error_grace: acceptance_window,
        }
    }
}

/// Resolves an order whose submission outcome is unknown by looking its client order id up on
/// `venue` until the acceptance window after `sent_at` has passed.
///
/// - The venue shows the order: [`OrderResolution::Found`] at once.
/// - "Not found" from a lookup *sent* before `sent_at + acceptance_window`: no proof (Binance
///   answers `-2013` for seconds after accepting an order); look again after `poll_interval`.
/// - "Not found" from a lookup sent at or after that instant: [`OrderResolution::Absent`].
/// - A transient error (timeout, 5xx, rate limit, ban): wait (as long as the error demands,
///   at least `poll_interval`) and look again, until `error_grace` past the window; then the
///   last error is returned and the outcome stays unknown.
/// - Any other error (auth, bad symbol, invalid response) is returned at once.
///
/// Time is read from `clock`; waiting uses `tokio::time`, so the function runs unchanged in
/// real time and under tokio's paused time. The number of lookups is bounded too (what the
/// policy's times allow, plus two), so a clock that does not move with tokio's time (a manual
/// clock nobody advances) ends in an error, never in an endless loop.
pub async fn resolve_by_lookup<E: Exchange + ?Sized>(
    venue: &E,
    clock: &dyn Clock,
    symbol: &Symbol,
    client_order_id: &ClientOrderId,
    sent_at: Timestamp,
    policy: ResolvePolicy,
) -> Result<OrderResolution, ExchangeError> {
    let certain_after = sent_at + policy.acceptance_window;
    let give_up_at = certain_after + policy.error_grace;
    let order = OrderRef::Client(client_order_id.clone());
    let poll_ms = policy.poll_interval.as_millis().max(1);
    let budget = (policy.acceptance_window + policy.error_grace).as_millis() / poll_ms + 2;
    let max_lookups = u32::try_from(budget).unwrap_or(u32::MAX);
    for _ in 0..max_lookups {
        let asked_at = clock.now();
        let wait = match venue.fetch_order(symbol, &order).await {
            Ok(found) => return Ok(OrderResolution::Found(found)),
            Err(ExchangeError::OrderNotFound(_)) if asked_at >= certain_after => {
                return Ok(OrderResolution::Absent)
            }
            Err(ExchangeError::OrderNotFound(_)) => policy
                .poll_interval
                .min(certain_after.saturating_since(clock.now()))
                .max(Duration::from_millis(1)),
            Err(e) if e.is_retryable() => {
                let now = clock.now();
                if now >= give_up_at {
                    return Err(e);
                }
                e.retry_after(now).unwrap_or(Duration::ZERO).max(policy.poll_interval)
            }
            Err(e) => return Err(e),
        };
        tokio::time::sleep(wait).await;
    }
    Err(ExchangeError::Unavailable {
        operation: "resolve_order",
        message: format!(
            "no proof after {max_lookups} lookups: the clock did not pass the acceptance window (sent at {sent_at}, \
             certain after {certain_after}); the outcome stays unknown"
        ),
        client_order_id: Some(client_order_id.clone()),
    })
}
