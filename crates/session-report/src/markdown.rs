//! Markdown rendering of an [`Analysis`]: the text of `report.md`. Pure; deterministic for a
//! given analysis (all maps are ordered).

use std::fmt::Write as _;

use rust_decimal::Decimal;
use trading_core::Timestamp;

use crate::analysis::{
    estimated_cycle_p95, money, pct_below, Analysis, CheckStatus, FunnelSource, Issue, Severity, TradeGroup,
};
use crate::charts::{funnel_stages, Chart};

/// The design names of the settings the report shows first, in this order.
const KEY_SETTINGS: [&str; 14] = [
    "MD_POLL_MS",
    "MD_BATCH_SIZE",
    "MD_BATCH_INTERVAL_MS",
    "DROP_TRIGGER_VALUE",
    "DROP_TRIGGER_MODE",
    "DROP_TRIGGER_LOOKBACK_MIN",
    "POSITION_SIZE_USDT",
    "MAX_CONCURRENT_POSITIONS",
    "GLOBAL_TRADING",
    "ORDER_FLOW_ENABLED",
    "HEARTBEAT_TIMEOUT_S",
    "HEARTBEAT_MODE",
    "SESSION_DIR",
    "STATE_DB",
];

/// Long lists (skip list, degraded symbols) are cut after this many rows.
const MAX_ROWS: usize = 50;

/// Ends a table that was cut at [`MAX_ROWS`] with how many rows were left out.
fn more(out: &mut String, total: usize) {
    if total > MAX_ROWS {
        let _ = writeln!(out, "\n... and {} more.", total - MAX_ROWS);
    }
    out.push('\n');
}

fn ms(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

fn hms(ms: u64) -> String {
    let s = ms / 1000;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}

fn usdt(d: Decimal) -> String {
    money(d)
}

/// Free text inside a table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

struct Ctx<'a> {
    start: Option<Timestamp>,
    a: &'a Analysis,
}

impl Ctx<'_> {
    /// `2025-10-26T18:08:15.911Z (+0:01:54)`.
    fn at(&self, ts: Timestamp) -> String {
        match self.start {
            Some(s) => {
                format!("{} (+{})", ts.to_rfc3339(), hms(u64::try_from(ts.millis_since(s)).unwrap_or(0)))
            }
            None => ts.to_rfc3339(),
        }
    }
}

/// Renders `report.md` for `a`, linking the given charts as `charts/<file>`.
pub fn render_markdown(a: &Analysis, charts: &[Chart]) -> String {
    let cx = Ctx { start: a.session.start, a };
    let mut out = String::new();
    summary(&cx, &mut out);
    issues(&cx, &mut out);
    market_data(&cx, &mut out, charts);
    funnel(&cx, &mut out, charts);
    no_trades(&cx, &mut out, charts);
    trading(&cx, &mut out, charts);
    configuration(&cx, &mut out);
    recommendations(&cx, &mut out);
    validation(&cx, &mut out);
    appendix(&cx, &mut out);
    out
}

fn chart_link(out: &mut String, charts: &[Chart], file: &str) {
    if let Some(c) = charts.iter().find(|c| c.file_name == file) {
        let _ = writeln!(out, "\n![{}](charts/{})\n", c.title, c.file_name);
    }
}

fn summary(cx: &Ctx<'_>, out: &mut String) {
    let a = cx.a;
    let s = &a.session;
    let name = s.session.as_deref().unwrap_or("(unknown session)");
    let _ = writeln!(out, "# Session report: {name}\n");
    let _ = writeln!(
        out,
        "Built from `events.jsonl` alone. Times are UTC with the offset from the first event.\n"
    );
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Run id | {} |", s.run_id.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "| Version | {} |", s.version.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "| Start | {} |", s.start.map_or("-".to_owned(), |t| t.to_rfc3339()));
    let _ = writeln!(out, "| End | {} |", s.end.map_or("-".to_owned(), |t| t.to_rfc3339()));
    let _ = writeln!(out, "| Duration | {} |", hms(s.duration_ms));
    let ended = match (&s.end_reason, s.exit_code) {
        (Some(r), Some(c)) => format!("{r} (exit code {c})"),
        (Some(r), None) => r.clone(),
        (None, _) => "**did not end cleanly** (no SESSION_ENDED)".to_owned(),
    };
    let _ = writeln!(out, "| Ended | {ended} |");
    let _ = writeln!(
        out,
        "| Events | {} read, {} lost by the writer, {} unreadable lines |",
        s.events_read,
        s.events_dropped,
        s.bad_lines.len()
    );
    let t = &a.trading;
    let win = t.win_rate_pct().map_or("-".to_owned(), |w| format!("{w} %"));
    let _ = writeln!(
        out,
        "| Trades | {} closed, win rate {win}, {} still open |",
        t.trades.len(),
        t.open_at_end.len()
    );
    let _ = writeln!(out, "| Realized PnL | {} USDT (fees {} USDT) |", usdt(t.pnl), usdt(t.fees));
    let md = &a.market_data;
    let target = md.target_ms.map_or("unknown".to_owned(), ms);
    let _ = writeln!(out, "| Market data | target cycle {target}, {} overruns |", md.overruns.len());
    let mut by_sev = [0u64; 4];
    for i in &a.issues {
        by_sev[i.severity as usize] += 1;
    }
    let _ = writeln!(
        out,
        "| Issues | {} critical, {} high, {} medium, {} low |",
        by_sev[0], by_sev[1], by_sev[2], by_sev[3]
    );
    let passed = a.checks.iter().filter(|c| c.status == CheckStatus::Pass).count();
    let applicable = a.checks.iter().filter(|c| c.status != CheckStatus::NotApplicable).count();
    let _ = writeln!(out, "| Validation | {passed} of {applicable} checks passed |");
    out.push('\n');
}

fn issues(cx: &Ctx<'_>, out: &mut String) {
    let _ = writeln!(out, "## Critical issues\n");
    if cx.a.issues.is_empty() {
        let _ = writeln!(out, "No rule found an issue.\n");
        return;
    }
    let _ = writeln!(out, "| # | Severity | Issue | Count | First | Last |\n|---|---|---|---|---|---|");
    for (n, i) in cx.a.issues.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            n + 1,
            i.severity.as_str(),
            cell(&i.title),
            i.count,
            cx.at(i.first),
            cx.at(i.last)
        );
    }
    out.push('\n');
    for (n, i) in cx.a.issues.iter().enumerate() {
        issue(cx, out, n + 1, i);
    }
}

fn issue(cx: &Ctx<'_>, out: &mut String, n: usize, i: &Issue) {
    let mark = if i.severity <= Severity::High { "❌" } else { "⚠️" };
    let _ = writeln!(out, "### {n}. {mark} {}: {}\n", i.severity.as_str(), i.title);
    let _ = writeln!(out, "- **Rule:** `{}`", i.rule);
    let _ = writeln!(out, "- **Count:** {}", i.count);
    let _ = writeln!(out, "- **First:** {}", cx.at(i.first));
    let _ = writeln!(out, "- **Last:** {}", cx.at(i.last));
    for c in &i.context {
        let _ = writeln!(out, "- {c}");
    }
    let _ = writeln!(out, "\nSample:\n\n```text\n{}\n```\n", i.sample);
}

fn market_data(cx: &Ctx<'_>, out: &mut String, charts: &[Chart]) {
    let md = &cx.a.market_data;
    let _ = writeln!(out, "## Market-data performance\n");
    let _ = writeln!(out, "### Configured vs actual\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ =
        writeln!(out, "| Target cycle (MD_POLL_MS) | {} |", md.target_ms.map_or("unknown".to_owned(), ms));
    let _ = writeln!(
        out,
        "| Watchlist | {} |",
        md.symbols.map_or("unknown".to_owned(), |n| format!("{n} symbols"))
    );
    if let Some(f) = &md.feasibility {
        let verdict = if f.feasible { "feasible" } else { "**not feasible**" };
        let _ = writeln!(
            out,
            "| Start-up check | {verdict}: {} mode, achievable {}, weight {} per cycle of {} per minute, probe latency {} |",
            f.mode,
            ms(f.achievable_ms),
            f.weight_per_cycle,
            f.weight_budget_per_min,
            ms(f.probe_latency_ms)
        );
        if !f.advice.is_empty() {
            let _ = writeln!(out, "| Start-up advice | {} |", cell(&f.advice));
        }
    } else {
        let _ = writeln!(out, "| Start-up check | no FEED_FEASIBILITY event |");
    }
    let measured = md.health.as_ref().and_then(|h| h.cycle);
    let cycles =
        md.estimated_cycles.filter(|_| md.observed).map_or("unknown".to_owned(), |c| format!("~{c}"));
    match measured {
        Some(c) => {
            let _ = writeln!(
                out,
                "| Cycles | {} measured in MD_HEALTH windows ({cycles} over the session) |",
                c.cycles
            );
            let _ = writeln!(
                out,
                "| Cycle duration, all cycles | p50 {} (typical window), p95 {}, p99 {} (worst window), max {} |",
                ms(c.typical_p50_ms),
                ms(c.worst_p95_ms),
                ms(c.worst_p99_ms),
                ms(c.max_ms)
            );
        }
        None => {
            let _ = writeln!(out, "| Cycles (estimated) | {cycles} |");
        }
    }
    if md.observed {
        let _ = writeln!(out, "| Overrun cycles | {} |", md.overruns.len());
    } else {
        let _ = writeln!(out, "| Overrun cycles | not measured |");
    }
    if let Some(p) = md.overrun_cycle {
        let _ = writeln!(
            out,
            "| Overrun cycle duration | min {}, p50 {}, p95 {}, p99 {}, max {}, mean {} |",
            ms(p.min),
            ms(p.p50),
            ms(p.p95),
            ms(p.p99),
            ms(p.max),
            ms(p.mean)
        );
        if let Some(p95) = estimated_cycle_p95(md).filter(|_| measured.is_none()) {
            let _ = writeln!(
                out,
                "| Estimated p95 of all cycles | {} (cycles within the target counted at the target) |",
                ms(p95)
            );
        }
        if let Some(t) = md.target_ms.filter(|t| *t > 0) {
            let ratio = Decimal::from(p.mean) / Decimal::from(t);
            let _ = writeln!(out, "| Mean overrun cycle / target | {}x |", ratio.round_dp(2));
        }
    }
    out.push('\n');
    if !md.observed {
        let _ = writeln!(
            out,
            "**No market-data event in this session** (no FEED_FEASIBILITY, MD_HEALTH or MD_POLL_OVERRUN): \
             the feed's performance was not measured; the target above comes from the configuration.\n"
        );
    } else if measured.is_some() {
        let _ = writeln!(
            out,
            "Every cycle's duration is measured by the feed and summarised per MD_HEALTH window; each \
             overrun is also an MD_POLL_OVERRUN event with its slowest symbol.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "Cycle durations are known only for cycles that overran (MD_POLL_OVERRUN); a cycle within its \
             target writes no event, so the percentiles describe the overrun cycles only.\n"
        );
    }
    if !md.overruns.is_empty() {
        let _ = writeln!(out, "### Overrun distribution (cycle / target)\n");
        let _ = writeln!(out, "| Cycle / target | Cycles | Share |\n|---|---|---|");
        let total = md.overruns.len() as u64;
        for b in &md.distribution {
            let share = Decimal::from(b.count * 100) / Decimal::from(total);
            let _ = writeln!(out, "| {} | {} | {} % |", b.label, b.count, share.round_dp(1));
        }
        out.push('\n');
    }
    if !md.slowest.is_empty() {
        let _ = writeln!(out, "### Slowest symbols (slowest request of an overrun cycle)\n");
        let _ = writeln!(out, "| Symbol | Times slowest | Slowest request |\n|---|---|---|");
        for s in &md.slowest {
            let _ = writeln!(out, "| {} | {} | {} |", s.symbol, s.times, ms(s.max_ms));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "### Health (MD_HEALTH)\n");
    match &md.health {
        Some(h) => {
            let _ = writeln!(out, "| | |\n|---|---|");
            let _ = writeln!(out, "| Reports | {} |", h.reports);
            let _ = writeln!(
                out,
                "| Success rate | {} % over {} requests (worst window {} %) |",
                (h.success_rate * Decimal::ONE_HUNDRED).round_dp(2),
                h.requests,
                (h.worst_success_rate * Decimal::ONE_HUNDRED).round_dp(2)
            );
            let _ = writeln!(
                out,
                "| Latency | typical p50 {}, worst p99 {} |",
                ms(h.typical_latency_p50_ms),
                ms(h.max_latency_p99_ms)
            );
            let _ = writeln!(out, "| Stale symbols | at most {} in a window |", h.max_stale_symbols);
            let _ = writeln!(
                out,
                "| Skip list size | {} at the first report, {} at the last |",
                h.skipped_first_last.0, h.skipped_first_last.1
            );
            let _ = writeln!(out, "| Degraded at the last report | {} |", h.degraded_last);
            let _ = writeln!(out, "| Weight spent | {} |", h.weight_used);
            out.push('\n');
        }
        None => {
            let _ = writeln!(out, "No MD_HEALTH events: success rate and latency are unknown.\n");
        }
    }
    let _ = writeln!(out, "### Skip list\n");
    if md.skipped.is_empty() {
        let _ = writeln!(out, "No symbol was skipped.\n");
    } else {
        let _ = writeln!(out, "| Symbol | Since | Reason |\n|---|---|---|");
        for s in md.skipped.iter().take(MAX_ROWS) {
            let _ = writeln!(out, "| {} | {} | {} |", s.symbol, cx.at(s.at), cell(&s.reason));
        }
        more(out, md.skipped.len());
    }
    let _ = writeln!(out, "### Degraded symbols\n");
    if md.degraded.is_empty() {
        let _ = writeln!(out, "No symbol was degraded.\n");
    } else {
        let _ = writeln!(out, "| Symbol | Times degraded | Recovered | Degraded at the end | Last reason |\n|---|---|---|---|---|");
        // Still degraded first: those are what the validation step fails on.
        let mut rows: Vec<_> = md.degraded.iter().collect();
        rows.sort_by_key(|d| !d.degraded_at_end);
        for d in rows.into_iter().take(MAX_ROWS) {
            let end = if d.degraded_at_end { "yes" } else { "no" };
            let reason = cell(&d.last_reason);
            let _ = writeln!(out, "| {} | {} | {} | {end} | {reason} |", d.symbol, d.times, d.recovered);
        }
        more(out, md.degraded.len());
    }
    chart_link(out, charts, "cycle_time.svg");
    chart_link(out, charts, "cycle_histogram.svg");
}

fn funnel(cx: &Ctx<'_>, out: &mut String, charts: &[Chart]) {
    let f = &cx.a.funnel;
    let _ = writeln!(out, "## Decision funnel\n");
    let source = match f.source {
        FunnelSource::Final => "the final FUNNEL_SNAPSHOT",
        FunnelSource::LastPeriodic => "the last periodic FUNNEL_SNAPSHOT (no final one was written)",
        FunnelSource::None => "the individual events only (no FUNNEL_SNAPSHOT: tick counts unknown)",
    };
    let _ = writeln!(
        out,
        "Signal-engine counts (ticks) come from {source}; order counts from the order events.\n"
    );
    let _ = writeln!(out, "| Stage | Count |\n|---|---|");
    for (label, n) in funnel_stages(cx.a) {
        let n = n.map_or_else(|| "unknown (no FUNNEL_SNAPSHOT)".to_owned(), |n| n.to_string());
        let _ = writeln!(out, "| {label} | {n} |");
    }
    let _ = writeln!(out, "| sell orders / fills | {} / {} |", f.sell_orders, f.sell_fills);
    if f.partial_exits > 0 {
        let _ = writeln!(out, "| partial exits (the position stayed open) | {} |", f.partial_exits);
    }
    let _ = writeln!(
        out,
        "| orders canceled / failed / outcome unknown | {} / {} / {} |",
        f.canceled, f.failed, f.unknown
    );
    if f.source != FunnelSource::None {
        let _ = writeln!(
            out,
            "| ticks: no drop / already fired / out of order / no price | {} / {} / {} / {} |",
            f.not_triggered, f.already_fired, f.out_of_order, f.no_price
        );
    }
    let _ = writeln!(out, "| DROP_DETECTED events | {} |", f.drop_events);
    out.push('\n');
    match f.adds_up {
        Some(true) => {
            let _ =
                writeln!(out, "The funnel adds up: evaluated = no drop + already fired + fired + blocked.\n");
        }
        Some(false) => {
            let _ = writeln!(
                out,
                "**The funnel does not add up:** evaluated {} != no drop {} + already fired {} + fired {} + blocked {}.\n",
                f.evaluated,
                f.not_triggered,
                f.already_fired,
                f.fired,
                f.blocked_by_guard.values().sum::<u64>()
            );
        }
        None => {}
    }
    let guards: std::collections::BTreeSet<&String> =
        f.blocked_by_guard.keys().chain(f.guard_events.keys()).collect();
    if !guards.is_empty() {
        let _ = writeln!(out, "### Guard blocks by guard\n");
        let _ =
            writeln!(out, "| Guard | Blocked drop ticks (snapshot) | GUARD_BLOCKED events |\n|---|---|---|");
        for g in guards {
            let snap = f.blocked_by_guard.get(g).map_or("-".to_owned(), u64::to_string);
            let _ =
                writeln!(out, "| {} | {snap} | {} |", cell(g), f.guard_events.get(g).copied().unwrap_or(0));
        }
        out.push('\n');
    }
    if !f.rejected_by_reason.is_empty() {
        let _ = writeln!(out, "### Rejected intents by reason\n");
        let _ = writeln!(out, "| Reason | Intents | First example |\n|---|---|---|");
        for (reason, n) in &f.rejected_by_reason {
            let example = f.rejected_examples.get(reason).map_or("", String::as_str);
            let _ = writeln!(out, "| {} | {n} | {} |", cell(reason), cell(example));
        }
        out.push('\n');
    }
    chart_link(out, charts, "funnel.svg");
    if cx.a.no_trades.is_none() && !f.deepest.is_empty() {
        chart_link(out, charts, "drop_depth.svg");
    }
}

fn no_trades(cx: &Ctx<'_>, out: &mut String, charts: &[Chart]) {
    let Some(e) = &cx.a.no_trades else {
        return;
    };
    let f = &cx.a.funnel;
    let heading = if cx.a.trading.trades.is_empty() { "Why no trades" } else { "Why so few trades" };
    let _ = writeln!(out, "## {heading}\n");
    let _ = writeln!(
        out,
        "{} closed trades. Trigger DROP_TRIGGER_VALUE = {} (a {} drop); {} of {} symbols with a recorded deepest drop reached it.\n",
        cx.a.trading.trades.len(),
        e.trigger,
        pct_below(e.trigger),
        e.reached,
        e.known
    );
    for r in &e.reasons {
        let _ = writeln!(out, "- {r}");
    }
    if !e.reasons.is_empty() {
        out.push('\n');
    }
    if !f.deepest.is_empty() {
        let _ = writeln!(out, "### Deepest drop per symbol (deepest first, up to 15)\n");
        let _ = writeln!(out, "| Symbol | Ratio | Drop | Gap to trigger | Price | Reference | At |\n|---|---|---|---|---|---|---|");
        for d in f.deepest.iter().take(15) {
            let gap = ((d.ratio - e.trigger) * Decimal::ONE_HUNDRED).round_dp(2);
            let gap = if d.ratio <= e.trigger { "reached".to_owned() } else { format!("{gap} pp short") };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {gap} | {} | {} | {} |",
                d.symbol,
                d.ratio.round_dp(6),
                pct_below(d.ratio),
                d.price,
                d.reference,
                cx.at(d.at)
            );
        }
        out.push('\n');
    }
    if e.known == 0 {
        let _ = writeln!(
            out,
            "No deepest drops were recorded (no FUNNEL_SNAPSHOT), so the triggers other thresholds would have \
             given cannot be computed.\n"
        );
        chart_link(out, charts, "drop_depth.svg");
        return;
    }
    let _ = writeln!(out, "### Nearby thresholds\n");
    let _ = writeln!(
        out,
        "Symbols whose deepest drop reached each threshold: a lower bound on the triggers it would have given \
         (the snapshot keeps one deepest drop per symbol, so repeated drops of a symbol are not counted).\n"
    );
    let _ = writeln!(out, "| DROP_TRIGGER_VALUE | Drop | Symbols reached |\n|---|---|---|");
    for w in &e.what_if {
        let mark = if w.trigger == e.trigger { " (configured)" } else { "" };
        let _ = writeln!(out, "| {}{mark} | {} | {} |", w.trigger, pct_below(w.trigger), w.symbols_reached);
    }
    out.push('\n');
    chart_link(out, charts, "drop_depth.svg");
}

fn group_table(out: &mut String, title: &str, key: &str, rows: Vec<(&str, &TradeGroup)>) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "### {title}\n");
    let _ = writeln!(
        out,
        "| {key} | Trades | Wins | Win rate | PnL (USDT) | Avg hold |\n|---|---|---|---|---|---|"
    );
    for (k, g) in rows {
        let rate = (Decimal::from(g.wins * 100) / Decimal::from(g.trades.max(1))).round_dp(1);
        let _ = writeln!(
            out,
            "| {k} | {} | {} | {rate} % | {} | {} |",
            g.trades,
            g.wins,
            usdt(g.pnl),
            hms(g.held_ms / g.trades.max(1))
        );
    }
    out.push('\n');
}

fn trading(cx: &Ctx<'_>, out: &mut String, charts: &[Chart]) {
    let t = &cx.a.trading;
    let _ = writeln!(out, "## Trading results\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Closed trades | {} |", t.trades.len());
    let _ = writeln!(out, "| Wins / losses | {} / {} |", t.wins, t.trades.len() as u64 - t.wins);
    let _ = writeln!(out, "| Win rate | {} |", t.win_rate_pct().map_or("-".to_owned(), |w| format!("{w} %")));
    let _ = writeln!(out, "| Realized PnL (fees included) | {} USDT |", usdt(t.pnl));
    let _ = writeln!(out, "| Fees paid | {} USDT |", usdt(t.fees));
    let _ = writeln!(out, "| Max drawdown (realized) | {} USDT |", usdt(t.max_drawdown));
    let _ = writeln!(
        out,
        "| Best / worst trade | {} / {} USDT |",
        t.best.map_or("-".to_owned(), usdt),
        t.worst.map_or("-".to_owned(), usdt)
    );
    let _ = writeln!(out, "| Bought notional | {} USDT |", usdt(t.bought_notional));
    let open: Vec<&str> = t.open_at_end.iter().map(String::as_str).collect();
    let _ = writeln!(
        out,
        "| Open at the end | {} |",
        if open.is_empty() { "none".to_owned() } else { open.join(", ") }
    );
    if let Some(reported) = t.reported_pnl {
        let agree = if reported == t.pnl { "agrees" } else { "**disagrees**" };
        let _ = writeln!(
            out,
            "| SESSION_ENDED realized PnL | {} USDT ({agree} with the closed positions) |",
            usdt(reported)
        );
    }
    out.push('\n');
    group_table(out, "Per symbol", "Symbol", t.by_symbol.iter().map(|(k, g)| (k.as_str(), g)).collect());
    group_table(out, "Per exit reason", "Exit reason", t.by_reason.iter().map(|(k, g)| (*k, g)).collect());
    chart_link(out, charts, "equity.svg");
}

/// A key setting the snapshot leaves unset, with what the bot does then: an unset
/// ORDER_FLOW_ENABLED or STATE_DB is decided by the venue, not off or missing.
fn unset(key: &str, venue: Option<&str>) -> String {
    let simulated = matches!(venue, Some("sim" | "sim-http"));
    match (key, venue) {
        ("ORDER_FLOW_ENABLED", Some(_)) if simulated => "(not set: on, the venue is simulated)".to_owned(),
        ("ORDER_FLOW_ENABLED", Some(v)) => format!("(not set: off, {v} is a real venue)"),
        ("STATE_DB", Some(_)) if simulated => "(not set: ledger.sqlite in the session directory)".to_owned(),
        ("STATE_DB", Some(v)) => format!("(not set: state/{v}.sqlite)"),
        _ => "(not set)".to_owned(),
    }
}

fn configuration(cx: &Ctx<'_>, out: &mut String) {
    let c = &cx.a.config;
    let _ = writeln!(out, "## Configuration\n");
    let Some(snapshot) = &c.snapshot else {
        let _ = writeln!(out, "No SESSION_STARTED event: the configuration is unknown.\n");
        return;
    };
    if let Some(e) = &c.parse_error {
        let _ = writeln!(out, "The snapshot is not valid TOML ({e}); shown as written.\n");
    } else {
        let _ = writeln!(out, "| Setting | Value |\n|---|---|");
        for key in KEY_SETTINGS {
            let value = c.get(key).map_or_else(|| unset(key, c.get("VENUE")), str::to_owned);
            let _ = writeln!(out, "| {key} | {} |", cell(&value));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<details><summary>Full configuration snapshot</summary>\n\n```toml\n{}\n```\n\n</details>\n",
        snapshot.trim_end()
    );
}

fn recommendations(cx: &Ctx<'_>, out: &mut String) {
    let _ = writeln!(out, "## Recommendations\n");
    if cx.a.recommendations.is_empty() {
        let _ = writeln!(out, "None: the measurements give no reason to change the settings.\n");
        return;
    }
    let mut recs: Vec<_> = cx.a.recommendations.iter().collect();
    recs.sort_by_key(|r| r.severity);
    for (n, r) in recs.iter().enumerate() {
        let _ = writeln!(out, "{}. **[{}] {}**: {}", n + 1, r.severity.as_str(), r.topic, r.text);
    }
    out.push('\n');
}

fn validation(cx: &Ctx<'_>, out: &mut String) {
    let _ = writeln!(out, "## Post-fix validation\n");
    let _ = writeln!(out, "| Check | Expected | Measured | Result |\n|---|---|---|---|");
    for c in &cx.a.checks {
        let mark = match c.status {
            CheckStatus::Pass => "✅ PASS",
            CheckStatus::Fail => "❌ FAIL",
            CheckStatus::NoData => "❔ NO DATA",
            CheckStatus::NotApplicable => "➖ N/A",
        };
        let _ = writeln!(out, "| {} | {} | {} | {mark} |", c.name, cell(&c.expected), cell(&c.measured));
    }
    out.push('\n');
}

fn appendix(cx: &Ctx<'_>, out: &mut String) {
    let s = &cx.a.session;
    let _ = writeln!(out, "## Appendix: events by type\n");
    let _ = writeln!(out, "| Event type | Count |\n|---|---|");
    for (t, n) in &s.by_type {
        let _ = writeln!(out, "| {t} | {n} |");
    }
    out.push('\n');
    if !s.bad_lines.is_empty() {
        let _ = writeln!(out, "### Unreadable lines (first 20)\n");
        for b in s.bad_lines.iter().take(20) {
            let _ = writeln!(out, "- {}", b.message);
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;
    use telemetry::{Event, EventRecord, RunId};

    use super::*;
    use crate::analysis::analyze;

    #[test]
    fn an_unset_setting_the_venue_decides_says_what_the_venue_made_of_it() {
        assert_eq!(unset("ORDER_FLOW_ENABLED", Some("sim")), "(not set: on, the venue is simulated)");
        assert_eq!(unset("ORDER_FLOW_ENABLED", Some("binance")), "(not set: off, binance is a real venue)");
        assert_eq!(unset("STATE_DB", Some("mexc")), "(not set: state/mexc.sqlite)");
        assert_eq!(unset("ORDER_FLOW_ENABLED", None), "(not set)", "no venue, no guess");
        assert_eq!(unset("MD_POLL_MS", Some("sim")), "(not set)");
    }

    fn rec(ms: i64, event: Event) -> EventRecord {
        EventRecord {
            ts: Timestamp::from_millis(1_700_000_000_000 + ms),
            event,
            schema: 1,
            run_id: RunId::new("r"),
        }
    }

    /// A decide-only session of an early build: decisions, no feed or funnel events.
    #[test]
    fn what_the_events_do_not_carry_is_called_unknown_not_zero() {
        let records = vec![
            rec(
                0,
                Event::SessionStarted {
                    run_id: RunId::new("r"),
                    session: "session_dry".to_owned(),
                    version: "0.1.0".to_owned(),
                    config_snapshot: "MD_POLL_MS = 1500\nORDER_FLOW_ENABLED = false\n".to_owned(),
                },
            ),
            rec(
                1_000,
                Event::DropDetected {
                    symbol: "A/USDT".parse().unwrap(),
                    price: dec!(98),
                    reference: dec!(100),
                    ratio: dec!(0.98),
                    trigger: dec!(0.985),
                    mode: "anchor_reset".to_owned(),
                    lookback_min: 15,
                },
            ),
            rec(
                2_000,
                Event::GuardBlocked {
                    symbol: "B/USDT".parse().unwrap(),
                    guard: "cooldown | x".to_owned(),
                    value: None,
                    threshold: dec!(30),
                },
            ),
        ];
        let text = render_markdown(&analyze(&records, Vec::new()), &[]);
        assert!(text.contains("| ticks evaluated | unknown (no FUNNEL_SNAPSHOT) |"), "{text}");
        assert!(text.contains("| drops (below trigger) | 2 |"), "{text}");
        assert!(text.contains("| Overrun cycles | not measured |"), "{text}");
        assert!(
            text.contains("| MD_POLL_OVERRUN count | 0 | no market-data events | ❔ NO DATA |"),
            "{text}"
        );
        assert!(text.contains("| cooldown \\| x | - | 1 |"), "a pipe in a cell is escaped: {text}");
        assert!(text.contains("(ORDER_FLOW_ENABLED = false in the configuration)"), "{text}");
        assert!(text.contains("**did not end cleanly**"), "{text}");
        assert!(!text.contains("charts/"), "no chart links without charts");
    }
}
