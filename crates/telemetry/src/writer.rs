//! [`Telemetry`]: the handle to the background JSONL writer.
//!
//! `emit` reads the clock and `try_send`s into a bounded Tokio channel: it never waits and never
//! fails. A writer task serializes events into a buffer and writes it to the file on a blocking
//! thread when the buffer is large or the flush interval ticks; every tick also reports lost
//! events as one `TELEMETRY_DROPPED` line and `fsync`s the file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use trading_core::{Clock, Timestamp};

use crate::event::{ts_ser, SCHEMA_VERSION};
use crate::{Event, EventSink, LogLosses, RunId, TelemetryError};

/// Buffered bytes that trigger a write before the next tick.
const WRITE_CHUNK_BYTES: usize = 64 * 1024;

/// Where the lines go: the events file, or a stand-in in tests (a disk that fills up).
pub(crate) trait Target: Write + Send + 'static {
    /// Makes written data durable (`fsync`).
    fn sync(&mut self) -> std::io::Result<()>;
}

impl Target for File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
}

/// One line in the buffer: where it ends and what it carries.
#[derive(Debug, Clone, Copy)]
struct LineMark {
    /// Offset just past its `\n`.
    end: usize,
    kind: LineKind,
}

#[derive(Debug, Clone, Copy)]
enum LineKind {
    /// An emitted event.
    Event,
    /// A `TELEMETRY_DROPPED` line announcing this many lost events.
    Dropped(u64),
    /// A `LOG_DROPPED` line announcing this many lost lines of log file number `.0`.
    LogDropped(usize, u64),
}

/// Settings of the writer. `Default` is sized for a bot emitting a few thousand events a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Events the queue holds before `emit` starts dropping (and counting) them.
    pub capacity: NonZeroUsize,
    /// How often buffered lines are written, lost events reported and the file `fsync`ed.
    pub flush_interval: Duration,
    /// Most events taken from the queue in one go.
    pub max_batch: NonZeroUsize,
    /// `fsync` at every interval flush (the default: a power cut loses at most one interval).
    /// `false`: lines are still written at every interval (a crash of the process loses
    /// nothing written), but `fsync`ed only by [`Telemetry::flush`] and at shutdown; for a
    /// session whose venue does not outlive the process (the in-process simulator), as the
    /// ledger's `ProcessCrashSafe`.
    pub sync_every_flush: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            capacity: NonZeroUsize::new(65_536).unwrap_or(NonZeroUsize::MIN),
            flush_interval: Duration::from_secs(1),
            max_batch: NonZeroUsize::new(1_024).unwrap_or(NonZeroUsize::MIN),
            sync_every_flush: true,
        }
    }
}

/// Counts reported by [`Telemetry::flush`] and [`Telemetry::shutdown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterSummary {
    /// Emitted events written to the file (not counting `TELEMETRY_DROPPED` lines).
    pub written: u64,
    /// Events lost: queue full, writer stopped, or the write failed.
    pub dropped: u64,
    /// Of `dropped`, how many are announced by `TELEMETRY_DROPPED` lines in the file.
    pub dropped_reported: u64,
    /// Failed write or `fsync` calls.
    pub write_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    dropped_reported: AtomicU64,
    write_errors: AtomicU64,
}

impl Counters {
    fn summary(&self) -> WriterSummary {
        WriterSummary {
            written: self.written.load(Ordering::Acquire),
            dropped: self.dropped.load(Ordering::Acquire),
            dropped_reported: self.dropped_reported.load(Ordering::Acquire),
            write_errors: self.write_errors.load(Ordering::Acquire),
        }
    }
}

enum Control {
    Flush(oneshot::Sender<WriterSummary>),
    Shutdown(oneshot::Sender<WriterSummary>),
}

struct Shared {
    tx: mpsc::Sender<(Timestamp, Event)>,
    control: mpsc::UnboundedSender<Control>,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    path: PathBuf,
    run_id: RunId,
    log_losses: Arc<parking_lot::Mutex<Option<LogLosses>>>,
}

/// The handle to the background JSONL writer of one session's `events.jsonl`.
///
/// Cheap to clone (all clones feed the same writer). [`EventSink::emit`] never blocks and
/// never fails: an event that does not fit in the queue, or whose write fails, is counted and
/// later reported as [`Event::TelemetryDropped`]. Call [`Telemetry::shutdown`] before exit to
/// write and `fsync` everything still queued.
#[derive(Clone)]
pub struct Telemetry {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("path", &self.shared.path)
            .field("run_id", &self.shared.run_id)
            .field("summary", &self.shared.counters.summary())
            .finish()
    }
}

impl Telemetry {
    /// Opens (creating or appending to) the events file at `path` and starts the writer task on
    /// the current Tokio runtime.
    ///
    /// Fails when the file cannot be opened (the error names the path and the cause) or when
    /// called outside a Tokio runtime.
    pub fn start(
        path: impl Into<PathBuf>,
        run_id: RunId,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
    ) -> Result<Telemetry, TelemetryError> {
        let path = path.into();
        let runtime = tokio::runtime::Handle::try_current().map_err(TelemetryError::NoRuntime)?;
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|source| {
            TelemetryError::Io { action: "open events file", path: path.clone(), source }
        })?;
        Ok(Self::start_on(&runtime, path, Box::new(file), run_id, clock, config))
    }

    /// Starts the writer over any [`Target`] (tests use a disk that fills up).
    pub(crate) fn start_on(
        runtime: &tokio::runtime::Handle,
        path: PathBuf,
        file: Box<dyn Target>,
        run_id: RunId,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
    ) -> Telemetry {
        let (tx, rx) = mpsc::channel(config.capacity.get());
        let log_losses = Arc::new(parking_lot::Mutex::new(None));
        let (control, control_rx) = mpsc::unbounded_channel();
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            rx,
            control_rx,
            file: Some(file),
            buf: Vec::with_capacity(WRITE_CHUNK_BYTES * 2),
            marks: Vec::new(),
            buffered_reported: 0,
            log_losses: log_losses.clone(),
            log_reported: Vec::new(),
            unsynced: false,
            broken_line: false,
            batch: Vec::with_capacity(config.max_batch.get()),
            config,
            clock: clock.clone(),
            run_id: run_id.clone(),
            counters: counters.clone(),
            path: path.clone(),
        };
        runtime.spawn(writer.run());
        Telemetry { shared: Arc::new(Shared { tx, control, clock, counters, path, run_id, log_losses }) }
    }

    /// The events file this writer appends to.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The run id written on every line.
    pub fn run_id(&self) -> &RunId {
        &self.shared.run_id
    }

    /// Reports the log writers' losses (from [`LogSetup::losses`](crate::LogSetup)) like lost
    /// events: at every flush interval, one `LOG_DROPPED` line per log file with new losses.
    pub fn watch_log_losses(&self, losses: LogLosses) {
        *self.shared.log_losses.lock() = Some(losses);
    }

    /// The counters as of now (without waiting for the writer).
    pub fn summary(&self) -> WriterSummary {
        self.shared.counters.summary()
    }

    /// Writes everything emitted before this call, reports lost events and `fsync`s the file;
    /// returns the counters afterwards. After shutdown it returns the final counters at once.
    pub async fn flush(&self) -> WriterSummary {
        self.request(Control::Flush).await
    }

    /// Stops the writer: writes everything queued, reports lost events, `fsync`s and closes
    /// the file. Events emitted afterwards are counted as dropped. Calling it again returns the
    /// counters at once.
    pub async fn shutdown(&self) -> WriterSummary {
        self.request(Control::Shutdown).await
    }

    async fn request(&self, make: fn(oneshot::Sender<WriterSummary>) -> Control) -> WriterSummary {
        let (reply, answer) = oneshot::channel();
        if self.shared.control.send(make(reply)).is_err() {
            return self.summary();
        }
        answer.await.unwrap_or_else(|_| self.summary())
    }
}

impl EventSink for Telemetry {
    fn emit(&self, event: Event) {
        let ts = self.shared.clock.now();
        if self.shared.tx.try_send((ts, event)).is_err() {
            self.shared.counters.dropped.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// One line as written; borrows so that the hot loop clones nothing.
#[derive(Serialize)]
struct LineRef<'a> {
    #[serde(serialize_with = "ts_ser")]
    ts: &'a Timestamp,
    #[serde(flatten)]
    event: &'a Event,
    schema: u32,
    run_id: &'a RunId,
}

struct Writer {
    rx: mpsc::Receiver<(Timestamp, Event)>,
    control_rx: mpsc::UnboundedReceiver<Control>,
    /// `None` once a blocking write task was lost; everything after counts as dropped.
    file: Option<Box<dyn Target>>,
    buf: Vec<u8>,
    /// Every line in `buf`, in order: what a partial write landed is counted line by line.
    marks: Vec<LineMark>,
    /// Drop counts announced by `TELEMETRY_DROPPED` lines in `buf`.
    buffered_reported: u64,
    /// The log writers' loss counters, once [`Telemetry::watch_log_losses`] was called.
    log_losses: Arc<parking_lot::Mutex<Option<LogLosses>>>,
    /// Per log file, lost lines announced by `LOG_DROPPED` lines in the file.
    log_reported: Vec<u64>,
    unsynced: bool,
    /// A failed write may have left half a line; start the next write on a fresh line.
    broken_line: bool,
    batch: Vec<(Timestamp, Event)>,
    config: WriterConfig,
    clock: Arc<dyn Clock>,
    run_id: RunId,
    counters: Arc<Counters>,
    path: PathBuf,
}

impl Writer {
    async fn run(mut self) {
        let start = tokio::time::Instant::now() + self.config.flush_interval;
        let mut ticker =
            tokio::time::interval_at(start, self.config.flush_interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let max_batch = self.config.max_batch.get();
        loop {
            tokio::select! {
                biased;
                cmd = self.control_rx.recv() => match cmd {
                    Some(Control::Flush(reply)) => {
                        // Everything emitted before the request is already queued; take that
                        // much and no more, so a busy producer cannot keep the flush going.
                        for _ in 0..self.rx.len() {
                            let Ok(item) = self.rx.try_recv() else { break };
                            self.serialize(item);
                            if self.buf.len() >= WRITE_CHUNK_BYTES {
                                self.write_buf().await;
                            }
                        }
                        self.flush_and_sync().await;
                        let _ = reply.send(self.counters.summary());
                    }
                    Some(Control::Shutdown(reply)) => {
                        self.finish().await;
                        let _ = reply.send(self.counters.summary());
                        return;
                    }
                    None => {
                        self.finish().await;
                        return;
                    }
                },
                // The timer comes before the queue: under sustained load the queue is never
                // empty, and losses must still be reported and the file synced on time.
                _ = ticker.tick() => {
                    if self.config.sync_every_flush {
                        self.flush_and_sync().await;
                    } else {
                        self.report_drops();
                        self.write_buf().await;
                    }
                }
                n = self.rx.recv_many(&mut self.batch, max_batch) => {
                    if n == 0 {
                        self.finish().await;
                        return;
                    }
                    let mut batch = std::mem::take(&mut self.batch);
                    for item in batch.drain(..) {
                        self.serialize(item);
                    }
                    self.batch = batch;
                    if self.buf.len() >= WRITE_CHUNK_BYTES {
                        self.write_buf().await;
                    }
                }
            }
        }
    }

    /// Drains the queue after closing it, then writes, reports and syncs.
    async fn finish(&mut self) {
        self.rx.close();
        while let Some(item) = self.rx.recv().await {
            self.serialize(item);
            if self.buf.len() >= WRITE_CHUNK_BYTES {
                self.write_buf().await;
            }
        }
        self.flush_and_sync().await;
    }

    fn serialize(&mut self, (ts, event): (Timestamp, Event)) {
        if self.push_line(ts, &event) {
            self.marks.push(LineMark { end: self.buf.len(), kind: LineKind::Event });
        } else {
            self.counters.dropped.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn push_line(&mut self, ts: Timestamp, event: &Event) -> bool {
        let mark = self.buf.len();
        let line = LineRef { ts: &ts, event, schema: SCHEMA_VERSION, run_id: &self.run_id };
        match serde_json::to_writer(&mut self.buf, &line) {
            Ok(()) => {
                self.buf.push(b'\n');
                true
            }
            Err(_) => {
                self.buf.truncate(mark);
                false
            }
        }
    }

    /// Appends a `TELEMETRY_DROPPED` line for losses not yet announced.
    fn report_drops(&mut self) {
        let dropped = self.counters.dropped.load(Ordering::Acquire);
        let announced = self.counters.dropped_reported.load(Ordering::Acquire) + self.buffered_reported;
        let count = dropped.saturating_sub(announced);
        if count > 0 && self.push_line(self.clock.now(), &Event::TelemetryDropped { count }) {
            self.marks.push(LineMark { end: self.buf.len(), kind: LineKind::Dropped(count) });
            self.buffered_reported += count;
        }
        let Some(losses) = self.log_losses.lock().clone() else { return };
        for (index, (file, lost)) in losses.dropped().into_iter().enumerate() {
            if self.log_reported.len() <= index {
                self.log_reported.resize(index + 1, 0);
            }
            let buffered: u64 = self
                .marks
                .iter()
                .filter_map(|m| match m.kind {
                    LineKind::LogDropped(i, n) if i == index => Some(n),
                    _ => None,
                })
                .sum();
            let count = lost.saturating_sub(self.log_reported[index] + buffered);
            if count > 0
                && self.push_line(self.clock.now(), &Event::LogDropped { file: file.to_owned(), count })
            {
                self.marks.push(LineMark { end: self.buf.len(), kind: LineKind::LogDropped(index, count) });
            }
        }
    }

    async fn flush_and_sync(&mut self) {
        self.report_drops();
        self.write_buf().await;
        if self.unsynced {
            self.sync().await;
        }
    }

    async fn write_buf(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let marks = std::mem::take(&mut self.marks);
        self.buffered_reported = 0;
        let mut buf = std::mem::take(&mut self.buf);
        // After a failed write the file may end in half a line: start on a fresh one.
        let prefix = usize::from(self.broken_line);
        if self.broken_line {
            buf.insert(0, b'\n');
        }
        let (written, result) = match self.file.take() {
            Some(mut file) => {
                let joined = tokio::task::spawn_blocking(move || {
                    let (written, result) = write_counted(&mut *file, &buf);
                    (file, buf, written, result)
                })
                .await;
                match joined {
                    Ok((file, returned, written, result)) => {
                        self.file = Some(file);
                        buf = returned;
                        (written, result)
                    }
                    Err(join) => {
                        buf = Vec::new();
                        (0, Err(std::io::Error::other(join.to_string())))
                    }
                }
            }
            None => (0, Err(std::io::Error::other("events file lost after an earlier failure"))),
        };
        // The file ends on a line boundary when the last byte that landed is a newline.
        let ends_mid_line = written > 0 && buf.get(written - 1) != Some(&b'\n');
        buf.clear();
        self.buf = buf;
        // Count line by line what landed: a partial write keeps the lines it completed.
        let landed = written.saturating_sub(prefix);
        let (mut events_landed, mut events_lost, mut reported_landed) = (0u64, 0u64, 0u64);
        for mark in &marks {
            let complete = mark.end <= landed;
            match (mark.kind, complete) {
                (LineKind::Event, true) => events_landed += 1,
                (LineKind::Event, false) => events_lost += 1,
                (LineKind::Dropped(count), true) => reported_landed += count,
                (LineKind::LogDropped(index, count), true) => {
                    if let Some(reported) = self.log_reported.get_mut(index) {
                        *reported += count;
                    }
                }
                // A lost report is not announced: its count is reported again next time.
                (LineKind::Dropped(_) | LineKind::LogDropped(..), false) => {}
            }
        }
        self.counters.written.fetch_add(events_landed, Ordering::AcqRel);
        self.counters.dropped_reported.fetch_add(reported_landed, Ordering::AcqRel);
        self.counters.dropped.fetch_add(events_lost, Ordering::AcqRel);
        if written > 0 {
            self.unsynced = true;
            self.broken_line = ends_mid_line;
        }
        if let Err(error) = result {
            self.note_error("write", &error);
        }
    }

    async fn sync(&mut self) {
        let Some(mut file) = self.file.take() else { return };
        let joined = tokio::task::spawn_blocking(move || {
            let result = file.sync();
            (file, result)
        })
        .await;
        match joined {
            Ok((file, result)) => {
                self.file = Some(file);
                match result {
                    Ok(()) => self.unsynced = false,
                    Err(error) => self.note_error("fsync", &error),
                }
            }
            Err(join) => self.note_error("fsync", &std::io::Error::other(join.to_string())),
        }
    }

    fn note_error(&self, what: &str, error: &std::io::Error) {
        // Say it once; afterwards the counters (and TELEMETRY_DROPPED) carry the story.
        if self.counters.write_errors.fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!(path = %self.path.display(), %error, "telemetry {what} failed; lost events are counted");
        }
    }
}

/// Writes `buf` like `write_all`, but says how many bytes landed before an error.
fn write_counted(target: &mut dyn Target, buf: &[u8]) -> (usize, std::io::Result<()>) {
    let mut written = 0;
    while written < buf.len() {
        match target.write(&buf[written..]) {
            Ok(0) => return (written, Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, target.flush())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trading_core::ManualClock;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_123)))
    }

    fn lag(n: u64) -> Event {
        Event::LoopLag { lag_ms: n, threshold_ms: 5 }
    }

    #[tokio::test]
    async fn writes_lines_with_envelope_and_flush_makes_them_visible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let t = Telemetry::start(&path, RunId::new("run-1"), clock(), WriterConfig::default()).unwrap();
        t.emit(lag(7));
        let summary = t.flush().await;
        assert_eq!(summary, WriterSummary { written: 1, ..WriterSummary::default() });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"ts\":\"2023-11-14T22:13:20.123Z\",\"event_type\":\"LOOP_LAG\",\"payload\":{\"lag_ms\":7,\
             \"threshold_ms\":5},\"schema\":1,\"run_id\":\"run-1\"}\n"
        );
        assert_eq!(t.shutdown().await.written, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn the_flush_interval_writes_without_an_explicit_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let config = WriterConfig { flush_interval: Duration::from_millis(200), ..WriterConfig::default() };
        let t = Telemetry::start(&path, RunId::new("r"), clock(), config).unwrap();
        t.emit(lag(1));
        tokio::task::yield_now().await;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "buffered until the interval");
        // Let the interval tick fire and the blocking write finish.
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if t.summary().written == 1 {
                break;
            }
        }
        assert_eq!(t.summary().written, 1);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn losses_are_reported_at_the_next_interval_without_waiting_for_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let config = WriterConfig {
            capacity: NonZeroUsize::MIN,
            flush_interval: Duration::from_millis(100),
            ..WriterConfig::default()
        };
        let t = Telemetry::start(&path, RunId::new("r"), clock(), config).unwrap();
        for i in 0..3 {
            t.emit(lag(i)); // the writer has not run yet: one fits, two are dropped
        }
        assert_eq!(t.summary().dropped, 2);
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if t.summary().dropped_reported == 2 {
                break;
            }
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["payload"]["lag_ms"], 0, "{text}");
        assert_eq!(lines[1]["event_type"], "TELEMETRY_DROPPED", "{text}");
        assert_eq!(lines[1]["payload"]["count"], 2, "{text}");
        // Reported once: a later flush adds no second report for the same losses.
        let summary = t.shutdown().await;
        assert_eq!(summary, WriterSummary { written: 1, dropped: 2, dropped_reported: 2, write_errors: 0 });
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[tokio::test]
    async fn emit_after_shutdown_is_counted_not_lost_silently() {
        let dir = tempfile::tempdir().unwrap();
        let t =
            Telemetry::start(dir.path().join("e.jsonl"), RunId::new("r"), clock(), WriterConfig::default())
                .unwrap();
        t.emit(lag(1));
        let first = t.shutdown().await;
        t.emit(lag(2));
        let second = t.shutdown().await;
        assert_eq!((first.written, first.dropped), (1, 0));
        assert_eq!((second.written, second.dropped), (1, 1));
    }

    /// A disk with room for `room` more bytes: a write takes what fits, then fails.
    #[derive(Clone, Default)]
    struct SmallDisk {
        data: Arc<parking_lot::Mutex<Vec<u8>>>,
        room: Arc<parking_lot::Mutex<usize>>,
        syncs: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Write for SmallDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut room = self.room.lock();
            if *room == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(*room);
            *room -= n;
            self.data.lock().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Target for SmallDisk {
        fn sync(&mut self) -> std::io::Result<()> {
            self.syncs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn without_sync_every_flush_the_interval_writes_and_only_a_flush_syncs() {
        for sync_every_flush in [true, false] {
            let disk = SmallDisk::default();
            *disk.room.lock() = 1 << 20;
            let config = WriterConfig {
                flush_interval: Duration::from_millis(100),
                sync_every_flush,
                ..WriterConfig::default()
            };
            let t = Telemetry::start_on(
                &tokio::runtime::Handle::current(),
                PathBuf::from("disk"),
                Box::new(disk.clone()),
                RunId::new("r"),
                clock(),
                config,
            );
            t.emit(lag(1));
            // Several intervals pass; the blocking write gets real time to land.
            for _ in 0..50 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if !disk.data.lock().is_empty() && disk.syncs.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            assert!(!disk.data.lock().is_empty(), "the interval wrote the line ({sync_every_flush})");
            let synced = disk.syncs.load(std::sync::atomic::Ordering::SeqCst);
            assert_eq!(synced > 0, sync_every_flush, "interval syncs: {synced} ({sync_every_flush})");
            t.flush().await;
            if !sync_every_flush {
                assert!(
                    disk.syncs.load(std::sync::atomic::Ordering::SeqCst) > synced,
                    "a flush syncs what was written"
                );
            }
            t.shutdown().await;
        }
    }

    #[tokio::test]
    async fn a_partial_write_counts_exactly_the_lines_that_did_not_land() {
        let disk = SmallDisk::default();
        let line_len = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("e.jsonl");
            let t = Telemetry::start(&path, RunId::new("r"), clock(), WriterConfig::default()).unwrap();
            t.emit(lag(1));
            t.shutdown().await;
            std::fs::read(&path).unwrap().len()
        };
        *disk.room.lock() = 2 * line_len + 10; // two lines and a bit of the third
        let t = Telemetry::start_on(
            &tokio::runtime::Handle::current(),
            PathBuf::from("small-disk"),
            Box::new(disk.clone()),
            RunId::new("r"),
            clock(),
            WriterConfig::default(),
        );
        for i in 1..=4 {
            t.emit(lag(i));
        }
        let summary = t.flush().await;
        assert_eq!(
            summary,
            WriterSummary { written: 2, dropped: 2, dropped_reported: 0, write_errors: 1 },
            "two lines landed, two did not"
        );
        assert_eq!(disk.data.lock().len(), 2 * line_len + 10);

        // Space again: the next write starts on a fresh line and reports the two lost events.
        *disk.room.lock() = 1 << 20;
        t.emit(lag(5));
        let summary = t.shutdown().await;
        assert_eq!(summary, WriterSummary { written: 3, dropped: 2, dropped_reported: 2, write_errors: 1 });
        let text = String::from_utf8(disk.data.lock().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(lines[2].len(), 10, "the cut line stays cut: {text}");
        let parsed: Vec<serde_json::Value> = [lines[0], lines[1], lines[3], lines[4]]
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(parsed[0]["payload"]["lag_ms"], 1);
        assert_eq!(parsed[1]["payload"]["lag_ms"], 2);
        assert_eq!(parsed[2]["payload"]["lag_ms"], 5);
        assert_eq!(parsed[3]["event_type"], "TELEMETRY_DROPPED");
        assert_eq!(parsed[3]["payload"]["count"], 2);
    }

    /// Sustained load on paused time: every round refills a queue the writer cannot empty in
    /// one turn (it takes one event per loop and yields after tokio's cooperative budget), so
    /// the queue is never empty when the writer looks. The drop report must still come at the
    /// flush interval, not when the backlog clears.
    #[tokio::test(start_paused = true)]
    async fn losses_are_reported_on_time_while_the_queue_stays_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let config = WriterConfig {
            capacity: NonZeroUsize::new(4_096).unwrap(),
            flush_interval: Duration::from_millis(20),
            max_batch: NonZeroUsize::MIN,
            sync_every_flush: true,
        };
        let t = Telemetry::start(&path, RunId::new("r"), clock(), config).unwrap();
        let mut reported_at_round = None;
        for round in 0..200 {
            for _ in 0..4_096 {
                t.emit(lag(1)); // refills the queue; what does not fit is dropped and counted
            }
            assert!(t.shared.tx.capacity() < 4_096, "round {round}: the queue is never empty");
            tokio::time::advance(Duration::from_millis(1)).await;
            tokio::task::yield_now().await;
            if t.summary().dropped_reported > 0 {
                reported_at_round = Some(round);
                break;
            }
        }
        let round = reported_at_round.expect("no TELEMETRY_DROPPED while the queue stayed full");
        assert!(round < 100, "reported after {round} ms, the interval is 20 ms");
        let summary = t.shutdown().await;
        assert!(summary.dropped > 0);
        assert_eq!(summary.dropped, summary.dropped_reported, "every loss is reported by the end");
        assert!(std::fs::read_to_string(&path).unwrap().contains("TELEMETRY_DROPPED"));
    }

    #[test]
    fn start_outside_a_runtime_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            Telemetry::start(dir.path().join("e.jsonl"), RunId::new("r"), clock(), WriterConfig::default())
                .unwrap_err();
        assert!(matches!(err, TelemetryError::NoRuntime(_)), "{err}");
    }
}
