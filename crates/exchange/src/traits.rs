//! The `Exchange` trait: the contract every venue client fulfils.

use async_trait::async_trait;
use trading_core::{
    Balance, Candle, ClientOrderId, Fill, Interval, MarketRules, Order, OrderId, OrderRef, OrderRequest,
    Quote, Symbol, Timestamp,
};

use crate::{Capabilities, ExchangeError};

/// One entry of a venue's list answer that the bot cannot represent (a market whose name is not
/// a valid [`Symbol`], an order of a type or status the vocabulary does not know). Such entries
/// are skipped and named, never fatal to the rest of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The venue's name for the entry (market id, or `SYMBOL#orderId`).
    pub venue_name: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The answer of [`Exchange::load_markets`]: every market the bot can represent, and the
/// listings it skipped (so the caller can report them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketList {
    /// Markets with their rules and status, in the venue's order.
    pub markets: Vec<MarketRules>,
    /// Listings the bot cannot represent.
    pub skipped: Vec<SkippedEntry>,
}

/// The answer of [`Exchange::fetch_open_orders`]: the orders understood, and the ones skipped
/// (for example a STOP_LOSS_LIMIT order placed by hand), so one unusual order never hides the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOrders {
    /// Open orders the bot understands.
    pub orders: Vec<Order>,
    /// Open orders it could not represent.
    pub unrecognised: Vec<SkippedEntry>,
}

/// A query for the account's own trades in one market ([`Exchange::fetch_fills`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillQuery {
    /// The market (venues answer per symbol).
    pub symbol: Symbol,
    /// Only trades at or after this time.
    pub since: Option<Timestamp>,
    /// Only the trades of this order.
    pub order_id: Option<OrderId>,
    /// Most trades to return; clients clamp it to the venue's maximum.
    pub limit: u32,
}

/// How an order with an unknown submission outcome was resolved ([`Exchange::resolve_order`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderResolution {
    /// The venue has the order (in whatever state it is now).
    Found(Order),
    /// The venue's acceptance window for the request has passed and lookups sent after it
    /// still answered "not found": the order was never created. Only now may the caller release
    /// what it reserved (and, if it still wants the trade, send a new order under a **new**
    /// client order id).
    Absent,
}

impl OrderResolution {
    /// The order, when the venue has it.
    pub fn found(self) -> Option<Order> {
        match self {
            OrderResolution::Found(order) => Some(order),
            OrderResolution::Absent => None,
        }
    }
}

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
///
/// **Unknown outcomes and client order ids (venue rules the trait relies on):**
/// - A lookup that answers "not found" right after a submission proves nothing: Binance answers
///   `-2013` for seconds after accepting an order. Absence is certain only for a lookup *sent*
///   after the venue's acceptance window (request timestamp + `recvWindow` + the venue's backend
///   timeout, [`Capabilities::acceptance_window`]) has passed.
/// - A duplicate client order id is rejected only while the earlier order with that id is
///   **open**. Binance documents `newClientOrderId` as "a unique id among open orders" that is
///   accepted again once the previous order is filled; an order that is no longer open
///   (filled, canceled, expired) does not block it. A timed-out market buy fills within
///   milliseconds, so resending it under the same id is *not* safe: it executes twice. Only
///   [`OrderResolution::Absent`] (after the acceptance window) allows a new order, and then
///   under a new id.
#[async_trait]
pub trait Exchange: Send + Sync {
    /// Static facts about the venue: bulk endpoints, weights, budget. No IO.
    fn capabilities(&self) -> Capabilities;

    /// All spot markets with their rules and status. Idempotent; call at start-up and
    /// periodically (markets get delisted). Symbols in `BREAK`/`HALT` are included with that
    /// status so the caller can skip them knowingly. Listings the vocabulary cannot represent
    /// (non-ASCII names, ...) are returned in [`MarketList::skipped`], never as an error.
    async fn load_markets(&self) -> Result<MarketList, ExchangeError>;

    /// Top-of-book quotes for `symbols`, or for every market when `None`, using the cheapest
    /// endpoint the venue has for the request. Symbols the venue does not know fail the whole
    /// call with [`ExchangeError::BadSymbol`] naming at most one symbol: the one the venue named,
    /// or an empty `symbol` when the venue did not say which (the caller splits the batch).
    /// A zero or missing bid, ask or last is `None` in the quote (idle or halted market).
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
    /// A client order id equal to that of an *open* order is [`ExchangeError::Rejected`]; the id
    /// of a filled or canceled order may be accepted again (see the trait docs). On a timeout or
    /// an unavailable venue the error carries the client order id and
    /// [`ExchangeError::is_outcome_unknown`] is true. A venue whose answer does not say the
    /// order's status (MEXC) is followed by a query; the order is never reported as "new, 0
    /// filled" without the venue saying so.
    async fn create_order(&self, request: &OrderRequest) -> Result<Order, ExchangeError>;

    /// Validates an order without placing it (Binance `POST /api/v3/order/test`): the venue
    /// checks the signature, the permissions, the symbol and the filters, and creates nothing.
    /// `Ok(())` means the same request would be accepted for matching now. Idempotent; used by
    /// the bot's preflight before real money. Default: [`ExchangeError::InvalidRequest`] for a
    /// venue that cannot validate orders.
    async fn test_order(&self, request: &OrderRequest) -> Result<(), ExchangeError> {
        Err(ExchangeError::InvalidRequest(format!(
            "{} cannot validate an order without placing it ({})",
            self.capabilities().venue,
            request.client_order_id
        )))
    }

    /// Cancels an open order and returns its final state. Canceling an order that already
    /// reached a terminal state gives [`ExchangeError::OrderNotFound`] on most venues: fetch it
    /// to learn how it ended.
    async fn cancel_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError>;

    /// One order's current state, by venue id or client order id. Idempotent.
    async fn fetch_order(&self, symbol: &Symbol, order: &OrderRef) -> Result<Order, ExchangeError>;

    /// Open orders of one market, or of all markets when `None` (expensive on most venues).
    /// Orders of a type or status the vocabulary does not know are listed in
    /// [`OpenOrders::unrecognised`]; the rest are returned.
    async fn fetch_open_orders(&self, symbol: Option<&Symbol>) -> Result<OpenOrders, ExchangeError>;

    /// The account's own trades in one market (price, quantity, fee and fee asset), oldest
    /// first: the order router accounts fees from them and reconciles fills that happened while
    /// it was down. Idempotent.
    async fn fetch_fills(&self, query: &FillQuery) -> Result<Vec<Fill>, ExchangeError>;

    /// Non-zero balances of the account.
    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError>;

    /// The venue's clock.
    async fn server_time(&self) -> Result<Timestamp, ExchangeError>;

    /// Resolves an order whose submission outcome is unknown (a `create_order` that timed out,
    /// failed with 5xx, or whose future was dropped), `sent_at` being the request's timestamp.
    ///
    /// Looks the client order id up repeatedly until the venue's acceptance window after
    /// `sent_at` has passed ([`Capabilities::acceptance_window`]): [`OrderResolution::Found`] as
    /// soon as the venue shows the order, [`OrderResolution::Absent`] only when a lookup sent
    /// after the window still answers "not found". Transient errors are retried within a bounded
    /// time; when that runs out the error is returned and the outcome stays unknown (keep the
    /// reservation, try again later). Implementations share [`crate::resolve_by_lookup`].
    async fn resolve_order(
        &self,
        symbol: &Symbol,
        client_order_id: &ClientOrderId,
        sent_at: Timestamp,
    ) -> Result<OrderResolution, ExchangeError>;
}
