//! The account and matching side of the venue: balances, orders, fills.
//!
//! Orders match against the simulated top of book and a synthetic depth behind it (each further
//! level one spread worse and half again as deep), so big market orders walk the book and pay
//! for it. Resting limit orders fill at their price when a later step's book crosses them,
//! at most the quantity shown at the top per step (hence partial fills).

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::{Decimal, RoundingStrategy};
use trading_core::{
    Balance, ClientOrderId, Order, OrderId, OrderRef, OrderStatus, OrderType, RuleViolation, Side,
    TimeInForce, Timestamp,
};

use crate::error::ApiError;
use crate::market::{Spec, Top};
use crate::SimConfig;

const BOOK_LEVELS: u32 = 50;

/// An order as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewOrder {
    pub(crate) market: usize,
    pub(crate) side: Side,
    pub(crate) order_type: OrderType,
    pub(crate) quantity: Decimal,
    pub(crate) price: Option<Decimal>,
    pub(crate) time_in_force: Option<TimeInForce>,
    pub(crate) client_order_id: ClientOrderId,
    /// Fault: fill a marketable limit order only partly and expire the rest.
    pub(crate) partial_then_cancel: bool,
}

/// What a placement would do, worked out before anything changes.
struct Plan {
    tif: TimeInForce,
    /// The taker part: (price, quantity) per level.
    takes: Vec<(Decimal, Decimal)>,
    /// What does not fill at once expires (market, IOC, FOK, the partial fault).
    expire_rest: bool,
    /// Funds locked for the order, in `lock_asset`.
    lock: Decimal,
    lock_asset: String,
}

/// One execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FillRec {
    pub(crate) price: Decimal,
    pub(crate) qty: Decimal,
    pub(crate) commission: Decimal,
    pub(crate) commission_asset: String,
    pub(crate) trade_id: u64,
    pub(crate) ts: Timestamp,
    /// The order rested on the book when it filled (maker fee).
    pub(crate) maker: bool,
}

/// An order with what the venue needs beyond [`Order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrderRec {
    pub(crate) order: Order,
    pub(crate) market: usize,
    pub(crate) venue_id: String,
    pub(crate) time_in_force: TimeInForce,
    pub(crate) fills: Vec<FillRec>,
    /// What is still locked for it (quote for buys, base for sells).
    locked: Decimal,
}

impl OrderRec {
    pub(crate) fn numeric_id(&self) -> u64 {
        self.order.id.0.parse().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Holding {
    free: Decimal,
    locked: Decimal,
}

/// Accounts, orders and matching.
#[derive(Debug, Clone)]
pub(crate) struct Venue {
    orders: BTreeMap<u64, OrderRec>,
    by_client: BTreeMap<ClientOrderId, u64>,
    open: BTreeMap<usize, BTreeSet<u64>>,
    balances: BTreeMap<String, Holding>,
    next_order_id: u64,
    next_trade_id: u64,
    taker_fee: Decimal,
    maker_fee: Decimal,
    slippage_bps: Decimal,
}

fn insufficient() -> ApiError {
    ApiError::rejected("Account has insufficient balance for requested action.")
}

pub(crate) fn violation_to_api(v: &RuleViolation) -> ApiError {
    match v {
        RuleViolation::MarketClosed { .. } => ApiError::bad(-1013, "Market is closed."),
        RuleViolation::NonPositivePrice(_)
        | RuleViolation::PriceOffTick { .. }
        | RuleViolation::PriceOutOfRange { .. } => ApiError::filter("PRICE_FILTER"),
        RuleViolation::NonPositiveQuantity(_)
        | RuleViolation::QtyOffStep { .. }
        | RuleViolation::BelowMinQty { .. }
        | RuleViolation::AboveMaxQty { .. } => ApiError::filter("LOT_SIZE"),
        RuleViolation::BelowMinNotional { .. } | RuleViolation::AboveMaxNotional { .. } => {
            ApiError::filter("NOTIONAL")
        }
    }
}

fn fee_of(amount: Decimal, rate: Decimal) -> Decimal {
    (amount * rate).round_dp_with_strategy(8, RoundingStrategy::AwayFromZero)
}

impl Venue {
    pub(crate) fn new(config: &SimConfig) -> Venue {
        Venue {
            orders: BTreeMap::new(),
            by_client: BTreeMap::new(),
            open: BTreeMap::new(),
            balances: config
                .initial_balances
                .iter()
                .map(|(a, v)| (a.clone(), Holding { free: *v, locked: Decimal::ZERO }))
                .collect(),
            next_order_id: 1,
            next_trade_id: 1,
            taker_fee: config.taker_fee,
            maker_fee: config.maker_fee,
            slippage_bps: config.slippage_bps,
        }
    }

    /// Markets with resting orders (the stepper reports their books after every step).
    pub(crate) fn watched(&self) -> BTreeSet<usize> {
        self.open.iter().filter(|(_, ids)| !ids.is_empty()).map(|(m, _)| *m).collect()
    }

    fn holding(&mut self, asset: &str) -> &mut Holding {
        self.balances.entry(asset.to_owned()).or_default()
    }

    /// Balances of every asset the account has ever held, by asset name.
    pub(crate) fn balances(&self) -> Vec<Balance> {
        self.balances
            .iter()
            .map(|(a, h)| Balance { asset: a.clone(), free: h.free, locked: h.locked })
            .collect()
    }

    /// Every order, oldest first.
    pub(crate) fn all_orders(&self) -> impl Iterator<Item = &OrderRec> {
        self.orders.values()
    }

    /// The synthetic book on the side an order of `side` takes from: (price, qty) per level.
    fn levels(spec: &Spec, top: &Top, side: Side) -> Vec<(Decimal, Decimal)> {
        let gap = (top.ask - top.bid).max(spec.tick);
        let (start, qty, sign) = match side {
            Side::Buy => (top.ask, top.ask_qty, Decimal::ONE),
            Side::Sell => (top.bid, top.bid_qty, Decimal::NEGATIVE_ONE),
        };
        let step = spec.step;
        (0..BOOK_LEVELS)
            .map_while(move |k| {
                let k = Decimal::from(k);
                let price = start + sign * gap * k;
                let depth = qty + (qty * k / Decimal::TWO / step).floor() * step;
                (price > Decimal::ZERO).then_some((price, depth))
            })
            .collect()
    }

    fn slip(&self, spec: &Spec, side: Side, price: Decimal) -> Decimal {
        if self.slippage_bps.is_zero() {
            return price;
        }
        let factor = self.slippage_bps / Decimal::from(10_000);
        match side {
            Side::Buy => spec.rules.ceil_price(price * (Decimal::ONE + factor)),
            Side::Sell => spec.rules.floor_price(price * (Decimal::ONE - factor)).max(spec.tick),
        }
    }

    /// Places an order: validates it like the venue, takes what crosses, rests the rest.
    /// Runs every check a placement runs (parameters, filters, duplicate client order id,
    /// funds) and plans the taker part, changing nothing.
    fn plan(&self, spec: &Spec, top: &Top, req: &NewOrder) -> Result<Plan, ApiError> {
        let base = spec.symbol.base().to_owned();
        let quote = spec.symbol.quote().to_owned();
        if req.quantity <= Decimal::ZERO {
            return Err(ApiError::filter("LOT_SIZE"));
        }
        let tif = match (req.order_type, req.price, req.time_in_force) {
            (OrderType::Market, Some(_), _) => return Err(ApiError::not_required("price")),
            (OrderType::Market, None, Some(_)) => return Err(ApiError::not_required("timeInForce")),
            (OrderType::Market, None, None) => TimeInForce::Gtc,
            (OrderType::Limit | OrderType::LimitMaker, None, _) => return Err(ApiError::mandatory("price")),
            (OrderType::Limit, Some(_), None) => return Err(ApiError::mandatory("timeInForce")),
            (OrderType::Limit, Some(_), Some(t)) => t,
            (OrderType::LimitMaker, Some(_), Some(_)) => return Err(ApiError::not_required("timeInForce")),
            (OrderType::LimitMaker, Some(_), None) => TimeInForce::Gtc,
        };
        let reference = match (req.price, req.side) {
            (Some(p), _) => p,
            (None, Side::Buy) => top.ask,
            (None, Side::Sell) => top.bid,
        };
        spec.rules.check(reference, req.quantity).map_err(|v| violation_to_api(&v))?;
        if let Some(&id) = self.by_client.get(&req.client_order_id) {
            if self.orders.get(&id).is_some_and(|o| o.order.status.is_open()) {
                return Err(ApiError::rejected("Duplicate order sent."));
            }
        }
        let crosses = |p: Decimal| match req.side {
            Side::Buy => p <= reference,
            Side::Sell => p >= reference,
        };
        let marketable = req.order_type == OrderType::Market
            || crosses(match req.side {
                Side::Buy => top.ask,
                Side::Sell => top.bid,
            });
        if req.order_type == OrderType::LimitMaker && marketable {
            return Err(ApiError::rejected("Order would immediately match and take."));
        }
        // Plan the taker part.
        let mut plan: Vec<(Decimal, Decimal)> = Vec::new();
        if marketable {
            let mut left = req.quantity;
            for (p, q) in Self::levels(spec, top, req.side) {
                if left.is_zero() || (req.order_type != OrderType::Market && !crosses(p)) {
                    break;
                }
                let take = left.min(q);
                plan.push((self.slip(spec, req.side, p), take));
                left -= take;
            }
        }
        let planned: Decimal = plan.iter().map(|(_, q)| *q).sum();
        let mut expire_rest = match req.order_type {
            OrderType::Market => true,
            _ => matches!(tif, TimeInForce::Ioc | TimeInForce::Fok),
        };
        if tif == TimeInForce::Fok && planned < req.quantity {
            plan.clear();
        }
        if req.partial_then_cancel && req.order_type == OrderType::Limit && planned == req.quantity {
            let half = spec.rules.floor_qty(req.quantity / Decimal::TWO);
            if half > Decimal::ZERO {
                let mut left = half;
                for (_, q) in plan.iter_mut() {
                    *q = (*q).min(left);
                    left -= *q;
                }
                plan.retain(|(_, q)| !q.is_zero());
                expire_rest = true;
            }
        }
        // Funds: the whole order for what rests, the planned cost for what takes.
        let rests = !expire_rest && plan.iter().map(|(_, q)| *q).sum::<Decimal>() < req.quantity;
        let lock = match (req.side, req.price) {
            (Side::Buy, Some(p)) if rests || !plan.is_empty() => p * req.quantity,
            (Side::Buy, _) => plan.iter().map(|(p, q)| p * q).sum(),
            (Side::Sell, _) => req.quantity,
        };
        let lock_asset = if req.side == Side::Buy { quote } else { base };
        let free = self.balances.get(&lock_asset).map_or(Decimal::ZERO, |h| h.free);
        if free < lock {
            return Err(insufficient());
        }
        Ok(Plan { tif, takes: plan, expire_rest, lock, lock_asset })
    }

    /// Validates `req` exactly as [`Venue::place`] would (`POST /api/v3/order/test`): the same
    /// error for the same request, but no order, no fill, no balance change.
    pub(crate) fn test(&self, spec: &Spec, top: &Top, req: &NewOrder) -> Result<(), ApiError> {
        self.plan(spec, top, req).map(|_| ())
    }

    pub(crate) fn place(
        &mut self,
        spec: &Spec,
        top: &Top,
        now: Timestamp,
        req: NewOrder,
    ) -> Result<OrderRec, ApiError> {
        let Plan { tif, takes: plan, expire_rest, lock, lock_asset } = self.plan(spec, top, &req)?;
        {
            let h = self.holding(&lock_asset);
            h.free -= lock;
            h.locked += lock;
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut rec = OrderRec {
            order: Order {
                id: OrderId(id.to_string()),
                client_order_id: req.client_order_id.clone(),
                symbol: spec.symbol.clone(),
                side: req.side,
                order_type: req.order_type,
                status: OrderStatus::New,
                price: req.price,
                quantity: req.quantity,
                filled_quantity: Decimal::ZERO,
                cumulative_quote: Decimal::ZERO,
                created_at: now,
                updated_at: now,
            },
            market: req.market,
            venue_id: spec.venue_id.clone(),
            time_in_force: tif,
            fills: Vec::new(),
            locked: lock,
        };
        for (p, q) in plan {
            self.execute(&mut rec, spec, p, q, (self.taker_fee, false), now);
        }
        if rec.order.filled_quantity < rec.order.quantity && expire_rest {
            rec.order.status = OrderStatus::Expired;
            self.release(&mut rec, spec);
        }
        self.by_client.insert(rec.order.client_order_id.clone(), id);
        if rec.order.status.is_open() {
            self.open.entry(req.market).or_default().insert(id);
        }
        self.orders.insert(id, rec.clone());
        Ok(rec)
    }

    /// Executes `q` at `p` for `rec`, moving balances and charging `fee_rate` (maker or taker).
    fn execute(
        &mut self,
        rec: &mut OrderRec,
        spec: &Spec,
        p: Decimal,
        q: Decimal,
        (fee_rate, maker): (Decimal, bool),
        now: Timestamp,
    ) {
        let (base, quote) = (spec.symbol.base().to_owned(), spec.symbol.quote().to_owned());
        let notional = p * q;
        let (commission, asset) = match rec.order.side {
            Side::Buy => {
                let fee = fee_of(q, fee_rate);
                let unlock = match rec.order.price {
                    Some(limit) => limit * q,
                    None => notional,
                };
                let h = self.holding(&quote);
                h.locked -= unlock;
                h.free += unlock - notional;
                rec.locked -= unlock;
                self.holding(&base).free += q - fee;
                (fee, base)
            }
            Side::Sell => {
                let fee = fee_of(notional, fee_rate);
                self.holding(&base).locked -= q;
                rec.locked -= q;
                self.holding(&quote).free += notional - fee;
                (fee, quote)
            }
        };
        rec.order.filled_quantity += q;
        rec.order.cumulative_quote += notional;
        rec.order.updated_at = now;
        rec.order.status = if rec.order.filled_quantity >= rec.order.quantity {
            OrderStatus::Filled
        } else {
            OrderStatus::PartiallyFilled
        };
        rec.fills.push(FillRec {
            price: p,
            qty: q,
            commission,
            commission_asset: asset,
            trade_id: self.next_trade_id,
            ts: now,
            maker,
        });
        self.next_trade_id += 1;
        if rec.order.status == OrderStatus::Filled {
            self.release(rec, spec);
        }
    }

    /// Returns what is still locked for `rec` to the free balance.
    fn release(&mut self, rec: &mut OrderRec, spec: &Spec) {
        if rec.locked.is_zero() {
            return;
        }
        let asset =
            if rec.order.side == Side::Buy { spec.symbol.quote() } else { spec.symbol.base() }.to_owned();
        let amount = rec.locked;
        let h = self.holding(&asset);
        h.locked -= amount;
        h.free += amount;
        rec.locked = Decimal::ZERO;
    }

    /// After a market step: fills resting orders of market `m` that the new book crosses.
    pub(crate) fn on_step(&mut self, m: usize, spec: &Spec, top: &Top) {
        let Some(ids) = self.open.get(&m) else { return };
        let ids: Vec<u64> = ids.iter().copied().collect();
        let (mut bid_left, mut ask_left) = (top.bid_qty, top.ask_qty);
        for id in ids {
            let Some(mut rec) = self.orders.remove(&id) else { continue };
            let limit = rec.order.price.unwrap_or_default();
            let remaining = rec.order.quantity - rec.order.filled_quantity;
            let available = match rec.order.side {
                Side::Buy if top.ask <= limit => &mut ask_left,
                Side::Sell if top.bid >= limit => &mut bid_left,
                _ => {
                    self.orders.insert(id, rec);
                    continue;
                }
            };
            let q = remaining.min(*available);
            *available -= q;
            if q > Decimal::ZERO {
                self.execute(&mut rec, spec, limit, q, (self.maker_fee, true), top.ts);
            }
            if rec.order.status.is_terminal() {
                if let Some(set) = self.open.get_mut(&m) {
                    set.remove(&id);
                }
            }
            self.orders.insert(id, rec);
        }
    }

    fn lookup(&self, m: usize, order: &OrderRef) -> Option<u64> {
        let id = match order {
            OrderRef::Exchange(id) => id.0.parse::<u64>().ok()?,
            OrderRef::Client(c) => *self.by_client.get(c)?,
        };
        self.orders.get(&id).filter(|o| o.market == m).map(|_| id)
    }

    /// One order of market `m`.
    pub(crate) fn find(&self, m: usize, order: &OrderRef) -> Result<&OrderRec, ApiError> {
        self.lookup(m, order).and_then(|id| self.orders.get(&id)).ok_or_else(ApiError::no_such_order)
    }

    /// Cancels an open order; a terminal or unknown one is `-2011 Unknown order sent.`.
    pub(crate) fn cancel(
        &mut self,
        m: usize,
        spec: &Spec,
        order: &OrderRef,
        now: Timestamp,
    ) -> Result<OrderRec, ApiError> {
        let id = self.lookup(m, order).ok_or_else(ApiError::unknown_order_cancel)?;
        let mut rec = self.orders.remove(&id).ok_or_else(ApiError::unknown_order_cancel)?;
        if rec.order.status.is_terminal() {
            self.orders.insert(id, rec);
            return Err(ApiError::unknown_order_cancel());
        }
        rec.order.status = if rec.order.filled_quantity > Decimal::ZERO {
            OrderStatus::PartiallyCanceled
        } else {
            OrderStatus::Canceled
        };
        rec.order.updated_at = now;
        self.release(&mut rec, spec);
        if let Some(set) = self.open.get_mut(&m) {
            set.remove(&id);
        }
        self.orders.insert(id, rec.clone());
        Ok(rec)
    }

    /// Open orders of one market or of all, oldest first.
    pub(crate) fn open_orders(&self, m: Option<usize>) -> Vec<OrderRec> {
        self.orders
            .values()
            .filter(|o| o.order.status.is_open() && m.is_none_or(|m| o.market == m))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Market;
    use rust_decimal_macros::dec;

    struct Fixture {
        market: Market,
        venue: Venue,
    }

    fn fixture() -> Fixture {
        let config = SimConfig {
            symbols: 3,
            history_minutes: 5,
            initial_balances: BTreeMap::from([("USDT".into(), dec!(100000)), ("ETH".into(), dec!(10))]),
            ..SimConfig::default()
        };
        let mut market = Market::new(&config, Timestamp::from_millis(1_000_000_000_000)).unwrap();
        market.set_mid(1, dec!(3000)); // ETH/USDT
        Fixture { market, venue: Venue::new(&config) }
    }

    fn req(
        side: Side,
        order_type: OrderType,
        qty: Decimal,
        price: Option<Decimal>,
        tif: Option<TimeInForce>,
        cid: &str,
    ) -> NewOrder {
        NewOrder {
            market: 1,
            side,
            order_type,
            quantity: qty,
            price,
            time_in_force: tif,
            client_order_id: ClientOrderId::new(cid).unwrap(),
            partial_then_cancel: false,
        }
    }

    impl Fixture {
        fn place(&mut self, r: NewOrder) -> Result<OrderRec, ApiError> {
            let top = self.market.top(1);
            self.venue.place(self.market.spec(1), &top, top.ts, r)
        }
        fn bal(&self, asset: &str) -> (Decimal, Decimal) {
            let b = self.venue.balances().into_iter().find(|b| b.asset == asset).unwrap();
            (b.free, b.locked)
        }
        fn step_with_mid(&mut self, mid: Decimal) {
            self.market.set_mid(1, mid);
            let top = self.market.top(1);
            self.venue.on_step(1, self.market.spec(1), &top);
        }
    }

    #[track_caller]
    fn check_rejected(r: Result<OrderRec, ApiError>, code: i64, msg: &str) {
        let e = r.unwrap_err();
        assert_eq!((e.code, e.msg.as_str()), (code, msg));
    }

    #[test]
    fn market_buy_fills_at_the_ask_and_charges_the_fee_in_base() {
        let mut f = fixture();
        let top = f.market.top(1);
        let o = f.place(req(Side::Buy, OrderType::Market, dec!(0.01), None, None, "m1")).unwrap();
        assert_eq!(o.order.status, OrderStatus::Filled);
        assert_eq!(o.fills[0].price, top.ask);
        assert_eq!(o.fills[0].commission, dec!(0.00001));
        assert_eq!(f.bal("ETH").0, dec!(10) + dec!(0.01) - dec!(0.00001));
        assert_eq!(f.bal("USDT"), (dec!(100000) - top.ask * dec!(0.01), dec!(0)));
    }

    #[test]
    fn big_market_order_walks_the_book() {
        let mut f = fixture();
        let top = f.market.top(1);
        let qty = f.market.spec(1).rules.floor_qty(top.ask_qty * dec!(3));
        let o = f.place(req(Side::Buy, OrderType::Market, qty, None, None, "m2")).unwrap();
        assert!(o.fills.len() >= 2);
        assert!(o.fills.windows(2).all(|w| w[1].price > w[0].price));
        assert_eq!(o.order.filled_quantity, qty);
    }

    #[test]
    fn resting_limit_fills_when_price_crosses_partially_then_fully() {
        let mut f = fixture();
        let price = dec!(2900);
        let top = f.market.top(1);
        let qty = f.market.spec(1).rules.floor_qty(top.ask_qty * dec!(1.5));
        let o = f
            .place(req(Side::Buy, OrderType::Limit, qty, Some(price), Some(TimeInForce::Gtc), "l1"))
            .unwrap();
        assert_eq!(o.order.status, OrderStatus::New);
        assert_eq!(f.bal("USDT").1, price * qty);
        f.step_with_mid(dec!(2950));
        assert_eq!(
            f.venue.find(1, &OrderRef::Exchange(o.order.id.clone())).unwrap().order.status,
            OrderStatus::New
        );
        f.step_with_mid(dec!(2899));
        let after = f.venue.find(1, &OrderRef::Client(o.order.client_order_id.clone())).unwrap().clone();
        assert_eq!(after.order.status, OrderStatus::PartiallyFilled, "{after:?}");
        assert!(after.fills.iter().all(|x| x.price == price));
        for _ in 0..10 {
            f.step_with_mid(dec!(2899));
        }
        let done = f.venue.find(1, &OrderRef::Exchange(o.order.id.clone())).unwrap();
        assert_eq!(done.order.status, OrderStatus::Filled);
        assert_eq!(f.bal("USDT"), (dec!(100000) - price * qty, dec!(0)));
        assert!(f.venue.watched().is_empty());
    }

    #[test]
    fn cancel_releases_locked_funds_and_second_cancel_is_unknown() {
        let mut f = fixture();
        let o = f
            .place(req(Side::Sell, OrderType::Limit, dec!(1), Some(dec!(4000)), Some(TimeInForce::Gtc), "s1"))
            .unwrap();
        assert_eq!(f.bal("ETH"), (dec!(9), dec!(1)));
        let spec = f.market.spec(1).clone();
        let c = f.venue.cancel(1, &spec, &OrderRef::Exchange(o.order.id.clone()), Timestamp::EPOCH).unwrap();
        assert_eq!(c.order.status, OrderStatus::Canceled);
        assert_eq!(f.bal("ETH"), (dec!(10), dec!(0)));
        check_rejected(
            f.venue
                .cancel(1, &spec, &OrderRef::Exchange(o.order.id), Timestamp::EPOCH)
                .map(|_| unreachable!()),
            -2011,
            "Unknown order sent.",
        );
    }

    /// `test` answers exactly as `place` would for every kind of request, and changes nothing.
    #[test]
    fn test_answers_as_place_would_and_changes_nothing() {
        let f = fixture();
        let (gtc, ioc) = (Some(TimeInForce::Gtc), Some(TimeInForce::Ioc));
        let top = f.market.top(1);
        let cases = [
            req(Side::Buy, OrderType::Market, dec!(0.1), None, None, "ok-mkt"),
            req(Side::Buy, OrderType::Limit, dec!(0.1), Some(dec!(2900)), gtc, "ok-lim"),
            req(Side::Sell, OrderType::Limit, dec!(1), Some(dec!(3100)), ioc, "ok-ioc"),
            req(Side::Buy, OrderType::Limit, dec!(0.001), Some(dec!(2900.005)), gtc, "price"),
            req(Side::Buy, OrderType::Limit, dec!(0.00001), Some(dec!(2900)), gtc, "notional"),
            req(Side::Buy, OrderType::Market, dec!(0.1), Some(dec!(2900)), None, "mkt-price"),
            req(Side::Buy, OrderType::Limit, dec!(0.1), Some(dec!(2900)), None, "no-tif"),
            req(Side::Buy, OrderType::LimitMaker, dec!(0.1), Some(top.ask), None, "would-take"),
            req(Side::Buy, OrderType::Limit, dec!(100), Some(dec!(2900)), gtc, "funds"),
            req(Side::Sell, OrderType::Market, dec!(11), None, None, "no-eth"),
        ];
        let mut rejected = 0;
        for r in cases {
            let before = (f.venue.balances(), f.venue.all_orders().count(), f.venue.next_order_id);
            let tested = f.venue.test(f.market.spec(1), &top, &r).map_err(|e| (e.code, e.msg));
            assert_eq!(before, (f.venue.balances(), f.venue.all_orders().count(), f.venue.next_order_id));
            let placed = f.venue.clone().place(f.market.spec(1), &top, top.ts, r.clone());
            let placed = placed.map(|_| ()).map_err(|e| (e.code, e.msg));
            assert_eq!(tested, placed, "{r:?}");
            rejected += usize::from(tested.is_err());
        }
        assert_eq!(rejected, 7, "the cases cover rejections and acceptances");
    }

    #[test]
    fn filter_and_funds_rejections_use_binance_codes() {
        let mut f = fixture();
        let gtc = Some(TimeInForce::Gtc);
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(0.001), Some(dec!(2900.005)), gtc, "a")),
            -1013,
            "Filter failure: PRICE_FILTER",
        );
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(0.00001), Some(dec!(2900)), gtc, "a")),
            -1013,
            "Filter failure: LOT_SIZE",
        );
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(0.001), Some(dec!(2900)), gtc, "a")),
            -1013,
            "Filter failure: NOTIONAL",
        );
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(-1), Some(dec!(2900)), gtc, "a")),
            -1013,
            "Filter failure: LOT_SIZE",
        );
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(100), Some(dec!(2900)), gtc, "a")),
            -2010,
            "Account has insufficient balance for requested action.",
        );
        check_rejected(
            f.place(req(Side::Buy, OrderType::LimitMaker, dec!(0.01), Some(dec!(3100)), None, "a")),
            -2010,
            "Order would immediately match and take.",
        );
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(0.01), None, gtc, "a")),
            -1102,
            "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
        );
        f.place(req(Side::Buy, OrderType::Limit, dec!(0.01), Some(dec!(2000)), gtc, "dup")).unwrap();
        check_rejected(
            f.place(req(Side::Buy, OrderType::Limit, dec!(0.01), Some(dec!(2000)), gtc, "dup")),
            -2010,
            "Duplicate order sent.",
        );
    }

    #[test]
    fn fok_and_ioc_and_partial_then_cancel() {
        let mut f = fixture();
        let top = f.market.top(1);
        let huge = f.market.spec(1).rules.floor_qty(top.ask_qty * dec!(40));
        let fok = f
            .place(req(
                Side::Buy,
                OrderType::Limit,
                huge.min(dec!(30)),
                Some(top.ask),
                Some(TimeInForce::Fok),
                "fok",
            ))
            .unwrap();
        assert_eq!((fok.order.status, fok.order.filled_quantity), (OrderStatus::Expired, dec!(0)));
        let qty = f.market.spec(1).rules.floor_qty(top.ask_qty * dec!(2)).min(dec!(30));
        let ioc = f
            .place(req(Side::Buy, OrderType::Limit, qty, Some(top.ask), Some(TimeInForce::Ioc), "ioc"))
            .unwrap();
        assert_eq!(ioc.order.status, OrderStatus::Expired);
        assert_eq!(ioc.order.filled_quantity, top.ask_qty.min(qty));
        let mut r =
            req(Side::Buy, OrderType::Limit, dec!(0.01), Some(top.ask), Some(TimeInForce::Gtc), "ptc");
        r.partial_then_cancel = true;
        let p = f.place(r).unwrap();
        assert_eq!((p.order.status, p.order.filled_quantity), (OrderStatus::Expired, dec!(0.005)));
        assert_eq!(f.bal("USDT").1, dec!(0), "nothing stays locked");
    }
}
