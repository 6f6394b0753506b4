//! `Symbol`, the unified `BASE/QUOTE` market name, and `SymbolMap`, the venue-id translation
//! built from a venue's market list.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::SymbolError;

/// Longest asset code accepted. Real codes are up to ~12 characters (`1000SATS`, `BABYDOGE`).
const MAX_ASSET_LEN: usize = 20;

/// A spot market in the unified form `BASE/QUOTE` (e.g. `BTC/USDT`).
///
/// Validated on construction: both asset codes are 1-20 characters of `A-Z` and `0-9`.
/// The venue's own id (`BTCUSDT`) is *not* derived by string concatenation; ask the venue's
/// [`SymbolMap`].
///
/// The text is interned: the process keeps one copy of each distinct symbol for its lifetime
/// (a venue lists a few thousand, at most 41 bytes each). Cloning copies three words, and two
/// symbols are equal exactly when they share that copy. A market-data cycle clones and compares
/// every symbol of the watchlist; with a shared reference count, each clone and drop was an
/// atomic write to a line of its own, a cache miss per quote.
#[derive(Clone)]
pub struct Symbol {
    text: &'static str,
    slash: usize,
}

/// The process's one copy of `s`, made on first use.
fn intern(s: &str) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    // the set is consistent after any panic (an insert is its only change), so a poisoned lock
    // is still safe to use
    let mut texts = TEXTS.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&text) = texts.get(s) {
        return text;
    }
    let text: &'static str = Box::leak(Box::from(s));
    texts.insert(text);
    text
}

// Every symbol's text is interned, so the same text is the same address: equality is one
// comparison, and ordering reads the bytes only for different symbols.
impl PartialEq for Symbol {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.text, other.text)
    }
}

impl Eq for Symbol {}

impl std::hash::Hash for Symbol {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Symbol {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Symbol {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if std::ptr::eq(self.text, other.text) {
            return std::cmp::Ordering::Equal;
        }
        self.text.cmp(other.text)
    }
}

impl Symbol {
    /// Builds `BASE/QUOTE` from two asset codes.
    pub fn new(base: &str, quote: &str) -> Result<Self, SymbolError> {
        format!("{base}/{quote}").parse()
    }

    /// The base asset (`BTC` in `BTC/USDT`).
    pub fn base(&self) -> &str {
        &self.text[..self.slash]
    }

    /// The quote asset (`USDT` in `BTC/USDT`).
    pub fn quote(&self) -> &str {
        &self.text[self.slash + 1..]
    }

    /// The unified form, `BASE/QUOTE`.
    pub fn as_str(&self) -> &str {
        self.text
    }
}

fn check_asset(input: &str, asset: &str) -> Result<(), SymbolError> {
    let bad = |reason| SymbolError::InvalidAsset { input: input.to_owned(), asset: asset.to_owned(), reason };
    if asset.is_empty() {
        return Err(bad("empty"));
    }
    if asset.len() > MAX_ASSET_LEN {
        return Err(bad("longer than 20 characters"));
    }
    if !asset.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(bad("only A-Z and 0-9 are allowed"));
    }
    Ok(())
}

impl FromStr for Symbol {
    type Err = SymbolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = |reason| SymbolError::Malformed { input: s.to_owned(), reason };
        let slash = s.find('/').ok_or_else(|| malformed("no '/' between base and quote"))?;
        let (base, quote) = (&s[..slash], &s[slash + 1..]);
        if quote.contains('/') {
            return Err(malformed("more than one '/'"));
        }
        check_asset(s, base)?;
        check_asset(s, quote)?;
        if base == quote {
            return Err(malformed("base and quote are the same asset"));
        }
        Ok(Symbol { text: intern(s), slash })
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.text)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Translation between unified symbols and one venue's market ids, built from the venue's
/// market list (base and quote asset of each id), so `1000SATSUSDT` or `BTCUSDC` never has to
/// be split by guessing.
#[derive(Debug, Clone, Default)]
pub struct SymbolMap {
    by_id: HashMap<Arc<str>, Symbol>,
    by_symbol: HashMap<Symbol, Arc<str>>,
}

impl SymbolMap {
    /// Builds the map from `(venue_id, base_asset, quote_asset)` triples.
    ///
    /// Fails on a malformed asset code or when an id or symbol appears twice.
    pub fn from_markets<'a, I>(markets: I) -> Result<Self, SymbolError>
    where
        I: IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    {
        let mut map = SymbolMap::default();
        for (id, base, quote) in markets {
            map.insert(id, Symbol::new(base, quote)?)?;
        }
        Ok(map)
    }

    /// Adds one market; fails if the id or the symbol is already present.
    pub fn insert(&mut self, venue_id: &str, symbol: Symbol) -> Result<(), SymbolError> {
        if self.by_id.contains_key(venue_id) {
            return Err(SymbolError::Duplicate(venue_id.to_owned()));
        }
        if self.by_symbol.contains_key(&symbol) {
            return Err(SymbolError::Duplicate(symbol.to_string()));
        }
        let id: Arc<str> = Arc::from(venue_id);
        self.by_id.insert(id.clone(), symbol.clone());
        self.by_symbol.insert(symbol, id);
        Ok(())
    }

    /// The unified symbol of a venue id.
    pub fn symbol(&self, venue_id: &str) -> Result<&Symbol, SymbolError> {
        self.by_id.get(venue_id).ok_or_else(|| SymbolError::UnknownVenueId(venue_id.to_owned()))
    }

    /// The venue id of a unified symbol, if the venue lists it.
    pub fn venue_id(&self, symbol: &Symbol) -> Option<&str> {
        self.by_symbol.get(symbol).map(|id| &**id)
    }

    /// Number of markets.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when the map has no markets.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn check_err(input: &str, expected_fragment: &str) {
        let err = input.parse::<Symbol>().expect_err(input).to_string();
        assert!(err.contains(expected_fragment), "{input:?}: {err}");
        assert!(err.contains(&format!("{input:?}")), "error must name the input: {err}");
    }

    #[test]
    fn parses_unified_form() {
        let s: Symbol = "BTC/USDT".parse().unwrap();
        assert_eq!((s.base(), s.quote(), s.as_str()), ("BTC", "USDT", "BTC/USDT"));
        let s: Symbol = "1000SATS/USDT".parse().unwrap();
        assert_eq!(s.base(), "1000SATS");
    }

    /// Comparisons by text, however each symbol was made: parsed, built from its parts,
    /// read back from JSON or made on another thread (equality compares interned addresses).
    #[test]
    fn equality_order_and_hash_follow_the_text() {
        use std::hash::BuildHasher;
        let a: Symbol = "ETH/USDT".parse().unwrap();
        let same: Symbol = "ETH/USDT".parse().unwrap();
        assert_eq!(Symbol::new("ETH", "USDT").unwrap(), a);
        assert_eq!(serde_json::from_str::<Symbol>("\"ETH/USDT\"").unwrap(), a);
        let elsewhere = std::thread::spawn(|| "ETH/USDT".parse::<Symbol>().unwrap()).join().unwrap();
        assert_eq!(elsewhere, a);
        let other: Symbol = "BTC/USDT".parse().unwrap();
        let state = std::collections::hash_map::RandomState::new();
        assert_eq!(a, same);
        assert_eq!(a, a.clone());
        assert_eq!(a.cmp(&same), std::cmp::Ordering::Equal);
        assert_eq!(state.hash_one(&a), state.hash_one(&same));
        assert_ne!(a, other);
        assert!(other < a && a > other.clone());
        let long: Symbol = "ETHX/USDT".parse().unwrap();
        assert!(a < long, "ETH/USDT sorts before ETHX/USDT");
    }

    #[test]
    fn rejects_malformed_input_with_a_clear_error() {
        check_err("BTCUSDT", "no '/'");
        check_err("BTC/", "empty");
        check_err("/USDT", "empty");
        check_err("BTC/USDT/X", "more than one");
        check_err("btc/usdt", "only A-Z");
        check_err("BTC /USDT", "only A-Z");
        check_err("BTC/BTC", "same asset");
        check_err("ABCDEFGHIJKLMNOPQRSTUVWXYZ/USDT", "longer than 20");
    }

    #[test]
    fn serde_round_trip_and_validation() {
        let s: Symbol = "ETH/BTC".parse().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"ETH/BTC\"");
        assert_eq!(serde_json::from_str::<Symbol>(&json).unwrap(), s);
        assert!(serde_json::from_str::<Symbol>("\"ETHBTC\"").is_err());
    }

    #[test]
    fn symbol_map_translates_from_market_data_not_guessing() {
        let map = SymbolMap::from_markets([
            ("BTCUSDT", "BTC", "USDT"),
            ("1000SATSUSDT", "1000SATS", "USDT"),
            ("USDTUSDC", "USDT", "USDC"),
        ])
        .unwrap();
        assert_eq!(map.symbol("1000SATSUSDT").unwrap().as_str(), "1000SATS/USDT");
        assert_eq!(map.venue_id(&"USDT/USDC".parse().unwrap()), Some("USDTUSDC"));
        assert_eq!(map.symbol("XYZ"), Err(SymbolError::UnknownVenueId("XYZ".into())));
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn symbol_map_rejects_duplicates() {
        let err = SymbolMap::from_markets([("BTCUSDT", "BTC", "USDT"), ("XBTUSDT", "BTC", "USDT")]);
        assert_eq!(err.unwrap_err(), SymbolError::Duplicate("BTC/USDT".into()));
    }

    proptest! {
        #[test]
        fn valid_codes_round_trip(base in "[A-Z0-9]{1,20}", quote in "[A-Z0-9]{1,20}") {
            prop_assume!(base != quote);
            let s = Symbol::new(&base, &quote).unwrap();
            prop_assert_eq!(s.base(), base.as_str());
            prop_assert_eq!(s.quote(), quote.as_str());
            prop_assert_eq!(s.to_string().parse::<Symbol>().unwrap(), s);
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,40}") {
            let _ = text.parse::<Symbol>();
        }
    }
}
