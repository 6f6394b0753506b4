//! From validated settings to the typed configurations of the library crates.

use std::time::Duration;

use signals::{ExitConfig, GuardConfig, SignalError, TriggerConfig, TriggerMode};
use trading_core::Symbol;

use crate::Settings;

/// The signal engine's trigger, guard and exit configurations. Every check is the signals
/// crate's own; its errors name the setting.
///
/// # Errors
/// [`SignalError::InvalidSetting`] for a value out of its range.
pub fn signal_configs(s: &Settings) -> Result<(TriggerConfig, GuardConfig, ExitConfig), SignalError> {
    let mode = TriggerMode::from_setting(s.drop_trigger_mode)?;
    let trigger = TriggerConfig::new(s.drop_trigger_value, mode, s.drop_trigger_lookback_min)?;
    let mut guards = GuardConfig::none();
    if let Some(pct) = s.guard_market_crash_max_drop_pct {
        let symbol = parse_symbol("GUARD_MARKET_CRASH_SYMBOL", &s.guard_market_crash_symbol)?;
        guards = guards.market_crash(symbol, s.guard_market_crash_window_min, pct)?;
    }
    if let Some(pct) = s.guard_max_spread_pct {
        guards = guards.max_spread_pct(pct)?;
    }
    if let Some(volume) = s.guard_min_quote_volume_24h {
        guards = guards.min_quote_volume_24h(volume)?;
    }
    if let Some(pct) = s.guard_falling_knife_max_drop_pct {
        guards = guards.falling_knife(pct)?;
    }
    if s.guard_cooldown_s > 0 {
        guards = guards.cooldown(Duration::from_secs(s.guard_cooldown_s))?;
    }
    let blacklist =
        s.blacklist.iter().map(|name| parse_symbol("BLACKLIST", name)).collect::<Result<Vec<_>, _>>()?;
    guards = guards.blacklist(blacklist);
    let mut exits = ExitConfig::none();
    if let Some(pct) = s.take_profit_pct {
        exits = exits.take_profit_pct(pct)?;
    }
    if let Some(pct) = s.stop_loss_pct {
        exits = exits.stop_loss_pct(pct)?;
    }
    if let (Some(activation), Some(distance)) = (s.trailing_activation_pct, s.trailing_distance_pct) {
        exits = exits.trailing_stop(activation, distance)?;
    }
    if s.max_hold_min > 0 {
        exits = exits.max_hold(Duration::from_secs(s.max_hold_min.saturating_mul(60)))?;
    }
    Ok((trigger, guards, exits))
}

fn parse_symbol(setting: &'static str, text: &str) -> Result<Symbol, SignalError> {
    text.parse().map_err(|_| SignalError::InvalidSetting {
        setting,
        value: text.to_owned(),
        allowed: "a symbol as BASE/QUOTE",
    })
}
