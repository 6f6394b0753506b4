//! The SQLite ledger: intents, orders, fills, positions, reservations and the budget, so a
//! restarted router continues where it stopped.
//!
//! Bundled SQLite, WAL journal, `synchronous=FULL`; every change is one transaction; the intent
//! row with its client order id is committed before the request leaves the process. The
//! schema is versioned (`PRAGMA user_version`) and migrated forward on open.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use rust_decimal::Decimal;
use trading_core::{ClientOrderId, Fill, OrderId, Symbol, Timestamp};

use crate::{Budget, IntentId, OrderRecord, OrderState, Position, RouterError, RouterState};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed change survives a power cut. The only setting for trading.
    Full,
    /// `synchronous=NORMAL` (with WAL): a committed change survives a crash of the process, not
    /// a power cut. For a venue whose own state does not outlive the process either (the
    /// in-process simulator), where a per-commit fsync would protect nothing and dominate a
    /// simulated day's run time.
    ProcessCrashSafe,
    /// `synchronous=OFF`: no fsync. For benchmarks that measure what the fsync costs; never trade
    /// with it.
    NoSyncForBenchmarks,
}

/// The schema, one migration per version (`user_version` = number applied).
const MIGRATIONS: &[&str] = &[
    // v1
    "CREATE TABLE intents (
        intent_id TEXT PRIMARY KEY,
        client_order_id TEXT NOT NULL UNIQUE,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        intent_json TEXT NOT NULL,
        plan_json TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE orders (
        client_order_id TEXT PRIMARY KEY REFERENCES intents(client_order_id),
        state TEXT NOT NULL,
        order_id TEXT,
        filled_quantity TEXT NOT NULL,
        cumulative_quote TEXT NOT NULL,
        fee_quote TEXT NOT NULL,
        fee_base TEXT NOT NULL,
        fees_estimated INTEGER NOT NULL,
        sent_at INTEGER,
        updated_at INTEGER NOT NULL,
        cancel_requested INTEGER NOT NULL,
        settled INTEGER NOT NULL,
        note TEXT NOT NULL
    );
    CREATE INDEX orders_active ON orders(settled, state);
    CREATE TABLE fills (
        symbol TEXT NOT NULL,
        trade_id TEXT NOT NULL,
        order_id TEXT NOT NULL,
        client_order_id TEXT,
        side TEXT NOT NULL,
        price TEXT NOT NULL,
        quantity TEXT NOT NULL,
        fee TEXT NOT NULL,
        fee_asset TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (symbol, trade_id)
    );
    CREATE INDEX fills_by_time ON fills(symbol, ts);
    CREATE TABLE positions (
        symbol TEXT PRIMARY KEY,
        quantity TEXT NOT NULL,
        locked TEXT NOT NULL,
        cost TEXT NOT NULL,
        entry_price TEXT NOT NULL,
        fees_quote TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        realised_pnl TEXT NOT NULL
    );
    CREATE TABLE reservations (
        intent_id TEXT PRIMARY KEY REFERENCES intents(intent_id),
        amount TEXT NOT NULL
    );
    CREATE TABLE budget (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        total TEXT NOT NULL,
        free TEXT NOT NULL,
        committed TEXT NOT NULL,
        realised_pnl TEXT NOT NULL
    );",
];

/// One change of the router's state, written as one transaction.
#[derive(Debug, Default)]
pub(crate) struct Change<'a> {
    /// A new intent row (written once, before its request is sent).
    pub(crate) new_intent: Option<&'a OrderRecord>,
    /// Order records whose mutable part changed (their reservations are written too).
    pub(crate) orders: Vec<&'a OrderRecord>,
    /// Positions that changed (`None` = closed, row deleted).
    pub(crate) positions: Vec<(Symbol, Option<&'a Position>)>,
    /// Fills learned (ignored when already known).
    pub(crate) fills: Vec<(Fill, Option<ClientOrderId>)>,
    /// The budget after the change.
    pub(crate) budget: Option<&'a Budget>,
}

/// The ledger file. Thread-safe; every write is one SQLite transaction.
#[derive(Debug)]
pub struct Ledger {
    conn: Mutex<Connection>,
}

fn dec(s: &str, table: &'static str, key: &str) -> Result<Decimal, RouterError> {
    Decimal::from_str(s).map_err(|e| RouterError::LedgerCorrupt {
        table,
        key: key.to_owned(),
        reason: format!("{s:?} is not a decimal: {e}"),
    })
}

/// Runs one statement of a write through the connection's prepared-statement cache.
fn cached<P: rusqlite::Params>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

impl Ledger {
    /// Newest schema version this build writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    /// Opens (or creates) the ledger at `path`: WAL, the given durability, foreign keys on, and
    /// the schema migrated to [`Ledger::SCHEMA_VERSION`] (each migration one transaction). A file
    /// written by a newer build is refused.
    pub fn open(path: &Path, durability: Durability) -> Result<Ledger, RouterError> {
        let mut conn = Connection::open(path).map_err(RouterError::ledger("open"))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(RouterError::ledger("set journal_mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(RouterError::LedgerCorrupt {
                table: "pragma",
                key: "journal_mode".into(),
                reason: format!("WAL refused (got {mode})"),
            });
        }
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::ProcessCrashSafe => "NORMAL",
            Durability::NoSyncForBenchmarks => "OFF",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(RouterError::ledger("set synchronous"))?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(RouterError::ledger("set foreign_keys"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(RouterError::ledger("read version"))?;
        if version > Self::SCHEMA_VERSION {
            return Err(RouterError::LedgerVersion { found: version, supported: Self::SCHEMA_VERSION });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            let tx = conn.transaction().map_err(RouterError::ledger("begin migration"))?;
            tx.execute_batch(sql).map_err(RouterError::ledger("migrate"))?;
            tx.pragma_update(None, "user_version", i + 1).map_err(RouterError::ledger("set version"))?;
            tx.commit().map_err(RouterError::ledger("commit migration"))?;
        }
        Ok(Ledger { conn: Mutex::new(conn) })
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64, RouterError> {
        self.conn
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(RouterError::ledger("read version"))
    }

    /// Writes one change as one transaction (statements come from the connection's cache: an
    /// order's life writes the same few statements again and again, and parsing them each time
    /// cost more than running them).
    pub(crate) fn write(&self, change: &Change<'_>) -> Result<(), RouterError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(RouterError::ledger("begin"))?;
        let w = RouterError::ledger("write");
        if let Some(r) = change.new_intent {
            let intent_json = serde_json::to_string(&r.intent).map_err(|e| corrupt_json("intents", r, e))?;
            let plan_json = serde_json::to_string(&r.plan).map_err(|e| corrupt_json("intents", r, e))?;
            cached(&tx,
                "INSERT INTO intents (intent_id, client_order_id, symbol, side, intent_json, plan_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    r.intent.id.as_str(),
                    r.client_order_id.as_str(),
                    r.intent.symbol.as_str(),
                    r.intent.side.as_str(),
                    intent_json,
                    plan_json,
                    r.created_at.as_millis()
                ],
            )
            .map_err(RouterError::ledger("write intent"))?;
        }
        let mut orders: Vec<&OrderRecord> = change.orders.clone();
        if let Some(r) = change.new_intent {
            if !orders.iter().any(|o| o.client_order_id == r.client_order_id) {
                orders.push(r);
            }
        }
        for r in orders {
            cached(&tx,
                "INSERT INTO orders (client_order_id, state, order_id, filled_quantity, cumulative_quote, fee_quote,
                    fee_base, fees_estimated, sent_at, updated_at, cancel_requested, settled, note)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(client_order_id) DO UPDATE SET state = excluded.state, order_id = excluded.order_id,
                    filled_quantity = excluded.filled_quantity, cumulative_quote = excluded.cumulative_quote,
                    fee_quote = excluded.fee_quote, fee_base = excluded.fee_base,
                    fees_estimated = excluded.fees_estimated, sent_at = excluded.sent_at,
                    updated_at = excluded.updated_at, cancel_requested = excluded.cancel_requested,
                    settled = excluded.settled, note = excluded.note",
                params![
                    r.client_order_id.as_str(),
                    r.state.as_str(),
                    r.order_id.as_ref().map(|o| o.0.as_str()),
                    r.filled_quantity.to_string(),
                    r.cumulative_quote.to_string(),
                    r.fee_quote.to_string(),
                    r.fee_base.to_string(),
                    r.fees_estimated,
                    r.sent_at.map(Timestamp::as_millis),
                    r.updated_at.as_millis(),
                    r.cancel_requested,
                    r.settled,
                    r.note
                ],
            )
            .map_err(RouterError::ledger("write order"))?;
            if let Some(b) = change.budget {
                let amount = b.reservation(&r.intent.id);
                if amount.is_zero() && !b.reservations().contains_key(&r.intent.id) {
                    cached(
                        &tx,
                        "DELETE FROM reservations WHERE intent_id = ?1",
                        params![r.intent.id.as_str()],
                    )
                    .map_err(RouterError::ledger("delete reservation"))?;
                } else {
                    cached(
                        &tx,
                        "INSERT INTO reservations (intent_id, amount) VALUES (?1, ?2)
                         ON CONFLICT(intent_id) DO UPDATE SET amount = excluded.amount",
                        params![r.intent.id.as_str(), amount.to_string()],
                    )
                    .map_err(RouterError::ledger("write reservation"))?;
                }
            }
        }
        for (symbol, pos) in &change.positions {
            match pos {
                None => {
                    cached(&tx, "DELETE FROM positions WHERE symbol = ?1", params![symbol.as_str()])
                        .map_err(RouterError::ledger("delete position"))?;
                }
                Some(p) => {
                    cached(&tx,
                        "INSERT INTO positions (symbol, quantity, locked, cost, entry_price, fees_quote, opened_at, realised_pnl)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT(symbol) DO UPDATE SET quantity = excluded.quantity, locked = excluded.locked,
                            cost = excluded.cost, entry_price = excluded.entry_price, fees_quote = excluded.fees_quote,
                            opened_at = excluded.opened_at, realised_pnl = excluded.realised_pnl",
                        params![
                            symbol.as_str(),
                            p.quantity.to_string(),
                            p.locked.to_string(),
                            p.cost.to_string(),
                            p.entry_price.to_string(),
                            p.fees_quote.to_string(),
                            p.opened_at.as_millis(),
                            p.realised_pnl.to_string()
                        ],
                    )
                    .map_err(RouterError::ledger("write position"))?;
                }
            }
        }
        for (f, cid) in &change.fills {
            cached(&tx,
                "INSERT OR IGNORE INTO fills (symbol, trade_id, order_id, client_order_id, side, price, quantity, fee, fee_asset, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    f.symbol.as_str(),
                    f.trade_id,
                    f.order_id.0,
                    cid.as_ref().map(ClientOrderId::as_str),
                    f.side.as_str(),
                    f.price.to_string(),
                    f.quantity.to_string(),
                    f.fee.to_string(),
                    f.fee_asset,
                    f.ts.as_millis()
                ],
            )
            .map_err(RouterError::ledger("write fill"))?;
        }
        if let Some(b) = change.budget {
            cached(
                &tx,
                "INSERT INTO budget (id, total, free, committed, realised_pnl) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET total = excluded.total, free = excluded.free,
                    committed = excluded.committed, realised_pnl = excluded.realised_pnl",
                params![
                    b.total().to_string(),
                    b.free().to_string(),
                    b.committed().to_string(),
                    b.realised_pnl().to_string()
                ],
            )
            .map_err(w)?;
        }
        tx.commit().map_err(RouterError::ledger("commit"))
    }

    /// The fills the ledger knows for one market, oldest first.
    pub fn fills(&self, symbol: &Symbol) -> Result<Vec<Fill>, RouterError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT trade_id, order_id, side, price, quantity, fee, fee_asset, ts FROM fills
                 WHERE symbol = ?1 ORDER BY ts, trade_id",
            )
            .map_err(RouterError::ledger("read fills"))?;
        let rows = stmt
            .query_map(params![symbol.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .map_err(RouterError::ledger("read fills"))?;
        let mut out = Vec::new();
        for row in rows {
            let (trade_id, order_id, side, price, qty, fee, fee_asset, ts) =
                row.map_err(RouterError::ledger("read fills"))?;
            let side = match side.as_str() {
                "BUY" => trading_core::Side::Buy,
                "SELL" => trading_core::Side::Sell,
                other => {
                    return Err(RouterError::LedgerCorrupt {
                        table: "fills",
                        key: trade_id,
                        reason: format!("side {other:?}"),
                    })
                }
            };
            out.push(Fill {
                price: dec(&price, "fills", &trade_id)?,
                quantity: dec(&qty, "fills", &trade_id)?,
                fee: dec(&fee, "fills", &trade_id)?,
                trade_id,
                order_id: OrderId(order_id),
                symbol: symbol.clone(),
                side,
                fee_asset,
                ts: Timestamp::from_millis(ts),
            });
        }
        Ok(out)
    }

    /// Loads the whole state; `None` for a fresh ledger (no budget row yet).
    pub fn load(&self) -> Result<Option<RouterState>, RouterError> {
        let conn = self.conn.lock();
        let read = RouterError::ledger("load");
        let budget_row: Option<(String, String, String, String)> = conn
            .query_row("SELECT total, free, committed, realised_pnl FROM budget WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
            .map_err(read)?;
        let Some((total, free, committed, pnl)) = budget_row else { return Ok(None) };
        let mut reservations = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT intent_id, amount FROM reservations")
                .map_err(RouterError::ledger("load"))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(RouterError::ledger("load"))?;
            for row in rows {
                let (id, amount) = row.map_err(RouterError::ledger("load"))?;
                let amount = dec(&amount, "reservations", &id)?;
                reservations.insert(IntentId::new(id)?, amount);
            }
        }
        let budget = Budget::from_parts(
            dec(&total, "budget", "1")?,
            dec(&free, "budget", "1")?,
            dec(&committed, "budget", "1")?,
            dec(&pnl, "budget", "1")?,
            reservations,
        );
        let mut state = RouterState::new(budget.total());
        state.budget = budget;
        {
            let mut stmt = conn
                .prepare(
                    "SELECT i.client_order_id, i.intent_json, i.plan_json, i.created_at, o.state, o.order_id,
                        o.filled_quantity, o.cumulative_quote, o.fee_quote, o.fee_base, o.fees_estimated, o.sent_at,
                        o.updated_at, o.cancel_requested, o.settled, o.note
                     FROM intents i JOIN orders o ON o.client_order_id = i.client_order_id",
                )
                .map_err(RouterError::ledger("load"))?;
            let mut rows = stmt.query([]).map_err(RouterError::ledger("load"))?;
            while let Some(r) = rows.next().map_err(RouterError::ledger("load"))? {
                let g = |e| RouterError::Ledger { operation: "load", source: e };
                let cid: String = r.get(0).map_err(g)?;
                let key = cid.clone();
                let corrupt =
                    |reason: String| RouterError::LedgerCorrupt { table: "orders", key: key.clone(), reason };
                let intent_json: String = r.get(1).map_err(g)?;
                let plan_json: String = r.get(2).map_err(g)?;
                let state_text: String = r.get(4).map_err(g)?;
                let order_id: Option<String> = r.get(5).map_err(g)?;
                let rec = OrderRecord {
                    intent: serde_json::from_str(&intent_json).map_err(|e| corrupt(e.to_string()))?,
                    plan: serde_json::from_str(&plan_json).map_err(|e| corrupt(e.to_string()))?,
                    client_order_id: ClientOrderId::new(cid.clone()).map_err(|e| corrupt(e.to_string()))?,
                    created_at: Timestamp::from_millis(r.get(3).map_err(g)?),
                    state: OrderState::from_str(&state_text).map_err(corrupt)?,
                    order_id: order_id.map(OrderId),
                    filled_quantity: dec(&r.get::<_, String>(6).map_err(g)?, "orders", &cid)?,
                    cumulative_quote: dec(&r.get::<_, String>(7).map_err(g)?, "orders", &cid)?,
                    fee_quote: dec(&r.get::<_, String>(8).map_err(g)?, "orders", &cid)?,
                    fee_base: dec(&r.get::<_, String>(9).map_err(g)?, "orders", &cid)?,
                    fees_estimated: r.get(10).map_err(g)?,
                    sent_at: r.get::<_, Option<i64>>(11).map_err(g)?.map(Timestamp::from_millis),
                    updated_at: Timestamp::from_millis(r.get(12).map_err(g)?),
                    cancel_requested: r.get(13).map_err(g)?,
                    settled: r.get(14).map_err(g)?,
                    note: r.get(15).map_err(g)?,
                };
                state.insert(rec);
            }
        }
        {
            let mut stmt = conn
                .prepare("SELECT symbol, quantity, locked, cost, entry_price, fees_quote, opened_at, realised_pnl FROM positions")
                .map_err(RouterError::ledger("load"))?;
            let mut rows = stmt.query([]).map_err(RouterError::ledger("load"))?;
            while let Some(r) = rows.next().map_err(RouterError::ledger("load"))? {
                let g = |e| RouterError::Ledger { operation: "load", source: e };
                let sym: String = r.get(0).map_err(g)?;
                let symbol: Symbol = sym.parse().map_err(|e: trading_core::SymbolError| {
                    RouterError::LedgerCorrupt { table: "positions", key: sym.clone(), reason: e.to_string() }
                })?;
                let d = |i: usize| -> Result<Decimal, RouterError> {
                    dec(&r.get::<_, String>(i).map_err(g)?, "positions", &sym)
                };
                let p = Position {
                    symbol: symbol.clone(),
                    quantity: d(1)?,
                    locked: d(2)?,
                    cost: d(3)?,
                    entry_price: d(4)?,
                    fees_quote: d(5)?,
                    opened_at: Timestamp::from_millis(r.get(6).map_err(g)?),
                    realised_pnl: d(7)?,
                };
                state.positions.insert(symbol, p);
            }
        }
        Ok(Some(state))
    }
}

fn corrupt_json(table: &'static str, r: &OrderRecord, e: serde_json::Error) -> RouterError {
    RouterError::LedgerCorrupt { table, key: r.client_order_id.to_string(), reason: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn opens_with_wal_full_sync_and_the_current_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let ledger = Ledger::open(&path, Durability::Full).unwrap();
        assert_eq!(ledger.schema_version().unwrap(), Ledger::SCHEMA_VERSION);
        let conn = ledger.conn.lock();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2), "WAL and synchronous=FULL");
        drop(conn);
        assert!(ledger.load().unwrap().is_none(), "fresh ledger has no state");
        // Reopening does not migrate twice.
        drop(ledger);
        assert_eq!(Ledger::open(&path, Durability::Full).unwrap().schema_version().unwrap(), 1);
    }

    #[test]
    fn a_newer_schema_and_unreadable_rows_are_refused_with_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        let ledger = Ledger::open(&path, Durability::Full).unwrap();
        let budget = Budget::new(dec!(100));
        ledger.write(&Change { budget: Some(&budget), ..Change::default() }).unwrap();
        assert_eq!(ledger.load().unwrap().unwrap().budget, budget);
        ledger.conn.lock().execute("UPDATE budget SET free = 'ten'", []).unwrap();
        match ledger.load() {
            Err(RouterError::LedgerCorrupt { table, .. }) => assert_eq!(table, "budget"),
            other => panic!("expected a corrupt-row error, got {other:?}"),
        }
        ledger.conn.lock().pragma_update(None, "user_version", 99).unwrap();
        drop(ledger);
        match Ledger::open(&path, Durability::Full) {
            Err(RouterError::LedgerVersion { found: 99, supported: 1 }) => {}
            other => panic!("expected a version error, got {other:?}"),
        }
    }
}
