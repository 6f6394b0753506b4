//! The MEXC spot v3 dialect of the HTTP server: MEXC's JSON shapes (ids and times as strings,
//! plain decimals, time in force in the order type, `PARTIALLY_CANCELED`, a create-order answer
//! without status or fill) and MEXC's error codes, translated from the venue's Binance-style
//! answers.

use rust_decimal::Decimal;
use serde_json::{json, Value};
use trading_core::{OrderStatus, OrderType, TimeInForce};

use crate::error::ApiError;
use crate::venue::{FillRec, OrderRec};

fn plain(d: Decimal) -> String {
    d.normalize().to_string()
}

/// MEXC names time in force through the order type.
fn order_type(o: &OrderRec) -> &'static str {
    match (o.order.order_type, o.time_in_force) {
        (OrderType::Market, _) => "MARKET",
        (OrderType::LimitMaker, _) => "LIMIT_MAKER",
        (OrderType::Limit, TimeInForce::Gtc) => "LIMIT",
        (OrderType::Limit, TimeInForce::Ioc) => "IMMEDIATE_OR_CANCEL",
        (OrderType::Limit, TimeInForce::Fok) => "FILL_OR_KILL",
    }
}

fn status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::PartiallyCanceled => "PARTIALLY_CANCELED",
        other => other.as_str(),
    }
}

/// The answer of `POST /api/v3/order`: no status, no executed quantity.
pub(crate) fn new_order(o: &OrderRec) -> Value {
    json!({
        "symbol": o.venue_id,
        "orderId": o.order.id.0,
        "orderListId": -1,
        "price": plain(o.order.price.unwrap_or_default()),
        "origQty": plain(o.order.quantity),
        "type": order_type(o),
        "side": o.order.side.as_str(),
        "transactTime": o.order.created_at.as_millis(),
    })
}

/// An order as `GET /api/v3/order`, `DELETE /api/v3/order` and `GET /api/v3/openOrders` show it.
pub(crate) fn order(o: &OrderRec) -> Value {
    json!({
        "symbol": o.venue_id,
        "orderId": o.order.id.0,
        "orderListId": "-1",
        "clientOrderId": o.order.client_order_id.as_str(),
        "price": plain(o.order.price.unwrap_or_default()),
        "origQty": plain(o.order.quantity),
        "executedQty": plain(o.order.filled_quantity),
        "cummulativeQuoteQty": plain(o.order.cumulative_quote),
        "status": status(o.order.status),
        "timeInForce": null,
        "type": order_type(o),
        "side": o.order.side.as_str(),
        "stopPrice": null,
        "icebergQty": null,
        "time": o.order.created_at.as_millis().to_string(),
        "updateTime": o.order.updated_at.as_millis().to_string(),
        "isWorking": true,
        "origQuoteOrderQty": "0",
    })
}

/// One own trade as `GET /api/v3/myTrades` shows it.
pub(crate) fn trade(o: &OrderRec, f: &FillRec) -> Value {
    json!({
        "symbol": o.venue_id,
        "id": f.trade_id.to_string(),
        "orderId": o.order.id.0,
        "orderListId": "-1",
        "price": plain(f.price),
        "qty": plain(f.qty),
        "quoteQty": plain(f.price * f.qty),
        "commission": plain(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.ts.as_millis().to_string(),
        "isBuyer": o.order.side == trading_core::Side::Buy,
        "isMaker": f.maker,
        "isBestMatch": true,
        "isSelfTrade": false,
        "clientOrderId": o.order.client_order_id.as_str(),
    })
}

/// The MEXC error for a Binance-style one (codes MEXC documents; the rest keep Binance's,
/// which MEXC also uses, e.g. `-2011`, `-2013`, `-1121` variants).
pub(crate) fn error(e: ApiError) -> ApiError {
    let (code, msg): (i64, &str) = match e.code {
        -1121 => (10007, "symbol not support api"),
        -1022 => (700002, "Signature for this request is not valid."),
        -1021 => (700003, "Timestamp for this request is outside of the recvWindow."),
        -1102 => (700004, "Mandatory parameter was not sent, was empty/null, or malformed."),
        -2014 | -2015 => (10072, "Api key info invalid"),
        -2010 if e.msg.contains("insufficient") => (30004, "Insufficient position"),
        _ => return e,
    };
    ApiError { code, msg: msg.to_owned(), ..e }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_codes_become_mexc_codes() {
        assert_eq!(error(ApiError::bad_symbol()).code, 10007);
        assert_eq!(error(ApiError::mandatory("symbol")).code, 700004);
        assert_eq!(error(ApiError::bad(-1022, "x")).code, 700002);
        assert_eq!(error(ApiError::no_such_order()).code, -2013);
    }
}
