//! Market rules parsed from real exchangeInfo data: the Binance documentation examples and the
//! ccxt (MIT) recorded Binance markets in `test_data/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;
use trading_core::{MarketRules, MarketStatus, RuleViolation, Symbol, SymbolFilter, SymbolMap};

fn load(name: &str) -> serde_json::Value {
    let path = format!("{}/test_data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeInfoSymbol {
    symbol: String,
    status: MarketStatus,
    base_asset: String,
    quote_asset: String,
    filters: Vec<SymbolFilter>,
}

#[test]
fn every_documented_filter_parses() {
    let doc = load("filters_examples.json");
    let filters = doc["filters"].as_object().unwrap();
    assert!(filters.len() >= 20);
    for (name, raw) in filters {
        let f: SymbolFilter = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let modelled = matches!(
            name.as_str(),
            "PRICE_FILTER" | "LOT_SIZE" | "MARKET_LOT_SIZE" | "MIN_NOTIONAL" | "NOTIONAL"
        );
        assert_eq!(f != SymbolFilter::Other, modelled, "{name} parsed as {f:?}");
    }
    let price: SymbolFilter = serde_json::from_value(filters["PRICE_FILTER"].clone()).unwrap();
    assert_eq!(
        price,
        SymbolFilter::PriceFilter {
            min_price: dec!(0.00000100),
            max_price: dec!(100000.00000000),
            tick_size: dec!(0.00000100)
        }
    );
}

#[test]
fn rules_from_documented_filters() {
    let doc = load("filters_examples.json");
    let f = &doc["filters"];
    let filters: Vec<SymbolFilter> =
        ["PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL", "NOTIONAL", "ICEBERG_PARTS"]
            .iter()
            .map(|k| serde_json::from_value(f[*k].clone()).unwrap())
            .collect();
    let rules =
        MarketRules::from_filters("ETH/BTC".parse().unwrap(), "ETHBTC", MarketStatus::Trading, &filters)
            .unwrap();
    assert_eq!(rules.tick_size, dec!(0.000001));
    assert_eq!(rules.step_size, dec!(0.001));
    assert_eq!(rules.min_qty, dec!(0.001));
    // NOTIONAL's 10 is stricter than MIN_NOTIONAL's 0.001.
    assert_eq!(rules.min_notional, dec!(10));
    assert_eq!(rules.max_notional, dec!(10000));
    assert_eq!(
        rules.check(dec!(0.05), dec!(100)),
        Err(RuleViolation::BelowMinNotional { notional: dec!(5.000), min_notional: dec!(10) })
    );
}

#[test]
fn documented_exchange_info_symbol_parses_with_its_status() {
    let doc = load("exchangeInfo.json");
    let sym: ExchangeInfoSymbol = serde_json::from_value(doc["symbols"][0].clone()).unwrap();
    assert_eq!((sym.symbol.as_str(), sym.status), ("ETHBTC", MarketStatus::Trading));
    let map =
        SymbolMap::from_markets([(sym.symbol.as_str(), sym.base_asset.as_str(), sym.quote_asset.as_str())])
            .unwrap();
    let unified = map.symbol("ETHBTC").unwrap().clone();
    // The doc example has an empty filter list: every rule is disabled, none invented.
    let rules = MarketRules::from_filters(unified, sym.symbol, sym.status, &sym.filters).unwrap();
    assert_eq!(rules.tick_size, Decimal::ZERO);
    assert_eq!(rules.min_notional, Decimal::ZERO);
}

#[test]
fn recorded_binance_markets_give_the_real_rules() {
    let doc = load("ccxt_binance_markets.json");
    let mut checked = 0;
    for (unified, market) in doc.as_object().unwrap() {
        let Some(info) = market.get("info") else { continue };
        let sym: ExchangeInfoSymbol =
            serde_json::from_value(info.clone()).unwrap_or_else(|e| panic!("{unified}: {e}"));
        let symbol: Symbol = unified.parse().unwrap();
        assert_eq!(symbol.base(), sym.base_asset);
        let rules = MarketRules::from_filters(symbol, &sym.symbol, sym.status, &sym.filters).unwrap();
        // ccxt derived `precision.price` (decimal places) from the same tick size.
        let price_dp = market["precision"]["price"].as_u64().unwrap() as u32;
        assert_eq!(rules.tick_size.normalize().scale(), price_dp, "{unified}");
        let amount_dp = market["precision"]["amount"].as_u64().unwrap() as u32;
        assert_eq!(rules.step_size.normalize().scale(), amount_dp, "{unified}");
        let min_cost: Decimal =
            market["limits"]["cost"]["min"].to_string().trim_matches('"').parse().unwrap();
        assert_eq!(rules.min_notional, min_cost, "{unified}");
        checked += 1;
    }
    assert_eq!(checked, 6);
}

#[test]
fn btcusdt_budget_order_from_recorded_rules() {
    let doc = load("ccxt_binance_markets.json");
    let sym: ExchangeInfoSymbol = serde_json::from_value(doc["BTC/USDT"]["info"].clone()).unwrap();
    let rules = MarketRules::from_filters("BTC/USDT".parse().unwrap(), &sym.symbol, sym.status, &sym.filters)
        .unwrap();
    let (p, q) = rules.buy_order_for_budget(dec!(25), dec!(43210.987)).unwrap();
    assert_eq!((p, q), (dec!(43210.98), dec!(0.00057)));
    assert_eq!(rules.format_qty(q), "0.00057");
}
