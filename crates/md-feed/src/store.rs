//! The feed's output: a concurrent snapshot store of the latest quote per symbol, the candle
//! cache, and the update channel.
//!
//! The channel is a `watch` of the latest cycle's update: the feed never waits for a consumer.
//! A consumer that falls behind gets the newest update on its next read and learns how many
//! it missed (counted in [`UpdateReceiver::missed`]); the store always has the latest quote of
//! every symbol, so nothing it needs is lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use rust_decimal::Decimal;
use rustc_hash::FxBuildHasher;
use telemetry::Tier;
use tokio::sync::watch;
use trading_core::{Candle, Interval, Quote, Symbol, Timestamp};

/// The latest known state of one symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The latest quote with a price (zero prices removed; never a quote without any price).
    pub quote: Quote,
    /// When the feed stored it (clock time).
    pub updated_at: Timestamp,
    /// The latest 24h quote volume, from whichever request brought one.
    pub quote_volume_24h: Option<Decimal>,
    /// The symbol's polling tier.
    pub tier: Tier,
}

impl Snapshot {
    /// How old the quote is at `now`.
    pub fn age(&self, now: Timestamp) -> Duration {
        now.saturating_since(self.updated_at)
    }
}

/// Candles of one symbol for the volatility guard (ATR), refreshed at low cadence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleSet {
    /// Candle width.
    pub interval: Interval,
    /// Oldest first.
    pub candles: Arc<Vec<Candle>>,
    /// When they were fetched.
    pub fetched_at: Timestamp,
}

/// Latest quote and candles per symbol. Cheap to clone (shared maps). Every quote of every
/// cycle is stored, so the maps hash with Fx (a few instructions per symbol) rather than
/// SipHash; the keys are venue symbols, not attacker-chosen input for a hash-flooding attack.
#[derive(Debug, Clone, Default)]
pub struct SnapshotStore {
    quotes: Arc<DashMap<Symbol, Snapshot, FxBuildHasher>>,
    candles: Arc<DashMap<Symbol, CandleSet, FxBuildHasher>>,
}

impl SnapshotStore {
    /// The latest snapshot of `symbol`.
    pub fn get(&self, symbol: &Symbol) -> Option<Snapshot> {
        self.quotes.get(symbol).map(|s| s.clone())
    }

    /// How old `symbol`'s latest quote is at `now` (`None` if it never had one).
    pub fn age(&self, symbol: &Symbol, now: Timestamp) -> Option<Duration> {
        self.quotes.get(symbol).map(|s| s.age(now))
    }

    /// The latest candles of `symbol`.
    pub fn candles(&self, symbol: &Symbol) -> Option<CandleSet> {
        self.candles.get(symbol).map(|c| c.clone())
    }

    /// Symbols with a quote, sorted.
    pub fn symbols(&self) -> Vec<Symbol> {
        let mut v: Vec<Symbol> = self.quotes.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    /// Number of symbols with a quote.
    pub fn len(&self) -> usize {
        self.quotes.len()
    }

    /// True when no symbol has a quote yet.
    pub fn is_empty(&self) -> bool {
        self.quotes.is_empty()
    }

    pub(crate) fn put_quote(&self, quote: Quote, now: Timestamp, tier: Tier) {
        let volume = quote.quote_volume_24h;
        let symbol = quote.symbol.clone();
        match self.quotes.get_mut(&symbol) {
            Some(mut s) => {
                s.quote = quote;
                s.updated_at = now;
                s.tier = tier;
                if volume.is_some() {
                    s.quote_volume_24h = volume;
                }
            }
            None => {
                self.quotes
                    .insert(symbol, Snapshot { quote, updated_at: now, quote_volume_24h: volume, tier });
            }
        }
    }

    pub(crate) fn put_volume(&self, symbol: &Symbol, volume: Decimal) {
        if let Some(mut s) = self.quotes.get_mut(symbol) {
            s.quote_volume_24h = Some(volume);
        }
    }

    pub(crate) fn set_tier(&self, symbol: &Symbol, tier: Tier) {
        if let Some(mut s) = self.quotes.get_mut(symbol) {
            s.tier = tier;
        }
    }

    pub(crate) fn put_candles(&self, symbol: Symbol, set: CandleSet) {
        self.candles.insert(symbol, set);
    }
}

/// What one cycle delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleUpdate {
    /// Cycle number, from 1.
    pub seq: u64,
    /// When the cycle ended (clock time).
    pub at: Timestamp,
    /// The new quotes of this cycle (prices only; zero prices removed), sorted by symbol.
    pub quotes: Vec<Quote>,
}

impl Default for CycleUpdate {
    /// Before the first cycle: number 0, no quotes.
    fn default() -> Self {
        CycleUpdate { seq: 0, at: Timestamp::EPOCH, quotes: Vec::new() }
    }
}

/// Receives cycle updates. A slow reader never holds the feed up: it gets the latest update and
/// the count of the ones it missed.
#[derive(Debug)]
pub struct UpdateReceiver {
    rx: watch::Receiver<Arc<CycleUpdate>>,
    last_seq: u64,
    missed: Arc<AtomicU64>,
}

impl Clone for UpdateReceiver {
    fn clone(&self) -> Self {
        UpdateReceiver { rx: self.rx.clone(), last_seq: self.last_seq, missed: Arc::new(AtomicU64::new(0)) }
    }
}

impl UpdateReceiver {
    pub(crate) fn new(rx: watch::Receiver<Arc<CycleUpdate>>) -> Self {
        let last_seq = rx.borrow().seq;
        UpdateReceiver { rx, last_seq, missed: Arc::new(AtomicU64::new(0)) }
    }

    /// Waits for an update newer than the last one read; returns it and how many updates were
    /// skipped since. `None` once the feed has stopped.
    pub async fn next(&mut self) -> Option<(Arc<CycleUpdate>, u64)> {
        self.rx.changed().await.ok()?;
        let update = self.rx.borrow_and_update().clone();
        let missed = update.seq.saturating_sub(self.last_seq).saturating_sub(1);
        self.last_seq = update.seq;
        self.missed.fetch_add(missed, Ordering::Relaxed);
        Some((update, missed))
    }

    /// The newest update, without waiting (the same one again if nothing newer came).
    pub fn latest(&self) -> Arc<CycleUpdate> {
        self.rx.borrow().clone()
    }

    /// Updates this receiver skipped because it read too slowly.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_reader_sees_the_latest_and_counts_misses() {
        let (tx, rx) = watch::channel(Arc::new(CycleUpdate::default()));
        let mut r = UpdateReceiver::new(rx);
        for seq in 1..=5 {
            tx.send_replace(Arc::new(CycleUpdate { seq, ..CycleUpdate::default() }));
        }
        let (u, missed) = r.next().await.unwrap();
        assert_eq!((u.seq, missed, r.missed()), (5, 4, 4));
        tx.send_replace(Arc::new(CycleUpdate { seq: 6, ..CycleUpdate::default() }));
        assert_eq!(r.next().await.unwrap().1, 0);
        drop(tx);
        assert!(r.next().await.is_none());
    }
}
