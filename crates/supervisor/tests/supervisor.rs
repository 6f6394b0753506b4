//! Supervisor behaviour across modules: watchdog with history, enforce-mode shutdown, restart
//! and escalation of supervised tasks, lag monitor, OS signals. Runs on paused tokio time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use supervisor::{
    Escalation, ExitReason, LagConfig, RestartPolicy, ShutdownCoordinator, Supervisor, SupervisorConfig,
    TaskExit, WatchdogConfig, WatchdogMode,
};
use telemetry::{Event, MemorySink};
use tokio::time::{sleep, Instant};
use trading_core::{ManualClock, Timestamp};

const START_MS: i64 = 1_700_000_000_000;

struct Rig {
    sink: MemorySink,
    clock: ManualClock,
    shutdown: ShutdownCoordinator,
    supervisor: Supervisor,
}

fn rig(config: SupervisorConfig) -> Rig {
    let sink = MemorySink::new();
    let clock = ManualClock::new(Timestamp::from_millis(START_MS));
    let shutdown = ShutdownCoordinator::new(Arc::new(sink.clone()));
    let supervisor =
        Supervisor::new(config, Arc::new(clock.clone()), Arc::new(sink.clone()), &shutdown).unwrap();
    Rig { sink, clock, shutdown, supervisor }
}

fn watchdog(mode: WatchdogMode) -> SupervisorConfig {
    SupervisorConfig {
        watchdog: WatchdogConfig {
            check_every: Duration::from_secs(1),
            grace: Duration::from_millis(500),
            report_every: Duration::from_secs(5),
            history_len: 4,
            mode,
        },
        ..SupervisorConfig::default()
    }
}

/// Moves tokio time and the wall clock forward together.
async fn pass(clock: &ManualClock, by: Duration) {
    sleep(by).await;
    clock.advance(by);
}

fn ts(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(START_MS + offset_ms)
}

fn late_events(events: &[Event]) -> Vec<(String, u64, Vec<Timestamp>, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::HeartbeatLate { task, silent_for_ms, recent_beats, mode, .. } => {
                Some((task.clone(), *silent_for_ms, recent_beats.clone(), mode.clone()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn watchdog_reports_a_stalled_task_with_its_beat_history() {
    let r = rig(watchdog(WatchdogMode::Warn));
    let healthy = r.supervisor.register("order-tracker", Duration::from_secs(1)).unwrap();
    let stalled = r.supervisor.register("md-feed", Duration::from_secs(2)).unwrap();
    let watchdog = r.supervisor.spawn_watchdog();

    // Both beat for 5 s (md-feed beats at 1 s, 2 s, ..., 5 s), then md-feed stalls.
    for _ in 0..5 {
        pass(&r.clock, Duration::from_secs(1)).await;
        healthy.beat();
        stalled.beat();
    }
    assert!(late_events(&r.sink.events()).is_empty(), "nobody is late while beating");
    // md-feed is late after 2 s + 500 ms of silence: the check at +3 s reports it, then every 5 s.
    for _ in 0..10 {
        pass(&r.clock, Duration::from_secs(1)).await;
        healthy.beat();
    }
    tokio::task::yield_now().await;
    let late = late_events(&r.sink.events());
    let history = vec![ts(2_000), ts(3_000), ts(4_000), ts(5_000)]; // history_len 4, oldest first
    assert_eq!(
        late,
        vec![
            ("md-feed".to_owned(), 3_000, history.clone(), "warn".to_owned()),
            ("md-feed".to_owned(), 8_000, history, "warn".to_owned()),
        ]
    );
    assert!(!watchdog.is_finished(), "warn mode never stops the bot");
    assert!(!r.supervisor.shutdown_signal().is_triggered());

    // A beat ends the episode: the next silence is reported afresh.
    stalled.beat();
    r.sink.take();
    for _ in 0..4 {
        pass(&r.clock, Duration::from_secs(1)).await;
        healthy.beat();
    }
    tokio::task::yield_now().await;
    let late = late_events(&r.sink.events());
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].1, 3_000);
    assert_eq!(late[0].2.last(), Some(&ts(15_000)));
}

#[tokio::test(start_paused = true)]
async fn a_task_that_never_beats_is_reported_with_its_registration_time() {
    let r = rig(watchdog(WatchdogMode::Warn));
    r.clock.advance(Duration::from_millis(250));
    let _silent = r.supervisor.register("reconciler", Duration::from_secs(1)).unwrap();
    sleep(Duration::from_secs(2)).await;
    let pass = r.supervisor.check_heartbeats();
    assert_eq!(pass.late, vec!["reconciler".to_owned()]);
    assert_eq!(pass.reported, 1);
    let late = late_events(&r.sink.events());
    assert_eq!(late, vec![("reconciler".to_owned(), 2_000, vec![ts(250)], "warn".to_owned())]);
    // Reported once per episode: an immediate second pass stays quiet.
    assert_eq!(r.supervisor.check_heartbeats().reported, 0);
}

#[tokio::test(start_paused = true)]
async fn enforce_mode_shuts_down_in_order_with_the_watchdog_reason() {
    let mut r = rig(watchdog(WatchdogMode::Enforce { late_limit: Duration::from_secs(3) }));
    let stalled = r.supervisor.register("md-feed", Duration::from_secs(1)).unwrap();
    stalled.beat();
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    for (name, limit_ms) in [
        ("stop_new_intents", 500),
        ("cancel_open_buys", 2_000),
        ("persist_state", 1_000),
        ("flush_telemetry", 1_000),
    ] {
        let order = order.clone();
        r.shutdown.add_phase(name, Duration::from_millis(limit_ms), move || async move {
            order.lock().push(name);
            sleep(Duration::from_millis(100)).await;
            Ok::<(), std::io::Error>(())
        });
    }
    let watchdog = r.supervisor.spawn_watchdog();
    let started = Instant::now();
    let report = r.shutdown.run().await;

    // Late after 1.5 s of silence, beyond the 3 s limit at 4.5 s: the check at 5 s escalates.
    assert_eq!(
        report.reason,
        ExitReason::Watchdog { task: "md-feed".into(), silent_for: Duration::from_secs(5) }
    );
    assert_eq!(report.exit_code(), 3);
    assert_eq!(
        *order.lock(),
        vec!["stop_new_intents", "cancel_open_buys", "persist_state", "flush_telemetry"]
    );
    assert!(report.phases.iter().all(|p| p.outcome.as_str() == "completed" && p.elapsed <= p.limit));
    assert_eq!(started.elapsed(), Duration::from_millis(5_400));
    watchdog.await.unwrap();

    let events = r.sink.events();
    let names: Vec<&str> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        names,
        vec![
            "HEARTBEAT_LATE", // at 2 s
            "HEARTBEAT_LATE", // at 5 s, the escalation
            "SHUTDOWN_STARTED",
            "SHUTDOWN_PHASE",
            "SHUTDOWN_PHASE",
            "SHUTDOWN_PHASE",
            "SHUTDOWN_PHASE",
            "SHUTDOWN_COMPLETED",
        ]
    );
    let late = late_events(&events);
    assert_eq!(late[1], ("md-feed".to_owned(), 5_000, vec![ts(0), ts(0)], "enforce".to_owned()));
    assert_eq!(
        events[2],
        Event::ShutdownStarted { reason: "watchdog: task `md-feed` silent for 5000 ms".into() }
    );
}

fn fast_policy(max_restarts: u32, on_exhausted: Escalation) -> RestartPolicy {
    RestartPolicy {
        max_restarts,
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(150),
        reset_after: Some(Duration::from_secs(60)),
        on_exhausted,
    }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_is_reported_and_restarted_with_backoff() {
    let r = rig(SupervisorConfig::default());
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let started = Instant::now();
    let handle = r.supervisor.spawn_supervised("md-feed", fast_policy(5, Escalation::Shutdown), move || {
        let attempt = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            sleep(Duration::from_millis(10)).await;
            if attempt <= 3 {
                panic!("feed parser blew up on attempt {attempt}");
            }
            Ok::<(), String>(())
        }
    });
    assert_eq!(handle.await.unwrap(), TaskExit::Completed);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    // 4 runs of 10 ms + backoffs 100, 150 (capped), 150 ms.
    assert_eq!(started.elapsed(), Duration::from_millis(440));
    assert_eq!(
        r.sink.events(),
        vec![
            Event::TaskPanicked {
                task: "md-feed".into(),
                message: "feed parser blew up on attempt 1".into(),
                failures: 1
            },
            Event::TaskRestarted { task: "md-feed".into(), attempt: 1, backoff_ms: 100 },
            Event::TaskPanicked {
                task: "md-feed".into(),
                message: "feed parser blew up on attempt 2".into(),
                failures: 2
            },
            Event::TaskRestarted { task: "md-feed".into(), attempt: 2, backoff_ms: 150 },
            Event::TaskPanicked {
                task: "md-feed".into(),
                message: "feed parser blew up on attempt 3".into(),
                failures: 3
            },
            Event::TaskRestarted { task: "md-feed".into(), attempt: 3, backoff_ms: 150 },
        ]
    );
    assert!(!r.supervisor.shutdown_signal().is_triggered());
}

#[tokio::test(start_paused = true)]
async fn a_task_that_keeps_panicking_escalates_to_a_fatal_shutdown() {
    let r = rig(SupervisorConfig::default());
    let handle =
        r.supervisor.spawn_supervised("order-router", fast_policy(2, Escalation::Shutdown), || async {
            if true {
                panic!("state file corrupt");
            }
            Ok::<(), String>(())
        });
    assert_eq!(handle.await.unwrap(), TaskExit::Escalated { failures: 3 });
    let report = r.shutdown.run().await;
    assert_eq!(
        report.reason,
        ExitReason::Fatal {
            error: "task `order-router` failed 3 times in a row; last: panicked: state file corrupt".into()
        }
    );
    assert_eq!(report.exit_code(), 4);
    let restarts = r.sink.events().iter().filter(|e| matches!(e, Event::TaskRestarted { .. })).count();
    assert_eq!(restarts, 2);
}

#[tokio::test(start_paused = true)]
async fn an_erroring_task_with_give_up_stops_alone() {
    let r = rig(SupervisorConfig::default());
    let handle = r
        .supervisor
        .spawn_supervised("candles", fast_policy(1, Escalation::GiveUp), || async { Err("venue said 503") });
    assert_eq!(handle.await.unwrap(), TaskExit::GaveUp { failures: 2 });
    let events = r.sink.events();
    assert_eq!(
        events[0],
        Event::TaskFailed { task: "candles".into(), error: "venue said 503".into(), failures: 1 }
    );
    assert_eq!(events.len(), 3, "failed, restarted, failed: {events:#?}");
    assert!(!r.supervisor.shutdown_signal().is_triggered(), "give-up never stops the bot");
}

#[tokio::test(start_paused = true)]
async fn a_long_healthy_run_resets_the_failure_series() {
    let r = rig(SupervisorConfig::default());
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let handle = r.supervisor.spawn_supervised("md-feed", fast_policy(1, Escalation::Shutdown), move || {
        let attempt = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            // Every run but the last lasts longer than reset_after (60 s) before failing.
            if attempt < 4 {
                sleep(Duration::from_secs(61)).await;
                return Err("connection reset");
            }
            Ok(())
        }
    });
    assert_eq!(
        handle.await.unwrap(),
        TaskExit::Completed,
        "max_restarts 1 never trips: each failure is a first"
    );
    let failures: Vec<u32> = r
        .sink
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::TaskFailed { failures, .. } => Some(*failures),
            _ => None,
        })
        .collect();
    assert_eq!(failures, vec![1, 1, 1]);
}

#[tokio::test(start_paused = true)]
async fn no_restart_after_shutdown_started() {
    let r = rig(SupervisorConfig::default());
    let policy = RestartPolicy {
        initial_backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(10),
        ..fast_policy(5, Escalation::Shutdown)
    };
    let handle = r.supervisor.spawn_supervised("md-feed", policy, || async { Err("boom") });
    sleep(Duration::from_secs(1)).await; // inside the 10 s backoff
    r.supervisor.shutdown_trigger().trigger(ExitReason::CtrlC);
    assert_eq!(handle.await.unwrap(), TaskExit::Stopped);
    let restarted = r.sink.events().iter().filter(|e| matches!(e, Event::TaskRestarted { .. })).count();
    assert_eq!(restarted, 1, "the scheduled restart is announced but never run");
}

#[tokio::test(start_paused = true)]
async fn aborting_supervision_aborts_the_running_attempt() {
    let r = rig(SupervisorConfig::default());
    let ran_to_end = Arc::new(AtomicU32::new(0));
    let flag = ran_to_end.clone();
    let handle = r.supervisor.spawn_supervised("slow", RestartPolicy::default(), move || {
        let flag = flag.clone();
        async move {
            sleep(Duration::from_secs(5)).await;
            flag.store(1, Ordering::SeqCst);
            Ok::<(), String>(())
        }
    });
    sleep(Duration::from_secs(1)).await;
    handle.abort();
    sleep(Duration::from_secs(10)).await;
    assert_eq!(ran_to_end.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn lag_monitor_reports_a_stalled_loop_once_and_stays_quiet_otherwise() {
    let config = SupervisorConfig {
        lag: LagConfig { tick_every: Duration::from_millis(100), threshold: Duration::from_millis(50) },
        ..SupervisorConfig::default()
    };
    let r = rig(config);
    let monitor = r.supervisor.spawn_lag_monitor();
    sleep(Duration::from_secs(10)).await;
    assert!(r.sink.events().is_empty(), "a healthy loop has no lag: {:?}", r.sink.events());

    // Model a task that holds the runtime for 700 ms: tokio time jumps past the probe's
    // scheduled instant before the probe can run.
    sleep(Duration::from_millis(30)).await; // the probe is due in 70 ms
    tokio::time::advance(Duration::from_millis(700)).await;
    sleep(Duration::from_secs(1)).await;
    assert_eq!(r.sink.events(), vec![Event::LoopLag { lag_ms: 630, threshold_ms: 50 }]);

    r.supervisor.shutdown_trigger().trigger(ExitReason::Requested);
    monitor.await.unwrap();
}

#[test]
fn invalid_config_is_rejected_by_name() {
    let sink = MemorySink::new();
    let shutdown = ShutdownCoordinator::new(Arc::new(sink.clone()));
    let config = SupervisorConfig {
        lag: LagConfig { tick_every: Duration::ZERO, ..LagConfig::default() },
        ..SupervisorConfig::default()
    };
    let err =
        Supervisor::new(config, Arc::new(ManualClock::default()), Arc::new(sink), &shutdown).unwrap_err();
    assert_eq!(err.to_string(), "invalid supervisor setting `lag.tick_every` = 0ns: greater than zero");
}

/// Real signals to this very process: the handlers are installed before each `kill`, so the
/// default action (terminate) never happens. The only test in this binary that touches signals.
#[cfg(unix)]
#[tokio::test]
async fn ctrl_c_and_sigterm_start_the_shutdown_with_their_exit_codes() {
    for (signal, reason, code) in [("-INT", ExitReason::CtrlC, 130), ("-TERM", ExitReason::Sigterm, 143)] {
        let sink = MemorySink::new();
        let mut shutdown = ShutdownCoordinator::new(Arc::new(sink.clone()));
        shutdown.add_phase("flush_telemetry", Duration::from_secs(1), || async { Ok::<(), String>(()) });
        let listener = shutdown.listen_for_os_signals().unwrap();
        let status = std::process::Command::new("kill")
            .args([signal, &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let report = tokio::time::timeout(Duration::from_secs(20), shutdown.run()).await.unwrap();
        assert_eq!(report.reason, reason);
        assert_eq!(report.exit_code(), code);
        listener.await.unwrap();
        assert_eq!(sink.events().len(), 3);
    }
}
