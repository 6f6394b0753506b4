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
use trading_core::{ManualClock, Timestamp, TokioClock};

const START_MS: i64 = 1_700_000_000_000;

struct Rig {
    sink: MemorySink,
    shutdown: ShutdownCoordinator,
    supervisor: Supervisor,
}

fn rig(config: SupervisorConfig) -> Rig {
    let sink = MemorySink::new();
    // The clock follows tokio's paused time, as in a simulated session.
    let clock = TokioClock::starting_at(Timestamp::from_millis(START_MS));
    let shutdown = ShutdownCoordinator::new(Arc::new(sink.clone()));
    let supervisor = Supervisor::new(config, Arc::new(clock), Arc::new(sink.clone()), &shutdown).unwrap();
    Rig { sink, shutdown, supervisor }
}

fn watchdog(mode: WatchdogMode) -> SupervisorConfig {
    SupervisorConfig {
        watchdog: WatchdogConfig {
            check_every: Duration::from_secs(1),
            grace: Duration::from_millis(500),
            report_every: Duration::from_secs(5),
            history_len: 4,
            mode,
            ..WatchdogConfig::default()
        },
        ..SupervisorConfig::default()
    }
}

/// Lets `by` of (paused) tokio time pass; the rig's clock moves with it.
async fn pass(by: Duration) {
    sleep(by).await;
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
        pass(Duration::from_secs(1)).await;
        healthy.beat();
        stalled.beat();
    }
    assert!(late_events(&r.sink.events()).is_empty(), "nobody is late while beating");
    // md-feed is late after 2 s + 500 ms of silence: the check at +3 s reports it, then every 5 s.
    for _ in 0..10 {
        pass(Duration::from_secs(1)).await;
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
        pass(Duration::from_secs(1)).await;
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
    sleep(Duration::from_millis(250)).await;
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
            Event::TaskEnded { task: "md-feed".into(), how: "returned".into(), detail: None },
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
    assert_eq!(events.len(), 4, "failed, restarted, failed, ended: {events:#?}");
    assert_eq!(
        events[3],
        Event::TaskEnded {
            task: "candles".into(),
            how: "gave_up".into(),
            detail: Some("venue said 503".into())
        }
    );
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

fn ended_events(events: &[Event]) -> Vec<(String, String, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TaskEnded { task, how, detail } => Some((task.clone(), how.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_registered_task_end_is_a_task_ended_event() {
    let r = rig(SupervisorConfig::default());
    let ended = |task: &str, how: &str, detail: Option<&str>| {
        (task.to_owned(), how.to_owned(), detail.map(str::to_owned))
    };

    // Returned: a supervised task that finishes its work.
    let hb = r.supervisor.register("snapshot", Duration::from_secs(1)).unwrap();
    let h = r.supervisor.spawn_supervised("snapshot", RestartPolicy::default(), move || {
        let hb = hb.clone();
        async move {
            hb.beat();
            Ok::<(), String>(())
        }
    });
    assert_eq!(h.await.unwrap(), TaskExit::Completed);
    // Gave up: restarts exhausted with GiveUp.
    let hb = r.supervisor.register("candles", Duration::from_secs(1)).unwrap();
    let h = r.supervisor.spawn_supervised("candles", fast_policy(1, Escalation::GiveUp), move || {
        let _hb = hb.clone();
        async { Err("venue said 503") }
    });
    assert_eq!(h.await.unwrap(), TaskExit::GaveUp { failures: 2 });
    // Dropped: a task outside the wrapper whose handle goes away.
    let hb = r.supervisor.register("plain", Duration::from_secs(1)).unwrap();
    tokio::spawn(async move {
        hb.beat();
    })
    .await
    .unwrap();
    // Cancelled: the supervisor's handle is aborted.
    let hb = r.supervisor.register("aborted", Duration::from_secs(1)).unwrap();
    let h = r.supervisor.spawn_supervised("aborted", RestartPolicy::default(), move || {
        let _hb = hb.clone();
        std::future::pending::<Result<(), String>>()
    });
    sleep(Duration::from_millis(10)).await;
    h.abort();
    assert!(h.await.unwrap_err().is_cancelled());
    // Cancelled by the shutdown, and failed (escalated) for an unregistered supervised task.
    let hb = r.supervisor.register("md-feed", Duration::from_secs(1)).unwrap();
    let signal = r.supervisor.shutdown_signal();
    let h_feed = r.supervisor.spawn_supervised("md-feed", RestartPolicy::default(), move || {
        let (_hb, signal) = (hb.clone(), signal.clone());
        async move {
            signal.triggered().await;
            sleep(Duration::from_secs(3600)).await;
            Ok::<(), String>(())
        }
    });
    let h_router = r
        .supervisor
        .spawn_supervised("router", fast_policy(0, Escalation::Shutdown), || async { Err("auth rejected") });
    assert_eq!(h_router.await.unwrap(), TaskExit::Escalated { failures: 1 });
    sleep(Duration::from_millis(10)).await;
    drop(h_feed);

    let got = ended_events(&r.sink.events());
    assert_eq!(
        got[..4],
        [
            ended("snapshot", "returned", None),
            ended("candles", "gave_up", Some("venue said 503")),
            ended("plain", "dropped", None),
            ended("aborted", "cancelled", Some("supervisor aborted")),
        ]
    );
    assert_eq!(
        got[4],
        ended("router", "failed", Some("task `router` failed 1 times in a row; last: auth rejected"))
    );
    assert_eq!(got.len(), 5, "md-feed is still running its attempt: {got:?}");
    let health = r.supervisor.health();
    let states: Vec<(String, String)> =
        health.tasks.iter().map(|t| (t.name.clone(), t.state.label())).collect();
    assert_eq!(
        states,
        [
            ("snapshot", "ended:returned"),
            ("candles", "ended:gave_up"),
            ("plain", "ended:dropped"),
            ("aborted", "ended:cancelled"),
            ("md-feed", "running"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(health.shutdown.is_some());
}

#[tokio::test(start_paused = true)]
async fn enforce_mode_leaves_a_task_in_restart_backoff_alone() {
    let mut config = watchdog(WatchdogMode::Enforce { late_limit: Duration::ZERO });
    config.watchdog.grace = Duration::from_millis(500);
    let r = rig(config);
    let hb = r.supervisor.register("md-feed", Duration::from_secs(1)).unwrap();
    let policy = RestartPolicy {
        max_restarts: 3,
        initial_backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(10),
        reset_after: None,
        on_exhausted: Escalation::GiveUp,
    };
    let attempts = Arc::new(AtomicU32::new(0));
    let counter = attempts.clone();
    let _h = r.supervisor.spawn_supervised("md-feed", policy, move || {
        let hb = hb.clone();
        let attempt = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            if attempt == 0 {
                return Err("connection reset");
            }
            loop {
                hb.beat();
                sleep(Duration::from_millis(500)).await;
            }
        }
    });
    let _watchdog = r.supervisor.spawn_watchdog();
    // 10 s of backoff: far past interval + grace, yet not late.
    for _ in 0..9 {
        pass(Duration::from_secs(1)).await;
        let health = r.supervisor.health();
        assert_eq!(health.tasks[0].state, supervisor::TaskState::RestartBackoff);
    }
    for _ in 0..5 {
        pass(Duration::from_secs(1)).await;
    }
    assert_eq!(attempts.load(Ordering::SeqCst), 2, "restarted after the backoff");
    assert!(late_events(&r.sink.events()).is_empty(), "{:#?}", r.sink.events());
    assert!(!r.supervisor.shutdown_signal().is_triggered(), "backoff is not silence");
    assert_eq!(r.supervisor.health().tasks[0].state, supervisor::TaskState::Running);
}

#[tokio::test(start_paused = true)]
async fn the_health_snapshot_shows_last_beats_and_late_tasks() {
    let r = rig(watchdog(WatchdogMode::Warn));
    let a = r.supervisor.register("a", Duration::from_secs(1)).unwrap();
    let _b = r.supervisor.register("b", Duration::from_secs(1)).unwrap();
    pass(Duration::from_secs(2)).await;
    a.beat();
    let health = r.supervisor.health();
    assert_eq!(health.at, ts(2_000));
    assert_eq!(health.shutdown, None);
    let a = &health.tasks[0];
    assert_eq!(
        (a.last_beat, a.silent_for, a.beats, a.state),
        (ts(2_000), Duration::ZERO, 1, supervisor::TaskState::Running)
    );
    let b = &health.tasks[1];
    assert_eq!(
        (b.last_beat, b.silent_for, b.beats, b.state),
        (ts(0), Duration::from_secs(2), 0, supervisor::TaskState::Late)
    );
}

/// The live-mode watchdog runs on its own thread: a task that blocks the (single) runtime
/// thread cannot silence it. Real time with short windows; the assertion waits for the report
/// (bounded), it does not bet on timing.
#[test]
fn the_watchdog_thread_reports_a_runtime_blocked_by_a_task() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let sink = MemorySink::new();
    let config = SupervisorConfig {
        watchdog: WatchdogConfig {
            check_every: Duration::from_millis(20),
            grace: Duration::from_millis(100),
            runtime_pulse: Duration::from_millis(20),
            ..WatchdogConfig::default()
        },
        ..SupervisorConfig::default()
    };
    let reported_while_blocked = runtime.block_on(async {
        let shutdown = ShutdownCoordinator::new(Arc::new(sink.clone()));
        let supervisor =
            Supervisor::new(config, Arc::new(trading_core::SystemClock), Arc::new(sink.clone()), &shutdown)
                .unwrap();
        let thread = supervisor.start_watchdog_thread().unwrap();
        // Let the pulse beat a few times on a healthy runtime.
        sleep(Duration::from_millis(100)).await;
        let sink_in_task = sink.clone();
        let blocked = tokio::spawn(async move {
            // Blocks the only runtime thread until the watchdog thread has reported (10 s at
            // most): nothing on the runtime can run meanwhile.
            for _ in 0..1_000 {
                if late_events(&sink_in_task.events())
                    .iter()
                    .any(|(task, ..)| task == supervisor::RUNTIME_PULSE_TASK)
                {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        })
        .await
        .unwrap();
        let health = supervisor.health();
        thread.stop();
        assert!(health.tasks.iter().any(|t| t.name == "runtime"), "{health:?}");
        blocked
    });
    assert!(
        reported_while_blocked,
        "no HEARTBEAT_LATE for the runtime while it was blocked: {:#?}",
        sink.events()
    );
}

/// The closer runs after SHUTDOWN_COMPLETED: the session's last events are in the file.
#[tokio::test(start_paused = true)]
async fn the_final_shutdown_events_reach_the_events_file() {
    use telemetry::{read_events, RunId, Telemetry, WriterConfig};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let clock = ManualClock::new(ts(0));
    let telemetry =
        Telemetry::start(&path, RunId::new("r"), Arc::new(clock), WriterConfig::default()).unwrap();
    let mut shutdown = ShutdownCoordinator::new(Arc::new(telemetry.clone()));
    shutdown.add_phase("persist_state", Duration::from_secs(1), || async { Ok::<(), String>(()) });
    let flushing = telemetry.clone();
    shutdown.add_phase("flush_telemetry", Duration::from_secs(5), move || async move {
        let summary = flushing.flush().await;
        if summary.dropped == 0 {
            Ok(())
        } else {
            Err(format!("{} events dropped", summary.dropped))
        }
    });
    let closing = telemetry.clone();
    shutdown.set_closer("close_telemetry", Duration::from_secs(5), move || async move {
        let summary = closing.shutdown().await;
        if summary.dropped == 0 {
            Ok(())
        } else {
            Err(format!("{} events dropped", summary.dropped))
        }
    });
    shutdown.trigger().trigger(ExitReason::Requested);
    let report = shutdown.run().await;
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.closer.as_ref().map(|c| c.outcome.as_str()), Some("completed"));

    let log = read_events(&path).unwrap();
    assert!(log.errors.is_empty(), "{:?}", log.errors);
    let types: Vec<&str> = log.records.iter().map(|r| r.event.event_type()).collect();
    assert_eq!(
        types,
        ["SHUTDOWN_STARTED", "SHUTDOWN_PHASE", "SHUTDOWN_PHASE", "SHUTDOWN_COMPLETED"],
        "the flush phase's own event and the completion are written"
    );
    assert!(
        matches!(&log.records[2].event, Event::ShutdownPhase { phase, outcome, .. } if phase == "flush_telemetry" && outcome == "completed")
    );
    assert!(matches!(&log.records[3].event, Event::ShutdownCompleted { exit_code: 0, .. }));
}
