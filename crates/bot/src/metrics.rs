//! Prometheus metrics (`METRICS_ADDR`): counters fed by the telemetry event stream itself (a
//! tee in front of the writer, so every event that is written is also counted) and gauges the
//! session sets from its components' snapshots (budget, positions, PnL, feed, tasks).

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use telemetry::{Event, EventSink};

type Labels = Vec<(String, String)>;

/// The bot's metrics. Cheap to share (`Arc`); updating never blocks and never fails.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    md_overruns: Counter,
    orders: Family<Labels, Counter>,
    guard_blocks: Family<Labels, Counter>,
    positions_closed: Counter,
    gauges: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every metric of the bot, prefixed `drop_bot_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("drop_bot");
        let events = Family::<Labels, Counter>::default();
        registry.register("events", "Telemetry events emitted, by event_type", events.clone());
        let md_overruns = Counter::default();
        registry.register("md_overruns", "Market-data cycles longer than MD_POLL_MS", md_overruns.clone());
        let orders = Family::<Labels, Counter>::default();
        registry.register("orders", "Order lifecycle events, by state", orders.clone());
        let guard_blocks = Family::<Labels, Counter>::default();
        registry.register("guard_blocks", "Drops blocked, by guard", guard_blocks.clone());
        let positions_closed = Counter::default();
        registry.register(
            "positions_closed",
            "Positions closed completely (a partial exit, after which the position stays open, does not count)",
            positions_closed.clone(),
        );
        let gauges = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "state",
            "Current values: budget_free/reserved/committed_usdt, open_positions, realized_pnl_usdt, \
             unrealized_pnl_usdt, md_cycle_p50_ms, md_cycle_p99_ms, task_silent_ms{task}",
            gauges.clone(),
        );
        Metrics { registry, events, md_overruns, orders, guard_blocks, positions_closed, gauges }
    }

    /// Counts one event.
    pub fn observe(&self, event: &Event) {
        self.events.get_or_create(&vec![("event_type".into(), event.event_type().into())]).inc();
        match event {
            Event::MdPollOverrun { .. } => {
                self.md_overruns.inc();
            }
            Event::GuardBlocked { guard, .. } => {
                self.guard_blocks.get_or_create(&vec![("guard".into(), guard.clone())]).inc();
            }
            Event::OrderSubmitted { .. } => self.order("submitted"),
            Event::OrderFilled { .. } => self.order("filled"),
            Event::OrderCanceled { .. } => self.order("canceled"),
            Event::OrderFailed { .. } => self.order("failed"),
            Event::OrderOutcomeUnknown { .. } => self.order("outcome_unknown"),
            Event::PositionClosed { remaining, .. } if remaining.is_zero() => {
                self.positions_closed.inc();
            }
            _ => {}
        }
    }

    /// How many events of `event_type` were seen (the session's totals come from here, so they
    /// agree with what was written).
    pub fn count(&self, event_type: &str) -> u64 {
        self.events.get_or_create(&vec![("event_type".into(), event_type.into())]).get()
    }

    /// Positions closed completely (POSITION_CLOSED events with nothing remaining).
    pub fn positions_closed(&self) -> u64 {
        self.positions_closed.get()
    }

    fn order(&self, state: &str) {
        self.orders.get_or_create(&vec![("state".into(), state.into())]).inc();
    }

    /// Sets a gauge (`name` from the list in the `state` help text), optionally per task.
    pub fn set(&self, name: &str, task: Option<&str>, value: f64) {
        let mut labels: Labels = vec![("name".into(), name.into())];
        if let Some(task) = task {
            labels.push(("task".into(), task.into()));
        }
        self.gauges.get_or_create(&labels).set(value);
    }

    /// The exposition text (Prometheus text format).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// An [`EventSink`] that counts every event in [`Metrics`] and passes it on unchanged.
#[derive(Debug, Clone)]
pub struct MetricsSink {
    inner: Arc<dyn EventSink>,
    metrics: Arc<Metrics>,
}

impl MetricsSink {
    /// Tees `inner` into `metrics`.
    pub fn new(inner: Arc<dyn EventSink>, metrics: Arc<Metrics>) -> Self {
        MetricsSink { inner, metrics }
    }
}

impl EventSink for MetricsSink {
    fn emit(&self, event: Event) {
        self.metrics.observe(&event);
        self.inner.emit(event);
    }
}

/// Serves `GET /metrics` on `addr` until the returned handle is dropped or aborted.
///
/// # Errors
/// The bind error, naming the address.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("METRICS_ADDR {addr}: cannot bind: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("METRICS_ADDR {addr}: {e}"))?;
    let app =
        axum::Router::new().route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render())
                }
            }),
        );
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "metrics endpoint stopped");
        }
    });
    Ok((local, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_counted_and_rendered() {
        let metrics = Arc::new(Metrics::new());
        let memory = telemetry::MemorySink::new();
        let sink = MetricsSink::new(Arc::new(memory.clone()), metrics.clone());
        for event in telemetry::sample_events() {
            sink.emit(event);
        }
        metrics.set("budget_free_usdt", None, 9_900.5);
        metrics.set("task_silent_ms", Some("md-feed"), 120.0);
        let text = metrics.render();
        assert_eq!(memory.events().len(), telemetry::sample_events().len(), "events pass through");
        assert!(text.contains("drop_bot_events_total{event_type=\"ORDER_FILLED\"} 1"), "{text}");
        assert!(text.contains("drop_bot_md_overruns_total 1"), "{text}");
        assert!(text.contains("drop_bot_orders_total{state=\"filled\"} 1"), "{text}");
        // the sample POSITION_CLOSED leaves nothing; a partial exit is not a closed position
        assert!(text.contains("drop_bot_positions_closed_total 1"), "{text}");
        metrics.observe(&partial_exit());
        assert_eq!(metrics.positions_closed(), 1, "a partial exit is not counted");
        assert!(text.contains("drop_bot_state{name=\"budget_free_usdt\"} 9900.5"), "{text}");
        assert!(text.contains("drop_bot_state{name=\"task_silent_ms\",task=\"md-feed\"} 120"), "{text}");
    }

    fn partial_exit() -> Event {
        Event::PositionClosed {
            symbol: "BTC/USDT".parse().unwrap(),
            quantity: rust_decimal::Decimal::ONE,
            entry_price: rust_decimal::Decimal::TEN,
            exit_price: rust_decimal::Decimal::TEN,
            pnl: rust_decimal::Decimal::ZERO,
            reason: telemetry::ExitReason::TakeProfit,
            held_ms: 1,
            remaining: rust_decimal::Decimal::ONE,
        }
    }

    #[tokio::test]
    async fn the_endpoint_serves_the_exposition_over_http() {
        let metrics = Arc::new(Metrics::new());
        metrics.set("open_positions", None, 3.0);
        let (addr, handle) = serve("127.0.0.1:0".parse().unwrap(), metrics).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).await.unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.contains("drop_bot_state{name=\"open_positions\"} 3"), "{body}");
        handle.abort();
    }
}
