//! Venue profiles: everything that differs between Binance spot, its testnet and MEXC spot v3
//! (URLs, weights, limits, interval names, error codes, header names, order dialect) lives
//! here as data, so the client code has no venue `if`s.

use std::num::NonZeroU32;
use std::time::Duration;

use exchange::{Capabilities, EndpointWeights, RateBudget};

use crate::limiter::Scope;
use trading_core::{Interval, OrderStatus};

/// The venue family a profile speaks to; decides the credential variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    /// Binance spot (and its testnet, and the simulator).
    Binance,
    /// MEXC spot v3.
    Mexc,
}

impl Venue {
    /// `binance` or `mexc`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Mexc => "mexc",
        }
    }

    /// The environment variables holding the API key and secret.
    pub const fn credential_env_vars(self) -> (&'static str, &'static str) {
        match self {
            Venue::Binance => ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
            Venue::Mexc => ("MEXC_API_KEY", "MEXC_API_SECRET"),
        }
    }
}

/// A weight that depends on how many symbols a request names: `(up_to_n_symbols, weight)`
/// steps, ascending; the first step with `n <= up_to` applies.
pub(crate) type Tiers = &'static [(usize, u32)];

/// Request weight of every endpoint the client calls, in the venue's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Weights {
    pub(crate) time: u32,
    pub(crate) exchange_info: u32,
    pub(crate) klines: u32,
    pub(crate) ticker_24h_single: u32,
    /// `ticker/24hr?symbols=[..]`, by list length (empty when the venue has no list form).
    pub(crate) ticker_24h_list: Tiers,
    pub(crate) ticker_24h_all: u32,
    pub(crate) book_ticker_single: u32,
    /// `ticker/bookTicker?symbols=[..]` (empty when the venue has no list form).
    pub(crate) book_ticker_list: Tiers,
    pub(crate) book_ticker_all: u32,
    pub(crate) order_create: u32,
    /// `POST /api/v3/order/test` (validation only; no order-count).
    pub(crate) order_test: u32,
    pub(crate) order_query: u32,
    pub(crate) order_cancel: u32,
    pub(crate) open_orders_single: u32,
    pub(crate) open_orders_all: u32,
    pub(crate) account: u32,
    /// The account's own trades (`myTrades`).
    pub(crate) my_trades: u32,
}

impl Weights {
    /// Weight of a list request for `n` symbols; `None` when the venue has no list form.
    pub(crate) fn tiered(tiers: Tiers, n: usize) -> Option<u32> {
        tiers.iter().find(|(up_to, _)| n <= *up_to).map(|(_, w)| *w)
    }
}

/// Venue error codes by what they mean for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ErrorCodes {
    pub(crate) bad_symbol: &'static [i64],
    pub(crate) not_found: &'static [i64],
    pub(crate) auth: &'static [i64],
    /// The venue may or may not have executed the request (`-1007` "execution status unknown").
    pub(crate) outcome_unknown: &'static [i64],
    /// Timestamp outside recvWindow: resync the clock offset and retry once.
    pub(crate) timestamp: &'static [i64],
    pub(crate) rate_limited: &'static [i64],
    /// Too many new orders (Binance `-1015`): pause new orders only, for the order window.
    pub(crate) order_rate_limited: &'static [i64],
}

/// How a limit order's time in force is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TifStyle {
    /// A `timeInForce` parameter next to `type=LIMIT` (Binance).
    Param,
    /// Encoded in the order type: `LIMIT` (GTC), `IMMEDIATE_OR_CANCEL`, `FILL_OR_KILL` (MEXC).
    OrderType,
}

/// Where the parameters of a signed POST/DELETE go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParamPlacement {
    /// `application/x-www-form-urlencoded` body (Binance POST).
    Body,
    /// Query string (MEXC, and every DELETE).
    Query,
}

/// Everything the client needs to know about one venue.
///
/// Build one with [`VenueProfile::binance_spot`], [`VenueProfile::binance_spot_testnet`],
/// [`VenueProfile::mexc_spot`], or [`VenueProfile::custom`] (another base URL with the rules of
/// an existing profile, e.g. the simulator or a proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueProfile {
    pub(crate) name: String,
    pub(crate) venue: Venue,
    pub(crate) base_url: String,
    pub(crate) api_key_header: &'static str,
    pub(crate) weights: Weights,
    pub(crate) rate: RateBudget,
    pub(crate) max_klines: u32,
    pub(crate) intervals: &'static [(Interval, &'static str)],
    pub(crate) errors: ErrorCodes,
    pub(crate) tif_style: TifStyle,
    pub(crate) post_params: ParamPlacement,
    /// `newOrderRespType` to request, when the venue supports it.
    pub(crate) order_resp_type: Option<&'static str>,
    /// The venue reports `PARTIALLY_CANCELED` itself; otherwise `CANCELED` with a fill is
    /// mapped to [`OrderStatus::PartiallyCanceled`] by the client.
    pub(crate) reports_partially_canceled: bool,
    pub(crate) recv_window: Duration,
    /// How long after `recvWindow` the venue's backend may still act on an accepted request.
    pub(crate) backend_timeout: Duration,
    /// How the venue counts request weight (one window, or one per endpoint).
    pub(crate) rate_scope: Scope,
    /// The create-order answer says the order's status and fill (Binance `RESULT`); when it
    /// does not (MEXC), the client follows it with an order query.
    pub(crate) create_answer_has_status: bool,
    /// Pause after an HTTP 403 (the venue's web application firewall) without `Retry-After`.
    pub(crate) waf_backoff: Duration,
    /// Most trades one `myTrades` request returns.
    pub(crate) max_trades: u32,
}

const BINANCE_INTERVALS: &[(Interval, &str)] = &[
    (Interval::M1, "1m"),
    (Interval::M3, "3m"),
    (Interval::M5, "5m"),
    (Interval::M15, "15m"),
    (Interval::M30, "30m"),
    (Interval::H1, "1h"),
    (Interval::H4, "4h"),
    (Interval::D1, "1d"),
];

// MEXC spot v3 kline intervals: 1m 5m 15m 30m 60m 4h 1d 1W 1M (no 3m).
const MEXC_INTERVALS: &[(Interval, &str)] = &[
    (Interval::M1, "1m"),
    (Interval::M5, "5m"),
    (Interval::M15, "15m"),
    (Interval::M30, "30m"),
    (Interval::H1, "60m"),
    (Interval::H4, "4h"),
    (Interval::D1, "1d"),
];

const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

impl VenueProfile {
    /// Binance spot, `https://api.binance.com`. Weights and limits from the spot REST docs:
    /// 6000 request weight per minute, 100 orders per 10 s.
    pub fn binance_spot() -> Self {
        VenueProfile {
            name: "binance".into(),
            venue: Venue::Binance,
            base_url: "https://api.binance.com".into(),
            api_key_header: "X-MBX-APIKEY",
            weights: Weights {
                time: 1,
                exchange_info: 20,
                klines: 2,
                ticker_24h_single: 2,
                ticker_24h_list: &[(20, 2), (100, 40), (usize::MAX, 80)],
                ticker_24h_all: 80,
                book_ticker_single: 2,
                book_ticker_list: &[(usize::MAX, 4)],
                book_ticker_all: 4,
                order_create: 1,
                order_test: 1,
                order_query: 4,
                order_cancel: 1,
                open_orders_single: 6,
                open_orders_all: 80,
                account: 20,
                my_trades: 20,
            },
            rate: RateBudget {
                weight_per_window: nz(6000),
                window: Duration::from_secs(60),
                orders_per_window: Some(nz(100)),
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
            intervals: BINANCE_INTERVALS,
            errors: ErrorCodes {
                bad_symbol: &[-1121],
                not_found: &[-2011, -2013],
                auth: &[-1002, -1022, -2014, -2015],
                outcome_unknown: &[-1000, -1001, -1006, -1007, -1008],
                timestamp: &[-1021],
                rate_limited: &[-1003],
                order_rate_limited: &[-1015],
            },
            tif_style: TifStyle::Param,
            post_params: ParamPlacement::Body,
            order_resp_type: Some("RESULT"),
            reports_partially_canceled: false,
            recv_window: Duration::from_millis(5000),
            backend_timeout: BACKEND_TIMEOUT,
            rate_scope: Scope::Venue,
            create_answer_has_status: true,
            waf_backoff: Duration::from_secs(60),
            max_trades: 1000,
        }
    }

    /// Binance spot testnet, `https://testnet.binance.vision`: the rules of Binance spot.
    pub fn binance_spot_testnet() -> Self {
        VenueProfile {
            name: "binance-testnet".into(),
            base_url: "https://testnet.binance.vision".into(),
            ..VenueProfile::binance_spot()
        }
    }

    /// MEXC spot v3, `https://api.mexc.com`. Each endpoint has its own independent limit of
    /// 500 weight per 10 s (IP-limited and account-limited endpoints apart), so polling one
    /// endpoint never throttles orders; no `symbols=` list for tickers; time in force encoded
    /// in the order type; `PARTIALLY_CANCELED` reported; the create-order answer has no status
    /// (the client follows it with a query).
    pub fn mexc_spot() -> Self {
        VenueProfile {
            name: "mexc".into(),
            venue: Venue::Mexc,
            base_url: "https://api.mexc.com".into(),
            api_key_header: "X-MEXC-APIKEY",
            weights: Weights {
                time: 1,
                exchange_info: 10,
                klines: 1,
                ticker_24h_single: 1,
                ticker_24h_list: &[],
                ticker_24h_all: 40,
                book_ticker_single: 1,
                book_ticker_list: &[],
                book_ticker_all: 1,
                order_create: 1,
                order_test: 1,
                order_query: 2,
                order_cancel: 1,
                open_orders_single: 3,
                open_orders_all: 3,
                account: 10,
                my_trades: 10,
            },
            rate: RateBudget {
                weight_per_window: nz(500),
                window: Duration::from_secs(10),
                orders_per_window: None,
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
            intervals: MEXC_INTERVALS,
            errors: ErrorCodes {
                bad_symbol: &[-1121, 10007, 30014, 30021],
                not_found: &[-2011, -2013],
                // 602 signature verification failed, 10072 invalid access key, 700002
                // signature invalid, 700007 no permission for this endpoint. (700004 is a
                // missing or malformed parameter: a plain rejection, not an auth failure.)
                auth: &[-1022, -2015, 602, 10072, 700002, 700007],
                outcome_unknown: &[-1000, -1001, -1007],
                // 10073 invalid request time, 700003 timestamp outside recvWindow: resync.
                timestamp: &[-1021, 10073, 700003],
                rate_limited: &[-1003, 429],
                order_rate_limited: &[],
            },
            tif_style: TifStyle::OrderType,
            post_params: ParamPlacement::Query,
            order_resp_type: None,
            reports_partially_canceled: true,
            recv_window: Duration::from_millis(5000),
            backend_timeout: BACKEND_TIMEOUT,
            rate_scope: Scope::PerEndpoint,
            create_answer_has_status: false,
            waf_backoff: Duration::from_secs(60),
            max_trades: 100,
        }
    }

    /// The rules of `based_on` at another base URL (the simulator, a proxy). The venue name
    /// stays that of `based_on` unless changed with [`VenueProfile::with_name`].
    pub fn custom(base_url: impl Into<String>, based_on: VenueProfile) -> Self {
        let base_url: String = base_url.into();
        VenueProfile { base_url: base_url.trim_end_matches('/').to_owned(), ..based_on }
    }

    /// Renames the venue (the name appears in [`Capabilities::venue`] and in logs).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replaces the request budget: an account with higher limits, or a server (the simulator)
    /// configured with other ones. The limiter never lets more than this through per window.
    pub fn with_rate_budget(mut self, rate: RateBudget) -> Self {
        self.rate = rate;
        self
    }

    /// Sets the `recvWindow` sent with signed requests (1 ms to 60 s; Binance's maximum).
    pub fn with_recv_window(mut self, recv_window: Duration) -> Result<Self, crate::ClientError> {
        if recv_window.is_zero() || recv_window > Duration::from_secs(60) {
            return Err(crate::ClientError::InvalidConfig {
                field: "recv_window",
                value: format!("{recv_window:?}"),
                reason: "must be between 1 ms and 60 s",
            });
        }
        self.recv_window = recv_window;
        Ok(self)
    }

    /// Sets the venue's backend timeout: how long after a request's `recvWindow` the venue may
    /// still act on it (Binance: 10 s). With `recvWindow` it makes the acceptance window
    /// after which a "not found" proves an order absent ([`Capabilities::acceptance_window`]).
    /// A short one is for tests against the simulator configured likewise.
    pub fn with_backend_timeout(mut self, backend_timeout: Duration) -> Self {
        self.backend_timeout = backend_timeout;
        self
    }

    /// Sets the pause after an HTTP 403 (web application firewall) that carries no
    /// `Retry-After`.
    pub fn with_waf_backoff(mut self, backoff: Duration) -> Self {
        self.waf_backoff = backoff;
        self
    }

    /// The venue name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The venue family.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The venue's name for a candle interval; `None` when the venue has no such interval.
    pub fn interval_name(&self, interval: Interval) -> Option<&'static str> {
        self.intervals.iter().find(|(i, _)| *i == interval).map(|(_, n)| *n)
    }

    /// Maps a venue status text, taking the executed quantity into account: Binance reports a
    /// partly filled, then canceled order as `CANCELED`; the bot calls it `PartiallyCanceled`.
    pub(crate) fn order_status(&self, text: &str, has_fills: bool) -> Option<OrderStatus> {
        let status = match text {
            "NEW" | "PENDING_NEW" if has_fills => OrderStatus::PartiallyFilled,
            "NEW" | "PENDING_NEW" => OrderStatus::New,
            "PARTIALLY_FILLED" => OrderStatus::PartiallyFilled,
            "FILLED" => OrderStatus::Filled,
            // Binance documents PENDING_CANCEL as unused; if it appears the order still works.
            "PENDING_CANCEL" if has_fills => OrderStatus::PartiallyFilled,
            "PENDING_CANCEL" => OrderStatus::New,
            "CANCELED" if has_fills => OrderStatus::PartiallyCanceled,
            "CANCELED" => OrderStatus::Canceled,
            "PARTIALLY_CANCELED" if self.reports_partially_canceled && has_fills => {
                OrderStatus::PartiallyCanceled
            }
            "PARTIALLY_CANCELED" if self.reports_partially_canceled => OrderStatus::Canceled,
            "REJECTED" => OrderStatus::Rejected,
            "EXPIRED" | "EXPIRED_IN_MATCH" => OrderStatus::Expired,
            _ => return None,
        };
        Some(status)
    }

    /// The static facts the [`exchange::Exchange`] trait reports.
    pub fn capabilities(&self) -> Capabilities {
        let w = &self.weights;
        Capabilities {
            venue: self.name.clone(),
            bulk_book_ticker: true,
            ticker_list: !w.book_ticker_list.is_empty() || !w.ticker_24h_list.is_empty(),
            weights: EndpointWeights {
                book_ticker_single: w.book_ticker_single,
                book_ticker_all: w.book_ticker_all,
                ticker_24h_single: w.ticker_24h_single,
                ticker_24h_all: w.ticker_24h_all,
                klines: w.klines,
                create_order: w.order_create,
                cancel_order: w.order_cancel,
                fetch_order: w.order_query,
                open_orders_single: w.open_orders_single,
                account: w.account,
                exchange_info: w.exchange_info,
            },
            rate: self.rate,
            max_klines: self.max_klines,
            acceptance_window: self.recv_window + self.backend_timeout,
        }
    }
}

/// How long the venue's matching backend may take to act on an accepted request after its
/// `recvWindow` (Binance documents a 10 s backend timeout for order placement, after which the
/// outcome of a request it reported as unknown is settled).
const BACKEND_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_differ_in_data_not_code() {
        let b = VenueProfile::binance_spot();
        let m = VenueProfile::mexc_spot();
        assert_eq!(b.api_key_header, "X-MBX-APIKEY");
        assert_eq!(m.api_key_header, "X-MEXC-APIKEY");
        assert_eq!(b.interval_name(Interval::H1), Some("1h"));
        assert_eq!(m.interval_name(Interval::H1), Some("60m"));
        assert_eq!(m.interval_name(Interval::M3), None);
        assert!(b.capabilities().ticker_list);
        assert!(!m.capabilities().ticker_list);
        assert_eq!(b.capabilities().rate.weight_per_window.get(), 6000);
        assert_eq!(VenueProfile::binance_spot_testnet().base_url(), "https://testnet.binance.vision");
    }

    #[test]
    fn custom_keeps_rules_and_trims_the_url() {
        let p = VenueProfile::custom("http://127.0.0.1:9000/", VenueProfile::binance_spot()).with_name("sim");
        assert_eq!(p.base_url(), "http://127.0.0.1:9000");
        assert_eq!(p.name(), "sim");
        assert_eq!(p.weights, VenueProfile::binance_spot().weights);
    }

    #[test]
    fn binance_24h_list_weight_tiers() {
        let w = VenueProfile::binance_spot().weights;
        assert_eq!(Weights::tiered(w.ticker_24h_list, 1), Some(2));
        assert_eq!(Weights::tiered(w.ticker_24h_list, 20), Some(2));
        assert_eq!(Weights::tiered(w.ticker_24h_list, 21), Some(40));
        assert_eq!(Weights::tiered(w.ticker_24h_list, 101), Some(80));
        assert_eq!(Weights::tiered(VenueProfile::mexc_spot().weights.ticker_24h_list, 2), None);
    }

    #[test]
    fn status_mapping_handles_binance_canceled_with_fills() {
        let b = VenueProfile::binance_spot();
        assert_eq!(b.order_status("CANCELED", true), Some(OrderStatus::PartiallyCanceled));
        assert_eq!(b.order_status("CANCELED", false), Some(OrderStatus::Canceled));
        assert_eq!(b.order_status("EXPIRED_IN_MATCH", false), Some(OrderStatus::Expired));
        assert_eq!(b.order_status("WHATEVER", false), None);
        let m = VenueProfile::mexc_spot();
        assert_eq!(m.order_status("PARTIALLY_CANCELED", true), Some(OrderStatus::PartiallyCanceled));
        assert_eq!(b.order_status("PARTIALLY_CANCELED", true), None, "Binance never sends it");
    }

    #[test]
    fn recv_window_is_bounded() {
        assert!(VenueProfile::binance_spot().with_recv_window(Duration::from_secs(61)).is_err());
        assert_eq!(
            VenueProfile::binance_spot().with_recv_window(Duration::from_secs(10)).unwrap().recv_window,
            Duration::from_secs(10)
        );
    }
}
