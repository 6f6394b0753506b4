//! [`MemorySink`]: an in-memory [`EventSink`] for tests (feature `test-utils`).

use std::sync::Arc;

use parking_lot::Mutex;

use crate::{Event, EventSink};

/// Collects emitted events in memory so tests can assert on them. Clones share the same list.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<Event>>>,
}

impl MemorySink {
    /// A sink with no events.
    pub fn new() -> Self {
        MemorySink::default()
    }

    /// A copy of every event emitted so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    /// Removes and returns the events emitted so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock())
    }
}

impl EventSink for MemorySink {
    fn emit(&self, event: Event) {
        self.events.lock().push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_events_in_order_and_take_empties() {
        let sink = MemorySink::new();
        let dyn_sink: Arc<dyn EventSink> = Arc::new(sink.clone());
        dyn_sink.emit(Event::LoopLag { lag_ms: 1, threshold_ms: 2 });
        sink.emit(Event::TelemetryDropped { count: 3 });
        assert_eq!(
            sink.events(),
            vec![Event::LoopLag { lag_ms: 1, threshold_ms: 2 }, Event::TelemetryDropped { count: 3 }]
        );
        assert_eq!(sink.take().len(), 2);
        assert!(sink.events().is_empty());
    }
}
