//! The trait's default methods and object safety, exercised through a minimal in-memory venue.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange::{Capabilities, EndpointWeights, Exchange, ExchangeError, OhlcvRequest, RateBudget};
use rust_decimal_macros::dec;
use trading_core::{
    Balance, Candle, ClientOrderId, MarketRules, Order, OrderId, OrderRef, OrderRequest, OrderStatus,
    OrderType, Quote, Side, Symbol, Timestamp,
};

/// Knows one market and one order with client id `known`.
struct OneMarket;

fn btc() -> Symbol {
    "BTC/USDT".parse().unwrap()
}

fn order(cid: &ClientOrderId) -> Order {
    Order {
        id: OrderId("7".into()),
        client_order_id: cid.clone(),
        symbol: btc(),
        side: Side::Buy,
        order_type: OrderType::Market,
        status: OrderStatus::Filled,
        price: None,
        quantity: dec!(1),
        filled_quantity: dec!(1),
        cumulative_quote: dec!(100),
        created_at: Timestamp::EPOCH,
        updated_at: Timestamp::EPOCH,
    }
}

#[async_trait]
impl Exchange for OneMarket {
    fn capabilities(&self) -> Capabilities {
        let w = 1;
        Capabilities {
            venue: "one".into(),
            bulk_book_ticker: true,
            ticker_list: true,
            weights: EndpointWeights {
                book_ticker_single: w,
                book_ticker_all: w,
                ticker_24h_single: w,
                ticker_24h_all: w,
                klines: w,
                create_order: w,
                cancel_order: w,
                fetch_order: w,
                open_orders_single: w,
                account: w,
                exchange_info: w,
            },
            rate: RateBudget {
                weight_per_window: NonZeroU32::MIN,
                window: Duration::from_secs(60),
                orders_per_window: None,
                order_window: Duration::from_secs(10),
            },
            max_klines: 1000,
        }
    }
    async fn load_markets(&self) -> Result<Vec<MarketRules>, ExchangeError> {
        Ok(vec![MarketRules::builder(btc(), "BTCUSDT").build().unwrap()])
    }
    async fn fetch_tickers(&self, symbols: Option<&[Symbol]>) -> Result<Vec<Quote>, ExchangeError> {
        let all = vec![Quote {
            symbol: btc(),
            bid: Some(dec!(1)),
            ask: Some(dec!(2)),
            last: None,
            quote_volume_24h: None,
            exchange_ts: None,
            received_at: Timestamp::EPOCH,
        }];
        match symbols {
            Some(list) if list.iter().any(|s| *s != btc()) => {
                Err(ExchangeError::BadSymbol { symbol: list[0].to_string(), message: "unknown".into() })
            }
            _ => Ok(all),
        }
    }
    async fn fetch_ohlcv(&self, _: &OhlcvRequest) -> Result<Vec<Candle>, ExchangeError> {
        Ok(vec![])
    }
    async fn create_order(&self, r: &OrderRequest) -> Result<Order, ExchangeError> {
        Ok(order(&r.client_order_id))
    }
    async fn cancel_order(&self, _: &Symbol, o: &OrderRef) -> Result<Order, ExchangeError> {
        Err(ExchangeError::OrderNotFound(format!("{o:?}")))
    }
    async fn fetch_order(&self, _: &Symbol, o: &OrderRef) -> Result<Order, ExchangeError> {
        match o {
            OrderRef::Client(c) if c.as_str() == "known" => Ok(order(c)),
            OrderRef::Client(c) if c.as_str() == "flaky" => Err(ExchangeError::Unavailable {
                operation: "fetch_order",
                message: "503".into(),
                client_order_id: None,
            }),
            other => Err(ExchangeError::OrderNotFound(format!("{other:?}"))),
        }
    }
    async fn fetch_open_orders(&self, _: Option<&Symbol>) -> Result<Vec<Order>, ExchangeError> {
        Ok(vec![])
    }
    async fn fetch_balances(&self) -> Result<Vec<Balance>, ExchangeError> {
        Ok(vec![])
    }
    async fn server_time(&self) -> Result<Timestamp, ExchangeError> {
        Ok(Timestamp::EPOCH)
    }
}

#[tokio::test]
async fn fetch_ticker_default_uses_the_list_endpoint() {
    let venue: Arc<dyn Exchange> = Arc::new(OneMarket);
    assert_eq!(venue.fetch_ticker(&btc()).await.unwrap().bid, Some(dec!(1)));
    let err = venue.fetch_ticker(&"ETH/USDT".parse().unwrap()).await.unwrap_err();
    assert!(matches!(err, ExchangeError::BadSymbol { ref symbol, .. } if symbol == "ETH/USDT"), "{err}");
}

#[tokio::test]
async fn resolve_order_distinguishes_absent_from_unknown() {
    let venue: Arc<dyn Exchange> = Arc::new(OneMarket);
    let known = ClientOrderId::new("known").unwrap();
    assert_eq!(venue.resolve_order(&btc(), &known).await.unwrap().unwrap().id, OrderId("7".into()));
    let absent = ClientOrderId::new("never-sent").unwrap();
    assert_eq!(venue.resolve_order(&btc(), &absent).await.unwrap(), None);
    // A lookup that itself fails must not be read as "the order does not exist".
    let flaky = ClientOrderId::new("flaky").unwrap();
    assert!(venue.resolve_order(&btc(), &flaky).await.is_err());
}
