//! Orders: requests, the venue's view of an order, its status, fills and balances.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::{Symbol, Timestamp, ValueError};

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Side {
    /// Buy the base asset with the quote asset.
    Buy,
    /// Sell the base asset for the quote asset.
    Sell,
}

impl Side {
    /// `BUY` or `SELL`, as venues spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an order executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    /// Execute now against the book at whatever price it offers.
    Market,
    /// Execute at the limit price or better; may rest on the book.
    Limit,
    /// A limit order that is rejected instead of executing immediately (post-only).
    LimitMaker,
}

impl OrderType {
    /// `MARKET`, `LIMIT` or `LIMIT_MAKER`.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderType::Market => "MARKET",
            OrderType::Limit => "LIMIT",
            OrderType::LimitMaker => "LIMIT_MAKER",
        }
    }
}

impl fmt::Display for OrderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long a limit order stays on the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TimeInForce {
    /// Good till canceled.
    Gtc,
    /// Immediate or cancel: fill what can be filled now, cancel the rest.
    Ioc,
    /// Fill or kill: fill completely now or not at all.
    Fok,
}

impl TimeInForce {
    /// `GTC`, `IOC` or `FOK`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
        }
    }
}

/// Lifecycle state of an order as the venue reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Accepted, nothing filled yet.
    New,
    /// Some quantity filled, the rest still working.
    PartiallyFilled,
    /// Completely filled (terminal).
    Filled,
    /// Canceled with nothing filled (terminal).
    Canceled,
    /// Canceled after a partial fill (terminal; MEXC reports it, Binance says CANCELED with a
    /// non-zero executed quantity, which clients map here).
    PartiallyCanceled,
    /// Refused by the venue (terminal).
    Rejected,
    /// Expired by its time in force or by the venue (terminal).
    Expired,
}

impl OrderStatus {
    /// True when the order can no longer change.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, OrderStatus::New | OrderStatus::PartiallyFilled)
    }

    /// True when the order may still fill.
    pub const fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// Whether a venue may report `next` after `self`. Terminal states never change (a repeat of
    /// the same state is fine); an open order can move to any state except, after a partial
    /// fill, back to `New` or to a plain `Canceled` (it becomes `PartiallyCanceled`).
    pub const fn can_become(self, next: OrderStatus) -> bool {
        if self.is_terminal() {
            return self as u8 == next as u8;
        }
        !matches!(
            (self, next),
            (OrderStatus::PartiallyFilled, OrderStatus::New)
                | (OrderStatus::PartiallyFilled, OrderStatus::Canceled)
        )
    }

    /// The venue spelling (`NEW`, `PARTIALLY_FILLED`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::PartiallyCanceled => "PARTIALLY_CANCELED",
            OrderStatus::Rejected => "REJECTED",
            OrderStatus::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id a venue assigned to an order. Kept as text: Binance uses integers, MEXC strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(pub String);

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id the bot assigns to an order before sending it, so that an order whose submission
/// outcome is unknown (timeout) can be found again instead of being sent twice.
///
/// Validated to Binance's rule `^[.A-Z:/a-z0-9_-]{1,36}$`, which MEXC also accepts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientOrderId(String);

impl ClientOrderId {
    /// Validates and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, ValueError> {
        let id = id.into();
        let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'/' | b'_' | b'-');
        if id.is_empty() || id.len() > 36 || !id.bytes().all(ok_char) {
            return Err(ValueError {
                what: "client order id",
                value: id,
                reason: "1-36 characters of A-Z a-z 0-9 . : / _ -",
            });
        }
        Ok(ClientOrderId(id))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClientOrderId {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClientOrderId::new(s)
    }
}

impl<'de> Deserialize<'de> for ClientOrderId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ClientOrderId::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to find an order on the venue: by the venue's id or by the client id we gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderRef {
    /// The venue's id.
    Exchange(OrderId),
    /// Our client order id.
    Client(ClientOrderId),
}

/// An order the bot wants placed. Build it with [`OrderRequest::market`] or
/// [`OrderRequest::limit`]; prices and quantities should already be rounded with
/// [`crate::MarketRules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The market.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit or limit-maker.
    pub order_type: OrderType,
    /// Base-asset quantity.
    pub quantity: Decimal,
    /// Limit price (`None` for market orders).
    pub price: Option<Decimal>,
    /// Time in force for limit orders (`None` for market and limit-maker orders).
    pub time_in_force: Option<TimeInForce>,
    /// Our id for the order; the key for idempotent lookups.
    pub client_order_id: ClientOrderId,
}

impl OrderRequest {
    /// A market order for `quantity` of the base asset.
    pub fn market(symbol: Symbol, side: Side, quantity: Decimal, client_order_id: ClientOrderId) -> Self {
        OrderRequest {
            symbol,
            side,
            order_type: OrderType::Market,
            quantity,
            price: None,
            time_in_force: None,
            client_order_id,
        }
    }

    /// A limit order at `price`.
    pub fn limit(
        symbol: Symbol,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        time_in_force: TimeInForce,
        client_order_id: ClientOrderId,
    ) -> Self {
        OrderRequest {
            symbol,
            side,
            order_type: OrderType::Limit,
            quantity,
            price: Some(price),
            time_in_force: Some(time_in_force),
            client_order_id,
        }
    }
}

/// An order as the venue knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The venue's id.
    pub id: OrderId,
    /// Our client order id.
    pub client_order_id: ClientOrderId,
    /// The market.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Market, limit or limit-maker.
    pub order_type: OrderType,
    /// Current status.
    pub status: OrderStatus,
    /// Limit price (`None` for market orders).
    pub price: Option<Decimal>,
    /// Requested base quantity.
    pub quantity: Decimal,
    /// Base quantity filled so far.
    pub filled_quantity: Decimal,
    /// Quote amount spent or received so far (`sum(price * qty)` of the fills).
    pub cumulative_quote: Decimal,
    /// When the venue accepted the order.
    pub created_at: Timestamp,
    /// When the venue last changed it.
    pub updated_at: Timestamp,
}

impl Order {
    /// Average fill price, when something was filled and the quotient fits a `Decimal`
    /// (checked: absurd venue values give `None`, never a panic).
    pub fn average_price(&self) -> Option<Decimal> {
        if self.filled_quantity <= Decimal::ZERO {
            return None;
        }
        self.cumulative_quote.checked_div(self.filled_quantity)
    }

    /// Quantity still to fill (zero for terminal orders).
    pub fn remaining_quantity(&self) -> Decimal {
        if self.status.is_terminal() {
            Decimal::ZERO
        } else {
            (self.quantity - self.filled_quantity).max(Decimal::ZERO)
        }
    }
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The venue's id of this trade (unique within its market): the key that deduplicates fills
    /// read twice (live tracking, then reconciliation).
    pub trade_id: String,
    /// The order it belongs to.
    pub order_id: OrderId,
    /// The market.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Execution price.
    pub price: Decimal,
    /// Base quantity executed.
    pub quantity: Decimal,
    /// Fee charged.
    pub fee: Decimal,
    /// Asset the fee was charged in.
    pub fee_asset: String,
    /// When it happened.
    pub ts: Timestamp,
}

/// Holdings of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Asset code (`USDT`).
    pub asset: String,
    /// Available to trade.
    pub free: Decimal,
    /// Held by open orders.
    pub locked: Decimal,
}

impl Balance {
    /// `free + locked`.
    pub fn total(&self) -> Decimal {
        self.free + self.locked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn client_order_id_follows_binance_rule() {
        assert!(ClientOrderId::new("drop-BTCUSDT-1700000000000-1").is_ok());
        assert!(ClientOrderId::new("a.b:c/d_e-F9").is_ok());
        for bad in ["", "has space", "é", &"x".repeat(37)] {
            let err = ClientOrderId::new(bad).unwrap_err();
            assert_eq!(err.what, "client order id");
        }
        assert!(serde_json::from_str::<ClientOrderId>("\"bad id\"").is_err());
    }

    #[test]
    fn status_terminality_and_transitions() {
        use OrderStatus::*;
        for s in [Filled, Canceled, PartiallyCanceled, Rejected, Expired] {
            assert!(s.is_terminal());
            assert!(!s.can_become(New));
            assert!(s.can_become(s));
        }
        assert!(New.can_become(PartiallyFilled));
        assert!(New.can_become(Filled));
        assert!(PartiallyFilled.can_become(PartiallyCanceled));
        assert!(!PartiallyFilled.can_become(New));
        assert!(!PartiallyFilled.can_become(Canceled));
        assert_eq!(serde_json::to_string(&PartiallyCanceled).unwrap(), "\"PARTIALLY_CANCELED\"");
    }

    #[test]
    fn order_average_and_remaining() {
        let mut o = Order {
            id: OrderId("1".into()),
            client_order_id: ClientOrderId::new("c1").unwrap(),
            symbol: "BTC/USDT".parse().unwrap(),
            side: Side::Buy,
            order_type: OrderType::Limit,
            status: OrderStatus::PartiallyFilled,
            price: Some(dec!(100)),
            quantity: dec!(2),
            filled_quantity: dec!(0.5),
            cumulative_quote: dec!(49.5),
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        };
        assert_eq!(o.average_price(), Some(dec!(99)));
        assert_eq!(o.remaining_quantity(), dec!(1.5));
        o.status = OrderStatus::PartiallyCanceled;
        assert_eq!(o.remaining_quantity(), dec!(0));
    }

    #[test]
    fn average_price_of_absurd_venue_values_is_none_not_a_panic() {
        let o = Order {
            id: OrderId("1".into()),
            client_order_id: ClientOrderId::new("c1").unwrap(),
            symbol: "BTC/USDT".parse().unwrap(),
            side: Side::Buy,
            order_type: OrderType::Market,
            status: OrderStatus::Filled,
            price: None,
            quantity: dec!(1),
            // Division overflowed (and panicked) before.
            filled_quantity: Decimal::new(1, 28),
            cumulative_quote: Decimal::MAX,
            created_at: Timestamp::EPOCH,
            updated_at: Timestamp::EPOCH,
        };
        assert_eq!(o.average_price(), None);
        let q = Order { filled_quantity: Decimal::ZERO, ..o };
        assert_eq!(q.average_price(), None);
    }
}
