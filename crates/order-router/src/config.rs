//! `RouterConfig`: the router's settings, validated before anything starts.

use std::time::Duration;

use rust_decimal::Decimal;

use crate::RouterError;

/// The router's settings. Build it with [`RouterConfig::new`] (the documented defaults) and
/// change fields; [`RouterConfig::validate`] runs when the router opens, and every error names
/// the setting, the value and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// Quote currency the budget is kept in (`USDT`); intents on other quote assets are refused.
    pub quote_asset: String,
    /// Quote amount the router may ever have at stake (free + reserved + committed at start).
    pub budget_total: Decimal,
    /// `POSITION_SIZE_USDT`: the most one buy intent may reserve, fees included.
    pub position_size_usdt: Decimal,
    /// `MAX_CONCURRENT_POSITIONS`: open positions plus buys in flight.
    pub max_concurrent_positions: u32,
    /// `GLOBAL_TRADING`: the master switch; false refuses every intent.
    pub global_trading: bool,
    /// `ORDER_FLOW_ENABLED`: false runs the whole decision path (validation, budget, ledger,
    /// events) and sends nothing.
    pub order_flow_enabled: bool,
    /// Prefix of every client order id (1-7 of `A-Z a-z 0-9`); reconciliation recognises the
    /// router's orders on the venue by it.
    pub client_id_prefix: String,
    /// Fee fraction reserved on top of a buy's notional (0.001 = 0.1 %).
    pub fee_reserve_rate: Decimal,
    /// Extra fraction reserved for market buys (the price may move before they fill).
    pub market_slippage_reserve: Decimal,
    /// Fee fraction assumed when the venue cannot list an order's fills (marked as estimated).
    pub assumed_fee_rate: Decimal,
    /// How long after an order ended a transient failure to list its fills (timeout, 5xx, rate
    /// limit) defers its settlement to the next tracking round instead of estimating the fees:
    /// an estimate that differs from the venue's fee leaves the budget and the account apart.
    pub fills_retry_window: Duration,
    /// Shortest pause between two tracking rounds.
    pub min_poll_interval: Duration,
    /// Longest pause between two tracking rounds.
    pub max_poll_interval: Duration,
    /// Share of the venue's request-weight budget that order tracking may use (0 < x <= 1).
    pub tracking_weight_share: Decimal,
    /// Largest relative shortfall of a held balance against the ledger's position that
    /// reconciliation corrects on its own (fees, dust); a larger one blocks trading.
    pub balance_drift_tolerance: Decimal,
}

impl RouterConfig {
    /// The defaults: 1 000 USDT budget, 100 USDT positions, 5 concurrent positions, trading on,
    /// order flow on, prefix `dr`, 0.1 % fees, 1 % market slippage reserve, polling between
    /// 0.5 s and 10 s within 10 % of the weight budget, 1 % balance drift tolerance, fills of an
    /// ended order retried for 2 minutes before fees are estimated.
    pub fn new() -> Self {
        RouterConfig {
            quote_asset: "USDT".into(),
            budget_total: Decimal::from(1000),
            position_size_usdt: Decimal::from(100),
            max_concurrent_positions: 5,
            global_trading: true,
            order_flow_enabled: true,
            client_id_prefix: "dr".into(),
            fee_reserve_rate: Decimal::new(1, 3),
            market_slippage_reserve: Decimal::new(1, 2),
            assumed_fee_rate: Decimal::new(1, 3),
            fills_retry_window: Duration::from_secs(120),
            min_poll_interval: Duration::from_millis(500),
            max_poll_interval: Duration::from_secs(10),
            tracking_weight_share: Decimal::new(1, 1),
            balance_drift_tolerance: Decimal::new(1, 2),
        }
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), RouterError> {
        let err = |key, value: String, reason| Err(RouterError::Config { key, value, reason });
        if self.quote_asset.is_empty() || !self.quote_asset.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return err("QUOTE_ASSET", self.quote_asset.clone(), "an asset code like USDT");
        }
        if self.budget_total <= Decimal::ZERO {
            return err("BUDGET_TOTAL", self.budget_total.to_string(), "must be positive");
        }
        if self.position_size_usdt <= Decimal::ZERO || self.position_size_usdt > self.budget_total {
            return err(
                "POSITION_SIZE_USDT",
                self.position_size_usdt.to_string(),
                "must be positive and at most the total budget",
            );
        }
        if !(1..=1000).contains(&self.max_concurrent_positions) {
            return err(
                "MAX_CONCURRENT_POSITIONS",
                self.max_concurrent_positions.to_string(),
                "must be 1..=1000",
            );
        }
        let prefix = &self.client_id_prefix;
        if prefix.is_empty() || prefix.len() > 7 || !prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return err("CLIENT_ID_PREFIX", prefix.clone(), "1-7 characters of A-Z a-z 0-9");
        }
        let fraction = |v: Decimal, max: Decimal| v >= Decimal::ZERO && v <= max;
        let five_pct = Decimal::new(5, 2);
        if !fraction(self.fee_reserve_rate, five_pct) {
            return err("FEE_RESERVE_RATE", self.fee_reserve_rate.to_string(), "a fraction in [0, 0.05]");
        }
        if !fraction(self.assumed_fee_rate, five_pct) {
            return err("ASSUMED_FEE_RATE", self.assumed_fee_rate.to_string(), "a fraction in [0, 0.05]");
        }
        if !fraction(self.market_slippage_reserve, Decimal::new(2, 1)) {
            return err(
                "MARKET_SLIPPAGE_RESERVE",
                self.market_slippage_reserve.to_string(),
                "a fraction in [0, 0.2]",
            );
        }
        if self.tracking_weight_share <= Decimal::ZERO || self.tracking_weight_share > Decimal::ONE {
            return err(
                "TRACKING_WEIGHT_SHARE",
                self.tracking_weight_share.to_string(),
                "a fraction in (0, 1]",
            );
        }
        if !fraction(self.balance_drift_tolerance, Decimal::new(1, 1)) {
            return err(
                "BALANCE_DRIFT_TOLERANCE",
                self.balance_drift_tolerance.to_string(),
                "a fraction in [0, 0.1]",
            );
        }
        if self.min_poll_interval < Duration::from_millis(10)
            || self.min_poll_interval > self.max_poll_interval
        {
            return err(
                "MIN_POLL_INTERVAL",
                format!("{:?}", self.min_poll_interval),
                "at least 10 ms and at most MAX_POLL_INTERVAL",
            );
        }
        if self.max_poll_interval > Duration::from_secs(300) {
            return err("MAX_POLL_INTERVAL", format!("{:?}", self.max_poll_interval), "at most 300 s");
        }
        Ok(())
    }
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(change: impl FnOnce(&mut RouterConfig), key: &str) {
        let mut c = RouterConfig::new();
        change(&mut c);
        match c.validate() {
            Err(RouterError::Config { key: k, .. }) => assert_eq!(k, key),
            other => panic!("expected an error for {key}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_named() {
        assert!(RouterConfig::new().validate().is_ok());
        check(|c| c.budget_total = Decimal::ZERO, "BUDGET_TOTAL");
        check(|c| c.position_size_usdt = Decimal::from(5000), "POSITION_SIZE_USDT");
        check(|c| c.max_concurrent_positions = 0, "MAX_CONCURRENT_POSITIONS");
        check(|c| c.client_id_prefix = "too-long-prefix".into(), "CLIENT_ID_PREFIX");
        check(|c| c.fee_reserve_rate = Decimal::ONE, "FEE_RESERVE_RATE");
        check(|c| c.tracking_weight_share = Decimal::ZERO, "TRACKING_WEIGHT_SHARE");
        check(|c| c.min_poll_interval = Duration::from_secs(60), "MIN_POLL_INTERVAL");
        check(|c| c.quote_asset = "US DT".into(), "QUOTE_ASSET");
    }
}
