//! Binance spot REST v3 JSON shapes, field for field as in Binance's documentation examples.

use rust_decimal::Decimal;
use serde::Serialize;
use trading_core::{MarketRules, OrderStatus};

use crate::market::{Kline, Stats24h, Top};
use crate::venue::{FillRec, OrderRec};

/// A decimal as Binance writes it: a string with 8 decimals.
pub(crate) fn d8(d: Decimal) -> String {
    let mut r = d.round_dp(8);
    r.rescale(8);
    r.to_string()
}

/// Binance has no PARTIALLY_CANCELED: a canceled order with fills is CANCELED with a non-zero
/// executed quantity.
pub(crate) fn status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::PartiallyCanceled => "CANCELED",
        other => other.as_str(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerTime {
    pub(crate) server_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PriceTicker<'a> {
    symbol: &'a str,
    price: String,
}

impl<'a> PriceTicker<'a> {
    pub(crate) fn new(symbol: &'a str, top: &Top) -> Self {
        PriceTicker { symbol, price: d8(top.last) }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BookTicker<'a> {
    symbol: &'a str,
    bid_price: String,
    bid_qty: String,
    ask_price: String,
    ask_qty: String,
}

impl<'a> BookTicker<'a> {
    pub(crate) fn new(symbol: &'a str, top: &Top) -> Self {
        BookTicker {
            symbol,
            bid_price: d8(top.bid),
            bid_qty: d8(top.bid_qty),
            ask_price: d8(top.ask),
            ask_qty: d8(top.ask_qty),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ticker24hFull<'a> {
    symbol: &'a str,
    price_change: String,
    price_change_percent: String,
    weighted_avg_price: String,
    prev_close_price: String,
    last_price: String,
    last_qty: String,
    bid_price: String,
    bid_qty: String,
    ask_price: String,
    ask_qty: String,
    open_price: String,
    high_price: String,
    low_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: i64,
    last_id: i64,
    count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Ticker24hMini<'a> {
    symbol: &'a str,
    open_price: String,
    high_price: String,
    low_price: String,
    last_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: i64,
    last_id: i64,
    count: u64,
}

impl<'a> Ticker24hFull<'a> {
    pub(crate) fn new(symbol: &'a str, s: &Stats24h, top: &Top) -> Self {
        let change = s.last - s.open;
        let pct = if s.open.is_zero() { Decimal::ZERO } else { change / s.open * Decimal::ONE_HUNDRED };
        let mut pct = pct.round_dp(3);
        pct.rescale(3);
        let wavg = if s.volume.is_zero() { s.last } else { s.quote_volume / s.volume };
        Ticker24hFull {
            symbol,
            price_change: d8(change),
            price_change_percent: pct.to_string(),
            weighted_avg_price: d8(wavg),
            prev_close_price: d8(s.open),
            last_price: d8(s.last),
            last_qty: d8(top.last_qty),
            bid_price: d8(top.bid),
            bid_qty: d8(top.bid_qty),
            ask_price: d8(top.ask),
            ask_qty: d8(top.ask_qty),
            open_price: d8(s.open),
            high_price: d8(s.high),
            low_price: d8(s.low),
            volume: d8(s.volume),
            quote_volume: d8(s.quote_volume),
            open_time: s.open_time,
            close_time: s.close_time,
            first_id: s.first_id,
            last_id: s.last_id,
            count: s.count,
        }
    }
}

impl<'a> Ticker24hMini<'a> {
    pub(crate) fn new(symbol: &'a str, s: &Stats24h) -> Self {
        Ticker24hMini {
            symbol,
            open_price: d8(s.open),
            high_price: d8(s.high),
            low_price: d8(s.low),
            last_price: d8(s.last),
            volume: d8(s.volume),
            quote_volume: d8(s.quote_volume),
            open_time: s.open_time,
            close_time: s.close_time,
            first_id: s.first_id,
            last_id: s.last_id,
            count: s.count,
        }
    }
}

/// A kline row: `[openTime, "o", "h", "l", "c", "v", closeTime, "qv", trades, "tbv", "tbqv", "0"]`.
pub(crate) type KlineRow =
    (i64, String, String, String, String, String, i64, String, u64, String, String, String);

pub(crate) fn kline_row(k: &Kline) -> KlineRow {
    (
        k.open_time,
        d8(k.open),
        d8(k.high),
        d8(k.low),
        d8(k.close),
        d8(k.volume),
        k.close_time,
        d8(k.quote_volume),
        k.trades,
        d8(k.taker_buy_volume),
        d8(k.taker_buy_quote_volume),
        "0".to_owned(),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RateLimit {
    pub(crate) rate_limit_type: &'static str,
    pub(crate) interval: &'static str,
    pub(crate) interval_num: u32,
    pub(crate) limit: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeInfo {
    pub(crate) timezone: &'static str,
    pub(crate) server_time: i64,
    pub(crate) rate_limits: Vec<RateLimit>,
    pub(crate) exchange_filters: Vec<serde_json::Value>,
    pub(crate) symbols: Vec<SymbolInfo>,
    /// Smart order routing groups: none on the simulated venue.
    pub(crate) sors: Vec<serde_json::Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SymbolInfo {
    symbol: String,
    status: &'static str,
    base_asset: String,
    base_asset_precision: u32,
    quote_asset: String,
    quote_precision: u32,
    quote_asset_precision: u32,
    base_commission_precision: u32,
    quote_commission_precision: u32,
    order_types: [&'static str; 3],
    iceberg_allowed: bool,
    oco_allowed: bool,
    oto_allowed: bool,
    opo_allowed: bool,
    quote_order_qty_market_allowed: bool,
    allow_trailing_stop: bool,
    cancel_replace_allowed: bool,
    amend_allowed: bool,
    peg_instructions_allowed: bool,
    is_spot_trading_allowed: bool,
    is_margin_trading_allowed: bool,
    filters: Vec<serde_json::Value>,
    permissions: Vec<&'static str>,
    permission_sets: [[&'static str; 1]; 1],
    default_self_trade_prevention_mode: &'static str,
    allowed_self_trade_prevention_modes: [&'static str; 1],
}

impl SymbolInfo {
    pub(crate) fn new(r: &MarketRules) -> Self {
        let filters = vec![
            serde_json::json!({"filterType": "PRICE_FILTER", "minPrice": d8(r.min_price), "maxPrice": d8(r.max_price), "tickSize": d8(r.tick_size)}),
            serde_json::json!({"filterType": "LOT_SIZE", "minQty": d8(r.min_qty), "maxQty": d8(r.max_qty), "stepSize": d8(r.step_size)}),
            serde_json::json!({"filterType": "MARKET_LOT_SIZE", "minQty": d8(Decimal::ZERO), "maxQty": d8(r.max_qty), "stepSize": d8(Decimal::ZERO)}),
            serde_json::json!({"filterType": "NOTIONAL", "minNotional": d8(r.min_notional), "applyMinToMarket": true, "maxNotional": d8(r.max_notional), "applyMaxToMarket": false, "avgPriceMins": 5}),
            serde_json::json!({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200}),
        ];
        SymbolInfo {
            symbol: r.venue_id.clone(),
            status: r.status.as_str(),
            base_asset: r.symbol.base().to_owned(),
            base_asset_precision: 8,
            quote_asset: r.symbol.quote().to_owned(),
            quote_precision: 8,
            quote_asset_precision: 8,
            base_commission_precision: 8,
            quote_commission_precision: 8,
            order_types: ["LIMIT", "LIMIT_MAKER", "MARKET"],
            iceberg_allowed: false,
            oco_allowed: false,
            oto_allowed: false,
            opo_allowed: false,
            quote_order_qty_market_allowed: false,
            allow_trailing_stop: false,
            cancel_replace_allowed: false,
            amend_allowed: false,
            peg_instructions_allowed: false,
            is_spot_trading_allowed: true,
            is_margin_trading_allowed: false,
            filters,
            permissions: Vec::new(),
            permission_sets: [["SPOT"]],
            default_self_trade_prevention_mode: "NONE",
            allowed_self_trade_prevention_modes: ["NONE"],
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderAck<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
}

/// The order-state fields that the new-order (RESULT/FULL), query and cancel responses share.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderState {
    price: String,
    orig_qty: String,
    executed_qty: String,
    orig_quote_order_qty: String,
    cummulative_quote_qty: String,
    status: &'static str,
    time_in_force: &'static str,
    #[serde(rename = "type")]
    order_type: &'static str,
    side: &'static str,
}

impl OrderState {
    fn new(o: &OrderRec) -> Self {
        OrderState {
            price: d8(o.order.price.unwrap_or_default()),
            orig_qty: d8(o.order.quantity),
            executed_qty: d8(o.order.filled_quantity),
            orig_quote_order_qty: d8(Decimal::ZERO),
            cummulative_quote_qty: d8(o.order.cumulative_quote),
            status: status(o.order.status),
            time_in_force: o.time_in_force.as_str(),
            order_type: o.order.order_type.as_str(),
            side: o.order.side.as_str(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrderResult<'a> {
    #[serde(flatten)]
    ack: OrderAck<'a>,
    #[serde(flatten)]
    state: OrderState,
    working_time: i64,
    self_trade_prevention_mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fills: Option<Vec<FillJson>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FillJson {
    price: String,
    qty: String,
    commission: String,
    commission_asset: String,
    trade_id: u64,
}

impl FillJson {
    fn new(f: &FillRec) -> Self {
        FillJson {
            price: d8(f.price),
            qty: d8(f.qty),
            commission: d8(f.commission),
            commission_asset: f.commission_asset.clone(),
            trade_id: f.trade_id,
        }
    }
}

/// `newOrderRespType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RespType {
    Ack,
    Result,
    Full,
}

pub(crate) fn new_order(o: &OrderRec, resp: RespType) -> serde_json::Result<String> {
    let ack = OrderAck {
        symbol: &o.venue_id,
        order_id: o.numeric_id(),
        order_list_id: -1,
        client_order_id: o.order.client_order_id.as_str(),
        transact_time: o.order.created_at.as_millis(),
    };
    if resp == RespType::Ack {
        return serde_json::to_string(&ack);
    }
    let fills = (resp == RespType::Full).then(|| o.fills.iter().map(FillJson::new).collect());
    serde_json::to_string(&OrderResult {
        ack,
        state: OrderState::new(o),
        working_time: o.order.created_at.as_millis(),
        self_trade_prevention_mode: "NONE",
        fills,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueryOrder<'a> {
    symbol: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    #[serde(flatten)]
    state: OrderState,
    stop_price: String,
    iceberg_qty: String,
    time: i64,
    update_time: i64,
    is_working: bool,
    working_time: i64,
    self_trade_prevention_mode: &'static str,
}

impl<'a> QueryOrder<'a> {
    pub(crate) fn new(o: &'a OrderRec) -> Self {
        QueryOrder {
            symbol: &o.venue_id,
            order_id: o.numeric_id(),
            order_list_id: -1,
            client_order_id: o.order.client_order_id.as_str(),
            state: OrderState::new(o),
            stop_price: d8(Decimal::ZERO),
            iceberg_qty: d8(Decimal::ZERO),
            time: o.order.created_at.as_millis(),
            update_time: o.order.updated_at.as_millis(),
            is_working: true,
            working_time: o.order.created_at.as_millis(),
            self_trade_prevention_mode: "NONE",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelOrder<'a> {
    symbol: &'a str,
    orig_client_order_id: &'a str,
    order_id: u64,
    order_list_id: i64,
    client_order_id: &'a str,
    transact_time: i64,
    #[serde(flatten)]
    state: OrderState,
    self_trade_prevention_mode: &'static str,
}

impl<'a> CancelOrder<'a> {
    pub(crate) fn new(o: &'a OrderRec, cancel_id: &'a str) -> Self {
        CancelOrder {
            symbol: &o.venue_id,
            orig_client_order_id: o.order.client_order_id.as_str(),
            order_id: o.numeric_id(),
            order_list_id: -1,
            client_order_id: cancel_id,
            transact_time: o.order.updated_at.as_millis(),
            state: OrderState::new(o),
            self_trade_prevention_mode: "NONE",
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommissionRates {
    pub(crate) maker: String,
    pub(crate) taker: String,
    pub(crate) buyer: String,
    pub(crate) seller: String,
}

#[derive(Serialize)]
pub(crate) struct BalanceJson {
    pub(crate) asset: String,
    pub(crate) free: String,
    pub(crate) locked: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Account {
    pub(crate) maker_commission: i64,
    pub(crate) taker_commission: i64,
    pub(crate) buyer_commission: i64,
    pub(crate) seller_commission: i64,
    pub(crate) commission_rates: CommissionRates,
    pub(crate) can_trade: bool,
    pub(crate) can_withdraw: bool,
    pub(crate) can_deposit: bool,
    pub(crate) brokered: bool,
    pub(crate) require_self_trade_prevention: bool,
    pub(crate) prevent_sor: bool,
    pub(crate) update_time: i64,
    pub(crate) account_type: &'static str,
    pub(crate) balances: Vec<BalanceJson>,
    pub(crate) permissions: [&'static str; 1],
    pub(crate) uid: u64,
}
