//! The feed's output: a concurrent snapshot store of the latest quote per symbol, the candle
//! cache, and the update channel.
//!
//! The channel is a `watch` of the latest cycle's update: the feed never waits for a consumer.
//! A consumer that falls behind gets the newest update on its next read and learns how many
//! it missed (counted in [`UpdateReceiver::missed`]); the store always has the latest quote of
//! every symbol, so nothing it needs is lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::RwLock;
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

/// Latest quote and candles per symbol. Cheap to clone (shared tables).
///
/// Every quote of every cycle is stored, so the quotes live in one slot per watchlist symbol,
/// addressed by the symbol's rank in the sorted watchlist: the feed writes a slot by index (no
/// hash, no probe), readers find a symbol's slot through a map built once. The candle map hashes
/// with Fx (a few instructions per symbol) rather than SipHash; the keys are venue symbols, not
/// attacker-chosen input for a hash-flooding attack.
#[derive(Debug, Clone, Default)]
pub struct SnapshotStore {
    inner: Arc<Tables>,
}

#[derive(Debug, Default)]
struct Tables {
    /// Watchlist symbol -> its slot.
    index: HashMap<Symbol, usize, FxBuildHasher>,
    /// One slot per watchlist symbol, in symbol order; `None` until its first quote.
    quotes: Box<[RwLock<Option<Snapshot>>]>,
    /// Slots holding a quote.
    filled: AtomicUsize,
    candles: DashMap<Symbol, CandleSet, FxBuildHasher>,
}

impl SnapshotStore {
    /// An empty store for `sorted` (the watchlist, sorted, without duplicates): slot `i` is
    /// `sorted[i]`'s.
    pub(crate) fn new(sorted: &[Symbol]) -> Self {
        let index = sorted.iter().enumerate().map(|(i, s)| (s.clone(), i)).collect();
        let quotes = sorted.iter().map(|_| RwLock::new(None)).collect();
        SnapshotStore {
            inner: Arc::new(Tables {
                index,
                quotes,
                filled: AtomicUsize::new(0),
                candles: DashMap::default(),
            }),
        }
    }

    fn slot(&self, symbol: &Symbol) -> Option<&RwLock<Option<Snapshot>>> {
        self.inner.index.get(symbol).and_then(|&i| self.inner.quotes.get(i))
    }

    /// The latest snapshot of `symbol`.
    pub fn get(&self, symbol: &Symbol) -> Option<Snapshot> {
        self.slot(symbol).and_then(|s| s.read().clone())
    }

    /// How old `symbol`'s latest quote is at `now` (`None` if it never had one).
    pub fn age(&self, symbol: &Symbol, now: Timestamp) -> Option<Duration> {
        self.slot(symbol).and_then(|s| s.read().as_ref().map(|s| s.age(now)))
    }

    /// The polling tier of `symbol` (`None` if it never had a quote); cheaper than
    /// [`SnapshotStore::get`] when the tier is all a caller needs.
    pub fn tier(&self, symbol: &Symbol) -> Option<Tier> {
        self.slot(symbol).and_then(|s| s.read().as_ref().map(|s| s.tier))
    }

    /// The latest candles of `symbol`.
    pub fn candles(&self, symbol: &Symbol) -> Option<CandleSet> {
        self.inner.candles.get(symbol).map(|c| c.clone())
    }

    /// Symbols with a quote, sorted.
    pub fn symbols(&self) -> Vec<Symbol> {
        let mut v: Vec<Symbol> = self
            .inner
            .index
            .iter()
            .filter(|(_, &i)| self.inner.quotes.get(i).is_some_and(|s| s.read().is_some()))
            .map(|(k, _)| k.clone())
            .collect();
        v.sort();
        v
    }

    /// Number of symbols with a quote.
    pub fn len(&self) -> usize {
        self.inner.filled.load(Ordering::Relaxed)
    }

    /// True when no symbol has a quote yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `quote` in slot `i` (the rank of its symbol in the sorted watchlist); a slot that
    /// does not exist is ignored.
    pub(crate) fn put_quote_at(&self, i: usize, quote: &Quote, now: Timestamp, tier: Tier) {
        let Some(slot) = self.inner.quotes.get(i) else { return };
        let mut slot = slot.write();
        match slot.as_mut() {
            Some(s) => {
                // Field by field: the symbol is the same one as last time (the same allocation),
                // so it is not cloned and dropped again (two atomic operations per quote).
                let Quote { symbol, bid, ask, last, quote_volume_24h, exchange_ts, received_at } = quote;
                let q = &mut s.quote;
                if q.symbol != *symbol {
                    q.symbol = symbol.clone();
                }
                (q.bid, q.ask, q.last, q.quote_volume_24h) = (*bid, *ask, *last, *quote_volume_24h);
                (q.exchange_ts, q.received_at) = (*exchange_ts, *received_at);
                s.updated_at = now;
                s.tier = tier;
                if quote.quote_volume_24h.is_some() {
                    s.quote_volume_24h = quote.quote_volume_24h;
                }
            }
            None => {
                *slot = Some(Snapshot {
                    quote: quote.clone(),
                    updated_at: now,
                    quote_volume_24h: quote.quote_volume_24h,
                    tier,
                });
                self.inner.filled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Stores `quote` in its symbol's slot (ignored for a symbol outside the watchlist).
    pub(crate) fn put_quote(&self, quote: &Quote, now: Timestamp, tier: Tier) {
        if let Some(&i) = self.inner.index.get(&quote.symbol) {
            self.put_quote_at(i, quote, now, tier);
        }
    }

    pub(crate) fn put_volume(&self, symbol: &Symbol, volume: Decimal) {
        if let Some(slot) = self.slot(symbol) {
            if let Some(s) = slot.write().as_mut() {
                s.quote_volume_24h = Some(volume);
            }
        }
    }

    pub(crate) fn set_tier_at(&self, i: usize, tier: Tier) {
        if let Some(slot) = self.inner.quotes.get(i) {
            if let Some(s) = slot.write().as_mut() {
                s.tier = tier;
            }
        }
    }

    pub(crate) fn put_candles(&self, symbol: Symbol, set: CandleSet) {
        self.inner.candles.insert(symbol, set);
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
