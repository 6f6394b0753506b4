//! `signals`: pure drop triggers, market-condition guards and exit rules that explain every
//! decision. No IO, no async, no clock reads: time comes in with each [`Tick`].
//!
//! - [`TriggerConfig`] / [`TriggerMode`]: `DROP_TRIGGER_VALUE`, `DROP_TRIGGER_MODE` (1 window
//!   high, 2 window open, 3 running high, 4 anchor reset), `DROP_TRIGGER_LOOKBACK_MIN`, validated
//!   on construction.
//! - [`GuardConfig`]: market crash, volatility (ATR %, see [`atr`]), spread, 24 h quote volume,
//!   falling knife, cooldown, blacklist; each off until set. Each guard is a plain function
//!   (`check_*`) returning pass or a [`GuardBlock`] `{ guard, value, threshold }`.
//! - [`SignalEngine`]: per-symbol windows behind [`SymbolId`] handles; [`SignalEngine::on_cycle`]
//!   evaluates one market-data cycle of quotes independently of their arrival order,
//!   [`SignalEngine::on_tick`] one tick; each returns a [`Decision`] (not triggered or already
//!   fired with the current [`DropLevel`], blocked by a guard, fired with a [`Trigger`], out of
//!   order, no price), counted in a [`Funnel`]; the engine keeps each symbol's [`DeepestDrop`].
//! - [`ExitConfig`] / [`PositionExits`]: take profit, stop loss, trailing stop and maximum hold
//!   (checked on time alone too) for a held position; an [`Exit`] names the [`ExitRule`] and
//!   its level; [`ExitState`] saves and restores a position's peak and trailing activation.
//!
//! Prices are [`rust_decimal::Decimal`] at the API; the hot path converts each tick price once to
//! an exact fixed-point integer (at most 18 decimal places, below 10^10) and compares
//! `price * 10^6 <= reference * DROP_TRIGGER_VALUE * 10^6`, with no division and no allocation.
//! The definitions, with worked examples, are in `docs/signals.md`.
//!
//! ```
//! use rust_decimal::Decimal;
//! use signals::{Decision, GuardConfig, SignalEngine, Tick, TriggerConfig, TriggerMode};
//! use trading_core::Timestamp;
//!
//! let trigger = TriggerConfig::new(Decimal::new(985, 3), TriggerMode::WindowHigh, 15)?;
//! let mut engine = SignalEngine::new(trigger, GuardConfig::none());
//! let eth = engine.register("ETH/USDT".parse()?)?;
//!
//! let at = |s: i64| Timestamp::from_millis(s * 1_000);
//! assert!(matches!(engine.on_tick(eth, &Tick::new(at(0), Decimal::new(2000, 0)))?, Decision::NotTriggered(_)));
//! // 1 970 / 2 000 = 0.985: a 1.5 % drop from the window high
//! match engine.on_tick(eth, &Tick::new(at(60), Decimal::new(1970, 0)))? {
//!     Decision::Fired(t) => assert_eq!(t.drop_pct, Decimal::new(15, 1)),
//!     other => panic!("expected a trigger, got {other:?}"),
//! }
//! assert_eq!(engine.funnel().fired, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod atr;
mod config;
mod engine;
mod error;
mod exits;
mod fixed;
mod guards;
mod window;

pub use atr::{atr, atr_pct};
pub use config::{
    ExitConfig, GuardConfig, MarketCrashGuard, TriggerConfig, TriggerMode, VolatilityGuard,
    DEFAULT_REARM_MARGIN,
};
pub use engine::{Cycle, Decision, DeepestDrop, DropLevel, Funnel, SignalEngine, SymbolId, Tick, Trigger};
pub use error::SignalError;
pub use exits::{Exit, ExitRule, ExitState, PositionExits};
pub use guards::{
    check_blacklist, check_cooldown, check_falling_knife, check_market_crash, check_quote_volume,
    check_spread, check_volatility, spread_pct, BlockCause, GuardBlock, GuardKind, GuardVerdict,
    MissingInput,
};
