//! The `Exchange` trait: the contract every venue client fulfils.

use async_trait::async_trait;
use trading_core::{
    Balance, Candle, ClientOrderId, Interval, MarketRules, Order, OrderRef, OrderRequest, Quote, Symbol,
    Timestamp,
};

use crate::{Capabilities, ExchangeError};

/// A candle query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OhlcvRequest {
    /// The market.
    pub symbol: Symbol,
    /// Candle width.
    pub interval: Interval,
    /// First candle to return (open time at or after), or `None` for the most recent ones.
    pub since: Option<Timestamp>,
    /// Most candles to return; clients clamp it to [`Capabilities::max_klines`].
    pub limit: u32,
}

/// A spot trading venue.
///
/// Object safe: the bot holds an `Arc<dyn Exchange>`. All methods are `&self` and may be called
/// concurrently; implementations do their own rate limiting and must never send a request they
/// know the venue will refuse for weight.
///
/// **Cancellation:** dropping a returned future cancels the wait, not necessarily the request.
/// A dropped `create_order` has an unknown outcome exactly like a timeout.
///
/// **Errors:** every method returns [`ExchangeError`]; its variant tells the caller what to do.
/// In particular a `create_order` that fails with [`ExchangeError::is_outcome_unknown`] must be
/// resolved with [`Exchange::resolve_order`] (lookup by client order id), never resubmitted blind.
#[async_trait]
pub trait Exchange: Send + Sync {
    /// Static facts about the venue: bulk endpoints, weights, budget. No IO.
    fn capabilities(&self) -> Capabilities;

    /// All spot markets with their rules and status. Idempotent; call at start-up and
    /// periodically (markets get delisted). Symbols in `BREAK`/`HALT` are included with that
    /// status so the caller can skip them knowingly.
    async fn load_markets(&self) -> Result<Vec<MarketRules>, ExchangeError>;

    /// Top-of-book quotes for `symbols`, or for every market when `None`, using the cheapest
    /// endpoint the venue has for the request. Symbols the venue does not know fail the whole
    /// call with [`ExchangeError::BadSymbol`] naming one of them (venues reject the batch).
    async fn fetch_tickers(&self, symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError>;

    /// One market's quote. Default: `fetch_tickers` with a one-element list.
    async fn fetch_ticker(&self, symbol: &Symbol) -> Result<Quote, ExchangeError> {
        let quotes = self.fetch_tickers(Some(std::slice::from_ref(symbol))).await?;
        quotes.into_iter().find(|q| &q.symbol == symbol).ok_or_else(|| ExchangeError::BadSymbol {
            symbol: symbol.to_string(),
            message: "venue returned no quote for it".into(),
        })
    }

    /// Candles, oldest first. Idempotent.
    async fn fetch_ohlcv(&self, request: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError>;

    /// Places an order. **Not idempotent by itself**: the client order id makes it resolvable.
    /// A duplicate client order id is [`ExchangeError::Rejected`]. On a timeout or an
    /// unavailable venue the error carries the client order id and
    /// [`ExchangeError::is_outcome_unknown`] is true.
    async fn create_order(&self, request: &OrderRequest) -> Result<Order, ExchangeError>;

    /// Cancels an open order and returns its final state. Canceling an order that already
    /// reached a terminal state gives [`ExchangeError::OrderNotFound`] on most venues: fetch it
    /// to learn how it ended.
    async fn cancel_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError>;

    /// One order's current state, by venue id or client order id. Idempotent.
    async fn fetch_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError>;

    /// Open orders of one market, or of all markets when `None` (expensive on most venues).
    async fn fetch_open_orders(&self, symbol: Option<&Symbol>) -> Result<Vec<Order>, ExchangeError>;

    /// Non-zero balances of the account.
    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError>;

    /// The venue's clock.
    async fn server_time(&self) -> Result<Timestamp, ExchangeError>;

    /// Resolves an order whose submission outcome is unknown: `Ok(Some(order))` if the venue has
    /// it, `Ok(None)` if it certainly does not. Default: [`Exchange::fetch_order`] by client id.
    async fn resolve_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
    ) -> Result<Option<Order>, ExchangeError> {
        match self.fetch_order(symbol, &OrderRef::Client(client_order_id.clone())).await {
            Ok(order) => Ok(Some(order)),
            Err(ExchangeError::OrderNotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
